"""lib.data: synthetic data, subsets, splits, augmentation, missing-data errors."""
from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
import torch

from lib import data


@pytest.mark.parametrize("name,shape", [("synthetic28", (1, 28, 28)), ("synthetic32", (3, 32, 32))])
def test_synthetic_is_deterministic_and_well_formed(name, shape):
    a = data.load(name, "train", n=500, seed=1)
    b = data.load(name, "train", n=500, seed=1)
    c = data.load(name, "test", n=500, seed=1)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert not torch.equal(a.x, c.x), "train and test must differ"
    assert a.x.shape == (500, *shape) and a.x.dtype == torch.float32 and a.y.dtype == torch.int64
    assert a.x.min() >= 0 and a.x.max() <= 1
    assert torch.bincount(a.y, minlength=10).tolist() == [50] * 10


def test_synthetic_classes_are_learnable(small_model, eval_batch):
    x, y = eval_batch
    assert (small_model(x).argmax(1) == y).float().mean() > 0.8


def test_stratified_subset_balanced_and_seeded():
    full = data.load("synthetic28", "train", n=1000)
    sub = data.stratified_subset(full, 95, seed=3)
    counts = torch.bincount(sub.y, minlength=10)
    assert len(sub) == 95 and counts.max() - counts.min() <= 1
    assert torch.equal(sub.x, data.stratified_subset(full, 95, seed=3).x)
    assert not torch.equal(sub.x, data.stratified_subset(full, 95, seed=4).x)
    with pytest.raises(ValueError, match="only 1000"):
        data.stratified_subset(full, 1001)


def test_train_val_split_disjoint():
    full = data.load("synthetic28", "train", n=600)
    full.x[:, 0, 0, 0] = torch.arange(600, dtype=torch.float32) / 600  # tag each image
    train, val = data.train_val_split(full, 100, seed=0)
    assert len(train) == 500 and len(val) == 100 and val.split == "val"
    tags_t, tags_v = set(train.x[:, 0, 0, 0].tolist()), set(val.x[:, 0, 0, 0].tolist())
    assert not tags_t & tags_v and len(tags_t | tags_v) == 600
    assert torch.bincount(val.y, minlength=10).tolist() == [10] * 10


def test_batches_cover_everything_once():
    d = data.load("synthetic28", "test", n=103)
    seen = torch.cat([y for _, y in data.batches(d, 20, shuffle=True, generator=torch.Generator().manual_seed(0))])
    assert sorted(seen.tolist()) == sorted(d.y.tolist())


def test_crop_flip_keeps_shape_and_content():
    x = torch.rand(16, 3, 32, 32)
    out = data.crop_flip(x, padding=4, generator=torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    same = data.crop_flip(x, padding=0, generator=torch.Generator().manual_seed(0))
    for a, b in zip(same, x):  # with no padding only flips are possible
        assert torch.equal(a, b) or torch.equal(a, b.flip(2))


def test_unknown_dataset_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown dataset 'cifar100'"):
        data.load("cifar100")


def test_missing_dataset_says_how_to_get_it(tmp_path):
    with pytest.raises(data.DatasetUnavailable, match="make data"):
        data.load("cifar10", "test", root=tmp_path, download=False)


def _idx(path, magic, count, payload):
    with gzip.open(path, "wb") as f:
        f.write(struct.pack(">II", magic, count) + payload)


def test_debian_files_are_verified(tmp_path):
    """A corrupted (here: truncated label) file is refused, not silently used."""
    src = tmp_path / "debian"
    src.mkdir()
    _idx(src / "train-images-idx3-ubyte.gz", 2051, 60000, struct.pack(">II", 28, 28) + bytes(60000 * 784))
    _idx(src / "train-labels-idx1-ubyte.gz", 2049, 60000, np.repeat(np.arange(10, dtype=np.uint8), 6000).tobytes())
    _idx(src / "t10k-images-idx3-ubyte.gz", 2051, 10000, struct.pack(">II", 28, 28) + bytes(10000 * 784))
    _idx(src / "t10k-labels-idx1-ubyte.gz", 2049, 10000, bytes(9999))
    with pytest.raises(data.DatasetUnavailable, match="t10k-labels.*failed verification"):
        data.install_debian_fashion_mnist(tmp_path / "root", source=src)


@pytest.mark.realdata
def test_real_fashion_mnist(real_fashion_mnist):
    train, test = real_fashion_mnist
    assert len(train) == 60000 and len(test) == 10000
    assert test.x.shape[1:] == (1, 28, 28) and 0 <= test.x.min() and test.x.max() <= 1
    assert torch.bincount(test.y, minlength=10).tolist() == [1000] * 10
    assert test.classes[9] == "Ankle boot"
