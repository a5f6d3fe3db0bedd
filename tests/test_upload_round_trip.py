"""A deployment engineer's round trip over real HTTP: their trained CNN (see UserCNN) as
ONNX, their data with explicit splits, a search, the ONNX QDQ export run in onnxruntime with
default options: its test accuracy is the simulated one within half a point."""

from __future__ import annotations

import io

import numpy as np
import onnxruntime as ort
import pytest
import torch
from torch import nn

from hwsearch.data import load_dataset
from hwsearch.export import rebuild_quantized_model
from hwsearch.zoo.onnx_import import load_onnx_model
from tests.fixtures.user_models import UserCNN, onnx_bytes
from tests.service import running_server, wait_for


def trained_user_cnn() -> nn.Module:
    """The suite's UserCNN (grouped and depthwise convs, concat, a block called twice, a residual
    add, BatchNorm, conv biases), trained briefly on Fashion-MNIST (seeded)."""
    torch.manual_seed(0)
    model = UserCNN()
    train = load_dataset("fashion").train
    optimizer = torch.optim.Adam(model.parameters(), 3e-3)
    for i in range(0, 12800, 64):
        loss = nn.functional.cross_entropy(model(train.x[i : i + 128]), train.y[i : i + 128])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def explicit_splits() -> tuple[bytes, np.ndarray, np.ndarray]:
    fashion = load_dataset("fashion")
    as_uint8 = lambda split, n: ((split.x[:n, 0].numpy() * 255).round().astype(np.uint8), split.y[:n].numpy())  # noqa: E731
    (xc, yc), (xv, yv), (xt, yt) = as_uint8(fashion.calib, 500), as_uint8(fashion.val, 1000), as_uint8(fashion.test, 2000)
    buffer = io.BytesIO()
    np.savez(buffer, x_calib=xc, y_calib=yc, x_val=xv, y_val=yv, x_test=xt, y_test=yt)
    return buffer.getvalue(), (xt[:, None] / 255.0).astype(np.float32), yt


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("roundtrip")) as srv:
        yield srv


def test_the_exported_model_reproduces_the_simulated_accuracy(alice):
    model_bytes = onnx_bytes(trained_user_cnn())
    data_bytes, x_test, y_test = explicit_splits()
    model = alice.post("/models", files={"file": ("cnn.onnx", model_bytes)})
    assert model.status_code == 201, model.text
    data = alice.post("/datasets", files={"file": ("fashion.npz", data_bytes)}, data={"model": model.json()["ref"]})
    assert data.status_code == 201, data.text
    spec = {"model": model.json()["ref"], "data": data.json()["ref"], "target": "bismo-edge", "budget": {"relative": 0.35},
            "agent": "greedy", "episodes": 2, "seed": 0}
    job = alice.post("/jobs", json=spec)
    assert job.status_code == 201, job.text
    done = wait_for(alice, job.json()["id"], ("succeeded",), timeout=300)
    best = done["best_policy_id"]
    doc = alice.get(f"/policies/{best}/export", params={"format": "policy"}).json()
    assert min(layer["activation_bits"] for layer in doc["layers"]) < 8  # a mixed, low-bit policy
    qdq = alice.get(f"/policies/{best}/export", params={"format": "onnx"}).content
    weights = alice.get(f"/policies/{best}/export", params={"format": "weights"}).content

    session = ort.InferenceSession(qdq, providers=["CPUExecutionProvider"])  # default options
    exported = session.run(None, {session.get_inputs()[0].name: x_test})[0].argmax(1)
    simulated_model = rebuild_quantized_model(load_onnx_model(model_bytes).module, doc, weights)
    with torch.no_grad():
        simulated = simulated_model(torch.from_numpy(x_test)).argmax(1).numpy()
    exported_acc, simulated_acc = (exported == y_test).mean(), (simulated == y_test).mean()
    assert simulated_acc > 0.5  # a trained model, so the comparison means something
    assert abs(exported_acc - simulated_acc) <= 0.005, (exported_acc, simulated_acc, (exported == simulated).mean())
