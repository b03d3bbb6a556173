"""cifar10_jpeg: a tiny fake tar (2 train + 1 test JPEG per class) decoded once, cached, verified."""
from __future__ import annotations

import hashlib
import io
import tarfile

import pytest
import torch

from lib import data
from lib.data import cifar10_jpeg

PER_CLASS = {"train": 2, "test": 1}


def _value(label: int, index: int) -> int:
    """The grey level of image ``index`` of class ``label``: distinct, so order can be checked."""
    return 20 + 20 * label + 7 * index


def _make_tar(path):
    from PIL import Image

    members = []
    for split, per_class in PER_CLASS.items():
        for label, cls in enumerate(data.CIFAR10_CLASSES):
            for index in range(per_class):
                buf = io.BytesIO()
                Image.new("RGB", (32, 32), (_value(label, index),) * 3).save(buf, "JPEG", quality=75)
                members.append((f"{split}/{cls}/{index:04d}.jpg", buf.getvalue()))
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, blob in reversed(members):      # stream order is not the order we want
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return path


@pytest.fixture
def fake_tar(tmp_path, monkeypatch):
    tar = _make_tar(tmp_path / "mirror" / cifar10_jpeg.TAR_NAME)
    monkeypatch.setenv("ADV_DATA_MIRROR", str(tmp_path / "mirror"))
    monkeypatch.setattr(cifar10_jpeg, "TAR_SHA256", hashlib.sha256(tar.read_bytes()).hexdigest())
    monkeypatch.setattr(cifar10_jpeg, "PER_CLASS", PER_CLASS)
    return tar


def test_decoded_once_then_loaded_from_the_cache(tmp_path, fake_tar, monkeypatch):
    root = tmp_path / "root"
    train = data.load("cifar10_jpeg", "train", root=root, download=False)
    assert train.name == "cifar10_jpeg" and train.x.shape == (20, 3, 32, 32) and train.x.dtype == torch.float32
    assert train.y.tolist() == [label for label in range(10) for _ in range(2)]
    expected = torch.tensor([_value(label, i) for label in range(10) for i in range(2)], dtype=torch.float32)
    assert (train.x.mean((1, 2, 3)) * 255 - expected).abs().max() < 2, "wrong order or wrong pixels"
    for split in ("train", "test"):   # both splits were decoded from the one pass over the tar
        blob = torch.load(root / "cifar10_jpeg" / f"{split}.pt", weights_only=True)
        assert blob["x"].dtype == torch.uint8 and blob["source_sha256"] == cifar10_jpeg.TAR_SHA256

    fake_tar.unlink()   # the cache alone must do now
    monkeypatch.setattr(cifar10_jpeg, "decode_tar", lambda *a, **k: pytest.fail("decoded the tar again"))
    again = data.load("cifar10_jpeg", "train", root=root, download=False)
    test = data.load("cifar10_jpeg", "test", root=root, download=False)
    assert torch.equal(again.x, train.x) and torch.equal(again.y, train.y) and len(test) == 10


def test_wrong_sha256_is_refused(tmp_path, fake_tar, monkeypatch):
    monkeypatch.setattr(cifar10_jpeg, "TAR_SHA256", "0" * 64)
    with pytest.raises(data.DatasetUnavailable, match=r"cifar10-jpeg-q75.tar.gz failed verification: SHA-256 "
                                                      r"[0-9a-f]{64}, expected 0{64}"):
        data.load("cifar10_jpeg", "test", root=tmp_path / "root", download=False)
    assert not (tmp_path / "root" / "cifar10_jpeg").exists()


def test_wrong_counts_are_refused(tmp_path, fake_tar, monkeypatch):
    monkeypatch.setattr(cifar10_jpeg, "PER_CLASS", {"train": 3, "test": 1})
    with pytest.raises(data.DatasetUnavailable, match="train/airplane: 2 images, expected 3"):
        data.load("cifar10_jpeg", "test", root=tmp_path / "root", download=False)


def test_cache_from_another_tar_is_rebuilt(tmp_path, fake_tar):
    root = tmp_path / "root"
    cifar10_jpeg.install(root, fake_tar, sha256=cifar10_jpeg.TAR_SHA256)
    path = root / "cifar10_jpeg" / "test.pt"
    blob = torch.load(path, weights_only=True)
    torch.save({**blob, "source_sha256": "f" * 64}, path)
    with pytest.raises(data.DatasetUnavailable, match="decoded from a tar with SHA-256 f{64}"):
        cifar10_jpeg.read_cache(root, "test")
    assert len(data.load("cifar10_jpeg", "test", root=root, download=False)) == 10
    assert torch.load(path, weights_only=True)["source_sha256"] == cifar10_jpeg.TAR_SHA256


def test_missing_cifar10_jpeg_explains_the_mirror(tmp_path, monkeypatch):
    monkeypatch.setenv("ADV_DATA_MIRROR", str(tmp_path / "empty-mirror"))
    with pytest.raises(data.DatasetUnavailable) as err:
        data.load("cifar10_jpeg", "train", root=tmp_path / "root")
    message = str(err.value)
    for hint in ("ADV_DATA_MIRROR", "cifar10-jpeg/cifar10-jpeg-q75.tar.gz", "python -m lib.data fetch cifar10_jpeg",
                 str(tmp_path / "empty-mirror")):
        assert hint in message, (hint, message)
    assert "torchvision" not in message.split("How to get it")[0], "there is nothing to download"


def test_cifar10_jpeg_is_its_own_dataset():
    meta = data.info("cifar10_jpeg")
    assert meta.shape == (3, 32, 32) and meta.classes == data.CIFAR10_CLASSES
    assert meta.title == "CIFAR-10 (JPEG q75 copy)" != data.info("cifar10").title
    assert "JPEG" in meta.note and "not bit-exact" in meta.note
    assert "ADV_DATA_MIRROR" in meta.how_to_get


def _black(root, split, *, rehash: bool):
    """The cache of ``split`` rewritten with all-black images, same format and counts."""
    path = root / "cifar10_jpeg" / f"{split}.pt"
    blob = torch.load(path, weights_only=True)
    blob["x"] = torch.zeros_like(blob["x"])
    if rehash:
        blob["content_sha256"] = cifar10_jpeg.content_sha256(blob["x"], blob["y"])
    torch.save(blob, path)
    return path


def test_verified_means_the_content_was_checked(tmp_path, fake_tar):
    """Issue 19, item 3: all-black images with the right format and counts were "verified"."""
    root = tmp_path / "root"
    data.ensure("cifar10_jpeg", root=root, download=False)
    _black(root, "test", rehash=False)
    with pytest.raises(data.DatasetUnavailable, match="failed verification: its images and labels have SHA-256"):
        cifar10_jpeg.read_cache(root, "test")
    assert data.ensure("cifar10_jpeg", root=root, download=False).startswith("installed from the data mirror")
    assert data.load("cifar10_jpeg", "test", root=root, download=False).x.mean() > 0.05, "decoded again"


def test_a_rewritten_cache_with_a_recomputed_hash_fails_the_channel_means(tmp_path, fake_tar, monkeypatch):
    root = tmp_path / "root"
    data.ensure("cifar10_jpeg", root=root, download=False)
    test = data.load("cifar10_jpeg", "test", root=root, download=False)
    means = tuple(test.x.mean((0, 2, 3)).tolist())
    monkeypatch.setattr(cifar10_jpeg, "CHANNEL_MEANS", {cifar10_jpeg.TAR_SHA256: {"test": means}})
    _black(root, "test", rehash=True)
    with pytest.raises(data.DatasetUnavailable, match="failed verification: channel means 0.000, 0.000, 0.000"):
        cifar10_jpeg.read_cache(root, "test")


def test_a_truncated_cache_is_named_and_decoded_again(tmp_path, fake_tar):
    root = tmp_path / "root"
    data.ensure("cifar10_jpeg", root=root, download=False)
    path = root / "cifar10_jpeg" / "train.pt"
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(data.DatasetUnavailable) as err:
        cifar10_jpeg.read_cache(root, "train")
    assert str(path) in str(err.value) and "weights_only" not in str(err.value)
    assert len(data.load("cifar10_jpeg", "train", root=root, download=False)) == 20
