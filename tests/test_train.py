"""lib.train and lib.cache: history, cache reuse, invalidation, resume, atomic files."""
from __future__ import annotations

import functools

import pytest
import torch

from lib import attacks, cache, data, models, runtime, train

CFG = train.TrainConfig(epochs=2, batch_size=100, lr=0.05, seed=0)


@pytest.fixture
def tiny():
    return data.load("synthetic28", "train", n=400, seed=0)


@pytest.fixture
def ckpt_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("ADV_CHECKPOINT_DIR", str(tmp_path / "ck"))
    return tmp_path / "ck"


def _model():
    runtime.seed_everything(0)
    return models.SmallCNN("synthetic28", width=4)


def _weights(model):
    return torch.cat([p.detach().flatten() for p in model.state_dict().values()])


def test_history_and_checkpoint(tiny, ckpt_dir):
    result = train.fit(_model(), tiny, CFG, name="m", val=tiny)
    assert list(result.history.columns) == ["epoch", "loss", "train_acc", "val_acc", "lr", "seconds", "eval_seconds"]
    assert result.history["epoch"].tolist() == [1, 2]
    assert result.path.exists() and result.path.parent == ckpt_dir
    assert not result.from_cache
    assert not list(ckpt_dir.glob("*.partial.pt")), "the partial checkpoint is removed when done"


def test_second_call_loads_instead_of_training(tiny, ckpt_dir, monkeypatch):
    first = train.fit(_model(), tiny, CFG, name="m")
    monkeypatch.setattr(train, "_optimizer", lambda *a: pytest.fail("retrained a cached model"))
    again = train.fit(_model(), tiny, CFG, name="m")
    assert again.from_cache and again.path == first.path
    assert torch.equal(_weights(again.model), _weights(first.model))
    assert again.history.equals(first.history)


@pytest.mark.parametrize("change", ["config", "data", "architecture", "hook"])
def test_any_change_retrains(tiny, ckpt_dir, change):
    base = train.fit(_model(), tiny, CFG, name="m")
    model, data_, cfg, hook = _model(), tiny, CFG, None
    if change == "config":
        cfg = train.TrainConfig(epochs=2, batch_size=100, lr=0.02, seed=0)
    elif change == "data":
        data_ = data.load("synthetic28", "train", n=400, seed=1)
    elif change == "architecture":
        runtime.seed_everything(0)
        model = models.SmallCNN("synthetic28", width=6)
    else:
        hook = train.adversarial_hook(attacks.fgsm, eps=0.1)
    other = train.fit(model, data_, cfg, name="m", hook=hook)
    assert not other.from_cache and other.path != base.path


def test_hook_arguments_enter_the_key():
    a = cache.config_hash(train.adversarial_hook(attacks.pgd, eps=0.1, steps=3))
    b = cache.config_hash(train.adversarial_hook(attacks.pgd, eps=0.2, steps=3))
    assert a != b
    assert a == cache.config_hash(train.adversarial_hook(attacks.pgd, eps=0.1, steps=3))


def test_frozen_module_weights_enter_the_key():
    """A loss that uses a frozen classifier must key by that classifier's weights."""
    m1, m2 = _model(), _model()
    assert cache.config_hash(functools.partial(train.cross_entropy, m1)) == \
        cache.config_hash(functools.partial(train.cross_entropy, m2))
    with torch.no_grad():
        next(m2.parameters()).add_(1.0)
    assert cache.config_hash(functools.partial(train.cross_entropy, m1)) != \
        cache.config_hash(functools.partial(train.cross_entropy, m2))


def test_closures_are_refused():
    eps = 0.1
    with pytest.raises(TypeError, match="closure"):
        cache.config_hash(lambda m, x, y: (attacks.fgsm(m, x, y, eps), y))


class Interrupt:
    """A no-op hook that raises KeyboardInterrupt at a chosen batch; its key ignores that."""

    def __init__(self, at_batch=None):
        self.at_batch, self.calls = at_batch, 0

    def cache_key(self):
        return "noop"

    def __call__(self, model, x, y):
        self.calls += 1
        if self.at_batch is not None and self.calls == self.at_batch:
            raise KeyboardInterrupt
        return x, y


def test_interrupted_training_resumes_where_it_stopped(tiny, ckpt_dir, tmp_path, monkeypatch):
    cfg = train.TrainConfig(epochs=3, batch_size=100, lr=0.05, seed=0)
    with pytest.raises(KeyboardInterrupt):  # stops in epoch 2 (4 batches per epoch)
        train.fit(_model(), tiny, cfg, name="r", hook=Interrupt(at_batch=6))
    partials = list(ckpt_dir.glob("r-*.partial.pt"))
    assert len(partials) == 1 and not list(ckpt_dir.glob("r-*[0-9a-f].pt"))
    assert not list(ckpt_dir.glob(".*")), "no temporary files left behind"

    resumed_hook = Interrupt()
    resumed = train.fit(_model(), tiny, cfg, name="r", hook=resumed_hook)
    assert resumed_hook.calls == 8, "only epochs 2 and 3 are trained again"
    assert resumed.history["epoch"].tolist() == [1, 2, 3]

    monkeypatch.setenv("ADV_CHECKPOINT_DIR", str(tmp_path / "fresh"))
    straight = train.fit(_model(), tiny, cfg, name="r", hook=Interrupt())
    assert torch.allclose(_weights(resumed.model), _weights(straight.model), atol=1e-6)


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out" / "table.csv"
    with pytest.raises(RuntimeError):
        with cache.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash mid-write")
    assert not target.exists() and list(target.parent.iterdir()) == []


def test_adversarial_training_hook_runs(tiny, ckpt_dir):
    hook = train.adversarial_hook(attacks.pgd, eps=0.1, steps=2)
    result = train.fit(_model(), tiny, train.TrainConfig(epochs=1, batch_size=100), name="at", hook=hook)
    assert result.history["loss"].iloc[0] > 0


def test_bad_config_fails_fast():
    with pytest.raises(ValueError, match="optimizer"):
        train.TrainConfig(optimizer="rmsprop")
    with pytest.raises(ValueError, match="scheduler"):
        train.TrainConfig(scheduler="warmup")


def test_init_key_separates_fine_tuning_from_different_starts(tiny, ckpt_dir):
    a = train.fit(_model(), tiny, CFG, name="ft", init_key="base-1")
    b = train.fit(_model(), tiny, CFG, name="ft", init_key="base-2")
    assert a.path != b.path and not b.from_cache


def test_a_non_finite_loss_stops_training_with_a_clear_error(tiny, ckpt_dir):
    huge = train.TrainConfig(epochs=2, batch_size=100, lr=1e30, momentum=0.0, weight_decay=0.0, seed=0)
    with pytest.raises(train.TrainingDiverged, match="diverged: the loss is (nan|inf).*lower the learning rate"):
        train.fit(_model(), tiny, huge, name="div")
    assert not list(ckpt_dir.glob("div-*[0-9a-f].pt")), "a diverged run is never cached as finished"
    with pytest.raises(ValueError, match="must be finite"):
        train.TrainConfig(lr=float("inf"))


def test_a_model_left_at_chance_is_reported_untrained(tiny, ckpt_dir):
    frozen = train.TrainConfig(epochs=1, batch_size=100, lr=1e-12, momentum=0.0, seed=0)
    model = _model()
    with torch.no_grad():
        model.head[-1].weight.zero_()
        model.head[-1].bias.zero_()  # every logit equal: argmax is class 0, accuracy 1 / 10
    with pytest.warns(train.UntrainedModelWarning, match="untrained"):
        result = train.fit(model, tiny, frozen, name="chance")
    assert result.untrained
    assert not train.fit(_model(), tiny, CFG, name="m").untrained


class _Payload:
    """Unpickling this runs code: what a planted checkpoint would do."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_planted_checkpoint_cannot_run_code(tiny, ckpt_dir, tmp_path, capsys):
    first = train.fit(_model(), tiny, CFG, name="m")
    marker = tmp_path / "pwned"
    torch.save({"model": _Payload(str(marker)), "history": [], "info": {}}, first.path)
    again = train.fit(_model(), tiny, CFG, name="m")   # set aside, named, and trained again
    assert not marker.exists() and not again.from_cache
    err = capsys.readouterr().err
    assert first.path.name in err and "weights_only" not in err
    assert list(ckpt_dir.glob(f"{first.path.name}.corrupt-*"))
