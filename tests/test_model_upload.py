"""Uploading a user's ONNX model over real HTTP: checked, stored by its key, refused cleanly."""

from __future__ import annotations

import io
import os

import onnx
import pytest
import torch
from onnx import TensorProto, helper

from tests.fixtures.user_models import UserCNN, onnx_bytes
from tests.service import Server, running_server

LIMIT = 2_000_000


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("uploads"), HWSEARCH_MAX_MODEL_BYTES=str(LIMIT)) as srv:
        yield srv




@pytest.fixture(scope="module")
def user_onnx() -> bytes:
    torch.manual_seed(0)
    return onnx_bytes(UserCNN())


def stored_files(server: Server) -> list[str]:
    folder = server.env["HWSEARCH_DATA_DIR"] + "/models"
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def own_uploads(client) -> list[dict]:
    return [m for m in client.get("/models").json() if not m["builtin"]]


def test_an_onnx_model_is_checked_stored_and_owned(server, alice, bob, user_onnx):
    r = alice.post("/models", files={"file": ("net.onnx", user_onnx)}, data={"name": "my net"})
    assert r.status_code == 201, r.text
    model = r.json()
    assert model["ref"] == f"upload:{model['id']}" and model["name"] == "my net" and not model["builtin"]
    assert model["input_shape"] == [1, 28, 28]  # (C, H, W), as for built-in models
    report = model["report"]
    layers = {layer["name"]: layer for layer in report["layers"]}
    assert set(layers) == {"/stem/stem.0/Conv", "/grouped/Conv", "/depthwise/Conv", "/shared/shared.0/Conv", "/head/Gemm"}
    assert layers["/depthwise/Conv"]["op"] == "depthwise_conv2d"
    assert layers["/shared/shared.0/Conv"]["calls"] == 2
    assert layers["/head/Gemm"]["op"] == "linear" and layers["/head/Gemm"]["params"] == 16 * 7 * 7 * 10 + 10
    assert [u["kind"] for u in report["unquantized"]] == ["BatchNorm2d"]
    assert report["quantized_share"] + sum(u["share"] for u in report["unquantized"]) == pytest.approx(1.0)
    assert report["relative_diff"] <= 1e-3
    import hashlib

    assert model["sha256"] == hashlib.sha256(user_onnx).hexdigest() and model["size_bytes"] == len(user_onnx)
    assert stored_files(server) == [f"{model['sha256']}.onnx"]

    assert alice.get(f"/models/{model['ref']}").json()["report"] == report
    assert alice.get("/models/digits-cnn").json()["builtin"] is True
    assert [m["ref"] for m in own_uploads(alice)] == [model["ref"]]
    # another key sees built-ins only, and none of alice's uploads
    assert own_uploads(bob) == []
    assert bob.get(f"/models/{model['ref']}").status_code == 404
    assert bob.delete(f"/models/{model['id']}").status_code == 404

    assert alice.delete(f"/models/{model['id']}").status_code == 204
    assert alice.get(f"/models/{model['ref']}").status_code == 404
    assert own_uploads(alice) == [] and stored_files(server) == []


def _unsupported_model() -> bytes:
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 4, 8])
    y = helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 4, 8])
    nodes = [helper.make_node("Relu", ["input"], ["r"], name="relu_1"), helper.make_node("Erf", ["r"], ["out"], name="erf_7")]
    graph = helper.make_graph(nodes, "g", [x], [y])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def _torch_save() -> bytes:
    buffer = io.BytesIO()
    torch.save(UserCNN().state_dict(), buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("filename", "content", "status", "words"),
    [
        ("net.onnx", _unsupported_model(), 422, ["Erf", "erf_7"]),
        ("weights.pt", b"anything", 422, ["PyTorch", "torch.onnx.export"]),
        ("net.onnx", _torch_save(), 422, ["PyTorch", "unpickles"]),
        ("net.onnx", b"\x08\x07garbage that is not protobuf" * 3, 422, ["ONNX"]),
        ("net.onnx", os.urandom(LIMIT + 1), 413, ["limit"]),
    ],
    ids=["unsupported-op", "pt-name", "torch-save", "garbage", "too-large"],
)
def test_bad_uploads_are_refused_with_json_and_store_nothing(server, alice, filename, content, status, words):
    r = alice.post("/models", files={"file": (filename, content)})
    assert r.status_code == status, r.text
    message = r.json()["message"]
    assert all(w in message for w in words), message
    assert own_uploads(alice) == [] and stored_files(server) == []


def test_a_truncated_model_is_refused(server, alice, user_onnx):
    r = alice.post("/models", files={"file": ("net.onnx", user_onnx[: len(user_onnx) // 2])})
    assert r.status_code == 422 and r.json()["message"].startswith("file:")
    assert stored_files(server) == []


def test_external_data_is_refused(server, alice, user_onnx):
    model = onnx.load_from_string(user_onnx)
    tensor = model.graph.initializer[0]
    tensor.data_location = TensorProto.EXTERNAL
    tensor.external_data.add(key="location", value="../../etc/passwd")
    r = alice.post("/models", files={"file": ("net.onnx", model.SerializeToString())})
    assert r.status_code == 422 and "external" in r.json()["message"]
    assert stored_files(server) == []


def test_a_job_searches_an_uploaded_model_and_its_policies_export_in_every_format(alice, bob, user_onnx):
    import numpy as np
    import onnxruntime as ort

    from tests.service import wait_for

    model = alice.post("/models", files={"file": ("net.onnx", user_onnx)}).json()
    spec = {"model": model["ref"], "data": "fashion", "target": "bismo-edge", "budget": {"relative": 0.6},
            "agent": "random", "episodes": 3, "eval_samples": 300, "seed": 0}
    assert bob.post("/jobs", json=spec).status_code == 422  # another key's model
    no_data = alice.post("/jobs", json={**spec, "data": None}).json()["message"]
    assert no_data.startswith("data:") and model["ref"] in no_data and "/" not in no_data.split(model["ref"])[0]
    refused = alice.post("/jobs", json={**spec, "data": "npz:/etc/data.npz"})
    assert refused.status_code == 422 and refused.json()["message"].startswith("data:")
    job = alice.post("/jobs", json=spec)
    assert job.status_code == 201, job.text
    done = wait_for(alice, job.json()["id"], ("succeeded",))
    policy = alice.get(f"/policies/{done['best_policy_id']}").json()
    assert policy["model"] == model["ref"]
    assert [layer["name"] for layer in policy["layers"]] == [layer["module"] for layer in model["report"]["layers"]]
    for fmt in ("policy", "onnx", "encodings", "weights", "csv"):
        r = alice.get(f"/policies/{policy['id']}/export", params={"format": fmt})
        assert r.status_code == 200, (fmt, r.text)
        if fmt == "policy":
            assert r.json()["spec"]["model"] == model["ref"]  # the user's reference, not a server path
        if fmt == "onnx":
            session = ort.InferenceSession(r.content, providers=["CPUExecutionProvider"])
            x = np.random.default_rng(0).random((5, 1, 28, 28), dtype=np.float32)
            assert session.run(None, {session.get_inputs()[0].name: x})[0].shape == (5, 10)
    in_use = alice.delete(f"/models/{model['id']}")
    assert in_use.status_code == 409 and "used by" in in_use.json()["message"]
    assert alice.get(f"/models/{model['ref']}").status_code == 200
