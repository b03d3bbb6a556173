"""Classifiers A and B of report 001 (appendix A, Table 6): the networks PuVAE protects.

Padding: none ("valid", Keras' default), as Table 6 gives no padding for them.
``filters`` and ``hidden`` default to Table 6's sizes; the CPU profiles shrink them
(profile parameters), which changes capacity, not structure.
"""
from __future__ import annotations

import torch
from torch import nn

from lib.models.layers import check_shape, normalizer
from lib.models.registry import register


@register("puvae_a")
class ClassifierA(nn.Module):
    """Classifier A (MNIST, Fashion-MNIST; Table 6, column A).

    Input N x 1 x 28 x 28 in [0, 1], output logits N x ``num_classes``.
    Conv(64, 5x5) -> Conv(64, 5x5, stride 2) -> Dropout(0.25) -> FC(128) -> Dropout(0.5) -> FC(10).
    """

    def __init__(self, dataset: str = "mnist", filters: int = 64, hidden: int = 128,
                 num_classes: int = 10):
        super().__init__()
        check_shape(dataset, 1, 28, "classifier A")
        self.normalize = normalizer(dataset)
        self.features = nn.Sequential(
            nn.Conv2d(1, filters, 5), nn.ReLU(),                 # 28 -> 24
            nn.Conv2d(filters, filters, 5, stride=2), nn.ReLU(),  # 24 -> 10
            nn.Dropout(0.25),
        )
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(filters * 10 * 10, hidden), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(self.normalize(x)))


@register("puvae_b")
class ClassifierB(nn.Module):
    """Classifier B (CIFAR-10; Table 6, column B).

    Input N x 3 x 32 x 32 in [0, 1], output logits N x ``num_classes``.
    Conv(64, 3x3) -> Conv(128, 3x3) -> Conv(256, 3x3, stride 2) -> Dropout(0.25)
    -> FC(512) -> Dropout(0.5) -> FC(256) -> FC(10).
    """

    def __init__(self, dataset: str = "cifar10", filters: int = 64, hidden: int = 512,
                 num_classes: int = 10):
        super().__init__()
        check_shape(dataset, 3, 32, "classifier B")
        f = filters
        self.normalize = normalizer(dataset)
        self.features = nn.Sequential(
            nn.Conv2d(3, f, 3), nn.ReLU(),                      # 32 -> 30
            nn.Conv2d(f, 2 * f, 3), nn.ReLU(),                  # 30 -> 28
            nn.Conv2d(2 * f, 4 * f, 3, stride=2), nn.ReLU(),    # 28 -> 13
            nn.Dropout(0.25),
        )
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(4 * f * 13 * 13, hidden), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(hidden, hidden // 2), nn.ReLU(), nn.Linear(hidden // 2, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(self.normalize(x)))
