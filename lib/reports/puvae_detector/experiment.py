"""Report 001's steps, one function per notebook step: settings per dataset, data, the two
networks, the detector and what the CVAE's reconstructions say. The transfer-attack sweeps are
:mod:`lib.reports.puvae_detector.transfer`, the attacks on the defended pipeline
:mod:`lib.reports.puvae_detector.adaptive`.

Every step returns a typed part of :class:`lib.reports.puvae_detector.run.Run`; what draws
random numbers (the CVAE samples z at inference) is seeded inside the step. The defense itself
is :mod:`lib.defenses.puvae`.
"""
from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from lib import cache, models, runtime
from lib import data as data_mod
from lib import train as train_mod
from lib.defenses.puvae import PuVAEPipeline, check_fpr, freeze, purify, puvae_loss, rejection_rate, threshold_at_fpr
from lib.params import ConfigError

REPORT = "puvae_detector"
_PER_DATASET_HINT = "a value, or a dict {dataset: value} with an entry for every dataset"


# --------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class Settings:
    """The parameters of one dataset (``lib/reports/puvae_detector/profile.py`` documents each);
    a per-dataset parameter resolved to its entry, lists as tuples."""

    dataset: str
    seed: int
    device: str
    n_train: int | None
    n_val: int
    n_test: int | None
    clf_filters: int | None
    clf_hidden: int | None
    clf_epochs: int
    clf_batch_size: int
    clf_lr: float
    vae_filters: int | None
    vae_dec_filters: int | None
    vae_hidden: int | None
    z_dim: int
    vae_epochs: int
    vae_batch_size: int
    vae_lr: float
    scheduler: str | None
    warmup: float
    w_rec: float
    w_kl: float
    w_ce: float
    kl_reduction: str
    sample_at_inference: bool
    fpr: float
    eps: float
    eps_range: tuple[float, float]
    n_eps: int
    bim_steps: int
    bim_rel_step: float
    pgd_steps: int
    pgd_rel_step: float
    st_temperature: float
    reject_scale: float
    adaptive_eps: tuple[float, ...]
    n_adaptive: int
    adaptive_steps: int
    adaptive_eot: int
    adaptive_restarts: int
    adaptive_rel_step: float
    n_show: int
    argmin_targets: int
    square_queries: int
    n_checks: int
    st_temperatures: tuple[float, ...]
    convergence_steps: tuple[int, ...]
    convergence_restarts: tuple[int, ...]
    profile: str = ""
    precision: str = "auto"

    @property
    def real(self) -> bool:
        """Real data (not a synthetic stand-in of the smoke profile)."""
        return not self.dataset.startswith("synthetic")


def settings(cfg: Mapping, dataset: str) -> Settings:
    """The parameters for one dataset: a dict-valued parameter ``{dataset: value}`` is
    resolved to its entry, any other value is shared. Checked before any compute."""
    out = {}
    for f in dataclasses.fields(Settings):
        if f.name == "dataset" or (f.name not in cfg and f.default is not dataclasses.MISSING):
            continue
        value = cfg[f.name]
        if isinstance(value, Mapping):
            if dataset not in value:
                raise ConfigError(f"parameter {f.name!r} has no entry for {dataset!r}; give {_PER_DATASET_HINT}")
            value = value[dataset]
        out[f.name] = tuple(value) if isinstance(value, list) else value
    s = Settings(dataset=dataset, **out)
    _check_settings(s)
    return s


def check_config(cfg: Mapping) -> list[Settings]:
    """Resolve and check the settings of every dataset in ``cfg['datasets']`` up front
    (types and ranges are :data:`lib.reports.puvae_detector.profile.PARAMS`' business)."""
    return [settings(cfg, d) for d in cfg["datasets"]]


def _check_settings(s: Settings) -> None:
    """What depends on more than one parameter, or on the dataset."""
    check_fpr(s.fpr)
    if not s.eps_range[0] <= s.eps_range[1]:
        raise ConfigError(f"eps_range must be [low, high] with low <= high, got {list(s.eps_range)!r}")
    try:
        architecture_names(s.dataset)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    size = data_mod.split_size(s.dataset, "train")
    if s.n_train is not None and size is not None and s.n_train + s.n_val > size:
        raise ConfigError(f"n_train + n_val = {s.n_train + s.n_val} exceeds the {size} training "
                          f"images of {s.dataset}")
    if s.n_val >= (size or float("inf")):
        raise ConfigError(f"n_val={s.n_val} leaves no training images of {s.dataset}")
    n_test = s.n_test if s.n_test is not None else data_mod.split_size(s.dataset, "test")
    if n_test is not None and s.n_adaptive > n_test:
        raise ConfigError(f"n_adaptive={s.n_adaptive} exceeds the {n_test} test images of {s.dataset}")
    if n_test is not None and n_test < 4:
        raise ConfigError(f"n_test={n_test}: the worst-eps claims split the test images in two halves of at least 2")
    if s.n_checks > s.n_adaptive:
        raise ConfigError(f"n_checks={s.n_checks} must not exceed n_adaptive={s.n_adaptive}")
    if s.argmin_targets > 9:
        raise ConfigError(f"argmin_targets={s.argmin_targets}: there are only 9 wrong classes")


def eps_grid(s: Settings) -> list[float]:
    """``n_eps`` evenly spaced eps in ``eps_range`` (report Figure 7: 30 values in
    [0.01, 0.3] for MNIST / Fashion-MNIST, [0.002, 0.06] for CIFAR-10), plus the table's eps."""
    lo, hi = s.eps_range
    grid = np.linspace(lo, hi, s.n_eps) if s.n_eps > 1 else np.array([hi])
    return sorted({round(float(e), 6) for e in grid} | {round(float(s.eps), 6)})


# --------------------------------------------------------------------------- data and models
def load_splits(s: Settings):
    """(train, val, test) :class:`~lib.data.ImageData`. ``val`` (``n_val`` images, held out
    from both networks' training) only sets the detector's threshold (report section 5.1)."""
    n = None if s.n_train is None else s.n_train + s.n_val
    full = data_mod.load(s.dataset, "train", n=n, seed=s.seed)
    train, val = data_mod.train_val_split(full, s.n_val, seed=s.seed)
    test = data_mod.load(s.dataset, "test", n=s.n_test, seed=s.seed)
    return train, val, test


def architecture_names(dataset: str) -> tuple[str, str]:
    """(classifier, CVAE) registry names: A and C for 1 x 28 x 28 images, B and D for 3 x 32 x 32."""
    shape = data_mod.info(dataset).shape
    if shape == (1, 28, 28):
        return "puvae_a", "puvae_c"
    if shape == (3, 32, 32):
        return "puvae_b", "puvae_d"
    raise ValueError(f"no Table 6 architecture for images of shape {shape}")


def _width(**kw) -> dict:
    """Keep only the width arguments a profile sets (``None`` means Table 6's size)."""
    return {k: v for k, v in kw.items() if v is not None}


def build_classifier(s: Settings) -> nn.Module:
    name, _ = architecture_names(s.dataset)
    runtime.seed_everything(s.seed)
    return models.build(name, dataset=s.dataset, **_width(filters=s.clf_filters, hidden=s.clf_hidden))


def build_cvae(s: Settings) -> nn.Module:
    _, name = architecture_names(s.dataset)
    runtime.seed_everything(s.seed + 1)
    return models.build(name, dataset=s.dataset, z_dim=s.z_dim, sample_at_inference=s.sample_at_inference,
                        **_width(filters=s.vae_filters, hidden=s.vae_hidden, dec_filters=s.vae_dec_filters))


def train_classifier(s: Settings, train: data_mod.ImageData, val=None, device=None):
    """Classifier A or B with Table 1's batch size and epochs (Adam; the report names no
    optimiser). Returns :class:`lib.train.FitResult`."""
    cfg = train_mod.TrainConfig(epochs=s.clf_epochs, batch_size=s.clf_batch_size, optimizer="adam",
                                lr=s.clf_lr, weight_decay=0.0, scheduler=s.scheduler, warmup=s.warmup, seed=s.seed)
    return train_mod.fit(build_classifier(s), train, cfg, name=f"{REPORT}-clf-{s.dataset}", val=val, device=device)


def train_puvae(s: Settings, classifier: nn.Module, train: data_mod.ImageData, device=None):
    """Conditional VAE C or D trained with :func:`puvae_loss` (Table 2's batch size, epochs
    and z size in the paper profile). The classifier is frozen first. Returns a FitResult."""
    freeze(classifier)
    loss_fn = functools.partial(puvae_loss, classifier=classifier, w_rec=float(s.w_rec),
                                w_kl=float(s.w_kl), w_ce=float(s.w_ce), kl_reduction=s.kl_reduction)
    cfg = train_mod.TrainConfig(epochs=s.vae_epochs, batch_size=s.vae_batch_size, optimizer="adam",
                                lr=s.vae_lr, weight_decay=0.0, scheduler=s.scheduler, warmup=s.warmup, seed=s.seed)
    # val=None: fit's val_acc is model(x).argmax, which means nothing for a CVAE.
    return train_mod.fit(build_cvae(s), train, cfg, name=f"{REPORT}-cvae-{s.dataset}", loss_fn=loss_fn,
                         device=device)


@dataclass
class Models:
    """One dataset's data and networks: the ``train`` / ``val`` / ``test`` splits (``test`` on
    the device), the frozen ``classifier`` (A or B), the ``vae`` (C or D, eval mode) with its
    training history, and whether each came from the checkpoint cache."""

    train: data_mod.ImageData
    val: data_mod.ImageData
    test: data_mod.ImageData
    classifier: nn.Module
    vae: nn.Module
    vae_history: pd.DataFrame
    from_cache: tuple[bool, bool]

    def describe(self) -> str:
        said = lambda c: "loaded from cache" if c else "trained"  # noqa: E731
        return (f"{self.test.name}: {len(self.train)} train / {len(self.val)} val / {len(self.test)} test; "
                f"classifier {said(self.from_cache[0])}, CVAE {said(self.from_cache[1])}")


def fit_models(s: Settings, device=None) -> Models:
    """Sections 1-2: the splits, the classifier (Tables 1 and 6), then the CVAE on top of it
    (Tables 2 and 6). Both are cached by their configuration and data."""
    device = runtime.get_device(device)
    train, val, test = load_splits(s)
    clf_fit = train_classifier(s, train, device=device)
    clf = freeze(clf_fit.model)
    vae_fit = train_puvae(s, clf, train, device=device)
    return Models(train, val, test.to(device), clf, vae_fit.model.eval(), vae_fit.history,
                  (bool(clf_fit.from_cache), bool(vae_fit.from_cache)))


# --------------------------------------------------------------------------- the detector
@dataclass
class Detector:
    """Section 5.1's detector on one dataset: the ``threshold`` t at the false-positive rate
    on the clean validation images (their best-reconstruction RMSEs ``val_rmse``, (n_val,);
    ``val_rejected`` the share above t), PuVAE alone (``plain``, K + 1 logits whose reject
    logit never wins) and PuVAE + detector (``pipeline``)."""

    threshold: float
    val_rmse: torch.Tensor
    val_rejected: float
    plain: PuVAEPipeline
    pipeline: PuVAEPipeline


def best_rmse(pipeline: PuVAEPipeline, x: torch.Tensor, *, seed: int) -> torch.Tensor:
    """Per image of ``x`` the RMSE (N,) of its best reconstruction, on the CPU, with the CVAE's
    draws of z seeded by ``seed``."""
    torch.manual_seed(seed)
    return pipeline.decide(x).rmse.cpu()


def fit_detector(s: Settings, m: Models) -> Detector:
    """The threshold t (MagNet's rule, report 5.1): the smallest value that rejects at most
    ``fpr`` of the clean validation images. Seeded: the CVAE samples z at inference. The
    validation RMSEs are remembered across runs (:func:`lib.cache.memo`, by the CVAE's and the
    classifier's weights and the images)."""
    device = m.test.x.device
    plain = PuVAEPipeline(m.vae, m.classifier, None, temperature=s.st_temperature)
    val_rmse = cache.memo(f"{REPORT}-val-rmse", best_rmse, plain, m.val.x.to(device), seed=s.seed)
    t = threshold_at_fpr(val_rmse, s.fpr)
    pipe = PuVAEPipeline(m.vae, m.classifier, t, temperature=s.st_temperature, reject_scale=s.reject_scale)
    return Detector(t, val_rmse, rejection_rate(val_rmse, t), plain, pipe)


# --------------------------------------------------------------------------- reconstructions
@torch.no_grad()
def input_dependence(vae: nn.Module, x: torch.Tensor, y: torch.Tensor, *, seed: int = 0,
                     batch_size: int = 250) -> tuple[float, float]:
    """Does the CVAE reconstruct the input, or only its label? ``(own, other)``: the mean RMSE
    between each image and its reconstruction under its true label, and between each image
    and the reconstruction of *another* image of the same class under that label (the next
    one of its class in ``x``, cyclically). A CVAE that ignores its input has own = other.
    Images alone in their class are skipped."""
    partner = torch.full((len(y),), -1, dtype=torch.long)
    for c in y.unique():
        idx = (y == c).nonzero().flatten().cpu()
        if len(idx) > 1:
            partner[idx] = idx.roll(-1)
    keep = (partner >= 0).nonzero().flatten()
    if len(keep) == 0:
        raise ValueError("need two images of one class to test input dependence")
    torch.manual_seed(seed)  # the CVAE's sampling
    keep = keep.to(x.device)

    def errors(xs, ys, xo):
        return tuple((vae(src, ys)[0] - xs).pow(2).flatten(1).mean(1).sqrt() for src in (xs, xo))

    own, other = data_mod.map_batches(errors, x[keep], y[keep], x[partner[keep.cpu()].to(x.device)],
                                      batch_size=batch_size)
    return own.mean().item(), other.mean().item()


@dataclass
class Reconstruction:
    """Does one dataset's CVAE reconstruct its input? ``own`` / ``other`` of
    :func:`input_dependence` on the test images (equal: it draws its label's images, not this one)."""

    own: float
    other: float

    @property
    def gap(self) -> float:
        """How much closer an image is to its own reconstruction (1 - own / other)."""
        return 1 - self.own / self.other if self.other > 0 else 0.0


def reconstruction(s: Settings, m: Models) -> Reconstruction:
    return Reconstruction(*input_dependence(m.vae, m.test.x, m.test.y, seed=s.seed))


def figure6_examples(s: Settings, m: Models, x_pgd: torch.Tensor) -> tuple[torch.Tensor, object, list[str]]:
    """Report Figure 6 and appendices B-D: the first ``n_show`` test images (not picked), each
    clean and under the transfer PGD at the table's eps, interleaved; their purification
    (:class:`lib.defenses.puvae.Purified`) and row labels."""
    k = min(s.n_show, len(m.test))
    xs = torch.stack([t for i in range(k) for t in (m.test.x[i], x_pgd[i].to(m.test.x.device))])
    torch.manual_seed(s.seed)
    with torch.no_grad():
        p = purify(m.vae, xs)
    labels = [f"{kind}\n{m.test.classes[int(m.test.y[i])][:10]}" for i in range(k)
              for kind in ("clean", f"PGD {s.eps:g}")]
    return xs, p, labels


def worst_case(grid: pd.DataFrame) -> pd.DataFrame:
    """Per attack, the eps of the grid at which PuVAE + detector does worst (report's
    "Ours (worst)" and the diamond of Figures 7-8). Columns: attack, eps, ours, puvae, rejected."""
    adv = grid[grid["attack"] != "none"]
    idx = adv.groupby("attack", sort=False)["ours"].idxmin()
    return adv.loc[idx, ["attack", "eps", "ours", "puvae", "rejected"]].reset_index(drop=True)
