"""A measured runtime's one non-additive cost: an integer layer falls back to float when the
layer after it takes a float input (nothing requantizes its output). The table says which
layers (header ``requantized-by``); the costs, the budget check, ``fit`` and the exact
program all price it, and the rule agrees with what onnxruntime's graph really runs."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from hwsearch.core.choice_ilp import PairCost, solve_choices
from hwsearch.core.costing import Costing
from hwsearch.core.graph import LayerSpec, layer_names, trace
from hwsearch.core.policy import Policy
from hwsearch.core.spec import Budget, SearchSpec, SpecError
from hwsearch.search.whole_model import whole_model_header
from hwsearch.search.measure import RuntimeLayers, runtime_layers_header
from latency_tables import TableError, TableTarget, parse_table
from latency_tables.measured import measured_table_text


def chain(n: int) -> list[LayerSpec]:
    """``n`` distinct-shaped convs in a row, named l0..l{n-1}."""
    return [
        LayerSpec(f"l{i}", "conv2d", 8 + i, 9 + i, (3, 3), (1, 1), (1, 1), 1, (8, 8), (8, 8), 1, 1)
        for i in range(n)
    ]


def table_for(
    specs: list[LayerSpec], int8: list[float], fp32: list[float], in_place: list[float], entries: list[float] | None = None
) -> TableTarget:
    """A measured table where each layer but the last runs integer only while the next one
    quantizes its input, and falls back to ``in_place`` otherwise; with ``entries``, each
    layer but the last run in float costs that much more while the next one is integer."""
    results = {s.shape_key: (i8, f) for s, i8, f in zip(specs, int8, fp32)}
    runtime = RuntimeLayers(
        [[specs[-1].name, specs[-1].shape_key]],
        [[s.name, s.shape_key, [nxt.name]] for s, nxt in zip(specs, specs[1:])],
    )
    timed = {s.shape_key: ms for s, ms in zip(specs, in_place)}
    header = runtime_layers_header(runtime, timed)
    if entries is not None:
        header |= whole_model_header(None, [[s.name, s.shape_key, [nxt.name], ms] for s, nxt, ms in zip(specs, specs[1:], entries)])
    text = measured_table_text(results, "cpu-test", "chain", 1, 1, 3, header)
    return TableTarget([parse_table(text)])


def every_policy(costing: Costing):
    nl, nw, na = costing.n_layers, len(costing.weight_bits), len(costing.activation_bits)
    for ws in itertools.product(range(nw), repeat=nl):
        for as_ in itertools.product(range(na), repeat=nl):
            yield np.array(ws), np.array(as_)


def test_an_integer_layer_before_a_float_input_costs_its_in_place_time() -> None:
    specs = chain(3)
    target = table_for(specs, int8=[1.0, 1.0, 1.0], fp32=[3.0, 0.5, 3.0], in_place=[4.0, 4.0, 4.0])
    names = layer_names(specs)
    mixed = Policy({"l0": (8, 8), "l1": (32, 32), "l2": (8, 8)})
    # l0 feeds a float input: in place (4.0); l1 float (0.5); l2's output is the model's: in place
    assert target.policy_cost(specs, mixed).latency_ms == pytest.approx(4.0 + 0.5 + 4.0)
    # a float weight with quantized activations still quantizes l1's input: l0 keeps its kernel
    kept = Policy({"l0": (8, 8), "l1": (32, 8), "l2": (8, 8)})
    assert target.policy_cost(specs, kept).latency_ms == pytest.approx(1.0 + 0.5 + 4.0)
    assert target.policy_cost(specs, Policy.uniform(names, 8)).latency_ms == pytest.approx(1.0 + 1.0 + 4.0)
    costing = Costing(SearchSpec(model="chain", target="cpu-test", budget=Budget(relative=1.0)), specs, target)
    assert len(costing.switches) == 2
    for policy in (mixed, kept):  # the search's index form agrees with the cost model
        assert costing.costs(*costing.to_index(policy)).latency_ms == pytest.approx(target.policy_cost(specs, policy).latency_ms)


def test_the_runtime_aware_prediction_keeps_a_layer_that_still_quantizes_its_input() -> None:
    """hardware verify prices the layers the export leaves in float at their fp32 entry; a float
    layer whose input is still quantized keeps the layer before it an integer kernel."""
    from hwsearch.verify import runtime_reference

    specs = chain(2)
    target = table_for(specs, int8=[1.0, 1.0], fp32=[3.0, 0.5], in_place=[4.0, 4.0])
    policy = Policy({"l0": (8, 8), "l1": (32, 8)})
    reference = runtime_reference(policy, layer_names(specs), {"l0"})
    assert target.policy_cost(specs, reference).latency_ms == pytest.approx(1.0 + 0.5)


def test_the_cheapest_policy_and_the_budget_check_count_the_switches() -> None:
    specs = chain(3)
    # l1 is cheapest on a float kernel; with float activations that makes l0 fall back (5.0)
    target = table_for(specs, int8=[1.0, 1.0, 1.0], fp32=[3.0, 0.8, 3.0], in_place=[5.0, 5.0, 1.0])
    costing = Costing(SearchSpec(model="chain", target="cpu-test", budget=Budget(relative=1.0)), specs, target)
    brute = min(costing.objective(w, a) for w, a in every_policy(costing))
    assert costing.min_objective == pytest.approx(brute) == pytest.approx(2.8)  # l1 at W32A8 keeps l0's kernel
    na = len(costing.activation_bits)
    alone = costing.objective_grid.reshape(costing.n_layers, -1).argmin(axis=1)  # each layer's cheapest alone
    assert costing.objective(alone // na, alone % na) > brute + 1
    with pytest.raises(SpecError, match="no policy can meet"):
        Costing(SearchSpec(model="chain", target="cpu-test", budget=Budget(absolute=2.7)), specs, target)
    Costing(SearchSpec(model="chain", target="cpu-test", budget=Budget(absolute=2.8)), specs, target)


def test_a_float_layer_pays_its_way_back_into_an_integer_consumer() -> None:
    specs = chain(3)
    target = table_for(specs, int8=[1.0, 1.0, 1.0], fp32=[0.5, 0.5, 3.0], in_place=[4.0, 4.0, 4.0], entries=[0.7, 0.1])
    names = layer_names(specs)
    # l0 float into an integer l1: its fp32 entry plus the switch back; l1 float into float l2: nothing
    assert target.policy_cost(specs, Policy({"l0": (32, 32), "l1": (8, 8), "l2": (8, 8)})).latency_ms == pytest.approx(0.5 + 0.7 + 1.0 + 4.0)
    assert target.policy_cost(specs, Policy({"l0": (32, 32), "l1": (32, 32), "l2": (32, 32)})).latency_ms == pytest.approx(0.5 + 0.5 + 3.0)
    # float weights alone make the layer float too
    assert target.policy_cost(specs, Policy({"l0": (8, 8), "l1": (32, 8), "l2": (8, 8)})).latency_ms == pytest.approx(1.0 + 0.5 + 0.1 + 4.0)
    assert target.policy_cost(specs, Policy.uniform(names, 8)).latency_ms == pytest.approx(6.0)
    costing = Costing(SearchSpec(model="chain", target="cpu-test", budget=Budget(relative=1.0)), specs, target)
    for w, a in every_policy(costing):  # the search's index form prices every policy as the cost model does
        assert costing.costs(w, a).latency_ms == pytest.approx(target.policy_cost(specs, costing.to_policy(w, a)).latency_ms)
    brute = min(costing.objective(w, a) for w, a in every_policy(costing))
    assert costing.min_objective == pytest.approx(brute)


def test_a_float_layer_that_would_save_time_alone_is_not_picked_when_the_switch_back_costs_more() -> None:
    """fashion-cnn's trap, in small: l0 is faster in float alone (0.6 against 1.0), but running it
    in float before an integer l1 costs 0.8 more; everything in float is slower still."""
    specs = chain(2)
    base = dict(int8=[1.0, 1.0], fp32=[0.6, 3.0], in_place=[4.0, 1.0])
    spec = SearchSpec(model="chain", target="cpu-test", budget=Budget(relative=1.0))
    names = layer_names(specs)
    unpriced = Costing(spec, specs, table_for(specs, **base))
    assert unpriced.to_policy(unpriced.cheapest // 2, unpriced.cheapest % 2) == Policy({"l0": (32, 32), "l1": (8, 8)})
    priced = Costing(spec, specs, table_for(specs, **base, entries=[0.8]))
    assert priced.to_policy(priced.cheapest // 2, priced.cheapest % 2) == Policy.uniform(names, 8)
    w, a = priced.to_index(Policy({"l0": (32, 32), "l1": (8, 8)}))
    assert not priced.fits(w, a)  # 0.6 + 0.8 + 1.0 > uniform int8's 2.0
    assert priced.to_policy(*priced.fit(w, a)) == Policy.uniform(names, 8)


def test_fit_counts_what_lowering_a_consumer_saves_the_layer_before_it() -> None:
    specs = chain(3)
    target = table_for(specs, int8=[1.0, 1.0, 1.0], fp32=[1.2, 1.2, 1.2], in_place=[6.0, 6.0, 1.0])
    costing = Costing(SearchSpec(model="chain", target="cpu-test", budget=Budget(relative=1.0)), specs, target)
    w, a = costing.to_index(Policy({"l0": (8, 8), "l1": (8, 32), "l2": (8, 8)}))
    assert costing.objective(w, a) == pytest.approx(6.0 + 1.2 + 1.0)
    fw, fa = costing.fit(w, a)
    assert costing.fits(fw, fa)
    # one step: l1's activations to 8 bits (saves 0.2 on l1 and 5.0 on l0), not many lowered bits
    assert costing.to_policy(fw, fa) == Policy.uniform(layer_names(specs), 8)


def test_the_exact_program_prices_pairs_like_brute_force() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        rows, options = 4, 3
        predicted = rng.uniform(0, 1, (rows, options))
        cost = rng.uniform(0.5, 2, (rows, options))
        triggers = np.array([False, False, True])
        pairs = [PairCost(i, (i + 1,), rng.uniform(-0.4, 2, options), np.zeros(options), triggers) for i in range(rows - 1)]
        budget = float(rng.uniform(3, 6))

        def total_cost(pick: tuple[int, ...]) -> float:
            extra = sum(p.cost[pick[p.row]] for p in pairs if any(triggers[pick[c]] for c in p.consumers))
            return cost[np.arange(rows), pick].sum() + extra

        feasible = [p for p in itertools.product(range(options), repeat=rows) if total_cost(p) <= budget]
        chosen = solve_choices(predicted, cost, budget, pairs=pairs)
        if not feasible:
            assert chosen is None
            continue
        best = min(predicted[np.arange(rows), p].sum() for p in feasible)
        assert total_cost(tuple(chosen)) <= budget + 1e-9
        assert predicted[np.arange(rows), chosen].sum() == pytest.approx(best)


def test_the_rule_matches_the_layers_onnxruntime_runs_as_integers() -> None:
    """For mixed policies of fashion-cnn, the layers the table's rule keeps integer are exactly
    those the real export's graph fuses into integer kernels."""
    from hwsearch.export.calibrated import calibrate
    from hwsearch.export.onnx_qdq import export_onnx
    from hwsearch.search.measure import runtime_layers
    from hwsearch.search.problem import model_and_example
    from hwsearch.verify import integer_layers

    net, x = model_and_example("fashion-cnn", None, None)
    specs = trace(net, x)
    names = layer_names(specs)
    runtime = runtime_layers("fashion-cnn")
    consumers = {layer: tuple(c) for layer, _, c in runtime.requantized_by}
    always_float = {layer for layer, _ in runtime.float_layers}
    calib = torch.randn(8, *x.shape[1:], generator=torch.Generator().manual_seed(0))
    rng = np.random.default_rng(1)
    for _ in range(6):
        policy = Policy({n: (int(rng.choice([8, 32])), int(rng.choice([8, 32]))) for n in names})
        doc = {"model": "fashion-cnn", "layers": [{"name": n, "weight_bits": policy[n].weight_bits,
                                                    "activation_bits": policy[n].activation_bits} for n in names]}
        content = export_onnx(calibrate(doc, net, calib), calib[:1])
        predicted = {
            n for n in names
            if n not in always_float and policy[n].weight_bits == 8 and policy[n].activation_bits == 8
            and all(policy[c].activation_bits == 8 for c in consumers[n])
        }
        assert integer_layers(content, {n: f"{n}.weight" for n in names}) == predicted, policy


@pytest.mark.parametrize(
    "header, message",
    [
        ('# requantized-by: [["a", "conv2d:x"]]\n', r"requantized-by.*\[layer, shape, \[layers\]\]"),
        ('# requantized-by: [["a", "conv2d:x", "b"]]\n', r"requantized-by.*\[layer, shape, \[layers\]\]"),
        ('# requantized-by: [["a", "conv2d:x", ["b"]]]\n', "requantized-by.*no 32"),
        ('# requantized-by: [["a", "conv2d:x", ["b"], 0]]\n', "requantized-by.*latency of 'a'"),
    ],
)
def test_a_bad_requantized_by_header_is_refused(header: str, message: str) -> None:
    from tests.test_hardware_tables import HEADER, rows

    with pytest.raises(TableError, match=message):
        parse_table(header + HEADER + rows("S"))


@pytest.mark.parametrize(
    "header, message",
    [
        ('# float-to-integer: [["a", "conv2d:x", ["b"]]]\n', r"float-to-integer.*\[layer, shape, \[layers\], latency\]"),
        ('# float-to-integer: [["a", "conv2d:x", ["b"], "fast"]]\n', "float-to-integer.*latency of 'a'"),
        ('# float-to-integer: [["a", "conv2d:x", ["b"], 1e12]]\n', "float-to-integer.*latency of 'a'"),
        ('# float-to-integer: [["a", "conv2d:x", ["b"], -0.1]]\n', "float-to-integer.*latency of 'a' must be a number >= 0"),
        ('# float-to-integer: [["a", "conv2d:x", ["b"], 0.1]]\n', "float-to-integer.*no 32"),
    ],
)
def test_a_bad_float_to_integer_header_is_refused(header: str, message: str) -> None:
    from tests.test_hardware_tables import HEADER, rows

    with pytest.raises(TableError, match=message):
        parse_table(header + HEADER + rows("S"))


def _optimised_ops(content: bytes) -> list[str]:
    """Op types onnxruntime runs after its graph optimisations (what a deployment executes)."""
    import tempfile
    from pathlib import Path

    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.optimized_model_filepath = str(Path(tmp) / "optimized.onnx")
        options.log_severity_level = 3
        ort.InferenceSession(content, options, providers=["CPUExecutionProvider"])
        return [node.op_type for node in onnx.load(options.optimized_model_filepath).graph.node]


def test_a_linear_layer_timed_in_place_runs_the_kernels_the_export_runs() -> None:
    """fashion-cnn's hidden Linear falls back to float when the classifier takes a float input:
    the export then dequantizes its weights at every run before a float Gemm. The lone model
    timed for its in-place cost must do the same (a lone MatMul would be fused into an
    integer kernel and time a fraction of it)."""
    from hwsearch.export.calibrated import calibrate
    from hwsearch.export.onnx_qdq import export_onnx
    from hwsearch.search.problem import model_and_example
    from latency_tables.measured import float_layer_model

    net, x = model_and_example("fashion-cnn", None, None)
    specs = trace(net, x)
    hidden = next(s for s in specs if s.name == "8")
    lone = _optimised_ops(float_layer_model(hidden, 1, np.random.default_rng(0))[0])
    doc = {"model": "fashion-cnn", "layers": [{"name": s.name, "weight_bits": 32 if s.name == "11" else 8,
                                               "activation_bits": 32 if s.name == "11" else 8} for s in specs]}
    calib = torch.randn(8, *x.shape[1:], generator=torch.Generator().manual_seed(0))
    exported = _optimised_ops(export_onnx(calibrate(doc, net, calib), calib[:1]))
    assert "DequantizeLinear" in lone and any("Gemm" in op and not op.startswith("Q") for op in lone)
    assert not any(op in ("MatMulIntegerToFloat", "QGemm", "DynamicQuantizeMatMul") for op in lone)
    assert sum("Gemm" in op and not op.startswith("Q") for op in exported) == 2  # hidden and classifier in float
