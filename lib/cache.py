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
from collections.abc import Iterator
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


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it into place, else delete it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_save(obj: Any, path: str | Path) -> Path:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return Path(path)


def atomic_write_text(text: str, path: str | Path) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)
