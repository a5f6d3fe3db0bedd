"""The policy file (schema ``hwsearch.policy/v1``): a search's answer as plain JSON.

``policy_document(result, specs, cost_model)`` builds it: per layer (module name) the bits
and that layer's latency and energy (summed over a reused module's executions), totals,
accuracy, the uniform 8-bit baseline, the spec that produced it and the versions of the
software. ``read_policy_file`` validates a file and returns ``(doc, Policy)``; every
error names the field at fault. NaN figures (no energy table) are ``null``.
"""

from __future__ import annotations

import json
import math
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hwsearch.finetuned_weights import sidecar_path, weights_record
from hwsearch.core.graph import LayerSpec, layer_names
from hwsearch.core.policy import Policy

SCHEMA = "hwsearch.policy/v1"


class PolicyFileError(ValueError):
    """A policy file that does not follow the schema; the message names the field."""


def _num(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def size_mb(specs: list[LayerSpec], policy: Policy) -> float:
    """Weight storage: sum over distinct layers of weight_count x weight_bits / 8 / 1e6."""
    seen: dict[str, int] = {}
    for s in specs:
        seen.setdefault(s.name, s.weight_count)
    return sum(count * policy[name].weight_bits / 8 / 1e6 for name, count in seen.items())


def policy_document(result, specs: list[LayerSpec], cost_model) -> dict[str, Any]:
    """The ``hwsearch.policy/v1`` document of ``result.best`` (a ``SearchResult``)."""
    import torch

    import hwsearch

    policy = result.best.policy
    cost = cost_model.policy_cost(specs, policy)
    per_name: dict[str, dict[str, Any]] = {}
    for s, c in zip(specs, cost.layers):
        entry = per_name.setdefault(
            s.name,
            {
                "name": s.name,
                "op": "depthwise_conv2d" if s.is_depthwise else s.op,
                "weight_bits": policy[s.name].weight_bits,
                "activation_bits": policy[s.name].activation_bits,
                "latency_ms": 0.0,
                "energy_mj": 0.0,
                "calls": 0,
                "weight_count": s.weight_count,
                "macs": 0,
            },
        )
        entry["latency_ms"] += c.latency_ms
        entry["energy_mj"] += c.energy_mj
        entry["calls"] += 1
        entry["macs"] += s.macs
    layers = [per_name[n] for n in layer_names(specs)]
    for entry in layers:
        entry["latency_ms"], entry["energy_mj"] = _num(entry["latency_ms"]), _num(entry["energy_mj"])
    spec = result.spec
    doc = {
        "schema": SCHEMA,
        "model": spec.model,
        "target": spec.target,
        "objective": spec.objective,
        "accuracy": result.best.accuracy,
        "float_accuracy": result.float_accuracy,
        "layers": layers,
        "totals": {"latency_ms": _num(cost.latency_ms), "energy_mj": _num(cost.energy_mj), "size_mb": size_mb(specs, policy)},
        "budget": {**spec.budget.model_dump(exclude_none=True), "value": _num(result.budget), "unit": result.unit},
        "baseline_int8": result.baseline_int8.to_dict(),
        "search": {
            "evaluations": result.evaluations,
            "episodes": len(result.history),
            "best_episode": result.best.episode,
            "wall_time_s": result.wall_time_s,
            "cancelled": result.cancelled,
            # accuracy on the search's subset and the confirmation images together (None: not confirmed)
            "confirmed_accuracy": result.best.confirmed_accuracy,
            "confirm_samples": (result.confirmation or {}).get("samples"),
        },
        "spec": spec.model_dump(mode="json"),
        "versions": {"hwsearch": hwsearch.__version__, "torch": torch.__version__, "python": platform.python_version()},
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if result.finetune is not None:
        doc["finetune"] = result.finetune.to_dict()
        if result.finetuned_weights is not None:  # where they are stored is the writer's business
            doc["finetune"]["weights"] = weights_record(result.finetuned_weights)
    robustness = getattr(result, "robustness", None)
    if robustness is not None and result.best.robust_accuracy is not None:
        doc["robustness"] = {
            **robustness,
            "accuracy": result.best.robust_accuracy,
            "clean_accuracy": result.best.robust_clean_accuracy,
        }
    return doc


def write_policy_file(path: str | Path, doc: dict[str, Any], finetuned_weights: bytes | None = None) -> Path:
    """Validate ``doc`` and write it as indented JSON (strict: no NaN).

    ``finetuned_weights`` (a search's ``finetuned_weights``) go first, beside the policy
    (``sidecar_path``), and ``doc``'s ``finetune.weights.file`` names them, so a policy
    file never refers to weights that were not written.
    """
    validate_policy_document(doc)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if finetuned_weights is not None:
        sidecar = sidecar_path(path)
        sidecar.write_bytes(finetuned_weights)
        doc["finetune"]["weights"] = weights_record(finetuned_weights, sidecar.name)
    path.write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n")
    return path


def _need(d: dict, key: str, kinds: tuple[type, ...], where: str, nullable: bool = False) -> Any:
    if key not in d:
        raise PolicyFileError(f"{where}{key}: missing")
    value = d[key]
    if value is None and nullable:
        return value
    if isinstance(value, bool) or not isinstance(value, kinds):
        names = "/".join(k.__name__ for k in kinds)
        raise PolicyFileError(f"{where}{key}: expected {names}, got {type(value).__name__}")
    return value


def validate_policy_document(doc: Any) -> Policy:
    """Check ``doc`` against ``hwsearch.policy/v1``; return its ``Policy``."""
    if not isinstance(doc, dict):
        raise PolicyFileError("policy file: expected a JSON object")
    if doc.get("schema") != SCHEMA:
        raise PolicyFileError(f"schema: expected {SCHEMA!r}, got {doc.get('schema')!r}")
    _need(doc, "model", (str,), "")
    _need(doc, "target", (str,), "")
    _need(doc, "objective", (str, dict), "")
    acc = _need(doc, "accuracy", (int, float), "")
    if not 0 <= acc <= 1:
        raise PolicyFileError(f"accuracy: must be in 0..1, got {acc}")
    layers = _need(doc, "layers", (list,), "")
    if not layers:
        raise PolicyFileError("layers: empty")
    bits: dict[str, tuple[int, int]] = {}
    for i, layer in enumerate(layers):
        where = f"layers[{i}]."
        if not isinstance(layer, dict):
            raise PolicyFileError(f"layers[{i}]: expected an object")
        name = _need(layer, "name", (str,), where)
        if name in bits:
            raise PolicyFileError(f"{where}name: duplicate layer {name!r}")
        _need(layer, "op", (str,), where)
        w = _need(layer, "weight_bits", (int,), where)
        a = _need(layer, "activation_bits", (int,), where)
        _need(layer, "latency_ms", (int, float), where, nullable=True)
        _need(layer, "energy_mj", (int, float), where, nullable=True)
        bits[name] = (w, a)
    totals = _need(doc, "totals", (dict,), "")
    for key in ("latency_ms", "energy_mj", "size_mb"):
        _need(totals, key, (int, float), "totals.", nullable=key != "size_mb")
    base = _need(doc, "baseline_int8", (dict,), "")
    for key in ("latency_ms", "energy_mj", "size_mb", "accuracy"):
        _need(base, key, (int, float), "baseline_int8.", nullable=key == "energy_mj")
    try:
        return Policy(bits)
    except ValueError as exc:
        raise PolicyFileError(f"layers: {exc}") from None


def read_policy_file(path: str | Path) -> tuple[dict[str, Any], Policy]:
    """Read and validate a policy file: ``(document, Policy)``."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except OSError as exc:
        raise PolicyFileError(f"cannot read {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise PolicyFileError(f"{path}: not JSON ({exc})") from None
    return doc, validate_policy_document(doc)
