"""`hwsearch search --model net.onnx`: a user's ONNX model searched, written and exported from anywhere."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest
import torch
from typer.testing import CliRunner

from hwsearch.cli import app
from tests.fixtures.user_models import UserCNN, onnx_bytes


@pytest.fixture()
def user_files(tmp_path, monkeypatch):
    torch.manual_seed(0)
    (tmp_path / "net.onnx").write_bytes(onnx_bytes(UserCNN()))
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "data.npz", x=rng.integers(0, 256, (600, 28, 28), dtype=np.uint8), y=rng.integers(0, 10, 600))
    np.savez(tmp_path / "rgb.npz", x=rng.integers(0, 256, (600, 28, 28, 3), dtype=np.uint8), y=rng.integers(0, 10, 600))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def search(*extra: str):
    args = ["search", "--model", "net.onnx", "--target", "bismo-edge", "--budget", "0.6", "--agent", "random",
            "--episodes", "3", "--data", "npz:data.npz", "--out", "p.json", *extra]
    return CliRunner().invoke(app, args)


def test_an_onnx_model_is_searched_by_its_path_and_exports_from_another_folder(user_files, monkeypatch):
    result = search()
    assert result.exit_code == 0, result.output
    doc = json.loads((user_files / "p.json").read_text())
    # stored absolute, so the file works from any folder
    assert doc["spec"]["model"] == str(user_files / "net.onnx")
    assert doc["spec"]["data"] == f"npz:{user_files / 'data.npz'}"
    assert [layer["name"] for layer in doc["layers"]] == [
        "_stem_stem_0_Conv", "_grouped_Conv", "_depthwise_Conv", "_shared_shared_0_Conv", "_head_Gemm"
    ]
    assert {layer["name"]: layer["calls"] for layer in doc["layers"]}["_shared_shared_0_Conv"] == 2
    elsewhere = user_files / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    exported = CliRunner().invoke(app, ["export", str(user_files / "p.json"), "--format", "onnx", "--out", "q.onnx"])
    assert exported.exit_code == 0, exported.output
    session = ort.InferenceSession(str(elsewhere / "q.onnx"), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).random((4, 1, 28, 28), dtype=np.float32)
    (logits,) = session.run(None, {session.get_inputs()[0].name: x})
    assert logits.shape == (4, 10) and np.isfinite(logits).all()


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--data", "npz:rgb.npz"], ["data", "(3, 28, 28)"]),
        (["--weights", "w.safetensors"], ["model", "own weights"]),
        (["--model", "missing.onnx"], ["model", "missing.onnx"]),
    ],
)
def test_mistakes_are_one_line_errors(user_files, extra, words):
    result = search(*extra)
    assert result.exit_code == 2, result.output
    line = result.output.strip()
    assert "Traceback" not in line and all(w in line for w in words), line


def test_a_small_validation_split_is_warned_about(user_files):
    result = search()  # data.npz: 600 images split with the fixed seed, 60 of them for validation
    assert result.exit_code == 0, result.output
    assert "warning: only 60 validation images" in " ".join(result.output.split())
