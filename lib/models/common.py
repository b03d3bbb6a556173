"""Building blocks every classifier shares: normalisation inside the model.

Convention (as in RobustBench): a classifier takes images in [0, 1],
N x C x H x W, and returns logits N x K. Dataset normalisation is the first
layer, so attacks, eps and defenses all live in pixel space.
"""
from __future__ import annotations

import torch
from torch import nn

from lib import data as data_mod


class Normalize(nn.Module):
    """``(x - mean) / std`` per channel; buffers, so they follow ``.to(device)``."""

    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"mean={self.mean.flatten().tolist()}, std={self.std.flatten().tolist()}"


def normalizer(dataset: str) -> Normalize:
    meta = data_mod.info(dataset)
    return Normalize(meta.mean, meta.std)


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
