"""Report 000's published numbers ("A study and implementation of ABS (Analysis By Synthesis)
model on Cifar-10"; ``000_b6b5692b2b10a99d.txt`` in ../shared/reports/), transcribed from its
text. Accuracies are fractions over all test images (a misclassified clean image counts as
broken at eps 0, section C); eps is L2 in pixel units ([0, 1]). Nothing here is computed."""
from __future__ import annotations

TITLE = "A study and implementation of ABS (Analysis By Synthesis) model on Cifar-10"
FILE = "000_b6b5692b2b10a99d.txt"
DATASET = "CIFAR-10"

#: Section C: both models trained for 25 epochs; clean test accuracy in %.
REPORT_EPOCHS = 25
REPORT_CLEAN = {"ABS": 45.38, "DLA": 85.46}
#: Section C: the L2 eps grid of Tables 1-2.
REPORT_EPS = (0.1, 0.2, 0.3)
ATTACKS = ("FGSM", "I-FGSM", "PGD")   # the report's names; in L2, "FGSM" is the fast gradient method

#: Table 1 (ABS) and Table 2 (DLA; the report captions it "Clean Accuracy ABS = 45"):
#: (attack, eps) -> accuracy (fraction).
REPORT_TABLE1: dict[tuple[str, float], float] = {
    ("FGSM", 0.1): 0.257, ("I-FGSM", 0.1): 0.22, ("PGD", 0.1): 0.20,
    ("FGSM", 0.2): 0.2, ("I-FGSM", 0.2): 0.19, ("PGD", 0.2): 0.14,
    ("FGSM", 0.3): 0.166, ("I-FGSM", 0.3): 0.14, ("PGD", 0.3): 0.10,
}
REPORT_TABLE2: dict[tuple[str, float], float] = {
    ("FGSM", 0.1): 0.17, ("I-FGSM", 0.1): 0.123, ("PGD", 0.1): 0.23,
    ("FGSM", 0.2): 0.143, ("I-FGSM", 0.2): 0.09, ("PGD", 0.2): 0.132,
    ("FGSM", 0.3): 0.135, ("I-FGSM", 0.3): 0.074, ("PGD", 0.3): 0.063,
}
#: Table 2's caption, verbatim: it names ABS although the table holds DLA's numbers.
REPORT_TABLE2_CAPTION_HEADER = "Clean Accuracy ABS = 45"
#: Section D, text: DLA at eps 0.1 under FGSM, I-FGSM and PGD-L2 (they match no column of
#: Table 2 at eps 0.1: 0.17 / 0.123 / 0.23), and ABS at eps 0.1 (these match Table 1).
REPORT_TEXT_DLA_EPS01 = {"FGSM": 0.177, "I-FGSM": 0.143, "PGD": 0.122}
REPORT_TEXT_ABS_EPS01 = {"FGSM": 0.257, "I-FGSM": 0.22, "PGD": 0.20}

#: The abstract promises "Decision-based attacks, Gradient-based attacks and Score-based
#: attacks"; section C runs only the three gradient attacks above.
REPORT_PROMISED_ATTACK_KINDS = ("decision-based", "gradient-based", "score-based")
REPORT_RUN_ATTACK_KINDS = ("gradient-based",)

#: The claims the notebook judges (section D and E).
CLAIMS = {
    "abs_more_robust": "ABS performs considerably better against attacks than DLA (section D, E)",
    "abs_poor_classifier": "ABS is a poor classifier on CIFAR-10 (45 % vs DLA's 85 %, section C-D)",
    "dla_drops_more": "DLA's drop in accuracy under attack is huge in comparison with ABS's (section D)",
}
