"""One function per claim of report 003, each returning a row ``{claim, verdict, interval,
evidence}``. A claim holds or fails only where an exact interval (Clopper-Pearson) or a
paired exact test (McNemar / sign test on the same images) says so; otherwise it "cannot be
judged at this profile". Claims the report makes without any number are marked so, with
what we see beside them.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from lib.stats import FAILS, HOLDS, UNJUDGED, clopper_pearson, decide, format_interval, verdict_at_least, verdict_paired

COLUMNS = ["claim", "verdict", "interval", "evidence"]
#: "FGSM / CW break the classifier": they fool at least this share of correctly classified images.
BREAK_RATE = 0.5
#: "Earlier adversarial examples are now classified right": at least this share of them.
TRANSFER_RATE = 0.5
#: In the sign tests on distortions, one image needs more noise than another only when it
#: needs more than this much more (relative): float noise of a converged attack is not a difference.
TIE_TOLERANCE = 0.05


def _row(claim: str, verdict: str, evidence: str, interval: str = "") -> dict:
    return {"claim": claim, "verdict": verdict, "interval": interval, "evidence": evidence}


def _status(v) -> str:
    return decide(v.status == "supported", v.status == "refuted")


def table(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=COLUMNS)


def accuracy_claim(name: str, report_pct: float, correct: int, n: int, profile: str) -> dict:
    """Section IV: the classifier reaches ``report_pct`` % test accuracy. Holds if our interval
    contains it or lies above it; below it, it fails only in the paper profile (elsewhere our
    shorter training, not the report, may be the reason)."""
    low, high = clopper_pearson(correct, n)
    interval = format_interval(correct / n, low, high)
    claim = f"the {name} classifier reaches {report_pct:g} % test accuracy (section IV)"
    evidence = f"ours {correct}/{n} = {interval} %"
    if 100 * high >= report_pct:
        return _row(claim, HOLDS, evidence + " (interval reaches the report's value)", interval)
    if profile == "paper":
        return _row(claim, FAILS, evidence + " (wholly below, at the report's settings)", interval)
    return _row(claim, UNJUDGED, evidence + f" (below; the {profile} profile trains far less than the report)",
                interval)


def breaks_claim(name: str, attack: str, succeeded: int, n: int) -> dict:
    """Section V: ``attack`` breaks the ``name`` classifier: it fools at least
    :data:`BREAK_RATE` of the correctly classified images attacked."""
    v = verdict_at_least(succeeded, n, BREAK_RATE)
    return _row(f"{attack} breaks the {name} classifier (section V; 'breaks': fools >= {100 * BREAK_RATE:g} % "
                "of correctly classified images)", _status(v), v.detail, format_interval(v.estimate, v.low, v.high))


def _larger(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    """Per image: ``a`` exceeds ``b`` by more than :data:`TIE_TOLERANCE` (``inf`` beats any finite)."""
    return (a > b * (1 + TIE_TOLERANCE)).cpu().numpy()


def more_noise_claim(name: str, d_lip: torch.Tensor, d_plain: torch.Tensor) -> dict:
    """Section VI, Figures 19-20: an attacker needs more L2 noise to break the Lipschitz
    classifier than the plain one. Sign test on the images both classify correctly; the
    distances are :func:`~lib.reports.generative_lipschitz.experiment.needed_distortion` (the
    least of CW's and the adaptive set's, ``inf`` = never broken, 0 = wrong clean)."""
    both = (d_lip > 0) & (d_plain > 0)
    a, b = d_lip[both], d_plain[both]
    v = verdict_paired(_larger(a, b), _larger(b, a), names=("Lipschitz", "plain"))
    med = lambda d: float(d[torch.isfinite(d)].median()) if torch.isfinite(d).any() else math.nan  # noqa: E731
    evidence = (f"on {int(both.sum())} images both classify correctly: median L2 needed (broken ones) {med(a):.3f} "
                f"Lipschitz vs {med(b):.3f} plain, never broken {int(torch.isinf(a).sum())} vs "
                f"{int(torch.isinf(b).sum())}; sign test (ties within {100 * TIE_TOLERANCE:g} %): {v.detail}")
    return _row(f"an attacker needs more L2 noise to break the Lipschitz {name} classifier (section VI, Figs. 19-20)",
                _status(v), evidence)


def transfer_claim(name: str, correct: int, n: int) -> dict:
    """Section VI: the plain classifier's CW examples are now classified right (by the
    Lipschitz classifier), for at least :data:`TRANSFER_RATE` of them."""
    v = verdict_at_least(correct, n, TRANSFER_RATE)
    return _row(f"the plain {name} classifier's CW examples are classified right by the Lipschitz one "
                f"(section VI; at least {100 * TRANSFER_RATE:g} %)", _status(v),
                v.detail + " (a transfer test: it says nothing about attacks on the Lipschitz model itself)",
                format_interval(v.estimate, v.low, v.high))


def robustness_claim(name: str, lip_robust: np.ndarray, plain_robust: np.ndarray, eps: float) -> dict:
    """Beyond the report: the Lipschitz classifier is more robust than the plain one under the
    worst case of the adaptive set and CW at L2 ``eps`` (McNemar on the same images)."""
    v = verdict_paired(lip_robust, plain_robust, names=("Lipschitz", "plain"))
    k1, k2, n = int(lip_robust.sum()), int(plain_robust.sum()), len(lip_robust)
    iv = lambda k: format_interval(k / n, *clopper_pearson(k, n))  # noqa: E731
    return _row(f"the Lipschitz {name} classifier is more robust than the plain one, worst case at L2 eps "
                f"{eps:g} (beyond the report)", _status(v),
                f"worst-case accuracy {iv(k1)} % Lipschitz vs {iv(k2)} % plain; {v.detail}", iv(k1))


def certificate_claim(name: str, inside: int, fooled: int) -> dict:
    """Our certificate: no adversarial example found lies inside its image's certified radius."""
    verdict = HOLDS if inside == 0 else FAILS
    return _row(f"no adversarial example against the Lipschitz {name} classifier lies inside its certified "
                "L2 radius (our certificate)", verdict,
                f"{inside} of {fooled} examples found (CW and the adaptive set) lie inside it")


def control_claim(name: str, d_plain: torch.Tensor, d_scaled: torch.Tensor, temperature: float) -> dict:
    """The report's implicit assumption: the noise a fixed-c CW needs measures the classifier's
    robustness. Dividing the logits by ``temperature`` changes no decision; if the fixed-c
    distortions differ (sign test on the same images), the assumption does not hold."""
    both = (d_plain > 0) & (d_scaled > 0)
    a, b = d_scaled[both], d_plain[both]
    v = verdict_paired(_larger(a, b), _larger(b, a), names=("scaled", "plain"))
    differs = v.status != "undecided"
    verdict = FAILS if differs else UNJUDGED
    fin = lambda d: f"{float(d[torch.isfinite(d)].median()):.3f}" if torch.isfinite(d).any() else "n/a"  # noqa: E731
    return _row(f"the noise a fixed-c CW needs measures the {name} classifier, not its logit scale "
                "(implicit in section VI)", verdict,
                f"logits / {temperature:g}: median fixed-c CW L2 {fin(a)} (not broken {int(torch.isinf(a).sum())}) "
                f"vs {fin(b)} (not broken {int(torch.isinf(b).sum())}) with the same decisions; sign test: {v.detail}")


def qualitative_claim(statement: str, what_we_see: str) -> dict:
    """A statement the report makes without a number: we show the evidence, and cannot judge it."""
    return _row(statement, UNJUDGED, f"the report gives no number; we see: {what_we_see}")
