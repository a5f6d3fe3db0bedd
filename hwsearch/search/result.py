"""``SearchResult``: what a search returns, self-describing enough to write its policy file.

Besides the best policy, the Pareto front and the history, it carries the layers it
searched (name, op, calls, weights, MACs) and, for every policy it stores, the per-layer
latency and energy, so a caller writes a ``hwsearch.policy/v1`` document for any of them
with ``policy_document`` without tracing or costing the model again.
"""

from __future__ import annotations

import platform
from datetime import UTC, datetime
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field

import hwsearch
from hwsearch.core.graph import LayerSpec
from hwsearch.core.records import EvaluatedPolicy, FinetuneResult, finite_or_none
from hwsearch.core.spec import SearchSpec
from hwsearch.finetuned_weights import weights_record

SCHEMA = "hwsearch.policy/v1"


class LayerInfo(BaseModel):
    """One quantizable layer (module) as the policy file lists it."""

    model_config = ConfigDict(frozen=True)

    name: str
    op: str
    calls: int
    weight_count: int
    macs: int


def layer_infos(specs: list[LayerSpec]) -> list[LayerInfo]:
    """Per layer name, in order: op, calls, weights, MACs summed over the calls."""
    rows: dict[str, dict[str, Any]] = {}
    for s in specs:
        row = rows.setdefault(
            s.name,
            {"name": s.name, "op": "depthwise_conv2d" if s.is_depthwise else s.op, "calls": 0, "weight_count": s.weight_count, "macs": 0},
        )
        row["calls"] += 1
        row["macs"] += s.macs
    return [LayerInfo(**row) for row in rows.values()]


class UnquantizedWeights(BaseModel):
    """Weights the search neither quantizes nor costs (``hwsearch.core.graph.float_weights``)."""

    module: str = Field(description="Where the weights live (a BatchNorm, an LSTM, or a constant of an Add/Mul).")
    kind: str = Field(description="The module's type, or 'constant'.")
    values: int = Field(description="Numbers held.")
    share: float = Field(description="Share of all the model's weights (0..1).")


class SearchResult(BaseModel):
    """One search's answer. Figures a target lacks are None; ``finetuned_weights`` are
    safetensors bytes that go beside the policy file or into the store, never into JSON."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    spec: SearchSpec
    best: EvaluatedPolicy
    pareto: list[EvaluatedPolicy]
    history: list[EvaluatedPolicy]
    float_accuracy: float
    baseline_int8: EvaluatedPolicy
    evaluations: int
    wall_time_s: float
    cancelled: bool = False
    finetune: FinetuneResult | None = None
    budget: float | None = None  # the budget in the objective's unit
    unit: str = ""
    eval_seconds: float = 0.0  # time spent measuring accuracy (this process)
    robustness: dict[str, Any] | None = None  # attack settings, float robust accuracy, cost (spec.robust)
    confirmation: dict[str, Any] | None = None  # how the best was confirmed (hwsearch.search.confirm), if it was
    layers: list[LayerInfo] = Field(default_factory=list)
    uniform: list[EvaluatedPolicy] = Field(default_factory=list)  # reference policies asked of run_search
    unquantized: list[UnquantizedWeights] = Field(default_factory=list)  # weights that stay float, uncosted
    # the widths the search could choose from, per kind (32 = float), after the target's formats
    weight_bits: list[int] = Field(default_factory=list)
    activation_bits: list[int] = Field(default_factory=list)
    device: str = "cpu"  # where the search measured its policies (spec.device resolved on that machine)
    finetuned_weights: bytes | None = Field(None, exclude=True)

    def to_dict(self) -> dict[str, Any]:
        """The result as strict JSON (without the fine-tuned weights)."""
        return {
            "spec": self.spec.model_dump(mode="json"),
            "best": self.best.to_dict(),
            "pareto": [p.to_dict() for p in self.pareto],
            "history": [h.to_dict() for h in self.history],
            "float_accuracy": self.float_accuracy,
            "baseline_int8": self.baseline_int8.figures(),
            "evaluations": self.evaluations,
            "wall_time_s": self.wall_time_s,
            "cancelled": self.cancelled,
            "finetune": self.finetune.to_dict() if self.finetune else None,
            "budget": self.budget,
            "unit": self.unit,
            "eval_seconds": self.eval_seconds,
            "robustness": self.robustness,
            "confirmation": self.confirmation,
            "weight_bits": self.weight_bits,
            "activation_bits": self.activation_bits,
        }

    def uniform_figures(self) -> list[dict[str, Any]]:
        """The uniform reference policies as the job page charts them."""
        return [{"bits": next(iter(u.policy.values())).weight_bits, **u.figures()} for u in self.uniform]

    def policy_document(self, point: EvaluatedPolicy | None = None) -> dict[str, Any]:
        """The ``hwsearch.policy/v1`` document of ``point`` (default: the best).

        The fine-tune and its weights belong to the best policy only.
        """
        point = point or self.best
        is_best = point is self.best
        if point.layers is None:
            raise ValueError("policy_document: this policy carries no per-layer costs (only the best and the Pareto front do)")
        policy = point.policy
        layers = []
        for info, cost in zip(self.layers, point.layers):
            bits = policy[info.name]
            layers.append(
                {
                    "name": info.name,
                    "op": info.op,
                    "weight_bits": bits.weight_bits,
                    "activation_bits": bits.activation_bits,
                    "latency_ms": cost.latency_ms,
                    "energy_mj": cost.energy_mj,
                    "calls": info.calls,
                    "weight_count": info.weight_count,
                    "macs": info.macs,
                }
            )
        spec = self.spec
        size_mb = sum(info.weight_count * policy[info.name].weight_bits / 8 / 1e6 for info in self.layers)
        doc: dict[str, Any] = {
            "schema": SCHEMA,
            "model": spec.model,
            "target": spec.target,
            "objective": spec.objective,
            "accuracy": point.accuracy,
            "float_accuracy": self.float_accuracy,
            "layers": layers,
            "totals": {"latency_ms": point.latency_ms, "energy_mj": point.energy_mj, "size_mb": size_mb},
            "budget": {**spec.budget.model_dump(exclude_none=True), "value": finite_or_none(self.budget), "unit": self.unit},
            "baseline_int8": self.baseline_int8.figures(),
            "search": {
                "evaluations": self.evaluations,
                "episodes": len(self.history),
                "best_episode": point.episode,
                "wall_time_s": self.wall_time_s,
                "cancelled": self.cancelled,
                # accuracy on the search's subset and the confirmation images together (None: not confirmed)
                "confirmed_accuracy": point.confirmed_accuracy,
                "confirm_samples": (self.confirmation or {}).get("samples"),
                "weight_bits": self.weight_bits,  # the widths it chose from (32 = float)
                "activation_bits": self.activation_bits,
                "device": self.device,
            },
            "spec": spec.model_dump(mode="json"),
            "unquantized": [u.model_dump() for u in self.unquantized],
            "versions": {"hwsearch": hwsearch.__version__, "torch": torch.__version__, "python": platform.python_version()},
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        if is_best and self.finetune is not None:
            doc["finetune"] = self.finetune.to_dict()
            if self.finetuned_weights is not None:  # where they are stored is the writer's business
                doc["finetune"]["weights"] = weights_record(self.finetuned_weights)
        if self.robustness is not None and point.robust_accuracy is not None:
            doc["robustness"] = {
                **self.robustness,
                "accuracy": point.robust_accuracy,
                "clean_accuracy": point.robust_clean_accuracy,
            }
        return doc
