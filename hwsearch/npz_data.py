"""User data sets in .npz files, checked from their .npy headers before anything is allocated.

An .npz is untrusted input: a 1 kB upload can declare a terabyte array, lie about its
size in the zip directory or hold pickled objects. So the archive is opened as a zip and
every member's header is read first (name, dtype, shape, declared vs. stored size); only
then are the arrays loaded, with ``allow_pickle=False``.

Two forms, never mixed in one file:

- ``x``/``y`` (or ``images``/``labels``): split once with the fixed seed, like built-in data;
  pixels scaled as before (divided by 255 when any value exceeds 1).
- the user's own splits ``x_calib``/``y_calib``, ``x_val``/``y_val``, ``x_test``/``y_test``
  and optionally ``x_train``/``y_train``, the fine-tuning data. Without a train split,
  fine-tuning uses the calibration split. Images are uint8 (divided by 255) or float
  already in [0, 1], one dtype and one image shape for all splits.

Images are (N, H, W), (N, C, H, W) or (N, H, W, C); labels are integers 0..K-1 and
``num_classes`` is the largest label over all splits plus one.
"""

from __future__ import annotations

import io
import math
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np
from numpy.lib import format as npy_format

from hwsearch.splits import Dataset, DataError, Split, from_arrays, to_nchw, to_split

MAX_ARRAY_BYTES = 2 << 30  # generous defaults for local files; uploads pass their own limit
MAX_TOTAL_BYTES = 4 << 30
MIN_VAL_IMAGES = 500  # below this the validation accuracy is too noisy to rank policies well
SPLITS = ("train", "calib", "val", "test")
REQUIRED_SPLITS = ("calib", "val", "test")
XY_NAMES = ("x", "images", "y", "labels")
ALLOWED_NAMES = frozenset(XY_NAMES) | {f"{k}_{s}" for s in SPLITS for k in "xy"}
FORMS = (
    "an npz needs arrays 'x' (or 'images') and 'y' (or 'labels'), or its own splits "
    "x_calib/y_calib, x_val/y_val, x_test/y_test (optionally x_train/y_train)"
)


@dataclass(frozen=True)
class NpzReport:
    """What an uploaded .npz holds, to show the user before a search spends hours on it."""

    counts: dict[str, int]
    image_shape: tuple[int, int, int]
    num_classes: int
    dtype: str
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Header:
    shape: tuple[int, ...]
    dtype: np.dtype


def _shape_text(shape: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in shape)


def _read_header(member: BinaryIO, name: str, array: str) -> tuple[_Header, int]:
    """The shape and dtype of one .npy member and where its data starts; reads no data."""
    try:
        version = npy_format.read_magic(member)
        if version == (1, 0):
            shape, _, dtype = npy_format.read_array_header_1_0(member)
        elif version == (2, 0):
            shape, _, dtype = npy_format.read_array_header_2_0(member)
        else:
            raise DataError(f"{name}: array {array!r} uses .npy format {version}; save it with numpy.savez")
    except DataError:
        raise
    except (ValueError, EOFError) as exc:
        raise DataError(f"{name}: array {array!r} is not a valid .npy array ({exc})") from None
    if dtype.hasobject:
        raise DataError(
            f"{name}: array {array!r} holds Python objects ({dtype}); "
            "hwsearch never unpickles user data, save plain numeric arrays"
        )
    if dtype.kind not in "biuf":
        raise DataError(f"{name}: array {array!r} has dtype {dtype}; save plain numeric arrays")
    if any(d < 0 for d in shape):
        raise DataError(f"{name}: array {array!r} declares a negative dimension {shape}")
    return _Header(tuple(shape), dtype), member.tell()


def _read_headers(zf: zipfile.ZipFile, name: str, max_array_bytes: int, max_total_bytes: int) -> dict[str, _Header]:
    """Every member's header, refusing unknown names, oversized arrays and lying zip sizes."""
    headers: dict[str, _Header] = {}
    total = 0
    for info in zf.infolist():
        array = info.filename.removesuffix(".npy")
        if array not in ALLOWED_NAMES or not info.filename.endswith(".npy"):
            raise DataError(f"{name}: unexpected array {info.filename!r}; {FORMS}")
        if array in headers:
            raise DataError(f"{name}: array {array!r} appears twice in the archive")
        try:
            with zf.open(info) as member:
                header, data_offset = _read_header(member, name, array)
        except (RuntimeError, NotImplementedError, zipfile.BadZipFile) as exc:  # encrypted, odd compression
            raise DataError(f"{name}: cannot read array {array!r}: {exc}") from None
        nbytes = math.prod(header.shape) * header.dtype.itemsize
        if nbytes > max_array_bytes:
            raise DataError(
                f"{name}: array {array!r} declares shape {header.shape} of {header.dtype} ({nbytes:,} bytes), "
                f"over the limit of {max_array_bytes:,} bytes per array"
            )
        if info.file_size != data_offset + nbytes:
            raise DataError(
                f"{name}: array {array!r} declares {nbytes:,} bytes of data but its zip member holds "
                f"{info.file_size - data_offset:,}; the file is damaged or crafted"
            )
        total += nbytes
        if total > max_total_bytes:
            raise DataError(f"{name}: arrays up to {array!r} exceed the limit of {max_total_bytes:,} bytes in all")
        headers[array] = header
    return headers


def _check_explicit_headers(name: str, headers: dict[str, _Header]) -> list[str]:
    """The splits present, after checking names, dtypes, shapes and counts from the headers alone."""
    splits = [s for s in SPLITS if f"x_{s}" in headers or f"y_{s}" in headers]
    needed = sorted(set(splits) | set(REQUIRED_SPLITS), key=SPLITS.index)
    missing = [f"{k}_{s}" for s in needed for k in "xy" if f"{k}_{s}" not in headers]
    if missing:
        raise DataError(f"{name}: missing array(s) {', '.join(missing)}; {FORMS}")
    first = "x_calib"
    for split in splits:
        xa, ya = f"x_{split}", f"y_{split}"
        x, y = headers[xa], headers[ya]
        if x.dtype != np.uint8 and x.dtype.kind != "f":
            raise DataError(f"{name}: {xa} has dtype {x.dtype}; images must be uint8 (0..255) or float (0..1)")
        if x.dtype != headers[first].dtype:
            raise DataError(f"{name}: {xa} is {x.dtype} but {first} is {headers[first].dtype}; save all splits alike")
        if len(x.shape) not in (3, 4):
            raise DataError(f"{name}: {xa} must be (N, H, W), (N, C, H, W) or (N, H, W, C); got {x.shape}")
        if x.shape[1:] != headers[first].shape[1:]:
            raise DataError(
                f"{name}: {xa} images are {_shape_text(x.shape[1:])} "
                f"but {first} images are {_shape_text(headers[first].shape[1:])}"
            )
        if y.dtype.kind not in "iu" or len(y.shape) != 1:
            raise DataError(f"{name}: {ya} must be a 1-d integer array; got {y.dtype} {y.shape}")
        if x.shape[0] != y.shape[0]:
            raise DataError(f"{name}: {xa} has {x.shape[0]} images but {ya} has {y.shape[0]} labels")
        if x.shape[0] == 0:
            raise DataError(f"{name}: split {split!r} is empty ({xa} holds no images)")
    return splits


def _pixels(name: str, array: str, x: np.ndarray) -> np.ndarray:
    """uint8 -> /255; float must already be in [0, 1] (a guess would silently skew every accuracy)."""
    if x.dtype == np.uint8:
        return x.astype(np.float32) / 255.0
    low, high = (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)
    if not (0.0 <= low and high <= 1.0):  # also catches NaN
        raise DataError(
            f"{name}: {array} is float with values in [{low:g}, {high:g}]; float images must be in [0, 1] "
            "(save uint8 pixels or divide by 255)"
        )
    return x.astype(np.float32)


def _labels(name: str, array: str, y: np.ndarray) -> np.ndarray:
    if y.size and int(y.min()) < 0:
        raise DataError(f"{name}: {array} has negative labels ({int(y.min())}); labels must be 0..K-1")
    return y


def _explicit_dataset(name: str, arrays: dict[str, np.ndarray], splits: list[str]) -> Dataset:
    parts: dict[str, Split] = {}
    for split in splits:
        x = to_nchw(name, _pixels(name, f"x_{split}", arrays[f"x_{split}"]))
        parts[split] = to_split(x, _labels(name, f"y_{split}", arrays[f"y_{split}"]))
    num_classes = max(int(p.y.max()) for p in parts.values()) + 1
    train = parts.get("train", parts["calib"])
    return Dataset(name, num_classes, train, parts["calib"], parts["val"], parts["test"])


@contextmanager
def _opened(source: bytes | Path) -> Iterator[BinaryIO]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        yield io.BytesIO(source)
        return
    path = Path(source)
    if not path.is_file():
        raise DataError(f"data file {path} not found")
    with path.open("rb") as fh:
        yield fh


def _form(name: str, headers: dict[str, _Header]) -> tuple[list[str], list[str]]:
    """The arrays to load and, for the explicit form, its splits (empty for the x/y form)."""
    explicit = [a for a in headers if a not in XY_NAMES]
    x_key = next((k for k in ("x", "images") if k in headers), None)
    y_key = next((k for k in ("y", "labels") if k in headers), None)
    if explicit and (x_key or y_key):
        both = ", ".join(a for a in XY_NAMES if a in headers)
        raise DataError(f"{name}: holds both {both} and explicit splits ({', '.join(explicit)}); use one form")
    if explicit:
        return explicit, _check_explicit_headers(name, headers)
    if x_key is None or y_key is None:
        raise DataError(f"{name}: {FORMS}; has {list(headers)}")
    return [x_key, y_key], []


def _read(source: bytes | Path, name: str, max_array_bytes: int, max_total_bytes: int) -> tuple[Dataset, str, bool]:
    """The data set, its images' stored dtype and whether it came with its own train split."""
    with _opened(source) as fh:
        try:
            zf = zipfile.ZipFile(fh)
        except zipfile.BadZipFile:
            raise DataError(f"{name}: not an .npz file (a zip archive of .npy arrays)") from None
        with zf:
            headers = _read_headers(zf, name, max_array_bytes, max_total_bytes)
            wanted, splits = _form(name, headers)
            arrays = {}
            for array in wanted:
                try:
                    with zf.open(f"{array}.npy") as member:
                        arrays[array] = np.load(member, allow_pickle=False)
                except (ValueError, EOFError, OSError, zipfile.BadZipFile) as exc:  # e.g. a bad CRC
                    raise DataError(f"{name}: cannot read array {array!r}: {exc}") from None
    if splits:
        return _explicit_dataset(name, arrays, splits), str(headers["x_calib"].dtype), "train" in splits
    x_key, y_key = wanted
    if not np.issubdtype(arrays[y_key].dtype, np.integer):
        raise DataError(f"{name}: labels must be integers, got {arrays[y_key].dtype}")
    dataset = from_arrays(name, arrays[x_key], _labels(name, y_key, arrays[y_key]))
    return dataset, str(headers[x_key].dtype), True


def load_npz(
    path: Path, max_array_bytes: int = MAX_ARRAY_BYTES, max_total_bytes: int = MAX_TOTAL_BYTES
) -> Dataset:
    """Load ``npz:PATH`` through the same header checks as an upload, with generous limits."""
    return _read(Path(path), Path(path).stem, max_array_bytes, max_total_bytes)[0]


def check_npz(
    source: bytes | Path,
    max_bytes: int | None = None,
    input_shape: tuple[int, ...] | None = None,
    num_classes: int | None = None,
) -> NpzReport:
    """Check an upload against the model it is for, before a search is queued.

    ``max_bytes`` limits the arrays' declared size, each and all together (default: the
    generous local-file limits). ``input_shape`` is the model's (C, H, W) and ``num_classes``
    its output width; a mismatch with either is a ``DataError``.
    """
    name = "upload" if isinstance(source, (bytes, bytearray, memoryview)) else Path(source).name
    limits = (MAX_ARRAY_BYTES, MAX_TOTAL_BYTES) if max_bytes is None else (max_bytes, max_bytes)
    dataset, dtype, own_train = _read(source, name, *limits)
    shape = dataset.input_shape
    if input_shape is not None and tuple(input_shape) != shape:
        raise DataError(
            f"{name}: images are {_shape_text(shape)} but the model takes {_shape_text(tuple(input_shape))}"
        )
    if num_classes is not None and dataset.num_classes > num_classes:
        raise DataError(
            f"{name}: labels go up to {dataset.num_classes - 1} but the model has {num_classes} outputs "
            f"(labels must be 0..{num_classes - 1})"
        )
    warnings = []
    n_val = len(dataset.val)
    if n_val < MIN_VAL_IMAGES:
        stderr = 100 * math.sqrt(0.9 * 0.1 / n_val)
        warnings.append(
            f"only {n_val} validation images: an accuracy of 90% is measured to +-{stderr:.1f} points "
            "(one standard error)"
        )
    if not own_train:
        warnings.append(f"no x_train/y_train: fine-tuning uses the {len(dataset.calib)} calibration images")
    counts = {s: len(dataset.split(s)) for s in SPLITS if own_train or s != "train"}
    return NpzReport(counts, shape, dataset.num_classes, dtype, warnings)
