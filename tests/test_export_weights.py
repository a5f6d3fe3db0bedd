"""format=weights: integer weights + scales in safetensors, and the rebuilt PyTorch model."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load

from hwsearch.export import ExportError, export_policy, rebuild_quantized_model
from hwsearch.core.policy import FLOAT_BITS
from hwsearch.quant import QuantizedModel
from hwsearch.zoo import build_model, example_input, model_dataset
from tests.export_fixtures import make_document, mixed_policy


@pytest.fixture(scope="module")
def setup():
    name = "digits-mobilenet"
    model, data = build_model(name), model_dataset(name)
    qmodel = QuantizedModel(model, data.calib.x, seed=0)
    names = qmodel.layer_names
    policy = mixed_policy(names).replace(names[2], weight_bits=FLOAT_BITS).replace(names[3], activation_bits=FLOAT_BITS)
    doc = make_document(name, model, example_input(name), policy)
    content = export_policy(doc, "weights", model=model, calib_x=data.calib.x).content
    return model, data, qmodel.set_policy(policy).eval(), policy, doc, content


def test_file_holds_integers_in_the_policy_range_and_per_channel_scales(setup):
    model, data, qmodel, policy, doc, content = setup
    tensors = load(content)
    modules = dict(model.named_modules())
    for name, bits in policy.items():
        if bits.weight_bits == FLOAT_BITS:
            assert f"{name}.weight_int" not in tensors
        else:
            q = tensors[f"{name}.weight_int"]
            assert q.dtype == torch.int8 and q.shape == modules[name].weight.shape
            qmax = 2 ** (bits.weight_bits - 1) - 1
            assert int(q.abs().max()) <= qmax
            assert tensors[f"{name}.weight_scale"].shape == (q.shape[0],)
        assert (f"{name}.input_scale" in tensors) == (bits.activation_bits != FLOAT_BITS)


def test_rebuilt_model_outputs_equal_the_simulation(setup, tmp_path):
    model, data, qmodel, policy, doc, content = setup
    path = tmp_path / "w.safetensors"
    path.write_bytes(content)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    for source in (content, path):
        rebuilt = rebuild_quantized_model(model, policy, source)
        with torch.inference_mode():
            assert torch.equal(rebuilt(data.val.x), qmodel(data.val.x))
    # the float model is untouched and differs from the quantized one
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    with torch.inference_mode():
        assert not torch.equal(model(data.val.x), qmodel(data.val.x))
    # a policy document works as well as a Policy
    rebuilt = rebuild_quantized_model(model, doc, content)
    assert rebuilt.policy == policy


def test_mismatched_policy_or_file_is_an_error(setup):
    model, data, qmodel, policy, doc, content = setup
    first = next(iter(policy))
    with pytest.raises(ExportError, match=first):
        rebuild_quantized_model(model, policy.replace(first, weight_bits=5), content)
    with pytest.raises(ValueError, match="missing layers|not in the model"):
        rebuild_quantized_model(build_model("digits-cnn"), policy, content)
    from safetensors.torch import save

    with pytest.raises(ExportError, match="format"):
        rebuild_quantized_model(model, policy, save({"x": torch.zeros(1)}))


def test_metadata_records_bits(setup):
    model, data, qmodel, policy, doc, content = setup
    header_len = int.from_bytes(content[:8], "little")
    meta = json.loads(content[8 : 8 + header_len])["__metadata__"]
    assert meta["format"] == "hwsearch.weights/v1" and meta["model"] == "digits-mobilenet"
    layers = json.loads(meta["layers"])
    assert {n: (v["weight_bits"], v["activation_bits"]) for n, v in layers.items()} == {
        n: (b.weight_bits, b.activation_bits) for n, b in policy.items()
    }
