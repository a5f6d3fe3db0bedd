"""``hwsearch hardware`` commands: output and clean errors."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from hwsearch.cli import app
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
    assert parse_table(out).bits == [8, 32]
    result = runner.invoke(app, ["hardware", "build", "haq-mobilenetv2", "--model", "digits-cnn"])
    assert result.exit_code == 2 and "only simulated targets" in result.output
