"""Report 001's claims, judged from our tables: one function per claim.

Every function returns a small DataFrame with the columns ``claim``, ``evidence`` and
``verdict``, the verdict being one of :data:`VERDICTS`. The notebook prints these; it
decides nothing itself, so every decision here is unit-tested on hand-made tables.

A claim about the detector can only be judged with models that work: :func:`model_checks`
says whether the classifier beats chance, whether the CVAE's reconstructions depend on
the input at all (or only on the label), whether it reconstructs clean inputs better
than adversarial ones, and whether our PuVAE is comparable to the report's (its clean
accuracy, and its clean reconstruction error where the report gives one). Where a check
a claim needs fails, its verdict is :data:`UNJUDGED` ("cannot be judged at this
profile"), with the failed check as evidence.

Noise: a difference counts only beyond :func:`noise_pts`, the study's one tolerance rule
(:func:`lib.evaluate.noise_tolerance`, the half-width of the exact 95 % interval at the
number of test images), and at least :data:`MIN_GAIN_PTS` points. Where one side can only
be at least the other on every image (the detector only adds rejections to PuVAE; the
worst case over the adaptive attacks only removes survivors), the difference is itself a share of
images and its own interval is used (a paired test); otherwise that of the accuracies
compared.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from lib.evaluate import above_chance, noise_tolerance
from lib.stats import FAILS, HOLDS, UNJUDGED, VERDICTS  # noqa: F401 (re-exported)

COLUMNS = ["claim", "evidence", "verdict"]

#: The CVAE's reconstruction of x itself must have at least this much less RMSE (relative)
#: than the reconstruction of another image of the same class under the same label.
MIN_INPUT_GAP = 0.10
#: Mean best-reconstruction RMSE under PGD must exceed the clean one by this much (relative).
MIN_ADV_GAP = 0.10
#: Smallest accuracy difference (points) ever called a difference.
MIN_GAIN_PTS = 2.0
#: "Changes little" (the report on BIM): at most this many points either way.
SMALL_CHANGE_PTS = 5.0
#: Our PuVAE is comparable to the report's when its clean accuracy is at most this many
#: points (plus noise) below the report's, and its mean clean best-RMSE at most this many
#: times the report's (where the report gives one: MNIST).
MAX_PUVAE_GAP_PTS = 15.0
MAX_RMSE_RATIO = 2.0
#: The checks of :func:`model_checks`, by name.
CLASSIFIER, INPUT, SEPARATION, COMPARABLE = (
    "classifier better than chance", "reconstructions depend on the input",
    "clean inputs reconstructed better than adversarial ones", "PuVAE comparable to the report's")
#: The checks each kind of claim needs.
NEEDS_RECONSTRUCTION = (CLASSIFIER, INPUT)
NEEDS_ALL = (CLASSIFIER, INPUT, SEPARATION, COMPARABLE)


def noise_pts(p: float, n: int) -> float:
    """Sampling noise (in points) of a share ``p`` (fraction) of ``n`` images: the study's
    :func:`lib.evaluate.noise_tolerance` (95 % exact interval), at least :data:`MIN_GAIN_PTS`."""
    p = min(max(float(p), 0.0), 1.0)
    return max(MIN_GAIN_PTS, 100 * noise_tolerance(n, p))


def _table(rows: Sequence[dict]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=COLUMNS)


# --------------------------------------------------------------------------- are the models usable?
def model_checks(*, clf_acc: float, puvae_acc: float, n_test: int, rmse_own: float,
                 rmse_other: float, rmse_clean: float, rmse_adv: float,
                 report_puvae: float | None = None, report_rmse: float | None = None,
                 chance: float = 0.1) -> pd.DataFrame:
    """Can this run judge the report's claims at all? One row per check: check, evidence, passed.

    - classifier: clean accuracy ``clf_acc`` (fraction) above ``chance`` beyond sampling noise;
    - input: ``rmse_own`` (input vs its reconstruction under its own label) at least
      :data:`MIN_INPUT_GAP` below ``rmse_other`` (input vs the reconstruction of another
      image of its class under the same label); equal means the CVAE ignores the input;
    - separation: mean best RMSE of adversarial inputs ``rmse_adv`` at least
      :data:`MIN_ADV_GAP` above that of clean inputs ``rmse_clean``; otherwise a detector
      built on it has nothing to detect;
    - comparable: PuVAE's clean accuracy ``puvae_acc`` (fraction) at most
      :data:`MAX_PUVAE_GAP_PTS` points plus noise below the report's ``report_puvae`` (%),
      and ``rmse_clean`` at most :data:`MAX_RMSE_RATIO` times the report's ``report_rmse``;
      a number the report does not give is not checked.
    """
    gap_in = 1 - rmse_own / rmse_other if rmse_other > 0 else 0.0
    gap_adv = rmse_adv / rmse_clean - 1 if rmse_clean > 0 else 0.0
    comparable, said = True, []
    if report_puvae is not None:
        allowed = MAX_PUVAE_GAP_PTS + noise_pts(puvae_acc, n_test)
        comparable &= report_puvae - 100 * puvae_acc <= allowed
        said.append(f"PuVAE clean accuracy {100 * puvae_acc:.1f} % vs the report's {report_puvae:g} % "
                    f"(at most {allowed:.1f} points below)")
    if report_rmse is not None:
        comparable &= rmse_clean <= MAX_RMSE_RATIO * report_rmse
        said.append(f"mean clean best RMSE {rmse_clean:.3f} vs the report's {report_rmse:g} "
                    f"(at most {MAX_RMSE_RATIO:g} times)")
    rows = [
        {"check": CLASSIFIER, "passed": above_chance(clf_acc, n_test, chance),
         "evidence": f"clean accuracy {100 * clf_acc:.1f} % (chance {100 * chance:.0f} %, n = {n_test})"},
        {"check": INPUT, "passed": bool(gap_in >= MIN_INPUT_GAP),
         "evidence": f"RMSE to its own reconstruction {rmse_own:.3f} vs to the reconstruction of another "
                     f"image of its class {rmse_other:.3f} ({100 * gap_in:.0f} % less; need "
                     f"{100 * MIN_INPUT_GAP:.0f} %)"},
        {"check": SEPARATION, "passed": bool(gap_adv >= MIN_ADV_GAP),
         "evidence": f"mean best RMSE {rmse_clean:.3f} clean vs {rmse_adv:.3f} adversarial "
                     f"({100 * gap_adv:+.0f} %; need +{100 * MIN_ADV_GAP:.0f} %)"},
        {"check": COMPARABLE, "passed": bool(comparable),
         "evidence": "; ".join(said) or "the report gives no number to compare with"},
    ]
    return pd.DataFrame(rows, columns=["check", "evidence", "passed"])


def _blocked(checks: pd.DataFrame, needed: Sequence[str]) -> str | None:
    """Evidence for :data:`UNJUDGED` when a needed check failed, else None."""
    failed = checks[checks["check"].isin(needed) & ~checks["passed"].astype(bool)]
    if failed.empty:
        return None
    return "; ".join(f"failed check '{r.check}': {r.evidence}" for r in failed.itertuples())


# --------------------------------------------------------------------------- section 4
def reconstruction_claim(*, rmse_clean: float, rmse_adv: float, rejected_adv: float, eps: float,
                         checks: pd.DataFrame, report: tuple[float, float] | None = None) -> pd.DataFrame:
    """Claim 1 (section 4): adversarial inputs (PGD at ``eps``) are reconstructed worse than
    clean ones. ``rejected_adv``: share of them above the threshold; ``report``: the
    report's (clean, adversarial) RMSE where it gives them (MNIST)."""
    claim = f"adversarial inputs (PGD, eps {eps:g}) are reconstructed worse than clean ones (section 4)"
    blocked = _blocked(checks, NEEDS_RECONSTRUCTION)
    if blocked:
        return _table([{"claim": claim, "evidence": blocked, "verdict": UNJUDGED}])
    ratio = rmse_adv / rmse_clean if rmse_clean > 0 else float("inf")
    evidence = (f"mean best RMSE {rmse_adv:.3f} adversarial vs {rmse_clean:.3f} clean (ratio {ratio:.2f}); "
                f"{100 * rejected_adv:.1f} % of the adversarial inputs lie above the threshold")
    if report is not None:
        evidence += f"; report: {report[1]:g} vs {report[0]:g} (ratio {report[1] / report[0]:.2f})"
    verdict = HOLDS if ratio >= 1 + MIN_ADV_GAP else FAILS
    return _table([{"claim": claim, "evidence": evidence, "verdict": verdict}])


# --------------------------------------------------------------------------- Tables 3-5
def detector_claims(table: pd.DataFrame, *, eps: float, fpr: float, n: int,
                    checks: pd.DataFrame) -> pd.DataFrame:
    """Claim 2 (Tables 3-5, section 5.3) on a :func:`~lib.reports.puvae_detector.tables.robustness_table`
    (accuracy in %, rows "No attack", FGSM, BIM, PGD; columns PuVAE, ours) over ``n`` images:

    - the detector raises PuVAE's accuracy against FGSM and against PGD at ``eps``: by more
      than ``100 * fpr`` points (what rejecting at the clean rate could add) plus noise;
    - against BIM it changes little: at most :data:`SMALL_CHANGE_PTS` points;
    - it costs little clean accuracy: no more than ``100 * fpr`` points plus noise.

    "ours" is PuVAE's decision with some inputs replaced by a rejection, so on adversarial
    inputs ours - PuVAE is the share of images the detector turns right (paired noise).
    """
    t = table.set_index("attack")
    claims = [(f"the detector raises PuVAE's accuracy against {a} at eps {eps:g} (Tables 3-5)", a, "raise")
              for a in ("FGSM", "PGD") if a in t.index]
    if "BIM" in t.index:
        claims.append((f"against BIM at eps {eps:g} the detector changes PuVAE's accuracy little "
                       "(Tables 3-5)", "BIM", "same"))
    claims.append(("the detector costs little clean accuracy (Tables 3-5)", "No attack", "cost"))
    blocked = _blocked(checks, NEEDS_ALL)
    rows = []
    for claim, attack, kind in claims:
        if blocked:
            rows.append({"claim": claim, "evidence": blocked, "verdict": UNJUDGED})
            continue
        pu, ours = float(t.loc[attack, "PuVAE"]), float(t.loc[attack, "ours"])
        gain = ours - pu
        if kind == "cost":
            allowed = 100 * fpr + noise_pts(fpr, n)
            ok = -gain <= allowed
            evidence = (f"clean accuracy {pu:.1f} % PuVAE, {ours:.1f} % with the detector: {-gain:.1f} points "
                        f"lost (allowed {allowed:.1f}: fpr {100 * fpr:g} % plus noise at n = {n})")
        elif kind == "raise":
            needed = 100 * fpr + noise_pts(abs(gain) / 100, n)
            ok = gain > needed
            evidence = (f"{pu:.1f} % PuVAE -> {ours:.1f} % with the detector ({gain:+.1f} points; need more "
                        f"than {needed:.1f}: fpr {100 * fpr:g} % plus noise at n = {n})")
        else:
            ok = abs(gain) <= SMALL_CHANGE_PTS
            evidence = (f"{pu:.1f} % PuVAE -> {ours:.1f} % with the detector ({gain:+.1f} points; "
                        f"'little': at most {SMALL_CHANGE_PTS:g})")
        rows.append({"claim": claim, "evidence": evidence, "verdict": HOLDS if ok else FAILS})
    return _table(rows)


# --------------------------------------------------------------------------- Figures 7-8
def worst_eps_claim(grid: pd.DataFrame, *, checks: pd.DataFrame,
                    report_rejected: tuple[float, float] | None = None) -> pd.DataFrame:
    """Claim 3 (section 5.2, Figures 7-8): the detector puts downward pressure on eps: for
    some attacks, PuVAE + detector does worse at an eps below the largest of the grid
    than at the largest (beyond noise), because large perturbations are rejected.

    ``grid``: the sweep table (fractions; columns attack, eps, n, ours, rejected; an
    ``attack == "none"`` row is ignored). ``report_rejected``: the report's range (%) of
    the share rejected at the worst eps (Figure 8, MNIST), for the evidence only.
    """
    claim = "the attacker's most effective eps lies below the largest eps for some attacks (Figure 7)"
    blocked = _blocked(checks, NEEDS_ALL)
    if blocked:
        return _table([{"claim": claim, "evidence": blocked, "verdict": UNJUDGED}])
    adv = grid[grid["attack"] != "none"]
    parts, below = [], []
    for attack, g in adv.groupby("attack", sort=False):
        g = g.sort_values("eps")
        top, worst = g.iloc[-1], g.loc[g["ours"].idxmin()]
        gap = 100 * (float(top["ours"]) - float(worst["ours"]))
        noise = noise_pts(float(top["ours"]), int(top["n"]))
        lower = float(worst["eps"]) < float(top["eps"]) and gap > noise
        if lower:
            below.append(attack)
        parts.append(f"{attack}: worst eps {float(worst['eps']):.3g} ({100 * float(worst['ours']):.1f} %, "
                     f"{100 * float(worst['rejected']):.1f} % rejected) vs {100 * float(top['ours']):.1f} % at "
                     f"eps {float(top['eps']):.3g} (gap {gap:.1f}, noise {noise:.1f})")
    evidence = "; ".join(parts)
    if report_rejected is not None:
        evidence += (f"; report: {report_rejected[0]:g} % to {report_rejected[1]:g} % rejected at the "
                     "worst eps (Figure 8)")
    return _table([{"claim": claim, "evidence": evidence, "verdict": HOLDS if below else FAILS}])


# --------------------------------------------------------------------------- beyond the report
def _accuracy(adaptive: pd.DataFrame, defense: str, attack: str, eps: float) -> tuple[float, int]:
    a = adaptive[(adaptive["defense"] == defense) & (adaptive["attack"] == attack)
                 & np.isclose(adaptive["eps"], eps)]
    if a.empty:
        raise KeyError(f"no adaptive result for {defense!r}, {attack!r}, eps {eps:g}")
    return float(a["accuracy"].iloc[0]), int(a["n"].iloc[0])


def adaptive_claims(adaptive: pd.DataFrame, *, eps: float, checks: pd.DataFrame,
                    detector: str = "PuVAE + detector", plain: str = "PuVAE") -> pd.DataFrame:
    """Beyond the report: does the robustness measured with transfer attacks survive an
    attacker who knows the defense? ``adaptive``: the table of
    :func:`~lib.reports.puvae_detector.experiment.adaptive_evaluation` (fractions; rows
    per defense and attack "PGD transfer" / "worst case", the worst case over the adaptive set).

    - PuVAE + detector keeps its transfer-PGD accuracy under the adaptive attacks (the worst
      case per image over transfer PGD and the adaptive set); "does not hold" means the adaptive attack breaks it;
    - the detector's advantage over PuVAE alone survives the adaptive attack.
    """
    claims = [f"PuVAE + detector keeps its transfer-PGD accuracy against an adaptive attacker "
              f"at eps {eps:g} (beyond the report)",
              f"the detector's advantage over PuVAE survives an adaptive attacker at eps {eps:g} "
              "(beyond the report)"]
    blocked = _blocked(checks, NEEDS_ALL)
    if blocked:
        return _table([{"claim": c, "evidence": blocked, "verdict": UNJUDGED} for c in claims])
    det_tr, n = _accuracy(adaptive, detector, "PGD transfer", eps)
    det_ad, _ = _accuracy(adaptive, detector, "worst case", eps)
    pu_tr, _ = _accuracy(adaptive, plain, "PGD transfer", eps)
    pu_ad, _ = _accuracy(adaptive, plain, "worst case", eps)
    drop = 100 * (det_tr - det_ad)  # the worst case <= transfer on every image: paired noise
    noise = noise_pts(abs(drop) / 100, n)
    adv_pts = 100 * (det_ad - pu_ad)
    noise2 = noise_pts((det_ad + pu_ad) / 2, n)
    rows = [
        {"claim": claims[0], "verdict": HOLDS if drop <= noise else FAILS,
         "evidence": f"{100 * det_tr:.1f} % under transfer PGD -> {100 * det_ad:.1f} % in the worst case "
                     f"of the adaptive attacks ({-drop:+.1f} points; noise {noise:.1f} at n = {n})"},
        {"claim": claims[1], "verdict": HOLDS if adv_pts > noise2 else FAILS,
         "evidence": f"adaptive: {100 * det_ad:.1f} % with the detector vs {100 * pu_ad:.1f} % PuVAE alone "
                     f"({adv_pts:+.1f} points; noise {noise2:.1f}); under transfer PGD "
                     f"{100 * det_tr:.1f} % vs {100 * pu_tr:.1f} %"},
    ]
    return _table(rows)
