"""Tables of the store: API keys, jobs, policies, hardware tables, uploaded models and data sets."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy import DateTime as _DateTime
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class DateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite would drop the zone)."""

    impl = _DateTime(timezone=True)
    cache_ok = True

    def __init__(self, timezone: bool = True) -> None:
        super().__init__()

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:  # noqa: ANN001
        return value.astimezone(UTC) if value is not None and value.tzinfo else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:  # noqa: ANN001
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)  # sha256 hex; keys are never stored
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_queue_state", "queue", "state"),)  # a named queue's workers poll it

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"), index=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    progress: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    history: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)  # per-episode records
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # float/int8 baselines, counts
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(100), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # fencing token: every claim bumps it; a worker's writes are conditional on its own
    generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # a named queue (a measurement on one machine): only workers on it take the job; None = any worker
    queue: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Celery mode: when this job's message was sent; None = the server sends one
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class JobCheckpoint(Base):
    """One append-only entry of a running job's checkpoint (see ``api.checkpoints``)."""

    __tablename__ = "job_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"), index=True)
    generation: Mapped[int] = mapped_column(Integer)
    entry: Mapped[dict[str, Any]] = mapped_column(JSON)


class WorkerRecord(Base):
    """A worker's heartbeat: who is alive, what it runs (supervision and ``/healthz``)."""

    __tablename__ = "workers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # local | celery
    queue: Mapped[str | None] = mapped_column(String(100), nullable=True)
    job_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class StoredPolicy(Base):
    __tablename__ = "policies"
    __table_args__ = (
        Index("ix_policies_owner_created", "owner_id", "created_at"),
        # one index per sort key of GET /policies, so a page never sorts the whole table
        Index("ix_policies_owner_accuracy", "owner_id", "accuracy"),
        Index("ix_policies_owner_latency", "owner_id", "latency_ms"),
        Index("ix_policies_owner_energy", "owner_id", "energy_mj"),
        Index("ix_policies_owner_size", "owner_id", "size_mb"),
        # the filters the policies page uses most (model, target) with its main sorts: a filtered
        # page reads only its own rows, in order, and a filtered count only the index
        Index("ix_policies_owner_model_created", "owner_id", "model", "created_at"),
        Index("ix_policies_owner_model_accuracy", "owner_id", "model", "accuracy"),
        Index("ix_policies_owner_model_latency", "owner_id", "model", "latency_ms"),
        Index("ix_policies_owner_target_created", "owner_id", "target", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"), index=True)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"), nullable=True, index=True)
    kind: Mapped[str] = mapped_column(String(16), default="best")  # best | pareto
    model: Mapped[str] = mapped_column(String(200), index=True)
    target: Mapped[str] = mapped_column(String(200), index=True)
    objective: Mapped[str] = mapped_column(String(100))
    accuracy: Mapped[float] = mapped_column(Float)
    latency_ms: Mapped[float] = mapped_column(Float)
    energy_mj: Mapped[float | None] = mapped_column(Float, nullable=True)
    size_mb: Mapped[float] = mapped_column(Float)
    # the hwsearch.policy/v1 document; deferred: listings never load it
    document: Mapped[dict[str, Any]] = mapped_column(JSON, deferred=True)
    # the best policy's fine-tuned float weights (safetensors), when the search fine-tuned
    # it: the model-based exports use them (see hwsearch.finetuned_weights)
    finetuned_weights: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True, deferred=True)
    # predicted against measured latency on a worker's machine (POST /policies/{id}/verify)
    verification: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True, deferred=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


def _content_sha256(context: DefaultExecutionContext) -> str:
    return hashlib.sha256(context.get_current_parameters()["content"].encode()).hexdigest()


class HardwareTable(Base):
    __tablename__ = "hardware_tables"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    # up to the upload limit (MBs): deferred, listings read the parse cached per sha256 (api/table_cache.py)
    content: Mapped[str] = mapped_column(Text, deferred=True)
    sha256: Mapped[str] = mapped_column(String(64), default=_content_sha256)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class UploadedFile:
    """Columns every uploaded file has: the file lives under the data dir, named by its sha256."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(Integer)
    # what the upload check found, as JSON (hwsearch.search.ModelReport / NpzReport)
    report: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class UploadChunk(Base):
    """One piece of an uploaded file's bytes, keyed by the file's SHA-256: the store holds every
    upload, so a worker with its own data dir (another machine) writes the file it needs from
    here (``api.upload_blobs``). Pieces, not one value: a 200 MB model is never one row in memory."""

    __tablename__ = "upload_chunks"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class UploadedModel(UploadedFile, Base):
    """A user's ONNX model."""

    __tablename__ = "uploaded_models"
    folder, suffix, kind = "models", ".onnx", "model"


class UploadedDataset(UploadedFile, Base):
    """A user's data set, an .npz of plain arrays."""

    __tablename__ = "uploaded_datasets"
    folder, suffix, kind = "datasets", ".npz", "data set"
