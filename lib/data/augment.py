"""Batched augmentation: one call per batch instead of one per image."""
from __future__ import annotations

import torch


def crop_flip(x: torch.Tensor, padding: int = 4, generator: torch.Generator | None = None
              ) -> torch.Tensor:
    """Batched random crop (zero padding) and horizontal flip, as torchvision's
    RandomCrop(padding) + RandomHorizontalFlip but one call per batch (report 002, section 1.2)."""
    n = x.shape[0]
    shifted = random_shift(x, padding, generator, mode="constant")
    flip = (torch.rand((n,), generator=generator) < 0.5).to(x.device)
    return torch.where(flip.view(n, 1, 1, 1), shifted.flip(3), shifted)


def alternating_flips(coins: torch.Tensor, index: torch.Tensor, epoch: int) -> torch.Tensor:
    """Which images of a batch to flip in ``epoch`` (Keller Jordan's airbench): image ``i`` is
    flipped iff ``coins[i] xor (epoch mod 2)``, with ``coins`` one fixed boolean per training
    image. Every image is seen both ways in any two consecutive epochs, which a fresh coin per
    epoch only achieves on average. ``index``: (N,) positions of the batch's images; -> (N,) bool."""
    return coins[index.cpu()] ^ bool(epoch % 2)


def flip_translate(x: torch.Tensor, flip: torch.Tensor, pixels: int = 2,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Flip the images where ``flip`` (N,) holds (see :func:`alternating_flips`), then translate
    each by up to ``pixels`` with reflection padding: airbench's augmentation, with which it
    reaches 94 % on CIFAR-10 in under 10 epochs. x: N x C x H x W."""
    x = torch.where(flip.to(x.device).view(-1, 1, 1, 1), x.flip(3), x)
    return random_shift(x, pixels, generator, mode="reflect") if pixels else x


def random_shift(x: torch.Tensor, pixels: int, generator: torch.Generator | None = None,
                 mode: str = "constant") -> torch.Tensor:
    """Shift each image by up to ``pixels`` in each direction (pad by ``mode``, then crop)."""
    n, c, h, w = x.shape
    padded = torch.nn.functional.pad(x, (pixels,) * 4, mode=mode)
    dy = torch.randint(0, 2 * pixels + 1, (n,), generator=generator).to(x.device)
    dx = torch.randint(0, 2 * pixels + 1, (n,), generator=generator).to(x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
    out = padded.gather(2, rows.expand(n, c, h, padded.shape[3]))
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
    return out.gather(3, cols.expand(n, c, h, w))
