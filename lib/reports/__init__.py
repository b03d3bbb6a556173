"""One package per report notebook, named by the notebook's id (``notebooks/<id>.py``).

Each holds ``profile.py`` (the notebook's parameters: typed specs, the smoke / quick /
paper values, cross-parameter checks), ``reference.py`` where the report publishes
numbers (transcribed, never computed), and the report's own steps, tables, figures
and verdict functions. Layers below (defenses, attacks, models, data) know nothing
of reports.
"""
from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from types import ModuleType

_HERE = Path(__file__).parent


def ids() -> list[str]:
    """Report ids: the subpackages that have a ``profile`` module."""
    return sorted(m.name for m in pkgutil.iter_modules([str(_HERE)])
                  if m.ispkg and (_HERE / m.name / "profile.py").exists())


def profile_module(report: str) -> ModuleType:
    return importlib.import_module(f"lib.reports.{report}.profile")
