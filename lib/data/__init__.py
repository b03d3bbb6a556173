"""Datasets as in-memory tensors: MNIST, Fashion-MNIST, CIFAR-10 and a synthetic stand-in.

Real datasets go through ``torchvision.datasets`` under ``lib.runtime.data_dir()``
(``data/`` unless ``$ADV_DATA_DIR`` says otherwise). Offline, Fashion-MNIST is
taken from Debian's ``dataset-fashion-mnist`` package; its .gz files are
recompressed, so what we verify is the decompressed content (IDX headers,
shapes, class balance), not torchvision's archive checksums.

All images are float32 in [0, 1], N x C x H x W; labels int64. Everything fits
in memory, and batching straight from tensors is several times faster on a
small CPU than a per-item ``DataLoader``.

``python -m lib.data fetch [NAME ...]`` fetches datasets (``make data``).
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import shutil
import struct
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from lib import runtime

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")

MNIST_CLASSES = [str(i) for i in range(10)]
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck"]


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    shape: tuple[int, int, int]
    classes: list[str]
    mean: tuple[float, ...]   # per channel, used by the models' own normalisation
    std: tuple[float, ...]
    how_to_get: str


_TORCHVISION_HINT = ("Run `make data` on a machine with network access (torchvision "
                     "downloads it into {root}), or copy torchvision's {folder} folder there.")

DATASETS: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo("mnist", (1, 28, 28), MNIST_CLASSES, (0.1307,), (0.3081,),
                         _TORCHVISION_HINT.replace("{folder}", "MNIST/raw")),
    "fashion_mnist": DatasetInfo(
        "fashion_mnist", (1, 28, 28), FASHION_CLASSES, (0.2860,), (0.3530,),
        "Offline: `apt-get install dataset-fashion-mnist` (Debian), then re-run; "
        "online: `make data`. Or copy torchvision's FashionMNIST/raw folder into {root}."),
    "cifar10": DatasetInfo("cifar10", (3, 32, 32), CIFAR10_CLASSES,
                           (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616),
                           _TORCHVISION_HINT.replace("{folder}", "cifar-10-batches-py")),
    "synthetic28": DatasetInfo("synthetic28", (1, 28, 28), [f"pattern {i}" for i in range(10)],
                               (0.5,), (0.25,), "generated on the fly"),
    "synthetic32": DatasetInfo("synthetic32", (3, 32, 32), [f"pattern {i}" for i in range(10)],
                               (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), "generated on the fly"),
}


class DatasetUnavailable(RuntimeError):
    """A dataset is neither on disk nor obtainable; the message says how to get it."""


def info(name: str) -> DatasetInfo:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}")
    return DATASETS[name]


def class_names(name: str) -> list[str]:
    return list(info(name).classes)


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
    def classes(self) -> list[str]:
        return class_names(self.name)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def subset(self, index: torch.Tensor, split: str | None = None) -> "ImageData":
        index = torch.as_tensor(index, dtype=torch.long)
        return ImageData(self.x[index], self.y[index], self.name, split or self.split)

    def to(self, device) -> "ImageData":
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

    ``n`` keeps a class-stratified subset of that size (the same for the same seed).
    Raises :class:`DatasetUnavailable`, saying how to get the data, when it is missing.
    """
    meta = info(name)
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if name.startswith("synthetic"):
        return synthetic(name, split, n=n or (6000 if split == "train" else 1000), seed=seed)
    root = Path(root) if root is not None else runtime.data_dir()
    x, y = _load_torchvision(meta, split == "train", root, download)
    data = ImageData(x, y, name, split)
    if n is not None and n < len(data):
        data = stratified_subset(data, n, seed)
    return data


def _load_torchvision(meta: DatasetInfo, train: bool, root: Path, download: bool):
    import torchvision.datasets as tvd

    cls = {"mnist": tvd.MNIST, "fashion_mnist": tvd.FashionMNIST, "cifar10": tvd.CIFAR10}[meta.name]
    try:
        ds = cls(str(root), train=train, download=False)
    except RuntimeError:
        ds = None
    if ds is None and meta.name == "fashion_mnist" and DEBIAN_FASHION_MNIST.is_dir():
        install_debian_fashion_mnist(root)
        ds = cls(str(root), train=train, download=False)
    if ds is None and download:
        try:
            ds = cls(str(root), train=train, download=True)
        except Exception as err:  # network errors come in many types
            raise DatasetUnavailable(_missing(meta, root, f"download failed: {err}")) from err
    if ds is None:
        raise DatasetUnavailable(_missing(meta, root, "download=False"))
    data = ds.data
    if isinstance(data, np.ndarray):       # CIFAR-10: N x H x W x C uint8
        x = torch.from_numpy(data).permute(0, 3, 1, 2)
    else:                                  # MNIST family: N x H x W uint8
        x = data.unsqueeze(1)
    y = torch.as_tensor(ds.targets, dtype=torch.long)
    return x.float().div_(255.0).contiguous(), y


def _missing(meta: DatasetInfo, root: Path, why: str) -> str:
    return (f"Dataset {meta.name!r} is not in {root} ({why}). "
            + meta.how_to_get.replace("{root}", str(root)))


_IDX_FILES = {  # name -> (magic, expected count)
    "train-images-idx3-ubyte": (2051, 60000),
    "train-labels-idx1-ubyte": (2049, 60000),
    "t10k-images-idx3-ubyte": (2051, 10000),
    "t10k-labels-idx1-ubyte": (2049, 10000),
}


def install_debian_fashion_mnist(root: Path, source: Path = DEBIAN_FASHION_MNIST) -> Path:
    """Decompress Debian's Fashion-MNIST into torchvision's layout, verifying the content.

    The package recompresses the archives, so torchvision's md5 sums of the .gz
    files do not apply. We check what matters instead: IDX magic numbers, image
    count and 28 x 28 size, labels in 0..9 with exactly N/10 per class.
    """
    raw = Path(root) / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for fname, (magic, count) in _IDX_FILES.items():
        src = source / f"{fname}.gz"
        if not src.exists():
            raise DatasetUnavailable(f"{src} is missing; reinstall `dataset-fashion-mnist`.")
        with gzip.open(src, "rb") as f:
            content = f.read()
        _verify_idx(fname, content, magic, count)
        tmp = raw / f".{fname}.tmp"
        tmp.write_bytes(content)
        os.replace(tmp, raw / fname)
    return raw


def _verify_idx(fname: str, content: bytes, magic: int, count: int) -> None:
    got_magic, got_count = struct.unpack(">II", content[:8])
    problems = []
    if (got_magic, got_count) != (magic, count):
        problems.append(f"header {(got_magic, got_count)} != {(magic, count)}")
    if magic == 2051:
        rows, cols = struct.unpack(">II", content[8:16])
        if (rows, cols) != (28, 28) or len(content) != 16 + count * 784:
            problems.append("images are not 28 x 28 or the file is truncated")
    else:
        labels = np.frombuffer(content, dtype=np.uint8, offset=8)
        if len(labels) != count or not np.array_equal(np.bincount(labels, minlength=10),
                                                      np.full(10, count // 10)):
            problems.append("labels are not 10 balanced classes")
    if problems:
        raise DatasetUnavailable(f"Fashion-MNIST file {fname} failed verification: "
                                 + "; ".join(problems))


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


# --------------------------------------------------------------------------- splits, batches
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
            generator: torch.Generator | None = None, device=None
            ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(x, y)`` mini-batches on ``device``; the last batch may be smaller."""
    n = len(data)
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        x, y = data.x[idx], data.y[idx]
        if device is not None:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        yield x, y


def crop_flip(x: torch.Tensor, padding: int = 4, generator: torch.Generator | None = None
              ) -> torch.Tensor:
    """Batched random crop (zero padding) and horizontal flip, as torchvision's
    RandomCrop(padding) + RandomHorizontalFlip but one call per batch (report 002, section 1.2)."""
    n = x.shape[0]
    shifted = random_shift(x, padding, generator, mode="constant")
    flip = (torch.rand((n,), generator=generator) < 0.5).to(x.device)
    return torch.where(flip.view(n, 1, 1, 1), shifted.flip(3), shifted)


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


# --------------------------------------------------------------------------- CLI (make data)
def fetch(names: list[str], root: Path | None = None) -> int:
    """Make each dataset available on disk; print how to get the ones we cannot. Returns #missing."""
    missing = 0
    for name in names:
        try:
            for split in ("train", "test"):
                load(name, split, root=root)
            print(f"ok      {name}")
        except DatasetUnavailable as err:
            missing += 1
            print(f"MISSING {name}: {err}", file=sys.stderr)
    return missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.data", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fetch", help="download / install datasets under data/")
    f.add_argument("names", nargs="*", default=["mnist", "fashion_mnist", "cifar10"])
    args = parser.parse_args(argv)
    for name in args.names:
        info(name)
    return 1 if fetch(args.names) else 0


if __name__ == "__main__":
    sys.exit(main())
