"""Beyond report 001: PuVAE and PuVAE + detector under the strongest attacks we have.

The report scores its defense against transfer attacks made on the bare classifier. Here
each pipeline (:class:`lib.defenses.puvae.PuVAEPipeline`, K + 1 logits) meets, per image
and in this order, on the first ``n_adaptive`` test images at ``adaptive_eps``:

1. ``PGD transfer``: the report's own PGD, made on the classifier (its row is the accuracy
   under this attack alone, since it runs first);
2. ``adaptive PGD``: PGD on the whole pipeline with the reject-aware margin, straight-through
   gradients of the RMSE arg-min and EOT over the CVAE's sampling
   (:func:`lib.defenses.puvae.adaptive_attack`);
3. ``multi-target arg-min``: for the ``argmin_targets`` easiest wrong classes j,
   make reconstruction j the closest, the classifier say j and its RMSE stay under t
   (:func:`lib.defenses.puvae.multi_target_attack`);
4. ``Square``: the gradient-free attack, with the reject adapter.

An image counts as robust only if it survives every attack (the worst case, scored as the
report: a rejected input is handled; a clean mistake is broken). The straight-through
temperature is varied in a table of its own, and the checks of :mod:`lib.robustness`
(unbounded budget, convergence in steps and restarts, gradient-free vs gradient) run on
``n_checks`` images. Everything is cached by weights, images and settings.
"""
from __future__ import annotations

import functools
from collections.abc import Mapping
from types import SimpleNamespace

import pandas as pd
import torch
from torch import nn

from lib import attacks, robustness, runtime, stats, sweep
from lib.defenses import puvae

TRANSFER, ADAPTIVE, ARGMIN, SQUARE = "PGD transfer", "adaptive PGD", "multi-target arg-min", "Square"
WORST = "worst case"
DETECTOR, PLAIN = "PuVAE + detector", "PuVAE"


def transfer_pgd(model, x: torch.Tensor, y: torch.Tensor, eps: float, *, source: nn.Module, steps: int,
                 rel_step: float, seed: int) -> torch.Tensor:
    """The report's PGD (L-inf, step ``rel_step * eps``, random start), made on ``source`` (the
    classifier) and handed to ``model`` (the pipeline): a transfer attack, seeded per call."""
    gen = torch.Generator().manual_seed(seed)
    return attacks.pgd(source, x, y, eps, "inf", steps=steps, step_size=rel_step * eps, generator=gen)


def attack_set(s: SimpleNamespace, classifier: nn.Module) -> dict:
    """The ordered attacks of the module docstring, as cacheable partials; the same set for
    PuVAE alone and PuVAE + detector, so that their worst cases compare like with like."""
    return {TRANSFER: functools.partial(transfer_pgd, source=classifier, steps=s.pgd_steps,
                                        rel_step=s.pgd_rel_step, seed=s.seed + 7),
            ADAPTIVE: functools.partial(puvae.adaptive_attack, steps=s.adaptive_steps, rel_step=s.adaptive_rel_step,
                                        eot=s.adaptive_eot, restarts=s.adaptive_restarts, seed=s.seed),
            ARGMIN: functools.partial(puvae.multi_target_attack, n_targets=s.argmin_targets,
                                      steps=s.adaptive_steps, rel_step=s.adaptive_rel_step, eot=s.adaptive_eot,
                                      seed=s.seed),
            SQUARE: functools.partial(attacks.square, norm="inf", n_queries=s.square_queries, seed=s.seed,
                                      reject=True)}


def evaluate(s: SimpleNamespace, classifier: nn.Module, pipelines: Mapping[str, puvae.PuVAEPipeline],
             x: torch.Tensor, y: torch.Tensor) -> tuple[pd.DataFrame, dict[str, sweep.SweepResult]]:
    """Worst-case sweeps of each pipeline (name -> pipeline; the detector's name is
    :data:`DETECTOR`). Returns the tidy table (columns ``defense``, ``attack``, ``eps``,
    ``attacked``, ``broken``, ``robust``, ``n``, ``accuracy``, ``low``, ``high``: the
    ``robust`` count is cumulative over the attacks so far, the :data:`WORST` row is the
    worst case) and the sweeps by name."""
    sweeps, parts = {}, []
    for name, pipe in pipelines.items():
        runtime.seed_everything(s.seed)
        result = sweep.cached_sweep(pipe, x, y, attack_set(s, classifier),
                                    s.adaptive_eps, name=f"puvae-strong-{s.dataset}", reject=True,
                                    batch_size=100, progress_bar=False)
        sweeps[name] = result
        table = result.table.replace({"attack": {sweep.WORST_CASE: WORST}})
        parts.append(table.assign(defense=name))
    table = pd.concat(parts, ignore_index=True)
    return table[["defense", "attack", "eps", "attacked", "broken", "robust", "n", "accuracy", "low",
                  "high"]], sweeps


def temperature_table(s: SimpleNamespace, vae: nn.Module, classifier: nn.Module, threshold: float,
                      x: torch.Tensor, y: torch.Tensor) -> pd.DataFrame:
    """Adaptive PGD on PuVAE + detector with each straight-through temperature of
    ``st_temperatures`` and without straight-through (None: gradients through the chosen
    reconstruction only), on the first ``n_checks`` images at the largest adaptive eps.
    Columns ``temperature``, ``robust``, ``n``, ``accuracy``, ``low``, ``high``."""
    n, eps = s.n_checks, max(s.adaptive_eps)
    xs, ys = x[:n], y[:n]
    rows = []
    for temp in [None, *s.st_temperatures]:
        pipe = puvae.PuVAEPipeline(vae, classifier, threshold, temperature=temp, reject_scale=s.reject_scale)
        attack = functools.partial(puvae.adaptive_attack, steps=s.adaptive_steps, rel_step=s.adaptive_rel_step,
                                   eot=s.adaptive_eot, restarts=s.adaptive_restarts, seed=s.seed)
        runtime.seed_everything(s.seed)
        result = sweep.cached_sweep(pipe, xs, ys, {ADAPTIVE: attack}, [eps], name=f"puvae-temperature-{s.dataset}",
                                    reject=True, batch_size=100, progress_bar=False)
        row = result.worst_case.iloc[0]
        rows.append(dict(temperature="none (chosen reconstruction only)" if temp is None else f"{temp:g}",
                         robust=int(row["robust"]), n=int(row["n"]), accuracy=row["accuracy"], low=row["low"],
                         high=row["high"], eps=eps))
    return pd.DataFrame(rows)


def sanity(s: SimpleNamespace, name: str, pipe: puvae.PuVAEPipeline, result: sweep.SweepResult,
           x: torch.Tensor, y: torch.Tensor) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`lib.robustness.sanity_table` for one pipeline, with the unbounded check and the
    convergence of reject-aware PGD (both on the first ``n_checks`` images at the smallest
    adaptive eps); returns (checks, convergence table)."""
    runtime.seed_everything(s.seed)
    found = robustness.checks(pipe, x[:s.n_checks], y[:s.n_checks], min(s.adaptive_eps), "inf",
                              steps=s.convergence_steps, restarts=s.convergence_restarts,
                              restart_steps=s.adaptive_steps, reject=True, single_step=False, seed=s.seed,
                              batch_size=100, name=f"puvae-{s.dataset}")
    conv, unb = found["convergence"], found["unbounded"]
    checks = robustness.sanity_table(name, result, unbounded_result=unb, convergence_table=conv,
                                     gradient_free=SQUARE)
    return checks, conv.assign(defense=name)


def worst_table(table: pd.DataFrame, sweeps: Mapping[str, sweep.SweepResult]) -> pd.DataFrame:
    """Per defense and eps: accuracy (%) under the report's transfer PGD and in the worst case,
    each with its interval, the images each attack broke first, and McNemar's p of the detector
    against PuVAE alone (the same images)."""
    rows = []
    for (defense, eps), g in table.groupby(["defense", "eps"], sort=False):
        by = g.set_index("attack")
        tr, wc = by.loc[TRANSFER], by.loc[WORST]
        row = {"defense": defense, "eps": eps, "n": int(wc["n"]),
               "transfer PGD (%)": stats.format_interval(tr["accuracy"], tr["low"], tr["high"]),
               "worst case (%)": stats.format_interval(wc["accuracy"], wc["low"], wc["high"])}
        row.update({f"broken by {a}": int(by.loc[a, "broken"]) for a in by.index if a != WORST})
        if defense == DETECTOR and PLAIN in sweeps:
            row["p vs PuVAE (McNemar)"] = robustness.defended_vs_baseline(sweeps[DETECTOR], sweeps[PLAIN],
                                                                          eps)["p_value"]
        rows.append(row)
    return pd.DataFrame(rows)


def summary_rows(s: SimpleNamespace, pipelines: Mapping[str, puvae.PuVAEPipeline],
                 sweeps: Mapping[str, sweep.SweepResult], x: torch.Tensor, y: torch.Tensor) -> list[dict]:
    """Rows of ``summary_defenses.csv`` (:mod:`lib.summary`) for one dataset: PuVAE and PuVAE +
    detector at each adaptive eps, on the ``n_adaptive`` images of the sweeps: clean accuracy
    (a rejected clean image is an error, as in the report), our transfer PGD (the report's
    attack), the worst case, and the report's PGD column of Tables 3-5 (PuVAE, ours)."""
    from lib import summary
    from lib.reports.puvae_detector.reference import REFERENCE_OF, REPORT_TABLES, TABLE_NUMBER

    ref = REPORT_TABLES.get(REFERENCE_OF.get(s.dataset, ""), {})
    rows = []
    for column, name in ((1, PLAIN), (2, DETECTOR)):
        result, pipe = sweeps[name], pipelines[name]
        torch.manual_seed(s.seed)
        clean = int((pipe.decide(x).label == y).sum())
        table = result.table
        for j, eps in enumerate(result.eps):
            tr = table[(table["attack"] == TRANSFER) & (table["eps"] == eps)]
            rows.append(summary.defense_row(
                report="puvae_detector", dataset=s.dataset, norm="inf", eps=eps, defense=name,
                baseline=PLAIN, n=len(y), clean_correct=clean, report_attack_robust=int(tr["robust"].iloc[0]),
                worst_robust=int(result.robust[:, j].sum()),
                report_clean=ref["none"][column] / 100 if "none" in ref else None,
                report_robust=ref["PGD"][column] / 100 if "PGD" in ref and abs(eps - s.eps) < 1e-12 else None,
                report_attack=f"PGD transfer, report Table {TABLE_NUMBER.get(s.dataset, '-')} (report's scoring)",
                worst_attacks=", ".join(a for a in table["attack"].unique() if a != sweep.WORST_CASE),
                evidence=f"adaptive_worst_case_{s.dataset}"))
    return rows
