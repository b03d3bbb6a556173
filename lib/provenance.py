"""Which run made a result: one stamp per run of a notebook, in the notebook and beside its outputs.

A stamp says: the run id, the report and profile, every parameter, the commit (and whether the
working tree had uncommitted changes), the date, the versions of the packages that compute,
the device and the numerical precision. It is made by :func:`lib.profiles.resolve` in the
notebook's kernel, shown at the top of the executed notebook (a Markdown block whose output
metadata carries the stamp), and written as ``provenance.json`` into the folder the notebook
writes to. ``make reproduce`` (:mod:`lib.runner`) sets the run id (``ADV_RUN_ID``), and when a
notebook succeeds adds to ``provenance.json`` the SHA-256 of every file the run wrote, so that
``make handin`` can tell a table or figure of another run (:func:`mismatches`).
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import secrets
import subprocess
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from lib import cache, runtime

FILE = "provenance.json"
#: Where the stamp sits in a notebook's metadata and in the metadata of the output that shows it.
KEY = "adversarial_study_provenance"
RUN_ID_ENV, LAUNCHER_ENV, PRECISION_ENV = "ADV_RUN_ID", "ADV_RUN_LAUNCHER", "ADV_PRECISION"
#: The packages whose versions can change a number.
PACKAGES = ("torch", "torchvision", "numpy", "scipy", "pandas", "matplotlib", "torchattacks",
            "papermill", "nbconvert", "adversarial-study")
#: The PNG text chunk that carries the run id of a figure.
PNG_KEY = "adversarial-study run"
#: Files of a result folder that are not results (the stamp itself).
NOT_RESULTS = (FILE,)

_current: dict | None = None


def new_run_id() -> str:
    """``20250101-120000-3fa2c1``: sortable by start time (UTC), unique by its random tail."""
    return f"{_dt.datetime.now(_dt.timezone.utc):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def precision_of(cfg: Mapping[str, Any] | None = None) -> str:
    """The precision a run computes in (:func:`lib.precision.resolve` of the report's ``precision``
    parameter, ``$ADV_PRECISION`` and the hardware), e.g. ``"bf16 on cpu, channels_last (this CPU
    has native bf16 ...)"``; what was asked for when it cannot be resolved here."""
    from lib import precision

    requested = cfg.get("precision") if cfg is not None else None
    try:
        return str(precision.resolve(requested, cfg.get("device") if cfg is not None else None))
    except (ValueError, RuntimeError):
        return str(requested or os.environ.get(PRECISION_ENV, "").strip() or "auto")


def git_state(root: Path = runtime.REPO_ROOT) -> tuple[str, bool | None]:
    """(commit, dirty): the checked-out commit and whether tracked or untracked, non-ignored files
    differ from it; ``("unknown", None)`` outside a git checkout or without git."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                              timeout=20, check=True).stdout.strip()
    try:
        return git("rev-parse", "HEAD"), bool(git("status", "--porcelain"))
    except (OSError, subprocess.SubprocessError):
        return "unknown", None


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def device_of(cfg: Mapping[str, Any]) -> str:
    """The device the run computes on, in words (``cpu (x86_64, 2 threads)``, ``cuda:0 (NVIDIA H100)``)."""
    import torch

    try:
        device = runtime.get_device(cfg.get("device"))
    except (RuntimeError, ValueError):
        return str(cfg.get("device"))
    if device.type == "cuda" and torch.cuda.is_available():
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"{device} ({platform.machine()}, {torch.get_num_threads()} threads)"


def _plain(value: Any) -> Any:
    """A parameter value as JSON (tuples as lists, anything unusual as its repr)."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return repr(value)


def stamp(cfg: Mapping[str, Any], run_id: str | None = None) -> dict:
    """A new stamp for a run of ``cfg`` (a resolved :class:`lib.profiles.Config`); the run id is
    ``run_id``, else ``$ADV_RUN_ID`` (set by the runner), else a new one."""
    global _current
    commit, dirty = git_state()
    _current = {
        "run_id": run_id or os.environ.get(RUN_ID_ENV, "").strip() or new_run_id(),
        "report": cfg.get("report"), "profile": cfg.get("profile"),
        "parameters": {k: _plain(v) for k, v in cfg.items() if k not in ("report", "profile")},
        "commit": commit, "dirty": dirty,
        "date": now(),
        "launched_by": os.environ.get(LAUNCHER_ENV, "").strip() or "interactive (JupyterLab, papermill or Python)",
        "device": device_of(cfg), "precision": precision_of(cfg), "versions": versions(),
    }
    return _current


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def current() -> dict | None:
    """The stamp of the run in this process (the last one made), if any."""
    return _current


# --------------------------------------------------------------------------- files
def write(folder: Path, data: Mapping[str, Any]) -> Path:
    return cache.atomic_write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", Path(folder) / FILE)


def read(folder: Path) -> dict | None:
    """The stamp beside a folder's outputs; None when there is none or it cannot be read."""
    try:
        data = json.loads((Path(folder) / FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("run_id"), str) else None


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def result_files(folder: Path) -> list[Path]:
    """The regular files directly in ``folder`` that are results (symlinks and hidden files are not)."""
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and not p.is_symlink()
                  and not p.name.startswith(".") and p.name not in NOT_RESULTS)


def seal(folder: Path, stamp: Mapping[str, Any]) -> dict:
    """Finish a run's stamp in ``folder``: ``stamp`` plus the SHA-256 of every result file the
    folder holds now."""
    data = dict(stamp)
    data["files"] = {p.name: sha256(p) for p in result_files(folder)}
    write(folder, data)
    return data


# --------------------------------------------------------------------------- notebooks
def of_notebook(nb) -> dict | None:
    """The stamp an executed notebook carries: in its metadata (the runner puts it there), else in
    the output that showed it; None when it has none."""
    meta = nb.get("metadata", {}).get(KEY)
    if isinstance(meta, dict) and isinstance(meta.get("run_id"), str):
        return dict(meta)
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            found = output.get("metadata", {}).get(KEY)
            if isinstance(found, dict) and isinstance(found.get("run_id"), str):
                return dict(found)
    return None


def announce(data: Mapping[str, Any]) -> None:
    """Show the stamp in the notebook (with the stamp in the output's metadata), when in one."""
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display
    except ImportError:
        return
    shell = get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return
    display(Markdown(markdown(data)), metadata={KEY: dict(data)})


def summary_items(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The stamp as (label, text) pairs, in reading order."""
    dirty = {True: " (with uncommitted changes)", False: "", None: " (not a git checkout)"}[data.get("dirty")]
    params = ", ".join(f"{k}={v!r}" for k, v in (data.get("parameters") or {}).items())
    vers = ", ".join(f"{k} {v}" for k, v in (data.get("versions") or {}).items())
    return [("run", str(data.get("run_id"))), ("report", f"{data.get('report')} ({data.get('profile')} profile)"),
            ("launched by", str(data.get("launched_by", "?"))), ("date (UTC)", str(data.get("date", "?"))),
            ("commit", f"{data.get('commit', '?')}{dirty}"), ("device", str(data.get("device", "?"))),
            ("precision", str(data.get("precision", "?"))), ("parameters", params or "-"),
            ("versions", vers or "-")]


def markdown(data: Mapping[str, Any]) -> str:
    rows = "\n".join(f"| {label} | {text.replace('|', '/')} |" for label, text in summary_items(data))
    return f"**Provenance of this run**\n\n| | |\n|---|---|\n{rows}\n"


def describe(data: Mapping[str, Any] | None) -> str:
    """One line naming a run: its id, who launched it and when."""
    if not data:
        return "no run stamp"
    return f"run {data.get('run_id')} ({data.get('launched_by', '?')}, {data.get('date', '?')})"


def differing_parameters(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> dict[str, tuple]:
    pa, pb = dict((a or {}).get("parameters") or {}), dict((b or {}).get("parameters") or {})
    return {k: (pa.get(k), pb.get(k)) for k in sorted(set(pa) | set(pb)) if pa.get(k) != pb.get(k)}


# --------------------------------------------------------------------------- checking a folder
def png_run_id(path: Path) -> str | None:
    """The run id a PNG of ours carries in its text chunks (:func:`lib.plots.save`), if any."""
    try:
        from PIL import Image

        with Image.open(path) as img:
            return (getattr(img, "text", None) or {}).get(PNG_KEY)
    except (OSError, ValueError, ImportError):
        return None


def mismatches(folder: Path, notebook_stamp: Mapping[str, Any] | None, notebook_name: str) -> list[str]:
    """What keeps ``folder`` (a report's results) from being one run: the executed notebook's
    stamp against the sealed ``provenance.json``, and every file against its recorded SHA-256.
    Empty when notebook, tables and figures share one run id and nothing changed since."""
    sealed = read(folder)
    if notebook_stamp is None:
        return [f"{notebook_name} carries no run stamp (executed before stamps existed, or not by this study's code)"]
    if sealed is None or not isinstance(sealed.get("files"), dict):
        return [f"its tables and figures have no sealed {FILE} (they were not written by make reproduce)"]
    out, run = [], sealed["run_id"]
    if notebook_stamp.get("run_id") != run:
        differ = differing_parameters(notebook_stamp, sealed)
        out.append(f"{notebook_name} is from {describe(notebook_stamp)}, but its tables and figures are from "
                   f"{describe(sealed)}"
                   + ("; parameters that differ: " + ", ".join(f"{k} {a!r} vs {b!r}" for k, (a, b) in differ.items())
                      if differ else ""))
    files = sealed["files"]
    for path in result_files(folder):
        if path.name not in files:
            out.append(f"{path.name} was not written by run {run}")
        elif sha256(path) != files[path.name] and not (path.name == notebook_name and out):
            other = png_run_id(path) if path.suffix == ".png" else None
            out.append(f"{path.name} changed after run {run}" + (f" (it carries run {other})" if other else ""))
    out += [f"{name} of run {run} is missing" for name in sorted(files) if not (Path(folder) / name).is_file()]
    return out
