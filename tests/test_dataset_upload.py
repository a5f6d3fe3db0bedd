"""Uploading a data set over real HTTP, and a job on an uploaded model and data set end to end."""

from __future__ import annotations

import io
import os
import zipfile

import numpy as np
import pytest
import torch

from tests.fixtures.user_models import UserCNN, onnx_bytes
from tests.service import Server, running_server, wait_for

LIMIT = 3_000_000


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("datasets"), HWSEARCH_MAX_DATASET_BYTES=str(LIMIT)) as srv:
        yield srv




def npz(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def splits(channels_last: bool = False, val: int = 120) -> bytes:
    rng = np.random.default_rng(0)
    shape = (28, 28, 1) if channels_last else (1, 28, 28)

    def part(n: int) -> dict:
        return {"x": rng.integers(0, 256, (n, *shape), dtype=np.uint8), "y": rng.integers(0, 10, n)}

    parts = {"calib": part(64), "val": part(val), "test": part(100)}
    return npz(**{f"{k}_{s}": v for s, p in parts.items() for k, v in p.items()})


def stored(server: Server) -> list[str]:
    folder = os.path.join(server.env["HWSEARCH_DATA_DIR"], "datasets")
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def test_a_data_set_is_checked_stored_and_owned(server, alice, bob):
    r = alice.post("/datasets", files={"file": ("mine.npz", splits(channels_last=True))}, data={"model": "fashion-cnn"})
    assert r.status_code == 201, r.text
    d = r.json()
    assert d["ref"] == f"upload:{d['id']}" and d["name"] == "mine"
    assert d["counts"] == {"calib": 64, "val": 120, "test": 100} and d["image_shape"] == [1, 28, 28]
    assert d["num_classes"] <= 10 and d["dtype"] == "uint8"
    assert any("120 validation images" in w for w in d["warnings"])
    assert [x["ref"] for x in alice.get("/datasets").json()] == [d["ref"]]
    assert bob.get("/datasets").json() == [] and bob.get(f"/datasets/{d['ref']}").status_code == 404
    assert bob.delete(f"/datasets/{d['id']}").status_code == 404
    assert alice.delete(f"/datasets/{d['id']}").status_code == 204
    assert alice.get("/datasets").json() == [] and stored(server) == []


def _object_array() -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, x=np.array([{"a": 1}] * 3, dtype=object), y=np.zeros(3, dtype=np.int64))
    return buffer.getvalue()


def _huge_header() -> bytes:
    """A valid zip whose x.npy header declares 4 TB of float32: must be refused from the header."""
    header = np.lib.format.header_data_from_array_1_0(np.zeros((1,), dtype=np.float32))
    header["shape"] = (10**6, 1000, 1000)
    member = io.BytesIO()
    np.lib.format.write_array_header_1_0(member, header)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("x.npy", member.getvalue())
        z.writestr("y.npy", b"")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("content", "form", "status", "words"),
    [
        (splits(), {"model": "digits-cnn"}, 422, ["1x8x8"]),
        (npz(x_calib=np.zeros((4, 1, 28, 28)), y_calib=np.zeros(3, dtype=np.int64)), {}, 422, ["y_calib"]),
        (_object_array(), {}, 422, ["x"]),
        (_huge_header(), {}, 422, ["x"]),
        (b"not a zip at all", {}, 422, ["file"]),
        (os.urandom(LIMIT + 1), {}, 413, ["limit"]),
        (splits(), {"model": "upload:999"}, 422, ["model"]),
    ],
    ids=["wrong-shape", "label-count", "object-array", "huge-header", "not-npz", "too-large", "unknown-model"],
)
def test_bad_data_sets_are_refused_and_store_nothing(server, alice, content, form, status, words):
    r = alice.post("/datasets", files={"file": ("d.npz", content)}, data=form)
    assert r.status_code == status, r.text
    message = r.json()["message"]
    assert all(w in message for w in words), message
    assert alice.get("/datasets").json() == [] and stored(server) == []


def test_a_job_on_an_uploaded_model_and_data_set(alice):
    torch.manual_seed(0)
    model = alice.post("/models", files={"file": ("net.onnx", onnx_bytes(UserCNN()))}).json()
    data = alice.post("/datasets", files={"file": ("d.npz", splits())}, data={"model": model["ref"]}).json()
    spec = {"model": model["ref"], "data": data["ref"], "target": "bismo-edge", "budget": {"relative": 0.6},
            "agent": "random", "episodes": 3, "seed": 0}
    assert alice.post("/jobs", json={**spec, "data": "upload:999"}).json()["message"].startswith("data:")
    job = alice.post("/jobs", json=spec)
    assert job.status_code == 201, job.text
    done = wait_for(alice, job.json()["id"], ("succeeded",))
    doc = alice.get(f"/policies/{done['best_policy_id']}/export", params={"format": "policy"}).json()
    assert doc["spec"]["data"] == data["ref"]
    assert alice.get(f"/policies/{done['best_policy_id']}/export", params={"format": "onnx"}).status_code == 200
    assert alice.delete(f"/datasets/{data['id']}").status_code == 409
