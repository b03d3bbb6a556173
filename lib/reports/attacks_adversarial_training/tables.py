"""Report 002's tables: Tables 1-2 beside the report's numbers, the noise/EOT table, the
contrastive 1-NN table, the sanity checks, the closing "report vs ours" and closing note.

Sweeps come in as :func:`lib.evaluate.robust_accuracy` tables (accuracy as a fraction);
every table built here is in % with the report's number beside ours where it has one.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from lib import evaluate
from lib.reports.attacks_adversarial_training.reference import (
    REPORT_BASE_ACCURACY,
    REPORT_EXAMPLE,
    REPORT_N_CORRECT,
    REPORT_N_TEST,
    REPORT_NN_ATTACKED,
    REPORT_NN_CLEAN,
    REPORT_TABLE1,
    REPORT_TABLE2,
)
from lib.tables import compare

OURS, ALL, CLEAN = "ours (%)", "ours over all test images (%)", "clean accuracy (%)"
LARGE = "near or below chance at large eps"


def pct(table: pd.DataFrame, **extra) -> pd.DataFrame:
    """``table`` with accuracy in % (and ``extra`` columns)."""
    return table.assign(accuracy=100 * table["accuracy"], **extra)


def wide(table: pd.DataFrame, index, values) -> pd.DataFrame:
    """One column per eps, labelled "0.01" rather than in scientific notation."""
    w = table.pivot(index=index, columns="eps", values=values)
    return w.rename(columns=lambda c: f"{c:g}" if isinstance(c, float) else c)


def caption(text: str, title: str) -> str:
    """``text`` followed by the data it was computed on (``title``) and the report's data."""
    return f"{text} Data: {title}; the report: CIFAR-10."


# --------------------------------------------------------------------------- Figures 2-3, Table 1
def example_table(ex: Mapping, classes: Sequence[str]) -> pd.DataFrame:
    """The examples of Figures 2-3 (from :func:`experiment.attack_examples`): predicted class and
    confidence clean, under FGSM and under PGD, with the report's example as the last row."""
    table = pd.DataFrame({"image": [f"test image {i}" for i in ex["index"].tolist()],
                          "true class": [classes[k] for k in ex["y"].tolist()]})
    for k, p in ex["probs"].items():
        conf, label = p.max(1)
        table[k] = [f"{classes[c]} ({100 * v:.2f} %)" for c, v in zip(label.tolist(), conf.tolist())]
    report = {"image": "the report's example (CIFAR-10)", "true class": "horse",
              **{k: f"{c} ({v} %)" for k, (c, v) in REPORT_EXAMPLE.items()}}
    return pd.concat([table, pd.DataFrame([report])], ignore_index=True)


def table1(t1: pd.DataFrame) -> pd.DataFrame:
    """Table 1: accuracy (%) of the base model under FGSM and PGD per eps, beside the report's."""
    out = pct(t1)[["attack", "eps", "accuracy", "n"]].rename(columns={"accuracy": OURS})
    out["report (%)"] = [REPORT_TABLE1.get((a, e)) for a, e in zip(out["attack"], out["eps"])]
    out["report (%)"] = pd.to_numeric(out["report (%)"])
    return out


def reference_curves() -> pd.DataFrame:
    """The report's Table 1 as a sweep table (accuracy as a fraction), for the figures."""
    return pd.DataFrame([{"attack": a, "eps": e, "accuracy": v / 100} for (a, e), v in REPORT_TABLE1.items()])


# --------------------------------------------------------------------------- Table 2
def table2(parts: Mapping[str, tuple[pd.DataFrame, float]]) -> pd.DataFrame:
    """Table 2 from ``{defense: (sweep, clean accuracy as a fraction)}`` ("no defense" first):
    accuracy over each model's correctly classified images (the report's convention), its clean
    accuracy, and the product, accuracy over all test images."""
    rows = [pct(res, defense=name).assign(clean=100 * clean) for name, (res, clean) in parts.items()]
    t2 = pd.concat(rows, ignore_index=True)
    out = pd.DataFrame({
        "attack": t2["attack"], "defense": t2["defense"], "eps": t2["eps"], CLEAN: t2["clean"],
        OURS: t2["accuracy"], ALL: t2["accuracy"] * t2["clean"] / 100, "n": t2["n"],
        "report (%)": pd.to_numeric(pd.Series([REPORT_TABLE2.get(k) for k in
                                               zip(t2["attack"], t2["defense"], t2["eps"])], dtype=object)),
    })
    out["defense"] = pd.Categorical(out["defense"], categories=list(parts), ordered=True)
    out = out.sort_values(["attack", "defense", "eps"]).reset_index(drop=True)
    out["defense"] = out["defense"].astype(str)
    return out


# --------------------------------------------------------------------------- noise (Figures 6-7, EOT)
def fgsm_noise_table(base_fgsm: pd.DataFrame, noisy: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """FGSM accuracy (%) per eps of the base model and each noisy model (Figures 6-7): columns
    model, eps, accuracy, n."""
    parts = [base_fgsm.assign(model="base model")] + [res.assign(model=k) for k, res in noisy.items()]
    return pct(pd.concat(parts, ignore_index=True))[["model", "attack", "eps", "accuracy", "n"]]


def table3(t_eot: pd.DataFrame) -> pd.DataFrame:
    """Noise vs EOT: from sweeps with a ``model`` column, accuracy (%) under FGSM, PGD and PGD-EOT."""
    return pct(t_eot)[["model", "attack", "eps", "accuracy", "n"]].rename(columns={"accuracy": OURS})


# --------------------------------------------------------------------------- contrastive 1-NN (Figure 8)
def table4(latent: pd.DataFrame, clean: pd.DataFrame) -> pd.DataFrame:
    """Contrastive 1-NN: ``latent`` (sweeps with encoder, classifier columns, accuracy as a
    fraction) and ``clean`` (encoder, classifier, clean accuracy %). Accuracy over the correctly
    classified images and over all test images."""
    t = pct(latent).merge(clean, on=["encoder", "classifier"])
    out = t[["encoder", "classifier", CLEAN, "attack", "eps", "accuracy", "n"]].rename(columns={"accuracy": OURS})
    out.insert(6, ALL, out[OURS] * out[CLEAN] / 100)
    return out


def distance_table(dists: Mapping[str, tuple], eps: float) -> pd.DataFrame:
    """Mean latent distance to the nearest reference and 1-NN accuracy, clean and per attack
    (from :func:`experiment.nearest_distances`)."""
    return pd.DataFrame([{"images": k, "eps": 0.0 if k == "clean" else eps,
                          "mean distance to nearest reference": float(d.mean()),
                          "1-NN accuracy (%)": 100 * acc} for k, (d, acc) in dists.items()])


def latent_value(table: pd.DataFrame, encoder: str, classifier: str, attack: str, eps: float,
                 column: str = OURS) -> float:
    r = table[(table["encoder"] == encoder) & (table["classifier"] == classifier)
              & (table["attack"] == attack) & (table["eps"] == eps)]
    return float(r[column].iloc[0])


# --------------------------------------------------------------------------- sanity checks
def sanity_table(t1: pd.DataFrame, *, chance: float, large_eps: float, base_clean: tuple[float, int],
                 at: Mapping[str, tuple[pd.DataFrame, float]], n_test: int,
                 eot: pd.DataFrame, eot_clean: Mapping[str, float], n_eot: int, noisy: Sequence[str],
                 latent: pd.DataFrame, nn_clean: Mapping[str, float]) -> pd.DataFrame:
    """The checks of Carlini et al. (2019) (:func:`lib.evaluate.sanity_checks`) on every sweep,
    each given the clean accuracy of the model it checks (fractions), so that a model at chance
    fails them. The large-eps check only on Table 1: the other sweeps stop at small eps on purpose.

    ``t1``: the base model's sweep; ``at``: {defense: (sweep, clean)}; ``eot``: sweeps with a
    ``model`` column (fractions), ``eot_clean``: {model: clean} over the first ``n_eot`` images;
    ``latent``: 1-NN sweeps with an ``encoder`` column, ``nn_clean``: {encoder: clean}."""
    def check(res, clean, n, sweep, **kw):
        return evaluate.sanity_checks(res, chance=chance, clean_accuracy=clean, n_clean=n, **kw).assign(sweep=sweep)

    checks = [check(t1, base_clean[0], base_clean[1], "Table 1, base model", single_step="FGSM",
                    iterative=["PGD"], large_eps=large_eps)]
    for name, (res, clean) in at.items():
        checks.append(check(res, clean, n_test, f"Table 2, {name}", single_step="FGSM", iterative=["PGD"],
                            large_eps=False))
    for label in noisy:
        res = eot[eot["model"] == label]
        clean = eot_clean[label]
        checks.append(check(res, clean, n_eot, f"EOT, {label}", single_step="FGSM",
                            iterative=["PGD", "PGD-EOT"], large_eps=False))
        e = check(res, clean, n_eot, f"EOT, {label}", single_step="PGD", iterative=["PGD-EOT"], large_eps=False)
        checks.append(e[e["check"].str.startswith("iterative")].assign(check="EOT at least as strong as plain PGD"))
        quiet = f"{label}, noise off at test"
        checks.append(check(eot[eot["model"] == quiet], eot_clean[quiet], n_eot, f"EOT, {quiet}",
                            single_step="FGSM", iterative=["PGD"], large_eps=False))
    for name, clean in nn_clean.items():
        res = latent[latent["encoder"] == name]
        checks.append(check(res, clean, n_test, f"1-NN, {name}", single_step="FGSM through distances",
                            iterative=["PGD through distances"], large_eps=False))
    out = pd.concat(checks, ignore_index=True)
    return out[["sweep", "check", "attack", "passed", "detail"]].reset_index(drop=True)


# --------------------------------------------------------------------------- report vs ours
def report_vs_ours(*, base_acc: float, n_correct: int, n_test: int, table1: pd.DataFrame,
                   table2: pd.DataFrame, example_probs: Mapping, fgsm_noise: pd.DataFrame,
                   table3: pd.DataFrame, eot_eps: Sequence[float], n_eot: int,
                   table4: pd.DataFrame, latent_eps: Sequence[float]) -> pd.DataFrame:
    """Every number the report publishes beside ours (and ours where it has none), with the
    difference (:func:`lib.tables.compare`). ``base_acc`` is a fraction; the tables are in %."""
    rows = {"base model clean accuracy": (REPORT_BASE_ACCURACY, 100 * base_acc),
            "correctly classified test images (% of test set)": (100 * REPORT_N_CORRECT / REPORT_N_TEST,
                                                                 100 * n_correct / n_test)}
    for _, r in table1.iterrows():
        if pd.notna(r["report (%)"]):
            rows[f"Table 1: {r['attack']} at eps {r['eps']:g}"] = (r["report (%)"], r[OURS])
    for _, r in table2.iterrows():
        if pd.notna(r["report (%)"]):
            rows[f"Table 2: {r['attack']} vs {r['defense']} at eps {r['eps']:g}"] = (r["report (%)"], r[OURS])
    conf = {k: 100 * p[0].max().item() for k, p in example_probs.items()}
    for k, name in [("clean", "clean confidence (first example)"), ("FGSM", "FGSM confidence"),
                    ("PGD", "PGD confidence")]:
        rows[f"example: {name}"] = (REPORT_EXAMPLE[k][1], conf[k])
    fw = fgsm_noise.pivot(index="model", columns="eps", values="accuracy")
    acc3 = table3.set_index(["model", "attack", "eps"])[OURS]
    noisy = [m for m in fw.index if m != "base model"]
    for label in noisy:
        gap = (fw.loc[label] - fw.loc["base model"]).mean()
        rows[f"{label}: mean FGSM accuracy gain over base (report: 'slightly lower', no number)"] = (None, gap)
        for eps in eot_eps:
            rows[f"{label}: PGD at eps {eps:g} (no report number)"] = (None, acc3[label, "PGD", eps])
            rows[f"{label}: PGD-EOT at eps {eps:g} (no report number)"] = (None, acc3[label, "PGD-EOT", eps])
            rows[f"{label}, noise off at test: PGD at eps {eps:g} (no report number)"] = (
                None, acc3[f"{label}, noise off at test", "PGD", eps])
    for eps in eot_eps:
        rows[f"base model: PGD at eps {eps:g}, first {n_eot} test images"] = (None, acc3["base model", "PGD", eps])
    nn = table4[(table4["encoder"] == "CE + contrastive") & (table4["classifier"] == "1-NN")]
    rows["contrastive 1-NN clean accuracy"] = (REPORT_NN_CLEAN, float(nn[CLEAN].iloc[0]))
    for attack in ["FGSM on softmax head", "PGD through distances"]:
        for eps in latent_eps:
            # Over all test images, as the report's "80 % ... and similar after" reads.
            rows[f"contrastive 1-NN: {attack} at eps {eps:g}, over all test images"] = (
                REPORT_NN_ATTACKED if attack == "FGSM on softmax head" else None,
                latent_value(table4, "CE + contrastive", "1-NN", attack, eps, ALL))
    return compare(rows, unit="%")


def _fmt(values) -> str:
    return " / ".join(f"{v:.1f}" for v in values)


def closing_lines(*, profile: str, title: str, base_acc: float, n_correct: int, table1: pd.DataFrame,
                  table2: pd.DataFrame, table3: pd.DataFrame, noisy: Sequence[str], table4: pd.DataFrame,
                  latent_eps: Sequence[float], sanity: pd.DataFrame) -> list[str]:
    """The closing note, as Markdown lines: our numbers beside the report's, claim by claim."""
    t1w = table1.pivot(index="attack", columns="eps", values=OURS)
    lines = [f"**Profile `{profile}`, {title}** (the report: CIFAR-10).", "",
             f"- Base model: {100 * base_acc:.2f} % clean (report {REPORT_BASE_ACCURACY} %); attacks scored over "
             f"{n_correct} correctly classified test images (report {REPORT_N_CORRECT} of {REPORT_N_TEST}).",
             f"- Table 1 at eps {' / '.join(f'{e:g}' for e in t1w.columns)}:"]
    for a in t1w.index:
        rep = _fmt(REPORT_TABLE1.get((a, e), float("nan")) for e in t1w.columns)
        lines.append(f"  - {a}: ours {_fmt(t1w.loc[a])}; report {rep}")
    t2w = table2.pivot(index=["attack", "defense"], columns="eps", values=OURS)
    lines.append(f"- Table 2 at eps {' / '.join(f'{e:g}' for e in t2w.columns)} (clean accuracy: "
                 + ", ".join(f"{d} {c:.1f} %" for d, c in table2.drop_duplicates("defense")
                             .set_index("defense")[CLEAN].items()) + "):")
    for (a, d), row in t2w.iterrows():
        rep = " / ".join(f"{REPORT_TABLE2[(a, d, e)]:.2f}" if (a, d, e) in REPORT_TABLE2 else "-"
                         for e in t2w.columns)
        lines.append(f"  - {a} vs {d}: ours {_fmt(row)}; report {rep}")
    for label in noisy:
        g = table3[table3["model"] == label].pivot(index="attack", columns="eps", values=OURS)
        q = table3[table3["model"] == f"{label}, noise off at test"].pivot(index="attack", columns="eps", values=OURS)
        lines.append(f"- {label}, eps {' / '.join(f'{e:g}' for e in g.columns)}: PGD {_fmt(g.loc['PGD'])}, "
                     f"PGD-EOT {_fmt(g.loc['PGD-EOT'])}, same weights with the noise off under PGD "
                     f"{_fmt(q.loc['PGD'])} (report: no numbers; noise 'did not help')")
    b = table3[table3["model"] == "base model"].pivot(index="attack", columns="eps", values=OURS)
    lines.append(f"- base model on the same images, PGD: {_fmt(b.loc['PGD'])}")

    def nn(attack, column=OURS):
        return _fmt(latent_value(table4, "CE + contrastive", "1-NN", attack, e, column) for e in latent_eps)

    clean_nn = latent_value(table4, "CE + contrastive", "1-NN", "FGSM on softmax head", latent_eps[0], CLEAN)
    lines.append(f"- Contrastive 1-NN: {clean_nn:.1f} % clean (report ~{REPORT_NN_CLEAN:.0f} %); at eps "
                 f"{' / '.join(f'{e:g}' for e in latent_eps)}: FGSM on the head {nn('FGSM on softmax head')}, "
                 f"PGD through the distances {nn('PGD through distances')} (over its correctly classified "
                 f"images); over all test images, FGSM on the head {nn('FGSM on softmax head', ALL)} "
                 f"(report: about {REPORT_NN_ATTACKED:.0f} %, 'similar' to clean)")
    lines.append(f"- Sanity checks: {int(sanity['passed'].sum())} of {len(sanity)} passed.")
    return lines
