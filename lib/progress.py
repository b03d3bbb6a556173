"""Progress bars that suit both a terminal and a notebook.

Set ``ADV_PROGRESS=0`` to silence them (the test-suite does, to keep logs short).
"""
from __future__ import annotations

import os

try:  # notebook widgets when ipywidgets is there, plain text bars otherwise (no warning)
    import ipywidgets  # noqa: F401
    from tqdm.auto import tqdm
except ImportError:
    from tqdm.std import tqdm


def enabled() -> bool:
    return os.environ.get("ADV_PROGRESS", "1") not in ("0", "false", "no")


def progress(iterable=None, *, disable: bool = False, **kwargs):
    return tqdm(iterable, disable=disable or not enabled(), dynamic_ncols=True, **kwargs)
