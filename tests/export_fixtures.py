"""Policy documents for the export tests, built from a Policy and a traced model.

The real policy file comes from a search (hwsearch.policy_file); these tests build the
same shape directly so the exports can be tested without running a search.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone

import torch

from hwsearch.core.graph import trace
from hwsearch.core.policy import FLOAT_BITS, Policy


def mixed_policy(names: list[str]) -> Policy:
    """A deterministic mix: 2..4-bit and 8-bit layers, first and last layer at 8 bits."""
    pattern = [(8, 8), (4, 4), (3, 8), (8, 4), (2, 8), (8, 3), (4, 8), (8, 8)]
    bits = {name: pattern[i % len(pattern)] for i, name in enumerate(names)}
    bits[names[0]] = (8, 8)
    bits[names[-1]] = (8, 8)
    return Policy(bits)


def make_document(
    model_name: str, model: torch.nn.Module, example: torch.Tensor, policy: Policy, accuracy: float = 0.9,
    target: str = "bitfusion", seed: int = 0,
) -> dict:
    """A hwsearch.policy/v1 document for ``policy`` with costs from ``target``."""
    from latency_tables import get_target

    cost_model = get_target(target)
    specs = trace(model, example)
    per_layer: dict[str, list[float]] = {}
    counts: dict[str, int] = {}
    for spec in specs:
        bits = policy[spec.name]
        w = 8 if bits.weight_bits == FLOAT_BITS else bits.weight_bits
        a = 8 if bits.activation_bits == FLOAT_BITS else bits.activation_bits
        cost = cost_model.cost(spec, w, a)
        acc = per_layer.setdefault(spec.name, [0.0, 0.0])
        acc[0] += cost.latency_ms
        acc[1] += cost.energy_mj
        counts.setdefault(spec.name, spec.weight_count)
    ops = {s.name: s.op for s in specs}
    layers = [
        {
            "name": name,
            "op": ops[name],
            "weight_bits": policy[name].weight_bits,
            "activation_bits": policy[name].activation_bits,
            "latency_ms": per_layer[name][0],
            "energy_mj": None if math.isnan(per_layer[name][1]) else per_layer[name][1],
        }
        for name in policy
    ]
    size = sum(counts[n] * policy[n].weight_bits / 8 / 1e6 for n in policy)
    totals = {
        "latency_ms": sum(layer["latency_ms"] for layer in layers),
        "energy_mj": sum(layer["energy_mj"] or 0.0 for layer in layers),
        "size_mb": size,
    }
    return {
        "schema": "hwsearch.policy/v1",
        "model": model_name,
        "target": target,
        "objective": "latency",
        "accuracy": accuracy,
        "layers": layers,
        "totals": totals,
        "baseline_int8": {"latency_ms": totals["latency_ms"] * 2, "energy_mj": 1.0, "size_mb": size * 2, "accuracy": 0.95},
        "spec": {
            "model": model_name, "target": target, "objective": "latency", "budget": {"relative": 0.5, "absolute": None},
            "agent": "random", "episodes": 10, "seed": seed, "min_bits": 2, "max_bits": 8, "weights": None, "data": None,
        },
        "versions": {"hwsearch": "0.1.0", "torch": torch.__version__},
        "created": datetime(2025, 1, 1, tzinfo=timezone.utc).isoformat(),
    }
