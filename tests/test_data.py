"""Data sets: fixed splits, user data (npz, image folder, idx) with clear errors."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch

from hwsearch.data import DataError, load_dataset


def test_digits_splits_fixed_and_disjoint(digits):
    sizes = [len(digits.split(s)) for s in ("train", "calib", "val", "test")]
    assert sum(sizes) == 1797 and min(sizes) > 100
    assert digits.input_shape == (1, 8, 8)
    assert 0.0 <= float(digits.train.x.min()) and float(digits.train.x.max()) <= 1.0
    # same splits on a second load (cache bypassed)
    again = load_dataset.__wrapped__("digits")
    assert torch.equal(again.test.x, digits.test.x)
    rows = {tuple(r.tolist()) for r in digits.test.x.flatten(1)}
    overlap = sum(tuple(r.tolist()) in rows for r in digits.train.x.flatten(1))
    assert overlap < 10  # only true duplicate images may repeat


def test_unknown_split_and_dataset():
    with pytest.raises(DataError, match="unknown data set"):
        load_dataset("imagenet")
    with pytest.raises(DataError, match="unknown split"):
        load_dataset("digits").split("training")


def test_npz_user_data(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "mine.npz"
    np.savez(path, images=rng.integers(0, 256, (200, 12, 12), dtype=np.uint8), labels=rng.integers(0, 3, 200))
    data = load_dataset(f"npz:{path}")
    assert data.input_shape == (1, 12, 12) and data.num_classes <= 3
    assert float(data.train.x.max()) <= 1.0
    assert sum(len(data.split(s)) for s in ("train", "calib", "val", "test")) == 200


def test_npz_refuses_pickles_and_names_arrays(tmp_path):
    bad = tmp_path / "objects.npz"
    np.savez(bad, x=np.array([{"a": 1}] * 10, dtype=object), y=np.zeros(10, dtype=int))
    with pytest.raises(DataError, match="never unpickles"):
        load_dataset(f"npz:{bad}")
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, data=np.zeros((10, 4, 4)))
    with pytest.raises(DataError, match="needs arrays"):
        load_dataset(f"npz:{wrong}")


def test_image_folder(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(1)
    for cls in ("cat", "dog"):
        (tmp_path / cls).mkdir()
        for i in range(30):
            Image.fromarray(rng.integers(0, 256, (10, 10), dtype=np.uint8)).save(tmp_path / cls / f"{i}.png")
    data = load_dataset(f"folder:{tmp_path}")
    assert data.num_classes == 2 and data.input_shape == (1, 10, 10)


def _write_idx(path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


def test_fashion_from_user_idx_folder(tmp_path, monkeypatch):
    rng = np.random.default_rng(2)
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (7000, 28, 28)))
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", rng.integers(0, 10, 7000))
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", rng.integers(0, 256, (50, 28, 28)))
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", rng.integers(0, 10, 50))
    monkeypatch.setenv("HWSEARCH_FASHION_DIR", str(tmp_path))
    data = load_dataset.__wrapped__("fashion")
    assert [len(data.split(s)) for s in ("train", "calib", "val", "test")] == [1000, 1000, 5000, 50]


def test_fashion_missing_files_say_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("HWSEARCH_FASHION_DIR", str(tmp_path))
    with pytest.raises(DataError, match="dataset-fashion-mnist"):
        load_dataset.__wrapped__("fashion")
