"""Report 000's :class:`Run`, its defenses for the study summary and its closing note.

The notebook builds a :class:`Run` section by section with the steps of
:mod:`lib.reports.abs_cifar.experiment`; :func:`build` does the same without the narration
(scripts, tests). ``claims`` and ``observations`` are in :mod:`lib.reports.abs_cifar.verdicts`.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch

from lib import data, stats, summary, verdicts
from lib.reports.abs_cifar import experiment as ex
from lib.reports.abs_cifar import reference as ref
from lib.sweep import SweepResult

#: The two models, in the order of every paired comparison (ABS first), and their names in the report.
MODELS = ("ABS", "SimpleDLA")
REPORT_NAME = {"ABS": "ABS", "SimpleDLA": "DLA"}


@dataclass
class Run:
    """What the notebook computed: the data (``ctx``), the two ``models``, per image their clean
    correctness (``correct``: model -> (N,) bool), the report's three attacks on each
    (``report_sweeps``: model -> attack -> sweep on ``curve_eps``), Tables 1-2 as computed
    (``tables``), the worst case over every attack per model (``worst``, on
    :func:`~lib.reports.abs_cifar.experiment.adaptive_eps`), the gradient check, the convergence
    study and the sanity checks."""

    ctx: ex.Context
    models: ex.Models
    correct: dict[str, torch.Tensor]
    report_sweeps: dict[str, dict[str, SweepResult]]
    tables: tuple[pd.DataFrame, pd.DataFrame]
    worst: dict[str, SweepResult]
    gradients: ex.GradientCheck
    convergence: pd.DataFrame
    sanity: pd.DataFrame

    @property
    def title(self) -> str:
        return self.ctx.title


def clean_counts(run: Run) -> dict[str, tuple[int, int]]:
    """model -> (clean-correct images, images)."""
    return {m: (int(run.correct[m].sum()), len(run.correct[m])) for m in MODELS}


def build(cfg, device=None) -> Run:
    """Every step of the notebook in order, without its narration."""
    from lib.reports.abs_cifar import tables as tb

    ctx = ex.prepare(cfg, device)
    models = ex.fit_models(ctx)
    correct = ex.clean_flags(ctx, models)
    sweeps = ex.report_evaluation(ctx, models)
    worst = ex.worst_cases(ctx, models, sweeps)
    return Run(ctx=ctx, models=models, correct=correct, report_sweeps=sweeps,
               tables=tb.report_tables(sweeps, cfg["eps"]), worst=worst,
               gradients=ex.gradient_check(ctx, models), convergence=tb.convergence_table(ex.convergence(ctx, models)),
               sanity=tb.sanity_table(sweeps, correct, ctx.chance, max(cfg["curve_eps"])))


def summary_rows(run: Run) -> list[dict]:
    """Per model and report eps: clean accuracy, the report's attacks (per image the worst of
    the three), our worst case, beside the report's clean accuracy and its smallest Table 1-2
    number at that eps (the worst of its three attacks)."""
    cfg, n = run.ctx.cfg, len(run.ctx.test.y)
    rows = []
    for e in cfg["eps"]:
        for m, table in (("ABS", ref.REPORT_TABLE1), ("SimpleDLA", ref.REPORT_TABLE2)):
            w = run.worst[m]
            attacks = [*ref.ATTACKS, *w.table.loc[w.table["attack"] != "worst case", "attack"].unique()]
            rows.append(summary.defense_row(
                report=ex.REPORT, dataset=cfg["dataset"], norm="2", eps=e, defense=m, baseline="SimpleDLA", n=n,
                clean_correct=int(run.correct[m].sum()),
                report_attack_robust=int(ex.robust_under(run.report_sweeps[m], e).sum()),
                worst_robust=int(w.robust[:, w.eps.index(e)].sum()),
                report_clean=ref.REPORT_CLEAN[REPORT_NAME[m]] / 100,
                report_robust=min(table[(a, e)] for a in ref.ATTACKS) if (ref.ATTACKS[0], e) in table else None,
                report_attack="FGSM, I-FGSM, PGD (L2)", worst_attacks=", ".join(dict.fromkeys(attacks)),
                evidence="adaptive_worst_case.csv"))
    return rows


def closing_note(run: Run) -> str:
    """The notebook's closing note: clean and robust accuracies beside the report's, the
    gradient and sanity checks, every verdict with its test, and the data's caveat."""
    from lib.reports import base
    from lib.reports.abs_cifar.verdicts import claims

    cfg, n = run.ctx.cfg, len(run.ctx.test.y)
    e = min(cfg["eps"])
    pct = lambda k: stats.format_interval(k / n, *stats.clopper_pearson(k, n))  # noqa: E731
    rob = {m: int(ex.robust_under(run.report_sweeps[m], e).sum()) for m in MODELS}
    worst = {m: int(run.worst[m].robust[:, run.worst[m].eps.index(e)].sum()) for m in MODELS}
    clean = clean_counts(run)
    judged = verdicts.judge(claims(run))
    g = run.gradients
    lines = [f"**Closing note ({cfg['profile']} profile, {run.title}, {n} test images).**", "",
             f"- Clean accuracy: ABS {pct(clean['ABS'][0])} % (report {ref.REPORT_CLEAN['ABS']} %), "
             f"SimpleDLA {pct(clean['SimpleDLA'][0])} % (report {ref.REPORT_CLEAN['DLA']} %).",
             f"- At L2 eps {e:g}, the report's attacks leave ABS {pct(rob['ABS'])} % and SimpleDLA "
             f"{pct(rob['SimpleDLA'])} % (report, PGD: ABS {100 * ref.REPORT_TABLE1[('PGD', 0.1)]:g} %, DLA "
             f"{100 * ref.REPORT_TABLE2[('PGD', 0.1)]:g} % at eps 0.1); the worst case over every attack leaves ABS "
             f"{pct(worst['ABS'])} % and SimpleDLA {pct(worst['SimpleDLA'])} %.",
             f"- Danskin vs unrolled gradients: median cosine {g.cosine.median():.3f} on {g.n} images; PGD through "
             f"each: McNemar p = {g.mcnemar().p_value:.2g}.",
             f"- Sanity checks: {int(run.sanity['passed'].sum())} of {len(run.sanity)} passed.", "",
             f"**Verdicts** ({base.verdict_counts(judged)}; Holm's correction over the {len(judged)} claims of "
             "the report)", "", *base.verdict_lines(judged)]
    note = data.info(cfg["dataset"]).note
    if note:
        lines += ["", f"*About the data:* {note}"]
    return "\n".join(lines)
