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


def adaptive_table(results: Mapping[str, object], attack_names: Mapping[str, list[str]]) -> pd.DataFrame:
    """Per model (:class:`~lib.reports.abs_cifar.experiment.WorstCase`) the worst case per eps and
    how many images each of its attacks (``attack_names[model]``, in run order) broke first at that
    eps (column ``broken by <attack>``; 0 where it broke none, empty where it was not run)."""
    rows = []
    for model, r in results.items():
        wc = r.worst_case
        for j, e in enumerate(r.eps):
            prev = r.eps[j - 1] if j else 0.0
            row = {"model": model, "eps": e,
                   "worst case": stats.format_interval(wc["accuracy"][j], wc["low"][j], wc["high"][j]),
                   "robust": int(wc["robust"][j]), "n": int(wc["n"][j]), "accuracy": wc["accuracy"][j],
                   "low": wc["low"][j], "high": wc["high"][j]}
            row.update({f"broken by {a}": 0 for a in attack_names[model]})
            for b, by in zip(r.broken_at.tolist(), r.broken_by):
                if by not in (None, "clean") and prev < b <= e:   # per-attack sweeps use a finer grid
                    row[f"broken by {by}"] = row.get(f"broken by {by}", 0) + 1
            rows.append(row)
    return pd.DataFrame(rows)


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


def reading(table1: pd.DataFrame, table2: pd.DataFrame, clean: Mapping[str, int], n: int) -> str:
    """A few sentences on Tables 1-2, every number taken from them: how many of the report's
    cells fall inside our interval, the strongest attack at the largest eps, and the share of its
    own correctly classified images each model keeps there."""
    lines = []
    for model, t in (("ABS", table1), ("SimpleDLA", table2)):
        inside = int(t["report inside our interval"].sum())
        top = t[t["eps"] == t["eps"].max()]
        worst = top.loc[top["robust"].idxmin()]
        kept = int(worst["robust"]) / max(clean[model], 1)
        lines.append(f"- **{model}**: {inside} of {len(t)} of the report's numbers lie inside our 95 % intervals. "
                     f"At eps {worst['eps']:g} the strongest of the three attacks ({worst['attack']}) leaves "
                     f"{int(worst['robust'])} of {n} images, i.e. {100 * kept:.0f} % of the {clean[model]} it "
                     "classifies correctly.")
    return "\n".join(lines)
