"""The search-quality benchmark's held-out score: the test split, and only on the run's own weights."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from hwsearch.search import run_search

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def search_quality():
    spec = importlib.util.spec_from_file_location("search_quality", ROOT / "benchmarks" / "search_quality.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def run() -> dict:
    body = {"model": "digits-cnn", "target": "bismo-edge", "budget": {"relative": 0.3}, "agent": "random",
            "episodes": 4, "seed": 0, "eval_samples": 100}
    return {**run_search(body).to_dict(), "bench_wall_s": 1.0}  # what the benchmark adds to a run file


def test_held_out_score_is_the_best_policy_on_the_test_split(search_quality, run):
    from hwsearch.evaluate import accuracy
    from hwsearch.core.policy import Policy
    from hwsearch.quant import QuantizedModel
    from hwsearch.zoo import build_model, model_dataset

    data = model_dataset("digits-cnn")
    qmodel = QuantizedModel(build_model("digits-cnn"), data.calib.x).set_policy(Policy.from_dict(run["best"]["policy"]))
    want = accuracy(qmodel, data.test)
    assert search_quality.HeldOutScorer().score(run) == pytest.approx(want)
    assert want != pytest.approx(run["best"]["accuracy"])  # another split than the one searched on


def test_held_out_score_refuses_a_run_made_on_other_weights(search_quality, run):
    other = {**run, "float_accuracy": run["float_accuracy"] - 0.01}
    assert search_quality.HeldOutScorer().score(other) is None


def test_scores_are_kept_in_the_run_files(search_quality, run, tmp_path):
    import json

    path = tmp_path / "run.json"
    path.write_text(json.dumps(run))
    rows = [{"data": json.loads(path.read_text()), "path": path}]
    search_quality.add_test_accuracy(rows)
    assert json.loads(path.read_text())["test_accuracy"] == rows[0]["data"]["test_accuracy"]
    table = search_quality.summarise([{**rows[0], "model": "digits-cnn", "target": "bismo-edge", "budget": 0.3,
                                        "agent": "random", "seed": 0}], episodes=4)
    assert f"{100 * rows[0]['data']['test_accuracy']:.2f} ± 0.00" in table
    d = rows[0]["data"]
    assert f"| {len(d['history'])} | {d['evaluations']} |" in table  # episodes used, then evaluations


def test_plotted_front_is_monotone_in_latency_and_keeps_only_undominated_points(search_quality):
    points = [  # a 3-D front (accuracy, latency, energy): drawn against latency it zigzags
        {"latency_ms": 1.0, "accuracy": 0.80},
        {"latency_ms": 2.0, "accuracy": 0.70},  # dominated on latency: kept only for its energy
        {"latency_ms": 2.0, "accuracy": 0.85},
        {"latency_ms": 3.0, "accuracy": 0.90},
        {"latency_ms": 1.0, "accuracy": 0.75},
    ]
    front = search_quality.latency_front(points)
    assert [(p["latency_ms"], p["accuracy"]) for p in front] == [(1.0, 0.80), (2.0, 0.85), (3.0, 0.90)]


def test_confirming_a_stored_run_gives_what_the_search_gives_today(search_quality, tmp_path):
    import json

    body = {"model": "digits-cnn", "target": "bismo-edge", "budget": {"relative": 0.3}, "agent": "random",
            "episodes": 10, "seed": 1, "eval_samples": 100}
    today = run_search(body).to_dict()
    stored = run_search({**body, "confirm_top": 0}).to_dict()  # as a run made before confirmation
    del stored["confirmation"], stored["spec"]["confirm_top"], stored["spec"]["confirm_samples"]
    stored["test_accuracy"], stored["bench_wall_s"] = 0.5, 1.0
    path = tmp_path / "run.json"
    path.write_text(json.dumps(stored))
    rows = [{"data": json.loads(path.read_text()), "path": path}]
    search_quality.add_confirmation(rows)
    upgraded = json.loads(path.read_text())
    assert upgraded["confirmation"] == today["confirmation"] is not None
    assert upgraded["best"] == today["best"] and upgraded["evaluations"] == today["evaluations"]
    assert upgraded["spec"] == today["spec"] and upgraded["confirmation_added"] is True
    if today["best"]["policy"] != stored["best"]["policy"]:
        assert "test_accuracy" not in upgraded  # scored again on the new best
    search_quality.add_confirmation(rows)  # idempotent: already confirmed, left alone
    assert json.loads(path.read_text()) == upgraded
    table = search_quality.summarise([{**rows[0], "model": "digits-cnn", "target": "bismo-edge", "budget": 0.3,
                                        "agent": "random", "seed": 1}], episodes=10)
    assert f"| random | 1 | {100 * upgraded['best']['confirmed_accuracy']:.2f} ± 0.00 |" in table  # val: the confirmed figure
