"""What a data set is (``Dataset``, ``Split``) and how arrays become one.

Shared by the built-in loaders (``hwsearch.data``) and the npz reader
(``hwsearch.npz_data``), so neither imports the other's module to build a data set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

SPLIT_NAMES = ("train", "calib", "val", "test")
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


def to_split(x: np.ndarray, y: np.ndarray) -> Split:
    return Split(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), torch.from_numpy(y.astype(np.int64)))


def split_by_fractions(
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
    return tuple(to_split(x[idx], y[idx]) for idx in (train, calib, val, test))  # type: ignore[return-value]


def to_nchw(name: str, x: np.ndarray) -> np.ndarray:
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


def from_arrays(name: str, x: np.ndarray, y: np.ndarray) -> Dataset:
    if x.shape[0] != y.shape[0]:
        raise DataError(f"{name}: {x.shape[0]} images but {y.shape[0]} labels")
    x = to_nchw(name, x).astype(np.float32)
    if x.max(initial=0) > 1.0:
        x = x / 255.0
    if not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{name}: labels must be integers, got {y.dtype}")
    train, calib, val, test = split_by_fractions(name, x, y, (0.05, 0.1, 0.15))
    return Dataset(name, int(y.max()) + 1, train, calib, val, test)
