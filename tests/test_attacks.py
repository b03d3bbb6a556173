"""lib.attacks: constraints, strength, bad input, and agreement with torchattacks."""
from __future__ import annotations

import functools

import pytest
import torch
import torchattacks

from lib import attacks, data, evaluate

ATTACKS = {
    "fgsm": attacks.fgsm,
    "bim": functools.partial(attacks.bim, steps=5),
    "pgd": functools.partial(attacks.pgd, steps=5),
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
@pytest.mark.parametrize("norm,eps", [("inf", 0.1), ("2", 1.5)])
def test_stays_in_ball_and_box(small_model, eval_batch, name, norm, eps):
    x, y = eval_batch
    x_adv = ATTACKS[name](small_model, x, y, eps, norm=norm)
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype and not x_adv.requires_grad
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    assert evaluate.distortion(x, x_adv, norm).max() <= eps * (1 + 1e-5) + 1e-6
    assert not torch.equal(x_adv, x)


def test_accuracy_falls_as_eps_grows(small_model, eval_batch):
    x, y = eval_batch
    table = evaluate.robust_accuracy(small_model, x, y, {"PGD": functools.partial(attacks.pgd, steps=10)},
                                     [0.0, 0.05, 0.1, 0.2, 0.4], convention="all")
    acc = table["accuracy"].to_numpy()
    assert acc[0] > 0.8, "the fixture model should be accurate on clean data"
    assert all(b <= a + 1e-9 for a, b in zip(acc, acc[1:])), acc
    assert acc[-1] < 0.05


def test_iterative_beats_single_step(small_model, eval_batch):
    x, y = eval_batch
    eps = 0.08
    fgsm_acc = (evaluate.predict(small_model, attacks.fgsm(small_model, x, y, eps)) == y).float().mean()
    pgd_acc = (evaluate.predict(small_model, attacks.pgd(small_model, x, y, eps, steps=20)) == y).float().mean()
    assert pgd_acc <= fgsm_acc


def test_targeted_pgd_reaches_target(small_model, eval_batch):
    x, y = eval_batch
    target = (y + 1) % 10
    x_adv = attacks.pgd(small_model, x, target, 0.3, steps=20, targeted=True)
    assert (evaluate.predict(small_model, x_adv) == target).float().mean() > 0.9


def test_cw_margin_loss_is_accepted(small_model, eval_batch):
    x, y = eval_batch
    x_adv = attacks.pgd(small_model, x, y, 0.2, steps=10, loss=attacks.cw_loss)
    assert (evaluate.predict(small_model, x_adv) == y).float().mean() < 0.2


def test_restarts_never_weaker(small_model, eval_batch):
    x, y = eval_batch
    one = attacks.pgd(small_model, x, y, 0.06, steps=5, generator=torch.Generator().manual_seed(3))
    many = attacks.pgd(small_model, x, y, 0.06, steps=5, restarts=3,
                       generator=torch.Generator().manual_seed(3))
    fooled_one = evaluate.predict(small_model, one) != y
    fooled_many = evaluate.predict(small_model, many) != y
    assert (fooled_many | ~fooled_one).all(), "the first restart equals the single run"
    assert evaluate.distortion(x, many, "inf").max() <= 0.06 + 1e-6


def test_eot_on_deterministic_model_changes_nothing(small_model, eval_batch):
    x, y = eval_batch
    a = attacks.bim(small_model, x, y, 0.1, steps=3)
    b = attacks.bim(small_model, x, y, 0.1, steps=3, eot=4)
    assert (a - b).abs().max() <= 1e-6


def test_attacks_a_pipeline_callable(small_model, eval_batch):
    """Any differentiable callable works: here a preprocessing step in front of the model."""
    x, y = eval_batch
    pipeline = lambda images: small_model(0.5 * images + 0.25)  # noqa: E731
    x_adv = attacks.pgd(pipeline, x, y, 0.2, steps=10)
    assert (evaluate.predict(pipeline, x_adv) == y).float().mean() < 0.5


@pytest.mark.parametrize("kwargs,match", [
    ({"eps": -0.1}, "eps must be a finite number >= 0"),
    ({"eps": float("nan")}, "eps must be a finite number >= 0"),
    ({"eps": float("inf")}, "eps must be a finite number >= 0"),
    ({"eps": "0.1"}, "eps must be a finite number >= 0"),
    ({"eps": 0.1, "norm": "3"}, "norm must be one of"),
    ({"eps": 0.1, "steps": 0}, "steps and restarts"),
    ({"eps": 0.1, "step_size": -0.01}, "step_size must be a finite number > 0"),
    ({"eps": 0.1, "step_size": float("nan")}, "step_size must be a finite number > 0"),
])
def test_bad_arguments_fail_fast(small_model, eval_batch, kwargs, match):
    x, y = eval_batch
    with pytest.raises(ValueError, match=match):
        attacks.pgd(small_model, x, y, **kwargs)


def test_bad_batches_fail_fast(small_model, eval_batch):
    x, y = eval_batch
    with pytest.raises(ValueError, match="batch is empty"):
        attacks.fgsm(small_model, x[:0], y[:0], 0.1)
    nan = x.clone()
    nan[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN or infinite"):
        attacks.pgd(small_model, nan, y, 0.1)
    with pytest.raises(ValueError, match="one label per image"):
        attacks.fgsm(small_model, x, y[:-1], 0.1)


@pytest.mark.parametrize("kwargs,match", [
    ({"c": float("nan")}, "c must be a finite number > 0"),
    ({"c": 0.0}, "c must be a finite number > 0"),
    ({"lr": -1.0}, "lr must be a finite number > 0"),
    ({"kappa": float("nan")}, "kappa must be a finite number >= 0"),
    ({"steps": 0}, "steps >= 1"),
])
def test_cw_bad_arguments_fail_fast(small_model, eval_batch, kwargs, match):
    x, y = eval_batch
    with pytest.raises(ValueError, match=match):
        attacks.cw_l2(small_model, x[:4], y[:4], **kwargs)


def test_images_outside_unit_box_rejected(small_model, eval_batch):
    x, y = eval_batch
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        attacks.fgsm(small_model, x * 255, y, 0.1)


# --------------------------------------------------------------------------- torchattacks
# torchattacks averages the loss over the batch and adds 1e-10 to L2 gradient norms; we sum
# per-sample losses (an image's attack must not depend on its batch) and only floor the norm.
# For an exact comparison we give our attacks the batch-mean loss and torchattacks the floor.
def _mean_ce(logits, y):
    return attacks.ce_loss(logits, y) / len(y)


DETERMINISTIC = [
    ("FGSM Linf", lambda m, x, y: attacks.fgsm(m, x, y, 0.1, loss=_mean_ce),
     lambda m: torchattacks.FGSM(m, eps=0.1)),
    ("BIM Linf", lambda m, x, y: attacks.bim(m, x, y, 0.1, steps=10, step_size=0.02, loss=_mean_ce),
     lambda m: torchattacks.BIM(m, eps=0.1, alpha=0.02, steps=10)),
    ("PGD Linf, no random start", lambda m, x, y: attacks.pgd(m, x, y, 0.05, steps=7, step_size=0.01,
                                                               random_start=False, loss=_mean_ce),
     lambda m: torchattacks.PGD(m, eps=0.05, alpha=0.01, steps=7, random_start=False)),
    ("BIM L2", lambda m, x, y: attacks.bim(m, x, y, 1.0, norm="2", steps=10, step_size=0.25, loss=_mean_ce),
     lambda m: torchattacks.PGDL2(m, eps=1.0, alpha=0.25, steps=10, random_start=False,
                                  eps_for_division=1e-30)),
    ("FGM L2", lambda m, x, y: attacks.fgsm(m, x, y, 2.0, norm="2", loss=_mean_ce),
     lambda m: torchattacks.PGDL2(m, eps=2.0, alpha=2.0, steps=1, random_start=False,
                                  eps_for_division=1e-30)),
]


@pytest.mark.parametrize("name,ours,theirs", DETERMINISTIC, ids=[d[0] for d in DETERMINISTIC])
def test_same_examples_as_torchattacks(small_model, eval_batch, name, ours, theirs):
    x, y = eval_batch
    diff = (ours(small_model, x, y) - theirs(small_model)(x, y)).abs().max().item()
    assert diff <= 1e-6, f"{name}: max abs difference {diff:g}"


@pytest.mark.parametrize("norm,eps,alpha", [("inf", 0.06, 0.015), ("2", 1.0, 0.25)])
def test_pgd_random_start_matches_torchattacks_accuracy(small_model, norm, eps, alpha):
    # 2000 images: the two random starts differ, so the spread of the difference must be
    # well under the 1-point tolerance (binomial s.e. of a difference ~0.5 point here).
    test_set = data.load("synthetic28", "test", n=2000, seed=5)
    x, y = test_set.x, test_set.y
    torch.manual_seed(0)
    ours = attacks.pgd(small_model, x, y, eps, norm=norm, steps=10, step_size=alpha)
    cls = torchattacks.PGD if norm == "inf" else functools.partial(torchattacks.PGDL2, eps_for_division=1e-30)
    theirs = cls(small_model, eps=eps, alpha=alpha, steps=10, random_start=True)(x, y)
    acc_ours = (evaluate.predict(small_model, ours) == y).float().mean().item()
    acc_theirs = (evaluate.predict(small_model, theirs) == y).float().mean().item()
    assert abs(acc_ours - acc_theirs) <= 0.01, (acc_ours, acc_theirs)


def test_cw_agrees_with_torchattacks(small_model, eval_batch):
    """CW has no randomness, but torchattacks' margin takes the max over the other logits with
    the true one set to 0 (not -inf), so examples differ; success and distortion must agree."""
    x, y = eval_batch
    x, y = x[:100], y[:100]
    ours = attacks.cw_l2(small_model, x, y, c=1.0, steps=100, lr=0.01, abort_early=False)
    theirs = torchattacks.CW(small_model, c=1.0, kappa=0, steps=100, lr=0.01)(x, y)
    ok_ours = evaluate.predict(small_model, ours) != y
    ok_theirs = evaluate.predict(small_model, theirs) != y
    assert abs(ok_ours.float().mean() - ok_theirs.float().mean()) <= 0.05
    both = ok_ours & ok_theirs
    assert both.sum() > 50
    d_ours = evaluate.distortion(x[both], ours[both]).mean()
    d_theirs = evaluate.distortion(x[both], theirs[both]).mean()
    assert abs(d_ours - d_theirs) <= 0.1 * d_theirs, (d_ours, d_theirs)


def test_cw_binary_search_finds_smaller_perturbations(small_model, eval_batch):
    x, y = eval_batch
    x, y = x[:60], y[:60]
    one = attacks.cw_l2(small_model, x, y, c=10.0, steps=60, lr=0.05, binary_search_steps=1)
    four = attacks.cw_l2(small_model, x, y, c=10.0, steps=60, lr=0.05, binary_search_steps=4)
    fooled_one = evaluate.predict(small_model, one) != y
    fooled_four = evaluate.predict(small_model, four) != y
    assert fooled_four.float().mean() >= fooled_one.float().mean() - 0.02
    both = fooled_one & fooled_four
    assert evaluate.distortion(x[both], four[both]).mean() <= evaluate.distortion(x[both], one[both]).mean()
    assert four.min() >= 0 and four.max() <= 1
    unbroken = ~fooled_four
    assert torch.equal(four[unbroken], x[unbroken]), "where CW fails it returns the input"


def test_restart_success_rule_is_pluggable(small_model, eval_batch):
    """The rule is asked once per restart; when nothing counts as fooled, the restart
    with the higher loss is kept, image by image."""
    x, y = eval_batch
    calls = []

    def never(logits, labels):
        calls.append(len(labels))
        return torch.zeros(len(labels), dtype=torch.bool)

    x_adv = attacks.pgd(small_model, x, y, 0.05, steps=2, restarts=3, success=never,
                        generator=torch.Generator().manual_seed(0))
    assert calls == [len(y)] * 3
    assert evaluate.distortion(x, x_adv, "inf").max() <= 0.05 + 1e-6
    first = attacks.pgd(small_model, x, y, 0.05, steps=2, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        kept, single = attacks.ce_loss(small_model(x_adv), y), attacks.ce_loss(small_model(first), y)
    assert (kept >= single - 1e-5).all(), "the kept restart never has a lower loss than the first"


def test_stop_when_fooled_is_at_least_as_strong_and_cheaper(small_model, eval_batch):
    """Freezing an image at its first fooling iterate keeps every success plain PGD has (the
    others follow the same per-image trajectory) and adds those plain PGD steps away from."""
    x, y = eval_batch
    calls = {"n": 0}

    def counted(inp):
        calls["n"] += len(inp)
        return small_model(inp)

    plain = attacks.pgd(counted, x, y, 0.1, steps=10, random_start=False)
    plain_calls, calls["n"] = calls["n"], 0
    stopped = attacks.pgd(counted, x, y, 0.1, steps=10, random_start=False, stop_when_fooled=True)
    with torch.no_grad():
        fooled_plain = small_model(plain).argmax(1) != y
        fooled_stop = small_model(stopped).argmax(1) != y
    assert bool((fooled_stop | ~fooled_plain).all()), "every image plain PGD fools stays fooled"
    assert calls["n"] < plain_calls
    assert (stopped - x).abs().max() <= 0.1 + 1e-6 and stopped.min() >= 0 and stopped.max() <= 1
    with pytest.raises(ValueError, match="eot == 1"):
        attacks.pgd(small_model, x, y, 0.1, eot=2, stop_when_fooled=True)
