"""Report 001's published numbers ("Augmenting robustness using adversarial detection",
``001_f6812e576f281240.txt`` in ../shared/reports/), transcribed from its text."""
from __future__ import annotations

#: Tables 3-5 (accuracy %): attack -> (no defense, PuVAE, ours, ours worst over eps).
REPORT_TABLES: dict[str, dict[str, tuple]] = {
    "mnist": {"none": (99.2, 97.2, 97.2, None), "FGSM": (23.2, 82.9, 99.8, 96.2),
              "BIM": (0.2, 93.9, 93.9, 93.9), "PGD": (0.0, 86.4, 96.9, 93.0)},
    "fashion_mnist": {"none": (92.2, 82.5, 82.1, None), "FGSM": (25.4, 55.6, 87.9, 74.2),
                      "BIM": (20.9, 77.8, 77.5, 77.5), "PGD": (1.6, 67.3, 77.1, 73.2)},
    "cifar10": {"none": (80.2, 42.3, 41.7, None), "FGSM": (11.4, 25.3, 30.4, 30.4),
                "BIM": (4.7, 31.7, 34.9, 34.9), "PGD": (0.2, 35.1, 37.1, 37.1)},
}
#: Table number of each dataset in the report.
TABLE_NUMBER = {"mnist": 3, "fashion_mnist": 4, "cifar10": 5}
#: Section 4: mean best-reconstruction RMSE on MNIST, clean and PGD eps 0.3.
REPORT_RMSE = {"mnist": (0.04, 0.13)}
#: Section 5.4 / Figure 8: on MNIST at the worst eps, 1.8 % to 18.3 % of predictions
#: equal the adversarial label, depending on the attack.
REPORT_FIG8_MNIST = (1.8, 18.3)
#: Table 1: classifier (batch size, epochs, test accuracy %); Table 2: CVAE (batch, epochs, z).
REPORT_TABLE1 = {"mnist": (128, 64, 99.2), "fashion_mnist": (128, 256, 92.2), "cifar10": (64, 350, 80.2)}
REPORT_TABLE2 = {"mnist": (512, 350, 32), "fashion_mnist": (512, 350, 128), "cifar10": (256, 1024, 1024)}
REPORT_CLEAN = {k: v[2] for k, v in REPORT_TABLE1.items()}
#: Which report dataset a synthetic stand-in is compared with (smoke profile only).
REFERENCE_OF = {"mnist": "mnist", "fashion_mnist": "fashion_mnist", "cifar10": "cifar10",
                "synthetic28": "fashion_mnist", "synthetic32": "cifar10"}
ATTACK_NAMES = ("FGSM", "BIM", "PGD")


def table_name(dataset: str) -> str:
    """``table3_mnist`` / ``table4_fashion_mnist`` / ``table5_cifar10``; ``table_<name>`` otherwise."""
    n = TABLE_NUMBER.get(dataset)
    return f"table{n}_{dataset}" if n else f"table_{dataset}"


def published_quality(dataset: str) -> dict[str, float | None]:
    """What the report publishes about its PuVAE's quality on ``dataset`` (for
    :func:`lib.reports.puvae_detector.verdicts.model_checks`): ``report_puvae``, PuVAE's clean
    accuracy % (Tables 3-5), and ``report_rmse``, the mean clean best-RMSE (section 4, MNIST
    only). None where the report gives no number, and for every synthetic stand-in."""
    table = REPORT_TABLES.get(dataset)
    return {"report_puvae": table["none"][1] if table else None,
            "report_rmse": REPORT_RMSE.get(dataset, (None, None))[0]}
