"""Report 001's :class:`Run`, its defenses for the study summary and its closing note.

The notebook builds the parts of a :class:`Run` section by section with the steps of
:mod:`~lib.reports.puvae_detector.experiment`, :mod:`~lib.reports.puvae_detector.transfer` and
:mod:`~lib.reports.puvae_detector.adaptive`, one dict (dataset -> part) per step, and joins them
with :meth:`Run.join`; :func:`build` does the same without the narration (scripts, tests).
``claims`` and ``observations`` are in :mod:`lib.reports.puvae_detector.verdicts`.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from lib import data, stats, summary, verdicts
from lib.reports.puvae_detector import adaptive as ad
from lib.reports.puvae_detector import reference as ref
from lib.reports.puvae_detector.experiment import (
    REPORT,
    Detector,
    Models,
    Reconstruction,
    Settings,
    check_config,
    fit_detector,
    fit_models,
    reconstruction,
)
from lib.reports.puvae_detector.transfer import Transfer, transfer_sweep


@dataclass
class DatasetRun:
    """Everything the notebook computed on one dataset: its ``settings``, the ``models`` (data,
    classifier, CVAE), the ``detector``, the report's ``transfer`` sweep, the CVAE's
    ``reconstruction`` checks, the white-box evaluation (``adaptive``), the sanity checks
    (``sanity``) and the convergence tables of reject-aware PGD per pipeline (``convergence``)."""

    settings: Settings
    models: Models
    detector: Detector
    transfer: Transfer
    reconstruction: Reconstruction
    adaptive: ad.Adaptive
    sanity: pd.DataFrame
    convergence: dict[str, pd.DataFrame]

    @property
    def reference(self) -> str:
        """The report's dataset this one is compared with (a synthetic stand-in's, in smoke)."""
        return ref.REFERENCE_OF[self.settings.dataset]

    @property
    def n(self) -> int:
        return self.transfer.n


@dataclass
class Run:
    """A run of the notebook: its ``profile`` and, per dataset (in the profile's order), a
    :class:`DatasetRun`."""

    profile: str
    datasets: dict[str, DatasetRun]

    @classmethod
    def join(cls, profile: str, settings: Sequence[Settings], models: Mapping[str, Models],
             detectors: Mapping[str, Detector], transfers: Mapping[str, Transfer],
             reconstructions: Mapping[str, Reconstruction], adaptive: Mapping[str, ad.Adaptive],
             checks: Mapping[str, tuple[pd.DataFrame, dict[str, pd.DataFrame]]]) -> Run:
        """The parts of the notebook's steps (dataset -> part) as one run."""
        return cls(profile, {s.dataset: DatasetRun(s, models[s.dataset], detectors[s.dataset], transfers[s.dataset],
                                                   reconstructions[s.dataset], adaptive[s.dataset],
                                                   *checks[s.dataset]) for s in settings})

    def of(self, report_dataset: str) -> DatasetRun | None:
        """The run's dataset compared with the report's ``report_dataset`` (real data first), or
        None when the profile has none."""
        found = [r for r in self.datasets.values() if r.reference == report_dataset]
        found.sort(key=lambda r: not r.settings.real)
        return found[0] if found else None


def build(cfg, device=None) -> Run:
    """Every step of the notebook in order, without its narration."""
    from lib.reports.puvae_detector import tables as tb

    parts: dict[str, dict] = {k: {} for k in ("models", "detectors", "transfers", "reconstructions", "adaptive",
                                               "checks")}
    settings = check_config(cfg)
    for s in settings:
        m = parts["models"][s.dataset] = fit_models(s, device)
        d = parts["detectors"][s.dataset] = fit_detector(s, m)
        t = parts["transfers"][s.dataset] = transfer_sweep(s, m, d)
        parts["reconstructions"][s.dataset] = reconstruction(s, m)
        a = parts["adaptive"][s.dataset] = ad.evaluate(s, m, d)
        parts["checks"][s.dataset] = tb.checks(s, m, d, t, a)
    return Run.join(cfg["profile"], settings, **parts)


def summary_rows(run: Run) -> list[dict]:
    """Per dataset, PuVAE and PuVAE + detector at each adaptive eps, on the first
    ``n_adaptive`` test images: clean accuracy (a rejected clean image is an error, as in the
    report), our transfer PGD (the report's attack), the worst case of the white-box set, and
    the report's PGD column of Tables 3-5 (PuVAE, ours)."""
    rows = []
    for name, r in run.datasets.items():
        s, a = r.settings, r.adaptive
        table = ref.REPORT_TABLES.get(r.reference, {})
        for column, defense, flags in ((1, ad.PLAIN, r.transfer.clean["puvae"]),
                                       (2, ad.DETECTOR, r.transfer.clean["ours"])):
            result = a.sweeps[defense]
            attacks = ", ".join(x for x in result.table["attack"].unique() if x != ad.sweep.WORST_CASE)
            for j, eps in enumerate(result.eps):
                tr = a.table[(a.table["defense"] == defense) & (a.table["attack"] == ad.TRANSFER)
                             & (a.table["eps"] == eps)]
                rows.append(summary.defense_row(
                    report=REPORT, dataset=name, norm="inf", eps=eps, defense=defense, baseline=ad.PLAIN, n=a.n,
                    clean_correct=int(flags[:a.n].sum()), report_attack_robust=int(tr["robust"].iloc[0]),
                    worst_robust=int(result.robust[:, j].sum()),
                    report_clean=table["none"][column] / 100 if table else None,
                    report_robust=table["PGD"][column] / 100 if table and abs(eps - s.eps) < 1e-12 else None,
                    report_attack=f"PGD transfer, report Table {ref.TABLE_NUMBER.get(r.reference, '-')} "
                                  "(report's scoring)",
                    worst_attacks=attacks, evidence=f"adaptive_worst_case_{name}"))
    return rows


def percent(flags) -> str:
    """``"61.2 [57.0, 65.3]"``: the share of True in (N,) flags, in %, with its exact interval."""
    k, n = int(flags.sum()), len(flags)
    return stats.format_interval(k / n, *stats.clopper_pearson(k, n))


def dataset_lines(r: DatasetRun) -> list[str]:
    """The closing note's lines on one dataset: clean accuracies, reconstruction error and
    detection beside the report's, the transfer attacks at the table's eps, the white box."""
    s, t, label = r.settings, r.transfer, ref.LABEL[r.reference]
    table = ref.REPORT_TABLES[r.reference]

    def rep(v: float) -> str:
        return f" (report {v:g})" if s.real else f" (report {v:g} on {label}; this is a synthetic stand-in)"

    clean = {c: f"{percent(t.clean[c])} %" for c in ("no_defense", "puvae", "ours")}
    lines = [f"- **{s.dataset}** ({t.n} test images, eps {s.eps:g}): clean accuracy classifier "
             f"{clean['no_defense']}{rep(ref.REPORT_CLEAN[r.reference])}, PuVAE {clean['puvae']}"
             f"{rep(table['none'][1])}, PuVAE + detector {clean['ours']}{rep(table['none'][2])}; mean "
             f"best-reconstruction RMSE {t.rmse_clean.mean():.3f} clean, {t.rmse_pgd.mean():.3f} under PGD "
             f"(report, MNIST: {ref.REPORT_RMSE['mnist'][0]:g} and {ref.REPORT_RMSE['mnist'][1]:g}); threshold "
             f"t = {r.detector.threshold:.3f} rejects {percent(t.at('rejected', 'PGD', s.eps))} % of the PGD images."]
    for a in t.attacks:
        lines.append(f"  - {a}: PuVAE {percent(t.at('puvae', a, s.eps))} %{rep(table[a][1])}, with the detector "
                     f"{percent(t.at('ours', a, s.eps))} %{rep(table[a][2])}; in the worst case over the eps grid "
                     f"{percent(t.worst_over_eps('puvae', a))} % and {percent(t.worst_over_eps('ours', a))} %.")
    for e in s.adaptive_eps:
        lines.append(f"  - White box at eps {e:g} (first {r.adaptive.n} images, worst case over the strong set): "
                     f"PuVAE {percent(r.adaptive.flags(ad.PLAIN, e))} %, with the detector "
                     f"{percent(r.adaptive.flags(ad.DETECTOR, e))} %.")
    passed = r.sanity["passed"].astype(bool)
    lines.append(f"  - Sanity checks: {int(passed.sum())} of {len(passed)} passed.")
    return lines


def closing_note(run: Run) -> str:
    """The notebook's closing note: per dataset our numbers beside the report's, every verdict
    with its test, and the data's caveat."""
    from lib.reports import base
    from lib.reports.puvae_detector.verdicts import claims

    judged = verdicts.judge(claims(run))
    lines = [f"**Closing note ({run.profile} profile).**", ""]
    for r in run.datasets.values():
        lines += dataset_lines(r)
    lines += ["", f"**Verdicts** ({base.verdict_counts(judged)}; Holm's correction over the "
                  f"{sum(not c.why_not for c in judged)} claims judged, of {len(judged)})", "",
              *base.verdict_lines(judged)]
    notes = [data.info(name).note for name in run.datasets if data.info(name).note]
    if notes:
        lines += ["", "*About the data:* " + " ".join(dict.fromkeys(notes))]
    return "\n".join(lines)
