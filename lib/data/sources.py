"""Where the real datasets' files come from, and how each file is verified.

Sources, in the order they are tried (the first that yields verified files wins):

1. files already under the data dir (``lib.runtime.data_dir()`` or ``root``), in
   torchvision's layout, verified: the MD5 of each decompressed IDX file (MNIST,
   Fashion-MNIST), torchvision's MD5s of the batches (CIFAR-10), the decoded cache and
   the SHA-256 of the tar it came from (``cifar10_jpeg``);
2. the data mirror, ``$ADV_DATA_MIRROR`` (default ``<repo>/../shared/datasets`` when that
   folder exists; ``ADV_DATA_MIRROR=`` turns it off): MNIST's IDX ``.gz`` files and the
   ``cifar10_jpeg`` tar;
3. Fashion-MNIST only: Debian's ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``);
4. a torchvision download (MNIST, Fashion-MNIST, CIFAR-10), only with ``download=True``
   and only when the server answers within a few seconds, with torchvision's output hidden;
5. otherwise :class:`DatasetUnavailable`, listing what was tried and how to get the data.

The local copies come before the network because they are verified against the same
published checksums as torchvision's downloads (MNIST and Fashion-MNIST are bit-exact),
so they cost no fidelity, and an offline machine does not wait on the network. The
original ``cifar10`` has no local source: torchvision only. ``cifar10_jpeg`` has no
download: the mirror only.

MD5s of the decompressed IDX files (the ``.gz`` files of the mirror and of Debian are
recompressed, so their own checksums differ from the original archives'; the content
is what we check):

- MNIST: the mirror's README (``../shared/datasets/README.md``), which gives the published
  MD5s of the original extracted files; recomputed here from the mirror's files.
- Fashion-MNIST: zalandoresearch/fashion-mnist's README publishes only the MD5s of the
  ``.gz`` archives. The MD5s of the extracted files are listed by independent public
  loaders and tutorials (e.g. torchvision-style ``FashionMNIST`` classes that keep a
  ``raw_data`` table of (file, MD5), and a MindSpore Fashion-MNIST tutorial that runs
  ``md5sum`` after ``gunzip`` of the official archives), and we recomputed the same four
  values from Debian's ``dataset-fashion-mnist`` 0.0~git20200523.55506a9-1.
"""
from __future__ import annotations

import contextlib
import gzip
import io
import os
import socket
import struct
import urllib.parse
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from lib import runtime
from lib.data import cifar10_jpeg
from lib.data.catalog import DatasetUnavailable, info
from lib.cache import atomic_write_bytes, clean_stale_temporaries
from lib.params import ConfigError
from lib.data.files import md5_hex

MIRROR_ENV = "ADV_DATA_MIRROR"
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
NETWORK_TIMEOUT_S = 3.0

IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
# MD5 of each decompressed file (sources: see the module docstring).
IDX_MD5 = {
    "mnist": {
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    },
    "fashion_mnist": {
        "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    },
}
TORCHVISION_FOLDER = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}
_IDX_MAGIC = {"images": 2051, "labels": 2049}
#: The largest IDX file of the MNIST family is 47,040,016 bytes (60,000 images of 28 x 28 and a
#: header); a .gz that decompresses to more is refused as soon as it does, not after filling memory.
GUNZIP_LIMIT = 64 << 20


# --------------------------------------------------------------------------- where
def mirror_dir() -> Path | None:
    """The data mirror: ``$ADV_DATA_MIRROR`` if set (empty: none), else ``<repo>/../shared/datasets`` if present."""
    env = os.environ.get(MIRROR_ENV)
    if env is not None:
        return Path(env).expanduser() if env.strip() else None
    default = _default_mirror()
    return default if default.is_dir() else None


def _default_mirror() -> Path:
    return runtime.REPO_ROOT.parent / "shared" / "datasets"


def _no_mirror_reason() -> str:
    if os.environ.get(MIRROR_ENV) is not None:
        return f"{MIRROR_ENV} is set but empty"
    return f"{MIRROR_ENV} is unset and {_default_mirror()} does not exist"


def raw_folder(name: str, root: Path) -> Path:
    """torchvision's folder of decompressed IDX files, e.g. ``<root>/MNIST/raw``."""
    return Path(root) / TORCHVISION_FOLDER[name] / "raw"


# --------------------------------------------------------------------------- public entry points
def split_arrays(name: str, split: str, root: Path, download: bool = True
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """One split of a real dataset: ``x`` uint8 N x C x H x W (0..255) and ``y`` int64 N.

    Reads verified files under ``root``; when they are missing or wrong, obtains them
    first (see the module docstring for the order).
    """
    try:
        return _read_split(name, split, root)
    except DatasetUnavailable:
        ensure(name, root, download)
        return _read_split(name, split, root)


def ensure(name: str, root: Path, download: bool = True) -> str:
    """Make ``name`` available and verified under ``root``; return where it came from.

    Raises :class:`DatasetUnavailable` listing every source tried and how to get the data.
    """
    root = Path(root)
    tried = []
    try:
        runtime.usable_dir(root, "the datasets", writable=False)
    except ConfigError as err:
        raise DatasetUnavailable(f"{err}; set ADV_DATA_DIR to a folder") from None
    for folder in _folders(name, root):   # temporary files of a killed install
        clean_stale_temporaries(folder)
    problem = _present(name, root)
    if problem is None:
        return f"already in {root}, verified"
    tried.append(f"on disk: {problem}")
    try:
        runtime.usable_dir(root, "the datasets")
    except ConfigError as err:   # verified data could be read from it, but nothing can be installed
        raise DatasetUnavailable(missing_message(name, root, tried + [f"installing: {err}"])) from None
    for label, install in _sources(name, download):
        if isinstance(install, str):
            tried.append(f"{label}: {install}")
            continue
        try:
            install(root)
        except DatasetUnavailable as err:
            tried.append(f"{label}: {err}")
            continue
        except OSError as err:   # a full disk, a folder that vanished: said, not a traceback
            tried.append(f"{label}: cannot write into {root} ({err.strerror or err})")
            continue
        problem = _present(name, root)
        if problem is None:
            return f"installed from {label}, verified"
        tried.append(f"{label}: installed, but {problem}")
    raise DatasetUnavailable(missing_message(name, root, tried))


def _folders(name: str, root: Path) -> list[Path]:
    """The folders under ``root`` that an install of ``name`` writes into."""
    if name in TORCHVISION_FOLDER:
        return [raw_folder(name, root)]
    if name == "cifar10_jpeg":
        return [Path(root) / cifar10_jpeg.CACHE_FOLDER]
    return [Path(root)]


def missing_message(name: str, root: Path, tried: list[str]) -> str:
    meta = info(name)
    mirror = mirror_dir()
    how = (meta.how_to_get.replace("{root}", str(root))
           .replace("{mirror}", str(mirror) if mirror else f"none, {_no_mirror_reason()}"))
    lines = [f"Dataset {name!r} ({meta.title}) is not available in {root}."]
    lines += ["Tried:"] + [f"  - {t}" for t in tried]
    lines += [f"How to get it: {how}"]
    return "\n".join(lines)


# --------------------------------------------------------------------------- the chain, per dataset
def _sources(name: str, download: bool) -> list[tuple[str, Callable[[Path], object] | str]]:
    """The sources after the local files, in order: (label, install(root)), or (label, why it is skipped)."""
    out: list[tuple[str, Callable[[Path], object] | str]] = []
    mirror = mirror_dir()
    if name in ("mnist", "cifar10_jpeg"):
        if mirror is None:
            out.append(("the data mirror", f"none ({_no_mirror_reason()})"))
        elif name == "mnist":
            folder = mirror / "mnist"
            out.append((f"the data mirror ({folder})", lambda root: install_idx("mnist", folder, root)))
        else:
            tar = mirror / cifar10_jpeg.TAR_NAME
            out.append((f"the data mirror ({tar})", lambda root: cifar10_jpeg.install(root, tar)))
    if name == "fashion_mnist":
        debian = DEBIAN_FASHION_MNIST
        out.append((f"Debian's dataset-fashion-mnist ({debian})",
                    (lambda root: install_debian_fashion_mnist(root, debian)) if debian.is_dir()
                    else "not installed"))
    if name in ("mnist", "fashion_mnist", "cifar10"):
        out.append(("a torchvision download", (lambda root: torchvision_download(name, root)) if download
                    else "not tried (download=False)"))
    return out


def _present(name: str, root: Path) -> str | None:
    """None when every file of ``name`` is under ``root`` and verified, else what is wrong."""
    try:
        if name in IDX_MD5:
            for fname in IDX_FILES:
                _read_verified(raw_folder(name, root) / fname, IDX_MD5[name][fname])
        else:
            for split in ("train", "test"):
                _read_split(name, split, root)
    except DatasetUnavailable as err:
        return str(err)
    return None


def _read_split(name: str, split: str, root: Path) -> tuple[torch.Tensor, torch.Tensor]:
    if name in IDX_MD5:
        prefix = "train" if split == "train" else "t10k"
        raw = raw_folder(name, root)
        images = _read_verified(raw / f"{prefix}-images-idx3-ubyte", IDX_MD5[name][f"{prefix}-images-idx3-ubyte"])
        labels = _read_verified(raw / f"{prefix}-labels-idx1-ubyte", IDX_MD5[name][f"{prefix}-labels-idx1-ubyte"])
        return parse_idx(images, labels, where=str(raw))
    if name == "cifar10_jpeg":
        return cifar10_jpeg.read_cache(root, split)
    if name == "cifar10":
        return _read_torchvision_cifar10(root, split == "train")
    raise ValueError(f"{name!r} is not a dataset on disk")


def _read_verified(path: Path, expected_md5: str) -> bytes:
    if not path.is_file():
        raise DatasetUnavailable(f"{path} is missing")
    content = path.read_bytes()
    got = md5_hex(content)
    if got != expected_md5:
        raise DatasetUnavailable(f"{path} failed verification: MD5 {got}, expected {expected_md5} "
                                 "(delete it and fetch again)")
    return content


def _read_torchvision_cifar10(root: Path, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    import torchvision.datasets as tvd

    try:  # torchvision checks its published MD5 of every batch file here
        ds = tvd.CIFAR10(str(root), train=train, download=False)
    except RuntimeError as err:
        raise DatasetUnavailable(f"{Path(root) / 'cifar-10-batches-py'} is missing or corrupt ({err})") from err
    x = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()    # N x H x W x C -> N x C x H x W
    return x, torch.as_tensor(ds.targets, dtype=torch.long)


# --------------------------------------------------------------------------- IDX files (MNIST family)
def install_idx(name: str, source: Path, root: Path, md5: dict[str, str] | None = None) -> Path:
    """Decompress the four IDX files of ``source`` (``<file>.gz`` or ``<file>``) into torchvision's layout.

    Every decompressed file must have its published MD5 (``md5`` overrides the table,
    for tests); all four are checked before any is written, then each is written
    atomically. Returns the raw folder, ``<root>/<MNIST|FashionMNIST>/raw``.
    """
    md5 = md5 or IDX_MD5[name]
    source = Path(source)
    contents = {}
    for fname in IDX_FILES:
        gz, plain = source / f"{fname}.gz", source / fname
        if gz.is_file():
            src, content = gz, _gunzip(gz)
        elif plain.is_file():
            src, content = plain, plain.read_bytes()
        else:
            raise DatasetUnavailable(f"{gz} is missing")
        got = md5_hex(content)
        if got != md5[fname]:
            raise DatasetUnavailable(f"{info(name).title} file {src} failed verification: MD5 of the decompressed "
                                     f"content is {got}, expected {md5[fname]}" + _idx_diagnosis(fname, content))
        contents[fname] = content
    raw = raw_folder(name, root)
    for fname, content in contents.items():
        atomic_write_bytes(content, raw / fname)
    return raw


def install_debian_fashion_mnist(root: Path, source: Path = DEBIAN_FASHION_MNIST) -> Path:
    """Decompress Debian's Fashion-MNIST into ``<root>/FashionMNIST/raw``, verifying each file's MD5.

    Debian recompresses the archives, so the MD5s checked are those of the decompressed
    files (see the module docstring), not torchvision's archive checksums.
    """
    return install_idx("fashion_mnist", source, root)


def parse_idx(images: bytes, labels: bytes, where: str = "IDX") -> tuple[torch.Tensor, torch.Tensor]:
    """IDX image and label files -> ``x`` uint8 N x 1 x H x W, ``y`` int64 N."""
    magic, n, rows, cols = struct.unpack(">IIII", images[:16])
    lmagic, ln = struct.unpack(">II", labels[:8])
    if (magic, lmagic) != (_IDX_MAGIC["images"], _IDX_MAGIC["labels"]) or ln != n \
            or len(images) != 16 + n * rows * cols or len(labels) != 8 + n:
        raise DatasetUnavailable(f"{where}: the IDX headers or sizes are inconsistent")
    x = torch.frombuffer(bytearray(images), dtype=torch.uint8, offset=16).view(n, 1, rows, cols)
    y = torch.frombuffer(bytearray(labels), dtype=torch.uint8, offset=8).long()
    return x, y


def _gunzip(path: Path, limit: int | None = None) -> bytes:
    """The decompressed content of ``path``, refused as soon as it grows past ``limit`` bytes
    (:data:`GUNZIP_LIMIT`): a small .gz can expand to gigabytes."""
    limit = GUNZIP_LIMIT if limit is None else limit
    chunks, size = [], 0
    try:
        with gzip.open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                size += len(chunk)
                if size > limit:
                    raise DatasetUnavailable(f"{path} decompresses to more than {limit:,} bytes, more than any "
                                             "file of this dataset has; refusing it")
                chunks.append(chunk)
    except (OSError, EOFError) as err:
        raise DatasetUnavailable(f"{path} is not a readable .gz file ({err})") from err
    return b"".join(chunks)


def _idx_diagnosis(fname: str, content: bytes) -> str:
    """A hint at what is wrong with a file whose MD5 does not match (header, size, classes)."""
    kind = "images" if "images" in fname else "labels"
    if len(content) < 8:
        return f" ({len(content)} bytes: truncated)"
    magic, n = struct.unpack(">II", content[:8])
    hint = f" (header: magic {magic}, {n} items; {len(content)} bytes"
    if magic != _IDX_MAGIC[kind]:
        hint += f"; expected magic {_IDX_MAGIC[kind]}"
    elif kind == "labels":
        counts = np.bincount(np.frombuffer(content, np.uint8, offset=8), minlength=10)
        hint += f"; {len(counts)} classes, {counts.min()}..{counts.max()} per class"
    return hint + ")"


# --------------------------------------------------------------------------- torchvision downloads
def torchvision_download(name: str, root: Path) -> None:
    """Let torchvision download ``name`` into ``root``, quietly; fail fast when offline."""
    import torchvision.datasets as tvd

    cls = {"mnist": tvd.MNIST, "fashion_mnist": tvd.FashionMNIST, "cifar10": tvd.CIFAR10}[name]
    url = cls.mirrors[0] if hasattr(cls, "mirrors") else cls.url
    if not _reachable(url):
        raise DatasetUnavailable(f"no network: {urllib.parse.urlsplit(url).hostname} does not answer")
    log = io.StringIO()
    old_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(30)        # torchvision's urlopen has no timeout of its own
    try:
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            for train in (True, False):
                cls(str(root), train=train, download=True)
    except Exception as err:  # network errors come in many types
        raise DatasetUnavailable(f"download failed: {type(err).__name__}: {err}") from err
    finally:
        socket.setdefaulttimeout(old_timeout)


def _reachable(url: str, timeout: float = NETWORK_TIMEOUT_S) -> bool:
    """Whether ``url``'s host accepts a connection; a proxy is trusted to do the rest."""
    if any(os.environ.get(k) for k in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY")):
        return True
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout).close()
    except OSError:
        return False
    return True
