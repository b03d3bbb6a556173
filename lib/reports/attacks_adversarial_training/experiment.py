"""Report 002's steps: data, the base model and its defended variants, and the attack sweeps.

Everything the notebook computes goes through here, seeded, so a re-run gives the same
numbers: trained models are cached (:func:`lib.train.fit`) and so is every sweep
(:func:`lib.sweep.cached_sweep`, keyed by weights, images, attacks and seed, and seeded inside
the cached computation).

- :func:`prepare` loads the data of a profile into a :class:`Context`;
- :func:`fit_base`, :func:`fit_adversarial`, :func:`fit_noisy`, :func:`fit_contrastive`
  train (or load) the base CNN, the adversarially trained models (eq. 4), the Gaussian-noise
  models (section 3.2) and the contrastive model (eq. 5); :func:`nearest_reference` builds the
  1-NN rules of section 3.3;
- :func:`per_attack` sweeps a model under each attack of a set, one
  :class:`lib.sweep.SweepResult` per attack over *all* the test images (a clean mistake is
  broken at eps 0), so that two models, or two attacks, compare image by image; the report's
  convention (accuracy over the images the model classifies correctly, section 2.3) is read
  off the same sweeps (:func:`over_correct`);
- :func:`attacks_of`, :func:`latent_attacks` are the attack sets of Tables 1-4.
"""
from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd
import torch
from torch import nn

from lib import attacks, cache, data, evaluate, models, runtime, sweep, train, validate
from lib.defenses import contrastive

REPORT = "attacks_adversarial_training"  # checkpoint names start with the notebook id
BASE = "base model"
AT_MODELS = ("AT-FGSM", "AT-PGD")
NOISE_LABELS = {"conv1": "noise after conv1", "dense": "noise between dense layers"}
NN_PLAIN, NN_CONTRASTIVE = "1-NN, plain CE", "1-NN, CE + contrastive"
#: The encoders of the 1-NN rules: the base model (plain cross-entropy) and the contrastive model.
ENCODERS = {NN_PLAIN: "plain CE", NN_CONTRASTIVE: "CE + contrastive"}


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
    def classes(self) -> list[str]:
        return self.test.classes

    @property
    def chance(self) -> float:
        return 1 / self.test.num_classes

    @property
    def title(self) -> str:
        """The dataset's display name, for every caption and figure title."""
        return data.info(self.cfg["dataset"]).title

    @property
    def real(self) -> bool:
        """False on a synthetic stand-in for CIFAR-10."""
        return not self.cfg["dataset"].startswith("synthetic")


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
def train_config(cfg: Mapping, epochs: int | None = None, lr: float | None = None) -> train.TrainConfig:
    """Nesterov SGD with a warm-up then a decay (the report: SGD with a learning-rate schedule), the
    profile's augmentation and weight averaging; ``epochs`` / ``lr`` of a defended model."""
    return train.TrainConfig(epochs=epochs or cfg["epochs"], batch_size=cfg["batch_size"], optimizer="sgd",
                             lr=lr or cfg["lr"], momentum=0.9, weight_decay=cfg["weight_decay"],
                             scheduler=cfg["schedule"], warmup=cfg["warmup"], ema=cfg["ema"],
                             augment=cfg["augment"], seed=cfg["seed"])


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
    fit = train.fit(make_model(ctx, noise=noise, init=init), ctx.tune,
                    train_config(ctx.cfg, epochs, ctx.cfg["tune_lr"]), name=f"{REPORT}-{name}-{tag}",
                    val=ctx.val, device=ctx.device, init_key=key, **kwargs)
    return fit.model.eval()


def fit_adversarial(ctx: Context, base_fit: train.FitResult) -> dict[str, nn.Module]:
    """AT-FGSM and AT-PGD (eq. 4): every training batch replaced by its attacked version at
    ``at_eps`` (PGD with ``at_steps`` steps)."""
    cfg = ctx.cfg
    hooks = {"AT-FGSM": train.adversarial_hook(attacks.fgsm, eps=cfg["at_eps"]),
             "AT-PGD": train.adversarial_hook(attacks.pgd, eps=cfg["at_eps"], steps=cfg["at_steps"])}
    return {name: _fit_defended(ctx, base_fit, name.lower(), cfg["at_epochs"], hook=hook)
            for name, hook in hooks.items()}


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


def references(ctx: Context) -> data.ImageData:
    """Section 3.3's reference images: ``refs_per_class`` per class of the training split, by seed."""
    return contrastive.choose_references(ctx.train, ctx.cfg["refs_per_class"], seed=ctx.cfg["seed"])


def nearest_reference(refs: data.ImageData, encoders: Mapping[str, nn.Module]
                      ) -> dict[str, contrastive.NearestReference]:
    """Section 3.3's 1-NN rule on each encoder (:data:`ENCODERS`: name of the rule -> encoder),
    against the same references."""
    return {name: contrastive.NearestReference(model, refs) for name, model in encoders.items()}


def draw_correct(encoder: nn.Module, train_set: data.ImageData, x: torch.Tensor, y: torch.Tensor, *,
                 per_class: int, seeds: Sequence[int]) -> torch.Tensor:
    """Images of ``x`` (N x C x H x W in [0, 1]) the 1-NN rule on ``encoder`` classifies right,
    (len(seeds),) counts, one per draw of ``per_class`` references from ``train_set`` by seed.
    The images go through the encoder once; each draw embeds only its references."""
    z = contrastive.embed_all(encoder, x)
    knns = [contrastive.NearestReference(encoder, contrastive.choose_references(train_set, per_class, seed=s))
            for s in seeds]
    return torch.tensor([int((validate.logits(knn.logits_of(z)).argmax(1) == y).sum()) for knn in knns])


def reference_draws(ctx: Context, encoders: Mapping[str, nn.Module]) -> pd.DataFrame:
    """Section 3.3's 1-NN rules on ``reference_draws`` draws of the references (seeds ``seed``,
    ``seed + 1``, ...; the first is :func:`references`, the draw every other result uses), on
    all test images: how far the report's single draw of 5 x 10 references can move the
    rule's accuracy. Columns: rule, draw (1-based), seed, correct, n. Remembered across runs."""
    cfg = ctx.cfg
    seeds = [cfg["seed"] + i for i in range(cfg["reference_draws"])]
    rows = []
    for name, model in encoders.items():
        correct = cache.memo(f"{REPORT}-reference-draws", draw_correct, model, ctx.train, ctx.test.x, ctx.test.y,
                             per_class=cfg["refs_per_class"], seeds=seeds)
        rows += [{"rule": name, "draw": i + 1, "seed": s, "correct": int(c), "n": len(ctx.test.y)}
                 for i, (s, c) in enumerate(zip(seeds, correct.tolist()))]
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- attacks and sweeps
def attacks_of(cfg: Mapping, eot: bool = False) -> dict:
    """FGSM (eq. 2) and PGD (eq. 3, ``pgd_steps`` steps of 2.5 eps / steps from a random start);
    with ``eot=True`` also PGD with the gradient averaged over ``eot_draws`` noise draws."""
    out = {"FGSM": attacks.fgsm, "PGD": functools.partial(attacks.pgd, steps=cfg["pgd_steps"])}
    if eot:
        out["PGD-EOT"] = functools.partial(attacks.pgd, steps=cfg["pgd_steps"], eot=cfg["eot_draws"])
    return out


LATENT_TRANSFER = "FGSM on softmax head"


def latent_attacks(cfg: Mapping, encoder: nn.Module) -> dict:
    """The three attacks on the 1-NN rule: FGSM crafted on the softmax head (a transfer attack,
    as the report seems to have run), FGSM and PGD (margin loss) through the latent distances."""
    return {LATENT_TRANSFER: functools.partial(attacks.transfer, source=encoder, attack=attacks.fgsm),
            "FGSM through distances": attacks.fgsm,
            "PGD through distances": functools.partial(attacks.pgd, steps=cfg["pgd_steps"], loss=attacks.margin)}


def base_eps(cfg: Mapping) -> list[float]:
    """The base model's grid: Table 1's eps and every eps it is compared at (Table 2, the 1-NN rules)."""
    return sorted({float(e) for e in (*cfg["eps"], *cfg["table2_eps"], *cfg["latent_eps"])})


def per_attack(ctx: Context, model: nn.Module, attack_set: Mapping, eps: Sequence[float], name: str,
               n: int | None = None) -> dict[str, sweep.SweepResult]:
    """One cached sweep per attack of ``attack_set`` over the first ``n`` test images (all of
    them by default), convention "all": an image the model gets wrong clean is broken at eps 0,
    and one broken at a smaller eps stays broken (its example lies in every larger ball).
    Seeded inside the cached computation (PGD's random starts, the noise draws)."""
    x, y = (ctx.test.x, ctx.test.y) if n is None else (ctx.test.x[:n], ctx.test.y[:n])
    return {a: sweep.cached_sweep(model, x, y, {a: atk}, eps, name=f"{REPORT}-{name}-{a}", norm="inf",
                                  seed=ctx.cfg["seed"], progress_bar=False)
            for a, atk in attack_set.items()}


def robust_at(result: sweep.SweepResult, eps: float) -> torch.Tensor:
    """(N,) bool: the images ``result`` leaves standing at ``eps`` (a grid eps; 0: clean)."""
    if float(eps) == 0.0:
        return result.clean_robust.cpu()
    return result.robust[:, result.eps.index(float(eps))]


def under_all(sweeps: Mapping[str, sweep.SweepResult], eps: float, only: Sequence[str] | None = None) -> torch.Tensor:
    """(N,) bool: per image, robust under every attack of ``sweeps`` (or of ``only``) at ``eps``:
    the worst case over the attacks, image by image."""
    names = list(sweeps) if only is None else list(only)
    out = robust_at(sweeps[names[0]], eps).clone()
    for a in names[1:]:
        out &= robust_at(sweeps[a], eps)
    return out


def over_correct(result: sweep.SweepResult, eps: float) -> tuple[int, int]:
    """(robust, clean-correct) at ``eps``: the report's convention, accuracy over the images the
    model classifies correctly (section 2.3)."""
    return int(robust_at(result, eps).sum()), int(result.clean_robust.sum())


# --------------------------------------------------------------------------- examples and distances
@dataclass
class Examples:
    """Figures 2-3: the first correctly classified test images (``index`` in the test subset,
    ``x`` N x C x H x W in [0, 1], labels ``y``), attacked (``adv``: "FGSM" / "PGD" -> x_adv),
    and the softmax of the base model on each (``probs``: "clean" / "FGSM" / "PGD" -> N x K)."""

    index: torch.Tensor
    x: torch.Tensor
    y: torch.Tensor
    adv: dict[str, torch.Tensor]
    probs: dict[str, torch.Tensor]


def attack_examples(ctx: Context, model: nn.Module) -> Examples:
    """The first ``n_examples`` correctly classified test images, in the test set's order (not
    picked), attacked with FGSM and PGD at ``example_eps``."""
    cfg = ctx.cfg
    ok = evaluate.predict(model, ctx.test.x) == ctx.test.y
    pick = ok.nonzero().squeeze(1)[:cfg["n_examples"]]
    x, y = ctx.test.x[pick], ctx.test.y[pick]
    adv = {"FGSM": attacks.fgsm(model, x, y, cfg["example_eps"]),
           "PGD": attacks.pgd(model, x, y, cfg["example_eps"], steps=cfg["pgd_steps"],
                              generator=torch.Generator().manual_seed(cfg["seed"]))}
    with torch.no_grad():
        probs = {k: torch.softmax(model(v), 1) for k, v in [("clean", x), *adv.items()]}
    return Examples(pick, x, y, adv, probs)


@dataclass
class Distances:
    """Section 3.3's latent distances: per image of the first ``n`` test images, the distance to
    its nearest reference (``distance``: "clean" or an attack -> (n,)) and the 1-NN accuracy
    (``accuracy``, fractions), clean and after each attack at ``eps``."""

    eps: float
    n: int
    distance: dict[str, torch.Tensor]
    accuracy: dict[str, float]


def nearest_distances(ctx: Context, knn: contrastive.NearestReference, encoder: nn.Module, eps: float,
                      n: int) -> Distances:
    """Distances for the first ``n`` test images clean and after FGSM on the softmax head / PGD
    through the distances at ``eps`` (section 3.3: attacked images end up *closer* to their
    nearest reference in the report)."""
    x, y = ctx.test.x[:n], ctx.test.y[:n]
    runtime.seed_everything(ctx.cfg["seed"])
    moved = {"clean": x,
             LATENT_TRANSFER: attacks.fgsm(encoder, x, y, eps),
             "PGD through distances": attacks.pgd(knn, x, y, eps, steps=ctx.cfg["pgd_steps"], loss=attacks.margin)}
    with torch.no_grad():
        return Distances(float(eps), len(y), {k: knn.distances(v).amin(1).cpu() for k, v in moved.items()},
                         {k: evaluate.accuracy(knn, v, y) for k, v in moved.items()})


# --------------------------------------------------------------------------- the notebook's sweeps
def base_sweeps(ctx: Context, base: nn.Module) -> dict[str, sweep.SweepResult]:
    """Section 2 (Table 1, Figures 4-5): FGSM and PGD on the base model over :func:`base_eps`."""
    return per_attack(ctx, base, attacks_of(ctx.cfg), base_eps(ctx.cfg), "base")


def adversarial_sweeps(ctx: Context, adversarial: Mapping[str, nn.Module]) -> dict[str, dict[str, sweep.SweepResult]]:
    """Section 3 (Table 2): FGSM and PGD on each adversarially trained model at ``table2_eps``."""
    return {name: per_attack(ctx, m, attacks_of(ctx.cfg), ctx.cfg["table2_eps"], name.lower())
            for name, m in adversarial.items()}


def noise_sweeps(ctx: Context, noisy: Mapping[str, nn.Module]) -> dict[str, sweep.SweepResult]:
    """Section 4 (Figures 6-7): FGSM on each noisy model (one noise draw per forward pass, as the
    report attacked them) over Table 1's eps and Table 2's."""
    eps = sorted({float(e) for e in (*ctx.cfg["eps"], *ctx.cfg["table2_eps"])})
    fgsm = {"FGSM": attacks_of(ctx.cfg)["FGSM"]}
    return {label: per_attack(ctx, m, fgsm, eps, f"noise-{label}")["FGSM"] for label, m in noisy.items()}


def eot_sweeps(ctx: Context, base: nn.Module, noisy: Mapping[str, nn.Module]
               ) -> dict[str, dict[str, sweep.SweepResult]]:
    """Section 4, beyond the report, on the first ``n_eot`` test images at ``eot_eps``: the base
    model under FGSM and PGD; each noisy model under FGSM, PGD and PGD-EOT; the same weights with
    the noise off (``"<label>, noise off at test"``) under FGSM and PGD."""
    cfg, n = ctx.cfg, ctx.cfg["n_eot"]
    out = {BASE: per_attack(ctx, base, attacks_of(cfg), cfg["eot_eps"], "eot-base", n)}
    for label, m in noisy.items():
        out[label] = per_attack(ctx, m, attacks_of(cfg, eot=True), cfg["eot_eps"], f"eot-{label}", n)
        out[f"{label}, noise off at test"] = per_attack(ctx, noise_off(ctx, m), attacks_of(cfg), cfg["eot_eps"],
                                                        f"eot-{label}-off", n)
    return out


def latent_sweeps(ctx: Context, knn: Mapping[str, contrastive.NearestReference],
                  encoders: Mapping[str, nn.Module]) -> dict[str, dict[str, sweep.SweepResult]]:
    """Section 5: each 1-NN rule (name -> rule, its encoder under the same name) under
    :func:`latent_attacks` at ``latent_eps``."""
    return {name: per_attack(ctx, rule, latent_attacks(ctx.cfg, encoders[name]), ctx.cfg["latent_eps"],
                             name.replace(", ", "-").replace(" ", "-"))
            for name, rule in knn.items()}


def head_sweeps(ctx: Context, model: nn.Module) -> dict[str, sweep.SweepResult]:
    """Section 5: the contrastive model's own softmax head under FGSM and PGD at ``latent_eps``."""
    return per_attack(ctx, model, attacks_of(ctx.cfg), ctx.cfg["latent_eps"], "contrastive-head")
