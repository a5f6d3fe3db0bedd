"""``format=onnx``: the float model with QuantizeLinear/DequantizeLinear pairs (QDQ).

The float graph comes from torch's TorchScript exporter (``dynamo=False``: no extra
packages, and it keeps parameter names as initializer names and BatchNorm as its own
node, because the simulation quantizes the conv weight *before* BatchNorm). It is then
rewritten to opset 21:

* each quantized layer's weight initializer ``<layer>.weight`` becomes integers
  ``<layer>.weight_quantized`` + per-output-channel ``DequantizeLinear`` (axis 0, zero
  point 0) whose output keeps the name ``<layer>.weight``;
* each quantized layer's input gets ``QuantizeLinear -> DequantizeLinear`` (per tensor,
  zero point 0), preceded by a ``Clip`` to the policy's range when the ONNX integer type
  is wider than the policy's bits.

Integer types (see docs/exports.md): weights 2..4 bits -> INT4, 5..8 -> INT8 (no clip
needed: the stored integers are already in the policy's range). Activations: UINT8 after
ReLU, else INT8, behind a Clip to the policy's range below 8 bits. Not INT4/UINT4 for
2..4-bit activations: onnxruntime 1.32 runs such a QuantizeLinear, but its default graph
optimizer (ClipQuantFusion) fails to load a model where a Clip -- ReLU6, or the range
clip -- feeds an INT4/UINT4 QuantizeLinear. 32 bits (float) -> no QDQ for that tensor.
"""

from __future__ import annotations

import copy
import io
import json
import warnings

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper, version_converter
from torch import nn

from hwsearch.export.base import ExportError
from hwsearch.export.calibrated import Calibrated, LayerQuant
from hwsearch.export.qdq_hoist import hoist_input_quantizers
from hwsearch.quant.quantizers import bias_integers

OPSET = 21  # first opset with INT4/UINT4 in QuantizeLinear/DequantizeLinear
TORCH_EXPORT_OPSET = 20  # highest opset torch's TorchScript exporter writes
INPUT_NAME, OUTPUT_NAME = "input", "logits"
COMPUTE_OPS = {"Conv", "Gemm", "MatMul"}


def weight_int_type(bits: int) -> int:
    """ONNX element type of ``bits``-bit weights (signed, zero point 0)."""
    return TensorProto.INT4 if bits <= 4 else TensorProto.INT8


def activation_int_type(bits: int, signed: bool) -> int:
    """ONNX element type of ``bits``-bit activations (8-bit containers, see the module doc)."""
    del bits  # every width 2..8 uses an 8-bit container; the Clip narrows the range
    return TensorProto.INT8 if signed else TensorProto.UINT8


def _type_range(elem_type: int) -> tuple[int, int]:
    return {
        TensorProto.INT4: (-8, 7),
        TensorProto.UINT4: (0, 15),
        TensorProto.INT8: (-128, 127),
        TensorProto.UINT8: (0, 255),
    }[elem_type]


def float_onnx(model: nn.Module, example: torch.Tensor) -> onnx.ModelProto:
    """The float model as ONNX (opset 21), batch dimension dynamic, BatchNorm kept."""
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            _torch_export(model, example, buf)
        except Exception as exc:  # torch raises many types for unexportable models
            raise ExportError(f"onnx: torch could not export the model: {exc}") from exc
    proto = onnx.load_from_string(buf.getvalue())
    return version_converter.convert_version(proto, OPSET)


def _torch_export(model: nn.Module, example: torch.Tensor, buf: io.BytesIO) -> None:
    torch.onnx.export(
        copy.deepcopy(model).eval(),
        (example[:1],),
        buf,
        dynamo=False,
        opset_version=TORCH_EXPORT_OPSET,
        input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME],
        dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
        do_constant_folding=False,
        training=torch.onnx.TrainingMode.PRESERVE,
    )


class _Graph:
    """Small helpers for rewriting one ONNX graph in place."""

    def __init__(self, proto: onnx.ModelProto) -> None:
        self.proto = proto
        self.graph = proto.graph
        self.inits = {init.name: init for init in self.graph.initializer}
        self.head = 0  # where the next weight DequantizeLinear goes (graph start, in layer order)

    def consumers(self, tensor: str) -> list[onnx.NodeProto]:
        return [n for n in self.graph.node if tensor in n.input]

    def add_init(self, init: onnx.TensorProto) -> str:
        self.graph.initializer.append(init)
        self.inits[init.name] = init
        return init.name

    def insert_before(self, anchor: onnx.NodeProto, nodes: list[onnx.NodeProto]) -> None:
        index = list(self.graph.node).index(anchor)
        for offset, node in enumerate(nodes):
            self.graph.node.insert(index + offset, node)


def _int_tensor(name: str, elem_type: int, values: np.ndarray) -> onnx.TensorProto:
    return helper.make_tensor(name, elem_type, list(values.shape), values.astype(np.int64).ravel().tolist())


def _quantize_weight(g: _Graph, lq: LayerQuant) -> str:
    """Swap ``<layer>.weight`` for integers + DequantizeLinear; returns the weight tensor name."""
    name = f"{lq.name}.weight"
    if name not in g.inits:
        raise ExportError(f"onnx: weight {name!r} of layer {lq.name!r} is not an initializer of the exported graph")
    if lq.weight is None:
        return name
    g.graph.initializer.remove(g.inits.pop(name))
    dequantize_weight(g, lq, lq.weight_int.numpy(), lq.weight.scale.detach().float().numpy(), 0, name, name)
    return name


def dequantize_weight(g: _Graph, lq: LayerQuant, q: np.ndarray, scale: np.ndarray, axis: int, prefix: str, output: str) -> None:
    """Add ``<prefix>_quantized|_scale|_zero_point`` and a per-axis DequantizeLinear writing ``output``
    (inserted at the graph's head, in layer order)."""
    elem = weight_int_type(lq.weight_bits)
    scale_init = numpy_helper.from_array(np.asarray(scale, dtype=np.float32), f"{prefix}_scale")
    zero = _int_tensor(f"{prefix}_zero_point", elem, np.zeros(q.shape[axis], dtype=np.int64))
    quantized = _int_tensor(f"{prefix}_quantized", elem, q)
    for init in (quantized, scale_init, zero):
        g.add_init(init)
    dq = helper.make_node(
        "DequantizeLinear", [quantized.name, scale_init.name, zero.name], [output], name=f"{prefix}_DequantizeLinear", axis=axis
    )
    g.graph.node.insert(g.head, dq)
    g.head += 1


def dequantize_bias(g: _Graph, lq: LayerQuant, node: onnx.NodeProto) -> None:
    """Swap the float bias of a Conv/Gemm (input 2) for int32 + DequantizeLinear on the grid
    the simulation rounds it to (``bias_integers``). Left float: a layer whose input or weight
    stays float, a bias that is not an initializer (or was swapped for a shared layer's other
    call already), and a Gemm that scales its bias (``alpha``/``beta`` != 1)."""
    if lq.weight is None or lq.activation is None or len(node.input) < 3 or node.input[2] not in g.inits:
        return
    if any(a.name in ("alpha", "beta") and a.f != 1.0 for a in node.attribute):
        return
    name = node.input[2]
    bias = torch.from_numpy(numpy_helper.to_array(g.inits[name]).astype(np.float32))
    q, step = bias_integers(bias, lq.activation, lq.weight)
    g.graph.initializer.remove(g.inits.pop(name))
    quantized = g.add_init(_int_tensor(f"{name}_quantized", TensorProto.INT32, q.numpy().astype(np.int64)))
    scale = g.add_init(numpy_helper.from_array(step.numpy().astype(np.float32), f"{name}_scale"))
    zero = g.add_init(_int_tensor(f"{name}_zero_point", TensorProto.INT32, np.zeros(len(q), dtype=np.int64)))
    g.graph.node.insert(g.head, helper.make_node("DequantizeLinear", [quantized, scale, zero], [name], name=f"{name}_DequantizeLinear", axis=0))
    g.head += 1


def _compute_nodes(g: _Graph, weight: str) -> list[tuple[onnx.NodeProto, int]]:
    """(Conv/Gemm/MatMul node, index of its activation input) for every use of ``weight``."""
    found = []
    frontier = [weight]
    while frontier:
        tensor = frontier.pop()
        for node in g.consumers(tensor):
            if node.op_type in COMPUTE_OPS:
                slot = 1 if node.op_type == "MatMul" and node.input[0] == tensor else 0
                found.append((node, slot))
            elif node.op_type in {"Transpose", "Identity"}:
                frontier.extend(node.output)
    return found


def _quantize_input(g: _Graph, lq: LayerQuant, node: onnx.NodeProto, slot: int, index: int) -> None:
    """Insert [Clip ->] QuantizeLinear -> DequantizeLinear on the node's activation input."""
    quantize_input(g, lq, node, slot, f"{lq.name}.input" + (f".{index}" if index else ""))


def quantize_input(g: _Graph, lq: LayerQuant, node: onnx.NodeProto, slot: int, prefix: str) -> None:
    """Insert [Clip ->] QuantizeLinear -> DequantizeLinear on input ``slot`` of ``node``; new
    tensors and nodes are named ``<prefix>_...``."""
    aq = lq.activation
    qmin, qmax = aq.qrange
    elem = activation_int_type(lq.activation_bits, aq.signed)
    tmin, tmax = _type_range(elem)
    scale = g.add_init(numpy_helper.from_array(np.array(aq.scale, dtype=np.float32), f"{prefix}_scale"))
    zero = g.add_init(_int_tensor(f"{prefix}_zero_point", elem, np.zeros((), dtype=np.int64)))
    source = node.input[slot]
    nodes = []
    if (qmin, qmax) != (tmin, tmax):
        lo = g.add_init(numpy_helper.from_array(np.array(qmin * aq.scale, dtype=np.float32), f"{prefix}_clip_min"))
        hi = g.add_init(numpy_helper.from_array(np.array(qmax * aq.scale, dtype=np.float32), f"{prefix}_clip_max"))
        nodes.append(helper.make_node("Clip", [source, lo, hi], [f"{prefix}_clipped"], name=f"{prefix}_Clip"))
        source = f"{prefix}_clipped"
    nodes.append(helper.make_node("QuantizeLinear", [source, scale, zero], [f"{prefix}_quantized"], name=f"{prefix}_QuantizeLinear"))
    nodes.append(
        helper.make_node("DequantizeLinear", [f"{prefix}_quantized", scale, zero], [f"{prefix}_dequantized"], name=f"{prefix}_DequantizeLinear")
    )
    g.insert_before(node, nodes)
    node.input[slot] = f"{prefix}_dequantized"


def layer_tensors(proto: onnx.ModelProto, layer_names: list[str]) -> dict[str, tuple[str, list[str]]]:
    """Layer -> (weight initializer name, names of its input activation tensors) in a float graph."""
    g = _Graph(proto)
    out = {}
    for name in layer_names:
        weight = f"{name}.weight"
        if weight not in g.inits:
            raise ExportError(f"onnx: weight {weight!r} of layer {name!r} is not an initializer of the exported graph")
        out[name] = (weight, [node.input[slot] for node, slot in _compute_nodes(g, weight)])
    return out


def qdq_model(cal: Calibrated, example: torch.Tensor) -> onnx.ModelProto:
    """The QDQ ONNX model of a calibrated policy (checked with onnx.checker)."""
    proto = float_onnx(cal.model, example)
    g = _Graph(proto)
    for lq in cal.layers.values():
        weight = _quantize_weight(g, lq)
        uses = _compute_nodes(g, weight)
        if not uses:
            raise ExportError(f"onnx: no Conv/Gemm/MatMul node reads the weight of layer {lq.name!r}")
        if lq.activation is not None:
            for index, (node, slot) in enumerate(uses):
                _quantize_input(g, lq, node, slot, index)
                dequantize_bias(g, lq, node)
    hoist_input_quantizers(proto)
    bits = {lq.name: {"weight_bits": lq.weight_bits, "activation_bits": lq.activation_bits} for lq in cal.layers.values()}
    helper.set_model_props(proto, {"hwsearch.policy": json.dumps(bits)})
    proto.producer_name = "hwsearch"
    proto.doc_string = "hwsearch mixed-precision QDQ export; bits per layer in metadata 'hwsearch.policy'"
    onnx.checker.check_model(proto)
    return proto


def export_onnx(cal: Calibrated, example: torch.Tensor) -> bytes:
    """Serialized QDQ ONNX model."""
    return qdq_model(cal, example).SerializeToString()


def run_onnx(content: bytes, x: torch.Tensor, batch_size: int = 256) -> np.ndarray:
    """Logits of the ONNX model on ``x`` with onnxruntime's CPU provider."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(content, options, providers=["CPUExecutionProvider"])
    data = x.detach().float().numpy()
    feed = session.get_inputs()[0].name  # INPUT_NAME for the torch re-export, the user's name for an ONNX model
    parts = [session.run(None, {feed: data[i : i + batch_size]})[0] for i in range(0, len(data), batch_size)]
    return np.concatenate(parts)
