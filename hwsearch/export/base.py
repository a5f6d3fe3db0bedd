"""What every export returns, the error it raises, and the download names of each format."""

from __future__ import annotations

import re
from dataclasses import dataclass

# name -> (media type, file extension). The names are the REST ``format=`` values and
# the CLI's ``--format`` choices; keep them in step with DESIGN.md.
FORMATS: dict[str, tuple[str, str]] = {
    "policy": ("application/json", "json"),
    "onnx": ("application/octet-stream", "onnx"),
    "encodings": ("application/json", "encodings"),
    "weights": ("application/octet-stream", "safetensors"),
    "csv": ("text/csv", "csv"),
}


class ExportError(ValueError):
    """A policy cannot be exported in the asked format; the message says why."""


@dataclass(frozen=True)
class Export:
    """One downloadable artifact."""

    content: bytes
    media_type: str
    filename: str


def check_format(fmt: str) -> tuple[str, str]:
    """(media type, extension) of ``fmt``, or an ExportError listing the known formats."""
    try:
        return FORMATS[fmt]
    except (KeyError, TypeError):
        raise ExportError(f"unknown export format {fmt!r}; known formats: {', '.join(FORMATS)}") from None


def artifact_name(doc: dict, fmt: str) -> str:
    """``<model>-<target>.<ext>`` with anything outside [A-Za-z0-9._-] replaced (paths, module:factory)."""

    def clean(value: object) -> str:
        text = str(value).rsplit("/", 1)[-1]
        return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "policy"

    return f"{clean(doc.get('model', 'model'))}-{clean(doc.get('target', 'target'))}.{FORMATS[fmt][1]}"
