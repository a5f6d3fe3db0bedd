"""How a layer reaches BISMO: the matrix products the overlay runs, and what they fetch.

BISMO multiplies matrices and nothing else (EECS-NTNU/bismo, BSD-3). Its inference
library lowers a convolution to a matrix product (im2row) one image at a time, so a conv
is a run of products, each fetching its weights again; a fully connected layer takes the
whole batch as its rows. Grouped convolutions have no mode of their own: one product per
group. A depthwise layer runs block-diagonally, Dn channels per product with the weights
zero off each channel's own taps, so all Dn columns of the array work and one Dk-wide dot
product holds the block's taps (one channel per product would fill one column). HAQ's
released table charges depthwise layers like this block mapping (docs/hardware.md).

Operands move as BISMO's runtime stores them: bit-serial (one binary matrix per bit
plane), activations as the lowered matrix (a 3x3 kernel reads each input 9 times), each
row's reduction padded to whole Dk-bit words and the row counts to Dm (activations) or Dn
(weights). A row shorter than Dk bits still moves a whole word, which is why narrow
layers (depthwise blocks, the 3-channel stem, 1x1 convs with few inputs) are bound by
activation traffic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hwsearch.core.graph import LayerSpec


@dataclass(frozen=True)
class Products:
    """``count`` equal (rows x depth) @ (depth x cols) products, run one after another.

    rows: activation rows (one image's output pixels; a fully connected layer's whole
    batch of tokens); depth: reduction length; cols: weight columns (output channels).
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
    rows = spec.out_hw[0] * spec.out_hw[1]  # a linear layer's tokens, a conv's pixels
    if spec.op == "linear":
        return Products(1, rows * batch, spec.in_channels, spec.out_channels)
    kh, kw = spec.kernel_size
    taps = kh * kw
    if spec.is_depthwise:
        block = depthwise_block(spec, dn)
        per_group = spec.out_channels // spec.groups
        return Products(batch * math.ceil(spec.groups / block), rows, taps * block, per_group * block)
    return Products(
        batch * spec.groups, rows, spec.in_channels // spec.groups * taps, spec.out_channels // spec.groups
    )


def padded(n: int, align: int) -> int:
    """``n`` rounded up to a multiple of ``align``."""
    return -(-n // align) * align


def operand_bits(
    p: Products, dm: int, dn: int, dk: int, w_bits: np.ndarray, a_bits: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Bits of activations and weights that one of ``p``'s products fetches, padding included."""
    depth = padded(p.depth, dk)
    acts = padded(p.rows, dm) * depth * np.asarray(a_bits, dtype=np.float64)
    weights = padded(p.cols, dn) * depth * np.asarray(w_bits, dtype=np.float64)
    return acts, weights
