"""BISMO's layer mapping, and bismo-cloud against HAQ's released MobileNetV2 table."""

from __future__ import annotations

import numpy as np
import pytest

from hwsearch.core.graph import LayerSpec
from latency_tables.bismo import CLOUD, EDGE, bismo_cloud, bismo_edge
from latency_tables.bismo_layout import lower


def conv(ic: int, oc: int, k: int, hw: int, groups: int = 1, stride: int = 1) -> LayerSpec:
    out = hw // stride
    return LayerSpec("c", "conv2d", ic, oc, (k, k), (stride, stride), (k // 2, k // 2), groups, (hw, hw), (out, out),
                     out * out * oc * (ic // groups) * k * k, oc * (ic // groups) * k * k)


def test_depthwise_runs_dn_channels_per_block_diagonal_product() -> None:
    dw = conv(144, 144, 3, 56, groups=144)
    p = lower(dw, batch=1, dn=16)
    assert (p.count, p.depth, p.cols) == (9, 9 * 16, 16)  # 144 channels in blocks of 16
    assert lower(dw, batch=1, dn=8).count == 18
    # a channel multiplier of 2 puts 8 channels (16 outputs) in a block
    assert (lambda q: (q.count, q.depth, q.cols))(lower(conv(32, 64, 3, 14, groups=32), 1, 16)) == (4, 72, 16)
    # a grouped (not depthwise) conv stays one product per group
    assert (lambda q: (q.count, q.depth, q.cols))(lower(conv(64, 64, 3, 14, groups=4), 1, 16)) == (4, 16 * 9, 16)


@pytest.mark.parametrize("factory, config", [(bismo_edge, EDGE), (bismo_cloud, CLOUD)])
def test_depthwise_compute_fills_the_array_columns(factory, config) -> None:
    target = factory()
    dw = conv(96, 96, 3, 28, groups=96)
    rows = 28 * 28 * target.batch
    cycles = target.compute_cycles(dw, np.array(4), np.array(8))
    # ceil(96 / Dn) block products, each one Dk word deep and Dn columns wide
    assert cycles == np.ceil(96 / config.dn) * np.ceil(rows / config.dm) * 4 * 8
