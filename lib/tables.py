"""Tables for the study: CSV, Markdown and LaTeX side by side, written atomically.

``compare`` puts the report's published number beside ours with the
difference, which is what every notebook's closing "report vs ours" table is.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from lib import cache


def save_table(table: pd.DataFrame, path: str | Path, *, caption: str = "",
               float_format: str = "{:.4g}", index: bool = False) -> dict[str, Path]:
    """Write ``table`` as ``<path>.csv``, ``.md`` and ``.tex`` (the suffix of ``path`` is ignored).

    CSV keeps full precision for re-analysis; Markdown and LaTeX are rounded for reading.
    """
    stem = Path(path).with_suffix("")
    out = {}
    with cache.atomic_path(stem.with_suffix(".csv")) as tmp:
        table.to_csv(tmp, index=index)
    out["csv"] = stem.with_suffix(".csv")
    shown = _rounded(table, float_format)
    md = shown.to_markdown(index=index)
    if caption:
        md = f"{md}\n\n: {caption}\n"
    out["md"] = cache.atomic_write_text(md + "\n", stem.with_suffix(".md"))
    tex = shown.to_latex(index=index, caption=caption or None, escape=True)
    out["tex"] = cache.atomic_write_text(tex, stem.with_suffix(".tex"))
    return out


def save_and_show(table: pd.DataFrame, path: str | Path, *, caption: str, note: str = "",
                  **kwargs) -> dict[str, Path]:
    """:func:`save_table`, then the caption in bold (and ``note`` after it) in the notebook, so
    the reader sees what the files say the table is."""
    from IPython.display import Markdown, display

    out = save_table(table, path, caption=caption, **kwargs)
    display(Markdown(f"**{caption}**" + (f" {note}" if note else "")))
    return out


def _rounded(table: pd.DataFrame, float_format: str) -> pd.DataFrame:
    shown = table.copy()
    for col in shown.columns:
        if pd.api.types.is_float_dtype(shown[col]):
            shown[col] = shown[col].map(lambda v: "" if pd.isna(v) else float_format.format(v))
    return shown


def compare(rows: Mapping[str, tuple[float | None, float | None]] | pd.DataFrame,
            *, unit: str = "%") -> pd.DataFrame:
    """A "report vs ours" table: quantity, report, ours, difference (ours - report).

    ``rows`` maps a quantity's name to ``(report_value, our_value)``; either may be
    ``None`` where one side has no number (shown as empty, difference empty).
    """
    if isinstance(rows, pd.DataFrame):
        table = rows[["quantity", "report", "ours"]].copy()
    else:
        table = pd.DataFrame([{"quantity": k, "report": v[0], "ours": v[1]}
                              for k, v in rows.items()])
    table["report"] = pd.to_numeric(table["report"], errors="coerce")
    table["ours"] = pd.to_numeric(table["ours"], errors="coerce")
    table["difference"] = table["ours"] - table["report"]
    table["unit"] = unit
    return table
