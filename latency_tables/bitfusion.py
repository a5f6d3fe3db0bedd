"""``bitfusion``: a roofline model of BitFusion (Sharma et al., ISCA 2018).

BitFusion is a spatial array of Fusion Units, each built from 16 BitBricks (2-bit x
2-bit multipliers) that fuse into one 8x8-bit MAC, four 4x4-bit MACs or sixteen 2x2-bit
MACs per cycle; lower bits therefore raise throughput, stepwise (3 bits runs like 4,
5..7 like 8). Constants follow the paper and its public simulator's edge configuration
(hsharma35/bitfusion, ``bf_e_conf.ini`` and ``src/simulator``); the simulator itself is
not used (Python 2, no licence).

Modelling choices (documented in docs/hardware.md):
- Float (32-bit) operands run as 16-bit, BitFusion's widest mode, at half the 8-bit
  rate per 16-bit operand (two temporal passes of the fused 8-bit unit).
- Depthwise convolutions put channels on the 32 columns and the KHxKW taps on the 16
  rows (the simulator has no grouped convolution; this is the mapping with the least
  idle hardware that keeps BitFusion's row/column dataflow).
- Off-chip traffic: each tensor once, plus re-fetch when neither weights nor inputs fit
  their buffer; outputs leave at the activation width.
"""

from __future__ import annotations

import numpy as np

from hwsearch.core.graph import LayerSpec
from hwsearch.core.cost_model import CostModel
from latency_tables.roofline import COMPUTE, MEMORY, as_gemm, effective_bits, refetch_bits, tensor_bits

# --- Architecture (edge configuration) -----------------------------------------------
ROWS = 16  # array rows (input-channel dimension): bf_e_conf.ini "a = 16"; ISCA'18 Sec. 6 (512 Fusion Units)
COLS = 32  # array columns (output channels): bf_e_conf.ini "c = 32"
FREQ_HZ = 500e6  # bf_e_conf.ini "frequency = 500000000" (45 nm, ISCA'18 Table 3)
WEIGHT_BUFFER_BITS = 65536 * 8  # bf_e_conf.ini "Wgt_SRAM = 65536" bytes
INPUT_BUFFER_BITS = 32768 * 8  # bf_e_conf.ini "Act_SRAM = 32768" bytes
OFFCHIP_BITS_PER_CYCLE = 192  # bf_e_conf.ini [system] "if_width = 192" (~12 GB/s at 500 MHz)
WIDEST_BITS = 16  # ISCA'18 Sec. 3: BitBricks compose up to 16-bit operands
PSUM_BITS = 32  # output buffer holds 32-bit partial sums (simulator's accumulator width)
FILL_CYCLES = ROWS + COLS  # assumption: one array fill/drain per layer (systolic skew)

# --- Energy (pJ), from the simulator's 45 nm figures (CACTI for SRAM) -----------------
E_ARRAY_CYCLE = 235.1  # simulator: energy of one active cycle of the whole array
E_WBUF_READ, E_WBUF_WRITE = 0.021, 0.029  # per bit, weight buffer
E_IBUF_READ, E_IBUF_WRITE = 0.059, 0.114  # per bit, input buffer
E_OBUF_READ, E_OBUF_WRITE = 0.033, 0.073  # per bit, output buffer
E_DRAM_BIT = 15.0  # per bit; the simulator's value (a comment there says 6): we keep 15


def fusion_factor(bits: np.ndarray) -> np.ndarray:
    """MACs per Fusion Unit per cycle contributed by one operand's width.

    floor(8 / max(b, 2)) for b <= 8 (the simulator's rule: 2->4, 3..4->2, 5..8->1), and
    1/2 for 9..16-bit operands (two passes).
    """
    b = np.asarray(bits)
    return np.where(b <= 8, np.floor(8 / np.maximum(b, 2)), 0.5)


def padded_bits(bits: np.ndarray) -> np.ndarray:
    """Width of the BitBrick slot an operand occupies (3 -> 4, 5..7 -> 8, 9..16 -> 16)."""
    b = np.asarray(bits)
    return np.where(b <= 8, 8 / np.floor(8 / np.clip(b, 2, 8)), 16)


class BitFusion(CostModel):
    """BitFusion edge configuration as a cost model (latency ms, energy mJ)."""

    name = "bitfusion"
    description = (
        "BitFusion (Sharma et al., ISCA 2018) edge config: 16x32 Fusion Units of 2-bit BitBricks "
        "at 500 MHz, 64/32 KiB weight/input buffers, 192-bit off-chip interface; roofline model"
    )
    units = {"latency": "ms", "energy": "mJ"}

    def __init__(self, batch: int = 1) -> None:
        super().__init__()
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        self.batch = int(batch)

    def compute_cycles(self, spec: LayerSpec, w_bits: np.ndarray, a_bits: np.ndarray) -> np.ndarray:
        """Array cycles for the MACs of ``spec`` at the given widths (broadcast)."""
        w = effective_bits(np.asarray(w_bits), WIDEST_BITS)
        a = effective_bits(np.asarray(a_bits), WIDEST_BITS)
        factor = fusion_factor(w) * fusion_factor(a)
        g = as_gemm(spec, self.batch)
        if spec.is_depthwise:
            # channels on columns, taps on rows (see module docstring)
            return g.m * np.ceil(spec.out_channels / COLS) * np.ceil(g.kernel_taps / (ROWS * factor))
        in_per_group = spec.in_channels // spec.groups
        # simulator: B * ceil(OC/32) * OH*OW * KH*KW * ceil(IC/(16*factor)), per group
        return g.groups * np.ceil(g.n / COLS) * g.m * g.kernel_taps * np.ceil(in_per_group / (ROWS * factor))

    def _grid(self, spec: LayerSpec, w_bits: np.ndarray, a_bits: np.ndarray):
        w = effective_bits(np.asarray(w_bits), WIDEST_BITS)
        a = effective_bits(np.asarray(a_bits), WIDEST_BITS)
        compute = self.compute_cycles(spec, w, a)
        weights, inputs, outputs = tensor_bits(spec, self.batch, w, a)
        offchip = weights + inputs + outputs + refetch_bits(weights, inputs, WEIGHT_BUFFER_BITS, INPUT_BUFFER_BITS)
        memory = offchip / OFFCHIP_BITS_PER_CYCLE
        compute, memory = np.broadcast_arrays(compute, memory)
        cycles = np.maximum(compute, memory) + FILL_CYCLES
        latency_ms = cycles / FREQ_HZ * 1e3

        # Buffer reads follow the useful MACs: each reads its weight; an input is read once
        # per row and broadcast to the 32 columns. Operands occupy whole BitBrick slots
        # (3 bits are read as 4). Idle lanes still clock: E_ARRAY_CYCLE covers them.
        macs = spec.macs * self.batch
        wbuf_reads = macs * padded_bits(w)
        ibuf_reads = macs * padded_bits(a) / COLS
        psum_bits = spec.output_count * self.batch * PSUM_BITS
        energy_pj = (
            compute * E_ARRAY_CYCLE
            + wbuf_reads * E_WBUF_READ
            + ibuf_reads * E_IBUF_READ
            + weights * E_WBUF_WRITE
            + inputs * E_IBUF_WRITE
            + psum_bits * (E_OBUF_WRITE + E_OBUF_READ)
            + offchip * E_DRAM_BIT
        )
        bound = np.where(compute >= memory, COMPUTE, MEMORY)
        return latency_ms, energy_pj * 1e-9, bound
