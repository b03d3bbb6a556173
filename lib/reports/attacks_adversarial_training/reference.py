"""Report 002's published numbers ("Data Science Project - Adversarial Networks", A. Castro Ros,
A. Ben Mansour, L. Bouskila, December 2020; ``002_e1809080d7eea151.txt`` in ../shared/reports/),
transcribed from its text. Accuracy in %, on CIFAR-10, L-inf eps in pixel units ([0, 1]).
Nothing here is computed; the notebook sets these beside its own numbers."""
from __future__ import annotations

TITLE = "Data Science Project - Adversarial Networks"
FILE = "002_e1809080d7eea151.txt"
DATASET = "CIFAR-10"

#: Section 1.2: test accuracy of the base model.
REPORT_BASE_ACCURACY = 87.75
#: Section 2.3: the sweeps are scored over the test images the base model classifies correctly.
REPORT_N_CORRECT, REPORT_N_TEST = 8805, 10000

#: Table 1 (section 2.3): eps grid and accuracy (%) over the 8805 correctly classified images.
REPORT_TABLE1_EPS = (0.001, 0.01, 0.05, 0.1, 0.3, 0.5)
REPORT_TABLE1: dict[tuple[str, float], float] = {
    **dict(zip((("FGSM", e) for e in REPORT_TABLE1_EPS), (84.61, 54.05, 22.0, 21.74, 20.57, 13.77))),
    **dict(zip((("PGD", e) for e in REPORT_TABLE1_EPS), (27.75, 12.47, 7.71, 7.75, 7.79, 7.89))),
}
#: Section 2.3, text: "7.6 % for eps = 0.05 (678 images correctly classified)" under PGD,
#: where Table 1 has 7.71 (678 / 8805 = 7.70 %); FGSM at eps 0.5 leaves 1212 images (13.77 %).
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

#: Section 3.3: contrastive margin (eq. 5), references per class of the 1-NN rule, and
#: "80 % accuracy before attack and similar accuracy after our attacks"; the latent-space
#: observation after an FGSM attack at eps 0.01.
REPORT_CONTRASTIVE_ALPHA = 2.0
REPORT_REFS_PER_CLASS = 5
REPORT_NN_CLEAN = 80.0
REPORT_NN_ATTACKED = 80.0
REPORT_NN_EPS = 0.01
