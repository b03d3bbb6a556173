"""Layers the models share: normalisation inside the model, Gaussian noise, fast atrous convs.

Convention (as in RobustBench): a classifier takes images in [0, 1],
N x C x H x W, and returns logits N x K. Dataset normalisation is the first
layer, so attacks, eps and defenses all live in pixel space.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
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


def check_shape(dataset: str, channels: int, size: int, who: str) -> tuple[int, int, int]:
    shape = data_mod.info(dataset).shape
    if shape != (channels, size, size):
        raise ValueError(f"{who} is for {channels} x {size} x {size} images; "
                         f"{dataset!r} has shape {shape}")
    return shape


class GaussianNoise(nn.Module):
    """Adds ``N(0, sigma^2)`` to every activation, in training *and* in eval mode.

    Report 002, section 3.2. Shape-preserving (any shape). ``sigma = 0`` is the identity.
    The draw uses torch's global generator, so ``lib.runtime.seed_everything`` makes a
    whole evaluation reproducible.
    """

    def __init__(self, sigma: float = 0.05):
        super().__init__()
        if not sigma >= 0:
            raise ValueError(f"noise sigma must be >= 0, got {sigma}")
        self.sigma = float(sigma)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.sigma == 0:
            return x
        return x + self.sigma * torch.randn_like(x)

    def extra_repr(self) -> str:
        return f"sigma={self.sigma}"


class AtrousConv2d(nn.Conv2d):
    """A stride-1, "same"-padded convolution with dilation ``d``, computed the fast way.

    Same parameters and same output as ``nn.Conv2d(..., dilation=d, padding=d*(k-1)//2)``,
    but evaluated by space-to-batch (as TensorFlow's atrous convolution): the padded
    input is split into its ``d * d`` polyphase sub-images, each gets an undilated
    convolution, and the results are interleaved again. PyTorch's CPU backward of a
    dilated convolution takes a slow path (about 15x slower here); this one does not.
    Input N x C x H x W with H and W divisible by ``d``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int):
        if kernel_size % 2 == 0:
            raise ValueError("AtrousConv2d needs an odd kernel for symmetric 'same' padding")
        super().__init__(in_channels, out_channels, kernel_size, dilation=dilation,
                         padding=dilation * (kernel_size - 1) // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d, p = self.dilation[0], self.padding[0]
        n, c, h, w = x.shape
        if d == 1:
            return super().forward(x)
        if h % d or w % d:
            raise ValueError(f"AtrousConv2d with dilation {d} needs H, W divisible by {d}, got {h} x {w}")
        xp = F.pad(x, (p, p, p, p))
        hp, wp = (h + 2 * p) // d, (w + 2 * p) // d
        # (N, C, hp, d, wp, d) -> (N * d * d, C, hp, wp): one sub-image per phase.
        sub = xp.view(n, c, hp, d, wp, d).permute(0, 3, 5, 1, 2, 4).reshape(n * d * d, c, hp, wp)
        out = F.conv2d(sub, self.weight, self.bias)          # (N*d*d, C', h/d, w/d)
        k = out.shape[1]
        out = out.view(n, d, d, k, h // d, w // d).permute(0, 3, 4, 1, 5, 2)
        return out.reshape(n, k, h, w)


def same2x2(cin: int, cout: int) -> nn.Sequential:
    """A 2 x 2, stride-1 convolution with "same" padding (one extra row and column at the
    bottom-right, as Keras and PyTorch pad an even kernel)."""
    return nn.Sequential(nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(cin, cout, 2))
