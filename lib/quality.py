"""How close generated images are to real ones, with an interval: Frechet and kernel distances
in the feature space of a classifier the study trains itself.

The usual scores (FID, Heusel et al. 2017; KID, Binkowski et al. 2018) measure distances between
feature distributions of an ImageNet Inception network, whose weights cannot be downloaded here.
The same statistics are computed instead on the penultimate layer of one of the study's own
classifiers (for report 003, its Fashion-MNIST or CIFAR-10 CNN), so numbers are comparable only
within one feature network: across a GAN's epochs, or between two generators, never with
published FIDs.

- :func:`kernel_distance` (KID): the unbiased estimate of the squared maximum mean discrepancy
  with the cubic polynomial kernel ``k(a, b) = (a.b / d + 1)^3``, averaged over ``subsets``
  disjoint blocks of real and generated features; its interval is the t interval over the
  blocks. Unbiased, so its expectation is 0 for identical distributions at any sample size: the
  score to compare small samples with.
- :func:`kid_blocks`: the per-block values behind it. The real blocks depend only on the real
  features, ``subsets``, the block size and ``seed``, so two generators scored with the same
  arguments share their real images block by block: their per-block difference cancels the real
  sample's own variation, and a paired t test on it (:class:`lib.verdicts.Scores`) compares the
  two generators far more sharply than their two intervals do.
- :func:`frechet_distance` (FD): ``||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a S_b)^{1/2})`` between
  Gaussians fitted to the features, with a bootstrap interval (biased upward for small samples,
  which is why KID carries the verdicts).

Features come in as N x d tensors (:func:`features`: a model's ``embed`` in batches, fp32).
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from scipy import linalg

from lib import stats
from lib.data import map_batches


@torch.no_grad()
def features(embed: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, batch_size: int = 500) -> np.ndarray:
    """``embed`` (images N x C x H x W in [0, 1] -> N x d) over ``x`` in batches, as float64."""
    out = map_batches(lambda xb: embed(xb).float(), x, batch_size=batch_size)
    return out.cpu().double().numpy()


def _check(a: np.ndarray, b: np.ndarray, minimum: int) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"features must be N x d arrays of one width, got {a.shape} and {b.shape}")
    if min(len(a), len(b)) < minimum:
        raise ValueError(f"need at least {minimum} feature vectors on each side, got {len(a)} and {len(b)}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("features contain NaN or infinite values")
    return a, b


def _mmd2_unbiased(a: np.ndarray, b: np.ndarray) -> float:
    d = a.shape[1]
    kaa, kbb, kab = ((a @ a.T) / d + 1) ** 3, ((b @ b.T) / d + 1) ** 3, ((a @ b.T) / d + 1) ** 3
    m, n = len(a), len(b)
    return float((kaa.sum() - np.trace(kaa)) / (m * (m - 1)) + (kbb.sum() - np.trace(kbb)) / (n * (n - 1))
                 - 2 * kab.mean())


def kid_blocks(real: np.ndarray, generated: np.ndarray, subsets: int = 10, seed: int = 0,
               block: int | None = None) -> np.ndarray:
    """Per-block KID (``subsets``,): the unbiased MMD^2 of the cubic kernel between ``block``
    real and ``block`` generated features per block (default ``block``: as many as both sides
    allow), on disjoint random blocks of each side. The real blocks are drawn from ``seed``
    alone, so calls with the same ``real``, ``subsets``, ``block`` and ``seed`` use the same real
    images in block i, whatever ``generated`` is (paired comparisons of generators)."""
    real, generated = _check(real, generated, 2 * subsets)
    if subsets < 2:
        raise ValueError(f"subsets must be >= 2 for an interval, got {subsets}")
    most = min(len(real), len(generated)) // subsets
    block = most if block is None else int(block)
    if not 2 <= block <= most:
        raise ValueError(f"block must lie in [2, {most}] for {len(real)} real and {len(generated)} generated "
                         f"features in {subsets} subsets, got {block}")
    ia = np.random.default_rng(seed).permutation(len(real))
    ib = np.random.default_rng([seed, 1]).permutation(len(generated))
    return np.array([_mmd2_unbiased(real[ia[i * block:(i + 1) * block]], generated[ib[i * block:(i + 1) * block]])
                     for i in range(subsets)])


def summarise_blocks(values: np.ndarray, level: float = 0.95) -> dict:
    """Mean of per-block KIDs (:func:`kid_blocks`) with the t interval over the blocks:
    ``kid``, ``low``, ``high``, ``subsets``."""
    t = stats.paired_t(values, level)   # the t interval of a mean over blocks, as for a paired difference
    return dict(kid=t.difference, low=t.low, high=t.high, subsets=t.n)


def kernel_distance(a: np.ndarray, b: np.ndarray, subsets: int = 10, level: float = 0.95,
                    seed: int = 0, block: int | None = None) -> dict:
    """KID between feature sets ``a`` (real, N x d) and ``b`` (generated, M x d): the mean of
    :func:`kid_blocks` over ``subsets`` disjoint random blocks (each side split evenly), with a
    t interval over the blocks (:func:`summarise_blocks`). Returns ``kid``, ``low``, ``high``,
    ``subsets``, ``block`` (images per side and block)."""
    out = summarise_blocks(kid_blocks(a, b, subsets, seed, block), level)
    return dict(out, block=min(len(a), len(b)) // subsets if block is None else int(block))


def _frechet(a: np.ndarray, b: np.ndarray) -> float:
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root, _ = linalg.sqrtm(s_a @ s_b, disp=False)
    if not np.isfinite(root).all():      # near-singular products: nudge both, as the FID code does
        eps = 1e-6 * np.eye(len(s_a))
        root = linalg.sqrtm((s_a + eps) @ (s_b + eps))
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a + s_b - 2 * root.real))


def frechet_distance(a: np.ndarray, b: np.ndarray, bootstrap: int = 50, level: float = 0.95, seed: int = 0) -> dict:
    """FD between Gaussians fitted to ``a`` and ``b`` (N x d, M x d), with a percentile bootstrap
    interval over ``bootstrap`` resamples of both sides. Returns ``fd``, ``low``, ``high``."""
    a, b = _check(a, b, 2)
    rng = np.random.default_rng(seed)
    boots = [_frechet(a[rng.integers(0, len(a), len(a))], b[rng.integers(0, len(b), len(b))])
             for _ in range(bootstrap)]
    low, high = np.quantile(boots, [(1 - level) / 2, (1 + level) / 2]) if bootstrap else (math.nan, math.nan)
    return dict(fd=_frechet(a, b), low=float(low), high=float(high))


__all__ = ["features", "frechet_distance", "kernel_distance", "kid_blocks", "summarise_blocks"]
