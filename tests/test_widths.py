"""The search's choices are the target's formats: per-kind width sets, float as a choice."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hwsearch.core.spec import SearchSpec, SpecError, parse_widths, spec_from_dict
from hwsearch.env import MixedPrecisionEnv
from hwsearch.search import build_costing, build_problem, run_search
from latency_tables.measured import measured_table_text, write_measured_table

BASE = {"model": "digits-cnn", "target": "bismo-edge", "budget": {"relative": 0.5}, "agent": "random", "episodes": 6, "seed": 0}


@pytest.mark.parametrize(
    "given, widths",
    [("2-8", [2, 3, 4, 5, 6, 7, 8]), ("4,8,32", [4, 8, 32]), ("8", [8]), ([8, 4, 4], [4, 8]), (32, [32]), ("2-4, 8", [2, 3, 4, 8])],
)
def test_width_sets_parse_from_ranges_lists_and_json(given, widths):
    assert parse_widths(given, "weight_bits") == widths
    assert SearchSpec.model_validate({**BASE, "weight_bits": given}).weight_bits == widths


@pytest.mark.parametrize("given", ["9", "1-8", "a", "", [True], [8.5], "4-", {"w": 8}])
def test_bad_width_sets_are_refused_naming_the_field(given):
    with pytest.raises(SpecError) as err:
        spec_from_dict({**BASE, "activation_bits": given})
    assert err.value.field == "activation_bits"


def test_a_target_that_runs_none_of_the_widths_is_refused_naming_the_field(float_friendly_table):
    path, _ = float_friendly_table
    with pytest.raises(SpecError) as err:
        build_costing(spec_from_dict({**BASE, "target": str(path), "weight_bits": "2-4"}))
    assert err.value.field == "weight_bits" and "runs none of 2-4" in err.value.message and "8 and 32" in err.value.message


@pytest.mark.parametrize("agent", ["random", "ddpg", "greedy", "ilp", "evolution", "uniform"])
def test_a_weights_only_search_keeps_every_activation_at_8(agent):
    result = run_search({**BASE, "agent": agent, "episodes": 12, "budget": {"relative": 0.8}, "weight_bits": "2-8", "activation_bits": "8"})
    for point in [result.best, *result.pareto, *result.history]:
        bits = point.policy.to_dict().values()
        assert all(b["activation_bits"] == 8 for b in bits) and all(2 <= b["weight_bits"] <= 8 for b in bits)
    assert result.best.latency_ms <= result.budget * (1 + 1e-9)
    doc = result.policy_document()
    assert doc["search"]["weight_bits"] == [2, 3, 4, 5, 6, 7, 8] and doc["search"]["activation_bits"] == [8]


def test_four_bit_weights_with_float_activations_and_a_set_of_two_widths():
    result = run_search({**BASE, "budget": {"relative": 3.0}, "weight_bits": "4,8", "activation_bits": "32"})
    for point in [result.best, *result.history]:
        assert {(b["weight_bits"] in (4, 8), b["activation_bits"]) for b in point.policy.to_dict().values()} == {(True, 32)}


def test_env_maps_actions_onto_each_kinds_widths():
    problem = build_problem(spec_from_dict({**BASE, "weight_bits": "2-8", "activation_bits": "4,8"}))
    env = MixedPrecisionEnv(problem, action="discrete")
    assert env.n_widths == (7, 2) and env.action_space.n == 7
    assert env.to_index(6, True) == 6 and env.to_index(6, False) == 1  # clipped to the kind's widths
    box = MixedPrecisionEnv(problem)
    assert box.to_index(np.array([0.6]), True) == 4 and box.to_index(np.array([0.6]), False) == 1


@pytest.fixture(scope="module")
def float_friendly_table(tmp_path_factory):
    """A measured-style table (int8 and fp32 kernels) of digits-cnn where the first layer
    runs faster in float and every other layer much slower."""
    costing = build_costing(spec_from_dict(BASE))
    shapes = list({s.shape_key: s for s in costing.specs})
    results = {shape: ((1.0, 0.5) if i == 0 else (1.0, 3.0)) for i, shape in enumerate(shapes)}
    path = tmp_path_factory.mktemp("measured") / "cpu.csv"
    write_measured_table(path, measured_table_text(results, "test-cpu", "digits-cnn", 1, 1, 1))
    return path, costing.specs[0].name


@pytest.mark.parametrize("agent", ["ilp", "ddpg"])
def test_on_a_measured_table_the_search_picks_float_where_it_is_faster(float_friendly_table, agent):
    path, first = float_friendly_table
    result = run_search({**BASE, "target": str(path), "budget": {"relative": 1.0}, "agent": agent, "episodes": 30})
    assert result.best.policy is not None
    bits = result.best.policy.to_dict()
    assert 32 in (bits[first]["weight_bits"], bits[first]["activation_bits"])  # float: faster and exact
    assert all(b == {"weight_bits": 8, "activation_bits": 8} for name, b in bits.items() if name != first)
    doc = result.policy_document()
    assert doc["search"]["weight_bits"] == [8, 32] and doc["totals"]["latency_ms"] < doc["baseline_int8"]["latency_ms"]
    json.dumps(doc)


def test_default_choices_include_the_measured_targets_float_but_not_a_simulators(float_friendly_table):
    path, _ = float_friendly_table
    measured = build_costing(spec_from_dict({**BASE, "target": str(path), "budget": {"relative": 1.0}}))
    assert measured.weight_bits == [8, 32] and measured.activation_bits == [8, 32]
    simulated = build_costing(spec_from_dict(BASE))
    assert simulated.weight_bits == list(range(2, 9)) == simulated.activation_bits
