"""Whatever a spec or a table accepts, a search can run: the validators, in Python.

Every numeric field of the spec (nested blocks too) has a range, refuses booleans, strings,
NaN and infinities; every text field refuses NUL; tables refuse costs that are not > 0 or
that overflow; ``validate_spec`` refuses any target whose costs or totals are unusable.
The service's tests over HTTP are in ``tests/test_service_strict_input.py``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import annotated_types
import numpy as np
import pytest
from pydantic import BaseModel

from agents import AGENT_NAMES
from hwsearch.core.robust_spec import RobustSpec
from hwsearch.core.spec import MAX_SEED, Budget, SearchSpec, SpecError, spec_from_dict
from hwsearch.search import run_search, validate_spec
from latency_tables import TableError, TableTarget, get_target, list_targets, parse_table
from latency_tables.table import MAX_COST

ROOT = Path(__file__).resolve().parents[1]
DIGITS_TABLE = ROOT / "latency_tables" / "data" / "cpu-onnxruntime__digits-cnn.csv"
#: the line of the table's first row (after its header lines)
FIRST_ROW = next(i for i, line in enumerate(DIGITS_TABLE.read_text().splitlines(), 1) if not line.startswith(("#", "shape")))
BASE = {"model": "digits-cnn", "target": "bismo-edge", "budget": {"relative": 0.5}, "robust": {"eps": 0.1}}
BLOCKS: dict[str, type[BaseModel]] = {"": SearchSpec, "budget.": Budget, "robust.": RobustSpec}


def kinds(annotation: Any) -> set[type]:
    if get_origin(annotation) in (Union, type(int | None)):
        return set().union(*(kinds(a) for a in get_args(annotation)))
    return {get_origin(annotation) or annotation}


def fields(kind: type) -> Iterator[str]:
    """Dotted names of the spec's fields of ``kind`` (int, float or str), nested blocks too."""
    for prefix, model in BLOCKS.items():
        for name, field in model.model_fields.items():
            if kind in kinds(field.annotation) and not (kind is int and bool in kinds(field.annotation)):
                yield prefix + name


def with_value(path: str, value: Any) -> dict[str, Any]:
    block, _, name = path.rpartition(".")
    if block == "budget":
        return {**BASE, "budget": {name: value}}
    if block == "robust":
        return {**BASE, "robust": {**BASE["robust"], name: value}}
    return {**BASE, name: value}


def refused(body: dict[str, Any]) -> SpecError:
    with pytest.raises(SpecError) as info:
        spec_from_dict(body)
    return info.value


def test_the_fields_are_found():
    assert {"episodes", "seed", "finetune_steps", "robust.samples", "robust.steps"} <= set(fields(int))
    assert {"budget.relative", "budget.absolute", "robust.eps", "robust.beta", "robust.weight"} <= set(fields(float))
    assert {"model", "target", "agent", "objective", "data", "weights"} <= set(fields(str))
    spec_from_dict(BASE)


@pytest.mark.parametrize("path", [*fields(int), *fields(float)])
def test_every_number_has_a_range(path):
    block, _, name = path.rpartition(".")
    meta = BLOCKS[f"{block}." if block else ""].model_fields[name].metadata
    assert any(isinstance(m, annotated_types.Ge | annotated_types.Gt) for m in meta), path
    assert any(isinstance(m, annotated_types.Le | annotated_types.Lt) for m in meta), path


@pytest.mark.parametrize("path", [*fields(int), *fields(float)])
@pytest.mark.parametrize("value", [True, False, "1", "0.5"])
def test_no_number_takes_a_boolean_or_a_string(path, value):
    error = refused(with_value(path, value))
    assert error.field == path, str(error)


@pytest.mark.parametrize("path", list(fields(int)))
def test_integers_are_integers(path):
    error = refused(with_value(path, 2.5))
    assert error.field == path and "integer" in error.message, str(error)


@pytest.mark.parametrize("path", list(fields(float)))
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 1e308])
def test_no_float_takes_nan_infinity_or_a_huge_value(path, value):
    error = refused(with_value(path, value))
    assert error.field == path, str(error)


@pytest.mark.parametrize("objective", [{"latency": math.inf}, {"latency": math.nan}, "latency:inf", "latency:nan",
                                       "latency:1e300,energy:1", {"latency": True}])
def test_objective_weights_are_finite_numbers(objective):
    error = refused({**BASE, "objective": objective})
    assert error.field == "objective" and "weight of 'latency'" in error.message, str(error)


@pytest.mark.parametrize("path", list(fields(str)))
def test_no_text_holds_a_nul(path):
    error = refused(with_value(path, "digits\x00cnn"))
    assert error.field == path, str(error)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"weight_bits": "2-8\x00"}, "weight_bits"),
        ({"objective": {"latency\x00": 1.0}}, "objective"),
        ({"robust": {"attack": "pgd\x00", "eps": 0.1}}, "robust.attack"),
    ],
)
def test_a_nul_inside_a_list_a_key_or_a_block_names_the_field(body, field):
    error = refused({**BASE, **body})
    assert error.field == field and "\\x00" in error.message, str(error)  # the message shows it, escaped


def test_seed_bounds_are_what_numpy_torch_and_random_take():
    assert spec_from_dict({**BASE, "seed": MAX_SEED}).seed == 2**32 - 1
    for seed in (MAX_SEED + 1, 2**64, -1):
        assert refused({**BASE, "seed": seed}).field == "seed"


@pytest.mark.parametrize("agent", AGENT_NAMES)
def test_every_agent_runs_at_the_largest_seed(agent, one_thread):
    result = run_search({"model": "digits-cnn", "target": "bismo-edge", "budget": {"relative": 0.5}, "agent": agent,
                         "episodes": 2, "seed": MAX_SEED, "eval_samples": 100, "confirm_top": 0})
    assert result.history and math.isfinite(result.best.latency_ms)


def test_a_robust_fine_tuned_search_runs_at_the_largest_seed(one_thread):
    result = run_search({"model": "digits-cnn", "target": "bismo-edge", "budget": {"relative": 0.5}, "agent": "random",
                         "episodes": 2, "seed": MAX_SEED, "eval_samples": 100, "finetune_steps": 2,
                         "robust": {"eps": 0.1, "steps": 2, "samples": 16, "defensive": True}})
    assert result.finetune is not None and result.best.robust_accuracy is not None


def test_python_callers_keep_integers_where_floats_are_asked():
    spec = spec_from_dict({**BASE, "budget": {"relative": 1}, "robust": {"eps": 1}})
    assert spec.budget.relative == 1.0 and isinstance(spec.budget.relative, float)
    assert SearchSpec(model="digits-cnn", target="bitfusion", budget=Budget(relative=0.5), episodes=3).episodes == 3


# ---- tables ---------------------------------------------------------------------
def table_with(latency: str, unit: str = "ms") -> str:
    out = []
    for line in DIGITS_TABLE.read_text().splitlines():
        if line.startswith(("#", "shape")):
            out.append(line.replace("latency=ms", f"latency={unit}"))
        else:
            cells = line.split(",")
            cells[3] = latency
            out.append(",".join(cells))
    return "\n".join(out) + "\n"


@pytest.mark.parametrize(
    ("latency", "unit", "message"),
    [
        ("0", "ms", f"line {FIRST_ROW} .*column 'latency': a cost of 0 is not a measurement"),
        ("0.0", "us", "a cost of 0"),
        ("-1", "ms", f"line {FIRST_ROW} .*negative"),
        ("inf", "ms", "not a finite number"),
        ("nan", "ms", "not a finite number"),
        ("1e308", "ms", r"1e\+308 ms is above the limit of 1e\+09 ms"),
        ("1e300", "s", r"1e\+300 s is above the limit"),  # finite in seconds, too large in ms
        ("2e9", "ms", "above the limit"),
    ],
)
def test_tables_refuse_costs_that_are_not_positive_or_overflow(latency, unit, message):
    with pytest.raises(TableError, match=message):
        parse_table(table_with(latency, unit))


def test_the_largest_cost_is_accepted():
    parse_table(table_with(f"{MAX_COST:g}"))


def test_tables_refuse_nul_in_content_or_path(tmp_path):
    text = DIGITS_TABLE.read_text()
    with pytest.raises(TableError, match=r"line 2: contains a NUL character"):
        parse_table(text.replace("# target: cpu-onnxruntime", "# target: cpu\x00onnxruntime"))
    with pytest.raises(TableError, match=f"line {FIRST_ROW}: contains a NUL"):
        parse_table(text.replace(",table,", ",ta\x00ble,", 1))
    with pytest.raises(TableError, match="cannot read table"):
        parse_table(f"{tmp_path}/a\x00b.csv")


def doctored_target(value: float, cell: tuple[int, int] | None = None) -> TableTarget:
    """The digits table as a cost model whose costs were changed after the check (as a
    simulator or a cost model in code could give them)."""
    target = TableTarget([parse_table(DIGITS_TABLE)])
    # the layers priced at their in-place time are priced at their (doctored) fp32 entry instead
    target.float_layers = dict.fromkeys(target.float_layers)
    target.requantized_by = {key: (consumers, None) for key, (consumers, _) in target.requantized_by.items()}
    for costs in target.costs.values():
        if cell is None:
            costs[..., 0] = value
        else:
            costs[cell + (0,)] = value
    return target


@pytest.mark.parametrize(
    ("value", "cell", "message"),
    [
        (0.0, None, "a latency of 0 ms at weight width 8, activation width 8: costs must be finite and > 0"),
        (0.0, (1, 1), "a latency of 0 ms at weight width 32, activation width 32"),
        (-1.0, (0, 1), "a latency of -1 ms at weight width 8, activation width 32"),
        (math.inf, (1, 0), "a latency of inf ms"),
        (1e308, None, "total latency does not fit a float"),
    ],
)
def test_validate_spec_refuses_a_target_whose_costs_are_unusable(value, cell, message):
    spec = {"model": "digits-cnn", "target": "mine", "budget": {"relative": 1.0}}
    with pytest.raises(SpecError) as info:
        validate_spec(spec, target=doctored_target(value, cell))
    assert info.value.field == "target" and message in info.value.message, str(info.value)


def test_a_budget_of_a_vanishing_cost_is_refused():
    spec = {"model": "digits-cnn", "target": "mine", "budget": {"relative": 1e-3}}
    with pytest.raises(SpecError) as info:
        validate_spec(spec, target=doctored_target(1e-310))
    assert info.value.field == "budget", str(info.value)


@pytest.mark.parametrize("target", list_targets())
def test_shipped_targets_pass_the_cost_checks(target):
    """Every built-in model a shipped target can cost passes the new checks, at every width."""
    from hwsearch.core.costing import Costing
    from hwsearch.search.problem import trace_model
    from hwsearch.zoo import MODELS

    cost_model, costed = get_target(target), 0
    for model in MODELS:
        spec = SearchSpec(model=model, target=target, budget=Budget(relative=1.0), weight_bits="2-8,16,32",
                          activation_bits="2-8,16,32")
        try:
            costing = Costing(spec, trace_model(model), cost_model)
        except TableError as exc:  # a table without this model's shapes
            assert "no table row" in str(exc) or "only covers" in str(exc), str(exc)
            continue
        assert np.isfinite(costing.grid[..., 0]).all() and (costing.grid[..., 0] > 0).all(), model
        costed += 1
    assert costed


@pytest.mark.parametrize(("latency", "where"), [("0", "a cost of 0"), ("1e308", "above the limit")])
def test_the_cli_refuses_such_a_table_in_one_line(tmp_path, latency, where):
    from typer.testing import CliRunner

    from hwsearch.cli import app

    path = tmp_path / "board.csv"
    path.write_text(table_with(latency))
    result = CliRunner().invoke(app, ["search", "--model", "digits-cnn", "--target", str(path), "--budget", "0.5",
                                      "--out", str(tmp_path / "p.json")])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: target:") and where in lines[0], result.output
    assert not (tmp_path / "p.json").exists()


@pytest.mark.parametrize(("option", "value"), [("--seed", str(2**32)), ("--finetune-steps", "2000000"), ("--min-bits", "1")])
def test_the_cli_refuses_numbers_out_of_range(option, value):
    from typer.testing import CliRunner

    from hwsearch.cli import app

    result = CliRunner().invoke(app, ["search", "--model", "digits-cnn", "--target", "bitfusion", "--budget", "0.5", option, value])
    assert result.exit_code == 2 and option in result.output, result.output
