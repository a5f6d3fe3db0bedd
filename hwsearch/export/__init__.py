"""Deployable exports of a policy: ``policy`` JSON, ``onnx`` (QDQ), ``encodings`` (AIMET
0.6.1 layout), ``weights`` (safetensors) and ``csv``. See docs/exports.md.

``export_policy(doc, fmt)`` is what the service (``GET /policies/{id}/export``) and the
CLI (``hwsearch export``) call; ``doc`` is a policy document (``hwsearch.policy/v1``).
"""

from __future__ import annotations

import torch
from torch import nn

from hwsearch.export.base import FORMATS, Export, ExportError, artifact_name, check_format
from hwsearch.export.schema import policy_schema, validate_policy_document
from hwsearch.export.weights import RebuiltQuantizedModel, rebuild_quantized_model
from hwsearch.zoo import is_onnx

MODEL_FORMATS = ("onnx", "encodings", "weights")  # need the model and calibration data

__all__ = [
    "FORMATS",
    "MODEL_FORMATS",
    "Export",
    "ExportError",
    "RebuiltQuantizedModel",
    "export_policy",
    "policy_schema",
    "rebuild_quantized_model",
    "validate_policy_document",
]


def export_policy(
    doc: dict,
    fmt: str,
    model: nn.Module | None = None,
    calib_x: torch.Tensor | None = None,
    finetuned_weights: bytes | None = None,
) -> Export:
    """Export policy document ``doc`` in format ``fmt`` (one of ``FORMATS``).

    The document is validated against the policy schema first. ``onnx``, ``encodings`` and
    ``weights`` need the float model and calibration inputs: by default the document's
    model (zoo name, or ``module:factory`` with ``spec.weights``) and the calibration split
    of its data set, quantized exactly as the search's scorer (``hwsearch.search.scoring``) simulated it.
    A fine-tuned policy (``finetune.weights``) needs its ``finetuned_weights`` (bytes):
    exporting the original weights instead would silently lose what the fine-tune bought.
    Raises ``ExportError`` (a ValueError) with a message for the user.
    """
    media_type, _ = check_format(fmt)
    try:
        validate_policy_document(doc)
    except ValueError as exc:
        raise ExportError(f"invalid policy document: {exc}") from None
    filename = artifact_name(doc, fmt)
    if fmt == "policy":
        from hwsearch.export.policy_json import export_policy_json

        return Export(export_policy_json(doc), media_type, filename)
    if fmt == "csv":
        from hwsearch.export.csv_table import export_csv

        return Export(export_csv(doc), media_type, filename)

    from hwsearch.export.calibrated import build_float_model, calibrate, calibration_inputs, records_finetuned_weights

    if model is None and (finetuned_weights is not None or records_finetuned_weights(doc)):
        if finetuned_weights is None:
            raise ExportError("finetune.weights: this policy was fine-tuned; its weights file is needed to export it")
        model = build_float_model(doc, finetuned_weights)
    if calib_x is None:
        calib_x = calibration_inputs(doc)
    cal = calibrate(doc, model, calib_x)
    example = calib_x[:1]
    # A model searched from an ONNX file is exported as that file's graph with QDQ inserted (its
    # float values those of ``model``: fine-tuned ones when the policy was fine-tuned), and the
    # encodings name its tensors.
    user_onnx = doc["model"] if is_onnx(doc["model"]) else None
    if fmt == "onnx" and user_onnx:
        from hwsearch.export.onnx_user_qdq import export_user_onnx

        content = export_user_onnx(cal, user_onnx)
    elif fmt == "onnx":
        from hwsearch.export.onnx_qdq import export_onnx

        content = export_onnx(cal, example)
    elif fmt == "encodings":
        from hwsearch.export.encodings import export_encodings

        content = export_encodings(cal, example, user_onnx)
    else:
        from hwsearch.export.weights import export_weights

        content = export_weights(cal, doc)
    return Export(content, media_type, filename)

