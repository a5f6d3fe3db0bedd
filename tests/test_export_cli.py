"""``hwsearch export POLICY.json --format F --out FILE``."""

from __future__ import annotations

import csv
import io
import json

import onnx
import pytest
from typer.testing import CliRunner

from hwsearch.cli import app
from hwsearch.core.graph import layer_names, trace
from hwsearch.zoo import build_model, example_input
from tests.export_fixtures import make_document, mixed_policy

runner = CliRunner()


@pytest.fixture(scope="module")
def policy_path(tmp_path_factory):
    model = build_model("digits-cnn")
    names = layer_names(trace(model, example_input("digits-cnn")))
    doc = make_document("digits-cnn", model, example_input("digits-cnn"), mixed_policy(names))
    path = tmp_path_factory.mktemp("cli") / "policy.json"
    path.write_text(json.dumps(doc))
    return path


def test_export_csv_and_onnx_files(policy_path, tmp_path):
    out = tmp_path / "layers.csv"
    result = runner.invoke(app, ["export", str(policy_path), "--format", "csv", "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == len(json.loads(policy_path.read_text())["layers"])
    out = tmp_path / "model.onnx"
    result = runner.invoke(app, ["export", str(policy_path), "--format", "onnx", "--out", str(out)])
    assert result.exit_code == 0, result.output
    onnx.checker.check_model(onnx.load(str(out)))


def test_unknown_format_exits_2_listing_formats(policy_path, tmp_path):
    result = runner.invoke(app, ["export", str(policy_path), "--format", "tflite", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert "policy, onnx, encodings, weights, csv" in result.output
    assert "Traceback" not in result.output


def test_bad_inputs_exit_2_with_a_message(policy_path, tmp_path):
    result = runner.invoke(app, ["export", str(tmp_path / "missing.json"), "--format", "policy"])
    assert result.exit_code == 2 and "cannot read" in result.output and "Traceback" not in result.output
    broken = tmp_path / "broken.json"
    doc = json.loads(policy_path.read_text())
    doc["layers"][0]["weight_bits"] = 9
    broken.write_text(json.dumps(doc))
    result = runner.invoke(app, ["export", str(broken), "--format", "policy", "--out", str(tmp_path / "p.json")])
    assert result.exit_code == 2 and "layers[0].weight_bits" in result.output
    assert not (tmp_path / "p.json").exists()
    notjson = tmp_path / "notjson.json"
    notjson.write_text("{")
    result = runner.invoke(app, ["export", str(notjson)])
    assert result.exit_code == 2 and "not JSON" in result.output
