"""The real files: MNIST from the data mirror, Fashion-MNIST, cifar10_jpeg (skipped when absent).

The expected MD5s are written out here rather than taken from lib.data.sources, so that
a typo in the module's table cannot make its own test pass.
"""
from __future__ import annotations

import hashlib

import pytest
import torch

from lib import data, runtime
from lib.data import cifar10_jpeg, sources

# The published MD5s of the decompressed files (sources: lib/data/sources.py's docstring).
PUBLISHED_MD5 = {
    "mnist": {
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    },
    "fashion_mnist": {
        "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    },
}


def _md5(path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_module_table_is_the_published_one():
    assert sources.IDX_MD5 == PUBLISHED_MD5


@pytest.mark.realdata
def test_real_mnist_from_the_mirror(tmp_path):
    mirror = sources.mirror_dir()
    if mirror is None or not (mirror / "mnist" / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"no MNIST in the data mirror ({mirror}); set ADV_DATA_MIRROR")
    train = data.load("mnist", "train", root=tmp_path, download=False)   # installs from the mirror
    test = data.load("mnist", "test", root=tmp_path, download=False)
    assert (len(train), len(test)) == (60000, 10000) and train.x.shape[1:] == (1, 28, 28)
    assert torch.bincount(test.y, minlength=10).sum() == 10000 and set(test.y.tolist()) == set(range(10))
    for fname, md5 in PUBLISHED_MD5["mnist"].items():
        assert _md5(tmp_path / "MNIST" / "raw" / fname) == md5, fname


@pytest.mark.realdata
def test_real_fashion_mnist_has_the_published_md5s(real_fashion_mnist):
    raw = runtime.data_dir() / "FashionMNIST" / "raw"
    for fname, md5 in PUBLISHED_MD5["fashion_mnist"].items():
        assert _md5(raw / fname) == md5, fname


@pytest.mark.realdata
def test_real_cifar10_jpeg():
    try:
        train = data.load("cifar10_jpeg", "train", download=False)   # the cache, or one decode of the tar
        test = data.load("cifar10_jpeg", "test", download=False)
    except data.DatasetUnavailable as err:
        pytest.skip(f"cifar10_jpeg not available: {err}")
    assert (len(train), len(test)) == (50000, 10000) and train.x.shape[1:] == (3, 32, 32)
    assert torch.bincount(train.y, minlength=10).tolist() == [5000] * 10
    assert torch.bincount(test.y, minlength=10).tolist() == [1000] * 10
    assert 0 <= test.x.min() and test.x.max() <= 1 and 0.4 < test.x.mean() < 0.55
    assert train.info.title == "CIFAR-10 (JPEG q75 copy)"
    cached = torch.load(cifar10_jpeg.cache_path(runtime.data_dir(), "test"), weights_only=True)
    assert cached["source_sha256"] == "45b041e867f5a40f79bfde38d3dd1fd511103d50068c1afecf6445e25234d4db"
