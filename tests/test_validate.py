"""Issue 19, item 6: the library refuses what it cannot score, with one clear error each."""
from __future__ import annotations

import functools

import pytest
import torch
from torch import nn

from lib import attacks, evaluate, sweep, validate
from lib.defenses import lipschitz


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(4 * 4, 10)).eval()


class NaNLogits(nn.Module):
    """A model whose weights are broken: every logit NaN (argmax of NaNs is class 0)."""

    def forward(self, x):
        return torch.full((len(x), 10), float("nan"))


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(0)
    return torch.rand(20, 1, 4, 4, generator=g), torch.arange(20) % 10


ATTACKS = {"FGSM": attacks.fgsm}


@pytest.mark.parametrize("scorer", ["robust_accuracy", "worst_case_sweep", "accuracy", "certified_radius"])
def test_nan_logits_are_refused_instead_of_scored(scorer, batch):
    x, y = batch
    model = NaNLogits()
    with pytest.raises(validate.InvalidInput, match="non-finite logits for 20 of 20 images"):
        if scorer == "robust_accuracy":
            evaluate.robust_accuracy(model, x, y, ATTACKS, [0.0, 1.0], convention="all", progress_bar=False)
        elif scorer == "worst_case_sweep":
            sweep.worst_case_sweep(model, x, y, ATTACKS, [1.0], progress_bar=False)
        elif scorer == "accuracy":
            evaluate.accuracy(model, x, y)
        else:
            lipschitz.certified_radius(model, x, y, lipschitz=1.0)


@pytest.mark.parametrize("value", [0, -1, float("inf"), float("nan"), True, "1"])
def test_a_lipschitz_constant_must_be_positive_and_finite(value, batch):
    x, y = batch
    with pytest.raises(validate.InvalidInput, match="lipschitz must be a finite number > 0"):
        lipschitz.certified_radius(_model(), x, y, lipschitz=value)
    assert torch.isfinite(lipschitz.certified_radius(_model(), x, y, lipschitz=2.0)).all()


@pytest.mark.parametrize("change,match", [
    (lambda x, y: (x.double(), y), "images must be float32 .the models' precision., got float64"),
    (lambda x, y: ((x * 255).to(torch.uint8), y), r"got uint8; convert them with .float\(\) \(and scale"),
    (lambda x, y: (x, y.float()), r"labels must be int64 class indices, got float32; convert them with .long\(\)"),
    (lambda x, y: (x, y + 5), r"labels must be in \[0, 9\] for a model with 10 classes, got values in \[5, 14\]"),
    (lambda x, y: (x, y - 1), r"labels must be in \[0, 9\]"),
    (lambda x, y: (x, y[:5]), "need one label per image: 20 images"),
    (lambda x, y: (x * 3, y), r"images must be in \[0, 1\]"),
])
@pytest.mark.parametrize("scorer", ["robust_accuracy", "worst_case_sweep"])
def test_wrong_dtypes_and_labels_give_one_clear_error(change, match, scorer, batch):
    x, y = change(*batch)
    with pytest.raises(validate.InvalidInput, match=match):
        if scorer == "robust_accuracy":
            evaluate.robust_accuracy(_model(), x, y, ATTACKS, [0.0, 0.1], convention="all", progress_bar=False)
        else:
            sweep.worst_case_sweep(_model(), x, y, ATTACKS, [0.1], progress_bar=False)


def test_a_reject_logit_is_not_a_class_label(batch):
    x, y = batch
    nine = torch.full_like(y, 9)   # 10 logits with reject: classes 0..8, the last one "rejected"
    with pytest.raises(validate.InvalidInput, match=r"labels must be in \[0, 8\]"):
        sweep.worst_case_sweep(_model(), x, nine, ATTACKS, [0.1], reject=True, progress_bar=False)


def test_minus_infinity_marks_a_class_that_cannot_be_chosen(batch):
    x, y = batch

    class NoClassNine(nn.Module):
        def forward(self, inputs):
            z = _model()(inputs)
            return torch.cat([z[:, :9], torch.full((len(z), 1), float("-inf"))], 1)

    table = evaluate.robust_accuracy(NoClassNine(), x, y, {"PGD": functools.partial(attacks.pgd, steps=2)},
                                     [0.0], convention="all", progress_bar=False)
    assert table["accuracy"].between(0, 1).all()
