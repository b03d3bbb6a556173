"""lib.precision: bf16 autocast and channels_last for speed, every decision in fp32."""
from __future__ import annotations

import functools

import pytest
import torch
from torch import nn

from lib import attacks, cache, data, evaluate, models, precision, runtime, stats, train
from lib.sweep import worst_case_sweep

pytestmark = pytest.mark.usefixtures("one_thread")


def test_auto_picks_by_hardware_not_by_name(monkeypatch):
    monkeypatch.delenv("ADV_PRECISION", raising=False)
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)
    plain = precision.resolve("auto", "cpu")
    assert plain.name == "fp32" and "no native bf16" in plain.reason
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    assert precision.resolve("auto", "cpu").name == "bf16"
    assert precision.resolve("fp32", "cpu").name == "fp32"          # an explicit choice wins


def test_env_overrides_auto_but_not_an_explicit_choice(monkeypatch):
    monkeypatch.setenv("ADV_PRECISION", "fp32")
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    assert precision.resolve("auto", "cpu").name == "fp32"
    assert precision.resolve("bf16", "cpu").name == "bf16"
    monkeypatch.setenv("ADV_PRECISION", "fast")
    with pytest.raises(ValueError, match="ADV_PRECISION must be one of"):
        precision.resolve(None, "cpu")


def test_bad_choices_are_refused():
    with pytest.raises(ValueError, match="precision must be one of"):
        precision.resolve("int8", "cpu")
    with pytest.raises(ValueError, match="fp16 is for GPUs"):
        precision.resolve("fp16", "cpu")


def test_profiles_carry_precision_and_refuse_bad_values(monkeypatch):
    from lib import profiles
    from lib.params import ConfigError

    monkeypatch.delenv("ADV_PRECISION", raising=False)
    assert profiles.resolve("library_tour", "smoke").precision == "auto"
    assert profiles.resolve("library_tour", "smoke", {"precision": "fp32"}).precision == "fp32"
    with pytest.raises(ConfigError, match="precision"):
        profiles.resolve("library_tour", "smoke", {"precision": "fp8"})
    with pytest.raises(ConfigError, match="fp16 is for GPUs"):
        profiles.resolve("library_tour", "smoke", {"precision": "fp16", "device": "cpu"})


def test_channels_last_and_autocast_keep_values_close(small_model, eval_batch):
    x, _ = eval_batch
    with torch.no_grad():
        ref = small_model(x)
        fast = precision.wrap(small_model, precision.resolve("bf16", "cpu"))(x)
        again = small_model(x)
    assert torch.equal(ref, again)                 # preparing (channels_last) changed no value
    assert fast.dtype == torch.float32              # logits handed back in fp32
    assert (fast - ref).abs().max() < 0.1 * ref.abs().max()


class _Honest(nn.Module):
    """Always class 0 in fp32, whatever the input (but with a gradient through ``x``)."""

    def __init__(self, d: int):
        super().__init__()
        self.w = nn.Parameter(torch.randn(d, generator=torch.Generator().manual_seed(0)))

    def forward(self, x):
        s = (x.flatten(1) * self.w).sum(1) * 1e-6
        return torch.stack([10 + s, s], 1)


class _Liar(nn.Module):
    """What a low-precision pass might say about the same model: class 1, with a real gradient."""

    def __init__(self, honest: _Honest):
        super().__init__()
        self.honest = honest

    def forward(self, x):
        s = (x.flatten(1) * self.honest.w).sum(1)
        return torch.stack([s, 10 + s * 0.5], 1)


def test_a_low_precision_success_that_fp32_rejects_is_not_counted(monkeypatch):
    x = torch.rand(6, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    y = torch.zeros(6, dtype=torch.long)
    model = _Honest(16).eval()
    monkeypatch.setattr(precision, "wrap", lambda m, policy=None: _Liar(m))
    # BIM starts at x: had the liar's "fooled" frozen the images, they would come back as x.
    adv = attacks.bim(model, x, y, 0.1, steps=3, stop_when_fooled=True)
    assert (adv - x).abs().amax() > 0.05
    res = worst_case_sweep(model, x, y, {"BIM": functools.partial(attacks.bim, steps=3)}, [0.0, 0.1],
                           progress_bar=False)
    assert res.robust.all()                      # the fp32 model was never fooled
    # CW keeps only fp32-confirmed examples: none here, so every image comes back clean.
    assert torch.equal(attacks.cw_l2(model, x, y, steps=5), x)


def test_pgd_and_apgd_in_bf16_match_fp32(small_model, eval_batch):
    x, y = eval_batch
    pgd = functools.partial(attacks.pgd, steps=10, generator=None)
    robust = {}
    for name in ("fp32", "bf16"):
        with precision.using(precision.resolve(name, "cpu")):
            for attack_name, attack in {"PGD": pgd, "APGD": functools.partial(attacks.apgd, steps=10)}.items():
                torch.manual_seed(0)
                res = worst_case_sweep(small_model, x, y, {attack_name: attack}, [0.1], progress_bar=False)
                robust[name, attack_name] = res.robust[:, -1]
    for attack_name in ("PGD", "APGD"):
        a, b = robust["fp32", attack_name], robust["bf16", attack_name]
        assert abs(a.float().mean() - b.float().mean()) <= 0.02 + 1e-9
        assert stats.mcnemar_exact(a, b).p_value > 0.05


def test_bf16_training_reaches_fp32_accuracy(synthetic_split):
    train_set, test_set = synthetic_split
    cfg = train.TrainConfig(epochs=2, batch_size=64, lr=0.05, warmup=0.1, scheduler="linear", ema=0.9)
    correct = {}
    for name in ("fp32", "bf16"):
        runtime.seed_everything(0)
        model = models.SmallCNN("synthetic28", width=8)
        fit = train.fit(model, train_set, cfg, use_cache=False, progress_bar=False,
                        policy=precision.resolve(name, "cpu"))
        assert fit.info["precision"] == name
        correct[name] = evaluate.predict(fit.model, test_set.x) == test_set.y
    a, b = correct["fp32"].float().mean(), correct["bf16"].float().mean()
    assert a > 0.5 and b > 0.5
    assert stats.mcnemar_exact(correct["fp32"], correct["bf16"]).p_value > 0.05


@pytest.mark.filterwarnings("ignore::lib.train.UntrainedModelWarning")
def test_checkpoint_and_result_keys_differ_by_precision(tmp_path, monkeypatch):
    monkeypatch.setenv("ADV_CHECKPOINT_DIR", str(tmp_path))
    tiny = data.load("synthetic28", "train", n=64, seed=0)
    cfg = train.TrainConfig(epochs=1, batch_size=32)
    paths, calls = set(), []
    for name in ("fp32", "bf16"):
        policy = precision.resolve(name, "cpu")
        fit = train.fit(models.SmallCNN("synthetic28", width=4), tiny, cfg, name="k", progress_bar=False,
                        policy=policy)
        paths.add(fit.path)
        with precision.using(policy):
            cache.cached_result("k", {"a": 1}, lambda: calls.append(1) or len(calls))
            cache.cached_result("k", {"a": 1}, lambda: calls.append(1) or len(calls))
    assert len(paths) == 2
    assert len(calls) == 2            # computed once per precision, reused within one
