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


def test_verify_reports_a_runtime_aware_prediction(measured_policy):
    """digits-cnn's convs each feed a ReLU then a quantizer, so at int8 onnxruntime runs
    them as integer kernels; the float model's runtime-aware prediction is its plain one."""
    done = runner.invoke(app, ["hardware", "verify", str(measured_policy), "--json", "--repeats", "3", "--warmup", "0"])
    assert done.exit_code == 0, done.output
    models = {m["name"]: m for m in json.loads(done.stdout)["models"]}
    assert models["float"]["integer_layers"] == 0
    assert models["float"]["runtime_predicted_ms"] == pytest.approx(models["float"]["predicted_ms"])
    int8 = models["uniform_int8"]
    assert 0 < int8["integer_layers"] <= 6 and int8["runtime_predicted_ms"] > 0
    assert int8["runtime_ratio"] == pytest.approx(int8["median_ms"] / int8["runtime_predicted_ms"])


def _graph(*nodes) -> bytes:
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    return helper.make_model(helper.make_graph(list(nodes), "g", [x], [x])).SerializeToString()


def test_integer_layers_are_those_whose_output_goes_straight_to_a_quantizer():
    from onnx import helper

    from hwsearch.core.policy import Policy
    from hwsearch.verify import integer_layers, runtime_reference

    def dq(name: str) -> object:  # a dequantized tensor: what an integer kernel can read
        return helper.make_node("DequantizeLinear", [f"{name}.q", "s"], [name])

    content = _graph(
        *(dq(f"{layer}.w") for layer in "abcdf"),
        dq("dx"),
        helper.make_node("Conv", ["dx", "a.w"], ["a"]),
        helper.make_node("QuantizeLinear", ["a", "s"], ["qa"]),  # a: straight into a quantizer
        helper.make_node("DequantizeLinear", ["qa", "s"], ["da"]),
        helper.make_node("Conv", ["da", "b.w"], ["b"]),
        helper.make_node("Relu", ["b"], ["rb"]),
        helper.make_node("QuantizeLinear", ["rb", "s"], ["qb"]),  # b: through a ReLU the kernel absorbs
        helper.make_node("DequantizeLinear", ["qb", "s"], ["db"]),
        helper.make_node("Conv", ["db", "c.w"], ["c"]),
        helper.make_node("Add", ["c", "x"], ["y"]),  # c: into a residual add, left in float
        helper.make_node("Gemm", ["y", "d.w"], ["d"]),  # d: a float input, left in float
        helper.make_node("QuantizeLinear", ["d", "s"], ["qd"]),
        helper.make_node("DequantizeLinear", ["qd", "s"], ["dd"]),
        helper.make_node("Conv", ["dd", "e.w"], ["e"]),  # e: float weights, left in float
        helper.make_node("QuantizeLinear", ["e", "s"], ["qe"]),
        helper.make_node("DequantizeLinear", ["qe", "s"], ["de"]),
        helper.make_node("Conv", ["de", "f.w"], ["f"]),
        helper.make_node("QuantizeLinear", ["f", "s"], ["qf"]),
        helper.make_node("Identity", ["f"], ["other"]),  # f: read twice, left in float
    )
    weights = {name: f"{name}.w" for name in "abcdef"}
    assert integer_layers(content, weights) == {"a", "b"}
    policy = Policy({name: (4, 6) for name in "abcd"})
    assert dict(runtime_reference(policy, list("abcd"), {"a", "b"})) == dict(
        Policy({"a": (4, 6), "b": (4, 6), "c": (32, 6), "d": (32, 6)})  # still quantizing their inputs
    )
