"""Uploaded hardware tables as job targets (``"target": "upload:ID"``).

At submit a job's table is parsed from the stored text in memory, never written to disk;
the worker writes it once under the data dir when it runs the job (a search names its
target by path, and a resumed job must find the same table).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from api.models import HardwareTable
from api.settings import Settings
from latency_tables import CostModel, TableTarget, parse_table

UPLOAD_PREFIX = "upload:"


def owned_table(session: Session, target: str, owner_id: int) -> HardwareTable | None:
    """The caller's uploaded table that ``target`` names, or None (not an upload, or not theirs)."""
    if not target.startswith(UPLOAD_PREFIX):
        return None
    try:
        table_id = int(target.removeprefix(UPLOAD_PREFIX))
    except ValueError:
        return None
    row = session.get(HardwareTable, table_id)
    return row if row is not None and row.owner_id == owner_id else None


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
