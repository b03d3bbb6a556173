"""Checksums of dataset files. (Files are written with :func:`lib.cache.atomic_path`, so
an interrupted install leaves the old file or nothing, never half a file.)"""
from __future__ import annotations

import hashlib
from pathlib import Path


def md5_hex(content: bytes) -> str:
    return hashlib.md5(content, usedforsecurity=False).hexdigest()


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
