"""Library behind the adversarial-robustness study.

Modules, one concept each:

- ``lib.runtime``  paths (data/, checkpoints, figures/), device choice, seeding
- ``lib.data``     MNIST / Fashion-MNIST / CIFAR-10 / synthetic data as in-memory tensors
- ``lib.models``   classifiers (images in [0, 1] -> logits, normalisation inside)
- ``lib.attacks``  FGSM, BIM, PGD, Carlini-Wagner L2 on any differentiable callable
- ``lib.evaluate`` robust-accuracy sweeps, accuracy-distortion curves, sanity checks
- ``lib.train``    one fit loop with history, hooks and a checkpoint cache
- ``lib.cache``    config hashing and atomic checkpoint files
- ``lib.plots``    figure style, image grids, accuracy-vs-eps plots
- ``lib.report``   tables (CSV / Markdown / LaTeX), the report's number beside ours
- ``lib.profiles`` smoke / quick / paper parameter sets per notebook
- ``lib.runner``   papermill runner behind ``make reproduce``
"""

import os as _os

# Idle OpenMP threads spin by default; on a small shared CPU that makes torch several
# times slower whenever another process is busy. Only effective before torch loads.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
