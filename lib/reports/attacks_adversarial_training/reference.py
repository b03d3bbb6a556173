"""Report 002's published numbers ("Data Science Project - Adversarial Networks", A. Castro Ros,
A. Ben Mansour, L. Bouskila, December 2020; ``002_e1809080d7eea151.txt`` in ../shared/reports/),
transcribed from its text, and the quotes of its claims. Accuracy in %, on CIFAR-10, L-inf eps
in pixel units ([0, 1]). Nothing here is computed; the notebook sets these beside its own numbers."""
from __future__ import annotations

from lib.verdicts import Quote

TITLE = "Data Science Project - Adversarial Networks"
FILE = "002_e1809080d7eea151.txt"
DATASET = "CIFAR-10"

#: Section 1.2: test accuracy of the base model; section 1.1: the training split (50,000 images).
REPORT_BASE_ACCURACY = 87.75
REPORT_N_TRAIN = 50000
#: Section 2.3: the sweeps are scored over the test images the base model classifies correctly.
REPORT_N_CORRECT, REPORT_N_TEST = 8805, 10000

#: Table 1 (section 2.3): eps grid and accuracy (%) over the 8805 correctly classified images.
REPORT_TABLE1_EPS = (0.001, 0.01, 0.05, 0.1, 0.3, 0.5)
REPORT_TABLE1: dict[tuple[str, float], float] = {
    **dict(zip((("FGSM", e) for e in REPORT_TABLE1_EPS), (84.61, 54.05, 22.0, 21.74, 20.57, 13.77))),
    **dict(zip((("PGD", e) for e in REPORT_TABLE1_EPS), (27.75, 12.47, 7.71, 7.75, 7.79, 7.89))),
}
#: Section 2.3, text: "7.6 % for eps = 0.05 (678 images correctly classified)" under PGD,
#: where Table 1 has 7.71 (678 / 8805 = 7.70 %); FGSM at eps 0.05 falls to 22.0 %, and at
#: eps 0.5 leaves 1212 images (13.77 %).
REPORT_TEXT_FGSM_005 = 22.0
REPORT_TEXT_FGSM_05 = 13.77
REPORT_TEXT_PGD_005 = 7.6
REPORT_TEXT_PGD_005_IMAGES = 678
REPORT_TEXT_FGSM_05_IMAGES = 1212

#: Table 2 (section 3.1): (attack, defense, eps) -> accuracy (%). "AT-FGSM" / "AT-PGD" are the
#: report's "Adversarial Training (vs FGSM)" / "(vs PGD)"; "no defense" its "Without Defense".
REPORT_TABLE2_EPS = (0.01, 0.05)
REPORT_TABLE2: dict[tuple[str, str, float], float] = {
    ("FGSM", "no defense", 0.01): 47.95, ("FGSM", "no defense", 0.05): 7.31,
    ("FGSM", "AT-FGSM", 0.01): 68.53, ("FGSM", "AT-FGSM", 0.05): 43.15,
    ("FGSM", "AT-PGD", 0.01): 68.74, ("FGSM", "AT-PGD", 0.05): 16.92,
    ("PGD", "no defense", 0.01): 57.99, ("PGD", "no defense", 0.05): 0.0,
    ("PGD", "AT-FGSM", 0.01): 88.32, ("PGD", "AT-FGSM", 0.05): 3.55,
    ("PGD", "AT-PGD", 0.01): 91.28, ("PGD", "AT-PGD", 0.05): 13.33,
}

#: Sections 2.1-2.2, Figures 2-3: one test image, (predicted class, confidence %).
REPORT_EXAMPLE = {"clean": ("horse", 48.65), "FGSM": ("cat", 61.76), "PGD": ("cat", 99.99)}

#: Section 3.2: std of the Gaussian-noise layers (after Lecuyer et al. 2019). Figures 6-7 give
#: no numbers: "the overall accuracy is slightly lower for the model with Gaussian noise".
REPORT_NOISE_SIGMA = 0.05

#: Section 3.3: contrastive margin (eq. 5), references per class of the 1-NN rule, the 1-NN
#: rule's clean accuracy ("80 % accuracy before attack"), and the eps of its latent-space
#: observation after an FGSM attack. The report gives no accuracy of the 1-NN rule under attack:
#: "similar accuracy after our attacks" compares it with the model without any defense.
REPORT_CONTRASTIVE_ALPHA = 2.0
REPORT_CONTRASTIVE_WEIGHT = 1.0
REPORT_REFS_PER_CLASS = 5
REPORT_NN_CLEAN = 80.0
REPORT_NN_EPS = 0.01

#: Every claim the report makes about its results, in its own words (id -> section, quote);
#: ``verdicts.claims`` says what each implies and how it is judged. The single-image examples of
#: Figures 2-3 and the passages our observations rest on are quoted below, apart.
QUOTES: dict[str, Quote] = {
    "base_clean": Quote("1.2 Model", "After all of these improvements, we obtained a base model that reaches an "
                                     "accuracy of 87.75% over the test dataset."),
    "fgsm_005": Quote("2.3 Performance comparison", "with a perturbation in the gradient direction with "
                                                    "$\\varepsilon = 0.05$, the accuracy already falls to 22.0%."),
    "fgsm_05": Quote("2.3 Performance comparison", "The lowest accuracy (13.77%) is obtained for $\\varepsilon = 0.5$ "
                                                   "(with 1212 well classified images)."),
    "pgd_005": Quote("2.3 Performance comparison", "we obtain an accuracy of only 7.6% for $\\varepsilon = 0.05$ "
                                                   "(678 images correctly classified)."),
    "pgd_stronger": Quote("2.3 Performance comparison", "PGD is an iterative process; that makes it more effective "
                                                        "than FGSM"),
    "at_higher_vs_fgsm": Quote("3.1 Adversarial Training", "We can observe that we get much higher accuracy when "
                                                           "defending over the FGSM attack."),
    "at_mitigates": Quote("4 Conclusions", "gradient based attacks are a very simple approach that yield to quite "
                                           "good results, but whose effects can be mitigated by adversarial "
                                           "training."),
    "noise_slightly_lower": Quote("3.2 Defense Based on Gaussian Noise",
                                  "the results obtained after FGSM attacks were not as good as expected (Figure 6), "
                                  "since the overall accuracy is slightly lower for the model with Gaussian noise"),
    "noise_dense_similar": Quote("3.2 Defense Based on Gaussian Noise",
                                 "However, the results were very similar as with the first approach, as it can be "
                                 "seen in Figure 7."),
    "noise_not_enough": Quote("4 Conclusions", "the addition of Gaussian noise to our base model (based on "
                                               "Convolutional layers), did not provide a good enough defense method "
                                               "against gradient based attacks"),
    "nn_clean": Quote("3.3 Defense Based on Latent Representation", "80% accuracy before attack"),
    "contrastive_no_more_robust": Quote(
        "3.3 Defense Based on Latent Representation",
        "We obtained results really close to the results we got without adversarial training at all (80% accuracy "
        "before attack and similar accuracy after our attacks). Hence, we tried to understand why our intuition was "
        "wrong."),
    "fgsm_crosses_clusters": Quote("3.3 Defense Based on Latent Representation",
                                   "an example in the middle of the red cluster might end up in the middle of the "
                                   "blue cluster after an FGSM attack."),
    "attacked_closer": Quote("3.3 Defense Based on Latent Representation",
                             "Moreover, the distance between an image and its $1 - NN$ is, on average, greater than "
                             "the distance between the attacked image and its $1 - NN$."),
    "contrastive_not_satisfying": Quote("4 Conclusions", "Even if the results were not very satisfying, the approach "
                                                         "is still promising"),
}

#: Passages our observations rest on (not claims about results).
QUOTE_N_CORRECT = Quote("2.3 Performance comparison",
                        "the validation accuracies values are calculated over the images that were correctly "
                        "classified by our base model (8805 images on the 10K test set)")
QUOTE_EXAMPLE = Quote("2.1 FGSM attack", "our model correctly classified the original image as a horse (with 48.65% "
                                         "of confidence)")
QUOTE_DENSE_ONLY = Quote("4 Conclusions", "(unlike for simpler models based only on dense layers)")
QUOTE_FIGURE7_TEXT = Quote("3.2 Defense Based on Gaussian Noise",
                           "we considered a model with a Gaussian noise layer between the two dense layers")
QUOTE_FIGURE7_CAPTION = Quote("3.2 Defense Based on Gaussian Noise",
                              "Figure 7: Performance under FGSM attack for our base model (**blue**) and a model with "
                              "Gaussian noise in the first Convolutional layer (**red**).")
