"""The JSON Schema of the policy file (``hwsearch.policy/v1``) and the check every export runs.

The schema ships as package data (``hwsearch/schemas/policy.schema.json``) so users'
tools can validate policy files without hwsearch. ``validate_policy_document`` adds the
checks a JSON Schema cannot express (unique layer names, a parseable ``created``).
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from importlib import resources
from typing import Any

import jsonschema

SCHEMA_ID = "hwsearch.policy/v1"


@lru_cache(maxsize=1)
def policy_schema() -> dict[str, Any]:
    """The policy file's JSON Schema (draft 2020-12), loaded from the package."""
    text = resources.files("hwsearch").joinpath("schemas/policy.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


@lru_cache(maxsize=1)
def _validator() -> jsonschema.Draft202012Validator:
    schema = policy_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def _path(parts: Any) -> str:
    """JSON path of an error, e.g. ``layers[3].weight_bits``."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "document"


def validate_policy_document(doc: Any) -> None:
    """Raise a ValueError naming the first bad field if ``doc`` is not a valid v1 policy file."""
    if not isinstance(doc, dict):
        raise ValueError(f"document: expected a JSON object, got {type(doc).__name__}")
    errors = sorted(_validator().iter_errors(doc), key=lambda e: (list(e.absolute_path), e.message))
    if errors:
        best = jsonschema.exceptions.best_match(errors)
        if best.validator == "required" and isinstance(best.instance, dict):  # name the missing field itself
            missing = next(k for k in best.validator_value if k not in best.instance)
            raise ValueError(f"{_path([*best.absolute_path, missing])}: missing (required)")
        raise ValueError(f"{_path(best.absolute_path)}: {best.message}")
    seen: set[str] = set()
    for i, layer in enumerate(doc["layers"]):
        if layer["name"] in seen:
            raise ValueError(f"layers[{i}].name: layer {layer['name']!r} appears twice")
        seen.add(layer["name"])
    try:
        datetime.fromisoformat(doc["created"].replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"created: {doc['created']!r} is not an RFC 3339 date-time") from None
