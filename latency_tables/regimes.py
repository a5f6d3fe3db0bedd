"""Which operand's bits move a layer's cost: the regime of a layer in a latency table.

A simulator can rank layers like a measured table and still send a search the wrong way
if it charges the wrong operand: a search lowers the bits that pay. The regime compares
that, layer by layer, from each table's own latencies, so tables in different units
(HAQ's released table has none) compare. Definition and figures: docs/hardware.md.
"""

from __future__ import annotations

from hwsearch.core.graph import LayerSpec

#: An operand moves the cost when cutting it from 8 to 2 bits leaves at most this fraction
#: of the 8-bit latency: half of the saving a cost proportional to its bits would see
#: (proportional leaves 0.25, none leaves 1, halfway is 0.625).
MOVES = 0.625
REGIMES = ("both", "weights", "activations", "neither")
KINDS = ("stem", "depthwise", "expand", "project", "classifier")


def regime(l_88: float, l_w2: float, l_a2: float, moves: float = MOVES) -> str:
    """The regime from latencies at (w=8, a=8), (w=2, a=8) and (w=8, a=2)."""
    if l_88 <= 0:
        raise ValueError(f"latency at 8 bits must be positive, got {l_88}")
    w = l_w2 / l_88 <= moves
    a = l_a2 / l_88 <= moves
    if w and a:
        return "both"
    if w:
        return "weights"
    return "activations" if a else "neither"


def layer_kind(spec: LayerSpec) -> str:
    """MobileNet-style kind of a layer; a dense conv wider than 1x1 counts as the stem."""
    if spec.op == "linear":
        return "classifier"
    if spec.is_depthwise:
        return "depthwise"
    if spec.kernel_size != (1, 1):
        return "stem"
    return "expand" if spec.out_channels > spec.in_channels else "project"
