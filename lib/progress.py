"""Progress bars that suit both a terminal and a notebook.

Set ``ADV_PROGRESS=0`` to silence them (the test-suite does, to keep logs short).
"""
from __future__ import annotations

import os

from tqdm.auto import tqdm


def enabled() -> bool:
    return os.environ.get("ADV_PROGRESS", "1") not in ("0", "false", "no")


def progress(iterable=None, *, disable: bool = False, **kwargs):
    return tqdm(iterable, disable=disable or not enabled(), dynamic_ncols=True, **kwargs)
