"""The notebook kernels the runner starts: a progress bar over a notebook's cells, kernel
managers that remember themselves (so Ctrl-C can stop them), their peak memory, and papermill
run in a worker thread so that an interrupt reaches the runner, not nbclient."""
from __future__ import annotations

import contextlib
import functools
import os
import signal
import weakref
from pathlib import Path

from lib import progress, runtime


class CellProgress:
    """A bar over a notebook's cells, labelled with the section now running (the last
    Markdown heading before the cell), fed by nbclient's ``on_cell_start`` hook."""

    def __init__(self, report: str, notebook: Path):
        import nbformat

        nb = nbformat.read(notebook, as_version=4)
        self.report, self.section, sections, current = report, "", [], ""
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                heads = [line.lstrip("#").strip() for line in cell.source.splitlines() if line.startswith("#")]
                current = heads[-1] if heads else current
            sections.append(current)
            if "parameters" in cell.get("metadata", {}).get("tags", []):
                sections.append(current)   # papermill injects its parameters cell right after this one
        self.sections = sections
        # nbclient starts every cell, Markdown included, plus papermill's injected one.
        self.bar = progress.progress(total=len(sections), desc=report, unit="cell", leave=False)

    def on_cell_start(self, cell=None, cell_index: int | None = None, **_):
        if cell_index is not None and cell_index < len(self.sections) and self.sections[cell_index] != self.section:
            self.section = self.sections[cell_index]
            self.bar.set_description(f"{self.report}: {self.section[:50]}")
        self.bar.update(1)

    def close(self):
        self.bar.close()


#: Kernel managers of the notebooks running now (papermill makes them through the class below).
_KERNELS: weakref.WeakSet = weakref.WeakSet()


@functools.cache
def tracked_kernel_manager():
    """A kernel manager that remembers itself in ``_KERNELS`` while alive: a kernel runs in a
    session of its own, so the terminal's Ctrl-C reaches only the runner, which then stops it."""
    from jupyter_client.manager import AsyncKernelManager

    class TrackedKernelManager(AsyncKernelManager):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            _KERNELS.add(self)

    return TrackedKernelManager


#: Peak resident memory in bytes of each notebook's kernel run by this process (Linux: its VmHWM
#: in /proc, read while it runs; 0 elsewhere), for paper-check's memory calibration.
PEAK_RSS: dict[str, int] = {}


class PeakRSS:
    bytes = 0

    def sample(self) -> None:
        self.bytes = max(self.bytes, kernel_rss())


def kernel_rss() -> int:
    """The largest peak resident memory (bytes) of the kernels running now."""
    peak = 0
    for km in list(_KERNELS):
        process = getattr(getattr(km, "provisioner", None), "process", None)
        if process is None or process.poll() is not None:
            continue
        memory = runtime.process_memory(process.pid)
        if memory is not None:
            peak = max(peak, memory[1])
    return peak


def in_worker(execute, on_tick=None) -> None:
    """``execute()`` (papermill) in a worker thread, its error re-raised here. In the main thread
    nbclient would take SIGINT over and shut the kernel down mid-cell, which then prints
    tracebacks from both sides; this way Ctrl-C reaches this thread as KeyboardInterrupt, the
    kernel is killed at once, and the interrupt goes on up to the runner's ``main``."""
    import logging
    import threading

    outcome: dict[str, BaseException] = {}

    def work():
        try:
            execute()
        except BaseException as err:  # noqa: BLE001 - handed over to the caller's thread
            outcome["error"] = err

    worker = threading.Thread(target=work, name="papermill", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.1)
            if on_tick is not None:
                on_tick()
    except KeyboardInterrupt:
        logging.disable(logging.CRITICAL)   # the client's complaints about the killed kernel say nothing new
        try:
            stop_kernels()
            worker.join(30)
        finally:
            logging.disable(logging.NOTSET)
        raise
    if "error" in outcome:
        raise outcome["error"]


def stop_kernels() -> None:
    """Kill the kernels this process started (each with the processes it started)."""
    for km in list(_KERNELS):
        process = getattr(getattr(km, "provisioner", None), "process", None)
        if process is not None and process.poll() is None:
            with contextlib.suppress(OSError):
                os.killpg(process.pid, signal.SIGKILL)   # its own session: the group is its pid
            with contextlib.suppress(Exception):
                process.wait(timeout=10)


__all__ = ["PEAK_RSS", "CellProgress", "PeakRSS", "in_worker", "kernel_rss", "stop_kernels", "tracked_kernel_manager"]
