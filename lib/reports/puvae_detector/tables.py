"""Report 001's tables: Tables 1-2 beside our settings, the detector's thresholds, the
reconstruction errors, Tables 3-5, the sanity checks of the evaluation and the closing
"report vs ours". Each takes the typed parts of a run (dataset -> part) and returns one table."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from lib.defenses.puvae import rejection_rate
from lib.evaluate import accuracy, noise_tolerance, sanity_checks
from lib.reports.puvae_detector import adaptive as ad
from lib.reports.puvae_detector.experiment import Detector, Models, Settings, architecture_names, worst_case
from lib.reports.puvae_detector.reference import (
    ATTACK_NAMES,
    REFERENCE_OF,
    REPORT_CLEAN,
    REPORT_FIG8_MNIST,
    REPORT_RMSE,
    REPORT_TABLE1,
    REPORT_TABLE2,
    REPORT_TABLES,
)
from lib.reports.puvae_detector.transfer import Transfer
from lib.tables import compare


def classifier_summary(settings: Sequence[Settings], models: Mapping[str, Models]) -> pd.DataFrame:
    """Report Tables 1 and 2 beside our settings: per dataset, classifier and CVAE batch
    size, epochs, z size, training images and the classifier's clean test accuracy (%)."""
    rows = []
    for s in settings:
        ref = REFERENCE_OF[s.dataset]
        t1, t2 = REPORT_TABLE1[ref], REPORT_TABLE2[ref]
        clf, vae = architecture_names(s.dataset)
        rows.append({"dataset": s.dataset, "networks": f"{clf[-1].upper()} + {vae[-1].upper()}",
                     "train images": len(models[s.dataset].train),
                     "clf batch": s.clf_batch_size, "clf batch (report)": t1[0],
                     "clf epochs": s.clf_epochs, "clf epochs (report)": t1[1],
                     "CVAE batch": s.vae_batch_size, "CVAE batch (report)": t2[0],
                     "CVAE epochs": s.vae_epochs, "CVAE epochs (report)": t2[1],
                     "z dim": s.z_dim, "z dim (report)": t2[2],
                     "clean accuracy %": 100 * accuracy(models[s.dataset].classifier, models[s.dataset].test.x,
                                                        models[s.dataset].test.y),
                     "clean accuracy % (report)": t1[2]})
    return pd.DataFrame(rows)


def training_table(models: Mapping[str, Models]) -> pd.DataFrame:
    """The last epoch of each CVAE's training (``train_acc``: the classifier's accuracy on the
    reconstructions made with the true label)."""
    return pd.concat([m.vae_history.tail(1).assign(dataset=name) for name, m in models.items()], ignore_index=True)


def threshold_table(settings: Sequence[Settings], detectors: Mapping[str, Detector]) -> pd.DataFrame:
    """Per dataset: the false-positive rate asked for, the threshold t, the share of the
    validation images it rejects and their median best RMSE."""
    return pd.DataFrame([{"dataset": s.dataset, "fpr target (%)": 100 * s.fpr, "threshold t": d.threshold,
                          "validation rejected (%)": 100 * d.val_rejected,
                          "validation RMSE median": float(d.val_rmse.median())}
                         for s in settings for d in (detectors[s.dataset],)])


def rmse_table(settings: Sequence[Settings], detectors: Mapping[str, Detector],
               transfers: Mapping[str, Transfer]) -> pd.DataFrame:
    """Per dataset: mean best-reconstruction RMSE of the clean test images and of their PGD
    versions at the table's eps, the report's (MNIST), the threshold and the share of PGD
    images it rejects (report section 4)."""
    rows = []
    for s in settings:
        t, d = transfers[s.dataset], detectors[s.dataset]
        rep = REPORT_RMSE.get(REFERENCE_OF[s.dataset], (None, None)) if s.real else (None, None)
        rows.append({"dataset": s.dataset, "clean (ours)": float(t.rmse_clean.mean()),
                     "PGD (ours)": float(t.rmse_pgd.mean()), "clean (report)": rep[0], "PGD (report)": rep[1],
                     "PGD RMSE above clean (share of images)": float((t.rmse_pgd > t.rmse_clean).float().mean()),
                     "threshold t": d.threshold, "PGD rejected (%)": 100 * rejection_rate(t.rmse_pgd, d.threshold)})
    return pd.DataFrame(rows)


def worst_eps_table(transfers: Mapping[str, Transfer]) -> pd.DataFrame:
    """Per dataset and attack, the eps at which PuVAE + detector does worst over the grid."""
    return pd.concat([worst_case(t.table).assign(dataset=name) for name, t in transfers.items()],
                     ignore_index=True)[["dataset", "attack", "eps", "ours", "puvae", "rejected"]]


def robustness_table(grid: pd.DataFrame, eps: float, reference: str | None) -> pd.DataFrame:
    """Report Tables 3-5: per attack at ``eps`` (and clean), accuracy % of no defense,
    PuVAE, ours, ours at its worst eps of the grid, with the report's numbers beside."""
    worst = worst_case(grid).set_index("attack")
    ref = REPORT_TABLES.get(reference or "", {})
    rows = []
    for name in ["none", *[a for a in ATTACK_NAMES if a in set(grid["attack"])]]:
        at = grid[(grid["attack"] == name) & np.isclose(grid["eps"], 0.0 if name == "none" else eps)]
        if at.empty:
            continue
        r = at.iloc[0]
        report = ref.get(name, (None,) * 4)
        rows.append({
            "attack": "No attack" if name == "none" else name,
            "no defense": 100 * r["no_defense"], "no defense (report)": report[0],
            "PuVAE": 100 * r["puvae"], "PuVAE (report)": report[1],
            "ours": 100 * r["ours"], "ours (report)": report[2],
            "ours worst": None if name == "none" else 100 * worst.loc[name, "ours"],
            "ours worst (report)": report[3],
            "worst eps": None if name == "none" else float(worst.loc[name, "eps"]),
        })
    table = pd.DataFrame(rows)
    for col in table.columns[1:]:
        table[col] = pd.to_numeric(table[col], errors="coerce")
    return table


def sanity_table(s: Settings, grid: pd.DataFrame, *, val_rejected: float, grad_share: float) -> pd.DataFrame:
    """Checks of the evaluation itself, one row each: check, scope, passed, detail.

    - the threshold keeps the validation false-positive rate at or below ``fpr``;
    - the clean test rejection rate is near ``fpr`` (within :func:`lib.evaluate.noise_tolerance`);
    - on the undefended classifier, Carlini et al. (2019)'s checks (lib.evaluate), given its
      clean accuracy (the ``attack == "none"`` row of ``grid``), so that none passes at chance;
    - the pipeline's input gradients are non-zero (no gradient masking by the arg-min).

    The checks of the white-box evaluation itself (unbounded budget, convergence, gradient-free
    vs gradient attacks; examples outside the eps-ball are refused by the sweep) are
    :func:`lib.reports.puvae_detector.adaptive.sanity`'s.
    """
    rows = []
    n_test = int(grid["n"].iloc[0])
    clean_rej = float(grid.loc[grid["attack"] == "none", "rejected"].iloc[0])
    tol = noise_tolerance(n_test, s.fpr)  # the study's one tolerance rule
    rows.append({"check": "validation false-positive rate <= fpr", "scope": "detector",
                 "passed": val_rejected <= s.fpr + 1e-12,
                 "detail": f"{100 * val_rejected:.2f} % of {s.n_val} validation images rejected "
                           f"(fpr {100 * s.fpr:g} %)"})
    rows.append({"check": "clean test rejection near fpr", "scope": "detector",
                 "passed": clean_rej <= s.fpr + tol,
                 "detail": f"{100 * clean_rej:.2f} % of {n_test} clean test images rejected"})
    plain = grid[grid["attack"] != "none"].rename(columns={"no_defense": "accuracy"})
    clean_acc = float(grid.loc[grid["attack"] == "none", "no_defense"].iloc[0])
    # The undefended classifier's clean accuracy: on a model at chance no check passes.
    for _, r in sanity_checks(plain, chance=0.1, single_step="FGSM",
                              iterative=[a for a in ("BIM", "PGD") if a in set(plain["attack"])],
                              clean_accuracy=clean_acc, n_clean=n_test).iterrows():
        rows.append({"check": r["check"], "scope": f"no defense, {r['attack']}",
                     "passed": bool(r["passed"]), "detail": r["detail"]})
    rows.append({"check": "non-zero input gradients through the pipeline", "scope": "adaptive attack",
                 "passed": grad_share == 1.0,
                 "detail": f"{100 * grad_share:.0f} % of inputs have a non-zero gradient"})
    return pd.DataFrame(rows, columns=["check", "scope", "passed", "detail"])


def checks(s: Settings, m: Models, d: Detector, t: Transfer, a: ad.Adaptive
           ) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Section 8 on one dataset: :func:`sanity_table` of the transfer evaluation and the
    white-box checks of :func:`lib.reports.puvae_detector.adaptive.sanity` for both pipelines,
    as one table (columns check, scope, passed, detail), and the convergence tables."""
    transfer = sanity_table(s, t.table, val_rejected=d.val_rejected, grad_share=a.grad_share)
    strong, conv = ad.sanity(s, m, d, a)
    table = pd.concat([transfer, strong.rename(columns={"model": "scope"})], ignore_index=True)
    return table[["check", "scope", "passed", "detail"]], conv


def checks_table(found: Mapping[str, tuple[pd.DataFrame, dict]]) -> pd.DataFrame:
    """Every dataset's :func:`checks` as one table with a ``dataset`` column."""
    return pd.concat([c.assign(dataset=name) for name, (c, _) in found.items()],
                     ignore_index=True)[["dataset", "check", "scope", "passed", "detail"]]


def report_vs_ours(dataset: str, table: pd.DataFrame, *, clf_acc: float, rmse_clean: float,
                   rmse_adv: float, worst: pd.DataFrame, adaptive: pd.DataFrame, eps: float
                   ) -> pd.DataFrame:
    """The closing table: the report's number beside ours for one dataset (lib.tables.compare),
    in %, except RMSE rows. ``dataset`` is the report's dataset we compare with."""
    label = {"mnist": "MNIST", "fashion_mnist": "F-MNIST", "cifar10": "CIFAR-10"}.get(dataset, dataset)
    rows = {f"{label}: classifier clean accuracy (Table 1)": (REPORT_CLEAN.get(dataset), 100 * clf_acc)}
    cols = [("no defense", 0), ("PuVAE", 1), ("ours", 2), ("ours worst", 3)]
    ref = REPORT_TABLES.get(dataset, {})
    for _, r in table.iterrows():
        key = "none" if r["attack"] == "No attack" else r["attack"]
        for col, i in cols:
            if pd.isna(r[col]):
                continue
            rep = ref.get(key, (None,) * 4)[i]
            rows[f"{label}: {r['attack']}, {col} (Tables 3-5)"] = (rep, float(r[col]))
    rep_rmse = REPORT_RMSE.get(dataset, (None, None))
    rmse_rows = {f"{label}: mean best RMSE, clean (section 4)": (rep_rmse[0], rmse_clean),
                 f"{label}: mean best RMSE, PGD eps {eps:g} (section 4)": (rep_rmse[1], rmse_adv)}
    lo, hi = (REPORT_FIG8_MNIST if dataset == "mnist" else (None, None))
    rows[f"{label}: predicted 'adversarial' at worst eps, lowest attack (Fig. 8)"] = (
        lo, 100 * float(worst["rejected"].min()))
    rows[f"{label}: predicted 'adversarial' at worst eps, highest attack (Fig. 8)"] = (
        hi, 100 * float(worst["rejected"].max()))
    for defense, col in (("PuVAE", 1), ("PuVAE + detector", 2)):
        a = adaptive[(adaptive["defense"] == defense) & (adaptive["attack"] == "worst case")
                     & np.isclose(adaptive["eps"], eps)]
        if len(a):
            rows[f"{label}: {defense}, worst case of the white-box set, eps {eps:g} (report: transfer PGD)"] = (
                ref.get("PGD", (None,) * 4)[col], 100 * float(a["accuracy"].iloc[0]))
    return pd.concat([compare(rows, unit="%"), compare(rmse_rows, unit="RMSE")], ignore_index=True)


def report_vs_ours_all(run) -> pd.DataFrame:
    """:func:`report_vs_ours` for every dataset of a :class:`~lib.reports.puvae_detector.run.Run`."""
    parts = []
    for name, r in run.datasets.items():
        t = r.transfer
        parts.append(report_vs_ours(r.reference, robustness_table(t.table, r.settings.eps, r.reference),
                                    clf_acc=float(t.clean["no_defense"].float().mean()),
                                    rmse_clean=float(t.rmse_clean.mean()), rmse_adv=float(t.rmse_pgd.mean()),
                                    worst=worst_case(t.table), adaptive=r.adaptive.table,
                                    eps=r.settings.eps).assign(dataset=name))
    return pd.concat(parts, ignore_index=True)
