"""lib.data: synthetic data, subsets, splits, augmentation, missing-data errors.

Sources and checksums: test_data_sources.py; cifar10_jpeg: test_data_cifar10_jpeg.py;
the real files: test_data_real.py.
"""
from __future__ import annotations

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


@pytest.mark.realdata
def test_real_fashion_mnist(real_fashion_mnist):
    train, test = real_fashion_mnist
    assert len(train) == 60000 and len(test) == 10000
    assert test.x.shape[1:] == (1, 28, 28) and 0 <= test.x.min() and test.x.max() <= 1
    assert torch.bincount(test.y, minlength=10).tolist() == [1000] * 10
    assert test.classes[9] == "Ankle boot"


def test_unknown_names_list_the_choices():
    with pytest.raises(ValueError, match=r"unknown dataset 'cifar100'; choose one of \[.*'cifar10_jpeg'"):
        data.load("cifar100")
    with pytest.raises(ValueError, match=r"unknown split 'val'; choose one of \['train', 'test'\]"):
        data.load("synthetic28", "val")
    with pytest.raises(TypeError, match="dataset name must be a str, got list"):
        data.load(["mnist"])


@pytest.mark.parametrize("n", [0, -5, 2.5, True, "10"])
def test_n_must_be_a_positive_integer(n):
    with pytest.raises(ValueError, match="n must be a positive integer"):
        data.load("synthetic28", "train", n=n)


def test_every_dataset_has_a_display_name():
    for name, meta in data.DATASETS.items():
        assert meta.name == name and meta.title and meta.how_to_get
    assert data.info("cifar10").note == "" and data.info("mnist").title == "MNIST"


def test_split_size_is_known_without_loading(tmp_path):
    assert data.split_size("mnist", "train") == 60000 and data.split_size("cifar10_jpeg", "test") == 10000
    assert data.split_size("synthetic28", "train") is None
    with pytest.raises(ValueError, match="unknown split"):
        data.split_size("mnist", "validation")
    # checked before looking for the data: a ValueError, not DatasetUnavailable
    with pytest.raises(ValueError, match=r"n=10001 is larger than the test split of 'cifar10' \(10000 images\)"):
        data.load("cifar10", "test", root=tmp_path, download=False, n=10001)
    assert data.ensure("synthetic32") == "generated on the fly"


def test_map_batches_is_the_one_batching_helper():
    x, y = torch.arange(10.0), torch.arange(10)
    assert torch.equal(data.map_batches(lambda a: a * 2, x, batch_size=3), x * 2)
    pair = data.map_batches(lambda a, b: (a + b, b), x, y, batch_size=4)
    assert torch.equal(pair[0], x + y) and torch.equal(pair[1], y)
    with pytest.raises(ValueError, match="different lengths"):
        data.map_batches(lambda a, b: a, x, y[:5])
    with pytest.raises(ValueError, match="empty"):
        data.map_batches(lambda a: a, x[:0])
