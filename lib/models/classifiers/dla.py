"""SimpleDLA (a simplified Deep Layer Aggregation, Yu et al. 2018) for 32 x 32 x 3 images.

The layout of kuangliu/pytorch-cifar's ``models/dla_simple.py``, which report 000
("A study and implementation of ABS ... on Cifar-10", section C) trains for 25 epochs
(85.46 % clean): a base of three 3 x 3 convs (16, 16, 32 channels), then four aggregation
trees, 32 -> 64 (level 1, stride 1), 64 -> 128 (level 2, stride 2), 128 -> 256 (level 2,
stride 2), 256 -> 512 (level 1, stride 2), a 4 x 4 average pool and a linear layer.
Every tree joins its two children's outputs by a 1 x 1 "root" convolution.

``width`` scales every channel count (1.0 is the original; the CPU profile uses less).
Input N x 3 x 32 x 32 in [0, 1]; dataset normalisation is the first layer, so attacks
and eps live in pixel space. Output logits N x ``num_classes``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lib.models.layers import check_shape, normalizer
from lib.models.registry import register


def _conv_bn(cin: int, cout: int, k: int = 3, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False), nn.BatchNorm2d(cout)]


class _Residual(nn.Module):
    """Two 3 x 3 conv-BN layers with an identity (or 1 x 1 projected) shortcut."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.body = nn.Sequential(*_conv_bn(cin, cout, 3, stride), nn.ReLU(), *_conv_bn(cout, cout))
        self.skip = (nn.Sequential(*_conv_bn(cin, cout, 1, stride)) if stride != 1 or cin != cout
                     else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.skip(x))


class _Tree(nn.Module):
    """An aggregation tree: ``level`` 1 is two residual blocks in a row, a deeper level two
    subtrees; the root concatenates both children's outputs and mixes them by a 1 x 1 conv."""

    def __init__(self, cin: int, cout: int, level: int, stride: int):
        super().__init__()
        if level == 1:
            self.left, self.right = _Residual(cin, cout, stride), _Residual(cout, cout)
        else:
            self.left, self.right = _Tree(cin, cout, level - 1, stride), _Tree(cout, cout, level - 1, 1)
        self.root = nn.Sequential(*_conv_bn(2 * cout, cout, 1), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.left(x)
        return self.root(torch.cat([a, self.right(a)], 1))


@register("simple_dla")
class SimpleDLA(nn.Module):
    """SimpleDLA with normalisation inside; ``width`` multiplies every channel count."""

    def __init__(self, dataset: str = "cifar10_jpeg", width: float = 1.0, num_classes: int = 10):
        super().__init__()
        check_shape(dataset, 3, 32, "SimpleDLA")
        if not width > 0:
            raise ValueError(f"width must be > 0, got {width}")
        c = [max(1, round(width * n)) for n in (16, 32, 64, 128, 256, 512)]
        self.normalize = normalizer(dataset)
        self.features = nn.Sequential(
            *_conv_bn(3, c[0]), nn.ReLU(), *_conv_bn(c[0], c[0]), nn.ReLU(), *_conv_bn(c[0], c[1]), nn.ReLU(),
            _Tree(c[1], c[2], 1, 1), _Tree(c[2], c[3], 2, 2), _Tree(c[3], c[4], 2, 2), _Tree(c[4], c[5], 1, 2),
            nn.AvgPool2d(4), nn.Flatten())
        self.linear = nn.Linear(c[5], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.features(self.normalize(x)))
