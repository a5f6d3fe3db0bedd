"""The policy file (schema ``hwsearch.policy/v1``) on disk: write it, read it back.

``SearchResult.policy_document`` builds the document; this module writes it beside its
fine-tuned weights and reads it back through the one validator of the format, the JSON
Schema in ``hwsearch.export.schema``. Every error names the field at fault.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hwsearch.core.policy import Policy
from hwsearch.export.schema import SCHEMA_ID as SCHEMA
from hwsearch.export.schema import validate_policy_document as _validate_schema
from hwsearch.finetuned_weights import sidecar_path, weights_record

__all__ = ["SCHEMA", "PolicyFileError", "read_policy_file", "validate_policy_document", "write_policy_file"]


class PolicyFileError(ValueError):
    """A policy file that does not follow the schema; the message names the field."""


def validate_policy_document(doc: Any) -> Policy:
    """Check ``doc`` against ``hwsearch.policy/v1``; return its ``Policy``."""
    try:
        _validate_schema(doc)
        return Policy({layer["name"]: (layer["weight_bits"], layer["activation_bits"]) for layer in doc["layers"]})
    except ValueError as exc:
        raise PolicyFileError(str(exc)) from None


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
