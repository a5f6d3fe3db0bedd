"""Where a search runs: the spec's ``device``, the CLI's ``--device``, the workers' setting,
and the device recorded in the policy file. This machine has no GPU: the plumbing is
tested on the CPU, and one test runs only where CUDA is available."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from hwsearch.core.device import resolve_device
from hwsearch.search import SpecError, run_search, spec_from_dict, validate_spec

SPEC = {"model": "digits-cnn", "target": "bismo-edge", "budget": {"relative": 1.0}, "agent": "uniform", "episodes": 2, "seed": 0, "eval_samples": 200}
CUDA = torch.cuda.is_available()


def test_the_settings_pattern_is_the_specs():
    from api.settings import DEVICE_PATTERN as settings_pattern
    from hwsearch.core.spec import DEVICE_PATTERN

    assert settings_pattern == DEVICE_PATTERN


def test_auto_is_a_gpu_when_there_is_one_else_the_cpu():
    assert resolve_device("auto").type == ("cuda" if CUDA else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(CUDA, reason="this machine has a GPU")
@pytest.mark.parametrize("device", ["cuda", "cuda:0"])
def test_a_gpu_this_machine_lacks_is_refused_before_the_search(device):
    with pytest.raises(SpecError) as refused:
        validate_spec({**SPEC, "device": device})
    assert refused.value.field == "device" and "CUDA is not available" in refused.value.message


@pytest.mark.parametrize("device", ["gpu", "cuda:", "cpu:0", "CUDA"])
def test_a_device_name_out_of_the_list_is_refused(device):
    with pytest.raises(SpecError, match="device"):
        spec_from_dict({**SPEC, "device": device})


@pytest.mark.parametrize("device", ["cpu", "auto"])
def test_the_policy_file_records_where_the_search_ran(device):
    result = run_search({**SPEC, "device": device})
    doc = result.policy_document(result.best)
    assert doc["search"]["device"] == ("cuda:0" if CUDA and device == "auto" else "cpu")
    assert doc["spec"]["device"] == device  # what was asked, beside what it resolved to


def test_the_cli_takes_device_and_refuses_a_bad_one_in_one_line(tmp_path):
    out = tmp_path / "p.json"
    args = [sys.executable, "-m", "hwsearch", "search", "--model", "digits-cnn", "--target", "bismo-edge", "--budget", "1.0",
            "--agent", "uniform", "--episodes", "1", "--eval-samples", "100", "--out", str(out)]
    bad = subprocess.run(args + ["--device", "gpu"], capture_output=True, text=True)
    assert bad.returncode != 0 and "device" in bad.stderr and "Traceback" not in bad.stderr
    assert len([line for line in bad.stderr.splitlines() if line.strip()]) <= 3
    good = subprocess.run(args + ["--device", "cpu"], capture_output=True, text=True)
    assert good.returncode == 0, good.stderr
    import json

    assert json.loads(out.read_text())["search"]["device"] == "cpu"


@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
def test_a_search_on_the_gpu_scores_as_on_the_cpu():
    spec = {**SPEC, "agent": "random", "episodes": 4, "finetune_steps": 5}
    gpu, cpu = run_search({**spec, "device": "cuda"}), run_search({**spec, "device": "cpu"})
    assert gpu.policy_document(gpu.best)["search"]["device"].startswith("cuda")
    assert [p.policy for p in gpu.history] == [p.policy for p in cpu.history]
    for a, b in zip(gpu.history, cpu.history, strict=True):
        assert abs(a.accuracy - b.accuracy) <= 0.01  # float order differs on a GPU, not the answer
