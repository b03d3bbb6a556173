"""Report 001's published numbers and the quotes of its claims ("Augmenting robustness using
adversarial detection"; ``001_f6812e576f281240.txt`` in ../shared/reports/), transcribed from its
text. Accuracies in Tables 1 and 3-5 are percentages as printed; eps is L-inf in pixel units
([0, 1]). Nothing here is computed.

Every claim the report makes about its results is in :data:`QUOTES` (id -> section, verbatim
text); ``verdicts.claims`` says what each implies and how it is judged. Sentences that restate a
quoted claim are the same claim: the conclusion's "against a small performance penalty, ... can
be used to increase the robustness of the PuVAE pre-processing technique on simple datasets like
MNIST and Fashion-MNIST against both FGSM and PGD attacks" (the abstract's claim and the cost
claim), 5.1's "The specific performance penalties can be observed ..." (the cost claim), 5.2's
"downward pressure on the value of ϵ for some but not all attacks" and 6's "places an upper bound
on the optimal value of ϵ" (the pressure claim), 1's "the robustness comes at a significant
expense of clean accuracy on more complex datasets" (the CIFAR-10 clean-accuracy claim). Not
claims about its results: the background of sections 2-3 (other papers' findings), 5.1's remark
that the threshold "is crucial", 5.3's reading of DefenseGAN's results in [8], and 5.4's view of
detection as a side-step.
"""
from __future__ import annotations

from lib.verdicts import Quote

TITLE = "Augmenting robustness using adversarial detection"
FILE = "001_f6812e576f281240.txt"

#: The report's datasets, its names for them and the table of each (Tables 3-5).
DATASETS = ("mnist", "fashion_mnist", "cifar10")
LABEL = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}
TABLE_NUMBER = {"mnist": 3, "fashion_mnist": 4, "cifar10": 5}
#: Abstract, section 6: the "simple datasets" on which the detector raises robustness.
SIMPLE = ("mnist", "fashion_mnist")

#: Tables 3-5 (accuracy %): attack -> (no defense, PuVAE, ours, ours worst over eps).
REPORT_TABLES: dict[str, dict[str, tuple[float, float, float, float | None]]] = {
    "mnist": {"none": (99.2, 97.2, 97.2, None), "FGSM": (23.2, 82.9, 99.8, 96.2),
              "BIM": (0.2, 93.9, 93.9, 93.9), "PGD": (0.0, 86.4, 96.9, 93.0)},
    "fashion_mnist": {"none": (92.2, 82.5, 82.1, None), "FGSM": (25.4, 55.6, 87.9, 74.2),
                      "BIM": (20.9, 77.8, 77.5, 77.5), "PGD": (1.6, 67.3, 77.1, 73.2)},
    "cifar10": {"none": (80.2, 42.3, 41.7, None), "FGSM": (11.4, 25.3, 30.4, 30.4),
                "BIM": (4.7, 31.7, 34.9, 34.9), "PGD": (0.2, 35.1, 37.1, 37.1)},
}
#: The eps (L-inf) of Tables 3-5.
REPORT_EPS = {"mnist": 0.3, "fashion_mnist": 0.3, "cifar10": 0.06}
#: The columns of Tables 3-5, in order.
COLUMNS = ("no defense", "PuVAE", "ours", "ours worst")
#: Section 4: mean best-reconstruction RMSE on MNIST, clean and under PGD at eps 0.3.
REPORT_RMSE = {"mnist": (0.04, 0.13)}
#: Section 5.4 / Figure 8: on MNIST at each attack's worst eps, 1.8 % to 18.3 % of the
#: predictions are the "adversarial" label, depending on the attack.
REPORT_FIG8_MNIST = (1.8, 18.3)
#: Table 1: classifier (batch size, epochs, test accuracy %); Table 2: CVAE (batch, epochs, z).
REPORT_TABLE1 = {"mnist": (128, 64, 99.2), "fashion_mnist": (128, 256, 92.2), "cifar10": (64, 350, 80.2)}
REPORT_TABLE2 = {"mnist": (512, 350, 32), "fashion_mnist": (512, 350, 128), "cifar10": (256, 1024, 1024)}
REPORT_CLEAN = {k: v[2] for k, v in REPORT_TABLE1.items()}
#: Which report dataset each dataset is compared with (synthetic stand-ins: smoke profile; the JPEG copy: CIFAR-10).
REFERENCE_OF = {"mnist": "mnist", "fashion_mnist": "fashion_mnist", "cifar10": "cifar10", "cifar10_jpeg": "cifar10",
                "synthetic28": "fashion_mnist", "synthetic32": "cifar10"}
ATTACK_NAMES = ("FGSM", "BIM", "PGD")

_ROWS = {"none": "No Attack", "FGSM": "FGSM", "BIM": "BIM", "PGD": "PGD"}


def _row_quote(dataset: str, row: str) -> Quote:
    """A row of Tables 3-5 as it stands in the text (cells separated by whitespace)."""
    cells = [f"{v:g}" if isinstance(v, float) and v != int(v) else f"{v:.1f}" for v in REPORT_TABLES[dataset][row]
             if v is not None]
    tail = " -" if row == "none" else ""
    return Quote(f"Table {TABLE_NUMBER[dataset]}", " ".join([_ROWS[row], *cells]) + tail)


def _table1_quote(dataset: str) -> Quote:
    batch, epochs, acc = REPORT_TABLE1[dataset]
    clf = "B" if dataset == "cifar10" else "A"
    name = {"mnist": "MNIST", "fashion_mnist": "F-MNIST", "cifar10": "CIFAR-10"}[dataset]
    return Quote("Table 1", f"{clf} {name} {batch} {epochs} {acc:g}%")


#: Every claim the report makes about its results, in its own words.
QUOTES: dict[str, Quote] = {
    "increase": Quote("Abstract", "We find that this extension increases the model's robustness against FGSM and "
                                  "PGD attacks on simple datasets like MNIST and Fashion-MNIST."),
    "match_or_increase": Quote("5.3 Defense performance",
                               "With only one exception, our proposed method successfully manages to either match "
                               "or increase the robustness of PuVAE across all datasets and attacks."),
    "bim_negligible": Quote("5.3 Defense performance",
                            "while BIM attacks show a difference in robustness so small as to be negligible"),
    "cost": Quote("5.4 A note on adversarial detection",
                  "there is an additional price to this benefit other than a small decrease in clean accuracy"),
    "rmse_higher": Quote("4 Proposed method", "we found that the error was generally significantly higher for "
                                              "adversarial inputs compared to clean inputs"),
    "detectable": Quote("4 Proposed method", "the distance between the original input and the PuVAE reconstruction "
                                             "can be used as a measure of the likelihood of the input being "
                                             "adversarial"),
    "pressure": Quote("4 Proposed method", "we find that for some attacks, the detector exerts a downward pressure on "
                                           "the optimal value of ϵ due to the fact that high values of ϵ usually "
                                           "produce attacks which are more easily detected"),
    "better_reconstructions": Quote("4 Proposed method", "this downward pressure results in better reconstructions by "
                                                         "PuVAE which are, in turn, more likely to be classified "
                                                         "correctly"),
    "pgd_optimum": Quote("5.2 Influence of threshold on attacks",
                         "in the case of PGD, we found the optimal attack to use a value of ϵ slightly higher than t "
                         "with robustness then sharply"),
    "fgsm_t_minus_delta": Quote("5.2 Influence of threshold on attacks",
                                "We attempted to verify this empirically, but only found it to be somewhat the case "
                                "for FGSM"),
    "bim_decreasing": Quote("5.2 Influence of threshold on attacks",
                            "For BIM, increasing values of ϵ continued to reliably produce decreases in robustness, "
                            "even after introducing the detector."),
    "fig8_range": Quote("5.4 A note on adversarial detection",
                        "Figure 8 shows that in the case of MNIST, the percentage of attacks classified as adversarial "
                        "for the optimal value of ϵ is between 1.8% and 18.3% depending on the type of attack."),
    "discarded": Quote("5.4 A note on adversarial detection",
                       "some attacks which would have otherwise resulted in a correct ground truth classification "
                       "will instead be marked as adversarial and discarded"),
    "complex_error": Quote("5.1 Threshold selection", "since the average reconstruction error is significantly "
                                                      "higher in this context"),
    "cifar_pass": Quote("5.3 Defense performance", "This, in turn, means that most attacks easily pass the detector "
                                                   "stage."),
    "cifar_drop": Quote("5.3 Defense performance", "When applying our method to CIFAR-10, we see a sharp drop in both "
                                                   "clean accuracy and robustness"),
    "clean_expense": Quote("6 Conclusion", "For complex datasets, we found that PuVAE incurred a dramatic decrease in "
                                           "clean accuracy."),
    "l2_vs_linf": Quote("2.2 Formalizing adversarial examples",
                        "During our experiments, we found no significant difference between attacks using L_2 and "
                        "L_∞"),
    "both_methods": Quote("1 Introduction", "We find that our defense is able to improve on the robustness of both of "
                                            "these methods."),
    "over_magnet": Quote("4 Proposed method", "The benefit of this approach over MagNet is a significantly increased "
                                              "robustness to white box attacks due to the use of PuVAE."),
    **{f"table1_{d}": _table1_quote(d) for d in DATASETS},
    **{f"table{TABLE_NUMBER[d]}_{row}": _row_quote(d, row) for d in DATASETS for row in _ROWS},
}

#: Section 4's reconstruction error, the baseline of the CVAE gate (the only RMSE it gives).
QUOTE_RMSE = Quote("4 Proposed method", "the average RMSE between clean MNIST inputs and the reconstruction "
                                        "minimizing their RMSE was 0.04 while it was 0.13 for adversarial inputs")
#: Section 5: what the report says it evaluates (an observation: its attacks behave as transfer attacks).
QUOTE_WHITE_BOX = Quote("5 Evaluation", "we evaluate our proposed method against white box attacks")
#: 5.1 calls Fashion-MNIST complex; the abstract and section 6 call it simple.
QUOTE_COMPLEX = Quote("5.1 Threshold selection", "For the more complex datasets, Fashion-MNIST and CIFAR-10")


def table_name(dataset: str) -> str:
    """``table3_mnist`` / ``table4_fashion_mnist`` / ``table5_cifar10``; ``table_<name>`` otherwise."""
    n = TABLE_NUMBER.get(dataset)
    return f"table{n}_{dataset}" if n else f"table_{dataset}"
