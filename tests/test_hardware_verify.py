"""`hwsearch hardware verify`: a policy's predicted latency against its exported model timed here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hwsearch.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def measured_policy(tmp_path_factory) -> Path:
    """A digits-cnn table measured on this machine and a policy searched on it."""
    folder = tmp_path_factory.mktemp("verify")
    table = folder / "cpu.csv"
    done = runner.invoke(app, ["hardware", "measure", "--model", "digits-cnn", "--out", str(table), "--repeats", "3", "--warmup", "1"])
    assert done.exit_code == 0, done.output
    policy = folder / "policy.json"
    args = ["search", "--model", "digits-cnn", "--target", str(table), "--budget", "1.0", "--agent", "random",
            "--episodes", "2", "--eval-samples", "200", "--out", str(policy)]
    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.output
    return policy


def test_verify_json_reports_predicted_and_measured(measured_policy):
    done = runner.invoke(app, ["hardware", "verify", str(measured_policy), "--json", "--repeats", "5", "--warmup", "1"])
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    doc = json.loads(measured_policy.read_text())
    assert report["predicted_ms"] == pytest.approx(doc["totals"]["latency_ms"])
    assert report["measured_ms"] > 0 and report["ratio"] == pytest.approx(report["measured_ms"] / report["predicted_ms"])
    models = {m["name"]: m for m in report["models"]}
    assert set(models) == {"policy", "uniform_int8", "float"}
    assert models["uniform_int8"]["predicted_ms"] == pytest.approx(doc["baseline_int8"]["latency_ms"])
    assert models["float"]["predicted_ms"] > 0  # the measured table has fp32 kernels
    for m in models.values():
        assert m["p10_ms"] <= m["median_ms"] <= m["p90_ms"] and m["repeats"] == 5


def test_verify_table_output_and_one_line_errors(measured_policy, tmp_path):
    done = runner.invoke(app, ["hardware", "verify", str(measured_policy), "--repeats", "3", "--warmup", "0"])
    assert done.exit_code == 0 and "uniform_int8" in done.output and "predicted by cpu-onnxruntime" in done.output
    missing = runner.invoke(app, ["hardware", "verify", str(tmp_path / "none.json")])
    assert missing.exit_code != 0 and "cannot read" in missing.output and "Traceback" not in missing.output
    doc = json.loads(measured_policy.read_text())
    doc["spec"]["target"] = doc["target"] = "upload:7"  # a service upload: not a table here
    moved = tmp_path / "service.json"
    moved.write_text(json.dumps(doc))
    unknown = runner.invoke(app, ["hardware", "verify", str(moved)])
    assert unknown.exit_code != 0 and "unknown target" in unknown.output and "Traceback" not in unknown.output
    table = json.loads(measured_policy.read_text())["spec"]["target"]
    given = runner.invoke(app, ["hardware", "verify", str(moved), "--table", table, "--json", "--repeats", "2", "--warmup", "0"])
    assert given.exit_code == 0, given.output
