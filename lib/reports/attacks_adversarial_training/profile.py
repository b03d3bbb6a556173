"""Profiles of notebooks/attacks_adversarial_training.ipynb (report 002, CIFAR-10).

- smoke: synthetic 28 x 28 images, a tiny net, one epoch: seconds, for the test-suite.
- quick: Fashion-MNIST subsets on a CPU, the whole notebook in under 5 minutes from an
  empty checkpoint cache.
- paper: CIFAR-10 with the report's settings where it gives them (eps lists, sigma 0.05,
  alpha 2, 5 references per class, the full test set) and ours where it does not
  (epochs, widths, attack steps, adversarial-training eps), for a GPU.

Keys (all profiles share them):

- ``dataset``, ``n_train`` (train images, before the validation split), ``n_val``, ``n_test``;
- ``width``, ``hidden``: the CNN's first-block filters and penultimate size;
- ``epochs``, ``batch_size``, ``lr``, ``weight_decay``: SGD with a cosine schedule for every
  model; ``augment``: ``"crop_flip"`` (the report's random crop + horizontal flip) or ``None``
  (the CPU profiles: in four epochs, crops of +-4 px on 28 px images leave the net
  underfitted, several points below the accuracy it reaches without them); ``noise_epochs``, ``at_epochs``,
  ``contrastive_epochs`` for the defended models; ``finetune``: start the defended models
  from the base model's weights (CPU profiles) instead of from scratch (paper);
- ``eps``: Table 1 / Figures 4-7 eps list (the report's); ``table2_eps`` (the report's);
  ``example_eps``: Figures 2-3; ``n_examples``: rows of Figures 2-3;
- ``pgd_steps``: PGD iterations of every evaluation attack (step 2.5 eps / steps);
- ``at_eps``, ``at_steps``: adversarial training's eps and PGD steps (the report gives neither);
- ``noise_sigma``; ``eot_draws`` (EOT forward passes per gradient), ``eot_eps``, ``n_eot``
  (images in the EOT comparison);
- ``contrastive_alpha``, ``contrastive_weight``, ``refs_per_class``, ``latent_eps``
  (attacks on the 1-NN rule), ``n_latent_plot`` (points per panel of Figure 8);
  ``contrastive_weight`` multiplies eq. (5) in the loss (1 in the report and the paper
  profile). The CPU profiles use 0.1. Fine-tuned from the base model with the full weight,
  training diverged: the base's latent distances are large, so the squared same-class term
  dominates. From scratch, the full weight cost about 15 points of accuracy in a
  four-epoch budget;
- ``seed``, ``device``.
"""
from __future__ import annotations

REPORT_EPS = [0.001, 0.01, 0.05, 0.1, 0.3, 0.5]   # Table 1 of the report
REPORT_TABLE2_EPS = [0.01, 0.05]                  # Table 2 of the report

_COMMON = dict(seed=0, device="auto", eps=REPORT_EPS, table2_eps=REPORT_TABLE2_EPS,
               noise_sigma=0.05, contrastive_alpha=2.0,
               refs_per_class=5, n_examples=3, lr=0.05, weight_decay=5e-4, batch_size=128)

PROFILES = {
    "smoke": dict(_COMMON, dataset="synthetic28", n_train=1200, n_val=200, n_test=200,
                  width=8, hidden=32, epochs=1, augment=None, finetune=True, noise_epochs=1, at_epochs=1,
                  contrastive_epochs=1, contrastive_weight=0.1,
                  example_eps=0.1, pgd_steps=3, at_eps=0.1, at_steps=2,
                  eot_draws=2, eot_eps=[0.05], n_eot=60, latent_eps=[0.01, 0.1],
                  n_latent_plot=200),
    "quick": dict(_COMMON, dataset="fashion_mnist", n_train=6000, n_val=500, n_test=500,
                  width=16, hidden=128, epochs=4, augment=None, finetune=True, noise_epochs=1, at_epochs=1,
                  contrastive_epochs=2, contrastive_weight=0.1,
                  example_eps=0.05, pgd_steps=10, at_eps=0.05, at_steps=3,
                  eot_draws=8, eot_eps=[0.01, 0.05], n_eot=200,
                  latent_eps=[0.01, 0.05, 0.1], n_latent_plot=500),
    "paper": dict(_COMMON, dataset="cifar10", n_train=50000, n_val=5000, n_test=10000,
                  width=64, hidden=512, epochs=40, augment="crop_flip", finetune=False, noise_epochs=40,
                  at_epochs=30, contrastive_epochs=40, contrastive_weight=1.0,
                  example_eps=0.01, pgd_steps=20, at_eps=0.03, at_steps=7,
                  eot_draws=16, eot_eps=[0.01, 0.05], n_eot=2000,
                  latent_eps=[0.01, 0.05, 0.1], n_latent_plot=2000),
}


def check(cfg) -> None:
    """Checks specific to this notebook, on top of :func:`lib.profiles.validate`; raises
    :class:`lib.profiles.ConfigError` with a clear message before anything is computed."""
    from lib.profiles import ConfigError

    def need(ok: bool, msg: str):
        if not ok:
            raise ConfigError(msg)

    for key in ("width", "hidden", "batch_size", "pgd_steps", "at_steps", "eot_draws",
                "refs_per_class", "n_examples", "n_test", "n_eot", "n_latent_plot"):
        need(isinstance(cfg[key], int) and cfg[key] >= 1, f"{key} must be an integer >= 1, got {cfg[key]!r}")
    need(cfg.augment in (None, "crop_flip"), f"augment must be None or 'crop_flip', got {cfg.augment!r}")
    need(isinstance(cfg.finetune, bool), f"finetune must be True or False, got {cfg.finetune!r}")
    for key in ("epochs", "noise_epochs", "at_epochs", "contrastive_epochs"):
        need(isinstance(cfg[key], int) and cfg[key] >= 1, f"{key} must be an integer >= 1, got {cfg[key]!r}")
    for key in ("eps", "table2_eps", "eot_eps", "latent_eps"):
        need(isinstance(cfg[key], (list, tuple)) and len(cfg[key]) > 0,
             f"{key} must be a non-empty list of eps values, got {cfg[key]!r}")
        need(all(isinstance(e, (int, float)) and 0 < e <= 1 for e in cfg[key]),
             f"{key} must hold eps in (0, 1] (pixel units), got {cfg[key]!r}")
    for key in ("example_eps", "at_eps"):
        need(isinstance(cfg[key], (int, float)) and 0 < cfg[key] <= 1,
             f"{key} must be in (0, 1], got {cfg[key]!r}")
    need(cfg.noise_sigma > 0, f"noise_sigma must be > 0, got {cfg.noise_sigma}")
    need(cfg.contrastive_alpha > 0, f"contrastive_alpha must be > 0, got {cfg.contrastive_alpha}")
    need(cfg.contrastive_weight >= 0, f"contrastive_weight must be >= 0, got {cfg.contrastive_weight}")
    need(cfg.lr > 0, f"lr must be > 0, got {cfg.lr}")
    need(isinstance(cfg.n_val, int) and 0 < cfg.n_val < cfg.n_train,
         f"need 0 < n_val < n_train, got n_val={cfg.n_val}, n_train={cfg.n_train}")
    need(cfg.n_train - cfg.n_val >= 10 * cfg.refs_per_class,
         "the training split must hold refs_per_class images of every class")
