"""A key's uploads as a job's parts: ``"model": "upload:ID"`` and ``"target": "upload:ID"``.

At submit a job's table is parsed from the stored text in memory, never written to disk;
the worker writes it once under the data dir when it runs the job (a search names its
target by path, and a resumed job must find the same table). An uploaded model is already
a file under the data dir, named by its SHA-256. ``server_spec`` turns a user's spec into
the one a search runs (paths instead of references); stored documents keep the user's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from api.models import HardwareTable, UploadedModel
from api.settings import Settings
from latency_tables import CostModel, TableTarget, parse_table

UPLOAD_PREFIX = "upload:"
Row = TypeVar("Row", HardwareTable, UploadedModel)


def _owned(session: Session, table: type[Row], ref: Any, owner_id: int) -> Row | None:
    """The caller's upload that ``ref`` names, or None (not an upload reference, or not theirs)."""
    if not isinstance(ref, str) or not ref.startswith(UPLOAD_PREFIX):
        return None
    number = ref.removeprefix(UPLOAD_PREFIX)
    row = session.get(table, int(number)) if number.isdigit() else None
    return row if row is not None and row.owner_id == owner_id else None


def owned_table(session: Session, target: str, owner_id: int) -> HardwareTable | None:
    return _owned(session, HardwareTable, target, owner_id)


def owned_model(session: Session, model: str, owner_id: int) -> UploadedModel | None:
    return _owned(session, UploadedModel, model, owner_id)


def table_target(row: HardwareTable) -> CostModel:
    """The cost model of an uploaded table, parsed from its stored text."""
    return TableTarget([parse_table(row.content)])


def table_path(settings: Settings, row: HardwareTable) -> Path:
    """The table as a file under the data dir (written on first use)."""
    path = settings.data_dir / "tables" / f"{row.id}.csv"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(row.content)
    return path


def model_path(settings: Settings, row: UploadedModel) -> Path:
    return settings.model_root / f"{row.sha256}.onnx"


def server_spec(session: Session, settings: Settings, spec: dict[str, Any], owner_id: int) -> dict[str, Any]:
    """``spec`` with the owner's uploaded model and table replaced by their server paths."""
    out = dict(spec)
    model = owned_model(session, spec.get("model"), owner_id)
    if model is not None:
        out["model"] = str(model_path(settings, model))
    table = owned_table(session, spec.get("target"), owner_id)
    if table is not None:
        out["target"] = str(table_path(settings, table))
    return out


def server_document(session: Session, settings: Settings, doc: dict[str, Any], owner_id: int) -> dict[str, Any]:
    """A stored policy document whose model and data the exporters can load (server paths)."""
    spec = server_spec(session, settings, doc.get("spec") or {}, owner_id)
    return {**doc, "model": spec.get("model", doc.get("model")), "spec": spec}
