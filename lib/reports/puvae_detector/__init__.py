"""Report 001 ("Augmenting robustness using adversarial detection", ``001_f6812e576f281240.txt``
in ../shared/reports/), notebook ``notebooks/puvae_detector.py``, in the shape of
:mod:`lib.reports.base`:

- ``profile``: its parameters (typed specs, smoke / quick / paper values, cross-parameter checks);
- ``reference``: the report's published numbers and its claims' quotes, transcribed;
- ``experiment``: the steps: settings per dataset, data, classifier and CVAE, the detector, the
  CVAE's reconstructions; ``transfer``: the report's transfer attacks scored on the three
  pipelines; ``adaptive``: the white-box evaluation of PuVAE with and without the detector;
- ``run``: the :class:`Run` of a notebook, ``summary_rows(run)``, ``closing_note(run)``;
- ``verdicts``: ``claims(run)`` (every claim of the report, quoted) and ``observations(run)``;
  ``gates``: whether a run's models reach the report's, per dataset;
- ``tables``, ``figures``: Tables 1-5 beside the report's numbers, Figures 6-8, the checks.

``Run``, ``claims``, ``observations``, ``summary_rows`` and ``closing_note`` are importable from
the package itself (loaded on first use).
"""
from lib.reports.base import exports

__getattr__ = exports(__name__)
