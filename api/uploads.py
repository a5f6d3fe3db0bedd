"""A key's uploads as a job's parts: ``"model"``, ``"data"`` and ``"target": "upload:ID"``.

At submit a job's table is parsed from the stored text in memory, never written to disk;
the worker writes it once under the data dir when it runs the job (a search names its
target by path, and a resumed job must find the same table). An uploaded model or data
set is a file under the data dir, named by its SHA-256: ``store_upload`` streams it there
under a size limit, runs its check, and keeps it (and its bytes in the store, for workers
with another data dir: ``api.upload_blobs``) only if the check passes. ``server_spec`` turns a user's spec into
the one a search runs (paths instead of references); stored documents keep the user's.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from fastapi import HTTPException, UploadFile
from sqlalchemy.orm import Session

from api import table_cache, upload_blobs
from api.deps import MAX_ID
from api.errors import param_error
from api.models import HardwareTable, Job, UploadedDataset, UploadedFile, UploadedModel
from api.settings import Settings
from hwsearch.search import NUL_MESSAGE
from latency_tables import CostModel, TableError, TableTarget

UPLOAD_PREFIX = "upload:"
CHUNK = 1 << 20
Row = TypeVar("Row", HardwareTable, UploadedModel, UploadedDataset)
FileRow = TypeVar("FileRow", UploadedModel, UploadedDataset)


def _owned(session: Session, table: type[Row], ref: Any, owner_id: int) -> Row | None:
    """The caller's upload that ``ref`` names, or None (not an upload reference, or not theirs)."""
    if not isinstance(ref, str) or not ref.startswith(UPLOAD_PREFIX):
        return None
    number = ref.removeprefix(UPLOAD_PREFIX)
    row = session.get(table, int(number)) if number.isdigit() and 0 < int(number) <= MAX_ID else None
    return row if row is not None and row.owner_id == owner_id else None


def owned_table(session: Session, target: str, owner_id: int) -> HardwareTable | None:
    return _owned(session, HardwareTable, target, owner_id)


def owned_model(session: Session, model: str, owner_id: int) -> UploadedModel | None:
    return _owned(session, UploadedModel, model, owner_id)


def owned_dataset(session: Session, data: str, owner_id: int) -> UploadedDataset | None:
    return _owned(session, UploadedDataset, data, owner_id)


def table_target(row: HardwareTable) -> CostModel:
    """The cost model of an uploaded table (parsed from its stored text once per process); a
    422 naming ``target`` if the table no longer passes the check (stored before a stricter one)."""
    try:
        return TableTarget([table_cache.tables.get(row)])
    except TableError as exc:
        raise param_error(("body", "target"), f"uploaded table {UPLOAD_PREFIX}{row.id} cannot be used: {exc}") from None


def table_path(settings: Settings, row: HardwareTable) -> Path:
    """The table as a file under the data dir (written on first use)."""
    path = settings.data_dir / "tables" / f"{row.id}.csv"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(row.content)
    return path


def upload_path(settings: Settings, row: UploadedFile) -> Path:
    return settings.data_dir / row.folder / f"{row.sha256}{row.suffix}"


def upload_file(session: Session, settings: Settings, row: UploadedFile) -> Path:
    """The upload's file under this process's data dir, fetched from the store if it is not there."""
    return upload_blobs.local_file(session, upload_path(settings, row), row.sha256)


def with_files(session: Session, settings: Settings, spec: dict[str, Any], owner_id: int) -> dict[str, Any]:
    """``spec`` with the owner's uploaded model and data set replaced by their files."""
    out = dict(spec)
    model = owned_model(session, spec.get("model"), owner_id)
    if model is not None:
        out["model"] = str(upload_file(session, settings, model))
    data = owned_dataset(session, spec.get("data"), owner_id)
    if data is not None:
        out["data"] = f"npz:{upload_file(session, settings, data)}"
    return out


def server_spec(session: Session, settings: Settings, spec: dict[str, Any], owner_id: int) -> dict[str, Any]:
    """``spec`` as a search runs it: every upload (model, data set, table) replaced by its file."""
    out = with_files(session, settings, spec, owner_id)
    table = owned_table(session, spec.get("target"), owner_id)
    if table is not None:
        out["target"] = str(table_path(settings, table))
    return out


def server_document(session: Session, settings: Settings, doc: dict[str, Any], owner_id: int) -> dict[str, Any]:
    """A stored policy document whose model and data the exporters can load (server paths)."""
    spec = server_spec(session, settings, doc.get("spec") or {}, owner_id)
    return {**doc, "model": spec.get("model", doc.get("model")), "spec": spec}


def _receive(file: UploadFile, folder: Path, limit: int) -> tuple[Path, str, int]:
    """Copy the upload to a temporary file in ``folder``: (path, sha256, size); 413 past ``limit``."""
    folder.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    fd, name = tempfile.mkstemp(prefix="upload-", suffix=".part", dir=folder)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := file.file.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise HTTPException(413, f"file: larger than the limit of {limit} bytes")
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, digest.hexdigest(), size


def store_upload(
    session: Session,
    settings: Settings,
    table: type[FileRow],
    owner_id: int,
    file: UploadFile,
    name: str | None,
    limit: int,
    check: Callable[[bytes], dict[str, Any]],
    refused: tuple[type[Exception], ...],
) -> FileRow:
    """Stream ``file`` to the data dir, ``check`` its bytes, and keep file and row only if
    the check passes (a ``refused`` error becomes a 422 naming ``file``)."""
    if "\x00" in (file.filename or ""):  # the name is stored, and PostgreSQL cannot store a NUL
        raise param_error(("body", "file"), f"the file's name {NUL_MESSAGE}")
    filename = Path(file.filename or f"upload{table.suffix}").name[:255]
    folder = settings.data_dir / table.folder
    temp, sha, size = _receive(file, folder, limit)
    try:
        report = check(temp.read_bytes())
    except refused as exc:
        temp.unlink(missing_ok=True)
        raise param_error(("body", "file"), str(exc).removeprefix("file: ")) from None
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    final = folder / f"{sha}{table.suffix}"
    os.replace(temp, final)
    upload_blobs.store_bytes(session, sha, final)  # committed with the row: a worker elsewhere fetches it
    row = table(
        owner_id=owner_id, name=name or Path(filename).stem, filename=filename, sha256=sha, size_bytes=size,
        report=report,
    )
    session.add(row)
    session.commit()
    return row


def delete_upload(session: Session, settings: Settings, row: UploadedFile, field: str) -> None:
    """The row, and its file unless another row (another key's) holds the same bytes; 409 while
    a job names it in ``field`` (its policies' exports need the file)."""
    ref = f"{UPLOAD_PREFIX}{row.id}"
    jobs = [j.id for j in session.query(Job).filter_by(owner_id=row.owner_id) if j.spec.get(field) == ref]
    if jobs:
        raise HTTPException(409, f"{row.kind} {ref} is used by job(s) {', '.join(map(str, jobs))}; it cannot be deleted")
    path = upload_path(settings, row)
    session.delete(row)
    session.flush()
    upload_blobs.drop_if_unused(session, row.sha256)
    session.commit()
    if session.query(type(row)).filter_by(sha256=row.sha256).first() is None:
        path.unlink(missing_ok=True)
