"""Report 003's tables, beside the report's numbers where it has any. Accuracies and rates are
fractions in [0, 1] in the CSV files, with their 95 % Clopper-Pearson interval (``low``,
``high``) and a formatted "value [low, high]" column in percent for reading."""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import torch

from lib.stats import clopper_pearson, format_interval


def _interval(k: int, n: int) -> dict:
    low, high = clopper_pearson(k, n)
    rate = k / n if n else float("nan")
    return {"rate": rate, "low": low, "high": high, "shown (%)": format_interval(rate, low, high)}


def classifier_table(rows: list[dict]) -> pd.DataFrame:
    """One row per classifier: dataset, model, correct, n, accuracy with interval, the report's
    accuracy (%, section IV; None where it gives none, e.g. the Lipschitz model)."""
    out = []
    for r in rows:
        iv = _interval(r["correct"], r["n"])
        out.append({"dataset": r["dataset"], "model": r["model"], "correct": r["correct"], "n": r["n"],
                    "accuracy": iv["rate"], "low": iv["low"], "high": iv["high"],
                    "ours (%)": iv["shown (%)"], "report (%)": r.get("report")})
    return pd.DataFrame(out)


def cw_table(summaries: Mapping[str, dict]) -> pd.DataFrame:
    """Carlini-Wagner per model (:func:`lib.evaluate.minimal_norm_summary` dicts): images attacked
    (correct clean), broken, not broken, success rate with interval, median and mean L2."""
    rows = []
    for name, s in summaries.items():
        rows.append({"model": name, "attacked": s["n"], "broken": s["succeeded"], "not broken": s["failed"],
                     "success": s["success_rate"], "low": s["success_low"], "high": s["success_high"],
                     "success (%)": format_interval(s["success_rate"], s["success_low"], s["success_high"]),
                     "median L2": s["median"], "mean L2": s["mean"]})
    return pd.DataFrame(rows)


def control_table(dist: Mapping[tuple[str, str], torch.Tensor]) -> pd.DataFrame:
    """The logit-scaling control: per (model, CW mode) the images attacked (correct clean),
    broken, success rate with interval and the median L2 of the broken ones."""
    rows = []
    for (model, mode), d in dist.items():
        attacked = d > 0
        broken = attacked & torch.isfinite(d)
        k, n = int(broken.sum()), int(attacked.sum())
        iv = _interval(k, n)
        rows.append({"model": model, "CW": mode, "attacked": n, "broken": k, "success": iv["rate"],
                     "low": iv["low"], "high": iv["high"], "success (%)": iv["shown (%)"],
                     "median L2": float(d[broken].median()) if k else float("nan")})
    return pd.DataFrame(rows)


def certified_table(radius: torch.Tensor, radii) -> pd.DataFrame:
    """Certified accuracy at each L2 radius, with interval (columns radius, certified, n,
    accuracy, low, high, shown (%))."""
    rows = []
    n = len(radius)
    for r in radii:
        k = int(((radius > 0) & (radius >= r)).sum())
        iv = _interval(k, n)
        rows.append({"radius": float(r), "certified": k, "n": n, "accuracy": iv["rate"], "low": iv["low"],
                     "high": iv["high"], "shown (%)": iv["shown (%)"]})
    return pd.DataFrame(rows)


def sweep_table(table: pd.DataFrame) -> pd.DataFrame:
    """A per-eps accuracy table (eps, robust or correct count, n, accuracy, low, high) with the
    formatted interval added."""
    out = table.copy()
    out["shown (%)"] = [format_interval(a, lo, hi) for a, lo, hi in zip(out["accuracy"], out["low"], out["high"])]
    return out


def radii_grid(radius: torch.Tensor, n: int = 40) -> np.ndarray:
    """Radii from 0 to a little beyond the largest certified radius, for the figure."""
    top = float(radius.max()) if len(radius) and float(radius.max()) > 0 else 1e-3
    return np.linspace(0, 1.05 * top, n)
