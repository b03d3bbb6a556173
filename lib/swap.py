"""Crash-safe replacement of a finished results folder, and the tidying of what killed runs
left behind: a kill at any instant loses no complete copy of a report's results."""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
from pathlib import Path

from lib import cache, runtime


def swap_in(staging: Path, final_dir: Path) -> None:
    """Replace ``final_dir`` by the finished ``staging`` folder, so that a reader never sees a mix
    and a kill at any instant loses no complete copy: ``staging`` is first renamed
    ``.complete-<report>-<pid>`` (the mark that it is whole), then ``final_dir`` is renamed
    ``.old-<report>-<pid>``, then the complete copy becomes ``final_dir`` and the old one goes.
    Whatever a kill leaves, :func:`clean_leftovers` puts the newest complete copy in place."""
    pid = os.getpid()
    complete = final_dir.parent / f".complete-{final_dir.name}-{pid}"
    old = final_dir.parent / f".old-{final_dir.name}-{pid}"
    with no_interrupts():   # Ctrl-C waits for the three renames (a kill is for clean_leftovers)
        os.replace(staging, complete)
        if final_dir.exists():
            os.replace(final_dir, old)
        os.replace(complete, final_dir)
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def no_interrupts():
    """SIGINT and SIGTERM held back (delivered on exit) in the main thread; elsewhere nothing."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


#: Leftover folders of a run: what each holds (the pid of the run ends the name).
_LEFTOVERS = (".staging-", ".complete-", ".old-")


def _leftover(path: Path) -> tuple[str, str, int] | None:
    """``(kind, report, pid)`` of a leftover folder name, None for anything else."""
    for kind in _LEFTOVERS:
        if path.name.startswith(kind):
            report, _, pid = path.name[len(kind):].rpartition("-")
            if report and pid.isdigit():
                return kind, report, int(pid)
    return None


def clean_leftovers(root: Path) -> list[Path]:
    """Tidy what killed runs left in ``root`` (``figures/<profile>``), never losing the newest
    complete copy of a report's results; return what was removed.

    Of a run that is no longer alive: a ``.staging-`` folder is a notebook that never finished
    (removed); a ``.complete-`` one finished but was not yet swapped in, so it is the newest
    complete copy and takes the place of ``<report>/``; an ``.old-`` one is the copy a swap
    was replacing, put back when ``<report>/`` is missing and removed otherwise. Temporary files
    of dead processes go too."""
    removed: list[Path] = []
    dead: dict[str, dict[str, list[Path]]] = {}
    for path in sorted(root.glob(".*-*")):
        parsed = _leftover(path)
        if parsed is None or cache.process_alive(parsed[2]) or not path.is_dir():
            continue
        dead.setdefault(parsed[1], {k: [] for k in _LEFTOVERS})[parsed[0]].append(path)
    for report, found in dead.items():
        final = root / report
        for staging in found[".staging-"]:
            shutil.rmtree(staging, ignore_errors=True)
            removed.append(staging)
        newest = sorted(found[".complete-"], key=lambda p: p.stat().st_mtime)
        olds = sorted(found[".old-"], key=lambda p: p.stat().st_mtime)
        if newest:
            keep = newest.pop()
            if final.exists():   # the swap never got as far as moving it: it is the older copy
                aside = root / f".old-{report}-{os.getpid()}"
                os.replace(final, aside)
                olds.append(aside)
            os.replace(keep, final)
        elif olds and not final.exists():
            os.replace(olds.pop(), final)
        for older in newest + olds:   # complete, but an older copy than the one now in place
            shutil.rmtree(older, ignore_errors=True)
            removed.append(older)
    removed += cache.clean_stale_temporaries(root)
    removed += cache.clean_stale_temporaries(runtime.checkpoint_dir())
    return removed


__all__ = ["clean_leftovers", "no_interrupts", "swap_in"]
