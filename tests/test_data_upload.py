"""User .npz data: explicit splits, scaling and layout rules, header checks before allocation."""

from __future__ import annotations

import io
import pickle
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from numpy.lib import format as npy_format

from hwsearch.data import SPLIT_SEED, DataError, load_dataset
from hwsearch.npz_data import check_npz, load_npz

SIZES = {"calib": 40, "val": 30, "test": 20}


def _npz_bytes(**arrays: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _npy(shape: tuple[int, ...], descr: str = "|u1", data: bytes = b"") -> bytes:
    """A hand-made .npy member: a header declaring ``shape`` followed by ``data``."""
    buf = io.BytesIO()
    npy_format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue() + data


def _splits(image_shape=(8, 8), dtype=np.uint8, sizes=SIZES, seed=3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in sizes.items():
        x = rng.integers(0, 256, (n, *image_shape), dtype=np.uint8)
        arrays[f"x_{split}"] = x if dtype == np.uint8 else (x / 255.0).astype(dtype)
        arrays[f"y_{split}"] = np.arange(n) % 5  # labels 0..4 in every split
    return arrays


def _load(folder: Path, arrays: dict[str, np.ndarray], name: str = "data"):
    """Save ``arrays`` as ``name``.npz in ``folder`` and load it the way ``npz:PATH`` does."""
    path = folder / f"{name}.npz"
    np.savez(path, **arrays)
    return load_npz(path)


@pytest.fixture
def no_load(monkeypatch):
    """Fail if anything is unpickled or loaded: refusals must come from the headers alone."""

    def forbidden(*args, **kwargs):
        raise AssertionError("data loaded or unpickled before the header checks refused it")

    for target, attr in ((pickle, "load"), (pickle, "loads"), (np, "load")):
        monkeypatch.setattr(target, attr, forbidden)


def test_explicit_splits_hold_exactly_the_users_images(tmp_path):
    arrays = _splits()
    arrays["y_test"][0] = 6
    path = tmp_path / "mine.npz"
    np.savez(path, **arrays)
    data = load_dataset.__wrapped__(f"npz:{path}")
    for split in SIZES:
        expected = torch.from_numpy(arrays[f"x_{split}"][:, None].astype(np.float32) / 255.0)
        assert torch.equal(data.split(split).x, expected)
        assert data.split(split).y.tolist() == arrays[f"y_{split}"].tolist()
    assert data.num_classes == 7 and data.input_shape == (1, 8, 8)
    assert data.train is data.calib  # no x_train: fine-tuning uses the calibration split

    rng = np.random.default_rng(4)
    arrays.update(x_train=rng.integers(0, 256, (15, 8, 8), dtype=np.uint8), y_train=np.full(15, 9))
    np.savez(path, **arrays)
    data = load_npz(path)
    assert torch.equal(data.train.x, torch.from_numpy(arrays["x_train"][:, None] / np.float32(255)))
    assert data.num_classes == 10 and len(data.calib) == 40


def test_uint8_is_scaled_float_must_already_be_in_unit_range(tmp_path):
    from_uint8 = _load(tmp_path, _splits(), "uint8")
    from_float = _load(tmp_path, _splits(dtype=np.float32), "float")
    assert torch.allclose(from_uint8.val.x, from_float.val.x, atol=1e-6)
    assert float(from_float.val.x.max()) <= 1.0 and float(from_float.val.x.max()) > 0.9

    arrays = _splits(dtype=np.float32)
    arrays["x_val"] = arrays["x_val"] * 255.0  # float pixels in 0..255: no guessing for explicit splits
    with pytest.raises(DataError, match=r"x_val is float with values in \[0, 255\]"):
        check_npz(_npz_bytes(**arrays))
    arrays = _splits(dtype=np.float32)
    arrays["x_test"][0, 0, 0] = np.nan
    with pytest.raises(DataError, match="x_test"):
        check_npz(_npz_bytes(**arrays))
    arrays = _splits()
    arrays["x_val"] = arrays["x_val"].astype(np.float32) / 255
    with pytest.raises(DataError, match="x_val is float32 but x_calib is uint8"):
        check_npz(_npz_bytes(**arrays))


def test_nhwc_and_nchw_give_the_same_tensors(tmp_path):
    rgb = _splits(image_shape=(6, 7, 3))  # NHWC
    nchw = {k: (v.transpose(0, 3, 1, 2) if k.startswith("x_") else v) for k, v in rgb.items()}
    a, b = _load(tmp_path, rgb, "nhwc"), _load(tmp_path, nchw, "nchw")
    assert a.input_shape == b.input_shape == (3, 6, 7)
    for split in SIZES:
        assert torch.equal(a.split(split).x, b.split(split).x)
    assert torch.equal(a.calib.x[0, :, 2, 5], torch.from_numpy(rgb["x_calib"][0, 2, 5] / np.float32(255)))
    report = check_npz(_npz_bytes(**rgb))
    assert report.image_shape == (3, 6, 7) and report.dtype == "uint8"

    mixed = dict(rgb, x_val=nchw["x_val"])
    with pytest.raises(DataError, match="x_val images are 3x6x7 but x_calib images are 6x7x3"):
        check_npz(_npz_bytes(**mixed))


def test_xy_form_still_splits_with_the_fixed_seed(tmp_path):
    rng = np.random.default_rng(5)
    x = rng.integers(0, 256, (200, 5, 5), dtype=np.uint8)
    y = rng.integers(0, 3, 200)
    path = tmp_path / "xy.npz"
    np.savez(path, x=x, y=y)
    data = load_dataset.__wrapped__(f"npz:{path}")
    order = np.random.default_rng(SPLIT_SEED).permutation(200)
    cuts = {"calib": order[:10], "val": order[10:30], "test": order[30:60], "train": order[60:]}
    for split, idx in cuts.items():
        assert torch.equal(data.split(split).x, torch.from_numpy(x[idx][:, None].astype(np.float32) / 255.0))
        assert data.split(split).y.tolist() == y[idx].tolist()
    report = check_npz(path)
    assert report.counts == {"train": 140, "calib": 10, "val": 20, "test": 30}
    assert not any("fine-tuning" in w for w in report.warnings)


def test_both_forms_and_missing_splits_refused():
    arrays = _splits()
    with pytest.raises(DataError, match="holds both x, y and explicit splits"):
        check_npz(_npz_bytes(x=arrays["x_val"], y=arrays["y_val"], **arrays))
    del arrays["y_test"]
    with pytest.raises(DataError, match="missing array.*y_test"):
        check_npz(_npz_bytes(**arrays))
    arrays = _splits()
    arrays["x_train"] = arrays["x_calib"]
    with pytest.raises(DataError, match="missing array.*y_train"):
        check_npz(_npz_bytes(**arrays))


def test_object_array_refused_without_unpickling(tmp_path, no_load):
    arrays = _splits()
    buf = io.BytesIO()
    np.savez(buf, **dict(arrays, x_val=np.array([{"a": 1}] * 30, dtype=object)))  # savez pickles it
    with pytest.raises(DataError, match="'x_val' holds Python objects.*never unpickles"):
        check_npz(buf.getvalue())
    path = tmp_path / "objects.npz"
    path.write_bytes(buf.getvalue())
    with pytest.raises(DataError, match="never unpickles"):
        load_dataset.__wrapped__(f"npz:{path}")


def test_structured_dtype_refused(no_load):
    arrays = _splits()
    arrays["y_val"] = np.zeros(30, dtype=[("label", "<i8"), ("weight", "<f4")])
    with pytest.raises(DataError, match="'y_val' has dtype"):
        check_npz(_npz_bytes(**arrays))


def test_huge_declared_array_refused_before_allocation(no_load):
    upload = _zip({"x_calib.npy": _npy((10**6, 1000, 1000), "<f4"), "y_calib.npy": _npy((10**6,), "<i8")})
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=r"'x_calib' declares shape \(1000000, 1000, 1000\).*over the limit"):
            check_npz(upload)
        with pytest.raises(DataError, match="'x_calib'.*over the limit of 1,000 bytes"):
            check_npz(_zip({"x_calib.npy": _npy((10, 10, 11))}), max_bytes=1000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 << 20


def test_total_size_limit():
    upload = _npz_bytes(**_splits())  # 90 images of 64 bytes plus labels
    with pytest.raises(DataError, match="exceed the limit of 5,000 bytes in all"):
        check_npz(upload, max_bytes=5000)
    assert check_npz(upload, max_bytes=20_000).counts["calib"] == 40


def test_zip_member_whose_size_lies_refused(no_load):
    short = _zip({"x_calib.npy": _npy((100, 8, 8), data=bytes(64))})  # declares 6400 bytes, holds 64
    with pytest.raises(DataError, match="'x_calib' declares 6,400 bytes of data but its zip member holds 64"):
        check_npz(short)
    bomb = _zip({"x_val.npy": _npy((1, 8, 8), data=bytes(5 << 20))})  # 64 bytes declared, 5 MiB of zeros
    assert len(bomb) < 50_000
    with pytest.raises(DataError, match="'x_val' declares 64 bytes of data but its zip member holds 5,242,880"):
        check_npz(bomb)


def test_corrupted_member_refused_by_its_checksum():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:  # stored, not compressed: the flipped byte reaches the CRC check
        for array, value in _splits().items():
            zf.writestr(f"{array}.npy", _npy(value.shape, npy_format.dtype_to_descr(value.dtype), value.tobytes()))
    good = buf.getvalue()
    assert check_npz(good).counts == SIZES
    bad = bytearray(good)
    data_at = good.index(_splits()["x_val"].tobytes()[:32])
    bad[data_at + 5] ^= 0xFF
    with pytest.raises(DataError, match="cannot read array 'x_val'.*CRC"):
        check_npz(bytes(bad))


def test_unknown_member_names_refused(no_load):
    with pytest.raises(DataError, match="unexpected array 'meta.npy'.*needs arrays"):
        check_npz(_npz_bytes(meta=np.zeros(3), **_splits()))
    with pytest.raises(DataError, match="unexpected array 'x_calib.txt'"):
        check_npz(_zip({"x_calib.txt": b"hello"}))
    with pytest.raises(DataError, match="not an .npz file"):
        check_npz(b"plain bytes, not a zip")


def test_mismatched_label_counts_and_empty_splits():
    arrays = _splits()
    arrays["y_val"] = arrays["y_val"][:-1]
    with pytest.raises(DataError, match="x_val has 30 images but y_val has 29 labels"):
        check_npz(_npz_bytes(**arrays))
    arrays = _splits(sizes={"calib": 0, "val": 30, "test": 20})
    with pytest.raises(DataError, match="split 'calib' is empty"):
        check_npz(_npz_bytes(**arrays))
    arrays = _splits()
    arrays["y_test"][3] = -1
    with pytest.raises(DataError, match="y_test has negative labels"):
        check_npz(_npz_bytes(**arrays))


def test_channels_checked_against_the_model():
    upload = _npz_bytes(**_splits(image_shape=(8, 8, 3)))
    with pytest.raises(DataError, match="images are 3x8x8 but the model takes 1x8x8"):
        check_npz(upload, input_shape=(1, 8, 8))
    assert check_npz(upload, input_shape=(3, 8, 8)).image_shape == (3, 8, 8)


def test_labels_checked_against_the_model_outputs():
    arrays = _splits()
    arrays["y_val"][0] = 10
    with pytest.raises(DataError, match=r"labels go up to 10 but the model has 10 outputs \(labels must be 0..9\)"):
        check_npz(_npz_bytes(**arrays), num_classes=10)
    arrays["y_val"][0] = 9
    assert check_npz(_npz_bytes(**arrays), num_classes=10).num_classes == 10


def test_report_and_small_validation_warning():
    report = check_npz(_npz_bytes(**_splits(sizes={"calib": 10, "val": 120, "test": 7})))
    assert report.counts == {"calib": 10, "val": 120, "test": 7}
    assert report.image_shape == (1, 8, 8) and report.num_classes == 5 and report.dtype == "uint8"
    assert report.warnings == [
        "only 120 validation images: an accuracy of 90% is measured to +-2.7 points (one standard error)",
        "no x_train/y_train: fine-tuning uses the 10 calibration images",
    ]
    big = _splits(sizes={"train": 3, "calib": 2, "val": 500, "test": 1})
    report = check_npz(_npz_bytes(**big))
    assert report.warnings == [] and report.counts["train"] == 3
