"""lib.data.sources: the mirror, Debian's Fashion-MNIST, MD5 checks, the order of sources, errors.

Tiny fake IDX files (20 train + 10 test images) stand in for the real ones; their MD5s
are injected in place of the published table, so nothing here needs the real data.
"""
from __future__ import annotations

import gzip
import hashlib
import struct
import time

import pytest
import torch

from lib import data
from lib.data import sources
from lib.data.__main__ import main as cli

N = {"train": 20, "t10k": 10}


def _idx_files(seed: int = 0) -> dict[str, bytes]:
    """The four decompressed IDX files of a tiny MNIST-like set: name -> content."""
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for prefix, n in N.items():
        images = torch.randint(0, 256, (n, 28, 28), generator=gen, dtype=torch.uint8)
        labels = (torch.arange(n) % 10).to(torch.uint8)
        out[f"{prefix}-images-idx3-ubyte"] = struct.pack(">IIII", 2051, n, 28, 28) + images.numpy().tobytes()
        out[f"{prefix}-labels-idx1-ubyte"] = struct.pack(">II", 2049, n) + labels.numpy().tobytes()
    return out


def _write_gz(folder, files: dict[str, bytes]):
    folder.mkdir(parents=True, exist_ok=True)
    for fname, content in files.items():
        with gzip.open(folder / f"{fname}.gz", "wb") as f:
            f.write(content)
    return folder


@pytest.fixture
def fake_mirror(tmp_path, monkeypatch):
    """A data mirror holding tiny MNIST files, with their MD5s as the expected ones; no Debian, no network."""
    files = _idx_files()
    _write_gz(tmp_path / "mirror" / "mnist", files)
    monkeypatch.setenv("ADV_DATA_MIRROR", str(tmp_path / "mirror"))
    monkeypatch.setitem(sources.IDX_MD5, "mnist", {f: hashlib.md5(c).hexdigest() for f, c in files.items()})
    monkeypatch.setattr(sources, "DEBIAN_FASHION_MNIST", tmp_path / "no-debian")
    monkeypatch.setattr(sources, "_reachable", lambda url, timeout=0: False)
    return files


def test_mirror_env_var(tmp_path, monkeypatch):
    monkeypatch.setenv("ADV_DATA_MIRROR", str(tmp_path))
    assert sources.mirror_dir() == tmp_path
    monkeypatch.setenv("ADV_DATA_MIRROR", "")
    assert sources.mirror_dir() is None


def test_mirror_install_gives_torchvision_layout_and_loads(tmp_path, fake_mirror):
    import torchvision

    root = tmp_path / "root"
    train = data.load("mnist", "train", root=root, download=False)
    test = data.load("mnist", "test", root=root, download=False)
    assert (len(train), len(test)) == (20, 10) and train.x.shape[1:] == (1, 28, 28)
    assert train.x.dtype == torch.float32 and 0 <= train.x.min() and train.x.max() <= 1
    raw = root / "MNIST" / "raw"
    for fname, content in fake_mirror.items():   # decompressed, byte for byte
        assert (raw / fname).read_bytes() == content
    assert not [p for p in raw.iterdir() if p.name.startswith(".")], "temporary files left behind"
    tv = torchvision.datasets.MNIST(str(root), train=True, download=False)
    assert torch.equal(tv.data.unsqueeze(1).float() / 255, train.x) and torch.equal(tv.targets, train.y)


def test_md5_mismatch_is_refused(tmp_path, fake_mirror):
    bad = dict(fake_mirror)
    bad["t10k-labels-idx1-ubyte"] = bad["t10k-labels-idx1-ubyte"][:-1] + b"\x03"   # one label changed
    _write_gz(tmp_path / "mirror" / "mnist", bad)
    got, expected = hashlib.md5(bad["t10k-labels-idx1-ubyte"]).hexdigest(), sources.IDX_MD5["mnist"][
        "t10k-labels-idx1-ubyte"]
    with pytest.raises(data.DatasetUnavailable) as err:
        data.load("mnist", "train", root=tmp_path / "root", download=False)
    message = str(err.value)
    assert "t10k-labels-idx1-ubyte.gz failed verification" in message and got in message and expected in message
    assert not (tmp_path / "root" / "MNIST" / "raw").exists(), "nothing is installed from a bad set"


def test_local_file_with_wrong_md5_is_reinstalled_or_refused(tmp_path, fake_mirror, monkeypatch):
    root = tmp_path / "root"
    data.load("mnist", "test", root=root, download=False)
    victim = root / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    victim.write_bytes(victim.read_bytes()[:-1] + b"\x00")
    assert len(data.load("mnist", "test", root=root, download=False)) == 10   # reinstalled from the mirror
    assert victim.read_bytes() == fake_mirror["t10k-images-idx3-ubyte"]
    victim.write_bytes(b"junk")
    monkeypatch.setenv("ADV_DATA_MIRROR", "")
    with pytest.raises(data.DatasetUnavailable, match=f"{victim} failed verification: MD5 "
                                                      f"{hashlib.md5(b'junk').hexdigest()}, expected"):
        data.load("mnist", "test", root=root, download=False)


def test_debian_fashion_mnist_is_verified_by_md5(tmp_path, monkeypatch):
    files = _idx_files(seed=1)
    debian = _write_gz(tmp_path / "debian", files)
    monkeypatch.setitem(sources.IDX_MD5, "fashion_mnist", {f: hashlib.md5(c).hexdigest() for f, c in files.items()})
    monkeypatch.setattr(sources, "DEBIAN_FASHION_MNIST", debian)
    monkeypatch.setenv("ADV_DATA_MIRROR", "")
    train = data.load("fashion_mnist", "train", root=tmp_path / "root", download=False)
    assert len(train) == 20 and train.classes[9] == "Ankle boot"
    assert (tmp_path / "root" / "FashionMNIST" / "raw" / "train-images-idx3-ubyte").read_bytes() == \
        files["train-images-idx3-ubyte"]

    # a truncated label file: refused, naming the file and both checksums
    _write_gz(debian, {"t10k-labels-idx1-ubyte": files["t10k-labels-idx1-ubyte"][:-1]})
    with pytest.raises(data.DatasetUnavailable, match=r"t10k-labels-idx1-ubyte.gz failed verification: MD5 .*"
                                                      r"is [0-9a-f]{32}, expected [0-9a-f]{32}"):
        data.install_debian_fashion_mnist(tmp_path / "other", source=debian)


def test_missing_mnist_says_how_to_get_it(tmp_path, fake_mirror, monkeypatch):
    monkeypatch.setenv("ADV_DATA_MIRROR", "")
    with pytest.raises(data.DatasetUnavailable) as err:
        data.load("mnist", "train", root=tmp_path / "root", download=False)
    message = str(err.value)
    for hint in ("ADV_DATA_MIRROR", "python -m lib.data fetch mnist", "MNIST/raw", "download=False"):
        assert hint in message, (hint, message)


def test_cifar10_offline_names_cifar10_jpeg(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "_reachable", lambda url, timeout=0: False)
    start = time.perf_counter()
    with pytest.raises(data.DatasetUnavailable) as err:
        data.load("cifar10", "test", root=tmp_path, download=True)
    assert time.perf_counter() - start < 5
    assert "dataset=cifar10_jpeg" in str(err.value) and "no network" in str(err.value)


def test_unreachable_host_fails_fast():
    start = time.perf_counter()
    assert not sources._reachable("https://no-such-host.invalid/x", timeout=2)
    assert time.perf_counter() - start < 5


def test_n_larger_than_the_split_names_its_size(tmp_path, fake_mirror):
    with pytest.raises(ValueError, match=r"n=21 is larger than the train split of 'mnist' \(20 images\)"):
        data.load("mnist", "train", root=tmp_path, download=False, n=21)
    sub = data.load("mnist", "train", root=tmp_path, download=False, n=10, seed=0)
    assert torch.bincount(sub.y, minlength=10).tolist() == [1] * 10
    assert len(data.load("mnist", "train", root=tmp_path, download=False, n=20)) == 20


def test_fetch_cli(tmp_path, fake_mirror, monkeypatch, capsys):
    assert cli(["fetch", "--root", str(tmp_path), "--offline", "mnist"]) == 0
    assert "ok      mnist: 20 train + 10 test images, installed from the data mirror" in capsys.readouterr().out
    assert cli(["fetch", "--root", str(tmp_path), "mnist"]) == 0
    assert "already in" in capsys.readouterr().out
    assert cli(["fetch", "--root", str(tmp_path), "--offline", "--quiet", "mnist", "synthetic28"]) == 0
    assert capsys.readouterr().out == ""
    assert cli(["fetch", "--root", str(tmp_path / "empty"), "--offline", "fashion_mnist"]) == 1
    assert "MISSING fashion_mnist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli(["fetch", "cifar100"])


def test_ensure_installs_without_loading(tmp_path, fake_mirror):
    assert data.ensure("mnist", root=tmp_path, download=False).startswith("installed from the data mirror")
    assert data.ensure("mnist", root=tmp_path, download=False) == f"already in {tmp_path}, verified"
