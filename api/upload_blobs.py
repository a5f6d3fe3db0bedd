"""An upload's bytes in the store, and its file under whichever data dir runs the job.

The API keeps an uploaded model or data set as a file under its data dir, named by its
SHA-256, and in the same transaction as the upload's row as pieces in ``upload_chunks``.
Whoever needs the file (a local worker, a Celery worker on another machine, a route that
exports) asks ``local_file`` for it: there already, it is used as is; missing, it is
written from the store under a temporary name, checked against its SHA-256 and renamed, so
a worker with its own data dir runs jobs on uploads without a shared volume.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.models import UploadChunk, UploadedDataset, UploadedModel

CHUNK_BYTES = 1 << 20  # a piece per row: neither side holds a whole 200 MB model in one value
FILE_TABLES = (UploadedModel, UploadedDataset)
log = logging.getLogger("hwsearch.api")


class MissingUpload(RuntimeError):
    """The upload's bytes are neither under this data dir nor in the store."""


def _stored(session: Session, sha256: str) -> bool:
    return session.execute(select(UploadChunk.seq).where(UploadChunk.sha256 == sha256).limit(1)).first() is not None


def store_bytes(session: Session, sha256: str, path: Path) -> None:
    """Add the file's pieces to the session's transaction, unless the same bytes are stored.

    Two uploads of the same bytes at once: the second's pieces collide with the first's, and
    its savepoint is rolled back; the bytes are stored either way."""
    if _stored(session, sha256):
        return
    try:
        with session.begin_nested(), path.open("rb") as source:
            seq = 0
            while piece := source.read(CHUNK_BYTES):
                session.execute(insert(UploadChunk), [{"sha256": sha256, "seq": seq, "data": piece}])
                seq += 1
    except IntegrityError:
        if not _stored(session, sha256):
            raise


def local_file(session: Session, path: Path, sha256: str) -> Path:
    """``path`` (a data dir's file named by ``sha256``), written from the store if missing."""
    if path.exists():
        return path
    seqs = session.execute(select(UploadChunk.seq).where(UploadChunk.sha256 == sha256).order_by(UploadChunk.seq)).scalars().all()
    if not seqs:
        raise MissingUpload(f"the uploaded file {sha256[:12]}... is not under {path.parent} and not in the store")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="fetch-", suffix=".part", dir=path.parent)
    temp, digest = Path(name), hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            for seq in seqs:  # one piece in memory at a time
                piece = session.execute(
                    select(UploadChunk.data).where(UploadChunk.sha256 == sha256, UploadChunk.seq == seq)
                ).scalar_one()
                digest.update(piece)
                out.write(piece)
        if digest.hexdigest() != sha256:
            raise MissingUpload(f"the stored bytes of {sha256[:12]}... do not match their SHA-256")
        os.replace(temp, path)  # whole or not at all: another process may be fetching it too
    finally:
        temp.unlink(missing_ok=True)
    log.info("fetched upload %s... from the store to %s", sha256[:12], path)
    return path


def drop_if_unused(session: Session, sha256: str) -> None:
    """Delete the bytes once no upload (of any key, model or data set) holds them."""
    if any(session.query(table.id).filter_by(sha256=sha256).first() for table in FILE_TABLES):
        return
    session.execute(delete(UploadChunk).where(UploadChunk.sha256 == sha256))


def backfill(session: Session, data_dir: Path) -> int:
    """Store the bytes of uploads made before the store kept them, from this data dir's files;
    returns how many were copied. Logs the ones whose file is gone (only this machine's data
    dir had them)."""
    copied = 0
    for table in FILE_TABLES:
        stored = select(UploadChunk.sha256)
        for sha256 in session.execute(select(table.sha256).distinct().where(table.sha256.not_in(stored))).scalars().all():
            path = data_dir / table.folder / f"{sha256}{table.suffix}"
            if path.exists():
                store_bytes(session, sha256, path)
                session.commit()
                copied += 1
            else:
                log.warning("upload %s... has no file under %s: jobs on it fail until it is uploaded again", sha256[:12], data_dir)
    return copied
