"""Stable fingerprints of configurations and atomic files.

A trained model is cached under ``<checkpoint dir>/<name>-<hash>.pt`` where the
hash covers the model (class and architecture), the training data (content
hash) and every training setting, including hooks and losses by their qualified
name and arguments. Change any of them and the key changes, so a stale
checkpoint is never reused; nothing else needs invalidating by hand.

Every file is written to a temporary name in the same folder and renamed into
place, so an interrupted run never leaves a half-written checkpoint, figure
or table behind.

A cached result is a pure function of its key: :func:`cached_result` computes it on a random
state of its own, seeded from the key (:func:`isolated_rng`), and hands the caller's state back
untouched, so a cold, warm, partly warm or resumed run gives the same bits. A file that cannot
be read back (truncated, foreign, planted, or holding non-finite weights) is named, moved
aside and computed again (:func:`load_checkpoint`); it is never retried with the unsafe
(code-running) pickle loader.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import pickle
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

# Bump when the training loop changes in a way that makes old checkpoints wrong.
CACHE_VERSION = 2


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


class WriteFailed(OSError):
    """A file could not be written (a full disk, a read-only folder); the message names it."""


@contextlib.contextmanager
def _writing(path: str | Path) -> Iterator[None]:
    """Turn a failed write into :class:`WriteFailed` naming the file and the free space: PyTorch
    reports a full disk as "enforce fail at inline_container.cc", Python's write() names no file."""
    try:
        yield
    except (OSError, RuntimeError) as err:
        if isinstance(err, WriteFailed) or (isinstance(err, RuntimeError) and "inline_container" not in str(err)
                                            and "write" not in str(err).lower()):
            raise
        import errno
        import shutil

        folder = Path(path).parent
        try:
            free = shutil.disk_usage(folder).free
        except OSError:
            free = None
        full = getattr(err, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or (free is not None and free < 64 << 20)
        why = "the disk is full" if full else (getattr(err, "strerror", None) or str(err).splitlines()[0][:200])
        space = f"; {free:,} bytes free in {folder}" if free is not None else ""
        raise WriteFailed(f"cannot write {path}: {why}{space}") from None


def atomic_save(obj: Any, path: str | Path) -> Path:
    with _writing(path), atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return Path(path)


class UnreadableFile(OSError):
    """A cached file that cannot be loaded back; the message names it and says why, in words
    that never suggest loading it with the unsafe (code-running) pickle loader."""


def load(path: str | Path, map_location=None) -> Any:
    """``torch.load`` of a file we wrote: tensors, containers and plain values only
    (``weights_only=True``), so a planted checkpoint cannot run code. Raises
    :class:`UnreadableFile` (naming the file) when it cannot be read."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:  # noqa: BLE001 - torch raises many types for a bad file
        raise UnreadableFile(f"{path} cannot be read: {_why_unreadable(err)}") from None


def _why_unreadable(err: BaseException) -> str:
    """What is wrong with a file ``torch.load`` refused, in our words: PyTorch's own message
    for a refused pickle advises turning the safe loader off, which would run the file's code."""
    text = str(err)
    if isinstance(err, pickle.UnpicklingError) or "weights only" in text.lower() or "Unsupported global" in text:
        return "it holds Python objects that no file of this study contains (refused unread, as a planted file)"
    if isinstance(err, EOFError) or "zip archive" in text or "central directory" in text or "truncat" in text:
        return "it is truncated or not a PyTorch file"
    return f"{type(err).__name__}"


def non_finite_tensors(obj: Any, prefix: str = "") -> list[str]:
    """Names of the floating-point tensors in ``obj`` (nested dicts, lists, tuples) that hold
    NaN or infinity: a model with such weights computes nothing meaningful."""
    if isinstance(obj, torch.Tensor):
        return [prefix or "tensor"] if obj.is_floating_point() and not bool(torch.isfinite(obj).all()) else []
    if isinstance(obj, dict):
        return [n for k, v in obj.items() for n in non_finite_tensors(v, f"{prefix}.{k}" if prefix else str(k))]
    if isinstance(obj, (list, tuple)):
        return [n for i, v in enumerate(obj) for n in non_finite_tensors(v, f"{prefix}[{i}]")]
    return []


def set_aside(path: str | Path, reason: str) -> Path:
    """Move a bad cached file out of the way (``<name>.corrupt-<time>``, which nothing loads)
    and say so in one line on stderr; return where it went."""
    path = Path(path)
    dest = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
    os.replace(path, dest)
    print(f"warning: {reason}; moved aside to {dest.name}, computing it again", file=sys.stderr, flush=True)
    return dest


def load_checkpoint(path: str | Path, map_location=None, *, finite: bool = True) -> Any | None:
    """The content of a cached file, or None when there is none to use: missing, or unreadable
    (truncated, foreign, planted) or, with ``finite``, holding NaN or infinite weights, in which
    case it is moved aside (:func:`set_aside`) so the caller computes it again."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        state = load(path, map_location=map_location)
    except UnreadableFile as err:
        set_aside(path, str(err))
        return None
    bad = non_finite_tensors(state) if finite else []
    if bad:
        set_aside(path, f"{path} holds non-finite weights ({', '.join(bad[:3])}{', ...' if len(bad) > 3 else ''})")
        return None
    return state


def _rng_devices() -> list[int]:
    return list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []


@contextlib.contextmanager
def isolated_rng(seed: int | None = None) -> Iterator[None]:
    """Run a block on a random state of its own: python's, numpy's and torch's (CPU and every
    CUDA device) are saved on entry and restored on exit, so nothing the block draws changes
    what the caller draws next. With ``seed`` the block starts from that seed, so what it draws
    does not depend on what ran before either. Also a decorator: ``@isolated_rng()``."""
    import numpy as np

    py_state, np_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=_rng_devices()):
        try:
            if seed is not None:
                random.seed(seed)
                np.random.seed(seed % 2**32)
                torch.manual_seed(seed)
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)


#: Bump when the stored form of cached results changes (model checkpoints are not affected).
#: 3: results computed on a random state seeded from their key; those stored before drew from
#: whatever state the notebook was in, so they are computed again.
RESULT_FORMAT = 3


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

    ``compute()`` runs on a random state seeded from the key (:func:`isolated_rng`), and the
    caller's random state is the same afterwards whether the result was computed or read:
    the result is a function of its key alone. A stored result that cannot be read is moved
    aside and computed again (:func:`load_checkpoint`).
    """
    from lib import precision, runtime  # beside cache; imported late to keep cache import-light

    # The precision policy changes what attacks find (lib.precision): it is part of every key.
    digest = config_hash(name, key, RESULT_FORMAT, precision.current().cache_key())
    path = Path(folder or runtime.checkpoint_dir() / "results") / f"{name}-{digest}.pt"
    if use_cache:
        # Results may hold infinities (an image never broken), so only readability is checked.
        state = load_checkpoint(path, finite=False)
        if state is not None:
            return _thaw(state)
    with isolated_rng(seed=int(digest, 16)):
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
    with _writing(path), atomic_path(path) as tmp:
        tmp.write_bytes(content)
    return Path(path)


def atomic_write_text(text: str, path: str | Path) -> Path:
    with _writing(path), atomic_path(path) as tmp:
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
