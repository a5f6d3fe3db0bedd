"""format=onnx: QDQ model that onnxruntime (CPU) runs at the simulation's accuracy."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, numpy_helper

from hwsearch.evaluate import accuracy
from hwsearch.export import export_policy
from hwsearch.export.onnx_qdq import run_onnx
from hwsearch.core.policy import FLOAT_BITS
from hwsearch.quant import QuantizedModel
from hwsearch.zoo import build_model, example_input, model_dataset
from tests.export_fixtures import make_document, mixed_policy


def _setup(name: str, float_layer: bool = False):
    model, data = build_model(name), model_dataset(name)
    qmodel = QuantizedModel(model, data.calib.x, seed=0)
    policy = mixed_policy(qmodel.layer_names)
    if float_layer:
        policy = policy.replace(qmodel.layer_names[1], weight_bits=FLOAT_BITS, activation_bits=FLOAT_BITS)
    doc = make_document(name, model, example_input(name), policy)
    return model, data, qmodel.set_policy(policy).eval(), policy, doc


@pytest.mark.parametrize("name", ["digits-cnn", "digits-mobilenet"])
def test_onnxruntime_accuracy_matches_simulation(name):
    """The exported graph computes the simulation's numbers (onnxruntime with its graph
    optimisations off: the same logits); with them on, as deployed, integer kernels
    requantize with their own rounding, which may flip a later 3- or 4-bit quantizer's
    decision on a few images (digits-mobilenet's mixed policy: 5 of 216 since BatchNorm
    folding lets every conv run as QLinearConv)."""
    import onnxruntime as ort

    model, data, qmodel, policy, doc = _setup(name)
    assert {b.weight_bits for b in policy.values()} >= {2, 3, 4, 8}
    artifact = export_policy(doc, "onnx")  # builds model and calibration from the document
    assert artifact.filename == f"{name}-bitfusion.onnx"
    with torch.inference_mode():
        reference = qmodel(data.val.x).numpy()
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    plain = ort.InferenceSession(artifact.content, options, providers=["CPUExecutionProvider"])
    exact = plain.run(None, {plain.get_inputs()[0].name: data.val.x.numpy()})[0]
    assert np.abs(exact - reference).max() < 1e-3 and (exact.argmax(1) == reference.argmax(1)).all()
    simulated = accuracy(qmodel, data.val)
    logits = run_onnx(artifact.content, data.val.x)
    ort_accuracy = float((torch.from_numpy(logits).argmax(1) == data.val.y).float().mean())
    assert abs(ort_accuracy - simulated) <= 0.01, (ort_accuracy, simulated)  # at most 2 of 216 images
    assert (reference.argmax(1) == logits.argmax(1)).mean() >= 0.97


def test_graph_has_qdq_with_the_policy_types_and_scales():
    model, data, qmodel, policy, doc = _setup("digits-mobilenet", float_layer=True)
    proto = onnx.load_from_string(export_policy(doc, "onnx", model=model, calib_x=data.calib.x).content)
    onnx.checker.check_model(proto, full_check=True)
    assert proto.opset_import[0].version == 21
    inits = {i.name: i for i in proto.graph.initializer}
    nodes = list(proto.graph.node)
    for name, bits in policy.items():
        if bits.weight_bits == FLOAT_BITS:
            assert f"{name}.weight" in inits and f"{name}.weight_quantized" not in inits
            assert not any(n.name.startswith(f"{name}.input") for n in nodes)
            continue
        q = inits[f"{name}.weight_quantized"]
        assert q.data_type == (TensorProto.INT4 if bits.weight_bits <= 4 else TensorProto.INT8)
        values = numpy_helper.to_array(q).astype(np.int64)
        qmax = 2 ** (bits.weight_bits - 1) - 1
        assert values.min() >= -qmax and values.max() <= qmax
        wq, fake = qmodel.weight_quant(name, bits.weight_bits)
        np.testing.assert_array_equal(numpy_helper.to_array(inits[f"{name}.weight_scale"]), wq.scale.numpy())
        shape = (-1,) + (1,) * (values.ndim - 1)
        np.testing.assert_array_equal(values.astype(np.float32) * wq.scale.numpy().reshape(shape), fake.numpy())
        aq = qmodel.activation_quant(name, bits.activation_bits)
        assert float(numpy_helper.to_array(inits[f"{name}.input_scale"])) == pytest.approx(aq.scale, rel=1e-7)
        zero = inits[f"{name}.input_zero_point"]
        assert zero.data_type == (TensorProto.INT8 if aq.signed else TensorProto.UINT8)
        clipped = any(n.name == f"{name}.input_Clip" for n in nodes)
        assert clipped == (bits.activation_bits < 8)
    hoisted = [n for n in nodes if "_hoisted_for_" in n.name]  # hwsearch.export.qdq_hoist's pairs
    assert all(n.input[1].endswith(".input_scale") for n in hoisted)  # the consumer's own quantizer
    ops = [n.op_type for n in nodes if n not in hoisted]
    quantized = [n for n, b in policy.items() if b.weight_bits != FLOAT_BITS]
    assert ops.count("QuantizeLinear") == len(quantized)
    # a layer with a bias whose input and weights are quantized also dequantizes its int32 bias
    # (every conv has one: BatchNorm is folded into it, and no BatchNormalization is left)
    biased = [n for n in quantized if qmodel.layers[n].layer.bias is not None and policy[n].activation_bits != FLOAT_BITS]
    assert len(biased) == len([n for n in quantized if policy[n].activation_bits != FLOAT_BITS])
    assert "BatchNormalization" not in ops
    assert ops.count("DequantizeLinear") == 2 * len(quantized) + len(biased)
    for name in biased:
        assert inits[f"{name}.bias_quantized"].data_type == TensorProto.INT32


def test_float_layers_stay_float_and_still_match():
    model, data, qmodel, policy, doc = _setup("digits-cnn", float_layer=True)
    content = export_policy(doc, "onnx", model=model, calib_x=data.calib.x).content
    x = data.val.x[:64]
    with torch.inference_mode():
        reference = qmodel(x).numpy()
    assert (run_onnx(content, x).argmax(1) == reference.argmax(1)).mean() >= 0.98


def test_exports_use_the_search_quantizers_and_reproduce_its_accuracy():
    """The search's own context scores the policy; the exports must carry the very same
    quantizers (whatever spec.seed is), the rebuilt PyTorch model must give exactly the
    accuracy the search reports, and onnxruntime must be within 0.5 points of it."""
    from hwsearch.export import rebuild_quantized_model
    from hwsearch.export.calibrated import calibrate
    from hwsearch.search import build_problem, spec_from_dict

    spec = spec_from_dict({"model": "digits-cnn", "target": "bitfusion", "budget": {"relative": 0.9}, "agent": "random",
                           "seed": 3, "min_bits": 2, "max_bits": 8})
    ctx = build_problem(spec)
    model = build_model("digits-cnn")
    policy = mixed_policy(ctx.names)
    doc = make_document("digits-cnn", model, example_input("digits-cnn"), policy, accuracy=ctx.accuracy(policy), seed=3)
    cal = calibrate(doc)
    for name, lq in cal.layers.items():
        assert torch.equal(lq.weight.scale, ctx.scorer.qmodel.weight_quant(name, lq.weight_bits)[0].scale)
        assert lq.activation == ctx.scorer.qmodel.activation_quant(name, lq.activation_bits), name
    data = model_dataset("digits-cnn")
    rebuilt = rebuild_quantized_model(model, doc, export_policy(doc, "weights").content)
    assert accuracy(rebuilt, ctx.scorer.eval_split) == doc["accuracy"]
    logits = run_onnx(export_policy(doc, "onnx").content, ctx.scorer.eval_split.x)
    ort_accuracy = float((torch.from_numpy(logits).argmax(1) == ctx.scorer.eval_split.y).float().mean())
    assert abs(ort_accuracy - doc["accuracy"]) <= 0.005
    assert len(ctx.scorer.eval_split) == len(data.val)
