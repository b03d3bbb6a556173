"""Report 000's published numbers ("A study and implementation of ABS (Analysis By Synthesis)
model on Cifar-10"; ``000_b6b5692b2b10a99d.txt`` in ../shared/reports/), transcribed from its
text. Accuracies are fractions over all test images (a misclassified clean image counts as
broken at eps 0, section C); eps is L2 in pixel units ([0, 1]). Nothing here is computed."""
from __future__ import annotations

from lib.verdicts import Quote

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

#: Training set size of CIFAR-10: the report trains on all of it (section C: "on CIFAR 10").
REPORT_N_TRAIN = 50000

#: Every claim the report makes about its results, in its own words (id -> section, quote);
#: ``claims.py`` says what each implies and how it is judged. Restatements (section E's "it
#: does not perform according to standards when the domain changes", D's "it's accuracy drops
#: to 45%") are the same claims as the ones quoted here.
QUOTES: dict[str, Quote] = {
    "dla_clean": Quote("C. Experimental Settings",
                       "We train this classifier for 25 epochs and obtain an accuracy of 85.46 on test data."),
    "abs_clean": Quote("C. Experimental Settings",
                       "Later we train the ABS on the same and achieve an accuracy of 45.38 on 25 epochs"),
    "abs_poor_classifier": Quote("D. Results", "ABS performs poorly on the CIFAR 10 dataset as a classifier"),
    "FGSM": Quote("D. Results", "On FGSM attack, having perturbation 0.1, the Accuracy of the DLA classifier drops "
                                "to 0.177 whereas on ABS, it drops to 0.257."),
    "I-FGSM": Quote("D. Results", "On IFGSM attack, the accuracy of the former, accounts to 0.143 and that of the "
                                  "latter to 0.22."),
    "PGD": Quote("D. Results", "On PGD-L2, DLA has accuracy of 0.122 and ABS has accuracy of 0.20."),
    "abs_more_robust": Quote("D. Results", "although the classification accuracy of ABS is poor, it definitely "
                                           "performs considerably better against attacks compared to the DLA."),
    "dla_drops_more": Quote("D. Results", "The drop in the accuracy is found to be huge in comparison with that "
                                          "of ABS."),
    "abs_robust": Quote("E. Conclusion", "Compared to DLA classifier or any clean CNN architecture, ABS certainly "
                                         "performs better and is robust to perturbations caused even if it is not "
                                         "that applaudable."),
}

#: Section E compares ABS on CIFAR-10 with ABS on MNIST under attack; the report attacks
#: nothing on MNIST (an observation, not a claim we can measure).
QUOTE_MNIST = Quote("E. Conclusion", "although it is a poor classifier on CIFAR-10, compared to MNIST, it exhibits "
                                     "a better performance when attacked.")
