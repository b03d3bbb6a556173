"""Report 000 ("A study and implementation of ABS (Analysis By Synthesis) model on Cifar-10",
``000_b6b5692b2b10a99d.txt`` in ../shared/reports/), notebook ``notebooks/abs_cifar.py``, in the
shape of :mod:`lib.reports.base`:

- ``profile``: its parameters (typed specs, smoke / quick / paper values, cross-parameter checks);
- ``reference``: the report's published numbers and its claims' quotes, transcribed;
- ``experiment``: the steps: data, SimpleDLA, the class VAEs and ABS, the attacks and sweeps;
- ``run``: the :class:`Run` of a notebook, ``summary_rows(run)``, ``closing_note(run)``;
- ``verdicts``: ``claims(run)`` (every claim of the report, quoted) and ``observations(run)``;
- ``tables``, ``figures``: Tables 1-2 beside the report's numbers, Figures 1-3, the adaptive table;
- ``benchmark``: batched ABS inference against a per-class, per-image loop.

``Run``, ``claims``, ``observations``, ``summary_rows`` and ``closing_note`` are importable from
the package itself (loaded on first use).
"""
from lib.reports.base import exports

__getattr__ = exports(__name__)
