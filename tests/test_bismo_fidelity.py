"""BISMO's layer mapping, and bismo-cloud against HAQ's released MobileNetV2 table."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from hwsearch.core.graph import LayerSpec
from latency_tables.bismo import CLOUD, EDGE, bismo_cloud, bismo_edge
from latency_tables.bismo_layout import lower
from latency_tables.generate import default_table_path
from latency_tables.haq import load_haq_array, load_haq_layers
from latency_tables.regimes import regime
from latency_tables.registry import generator_tag
from latency_tables.table import parse_table

#: Figures of benchmarks/bismo_fidelity.py (docs/hardware.md) that must not slip back.
AGREEMENT, RANK_CORR = 53, 0.99


def conv(ic: int, oc: int, k: int, hw: int, groups: int = 1, stride: int = 1) -> LayerSpec:
    out = hw // stride
    return LayerSpec("c", "conv2d", ic, oc, (k, k), (stride, stride), (k // 2, k // 2), groups, (hw, hw), (out, out),
                     out * out * oc * (ic // groups) * k * k, oc * (ic // groups) * k * k)


def products(spec: LayerSpec, dn: int = 16) -> tuple[int, int, int]:
    """(count, depth, cols) of the products BISMO runs for ``spec`` at batch 1."""
    p = lower(spec, batch=1, dn=dn)
    return p.count, p.depth, p.cols


def test_depthwise_runs_dn_channels_per_block_diagonal_product() -> None:
    dw = conv(144, 144, 3, 56, groups=144)
    assert products(dw) == (9, 9 * 16, 16)  # 144 channels in blocks of 16
    assert products(dw, dn=8) == (18, 9 * 8, 8)
    # a channel multiplier of 2 puts 8 channels (16 outputs) in a block
    assert products(conv(32, 64, 3, 14, groups=32)) == (4, 72, 16)
    # a grouped (not depthwise) conv stays one product per group
    assert products(conv(64, 64, 3, 14, groups=4)) == (4, 16 * 9, 16)


@pytest.mark.parametrize("factory, config", [(bismo_edge, EDGE), (bismo_cloud, CLOUD)])
def test_depthwise_compute_fills_the_array_columns(factory, config) -> None:
    target = factory()
    dw = conv(96, 96, 3, 28, groups=96)
    rows = 28 * 28 * target.batch
    cycles = target.compute_cycles(dw, np.array(4), np.array(8))
    # ceil(96 / Dn) block products, each one Dk word deep and Dn columns wide
    assert cycles == np.ceil(96 / config.dn) * np.ceil(rows / config.dm) * 4 * 8


@pytest.mark.parametrize("factory", [bismo_edge, bismo_cloud])
def test_depthwise_latency_moves_with_activation_bits_only(factory) -> None:
    target = factory()
    dw = conv(144, 144, 3, 56, groups=144)
    l88 = target.cost(dw, 8, 8)
    assert l88.bound == "memory"  # each row of a block (9 x 16 taps) still fetches a whole Dk word per bit plane
    assert target.cost(dw, 2, 8).latency_ms == pytest.approx(l88.latency_ms)
    assert target.cost(dw, 8, 2).latency_ms == pytest.approx(l88.latency_ms / 4)


def test_a_row_shorter_than_dk_fetches_a_whole_word() -> None:
    target = bismo_cloud()
    narrow = conv(32, 16, 1, 112)  # 32 input channels: 32 of a 256-bit word per bit plane
    rows = 112 * 112 * 16
    for w, a in [(8, 8), (2, 8), (8, 3)]:
        cost = target.cost(narrow, w, a)
        assert cost.bound == "memory"
        assert cost.latency_ms == pytest.approx(rows * a / CLOUD.freq_hz * 1e3)  # one 256-bit beat per row and plane
    # a wide reduction fills its words and stays compute bound, moving with w x a
    wide = conv(256, 256, 1, 28)
    assert target.cost(wide, 8, 8).bound == "compute"
    assert target.cost(wide, 4, 8).latency_ms == pytest.approx(target.cost(wide, 8, 8).latency_ms / 2)


@pytest.fixture(scope="module")
def shipped_against_haq() -> tuple[np.ndarray, np.ndarray]:
    """[layer, w, a] latency over bits 2..8: the shipped bismo-cloud table and HAQ's, row by row."""
    table = parse_table(default_table_path("bismo-cloud", "mobilenet-v2"))
    assert table.meta["generator"] == generator_tag("bismo-cloud"), "stale table: run hwsearch hardware build"
    cols = [table.bits.index(b) for b in range(2, 9)]
    ours = np.array([table.costs[key][np.ix_(cols, cols)][..., 0] for _, key in load_haq_layers()])
    return ours, load_haq_array()[:, 1:, 1:].astype(float)


def regimes(grid: np.ndarray) -> list[str]:
    return [regime(g[6, 6], g[0, 6], g[6, 0]) for g in grid]


def test_shipped_bismo_cloud_agrees_with_haq_on_what_moves_each_layer(shipped_against_haq) -> None:
    ours, haq = shipped_against_haq
    agree = sum(a == b for a, b in zip(regimes(ours), regimes(haq)))
    assert agree >= AGREEMENT, f"regime agreement with HAQ fell to {agree}/53"
    assert spearmanr(ours[:, 6, 6], haq[:, 6, 6]).statistic >= RANK_CORR


def test_haq_units_are_bismo_cloud_cycles_where_one_stream_binds(shipped_against_haq) -> None:
    """The FC (weights) and the first depthwise layer (activations) match HAQ's numbers."""
    ours, haq = shipped_against_haq
    cycles = ours * CLOUD.freq_hz / 1e3
    for row in (1, 52):  # features.2 depthwise (32 channels at 112x112), classifier
        assert cycles[row] == pytest.approx(haq[row], rel=0.01)


def test_a_conv_runs_image_by_image_and_a_linear_layer_takes_the_batch_as_rows() -> None:
    single, batch = bismo_cloud(batch=1), bismo_cloud(batch=16)
    late = conv(960, 160, 1, 7)  # weight-bound per image: its weights are fetched again for each image
    for w, a in [(8, 1), (8, 8), (2, 8)]:
        assert batch.cost(late, w, a).latency_ms == pytest.approx(16 * single.cost(late, w, a).latency_ms)
    fc = LayerSpec("fc", "linear", 1280, 1000, (1, 1), (1, 1), (0, 0), 1, (1, 1), (1, 1), 1280 * 1000, 1280 * 1000)
    assert batch.cost(fc, 8, 8).latency_ms == pytest.approx(single.cost(fc, 8, 8).latency_ms)  # one weight stream
