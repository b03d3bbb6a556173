"""Report 002's tables, built from the sweeps of :mod:`~lib.reports.attacks_adversarial_training.experiment`
(one :class:`lib.sweep.SweepResult` per model and attack, over all test images): Tables 1-2 beside
the report's numbers, Figures 6-7 in numbers, the noise/EOT table, the contrastive 1-NN table,
the latent distances, the sanity checks and "report vs ours".

Accuracies are in %: ``ours (%)`` over the images the model classifies correctly (the report's
convention, section 2.3) with its 95 % Clopper-Pearson interval (``low``, ``high``, in %), and
``ours over all test images (%)``, which counts a clean mistake as a failure (what the paired
comparisons between models use).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from lib import evaluate, stats
from lib.reports.attacks_adversarial_training import experiment as ex
from lib.reports.attacks_adversarial_training.reference import (
    REPORT_BASE_ACCURACY,
    REPORT_EXAMPLE,
    REPORT_N_CORRECT,
    REPORT_N_TEST,
    REPORT_NN_CLEAN,
    REPORT_TABLE1,
    REPORT_TABLE2,
)
from lib.sweep import SweepResult
from lib.tables import compare

OURS, ALL, CLEAN = "ours (%)", "ours over all test images (%)", "clean accuracy (%)"
REPORT, INSIDE = "report (%)", "report inside our interval"


def wide(table: pd.DataFrame, index, values) -> pd.DataFrame:
    """One column per eps, labelled "0.01" rather than in scientific notation."""
    w = table.pivot(index=index, columns="eps", values=values)
    return w.rename(columns=lambda c: f"{c:g}" if isinstance(c, float) else c)


def caption(text: str, title: str) -> str:
    """``text`` followed by the data it was computed on (``title``) and the report's data."""
    return f"{text} Data: {title}; the report: CIFAR-10."


def rows_of(result: SweepResult, eps: Sequence[float], **labels) -> list[dict]:
    """One row per eps of one sweep: ``labels``, eps, robust, n (clean-correct images), ours (%)
    with ``low`` / ``high`` (%), ours over all test images (%), clean accuracy (%)."""
    n_all, out = len(result.index), []
    for e in eps:
        k, n = ex.over_correct(result, e)
        low, high = stats.clopper_pearson(k, n) if n else (float("nan"), float("nan"))
        out.append({**labels, "eps": float(e), "robust": k, "n": n, OURS: 100 * k / n if n else float("nan"),
                    "low": 100 * low, "high": 100 * high, ALL: 100 * k / n_all, CLEAN: 100 * n / n_all})
    return out


def curves(sweeps: Mapping[str, SweepResult], eps: Sequence[float], hue: str = "attack") -> pd.DataFrame:
    """For :func:`lib.plots.accuracy_vs_eps`: ``hue`` (the keys of ``sweeps``), eps, accuracy
    (a fraction, over the correctly classified images), n."""
    t = pd.DataFrame([r for name, s in sweeps.items() for r in rows_of(s, eps, **{hue: name})])
    return t.assign(accuracy=t[OURS] / 100)[[hue, "eps", "accuracy", "n"]]


def _with_report(t: pd.DataFrame, numbers: Mapping, keys: Sequence[str]) -> pd.DataFrame:
    t[REPORT] = pd.to_numeric(pd.Series([numbers.get(k) for k in zip(*(t[c] for c in keys))], dtype=object))
    t[INSIDE] = (t[REPORT] >= t["low"]) & (t[REPORT] <= t["high"])
    return t


# --------------------------------------------------------------------------- Figures 2-3, Table 1
def example_table(examples: ex.Examples, classes: Sequence[str]) -> pd.DataFrame:
    """The examples of Figures 2-3: predicted class and confidence clean, under FGSM and under
    PGD, with the report's example as the last row."""
    table = pd.DataFrame({"image": [f"test image {i}" for i in examples.index.tolist()],
                          "true class": [classes[k] for k in examples.y.tolist()]})
    for k, p in examples.probs.items():
        conf, label = p.max(1)
        table[k] = [f"{classes[c]} ({100 * v:.2f} %)" for c, v in zip(label.tolist(), conf.tolist())]
    report = {"image": "the report's example (CIFAR-10)", "true class": "horse",
              **{k: f"{c} ({v} %)" for k, (c, v) in REPORT_EXAMPLE.items()}}
    return pd.concat([table, pd.DataFrame([report])], ignore_index=True)


def table1(base: Mapping[str, SweepResult], eps: Sequence[float]) -> pd.DataFrame:
    """Table 1: accuracy (%) of the base model under FGSM and PGD per eps over its correctly
    classified images, with its interval, beside the report's."""
    t = pd.DataFrame([r for a, s in base.items() for r in rows_of(s, eps, attack=a)])
    return _with_report(t, REPORT_TABLE1, ["attack", "eps"])


def reference_curves() -> pd.DataFrame:
    """The report's Table 1 as (attack, eps, accuracy as a fraction), for the figures."""
    return pd.DataFrame([{"attack": a, "eps": e, "accuracy": v / 100} for (a, e), v in REPORT_TABLE1.items()])


# --------------------------------------------------------------------------- Table 2
def table2(base: Mapping[str, SweepResult], adversarial: Mapping[str, Mapping[str, SweepResult]],
           eps: Sequence[float]) -> pd.DataFrame:
    """Table 2: FGSM and PGD on the base model ("no defense") and each adversarially trained
    model at ``eps``: accuracy over each model's correctly classified images (the report's
    convention), its clean accuracy, and accuracy over all test images."""
    models = {"no defense": base, **adversarial}
    t = pd.DataFrame([r for a in ("FGSM", "PGD") for d, per in models.items()
                      for r in rows_of(per[a], eps, attack=a, defense=d)])
    return _with_report(t, REPORT_TABLE2, ["attack", "defense", "eps"])


# --------------------------------------------------------------------------- noise (Figures 6-7, EOT)
def fgsm_noise_table(base_fgsm: SweepResult, noisy: Mapping[str, SweepResult], eps: Sequence[float]) -> pd.DataFrame:
    """Figures 6-7 in numbers: FGSM on the base model and each noisy model, per eps."""
    parts = {ex.BASE: base_fgsm, **noisy}
    return pd.DataFrame([r for m, s in parts.items() for r in rows_of(s, eps, model=m)])


def table3(eot: Mapping[str, Mapping[str, SweepResult]], eps: Sequence[float]) -> pd.DataFrame:
    """Noise vs EOT (:func:`experiment.eot_sweeps`): model, attack, eps, accuracy (%)."""
    return pd.DataFrame([r for m, per in eot.items() for a, s in per.items() for r in rows_of(s, eps, model=m,
                                                                                                attack=a)])


# --------------------------------------------------------------------------- contrastive 1-NN (Figure 8)
def table4(latent: Mapping[str, Mapping[str, SweepResult]], heads: Mapping[str, Mapping[str, SweepResult]],
           eps: Sequence[float]) -> pd.DataFrame:
    """Clean accuracy and accuracy under attack of each 1-NN rule (``latent``: rule -> attack ->
    sweep) and of the softmax head of its encoder (``heads``: rule -> "FGSM" / "PGD" -> sweep)."""
    rows = [r for rule, per in latent.items() for a, s in per.items()
            for r in rows_of(s, eps, encoder=ex.ENCODERS[rule], classifier="1-NN", attack=a)]
    rows += [r for rule, per in heads.items() for a, s in per.items()
             for r in rows_of(s, eps, encoder=ex.ENCODERS[rule], classifier="softmax head", attack=a)]
    return pd.DataFrame(rows)


def clean_table(latent: Mapping[str, Mapping[str, SweepResult]], heads: Mapping[str, Mapping[str, SweepResult]]
                ) -> pd.DataFrame:
    """Clean accuracy (%) with its interval of the softmax head and the 1-NN rule per encoder."""
    rows = []
    for rule in latent:
        for classifier, s in (("softmax head", next(iter(heads[rule].values()))),
                              ("1-NN", next(iter(latent[rule].values())))):
            k, n = int(s.clean_robust.sum()), len(s.index)
            rows.append({"encoder": ex.ENCODERS[rule], "classifier": classifier, "correct": k, "n": n,
                         CLEAN: stats.format_interval(k / n, *stats.clopper_pearson(k, n))})
    return pd.DataFrame(rows)


def reference_draw_table(draws: pd.DataFrame) -> pd.DataFrame:
    """Per 1-NN rule (:func:`experiment.reference_draws`): its clean accuracy (%) with the
    profile's draw of the references (with its interval over test images), and the mean,
    least and greatest over every draw."""
    rows = []
    for rule, d in draws.groupby("rule", sort=False):
        acc = 100 * d["correct"] / d["n"]
        k, n = int(d["correct"].iloc[0]), int(d["n"].iloc[0])
        rows.append({"encoder": ex.ENCODERS[rule], "draws": len(d),
                     "profile's draw (%)": stats.format_interval(k / n, *stats.clopper_pearson(k, n)),
                     "mean (%)": float(acc.mean()), "least (%)": float(acc.min()), "greatest (%)": float(acc.max())})
    return pd.DataFrame(rows)


def distance_table(d: ex.Distances) -> pd.DataFrame:
    """Mean latent distance to the nearest reference, the share of images an attack moved
    closer to it, and 1-NN accuracy (%), clean and per attack."""
    return pd.DataFrame([{"images": k, "eps": 0.0 if k == "clean" else d.eps,
                          "mean distance to nearest reference": float(v.mean()),
                          "moved closer (%)": float("nan") if k == "clean"
                          else 100 * float((v < d.distance["clean"]).float().mean()),
                          "1-NN accuracy (%)": 100 * d.accuracy[k]} for k, v in d.distance.items()])


# --------------------------------------------------------------------------- sanity checks
def sanity_table(groups: Mapping[str, tuple[Mapping[str, SweepResult], str, Sequence[str]]], *, chance: float,
                 large: Mapping[str, float]) -> pd.DataFrame:
    """The checks of Carlini et al. (2019) (:func:`lib.evaluate.sanity_checks`) on every sweep
    group: ``groups`` maps a label to (attack -> sweep, the single-step attack, the iterative
    ones); each is given the clean accuracy of the model it checks, so that a model at chance
    fails them. The large-eps check only where ``large`` names an eps (the other sweeps stop at
    a small eps on purpose)."""
    parts = []
    for label, (sweeps, single, iterative) in groups.items():
        first = next(iter(sweeps.values()))
        eps = sorted({e for s in sweeps.values() for e in s.eps})
        res = curves(sweeps, eps)
        parts.append(evaluate.sanity_checks(res, chance=chance, single_step=single, iterative=iterative,
                                            large_eps=large.get(label, False),
                                            clean_accuracy=float(first.clean_robust.float().mean()),
                                            n_clean=len(first.index)).assign(sweep=label))
    return pd.concat(parts, ignore_index=True)[["sweep", "check", "attack", "passed", "detail"]]


# --------------------------------------------------------------------------- report vs ours
def report_vs_ours(*, base_fgsm: SweepResult, table1: pd.DataFrame, table2: pd.DataFrame,
                   examples: ex.Examples, nn_clean: tuple[int, int]) -> pd.DataFrame:
    """Every number the report publishes beside ours, with the difference
    (:func:`lib.tables.compare`); tables in %."""
    n_all, n_correct = len(base_fgsm.index), int(base_fgsm.clean_robust.sum())
    rows = {"base model clean accuracy": (REPORT_BASE_ACCURACY, 100 * n_correct / n_all),
            "correctly classified test images (% of test set)": (100 * REPORT_N_CORRECT / REPORT_N_TEST,
                                                                 100 * n_correct / n_all)}
    for r in table1[table1[REPORT].notna()].to_dict("records"):
        rows[f"Table 1: {r['attack']} at eps {r['eps']:g}"] = (r[REPORT], r[OURS])
    for r in table2[table2[REPORT].notna()].to_dict("records"):
        rows[f"Table 2: {r['attack']} vs {r['defense']} at eps {r['eps']:g}"] = (r[REPORT], r[OURS])
    conf = {k: 100 * p[0].max().item() for k, p in examples.probs.items()}
    for k, name in [("clean", "clean confidence (first example)"), ("FGSM", "FGSM confidence"),
                    ("PGD", "PGD confidence")]:
        rows[f"example: {name}"] = (REPORT_EXAMPLE[k][1], conf[k])
    rows["contrastive 1-NN clean accuracy"] = (REPORT_NN_CLEAN, 100 * nn_clean[0] / nn_clean[1])
    return compare(rows, unit="%")
