"""The adaptive evaluation of lib.robustness: the strong attack set, convergence, the unbounded
check, the sanity table and the randomised-defense helpers."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from lib import cache, robustness
from lib.sweep import worst_case_sweep


@pytest.fixture
def batch(small_model, eval_batch):
    x, y = eval_batch
    return small_model, x[:60], y[:60]


def test_attack_set_is_cacheable_ordered_and_stays_in_the_ball(batch):
    model, x, y = batch
    small = robustness.Budget(pgd_steps=3, restarts=2, apgd_steps=5, square_queries=20)
    set_ = robustness.attack_set("inf", small)
    assert list(set_)[0] == robustness.SINGLE_STEP and list(set_)[-1] == robustness.GRADIENT_FREE
    cache.config_hash(set_)   # every entry can be fingerprinted, so sweeps over it can be cached
    for name, attack in set_.items():
        adv = attack(model, x, y, 0.05)
        assert (adv - x).abs().max() <= 0.05 + 1e-6, name
        assert adv.min() >= 0 and adv.max() <= 1, name
    rejecting = robustness.attack_set("2", small, reject=True)
    assert robustness.SINGLE_STEP not in rejecting and all("norm" in a.keywords for a in rejecting.values())
    with pytest.raises(ValueError, match="restarts"):
        robustness.Budget(restarts=0)


def test_registry_of_strong_sets_is_extended_not_rebuilt():
    import functools

    from lib import attacks

    b = robustness.Budget(pgd_steps=3, restarts=1, apgd_steps=3, square_queries=5)
    assert set(robustness.THREATS) == {"Linf", "L2", "Linf-reject", "L2-reject"}
    l2 = robustness.strong_set("L2", b)
    assert l2.keys() == robustness.attack_set("2", b).keys()
    assert all(a.keywords["norm"] == "2" for a in l2.values())
    mine = functools.partial(attacks.pgd, norm="2", steps=1)
    ext = robustness.strong_set("L2", b, first={"report PGD": mine}, gradient={"unrolled": mine}, without=["FGSM"])
    names = list(ext)
    assert names[0] == "report PGD" and names[-1] == robustness.GRADIENT_FREE and names[-2] == "unrolled"
    assert robustness.SINGLE_STEP not in ext
    reject = robustness.strong_set("Linf-reject", b)
    assert all(a.keywords.get("reject", True) for a in reject.values() if "reject" in a.keywords)
    assert reject.keys() == robustness.attack_set("inf", b, reject=True).keys()
    cache.config_hash(ext)
    with pytest.raises(ValueError, match="threat"):
        robustness.strong_set("L1", b)
    with pytest.raises(ValueError, match="twice"):
        robustness.strong_set("L2", b, first={"PGD-CE": mine})
    with pytest.raises(ValueError, match="not in"):
        robustness.strong_set("L2", b, without=["BIM"])


def test_convergence_rows_and_nested_restarts(batch):
    model, x, y = batch
    table = robustness.convergence(model, x, y, 0.05, steps=(1, 3), restarts=(1, 3), restart_steps=2)
    assert list(table["budget"]) == ["steps", "steps", "restarts", "restarts"]
    assert table["p_vs_previous"].isna().sum() == 2
    restarts = table[table["budget"] == "restarts"]["accuracy"].to_list()
    assert restarts[1] <= restarts[0], "more restarts (the same first starts) never leave more accuracy"
    assert (table["low"] <= table["accuracy"]).all() and (table["accuracy"] <= table["high"]).all()


def test_unbounded_attack_breaks_every_image_and_sanity_rows(batch):
    model, x, y = batch
    u = robustness.unbounded(model, x, y, steps=10)
    assert u["n"] > 0 and u["succeeded"] == u["n"] and u["rate"] == 1.0
    sweep = worst_case_sweep(model, x, y, robustness.attack_set("inf", robustness.Budget(
        pgd_steps=3, restarts=1, apgd_steps=5, square_queries=10)), [0.02, 0.1], progress_bar=False)
    step = robustness.single_step_vs_iterative(model, x, y, 0.05, steps=5)
    conv = robustness.convergence(model, x, y, 0.05, steps=(1, 5), restarts=(1, 2), restart_steps=3)
    table = robustness.sanity_table("small", sweep, unbounded_result=u, convergence_table=conv, step_check=step)
    assert set(table.columns) == {"model", "check", "passed", "detail"}
    assert table.set_index("check").filter(like="unbounded", axis=0)["passed"].all()
    assert table.set_index("check").filter(like="non-increasing", axis=0)["passed"].all()


def test_sanity_table_flags_a_gradient_free_win_and_an_unfinished_attack(batch):
    model, x, y = batch
    sweep = worst_case_sweep(model, x, y, robustness.attack_set("inf", robustness.Budget(
        pgd_steps=1, restarts=1, apgd_steps=1, square_queries=10)), [0.1], progress_bar=False)
    sweep.table.loc[sweep.table["attack"] == robustness.GRADIENT_FREE, "broken"] = 3   # as if Square won
    u = dict(n=10, succeeded=9, rate=0.9, low=0.5, high=1.0, eps=1.0)
    table = robustness.sanity_table("m", sweep, unbounded_result=u).set_index("check")
    assert not table.filter(like="unbounded", axis=0)["passed"].any()
    assert not table.filter(like="gradient-free", axis=0)["passed"].any()


class _Noisy(nn.Module):
    def __init__(self, base, sigma):
        super().__init__()
        self.base, self.sigma = base, sigma

    def forward(self, x):
        return self.base(x) + self.sigma * torch.randn(len(x), 10)


def test_random_accuracy_and_expected_model(batch):
    model, x, y = batch
    quiet = robustness.random_accuracy(_Noisy(model, 0.0), x, y, draws=4)
    plain = (model(x).argmax(1) == y).float().mean().item()
    assert quiet["expected"] == pytest.approx(plain) and quiet["majority"] == pytest.approx(plain)
    loud = robustness.random_accuracy(_Noisy(model, 1e3), x, y, draws=8)
    assert loud["expected"] < 0.5, "noise this large makes each draw near chance"
    expected = robustness.ExpectedModel(_Noisy(model, 0.0), draws=3)
    assert torch.allclose(expected(x).exp(), torch.softmax(model(x), 1), atol=1e-5)
    with pytest.raises(ValueError, match="draws"):
        robustness.ExpectedModel(model, draws=0)


def test_eot_sweep_columns(batch):
    model, x, y = batch
    table = robustness.eot_sweep(_Noisy(model, 0.1), x[:20], y[:20], 0.05, draws=(1, 2), steps=2, eval_draws=4)
    assert list(table["eot"]) == [1, 2]
    assert ((table["low"] <= table["majority"]) & (table["majority"] <= table["high"])).all()


def test_expected_models_with_different_draws_have_different_cache_keys(small_model):
    from lib import cache

    assert cache.config_hash(robustness.ExpectedModel(small_model, 2)) != \
        cache.config_hash(robustness.ExpectedModel(small_model, 4))
