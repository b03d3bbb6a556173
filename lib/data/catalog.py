"""What each dataset is: image shape, class names, normalisation, display name and how to get it.

Nothing here touches the disk; :mod:`lib.data.sources` knows where the files come from.
"""
from __future__ import annotations

from dataclasses import dataclass

MNIST_CLASSES = [str(i) for i in range(10)]
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck"]

SPLITS = ("train", "test")


class DatasetUnavailable(RuntimeError):
    """A dataset is neither on disk nor obtainable; the message says how to get it."""


@dataclass(frozen=True)
class DatasetInfo:
    """One dataset's description.

    ``shape`` is C x H x W; ``mean``/``std`` are per channel, for the models' own
    normalisation of images in [0, 1]. ``sizes`` gives the images per split (``None``
    for generated data, which has any size). ``how_to_get`` is shown when the data are missing
    (``{root}`` and ``{mirror}`` are filled in). ``note`` says in one sentence how this copy
    differs from the published dataset ("" when it is the published dataset), so that a
    notebook can print it beside its numbers.
    """

    name: str
    shape: tuple[int, int, int]
    classes: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    how_to_get: str
    display_name: str = ""
    note: str = ""
    sizes: dict[str, int] | None = None   # images per split as published; None: generated, any size

    @property
    def title(self) -> str:
        """The name to show in tables and figures, e.g. ``"CIFAR-10 (JPEG q75 copy)"``."""
        return self.display_name or self.name


_MIRROR_HINT = ("set ADV_DATA_MIRROR to a copy of the shared datasets folder (default "
                "<repo>/../shared/datasets; now: {mirror})")

_MNIST_SIZES = {"train": 60000, "test": 10000}
_CIFAR_SIZES = {"train": 50000, "test": 10000}

#: Shape, classes and channel statistics CIFAR-10 and its JPEG copy share. Measured on the
#: copy's training split: means 0.4913 / 0.4821 / 0.4465, stds 0.2452 / 0.2428 / 0.2606, so
#: one normalisation serves both.
_CIFAR10 = ((3, 32, 32), CIFAR10_CLASSES, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))

DATASETS: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo(
        "mnist", (1, 28, 28), MNIST_CLASSES, (0.1307,), (0.3081,),
        "Offline: " + _MIRROR_HINT + " with its mnist/*.gz, then run `.venv/bin/python -m lib.data fetch mnist`. "
        "Online: `make data` (torchvision downloads it). Or copy torchvision's MNIST/raw folder "
        "(the four decompressed IDX files) to {root}/MNIST/raw.",
        display_name="MNIST", sizes=_MNIST_SIZES),
    "fashion_mnist": DatasetInfo(
        "fashion_mnist", (1, 28, 28), FASHION_CLASSES, (0.2860,), (0.3530,),
        "Offline: `apt-get install dataset-fashion-mnist` (Debian; it fills /usr/share/datasets/fashion-mnist), "
        "then run `.venv/bin/python -m lib.data fetch fashion_mnist` (or `make data-quick`). Online: `make data` "
        "(torchvision downloads it). Or copy torchvision's FashionMNIST/raw folder to {root}/FashionMNIST/raw.",
        display_name="Fashion-MNIST", sizes=_MNIST_SIZES),
    "cifar10": DatasetInfo(
        "cifar10", *_CIFAR10,
        "Online only: run `make data` or `.venv/bin/python -m lib.data fetch cifar10` on a machine with network access "
        "(torchvision downloads cifar-10-batches-py into {root}), or copy torchvision's cifar-10-batches-py "
        "folder to {root}. Offline, use dataset=cifar10_jpeg instead: a JPEG (quality 75) copy from the data "
        "mirror, close to CIFAR-10 but not bit-exact.",
        display_name="CIFAR-10", sizes=_CIFAR_SIZES),
    "cifar10_jpeg": DatasetInfo(
        "cifar10_jpeg", *_CIFAR10,
        "It exists only in the data mirror, as cifar10-jpeg/cifar10-jpeg-q75.tar.gz (no download): "
        + _MIRROR_HINT + ", then run `.venv/bin/python -m lib.data fetch cifar10_jpeg` (or `make data`); the tar is "
        "checked against its SHA-256 and decoded once into {root}/cifar10_jpeg/train.pt and test.pt. "
        "Or copy those two .pt files from another machine to {root}/cifar10_jpeg/.",
        display_name="CIFAR-10 (JPEG q75 copy)", sizes=_CIFAR_SIZES,
        note="Re-encoded as JPEG at quality 75, its pixel values differ from the original CIFAR-10 by a few "
             "levels out of 255 and fine high-frequency detail is smoothed, which can make models look slightly "
             "more or less robust than on the original, so its numbers are not bit-exact CIFAR-10 results."),
    "synthetic28": DatasetInfo(
        "synthetic28", (1, 28, 28), [f"pattern {i}" for i in range(10)], (0.5,), (0.25,),
        "generated on the fly", display_name="synthetic 1x28x28",
        note="Generated patterns, not a real dataset: for smoke tests only."),
    "synthetic32": DatasetInfo(
        "synthetic32", (3, 32, 32), [f"pattern {i}" for i in range(10)], (0.5, 0.5, 0.5), (0.25, 0.25, 0.25),
        "generated on the fly", display_name="synthetic 3x32x32",
        note="Generated patterns, not a real dataset: for smoke tests only."),
}


def info(name: str) -> DatasetInfo:
    """The :class:`DatasetInfo` of ``name``; a clear error for anything else."""
    if not isinstance(name, str):
        raise TypeError(f"a dataset name must be a str, got {type(name).__name__} {name!r}; "
                        f"choose one of {sorted(DATASETS)}")
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}")
    return DATASETS[name]


def class_names(name: str) -> list[str]:
    return list(info(name).classes)


def check_split(split: str) -> str:
    if not isinstance(split, str) or split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {list(SPLITS)}")
    return split


def split_size(name: str, split: str) -> int | None:
    """Images in a split as published (without loading anything); ``None`` for generated data."""
    check_split(split)
    sizes = info(name).sizes
    return None if sizes is None else sizes[split]


#: The most images a split of generated data may have: more would only fill the memory (a
#: synthetic32 image is 12 KiB as float32) without telling the smoke tests anything new.
GENERATED_MAX = {"train": 60000, "test": 10000}


def max_size(name: str, split: str) -> int:
    """The most images a split can give: its published size, or :data:`GENERATED_MAX` for generated data."""
    size = split_size(name, split)
    return GENERATED_MAX[split] if size is None else size
