"""Report 003 ("Assignment 3, On Generative Models, Adversarial Examples and Defense
Mechanisms", ``003_17dde1e3fb7b8c02.txt`` in ../shared/reports/), notebook
``notebooks/generative_lipschitz.py``:

- ``profile``: its parameters (typed specs, smoke / quick / paper values, cross-parameter checks);
- ``reference``: the report's published numbers and statements, transcribed;
- ``experiment``: data, the VAE, the GANs, the classifiers, the Lipschitz classifier, attacks;
- ``tables``, ``figures``: its tables (beside the report's numbers) and Figures 4-20;
- ``verdicts``: one function per claim of the report, returning whether it holds on a run.
"""
