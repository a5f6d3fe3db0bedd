"""The built-in benchmark report: accuracy of each model, float and uniform bits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hwsearch.evaluate import accuracy
from hwsearch.core.policy import Policy
from hwsearch.quant import QuantizedModel
from hwsearch.zoo import build_model, get_entry, model_dataset

UNIFORM_BITS = (8, 6, 4, 3, 2)


@dataclass(frozen=True)
class ModelReport:
    model: str
    split: str
    samples: int
    float_accuracy: float
    uniform_accuracy: dict[int, float]  # bits -> accuracy (weights and activations)


def bench_model(name: str, split: str = "test", bits: tuple[int, ...] = UNIFORM_BITS) -> ModelReport:
    """Accuracy of a trained built-in model in float and at each uniform bit width."""
    entry = get_entry(name)
    if entry.dataset is None:
        raise ValueError(f"model {name!r} is architecture-only (no data set): nothing to measure")
    model = build_model(name)
    data = model_dataset(name)
    assert data is not None
    part = data.split(split)
    qmodel = QuantizedModel(model, data.calib.x)
    uniform = {}
    for b in bits:
        qmodel.set_policy(Policy.uniform(qmodel.layer_names, b))
        uniform[b] = accuracy(qmodel, part)
    return ModelReport(name, split, len(part), accuracy(model, part), uniform)


def bench_models(
    names: list[str], split: str = "test", on_model: Callable[[str], None] | None = None
) -> list[ModelReport]:
    """``bench_model`` for each name (``on_model`` is told before each one starts)."""
    reports = []
    for name in names:
        if on_model is not None:
            on_model(name)
        reports.append(bench_model(name, split))
    return reports
