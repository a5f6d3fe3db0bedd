"""ONNX import: each supported op against onnxruntime, a CNN end to end, and refusals."""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Callable

import numpy as np
import onnx
import pytest
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from hwsearch.core.graph import quantizable_modules, trace
from hwsearch.zoo.onnx_import import OnnxImportError, check_against_onnxruntime, load_onnx_model

ATOL = 1e-5


class Fn(nn.Module):
    """A one-function model; keyword tensors become buffers (ONNX initializers)."""

    def __init__(self, fn: Callable, **tensors: torch.Tensor) -> None:
        super().__init__()
        self.fn = fn
        for name, tensor in tensors.items():
            self.register_buffer(name, tensor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(self, x)


def export(model: nn.Module, shape: tuple[int, ...], dynamic_batch: bool = True) -> bytes:
    """torch's TorchScript exporter (dynamo=False gives plain ops), BatchNorm kept."""
    buf = io.BytesIO()
    axes = {"x": {0: "batch"}, "y": {0: "batch"}} if dynamic_batch else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model.eval(), (torch.zeros(shape),), buf, dynamo=False, opset_version=17,
            input_names=["x"], output_names=["y"], dynamic_axes=axes,
            training=torch.onnx.TrainingMode.PRESERVE,
        )  # fmt: skip
    return buf.getvalue()


def hand_built(
    nodes: list[onnx.NodeProto], shape: tuple[int, ...], inits: dict | None = None, opset: int = 17
) -> bytes:
    """A one-input graph ('x', symbolic batch) to one output 'y'."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", *shape[1:]])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    initializers = [numpy_helper.from_array(np.asarray(a), name) for name, a in (inits or {}).items()]
    graph = helper.make_graph(nodes, "g", [x], [y], initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)
    return onnx.shape_inference.infer_shapes(model).SerializeToString()  # gives 'y' its shape


def rand(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def op_types(model_bytes: bytes) -> set[str]:
    return {node.op_type for node in onnx.load_from_string(model_bytes).graph.node}


def assert_matches_onnxruntime(model_bytes: bytes, shape: tuple[int, ...], batch: int = 3, atol: float = ATOL):
    imported = load_onnx_model(model_bytes)
    assert imported.input_shape == (1, *shape[1:])
    assert not imported.module.training
    agreement = check_against_onnxruntime(imported, model_bytes, rand(batch, *shape[1:], seed=1))
    assert agreement.max_abs_diff <= atol, agreement
    return imported


def _bn() -> nn.BatchNorm2d:
    torch.manual_seed(0)
    bn = nn.BatchNorm2d(4)
    bn.running_mean, bn.running_var = rand(4, seed=2), rand(4, seed=3).abs() + 0.5
    nn.init.normal_(bn.weight)
    nn.init.normal_(bn.bias)
    return bn


def _seeded(build: Callable[[], nn.Module]) -> Callable[[], nn.Module]:
    def make() -> nn.Module:
        torch.manual_seed(0)
        return build()

    return make


C4 = (1, 4, 1, 1)
# (case id, the op(s) the export must contain, model factory, input shape)
EXPORTED_CASES = [
    ("Relu", {"Relu"}, lambda: Fn(lambda m, x: torch.relu(x)), (1, 4, 5, 5)),
    ("Clip", {"Clip"}, lambda: Fn(lambda m, x: torch.clamp(x, -0.3, 0.5)), (1, 4, 5, 5)),
    ("Sigmoid", {"Sigmoid"}, lambda: Fn(lambda m, x: torch.sigmoid(x)), (1, 4, 5, 5)),
    ("HardSigmoid", {"HardSigmoid"}, lambda: Fn(lambda m, x: F.hardsigmoid(x * 4)), (1, 4, 5, 5)),
    ("HardSwish", {"HardSwish"}, lambda: Fn(lambda m, x: F.hardswish(x * 4)), (1, 4, 5, 5)),
    ("Mul", {"Mul"}, lambda: Fn(lambda m, x: x * m.c, c=rand(*C4)), (1, 4, 5, 5)),
    ("Add", {"Add"}, lambda: Fn(lambda m, x: x + m.c, c=rand(*C4)), (1, 4, 5, 5)),
    ("Sub", {"Sub"}, lambda: Fn(lambda m, x: m.c - x, c=rand(*C4)), (1, 4, 5, 5)),
    ("Div", {"Div"}, lambda: Fn(lambda m, x: x / m.c, c=rand(*C4).abs() + 0.5), (1, 4, 5, 5)),
    ("Concat", {"Concat"}, lambda: Fn(lambda m, x: torch.cat([x, torch.relu(x)], 1)), (1, 4, 5, 5)),
    ("MaxPool", {"MaxPool"}, lambda: Fn(lambda m, x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True)), (1, 4, 8, 8)),
    ("MaxPool-dilated", {"MaxPool"}, lambda: Fn(lambda m, x: F.max_pool2d(x, 2, 1, dilation=2)), (1, 4, 7, 7)),
    (
        "AveragePool-exclude-pad", {"AveragePool"},
        lambda: Fn(lambda m, x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)), (1, 4, 7, 7),
    ),
    (
        "AveragePool-include-pad", {"AveragePool"},
        lambda: Fn(lambda m, x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=True)), (1, 4, 7, 7),
    ),
    ("GlobalAveragePool", {"GlobalAveragePool"}, lambda: nn.AdaptiveAvgPool2d(1), (1, 4, 5, 5)),
    ("ReduceMean", {"ReduceMean"}, lambda: Fn(lambda m, x: x.mean((2, 3))), (1, 4, 5, 5)),
    ("Flatten", {"Flatten"}, lambda: nn.Flatten(), (1, 4, 5, 5)),
    (
        "Reshape-shape-chain", {"Reshape", "Shape", "Gather", "Unsqueeze", "Concat"},
        lambda: Fn(lambda m, x: x.reshape(x.shape[0], 2, -1)), (1, 4, 5, 5),
    ),
    ("Reshape-constant", {"Reshape"}, lambda: Fn(lambda m, x: x.reshape(-1, 4, 25)), (1, 4, 5, 5)),
    ("Transpose", {"Transpose"}, lambda: Fn(lambda m, x: x.permute(0, 2, 3, 1)), (1, 4, 5, 6)),
    (
        "Unsqueeze-Squeeze-axes-input", {"Unsqueeze", "Squeeze"},
        lambda: Fn(lambda m, x: torch.relu(x.unsqueeze(2)).squeeze(2)), (1, 4, 5, 5),
    ),
    (
        "Pad", {"Pad", "ConstantOfShape", "Slice", "Cast"},
        lambda: Fn(lambda m, x: F.pad(x, (1, 2, 0, 3), value=0.5)), (1, 4, 5, 5),
    ),
    ("Softmax", {"Softmax"}, lambda: Fn(lambda m, x: torch.softmax(x, 1)), (1, 4, 5, 5)),
    ("Conv", {"Conv"}, _seeded(lambda: nn.Conv2d(4, 6, 3, stride=2, padding=1)), (1, 4, 9, 9)),
    (
        "Conv-grouped-dilated-no-bias", {"Conv"},
        _seeded(lambda: nn.Conv2d(4, 8, 3, padding=2, dilation=2, groups=2, bias=False)), (1, 4, 9, 9),
    ),
    ("Conv-depthwise", {"Conv"}, _seeded(lambda: nn.Conv2d(4, 4, 3, stride=(2, 1), groups=4)), (1, 4, 9, 9)),
    ("Gemm", {"Gemm"}, _seeded(lambda: nn.Sequential(nn.Flatten(), nn.Linear(64, 5))), (1, 4, 4, 4)),
    (
        "MatMul-Slice", {"MatMul", "Slice"},
        _seeded(lambda: nn.Sequential(nn.Flatten(2), nn.Linear(16, 5))), (1, 4, 4, 4),
    ),
    ("BatchNormalization", {"BatchNormalization"}, _bn, (1, 4, 5, 5)),
]


@pytest.mark.parametrize(("ops", "make", "shape"), [c[1:] for c in EXPORTED_CASES], ids=[c[0] for c in EXPORTED_CASES])
def test_exported_op_matches_onnxruntime(ops, make, shape):
    model_bytes = export(make(), shape)
    assert ops <= op_types(model_bytes), "the export does not contain the op under test"
    assert_matches_onnxruntime(model_bytes, shape)


def _node(op: str, inputs: list[str], name: str | None = None, **attrs) -> onnx.NodeProto:
    return helper.make_node(op, inputs, ["y"], name=name or op.lower(), **attrs)


def _weights(*shape: int, seed: int = 0) -> np.ndarray:
    return rand(*shape, seed=seed).numpy()


# (case id, nodes, input shape, initializers, opset, batch used for the comparison)
HAND_BUILT_CASES = [
    (
        "Conv-asymmetric-pads",
        [_node("Conv", ["x", "w", "b"], pads=[0, 1, 2, 1], strides=[2, 2])],
        (1, 3, 7, 7), {"w": _weights(5, 3, 3, 3), "b": _weights(5, seed=1)}, 17,
    ),
    (
        "Conv-auto-pad-same-upper",
        [_node("Conv", ["x", "w"], auto_pad="SAME_UPPER", kernel_shape=[2, 2])],
        (1, 3, 6, 6), {"w": _weights(4, 3, 2, 2)}, 17,
    ),
    (
        "Gemm-transB0-alpha-beta",
        [_node("Gemm", ["x", "w", "c"], alpha=0.5, beta=2.0, transB=0)],
        (1, 6), {"w": _weights(6, 3), "c": _weights(1, 3, seed=1)}, 17,
    ),
    (
        "Gemm-scalar-C",
        [_node("Gemm", ["x", "w", "c"], transB=1)],
        (1, 6), {"w": _weights(3, 6), "c": np.float32(0.25)}, 17,
    ),
    ("Clip-attributes-opset10", [_node("Clip", ["x"], min=-0.2, max=0.3)], (1, 4, 3, 3), {}, 10),
    ("Clip-min-only", [_node("Clip", ["x", "lo"])], (1, 4, 3, 3), {"lo": np.float32(0.1)}, 17),
    ("HardSigmoid-alpha-beta", [_node("HardSigmoid", ["x"], alpha=0.3, beta=0.4)], (1, 4, 3, 3), {}, 17),
    (
        "Unsqueeze-Squeeze-axes-attribute-opset11",
        [
            helper.make_node("Unsqueeze", ["x"], ["u"], axes=[1, -1]),
            helper.make_node("Squeeze", ["u"], ["y"], axes=[1]),
        ],
        (1, 4, 3), {}, 11,
    ),
    (
        "Reshape-zero-copies-dim",
        [_node("Reshape", ["x", "s"])],
        (1, 4, 3, 2), {"s": np.array([0, 2, -1], dtype=np.int64)}, 17,
    ),
    (
        "Pad-axes-input-opset18",
        [_node("Pad", ["x", "p", "", "a"])],
        (1, 2, 3, 3), {"p": np.array([1, 2], dtype=np.int64), "a": np.array([-1], dtype=np.int64)}, 18,
    ),
    (
        "AveragePool-asymmetric-include-pad",
        [_node("AveragePool", ["x"], kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 1, 1], count_include_pad=1)],
        (1, 2, 5, 5), {}, 17,
    ),
    (
        "MaxPool-asymmetric",
        [_node("MaxPool", ["x"], kernel_shape=[2, 2], pads=[1, 0, 0, 1])],
        (1, 2, 5, 5), {}, 17,
    ),
    ("Softmax-opset11-flattens-from-axis", [_node("Softmax", ["x"], axis=1)], (1, 2, 3, 3), {}, 11),
    ("Transpose-default-perm", [_node("Transpose", ["x"])], (1, 4, 3), {}, 17),
    (
        "ReduceMean-axes-input-opset18",
        [_node("ReduceMean", ["x", "a"], keepdims=0)], (1, 4, 3), {"a": np.array([-1], dtype=np.int64)}, 18,
    ),
    ("ReduceMean-all-axes", [_node("ReduceMean", ["x"])], (1, 4, 3), {}, 17),
    ("Dropout", [_node("Dropout", ["x"])], (1, 4, 3), {}, 17),
    ("Identity", [_node("Identity", ["x"])], (1, 4, 3), {}, 17),
    (
        "Gather-on-data",
        [_node("Gather", ["x", "i"], axis=1)],
        (1, 4, 3), {"i": np.array([[3, 0], [-1, 1]], dtype=np.int64)}, 17,
    ),
    (
        "Constant-value-floats",
        [
            helper.make_node("Constant", [], ["c"], value_floats=[1.0, -2.0, 0.5]),
            _node("Mul", ["x", "c"]),
        ],
        (1, 4, 3), {}, 17,
    ),
]


@pytest.mark.parametrize(
    ("nodes", "shape", "inits", "opset"), [c[1:] for c in HAND_BUILT_CASES], ids=[c[0] for c in HAND_BUILT_CASES]
)
def test_hand_built_op_matches_onnxruntime(nodes, shape, inits, opset):
    assert_matches_onnxruntime(hand_built(nodes, shape, inits, opset), shape)


def test_squeeze_without_axes_keeps_a_dynamic_batch():
    """ONNX would also drop the batch at batch size 1; the import squeezes what is 1 at any batch."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 4, 1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])
    graph = helper.make_graph([_node("Squeeze", ["x"])], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    imported = assert_matches_onnxruntime(model.SerializeToString(), (1, 1, 4, 1))
    assert imported.module(torch.zeros(1, 1, 4, 1)).shape == (1, 4)


def test_conv_and_gemm_become_modules_named_after_the_nodes():
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="0/conv.1", pads=[1, 1, 1, 1]),
        helper.make_node("Flatten", ["c"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "g"], ["y"], name="class", transB=1),  # a Python keyword
    ]
    shape = (1, 2, 3, 3)
    imported = assert_matches_onnxruntime(
        hand_built(nodes, shape, {"w": _weights(4, 2, 3, 3), "g": _weights(5, 36)}), shape
    )
    assert imported.onnx_names == {"m_0_conv_1": "0/conv.1", "m_class": "class"}
    assert isinstance(imported.module.m_0_conv_1, nn.Conv2d)
    assert isinstance(imported.module.m_class, nn.Linear)


# ----------------------------------------------------------------------------- a whole CNN


class CNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False)
        self.stem_bn = nn.BatchNorm2d(8)
        self.pad = nn.ZeroPad2d((0, 1, 0, 1))  # asymmetric
        self.down = nn.Conv2d(8, 8, 2, stride=2)
        self.grouped = nn.Conv2d(8, 16, 3, padding=1, groups=2)
        self.depthwise = nn.Conv2d(16, 16, 3, padding=1, groups=16, bias=False)
        self.dw_bn = nn.BatchNorm2d(16)
        self.shared = nn.Conv2d(16, 16, 1)
        self.fc = nn.Linear(32 * 4 * 4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.stem_bn(self.stem(x)))
        g = self.grouped(self.down(self.pad(x)))  # 8x8
        y = torch.relu(self.dw_bn(self.depthwise(g))) + g  # residual
        y = self.shared(torch.relu(self.shared(y)))  # one module called twice
        y = F.max_pool2d(torch.cat([y, g], 1), 2)  # 32 x 4 x 4
        return self.fc(y.reshape(y.shape[0], -1))


def _cnn() -> CNN:
    torch.manual_seed(0)
    model = CNN()
    for bn in (model.stem_bn, model.dw_bn):
        nn.init.normal_(bn.weight)
        nn.init.normal_(bn.bias)
        bn.running_mean.normal_()
        bn.running_var.uniform_(0.5, 2.0)
    return model.eval()


def test_cnn_imports_with_named_layers_and_traces():
    model, shape = _cnn(), (1, 3, 32, 32)
    model_bytes = export(model, shape)
    graph = onnx.load_from_string(model_bytes).graph
    assert {"Pad", "BatchNormalization", "Concat", "Add", "Shape", "Gather", "Gemm"} <= op_types(model_bytes)
    imported = assert_matches_onnxruntime(model_bytes, shape, batch=4, atol=1e-4)

    x = rand(4, *shape[1:], seed=5)
    with torch.inference_mode():
        torch.testing.assert_close(imported.module(x), model(x), atol=1e-4, rtol=1e-4)

    layer_nodes = [n for n in graph.node if n.op_type in ("Conv", "Gemm")]
    assert len(layer_nodes) == 7  # the shared conv runs twice
    first_by_weight = {n.input[1]: n.name for n in reversed(layer_nodes)}
    layers = quantizable_modules(imported.module)
    assert sorted(imported.onnx_names[name] for name in layers) == sorted(first_by_weight.values())
    assert set(imported.onnx_names) - set(layers) == {"_stem_bn_BatchNormalization", "_dw_bn_BatchNormalization"}
    assert sum(isinstance(m, nn.Conv2d) for m in layers.values()) == 5
    assert sum(isinstance(m, nn.Linear) for m in layers.values()) == 1
    norms = [m for m in imported.module.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(norms) == 2 and not any(m.training for m in norms)

    specs = trace(imported.module, x)
    by_onnx = {(imported.onnx_names[s.name], s.call): s for s in specs}
    assert len(specs) == 7
    shared = first_by_weight["shared.weight"]
    assert (shared, 1) in by_onnx and not any(name == shared for name, call in by_onnx if call > 1)
    assert by_onnx[(first_by_weight["grouped.weight"], 0)].groups == 2
    assert by_onnx[(first_by_weight["depthwise.weight"], 0)].is_depthwise
    assert by_onnx[(first_by_weight["down.weight"], 0)].in_hw == (17, 17)
    assert by_onnx[(first_by_weight["fc.weight"], 0)].in_channels == 512


def test_fixed_batch_model_keeps_its_batch():
    model_bytes = export(nn.Flatten(), (2, 3, 4, 4), dynamic_batch=False)
    imported = load_onnx_model(model_bytes)
    assert imported.input_shape == (2, 3, 4, 4)
    assert check_against_onnxruntime(imported, model_bytes, rand(2, 3, 4, 4)).max_abs_diff == 0.0


def test_agreement_is_relative_to_the_reference():
    shape = (1, 4)
    model_bytes = hand_built([_node("Mul", ["x", "c"])], shape, {"c": np.float32(1000.0)})
    imported = load_onnx_model(model_bytes)
    with torch.no_grad():
        imported.module.c.mul_(1.001)  # corrupt the import on purpose
    agreement = check_against_onnxruntime(imported, model_bytes, torch.ones(1, 4))
    assert agreement.max_abs_diff == pytest.approx(1.0, rel=1e-3)
    assert agreement.relative_diff == pytest.approx(1e-3, rel=1e-3)


# ----------------------------------------------------------------------------- refusals


def _relu_model() -> bytes:
    return hand_built([_node("Relu", ["x"])], (1, 4))


def test_unsupported_ops_are_all_named():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1, 1, 2])
    nodes = [
        helper.make_node("LSTM", ["x", "W", "R"], ["h"], name="lstm_1", hidden_size=2),
        helper.make_node("Relu", ["h"], ["r"], name="ok"),
        helper.make_node("Frobnicate", ["r"], ["y"], name="frob", domain="my.ops"),
    ]
    inits = [numpy_helper.from_array(_weights(1, 8, 4), "W"), numpy_helper.from_array(_weights(1, 8, 2), "R")]
    graph = helper.make_graph(nodes, "g", [x], [y], initializer=inits)
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("my.ops", 1)]
    model = helper.make_model(graph, opset_imports=opsets, ir_version=8)
    with pytest.raises(OnnxImportError) as info:
        load_onnx_model(model.SerializeToString())
    assert str(info.value) == "unsupported ops: LSTM (node 'lstm_1'), my.ops.Frobnicate (node 'frob')"
    assert info.value.unsupported == [("LSTM", "lstm_1"), ("my.ops.Frobnicate", "frob")]


@pytest.mark.parametrize(
    ("nodes", "shape", "inits", "message"),
    [
        ([_node("Gemm", ["x", "w"], name="g1", transA=1)], (1, 3), {"w": _weights(1, 2)}, "Gemm (node 'g1'): transA=1"),
        (
            [_node("Gemm", ["x", "w", "c"], name="g2")], (2, 3), {"w": _weights(3, 2), "c": _weights(2, 2)},
            "Gemm (node 'g2'): C of shape (2, 2)",
        ),
        (
            [helper.make_node("Relu", ["x"], ["r"]), _node("MatMul", ["x", "r"], name="mm")], (1, 3, 3), {},
            "MatMul (node 'mm'): only x @ W",
        ),
        (
            [helper.make_node("Relu", ["x"], ["r"]), _node("Conv", ["x", "r"], name="cv")], (1, 1, 3, 3), {},
            "Conv (node 'cv'): its weight (input 1) must be an initializer or constant",
        ),
        (
            [_node("Pad", ["x", "p"], name="pd", mode="reflect")], (1, 3), {"p": np.array([1, 1, 1, 1])},
            "Pad (node 'pd'): mode 'reflect'",
        ),
    ],
    ids=["Gemm-transA", "Gemm-C-per-row", "MatMul-dynamic", "Conv-dynamic-weight", "Pad-reflect"],
)
def test_layers_that_cannot_be_imported_are_refused_by_name(nodes, shape, inits, message):
    with pytest.raises(OnnxImportError, match=re.escape(message)):
        load_onnx_model(hand_built(nodes, shape, inits))


def test_truncated_file_is_refused():
    model_bytes = export(_cnn(), (1, 3, 32, 32))
    for cut in (len(model_bytes) // 2, len(model_bytes) - 7, 100):
        with pytest.raises(OnnxImportError):
            load_onnx_model(model_bytes[:cut])


def test_random_bytes_are_refused():
    rng = np.random.default_rng(0)
    for size in (0, 16, 4096):
        with pytest.raises(OnnxImportError):
            load_onnx_model(rng.bytes(size))


def _external(tensor: onnx.TensorProto) -> None:
    tensor.ClearField("raw_data")
    tensor.ClearField("float_data")
    tensor.data_location = TensorProto.EXTERNAL
    tensor.external_data.add(key="location", value="../../etc/weights.bin")


@pytest.mark.parametrize("where", ["initializer", "constant"])
def test_external_data_is_refused_without_reading_it(where):
    c = numpy_helper.from_array(_weights(4), "c")
    nodes = [_node("Mul", ["x", "c"])]
    if where == "constant":
        nodes.insert(0, helper.make_node("Constant", [], ["c"], value=c))
    model = onnx.load_from_string(hand_built(nodes, (1, 4), {"c": _weights(4)} if where == "initializer" else {}))
    tensor = model.graph.initializer[0] if where == "initializer" else model.graph.node[0].attribute[0].t
    _external(tensor)
    with pytest.raises(OnnxImportError, match="external-data tensors are not accepted: c"):
        load_onnx_model(model.SerializeToString())


def test_oversize_file_is_refused(tmp_path):
    model_bytes = _relu_model()
    path = tmp_path / "model.onnx"
    path.write_bytes(model_bytes)
    for source in (model_bytes, path, str(path)):
        with pytest.raises(OnnxImportError, match="more than the limit"):
            load_onnx_model(source, max_bytes=len(model_bytes) - 1)
        assert load_onnx_model(source, max_bytes=len(model_bytes)).input_name == "x"


def test_two_inputs_are_refused():
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 4]) for n in ("a", "b")]
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    graph = helper.make_graph([helper.make_node("Add", ["a", "b"], ["y"])], "g", inputs, [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    with pytest.raises(OnnxImportError, match="exactly one input, it has 2"):
        load_onnx_model(model.SerializeToString())
