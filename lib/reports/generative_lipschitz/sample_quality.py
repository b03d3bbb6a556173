"""A sample-quality score for report 003's generators (issue 17): KID against real test images
in the feature space of a classifier the study trains itself on the same dataset.

No ImageNet Inception weights can be downloaded here, so the features are the penultimate layer
(:meth:`~lib.models.classifiers.report003.Report003CNN.embed`, 256 units after ReLU) of the
report's own CNN trained on each dataset: the plain Fashion-MNIST and CIFAR-10 classifiers of
section IV, and the same architecture trained on MNIST (the report has no MNIST classifier; the
MNIST GANs need one). Features are divided by one number, the root mean square of the real
features, so that the cubic kernel of :func:`lib.quality.kid_blocks` works on values of order 1
(a scalar rescaling changes the scale of KID, not which generator is better). Scores are
comparable within one dataset's feature space only: across a GAN's epochs, between two
generators of one dataset, never across datasets or with published FIDs.

Per generator and saved epoch, ``n_samples`` images of one fixed noise batch are scored against
``n_kid_real`` real test images in ``kid_subsets`` blocks; the real blocks are the same for every
generator of a dataset (:func:`lib.quality.kid_blocks`), so two generators, or two epochs of one,
are compared by a paired t test on their per-block difference (:class:`lib.verdicts.Scores`).
As a reference, ``n_samples`` real *training* images are scored the same way: KID is unbiased,
so theirs is 0 up to noise, and its interval shows that noise.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import nn

from lib import cache, quality
from lib import data as data_mod
from lib.evaluate import predict

#: The feature network of each dataset role: the GANs' MNIST role has its own classifier.
REAL = "real training images"
#: Name of the stored feature passes and distances (:func:`lib.cache.memo`).
_CACHE = "generative_lipschitz-kid"


def _embed(net: nn.Module, images: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(quality.features(net.embed, images))


def embed(net: nn.Module, images: torch.Tensor) -> np.ndarray:
    """Penultimate features (N x 256, float64) of ``net`` on ``images`` (N x C x H x W in [0, 1]),
    remembered across runs by the net's weights and the images' content: a warm re-run of the
    notebook reads them instead of passing every saved epoch's samples through the net again."""
    return cache.memo(f"{_CACHE}-features", _embed, net, images).numpy()


def _frechet(real: torch.Tensor, fake: torch.Tensor) -> float:
    return float(quality.frechet_distance(real.numpy(), fake.numpy(), bootstrap=0)["fd"])


def frechet(real: np.ndarray, fake: np.ndarray) -> float:
    """Frechet distance of two feature sets (no interval), remembered like :func:`embed` (its
    matrix square root takes about 0.1 s per generator and epoch, 2 s of a warm quick run); nan
    with fewer than twice as many vectors as features, where the covariances are singular."""
    if len(fake) < 2 * fake.shape[1]:
        return float("nan")
    return cache.memo(f"{_CACHE}-fd", _frechet, torch.from_numpy(real), torch.from_numpy(fake))


@dataclass
class Scorer:
    """One dataset's feature space: the classifier (``net``, eval mode) and its clean accuracy on
    the real test images (``correct`` of ``n_test``), the real features (``real``: n_kid_real x
    256, rescaled by ``scale``) and the block layout (``subsets`` blocks of ``block`` images)."""

    role: str
    dataset: str
    net: nn.Module
    correct: int
    n_test: int
    real: np.ndarray
    scale: float
    subsets: int
    block: int
    seed: int

    def features(self, images: torch.Tensor) -> np.ndarray:
        device = next(self.net.parameters()).device
        return embed(self.net, images.to(device)) / self.scale

    def blocks(self, images: torch.Tensor) -> np.ndarray:
        """Per-block KID (``subsets``,) of ``images`` (N x C x H x W in [0, 1]) against the real
        blocks of this feature space."""
        return quality.kid_blocks(self.real, self.features(images), self.subsets, self.seed, self.block)


def make_scorer(cfg, role: str, dataset: str, net: nn.Module, test: data_mod.ImageData) -> Scorer:
    """A :class:`Scorer` on the first ``n_kid_real`` of ``test`` (on the classifier's device)."""
    net = net.eval()
    x = test.x[:cfg["n_kid_real"]]
    correct = int((predict(net, test.x) == test.y).sum())
    feats = embed(net, x)
    scale = float(np.sqrt((feats ** 2).mean())) or 1.0
    return Scorer(role, dataset, net, correct, len(test.y), feats / scale, scale, cfg["kid_subsets"],
                  cfg["n_samples"] // cfg["kid_subsets"], cfg["seed"])


@dataclass
class SampleQuality:
    """Per generator (key: ``dcgan_mnist``, ``fc_mnist``, ..., ``vae_fashion_mnist``; the real
    reference under ``real_<role>``) and saved epoch, the per-block KID (``blocks``); which
    feature space scored it (``role`` per key) and the scorers; the Frechet distance of all
    samples (``fd``, no interval: FD is biased upward for small samples, so KID decides; nan
    with fewer than twice as many samples as features, where the covariances are singular)."""

    scorers: dict[str, Scorer]
    blocks: dict[str, dict[int, np.ndarray]] = field(default_factory=dict)
    role: dict[str, str] = field(default_factory=dict)
    title: dict[str, str] = field(default_factory=dict)
    fd: dict[str, dict[int, float]] = field(default_factory=dict)

    def add(self, key: str, title: str, role: str, epoch: int, images: torch.Tensor) -> None:
        s = self.scorers[role]
        feats = s.features(images)
        self.blocks.setdefault(key, {})[epoch] = quality.kid_blocks(s.real, feats, s.subsets, s.seed, s.block)
        self.fd.setdefault(key, {})[epoch] = frechet(s.real, feats)
        self.role[key], self.title[key] = role, title

    def last_epoch(self, key: str) -> int:
        return max(self.blocks[key])

    def table(self) -> pd.DataFrame:
        """One row per generator and epoch: dataset, generator, epoch, KID with its 95 % t
        interval over the blocks, blocks x images, FD."""
        rows = []
        for key, per_epoch in self.blocks.items():
            s = self.scorers[self.role[key]]
            for epoch, b in sorted(per_epoch.items()):
                kid = quality.summarise_blocks(b)
                rows.append({"dataset": s.dataset, "generator": self.title[key], "key": key, "epoch": epoch,
                             "KID": kid["kid"], "low": kid["low"], "high": kid["high"],
                             "blocks x images": f"{s.subsets} x {s.block}", "FD": self.fd[key][epoch]})
        return pd.DataFrame(rows)

    def feature_table(self) -> pd.DataFrame:
        """Per feature space: the classifier's dataset, its clean test accuracy, real images."""
        from lib.stats import clopper_pearson, format_interval

        rows = []
        for s in self.scorers.values():
            low, high = clopper_pearson(s.correct, s.n_test)
            rows.append({"role": s.role, "dataset": s.dataset, "feature classifier accuracy (%)":
                         format_interval(s.correct / s.n_test, low, high), "real test images": len(s.real),
                         "blocks x images": f"{s.subsets} x {s.block}"})
        return pd.DataFrame(rows)


def scorers(ctx, tasks: Mapping) -> dict[str, Scorer]:
    """The three feature spaces, keyed by role: the plain Fashion-MNIST and CIFAR-10 classifiers of
    section IV (``tasks``), and the same architecture trained on the MNIST role's data with the
    plain classifiers' recipe for ``mnist_clf_epochs`` (cached like them)."""
    from lib.reports.generative_lipschitz import experiment as ex

    cfg, mnist = ctx.cfg, ctx.cfg["mnist_data"]
    train, val, test = ex.classifier_splits(cfg, mnist)
    fit = ex.train_classifier(cfg, mnist, train, val, lipschitz=False, device=ctx.device,
                              epochs=cfg["mnist_clf_epochs"])
    out = {"mnist": make_scorer(cfg, "mnist", mnist, ex.freeze(fit.model), test.to(ctx.device))}
    for role, t in tasks.items():
        out[role] = make_scorer(cfg, role, t.dataset, t.models.plain.model, t.test)
    return out


def real_references(ctx) -> dict[str, torch.Tensor]:
    """Per role, ``n_samples`` real training images (the KID reference: 0 up to noise)."""
    from lib.reports.generative_lipschitz import experiment as ex

    cfg = ctx.cfg
    keys = {"mnist": "mnist_data", **ex.ROLES}
    return {role: data_mod.load(cfg[key], "train", n=cfg["n_samples"], seed=cfg["seed"] + 1).x
            for role, key in keys.items()}


def score(cfg, scorers_: Mapping[str, Scorer], gans: Mapping, vaes: Mapping,
          real: Mapping[str, torch.Tensor]) -> SampleQuality:
    """KID blocks of every GAN at every saved epoch (``gans``: key -> GANFit), of each VAE's prior
    samples after its last epoch (``vaes``: role -> VAEFit) and of ``real`` training images per
    role (the reference)."""
    from lib.models.generative import vae as vae_mod

    q = SampleQuality(dict(scorers_))
    for key, g in gans.items():
        for epoch, images in sorted(g.result.samples.items()):
            q.add(key, g.title, g.role, epoch, images)
    for role, v in vaes.items():
        images = vae_mod.sample(v.fit.model, cfg["n_samples"], seed=cfg["seed"])
        q.add(f"vae_{role}", f"VAE, {v.dataset}", role, len(v.fit.history), images)
    for role, x in real.items():
        q.add(f"real_{role}", f"{REAL}, {q.scorers[role].dataset}", role, 0, x)
    return q
