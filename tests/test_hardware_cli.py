"""``hwsearch hardware`` commands: output and clean errors."""

from __future__ import annotations

import math
from pathlib import Path

from typer.testing import CliRunner

from hwsearch.cli import app
from hwsearch.search import trace_model
from latency_tables import parse_table

runner = CliRunner()


def test_list_and_show() -> None:
    result = runner.invoke(app, ["hardware", "list"])
    assert result.exit_code == 0 and "bismo-cloud" in result.output
    result = runner.invoke(app, ["hardware", "show", "bitfusion", "--model", "digits-cnn", "--wbits", "4", "--abits", "4"])
    assert result.exit_code == 0, result.output
    assert "total" in result.output and "w4a4" in result.output


def test_unknown_target_is_a_clean_error() -> None:
    result = runner.invoke(app, ["hardware", "show", "nope"])
    assert result.exit_code == 2 and "unknown target" in result.output and "Traceback" not in result.output


def test_build_and_measure_write_valid_tables(tmp_path: Path) -> None:
    out = tmp_path / "bf.csv"
    result = runner.invoke(app, ["hardware", "build", "bismo-edge", "--model", "digits-cnn", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert parse_table(out).target == "bismo-edge"
    out = tmp_path / "cpu.csv"
    result = runner.invoke(app, ["hardware", "measure", "--model", "digits-cnn", "--out", str(out), "--repeats", "2", "--warmup", "1"])
    assert result.exit_code == 0, result.output
    table = parse_table(out)
    assert table.bits == [8, 32]
    last = trace_model("digits-cnn")[-1]  # the classifier: its output is the model's, never requantized
    assert list(table.float_layers) == [(last.name, last.shape_key)]
    assert table.float_layers[(last.name, last.shape_key)] > 0  # timed as the runtime runs it
    assert "1 layer(s) run in float even at int8" in result.output
    # the other five run as integers only while the next layer quantizes its input
    requantized = {layer: consumers for (layer, _), (consumers, ms) in table.requantized_by.items() if ms > 0}
    assert requantized == {"1.0": ("2.0",), "2.0": ("4.0",), "4.0": ("5.0",), "5.0": ("8",), "8": (last.name,)}
    # each of them, run in float into an integer consumer, is priced from whole-model timings
    entries = {layer: consumers for (layer, _), (consumers, _) in table.float_to_integer.items()}
    assert entries == requantized
    whole_int8 = sum(table.costs[s.shape_key][0, 0, 0] for s in trace_model("digits-cnn"))
    assert all(math.isfinite(ms) and abs(ms) < whole_int8 for _, ms in table.float_to_integer.values())
    assert "5 layer(s) run in float before an integer one" in result.output
    # and scaled so that uniform int8 and fp32 cost what the whole model measured
    assert set(table.whole_model_scale) == {"integer", "float"} and "whole model: lone-layer costs scaled" in result.output
    lone = runner.invoke(app, ["hardware", "measure", "--model", "digits-cnn", "--out", str(out), "--repeats", "1", "--warmup", "0", "--no-whole-model"])
    assert lone.exit_code == 0, lone.output
    lone_table = parse_table(out)
    assert lone_table.float_to_integer == {} and lone_table.whole_model_scale == {} and lone_table.requantized_by
    result = runner.invoke(app, ["hardware", "build", "haq-mobilenetv2", "--model", "digits-cnn"])
    assert result.exit_code == 2 and "only simulated targets" in result.output


def test_every_model_the_search_takes_works_with_show_build_and_measure(tmp_path: Path) -> None:
    import torch

    from tests.fixtures.user_models import UserCNN, onnx_bytes

    torch.manual_seed(0)
    onnx_path = tmp_path / "net.onnx"
    onnx_path.write_bytes(onnx_bytes(UserCNN()))
    shown = runner.invoke(app, ["hardware", "show", "bismo-edge", "--model", str(onnx_path)])
    assert shown.exit_code == 0, shown.output
    assert "_head_Gemm" in shown.output and "│ dw " in shown.output and "│ 5 │" in shown.output  # 6 calls
    built = runner.invoke(app, ["hardware", "build", "bismo-edge", "--model", str(onnx_path), "--out", str(tmp_path / "b.csv")])
    assert built.exit_code == 0, built.output
    table = parse_table(tmp_path / "b.csv")
    assert table.meta["model"] == "net"
    measured = runner.invoke(
        app, ["hardware", "measure", "--model", str(onnx_path), "--out", str(tmp_path / "m.csv"), "--warmup", "0", "--repeats", "1"]
    )
    assert measured.exit_code == 0, measured.output
    user_table = parse_table(tmp_path / "m.csv")
    assert user_table.meta["model"] == "net"
    # the switch probe exports the user's own file: a row for every layer with integer consumers
    assert user_table.requantized_by and set(user_table.float_to_integer) == set(user_table.requantized_by)
    factory = "tests.fixtures.user_models:tiny_net"
    ok = runner.invoke(app, ["hardware", "show", "bitfusion", "--model", factory, "--input-shape", "1,8,8"])
    assert ok.exit_code == 0, ok.output
    missing = runner.invoke(app, ["hardware", "show", "bitfusion", "--model", factory])
    assert missing.exit_code == 2 and "input shape" in missing.output and "Traceback" not in missing.output
    wrong = runner.invoke(app, ["hardware", "show", "bitfusion", "--model", factory, "--input-shape", "3,8,8"])
    assert wrong.exit_code == 2 and "(3, 8, 8)" in wrong.output
