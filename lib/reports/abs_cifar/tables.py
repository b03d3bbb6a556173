"""Report 000's tables: Tables 1-2 beside the report's numbers, the adaptive evaluation, the
convergence study and the sanity checks. Accuracies are fractions with their 95 %
Clopper-Pearson interval, over all test images (a clean mistake is broken at eps 0)."""
from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import torch

from lib import evaluate, stats, sweep
from lib.reports.abs_cifar import reference as ref


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


def report_tables(sweeps: Mapping[str, Mapping[str, sweep.SweepResult]], eps) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Tables 1 (ABS) and 2 (SimpleDLA) from the report's three attacks on each model (model ->
    attack -> sweep), at the report's ``eps``, beside its numbers."""
    return (report_table(attack_curves(sweeps["ABS"]), ref.REPORT_TABLE1, eps),
            report_table(attack_curves(sweeps["SimpleDLA"]), ref.REPORT_TABLE2, eps))


def clean_table(cfg: Mapping, correct: Mapping[str, torch.Tensor]) -> pd.DataFrame:
    """Clean accuracies (model -> per-image flags) with intervals, beside the report's."""
    what = {"ABS": f"{cfg['abs_prototypes']} prototypes, {cfg['abs_steps']} steps, VAEs {cfg['vae_epochs']} epochs",
            "SimpleDLA": f"width {cfg['dla_width']:g}, {cfg['dla_epochs']} epochs"}
    out = []
    for model, flags in correct.items():
        k, n = int(flags.sum()), len(flags)
        lo, hi = stats.clopper_pearson(k, n)
        out.append({"model": model, "what": what[model], "correct": k, "n": n, "accuracy": k / n, "low": lo,
                    "high": hi, "ours": stats.format_interval(k / n, lo, hi),
                    "report (%)": ref.REPORT_CLEAN["DLA" if model == "SimpleDLA" else "ABS"]})
    return pd.DataFrame(out)


def adaptive_table(worst: Mapping[str, sweep.SweepResult]) -> pd.DataFrame:
    """Per model its worst case per eps (:func:`lib.sweep.per_eps_table` of the combined sweep)
    and how many images each attack broke first in the grid step up to that eps (column
    ``broken by <attack>``; empty where the attack was not run on that model)."""
    parts = []
    for model, result in worst.items():
        t = sweep.per_eps_table(result)
        t.insert(0, "model", model)
        t.insert(2, "worst case", [stats.format_interval(a, lo, hi) for a, lo, hi in zip(t["accuracy"], t["low"],
                                                                                         t["high"])])
        parts.append(t)
    return pd.concat(parts, ignore_index=True)


def gradient_text(g) -> str:
    """Section 4's reading of the gradient check (:class:`~lib.reports.abs_cifar.experiment.GradientCheck`)."""
    c, t = g.cosine, g.mcnemar()
    runs = ", ".join(f"{name} leaves {int(f.sum())} of {g.n}" for name, f in g.robust.items())
    return (f"Cosine similarity between Danskin's and the unrolled input gradient of the cross-entropy, over the "
            f"first {g.n} test images: median **{c.median():.3f}** (quartiles {c.quantile(0.25):.3f} to "
            f"{c.quantile(0.75):.3f}, minimum {c.min():.3f}). At L2 eps {g.eps:g}: {runs}; exact McNemar: "
            f"{t.b_only} images broken only by the unrolled attack, {t.a_only} only by Danskin's, p = {t.p_value:.3g}.")


def median_text(worst: Mapping[str, sweep.SweepResult]) -> str:
    """The median L2 eps the worst case needed to break a correctly classified image, per model."""
    from lib.reports.abs_cifar.experiment import median_l2

    return ("Median L2 eps needed to break a correctly classified image (the smallest grid eps at which the worst "
            "case broke it; inf: more than half survive the grid): "
            + ", ".join(f"{m} **{median_l2(r):g}**" for m, r in worst.items()) + ".")


def convergence_table(rows: list[dict]) -> pd.DataFrame:
    t = pd.DataFrame(rows)
    lo, hi = stats.clopper_pearson(t["correct"].to_numpy(), t["n"].to_numpy())
    t["accuracy"], t["low"], t["high"] = t["correct"] / t["n"], lo, hi
    t["clean accuracy"] = [stats.format_interval(a, a_lo, a_hi) for a, a_lo, a_hi in zip(t["accuracy"], lo, hi)]
    return t


def sanity_table(sweeps: Mapping[str, Mapping[str, sweep.SweepResult]], correct: Mapping[str, torch.Tensor],
                 chance: float, large_eps: float) -> pd.DataFrame:
    """Carlini et al. (2019) checks per model on its per-attack curves: monotone in eps, I-FGSM
    and PGD at least as strong as FGSM, near chance or below at the largest eps."""
    parts = []
    for model, per in sweeps.items():
        c = attack_curves(per)
        flags = correct[model]
        t = evaluate.sanity_checks(c, chance=chance, single_step="FGSM",
                                   iterative=[a for a in c["attack"].unique() if a != "FGSM"],
                                   large_eps=large_eps, clean_accuracy=float(flags.float().mean()), n_clean=len(flags))
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
