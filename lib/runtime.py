"""Where things live and what runs them: paths, device and seeding.

Paths can be moved with environment variables, so that a shared data folder or
a scratch disk can be used without editing code:

- ``ADV_DATA_DIR``        datasets (default ``<repo>/data``)
- ``ADV_CHECKPOINT_DIR``  trained models (default ``<data dir>/checkpoints``)
- ``ADV_FIGURES_DIR``     executed notebooks, figures, tables (default ``<repo>/figures``)
- ``ADV_DEVICE``          force a device (``cpu``, ``cuda``, ``cuda:1``)
- ``ADV_OUTPUT_DIR``      set by the runner: the staging folder a notebook writes into,
                          swapped in for ``figures/<profile>/<report>/`` when it succeeds

A notebook run any other way (JupyterLab, plain papermill) writes into a scratch folder,
``figures/<profile>/lab/<report>/``, never into what ``make reproduce`` owns.
"""
from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    return Path(os.environ.get("ADV_DATA_DIR", REPO_ROOT / "data"))


def checkpoint_dir() -> Path:
    return Path(os.environ.get("ADV_CHECKPOINT_DIR", data_dir() / "checkpoints"))


def figures_dir() -> Path:
    return Path(os.environ.get("ADV_FIGURES_DIR", REPO_ROOT / "figures"))


#: The folder of interactive runs' outputs, inside each profile's: figures/<profile>/lab/<report>/.
SCRATCH = "lab"


def output_dir(report: str, profile: str) -> Path:
    """Where a notebook writes its figures and tables, created on demand: the runner's staging
    folder while it runs one (swapped in for ``figures/<profile>/<report>/`` on success), else
    the scratch folder ``figures/<profile>/lab/<report>/`` (JupyterLab, papermill, tests)."""
    staged = os.environ.get("ADV_OUTPUT_DIR")
    path = Path(staged) if staged else figures_dir() / profile / SCRATCH / report
    path.mkdir(parents=True, exist_ok=True)
    return path


def has_gpu() -> bool:
    return torch.cuda.is_available()


def get_device(device: str | torch.device | None = None) -> torch.device:
    """The device to compute on: the argument, else ``$ADV_DEVICE``, else cuda when present."""
    if device is None or device == "auto":
        device = os.environ.get("ADV_DEVICE") or ("cuda" if has_gpu() else "cpu")
    return torch.device(device)


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch (all devices); return a CPU generator seeded the same."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
