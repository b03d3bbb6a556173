"""Datasets as in-memory tensors: MNIST, Fashion-MNIST, CIFAR-10, a JPEG copy of CIFAR-10, synthetic data.

``load(name, split, n=..., seed=...)`` returns an :class:`ImageData`: images float32 in
[0, 1], N x C x H x W, labels int64. Everything fits in memory, and batching straight
from tensors is several times faster on a small CPU than a per-item ``DataLoader``.

Real datasets live under ``lib.runtime.data_dir()`` (``data/`` unless ``$ADV_DATA_DIR``
says otherwise) in torchvision's layout. When they are missing they are obtained, in
this order, and each file is verified before use:

1. files already under the data dir (MD5 of the decompressed MNIST / Fashion-MNIST IDX
   files, torchvision's MD5s for CIFAR-10, the tar's SHA-256 for ``cifar10_jpeg``);
2. the data mirror ``$ADV_DATA_MIRROR`` (default ``<repo>/../shared/datasets`` when it
   exists): MNIST's IDX files and the ``cifar10_jpeg`` tar;
3. Fashion-MNIST only: Debian's ``dataset-fashion-mnist`` package;
4. a torchvision download (``download=True``; skipped at once when the server does not answer);
5. else :class:`DatasetUnavailable`, whose message lists what was tried and says how to get the data.

Local copies come first because they carry the same published checksums as the
downloads, so an offline machine never waits on the network (details and checksum
sources: :mod:`lib.data.sources`). ``cifar10`` is torchvision's original, online only;
``cifar10_jpeg`` is a JPEG (quality 75) copy from the mirror, a dataset of its own that
is NOT bit-exact CIFAR-10: print ``info("cifar10_jpeg").note`` beside its numbers.

``ensure(name)`` makes a dataset available without loading it; ``split_size(name, split)``
gives a split's published size. ``python -m lib.data fetch [NAME ...]`` fetches datasets
(``make data``); ``python -m lib.data list`` lists them.

Modules: :mod:`~lib.data.catalog` (what each dataset is), :mod:`~lib.data.sources`
(where files come from), :mod:`~lib.data.cifar10_jpeg`, :mod:`~lib.data.splits`,
:mod:`~lib.data.augment`, :mod:`~lib.data.files` (checksums, atomic writes).
"""
from __future__ import annotations

import hashlib
import numbers
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch

from lib import runtime
from lib.data import sources
from lib.data.augment import alternating_flips, crop_flip, flip_translate, random_shift
from lib.data.catalog import (
    CIFAR10_CLASSES,
    DATASETS,
    FASHION_CLASSES,
    MNIST_CLASSES,
    SPLITS,
    DatasetInfo,
    DatasetUnavailable,
    check_split,
    class_names,
    info,
    max_size,
    split_size,
)
from lib.data.sources import DEBIAN_FASHION_MNIST, install_debian_fashion_mnist, mirror_dir
from lib.data.splits import batches, map_batches, stratified_index, stratified_subset, train_val_split

__all__ = [
    "CIFAR10_CLASSES", "DATASETS", "DEBIAN_FASHION_MNIST", "FASHION_CLASSES", "MNIST_CLASSES", "SPLITS",
    "DatasetInfo", "DatasetUnavailable", "ImageData", "alternating_flips", "batches", "check_split", "class_names",
    "crop_flip", "ensure", "fetch", "flip_translate", "info", "install_debian_fashion_mnist", "load", "max_size",
    "mirror_dir", "random_shift",
    "split_size", "stratified_index", "stratified_subset", "synthetic", "train_val_split",
]

_SYNTHETIC_SIZE = {"train": 6000, "test": 1000}


@dataclass
class ImageData:
    """Images ``x`` (N x C x H x W, float32 in [0, 1]) and labels ``y`` (N, int64)."""

    x: torch.Tensor
    y: torch.Tensor
    name: str
    split: str = "train"
    _fingerprint: str | None = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        if self.x.shape[0] != self.y.shape[0]:
            raise ValueError(f"{self.x.shape[0]} images but {self.y.shape[0]} labels")

    def __len__(self) -> int:
        return self.x.shape[0]

    def __repr__(self) -> str:
        return (f"ImageData({self.name}/{self.split}: {len(self)} x {tuple(self.x.shape[1:])}, "
                f"{self.num_classes} classes)")

    @property
    def info(self) -> DatasetInfo:
        return info(self.name)

    @property
    def classes(self) -> list[str]:
        return class_names(self.name)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def subset(self, index: torch.Tensor, split: str | None = None) -> ImageData:
        index = torch.as_tensor(index, dtype=torch.long)
        return ImageData(self.x[index], self.y[index], self.name, split or self.split)

    def to(self, device) -> ImageData:
        return ImageData(self.x.to(device), self.y.to(device), self.name, self.split,
                         self._fingerprint)

    def fingerprint(self) -> str:
        """sha1 of the content, for checkpoint keys; computed once."""
        if self._fingerprint is None:
            h = hashlib.sha1()
            h.update(self.x.detach().cpu().contiguous().numpy().tobytes())
            h.update(self.y.detach().cpu().contiguous().numpy().tobytes())
            self._fingerprint = h.hexdigest()
        return self._fingerprint


# --------------------------------------------------------------------------- loading
def load(name: str, split: str = "train", *, root: str | Path | None = None,
         download: bool = True, n: int | None = None, seed: int = 0) -> ImageData:
    """Load a split (``"train"`` or ``"test"``) of a dataset as an :class:`ImageData`.

    ``n`` (a positive integer, at most the split's size) keeps a class-stratified subset of
    that size, the same for the same seed; ``None`` keeps the whole split. ``download=False``
    never touches the network. Raises :class:`DatasetUnavailable`, saying how to get the
    data, when they cannot be found or obtained.
    """
    info(name)
    size = max_size(name, check_split(split))
    if n is not None and (isinstance(n, bool) or not isinstance(n, numbers.Integral) or n <= 0):
        raise ValueError(f"n must be a positive integer (or None for the whole split), got {n!r}")
    if n is not None and n > size:   # before reading (or generating) anything
        kind = "" if split_size(name, split) is not None else "generated "
        raise ValueError(f"n={n} is larger than the {split} split of {kind}{name!r} ({size} images)")
    if name.startswith("synthetic"):
        return synthetic(name, split, n=int(n or _SYNTHETIC_SIZE[split]), seed=seed)
    root = Path(root) if root is not None else runtime.data_dir()
    x, y = sources.split_arrays(name, split, root, download)
    data = ImageData(x.float().div_(255.0).contiguous(), y, name, split)
    if n is not None:
        if n > len(data):
            raise ValueError(f"n={n} is larger than the {split} split of {name!r} ({len(data)} images)")
        if n < len(data):
            data = stratified_subset(data, int(n), seed)
    return data


# --------------------------------------------------------------------------- synthetic
def synthetic(name: str = "synthetic28", split: str = "train", n: int = 6000,
              seed: int = 0) -> ImageData:
    """Deterministic 10-class images: a smooth class prototype, shifted, plus noise.

    Classes are learnable by a small CNN within an epoch or two yet sit close
    enough together that eps ~ 0.1-0.3 L-inf perturbations flip decisions, which
    is what the smoke profile and the unit tests need. Same (name, split, n, seed),
    same tensors.
    """
    c, h, w = info(name).shape
    protos_gen = torch.Generator().manual_seed(1234 + c)   # shared by every split
    coarse = torch.rand((10, c, 7, 7), generator=protos_gen)
    protos = torch.nn.functional.interpolate(coarse, size=(h, w), mode="bilinear",
                                             align_corners=False)
    protos = 0.2 + 0.6 * (protos - protos.amin((1, 2, 3), keepdim=True)) / (
        protos.amax((1, 2, 3), keepdim=True) - protos.amin((1, 2, 3), keepdim=True))
    gen = torch.Generator().manual_seed(seed * 2 + (0 if split == "train" else 1) + 7)
    y = torch.arange(n) % 10
    y = y[torch.randperm(n, generator=gen)]
    x = protos[y]
    x = random_shift(x, 2, gen, mode="replicate")
    contrast = 0.6 + 0.8 * torch.rand((n, 1, 1, 1), generator=gen)
    x = 0.5 + contrast * (x - 0.5) + 0.12 * torch.randn(x.shape, generator=gen)
    return ImageData(x.clamp(0, 1).float().contiguous(), y.long(), name, split)


# --------------------------------------------------------------------------- fetching (make data)
def ensure(name: str, root: str | Path | None = None, download: bool = True) -> str:
    """Make ``name`` available and verified under ``root`` (default: the data dir), loading nothing.

    Returns where it came from; raises :class:`DatasetUnavailable` (saying how to get it) otherwise.
    """
    if info(name).sizes is None:
        return "generated on the fly"
    return sources.ensure(name, Path(root) if root is not None else runtime.data_dir(), download)


def fetch(names: list[str], root: Path | None = None, download: bool = True, quiet: bool = False) -> int:
    """Make each dataset available and verified on disk, printing where it came from (unless ``quiet``).

    Prints how to get the ones we cannot (to stderr, always); returns how many are missing.
    """
    root = Path(root) if root is not None else runtime.data_dir()
    try:
        runtime.usable_dir(root, "the datasets", writable=False,
                           variable=None if root != runtime.data_dir() else "ADV_DATA_DIR")
    except runtime.ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return len(names)
    missing = 0
    for name in names:
        try:
            where = ensure(name, root, download)
            if info(name).sizes is not None:
                sizes = [len(load(name, split, root=root, download=False)) for split in SPLITS]
                where = f"{sizes[0]} train + {sizes[1]} test images, {where}"
            if not quiet:
                print(f"ok      {name}: {where}")
        except DatasetUnavailable as err:
            missing += 1
            print(f"MISSING {name}: {err}", file=sys.stderr)
    return missing
