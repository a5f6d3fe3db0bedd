"""Request and response bodies of the REST API (they make the OpenAPI docs)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from hwsearch.search import ModelReport

T = TypeVar("T")
JobState = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class ErrorBody(BaseModel):
    message: str = Field(..., description="What went wrong, naming the field for validation errors.")
    detail: Any = Field(None, description="Machine-readable details (e.g. each invalid field's location).")


class Page(BaseModel, Generic[T]):
    items: list[T] = Field(..., description="This page's items.")
    total: int = Field(..., description="Items matching the filters, over all pages.")
    limit: int = Field(..., description="Page size asked for.")
    offset: int = Field(..., description="Items skipped before this page.")


class JobProgress(BaseModel):
    episode: int = Field(..., description="Episodes finished so far.")
    episodes: int = Field(..., description="Episodes the job will run.")
    best_accuracy: float = Field(..., description="Best feasible policy's accuracy so far (0..1).")
    best_latency_ms: float | None = Field(None, description="That policy's latency (ms).")
    best_energy_mj: float | None = Field(None, description="That policy's energy (mJ); null if the target has none.")
    reward: float = Field(..., description="Last episode's reward.")
    accuracy: float = Field(..., description="Last episode's accuracy.")
    elapsed_s: float = Field(..., description="Seconds since the search started.")


class JobOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int = Field(..., description="Job id.")
    state: JobState = Field(..., description="queued, running, succeeded, failed or cancelled.")
    spec: dict[str, Any] = Field(..., description="The search spec as submitted.")
    progress: JobProgress | None = Field(None, description="Latest progress (null before the first episode).")
    error: str | None = Field(None, description="Why the job failed.")
    cancel_requested: bool = Field(..., description="A cancel was asked for; the job stops within one episode.")
    attempts: int = Field(..., description="Times a worker picked the job up (more than 1 after a worker was lost).")
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    best_policy_id: int | None = Field(None, description="Id of the stored best policy once the job has one.")


class JobDetail(JobOut):
    history: list[dict[str, Any]] | None = Field(None, description="Per-episode records: reward, accuracy, latency_ms, energy_mj, size_mb, policy.")
    summary: dict[str, Any] | None = Field(None, description="Float and uniform 8-bit baselines, evaluations, wall time, budget; `uniform`: the uniform 8/6/4-bit reference policies.")


class PolicySummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int = Field(..., description="Policy id.")
    job_id: int | None = Field(None, description="Job that found it.")
    kind: str = Field(..., description="'best' (the job's answer) or 'pareto' (on the accuracy/cost front).")
    model: str
    target: str
    objective: str
    accuracy: float = Field(..., description="Top-1 accuracy on the validation subset (0..1).")
    latency_ms: float = Field(..., description="Whole-model latency on the target.")
    energy_mj: float | None = Field(None, description="Whole-model energy; null if the target has no energy figures.")
    size_mb: float = Field(..., description="Weights' size at the policy's bits (MB).")
    created_at: datetime


class LayerOut(BaseModel):
    name: str = Field(..., description="Qualified module name.")
    op: str = Field(..., description="conv2d, depthwise_conv2d or linear.")
    weight_bits: int
    activation_bits: int
    latency_ms: float | None = None
    energy_mj: float | None = None


class PolicyDetail(PolicySummary):
    layers: list[LayerOut] = Field(..., description="Every quantizable layer with its bits, latency and energy.")
    totals: dict[str, Any] = Field(..., description="latency_ms, energy_mj, size_mb of the whole model.")
    baseline_int8: dict[str, Any] | None = Field(None, description="Uniform 8-bit figures for comparison.")
    document: dict[str, Any] = Field(..., description="The full hwsearch.policy/v1 document.")


class HardwareOut(BaseModel):
    name: str = Field(..., description="Target name to use in a job's 'target' (uploads: 'upload:ID').")
    description: str = ""
    units: dict[str, str] = Field(default_factory=dict)
    supported_bits: list[int] | None = Field(None, description="Widths with a real kernel; null = every width 2..8.")
    builtin: bool = Field(True, description="Shipped with hwsearch (visible to every key).")
    info: dict[str, Any] = Field(default_factory=dict, description="Target-specific details.")


class ModelOut(BaseModel):
    name: str
    description: str
    dataset: str | None = Field(None, description="Data set it is evaluated on; null for architecture-only models.")
    input_shape: list[int]
    searchable: bool = Field(
        ..., description="Has trained weights, so a search can measure accuracy (an upload's job names its data set)."
    )
    ref: str = Field(..., description="What a job's `model` names: the built-in name, or `upload:ID` for an upload.")
    builtin: bool = Field(True, description="A built-in model (shared) rather than one of your uploads.")


class UploadedModelOut(ModelOut):
    """An uploaded ONNX model and what its check found."""

    id: int
    filename: str = Field(..., description="The uploaded file's name.")
    sha256: str = Field(..., description="SHA-256 of the file.")
    size_bytes: int
    created_at: datetime
    report: ModelReport = Field(..., description="Quantizable layers, weights that stay float, agreement with onnxruntime.")


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    database: str = Field(..., description="Database dialect in use.")
    queue: str = Field(..., description="'local' (workers poll the database) or 'celery'.")


class DatasetOut(BaseModel):
    """An uploaded .npz data set and what its check found."""

    id: int
    ref: str = Field(..., description="What a job's `data` names: `upload:ID`.")
    name: str
    filename: str = Field(..., description="The uploaded file's name.")
    sha256: str = Field(..., description="SHA-256 of the file.")
    size_bytes: int
    created_at: datetime
    counts: dict[str, int] = Field(..., description="Images per split (calib, val, test, and train when given).")
    image_shape: list[int] = Field(..., description="One image's (C, H, W).")
    num_classes: int
    dtype: str = Field(..., description="The images' dtype as uploaded (uint8 is scaled by 1/255).")
    warnings: list[str] = Field(..., description="E.g. a validation split too small to rank policies reliably.")
