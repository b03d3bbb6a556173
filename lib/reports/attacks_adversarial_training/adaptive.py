"""Beyond report 002: every model under the strong attack set, worst case per image.

The report attacks each defense with FGSM (and its base model with PGD). Here each model of
the notebook meets :func:`lib.robustness.attack_set` (FGSM, PGD-CE and PGD-margin with
restarts, APGD-CE, APGD-DLR, then the gradient-free Square attack) over ``strong_eps``,
scored per image by the worst case over the set, on all ``n_strong`` first test images
(a clean mistake counts as broken, so the number is the accuracy a user gets under attack):

- the adversarially trained models and the base model as they are;
- the Gaussian-noise models through :class:`lib.robustness.ExpectedModel` (``attack_draws``
  noise draws per forward pass: every attack is then an EOT attack, and its decision is the
  label of highest expected probability), then scored by the expectation and the majority
  vote over ``eval_draws`` fresh draws; plus the EOT sweep over the number of draws;
- the 1-NN rules (contrastive and plain) with two more attacks first: FGSM crafted on the
  softmax head (what the report ran) and the targeted feature attack of
  :func:`lib.defenses.contrastive.feature_attack`.

For each defense: convergence in PGD steps and restarts, the unbounded-budget check and the
single-step check (:func:`lib.robustness.sanity_table`). Every result is cached by model
weights, images and attack settings, so a warm re-run attacks nothing.
"""
from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd
import torch
from torch import nn

from lib import attacks, cache, robustness, runtime, stats, sweep
from lib.defenses import contrastive


def budget(cfg: Mapping) -> robustness.Budget:
    return robustness.Budget(pgd_steps=cfg["strong_pgd_steps"], restarts=cfg["strong_restarts"],
                             apgd_steps=cfg["apgd_steps"], square_queries=cfg["square_queries"], seed=cfg["seed"])


@dataclass
class Evaluation:
    """One model's adaptive evaluation: its ``sweep`` (:class:`lib.sweep.SweepResult` over the
    first ``n_strong`` test images), clean counts, and the checks (None where not run)."""

    name: str
    baseline: str
    kind: str                      # "deterministic" | "randomised" | "1-NN"
    sweep: sweep.SweepResult
    clean_correct: int
    n: int
    convergence: pd.DataFrame | None = None
    unbounded: dict | None = None
    step_check: dict | None = None
    draws: dict = field(default_factory=dict)   # eps -> random_accuracy of the kept examples

    def sanity(self) -> pd.DataFrame:
        return robustness.sanity_table(self.name, self.sweep, unbounded_result=self.unbounded,
                                       convergence_table=self.convergence, step_check=self.step_check)


def attack_set(cfg: Mapping, kind: str, encoder: nn.Module | None = None) -> dict:
    """The strong set for one kind of model; the 1-NN rules get the report's transfer attack
    from the softmax head and the targeted feature attack in front."""
    strong = robustness.attack_set("inf", budget(cfg))
    if kind != "1-NN":
        return strong
    extra = {"FGSM on softmax head": functools.partial(attacks.transfer, source=encoder, attack=attacks.fgsm),
             "feature attack": functools.partial(contrastive.feature_attack, steps=cfg["strong_pgd_steps"],
                                                 restarts=cfg["strong_restarts"], seed=cfg["seed"])}
    return {**extra, **strong}


def _checks(cfg: Mapping, model: nn.Module, x: torch.Tensor, y: torch.Tensor, tag: str) -> dict:
    """Convergence, unbounded and single-step checks on the first ``n_convergence`` images at
    the smallest strong eps (:func:`lib.robustness.checks`, cached)."""
    n = cfg["n_convergence"]
    return robustness.checks(model, x[:n], y[:n], min(cfg["strong_eps"]), "inf", steps=cfg["convergence_steps"],
                             restarts=cfg["convergence_restarts"], restart_steps=cfg["strong_pgd_steps"],
                             seed=cfg["seed"], name=tag)


def evaluate(ctx, name: str, model: nn.Module, *, kind: str = "deterministic", baseline: str | None = None,
             encoder: nn.Module | None = None, checks: bool = True) -> Evaluation:
    """The adaptive evaluation of one model (see the module docstring), on the first ``n_strong``
    test images of ``ctx``, at ``strong_eps``."""
    cfg = ctx.cfg
    x, y = ctx.x_test[:cfg["n_strong"]], ctx.y_test[:cfg["n_strong"]]
    tag = name.lower().replace(" ", "-").replace(",", "")
    target = robustness.ExpectedModel(model, cfg["attack_draws"]) if kind == "randomised" else model
    runtime.seed_everything(cfg["seed"])
    result = sweep.cached_sweep(target, x, y, attack_set(cfg, kind, encoder), cfg["strong_eps"],
                                name=f"strong-{tag}", progress_bar=False)
    ev = Evaluation(name=name, baseline=baseline or name, kind=kind, sweep=result,
                    clean_correct=int(result.clean_robust.sum()), n=len(y))
    if kind == "randomised":
        for eps in result.eps:
            xe = result.examples_at(eps, x)
            ev.draws[eps] = cache.cached_result(
                f"draws-{tag}", dict(model=model, x=xe, y=y, draws=cfg["eval_draws"], seed=cfg["seed"]),
                lambda xe=xe: _random_accuracy(model, xe, y, cfg["eval_draws"], cfg["seed"]))
    if checks:
        for k, v in _checks(cfg, target, x, y, tag).items():
            setattr(ev, k, v)
    return ev


def _random_accuracy(model, x, y, draws, seed) -> dict:
    runtime.seed_everything(seed)
    return robustness.random_accuracy(model, x, y, draws)


def eot_table(ctx, noisy: Mapping[str, nn.Module]) -> pd.DataFrame:
    """The EOT sweep of every noisy model (``eot_sweep_draws``) on the first ``n_convergence``
    test images, cached."""
    cfg = ctx.cfg
    x, y, eps = ctx.x_test[:cfg["n_convergence"]], ctx.y_test[:cfg["n_convergence"]], min(cfg["strong_eps"])
    parts = []
    for label, model in noisy.items():
        key = dict(model=model, x=x, y=y, eps=eps, draws=cfg["eot_sweep_draws"], steps=cfg["pgd_steps"],
                   eval_draws=cfg["eval_draws"], seed=cfg["seed"])
        parts.append(cache.cached_result("eot-sweep", key, lambda m=model: robustness.eot_sweep(
            m, x, y, eps, "inf", cfg["eot_sweep_draws"], cfg["pgd_steps"], cfg["eval_draws"], seed=cfg["seed"]))
            .assign(model=label))
    return pd.concat(parts, ignore_index=True)


# --------------------------------------------------------------------------- tables
def worst_case_table(evals: Mapping[str, Evaluation]) -> pd.DataFrame:
    """One row per model and eps: clean accuracy, worst-case accuracy (%) with its interval,
    the images each attack broke first, and McNemar's p-value against the model's baseline on
    the same images (the defense is better only where p is small *and* it keeps more)."""
    rows = []
    for ev in evals.values():
        table = sweep.per_eps_table(ev.sweep)
        base = evals.get(ev.baseline)
        c_low, c_high = stats.clopper_pearson(ev.clean_correct, ev.n)
        for r in table.to_dict("records"):
            row = {"model": ev.name, "baseline": ev.baseline, "eps": r["eps"], "n": ev.n,
                   "clean (%)": stats.format_interval(ev.clean_correct / ev.n, c_low, c_high),
                   "worst case (%)": stats.format_interval(r["accuracy"], r["low"], r["high"]),
                   "worst": r["accuracy"], "low": r["low"], "high": r["high"]}
            if ev.draws:
                d = ev.draws[r["eps"]]
                row["expected over draws (%)"] = round(100 * d["expected"], 1)
                row["majority vote (%)"] = round(100 * d["majority"], 1)
            if base is not None and base is not ev:
                cmp = robustness.defended_vs_baseline(ev.sweep, base.sweep, r["eps"])
                row["p vs baseline (McNemar)"] = cmp["p_value"]
            row.update({k: v for k, v in r.items() if k.startswith("broken by")})
            rows.append(row)
    return pd.DataFrame(rows)


def sanity(evals: Mapping[str, Evaluation]) -> pd.DataFrame:
    return pd.concat([ev.sanity() for ev in evals.values()], ignore_index=True)


def verdict_rows(evals: Mapping[str, Evaluation], eps: float) -> list[tuple[str, str, str]]:
    """(defense, verdict, evidence) for "the defense is more robust than its baseline under
    the strongest evaluation at eps": holds when the worst case is higher and McNemar's test
    rejects equality, does not hold when it is lower beyond noise or when no image survives
    the defense's worst case, else cannot be judged."""
    out = []
    for ev in evals.values():
        if ev.baseline == ev.name or ev.baseline not in evals:
            continue
        cmp = robustness.defended_vs_baseline(ev.sweep, evals[ev.baseline].sweep, eps)
        better, p = cmp["defense"] > cmp["baseline"], cmp["p_value"]
        # Nothing left under attack is no robustness at all, whatever the test says.
        verdict = stats.decide(supported=better and p < 0.05,
                               refuted=(not better and p < 0.05) or cmp["defense"] == 0)
        out.append((ev.name, verdict, f"worst case {100 * cmp['defense']:.1f} % vs {ev.baseline} "
                                      f"{100 * cmp['baseline']:.1f} % at eps {eps:g} (n = {ev.n}, "
                                      f"McNemar p = {p:.2g})"))
    return out


# --------------------------------------------------------------------------- for the study summary
def summary_rows(evals: Mapping[str, Evaluation], report_runs: Mapping[str, tuple[str, pd.DataFrame]], *,
                 dataset: str, n_test: int) -> list[dict]:
    """Rows of ``summary_defenses.csv`` (:mod:`lib.summary`): per model and strong eps, clean and
    worst-case counts from the adaptive evaluation, our run of the report's own attack (from
    ``report_runs``: model -> (attack, a :func:`experiment.sweep` table over the model's
    correctly classified test images; its ``robust`` counts are then over all ``n_test``)),
    and the report's number where it publishes one (Table 2, section 3.3)."""
    from lib import summary
    from lib.reports.attacks_adversarial_training.experiment import REPORT
    from lib.reports.attacks_adversarial_training.reference import (
        REPORT_BASE_ACCURACY,
        REPORT_NN_ATTACKED,
        REPORT_NN_CLEAN,
        REPORT_NN_EPS,
        REPORT_TABLE2,
    )

    rows = []
    for ev in evals.values():
        attack, run = report_runs.get(ev.name, ("", None))
        for j, eps in enumerate(ev.sweep.eps):
            k_rep = None
            if run is not None:
                hit = run[(run["attack"] == attack) & (run["eps"].sub(eps).abs() < 1e-12)]
                k_rep = int(hit["robust"].iloc[0]) if len(hit) else None
            table2_name = "no defense" if ev.name == "base model" else ev.name
            rep = REPORT_TABLE2.get(("PGD", table2_name, eps))
            rep_clean = REPORT_BASE_ACCURACY if ev.name == "base model" else None
            note = "PGD, report Table 2 (% of the correctly classified images)" if rep is not None else ""
            if rep is not None and rep_clean is not None:
                # Over all images, like ours: the report's share of its correct images times its clean accuracy.
                rep = rep * rep_clean / 100
                note = "PGD, report Table 2 times its clean accuracy (over all test images)"
            if ev.name == "1-NN, CE + contrastive" and abs(eps - REPORT_NN_EPS) < 1e-12:
                rep, rep_clean = REPORT_NN_ATTACKED, REPORT_NN_CLEAN
                note = "FGSM, report section 3.3 ('similar accuracy')"
            rows.append(summary.defense_row(
                report=REPORT, dataset=dataset, norm="inf", eps=eps, defense=ev.name, baseline=ev.baseline, n=ev.n,
                clean_correct=ev.clean_correct, report_attack_robust=k_rep,
                report_attack_n=n_test, worst_robust=int(ev.sweep.robust[:, j].sum()),
                report_clean=None if rep_clean is None else rep_clean / 100,
                report_robust=None if rep is None else rep / 100, report_attack=note or attack,
                worst_attacks=", ".join(k for k in ev.sweep.table["attack"].unique() if k != sweep.WORST_CASE),
                evidence="adaptive_worst_case"))
    return rows
