"""format=onnx for a model searched from the user's ONNX file: their graph (every node name
kept) with Q/DQ inserted, quantized as the simulation quantized it."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, numpy_helper
from torch import nn

from hwsearch.core.graph import trace
from hwsearch.core.policy import FLOAT_BITS, Policy
from hwsearch.data import load_dataset
from hwsearch.quant.folding import batchnorm_folds, fold_batchnorm
from hwsearch.export import export_policy
from hwsearch.export.calibrated import calibrate
from hwsearch.zoo.onnx_import import load_onnx_model
from tests.export_fixtures import make_document
from tests.fixtures.user_models import UserCNN, onnx_bytes

SHARED, FLOAT_LAYER = "_shared_shared_0_Conv", "_grouped_Conv"


def _document(path, policy_of_names) -> tuple[dict, nn.Module]:
    module = load_onnx_model(path).module
    names = list(dict.fromkeys(spec.name for spec in trace(module, torch.zeros(1, 1, 28, 28))))
    doc = make_document(str(path), module, torch.zeros(1, 1, 28, 28), Policy(policy_of_names(names)))
    doc["spec"]["data"] = "fashion"
    return doc, module


@pytest.fixture(scope="module")
def fashion():
    return load_dataset("fashion")


@pytest.fixture(scope="module")
def user_cnn(tmp_path_factory, fashion):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("user") / "user_cnn.onnx"
    path.write_bytes(onnx_bytes(UserCNN()))
    bits = {SHARED: (4, 4), FLOAT_LAYER: (FLOAT_BITS, FLOAT_BITS), "_head_Gemm": (8, 8)}
    doc, module = _document(path, lambda names: {n: bits.get(n, (3, 8)) for n in names})
    content = export_policy(doc, "onnx", model=module, calib_x=fashion.calib.x[:256]).content
    return path, doc, onnx.load_from_string(content)


def test_the_export_is_the_users_graph_with_qdq(user_cnn):
    path, doc, proto = user_cnn
    original = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    nodes = {n.name: n for n in proto.graph.node}
    imported = load_onnx_model(path)
    folded = {imported.onnx_names[bn] for bn in batchnorm_folds(fold_batchnorm(imported.module)).values()}
    assert folded  # the user's CNN has BatchNorms after convs: the simulation folded them
    for node in original.graph.node:  # every original node, same op, same name; folded BatchNorms gone
        if node.name in folded:
            assert node.op_type == "BatchNormalization" and node.name not in nodes
            continue
        assert node.name in nodes and nodes[node.name].op_type == node.op_type, node.name
    added = [n for n in proto.graph.node if n.name not in {o.name for o in original.graph.node}]
    assert {n.op_type for n in added} <= {"QuantizeLinear", "DequantizeLinear", "Clip"}
    assert json.loads(dict((p.key, p.value) for p in proto.metadata_props)["hwsearch.policy"])[SHARED]["weight_bits"] == 4
    inits = {i.name: i for i in proto.graph.initializer}
    producers = {out: n for n in proto.graph.node for out in n.output}
    for layer in doc["layers"]:
        onnx_name = load_onnx_model(path).onnx_names[layer["name"]]
        weight = nodes[onnx_name].input[1]
        if layer["weight_bits"] == FLOAT_BITS:
            assert inits[weight].data_type == TensorProto.FLOAT  # left float, read directly
            assert weight not in producers
            continue
        dq = producers[weight]  # the weight keeps its name, now the output of a DequantizeLinear
        assert dq.op_type == "DequantizeLinear" and weight not in inits
        q = inits[dq.input[0]]
        assert q.data_type == (TensorProto.INT4 if layer["weight_bits"] <= 4 else TensorProto.INT8)
        qmax = 2 ** (layer["weight_bits"] - 1) - 1
        assert np.abs(numpy_helper.to_array(q).astype(np.int64)).max() <= qmax
    # the data input of every quantized node is a DequantizeLinear of a QuantizeLinear
    for node in proto.graph.node:
        if node.op_type in ("Conv", "Gemm"):
            dq = producers.get(node.input[0])
            quantized = node.name != "/grouped/Conv"
            assert (dq is not None and dq.op_type == "DequantizeLinear") == quantized, node.name
            if quantized:
                assert producers[dq.input[0]].op_type == "QuantizeLinear"


def test_a_shared_layer_is_quantized_once_for_both_nodes(user_cnn):
    path, doc, proto = user_cnn
    readers = [n for n in proto.graph.node if "shared.0.weight" in n.input]
    assert [n.name for n in readers] == ["/shared/shared.0/Conv", "/shared/shared.0_1/Conv"]
    weight_dqs = [n for n in proto.graph.node if n.op_type == "DequantizeLinear" and "shared.0.weight" in n.output]
    assert len(weight_dqs) == 1
    quantizers = [n for n in proto.graph.node if n.op_type == "QuantizeLinear" and n.name.startswith("/shared/shared.0")]
    assert len(quantizers) == 2  # one per call, same scale
    assert len({n.input[1] for n in quantizers}) == 2


def test_onnxruntime_runs_it_like_the_simulation(user_cnn, fashion):
    path, doc, proto = user_cnn
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])  # default options
    x = fashion.test.x[:256]
    logits = session.run(None, {"input": x.numpy()})[0]
    cal = calibrate(doc, load_onnx_model(path).module, fashion.calib.x[:256])
    with torch.inference_mode():
        simulated = cal.qmodel(x).numpy()
    assert (logits.argmax(1) == simulated.argmax(1)).mean() >= 0.97


def test_encodings_name_the_users_tensors(user_cnn, fashion):
    path, doc, proto = user_cnn
    module = load_onnx_model(path).module
    enc = json.loads(export_policy(doc, "encodings", model=module, calib_x=fashion.calib.x[:256]).content)
    assert "shared.0.weight" in enc["param_encodings"] and "grouped.weight" not in enc["param_encodings"]
    original_tensors = {t for n in onnx.load(str(path)).graph.node for t in (*n.input, *n.output)}
    assert set(enc["activation_encodings"]) <= original_tensors
    assert {"/depthwise/Conv_output_0", "/Add_output_0", "/Flatten_output_0"} <= set(enc["activation_encodings"])


def _trained_cnn(train) -> nn.Module:
    """A small CNN with conv biases, trained briefly on Fashion-MNIST (seeded)."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32 * 49, 10),
    )
    optimizer = torch.optim.Adam(model.parameters(), 3e-3)
    for step in range(250):
        i = step * 128 % (len(train.x) - 128)
        loss = nn.functional.cross_entropy(model(train.x[i : i + 128]), train.y[i : i + 128])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def test_trained_cnn_w4a4_accuracy_within_half_a_point(tmp_path, fashion):
    path = tmp_path / "cnn.onnx"
    path.write_bytes(onnx_bytes(_trained_cnn(fashion.train)))
    doc, module = _document(path, lambda names: {n: (4, 4) for n in names})
    content = export_policy(doc, "onnx").content  # model and calibration split from the document
    proto = onnx.load_from_string(content)
    assert [n.name for n in onnx.load(str(path)).graph.node] == [
        n.name for n in proto.graph.node if not n.name.endswith(("_QuantizeLinear", "_DequantizeLinear", "_Clip"))
    ]
    x, y = fashion.test.x[:3000], fashion.test.y[:3000].numpy()
    session = ort.InferenceSession(content, providers=["CPUExecutionProvider"])  # default options
    exported = session.run(None, {"input": x.numpy()})[0].argmax(1)
    cal = calibrate(doc, module)
    with torch.inference_mode():
        simulated = cal.qmodel(x).argmax(1).numpy()
    exported_acc, simulated_acc, agree = (exported == y).mean(), (simulated == y).mean(), (exported == simulated).mean()
    print(f"W4A4: simulated {simulated_acc:.4f} onnxruntime {exported_acc:.4f} agreement {agree:.4f}")
    assert simulated_acc > 0.7
    assert abs(exported_acc - simulated_acc) <= 0.005, (exported_acc, simulated_acc, agree)
    assert agree >= 0.98, agree  # 99.3 % measured; see docs/exports.md for the cause of the rest


def test_a_fine_tuned_policy_exports_the_users_graph_with_its_fine_tuned_values(user_cnn, fashion):
    from hwsearch.export.calibrated import build_float_model
    from hwsearch.finetuned_weights import weights_bytes, weights_record

    path, doc, _ = user_cnn
    torch.manual_seed(1)
    # fine-tuning trains the folded model (BatchNorm inside the convs): its state is what is kept
    tuned = fold_batchnorm(load_onnx_model(path).module)
    with torch.no_grad():  # stands in for a fine-tune: every weight and bias moves
        for name, tensor in tuned.state_dict().items():
            if tensor.is_floating_point() and ("Conv" in name or "Gemm" in name):
                tensor.mul_(1.0 + 0.2 * torch.rand_like(tensor))
    data = weights_bytes(tuned.state_dict())
    doc = {**doc, "finetune": {"accuracy_before": 0.5, "accuracy_after": 0.5, "steps": 1, "weights": weights_record(data)}}
    calib = fashion.calib.x[:256]
    proto = onnx.load_from_string(export_policy(doc, "onnx", finetuned_weights=data, calib_x=calib).content)
    folded = set(batchnorm_folds(tuned).values())
    onnx_names = load_onnx_model(path).onnx_names
    kept = {n.name for n in onnx.load(str(path)).graph.node} - {onnx_names[m] for m in folded}
    assert folded and kept <= {n.name for n in proto.graph.node}  # the user's graph, its folded BatchNorms gone
    assert not {onnx_names[m] for m in folded} & {n.name for n in proto.graph.node}
    values = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    state = tuned.state_dict()
    float_layer = next(n for n in proto.graph.node if n.name == onnx_names[next(iter(batchnorm_folds(tuned)))])
    if float_layer.input[1] in values:  # a conv left in float carries the tuned folded weight itself
        np.testing.assert_array_equal(values[float_layer.input[1]], state[f"{next(iter(batchnorm_folds(tuned)))}.weight"].numpy())
    simulated = calibrate(doc, build_float_model(doc, data), calib).qmodel
    x = fashion.test.x[:500]
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    exported = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0].argmax(1)
    with torch.no_grad():
        assert (exported == simulated(x).argmax(1).numpy()).mean() == 1.0
