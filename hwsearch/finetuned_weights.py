"""Fine-tuned weights travel with their policy, so exports deploy what was measured.

A search's final fine-tune (plain or defensive) changes the float weights; the policy's
``finetune`` block reports accuracy before and after. Without the new weights an export
would quantize the original model and lose what the fine-tune bought (for a defensive
fine-tune: the robustness). The weights are kept as safetensors bytes (never a pickle):
beside a policy file as ``<stem>.finetuned.safetensors``, or in the service's store. The
document's ``finetune.weights`` records the file name (if any) and a SHA-256, checked
before the weights are used.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load, save
from torch import nn


class WeightsError(ValueError):
    """Fine-tuned weights that are missing, altered or do not fit the model."""


def weights_bytes(state: dict[str, torch.Tensor]) -> bytes:
    """A state dict as safetensors bytes."""
    return save({k: v.detach().contiguous() for k, v in state.items()})


def weights_record(data: bytes, file: str | None = None) -> dict[str, Any]:
    """The ``finetune.weights`` block: where the bytes are (``file``, next to the policy
    file; None in the service's store) and their SHA-256."""
    return {"file": file, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def sidecar_path(policy_path: str | Path) -> Path:
    """``run/policy.json`` -> ``run/policy.finetuned.safetensors``."""
    path = Path(policy_path)
    return path.with_name(f"{path.stem}.finetuned.safetensors")


def weights_block(doc: dict[str, Any]) -> dict[str, Any]:
    """The document's ``finetune.weights`` block ({} when the policy carries no weights)."""
    return (doc.get("finetune") or {}).get("weights") or {}


def check(data: bytes, doc: dict[str, Any]) -> bytes:
    """``data`` if it is what ``doc``'s ``finetune.weights`` recorded."""
    record = weights_block(doc)
    want = record.get("sha256")
    if want and hashlib.sha256(data).hexdigest() != want:
        raise WeightsError("finetune.weights: the fine-tuned weights do not match the SHA-256 the policy recorded")
    return data


def read_sidecar(policy_path: str | Path, doc: dict[str, Any]) -> bytes | None:
    """The fine-tuned weights a policy file refers to (None if it refers to none)."""
    record = weights_block(doc)
    if not record.get("file"):
        return None
    path = Path(policy_path).parent / Path(record["file"]).name  # only ever beside the policy file
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise WeightsError(f"finetune.weights.file: cannot read {path} ({exc.strerror}); keep it beside the policy file") from None
    return check(data, doc)


def load_into(model: nn.Module, data: bytes) -> nn.Module:
    """Load fine-tuned weights (safetensors bytes) into a folded copy of a fresh float model
    (fine-tuning trains the folded convs: BatchNorm is inside their weights and biases)."""
    from hwsearch.quant.folding import fold_batchnorm

    model = fold_batchnorm(model)
    try:
        model.load_state_dict(load(data))
    except (SafetensorError, RuntimeError, ValueError) as exc:
        raise WeightsError(f"finetune.weights: they do not fit the model: {str(exc).splitlines()[0]}") from None
    return model.eval()
