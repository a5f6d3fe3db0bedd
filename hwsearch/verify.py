"""Predicted against measured: a policy's table latency beside its exported model's real speed.

A search trusts its table: a policy's predicted latency is the sum of its layers' entries.
``verify_policy`` checks that promise on this machine: it exports the policy as the ONNX
QDQ model a deployment would load, times it in onnxruntime (warm-up, then the median of
N runs and their spread), and does the same for uniform int8 and for the float model, so
the user sees whether the table ranks and sizes them as the runtime does. The timings
mean most for a table measured here (``hwsearch hardware measure``); for a simulated
target they show only what this CPU does with the same models.

The table's sum assumes every layer runs at the widths the policy gives it. onnxruntime
runs a QDQ layer as one integer kernel only where its output goes straight (or through a
ReLU/Clip it absorbs) into a QuantizeLinear; a conv feeding a residual Add or a global
pool runs in float on dequantized weights. ``runtime_predicted_ms`` prices those layers
at the table's fp32 entry instead (``integer_layers`` reads them off the exported graph;
docs/hardware.md compares the two predictions with measured times).
"""

from __future__ import annotations

import copy
import math
import statistics
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import onnx

from hwsearch.core.cost_model import CostModel, TableError
from hwsearch.core.policy import Policy
from hwsearch.export import export_policy
from hwsearch.export.calibrated import build_float_model, calibration_inputs, policy_of
from hwsearch.export.onnx_qdq import float_onnx
from hwsearch.search.problem import trace_model
from hwsearch.zoo import is_onnx
from latency_tables import get_target
from latency_tables.measured import time_samples

FLOAT_BITS = 32


@dataclass(frozen=True)
class Timing:
    """Wall times of one model in onnxruntime: median and the 10th/90th percentiles (ms)."""

    median_ms: float
    p10_ms: float
    p90_ms: float
    repeats: int
    warmup: int

    @classmethod
    def of(cls, samples: list[float], warmup: int) -> Timing:
        q = statistics.quantiles(samples, n=10) if len(samples) > 1 else [samples[0]] * 9
        return cls(statistics.median(samples), q[0], q[-1], len(samples), warmup)


@dataclass(frozen=True)
class VerifiedModel:
    """One exported model: what the table predicts and what the runtime measured."""

    name: str  # policy | uniform_int8 | float
    predicted_ms: float | None
    measured: Timing
    runtime_predicted_ms: float | None = None  # the layers the runtime leaves in float priced at fp32
    integer_layers: int | None = None  # layers onnxruntime runs as integer kernels

    @property
    def ratio(self) -> float | None:
        """measured / predicted (1.0: the table is exact)."""
        return self.measured.median_ms / self.predicted_ms if self.predicted_ms else None

    @property
    def runtime_ratio(self) -> float | None:
        """measured / runtime-aware prediction."""
        return self.measured.median_ms / self.runtime_predicted_ms if self.runtime_predicted_ms else None


@dataclass(frozen=True)
class Verification:
    target: str
    batch: int
    threads: int
    models: list[VerifiedModel]

    def model(self, name: str) -> VerifiedModel:
        return next(m for m in self.models if m.name == name)

    def to_dict(self) -> dict[str, Any]:
        """JSON form: the policy's ``predicted_ms``/``measured_ms`` first, then every model."""
        policy = self.model("policy")
        return {
            "predicted_ms": policy.predicted_ms,
            "measured_ms": policy.measured.median_ms,
            "ratio": policy.ratio,
            "runtime_predicted_ms": policy.runtime_predicted_ms,
            "runtime_ratio": policy.runtime_ratio,
            "target": self.target,
            "batch": self.batch,
            "threads": self.threads,
            "models": [
                {
                    "name": m.name, "predicted_ms": m.predicted_ms, "ratio": m.ratio,
                    "runtime_predicted_ms": m.runtime_predicted_ms, "runtime_ratio": m.runtime_ratio,
                    "integer_layers": m.integer_layers, **asdict(m.measured),
                }
                for m in self.models
            ],
        }


def uniform_document(doc: dict, bits: int) -> dict:
    """``doc`` with every layer at ``bits`` (weights and activations): a reference to export."""
    out = copy.deepcopy(doc)
    for layer in out["layers"]:
        layer["weight_bits"] = layer["activation_bits"] = bits
    return out


def predicted_ms(target: CostModel, specs: list, policy: Policy) -> float | None:
    """The table's latency of ``policy`` (None where the table has no entry for its widths)."""
    try:
        value = target.policy_cost(specs, policy).latency_ms
    except (TableError, KeyError, ValueError):
        return None
    return None if math.isnan(value) else value


class _ExportGraph:
    """A QDQ export's nodes indexed for the questions below: who reads a tensor, who made it,
    and which layer a Conv/Gemm/MatMul computes (by the weight tensor it reads)."""

    def __init__(self, content: bytes, weights: dict[str, str]) -> None:
        self.nodes = list(onnx.load_from_string(content).graph.node)
        self.readers: dict[str, list[onnx.NodeProto]] = {}
        for node in self.nodes:
            for tensor in node.input:
                self.readers.setdefault(tensor, []).append(node)
        self.producer = {out: node.op_type for node in self.nodes for out in node.output}
        self.layer_of_weight = {tensor: layer for layer, tensor in weights.items()}

    def layer(self, node: onnx.NodeProto) -> str | None:
        """The layer ``node`` computes, if it is one."""
        if node.op_type not in ("Conv", "Gemm", "MatMul") or len(node.input) < 2:
            return None
        return self.layer_of_weight.get(node.input[1])

    def integer_nodes(self) -> dict[str, onnx.NodeProto]:
        """Layer -> its node, for the layers ``integer_layers`` describes."""
        found = {}
        for node in self.nodes:
            layer = self.layer(node)
            if layer is None or not all(self.producer.get(t) == "DequantizeLinear" for t in node.input[:2]):
                continue  # not a layer, or a float input or float weights: no integer kernel
            after = self.readers.get(node.output[0], [])
            if len(after) == 1 and after[0].op_type in ("Relu", "Clip"):  # absorbed by the kernel
                after = self.readers.get(after[0].output[0], [])
            if len(after) == 1 and after[0].op_type == "QuantizeLinear":
                found[layer] = node
        return found


def integer_layers(content: bytes, weights: dict[str, str]) -> set[str]:
    """The layers of a QDQ export that onnxruntime runs as one integer kernel, read off the
    graph: the Conv/Gemm/MatMul taking the layer's weight tensor (``weights``: layer -> its
    name in the export) reads a dequantized input and weight, and feeds only a QuantizeLinear,
    directly or through one ReLU/Clip."""
    return set(_ExportGraph(content, weights).integer_nodes())


#: ops a requantized tensor passes through on its way to the next layer's input quantizer
REQUANT_PATH = {"QuantizeLinear", "DequantizeLinear", "Clip", "Relu", "MaxPool", "Flatten", "Reshape", "Identity", "Transpose"}


def requantizing_layers(content: bytes, weights: dict[str, str]) -> dict[str, list[str]]:
    """For each layer of ``integer_layers``: the layers whose input quantizer requantizes its
    output (reached through quantize/dequantize and the ops a quantizer commutes with). The
    layer keeps its integer kernel only while every one of them quantizes its input: give one
    a float input and nothing quantizes the output, so the runtime falls back to float."""
    graph = _ExportGraph(content, weights)
    found: dict[str, list[str]] = {}
    for layer, node in graph.integer_nodes().items():
        reached: list[str] = []
        frontier, seen = [node.output[0]], set()
        while frontier:
            for reader in graph.readers.get(frontier.pop(), []):
                consumer = graph.layer(reader)
                if consumer is not None:
                    if consumer not in reached:
                        reached.append(consumer)
                elif reader.op_type in REQUANT_PATH and id(reader) not in seen:
                    seen.add(id(reader))
                    frontier.extend(reader.output[:1])
        found[layer] = reached
    return found


def runtime_reference(policy: Policy, names: list[str], integer: set[str]) -> Policy:
    """``policy`` with the layers the runtime leaves in float on float weights (what it really
    runs). Their activation widths stay: a layer that still quantizes its input keeps the layer
    before it an integer kernel, and a table that prices that switch must see it."""
    return Policy({n: (policy[n].weight_bits if n in integer else FLOAT_BITS, policy[n].activation_bits) for n in names})


def weight_tensors(doc: dict, names: list[str]) -> dict[str, str]:
    """Layer -> the name its weight has in the export (``<layer>.weight`` for a built-in or
    Python model; the user's own initializer name for an ONNX model)."""
    if is_onnx(doc["model"]):
        from hwsearch.export.onnx_user_qdq import layer_tensors

        return {layer: weight for layer, (weight, _) in layer_tensors(doc["model"], names).items()}
    return {name: f"{name}.weight" for name in names}


def _input_name(content: bytes) -> str:
    graph = onnx.load_from_string(content).graph
    initializers = {init.name for init in graph.initializer}
    return next(i.name for i in graph.input if i.name not in initializers)


def verify_policy(
    doc: dict,
    finetuned_weights: bytes | None = None,
    target: CostModel | None = None,
    warmup: int = 10,
    repeats: int = 50,
    threads: int = 1,
) -> Verification:
    """Export and time the policy, uniform int8 and the float model; predict each from the table.

    ``target`` defaults to the document's (``spec.target``); pass one for a policy whose
    table is not on this machine by that name (a service upload). One thread by default,
    as ``hwsearch hardware measure`` times layers. Raises ``ExportError`` or ``ValueError``
    with a message for the user.
    """
    spec = doc.get("spec") or {}
    target = target or get_target(spec.get("target") or doc["target"])
    specs = trace_model(doc["model"], data=spec.get("data"))
    calib = calibration_inputs(doc)
    x = np.repeat(calib[:1].numpy().astype(np.float32), target.batch, axis=0)
    policy = policy_of(doc)
    names = [layer["name"] for layer in doc["layers"]]
    if is_onnx(doc["model"]):
        with open(doc["model"], "rb") as fh:
            float_content = fh.read()
    else:
        float_content = float_onnx(build_float_model(doc, finetuned_weights), calib[:1]).SerializeToString()
    exports = {
        "policy": (export_policy(doc, "onnx", finetuned_weights=finetuned_weights).content, policy),
        "uniform_int8": (
            export_policy(uniform_document(doc, 8), "onnx", finetuned_weights=finetuned_weights).content,
            Policy.uniform(names, 8),
        ),
        "float": (float_content, Policy.uniform(names, FLOAT_BITS)),
    }
    weights = weight_tensors(doc, names)
    models = []
    for name, (content, reference) in exports.items():
        samples = time_samples(content, {_input_name(content): x}, warmup, repeats, threads)
        predicted = predicted_ms(target, specs, reference)
        if name == "float":  # no Q/DQ: every layer is float, as the table's fp32 entries assume
            integer, runtime = set(), predicted
        else:
            integer = integer_layers(content, weights)
            runtime = predicted_ms(target, specs, runtime_reference(reference, names, integer))
        models.append(VerifiedModel(name, predicted, Timing.of(samples, warmup), runtime, len(integer)))
    return Verification(target.name, target.batch, threads, models)
