"""Report 001's tables: Tables 1-2 beside our settings, Tables 3-5, the sanity checks of
the evaluation and the closing "report vs ours"."""
from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace

import numpy as np
import pandas as pd

from lib.evaluate import noise_tolerance, sanity_checks
from lib.reports.puvae_detector.experiment import architecture_names, worst_case
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
from lib.tables import compare


def classifier_summary(results: Mapping[str, Mapping]) -> pd.DataFrame:
    """Report Tables 1 and 2 beside our settings: per dataset, classifier and CVAE batch
    size, epochs, z size, training images and the classifier's clean test accuracy (%).
    ``results[dataset]`` holds ``s`` (settings), ``train`` and ``clf_acc``."""
    rows = []
    for dataset, r in results.items():
        s, ref = r["s"], REFERENCE_OF[dataset]
        t1, t2 = REPORT_TABLE1[ref], REPORT_TABLE2[ref]
        clf, vae = architecture_names(dataset)
        rows.append({"dataset": dataset, "networks": f"{clf[-1].upper()} + {vae[-1].upper()}",
                     "train images": len(r["train"]),
                     "clf batch": s.clf_batch_size, "clf batch (report)": t1[0],
                     "clf epochs": s.clf_epochs, "clf epochs (report)": t1[1],
                     "CVAE batch": s.vae_batch_size, "CVAE batch (report)": t2[0],
                     "CVAE epochs": s.vae_epochs, "CVAE epochs (report)": t2[1],
                     "z dim": s.z_dim, "z dim (report)": t2[2],
                     "clean accuracy %": 100 * r["clf_acc"], "clean accuracy % (report)": t1[2]})
    return pd.DataFrame(rows)


def sanity_table(s: SimpleNamespace, grid: pd.DataFrame, *, val_rejected: float,
                 grad_share: float) -> pd.DataFrame:
    """Checks of the evaluation itself, one row each: check, scope, passed, detail.

    - the threshold keeps the validation false-positive rate at or below ``fpr``;
    - the clean test rejection rate is near ``fpr`` (within :func:`lib.evaluate.noise_tolerance`);
    - on the undefended classifier, Carlini et al. (2019)'s checks (lib.evaluate), given its
      clean accuracy (the ``attack == "none"`` row of ``grid``), so that none passes at chance;
    - the pipeline's input gradients are non-zero (no gradient masking by the arg-min).

    The checks of the adaptive evaluation itself (unbounded budget, convergence, gradient-free
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


def report_vs_ours(dataset: str, table: pd.DataFrame, *, clf_acc: float, rmse_clean: float,
                   rmse_adv: float, worst: pd.DataFrame, adaptive: pd.DataFrame, eps: float
                   ) -> pd.DataFrame:
    """The closing table: the report's number beside ours for one dataset (lib.report.compare),
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
            rows[f"{label}: {defense}, worst case of the adaptive set, eps {eps:g} (report: transfer PGD)"] = (
                ref.get("PGD", (None,) * 4)[col], 100 * float(a["accuracy"].iloc[0]))
    return pd.concat([compare(rows, unit="%"), compare(rmse_rows, unit="RMSE")], ignore_index=True)


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
