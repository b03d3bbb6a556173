"""Report 000's claims judged on a run, and its internal contradictions read off its own text.

A verdict is "holds" or "does not hold" only where the evidence is beyond sampling noise
(exact McNemar test for ABS vs DLA on the same images, Clopper-Pearson intervals otherwise;
:mod:`lib.stats`); otherwise, and whenever a model is no better than chance or the data are a
synthetic stand-in, it is "cannot be judged at this profile".
"""
from __future__ import annotations

import pandas as pd
import torch

from lib import evaluate, stats
from lib.reports.abs_cifar import reference as ref


def gate(dataset: str, clean: dict[str, tuple[int, int]], chance: float) -> str | None:
    """Why no claim can be judged on this run (None: they can): synthetic data or a model at chance."""
    if dataset.startswith("synthetic"):
        return "synthetic stand-in data, not CIFAR-10"
    weak = [m for m, (k, n) in clean.items() if not evaluate.above_chance(k / n, n, chance)]
    return f"{', '.join(weak)} no better than chance" if weak else None


def _row(claim: str, evaluation: str, verdict: str, evidence: str, interval: str = "") -> dict:
    return {"claim": claim, "evaluation": evaluation, "verdict": verdict, "interval": interval,
            "evidence": evidence}


def abs_more_robust(abs_robust: torch.Tensor, dla_robust: torch.Tensor, eps: float, evaluation: str,
                    why_not: str | None) -> dict:
    """The report's "ABS performs considerably better against attacks than DLA": ABS keeps more
    test images correct than DLA at ``eps`` (per-image flags over the same images, McNemar)."""
    v = stats.verdict_paired(abs_robust, dla_robust, names=("ABS", "DLA"))
    ka, kd, n = int(abs_robust.sum()), int(dla_robust.sum()), len(abs_robust)
    interval = (f"ABS {stats.format_interval(ka / n, *stats.clopper_pearson(ka, n))}, "
                f"DLA {stats.format_interval(kd / n, *stats.clopper_pearson(kd, n))}")
    verdict = stats.UNJUDGED if why_not else stats.decide(v.status == "supported", v.status == "refuted")
    evidence = f"eps {eps:g}: {v.detail}" + (f" ({why_not})" if why_not else "")
    return _row(ref.CLAIMS["abs_more_robust"] + f", L2 eps {eps:g}", evaluation, verdict, evidence, interval)


def kept_fraction(abs_k: int, abs_clean: int, dla_k: int, dla_clean: int, eps: float, evaluation: str,
                  why_not: str | None) -> dict:
    """The fair form of "ABS keeps more accuracy": the share of its *correctly classified* images
    each model keeps at ``eps``; holds when ABS's interval lies wholly above DLA's."""
    a, d = stats.clopper_pearson(abs_k, abs_clean), stats.clopper_pearson(dla_k, dla_clean)
    fa, fd = abs_k / max(abs_clean, 1), dla_k / max(dla_clean, 1)
    verdict = stats.UNJUDGED if why_not else stats.decide(a[0] > d[1], a[1] < d[0])
    interval = f"ABS {stats.format_interval(fa, *a)}, DLA {stats.format_interval(fd, *d)}"
    evidence = (f"eps {eps:g}: ABS keeps {abs_k} of its {abs_clean} correct images, DLA {dla_k} of {dla_clean}; "
                "holds only if the intervals do not overlap" + (f" ({why_not})" if why_not else ""))
    return _row(f"ABS keeps a larger share of its correctly classified images than DLA, L2 eps {eps:g}",
                evaluation, verdict, evidence, interval)


def poor_classifier(abs_correct: torch.Tensor, dla_correct: torch.Tensor, why_not: str | None) -> dict:
    """"ABS is a poor classifier on CIFAR-10": DLA is more accurate than ABS on clean images."""
    v = stats.verdict_paired(dla_correct, abs_correct, names=("DLA", "ABS"))
    verdict = stats.UNJUDGED if why_not else stats.decide(v.status == "supported", v.status == "refuted")
    n = len(abs_correct)
    ka, kd = int(abs_correct.sum()), int(dla_correct.sum())
    interval = (f"ABS {stats.format_interval(ka / n, *stats.clopper_pearson(ka, n))}, "
                f"DLA {stats.format_interval(kd / n, *stats.clopper_pearson(kd, n))}")
    return _row(ref.CLAIMS["abs_poor_classifier"], "clean", verdict,
                v.detail + (f" ({why_not})" if why_not else ""), interval)


def contradictions() -> pd.DataFrame:
    """The report's inconsistencies, each computed from the transcribed numbers (not from a run)."""
    t2, text = ref.REPORT_TABLE2, ref.REPORT_TEXT_DLA_EPS01
    rows = [
        {"where": "Table 2 caption",
         "what": f"captioned \"{ref.REPORT_TABLE2_CAPTION_HEADER}\" although Table 2 holds DLA's numbers"},
        {"where": "section D vs Table 2",
         "what": "DLA at eps 0.1 in the text: " + " / ".join(f"{a} {text[a]:g}" for a in ref.ATTACKS)
                 + "; in Table 2: " + " / ".join(f"{a} {t2[(a, 0.1)]:g}" for a in ref.ATTACKS)
                 + f"; {sum(text[a] != t2[(a, 0.1)] for a in ref.ATTACKS)} of 3 disagree"},
        {"where": "Table 2",
         "what": f"DLA's PGD at eps 0.1 ({t2[('PGD', 0.1)]:g}) leaves more accuracy than its FGSM "
                 f"({t2[('FGSM', 0.1)]:g}) and I-FGSM ({t2[('I-FGSM', 0.1)]:g}): an iterative attack whose "
                 "first step is the gradient step should not be weaker"},
        {"where": "abstract vs section C",
         "what": f"promises {', '.join(ref.REPORT_PROMISED_ATTACK_KINDS)} attacks; runs only "
                 f"{', '.join(ref.REPORT_RUN_ATTACK_KINDS)} ones ({', '.join(ref.ATTACKS)})"},
        {"where": "section D",
         "what": f"\"ABS keeps more accuracy\" compares models whose clean accuracies differ by "
                 f"{ref.REPORT_CLEAN['DLA'] - ref.REPORT_CLEAN['ABS']:.2f} points; as a share of its correct "
                 f"images ABS keeps {ref.REPORT_TABLE1[('PGD', 0.1)] / (ref.REPORT_CLEAN['ABS'] / 100):.2f} under "
                 f"PGD at 0.1, DLA {t2[('PGD', 0.1)] / (ref.REPORT_CLEAN['DLA'] / 100):.2f} (Table 2) or "
                 f"{text['PGD'] / (ref.REPORT_CLEAN['DLA'] / 100):.2f} (text)"},
    ]
    return pd.DataFrame(rows)
