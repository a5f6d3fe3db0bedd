"""Behaviour of the simulated targets and the CostModel interface."""

from __future__ import annotations

import time

import numpy as np
import pytest

from hwsearch.core.graph import LayerSpec, layer_names, trace
from hwsearch.core.policy import Policy
from hwsearch.zoo import build_model, example_input
from latency_tables import LayerCost, ModelCost, UnknownTargetError, get_target, list_targets
from latency_tables.bismo import bismo_cloud, bismo_edge
from latency_tables.bitfusion import BitFusion, fusion_factor

SIMULATED = ["bitfusion", "bismo-edge", "bismo-cloud"]


@pytest.fixture(scope="module")
def mnv2() -> list[LayerSpec]:
    return trace(build_model("mobilenet-v2", trained=False), example_input("mobilenet-v2"))


def conv(ic: int, oc: int, k: int, hw: int, groups: int = 1, stride: int = 1) -> LayerSpec:
    out = hw // stride
    return LayerSpec("c", "conv2d", ic, oc, (k, k), (stride, stride), (k // 2, k // 2), groups, (hw, hw), (out, out),
                     out * out * oc * (ic // groups) * k * k, oc * (ic // groups) * k * k)


def fc(i: int, o: int) -> LayerSpec:
    return LayerSpec("fc", "linear", i, o, (1, 1), (1, 1), (0, 0), 1, (1, 1), (1, 1), i * o, i * o + o)


def test_registry_names_and_unknown_error() -> None:
    assert {"bitfusion", "bismo-edge", "bismo-cloud", "haq-mobilenetv2"} <= set(list_targets())
    with pytest.raises(UnknownTargetError) as info:
        get_target("tpu-v9")
    assert isinstance(info.value, ValueError) and "bismo-edge" in str(info.value)


@pytest.mark.parametrize("name", SIMULATED)
def test_cost_never_rises_as_bits_fall(name: str, mnv2: list[LayerSpec]) -> None:
    target = get_target(name)
    grid = target.cost_array(mnv2, bits=range(2, 9))
    assert np.isfinite(grid).all() and (grid > 0).all()
    # lowering either operand's width (moving to a smaller index) never costs more
    assert (np.diff(grid, axis=1) >= -1e-12).all()
    assert (np.diff(grid, axis=2) >= -1e-12).all()
    # and the float entry costs at least the 8-bit one
    for spec in mnv2[:5]:
        assert target.cost(spec, 32, 32).latency_ms >= target.cost(spec, 8, 8).latency_ms


@pytest.mark.parametrize("factory", [bismo_edge, bismo_cloud])
def test_bismo_compute_bound_scales_with_w_times_a(factory) -> None:
    target = factory()
    big = conv(256, 256, 3, 28)  # dense conv: high reuse, compute bound
    base = target.cost(big, 2, 2)
    assert base.bound == "compute"
    cycles = target.compute_cycles(big, np.array(2), np.array(2))
    for w, a in [(2, 4), (4, 4), (8, 4), (8, 8), (3, 5)]:
        c = target.cost(big, w, a)
        assert c.bound == "compute"
        assert c.latency_ms == pytest.approx(base.latency_ms * (w * a) / 4, rel=1e-9)
        assert target.compute_cycles(big, np.array(w), np.array(a)) == cycles * w * a / 4


@pytest.mark.parametrize("name", SIMULATED)
def test_batch1_fc_is_memory_bound_and_moves_with_weight_bits(name: str) -> None:
    target = get_target(name, batch=1)
    layer = fc(4096, 4096)
    c8, c4 = target.cost(layer, 8, 8), target.cost(layer, 4, 8)
    assert c8.bound == "memory" and c4.bound == "memory"
    assert c4.latency_ms < 0.6 * c8.latency_ms  # weights dominate the traffic
    assert target.cost(layer, 8, 4).latency_ms == pytest.approx(c8.latency_ms, rel=0.05)


def test_bitfusion_depthwise_is_memory_bound_and_dense_conv_compute_bound() -> None:
    target = BitFusion()
    assert target.cost(conv(144, 144, 3, 56, groups=144), 8, 8).bound == "memory"
    assert target.cost(conv(256, 256, 3, 28), 8, 8).bound == "compute"


def test_bitfusion_throughput_steps() -> None:
    assert list(fusion_factor(np.array([2, 3, 4, 5, 8, 16]))) == [4, 2, 2, 1, 1, 0.5]
    target = BitFusion()
    big = conv(256, 256, 3, 28)
    l8, l4, l2 = (target.cost(big, b, b).latency_ms for b in (8, 4, 2))
    assert l4 < l8 / 3 and l2 < l4 / 3  # 4x the MACs per cycle per halving (less the fill)
    assert target.cost(big, 3, 3).latency_ms == pytest.approx(l4)  # 3 bits run like 4
    assert target.cost(big, 32, 32).latency_ms > 3 * l8  # float runs as 16-bit


@pytest.mark.parametrize("name", SIMULATED + ["haq-mobilenetv2"])
def test_sum_over_layers_equals_model_cost(name: str, mnv2: list[LayerSpec]) -> None:
    target = get_target(name)
    rng = np.random.default_rng(0)
    names = layer_names(mnv2)
    policy = Policy({n: (int(rng.integers(2, 9)), int(rng.integers(2, 9))) for n in names})
    total = target.policy_cost(mnv2, policy)
    assert isinstance(total, ModelCost) and len(total.layers) == len(mnv2)
    singles = [target.cost(s, policy[s.name].weight_bits, policy[s.name].activation_bits) for s in mnv2]
    assert all(isinstance(c, LayerCost) for c in singles)
    assert total.latency_ms == pytest.approx(sum(c.latency_ms for c in singles), rel=1e-12)
    assert [c.latency_ms for c in total.layers] == pytest.approx([c.latency_ms for c in singles])
    if name != "haq-mobilenetv2":
        assert total.energy_mj == pytest.approx(sum(c.energy_mj for c in singles), rel=1e-12)
        assert [c.bound for c in total.layers] == [c.bound for c in singles]
    # cost_array gives the same numbers by indexing
    arr = target.cost_array(mnv2, bits=range(2, 9))
    picked = [arr[i, policy[s.name].weight_bits - 2, policy[s.name].activation_bits - 2, 0] for i, s in enumerate(mnv2)]
    assert sum(picked) == pytest.approx(total.latency_ms, rel=1e-12)


def test_reused_module_is_charged_per_execution() -> None:
    spec = conv(64, 64, 3, 14)
    twice = [spec, LayerSpec(**{**spec.to_dict(), "call": 1, "kernel_size": (3, 3), "stride": (1, 1),
                                "padding": (1, 1), "in_hw": (14, 14), "out_hw": (14, 14)})]
    target = get_target("bitfusion")
    one = target.cost(spec, 4, 4).latency_ms
    assert target.policy_cost(twice, Policy({"c": (4, 4)})).latency_ms == pytest.approx(2 * one)


def test_batch_is_a_constructor_argument() -> None:
    layer = conv(64, 128, 3, 28)
    assert BitFusion(batch=4).cost(layer, 8, 8).latency_ms > 3 * BitFusion().cost(layer, 8, 8).latency_ms
    assert bismo_cloud().batch == 16 and bismo_edge().batch == 1
    with pytest.raises(ValueError):
        BitFusion(batch=0)


def test_bad_bits_are_refused() -> None:
    with pytest.raises(ValueError, match="weight_bits"):
        get_target("bitfusion").cost(conv(8, 8, 3, 8), 0, 8)


def test_policy_cost_is_fast(mnv2: list[LayerSpec]) -> None:
    target = get_target("bismo-edge")
    policy = Policy.uniform(layer_names(mnv2), 4)
    target.policy_cost(mnv2, policy)  # builds the cached grid
    start = time.perf_counter()
    for _ in range(200):
        target.policy_cost(mnv2, policy)
    assert (time.perf_counter() - start) / 200 < 1e-3
