"""Report 003's :class:`Run`, its defenses for the study summary and its closing note.

The notebook builds a :class:`Run` section by section with the steps of
:mod:`~lib.reports.generative_lipschitz.generative` and
:mod:`~lib.reports.generative_lipschitz.experiment`; :func:`build` does the same without the
narration (scripts, tests). ``claims`` and ``observations`` are in
:mod:`lib.reports.generative_lipschitz.verdicts`.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from lib import data, stats, summary, verdicts
from lib.reports.generative_lipschitz import convergence as cv
from lib.reports.generative_lipschitz import experiment as ex
from lib.reports.generative_lipschitz import sample_quality as sq
from lib.reports.generative_lipschitz.generative import GANFit, VAEFit, fit_gans, fit_other_k, fit_vaes
from lib.sweep import SweepResult


@dataclass
class Run:
    """What the notebook computed, per task keyed by role (``"fashion_mnist"``, ``"cifar10"``):
    the VAEs (``vaes``) and GANs (``gans``, keyed ``dcgan_mnist``, ``fc_mnist``, ``fc_fashion``,
    ``dcgan_cifar``, and ``fc_mnist_k<k>`` for the other k) of section III; the two classifiers
    of each task (``tasks``) and the generators' sample quality (``quality``: KID in their
    feature spaces); the classifiers' certificates, the report's attacks on them (``attacked``:
    FGSM and CW), CW at increasing budgets (``ladders``), the worst case over CW and the study's
    strong L2 set (``worst``) with the attack checks on the Lipschitz classifiers (``checks``);
    and the logit-scaling control."""

    ctx: ex.Context
    vaes: dict[str, VAEFit]
    gans: dict[str, GANFit]
    tasks: dict[str, ex.Task]
    quality: sq.SampleQuality
    certificates: dict[str, ex.Pair[ex.Certificate]]
    attacked: dict[str, ex.Pair[ex.Attacked]]
    ladders: dict[str, ex.Pair[cv.Ladder]]
    worst: dict[str, ex.Pair[SweepResult]]
    checks: pd.DataFrame
    control: ex.Control

    @property
    def title(self) -> str:
        return self.ctx.title


def build(cfg, device=None) -> Run:
    """Every step of the notebook in order, without its narration."""
    ctx = ex.prepare(cfg, device)
    vaes, gans = fit_vaes(ctx), {**fit_gans(ctx), **fit_other_k(ctx)}
    tasks = ex.fit_classifiers(ctx)
    quality = sq.score(cfg, sq.scorers(ctx, tasks), gans, vaes, sq.real_references(ctx))
    attacked = ex.attack(ctx, tasks)
    worst = ex.worst_cases(ctx, tasks, attacked)
    return Run(ctx=ctx, vaes=vaes, gans=gans, tasks=tasks, quality=quality, certificates=ex.certify(tasks),
               attacked=attacked, ladders=cv.ladders(ctx, attacked), worst=worst,
               checks=cv.pgd_checks(ctx, tasks, worst), control=ex.logit_scaling_control(ctx, tasks))


def summary_rows(run: Run) -> list[dict]:
    """Both classifiers of each task at the L2 eps of ``summary_eps``, on the same ``n_attack``
    images: clean accuracy, the report's own attack (CW with binary search: robust when CW fails
    or needs more than eps), and the worst case over CW and the strong set."""
    rows = []
    for role, t in run.tasks.items():
        for kind, a in run.attacked[role].items():
            w = run.worst[role][kind]
            attacks = ", ".join(dict.fromkeys(w.table.loc[w.table["attack"] != "worst case", "attack"]))
            for e in run.ctx.cfg["summary_eps"]:
                rows.append(summary.defense_row(
                    report=ex.REPORT, dataset=t.dataset, norm="2", eps=float(e), defense=f"{kind} CNN",
                    baseline="plain CNN", n=t.n_attack, clean_correct=int(t.correct_attacked(kind).sum()),
                    report_attack_robust=int((a.cw_dist > e).sum()), worst_robust=int(ex.robust_at(w, e).sum()),
                    report_clean=t.report_accuracy if kind == "plain" else None,
                    report_attack="CW-L2 (binary search)", worst_attacks=attacks, evidence="worst_case_l2.csv"))
    return rows


def _pct(k: int, n: int) -> str:
    return stats.format_interval(k / n, *stats.clopper_pearson(k, n)) if n else "n/a"


def closing_note(run: Run) -> str:
    """The notebook's closing note: per task and classifier the clean accuracy beside the
    report's, CW's success and median distortion, the bound L, certified and worst-case accuracy
    at the summary's eps; every verdict with its test; the data's caveats."""
    from lib.reports import base
    from lib.reports.generative_lipschitz.verdicts import claims

    cfg = run.ctx.cfg
    judged = verdicts.judge(claims(run))
    lines = [f"**Closing note ({cfg['profile']} profile; {run.title}; clean accuracy on {cfg['n_test']} test "
             f"images, every attack on the first {cfg['n_attack']}).**", ""]
    for role, t in run.tasks.items():
        for kind, m in t.models.items():
            a, w, c = run.attacked[role][kind], run.worst[role][kind], run.certificates[role][kind]
            k, n = int(m.correct.sum()), len(m.correct)
            report = f"report {100 * t.report_accuracy:g} %" if kind == "plain" else "report: none"
            fooled, attacked = int(a.cw_fooled.sum()), int((a.cw_dist > 0).sum())
            med = float(a.cw_dist[a.cw_fooled].median()) if fooled else float("nan")
            at = "; ".join(f"L2 eps {e:g}: certified {_pct(int((c.radius[:t.n_attack] >= e).sum()), t.n_attack)} %, "
                           f"worst case {_pct(int(ex.robust_at(w, e).sum()), t.n_attack)} %"
                           for e in cfg["summary_eps"])
            lines.append(f"- {t.label} ({t.dataset}), {kind}: clean {_pct(k, n)} % ({report}); CW-L2 broke "
                         f"{fooled} of {attacked} ({_pct(fooled, attacked)} %), median L2 {med:.3f}; bound L "
                         f"{c.bound:.3g}; {at}.")
    lines += ["", f"**Verdicts** ({base.verdict_counts(judged)}; Holm's correction over the "
              f"{sum(bool(c.test) and not c.why_not for c in judged)} tested claims of the report)", "",
              *base.verdict_lines(judged)]
    notes = {data.info(run.ctx.dataset(r)).title: data.info(run.ctx.dataset(r)).note for r in ex.ROLES}
    lines += [f"\n*About the data ({name}):* {note}" for name, note in notes.items() if note]
    return "\n".join(lines)
