"""How a layer reaches BISMO: the matrix products the overlay runs for it.

BISMO multiplies matrices and nothing else (EECS-NTNU/bismo, BSD-3): a convolution is
lowered to a matrix product (im2row), so a layer becomes one or more products run one
after another. Grouped convolutions have no mode of their own. A depthwise layer is run
block-diagonally: ``Dn`` channels share one product whose weight matrix is zero off each
channel's own taps, so the Dn columns of the array all work and one Dk-wide dot product
covers the block's taps. The alternative, one product per channel, fills one column of
Dn and leaves the dot product mostly idle; HAQ's released table charges depthwise layers
like the block mapping (docs/hardware.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hwsearch.core.graph import LayerSpec


@dataclass(frozen=True)
class Products:
    """``count`` equal (rows x depth) @ (depth x cols) products, run one after another.

    rows: activation rows (output pixels); depth: reduction length; cols: weight columns
    (output channels).
    """

    count: int
    rows: int
    depth: int
    cols: int


def depthwise_block(spec: LayerSpec, dn: int) -> int:
    """Channels (groups) per block-diagonal product: as many as fill the Dn columns."""
    per_group = spec.out_channels // spec.groups
    return max(1, min(spec.groups, dn // per_group))


def lower(spec: LayerSpec, batch: int, dn: int) -> Products:
    """The products BISMO runs for ``spec`` at ``batch`` on an array Dn columns wide."""
    kh, kw = spec.kernel_size
    taps = kh * kw
    rows = spec.out_hw[0] * spec.out_hw[1] * batch
    if spec.is_depthwise:
        block = depthwise_block(spec, dn)
        per_group = spec.out_channels // spec.groups
        return Products(math.ceil(spec.groups / block), rows, taps * block, per_group * block)
    return Products(
        spec.groups, rows, spec.in_channels // spec.groups * taps, spec.out_channels // spec.groups
    )
