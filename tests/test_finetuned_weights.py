"""A fine-tuned policy's exports deploy its fine-tuned weights (CLI: the file beside the policy)."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from hwsearch.cli import app
from hwsearch.evaluate import accuracy
from hwsearch.export import ExportError, export_policy, rebuild_quantized_model
from hwsearch.export.onnx_qdq import run_onnx
from hwsearch.zoo import build_model, model_dataset

EVAL = 300
runner = CliRunner()


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """`hwsearch search` with a fine-tune: a low-bit uniform policy, so the fine-tune matters."""
    out = tmp_path_factory.mktemp("finetuned") / "p.json"
    args = [
        "search", "--model", "digits-cnn", "--target", "bismo-edge", "--budget", "0.3", "--agent", "uniform",
        "--episodes", "2", "--eval-samples", str(EVAL), "--finetune-steps", "60", "--out", str(out),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return out, json.loads(out.read_text())


def _export(path, fmt: str, tmp_path):
    target = tmp_path / f"x.{fmt}"
    result = runner.invoke(app, ["export", str(path), "--format", fmt, "--out", str(target)])
    return result, target


def test_search_writes_the_weights_beside_the_policy(searched):
    import hashlib

    path, doc = searched
    record = doc["finetune"]["weights"]
    sidecar = path.with_name("p.finetuned.safetensors")
    assert record["file"] == sidecar.name and sidecar.exists()
    assert record["sha256"] == hashlib.sha256(sidecar.read_bytes()).hexdigest()
    assert doc["finetune"]["accuracy_after"] != doc["finetune"]["accuracy_before"]  # the fine-tune changed something


def test_weights_export_rebuilds_the_fine_tuned_accuracy(searched, tmp_path):
    path, doc = searched
    result, target = _export(path, "weights", tmp_path)
    assert result.exit_code == 0, result.output
    rebuilt = rebuild_quantized_model(build_model("digits-cnn"), doc, target.read_bytes())
    val = model_dataset("digits-cnn").val.head(EVAL)
    assert accuracy(rebuilt, val) == pytest.approx(doc["finetune"]["accuracy_after"], abs=1e-9)


def test_onnx_export_runs_the_fine_tuned_model(searched, tmp_path):
    path, doc = searched
    result, target = _export(path, "onnx", tmp_path)
    assert result.exit_code == 0, result.output
    val = model_dataset("digits-cnn").val.head(EVAL)
    logits = run_onnx(target.read_bytes(), val.x)
    ort = float((torch.from_numpy(logits).argmax(1) == val.y).float().mean())
    assert abs(ort - doc["finetune"]["accuracy_after"]) <= 0.01, (ort, doc["finetune"])
    untuned = {k: v for k, v in doc.items() if k != "finetune"}  # the original weights, for contrast
    original = run_onnx(export_policy(untuned, "onnx").content, val.x)
    assert not torch.allclose(torch.from_numpy(logits), torch.from_numpy(original), atol=1e-3)


def test_robust_attacks_the_fine_tuned_model(searched, tmp_path):
    path, doc = searched
    report = tmp_path / "robust.json"
    args = ["robust", str(path), "--split", "val", "--samples", str(EVAL), "--eps", "0.01", "--steps", "1",
            "--no-amplification", "--no-compare-float", "--json", str(report)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    clean = json.loads(report.read_text())["models"]["policy"]["clean"]
    assert clean == pytest.approx(doc["finetune"]["accuracy_after"], abs=1e-9)


def test_missing_or_altered_weights_are_clear_errors(searched, tmp_path):
    path, doc = searched
    moved = tmp_path / "p.json"
    moved.write_text(path.read_text())  # the policy without its weights file
    result, _ = _export(moved, "onnx", tmp_path)
    assert result.exit_code == 2 and "finetune.weights.file" in result.output and "Traceback" not in result.output
    moved.with_name("p.finetuned.safetensors").write_bytes(b"not the weights")
    result, _ = _export(moved, "onnx", tmp_path)
    assert result.exit_code == 2 and "SHA-256" in result.output
    result, target = _export(moved, "csv", tmp_path)  # formats without the model do not need them
    assert result.exit_code == 0 and target.exists()
    with pytest.raises(ExportError, match="weights file is needed"):
        export_policy(doc, "onnx")
