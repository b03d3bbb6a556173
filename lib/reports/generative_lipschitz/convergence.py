"""Are report 003's attacks strong enough for its claims (issue 17, item 3)?

- Carlini-Wagner L2 is a minimal-norm attack: its output is a distortion per image, which only
  means something once more search buys little. The attack runs it at increasing budgets
  (``cw_binary_steps`` x ``cw_steps``, pairwise) on the same images; :func:`ladders` lays out
  those runs and per image keeps the least distortion found so far (a larger budget is one more
  restart: :func:`~experiment.best_of`).
  Per budget, :class:`Ladder` shows the median distortion needed (over the images the classifier
  gets right clean, an image CW did not break counting as infinite) with a bootstrap interval,
  how many images the budget improved by more than
  :data:`~lib.reports.generative_lipschitz.experiment.TIE_TOLERANCE`, and the median's change.
  CW has converged when the last budget moves that median by at most ``TIE_TOLERANCE`` (the
  issue's criterion: "a budget where its median distortion has converged"), the resolution at
  which the claims compare two distortions at all; the claims use the least distortions over
  the whole ladder.
- The worst case over the strong L2 set decides "it did work" where the Lipschitz classifier
  keeps accuracy: there :func:`pgd_checks` runs :func:`lib.robustness.checks` (accuracy against
  PGD's steps and restarts, an unbounded attack that must break every image, FGM against PGD)
  at the largest eps of ``summary_eps``, and :func:`lib.robustness.sanity_table` states whether
  each check passed.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from lib import robustness
from lib.reports.generative_lipschitz import experiment as ex


def median_needed(dist: torch.Tensor, bootstrap: int = 1000, seed: int = 0) -> tuple[float, float, float]:
    """Median distortion needed over the clean-correct images (``dist`` > 0; inf where the attack
    failed) with a percentile bootstrap 95 % interval; nan when no image qualifies."""
    d = dist[dist > 0].double().numpy()
    if not len(d):
        return (float("nan"),) * 3
    rng = np.random.default_rng(seed)
    boots = np.median(d[rng.integers(0, len(d), (bootstrap, len(d)))], axis=1)
    low, high = np.quantile(boots, [0.025, 0.975], method="inverted_cdf")  # no interpolation: inf stays inf
    return float(np.median(d)), float(low), float(high)


def smaller(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per image: ``a`` is smaller than ``b`` by more than the tie tolerance (finite beats inf)."""
    return b > a * (1 + ex.TIE_TOLERANCE)


def median_change(before: float, after: float) -> float:
    """Relative change of the median needed from one budget to the next (nan where either is not
    finite: an attack that breaks fewer than half the images has no finite median to converge)."""
    if not (np.isfinite(before) and np.isfinite(after)) or before <= 0:
        return float("nan")
    return after / before - 1


@dataclass
class Ladder:
    """CW at each budget on one classifier: ``budgets`` (binary steps, iterations) and per budget
    the distortion per image that budget's run found (``dists``: (n_attack,),
    :func:`~experiment.cw_distances`). :attr:`best` keeps per image the least so far."""

    budgets: list[tuple[int, int]]
    dists: list[torch.Tensor]

    @property
    def best(self) -> list[torch.Tensor]:
        """Per budget, per image the least distortion of this budget's run and every smaller one."""
        out = []
        for d in self.dists:
            out.append(d if not out else torch.minimum(out[-1], d))
        return out

    def rows(self) -> list[dict]:
        out, previous = [], None
        for (bs, steps), d in zip(self.budgets, self.best):
            med, low, high = median_needed(d)
            ok = d > 0
            row = {"budget": f"{bs} x {steps}", "binary steps": bs, "iterations": steps,
                   "broken": int(torch.isfinite(d[ok]).sum()), "clean-correct": int(ok.sum()),
                   "median L2 needed": med, "low": low, "high": high,
                   "improved images": np.nan, "median change (%)": np.nan}
            if previous is not None:
                both = ok & (previous["d"] > 0)
                row.update({"improved images": int(smaller(d[both], previous["d"][both]).sum()),
                            "median change (%)": 100 * median_change(previous["median"], med)})
            out.append(row)
            previous = {"d": d, "median": med}
        return out

    @property
    def converged(self) -> bool:
        """The last budget moves the median needed by at most the tie tolerance (a single budget
        cannot show convergence, nor a median that is not finite: False)."""
        if len(self.dists) < 2:
            return False
        change = self.rows()[-1]["median change (%)"] / 100
        return bool(np.isfinite(change) and abs(change) <= ex.TIE_TOLERANCE)


def ladders(ctx: ex.Context, attacked: Mapping[str, ex.Pair[ex.Attacked]]) -> dict[str, ex.Pair[Ladder]]:
    """The :class:`Ladder` of both classifiers of each task, from the CW runs the attack already
    made (:attr:`~experiment.Attacked.cw_ladder`, one per budget of :func:`~experiment.cw_budgets`)."""
    plan = ex.cw_budgets(ctx.cfg)
    return {role: ex.Pair(*(Ladder(plan, list(a.cw_ladder)) for _, a in pair.items()))
            for role, pair in attacked.items()}


def cw_ladder_table(tasks: Mapping[str, ex.Task], ladders_: Mapping[str, ex.Pair[Ladder]]) -> pd.DataFrame:
    """Every classifier's :class:`Ladder` rows, with dataset, model and ``converged``."""
    rows = []
    for role, pair in ladders_.items():
        for kind, lad in pair.items():
            converged = lad.converged
            rows += [{"dataset": tasks[role].dataset, "model": kind, **r, "converged": converged}
                     for r in lad.rows()]
    return pd.DataFrame(rows)


def pgd_steps_plan(cfg) -> tuple[list[int], list[int], int]:
    """(PGD steps, restarts, steps per restart) of :func:`pgd_checks`: half, all and twice
    ``pgd_steps``; 1 and 2 restarts of ``pgd_steps``."""
    s = int(cfg["pgd_steps"])
    return sorted({max(s // 2, 1), s, 2 * s}), [1, 2], s


def pgd_checks(ctx: ex.Context, tasks: Mapping[str, ex.Task], worst: Mapping[str, ex.Pair], kinds: Sequence[str] = (
        "Lipschitz",)) -> pd.DataFrame:
    """Carlini et al.'s checks (:func:`lib.robustness.sanity_table`) on the given classifiers of
    each task at the largest eps of ``summary_eps`` (L2), on the attacked images."""
    cfg = ctx.cfg
    eps = max(float(e) for e in cfg["summary_eps"])
    steps, restarts, per = pgd_steps_plan(cfg)
    frames = []
    for role, t in tasks.items():
        for kind in kinds:
            model = t.models[kind].model
            c = robustness.checks(model, t.x_attack, t.y_attack, eps, "2", steps=steps, restarts=restarts,
                                  restart_steps=per, seed=cfg["seed"], name=f"{ex.REPORT}-checks-{kind}-{t.dataset}")
            table = robustness.sanity_table(f"{kind}, {t.dataset}", worst[role][kind], unbounded_result=c["unbounded"],
                                            convergence_table=c["convergence"], step_check=c["step_check"])
            frames.append(table)
    return pd.concat(frames, ignore_index=True)
