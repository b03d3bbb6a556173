"""Report 003's classifiers ("Assignment 3, On Generative Models, Adversarial Examples and
Defense Mechanisms", section IV): a Fashion-MNIST CNN with two convolutions (64, 128
filters) and a CIFAR-10 CNN with three (32, 64, 128), each with 2 x 2 kernels, a dense
layer of 256 units, dropout and a softmax output (we return the logits).

What the report leaves open we fix and state: the convolutions are Keras' default
("valid", stride 1), each followed by ReLU and a 2 x 2 max-pool (stride 2); dropout after
the convolution blocks (``dropout[0]``) and before the output layer (``dropout[1]``).

The same class builds the Lipschitz-constrained network of :mod:`lib.defenses.lipschitz`:
``conv`` and ``linear`` are factories for the layers, so the constrained model differs
from the plain one in nothing but the constraint.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from lib import data as data_mod
from lib.models.layers import normalizer
from lib.models.registry import register

#: The report's filters per image shape (section IV).
FILTERS = {(1, 28, 28): (64, 128), (3, 32, 32): (32, 64, 128)}
KERNEL = 2


def plain_conv(cin: int, cout: int, kernel: int, input_size: tuple[int, int]) -> nn.Conv2d:
    """An unconstrained "valid" convolution (``input_size`` is only needed by constrained ones)."""
    return nn.Conv2d(cin, cout, kernel)


def plain_linear(fin: int, fout: int) -> nn.Linear:
    return nn.Linear(fin, fout)


@register("report003_cnn")
class Report003CNN(nn.Module):
    """Images N x C x H x W in [0, 1] -> logits N x ``num_classes``.

    ``filters``: one entry per conv block (default: the report's for the dataset's shape);
    ``hidden``: the dense layer (report: 256); ``dropout``: (after the conv blocks, before
    the output). ``logit_scale`` multiplies the logits (1 for the plain model; a constant
    of the Lipschitz model, part of its Lipschitz bound). All layers in forward order are
    in :meth:`layers`, which is what a Lipschitz bound walks.
    """

    def __init__(self, dataset: str = "fashion_mnist", filters: Sequence[int] | None = None,
                 hidden: int = 256, dropout: Sequence[float] = (0.25, 0.5), num_classes: int = 10,
                 conv: Callable[..., nn.Module] = plain_conv, linear: Callable[..., nn.Module] = plain_linear,
                 logit_scale: float = 1.0):
        super().__init__()
        c, h, w = data_mod.info(dataset).shape
        filters = tuple(filters or FILTERS.get((c, h, w), (32, 64)))
        if len(dropout) != 2 or not all(0 <= p < 1 for p in dropout):
            raise ValueError(f"dropout must be two rates in [0, 1), got {dropout!r}")
        self.normalize = normalizer(dataset)
        blocks: list[nn.Module] = []
        cin, size = c, (h, w)
        for cout in filters:
            blocks += [conv(cin, cout, KERNEL, size), nn.ReLU(), nn.MaxPool2d(2)]
            size = tuple((s - KERNEL + 1) // 2 for s in size)
            if min(size) < 1:
                raise ValueError(f"{len(filters)} conv blocks do not fit {h} x {w} images")
            cin = cout
        blocks.append(nn.Dropout(dropout[0]))
        self.features = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.Flatten(), linear(cin * size[0] * size[1], hidden), nn.ReLU(),
                                  nn.Dropout(dropout[1]), linear(hidden, num_classes))
        self.logit_scale = float(logit_scale)

    def layers(self) -> list[nn.Module]:
        """Every layer in forward order (the normalisation first, the logit scale not included)."""
        return [self.normalize, *self.features, *self.head]

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate representation, N x ``hidden`` (after the dense layer's ReLU): the feature
        space of the study's sample-quality score (:mod:`lib.quality`)."""
        return self.head[:3](self.features(self.normalize(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.head(self.features(self.normalize(x)))
        return z * self.logit_scale if self.logit_scale != 1.0 else z

    def extra_repr(self) -> str:
        return f"logit_scale={self.logit_scale}"
