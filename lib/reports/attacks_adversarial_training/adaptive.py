"""Beyond report 002: every model under the strong attack set, worst case per image.

The report attacks each defense with FGSM (and its base model with PGD). Here each model of
the notebook meets the registry's L-inf set (:func:`lib.robustness.strong_set`: FGSM, PGD-CE
and PGD-margin with restarts, APGD-CE, APGD-DLR, then the gradient-free Square attack) over
``strong_eps``, scored per image by the worst case over the set, on all ``n_strong`` first
test images (a clean mistake counts as broken, so the number is the accuracy a user gets
under attack):

- the adversarially trained models and the base model as they are;
- the Gaussian-noise models through :class:`lib.robustness.ExpectedModel` (``attack_draws``
  noise draws per forward pass: every attack is then an EOT attack, and its decision is the
  label of highest expected probability), then scored by the expectation and the majority
  vote over ``eval_draws`` fresh draws; plus the EOT sweep over the number of draws;
- the 1-NN rules (contrastive and plain), the set extended in front by two attacks: FGSM
  crafted on the softmax head (what the report ran) and the targeted feature attack of
  :func:`lib.defenses.contrastive.feature_attack`.

For each defense: convergence in PGD steps and restarts, the unbounded-budget check and the
single-step check (:func:`lib.robustness.checks`). Every result is cached by model weights,
images and attack settings, and seeded inside the cached computation, so a warm re-run
attacks nothing and a cold one gives the same numbers.
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

DETERMINISTIC, RANDOMISED, NEAREST = "deterministic", "randomised", "1-NN"


def budget(cfg: Mapping) -> robustness.Budget:
    return robustness.Budget(pgd_steps=cfg["strong_pgd_steps"], restarts=cfg["strong_restarts"],
                             apgd_steps=cfg["apgd_steps"], square_queries=cfg["square_queries"], seed=cfg["seed"])


@dataclass
class Evaluation:
    """One model's adaptive evaluation: its ``sweep`` (:class:`lib.sweep.SweepResult` over the
    first ``n_strong`` test images), the model it is compared with (``baseline``), its
    ``kind`` (:data:`DETERMINISTIC`, :data:`RANDOMISED`, :data:`NEAREST`), and the checks
    of :func:`lib.robustness.checks` (None where not run). ``draws``: for a randomised model,
    eps -> :func:`lib.robustness.random_accuracy` of the examples the sweep kept."""

    name: str
    baseline: str
    kind: str
    sweep: sweep.SweepResult
    convergence: pd.DataFrame | None = None
    unbounded: dict[str, float | int] | None = None
    step_check: dict[str, torch.Tensor | float] | None = None
    draws: dict[float, dict[str, float | int | torch.Tensor]] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.sweep.index)

    @property
    def clean_correct(self) -> int:
        return int(self.sweep.clean_robust.sum())

    def robust_at(self, eps: float) -> torch.Tensor:
        """(n,) bool: the images that survive every attack of the set at ``eps``."""
        return self.sweep.robust[:, self.sweep.eps.index(float(eps))]

    def sanity(self) -> pd.DataFrame:
        return robustness.sanity_table(self.name, self.sweep, unbounded_result=self.unbounded,
                                       convergence_table=self.convergence, step_check=self.step_check)


def attack_set(cfg: Mapping, kind: str, encoder: nn.Module | None = None) -> dict:
    """The registry's L-inf strong set for one kind of model; the 1-NN rules get the report's
    transfer attack from the softmax head and the targeted feature attack in front."""
    if kind != NEAREST:
        return robustness.strong_set("Linf", budget(cfg))
    first = {"FGSM on softmax head": functools.partial(attacks.transfer, source=encoder, attack=attacks.fgsm),
             "feature attack": functools.partial(contrastive.feature_attack, steps=cfg["strong_pgd_steps"],
                                                 restarts=cfg["strong_restarts"], seed=cfg["seed"])}
    return robustness.strong_set("Linf", budget(cfg), first=first)


def _checks(cfg: Mapping, model: nn.Module, x: torch.Tensor, y: torch.Tensor, tag: str) -> dict:
    """Convergence, unbounded and single-step checks on the first ``n_convergence`` images at
    the smallest strong eps (:func:`lib.robustness.checks`, cached)."""
    n = cfg["n_convergence"]
    return robustness.checks(model, x[:n], y[:n], min(cfg["strong_eps"]), "inf", steps=cfg["convergence_steps"],
                             restarts=cfg["convergence_restarts"], restart_steps=cfg["strong_pgd_steps"],
                             seed=cfg["seed"], name=tag)


def seeded_random_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, draws: int, seed: int) -> dict:
    """:func:`lib.robustness.random_accuracy` with the global generators seeded first, so that
    the cached result (:func:`lib.cache.memo`) does not depend on what ran before it."""
    runtime.seed_everything(seed)
    return robustness.random_accuracy(model, x, y, draws)


def evaluate(ctx, name: str, model: nn.Module, *, kind: str = DETERMINISTIC, baseline: str | None = None,
             encoder: nn.Module | None = None, checks: bool = True) -> Evaluation:
    """The adaptive evaluation of one model (see the module docstring), on the first ``n_strong``
    test images of ``ctx``, at ``strong_eps``."""
    cfg = ctx.cfg
    x, y = ctx.test.x[:cfg["n_strong"]], ctx.test.y[:cfg["n_strong"]]
    tag = name.lower().replace(" ", "-").replace(",", "")
    target = robustness.ExpectedModel(model, cfg["attack_draws"]) if kind == RANDOMISED else model
    result = sweep.cached_sweep(target, x, y, attack_set(cfg, kind, encoder), cfg["strong_eps"],
                                name=f"strong-{tag}", seed=cfg["seed"], progress_bar=False)
    ev = Evaluation(name=name, baseline=baseline or name, kind=kind, sweep=result)
    if kind == RANDOMISED:
        ev.draws = {eps: cache.memo(f"draws-{tag}", seeded_random_accuracy, model, result.examples_at(eps, x), y,
                                    cfg["eval_draws"], cfg["seed"]) for eps in result.eps}
    if checks:
        for k, v in _checks(cfg, target, x, y, tag).items():
            setattr(ev, k, v)
    return ev


def eot_table(ctx, noisy: Mapping[str, nn.Module]) -> pd.DataFrame:
    """The EOT sweep (:func:`lib.robustness.eot_sweep`, which seeds itself) of every noisy model
    over ``eot_sweep_draws`` on the first ``n_convergence`` test images, cached."""
    cfg = ctx.cfg
    x, y, eps = ctx.test.x[:cfg["n_convergence"]], ctx.test.y[:cfg["n_convergence"]], min(cfg["strong_eps"])
    return pd.concat([cache.memo("eot-sweep", robustness.eot_sweep, model, x, y, eps, "inf", cfg["eot_sweep_draws"],
                                 cfg["pgd_steps"], cfg["eval_draws"], seed=cfg["seed"]).assign(model=label)
                      for label, model in noisy.items()], ignore_index=True)


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
                row["p vs baseline (McNemar)"] = robustness.defended_vs_baseline(ev.sweep, base.sweep,
                                                                                 r["eps"])["p_value"]
            row.update({k: v for k, v in r.items() if k.startswith("broken by")})
            rows.append(row)
    return pd.DataFrame(rows)


def sanity(evals: Mapping[str, Evaluation]) -> pd.DataFrame:
    return pd.concat([ev.sanity() for ev in evals.values()], ignore_index=True)
