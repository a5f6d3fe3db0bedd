"""``format=policy``: the policy file itself, validated against its JSON Schema."""

from __future__ import annotations

import json
import math

from hwsearch.export.base import ExportError
from hwsearch.export.schema import validate_policy_document


def _strict(value: object) -> object:
    """NaN/inf (no figure) -> null, so the output is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    return value


def export_policy_json(doc: dict) -> bytes:
    """The document as UTF-8 JSON (2-space indent, keys in the document's order)."""
    doc = _strict(doc)
    try:
        validate_policy_document(doc)
    except ValueError as exc:
        raise ExportError(f"invalid policy document: {exc}") from None
    return (json.dumps(doc, indent=2, allow_nan=False) + "\n").encode("utf-8")
