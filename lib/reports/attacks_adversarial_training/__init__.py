"""Report 002 ("Data Science Project - Adversarial Networks", ``002_e1809080d7eea151.txt`` in
../shared/reports/), notebook ``notebooks/attacks_adversarial_training.py``:

- ``profile``: its parameters (typed specs, smoke / quick / paper values, cross-parameter checks);
- ``reference``: the report's published numbers, transcribed;
- ``experiment``: data, the base and defended models, the attack sweeps;
- ``tables``, ``figures``: its tables (beside the report's numbers) and Figure 8;
- ``verdicts``: one function per claim of the report, returning whether it holds on a run.
"""
