"""How the environment and the service image get CPU-only torch and Fashion-MNIST.

No Docker engine runs where the tests run (only Debian's docker-compose, for the compose
file's check), so the image cannot be built here: the Dockerfile is checked statically,
instruction by instruction. scripts/cpu_torch.sh runs against a stand-in python that
records its pip calls, so its choice of source is tested without installing anything.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).parents[1]
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def pinned_torch() -> str:
    return next(line.strip() for line in (ROOT / "constraints.txt").read_text().splitlines() if line.startswith("torch=="))


def dockerfile_instructions() -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    return [" ".join(line.split()) for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_the_image_installs_fashion_mnist_from_debian():
    apt = [i for i in dockerfile_instructions() if i.startswith("RUN") and "apt-get install" in i]
    assert len(apt) == 1, apt
    run = apt[0]
    assert "apt-get update" in run and "--no-install-recommends" in run and "dataset-fashion-mnist" in run
    assert run.rstrip().endswith("rm -rf /var/lib/apt/lists/*")  # no package lists left in the layer


def test_the_image_takes_cpu_torch_from_the_cpu_index_before_the_project():
    instructions = dockerfile_instructions()
    pip = [(n, i) for n, i in enumerate(instructions) if i.startswith("RUN") and "pip install" in i]
    torch = [(n, i) for n, i in pip if "torch" in i]
    assert len(torch) == 1, torch
    torch_at, torch_run = torch[0]
    assert f"--index-url {CPU_INDEX}" in torch_run and pinned_torch() in torch_run.split()
    assert "--extra-index-url" not in torch_run  # PyPI never offered: its torch is the CUDA build
    project_at = next(n for n, i in pip if "-c constraints.txt ." in i)
    assert torch_at < project_at


def fake_python(tmp_path: Path, local_wheel: bool) -> tuple[Path, Path]:
    calls = tmp_path / "calls"
    python = tmp_path / "python"
    python.write_text(f'#!/bin/sh\necho "$*" >> "{calls}"\ncase "$*" in *--no-index*) exit {0 if local_wheel else 1};; esac\nexit 0\n')
    python.chmod(0o755)
    return python, calls


def test_setup_takes_a_local_torch_wheel_when_pip_finds_one(tmp_path):
    python, calls = fake_python(tmp_path, local_wheel=True)
    subprocess.run(["bash", str(ROOT / "scripts" / "cpu_torch.sh"), str(python)], check=True, capture_output=True)
    assert calls.read_text().splitlines() == [f"-m pip install -q --no-index --no-deps {pinned_torch()}"]


def test_setup_takes_torch_from_the_cpu_index_otherwise(tmp_path):
    python, calls = fake_python(tmp_path, local_wheel=False)
    subprocess.run(["bash", str(ROOT / "scripts" / "cpu_torch.sh"), str(python)], check=True, capture_output=True)
    local, index = calls.read_text().splitlines()
    assert "--no-index" in local
    assert f"--index-url {CPU_INDEX} {pinned_torch()}" in index and "--extra-index-url" not in index


def test_setup_installs_torch_before_the_project():
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    assert 0 < setup.index("scripts/cpu_torch.sh") < setup.index('-c "$ROOT/constraints.txt" -e')
