"""Report 002's steps: data, the base model and its defended variants, and the attack sweeps.

Everything the notebook computes goes through here, seeded, so a re-run gives the same
numbers and reuses the cached checkpoints (:func:`lib.train.fit`).

- :func:`prepare` loads the data of a profile into a :class:`Context`;
- :func:`fit_base`, :func:`fit_adversarial`, :func:`fit_noisy`, :func:`fit_contrastive`
  train (or load) the base CNN, the adversarially trained models (eq. 4), the Gaussian-noise
  models (section 3.2) and the contrastive model (eq. 5);
- :func:`sweep` scores a model under a set of attacks over the test images it classifies
  correctly (the report's convention, section 2.3);
- :func:`attacks_of`, :func:`latent_attacks` are the attack sets of Tables 1-4.
"""
from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd
import torch
from torch import nn

from lib import attacks, cache, data, evaluate, models, runtime, train
from lib.defenses import contrastive

REPORT = "attacks_adversarial_training"  # checkpoint names start with the notebook id


@dataclass
class Context:
    """A run's parameters, device and data. ``tune`` is what the defended models train on:
    ``n_finetune`` images of the training split when set, else all of it; ``test`` lives on
    ``device`` (it is attacked over and over), the training data on the CPU."""

    cfg: Mapping
    device: torch.device
    train: data.ImageData
    val: data.ImageData
    tune: data.ImageData
    test: data.ImageData

    @property
    def x_test(self) -> torch.Tensor:
        return self.test.x

    @property
    def y_test(self) -> torch.Tensor:
        return self.test.y

    @property
    def classes(self) -> list[str]:
        return self.test.classes

    @property
    def chance(self) -> float:
        return 1 / self.test.num_classes

    @property
    def title(self) -> str:
        """The dataset's display name, for every caption and figure title."""
        return data.info(self.cfg["dataset"]).title


def prepare(cfg: Mapping, device) -> Context:
    """Load the profile's subsets: train (less a stratified validation split), the fine-tuning
    subset of the defended models, and a class-stratified test subset."""
    full = data.load(cfg["dataset"], "train", n=cfg["n_train"], seed=cfg["seed"])
    train_set, val_set = data.train_val_split(full, cfg["n_val"], seed=cfg["seed"])
    n_tune = cfg.get("n_finetune")
    tune = (data.stratified_subset(train_set, n_tune, cfg["seed"])
            if n_tune is not None and n_tune < len(train_set) else train_set)
    test = data.load(cfg["dataset"], "test", n=cfg["n_test"], seed=cfg["seed"])
    device = runtime.get_device(device)
    return Context(cfg, device, train_set, val_set, tune, test.to(device))


# --------------------------------------------------------------------------- models
def train_config(cfg: Mapping, epochs: int | None = None) -> train.TrainConfig:
    """SGD with momentum and a cosine schedule (the report: SGD with a learning-rate schedule)."""
    return train.TrainConfig(epochs=epochs or cfg["epochs"], batch_size=cfg["batch_size"], optimizer="sgd",
                             lr=cfg["lr"], momentum=0.9, weight_decay=cfg["weight_decay"],
                             scheduler="cosine", augment=cfg["augment"], seed=cfg["seed"])


def make_model(ctx: Context, noise: str | None = None, init: nn.Module | None = None) -> nn.Module:
    """The report's CNN (our reading, :class:`lib.models.DropoutCNN`), seeded so a fresh model has
    the same initial weights on every run; ``init`` copies another model's weights into it."""
    cfg = ctx.cfg
    runtime.seed_everything(cfg["seed"])
    model = models.build("dropout_cnn", dataset=cfg["dataset"], width=cfg["width"], hidden=cfg["hidden"],
                         num_classes=ctx.test.num_classes, dropout=tuple(cfg["dropout"]), noise=noise,
                         sigma=cfg["noise_sigma"])
    if init is not None:
        model.load_state_dict(init.state_dict())
    return model.to(ctx.device)


def fit_base(ctx: Context) -> train.FitResult:
    return train.fit(make_model(ctx), ctx.train, train_config(ctx.cfg), name=f"{REPORT}-base",
                     val=ctx.val, device=ctx.device)


def _start(ctx: Context, base_fit: train.FitResult) -> tuple[nn.Module | None, str, str | None]:
    """(initial weights, name tag, init key) of a defended model: the base model's weights when
    ``finetune`` is on, so that a new base model also retrains the defenses."""
    if ctx.cfg["finetune"]:
        key = base_fit.info["key"]
        return base_fit.model, f"from-{key}", key
    return None, "scratch", None


def _fit_defended(ctx: Context, base_fit: train.FitResult, name: str, epochs: int, *,
                  noise: str | None = None, **kwargs) -> nn.Module:
    init, tag, key = _start(ctx, base_fit)
    fit = train.fit(make_model(ctx, noise=noise, init=init), ctx.tune, train_config(ctx.cfg, epochs),
                    name=f"{REPORT}-{name}-{tag}", val=ctx.val, device=ctx.device, init_key=key, **kwargs)
    return fit.model.eval()


def fit_adversarial(ctx: Context, base_fit: train.FitResult) -> dict[str, nn.Module]:
    """AT-FGSM and AT-PGD (eq. 4): every training batch replaced by its attacked version at
    ``at_eps`` (PGD with ``at_steps`` steps)."""
    cfg = ctx.cfg
    hooks = {"AT-FGSM": train.adversarial_hook(attacks.fgsm, eps=cfg["at_eps"]),
             "AT-PGD": train.adversarial_hook(attacks.pgd, eps=cfg["at_eps"], steps=cfg["at_steps"])}
    return {name: _fit_defended(ctx, base_fit, name.lower(), cfg["at_epochs"], hook=hook)
            for name, hook in hooks.items()}


NOISE_LABELS = {"conv1": "noise after conv1", "dense": "noise between dense layers"}


def fit_noisy(ctx: Context, base_fit: train.FitResult) -> dict[str, nn.Module]:
    """The two Gaussian-noise models of section 3.2 (Figures 6 and 7), in eval mode: dropout
    off, the noise still on (it is the defense)."""
    return {label: _fit_defended(ctx, base_fit, f"noise-{place}", ctx.cfg["noise_epochs"], noise=place)
            for place, label in NOISE_LABELS.items()}


def noise_off(ctx: Context, model: nn.Module) -> nn.Module:
    """The same weights without the noise layer: a deterministic control."""
    return make_model(ctx, noise=None, init=model).eval()


def fit_contrastive(ctx: Context, base_fit: train.FitResult) -> nn.Module:
    """Cross-entropy plus ``contrastive_weight`` x eq. (5) on the penultimate representation."""
    cfg = ctx.cfg
    loss = functools.partial(contrastive.contrastive_objective, alpha=cfg["contrastive_alpha"],
                             weight=cfg["contrastive_weight"])
    return _fit_defended(ctx, base_fit, "contrastive", cfg["contrastive_epochs"], loss_fn=loss)


# --------------------------------------------------------------------------- attacks and sweeps
def attacks_of(cfg: Mapping, eot: bool = False) -> dict:
    """FGSM (eq. 2) and PGD (eq. 3, ``pgd_steps`` steps of 2.5 eps / steps from a random start);
    with ``eot=True`` also PGD with the gradient averaged over ``eot_draws`` noise draws."""
    out = {"FGSM": attacks.fgsm, "PGD": functools.partial(attacks.pgd, steps=cfg["pgd_steps"])}
    if eot:
        out["PGD-EOT"] = functools.partial(attacks.pgd, steps=cfg["pgd_steps"], eot=cfg["eot_draws"])
    return out


def latent_attacks(cfg: Mapping, encoder: nn.Module) -> dict:
    """The three attacks on the 1-NN rule: FGSM crafted on the softmax head (a transfer attack,
    as the report seems to have run), FGSM and PGD (margin loss) through the latent distances."""
    return {"FGSM on softmax head": functools.partial(attacks.transfer, source=encoder, attack=attacks.fgsm),
            "FGSM through distances": attacks.fgsm,
            "PGD through distances": functools.partial(attacks.pgd, steps=cfg["pgd_steps"], loss=attacks.margin)}


def sweep(ctx: Context, model: nn.Module, attack_set: Mapping, eps_list, x=None, y=None) -> pd.DataFrame:
    """Accuracy (fraction) under each attack and eps over the images ``model`` classifies correctly,
    reseeded so that PGD's random starts and the noise draws repeat run after run."""
    x = ctx.x_test if x is None else x
    y = ctx.y_test if y is None else y

    def run() -> pd.DataFrame:
        runtime.seed_everything(ctx.cfg["seed"])
        return evaluate.robust_accuracy(model, x, y, attack_set, eps_list, convention="correct",
                                        progress_bar=False)

    # Remembered by weights, images, attacks and seed: a re-run with cached checkpoints is quick.
    key = dict(model=model, x=x, y=y, attacks=dict(attack_set), eps=list(eps_list), seed=ctx.cfg["seed"])
    return cache.cached_result(f"{REPORT}-sweep", key, run)


def clean_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Clean accuracy (fraction); one noise draw for a noisy model."""
    model.eval()
    return evaluate.accuracy(model, x, y)


def attack_examples(ctx: Context, model: nn.Module) -> dict:
    """Figures 2-3: the first ``n_examples`` correctly classified test images, in the test set's
    order (not picked), attacked with FGSM and PGD at ``example_eps``. Returns ``index``
    (test-set positions), ``x``, ``y``, ``adv`` ({"FGSM": x_adv, "PGD": x_adv}) and ``probs``
    ({"clean" | "FGSM" | "PGD": softmax N x K})."""
    cfg = ctx.cfg
    ok = evaluate.predict(model, ctx.x_test) == ctx.y_test
    pick = ok.nonzero().squeeze(1)[:cfg["n_examples"]]
    x, y = ctx.x_test[pick], ctx.y_test[pick]
    adv = {"FGSM": attacks.fgsm(model, x, y, cfg["example_eps"]),
           "PGD": attacks.pgd(model, x, y, cfg["example_eps"], steps=cfg["pgd_steps"],
                              generator=torch.Generator().manual_seed(cfg["seed"]))}
    with torch.no_grad():
        probs = {k: torch.softmax(model(v), 1) for k, v in [("clean", x), *adv.items()]}
    return {"index": pick, "x": x, "y": y, "adv": adv, "probs": probs}


def nearest_distances(ctx: Context, knn: contrastive.NearestReference, encoder: nn.Module, eps: float,
                      n: int) -> dict[str, tuple[torch.Tensor, float]]:
    """Per-image latent distance to the nearest reference and 1-NN accuracy, for the first ``n``
    test images clean and after FGSM on the softmax head / PGD through the distances at ``eps``
    (section 3.3: attacked images end up *closer* to their nearest reference in the report)."""
    x, y = ctx.x_test[:n], ctx.y_test[:n]
    runtime.seed_everything(ctx.cfg["seed"])
    moved = {"clean": x,
             "FGSM on softmax head": attacks.fgsm(encoder, x, y, eps),
             "PGD through distances": attacks.pgd(knn, x, y, eps, steps=ctx.cfg["pgd_steps"],
                                                  loss=attacks.margin)}
    with torch.no_grad():
        return {k: (knn.distances(v).amin(1).cpu(), evaluate.accuracy(knn, v, y)) for k, v in moved.items()}

