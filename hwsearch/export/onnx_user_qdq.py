"""``format=onnx`` for a user's ONNX model: *their* graph, with QuantizeLinear/DequantizeLinear.

A model searched from an ``.onnx`` file (``hwsearch.zoo.is_onnx``) is simulated on the torch
module ``hwsearch.zoo.onnx_import`` builds from it. Re-exporting that module (``onnx_qdq``)
would hand back a different graph: other node names, other structure. Here the user's own
file is parsed again (protobuf only; external data refused exactly as on import) and only
the quantized layers change, with the integer types, ranges and zero points of ``onnx_qdq``:

* the weight initializer ``W`` of a quantized layer becomes ``W_quantized`` (INT4/INT8, the
  simulation's integers) + a per-output-channel ``DequantizeLinear`` whose output keeps the
  name ``W``. The output-channel axis is 0 for Conv and for Gemm with ``transB=1``, 1 for
  Gemm with ``transB=0`` and for MatMul; a Gemm's ``alpha`` is divided out of the scale;
* the data input of every node of the layer gets ``[Clip ->] QuantizeLinear ->
  DequantizeLinear`` (per tensor), named ``<node>_input_...``;
* a layer whose nodes share a weight (a block called twice) is quantized once: one set of
  integers, one DequantizeLinear, a Q/DQ pair before each node;
* a quantized layer's bias goes on its accumulator's int32 grid, as in the simulation;
  32-bit layers stay float;
* a BatchNormalization the simulation folded into the conv before it
  (``hwsearch.quant.folding``) is removed, and that conv takes the folded weight and bias,
  so onnxruntime can run it as one integer convolution.

Every other original node keeps its name, inputs and attributes; the opset is raised to 21 (with
``onnx.version_converter``) only when a weight needs INT4, else to 13 (per-axis
DequantizeLinear) when it is older. The bits per layer go in metadata ``hwsearch.policy``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper, version_converter
from torch import nn

from hwsearch.export.base import ExportError
from hwsearch.export.calibrated import Calibrated, LayerQuant
from hwsearch.export.qdq_hoist import hoist_input_quantizers
from hwsearch.quant.folding import batchnorm_folds
from hwsearch.export.onnx_qdq import OPSET, _Graph, dequantize_bias, dequantize_weight, quantize_input, weight_int_type

PER_AXIS_OPSET = 13  # first opset with per-axis DequantizeLinear
DEFAULT_DOMAINS = ("", "ai.onnx")


def read_user_model(path: str | Path) -> onnx.ModelProto:
    """The user's ONNX file, parsed only; external-data tensors are refused as on import."""
    from hwsearch.zoo.onnx_import import OnnxImportError, _parse, _read, _refuse_external_data

    try:
        proto = _parse(_read(Path(path), None))
        _refuse_external_data(proto)
    except OSError as exc:
        raise ExportError(f"model: cannot read ONNX model {path}: {exc.strerror or exc}") from None
    except OnnxImportError as exc:
        raise ExportError(f"model: ONNX model {path}: {exc}") from None
    return proto


def onnx_layer_names(path: str | Path) -> dict[str, str]:
    """Layer (submodule) name -> ONNX node name, as the import named them."""
    from hwsearch.zoo.onnx_import import OnnxImportError, load_onnx_model

    try:
        return load_onnx_model(Path(path)).onnx_names
    except (OSError, OnnxImportError) as exc:
        raise ExportError(f"model: ONNX model {path}: {exc}") from None


def _label(node: onnx.NodeProto) -> str:
    return node.name or (node.output[0] if node.output else "")  # as onnx_import._node_label


def _key(node: onnx.NodeProto) -> tuple:
    """What the import shares one module by: op, weight/bias inputs and attributes."""
    return (node.op_type, tuple(node.input[1:]), tuple(a.SerializeToString() for a in node.attribute))


def layer_nodes(proto: onnx.ModelProto, onnx_names: dict[str, str], layers: list[str]) -> dict[str, list[onnx.NodeProto]]:
    """Layer -> every node of the user's graph that runs it (several for a shared layer)."""
    by_label = {_label(n): n for n in proto.graph.node}
    out = {}
    for layer in layers:
        node = by_label.get(onnx_names.get(layer, ""))
        if node is None or node.op_type not in {"Conv", "Gemm", "MatMul"}:
            raise ExportError(f"onnx: layer {layer!r} has no Conv/Gemm/MatMul node in the ONNX model")
        key = _key(node)
        out[layer] = [n for n in proto.graph.node if _key(n) == key]
    return out


def layer_tensors(path: str | Path, layers: list[str]) -> dict[str, tuple[str, list[str]]]:
    """Layer -> (weight initializer name, data input tensor of each of its nodes) in the user's graph."""
    proto = read_user_model(path)
    nodes = layer_nodes(proto, onnx_layer_names(path), layers)
    return {layer: (ns[0].input[1], [n.input[0] for n in ns]) for layer, ns in nodes.items()}


def _weight_layout(node: onnx.NodeProto, lq: LayerQuant) -> tuple[np.ndarray, np.ndarray, int]:
    """(integers in the initializer's layout, per-channel scales, output-channel axis)."""
    q = lq.weight_int.numpy()
    scale = lq.weight.scale.detach().float().numpy()
    if node.op_type == "Conv":
        return q, scale, 0
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if node.op_type == "Gemm":
        scale = scale / np.float32(attrs.get("alpha", 1.0))  # the import folded alpha into the weight
        return (q, scale, 0) if attrs.get("transB", 0) else (np.ascontiguousarray(q.T), scale, 1)
    return np.ascontiguousarray(q.T), scale, 1  # MatMul: x @ W, W is (in, out)


def _needed_opset(cal: Calibrated) -> int:
    int4 = any(lq.weight is not None and weight_int_type(lq.weight_bits) == TensorProto.INT4 for lq in cal.layers.values())
    return OPSET if int4 else PER_AXIS_OPSET


def _upgrade(proto: onnx.ModelProto, opset: int) -> onnx.ModelProto:
    current = next((o.version for o in proto.opset_import if o.domain in DEFAULT_DOMAINS), 1)
    if current >= opset:
        return proto
    names = [n.name for n in proto.graph.node]
    try:
        converted = version_converter.convert_version(proto, opset)
    except Exception as exc:  # the converter raises its own RuntimeError subclasses
        raise ExportError(f"onnx: cannot convert the model from opset {current} to {opset}: {exc}") from None
    kept = {n.name for n in converted.graph.node}
    lost = [n for n in names if n and n not in kept]
    if lost:
        raise ExportError(f"onnx: converting to opset {opset} renamed nodes {', '.join(lost[:5])}")
    return converted


WEIGHT_SUFFIXES = ("_quantized", "_scale", "_zero_point", "_DequantizeLinear", "_dequantized")
INPUT_SUFFIXES = ("_scale", "_zero_point", "_clip_min", "_clip_max", "_clipped", "_Clip", "_quantized",
                  "_QuantizeLinear", "_dequantized", "_DequantizeLinear")


def _unique(g: _Graph, prefix: str, suffixes: tuple[str, ...]) -> str:
    """``prefix``, or ``prefix_2``... when a name ``prefix + suffix`` is already a tensor or node of the graph."""
    taken = {n.name for n in g.graph.node} | set(g.inits) | {t for n in g.graph.node for t in (*n.input, *n.output)}
    name, k = prefix, 1
    while any(name + suffix in taken for suffix in suffixes):
        k += 1
        name = f"{prefix}_{k}"
    return name


def _quantize_layer(g: _Graph, lq: LayerQuant, nodes: list[onnx.NodeProto]) -> None:
    weight = nodes[0].input[1]
    if lq.weight is not None:
        if weight not in g.inits:
            raise ExportError(f"onnx: the weight {weight!r} of layer {lq.name!r} is not an initializer")
        readers = {id(n) for n in g.consumers(weight)}
        q, scale, axis = _weight_layout(nodes[0], lq)
        if readers == {id(n) for n in nodes}:  # only this layer reads it: the DQ output takes its name
            init = g.inits.pop(weight)
            g.graph.initializer.remove(init)
            for graph_input in [i for i in g.graph.input if i.name == weight]:  # IR < 4 lists initializers as inputs
                g.graph.input.remove(graph_input)
            dequantize_weight(g, lq, q, scale, axis, _unique(g, weight, WEIGHT_SUFFIXES), weight)
        else:  # another layer (other attributes) reads the same initializer: give this layer its own
            prefix = _unique(g, f"{weight}_{lq.name}", WEIGHT_SUFFIXES)
            dequantize_weight(g, lq, q, scale, axis, prefix, f"{prefix}_dequantized")
            for node in nodes:
                node.input[1] = f"{prefix}_dequantized"
    if lq.activation is not None:
        for node in nodes:
            quantize_input(g, lq, node, 0, _unique(g, f"{_label(node)}_input", INPUT_SUFFIXES))
        bias = nodes[0].input[2] if len(nodes[0].input) > 2 else ""
        if bias in g.inits and {id(n) for n in g.consumers(bias)} == {id(n) for n in nodes}:
            for graph_input in [i for i in g.graph.input if i.name == bias]:  # IR < 4 lists initializers as inputs
                g.graph.input.remove(graph_input)
            dequantize_bias(g, lq, nodes[0])  # on the grid the simulation rounds it to


def _float_values(node: onnx.NodeProto, module: nn.Module) -> dict[int, torch.Tensor | None]:
    """Input slot -> the module's value of that initializer, in the node's own layout."""
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if node.op_type == "Conv":
        return {1: module.weight, 2: module.bias}
    if node.op_type == "Gemm":  # the importer's Linear is alpha * B (transposed to out x in), beta * C
        weight = module.weight / attrs.get("alpha", 1.0)
        bias = None if module.bias is None else module.bias / attrs.get("beta", 1.0)
        return {1: weight if attrs.get("transB", 0) else weight.t(), 2: bias}
    if node.op_type == "MatMul":
        return {1: module.weight.t()}
    if node.op_type == "BatchNormalization":
        return {1: module.weight, 2: module.bias, 3: module.running_mean, 4: module.running_var}
    return {}


def write_float_values(proto: onnx.ModelProto, model: nn.Module, onnx_names: dict[str, str]) -> None:
    """Write the model's float weights (e.g. fine-tuned ones) into the user's graph for its
    Conv/Gemm/MatMul/BatchNormalization nodes, so the export deploys what was measured.

    An initializer only such nodes read at that input (a layer called twice) is overwritten;
    one read elsewhere too, or reached through an Identity (torch's exporter shares equal
    tensors, e.g. a fresh BatchNorm's weight and running variance), gets a new initializer."""
    nodes = {_label(n): n for n in proto.graph.node}
    inits = {i.name: i for i in proto.graph.initializer}
    readers: dict[str, set[tuple[str, int]]] = {}
    for n in proto.graph.node:
        for slot, tensor in enumerate(n.input):
            readers.setdefault(tensor, set()).add((n.op_type, slot))
    modules = dict(model.named_modules())
    for module_name, node_name in onnx_names.items():
        node, module = nodes.get(node_name), modules.get(module_name)
        if node is None or module is None:
            continue
        for slot, value in _float_values(node, module).items():
            tensor = node.input[slot] if slot < len(node.input) else ""
            if value is None or not tensor:
                continue
            array = value.detach().cpu().numpy().astype(np.float32)
            if tensor in inits and readers[tensor] == {(node.op_type, slot)} and array.size == int(np.prod(inits[tensor].dims)):
                inits[tensor].CopyFrom(numpy_helper.from_array(array.reshape(tuple(inits[tensor].dims)), tensor))
                continue
            name = f"{tensor}_{module_name}_{slot}"
            if name not in inits:
                inits[name] = numpy_helper.from_array(array, name)
                proto.graph.initializer.append(inits[name])
            node.input[slot] = name


def fold_batchnorm_nodes(proto: onnx.ModelProto, model: nn.Module, onnx_names: dict[str, str]) -> None:
    """Make the simulation's BatchNorm folds in the user's graph: each folded BatchNormalization
    node goes, its conv writes the BatchNorm's output tensor and reads a bias (the folded
    values themselves are then written by ``write_float_values``)."""
    nodes = {_label(n): n for n in proto.graph.node}
    names = {i.name for i in proto.graph.initializer}
    modules = dict(model.named_modules())
    for conv_name, bn_name in batchnorm_folds(model).items():
        conv, bn = nodes.get(onnx_names.get(conv_name, "")), nodes.get(onnx_names.get(bn_name, ""))
        if conv is None or bn is None or conv.op_type != "Conv" or bn.op_type != "BatchNormalization" or bn.input[0] != conv.output[0]:
            raise ExportError(f"onnx: the simulation folded BatchNorm {bn_name!r} into {conv_name!r}, but the graph does not have them in a row")
        if len(conv.input) < 3 or not conv.input[2]:
            bias = f"{conv.input[1]}_folded_bias"
            while bias in names:
                bias += "_"
            names.add(bias)
            proto.graph.initializer.append(numpy_helper.from_array(modules[conv_name].bias.detach().numpy().astype(np.float32), bias))
            del conv.input[2:]
            conv.input.append(bias)
        conv.output[0] = bn.output[0]
        proto.graph.node.remove(bn)


def user_qdq_model(cal: Calibrated, path: str | Path) -> onnx.ModelProto:
    """The user's ONNX model at ``path`` with the QDQ of ``cal``'s policy (checked with onnx.checker);
    its float values are ``cal.model``'s, so a fine-tuned policy exports its fine-tuned weights."""
    proto = read_user_model(path)
    onnx_names = onnx_layer_names(path)
    fold_batchnorm_nodes(proto, cal.model, onnx_names)
    write_float_values(proto, cal.model, onnx_names)
    nodes = layer_nodes(proto, onnx_names, list(cal.layers))
    proto = _upgrade(proto, _needed_opset(cal))
    by_name = {n.name: n for n in proto.graph.node if n.name}
    g = _Graph(proto)
    for lq in cal.layers.values():
        if lq.weight is None and lq.activation is None:
            continue
        # the converter rebuilds the graph: find the layer's nodes again (by name, else by position)
        same = [by_name.get(n.name) if n.name else _find_unnamed(proto, n) for n in nodes[lq.name]]
        _quantize_layer(g, lq, same)
    hoist_input_quantizers(proto)
    bits = {lq.name: {"weight_bits": lq.weight_bits, "activation_bits": lq.activation_bits} for lq in cal.layers.values()}
    props = {p.key: p.value for p in proto.metadata_props}
    props["hwsearch.policy"] = json.dumps(bits)
    helper.set_model_props(proto, props)
    try:
        onnx.checker.check_model(proto)
    except (onnx.checker.ValidationError, ValueError) as exc:
        raise ExportError(f"onnx: the quantized model is not valid ONNX: {exc}") from None
    return proto


def _find_unnamed(proto: onnx.ModelProto, node: onnx.NodeProto) -> onnx.NodeProto:
    for candidate in proto.graph.node:
        if candidate.op_type == node.op_type and list(candidate.output) == list(node.output):
            return candidate
    raise ExportError(f"onnx: node {_label(node)!r} disappeared converting the opset")


def export_user_onnx(cal: Calibrated, path: str | Path) -> bytes:
    """Serialized QDQ model of the user's ONNX file."""
    return user_qdq_model(cal, path).SerializeToString()
