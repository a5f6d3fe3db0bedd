"""Table files: validation, table-first lookup, measured and HAQ reference targets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hwsearch.core.graph import LayerSpec, layer_names, trace
from hwsearch.core.policy import Policy
from hwsearch.zoo import build_model, example_input
from latency_tables import TableError, TableTarget, get_target, load_table_target, parse_table
from latency_tables.generate import simulated_table_text
from latency_tables.haq import HaqMobileNetV2
from latency_tables.measured import measure_specs, measured_table_text

HEADER = """# hwsearch-table: 1
# target: board
# units: latency=ms energy=mJ
# generator: test
# date: 2025-01-01
# batch: 1
# bits: 4,8
shape,w_bits,a_bits,latency,energy,bound
"""


@pytest.fixture(scope="module")
def digits() -> list[LayerSpec]:
    return trace(build_model("digits-cnn", trained=False), example_input("digits-cnn"))


def rows(shape: str, values: dict[tuple[int, int], str] | None = None) -> str:
    values = values or {}
    lines = []
    for w in (4, 8):
        for a in (4, 8):
            lines.append(f"{shape},{w},{a},{values.get((w, a), f'{w * a / 10}')},0.5,compute")
    return "\n".join(lines) + "\n"


def test_valid_table_round_trip(digits: list[LayerSpec]) -> None:
    shape = digits[0].shape_key
    table = parse_table(HEADER + rows(shape))
    assert table.target == "board" and table.bits == [4, 8]
    target = TableTarget([table])
    assert target.cost(digits[0], 8, 8).latency_ms == pytest.approx(6.4)
    assert target.cost(digits[0], 3, 4).latency_ms == pytest.approx(1.6)  # 3 bits run on the 4-bit kernel
    assert target.supported_bits == [4, 8]


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda t: t.replace("# units: latency=ms energy=mJ\n", ""), "missing 'units'"),
        (lambda t: t.replace("latency=ms", "latency=fortnights"), "latency unit"),
        (lambda t: t.replace(",6.4,", ",-6.4,"), "line 12.*negative"),
        (lambda t: t.replace(",6.4,", ",fast,"), "line 12.*'fast' is not a number"),
        (lambda t: t.replace("S,8,8,6.4,0.5,compute\n", "S,8,8,6.4,0.5,compute\nS,8,8,6.4,0.5,compute\n"), "duplicate"),
        (lambda t: "\n".join(l for l in t.splitlines() if not l.startswith("S,8,4")) + "\n", r"missing bit pairs \(w=8, a=4\)"),
        (lambda t: t.replace("S,4,4,", "S,5,4,"), "5 is not in the header's bits"),
        (lambda t: t.replace(",0.5,compute\n", ",0.5\n", 1), "expected 6 columns"),
    ],
)
def test_corrupt_tables_are_refused_with_a_message(mutate, message: str) -> None:
    text = mutate(HEADER + rows("S"))
    with pytest.raises(TableError, match=message):
        parse_table(text)


def test_table_only_target_names_missing_shape(tmp_path: Path, digits: list[LayerSpec]) -> None:
    path = tmp_path / "mine.csv"
    path.write_text(HEADER + rows(digits[0].shape_key))
    target = get_target(str(path))
    assert target.name == "board"
    with pytest.raises(TableError, match=digits[1].shape_key):
        target.cost(digits[1], 8, 8)
    with pytest.raises(TableError, match="not a number"):
        load_table_target(_write(tmp_path, HEADER + rows("S", {(4, 4): "x"})))


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    return path


def test_simulated_table_is_read_first_and_unseen_shapes_are_simulated(digits: list[LayerSpec]) -> None:
    sim = get_target("bitfusion")
    text = simulated_table_text(sim, digits[:2], "digits-cnn")
    table = parse_table(text)
    assert table.meta["generator"].startswith("latency_tables.bitfusion")
    # a doctored value proves the table wins over the simulator
    table.costs[digits[0].shape_key][:, :, 0] = 123.0
    target = TableTarget([table], fallback=sim)
    assert target.cost(digits[0], 4, 4).latency_ms == 123.0
    assert target.cost(digits[3], 4, 4).latency_ms == pytest.approx(sim.cost(digits[3], 4, 4).latency_ms)
    # undoctored rows equal the simulator to the table's printed precision
    assert target.cost(digits[1], 5, 3).latency_ms == pytest.approx(sim.cost(digits[1], 5, 3).latency_ms, rel=1e-5)


def test_measured_target_on_a_tiny_model(digits: list[LayerSpec]) -> None:
    results = measure_specs(digits, warmup=1, repeats=3)
    assert set(results) == {s.shape_key for s in digits}
    assert all(t.int8_ms > 0 and t.fp32_ms > 0 and t.int8_spread_ms >= 0 and t.fp32_spread_ms >= 0 for t in results.values())
    text = measured_table_text(results, "cpu-test", "digits-cnn", 1, 1, 3)
    table = parse_table(text)
    assert table.meta["formats"].startswith("int8,fp32") and "latency_spread" in text.splitlines()[-len(results) * 4 - 1]
    target = TableTarget([table])
    assert target.supported_bits == [8]
    assert target.units["energy"] == "n/a"
    names = layer_names(digits)
    int8 = target.policy_cost(digits, Policy.uniform(names, 8))
    assert target.policy_cost(digits, Policy.uniform(names, 4)).latency_ms == int8.latency_ms  # no 4-bit kernel
    assert int8.latency_ms == pytest.approx(sum(results[s.shape_key][0] for s in digits))


def test_haq_reference_lines_up_with_builtin_mobilenet_v2() -> None:
    target = get_target("haq-mobilenetv2")
    assert isinstance(target, HaqMobileNetV2) and target.batch == 16
    specs = trace(build_model("mobilenet-v2", trained=False), example_input("mobilenet-v2"))
    assert len(specs) == 53 and specs[-1].op == "linear"
    fc = specs[-1]
    # the FC (last row) moves with weight bits only
    assert target.cost(fc, 4, 8).latency_ms < 0.6 * target.cost(fc, 8, 8).latency_ms
    assert target.cost(fc, 8, 4).latency_ms == pytest.approx(target.cost(fc, 8, 8).latency_ms, rel=0.01)
    # depthwise rows move with activation bits only
    dw = specs[1]
    assert dw.is_depthwise
    assert target.cost(dw, 2, 8).latency_ms == pytest.approx(target.cost(dw, 8, 8).latency_ms, rel=0.01)
    ratio = target.policy_cost(specs, Policy.uniform(layer_names(specs), 4)).latency_ms / target.policy_cost(
        specs, Policy.uniform(layer_names(specs), 8)
    ).latency_ms
    assert ratio == pytest.approx(0.397, abs=0.002)
    with pytest.raises(TableError, match="1..8 bits"):
        target.cost(fc, 32, 32)
    resnet_layer = LayerSpec("conv1", "conv2d", 3, 64, (7, 7), (2, 2), (3, 3), 1, (224, 224), (112, 112), 1, 1)
    with pytest.raises(TableError, match="no row for layer 'conv1'"):
        target.cost(resnet_layer, 8, 8)
    assert np.load.__name__  # loaded with allow_pickle=False in haq.load_haq_array


def test_shipped_tables_load() -> None:
    target = get_target("cpu-onnxruntime")
    assert target.supported_bits == [8]
    assert get_target("bitfusion").name == "bitfusion"


def test_shipped_simulator_tables_are_current() -> None:
    """A shipped table from an older simulator would be ignored: regenerate with ``build``."""
    from latency_tables.registry import SIMULATED, generator_tag, shipped_tables

    for name in SIMULATED:
        for table in shipped_tables().get(name, []):
            assert table.meta["generator"] == generator_tag(name), f"stale table for {name}: run hwsearch hardware build"


def test_haq_layer_file_is_the_builtin_mobilenet_v2_trace() -> None:
    """latency_tables ships the rows' layers so it needs no model; they must not drift from the zoo."""
    from hwsearch.core.graph import trace
    from hwsearch.zoo import build_model, example_input
    from latency_tables.haq import load_haq_layers

    specs = trace(build_model("mobilenet-v2", trained=False), example_input("mobilenet-v2"))
    assert load_haq_layers() == [(s.name, s.shape_key) for s in specs]


@pytest.mark.parametrize("content", ["[]", "{not json", '[{"name": "x"}]'])
def test_a_broken_haq_layer_file_is_a_table_error(tmp_path, monkeypatch, content) -> None:
    from importlib import resources

    from latency_tables import haq

    (tmp_path / "reference").mkdir()
    (tmp_path / "reference" / haq.LAYERS_FILE).write_text(content)
    monkeypatch.setattr(resources, "files", lambda package: tmp_path)
    with pytest.raises(TableError, match=haq.LAYERS_FILE):
        haq.load_haq_layers()


@pytest.mark.parametrize("cell", ["-0.1", "abc", "inf"])
def test_a_bad_latency_spread_is_refused_by_line(cell: str) -> None:
    text = measured_table_text({"conv2d:ic1:oc2:k3x3:s1x1:g1:in8x8:out8x8": (0.1, 0.2, 0.01, 0.02)}, "t", "m", 1, 1, 3)
    lines = text.splitlines()
    lines[-1] = lines[-1].rsplit(",", 1)[0] + "," + cell
    with pytest.raises(TableError, match=r"line \d+ .*latency_spread"):
        parse_table("\n".join(lines) + "\n")


def test_spread_is_the_interquartile_range() -> None:
    from latency_tables.measured import spread

    assert spread([1.0]) == 0.0
    assert spread([1.0, 2.0, 3.0, 4.0, 5.0]) == pytest.approx(2.0)


def test_haq_rows_line_up_one_for_one_with_fashion_mobilenetv2() -> None:
    """The 28x28 MobileNetV2 has HAQ's 53 layers: row i prices layer i (by name and channel
    structure), and the FC's 10 classes do not stop it; a layer with other channels does."""
    from dataclasses import replace

    from hwsearch.core.graph import trace
    from hwsearch.zoo import build_model, example_input

    target = get_target("haq-mobilenetv2")
    ours = trace(build_model("fashion-mobilenetv2", trained=False), example_input("fashion-mobilenetv2"))
    imagenet = trace(build_model("mobilenet-v2", trained=False), example_input("mobilenet-v2"))
    assert len(ours) == 53 and [target.layer_index(s) for s in ours] == list(range(53))
    assert [s.name for s in ours] == [s.name for s in imagenet]
    assert ours[0].in_channels == 1 and ours[-1].out_channels == 10 and ours[0].in_hw == (28, 28)
    for mine, theirs in zip(ours, imagenet):
        assert target.cost(mine, 4, 6).latency_ms == target.cost(theirs, 4, 6).latency_ms
    wider = replace(ours[5], out_channels=ours[5].out_channels * 2)
    with pytest.raises(TableError, match="no row for layer"):
        target.cost(wider, 8, 8)


def test_layers_the_runtime_leaves_in_float_cost_their_fp32_entry(digits: list[LayerSpec]) -> None:
    from dataclasses import replace

    from hwsearch.search.measure import RuntimeLayers, runtime_layers_header

    results = {s.shape_key: (0.1, 0.3) for s in digits}  # int8 faster than fp32 everywhere
    last = digits[-1]
    text = measured_table_text(results, "cpu-test", "digits-cnn", 1, 1, 3, runtime_layers_header(RuntimeLayers([[last.name, last.shape_key]], [])))
    target = TableTarget([parse_table(text)])
    assert target.cost(last, 8, 8).latency_ms == pytest.approx(0.3)  # no integer kernel takes it
    assert target.cost(last, 32, 32).latency_ms == pytest.approx(0.3)
    assert target.cost(digits[0], 8, 8).latency_ms == pytest.approx(0.1)
    assert target.cost(replace(last, name="elsewhere"), 8, 8).latency_ms == pytest.approx(0.1)  # same shape, another layer
    names = layer_names(digits)
    assert target.policy_cost(digits, Policy.uniform(names, 8)).latency_ms == pytest.approx(0.1 * (len(digits) - 1) + 0.3)
    # timed in place (float kernel with its quantize/dequantize): that figure at integer widths
    timed = measured_table_text(results, "cpu-test", "digits-cnn", 1, 1, 3,
                                runtime_layers_header(RuntimeLayers([[last.name, last.shape_key]], []), {last.shape_key: 0.4}))
    target = TableTarget([parse_table(timed)])
    assert target.cost(last, 8, 8).latency_ms == pytest.approx(0.4)
    assert target.cost(last, 32, 32).latency_ms == pytest.approx(0.3)
    assert target.cost(last, 32, 8).latency_ms == pytest.approx(0.3)  # a float side: the fp32 kernel, as before


@pytest.mark.parametrize(
    "header, message",
    [
        ("# float-layers: [[\"a\"]]\n", r"float-layers.*\[layer, shape\]"),
        ("# float-layers: not json\n", r"float-layers.*\[layer, shape\]"),
        ("# float-layers: [[\"a\", \"conv2d:x\"]]\n", "float-layers.*no 32"),
        ("# float-layers: [[\"a\", \"conv2d:x\", -1]]\n", "float-layers.*latency of 'a'"),
    ],
)
def test_a_bad_float_layers_header_is_refused(header: str, message: str) -> None:
    with pytest.raises(TableError, match=message):
        parse_table(header + HEADER + rows("S"))


def test_a_whole_model_scale_multiplies_integer_and_float_costs_apart(digits: list[LayerSpec]) -> None:
    from hwsearch.search.measure import RuntimeLayers, runtime_layers_header
    from hwsearch.search.whole_model import whole_model_header

    results = {s.shape_key: (0.1, 0.3) for s in digits}
    last, first = digits[-1], digits[0]
    runtime = RuntimeLayers([[last.name, last.shape_key]], [[first.name, first.shape_key, [digits[1].name]]])
    header = runtime_layers_header(runtime, {last.shape_key: 0.4, first.shape_key: 0.5})
    lone = TableTarget([parse_table(measured_table_text(results, "cpu-test", "digits-cnn", 1, 1, 3, header))])
    scaled_text = measured_table_text(results, "cpu-test", "digits-cnn", 1, 1, 3,
                                      {**header, **whole_model_header({"integer": 0.5, "float": 0.25}, [])})
    table = parse_table(scaled_text)
    scaled = TableTarget([table])
    assert table.whole_model_scale == {"integer": 0.5, "float": 0.25}
    assert "0.1" in scaled_text  # the rows stay the lone timings; the scale applies on load
    for spec in (first, digits[1]):
        assert scaled.cost(spec, 8, 8).latency_ms == pytest.approx(0.05)
        assert scaled.cost(spec, 32, 32).latency_ms == pytest.approx(0.075)
        assert scaled.cost(spec, 32, 8).latency_ms == pytest.approx(lone.cost(spec, 32, 8).latency_ms * 0.25)
    assert scaled.cost(last, 8, 8).latency_ms == pytest.approx(0.2)  # in place, at integer widths: the integer factor
    assert scaled.fallbacks(digits)[0].latency_ms == pytest.approx(0.25)
    names = layer_names(digits)
    for bits in (8, 32):
        policy = Policy.uniform(names, bits)
        factor = 0.5 if bits == 8 else 0.25
        assert scaled.policy_cost(digits, policy).latency_ms == pytest.approx(lone.policy_cost(digits, policy).latency_ms * factor)


@pytest.mark.parametrize(
    "header, message",
    [
        ('# whole-model-scale: {"integer": 0.5}\n', r"whole-model-scale.*expected"),
        ('# whole-model-scale: [0.5, 0.5]\n', r"whole-model-scale.*expected"),
        ('# whole-model-scale: {"integer": 0, "float": 1}\n', r"whole-model-scale.*'integer' must be a number in \(0, 100\]"),
        ('# whole-model-scale: {"integer": 1, "float": true}\n', r"whole-model-scale.*'float' must be"),
        ('# whole-model-scale: {"integer": 1, "float": 1000}\n', r"whole-model-scale.*'float' must be"),
    ],
)
def test_a_bad_whole_model_scale_is_refused(header: str, message: str) -> None:
    with pytest.raises(TableError, match=message):
        parse_table(header + HEADER + rows("S"))
