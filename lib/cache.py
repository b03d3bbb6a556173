"""Stable fingerprints of configurations and atomic files.

A trained model is cached under ``<checkpoint dir>/<name>-<hash>.pt`` where the
hash covers the model (class and architecture), the training data (content
hash) and every training setting, including hooks and losses by their qualified
name and arguments. Change any of them and the key changes, so a stale
checkpoint is never reused; nothing else needs invalidating by hand.

Every file is written to a temporary name in the same folder and renamed into
place, so an interrupted run never leaves a half-written checkpoint, figure
or table behind.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

# Bump when the training loop changes in a way that makes old checkpoints wrong.
CACHE_VERSION = 1


def describe(obj: Any) -> Any:
    """A JSON-able description of ``obj`` that is stable across runs and machines."""
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        return repr(obj)
    if isinstance(obj, (list, tuple)):
        return [describe(o) for o in obj]
    if isinstance(obj, dict):
        return {str(k): describe(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, functools.partial):
        return {"partial": describe(obj.func), "args": describe(obj.args),
                "kwargs": describe(obj.keywords)}
    if isinstance(obj, nn.Module):
        # Weights included: a frozen classifier inside a loss must key by what it learned.
        return {**architecture(obj), "state": describe(dict(obj.state_dict()))}
    if isinstance(obj, torch.Tensor):
        return {"tensor": hashlib.sha1(obj.detach().cpu().contiguous().numpy().tobytes()).hexdigest()}
    if hasattr(obj, "fingerprint") and callable(obj.fingerprint):
        return {"data": obj.fingerprint()}
    if hasattr(obj, "cache_key") and callable(obj.cache_key):
        return describe(obj.cache_key())
    if callable(obj) and hasattr(obj, "__qualname__"):
        name = f"{obj.__module__}.{obj.__qualname__}"
        if "<lambda>" in name or "<locals>" in name:
            # A closure's captured values (an eps, say) are invisible here; refuse rather
            # than let two different hooks share one checkpoint.
            raise TypeError(f"cannot fingerprint the closure {name}; use functools.partial "
                            "of a module-level function instead")
        return name
    raise TypeError(f"cannot fingerprint {type(obj).__name__}; give it a cache_key() method")


def architecture(model: nn.Module) -> dict:
    """Class and layer structure of a model, without its weights."""
    return {"module": f"{type(model).__module__}.{type(model).__qualname__}", "repr": repr(model)}


def config_hash(*parts: Any, length: int = 12) -> str:
    payload = json.dumps([CACHE_VERSION, describe(list(parts))], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:length]


#: Temporary files are named ``.<stem>.tmp<pid>-<random><suffix>``, so that a later run can
#: tell the leftovers of a killed process from the files of one still writing.
_TMP_MARK = ".tmp"


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it into place (mode 0644),
    else delete it. A reader sees the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}{_TMP_MARK}{os.getpid()}-", suffix=path.suffix,
                               dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, 0o644)  # mkstemp makes 0600: results are meant to be read by others
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_save(obj: Any, path: str | Path) -> Path:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return Path(path)


def load(path: str | Path, map_location=None) -> Any:
    """``torch.load`` of a file we wrote: tensors, containers and plain values only
    (``weights_only=True``), so a planted checkpoint cannot run code."""
    return torch.load(path, map_location=map_location, weights_only=True)


#: Bump when the stored form of cached results changes (model checkpoints are not affected).
RESULT_FORMAT = 2


def _freeze(obj: Any) -> Any:
    """``obj`` with every pandas DataFrame turned into a dict of plain lists, which
    ``weights_only`` loading accepts; tuples, lists and dicts are walked."""
    import pandas as pd

    if isinstance(obj, pd.DataFrame):
        return {"__frame__": list(obj.columns), "data": {c: obj[c].tolist() for c in obj.columns}}
    if isinstance(obj, (tuple, list)):
        return type(obj)(_freeze(o) for o in obj)
    if isinstance(obj, dict):
        return {k: _freeze(v) for k, v in obj.items()}
    return obj


def _thaw(obj: Any) -> Any:
    """The inverse of :func:`_freeze`."""
    import pandas as pd

    if isinstance(obj, dict) and "__frame__" in obj:
        return pd.DataFrame(obj["data"], columns=obj["__frame__"])
    if isinstance(obj, (tuple, list)):
        return type(obj)(_thaw(o) for o in obj)
    if isinstance(obj, dict):
        return {k: _thaw(v) for k, v in obj.items()}
    return obj


def cached_result(name: str, key: Any, compute: Callable[[], Any], *, use_cache: bool = True,
                  folder: str | Path | None = None) -> Any:
    """``compute()``, or what it returned last time for the same ``key``.

    For expensive evaluations (an attack sweep on a cached model): ``key`` is everything the
    result depends on, fingerprinted by :func:`describe` (a model by its architecture *and*
    weights, an attack ``functools.partial`` by its function and arguments, images by their
    content), so a retrained model or a changed attack setting misses the cache. The result
    may hold tensors, numbers, strings, None and pandas DataFrames of plain columns, in
    tuples, lists and dicts: what :func:`load` reads with ``weights_only=True`` once the
    DataFrames are stored as lists. Stored atomically under
    ``<checkpoint dir>/results/<name>-<hash>.pt``.
    """
    from lib import precision, runtime  # beside cache; imported late to keep cache import-light

    # The precision policy changes what attacks find (lib.precision): it is part of every key.
    key_hash = config_hash(name, key, RESULT_FORMAT, precision.current().cache_key())
    path = Path(folder or runtime.checkpoint_dir() / "results") / f"{name}-{key_hash}.pt"
    if use_cache and path.exists():
        return _thaw(load(path))
    result = compute()
    atomic_save(_freeze(result), path)
    return result


def memo(name: str, fn: Callable, *args: Any, use_cache: bool = True, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``, remembered across runs by ``fn`` and every argument (models by
    their weights, tensors by content, attacks by function and settings; see :func:`describe`).
    For an evaluation on a cached model: a re-run returns the stored result instead of
    attacking again (:func:`cached_result`)."""
    key = {"fn": fn, "args": list(args), "kwargs": kwargs}
    return cached_result(name, key, lambda: fn(*args, **kwargs), use_cache=use_cache)


def atomic_write_bytes(content: bytes, path: str | Path) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(content)
    return Path(path)


def atomic_write_text(text: str, path: str | Path) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def make_readable(path: str | Path) -> None:
    """Files 0644 and folders 0755 under ``path`` (the results of a run are for everyone)."""
    path = Path(path)
    items = [path, *path.rglob("*")] if path.is_dir() else [path]
    for item in items:
        os.chmod(item, 0o755 if item.is_dir() else 0o644)


def clean_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete the temporary files :func:`atomic_path` left in ``folder`` when its process was
    killed (their pid is no longer alive); return what was removed."""
    folder = Path(folder)
    removed = []
    if not folder.is_dir():
        return removed
    for tmp in folder.glob(f".*{_TMP_MARK}*-*"):
        pid = tmp.name.split(_TMP_MARK, 1)[1].split("-", 1)[0]
        if pid.isdigit() and not process_alive(int(pid)) and tmp.is_file():
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def process_alive(pid: int) -> bool:
    """True if a process with this pid exists (this one included)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
