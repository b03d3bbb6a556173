"""Report 000's tables: Tables 1-2 beside the report's numbers, the adaptive evaluation, the
convergence study and the sanity checks. Accuracies are fractions with their 95 %
Clopper-Pearson interval, over all test images (a clean mistake is broken at eps 0)."""
from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from lib import evaluate, stats, sweep


def caption(text: str, title: str) -> str:
    return f"{text} Data: {title}."


def attack_curves(sweeps: Mapping[str, sweep.SweepResult]) -> pd.DataFrame:
    """Tidy (attack, eps, robust, n, accuracy, low, high), eps 0 (clean) included, one
    :func:`per_attack` sweep per attack."""
    parts = []
    for name, res in sweeps.items():
        wc = res.worst_case.assign(attack=name)
        parts.append(wc[["attack", "eps", "robust", "n", "accuracy", "low", "high"]])
    return pd.concat(parts, ignore_index=True)


def report_table(curves: pd.DataFrame, reference: Mapping[tuple[str, float], float], eps) -> pd.DataFrame:
    """Table 1 or 2: ours (with interval) beside the report's number at the report's eps."""
    t = curves[curves["eps"].isin([float(e) for e in eps])].copy()
    t["ours"] = [stats.format_interval(a, lo, hi) for a, lo, hi in zip(t["accuracy"], t["low"], t["high"])]
    t["report"] = [reference.get((a, e)) for a, e in zip(t["attack"], t["eps"])]
    t["report inside our interval"] = (t["report"] >= t["low"]) & (t["report"] <= t["high"])
    return t[["attack", "eps", "robust", "n", "accuracy", "low", "high", "ours", "report",
              "report inside our interval"]].reset_index(drop=True)


def wide(table: pd.DataFrame) -> pd.DataFrame:
    """Rows eps, columns (attack: ours %, report) as the report lays its tables out."""
    w = table.pivot(index="eps", columns="attack", values="ours")
    r = table.pivot(index="eps", columns="attack", values="report")
    out = pd.concat({"ours, % [95 % CI]": w, "report (fraction)": r}, axis=1)
    return out


def clean_table(rows: Mapping[str, tuple[int, int, float, str]]) -> pd.DataFrame:
    """``{model: (correct, n, report %, what)}`` -> clean accuracies with intervals."""
    out = []
    for model, (k, n, rep, what) in rows.items():
        lo, hi = stats.clopper_pearson(k, n)
        out.append({"model": model, "what": what, "correct": k, "n": n, "accuracy": k / n, "low": lo,
                    "high": hi, "ours": stats.format_interval(k / n, lo, hi), "report (%)": rep})
    return pd.DataFrame(out)


def adaptive_table(results: Mapping[str, sweep.SweepResult]) -> pd.DataFrame:
    """Per model the worst case over the adaptive set per eps, and which attack broke how many."""
    parts = [sweep.per_eps_table(r).assign(model=m) for m, r in results.items()]
    t = pd.concat(parts, ignore_index=True)
    t.insert(1, "worst case", [stats.format_interval(a, lo, hi)
                               for a, lo, hi in zip(t["accuracy"], t["low"], t["high"])])
    cols = ["model", "eps", "worst case", "robust", "n", "accuracy", "low", "high"]
    return t[cols + [c for c in t.columns if c.startswith("broken by")]].fillna(0)


def convergence_table(rows: list[dict]) -> pd.DataFrame:
    t = pd.DataFrame(rows)
    lo, hi = stats.clopper_pearson(t["correct"].to_numpy(), t["n"].to_numpy())
    t["accuracy"], t["low"], t["high"] = t["correct"] / t["n"], lo, hi
    t["clean accuracy"] = [stats.format_interval(a, a_lo, a_hi) for a, a_lo, a_hi in zip(t["accuracy"], lo, hi)]
    return t


def sanity_table(curves: Mapping[str, pd.DataFrame], clean: Mapping[str, tuple[float, int]], chance: float,
                 large_eps: float) -> pd.DataFrame:
    """Carlini et al. (2019) checks per model on its per-attack curves: monotone in eps, I-FGSM
    and PGD at least as strong as FGSM, near chance or below at the largest eps."""
    parts = []
    for model, c in curves.items():
        acc, n = clean[model]
        t = evaluate.sanity_checks(c, chance=chance, single_step="FGSM",
                                   iterative=[a for a in c["attack"].unique() if a != "FGSM"],
                                   large_eps=large_eps, clean_accuracy=acc, n_clean=n)
        parts.append(t.assign(model=model))
    t = pd.concat(parts, ignore_index=True)
    return t[["model", "check", "attack", "passed", "detail"]]
