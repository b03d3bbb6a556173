"""Report 003 ("Assignment 3, On Generative Models, Adversarial Examples and Defense
Mechanisms", ``003_17dde1e3fb7b8c02.txt`` in ../shared/reports/), notebook
``notebooks/generative_lipschitz.py``, in the shape of :mod:`lib.reports.base`:

- ``profile``: its parameters (typed specs, smoke / quick / paper values, cross-parameter checks);
- ``reference``: the report's published numbers and its claims' quotes, transcribed;
- ``generative``: the steps of section III: the VAEs and the GANs;
- ``experiment``: the steps of sections IV-VI: the classifiers, the Lipschitz classifier and its
  certificate, FGSM and Carlini-Wagner, the logit-scaling control, the worst case over the
  study's strong L2 set;
- ``run``: the :class:`Run` of a notebook, ``summary_rows(run)``, ``closing_note(run)``;
- ``verdicts``: ``claims(run)`` (every claim of the report, quoted) and ``observations(run)``;
- ``tables``, ``figures``: its tables (beside the report's numbers) and Figures 4-20.

``Run``, ``claims``, ``observations``, ``summary_rows`` and ``closing_note`` are importable from
the package itself (loaded on first use).
"""
from lib.reports.base import exports

__getattr__ = exports(__name__)
