"""Parameters of notebooks/library_tour.py: the attack library on one small CNN."""
from __future__ import annotations

from lib.params import DatasetName, count, device, epochs, eps, eps_list, positive, seed

PARAMS = {
    "seed": seed(), "device": device(),
    "dataset": DatasetName(doc="training and test data"),
    "n_train": count("training images (class-stratified subset)"),
    "n_test": count("test images (class-stratified subset)"),
    "width": count("first-layer filters of the SmallCNN"),
    "epochs": epochs(), "batch_size": count("mini-batch size"),
    "lr": positive("SGD learning rate (cosine schedule)"),
    "eps": eps_list("L-inf eps grid of the sweep; 0 is the clean accuracy", zero=True),
    "large_eps": eps("eps of the 'accuracy falls to chance' sanity check"),
    "pgd_steps": count("PGD / BIM iterations"),
    "pgd_restarts": count("PGD random restarts"),
    "n_cw": count("test images given to Carlini-Wagner"),
    "cw_c": positive("CW's initial constant c"), "cw_lr": positive("CW's Adam learning rate"),
    "cw_steps": count("CW iterations per binary-search step"),
    "cw_binary_search_steps": count("CW binary-search steps over c"),
}


_COMMON = dict(seed=0, device="auto", width=32, batch_size=128, lr=0.05,
               pgd_restarts=1, cw_c=1.0, cw_lr=0.01)

PROFILES = {
    "smoke": dict(_COMMON, dataset="synthetic28", n_train=2000, n_test=200, epochs=1, width=16,
                  eps=[0.0, 0.05, 0.1, 0.2, 0.3], large_eps=0.5, pgd_steps=5,
                  n_cw=40, cw_steps=30, cw_binary_search_steps=2),
    # Within 90 s on a 2-core CPU: 400 test images give a 95 % interval of at most +-5 points.
    "quick": dict(_COMMON, dataset="fashion_mnist", n_train=10000, n_test=400, epochs=2,
                  eps=[0.0, 0.01, 0.02, 0.05, 0.1, 0.2], large_eps=0.5, pgd_steps=10,
                  n_cw=100, cw_steps=100, cw_binary_search_steps=3),
    "paper": dict(_COMMON, dataset="fashion_mnist", n_train=60000, n_test=10000, epochs=10,
                  eps=[0.0, 0.01, 0.02, 0.05, 0.1, 0.2], large_eps=0.5, pgd_steps=40,
                  n_cw=1000, cw_steps=1000, cw_binary_search_steps=9),
}


def check(cfg) -> None:
    from lib.params import ConfigError

    if cfg.n_cw > cfg.n_test:
        raise ConfigError(f"n_cw={cfg.n_cw} must not exceed n_test={cfg.n_test}")
