"""BatchNorm folded into the conv before quantizing, and what it buys in onnxruntime."""

from __future__ import annotations

import copy

import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from hwsearch.core.policy import Policy
from hwsearch.export import export_policy
from hwsearch.quant import QuantizedModel
from hwsearch.quant.folding import batchnorm_folds, fold_batchnorm


def _block(conv: nn.Conv2d) -> nn.Sequential:
    return nn.Sequential(conv, nn.BatchNorm2d(conv.out_channels), nn.ReLU())


def _trained_bn(model: nn.Module) -> nn.Module:
    """Non-trivial running statistics and affine parameters (a fresh BatchNorm is the identity)."""
    torch.manual_seed(0)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            with torch.no_grad():
                module.running_mean.uniform_(-1, 1)
                module.running_var.uniform_(0.5, 2)
                module.weight.uniform_(-2, 2)
                module.bias.uniform_(-1, 1)
    return model.eval()


def test_conv_then_batchnorm_folds_to_the_same_function_and_keeps_layer_names():
    torch.manual_seed(0)
    model = _trained_bn(nn.Sequential(_block(nn.Conv2d(3, 8, 3, bias=False)), _block(nn.Conv2d(8, 8, 3, groups=8))))
    folded = fold_batchnorm(model)
    assert batchnorm_folds(folded) == {"0.0": "0.1", "1.0": "1.1"}
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert folded.get_submodule("0.0").bias is not None  # the folded shift
    x = torch.randn(4, 3, 12, 12)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), model(x), rtol=1e-5, atol=1e-5)
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())  # the original is untouched
    assert batchnorm_folds(copy.deepcopy(folded)) == batchnorm_folds(folded)  # survives a copy
    assert batchnorm_folds(fold_batchnorm(folded)) == batchnorm_folds(folded)  # folding again changes nothing


class SharedConv(nn.Module):
    """One conv called twice, each call followed by its own BatchNorm: no single fold is right."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.bn1, self.bn2 = nn.BatchNorm2d(4), nn.BatchNorm2d(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn2(self.conv(self.bn1(self.conv(x))))


class Dynamic(nn.Module):
    """Control flow on values: fx cannot trace it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.bn = nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x)) if x.sum() > 0 else self.conv(x)


@pytest.mark.parametrize("model", [SharedConv(), Dynamic()], ids=["shared-conv", "untraceable"])
def test_a_fold_that_is_not_safe_is_not_made(model):
    folded = fold_batchnorm(_trained_bn(model))
    assert batchnorm_folds(folded) == {}
    assert type(folded) is type(model)
    count = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert count and sum(isinstance(m, nn.BatchNorm2d) for m in folded.modules()) == count


def test_quantized_model_quantizes_the_folded_conv(digits_cnn, digits):
    qmodel = QuantizedModel(digits_cnn, digits.calib.x)
    folded = fold_batchnorm(digits_cnn)
    for name, layer in qmodel.layers.items():
        torch.testing.assert_close(layer.layer.weight, folded.get_submodule(name).weight, rtol=0, atol=0)


def _fused_ops(content: bytes, path) -> list[str]:
    options = ort.SessionOptions()
    options.optimized_model_filepath = str(path)
    ort.InferenceSession(content, options, providers=["CPUExecutionProvider"])
    return [n.op_type for n in onnx.load(str(path)).graph.node]


@pytest.mark.parametrize("name", ["digits-cnn", "fashion-cnn"])
def test_onnxruntime_runs_every_int8_conv_of_a_batchnorm_model_as_an_integer_conv(tmp_path, name):
    from hwsearch.zoo import build_model, example_input
    from tests.export_fixtures import make_document

    model = build_model(name)
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    layers = QuantizedModel(model, example_input(name)).layer_names
    convs = [n for n in layers if isinstance(model.get_submodule(n), nn.Conv2d)]
    doc = make_document(name, model, example_input(name), Policy.uniform(layers, 8))
    ops = _fused_ops(export_policy(doc, "onnx").content, tmp_path / "optimized.onnx")
    assert "BatchNormalization" not in ops
    assert ops.count("QLinearConv") == len(convs), ops  # none left a float Conv on dequantized weights
    assert "Conv" not in ops and "FusedConv" not in ops and "Gemm" not in ops


def _chain(ops: list[str], zero_type: int) -> onnx.ModelProto:
    """x -> Conv -> ops... -> QuantizeLinear -> DequantizeLinear -> y."""
    from onnx import TensorProto, helper, numpy_helper
    import numpy as np

    nodes, tensor = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv")], "c"
    for i, op in enumerate(ops):
        nodes.append(helper.make_node(op, [tensor], [f"t{i}"], name=op, **({"kernel_shape": [2, 2]} if op == "MaxPool" else {})))
        tensor = f"t{i}"
    nodes += [helper.make_node("QuantizeLinear", [tensor, "s", "z"], ["q"], name="q"), helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], name="dq")]
    inits = [numpy_helper.from_array(np.ones((2, 1, 1, 1), np.float32), "w"), numpy_helper.from_array(np.array(0.1, np.float32), "s"),
             helper.make_tensor("z", zero_type, [], [0])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])


@pytest.mark.parametrize(("ops", "unsigned", "hoisted"), [
    (["Relu", "MaxPool", "Flatten"], True, True),   # all commute with an unsigned quantizer
    (["Relu"], False, False),                        # a signed quantizer keeps negatives ReLU removed
    (["GlobalAveragePool"], True, False),            # an average is not on the grid
    ([], True, False),                               # already right after the conv
])
def test_input_quantizer_moves_to_the_producer_only_across_ops_that_commute(ops, unsigned, hoisted):
    from onnx import TensorProto
    import numpy as np

    from hwsearch.export.qdq_hoist import hoist_input_quantizers

    proto = _chain(ops, TensorProto.UINT8 if unsigned else TensorProto.INT8)
    before = onnx.ModelProto.FromString(proto.SerializeToString())
    assert hoist_input_quantizers(proto) == int(hoisted)
    if hoisted:
        assert [n.op_type for n in proto.graph.node][1:3] == ["QuantizeLinear", "DequantizeLinear"]
    x = np.random.default_rng(0).normal(size=(1, 1, 4, 4)).astype(np.float32) * 3
    run = lambda p: ort.InferenceSession(p.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]  # noqa: E731
    np.testing.assert_array_equal(run(proto), run(before))  # the same values, exactly
