"""Quantize a layer's input where the tensor is made, not where it is read.

A layer's input QuantizeLinear sits right before the layer. When ops that commute with
quantization separate it from the op that made the tensor (MaxPool, Flatten, Reshape; and
ReLU before an unsigned, zero-point-0 quantizer, whose clamp at 0 is ReLU's), the producing
Conv or Gemm is not followed by a QuantizeLinear, and onnxruntime keeps it in float on
dequantized weights. The same QuantizeLinear -> DequantizeLinear pair (same scale, zero
point and type) is added on the producer's output: the values are unchanged, because
quantizing is monotone (max of rounded = rounded max) and re-quantizing a value already on
the grid gives it back, and the producer can now run as an integer kernel.
"""

from __future__ import annotations

import onnx
from onnx import TensorProto, helper

#: Ops that commute with a per-tensor quantizer (ReLU only with an unsigned one).
COMMUTING = {"MaxPool", "Flatten", "Reshape", "Identity", "Relu"}


def _commutes(node: onnx.NodeProto, unsigned: bool, used: set[str]) -> bool:
    if node.op_type not in COMMUTING or (node.op_type == "Relu" and not unsigned):
        return False
    return not (node.op_type == "MaxPool" and len(node.output) > 1 and node.output[1] in used)  # indices read


def hoist_input_quantizers(proto: onnx.ModelProto) -> int:
    """Add each layer input's Q/DQ pair at the output of the op that made it, across the
    commuting ops between them; returns how many pairs were added."""
    graph = proto.graph
    producers = {out: n for n in graph.node for out in n.output}
    used = {name for n in graph.node for name in n.input}
    zero_types = {i.name: i.data_type for i in graph.initializer}
    added = 0
    for q in [n for n in graph.node if n.op_type == "QuantizeLinear" and len(n.input) == 3]:
        unsigned = zero_types.get(q.input[2]) == TensorProto.UINT8
        tensor, first = q.input[0], None
        while (p := producers.get(tensor)) is not None and _commutes(p, unsigned, used):
            first, tensor = p, p.input[0]
        source = producers.get(tensor)
        if first is None or (source is not None and source.op_type == "DequantizeLinear"):
            continue
        prefix = f"{tensor}_hoisted_for_{q.name or q.output[0]}"
        pair = [
            helper.make_node("QuantizeLinear", [tensor, q.input[1], q.input[2]], [f"{prefix}_quantized"], name=f"{prefix}_QuantizeLinear"),
            helper.make_node("DequantizeLinear", [f"{prefix}_quantized", q.input[1], q.input[2]], [f"{prefix}_dequantized"], name=f"{prefix}_DequantizeLinear"),
        ]
        index = list(graph.node).index(first)
        for offset, node in enumerate(pair):
            graph.node.insert(index + offset, node)
        first.input[0] = f"{prefix}_dequantized"
        added += 1
    return added
