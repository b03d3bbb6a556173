"""A small two-conv CNN: the tests, the smoke profiles and the library tour."""
from __future__ import annotations

import torch
from torch import nn

from lib import data as data_mod
from lib.models.layers import normalizer
from lib.models.registry import register


@register("small_cnn")
class SmallCNN(nn.Module):
    """A small two-conv CNN for tests, the smoke profile and the library notebook.

    Input N x C x H x W in [0, 1] (28 x 28 or 32 x 32), output logits N x ``num_classes``.
    """

    def __init__(self, dataset: str = "synthetic28", width: int = 32, num_classes: int = 10):
        super().__init__()
        c, h, w = data_mod.info(dataset).shape
        self.normalize = normalizer(dataset)
        self.features = nn.Sequential(
            nn.Conv2d(c, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(2 * width * (h // 4) * (w // 4), 128), nn.ReLU(),
            nn.Linear(128, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(self.normalize(x)))
