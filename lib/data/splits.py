"""Class-stratified subsets, train/validation splits and mini-batches of in-memory images.

Batching straight from tensors is several times faster on a small CPU than a per-item
``DataLoader``, and everything here fits in memory.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from lib.data import ImageData


def stratified_index(y: torch.Tensor, n: int, seed: int = 0, num_classes: int | None = None
                     ) -> torch.Tensor:
    """Indices of ``n`` items with classes as balanced as ``n`` allows, drawn at random by ``seed``."""
    if n > len(y):
        raise ValueError(f"asked for {n} items but there are only {len(y)}")
    gen = torch.Generator().manual_seed(seed)
    k = num_classes or int(y.max()) + 1
    picks = []
    for c in range(k):
        idx = (y == c).nonzero().squeeze(1)
        want = n // k + (1 if c < n % k else 0)
        picks.append(idx[torch.randperm(len(idx), generator=gen)][:want])
    index = torch.cat(picks)
    if len(index) < n:  # a class was short: top up from the rest
        rest = torch.ones(len(y), dtype=torch.bool)
        rest[index] = False
        extra = rest.nonzero().squeeze(1)
        index = torch.cat([index, extra[torch.randperm(len(extra), generator=gen)][: n - len(index)]])
    return index[torch.randperm(len(index), generator=gen)]


def stratified_subset(data: ImageData, n: int, seed: int = 0) -> ImageData:
    """``n`` images with the classes as balanced as ``n`` allows, chosen at random by ``seed``."""
    return data.subset(stratified_index(data.y, n, seed, data.num_classes))


def train_val_split(data: ImageData, n_val: int, seed: int = 0) -> tuple[ImageData, ImageData]:
    """Split off a class-stratified validation set of ``n_val`` images, disjoint from the rest."""
    val_index = stratified_index(data.y, n_val, seed, data.num_classes)
    keep = torch.ones(len(data), dtype=torch.bool)
    keep[val_index] = False
    return data.subset(keep.nonzero().squeeze(1), "train"), data.subset(val_index, "val")


def batches(data: ImageData, batch_size: int, *, shuffle: bool = False,
            generator: torch.Generator | None = None, device=None, with_index: bool = False
            ) -> Iterator[tuple[torch.Tensor, ...]]:
    """Yield ``(x, y)`` mini-batches on ``device``; the last batch may be smaller. With
    ``with_index=True``, ``(x, y, index)``: where each image sits in ``data`` (for per-image
    augmentation state such as alternating flips)."""
    n = len(data)
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        x, y = data.x[idx], data.y[idx]
        if device is not None:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        yield (x, y, idx) if with_index else (x, y)


def map_batches(fn, *tensors: torch.Tensor, batch_size: int = 500):
    """``fn`` on aligned slices of ``tensors`` (each of length N), outputs concatenated along
    dim 0: the study's one batching helper, for predictions, embeddings and attacks alike.

    ``fn`` returns a tensor or a tuple of tensors; so does ``map_batches``. Refuses an
    empty input or tensors of different lengths before calling ``fn``.
    """
    if not tensors:
        raise ValueError("map_batches needs at least one tensor")
    n = len(tensors[0])
    if any(len(t) != n for t in tensors):
        raise ValueError(f"tensors of different lengths: {[len(t) for t in tensors]}")
    if n == 0:
        raise ValueError("nothing to batch: the input is empty")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    parts = [fn(*(t[i:i + batch_size] for t in tensors)) for i in range(0, n, batch_size)]
    if isinstance(parts[0], tuple):
        return tuple(torch.cat(p) for p in zip(*parts))
    return torch.cat(parts)
