"""Beyond report 001's transfer attacks: PuVAE and PuVAE + detector attacked as white boxes.

The report scores its defense against attacks made on the bare classifier (section 5: it calls
them white box). Here each pipeline (:class:`lib.defenses.puvae.PuVAEPipeline`, K + 1 logits)
meets the study's strong reject-aware L-inf set (:func:`lib.robustness.strong_set`,
``"Linf-reject"``: reject-aware PGD, APGD-CE, APGD-DLR, then Square), extended by this report's
attacks: first the report's own PGD made on the classifier (``PGD transfer``; its row is the
accuracy under the report's attack alone, since it runs first), and among the gradient attacks

- ``adaptive PGD``: PGD on the whole pipeline with the reject-aware margin, straight-through
  gradients of the RMSE arg-min and EOT over the CVAE's sampling
  (:func:`lib.defenses.puvae.adaptive_attack`);
- ``multi-target arg-min``: for the ``argmin_targets`` easiest wrong classes j, make
  reconstruction j the closest, the classifier say j and its RMSE stay under t
  (:func:`lib.defenses.puvae.multi_target_attack`).

Both pipelines meet the same set, so their worst cases compare like with like. An image counts
as robust only if it survives every attack (scored as the report: a rejected input is handled;
an image the pipeline gets wrong and accepts unattacked is broken). The straight-through
temperature is varied in a table of its own, and the checks of :mod:`lib.robustness` (unbounded
budget, convergence in steps and restarts, gradient-free vs gradient) run on ``n_checks``
images. Every sweep is cached by weights, images and settings, and seeded inside.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import pandas as pd
import torch

from lib import attacks, robustness, stats, sweep
from lib.defenses import puvae
from lib.reports.puvae_detector.experiment import REPORT, Detector, Models, Settings
from lib.reports.puvae_detector.transfer import pgd as report_pgd

TRANSFER, ADAPTIVE, ARGMIN, SQUARE = "PGD transfer", "adaptive PGD", "multi-target arg-min", robustness.GRADIENT_FREE
WORST = "worst case"
DETECTOR, PLAIN = "PuVAE + detector", "PuVAE"


def budget(s: Settings) -> robustness.Budget:
    """The registry's budget at this profile: ``adaptive_steps`` for PGD and APGD,
    ``adaptive_restarts``, ``square_queries``."""
    return robustness.Budget(pgd_steps=s.adaptive_steps, restarts=s.adaptive_restarts, apgd_steps=s.adaptive_steps,
                             square_queries=s.square_queries, seed=s.seed)


def attack_set(s: Settings, classifier) -> dict:
    """The ordered set of the module docstring: the registry's ``"Linf-reject"`` set, the
    report's transfer PGD first, the two attacks specific to PuVAE among the gradient attacks."""
    first = {TRANSFER: functools.partial(attacks.transfer, source=classifier,
                                         attack=functools.partial(report_pgd, steps=s.pgd_steps,
                                                                  rel_step=s.pgd_rel_step))}
    specific = {ADAPTIVE: functools.partial(puvae.adaptive_attack, steps=s.adaptive_steps,
                                            rel_step=s.adaptive_rel_step, eot=s.adaptive_eot,
                                            restarts=s.adaptive_restarts, seed=s.seed),
                ARGMIN: functools.partial(puvae.multi_target_attack, n_targets=s.argmin_targets,
                                          steps=s.adaptive_steps, rel_step=s.adaptive_rel_step, eot=s.adaptive_eot,
                                          seed=s.seed)}
    return robustness.strong_set("Linf-reject", budget(s), first=first, gradient=specific)


@dataclass
class Adaptive:
    """One dataset's white-box evaluation on its first ``n`` test images: the tidy ``table``
    (columns defense, attack, eps, attacked, broken, robust, n, accuracy, low, high; ``robust``
    cumulative over the set, the :data:`WORST` row the worst case), the worst-case ``sweeps``
    of PuVAE alone (:data:`PLAIN`) and with the detector (:data:`DETECTOR`), adaptive PGD
    against the straight-through ``temperatures``, and ``grad_share``, the share of images
    with a non-zero input gradient through the pipeline."""

    n: int
    table: pd.DataFrame
    sweeps: dict[str, sweep.SweepResult]
    temperatures: pd.DataFrame
    grad_share: float

    def flags(self, defense: str, eps: float) -> torch.Tensor:
        """(n,) per image: survives every attack at ``eps`` (report's scoring)."""
        r = self.sweeps[defense]
        return r.robust[:, r.eps.index(float(eps))]


def evaluate(s: Settings, m: Models, d: Detector) -> Adaptive:
    """Section 7: both pipelines under :func:`attack_set` at ``adaptive_eps``, the temperature
    table and the gradient check, on the first ``n_adaptive`` test images."""
    n = min(s.n_adaptive, len(m.test))
    x, y = m.test.x[:n], m.test.y[:n]
    sweeps, parts = {}, []
    for name, pipe in ((PLAIN, d.plain), (DETECTOR, d.pipeline)):
        result = sweep.cached_sweep(pipe, x, y, attack_set(s, m.classifier), s.adaptive_eps,
                                    name=f"{REPORT}-strong-{s.dataset}", reject=True, batch_size=100,
                                    progress_bar=False, seed=s.seed)
        sweeps[name] = result
        parts.append(result.table.replace({"attack": {sweep.WORST_CASE: WORST}}).assign(defense=name))
    table = pd.concat(parts, ignore_index=True)[["defense", "attack", "eps", "attacked", "broken", "robust", "n",
                                                  "accuracy", "low", "high"]]
    torch.manual_seed(s.seed)   # the CVAE samples z in the forward pass
    grad = puvae.gradient_check(d.pipeline, x[:16], y[:16])
    return Adaptive(n, table, sweeps, temperature_table(s, m, d), grad)


def temperature_table(s: Settings, m: Models, d: Detector) -> pd.DataFrame:
    """Adaptive PGD on PuVAE + detector with each straight-through temperature of
    ``st_temperatures`` and without straight-through (None: gradients through the chosen
    reconstruction only), on the first ``n_checks`` images at the largest adaptive eps.
    Columns ``temperature``, ``robust``, ``n``, ``accuracy``, ``low``, ``high``, ``eps``."""
    n, eps = s.n_checks, max(s.adaptive_eps)
    xs, ys = m.test.x[:n], m.test.y[:n]
    attack = functools.partial(puvae.adaptive_attack, steps=s.adaptive_steps, rel_step=s.adaptive_rel_step,
                               eot=s.adaptive_eot, restarts=s.adaptive_restarts, seed=s.seed)
    rows = []
    for temp in [None, *s.st_temperatures]:
        pipe = puvae.PuVAEPipeline(m.vae, m.classifier, d.threshold, temperature=temp, reject_scale=s.reject_scale)
        result = sweep.cached_sweep(pipe, xs, ys, {ADAPTIVE: attack}, [eps], name=f"{REPORT}-temperature-{s.dataset}",
                                    reject=True, batch_size=100, progress_bar=False, seed=s.seed)
        row = result.worst_case.iloc[0]
        rows.append(dict(temperature="none (chosen reconstruction only)" if temp is None else f"{temp:g}",
                         robust=int(row["robust"]), n=int(row["n"]), accuracy=row["accuracy"], low=row["low"],
                         high=row["high"], eps=eps))
    return pd.DataFrame(rows)


def sanity(s: Settings, m: Models, d: Detector, a: Adaptive) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """:func:`lib.robustness.sanity_table` for both pipelines, with the unbounded check and the
    convergence of reject-aware PGD (both on the first ``n_checks`` images at the smallest
    adaptive eps); returns (checks, pipeline -> convergence table)."""
    x, y = m.test.x[:s.n_checks], m.test.y[:s.n_checks]
    tables, conv = [], {}
    for name, pipe in ((PLAIN, d.plain), (DETECTOR, d.pipeline)):
        found = robustness.checks(pipe, x, y, min(s.adaptive_eps), "inf", steps=s.convergence_steps,
                                  restarts=s.convergence_restarts, restart_steps=s.adaptive_steps, reject=True,
                                  single_step=False, seed=s.seed, batch_size=100, name=f"puvae-{s.dataset}")
        conv[name] = found["convergence"].assign(defense=name)
        tables.append(robustness.sanity_table(name, a.sweeps[name], unbounded_result=found["unbounded"],
                                              convergence_table=found["convergence"], gradient_free=SQUARE))
    return pd.concat(tables, ignore_index=True), conv


def worst_table(a: Adaptive) -> pd.DataFrame:
    """Per defense and eps: accuracy (%) under the report's transfer PGD and in the worst case,
    each with its interval, the images each attack broke first, and McNemar's p of the detector
    against PuVAE alone (the same images)."""
    rows = []
    for (defense, eps), g in a.table.groupby(["defense", "eps"], sort=False):
        by = g.set_index("attack")
        tr, wc = by.loc[TRANSFER], by.loc[WORST]
        row = {"defense": defense, "eps": eps, "n": int(wc["n"]),
               "transfer PGD (%)": stats.format_interval(tr["accuracy"], tr["low"], tr["high"]),
               "worst case (%)": stats.format_interval(wc["accuracy"], wc["low"], wc["high"])}
        row.update({f"broken by {k}": int(by.loc[k, "broken"]) for k in by.index if k != WORST})
        if defense == DETECTOR:
            row["p vs PuVAE (McNemar)"] = robustness.defended_vs_baseline(a.sweeps[DETECTOR], a.sweeps[PLAIN],
                                                                          eps)["p_value"]
        rows.append(row)
    return pd.DataFrame(rows)

