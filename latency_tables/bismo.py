"""``bismo-edge`` / ``bismo-cloud``: roofline models of BISMO (Umuroglu et al., FPL 2018).

BISMO is a bit-serial matrix-multiply overlay: a Dm x Dn array of dot-product units,
each doing one Dk-wide *binary* dot product (AND + popcount) per cycle. A w-bit x a-bit
product is executed as w*a binary products of bit planes, shifted and accumulated, so an
M x K by K x N product takes ceil(M/Dm) * ceil(N/Dn) * ceil(K/Dk) * w * a execute cycles
(EECS-NTNU/bismo, BSD-3).
HAQ (Wang et al., CVPR 2019, Table 1) used an edge (Zynq-7020) and a cloud (VU9P)
configuration; both are offered here.

Modelling choices (documented in docs/hardware.md):
- Float (32-bit) is run as 32-bit bit-serial (32 bit planes): BISMO has no float path and
  bit-serial hardware runs any width, just slower.
- A layer is the matrix products of ``bismo_layout.lower``: a conv is lowered one image
  at a time; grouped convolutions run one product per group; depthwise ones run
  block-diagonally, Dn channels per product, since the overlay has no depthwise mode and
  one channel per product would idle Dn - 1 of the array's columns.
- Memory: the four AXI ports stream activations, weights and results in parallel (one
  port each; the fourth carries instructions), so memory time is the longest stream.
  Operands move in BISMO's own layout (``bismo_layout.operand_bits``): lowered, bit-serial,
  rows padded to whole Dk-bit words. Outputs are requantized on chip to the activation
  width (BISMO's result stage writes 32-bit sums; HAQ's table does not charge them).
- Energy: the papers give power, not per-op energy, so energy is estimated from
  Horowitz (ISSCC 2014, 45 nm) per-operation figures: a lower bound for an FPGA, whose
  fabric costs several times more, but it ranks layers and bit widths consistently.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwsearch.core.graph import LayerSpec
from hwsearch.core.cost_model import CostModel
from latency_tables.bismo_layout import lower, operand_bits
from latency_tables.roofline import COMPUTE, MEMORY

FLOAT_AS_BITS = 32  # float operands run as 32-bit bit-serial

# --- Energy per operation, Horowitz ISSCC 2014 (45 nm, 0.9 V) ------------------------
E_BINARY_PRODUCT = 0.2 / 64  # pJ: an 8x8-bit int multiply (0.2 pJ) is 64 one-bit partial products
E_ACCUMULATE = 0.1  # pJ: one 32-bit integer add per dot-product unit per cycle
E_SRAM_BIT = 10.0 / 64  # pJ: 64-bit read from an 8 KB SRAM is 10 pJ (BRAM blocks are 4.5 KB)
E_DRAM_BIT = 1.95e3 / 64  # pJ: DRAM 64-bit access 1.3-2.6 nJ; midpoint 1.95 nJ


@dataclass(frozen=True)
class BismoConfig:
    """One BISMO instance; each field cites where it comes from."""

    dm: int  # rows of dot-product units (activation rows per cycle)
    dn: int  # columns of dot-product units (weight columns per cycle)
    dk: int  # bits per binary dot product
    freq_hz: float
    port_bits: int  # width of one AXI port, bits per cycle
    bram_bits: int  # on-chip block RAM, split evenly between the two operand buffers
    default_batch: int


# Zynq-7020 (PYNQ-Z1). 8x8 array: HAQ Table 1 "PE array 8x8"; Dk = 256 and 200 MHz from the
# BISMO paper's PYNQ-Z1 build: 2*8*8*256*200e6 = 6.55 binary TOPS, the published 6.5 TOPS
# peak (FPL 2018 abstract). AXI 4 x 64 b and 140 x 36 Kb BRAM: HAQ Table 1 (the Zynq-7020
# has 140 BRAM36 blocks); batch 1: HAQ Table 1.
EDGE = BismoConfig(dm=8, dn=8, dk=256, freq_hz=200e6, port_bits=64, bram_bits=140 * 36 * 1024, default_batch=1)

# Xilinx VU9P. 16x16 array, AXI 4 x 256 b, 2160 x 36 Kb BRAM, batch 16: HAQ Table 1.
# Dk = 256 and 200 MHz are assumptions (not in HAQ's table): the edge overlay's values.
CLOUD = BismoConfig(dm=16, dn=16, dk=256, freq_hz=200e6, port_bits=256, bram_bits=2160 * 36 * 1024, default_batch=16)


def bit_planes(bits: np.ndarray) -> np.ndarray:
    """Bit planes a bit-serial engine processes for an operand (float -> 32)."""
    b = np.asarray(bits)
    return np.where(b == 32, FLOAT_AS_BITS, b)


class Bismo(CostModel):
    """A BISMO configuration as a cost model (latency ms, energy mJ)."""

    units = {"latency": "ms", "energy": "mJ"}

    def __init__(self, config: BismoConfig, name: str, description: str, batch: int | None = None) -> None:
        super().__init__()
        self.config = config
        self.name = name
        self.description = description
        self.batch = int(config.default_batch if batch is None else batch)
        if self.batch < 1:
            raise ValueError(f"batch must be >= 1, got {self.batch}")

    def compute_cycles(self, spec: LayerSpec, w_bits: np.ndarray, a_bits: np.ndarray) -> np.ndarray:
        """Execute cycles: products * ceil(rows/Dm) * ceil(cols/Dn) * ceil(depth/Dk) * w * a."""
        c = self.config
        p = lower(spec, self.batch, c.dn)
        tiles = p.count * np.ceil(p.rows / c.dm) * np.ceil(p.cols / c.dn) * np.ceil(p.depth / c.dk)
        return tiles * bit_planes(w_bits) * bit_planes(a_bits)

    def _grid(self, spec: LayerSpec, w_bits: np.ndarray, a_bits: np.ndarray):
        c = self.config
        w, a = bit_planes(w_bits), bit_planes(a_bits)
        compute = self.compute_cycles(spec, w, a)
        p = lower(spec, self.batch, c.dn)
        inputs, weights = operand_bits(p, c.dm, c.dn, c.dk, w, a)  # per product
        outputs = spec.output_count * self.batch * a.astype(np.float64)
        half = c.bram_bits / 2
        w_tiles, i_tiles = np.ceil(weights / half), np.ceil(inputs / half)
        spill = (w_tiles > 1) & (i_tiles > 1)
        # Neither operand fits: tile one, re-stream the other per tile; take the cheaper order.
        inputs_a, weights_a = p.count * inputs * np.where(spill, w_tiles, 1), p.count * weights
        inputs_b, weights_b = p.count * inputs, p.count * weights * np.where(spill, i_tiles, 1)
        stream_a = np.maximum(np.maximum(inputs_a, weights_a), outputs)
        stream_b = np.maximum(np.maximum(inputs_b, weights_b), outputs)
        memory = np.minimum(stream_a, stream_b) / c.port_bits
        offchip = np.minimum(inputs_a + weights_a, inputs_b + weights_b) + outputs
        compute, memory = np.broadcast_arrays(compute, memory)
        cycles = np.maximum(compute, memory)
        latency_ms = cycles / c.freq_hz * 1e3

        units = c.dm * c.dn
        energy_pj = (
            compute * units * (c.dk * E_BINARY_PRODUCT + E_ACCUMULATE)
            + compute * (c.dm + c.dn) * c.dk * E_SRAM_BIT  # operand bit planes read from BRAM
            + offchip * (E_DRAM_BIT + E_SRAM_BIT)  # fetched once into BRAM
        )
        bound = np.where(compute >= memory, COMPUTE, MEMORY)
        return latency_ms, energy_pj * 1e-9, bound


def bismo_edge(batch: int | None = None) -> Bismo:
    """HAQ's edge accelerator: BISMO on a Zynq-7020, batch 1 by default."""
    return Bismo(
        EDGE,
        "bismo-edge",
        "BISMO (Umuroglu et al., FPL 2018) bit-serial overlay on Zynq-7020: 8x8x256 at 200 MHz, "
        "4x64-bit AXI, batch 1 (HAQ Table 1); roofline model",
        batch,
    )


def bismo_cloud(batch: int | None = None) -> Bismo:
    """HAQ's cloud accelerator: BISMO on a VU9P, batch 16 by default."""
    return Bismo(
        CLOUD,
        "bismo-cloud",
        "BISMO (Umuroglu et al., FPL 2018) bit-serial overlay on VU9P: 16x16x256 at 200 MHz (Dk, clock "
        "assumed), 4x256-bit AXI, batch 16 (HAQ Table 1); roofline model",
        batch,
    )
