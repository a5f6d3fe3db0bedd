"""A user's own model through the CLI: no silent random weights, one-line errors for their mistakes."""

from __future__ import annotations

import numpy as np
import pytest
from safetensors.torch import save_file
from typer.testing import CliRunner

from hwsearch.cli import app
from tests.fixtures.user_models import tiny_net

FACTORY = "tests.fixtures.user_models:tiny_net"


@pytest.fixture()
def files(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.integers(0, 256, (400, 8, 8), dtype=np.uint8), y=rng.integers(0, 10, 400))
    save_file(tiny_net().state_dict(), str(tmp_path / "w.safetensors"))
    (tmp_path / "corrupt.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def search(model: str, *extra: str):
    args = ["search", "--model", model, "--data", "npz:d.npz", "--target", "bismo-edge", "--budget", "0.7",
            "--agent", "uniform", "--episodes", "2", "--out", "p.json", *extra]
    return CliRunner().invoke(app, args)


def one_line_error(result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    return " ".join(result.output.split())


def test_a_factory_without_weights_is_refused_unless_random_init_is_asked_for(files):
    message = one_line_error(search(FACTORY))
    assert message.startswith("error: weights:") and "--random-init" in message
    assert search(FACTORY, "--random-init").exit_code == 0
    assert search(FACTORY, "--weights", "w.safetensors").exit_code == 0


@pytest.mark.parametrize(
    ("model", "extra", "words"),
    [
        ("tests.fixtures.user_models:broken_net", ["--random-init"], ["raised RuntimeError", "CUDA driver not found"]),
        (FACTORY, ["--weights", "corrupt.safetensors"], ["cannot load weights", "corrupt.safetensors"]),
        (FACTORY, ["--weights", "missing.safetensors"], ["missing.safetensors"]),
    ],
    ids=["factory-raises", "corrupt-weights", "missing-weights"],
)
def test_a_users_mistakes_are_one_line_errors(files, model, extra, words):
    message = one_line_error(search(model, *extra))
    assert all(w in message for w in words), message


def test_weights_no_width_applies_to_are_named_with_their_share(files):
    import json

    result = search("tests.fixtures.user_models:LstmNet", "--random-init")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "kept in float, neither quantized nor costed: 97% of the weights: lstm (LSTM) 97%" in text
    doc = json.loads((files / "p.json").read_text())
    assert [(u["module"], u["kind"]) for u in doc["unquantized"]] == [("lstm", "LSTM")]
    assert doc["unquantized"][0]["share"] == 4 * (32 * 64 + 64 * 64 + 2 * 64) / (4 * (32 * 64 + 64 * 64 + 2 * 64) + 40 + 650)


def test_attention_is_searched_around_and_named_as_float(files):
    import json

    result = search("tests.fixtures.user_models:AttentionNet", "--random-init")
    assert result.exit_code == 0, result.output
    doc = json.loads((files / "p.json").read_text())
    assert [layer["name"] for layer in doc["layers"]] == ["embed", "head"]
    assert [(u["module"], u["kind"]) for u in doc["unquantized"]] == [("attn", "MultiheadAttention"), ("attn.out_proj", "NonDynamicallyQuantizableLinear")]
