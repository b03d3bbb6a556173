"""lib.quality: kernel and Frechet distances between feature sets, with intervals."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from lib import quality


def _gauss(n, d=8, shift=0.0, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d)) + shift


def test_kid_is_unbiased_for_one_distribution_and_separates_two():
    same = quality.kernel_distance(_gauss(400, seed=1), _gauss(400, seed=2))
    assert same["low"] <= 0 <= same["high"]
    apart = quality.kernel_distance(_gauss(400, seed=1), _gauss(400, shift=0.5, seed=2))
    assert apart["low"] > 0 and apart["kid"] > same["kid"]


def test_frechet_distance_of_a_mean_shift():
    a, b = _gauss(4000, d=4, seed=1), _gauss(4000, d=4, shift=1.0, seed=2)
    fd = quality.frechet_distance(a, b, bootstrap=20)
    assert fd["fd"] == pytest.approx(4.0, rel=0.1)           # ||mu_a - mu_b||^2 = d * 1^2
    assert fd["low"] <= fd["fd"] <= fd["high"]
    assert quality.frechet_distance(a, a, bootstrap=0)["fd"] == pytest.approx(0.0, abs=1e-6)


def test_bad_features_are_refused():
    with pytest.raises(ValueError, match="one width"):
        quality.kernel_distance(_gauss(50, d=3), _gauss(50, d=4))
    bad = _gauss(50)
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        quality.frechet_distance(bad, _gauss(50))
    with pytest.raises(ValueError, match="at least"):
        quality.kernel_distance(_gauss(5), _gauss(5), subsets=10)


def test_features_batches_an_embedding():
    x = torch.rand(7, 1, 4, 4)
    f = quality.features(lambda t: t.flatten(1)[:, :3], x, batch_size=3)
    assert f.shape == (7, 3) and f.dtype == np.float64


def test_kid_blocks_share_their_real_images_across_generators():
    """Two generators scored with the same real features, subsets and seed see the same real
    block i: a real block that is far from typical moves both scores together, so the paired
    difference is far less variable than either score."""
    real = _gauss(400, seed=1)
    g1, g2 = _gauss(400, shift=0.3, seed=2), _gauss(400, shift=0.4, seed=3)
    b1, b2 = quality.kid_blocks(real, g1, subsets=8), quality.kid_blocks(real, g2, subsets=8)
    assert b1.shape == b2.shape == (8,)
    assert np.corrcoef(b1, b2)[0, 1] > 0.5
    assert np.std(b2 - b1) < min(np.std(b1), np.std(b2))
    kid = quality.kernel_distance(real, g1, subsets=8)
    assert kid["kid"] == pytest.approx(b1.mean()) and kid["block"] == 50
    assert quality.kid_blocks(real, g1, subsets=8, block=20).shape == (8,)
    with pytest.raises(ValueError, match="block must lie"):
        quality.kid_blocks(real, g1, subsets=8, block=60)
