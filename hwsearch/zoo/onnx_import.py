"""Import a user's ONNX model as a ``torch.fx.GraphModule``, executing nothing from the file.

Users upload ONNX files (what deployment toolchains produce); hwsearch needs an ``nn.Module``
it can trace, quantize and export. The file is only parsed as protobuf: nothing is unpickled,
no external data file is read, and only the standard ops listed in ``_CONVERTERS`` are
accepted. Every Conv becomes an ``nn.Conv2d`` and every Gemm (or MatMul by a 2-D constant) an
``nn.Linear``, registered under the ONNX node's name so that policies and exports speak the
user's names (``OnnxImport.onnx_names``). Nodes sharing the same weight tensors and attributes
(a layer called twice) share one module, so they get one bit-width decision.

The graph is built op by op while running each op on zero example inputs (batch 1 and 2
when the batch is dynamic). Every tensor therefore has a known shape: shape computations
(the Shape/Gather/Concat chains ``torch.onnx.export`` emits) fold to constants, and Reshape
and Flatten become static reshapes with -1 in the one dimension that follows the batch size.
"""

from __future__ import annotations

import keyword
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn.functional as F
from google.protobuf.message import DecodeError
from onnx import TensorProto, numpy_helper
from torch import fx, nn
from torch.fx.node import map_aggregate

DEFAULT_DOMAINS = ("", "ai.onnx")
_RESERVED_NAMES = frozenset(dir(fx.GraphModule(nn.Module(), fx.Graph())))


class OnnxImportError(ValueError):
    """The ONNX model cannot be imported; the message says why, naming ops and nodes.

    ``unsupported`` lists (op type, node name) of every node whose op has no converter.
    """

    def __init__(self, message: str, unsupported: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.unsupported = unsupported or []


@dataclass
class OnnxImport:
    """An imported model: the module, its input, and the ONNX name of each submodule."""

    module: fx.GraphModule
    input_name: str
    input_shape: tuple[int, ...]  # batch dimension 1 when the model's batch is symbolic
    onnx_names: dict[str, str]  # submodule name -> ONNX node name


class OnnxAgreement(NamedTuple):
    """How far the imported module is from onnxruntime on one input."""

    max_abs_diff: float
    relative_diff: float  # max_abs_diff / max |reference|


def load_onnx_model(source: bytes | str | Path, max_bytes: int | None = None) -> OnnxImport:
    """Parse, check and convert an ONNX model (bytes, or a path to read) to a GraphModule."""
    model = _parse(_read(source, max_bytes))
    _refuse_external_data(model)
    try:
        onnx.checker.check_model(model)
    except (onnx.checker.ValidationError, ValueError) as exc:
        raise OnnxImportError(f"not a valid ONNX model: {exc}") from None
    _refuse_unsupported(model.graph)
    with torch.no_grad():
        return _Builder(model).build()


def check_against_onnxruntime(imported: OnnxImport, model_bytes: bytes, x: torch.Tensor) -> OnnxAgreement:
    """Compare the imported module with onnxruntime's float output on ``x``.

    The upload check refuses a model whose relative difference exceeds 1e-3.
    """
    _refuse_external_data(_parse(model_bytes))
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    references = session.run(None, {imported.input_name: x.detach().cpu().numpy()})
    with torch.inference_mode():
        outputs = imported.module(x)
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    ours = [o.detach().cpu().numpy() for o in outputs]
    if len(ours) != len(references) or any(o.shape != r.shape for o, r in zip(ours, references)):
        return OnnxAgreement(math.inf, math.inf)
    max_abs = max((float(np.max(np.abs(o - r), initial=0.0)) for o, r in zip(ours, references)), default=0.0)
    scale = max((float(np.max(np.abs(r), initial=0.0)) for r in references), default=0.0)
    relative = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else math.inf)
    return OnnxAgreement(max_abs, relative)


# ----------------------------------------------------------------------------- reading & checks


def _read(source: bytes | str | Path, max_bytes: int | None) -> bytes:
    if isinstance(source, bytes):
        size = len(source)
    else:
        size = Path(source).stat().st_size
    if max_bytes is not None and size > max_bytes:
        raise OnnxImportError(f"the model is {size} bytes, more than the limit of {max_bytes}")
    return source if isinstance(source, bytes) else Path(source).read_bytes()


def _parse(data: bytes) -> onnx.ModelProto:
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except DecodeError as exc:
        raise OnnxImportError(f"not an ONNX file: protobuf parse failed ({exc})") from None
    return model


def _refuse_external_data(model: onnx.ModelProto) -> None:
    """External data names a file path in the model: we never read paths a user chose."""
    tensors = list(_graph_tensors(model.graph))
    tensors += [t for function in model.functions for node in function.node for t in _node_tensors(node)]
    external = [t.name for t in tensors if t.data_location == TensorProto.EXTERNAL]
    if external:
        raise OnnxImportError(f"external-data tensors are not accepted: {', '.join(external)}")


def _graph_tensors(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield from (sparse.values, sparse.indices)
    for node in graph.node:
        yield from _node_tensors(node)


def _node_tensors(node: onnx.NodeProto) -> Iterator[onnx.TensorProto]:
    for attr in node.attribute:
        yield from (attr.t, *attr.tensors)
        for sparse in (attr.sparse_tensor, *attr.sparse_tensors):
            yield from (sparse.values, sparse.indices)
        for graph in (attr.g, *attr.graphs):
            yield from _graph_tensors(graph)


def _refuse_unsupported(graph: onnx.GraphProto) -> None:
    missing = [
        (_op_label(node), _node_label(node))
        for node in graph.node
        if node.domain not in DEFAULT_DOMAINS or node.op_type not in _CONVERTERS
    ]
    if missing:
        listed = ", ".join(f"{op} (node '{name}')" for op, name in missing)
        raise OnnxImportError(f"unsupported ops: {listed}", missing)


def _op_label(node: onnx.NodeProto) -> str:
    return node.op_type if node.domain in DEFAULT_DOMAINS else f"{node.domain}.{node.op_type}"


def _node_label(node: onnx.NodeProto) -> str:
    """The node's name; an unnamed node is known by its first output's name."""
    return node.name or (node.output[0] if node.output else "")


def _attribute_name(label: str) -> str:
    """A valid Python attribute name derived from an ONNX name."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", label) or "node"
    return f"m_{name}" if name[0].isdigit() or keyword.iskeyword(name) else name


def _to_tensor(proto: onnx.TensorProto) -> torch.Tensor:
    """An ONNX tensor as torch: floats as float32, integers as int64."""
    array = numpy_helper.to_array(proto)
    dtype = {"b": np.bool_, "i": np.int64, "u": np.int64, "f": np.float32, "V": np.float32}.get(array.dtype.kind)
    if dtype is None:
        raise OnnxImportError(f"tensor '{proto.name}' has unsupported type {array.dtype}")
    return torch.from_numpy(np.array(array, dtype=dtype))


# ----------------------------------------------------------------------------- the builder


@dataclass
class _Value:
    """One ONNX tensor: its value on each example input, and the fx node computing it."""

    examples: list[torch.Tensor]
    node: fx.Node | None = None  # None: a constant not yet stored as a buffer
    constant: bool = False
    shape_only: bool = False  # depends on the input only through its shape
    hint: str = "const"  # buffer name for a constant


class _Builder:
    """Converts one ONNX graph node by node into an fx graph over an ``nn.Module`` root."""

    def __init__(self, model: onnx.ModelProto) -> None:
        self.model = model
        self.opset = next((o.version for o in model.opset_import if o.domain in DEFAULT_DOMAINS), 1)
        self.graph = fx.Graph()
        self.root = nn.Module()
        self.env: dict[str, _Value] = {}
        self.onnx_names: dict[str, str] = {}
        self.shared: dict[tuple, str] = {}
        self.n_examples = 1

    def build(self) -> OnnxImport:
        graph = self.model.graph
        input_name, input_shape = self._input()
        for init in graph.initializer:
            self.env[init.name] = self.constant(_to_tensor(init), init.name)
        for node in graph.node:
            self._convert(node)
        outputs = [self.fx_node(self.env[out.name]) for out in graph.output]
        self.graph.output(outputs[0] if len(outputs) == 1 else tuple(outputs))
        # drop folded shape computations; nothing emitted here has side effects
        self.graph.eliminate_dead_code(is_impure_node=lambda n: n.op in ("placeholder", "output"))
        module = fx.GraphModule(self.root, self.graph)
        return OnnxImport(module.eval(), input_name, input_shape, self.onnx_names)

    def _input(self) -> tuple[str, tuple[int, ...]]:
        """The one real graph input: a float tensor, static but for a symbolic batch."""
        initializers = {init.name for init in self.model.graph.initializer}
        inputs = [i for i in self.model.graph.input if i.name not in initializers]
        if len(inputs) != 1:
            raise OnnxImportError(f"the model must have exactly one input, it has {len(inputs)}")
        (value_info,) = inputs
        tensor_type = value_info.type.tensor_type
        if tensor_type.elem_type != TensorProto.FLOAT:
            raise OnnxImportError(f"input '{value_info.name}' must be float32")
        dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in tensor_type.shape.dim]
        if not dims or None in dims[1:]:
            raise OnnxImportError(f"input '{value_info.name}' needs a static shape (but for the batch): {dims}")
        dynamic_batch = dims[0] is None
        shape = (1 if dynamic_batch else dims[0], *dims[1:])
        batches = (1, 2) if dynamic_batch else (shape[0],)
        self.n_examples = len(batches)
        examples = [torch.zeros(batch, *shape[1:]) for batch in batches]
        self.env[value_info.name] = _Value(examples, self.graph.placeholder("x"))
        return value_info.name, shape

    def _convert(self, node: onnx.NodeProto) -> None:
        if any(node.output[1:]):
            raise OnnxImportError(f"{node.op_type} (node '{_node_label(node)}'): only its first output is supported")
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        try:
            self.env[node.output[0]] = _CONVERTERS[node.op_type](self, node, attrs)
        except OnnxImportError as exc:
            raise OnnxImportError(f"{node.op_type} (node '{_node_label(node)}'): {exc}") from None
        except (RuntimeError, ValueError, IndexError, TypeError, KeyError) as exc:
            raise OnnxImportError(f"{node.op_type} (node '{_node_label(node)}') fails on the input: {exc}") from None

    # values

    def constant(self, tensor: torch.Tensor, hint: str = "const") -> _Value:
        return _Value([tensor] * self.n_examples, constant=True, hint=hint)

    def value(self, node: onnx.NodeProto, index: int) -> _Value | None:
        """Input ``index`` of ``node``, None when the optional input is absent."""
        if index >= len(node.input) or not node.input[index]:
            return None
        return self.env[node.input[index]]

    def const(self, node: onnx.NodeProto, index: int, what: str) -> torch.Tensor | None:
        """Input ``index`` of ``node`` as a tensor known at import time (None if absent)."""
        value = self.value(node, index)
        if value is None:
            return None
        if not value.constant:
            raise OnnxImportError(f"its {what} (input {index}) must be an initializer or constant")
        return value.examples[0]

    def fx_node(self, value: _Value) -> fx.Node:
        """The fx node computing ``value``; a constant becomes a buffer on first use."""
        if value.node is None:
            name = self.unique(_attribute_name(value.hint))
            self.root.register_buffer(name, value.examples[0])
            value.node = self.graph.get_attr(name)
        return value.node

    def unique(self, base: str) -> str:
        name, k = base, 1
        while hasattr(self.root, name) or name in _RESERVED_NAMES:
            name, k = f"{base}_{k}", k + 1
        return name

    # emitting

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> _Value:
        """Emit ``fn(*args, **kwargs)``, folding it to a constant when it is one."""
        values: list[_Value] = []
        map_aggregate((args, kwargs), lambda a: values.append(a) if isinstance(a, _Value) else None)

        def run(i: int) -> torch.Tensor:
            pick = lambda a: a.examples[i] if isinstance(a, _Value) else a  # noqa: E731
            return fn(*map_aggregate(args, pick), **map_aggregate(kwargs, pick))

        if all(v.constant for v in values):
            return self.constant(run(0))
        examples = [run(i) for i in range(self.n_examples)]
        shape_only = all(v.constant or v.shape_only for v in values)
        if shape_only and all(_same(examples[0], e) for e in examples[1:]):
            return self.constant(examples[0])
        to_node = lambda a: self.fx_node(a) if isinstance(a, _Value) else a  # noqa: E731
        node = self.graph.call_function(fn, map_aggregate(args, to_node), map_aggregate(kwargs, to_node))
        return _Value(examples, node, shape_only=shape_only)

    def reshape(self, x: _Value, shapes: list[tuple[int, ...]]) -> _Value:
        """Reshape to the per-example ``shapes``: static, with -1 where the batch varies."""
        first = shapes[0]
        varying = [i for i, dim in enumerate(first) if any(s[i] != dim for s in shapes[1:])]
        if len(varying) > 1:
            raise OnnxImportError(f"the target shape depends on the batch size in {len(varying)} dimensions")
        return self.call(torch.reshape, x, tuple(-1 if i in varying else d for i, d in enumerate(first)))

    def module(self, node: onnx.NodeProto, make: Callable[[], nn.Module], x: _Value) -> _Value:
        """Call a submodule named after ``node``; nodes with equal weights and attributes share one."""
        key = (node.op_type, tuple(node.input[1:]), tuple(a.SerializeToString() for a in node.attribute))
        if key not in self.shared:
            name = self.unique(_attribute_name(_node_label(node)))
            self.root.add_module(name, make().eval())
            self.shared[key] = name
            self.onnx_names[name] = _node_label(node)
        name = self.shared[key]
        submodule = self.root.get_submodule(name)
        return _Value([submodule(e) for e in x.examples], self.graph.call_module(name, (self.fx_node(x),)))


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and bool(torch.equal(a, b))


# ----------------------------------------------------------------------------- runtime helpers
# Targets of fx call_function nodes; they run inside the imported module's forward.


def _shape(x: torch.Tensor, start: int, end: int | None) -> torch.Tensor:
    return torch.tensor(x.shape[start:end], dtype=torch.int64)


def _gather(data: torch.Tensor, indices: torch.Tensor, axis: int) -> torch.Tensor:
    """ONNX Gather: index ``axis`` of ``data`` (negative indices count from the end)."""
    idx = torch.where(indices < 0, indices + data.shape[axis], indices).long()
    picked = data.index_select(axis, idx.reshape(-1))
    return picked.reshape((*data.shape[:axis], *idx.shape, *data.shape[axis + 1 :]))


def _unsqueeze(x: torch.Tensor, axes: tuple[int, ...]) -> torch.Tensor:
    rank = x.dim() + len(axes)
    for axis in sorted(a % rank for a in axes):
        x = x.unsqueeze(axis)
    return x


def _slice(x: torch.Tensor, starts: list[int], ends: list[int], axes: list[int], steps: list[int]) -> torch.Tensor:
    """ONNX Slice, with its clamping of out-of-range starts and ends (negative steps too)."""
    for start, end, axis, step in zip(starts, ends, axes, steps):
        dim = x.shape[axis]
        start, end = start + dim if start < 0 else start, end + dim if end < 0 else end
        low, high = (0, dim) if step > 0 else (-1, dim - 1)
        start, end = min(max(start, max(low, 0)), high), min(max(end, low), high)
        x = x.index_select(axis, torch.arange(start, end, step, device=x.device))
    return x


def _cast(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return x.to(dtype)


def _constant_of_shape(shape: torch.Tensor, fill: torch.Tensor) -> torch.Tensor:
    return torch.full(tuple(shape.tolist()), fill.item(), dtype=fill.dtype)


def _div(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """ONNX Div: integer division truncates."""
    if a.is_floating_point() or b.is_floating_point():
        return torch.div(a, b)
    return torch.div(a, b, rounding_mode="trunc")


def _hard_sigmoid(x: torch.Tensor, alpha: float, beta: float) -> torch.Tensor:
    return torch.clamp(x * alpha + beta, 0.0, 1.0)


def _softmax_2d(x: torch.Tensor, axis: int) -> torch.Tensor:
    """Softmax before opset 13: over all dimensions from ``axis`` on, flattened."""
    return torch.softmax(x.flatten(axis), dim=-1).reshape(x.shape)


# ----------------------------------------------------------------------------- converters
# Each takes (builder, node, attributes) and returns the value of the node's first output.

_Converter = Callable[[_Builder, onnx.NodeProto, dict[str, Any]], _Value]


def _with_params(module: nn.Module, **tensors: torch.Tensor | None) -> nn.Module:
    for name, tensor in tensors.items():
        if tensor is not None:
            getattr(module, name).copy_(tensor)
    return module


_Pair = tuple[int, ...]


def _pads(attrs: dict[str, Any], in_hw: _Pair, kernel: _Pair, strides: _Pair, dilations: _Pair) -> tuple[int, ...]:
    """(top, left, bottom, right) from ``pads`` or ``auto_pad``, as ONNX defines them."""
    auto_pad = attrs.get("auto_pad", b"NOTSET").decode()
    if auto_pad == "NOTSET":
        return tuple(attrs.get("pads", [0, 0, 0, 0]))
    if auto_pad == "VALID":
        return (0, 0, 0, 0)
    totals = [
        max(0, (math.ceil(i / s) - 1) * s + (k - 1) * d + 1 - i)
        for i, k, s, d in zip(in_hw, kernel, strides, dilations)
    ]
    small, large = [t // 2 for t in totals], [t - t // 2 for t in totals]
    return (*small, *large) if auto_pad == "SAME_UPPER" else (*large, *small)


def _spatial(
    b: _Builder, node: onnx.NodeProto, attrs: dict[str, Any], kernel: _Pair
) -> tuple[_Value, _Pair, _Pair, tuple[int, ...]]:
    """Input, strides, dilations and pads of a 2-D conv or pool."""
    x = b.value(node, 0)
    if x.examples[0].dim() != 4 or len(kernel) != 2:
        raise OnnxImportError("only 2-D (N, C, H, W) inputs are supported")
    strides = tuple(attrs.get("strides", (1, 1)))
    dilations = tuple(attrs.get("dilations", (1, 1)))
    return x, strides, dilations, _pads(attrs, tuple(x.examples[0].shape[2:]), kernel, strides, dilations)


def _conv(b: _Builder, node: onnx.NodeProto, attrs: dict[str, Any]) -> _Value:
    weight, bias = b.const(node, 1, "weight"), b.const(node, 2, "bias")
    kernel = tuple(weight.shape[2:])
    if tuple(attrs.get("kernel_shape", kernel)) != kernel:
        raise OnnxImportError(f"kernel_shape {attrs['kernel_shape']} does not match the weight {tuple(weight.shape)}")
    x, strides, dilations, (top, left, bottom, right) = _spatial(b, node, attrs, kernel)
    if (top, left) != (bottom, right):
        x, top, left = b.call(F.pad, x, (left, right, top, bottom)), 0, 0
    groups = attrs.get("group", 1)

    def make() -> nn.Module:
        conv = nn.utils.skip_init(
            nn.Conv2d,
            in_channels=weight.shape[1] * groups,
            out_channels=weight.shape[0],
            kernel_size=kernel,
            stride=strides,
            padding=(top, left),
            dilation=dilations,
            groups=groups,
            bias=bias is not None,
        )
        return _with_params(conv, weight=weight, bias=bias)

    return b.module(node, make, x)


def _linear(weight: torch.Tensor, bias: torch.Tensor | None) -> Callable[[], nn.Module]:
    def make() -> nn.Module:
        linear = nn.utils.skip_init(nn.Linear, weight.shape[1], weight.shape[0], bias=bias is not None)
        return _with_params(linear, weight=weight, bias=bias)

    return make


def _gemm(b: _Builder, node: onnx.NodeProto, attrs: dict[str, Any]) -> _Value:
    """Y = alpha * A @ B' + beta * C is a Linear when A is not transposed and C is per output."""
    if attrs.get("transA", 0):
        raise OnnxImportError("transA=1 transposes the data input, which a Linear cannot do")
    b_matrix = b.const(node, 1, "B")
    weight = (b_matrix if attrs.get("transB", 0) else b_matrix.T) * attrs.get("alpha", 1.0)
    c, beta = b.const(node, 2, "C"), attrs.get("beta", 1.0)
    bias = None
    if c is not None and beta != 0:
        out_features = weight.shape[0]
        if c.numel() == 1:
            bias = (c * beta).reshape(1).expand(out_features)
        elif tuple(c.shape) in ((out_features,), (1, out_features)):
            bias = (c * beta).reshape(out_features)
        else:
            raise OnnxImportError(f"C of shape {tuple(c.shape)} is not one bias per output, so not a Linear")
    return b.module(node, _linear(weight.contiguous(), bias), b.value(node, 0))


def _matmul(b: _Builder, node: onnx.NodeProto, attrs: dict[str, Any]) -> _Value:
    w = b.value(node, 1)
    if not w.constant or w.examples[0].dim() != 2:
        raise OnnxImportError("only x @ W with W a 2-D initializer is supported (it becomes a Linear)")
    return b.module(node, _linear(w.examples[0].T.contiguous(), None), b.value(node, 0))


def _batch_norm(b: _Builder, node: onnx.NodeProto, attrs: dict[str, Any]) -> _Value:
    if attrs.get("training_mode", 0):
        raise OnnxImportError("training_mode=1 is not supported")
    x = b.value(node, 0)
    cls = {4: nn.BatchNorm2d, 3: nn.BatchNorm1d, 2: nn.BatchNorm1d}.get(x.examples[0].dim())
    if cls is None:
        raise OnnxImportError(f"a {x.examples[0].dim()}-D input is not supported")
    scale, shift, mean, var = (b.const(node, i, what) for i, what in enumerate(("scale", "B", "mean", "var"), 1))

    def make() -> nn.Module:
        norm = nn.utils.skip_init(cls, scale.numel(), eps=attrs.get("epsilon", 1e-5))
        norm.num_batches_tracked.zero_()
        return _with_params(norm, weight=scale, bias=shift, running_mean=mean, running_var=var)

    return b.module(node, make, x)


def _max_pool(b: _Builder, node: onnx.NodeProto, attrs: dict[str, Any]) -> _Value:
    kernel = tuple(attrs["kernel_shape"])
    x, strides, dilations, pads = _spatial(b, node, attrs, kernel)
    x, padding = _pool_padding(b, x, pads, kernel, -math.inf)
    ceil_mode = bool(attrs.get("ceil_mode", 0))
    return b.call(F.max_pool2d, x, kernel, stride=strides, padding=padding, dilation=dilations, ceil_mode=ceil_mode)


def _average_pool(b: _Builder, node: onnx.NodeProto, attrs: dict[str, Any]) -> _Value:
    kernel = tuple(attrs["kernel_shape"])
    x, strides, dilations, pads = _spatial(b, node, attrs, kernel)
    if dilations != (1, 1):
        raise OnnxImportError("dilated average pooling is not supported")
    include_pad = bool(attrs.get("count_include_pad", 0))
    x_padded, padding = _pool_padding(b, x, pads, kernel, 0.0)
    if x_padded is not x and not include_pad:
        raise OnnxImportError("asymmetric or large pads with count_include_pad=0 are not supported")
    ceil_mode = bool(attrs.get("ceil_mode", 0))
    options = {"stride": strides, "padding": padding, "ceil_mode": ceil_mode, "count_include_pad": include_pad}
    return b.call(F.avg_pool2d, x_padded, kernel, **options)


def _pool_padding(b: _Builder, x: _Value, pads: tuple[int, ...], kernel: _Pair, fill: float) -> tuple[_Value, _Pair]:
    """torch pools pad symmetrically by at most half the kernel; otherwise pad explicitly."""
    top, left, bottom, right = pads
    if (top, left) == (bottom, right) and top <= kernel[0] // 2 and left <= kernel[1] // 2:
        return x, (top, left)
    return b.call(F.pad, x, (left, right, top, bottom), value=fill), (0, 0)


def _global_average_pool(b: _Builder, node: onnx.NodeProto, attrs: dict[str, Any]) -> _Value:
    x = b.value(node, 0)
    return b.call(torch.mean, x, dim=tuple(range(2, x.examples[0].dim())), keepdim=True)


def _reduce_mean(b: _Builder, node: onnx.NodeProto, attrs: dict[str, Any]) -> _Value:
    """ReduceMean (torch exports ``x.mean((2, 3))`` as one): axes an attribute before opset 18, an input from 18."""
    x, axes = b.value(node, 0), _axes(b, node, attrs)
    if axes is None and attrs.get("noop_with_empty_axes", 0):
        return x
    dims = tuple(range(x.examples[0].dim())) if axes is None else axes
    return b.call(torch.mean, x, dim=dims, keepdim=bool(attrs.get("keepdims", 1)))


def _clip(b: _Builder, node: onnx.NodeProto, attrs: dict[str, Any]) -> _Value:
    low, high = b.const(node, 1, "min"), b.const(node, 2, "max")
    low = attrs.get("min") if low is None else float(low)
    high = attrs.get("max") if high is None else float(high)
    x = b.value(node, 0)
    return x if low is None and high is None else b.call(torch.clamp, x, min=low, max=high)


def _hard_sigmoid_node(b: _Builder, node: onnx.NodeProto, attrs: dict[str, Any]) -> _Value:
    return b.call(_hard_sigmoid, b.value(node, 0), attrs.get("alpha", 0.2), attrs.get("beta", 0.5))


def _softmax(b: _Builder, node: onnx.NodeProto, attrs: dict[str, Any]) -> _Value:
    x = b.value(node, 0)
    axis = attrs.get("axis", -1 if b.opset >= 13 else 1) % x.examples[0].dim()
    if b.opset >= 13 or axis == x.examples[0].dim() - 1:
        return b.call(torch.softmax, x, dim=axis)
    return b.call(_softmax_2d, x, axis)


def _concat(b: _Builder, node: onnx.NodeProto, attrs: dict[str, Any]) -> _Value:
    return b.call(torch.cat, [b.value(node, i) for i in range(len(node.input))], dim=attrs["axis"])


def _flatten(b: _Builder, node: onnx.NodeProto, attrs: dict[str, Any]) -> _Value:
    x, axis = b.value(node, 0), attrs.get("axis", 1)
    return b.reshape(x, [(math.prod(e.shape[:axis]), math.prod(e.shape[axis:])) for e in x.examples])


def _reshape(b: _Builder, node: onnx.NodeProto, attrs: dict[str, Any]) -> _Value:
    x, shape = b.value(node, 0), b.value(node, 1)
    if not (shape.constant or shape.shape_only):
        raise OnnxImportError("its shape must follow from the input's shape")
    allowzero = bool(attrs.get("allowzero", 0))
    return b.reshape(x, [_target_shape(e.shape, s.tolist(), allowzero) for e, s in zip(x.examples, shape.examples)])


def _target_shape(in_shape: torch.Size, target: list[int], allowzero: bool) -> tuple[int, ...]:
    """ONNX Reshape's output shape: 0 copies the input dimension (unless allowzero), -1 is inferred."""
    dims = [in_shape[i] if d == 0 and not allowzero else d for i, d in enumerate(target)]
    known = math.prod(d for d in dims if d != -1)
    if dims.count(-1) > 1 or (-1 in dims and known == 0) or (-1 not in dims and known != math.prod(in_shape)):
        raise OnnxImportError(f"cannot reshape {tuple(in_shape)} to {target}")
    return tuple(math.prod(in_shape) // known if d == -1 else d for d in dims)


def _axes(b: _Builder, node: onnx.NodeProto, attrs: dict[str, Any]) -> tuple[int, ...] | None:
    """Axes of Squeeze/Unsqueeze/ReduceMean: an attribute in early opsets, later an input."""
    if "axes" in attrs:
        return tuple(attrs["axes"])
    axes = b.const(node, 1, "axes")
    return None if axes is None else tuple(axes.tolist())


def _squeeze(b: _Builder, node: onnx.NodeProto, attrs: dict[str, Any]) -> _Value:
    x, axes = b.value(node, 0), _axes(b, node, attrs)
    if axes is None:  # all size-1 dimensions, whatever the batch size
        axes = tuple(i for i in range(x.examples[0].dim()) if all(e.shape[i] == 1 for e in x.examples))
    return b.call(torch.squeeze, x, axes)


def _unsqueeze_node(b: _Builder, node: onnx.NodeProto, attrs: dict[str, Any]) -> _Value:
    return b.call(_unsqueeze, b.value(node, 0), _axes(b, node, attrs))


def _transpose(b: _Builder, node: onnx.NodeProto, attrs: dict[str, Any]) -> _Value:
    x = b.value(node, 0)
    perm = attrs.get("perm", range(x.examples[0].dim() - 1, -1, -1))
    return b.call(torch.permute, x, tuple(perm))


def _pad(b: _Builder, node: onnx.NodeProto, attrs: dict[str, Any]) -> _Value:
    """Constant Pad; ONNX lists all begins then all ends, torch pairs from the last axis."""
    mode = attrs.get("mode", b"constant").decode()
    if mode != "constant":
        raise OnnxImportError(f"mode '{mode}' is not supported (only constant)")
    x = b.value(node, 0)
    rank = x.examples[0].dim()
    pads = list(attrs["pads"]) if "pads" in attrs else b.const(node, 1, "pads").tolist()
    fill = b.const(node, 2, "constant_value")
    fill = float(attrs.get("value", 0.0)) if fill is None else float(fill)
    axes = b.const(node, 3, "axes")
    axes = range(rank) if axes is None else [a % rank for a in axes.tolist()]
    begin, end = [0] * rank, [0] * rank
    for i, axis in enumerate(axes):
        begin[axis], end[axis] = pads[i], pads[i + len(axes)]
    torch_pads = tuple(p for axis in reversed(range(rank)) for p in (begin[axis], end[axis]))
    return b.call(F.pad, x, torch_pads, value=fill)


def _constant(b: _Builder, node: onnx.NodeProto, attrs: dict[str, Any]) -> _Value:
    if "value" in attrs:
        tensor = _to_tensor(attrs["value"])
    elif "value_float" in attrs or "value_floats" in attrs:
        tensor = torch.tensor(attrs.get("value_float", attrs.get("value_floats")), dtype=torch.float32)
    elif "value_int" in attrs or "value_ints" in attrs:
        tensor = torch.tensor(attrs.get("value_int", attrs.get("value_ints")), dtype=torch.int64)
    else:
        raise OnnxImportError(f"only numeric constants are supported, not {sorted(attrs)}")
    return b.constant(tensor, node.output[0])


def _shape_node(b: _Builder, node: onnx.NodeProto, attrs: dict[str, Any]) -> _Value:
    """A constant unless it follows the batch size; then computed at run time."""
    x, start, end = b.value(node, 0), attrs.get("start", 0), attrs.get("end")
    examples = [_shape(e, start, end) for e in x.examples]
    if all(_same(examples[0], e) for e in examples[1:]):
        return b.constant(examples[0])
    return _Value(examples, b.graph.call_function(_shape, (b.fx_node(x), start, end)), shape_only=True)


def _gather_node(b: _Builder, node: onnx.NodeProto, attrs: dict[str, Any]) -> _Value:
    return b.call(_gather, b.value(node, 0), b.value(node, 1), attrs.get("axis", 0))


def _slice_node(b: _Builder, node: onnx.NodeProto, attrs: dict[str, Any]) -> _Value:
    """Slice: starts/ends/axes/steps are attributes before opset 10, constant inputs after."""
    x = b.value(node, 0)
    if "starts" in attrs:
        starts, ends, axes, steps = attrs["starts"], attrs["ends"], attrs.get("axes"), None
    else:
        names = ("starts", "ends", "axes", "steps")
        starts, ends, axes, steps = (b.const(node, i, what) for i, what in enumerate(names, 1))
        starts, ends = starts.tolist(), ends.tolist()
        axes, steps = (None if t is None else t.tolist() for t in (axes, steps))
    rank = x.examples[0].dim()
    axes = list(range(len(starts))) if axes is None else [a % rank for a in axes]
    return b.call(_slice, x, list(starts), list(ends), axes, steps or [1] * len(starts))


_CAST_TYPES = {TensorProto.FLOAT: torch.float32, TensorProto.DOUBLE: torch.float32, TensorProto.FLOAT16: torch.float32}
_CAST_TYPES |= {t: torch.int64 for t in (TensorProto.INT8, TensorProto.INT16, TensorProto.INT32, TensorProto.INT64)}
_CAST_TYPES |= {t: torch.int64 for t in (TensorProto.UINT8, TensorProto.UINT16, TensorProto.UINT32, TensorProto.UINT64)}
_CAST_TYPES[TensorProto.BOOL] = torch.bool


def _cast_node(b: _Builder, node: onnx.NodeProto, attrs: dict[str, Any]) -> _Value:
    """Cast, within the two types the import computes in: float32 and int64 (and bool)."""
    dtype = _CAST_TYPES.get(attrs["to"])
    if dtype is None:
        raise OnnxImportError(f"casting to {TensorProto.DataType.Name(attrs['to'])} is not supported")
    return b.call(_cast, b.value(node, 0), dtype)


def _constant_of_shape_node(b: _Builder, node: onnx.NodeProto, attrs: dict[str, Any]) -> _Value:
    fill = _to_tensor(attrs["value"]) if "value" in attrs else torch.zeros(1)
    return b.call(_constant_of_shape, b.value(node, 0), b.constant(fill.reshape(()), f"{node.output[0]}_value"))


def _identity(b: _Builder, node: onnx.NodeProto, attrs: dict[str, Any]) -> _Value:
    """Identity, and Dropout at inference."""
    return b.value(node, 0)


def _unary(fn: Callable[[torch.Tensor], torch.Tensor]) -> _Converter:
    return lambda b, node, attrs: b.call(fn, b.value(node, 0))


def _binary(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> _Converter:
    return lambda b, node, attrs: b.call(fn, b.value(node, 0), b.value(node, 1))


_CONVERTERS: dict[str, _Converter] = {
    "Conv": _conv,
    "Gemm": _gemm,
    "MatMul": _matmul,
    "BatchNormalization": _batch_norm,
    "Relu": _unary(torch.relu),
    "Sigmoid": _unary(torch.sigmoid),
    "HardSwish": _unary(F.hardswish),
    "HardSigmoid": _hard_sigmoid_node,
    "Clip": _clip,
    "Add": _binary(torch.add),
    "Sub": _binary(torch.sub),
    "Mul": _binary(torch.mul),
    "Div": _binary(_div),
    "Concat": _concat,
    "MaxPool": _max_pool,
    "AveragePool": _average_pool,
    "GlobalAveragePool": _global_average_pool,
    "ReduceMean": _reduce_mean,
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Transpose": _transpose,
    "Squeeze": _squeeze,
    "Unsqueeze": _unsqueeze_node,
    "Pad": _pad,
    "Softmax": _softmax,
    "Identity": _identity,
    "Dropout": _identity,
    "Constant": _constant,
    "Shape": _shape_node,
    "Gather": _gather_node,
    "Slice": _slice_node,
    "Cast": _cast_node,
    "ConstantOfShape": _constant_of_shape_node,
}
