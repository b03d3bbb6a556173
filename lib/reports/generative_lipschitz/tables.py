"""Report 003's tables, beside the report's numbers where it has any. Accuracies and rates are
fractions in [0, 1] in the CSV files, with their 95 % Clopper-Pearson interval (``low``,
``high``) and a formatted "value [low, high]" column in percent for reading. Each function
takes the typed parts of a run (:mod:`~lib.reports.generative_lipschitz.experiment`,
:mod:`~lib.reports.generative_lipschitz.generative`) and returns one table."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from lib import sweep
from lib.evaluate import accuracy_distortion_curve, minimal_norm_summary
from lib.reports.generative_lipschitz import experiment as ex
from lib.reports.generative_lipschitz.generative import GANFit, VAEFit
from lib.stats import clopper_pearson, format_interval


def _interval(k: int, n: int) -> dict:
    low, high = clopper_pearson(k, n)
    rate = k / n if n else float("nan")
    return {"rate": rate, "low": low, "high": high, "shown (%)": format_interval(rate, low, high)}


# --------------------------------------------------------------------------- section III
def vae_table(cfg, vaes: Mapping[str, VAEFit]) -> pd.DataFrame:
    """Per VAE: dataset, epochs, training images, negative ELBO per image (nats) over the last
    training epoch and on the test images."""
    return pd.DataFrame([{"dataset": v.dataset, "epochs": cfg["vae_epochs"], "train images": v.n_train,
                          "negative ELBO, last training epoch (nats/image)": v.train_loss,
                          "negative ELBO, test (nats/image)": v.test_loss} for v in vaes.values()])


def gan_table(gans: Mapping[str, GANFit]) -> pd.DataFrame:
    """Per GAN: epochs, discriminator and generator steps, last epoch's losses and mean D(x),
    D(G(z)) (who is winning: near 1 and near 0 leave the generator little to learn from)."""
    return pd.DataFrame([{"model": f"{g.title} ({g.figure})", "epochs": len(g.result.history),
                          "D steps": int(g.result.history["d_steps"].sum()),
                          "G steps": int(g.result.history["g_steps"].sum()),
                          "last D loss": g.last("d_loss"), "last G loss": g.last("g_loss"),
                          "last mean D(x)": g.last("d_real"), "last mean D(G(z))": g.last("d_fake")}
                         for g in gans.values()])


# --------------------------------------------------------------------------- sections IV and VI
def classifier_table(tasks: Mapping[str, ex.Task]) -> pd.DataFrame:
    """One row per classifier: dataset, model, correct, n, accuracy with interval, the report's
    accuracy (%, section IV; None for the Lipschitz classifier, for which it gives none)."""
    rows = []
    for t in tasks.values():
        for kind, m in t.models.items():
            k, n = int(m.correct.sum()), len(m.correct)
            iv = _interval(k, n)
            rows.append({"dataset": t.dataset, "model": kind, "correct": k, "n": n, "accuracy": iv["rate"],
                         "low": iv["low"], "high": iv["high"], "ours (%)": iv["shown (%)"],
                         "report (%)": 100 * t.report_accuracy if kind == "plain" else None})
    return pd.DataFrame(rows)


def compare_table(tasks: Mapping[str, ex.Task]) -> pd.DataFrame:
    """The report's two numbers beside ours (accuracy in %): quantity, report, ours, difference."""
    from lib import tables

    return tables.compare({f"{kind} classifier, {t.dataset}": (100 * t.report_accuracy if kind == "plain" else None,
                                                               100 * float(m.correct.float().mean()))
                           for t in tasks.values() for kind, m in t.models.items()})


def bounds_table(tasks: Mapping[str, ex.Task], certs: Mapping[str, ex.Pair[ex.Certificate]]) -> pd.DataFrame:
    """Per classifier its bound L and the median certified radius of its correct images."""
    return pd.DataFrame([{"dataset": tasks[role].dataset, "model": kind, "bound L": c.bound,
                          "median certified radius (correct images)":
                              float(c.radius[c.radius > 0].median()) if (c.radius > 0).any() else 0.0}
                         for role, pair in certs.items() for kind, c in pair.items()])


def layers_table(tasks: Mapping[str, ex.Task], certs: Mapping[str, ex.Pair[ex.Certificate]]) -> pd.DataFrame:
    """Every classifier's per-layer bounds (eval mode), with dataset and model columns."""
    return pd.concat([c.layers.assign(dataset=tasks[role].dataset, model=kind)
                      for role, pair in certs.items() for kind, c in pair.items()], ignore_index=True)


def certified_table(radius: torch.Tensor, radii) -> pd.DataFrame:
    """Certified accuracy at each L2 radius, with interval (columns radius, certified, n,
    accuracy, low, high, shown (%))."""
    rows = []
    n = len(radius)
    for r in radii:
        k = int(((radius > 0) & (radius >= r)).sum())
        iv = _interval(k, n)
        rows.append({"radius": float(r), "certified": k, "n": n, "accuracy": iv["rate"], "low": iv["low"],
                     "high": iv["high"], "shown (%)": iv["shown (%)"]})
    return pd.DataFrame(rows)


def radii_grid(radius: torch.Tensor, n: int = 40) -> np.ndarray:
    """Radii from 0 to a little beyond the largest certified radius, for the figure."""
    top = float(radius.max()) if len(radius) and float(radius.max()) > 0 else 1e-3
    return np.linspace(0, 1.05 * top, n)


def certified_curves(pair: ex.Pair[ex.Certificate]) -> dict[str, pd.DataFrame]:
    """Certified accuracy against radius of both classifiers of a task, on a grid up to the
    Lipschitz classifier's largest radius."""
    grid = radii_grid(pair.lipschitz.radius)
    return {f"{kind} (certified)": certified_table(c.radius, grid) for kind, c in pair.items()}


def certified_at(cfg, cert: ex.Certificate) -> pd.DataFrame:
    """Certified accuracy of a classifier at a few L2 radii and at the summary's eps."""
    return certified_table(cert.radius, sorted({0.0, 0.02, 0.05, 0.1, 0.2, *map(float, cfg["summary_eps"])}))


# --------------------------------------------------------------------------- section V
def sweep_table(table: pd.DataFrame) -> pd.DataFrame:
    """A per-eps accuracy table (eps, robust or correct count, n, accuracy, low, high) with the
    formatted interval added."""
    out = table.copy()
    out["shown (%)"] = [format_interval(a, lo, hi) for a, lo, hi in zip(out["accuracy"], out["low"], out["high"])]
    return out


def _per_model(tasks: Mapping[str, ex.Task], results: Mapping[str, ex.Pair], pick) -> dict[str, pd.DataFrame]:
    return {f"{kind}, {tasks[role].dataset}": sweep.per_eps_table(pick(r))
            for role, pair in results.items() for kind, r in pair.items()}


def fgsm_curves(tasks: Mapping[str, ex.Task], attacked: Mapping[str, ex.Pair[ex.Attacked]]) -> dict[str, pd.DataFrame]:
    """"<kind>, <dataset>" -> FGSM's accuracy per eps (:func:`lib.sweep.per_eps_table`)."""
    return _per_model(tasks, attacked, lambda a: a.fgsm)


def long_table(curves: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Per-model accuracy tables stacked, with a ``model`` column and the formatted interval."""
    return pd.concat([sweep_table(t).assign(model=k) for k, t in curves.items()], ignore_index=True)


def cw_table(tasks: Mapping[str, ex.Task], attacked: Mapping[str, ex.Pair[ex.Attacked]]) -> pd.DataFrame:
    """Carlini-Wagner per classifier (:func:`lib.evaluate.minimal_norm_summary`): images attacked
    (correct clean), broken, not broken, success rate with interval, median and mean L2."""
    rows = []
    for role, pair in attacked.items():
        t = tasks[role]
        for kind, a in pair.items():
            s = minimal_norm_summary(t.models[kind].model, t.x_attack, t.y_attack, a.cw_adv)
            rows.append({"model": f"{kind}, {t.dataset}", "attacked": s["n"], "broken": s["succeeded"],
                         "not broken": s["failed"], "success": s["success_rate"], "low": s["success_low"],
                         "high": s["success_high"],
                         "success (%)": format_interval(s["success_rate"], s["success_low"], s["success_high"]),
                         "median L2": s["median"], "mean L2": s["mean"]})
    return pd.DataFrame(rows)


def distortion_curves(task: ex.Task, attacked: ex.Pair[ex.Attacked], cert: ex.Pair[ex.Certificate]
                      ) -> dict[str, pd.DataFrame]:
    """Accuracy against allowed L2 distortion under CW for both classifiers of a task, and the
    Lipschitz classifier's certified accuracy on the same images (Figures 19-20's companion)."""
    curves = {f"{kind}, CW": accuracy_distortion_curve(task.models[kind].model, task.x_attack, task.y_attack,
                                                       a.cw_adv) for kind, a in attacked.items()}
    d = attacked.lipschitz.cw_dist
    curves["Lipschitz (certified)"] = certified_table(cert.lipschitz.radius[:task.n_attack],
                                                      radii_grid(d[torch.isfinite(d)]))
    return curves


# --------------------------------------------------------------------------- beyond the report
def control_table(control: ex.Control) -> pd.DataFrame:
    """The logit-scaling control: per (model, CW mode) the images attacked (correct clean),
    broken, success rate with interval and the median L2 of the broken ones."""
    rows = []
    for model, mode, d in control.rows():
        attacked = d > 0
        broken = attacked & torch.isfinite(d)
        k, n = int(broken.sum()), int(attacked.sum())
        iv = _interval(k, n)
        rows.append({"model": model, "CW": mode, "attacked": n, "broken": k, "success": iv["rate"],
                     "low": iv["low"], "high": iv["high"], "success (%)": iv["shown (%)"],
                     "median L2": float(d[broken].median()) if k else float("nan")})
    return pd.DataFrame(rows)


def worst_curves(tasks: Mapping[str, ex.Task], worst: Mapping[str, ex.Pair[sweep.SweepResult]]
                 ) -> dict[str, pd.DataFrame]:
    """"<kind>, <dataset>" -> the worst case over CW and the strong set per L2 eps, with the
    images each attack broke first."""
    return _per_model(tasks, worst, lambda w: w)


def certificate_table(tasks: Mapping[str, ex.Task], certs: Mapping[str, ex.Pair[ex.Certificate]],
                      attacked: Mapping[str, ex.Pair[ex.Attacked]],
                      worst: Mapping[str, ex.Pair[sweep.SweepResult]]) -> pd.DataFrame:
    """The certificate check of every task's Lipschitz classifier
    (:func:`~lib.reports.generative_lipschitz.experiment.certificate_check`), with a dataset column."""
    return pd.concat([ex.certificate_check(t, certs[role].lipschitz, attacked[role].lipschitz,
                                           worst[role].lipschitz).assign(dataset=t.dataset)
                      for role, t in tasks.items()], ignore_index=True)


def summary_columns(rows: Sequence[dict]) -> pd.DataFrame:
    """The summary rows (:func:`lib.summary.defense_row`) as the notebook shows them."""
    return pd.DataFrame(rows)[["dataset", "defense", "eps", "clean", "ours_report_attack", "worst"]]
