"""The CLI's model commands, run as a user would (a real subprocess)."""

from __future__ import annotations

import subprocess
import sys


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hwsearch", *args], capture_output=True, text=True, timeout=600
    )


def test_models_lists_builtins():
    out = run_cli("models")
    assert out.returncode == 0
    for name in ("digits-cnn", "fashion-mobilenet", "resnet-50"):
        assert name in out.stdout


def test_bench_models_table():
    out = run_cli("bench-models", "--model", "digits-cnn")
    assert out.returncode == 0, out.stderr
    row = next(line for line in out.stdout.splitlines() if "digits-cnn" in line)
    cells = [c.strip() for c in row.split("│") if c.strip()]
    values = [float(c) for c in cells[2:]]
    assert len(values) == 6  # float + W8 W6 W4 W3 W2
    assert values[0] >= 96 and values[-1] < values[1]


def test_bench_models_unknown_model_is_clear():
    out = run_cli("bench-models", "--model", "resnet-50")
    assert out.returncode == 2
    assert "architecture-only" in out.stdout
    assert "Traceback" not in out.stdout + out.stderr
