"""Benchmarks share ilp's and greedy's sensitivity probes between the runs of one model."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BODY = {"model": "digits-cnn", "target": "bismo-edge", "budget": {"relative": 0.3}, "agent": "ilp",
        "episodes": 5, "seed": 0, "eval_samples": 100}


@pytest.fixture(scope="module")
def search_quality():
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(ROOT / "benchmarks"))
        yield importlib.import_module("search_quality")


def test_a_second_probing_run_measures_no_probe_again_and_finds_the_same_policy(search_quality, tmp_path):
    store = tmp_path / "probes.json"
    first = search_quality._run_one(BODY, tmp_path / "first.json", probes=store)
    assert first["probes_preloaded"] == 0
    stored = json.loads(store.read_text())
    n = len(stored["probes"])
    layers = len(stored["layers"])
    assert n >= 2 * layers  # the base policy and every decision one width lower at least
    assert list(stored["sources"]) == ["first"]

    other = {**BODY, "agent": "greedy", "budget": {"relative": 0.4}}
    shared = search_quality._run_one(other, tmp_path / "shared.json", probes=store)
    alone = search_quality._run_one(other, tmp_path / "alone.json")
    assert shared["probes_preloaded"] == n and list(shared["probes_from"]) == ["first"]
    assert "probes_preloaded" not in alone
    assert alone["evaluations_measured"] - shared["evaluations_measured"] == n  # exactly the probes are skipped
    assert shared["best"]["policy"] == alone["best"]["policy"]
    assert shared["best"]["accuracy"] == alone["best"]["accuracy"]
    assert len(json.loads(store.read_text())["probes"]) == n  # greedy's probes were all known


def test_a_store_of_another_models_layers_is_refused(search_quality, tmp_path):
    store = tmp_path / "probes.json"
    store.write_text(json.dumps({"layers": ["elsewhere"], "probes": [[[[8, 8]], 0.5]], "sources": {"x": 1.0}}))
    with pytest.raises(ValueError, match="another model's layers"):
        search_quality._run_one(BODY, tmp_path / "run.json", probes=store)
    assert not (tmp_path / "run.json").exists()


def test_the_probe_pass_resumes_and_leaves_an_ilp_run_no_probe_to_measure(search_quality, tmp_path):
    from probe_store import ProbeStore, measure_probes

    store = ProbeStore(tmp_path / "probes.json")
    assert measure_probes(BODY, store, save_every=2, limit=5) == 5  # stopped early: what it measured is kept
    assert len(json.loads(store.path.read_text())["probes"]) == 5
    rest = measure_probes(BODY, store, save_every=7)
    n = len(json.loads(store.path.read_text())["probes"])
    assert n == 5 + rest
    assert measure_probes(BODY, store) == 0

    alone = search_quality._run_one(BODY, tmp_path / "alone.json")
    shared = search_quality._run_one(BODY, tmp_path / "shared.json", probes=store.path)
    assert alone["evaluations_measured"] - shared["evaluations_measured"] == n
    assert shared["best"]["policy"] == alone["best"]["policy"]
    assert shared["best"]["accuracy"] == alone["best"]["accuracy"]
