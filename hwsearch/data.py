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
from functools import lru_cache
from pathlib import Path

import numpy as np

from hwsearch.npz_data import load_npz
from hwsearch.splits import SPLIT_NAMES, SPLIT_SEED, Dataset, DataError, Split, from_arrays, split_by_fractions, to_split

# the data-set types are re-exported: callers load and type data through this module
__all__ = ["BUILTIN_DATASETS", "SPLIT_NAMES", "DataError", "Dataset", "Split", "load_dataset"]

BUILTIN_DATASETS = ("digits", "fashion")
FASHION_DIR_ENV = "HWSEARCH_FASHION_DIR"
DEFAULT_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


def _digits() -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images / 16.0).astype(np.float32)[:, None]
    train, calib, val, test = split_by_fractions("digits", x, bunch.target, (0.08, 0.12, 0.2))
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
        train=to_split(x_train[6000:], y_train[6000:]),
        calib=to_split(x_train[calib], y_train[calib]),
        val=to_split(x_train[val], y_train[val]),
        test=to_split((x_test.astype(np.float32) / 255.0)[:, None], y_test),
    )


def _npz(path: Path) -> Dataset:
    return load_npz(path)


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
    return from_arrays(path.name, np.stack(images), np.array(labels))


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
