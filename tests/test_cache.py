"""lib.cache: results as pure functions of their keys, and bad cached files set aside (issue 19,
items 1 and 3)."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from lib import cache, data, models, runtime, train


@pytest.fixture
def ckpt_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("ADV_CHECKPOINT_DIR", str(tmp_path / "ck"))
    return tmp_path / "ck"


def _draws():
    return random.random(), float(np.random.rand()), float(torch.rand(()))


def _noisy():
    """A computation that draws from every global generator, as an attack's random start does."""
    return torch.rand(5) + float(np.random.rand()) + random.random()


def test_a_cached_result_neither_reads_nor_moves_the_callers_random_state(ckpt_dir):
    runtime.seed_everything(1)
    first = cache.cached_result("noisy", {"k": 1}, _noisy)     # computed
    after_miss = _draws()
    runtime.seed_everything(1)
    again = cache.cached_result("noisy", {"k": 1}, _noisy)     # read
    assert _draws() == after_miss
    assert torch.equal(first, again)
    runtime.seed_everything(2)                                  # another caller state, recomputed
    assert torch.equal(cache.cached_result("noisy", {"k": 1}, _noisy, use_cache=False), first)
    assert not torch.equal(cache.cached_result("noisy", {"k": 2}, _noisy), first)   # another key


def test_isolated_rng_restores_every_generator_even_on_error():
    runtime.seed_everything(3)
    expected = _draws()
    runtime.seed_everything(3)
    with pytest.raises(RuntimeError), cache.isolated_rng(seed=7):
        _draws()
        raise RuntimeError("boom")
    assert _draws() == expected


@pytest.mark.parametrize("damage", ["truncated", "planted", "garbage"])
def test_an_unreadable_result_is_named_set_aside_and_recomputed(ckpt_dir, damage, tmp_path, capsys):
    value = cache.cached_result("r", {"k": 1}, lambda: torch.arange(4))
    (path,) = (ckpt_dir / "results").glob("r-*.pt")
    marker = tmp_path / "pwned"
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:40])
    elif damage == "planted":
        torch.save(_Payload(str(marker)), path)
    else:
        path.write_bytes(b"not a checkpoint at all")
    calls = []
    again = cache.cached_result("r", {"k": 1}, lambda: calls.append(1) or torch.arange(4))
    assert calls == [1] and torch.equal(again, value) and not marker.exists()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and path.name in err and "weights_only" not in err
    assert len(list((ckpt_dir / "results").glob(f"{path.name}.corrupt-*"))) == 1
    assert torch.equal(cache.cached_result("r", {"k": 1}, lambda: pytest.fail("recomputed")), value)


class _Payload:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_load_never_passes_on_the_advice_to_load_without_weights_only(tmp_path):
    bad = tmp_path / "planted.pt"
    torch.save(_Payload(str(tmp_path / "pwned")), bad)
    with pytest.raises(cache.UnreadableFile) as err:
        cache.load(bad)
    assert str(bad) in str(err.value) and "weights_only" not in str(err.value)
    assert err.value.__cause__ is None and err.value.__suppress_context__


@pytest.fixture
def tiny():
    return data.load("synthetic28", "train", n=200, seed=0)


CFG = train.TrainConfig(epochs=1, batch_size=100, lr=0.05, seed=0)


def _model():
    runtime.seed_everything(0)
    return models.SmallCNN("synthetic28", width=4)


@pytest.mark.parametrize("damage", ["truncated", "nan weights"])
def test_a_bad_checkpoint_is_set_aside_and_the_model_retrained(tiny, ckpt_dir, damage, capsys):
    first = train.fit(_model(), tiny, CFG, name="m")
    if damage == "truncated":
        first.path.write_bytes(first.path.read_bytes()[:1000])
    else:
        state = torch.load(first.path, weights_only=True)
        next(iter(state["model"].values())).fill_(float("nan"))
        torch.save(state, first.path)
    again = train.fit(_model(), tiny, CFG, name="m")
    assert not again.from_cache
    assert all(torch.isfinite(p).all() for p in again.model.parameters())
    err = capsys.readouterr().err
    assert first.path.name in err and ("non-finite" in err) == (damage == "nan weights")
    assert train.fit(_model(), tiny, CFG, name="m").from_cache


def test_training_leaves_the_callers_random_state_as_loading_does(tiny, ckpt_dir):
    """Cold (trains) and warm (loads) fits hand back the same random state, so whatever the
    notebook draws next (the next model's initial weights) does not depend on the cache."""
    model = _model()
    train.fit(model, tiny, CFG, name="m")
    cold = _draws()
    model = _model()
    assert train.fit(model, tiny, CFG, name="m").from_cache
    assert _draws() == cold
