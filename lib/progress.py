"""Progress bars that suit a terminal, a notebook, a pipe and a log file.

- In a terminal or a live notebook: tqdm's bar (notebook widgets when ipywidgets is there).
- In a pipe or a file (``make reproduce | tee log``, a CI log) and in notebooks run by the
  runner: one line when a bar starts, one per section (a new description), one at its end
  with the count and the time; never a line per update.

``ADV_PROGRESS=0`` silences them (the test-suite does, to keep logs short); ``ADV_PROGRESS=lines``
forces the line form (the runner sets it for the notebooks it executes, whose output is a file).
"""
from __future__ import annotations

import os
import sys
import time

try:  # notebook widgets when ipywidgets is there, plain text bars otherwise (no warning)
    import ipywidgets  # noqa: F401
    from tqdm.auto import tqdm
except ImportError:
    from tqdm.std import tqdm

ENV = "ADV_PROGRESS"


def enabled() -> bool:
    return os.environ.get(ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def _live(stream) -> bool:
    """A terminal, or a Jupyter kernel someone is watching: where a redrawn bar makes sense."""
    if os.environ.get(ENV, "").strip().lower() == "lines":
        return False
    if "IPython" in sys.modules:
        from IPython import get_ipython

        if hasattr(get_ipython(), "kernel"):
            return True
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def progress(iterable=None, *, disable: bool = False, **kwargs):
    """A tqdm bar, or a :class:`LineProgress` where the output is not live (see the module doc)."""
    if disable or not enabled():
        return tqdm(iterable, disable=True, **kwargs)
    if _live(kwargs.get("file") or sys.stderr):
        return tqdm(iterable, dynamic_ncols=True, **kwargs)
    return LineProgress(iterable, **kwargs)


class LineProgress:
    """The part of tqdm's interface the study uses (iteration, ``update``, ``set_description``,
    ``set_postfix``, ``close``, ``with``), printing a line per start, section and end."""

    def __init__(self, iterable=None, *, desc: str = "", total: int | None = None, unit: str = "it",
                 leave: bool = True, file=None, **_):
        self.iterable, self.desc, self.unit, self.leave = iterable, desc or "", unit, leave
        self.total = total if total is not None else (len(iterable) if hasattr(iterable, "__len__") else None)
        self.file, self.n, self.postfix, self.closed = file, 0, "", False
        self.t0 = time.perf_counter()
        size = f" ({self.total} {self.unit}{'s' if self.total != 1 else ''})" if self.total else ""
        self._print(f"{self.desc}{size}" if self.desc else f"started{size}")

    def _print(self, text: str) -> None:
        print(text, file=self.file or sys.stderr, flush=True)

    def __iter__(self):
        for item in self.iterable:
            yield item
            self.update(1)
        self.close()

    def __len__(self):
        return self.total or 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def update(self, n: int = 1) -> None:
        self.n += n

    def set_description(self, desc: str = "", refresh: bool = True) -> None:
        if desc and desc != self.desc:
            self.desc = desc
            self._print(desc)

    def set_postfix(self, ordered_dict=None, refresh: bool = True, **kwargs) -> None:
        items = dict(ordered_dict or {}, **kwargs)
        self.postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.leave:
            count = f"{self.n}/{self.total}" if self.total else str(self.n)
            extra = f" ({self.postfix})" if self.postfix else ""
            self._print(f"{self.desc or 'done'}: {count} {self.unit}s in {time.perf_counter() - self.t0:.1f} s{extra}")
