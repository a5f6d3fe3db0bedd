"""Simulated quantization: error vs bits, float bits exact, original untouched, caches."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from hwsearch.evaluate import accuracy
from hwsearch.core.policy import FLOAT_BITS, Policy
from hwsearch.quant.folding import fold_batchnorm
from hwsearch.quant import QuantizedModel
from hwsearch.quant.quantizers import (
    quantize_weight,
    quantize_weight_ste,
    search_activation_quant,
    search_weight_quant,
)


def test_weight_error_falls_as_bits_rise():
    w = torch.randn(16, 8, 3, 3, generator=torch.Generator().manual_seed(0))
    errors = [float((quantize_weight(w, search_weight_quant(w, b)) - w).pow(2).mean()) for b in range(2, 9)]
    assert all(hi > lo for hi, lo in zip(errors, errors[1:])), errors


def test_weight_levels_per_channel_fit_the_width():
    w = torch.randn(4, 50, generator=torch.Generator().manual_seed(1))
    for bits in (2, 3, 4, 8):
        wq = search_weight_quant(w, bits)
        q = quantize_weight(w, wq) / wq.scale.unsqueeze(1)
        assert torch.allclose(q, q.round(), atol=1e-4)
        assert q.abs().max() <= 2 ** (bits - 1) - 1 + 1e-4


def test_clip_search_beats_max_abs_on_heavy_tails():
    g = torch.Generator().manual_seed(2)
    w = torch.randn(8, 512, generator=g)
    w[:, 0] = 12.0  # one outlier per channel
    wq = search_weight_quant(w, 3)
    assert (wq.clip_ratio < 1).all()
    max_abs_scale = w.abs().amax(1) / 3
    plain = torch.clamp(torch.round(w / max_abs_scale[:, None]), -3, 3) * max_abs_scale[:, None]
    assert (quantize_weight(w, wq) - w).pow(2).mean() < (plain - w).pow(2).mean()


def test_activation_quant_unsigned_after_relu():
    samples = torch.rand(10000, generator=torch.Generator().manual_seed(3))
    aq = search_activation_quant(samples, 4, signed=False)
    assert aq.qrange == (0, 15)
    signed = search_activation_quant(samples - 0.5, 4, signed=True)
    assert signed.qrange == (-8, 7)


def test_ste_passes_gradient_through():
    w = torch.randn(4, 6, requires_grad=True)
    wq = search_weight_quant(w, 4)
    quantize_weight_ste(w, wq).sum().backward()
    assert w.grad is not None and w.grad.abs().sum() > 0


@pytest.fixture(scope="module")
def qmodel(digits_cnn, digits):
    return QuantizedModel(digits_cnn, digits.calib.x)


def test_float_bits_are_exactly_the_folded_model(qmodel, digits_cnn, digits):
    qmodel.set_policy(Policy.uniform(qmodel.layer_names, FLOAT_BITS))
    x = digits.val.x[:64]
    with torch.inference_mode():
        simulated = qmodel(x)
        assert torch.equal(simulated, fold_batchnorm(digits_cnn)(x))
        # folding only reorders float arithmetic: the original model within rounding
        torch.testing.assert_close(simulated, digits_cnn(x), rtol=1e-4, atol=1e-4)


def test_output_error_falls_as_bits_rise(qmodel, digits_cnn, digits):
    x = digits.val.x
    with torch.inference_mode():
        ref = digits_cnn(x)
        errors = []
        for bits in (2, 3, 4, 6, 8):
            qmodel.set_policy(Policy.uniform(qmodel.layer_names, bits))
            errors.append(float((qmodel(x) - ref).pow(2).mean()))
    assert all(hi > lo for hi, lo in zip(errors, errors[1:])), errors


def test_original_model_untouched(digits_cnn, digits):
    before = copy.deepcopy(digits_cnn.state_dict())
    q = QuantizedModel(digits_cnn, digits.calib.x)
    q.set_policy(Policy.uniform(q.layer_names, 2))
    q(digits.val.x[:8])
    after = digits_cnn.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not any(type(m).__name__ == "QuantLayer" for m in digits_cnn.modules())


def test_cached_weights_equal_fresh(qmodel):
    name = qmodel.layer_names[1]
    for bits in (2, 5, 8):
        wq, cached = qmodel.weight_quant(name, bits)
        assert qmodel.weight_quant(name, bits)[1] is cached  # computed once
        fresh = quantize_weight(qmodel.layers[name].layer.weight, search_weight_quant(qmodel.layers[name].layer.weight, bits))
        assert torch.equal(cached, fresh)


def test_mixed_policy_changes_only_named_layer(qmodel, digits):
    names = qmodel.layer_names
    policy = Policy.uniform(names, 8).replace(names[0], weight_bits=2)
    qmodel.set_policy(policy)
    assert qmodel.layers[names[0]].weight_quant.bits == 2
    assert qmodel.layers[names[1]].weight_quant.bits == 8
    assert qmodel.policy == policy


def test_policy_must_cover_layers(qmodel):
    with pytest.raises(ValueError, match="missing layers"):
        qmodel.set_policy(Policy.uniform(qmodel.layer_names[:-1], 8))


def test_reused_module_quantized_once():
    class Reused(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.shared = nn.Linear(4, 4)

        def forward(self, x):
            return self.shared(torch.relu(self.shared(x)))

    model = Reused()
    q = QuantizedModel(model, torch.randn(32, 4))
    assert q.layer_names == ["shared"]
    q.set_policy(Policy.uniform(["shared"], 4))
    x = torch.randn(3, 4)
    assert not torch.equal(q(x), model(x))


def test_uniform_8bit_keeps_accuracy(qmodel, digits_cnn, digits):
    qmodel.set_policy(Policy.uniform(qmodel.layer_names, 8))
    assert abs(accuracy(qmodel, digits.test) - accuracy(digits_cnn, digits.test)) <= 0.01


def test_quantized_model_starts_and_stays_in_eval_mode(digits_cnn, digits):
    q = QuantizedModel(digits_cnn, digits.calib.x)
    assert not q.training and not any(m.training for m in q.modules())
    accuracy(q, digits.val)
    assert not q.training


def test_a_bias_past_the_int32_grid_is_clipped_to_what_int32_holds():
    """A bias far larger than input scale x weight scale (tiny weights, degenerate calibration)
    used to round to 2**31 in float32 and overflow the export's int32 tensor."""
    import numpy as np

    from hwsearch.quant.quantizers import ActivationQuant, WeightQuant, bias_integers, quantize_bias

    wq = WeightQuant(bits=8, scale=torch.tensor([1e-6, 1e-6, 0.01]), clip_ratio=torch.ones(3))
    aq = ActivationQuant(bits=8, scale=1e-4, signed=False)
    bias = torch.tensor([1e6, -1e6, 0.5])
    q, step = bias_integers(bias, aq, wq)
    as_int = q.numpy().astype(np.int64)
    assert as_int.max() <= 2**31 - 1 and as_int.min() >= -(2**31)
    np.asarray(as_int, dtype=np.int32)  # what the export writes: no overflow
    assert as_int[0] > 2**31 - 256 and as_int[1] == -(2**31)  # clipped at the ends of the range
    assert torch.allclose(quantize_bias(bias, aq, wq)[2], bias[2], atol=float(step[2]) / 2)  # in range: rounded only
