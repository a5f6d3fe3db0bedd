"""The check a user's ONNX model passes before it is stored: what the service answers an upload.

The model is parsed (never executed from the file), converted to torch
(``hwsearch.zoo.onnx_import``), run once beside onnxruntime's float output on a seeded
random input, and traced. The report lists the layers a search quantizes (by their ONNX
node names) and the weights it cannot quantize, with their share of the model's weights.
"""

from __future__ import annotations

import time

import torch
from pydantic import BaseModel, Field

from hwsearch.core.graph import float_weights, trace
from hwsearch.search.result import UnquantizedWeights
from hwsearch.zoo.onnx_import import OnnxImport, OnnxImportError, check_against_onnxruntime, load_onnx_model

#: The imported model may differ from onnxruntime's float output by at most this, relative
#: to the output's largest magnitude (float32 re-association; anything larger is a wrong conversion).
MAX_RELATIVE_DIFF = 1e-3
PICKLE_HINT = (
    "hwsearch never loads PyTorch files (.pt, .pth, .pt2, TorchScript): loading them unpickles, which can run "
    "code. Export the model with torch.onnx.export and upload the .onnx file"
)


class ModelCheckError(ValueError):
    """The upload is refused; ``unsupported`` lists (op, node) when ops are the reason."""

    def __init__(self, message: str, unsupported: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.unsupported = unsupported or []


class QuantizableLayer(BaseModel):
    name: str = Field(description="The ONNX node's name.")
    module: str = Field(description="The layer's name in policies and exports.")
    op: str = Field(description="conv2d, depthwise_conv2d or linear.")
    calls: int = Field(description="Executions per forward pass (a shared layer runs more than once).")
    macs: int = Field(description="Multiply-accumulates per sample, over all calls.")
    params: int = Field(description="Weights and biases.")


class ModelReport(BaseModel):
    """What the upload check found."""

    input_shape: list[int] = Field(description="One sample's input shape (batch 1).")
    output_shape: list[int]
    layers: list[QuantizableLayer]
    unquantized: list[UnquantizedWeights]
    quantized_share: float = Field(description="Share of the model's weights in quantizable layers (0..1).")
    max_abs_diff: float = Field(description="Largest difference from onnxruntime's float output.")
    relative_diff: float = Field(description="max_abs_diff over the output's largest magnitude.")
    seconds: float = Field(description="Time the check took.")


def looks_like_pytorch(data: bytes) -> bool:
    """torch.save, TorchScript and .pt2 files are zip archives or bare pickles."""
    return data[:4] == b"PK\x03\x04" or data[:1] == b"\x80"


def import_model(data: bytes, max_bytes: int | None = None) -> OnnxImport:
    """The ONNX model as torch; every refusal is a ``ModelCheckError``."""
    if looks_like_pytorch(data):
        raise ModelCheckError(f"file: this is not ONNX but a PyTorch file. {PICKLE_HINT}")
    try:
        return load_onnx_model(data, max_bytes=max_bytes)
    except OnnxImportError as exc:
        raise ModelCheckError(f"file: {exc}", exc.unsupported) from None


def check_model(data: bytes, max_bytes: int | None = None, seed: int = 0) -> ModelReport:
    """Import, compare with onnxruntime, trace; refuse what a search could not use."""
    start = time.perf_counter()
    imported = import_model(data, max_bytes)
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand((1, *imported.input_shape[1:]), generator=generator)
    agreement = check_against_onnxruntime(imported, data, x)
    if not agreement.relative_diff <= MAX_RELATIVE_DIFF:
        raise ModelCheckError(
            f"file: the converted model differs from onnxruntime's output by {agreement.relative_diff:.3g} "
            f"(relative; at most {MAX_RELATIVE_DIFF:g} is accepted): an op is not converted faithfully"
        )
    module = imported.module
    with torch.no_grad():
        output = module(x)
        specs = trace(module, x)
    if not specs:
        raise ModelCheckError("file: the model has no Conv or Gemm/MatMul layer to quantize")
    layers: dict[str, QuantizableLayer] = {}
    for s in specs:
        row = layers.get(s.name)
        op = "depthwise_conv2d" if s.is_depthwise else s.op
        if row is None:
            name = imported.onnx_names.get(s.name, s.name)
            layers[s.name] = QuantizableLayer(name=name, module=s.name, op=op, calls=1, macs=s.macs, params=s.params)
        else:
            layers[s.name] = row.model_copy(update={"calls": row.calls + 1, "macs": row.macs + s.macs})
    unquantized = [UnquantizedWeights(**vars(w)) for w in float_weights(module)]
    return ModelReport(
        input_shape=list(x.shape),
        output_shape=list(output.shape),
        layers=list(layers.values()),
        unquantized=unquantized,
        quantized_share=1.0 - sum(u.share for u in unquantized),
        max_abs_diff=agreement.max_abs_diff,
        relative_diff=agreement.relative_diff,
        seconds=time.perf_counter() - start,
    )
