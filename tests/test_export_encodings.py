"""format=encodings: AIMET 0.6.1 per-tensor layout, consistent with the ONNX export."""

from __future__ import annotations

import json

import onnx
import pytest
from onnx import numpy_helper

from hwsearch.export import export_policy
from hwsearch.core.policy import FLOAT_BITS
from hwsearch.quant import QuantizedModel
from hwsearch.zoo import build_model, example_input, model_dataset
from tests.export_fixtures import make_document, mixed_policy


@pytest.fixture(scope="module")
def exported():
    name = "digits-cnn"
    model, data = build_model(name), model_dataset(name)
    qmodel = QuantizedModel(model, data.calib.x, seed=0)
    policy = mixed_policy(qmodel.layer_names).replace(qmodel.layer_names[2], activation_bits=FLOAT_BITS)
    doc = make_document(name, model, example_input(name), policy)
    enc = export_policy(doc, "encodings", model=model, calib_x=data.calib.x)
    onnx_model = onnx.load_from_string(export_policy(doc, "onnx", model=model, calib_x=data.calib.x).content)
    return model, qmodel.set_policy(policy), policy, enc, onnx_model


def test_layout_version_and_grid(exported):
    model, qmodel, policy, enc, _ = exported
    assert enc.filename == "digits-cnn-bitfusion.encodings" and enc.media_type == "application/json"
    doc = json.loads(enc.content)
    assert doc["version"] == "0.6.1"
    assert set(doc) >= {"activation_encodings", "param_encodings"}
    modules = dict(model.named_modules())
    assert set(doc["param_encodings"]) == {f"{n}.weight" for n, b in policy.items() if b.weight_bits != FLOAT_BITS}
    for name, bits in policy.items():
        encs = doc["param_encodings"][f"{name}.weight"]
        assert len(encs) == modules[name].weight.shape[0]  # per output channel
        wq, _ = qmodel.weight_quant(name, bits.weight_bits)
        qmax = 2 ** (bits.weight_bits - 1) - 1
        for e, scale in zip(encs, wq.scale.tolist()):
            assert set(e) == {"bitwidth", "dtype", "is_symmetric", "max", "min", "offset", "scale"}
            assert (e["bitwidth"], e["dtype"], e["is_symmetric"], e["offset"]) == (bits.weight_bits, "int", "True", -qmax)
            assert e["scale"] == pytest.approx(scale, rel=1e-7)
            assert e["min"] == pytest.approx(-qmax * scale) and e["max"] == pytest.approx(qmax * scale)


def test_activation_encodings_name_tensors_of_the_onnx_graph(exported):
    model, qmodel, policy, enc, onnx_model = exported
    doc = json.loads(enc.content)
    acts = doc["activation_encodings"]
    quantized = [n for n, b in policy.items() if b.activation_bits != FLOAT_BITS]
    assert len(acts) == len(quantized)
    tensors = {o for node in onnx_model.graph.node for o in node.output} | {i.name for i in onnx_model.graph.input}
    inits = {i.name: i for i in onnx_model.graph.initializer}
    for name in quantized:
        clip = next((n for n in onnx_model.graph.node if n.name in (f"{name}.input_Clip", f"{name}.input_QuantizeLinear")))
        tensor = clip.input[0]
        assert tensor in tensors and tensor in acts
        (e,) = acts[tensor]
        bits = policy[name].activation_bits
        aq = qmodel.activation_quant(name, bits)
        assert e["bitwidth"] == bits
        assert e["scale"] == pytest.approx(float(numpy_helper.to_array(inits[f"{name}.input_scale"])), rel=1e-7)
        assert e["offset"] == (-(2 ** (bits - 1)) if aq.signed else 0)
        assert e["max"] - e["min"] == pytest.approx((2**bits - 1) * e["scale"])
