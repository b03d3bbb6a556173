"""Library behind the adversarial-robustness study, in layers (imports point downward only).

- ``lib.runtime``   paths (data/, checkpoints, figures/), device choice, seeding
- ``lib.precision`` the precision policy (bf16 autocast + channels_last where the hardware has
                    native bf16, fp32 elsewhere); every decision of an attack stays in fp32
- ``lib.cache``     config hashing, atomic files, ``weights_only`` loads
- ``lib.validate``  checks on what the library is asked to score (logits, labels, dtypes)
- ``lib.progress``  progress bars for terminals and notebooks
- ``lib.data``      MNIST / Fashion-MNIST / CIFAR-10 / cifar10_jpeg / synthetic data as tensors;
                    mirror, Debian and torchvision sources with checksums; the batching helper
- ``lib.models``    layers, classifiers/, generative/ (images in [0, 1], normalisation inside)
- ``lib.attacks``   FGSM, BIM, PGD (one step/project loop), CW-L2, losses, transfer;
                    torchattacks' APGD, APGD-T, FAB and Square behind the same signature
- ``lib.defenses``  one module per defense, each an ``nn.Module`` images -> K (+1 reject) logits
- ``lib.train``     one fit loop with history, hooks and a checkpoint cache
- ``lib.evaluate``  accuracy under attack, accuracy-distortion curves, sanity checks
- ``lib.sweep``     eps sweeps over an attack set, worst case per image, no repeated work
- ``lib.stats``     Clopper-Pearson intervals, McNemar's exact test, Newcombe's paired interval,
                    tests against a margin (TOST), Holm's correction, sample sizes
- ``lib.verdicts``  one Claim type (a report's quoted words and the comparison they imply) and one
                    judge; observations of ours about a report
- ``lib.quality``   sample quality of generators (KID, Frechet distance) in a classifier's features
- ``lib.plots``     figure style, image grids, accuracy-vs-eps plots
- ``lib.tables``    tables as CSV / Markdown / LaTeX, the report's number beside ours
- ``lib.params``    typed parameter specs; ``lib.profiles`` resolves and checks them
- ``lib.reports``   one package per report notebook, all in the shape of ``lib.reports.base``:
                    profile, reference numbers and quotes, its steps, a typed Run, claims(run),
                    observations(run), summary_rows(run), closing_note(run)
- ``lib.runner``    papermill runner behind ``make reproduce``; ``lib.lab`` behind ``make lab``;
                    ``lib.paper_check`` behind ``make paper-check`` and ``lib.estimate`` /
                    ``lib.cost_models`` (a paper run's time and memory, announced before it starts)
"""

import os as _os

# Idle OpenMP threads spin by default; on a small shared CPU that makes torch several
# times slower whenever another process is busy. Only effective before torch loads.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
