"""Tracing: shapes and MACs checked against hand-computed values."""

from __future__ import annotations

import torch
from torch import nn

from hwsearch.core.graph import layer_names, trace


def test_conv_shapes_and_macs():
    model = nn.Sequential(nn.Conv2d(3, 8, kernel_size=3, stride=2, padding=1))
    (spec,) = trace(model, torch.zeros(1, 3, 32, 32))
    assert spec.op == "conv2d"
    assert (spec.in_channels, spec.out_channels, spec.groups) == (3, 8, 1)
    assert spec.kernel_size == (3, 3) and spec.stride == (2, 2) and spec.padding == (1, 1)
    assert spec.in_hw == (32, 32) and spec.out_hw == (16, 16)
    # 16*16 output pixels x 8 output channels x 3 input channels x 3*3 kernel
    assert spec.macs == 16 * 16 * 8 * 3 * 9
    assert spec.params == 8 * 3 * 9 + 8


def test_depthwise_conv():
    model = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1, groups=16, bias=False))
    (spec,) = trace(model, torch.zeros(2, 16, 10, 10))
    assert spec.is_depthwise and spec.groups == 16
    # per sample (batch 2 divided out): 10*10*16 outputs, each 1 channel x 9 taps
    assert spec.macs == 10 * 10 * 16 * 9
    assert spec.params == 16 * 9
    assert spec.weight_count == 16 * 9


def test_grouped_conv_is_not_depthwise():
    model = nn.Sequential(nn.Conv2d(8, 16, 1, groups=4))
    (spec,) = trace(model, torch.zeros(1, 8, 5, 5))
    assert not spec.is_depthwise
    assert spec.macs == 5 * 5 * 16 * 2


def test_linear():
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 5))
    (spec,) = trace(model, torch.zeros(4, 3, 2, 2))
    assert spec.op == "linear" and spec.macs == 12 * 5 and spec.params == 12 * 5 + 5
    assert spec.in_hw == (1, 1)


class Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(4, 4, 3, padding=1)
        self.b = nn.Conv2d(4, 4, 1)
        self.pool = nn.MaxPool2d(2)
        self.head = nn.Linear(8 * 3 * 3, 2)

    def forward(self, x):
        y = self.b(torch.relu(self.a(x))) + x  # residual add
        y = torch.cat([y, x], dim=1)  # concatenation: 8 channels
        return self.head(self.pool(y).flatten(1))


def test_residual_block_order_and_macs():
    specs = trace(Residual(), torch.zeros(1, 4, 6, 6))
    assert [s.name for s in specs] == ["a", "b", "head"]
    assert specs[0].macs == 6 * 6 * 4 * 4 * 9
    assert specs[1].macs == 6 * 6 * 4 * 4
    assert specs[2].in_channels == 72 and specs[2].macs == 72 * 2


class Reused(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.shared = nn.Conv2d(4, 4, 3, padding=1)
        self.down = nn.Conv2d(4, 4, 3, stride=2, padding=1)

    def forward(self, x):
        return self.shared(self.down(self.shared(x)))


def test_reused_module_is_two_executions_one_decision():
    specs = trace(Reused(), torch.zeros(1, 4, 8, 8))
    assert [(s.name, s.call) for s in specs] == [("shared", 0), ("down", 0), ("shared", 1)]
    assert specs[0].in_hw == (8, 8) and specs[2].in_hw == (4, 4)
    assert specs[0].macs == 4 * specs[2].macs
    assert layer_names(specs) == ["shared", "down"]


def test_trace_restores_training_mode_and_needs_batch_dim():
    model = nn.Sequential(nn.Linear(3, 2)).train()
    trace(model, torch.zeros(1, 3))
    assert model.training
    try:
        trace(model, torch.zeros(3))
    except ValueError as exc:
        assert "batch" in str(exc)
    else:
        raise AssertionError("a 1-D input must be refused")


def test_imagenet_architectures_match_published_size():
    from hwsearch.zoo import build_model, example_input

    cases = {"mobilenet-v1": (28, 569e6, 4.2e6), "mobilenet-v2": (53, 301e6, 3.5e6), "resnet-50": (54, 4.09e9, 25.5e6)}
    for name, (layers, macs, params) in cases.items():
        specs = trace(build_model(name, trained=False), example_input(name))
        assert len(specs) == layers, name
        assert abs(sum(s.macs for s in specs) - macs) / macs < 0.01, name
        assert abs(sum(s.params for s in specs) - params) / params < 0.02, name


def test_layerspec_dict_round_trip():
    (spec,) = trace(nn.Sequential(nn.Conv2d(2, 4, 3)), torch.zeros(1, 2, 5, 5))
    from hwsearch.core.graph import LayerSpec

    assert LayerSpec.from_dict(spec.to_dict()) == spec
