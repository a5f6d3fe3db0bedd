"""``hwsearch remote`` and ``hwsearch.client`` against a real ``hwsearch serve``: upload, submit, follow, download."""

from __future__ import annotations

import io
import json
import re

import numpy as np
import onnxruntime as ort
import pytest
import torch
from typer.testing import CliRunner

from hwsearch.cli import app
from hwsearch.client import Client
from tests.fixtures.user_models import UserCNN, onnx_bytes
from tests.service import Server, create_key, free_port


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("remote"), workers=1).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def key(server) -> str:
    return create_key(server.env, "remote")


@pytest.fixture
def remote(server, key, monkeypatch):
    """Runs ``hwsearch remote ARGS`` with the server and key from the environment."""
    monkeypatch.setenv("HWSEARCH_SERVER", f"http://127.0.0.1:{server.port}")
    monkeypatch.setenv("HWSEARCH_API_KEY", key)

    def run(*args: str):
        return CliRunner().invoke(app, ["remote", *map(str, args)])

    return run


def splits() -> bytes:
    """Explicit calib/val/test splits of 1x28x28 uint8 images (the UserCNN's input)."""
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("calib", 64), ("val", 120), ("test", 100)):
        arrays[f"x_{split}"] = rng.integers(0, 256, (n, 1, 28, 28), dtype=np.uint8)
        arrays[f"y_{split}"] = rng.integers(0, 10, n)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def one_error_line(result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def test_upload_submit_wait_and_download_an_onnx_export(remote, tmp_path):
    torch.manual_seed(0)
    (tmp_path / "net.onnx").write_bytes(onnx_bytes(UserCNN()))
    (tmp_path / "d.npz").write_bytes(splits())

    up = remote("upload-model", tmp_path / "net.onnx", "--name", "user cnn")
    assert up.exit_code == 0, up.output
    assert "5 quantizable layers" in up.output and "/depthwise/Conv" in up.output and "BatchNorm2d" in up.output
    model = re.search(r"as (upload:\d+)", up.output).group(1)

    data = remote("upload-data", tmp_path / "d.npz", "--model", model)
    assert data.exit_code == 0, data.output
    assert "calib 64, val 120, test 100" in data.output and "1x28x28 uint8" in data.output
    assert "warning:" in data.output and "120 validation images" in data.output
    dataset = re.search(r"as (upload:\d+)", data.output).group(1)

    submitted = remote("submit", "--model", model, "--data", dataset, "--target", "bismo-edge", "--budget", "0.6",
                       "--agent", "random", "--episodes", "3", "--seed", "0", "--wait")
    assert submitted.exit_code == 0, submitted.output
    job = re.search(r"submitted job (\d+)", submitted.output).group(1)
    policy = re.search(rf"job {job} succeeded: best policy (\d+)", submitted.output).group(1)

    listed = remote("jobs")
    assert listed.exit_code == 0 and "succeeded" in listed.output and "3/3" in listed.output
    assert dataset in remote("datasets").output and model in remote("models").output

    out = tmp_path / "best.onnx"
    got = remote("download", "--best-of-job", job, "--format", "onnx", "--out", out)
    assert got.exit_code == 0, got.output
    session = ort.InferenceSession(out.read_bytes(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).random((4, 1, 28, 28), dtype=np.float32)
    (logits,) = session.run(None, {session.get_inputs()[0].name: x})
    assert logits.shape == (4, 10)

    got = remote("download", policy, "--out", tmp_path / "p.json")
    assert got.exit_code == 0, got.output
    assert json.loads((tmp_path / "p.json").read_text())["spec"]["data"] == dataset


def test_a_bad_key_is_one_line(remote):
    line = one_error_line(remote("--key", "hws_not-a-key", "jobs"))
    assert "unknown API key" in line and "401" in line


def test_an_unreachable_server_is_one_line(remote, monkeypatch):
    monkeypatch.setenv("HWSEARCH_SERVER", f"http://127.0.0.1:{free_port()}")
    assert "cannot reach the hwsearch service" in one_error_line(remote("models"))


def test_a_refused_upload_prints_the_servers_message(remote, tmp_path):
    (tmp_path / "net.pt").write_bytes(b"PK\x03\x04 not a model")
    line = one_error_line(remote("upload-model", tmp_path / "net.pt"))
    assert "is a PyTorch file" in line and "422" in line


def test_events_yield_progress_until_done(server, key):
    spec = {"model": "digits-cnn", "target": "bismo-edge", "budget": {"relative": 0.6}, "agent": "random", "episodes": 2, "seed": 0}
    with Client(f"http://127.0.0.1:{server.port}", key) as client:
        job = client.submit(spec)
        events = list(client.events(job["id"]))
        assert [e["event"] for e in events] == ["progress"] * (len(events) - 1) + ["done"]
        assert all(e["data"]["id"] == job["id"] for e in events)
        assert events[-1]["data"]["state"] == "succeeded" and events[-1]["data"]["progress"]["episode"] == 2
        assert client.wait(job["id"])["best_policy_id"] is not None


def test_verify_times_a_policy_on_the_services_workers_and_jobs_lists_it(remote, server, key):
    client = Client(f"http://127.0.0.1:{server.port}", key)
    job = client.submit({"model": "digits-cnn", "target": "bismo-edge", "budget": {"relative": 0.5}, "agent": "uniform",
                         "episodes": 2, "eval_samples": 100})
    policy_id = client.wait(job["id"])["best_policy_id"]
    result = remote("verify", policy_id, "--repeats", 3, "--warmup", 1, "--wait")
    assert result.exit_code == 0, result.output
    figures = client.policy(policy_id)["verification"]
    assert figures["measured_ms"] > 0 and all(m["repeats"] == 3 for m in figures["models"])
    assert "uniform_int8" in result.output and figures["measured_on"] in result.output
    listed = remote("jobs")
    assert listed.exit_code == 0 and "timing" in listed.output  # a narrow console wraps the rest
    assert "not found" in one_error_line(remote("verify", 999999))
