"""lib.attacks.external: torchattacks' APGD, APGD-T, FAB and Square behind the study's signature.

A tiny MLP trained in a second on synthetic28 keeps this file fast; attack budgets are cut
to a few steps (strength is compared, not measured).
"""
from __future__ import annotations

import functools

import pytest
import torch
from torch import nn

from lib import attacks, data
from lib.attacks import external
from lib.sweep import misclassified

QUICK = {
    "apgd_ce": functools.partial(external.apgd, steps=10),
    "apgd_dlr": functools.partial(external.apgd, loss="dlr", steps=10),
    "apgd_t": functools.partial(external.apgdt, steps=5, n_target_classes=2),
    "fab": functools.partial(external.fab, steps=5),
    "fab_t": functools.partial(external.fab, steps=5, targeted=True, n_target_classes=2),
    "square": functools.partial(external.square, n_queries=30),
}


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def batch():
    test = data.load("synthetic28", "test", n=100, seed=0)
    return test.x[:32], test.y[:32]


def _acc(model, x, y) -> float:
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


@pytest.mark.parametrize("name", sorted(QUICK))
@pytest.mark.parametrize("norm,eps", [("inf", 0.08), ("2", 1.5)])
def test_in_ball_and_box(mlp, batch, name, norm, eps):
    x, y = batch
    if name == "square" and norm == "2":
        x, y = x[:8], y[:8]     # Square-L2 is slow per query on a CPU
    x_adv = QUICK[name](mlp, x, y, eps, norm=norm)
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype and not x_adv.requires_grad
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    d = (x_adv - x).flatten(1)
    size = d.abs().amax(1) if norm == "inf" else d.norm(dim=1)
    assert size.max() <= eps * (1 + 1e-6)
    assert not torch.equal(x_adv, x), "the attack found nothing at all"


def test_model_fixture_is_accurate(mlp, batch):
    assert _acc(mlp, *batch) > 0.8


def test_apgd_at_least_as_strong_as_fgsm(mlp, batch):
    x, y = batch
    for eps in (0.03, 0.05, 0.08):
        fgsm_acc = _acc(mlp, attacks.fgsm(mlp, x, y, eps), y)
        assert _acc(mlp, external.apgd(mlp, x, y, eps, steps=20), y) <= fgsm_acc


def test_square_needs_no_gradient(mlp, batch):
    x, y = batch

    def no_grad_model(images):
        with torch.no_grad():      # e.g. a non-differentiable purifier in front
            return mlp(images)

    with pytest.raises(RuntimeError):
        external.apgd(no_grad_model, x, y, 0.1, steps=2)
    x_adv = external.square(no_grad_model, x, y, 0.1, n_queries=50)
    assert _acc(mlp, x_adv, y) < _acc(mlp, x, y) - 0.2


def test_seeded_and_leaves_caller_rng_alone(mlp, batch):
    x, y = batch
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a = external.square(mlp, x, y, 0.05, n_queries=20, seed=1)
    assert torch.equal(torch.get_rng_state(), state), "torchattacks reseeded the caller's generator"
    assert torch.equal(a, external.square(mlp, x, y, 0.05, n_queries=20, seed=1))
    assert not torch.equal(a, external.square(mlp, x, y, 0.05, n_queries=20, seed=2))


def test_attacks_in_eval_mode_and_restores_modes(batch):
    x, y = batch
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 16), nn.Dropout(0.5), nn.Linear(16, 10))
    model.train()
    model[3].eval()                # mixed flags must come back exactly as they were
    seen = []
    model[2].register_forward_hook(lambda m, i, o: seen.append(m.training))
    external.apgd(model, x, y, 0.05, steps=2)
    assert seen and not any(seen), "attacked with dropout active"
    assert [m.training for m in model.modules()] == [True, True, True, True, False]


def test_eps_zero_and_bad_arguments(mlp, batch):
    x, y = batch
    assert torch.equal(external.apgd(mlp, x, y, 0.0), x)
    with pytest.raises(ValueError, match="norm"):
        external.apgd(mlp, x, y, 0.1, norm="1")
    with pytest.raises(ValueError, match="loss"):
        external.apgd(mlp, x, y, 0.1, loss="cw")
    with pytest.raises(ValueError, match="steps"):
        external.apgd(mlp, x, y, 0.1, steps=0)
    with pytest.raises(ValueError, match="n_target_classes"):
        external.apgdt(mlp, x, y, 0.1, n_target_classes=10)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        external.square(mlp, x * 2, y, 0.1)


def test_fold_reject_counts_rejection_as_the_label():
    # rows: label wins, reject wins, another class wins, reject ties a wrong class (first wins)
    z = torch.tensor([[3.0, 1.0, 0.0, 2.0],
                      [1.0, 0.0, 2.0, 5.0],
                      [0.0, 4.0, 1.0, 2.0],
                      [0.0, 1.0, 0.0, 1.0]])
    y = torch.tensor([0, 2, 2, 2])
    folded = external.fold_reject(z, y)
    assert folded.shape == (4, 3)
    assert (folded.argmax(1) != y).tolist() == misclassified(z, y, reject=True).tolist() == [
        False, False, True, True]
    assert folded[1, 2] == 5.0 and folded[1, 0] == 1.0
    assert torch.equal(external.reject_as_correct(lambda t: t, 2)(z), external.fold_reject(z, 2))


class _RejectsEveryPerturbation(nn.Module):
    """K + 1 logits: ``clf``'s, plus a reject logit that wins as soon as the input moves away
    (in L2, by more than 1e-4) from every image it memorised: every attack is caught."""

    def __init__(self, clf, memory):
        super().__init__()
        self.clf, self.memory = clf, memory.flatten(1)

    def forward(self, x):
        z = self.clf(x)
        dist = torch.cdist(x.flatten(1), self.memory).amin(1)
        return torch.cat([z, (z.amax(1) - 1 + 1e4 * dist)[:, None]], 1)


def test_reject_adapter_never_counts_a_rejection_as_success(mlp, batch):
    x, y = batch
    defended = _RejectsEveryPerturbation(mlp, x)
    clean_wrong = misclassified(defended(x), y, reject=True)
    assert not clean_wrong.all()
    for attack in (functools.partial(external.apgd, steps=5), functools.partial(external.square, n_queries=20)):
        naive = attack(defended, x, y, 0.1)                    # reject is just an 11th class here
        assert misclassified(defended(naive), y).float().mean() > 0.9
        assert torch.equal(misclassified(defended(naive), y, reject=True), clean_wrong)
        aware = attack(defended, x, y, 0.1, reject=True)
        # torchattacks returns the clean image wherever it found no success: it found none
        assert torch.equal(aware, x)


def test_reject_adapter_keeps_real_successes(mlp, batch):
    x, y = batch
    never_rejects = lambda images: torch.cat([mlp(images), torch.full((len(images), 1), -1e4)], 1)
    plain = external.apgd(mlp, x, y, 0.06, steps=10)
    aware = external.apgd(never_rejects, x, y, 0.06, steps=10, reject=True)
    plain_broken = misclassified(mlp(plain), y)
    aware_broken = misclassified(never_rejects(aware), y, reject=True)
    assert plain_broken.any()
    # per class groups change APGD's batches, not its per-image result
    assert aware_broken.sum() >= plain_broken.sum() - 1
