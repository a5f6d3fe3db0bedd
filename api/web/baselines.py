"""Uniform 8/6/4-bit reference points for a job's Pareto chart.

A job's summary only carries the uniform 8-bit figures, but the chart is easier to read
with the 6- and 4-bit uniform policies marked too. They are computed here on demand, in
the server process, the same way the search scores a policy: cost from the target's
model (``policy_cost``), accuracy of the fake-quantized model on the job's validation
subset. Results are cached in memory per resolved spec (same model, data, target and
eval size give the same figures), so a page reload costs nothing.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any

UNIFORM_BITS = (8, 6, 4)
_CACHE_SIZE = 64
_cache: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
_locks: dict[str, threading.Lock] = {}
_guard = threading.Lock()


def _cache_key(spec: dict[str, Any]) -> str:
    relevant = {k: spec.get(k) for k in ("model", "target", "weights", "data", "eval_samples")}
    return json.dumps(relevant, sort_keys=True, default=str)


def compute_baselines(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Accuracy, latency, energy and size of uniform 8-, 6- and 4-bit policies for ``spec``.

    ``spec`` must be a resolved job spec (uploaded targets replaced by their table path).
    """
    import math

    import torch

    from hwsearch.data import load_dataset
    from hwsearch.evaluate import accuracy
    from hwsearch.core.policy import Policy
    from hwsearch.quant import QuantizedModel
    from hwsearch.search import SearchSpec, build_costing
    from hwsearch.zoo import build_model, model_dataset

    search_spec = SearchSpec(**spec)
    costing = build_costing(search_spec)
    model = build_model(search_spec.model, weights=search_spec.weights)
    dataset = load_dataset(search_spec.data) if search_spec.data else model_dataset(search_spec.model)
    split = dataset.val.head(search_spec.eval_samples) if search_spec.eval_samples else dataset.val
    torch.manual_seed(search_spec.seed)
    qmodel = QuantizedModel(model, dataset.calib.x)
    supported = costing.target.supported_bits
    out = []
    for bits in UNIFORM_BITS:
        policy = Policy.uniform(costing.names, bits)
        cost = costing.target.policy_cost(costing.specs, policy)
        with torch.no_grad():
            acc = accuracy(qmodel.set_policy(policy), split)
        energy = None if math.isnan(cost.energy_mj) else cost.energy_mj
        out.append(
            {
                "bits": bits,
                "accuracy": acc,
                "latency_ms": cost.latency_ms,
                "energy_mj": energy,
                "size_mb": float((costing.weight_counts * bits / 8 / 1e6).sum()),
                "supported": supported is None or bits in supported,
            }
        )
    return out


def cached_baselines(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """``compute_baselines`` once per distinct spec, even under concurrent requests."""
    key = _cache_key(spec)
    with _guard:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
        lock = _locks.setdefault(key, threading.Lock())
    with lock:
        with _guard:
            if key in _cache:
                return _cache[key]
        value = compute_baselines(spec)
        with _guard:
            _cache[key] = value
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
            _locks.pop(key, None)
    return value
