"""Where a search's tensors live: ``auto`` (a GPU when there is one), ``cpu``, ``cuda`` or ``cuda:N``.

The model, the quantizer caches (computed from its weights and activations) and each batch
go to that device; data sets stay in host memory and travel batch by batch, so a split
larger than the GPU's memory still evaluates.
"""

from __future__ import annotations

import torch
from torch import nn

from hwsearch.core.spec import SpecError


def resolve_device(name: str) -> torch.device:
    """The torch device ``name`` means on this machine; a ``SpecError`` naming ``device`` if
    it asks for a GPU this machine does not have (a worker would fail on it)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise SpecError("device", f"{name!r} asked for, but CUDA is not available here (torch {torch.__version__}); use 'auto' or 'cpu'")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise SpecError("device", f"{name!r} asked for, but this machine has {count} CUDA device(s): cuda:0..cuda:{count - 1}")
    return device


def model_device(model: nn.Module) -> torch.device:
    """The device of ``model``'s parameters (CPU for a model without any)."""
    return next((p.device for p in model.parameters()), torch.device("cpu"))
