"""Trace a PyTorch model to the list of its quantizable layer executions.

Everything downstream (cost models, the environment, exports) works on ``LayerSpec``s,
so the model itself is only needed to measure accuracy.

Reused modules: a module called twice produces two ``LayerSpec``s (two executions, each
costed on the hardware) that share one weight tensor. They share the module's qualified
``name`` and differ in ``call`` (0, 1, ...). A policy assigns bits per *module* name, so
both executions run at the same bits; the cost of that decision is the sum of both.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

QUANTIZABLE_TYPES: tuple[type[nn.Module], ...] = (nn.Conv2d, nn.Linear)


@dataclass(frozen=True)
class LayerSpec:
    """Shape of one execution of a quantizable layer, per sample (batch 1).

    ``in_hw``/``out_hw`` are (height, width) of the feature maps; a ``linear`` layer
    has ``kernel_size`` (1, 1) and reports its rows (tokens) as ``out_hw`` = (1, rows).
    """

    name: str
    op: str  # "conv2d" or "linear"
    in_channels: int
    out_channels: int
    kernel_size: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    groups: int
    in_hw: tuple[int, int]
    out_hw: tuple[int, int]
    macs: int
    params: int
    call: int = 0

    @property
    def is_depthwise(self) -> bool:
        """True for a depthwise conv: one input channel per group."""
        return self.op == "conv2d" and self.groups > 1 and self.groups == self.in_channels

    @property
    def weight_count(self) -> int:
        """Number of weights (without bias): what weight bits apply to."""
        kh, kw = self.kernel_size
        return self.out_channels * (self.in_channels // self.groups) * kh * kw

    @property
    def input_count(self) -> int:
        """Number of input activation values per sample."""
        return self.in_channels * self.in_hw[0] * self.in_hw[1]

    @property
    def output_count(self) -> int:
        """Number of output values per sample."""
        return self.out_channels * self.out_hw[0] * self.out_hw[1]

    @property
    def shape_key(self) -> str:
        """A name-free key of the shape: layers with equal keys cost the same."""
        kh, kw = self.kernel_size
        sh, sw = self.stride
        return (
            f"{self.op}:ic{self.in_channels}:oc{self.out_channels}:k{kh}x{kw}:s{sh}x{sw}"
            f":g{self.groups}:in{self.in_hw[0]}x{self.in_hw[1]}:out{self.out_hw[0]}x{self.out_hw[1]}"
        )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> LayerSpec:
        fields = dict(data)
        for key in ("kernel_size", "stride", "padding", "in_hw", "out_hw"):
            fields[key] = tuple(fields[key])
        return cls(**fields)


def _pair(value: int | tuple[int, ...]) -> tuple[int, int]:
    if isinstance(value, int):
        return (value, value)
    return (int(value[0]), int(value[1]))


def _conv_spec(name: str, module: nn.Conv2d, x: torch.Tensor, y: torch.Tensor, call: int) -> LayerSpec:
    kh, kw = _pair(module.kernel_size)
    out_h, out_w = int(y.shape[-2]), int(y.shape[-1])
    in_per_group = module.in_channels // module.groups
    macs = out_h * out_w * module.out_channels * in_per_group * kh * kw
    padding = module.padding if not isinstance(module.padding, str) else (0, 0)
    if module.padding == "same":
        padding = ((kh - 1) // 2, (kw - 1) // 2)
    return LayerSpec(
        name=name,
        op="conv2d",
        in_channels=module.in_channels,
        out_channels=module.out_channels,
        kernel_size=(kh, kw),
        stride=_pair(module.stride),
        padding=_pair(padding),
        groups=module.groups,
        in_hw=(int(x.shape[-2]), int(x.shape[-1])),
        out_hw=(out_h, out_w),
        macs=macs,
        params=sum(p.numel() for p in module.parameters(recurse=False)),
        call=call,
    )


def _linear_spec(name: str, module: nn.Linear, x: torch.Tensor, batch: int, call: int) -> LayerSpec:
    rows = max(1, x.numel() // (module.in_features * batch))
    return LayerSpec(
        name=name,
        op="linear",
        in_channels=module.in_features,
        out_channels=module.out_features,
        kernel_size=(1, 1),
        stride=(1, 1),
        padding=(0, 0),
        groups=1,
        in_hw=(1, rows),
        out_hw=(1, rows),
        macs=rows * module.in_features * module.out_features,
        params=sum(p.numel() for p in module.parameters(recurse=False)),
        call=call,
    )


def is_quantizable(module: nn.Module) -> bool:
    """A Conv2d or Linear that runs as a module. Not the output projection of an
    ``nn.MultiheadAttention``: attention reads its weight directly and never calls it, so no
    width can be simulated for it (it stays float with the attention's other weights)."""
    return isinstance(module, QUANTIZABLE_TYPES) and not isinstance(module, nn.modules.linear.NonDynamicallyQuantizableLinear)


def quantizable_modules(model: nn.Module) -> dict[str, nn.Module]:
    """Qualified name -> module for each distinct quantizable Conv2d/Linear (first name wins)."""
    return {name: m for name, m in model.named_modules() if is_quantizable(m)}


def trace(model: nn.Module, example_input: torch.Tensor) -> list[LayerSpec]:
    """Run ``model`` once on ``example_input`` and list its quantizable layer executions.

    Figures are per sample: MACs and sizes are divided by the example's batch size.
    The model is put in eval mode for the trace and restored afterwards.
    """
    if example_input.dim() < 2:
        raise ValueError("example_input must have a batch dimension, e.g. shape (1, C, H, W)")
    batch = int(example_input.shape[0])
    names = {id(m): name for name, m in quantizable_modules(model).items()}
    calls: dict[str, int] = {}
    specs: list[LayerSpec] = []

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        name = names[id(module)]
        call = calls.get(name, 0)
        calls[name] = call + 1
        x = inputs[0]
        if isinstance(module, nn.Conv2d):
            specs.append(_conv_spec(name, module, x, output, call))
        else:
            specs.append(_linear_spec(name, module, x, batch, call))

    handles = [m.register_forward_hook(hook) for m in quantizable_modules(model).values()]
    was_training = model.training
    try:
        model.eval()
        with torch.inference_mode():
            model(example_input)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return specs


def layer_names(specs: list[LayerSpec]) -> list[str]:
    """Distinct layer (module) names in order of first execution: one decision each."""
    return list(dict.fromkeys(spec.name for spec in specs))


@dataclass(frozen=True)
class FloatWeights:
    """Weights a search neither quantizes nor costs: a module outside Conv2d/Linear (a
    BatchNorm, an LSTM, attention) or a constant, with its share of all the model's weights."""

    module: str
    kind: str
    values: int
    share: float


def float_weights(model: nn.Module) -> list[FloatWeights]:
    """Every holder of floating-point weights that is not a Conv2d/Linear, in module order."""
    quantized, rows = 0, []
    for name, child in model.named_modules():
        tensors = [t for t in (*child.parameters(recurse=False), *child.buffers(recurse=False)) if t.is_floating_point()]
        if not tensors:
            continue
        if is_quantizable(child):
            quantized += sum(t.numel() for t in tensors)
        elif name:
            rows.append((name, type(child).__name__, sum(t.numel() for t in tensors)))
        else:  # the root's own tensors (an imported graph's constants), one row each
            rows += [(n, "constant", t.numel()) for n, t in child.named_buffers(recurse=False) if t.is_floating_point()]
            rows += [(n, "parameter", t.numel()) for n, t in child.named_parameters(recurse=False)]
    total = quantized + sum(values for _, _, values in rows)
    return [FloatWeights(name, kind, values, values / total) for name, kind, values in rows]
