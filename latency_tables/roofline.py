"""Shared pieces of the simulated accelerators: GEMM view of a layer and a roofline.

A layer takes max(compute time, memory time) (Williams, Waterman & Patterson, "Roofline",
CACM 2009): whichever roof is lower limits it, which is why depthwise and batch-1 fully
connected layers (little reuse per byte) behave differently from dense convolutions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwsearch.core.graph import LayerSpec
from hwsearch.core.policy import FLOAT_BITS

COMPUTE, MEMORY = 0, 1  # indices into cost_model.BOUND_NAMES


@dataclass(frozen=True)
class Gemm:
    """A layer as ``groups`` independent (M x K) @ (K x N) products (im2col view).

    M = output pixels x batch (activation rows), K = reduction length, N = output
    channels per group (weight columns).
    """

    m: int
    k: int
    n: int
    groups: int
    kernel_taps: int  # KH*KW, kept apart for mappings that unroll it in time


def as_gemm(spec: LayerSpec, batch: int) -> Gemm:
    """The im2col GEMM of a conv or linear layer at ``batch``."""
    kh, kw = spec.kernel_size
    rows = spec.out_hw[0] * spec.out_hw[1] * batch
    in_per_group = spec.in_channels // spec.groups
    return Gemm(
        m=rows,
        k=in_per_group * kh * kw,
        n=spec.out_channels // spec.groups,
        groups=spec.groups,
        kernel_taps=kh * kw,
    )


def tensor_bits(spec: LayerSpec, batch: int, w_bits: np.ndarray, a_bits: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Off-chip bits of weights, input and output feature maps (each moved once).

    Outputs are assumed requantized on chip to this layer's activation width (the next
    layer's input), so a memory-bound layer moves with activation bits, as HAQ's
    released table shows.
    """
    weights = spec.weight_count * w_bits
    inputs = spec.input_count * batch * a_bits
    outputs = spec.output_count * batch * a_bits
    return weights.astype(np.float64), inputs.astype(np.float64), outputs.astype(np.float64)


def refetch_bits(weights: np.ndarray, inputs: np.ndarray, weight_buffer_bits: float, input_buffer_bits: float) -> np.ndarray:
    """Extra off-chip bits when neither operand fits on chip.

    If the weights fit in their buffer (or the inputs in theirs) each tensor is read
    once. Otherwise one operand is tiled and the other streamed again per tile; take the
    cheaper of the two orders.
    """
    w_tiles = np.ceil(weights / weight_buffer_bits)
    i_tiles = np.ceil(inputs / input_buffer_bits)
    both_spill = (w_tiles > 1) & (i_tiles > 1)
    extra = np.minimum((w_tiles - 1) * inputs, (i_tiles - 1) * weights)
    return np.where(both_spill, extra, 0.0)


def effective_bits(bits: np.ndarray, widest: int) -> np.ndarray:
    """Map FLOAT_BITS (32) to the target's widest integer path; leave others as they are."""
    return np.where(bits == FLOAT_BITS, widest, bits)
