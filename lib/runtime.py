"""Where things live and what runs them: paths, device and seeding.

Paths can be moved with environment variables, so that a shared data folder or
a scratch disk can be used without editing code:

- ``ADV_DATA_DIR``        datasets (default ``<repo>/data``)
- ``ADV_CHECKPOINT_DIR``  trained models (default ``<data dir>/checkpoints``)
- ``ADV_FIGURES_DIR``     executed notebooks, figures, tables (default ``<repo>/figures``)
- ``ADV_DATA_MIRROR``     the shared datasets folder (see :mod:`lib.data.sources`; empty: none)
- ``ADV_DEVICE``          force a device (``cpu``, ``cuda``, ``cuda:1``), checked against this machine
- ``ADV_OUTPUT_DIR``      set by the runner: the staging folder a notebook writes into,
                          swapped in for ``figures/<profile>/<report>/`` when it succeeds

An empty value means the default. A relative path is relative to the directory the user
ran from: :func:`resolve_environment` makes every one absolute (and checks it) before a
kernel starts, since the kernel runs in ``notebooks/``.
A notebook run any other way (JupyterLab, plain papermill) writes into a scratch folder,
``figures/<profile>/lab/<report>/``, never into what ``make reproduce`` owns.
"""
from __future__ import annotations

import os
import random
import re
import tempfile
from pathlib import Path

import numpy as np
import torch

from lib.params import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent

#: The path variables, what each holds, and whether this study writes there.
PATH_VARIABLES = {
    "ADV_DATA_DIR": ("the datasets", False),      # a read-only folder of verified data is fine
    "ADV_CHECKPOINT_DIR": ("trained models and cached results", True),
    "ADV_FIGURES_DIR": ("the results", True),
    "ADV_OUTPUT_DIR": ("a notebook's staging folder", True),
    "ADV_DATA_MIRROR": ("the data mirror", False),
}


def _env_path(name: str) -> Path | None:
    """``$name`` as an absolute path (relative to the current directory), None when unset or empty."""
    value = os.environ.get(name, "")
    if not value.strip():
        return None
    return Path(os.path.abspath(os.path.expanduser(value)))


def data_dir() -> Path:
    return _env_path("ADV_DATA_DIR") or REPO_ROOT / "data"


def checkpoint_dir() -> Path:
    return _env_path("ADV_CHECKPOINT_DIR") or data_dir() / "checkpoints"


def figures_dir() -> Path:
    return _env_path("ADV_FIGURES_DIR") or REPO_ROOT / "figures"


#: The folder of interactive runs' outputs, inside each profile's: figures/<profile>/lab/<report>/.
SCRATCH = "lab"


def output_dir(report: str, profile: str) -> Path:
    """Where a notebook writes its figures and tables, created on demand: the runner's staging
    folder while it runs one (swapped in for ``figures/<profile>/<report>/`` on success), else
    the scratch folder ``figures/<profile>/lab/<report>/`` (JupyterLab, papermill, tests)."""
    path = _env_path("ADV_OUTPUT_DIR") or figures_dir() / profile / SCRATCH / report
    path.mkdir(parents=True, exist_ok=True)
    return path


def usable_dir(path: Path, what: str, *, writable: bool = True, variable: str | None = None) -> Path:
    """``path`` if it is (or can be created as) a folder this process can write in (read, with
    ``writable=False``); else :class:`ConfigError` naming it, what it is for and the variable
    that sets it."""
    path = Path(path)
    where = f"{variable}={path}" if variable else str(path)
    fix = f"; set {variable} to another folder" if variable else ""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise ConfigError(f"{where} ({what}): {probe} is a file, not a folder{fix}")
    if writable or probe != path:
        ok = can_write(probe)
    else:
        ok = os.access(probe, os.R_OK | os.X_OK)
    if not ok:
        verb = "write in" if writable else "read"
        problem = f"cannot {verb} it" if probe == path else f"it cannot be created: {probe} is not writable"
        raise ConfigError(f"{where} ({what}): {problem}{fix}")
    return path


def can_write(folder: Path) -> bool:
    """Whether a file can be created in ``folder``: tried, since permissions alone do not tell
    (a read-only mount, /proc, root's exemption from them)."""
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".adv-write-test-"):
            return True
    except OSError:
        return False


def resolve_environment() -> dict[str, Path]:
    """Make every ``ADV_*`` path of the environment absolute against the current
    directory, drop empty ones (the default applies; an empty ``ADV_DATA_MIRROR`` stays: it
    means "no mirror"), and check the folders this study will use, defaults included: a file,
    an unwritable folder or an unknown ``ADV_DEVICE`` is refused with its name
    (:class:`ConfigError`), before anything runs. Returns the folders in use."""
    env = os.environ
    for name in PATH_VARIABLES:
        if name not in env:
            continue
        if not env[name].strip():
            if name != "ADV_DATA_MIRROR":
                del env[name]
            continue
        env[name] = os.path.abspath(os.path.expanduser(env[name]))
    used = {"ADV_DATA_DIR": data_dir(), "ADV_CHECKPOINT_DIR": checkpoint_dir(), "ADV_FIGURES_DIR": figures_dir()}
    if _env_path("ADV_OUTPUT_DIR"):
        used["ADV_OUTPUT_DIR"] = _env_path("ADV_OUTPUT_DIR")
    for name, path in used.items():
        what, writable = PATH_VARIABLES[name]
        usable_dir(path, what, writable=writable, variable=name)
    mirror = _env_path("ADV_DATA_MIRROR")
    if mirror is not None and mirror.exists() and not mirror.is_dir():
        raise ConfigError(f"ADV_DATA_MIRROR={mirror} (the data mirror) is a file, not a folder")
    check_device(os.environ.get("ADV_DEVICE", ""), "ADV_DEVICE")
    return used


def process_memory(pid: int | str = "self") -> tuple[int, int] | None:
    """(resident, peak resident) bytes of process ``pid`` (Linux's /proc, read now), None where
    it cannot be read (another system, a process gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
        fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
        return int(fields["VmRSS"].split()[0]) * 1024, int(fields["VmHWM"].split()[0]) * 1024
    except (OSError, KeyError, ValueError, IndexError):
        return None


def has_gpu() -> bool:
    return torch.cuda.is_available()


_DEVICE = re.compile(r"auto|cpu|cuda(?::(\d{1,6}))?")


def check_device(device: str, name: str = "device") -> str:
    """``device`` if this machine has it: ``auto`` (or empty), ``cpu``, ``cuda`` or ``cuda:N``
    with a GPU number N that exists; else :class:`ConfigError` saying what there is."""
    text = device.strip() if isinstance(device, str) else device
    if text == "":
        return text
    match = _DEVICE.fullmatch(text) if isinstance(text, str) else None
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    have = "cpu" + (f" and cuda:0 ... cuda:{count - 1}" if count else " only, no GPU")
    if match is None:
        raise ConfigError(f"{name}={device!r} is not a device; use 'auto', 'cpu', 'cuda' or 'cuda:N' "
                          f"(this machine has {have})")
    if text.startswith("cuda") and (count == 0 or int(match.group(1) or 0) >= count):
        raise ConfigError(f"{name}={device!r}: this machine has {have}")
    return text


def get_device(device: str | torch.device | None = None) -> torch.device:
    """The device to compute on: the argument, else ``$ADV_DEVICE``, else cuda when present.
    A name this machine does not have is refused (:func:`check_device`)."""
    if device is None or device == "auto":
        device = check_device(os.environ.get("ADV_DEVICE", ""), "ADV_DEVICE") or ("cuda" if has_gpu() else "cpu")
    elif isinstance(device, str):
        check_device(device)
    return torch.device(device)


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch (all devices); return a CPU generator seeded the same."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
