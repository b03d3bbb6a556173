"""Does each claim of report 002 hold on this run? One function per claim, each returning data.

Every function takes the notebook's tables (accuracy in %, as the notebook shows them) and
returns a small DataFrame, one row per judged claim, with columns

- ``claim``: the report's claim, in one sentence;
- ``where``: where the report makes it (section, table, figure);
- ``report``: what the report's own numbers say;
- ``evidence``: our numbers that decide it;
- ``verdict``: one of :data:`VERDICTS`: ``"holds"``, ``"does not hold"`` or
  ``"cannot be judged at this profile"``.

A claim cannot be judged when a model it rests on is no better than chance on clean images
(then it "survives" or "falls" under any attack trivially), when too few images were scored,
when the run lacks the eps the claim is about, or when the data are synthetic stand-ins
(:func:`on_dataset`). Differences count only beyond sampling noise: two binomial standard
errors at the worst case p = 0.5 (:func:`noise_points`).
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from lib.evaluate import above_chance, noise_tolerance
from lib.reports.attacks_adversarial_training.reference import (
    REPORT_NN_CLEAN,
    REPORT_NN_EPS,
    REPORT_TABLE1,
    REPORT_TABLE2,
    REPORT_TABLE2_EPS,
)
from lib.stats import FAILS, HOLDS, UNJUDGED, VERDICTS, decide  # noqa: F401 (re-exported)

COLUMNS = ["claim", "where", "report", "evidence", "verdict"]
#: Fewer scored images than this and no claim is judged.
MIN_IMAGES = 20
#: "Similar accuracy" (section 3.3): a drop of at most this many points (or sampling noise).
SIMILAR_POINTS = 5.0
#: "Breaks" an undefended model (section 2.3): leaves less than this accuracy (%).
BROKEN_BELOW = 50.0

OURS, ALL = "ours (%)", "ours over all test images (%)"


# --------------------------------------------------------------------------- helpers
def noise_points(n: int, m: int | None = None) -> float:
    """Sampling noise in accuracy points (the study's one rule, :func:`lib.evaluate.noise_tolerance`:
    the 95 % Clopper-Pearson half-width at p = 0.5) of one accuracy over ``n`` images, or of a
    difference of two over ``n`` and ``m`` images (half-widths added in quadrature)."""
    one = noise_tolerance(n)
    return 100 * (math.hypot(one, noise_tolerance(m)) if m is not None else one)


def at_chance(clean_pct: float, n: int, chance: float) -> bool:
    """True when a clean accuracy (%) over ``n`` images is not above chance beyond sampling noise."""
    return not above_chance(clean_pct / 100, n, chance)


def record(claim: str, where: str, report: str, evidence: str, verdict: str) -> pd.DataFrame:
    """One verdict row (the common output of every function here)."""
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {VERDICTS}, got {verdict!r}")
    return pd.DataFrame([dict(zip(COLUMNS, (claim, where, report, evidence, verdict)))], columns=COLUMNS)


def _weak(models: dict[str, tuple[float, int]], chance: float, n_scored: int | None = None) -> str | None:
    """Why a claim cannot be judged (a model at chance, too few images), or None."""
    weak = [f"{name} {acc:.1f} % clean over {n} images" for name, (acc, n) in models.items()
            if at_chance(acc, n, chance)]
    if weak:
        return f"model at chance ({', '.join(weak)}; chance {100 * chance:.0f} %)"
    if n_scored is not None and n_scored < MIN_IMAGES:
        return f"only {n_scored} images scored (fewer than {MIN_IMAGES})"
    return None


def _fmt(values: Iterable[float]) -> str:
    return " / ".join(f"{v:.1f}" for v in values)


def _eps(values: Iterable[float]) -> str:
    return " / ".join(f"{e:g}" for e in values)


def _acc(table: pd.DataFrame, column: str = OURS, **where) -> pd.Series:
    """``column`` of the rows matching ``where``, indexed by eps (sorted)."""
    mask = np.ones(len(table), dtype=bool)
    for key, value in where.items():
        mask &= (table[key] == value).to_numpy()
    return table[mask].set_index("eps")[column].sort_index()


def concat(parts: Sequence[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(list(parts), ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS)


def on_dataset(verdicts: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """The verdicts as they stand for ``dataset``: on synthetic stand-in data no claim about
    CIFAR-10 models can be judged, whatever the numbers (the evidence is kept)."""
    if not dataset.startswith("synthetic"):
        return verdicts
    out = verdicts.copy()
    judged = out["verdict"] != UNJUDGED
    out.loc[judged, "evidence"] = ("synthetic data (would be: " + out.loc[judged, "verdict"] + "); "
                                   + out.loc[judged, "evidence"])
    out["verdict"] = UNJUDGED
    return out


# --------------------------------------------------------------------------- attacks (Table 1)
def pgd_stronger_than_fgsm(table1: pd.DataFrame, *, clean: float, n_test: int, chance: float
                           ) -> pd.DataFrame:
    """Section 2.3: "PGD ... reaches very low accuracy faster (for lower eps) than FGSM".

    ``table1``: columns attack ("FGSM", "PGD"), eps, ``ours (%)``, n (correctly classified
    images scored); ``clean``: the base model's clean accuracy (%) over ``n_test`` images.
    Holds when PGD leaves no more accuracy than FGSM at any eps (beyond noise) and clearly
    less at one eps at least.
    """
    claim = "PGD is stronger than FGSM: it leaves less accuracy at the same eps"
    where = "section 2.3, Table 1, Figures 4-5"
    ref = {a: [REPORT_TABLE1[(a, e)] for e in sorted(e for (b, e) in REPORT_TABLE1 if b == a)]
           for a in ("FGSM", "PGD")}
    report = f"FGSM {_fmt(ref['FGSM'])} vs PGD {_fmt(ref['PGD'])} (eps 0.001 ... 0.5)"
    n = int(table1["n"].min())
    why = _weak({"base model": (clean, n_test)}, chance, n)
    fgsm, pgd = _acc(table1, attack="FGSM"), _acc(table1, attack="PGD")
    common = fgsm.index.intersection(pgd.index)
    gap = pgd[common] - fgsm[common]
    tol = noise_points(n, n)
    evidence = (f"PGD - FGSM = {_fmt(gap)} points at eps {_eps(common)} (noise +-{tol:.1f}); "
                f"PGD clearly lower at {int((gap < -tol).sum())} of {len(gap)} eps, "
                f"clearly higher at {int((gap > tol).sum())}")
    if why or common.empty:
        return record(claim, where, report, why or "no common eps", UNJUDGED)
    return record(claim, where, report, evidence,
                  decide(bool((gap < -tol).any()), bool((gap > tol).any())))


def small_eps_breaks(table1: pd.DataFrame, *, clean: float, n_test: int, chance: float,
                     eps: float = 0.05, attack: str = "FGSM") -> pd.DataFrame:
    """Section 2.3: "quite small values of eps" already give "very low accuracy": FGSM at
    eps 0.05 leaves 22 %. Holds when ``attack`` at ``eps`` leaves less than
    :data:`BROKEN_BELOW` % of the correctly classified images."""
    claim = f"a small eps ({eps:g}) already breaks the undefended model under {attack}"
    where = "section 2.3, Figure 4"
    report = f"{attack} at eps {eps:g}: {REPORT_TABLE1.get((attack, eps), float('nan')):.2f} %"
    row = _acc(table1, attack=attack)
    n = int(table1["n"].min())
    why = _weak({"base model": (clean, n_test)}, chance, n)
    if why or eps not in row.index:
        return record(claim, where, report, why or f"eps {eps:g} not in this run", UNJUDGED)
    acc, tol = float(row[eps]), noise_points(n)
    evidence = (f"{attack} at eps {eps:g}: {acc:.1f} % of {n} correctly classified images "
                f"(threshold {BROKEN_BELOW:g} %, noise +-{tol:.1f})")
    return record(claim, where, report, evidence,
                  decide(acc + tol < BROKEN_BELOW, acc - tol > BROKEN_BELOW))


# --------------------------------------------------------------------------- adversarial training (Table 2)
def _clean_of(table2: pd.DataFrame, defense: str, n_test: int) -> tuple[float, int]:
    """(clean accuracy %, images) of one model of Table 2."""
    return float(table2.loc[table2["defense"] == defense, "clean accuracy (%)"].iloc[0]), n_test


def adversarial_training_helps(table2: pd.DataFrame, *, chance: float, n_test: int) -> pd.DataFrame:
    """Section 3.1 and the conclusions: gradient attacks "can be mitigated by adversarial training".

    ``table2``: columns attack, defense ("no defense", "AT-FGSM", "AT-PGD"), eps,
    ``clean accuracy (%)``, ``ours (%)``, ``ours over all test images (%)``, n. One row per
    adversarially trained model: it holds when, under each attack, the model beats the
    undefended one over all ``n_test`` test images (a clean mistake counts as a failure, so
    the cost in clean accuracy is paid) by more than sampling noise at one eps at least.
    """
    rows = []
    base_clean = float(table2.loc[table2["defense"] == "no defense", "clean accuracy (%)"].iloc[0])
    for defense in [d for d in dict.fromkeys(table2["defense"]) if d != "no defense"]:
        claim = f"adversarial training ({defense}) raises accuracy under FGSM and PGD"
        where = "section 3.1, Table 2; conclusions"
        ref = {a: max(REPORT_TABLE2[(a, defense, e)] - REPORT_TABLE2[(a, "no defense", e)]
                      for e in REPORT_TABLE2_EPS) for a in ("FGSM", "PGD")}
        report = "best gain over no defense: " + ", ".join(f"{a} {g:+.1f}" for a, g in ref.items()) + " points"
        clean = float(table2.loc[table2["defense"] == defense, "clean accuracy (%)"].iloc[0])
        why = _weak({"no defense": (base_clean, n_test), defense: (clean, n_test)}, chance,
                    int(table2.loc[table2["defense"] == defense, "n"].min()))
        if why:
            rows.append(record(claim, where, report, why, UNJUDGED))
            continue
        tol = noise_points(n_test, n_test)
        gains, parts = {}, []
        for attack in dict.fromkeys(table2["attack"]):
            d = _acc(table2, ALL, attack=attack, defense=defense)
            b = _acc(table2, ALL, attack=attack, defense="no defense")
            g = (d - b).dropna()
            gains[attack] = g
            parts.append(f"{attack} {_fmt(g)} at eps {_eps(g.index)}")
        evidence = (f"gain over no defense, over all {n_test} test images: {'; '.join(parts)} points "
                    f"(noise +-{tol:.1f}); clean {clean:.1f} % vs {base_clean:.1f} %")
        helps = all(len(g) and g.max() > tol for g in gains.values())
        hurts = any(len(g) and (g < -tol).all() for g in gains.values())
        rows.append(record(claim, where, report, evidence, decide(helps, hurts)))
    return concat(rows)


def at_holds_better_against_fgsm(table2: pd.DataFrame, *, chance: float, n_test: int) -> pd.DataFrame:
    """Section 3.1: "we get much higher accuracy when defending over the FGSM attack ... PGD is
    way more powerful". Holds when every adversarially trained model keeps more accuracy under
    FGSM than under PGD (same images) at every eps, beyond noise at one eps at least, and never
    clearly less. The report's own Table 2 has it the other way round at eps 0.01."""
    claim = "adversarially trained models hold up better against FGSM than against PGD"
    where = "section 3.1, Table 2"
    ref = "; ".join(f"{d}: FGSM {_fmt(REPORT_TABLE2[('FGSM', d, e)] for e in REPORT_TABLE2_EPS)} vs PGD "
                    f"{_fmt(REPORT_TABLE2[('PGD', d, e)] for e in REPORT_TABLE2_EPS)}" for d in ("AT-FGSM", "AT-PGD"))
    report = f"{ref} at eps 0.01 / 0.05"
    defenses = [d for d in dict.fromkeys(table2["defense"]) if d != "no defense"]
    weak = {d: _clean_of(table2, d, n_test) for d in defenses}
    why = _weak(weak, chance, int(table2["n"].min()))
    if why or not defenses:
        return record(claim, where, report, why or "no adversarially trained model", UNJUDGED)
    ok, against, parts = True, False, []
    for d in defenses:
        gap = (_acc(table2, attack="FGSM", defense=d) - _acc(table2, attack="PGD", defense=d)).dropna()
        tol = noise_points(int(table2.loc[table2["defense"] == d, "n"].min()))
        parts.append(f"{d}: FGSM - PGD = {_fmt(gap)} at eps {_eps(gap.index)} (noise +-{tol:.1f})")
        ok &= bool(len(gap) and (gap > tol).any())
        against |= bool((gap < -tol).any())
    return record(claim, where, report, "; ".join(parts), decide(ok, against))


def at_pgd_beats_at_fgsm_under_pgd(table2: pd.DataFrame, *, chance: float, n_test: int) -> pd.DataFrame:
    """Table 2: training on PGD examples resists PGD better than training on FGSM examples
    (91.28 vs 88.32 % at eps 0.01, 13.33 vs 3.55 % at eps 0.05). Judged over all test images
    at the largest eps of Table 2."""
    claim = "AT-PGD resists PGD better than AT-FGSM"
    where = "Table 2"
    report = ("PGD: AT-PGD " + _fmt(REPORT_TABLE2[("PGD", "AT-PGD", e)] for e in REPORT_TABLE2_EPS)
              + " vs AT-FGSM " + _fmt(REPORT_TABLE2[("PGD", "AT-FGSM", e)] for e in REPORT_TABLE2_EPS)
              + " at eps 0.01 / 0.05")
    if not {"AT-PGD", "AT-FGSM"} <= set(table2["defense"]):
        return record(claim, where, report, "AT-PGD or AT-FGSM missing", UNJUDGED)
    why = _weak({d: _clean_of(table2, d, n_test) for d in ("AT-PGD", "AT-FGSM")}, chance, int(table2["n"].min()))
    if why:
        return record(claim, where, report, why, UNJUDGED)
    p = _acc(table2, ALL, attack="PGD", defense="AT-PGD")
    f = _acc(table2, ALL, attack="PGD", defense="AT-FGSM")
    e = max(p.index)
    gap, tol = float(p[e] - f[e]), noise_points(n_test, n_test)
    evidence = (f"under PGD over all {n_test} test images: AT-PGD {_fmt(p)} vs AT-FGSM {_fmt(f)} at eps "
                f"{_eps(p.index)}; at eps {e:g} {gap:+.1f} points (noise +-{tol:.1f})")
    return record(claim, where, report, evidence, decide(gap > tol, gap < -tol))


# --------------------------------------------------------------------------- Gaussian noise (Figures 6-7)
def noise_does_not_help(fgsm_noise: pd.DataFrame, label: str, *, clean: dict[str, tuple[float, int]],
                        chance: float) -> pd.DataFrame:
    """Section 3.2, Figures 6-7: Gaussian noise (sigma 0.05) does not make the model more
    robust to FGSM ("the overall accuracy is slightly lower").

    ``fgsm_noise``: columns model ("base model" and ``label``), eps, ``accuracy`` (%), n;
    ``clean``: {model: (clean accuracy %, images)} of both. Holds when the noisy model is
    nowhere better than the base model by more than sampling noise.
    """
    claim = f"Gaussian noise ({label}) does not help against FGSM"
    where = "section 3.2, " + ("Figure 6" if "conv" in label else "Figure 7")
    report = "no numbers: 'the overall accuracy is slightly lower for the model with Gaussian noise'"
    why = _weak({k: clean[k] for k in ("base model", label)}, chance, int(fgsm_noise["n"].min()))
    if why:
        return record(claim, where, report, why, UNJUDGED)
    b = _acc(fgsm_noise, "accuracy", model="base model")
    m = _acc(fgsm_noise, "accuracy", model=label)
    gap = (m - b).dropna()
    n = int(fgsm_noise["n"].min())
    tol = noise_points(n, n)
    evidence = (f"noisy - base under FGSM: {_fmt(gap)} points at eps {_eps(gap.index)} (mean {gap.mean():+.1f}, "
                f"noise +-{tol:.1f})")
    return record(claim, where, report, evidence, HOLDS if (gap <= tol).all() else FAILS)


def noise_does_not_help_eot(table3: pd.DataFrame, label: str, *, clean: dict[str, tuple[float, int]],
                            chance: float) -> pd.DataFrame:
    """Section 3.2 against the strongest attack we ran: the noisy model under PGD with EOT
    (the gradient averaged over noise draws) against the base model under PGD, on the same
    images. ``table3``: columns model, attack, eps, ``ours (%)``, n, with rows for "base model"
    (PGD), ``label`` (PGD, PGD-EOT) and ``f"{label}, noise off at test"`` (PGD). Holds when the
    noisy model is nowhere more robust beyond noise; where it is, the evidence says whether the
    same weights with the noise off are too (the gain then comes from training, not randomness)."""
    claim = f"Gaussian noise ({label}) does not help against an attack that averages over the noise (PGD-EOT)"
    where = "section 3.2; our adaptive test"
    report = "not tested in the report"
    quiet = f"{label}, noise off at test"
    why = _weak({k: v for k, v in clean.items() if k in ("base model", label)}, chance, int(table3["n"].min()))
    if why:
        return record(claim, where, report, why, UNJUDGED)
    base = _acc(table3, model="base model", attack="PGD")
    eot = _acc(table3, model=label, attack="PGD-EOT")
    plain = _acc(table3, model=label, attack="PGD")
    gain = (eot - base).dropna()
    n = int(table3["n"].min())
    tol = noise_points(n, n)
    evidence = (f"PGD-EOT on the noisy model - PGD on the base: {_fmt(gain)} points at eps {_eps(gain.index)} "
                f"(noise +-{tol:.1f}); EOT changes the noisy model's PGD accuracy by {_fmt(eot - plain)}")
    if (gain <= tol).all():
        return record(claim, where, report, evidence, HOLDS)
    if quiet in set(table3["model"]):
        q = (_acc(table3, model=quiet, attack="PGD") - base).dropna()
        e = gain.idxmax()
        evidence += (f"; the same weights with the noise off gain {q.get(e, float('nan')):+.1f} at eps {e:g}: "
                     + ("the gain comes from training with noise, not from noise at inference"
                        if q.get(e, -np.inf) > tol else "the randomness itself does the work"))
    return record(claim, where, report, evidence, FAILS)


# --------------------------------------------------------------------------- contrastive 1-NN (section 3.3)
def nn_keeps_accuracy(table4: pd.DataFrame, attack: str, *, chance: float, n_test: int,
                      eps: float = REPORT_NN_EPS, encoder: str = "CE + contrastive") -> pd.DataFrame:
    """Section 3.3: the 1-NN rule on the contrastive latent space has "80 % accuracy before
    attack and similar accuracy after our attacks".

    ``table4``: columns encoder, classifier ("1-NN", ...), attack, eps, ``clean accuracy (%)``,
    ``ours over all test images (%)``. Holds when, over all ``n_test`` test images, ``attack`` at
    ``eps`` lowers the 1-NN accuracy by at most :data:`SIMILAR_POINTS` points (or sampling noise).
    """
    claim = f"the contrastive 1-NN rule keeps a similar accuracy under attack ({attack})"
    where = "section 3.3"
    report = f"about {REPORT_NN_CLEAN:.0f} % clean and 'similar' under its attacks (eps {REPORT_NN_EPS:g} in Figure 8)"
    rows = table4[(table4["encoder"] == encoder) & (table4["classifier"] == "1-NN") & (table4["attack"] == attack)]
    if rows.empty or eps not in set(rows["eps"]):
        return record(claim, where, report, f"no {attack} at eps {eps:g} in this run", UNJUDGED)
    clean = float(rows["clean accuracy (%)"].iloc[0])
    why = _weak({"1-NN": (clean, n_test)}, chance)
    if why:
        return record(claim, where, report, why, UNJUDGED)
    attacked = float(rows.loc[rows["eps"] == eps, ALL].iloc[0])
    drop = clean - attacked
    limit = max(SIMILAR_POINTS, noise_points(n_test, n_test))
    evidence = (f"over all {n_test} test images: {clean:.1f} % clean, {attacked:.1f} % under {attack} at eps "
                f"{eps:g} (a drop of {drop:.1f} points; 'similar' means at most {limit:.1f})")
    return record(claim, where, report, evidence, HOLDS if drop <= limit else FAILS)


def attacked_closer_to_reference(clean_d: Sequence[float], attacked_d: Sequence[float], *, attack: str,
                                 eps: float, clean_acc: float, n_test: int, chance: float) -> pd.DataFrame:
    """Section 3.3: "the distance between an image and its 1-NN is, on average, greater than the
    distance between the attacked image and its 1-NN". ``clean_d`` and ``attacked_d``: per-image
    latent distances to the nearest reference, same images in the same order. Holds when the mean
    paired change is negative by more than two standard errors."""
    claim = f"attacked images ({attack}) lie closer to their nearest reference than clean ones"
    where = "section 3.3, Figure 8"
    report = f"yes, on average (FGSM, eps {REPORT_NN_EPS:g})"
    c, a = np.asarray(clean_d, dtype=float), np.asarray(attacked_d, dtype=float)
    if c.shape != a.shape or c.ndim != 1:
        raise ValueError(f"need two equal-length 1-D distance arrays, got {c.shape} and {a.shape}")
    why = _weak({"1-NN": (clean_acc, n_test)}, chance, len(c))
    if why:
        return record(claim, where, report, why, UNJUDGED)
    diff = a - c
    se = diff.std(ddof=1) / math.sqrt(len(diff)) if len(diff) > 1 else float("inf")
    evidence = (f"mean distance {c.mean():.3f} clean, {a.mean():.3f} after {attack} at eps {eps:g} "
                f"(change {diff.mean():+.3f} +- {2 * se:.3f}, {len(c)} images)")
    return record(claim, where, report, evidence, decide(diff.mean() < -2 * se, diff.mean() > 2 * se))


def contrastive_no_better_than_plain(table4: pd.DataFrame, attack: str, *, chance: float, n_test: int
                                     ) -> pd.DataFrame:
    """Section 3.3 and the conclusions: the contrastive latent space is not (yet) a defense ("the
    results were not very satisfying", "needs to be pushed a bit further"). Holds when, under
    ``attack``, the 1-NN rule on the contrastive representation is nowhere more accurate over all
    test images than the same rule on the plain cross-entropy representation, beyond noise."""
    claim = "the contrastive loss does not make the 1-NN rule clearly more robust than plain CE"
    where = "section 3.3; conclusions"
    report = "'results were not very satisfying'; 'needs to be pushed a bit further'"
    nn = table4[(table4["classifier"] == "1-NN") & (table4["attack"] == attack)]
    encoders = set(nn["encoder"])
    if not {"plain CE", "CE + contrastive"} <= encoders:
        return record(claim, where, report, "the plain-CE control or the contrastive model is missing", UNJUDGED)
    clean = {e: (float(nn.loc[nn["encoder"] == e, "clean accuracy (%)"].iloc[0]), n_test)
             for e in ("plain CE", "CE + contrastive")}
    why = _weak(clean, chance)
    if why:
        return record(claim, where, report, why, UNJUDGED)
    gain = (_acc(nn, ALL, encoder="CE + contrastive") - _acc(nn, ALL, encoder="plain CE")).dropna()
    tol = noise_points(n_test, n_test)
    evidence = (f"contrastive - plain CE 1-NN under {attack}, over all test images: {_fmt(gain)} points "
                f"at eps {_eps(gain.index)} (noise +-{tol:.1f})")
    return record(claim, where, report, evidence, HOLDS if (gain <= tol).all() else FAILS)


# --------------------------------------------------------------------------- the report's own numbers
def report_consistency(table1: dict | None = None, table2: dict | None = None) -> pd.DataFrame:
    """The report's internal contradictions, judged on its own numbers (defaults: the
    transcription in :mod:`~lib.reports.attacks_adversarial_training.reference`).

    - Table 2's "without defense" rows should repeat Table 1 at eps 0.01 and 0.05;
    - in Table 2, iterative PGD should leave no more accuracy than FGSM on the undefended model;
    A difference of 0.5 points or less counts as agreement (rounding).
    """
    t1 = REPORT_TABLE1 if table1 is None else table1
    t2 = REPORT_TABLE2 if table2 is None else table2
    eps2 = sorted({e for (_, _, e) in t2})
    rows = []
    pairs = [(a, e, t2[(a, "no defense", e)], t1.get((a, e))) for a in ("FGSM", "PGD") for e in eps2
             if (a, "no defense", e) in t2]
    off = [(a, e, x, y) for a, e, x, y in pairs if y is not None and abs(x - y) > 0.5]
    rows.append(record(
        "Table 2's undefended rows repeat Table 1 (same model, attacks and eps)", "Tables 1-2", "-",
        "; ".join(f"{a} at eps {e:g}: Table 2 {x:g} vs Table 1 {y:g}" for a, e, x, y in pairs if y is not None),
        FAILS if off else HOLDS))
    gaps = {e: t2[("PGD", "no defense", e)] - t2[("FGSM", "no defense", e)] for e in eps2
            if ("PGD", "no defense", e) in t2 and ("FGSM", "no defense", e) in t2}
    rows.append(record(
        "in Table 2, PGD leaves no more accuracy than FGSM on the undefended model", "Table 2", "-",
        "; ".join(f"eps {e:g}: PGD - FGSM = {g:+.2f}" for e, g in gaps.items()),
        FAILS if any(g > 0.5 for g in gaps.values()) else HOLDS))
    return concat(rows)
