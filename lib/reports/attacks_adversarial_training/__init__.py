"""Report 002 ("Data Science Project - Adversarial Networks", ``002_e1809080d7eea151.txt`` in
../shared/reports/), notebook ``notebooks/attacks_adversarial_training.py``, in the shape of
:mod:`lib.reports.base`:

- ``profile``: its parameters (typed specs, smoke / quick / paper values, cross-parameter checks);
- ``reference``: the report's published numbers and its claims' quotes, transcribed;
- ``experiment``: data, the base and defended models, the attack sweeps (one per model and attack);
- ``adaptive``: every model under the registry's strong set, worst case per image, with its checks;
- ``run``: the :class:`Run` of a notebook, ``summary_rows(run)``, ``closing_note(run)``;
- ``verdicts``: ``claims(run)`` (every claim of the report, quoted) and ``observations(run)``;
- ``tables``, ``figures``: its tables (beside the report's numbers), Figure 8 and the EOT figure.

``Run``, ``claims``, ``observations``, ``summary_rows`` and ``closing_note`` are importable from
the package itself (loaded on first use).
"""
from lib.reports.base import exports

__getattr__ = exports(__name__)
