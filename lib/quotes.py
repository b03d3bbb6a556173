"""Matching a claim's quote against its report's text (whitespace and case aside)."""
from __future__ import annotations

import os
import re
from pathlib import Path


def normalise(text: str) -> str:
    """Lower case, whitespace runs as one space: how a quote is matched against its report."""
    return re.sub(r"\s+", " ", text).strip().lower()


def quote_found(quote: str, text: str) -> bool:
    """True when ``quote`` appears in ``text``, whitespace and case aside."""
    return normalise(quote) in normalise(text)


def reports_dir() -> Path:
    """The reports' texts: ``$ADV_REPORTS_DIR``, default ``<repo>/../shared/reports``."""
    from lib import runtime

    return Path(os.environ.get("ADV_REPORTS_DIR") or runtime.REPO_ROOT.parent / "shared" / "reports")


__all__ = ["normalise", "quote_found", "reports_dir"]
