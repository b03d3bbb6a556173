"""Report 002's :class:`Run`, its defenses for the study summary and its closing note.

The notebook builds a :class:`Run` section by section with the steps of
:mod:`lib.reports.attacks_adversarial_training.experiment` and
:mod:`~lib.reports.attacks_adversarial_training.adaptive`; :func:`build` does the same without
the narration (scripts, tests). ``claims`` and ``observations`` are in
:mod:`lib.reports.attacks_adversarial_training.verdicts`.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch
from torch import nn

from lib import data, stats, summary, train, verdicts
from lib.defenses.contrastive import NearestReference
from lib.reports.attacks_adversarial_training import adaptive
from lib.reports.attacks_adversarial_training import experiment as ex
from lib.reports.attacks_adversarial_training import reference as ref
from lib.sweep import WORST_CASE, SweepResult


@dataclass
class Run:
    """What the notebook computed. Every sweep is over all test images (the first ``n_eot`` for
    ``eot``, the first ``n_strong`` for ``strong``), one per model and attack:

    - ``base_fit``: the base model and its learning curves; ``examples``: Figures 2-3;
    - ``base``: the base model under FGSM and PGD (:func:`experiment.base_sweeps`);
    - ``adversarial``: the adversarially trained models; ``at_sweeps``: model -> attack -> sweep;
    - ``noisy``: the Gaussian-noise models; ``noise``: label -> its FGSM sweep (Figures 6-7);
      ``eot``: model -> attack -> sweep of the EOT comparison;
    - ``contrastive``: the contrastive model; ``knn``: the 1-NN rules (:data:`experiment.ENCODERS`);
      ``latent``: rule -> attack -> sweep; ``heads``: rule -> "FGSM" / "PGD" -> sweep of its
      encoder's softmax head; ``distances``: section 3.3's latent distances;
    - ``strong``: model -> its adaptive evaluation; ``eot_sweep``: the EOT sweep over draws;
    - ``sanity``: the sanity checks of the report's sweeps;
    - ``reference_draws``: the 1-NN rules' clean accuracy per draw of the references
      (:func:`experiment.reference_draws`; None when not measured).
    """

    ctx: ex.Context
    base_fit: train.FitResult
    examples: ex.Examples
    base: dict[str, SweepResult]
    adversarial: dict[str, nn.Module]
    at_sweeps: dict[str, dict[str, SweepResult]]
    noisy: dict[str, nn.Module]
    noise: dict[str, SweepResult]
    eot: dict[str, dict[str, SweepResult]]
    contrastive: nn.Module
    knn: dict[str, NearestReference]
    latent: dict[str, dict[str, SweepResult]]
    heads: dict[str, dict[str, SweepResult]]
    distances: ex.Distances
    strong: dict[str, adaptive.Evaluation]
    eot_sweep: pd.DataFrame
    sanity: pd.DataFrame
    reference_draws: pd.DataFrame | None = None

    @property
    def title(self) -> str:
        return self.ctx.title

    @property
    def cfg(self):
        return self.ctx.cfg

    def clean(self, model: str) -> torch.Tensor:
        """(N,) bool: the test images ``model`` classifies correctly (one noise draw for a noisy
        model: the one its FGSM sweep started from)."""
        if model == ex.BASE:
            return self.base["FGSM"].clean_robust.cpu()
        if model in self.at_sweeps:
            return self.at_sweeps[model]["FGSM"].clean_robust.cpu()
        if model in self.noise:
            return self.noise[model].clean_robust.cpu()
        return next(iter(self.latent[model].values())).clean_robust.cpu()

    def clean_count(self, model: str) -> tuple[int, int]:
        flags = self.clean(model)
        return int(flags.sum()), len(flags)


def sanity_groups(run_base: dict[str, SweepResult], at_sweeps, eot, latent) -> dict:
    """The sweep groups :func:`tables.sanity_table` checks: label -> (sweeps, single-step attack,
    iterative attacks)."""
    groups = {"Table 1, base model": (run_base, "FGSM", ["PGD"])}
    groups.update({f"Table 2, {m}": (per, "FGSM", ["PGD"]) for m, per in at_sweeps.items()})
    groups.update({f"EOT, {m}": (per, "FGSM", [a for a in per if a != "FGSM"]) for m, per in eot.items()})
    groups.update({f"1-NN, {ex.ENCODERS[r]}": (per, "FGSM through distances", ["PGD through distances"])
                   for r, per in latent.items()})
    return groups


def build(cfg, device=None) -> Run:
    """Every step of the notebook in order, without its narration."""
    from lib.reports.attacks_adversarial_training import tables as tb

    ctx = ex.prepare(cfg, device)
    base_fit = ex.fit_base(ctx)
    base = base_fit.model.eval()
    sweeps = ex.base_sweeps(ctx, base)
    adversarial = ex.fit_adversarial(ctx, base_fit)
    at_sweeps = ex.adversarial_sweeps(ctx, adversarial)
    noisy = ex.fit_noisy(ctx, base_fit)
    eot = ex.eot_sweeps(ctx, base, noisy)
    con = ex.fit_contrastive(ctx, base_fit)
    encoders = {ex.NN_PLAIN: base, ex.NN_CONTRASTIVE: con}
    knn = ex.nearest_reference(ex.references(ctx), encoders)
    latent = ex.latent_sweeps(ctx, knn, encoders)
    heads = {ex.NN_PLAIN: sweeps, ex.NN_CONTRASTIVE: ex.head_sweeps(ctx, con)}
    strong = strong_evaluations(ctx, base, adversarial, noisy, knn, con)
    sanity = tb.sanity_table(sanity_groups(sweeps, at_sweeps, eot, latent), chance=ctx.chance,
                             large={"Table 1, base model": max(cfg["eps"])})
    return Run(ctx=ctx, base_fit=base_fit, examples=ex.attack_examples(ctx, base), base=sweeps,
               adversarial=adversarial, at_sweeps=at_sweeps, noisy=noisy, noise=ex.noise_sweeps(ctx, noisy), eot=eot,
               contrastive=con, knn=knn, latent=latent, heads=heads,
               distances=ex.nearest_distances(ctx, knn[ex.NN_CONTRASTIVE], con, min(cfg["latent_eps"]), cfg["n_eot"]),
               strong=strong, eot_sweep=adaptive.eot_table(ctx, noisy), sanity=sanity,
               reference_draws=ex.reference_draws(ctx, encoders))


def strong_evaluations(ctx: ex.Context, base: nn.Module, adversarial: dict[str, nn.Module],
                       noisy: dict[str, nn.Module], knn: dict[str, NearestReference],
                       contrastive: nn.Module) -> dict[str, adaptive.Evaluation]:
    """Section 8: every model under the strong set (:func:`adaptive.evaluate`), each compared
    with its baseline: the base model for the adversarially trained and noisy models, the
    plain-CE 1-NN rule for the contrastive one."""
    ev = adaptive.evaluate
    out = {ex.BASE: ev(ctx, ex.BASE, base)}
    out.update({m: ev(ctx, m, model, baseline=ex.BASE) for m, model in adversarial.items()})
    out.update({m: ev(ctx, m, model, kind=adaptive.RANDOMISED, baseline=ex.BASE) for m, model in noisy.items()})
    out[ex.NN_PLAIN] = ev(ctx, ex.NN_PLAIN, knn[ex.NN_PLAIN], kind=adaptive.NEAREST, encoder=base, checks=False)
    out[ex.NN_CONTRASTIVE] = ev(ctx, ex.NN_CONTRASTIVE, knn[ex.NN_CONTRASTIVE], kind=adaptive.NEAREST,
                                encoder=contrastive, baseline=ex.NN_PLAIN)
    return out


# --------------------------------------------------------------------------- the study summary
def _report_attack(run: Run, model: str) -> tuple[str, SweepResult | None]:
    """The report's own attack on ``model`` and our sweep of it (over all test images)."""
    if model == ex.BASE:
        return "PGD", run.base["PGD"]
    if model in run.at_sweeps:
        return "PGD", run.at_sweeps[model]["PGD"]
    if model in run.noise:
        return "FGSM", run.noise[model]
    if model in run.latent:
        return ex.LATENT_TRANSFER, run.latent[model][ex.LATENT_TRANSFER]
    return "", None


def summary_rows(run: Run) -> list[dict]:
    """Rows of ``summary_defenses.csv`` (:mod:`lib.summary`): per model and strong eps, clean and
    worst-case counts from the adaptive evaluation, our run of the report's own attack (over all
    ``n_test`` test images), and the report's number where it publishes one: Table 2 under PGD
    (the base model's times its clean accuracy, to be over all test images like ours) and the
    1-NN rule's clean accuracy (section 3.3 gives no number under attack)."""
    n_test = len(run.ctx.test.y)
    rows = []
    for ev in run.strong.values():
        attack, result = _report_attack(run, ev.name)
        for eps in ev.sweep.eps:
            k_rep = int(ex.robust_at(result, eps).sum()) if result is not None and eps in result.eps else None
            rep = ref.REPORT_TABLE2.get(("PGD", "no defense" if ev.name == ex.BASE else ev.name, eps))
            rep_clean, note = None, f"{attack} (ours; the report gives no number)"
            if rep is not None:
                note = "PGD, report Table 2 (% of the correctly classified images)"
            if ev.name == ex.BASE:
                rep_clean = ref.REPORT_BASE_ACCURACY
                if rep is not None:
                    rep, note = rep * rep_clean / 100, "PGD, report Table 2 times its clean accuracy (all test images)"
            if ev.name == ex.NN_CONTRASTIVE:
                rep_clean, note = ref.REPORT_NN_CLEAN, "FGSM on the softmax head (report: clean accuracy only)"
            rows.append(summary.defense_row(
                report=ex.REPORT, dataset=run.cfg["dataset"], norm="inf", eps=eps, defense=ev.name,
                baseline=ev.baseline, n=ev.n, clean_correct=ev.clean_correct, report_attack_robust=k_rep,
                report_attack_n=n_test, worst_robust=int(ev.robust_at(eps).sum()),
                report_clean=None if rep_clean is None else rep_clean / 100,
                report_robust=None if rep is None else rep / 100, report_attack=note,
                worst_attacks=", ".join(k for k in ev.sweep.table["attack"].unique() if k != WORST_CASE),
                evidence="adaptive_worst_case"))
    return rows


# --------------------------------------------------------------------------- closing note
def _pct(k: int, n: int) -> str:
    return stats.format_interval(k / n, *stats.clopper_pearson(k, n)) if n else "n/a"


def closing_note(run: Run) -> str:
    """The notebook's closing note: clean accuracies beside the report's, Table 1 at the report's
    headline eps, the defenses under the worst case, every verdict with its test, the data's caveat."""
    from lib.reports import base as report_base
    from lib.reports.attacks_adversarial_training.verdicts import claims

    cfg, n = run.cfg, len(run.ctx.test.y)
    judged = verdicts.judge(claims(run))
    kb, _ = run.clean_count(ex.BASE)
    knn_c = run.clean_count(ex.NN_CONTRASTIVE)
    lines = [f"**Closing note ({cfg['profile']} profile, {run.title}, {n} test images).**", "",
             f"- Clean accuracy: base model {_pct(kb, n)} % (report {ref.REPORT_BASE_ACCURACY} %); "
             + ", ".join(f"{m} {_pct(run.clean_count(m)[0], n)} %" for m in (*run.at_sweeps, *run.noise))
             + f"; contrastive 1-NN {_pct(*knn_c)} % (report about {ref.REPORT_NN_CLEAN:g} %)."]
    e = 0.05 if 0.05 in run.base["FGSM"].eps else min(run.base["FGSM"].eps)
    over = {a: ex.over_correct(run.base[a], e) for a in ("FGSM", "PGD")}
    lines.append(f"- Base model at eps {e:g}, over its {kb} correctly classified images: FGSM leaves "
                 f"{_pct(*over['FGSM'])} %, PGD {_pct(*over['PGD'])} % (report, Table 1: "
                 f"{ref.REPORT_TABLE1.get(('FGSM', e), float('nan')):g} / "
                 f"{ref.REPORT_TABLE1.get(('PGD', e), float('nan')):g} %).")
    s = min(cfg["strong_eps"])
    lines.append(f"- Worst case over the strong set at eps {s:g}, first {cfg['n_strong']} test images: "
                 + ", ".join(f"{m} {_pct(int(ev.robust_at(s).sum()), ev.n)} %" for m, ev in run.strong.items()) + ".")
    lines.append(f"- Sanity checks of the report's sweeps: {int(run.sanity['passed'].sum())} of {len(run.sanity)} "
                 f"passed; of the adaptive evaluation: {int(adaptive.sanity(run.strong)['passed'].sum())} of "
                 f"{len(adaptive.sanity(run.strong))}.")
    lines += ["", f"**Verdicts** ({report_base.verdict_counts(judged)}; Holm's correction over the report's "
                  "claims that pass their gates)", "", *report_base.verdict_lines(judged)]
    note = data.info(cfg["dataset"]).note
    if note:
        lines += ["", f"*About the data:* {note}"]
    return "\n".join(lines)
