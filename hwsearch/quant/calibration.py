"""Collect each quantizable layer's input statistics on a calibration split.

One float forward pass over the calibration images; per layer we keep whether the
input is ever negative and a seeded random sample of its values, enough to choose a
clipping range for every activation bit width later without another pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from hwsearch.core.device import model_device
from hwsearch.core.graph import quantizable_modules

SAMPLES_PER_LAYER = 65536


@dataclass(frozen=True)
class InputStats:
    signed: bool
    samples: torch.Tensor  # 1-D sample of input values (max-abs value always included)


def collect_input_stats(
    model: nn.Module, calib_x: torch.Tensor, batch_size: int = 256, seed: int = 0
) -> dict[str, InputStats]:
    """Input statistics of every quantizable layer (all calls of a reused module pooled)."""
    names = {id(m): name for name, m in quantizable_modules(model).items()}
    chunks: dict[str, list[torch.Tensor]] = {name: [] for name in names.values()}

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        chunks[names[id(module)]].append(inputs[0].detach().reshape(-1).clone())

    handles = [m.register_forward_pre_hook(hook) for m in quantizable_modules(model).values()]
    was_training = model.training
    device = model_device(model)
    try:
        model.eval()
        with torch.inference_mode():
            for start in range(0, len(calib_x), batch_size):
                model(calib_x[start : start + batch_size].to(device))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)

    generator = torch.Generator().manual_seed(seed)
    stats = {}
    for name, parts in chunks.items():
        if not parts:
            raise ValueError(f"layer {name!r} never ran on the calibration data; is it used in forward()?")
        values = torch.cat(parts)
        peak = values[values.abs().argmax()].reshape(1)
        if values.numel() > SAMPLES_PER_LAYER:
            idx = torch.randint(values.numel(), (SAMPLES_PER_LAYER - 1,), generator=generator)
            values = torch.cat([values[idx], peak])
        stats[name] = InputStats(signed=bool((values < 0).any()), samples=values)
    return stats
