"""Shared fixtures: isolated output folders and one small trained model on synthetic data."""
from __future__ import annotations

import os

os.environ.setdefault("ADV_PROGRESS", "0")

import pytest  # noqa: E402
import torch  # noqa: E402

import lib  # noqa: E402,F401  (first: it sets OpenMP's passive waiting before torch loads)


@pytest.fixture(autouse=True, scope="session")
def _isolated_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("adv")
    old = {k: os.environ.get(k) for k in ("ADV_CHECKPOINT_DIR", "ADV_FIGURES_DIR")}
    os.environ["ADV_CHECKPOINT_DIR"] = str(root / "checkpoints")
    os.environ["ADV_FIGURES_DIR"] = str(root / "figures")
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    yield root
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def synthetic_split():
    from lib import data

    return data.load("synthetic28", "train", n=1500, seed=0), data.load("synthetic28", "test", n=400, seed=0)


@pytest.fixture(scope="session")
def small_model(synthetic_split):
    """A SmallCNN trained briefly: accurate, but with logits far from saturation, so that
    gradients are well above float noise (attack comparisons need that)."""
    from lib import models, runtime, train

    train_set, _ = synthetic_split
    runtime.seed_everything(0)
    model = models.SmallCNN("synthetic28", width=8)
    result = train.fit(model, train_set, train.TrainConfig(epochs=1, batch_size=50, lr=0.02,
                                                           scheduler=None), name="fixture", use_cache=False)
    return result.model.eval()


@pytest.fixture(scope="session")
def eval_batch(synthetic_split):
    _, test_set = synthetic_split
    return test_set.x[:200], test_set.y[:200]


@pytest.fixture(scope="session")
def real_fashion_mnist():
    """Fashion-MNIST from data/ (installed by `make test` from Debian or torchvision)."""
    from lib import data

    try:
        return data.load("fashion_mnist", "train", download=False), data.load("fashion_mnist", "test", download=False)
    except data.DatasetUnavailable as err:
        pytest.skip(f"real Fashion-MNIST not available: {err}")


@pytest.fixture(scope="module")
def one_thread():
    """Tiny tensors: a second intra-op thread only adds synchronisation, which costs 100x on a
    CPU that other processes keep busy (measured: 0.1 s vs 1 ms per MLP step)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def mlp():
    """A small MLP trained for a few seconds on synthetic28: accurate, cheap to attack."""
    from torch import nn

    from lib import data

    train = data.load("synthetic28", "train", n=500, seed=0)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10))
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(12):
        for i in range(0, len(train.y), 100):
            opt.zero_grad()
            nn.functional.cross_entropy(model(train.x[i:i + 100]), train.y[i:i + 100]).backward()
            opt.step()
    return model.eval()


@pytest.fixture(autouse=True, scope="session")
def _fp32_by_default():
    """Unit tests compare with torchattacks, finite differences and exact values: fp32, whatever
    this machine's ``auto`` would pick. Tests of the low-precision engine switch with
    ``lib.precision.using``; the notebooks under smoke run in their profile's precision."""
    from lib import precision

    precision.use("fp32")
