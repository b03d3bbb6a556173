"""Report 000 ("A study and implementation of ABS (Analysis By Synthesis) model on Cifar-10",
``000_b6b5692b2b10a99d.txt`` in ../shared/reports/), notebook ``notebooks/abs_cifar.py``:

- ``profile``: its parameters (typed specs, smoke / quick / paper values, cross-parameter checks);
- ``reference``: the report's published numbers, transcribed;
- ``experiment``: data, SimpleDLA, the class VAEs and ABS, the attacks and sweeps;
- ``tables``, ``figures``: Tables 1-2 beside the report's numbers, Figures 1-3, the adaptive table;
- ``verdicts``: the report's claims and its internal contradictions, judged with lib.stats;
- ``benchmark``: batched ABS inference against a per-class, per-image loop.
"""
