"""Data sets with fixed train / calibration / validation / test splits.

Images are float32 tensors (N, C, H, W) in the [0, 1] pixel range; models normalise
inside (see ``zoo.layers.Normalize``) so attacks and exports see raw pixels.
Built-in: ``digits`` (scikit-learn's bundled 8x8 digits) and ``fashion``
(Fashion-MNIST from Debian's ``dataset-fashion-mnist``). User data: ``npz:PATH``
(arrays ``x``/``images`` and ``y``/``labels``, or the user's own splits; checked from
the headers, never unpickled: see ``hwsearch.npz_data``) or ``folder:PATH`` (one
sub-folder of images per class).
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

SPLIT_NAMES = ("train", "calib", "val", "test")
BUILTIN_DATASETS = ("digits", "fashion")
FASHION_DIR_ENV = "HWSEARCH_FASHION_DIR"
DEFAULT_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
SPLIT_SEED = 20190615  # fixed forever: changing it changes every reported accuracy


class DataError(ValueError):
    """A data set cannot be found or read; the message says what to do."""


@dataclass(frozen=True)
class Split:
    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def head(self, n: int) -> Split:
        """The first ``n`` samples (splits are already shuffled once, with a fixed seed)."""
        return Split(self.x[:n], self.y[:n])


@dataclass(frozen=True)
class Dataset:
    name: str
    num_classes: int
    train: Split
    calib: Split
    val: Split
    test: Split

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.train.x.shape[1:])  # type: ignore[return-value]

    def split(self, name: str) -> Split:
        if name not in SPLIT_NAMES:
            raise DataError(f"unknown split {name!r}; choose from {', '.join(SPLIT_NAMES)}")
        return getattr(self, name)

    def example_input(self) -> torch.Tensor:
        return self.val.x[:1]


def _to_split(x: np.ndarray, y: np.ndarray) -> Split:
    return Split(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), torch.from_numpy(y.astype(np.int64)))


def _split_by_fractions(
    name: str, x: np.ndarray, y: np.ndarray, fractions: tuple[float, float, float]
) -> tuple[Split, Split, Split, Split]:
    """Shuffle once with SPLIT_SEED, then cut calib/val/test fractions; the rest is train."""
    order = np.random.default_rng(SPLIT_SEED).permutation(len(y))
    x, y = x[order], y[order]
    n = len(y)
    n_calib, n_val, n_test = (max(1, int(round(f * n))) for f in fractions)
    if n_calib + n_val + n_test >= n:
        raise DataError(f"data set {name!r} has only {n} samples: too few to split")
    cuts = np.cumsum([n_calib, n_val, n_test])
    calib, val, test, train = np.split(np.arange(n), cuts)
    return tuple(_to_split(x[idx], y[idx]) for idx in (train, calib, val, test))  # type: ignore[return-value]


def _digits() -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images / 16.0).astype(np.float32)[:, None]
    train, calib, val, test = _split_by_fractions("digits", x, bunch.target, (0.08, 0.12, 0.2))
    return Dataset("digits", 10, train, calib, val, test)


def _read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (gzipped or not), the format of MNIST and Fashion-MNIST."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        data = fh.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise DataError(f"{path}: not an unsigned-byte IDX file")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if array.size != int(np.prod(dims)):
        raise DataError(f"{path}: header says {dims} but holds {array.size} values")
    return array.reshape(dims)


def _find_idx(folder: Path, stem: str) -> Path:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.exists():
            return candidate
    raise DataError(
        f"Fashion-MNIST file {stem}(.gz) not found in {folder}. Install Debian's package "
        f"'dataset-fashion-mnist' or set {FASHION_DIR_ENV} to a folder with the four standard idx files."
    )


def _fashion() -> Dataset:
    folder = Path(os.environ.get(FASHION_DIR_ENV, DEFAULT_FASHION_DIR))
    x_train = _read_idx(_find_idx(folder, "train-images-idx3-ubyte"))
    y_train = _read_idx(_find_idx(folder, "train-labels-idx1-ubyte"))
    x_test = _read_idx(_find_idx(folder, "t10k-images-idx3-ubyte"))
    y_test = _read_idx(_find_idx(folder, "t10k-labels-idx1-ubyte"))
    order = np.random.default_rng(SPLIT_SEED).permutation(len(y_train))
    x_train = (x_train[order].astype(np.float32) / 255.0)[:, None]
    y_train = y_train[order]
    calib, val = slice(0, 1000), slice(1000, 6000)
    return Dataset(
        "fashion",
        10,
        train=_to_split(x_train[6000:], y_train[6000:]),
        calib=_to_split(x_train[calib], y_train[calib]),
        val=_to_split(x_train[val], y_train[val]),
        test=_to_split((x_test.astype(np.float32) / 255.0)[:, None], y_test),
    )


def _npz(path: Path) -> Dataset:
    from hwsearch.npz_data import load_npz  # imports this module: loaded on first use

    return load_npz(path)


def _to_nchw(name: str, x: np.ndarray) -> np.ndarray:
    """(N, H, W), (N, C, H, W) or (N, H, W, C) as (N, C, H, W).

    Channels-last only when the last axis looks like channels (1 or 3) and the second does not;
    the rule sees only the image shape, so splits of one shape all get the same layout.
    """
    if x.ndim == 3:
        return x[:, None]
    if x.ndim == 4 and x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
        return x.transpose(0, 3, 1, 2)
    if x.ndim != 4:
        raise DataError(f"{name}: images must be (N, H, W), (N, C, H, W) or (N, H, W, C); got {x.shape}")
    return x


def _from_arrays(name: str, x: np.ndarray, y: np.ndarray) -> Dataset:
    if x.shape[0] != y.shape[0]:
        raise DataError(f"{name}: {x.shape[0]} images but {y.shape[0]} labels")
    x = _to_nchw(name, x).astype(np.float32)
    if x.max(initial=0) > 1.0:
        x = x / 255.0
    if not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{name}: labels must be integers, got {y.dtype}")
    train, calib, val, test = _split_by_fractions(name, x, y, (0.05, 0.1, 0.15))
    return Dataset(name, int(y.max()) + 1, train, calib, val, test)


def _folder(path: Path) -> Dataset:
    from PIL import Image

    classes = sorted(p.name for p in path.iterdir() if p.is_dir()) if path.is_dir() else []
    if not classes:
        raise DataError(f"{path}: expected one sub-folder of images per class")
    images, labels = [], []
    for label, cls in enumerate(classes):
        for file in sorted((path / cls).iterdir()):
            if file.suffix.lower() in {".png", ".jpg", ".jpeg", ".bmp", ".gif"}:
                with Image.open(file) as img:
                    images.append(np.asarray(img.convert("L" if img.mode in ("L", "1", "P") else "RGB")))
                labels.append(label)
    if len({im.shape for im in images}) != 1:
        raise DataError(f"{path}: all images must have the same size")
    return _from_arrays(path.name, np.stack(images), np.array(labels))


@lru_cache(maxsize=8)
def load_dataset(name: str) -> Dataset:
    """Load a data set by name: ``digits``, ``fashion``, ``npz:PATH`` or ``folder:PATH``."""
    if name == "digits":
        return _digits()
    if name == "fashion":
        return _fashion()
    if name.startswith("npz:"):
        return _npz(Path(name[4:]))
    if name.startswith("folder:"):
        return _folder(Path(name[7:]))
    raise DataError(f"unknown data set {name!r}; use digits, fashion, npz:PATH or folder:PATH")
