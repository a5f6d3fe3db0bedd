"""How a layer reaches BISMO: the matrix products the overlay runs for it.

BISMO multiplies matrices and nothing else (EECS-NTNU/bismo, BSD-3): a convolution is
lowered to a matrix product (im2row), so a layer becomes one or more products run one
after another. Grouped convolutions have no mode of their own. A depthwise layer is run
block-diagonally: ``Dn`` channels share one product whose weight matrix is zero off each
channel's own taps, so the Dn columns of the array all work and one Dk-wide dot product
covers the block's taps. The alternative, one product per channel, fills one column of
Dn and leaves the dot product mostly idle; HAQ's released table charges depthwise layers
like the block mapping (docs/hardware.md).

The operands move as BISMO's runtime stores them: bit-serial (one binary matrix per bit
plane), the activations as the lowered matrix (a 3x3 kernel reads each input 9 times),
each row's reduction padded to whole Dk-bit words and the row counts to the array's
Dm (activations) or Dn (weights). A row shorter than Dk bits still costs a whole word,
which is what makes narrow layers (depthwise blocks, the 3-channel stem, 1x1 convs with
few input channels) bound by activation traffic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

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


def padded(n: int, align: int) -> int:
    """``n`` rounded up to a multiple of ``align``."""
    return -(-n // align) * align


def operand_bits(p: Products, dm: int, dn: int, dk: int, w_bits: np.ndarray, a_bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bits of activations and weights that one of ``p``'s products fetches, padding included."""
    depth = padded(p.depth, dk)
    acts = padded(p.rows, dm) * depth * np.asarray(a_bits, dtype=np.float64)
    weights = padded(p.cols, dn) * depth * np.asarray(w_bits, dtype=np.float64)
    return acts, weights
