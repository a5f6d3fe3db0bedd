"""Request and response bodies of the REST API (they make the OpenAPI docs)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from hwsearch.search import ModelReport, no_nul

T = TypeVar("T")
JobState = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class ErrorBody(BaseModel):
    """The body of every error answer (4xx and 500)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"message": "budget: no policy can meet 0.01 x int8 = 0.000049 ms: ...", "detail": [{"type": "value_error", "loc": ["body", "budget"], "msg": "...", "input": None}]},
                {"message": "request body is 2000000 bytes; at most 1000000 accepted", "detail": {"size": 2000000, "limit": 1000000}},
            ]
        }
    )

    message: str = Field(..., description="What went wrong, for a person: validation errors start with the field's name (`budget.relative: ...`).")
    detail: Any = Field(
        None,
        description="Machine-readable details, or null: for a 422 pydantic's list of errors (type, loc, msg, input; "
        "non-finite numbers spelled as strings), for a 413 the size and limit, for a 429 the limit and retry_after.",
    )


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
    created_at: datetime = Field(..., description="When the job was submitted (UTC).")
    started_at: datetime | None = Field(None, description="When a worker first started it (UTC); null while queued.")
    finished_at: datetime | None = Field(None, description="When it succeeded, failed or was cancelled (UTC).")
    best_policy_id: int | None = Field(None, description="Id of the stored best policy once the job has one.")
    queue: str | None = Field(None, description="The named queue only its workers take the job from (a measurement); null = any worker.")


class JobDetail(JobOut):
    history: list[dict[str, Any]] | None = Field(None, description="Per-episode records: reward, accuracy, latency_ms, energy_mj, size_mb, policy.")
    summary: dict[str, Any] | None = Field(
        None,
        description="Float and uniform 8-bit baselines, evaluations, wall time, budget; `uniform`: the uniform 8/6/4-bit "
        "reference policies. A measurement's: `table` (`upload:ID` of the stored table), `shapes`, `measured_on` (host).",
    )


class PolicySummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int = Field(..., description="Policy id.")
    job_id: int | None = Field(None, description="Job that found it.")
    kind: str = Field(..., description="'best' (the job's answer) or 'pareto' (on the accuracy/cost front).")
    model: str = Field(..., description="The job's model: a built-in name or `upload:ID`.")
    target: str = Field(..., description="The hardware target it was costed on.")
    objective: str = Field(..., description="The objective it was searched for, e.g. 'latency' or 'latency:0.7,energy:0.3'.")
    accuracy: float = Field(..., description="Top-1 accuracy on the validation subset (0..1).")
    latency_ms: float = Field(..., description="Whole-model latency on the target.")
    energy_mj: float | None = Field(None, description="Whole-model energy; null if the target has no energy figures.")
    size_mb: float = Field(..., description="Weights' size at the policy's bits (MB).")
    created_at: datetime = Field(..., description="When the policy was stored (UTC).")


class LayerOut(BaseModel):
    name: str = Field(..., description="Qualified module name.")
    op: str = Field(..., description="conv2d, depthwise_conv2d or linear.")
    weight_bits: int = Field(..., description="Bits of the layer's weights (2..8).")
    activation_bits: int = Field(..., description="Bits of the layer's input activations (2..8).")
    latency_ms: float | None = Field(None, description="The layer's latency on the target at these bits (ms).")
    energy_mj: float | None = Field(None, description="The layer's energy (mJ); null if the target has no energy figures.")


class PolicyDetail(PolicySummary):
    layers: list[LayerOut] = Field(..., description="Every quantizable layer with its bits, latency and energy.")
    totals: dict[str, Any] = Field(..., description="latency_ms, energy_mj, size_mb of the whole model.")
    baseline_int8: dict[str, Any] | None = Field(None, description="Uniform 8-bit figures for comparison.")
    document: dict[str, Any] = Field(..., description="The full hwsearch.policy/v1 document.")
    verification: dict[str, Any] | None = Field(
        None,
        description="Predicted against measured latency (POST /policies/{id}/verify): predicted_ms (the table's sum), "
        "measured_ms (the exported ONNX model's median in onnxruntime), ratio, runtime_predicted_ms (the table's sum with "
        "the layers onnxruntime leaves in float priced at fp32) and runtime_ratio, measured_on, and the same for uniform "
        "int8 and the float model under 'models'; null until a verification ran.",
    )


QUEUE_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"


class MeasureRequest(BaseModel):
    """A measurement: time a model's layers on the machine whose worker serves ``queue``."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"examples": [{"model": "digits-cnn", "queue": "jetson-1", "name": "jetson-1-onnxruntime", "warmup": 5, "repeats": 20, "whole_model": True}]},
    )

    model: Annotated[str, AfterValidator(no_nul)] = Field(
        ..., min_length=1, max_length=200, description="A built-in model's name or `upload:ID` of your ONNX model."
    )
    queue: str = Field(
        ...,
        pattern=QUEUE_PATTERN,
        description="The named queue of the machine to measure on: only a worker started with "
        "`hwsearch worker --measure-queue NAME` takes it (letters, digits, '_', '.', '-'; at most 64).",
    )
    name: Annotated[str, AfterValidator(no_nul)] = Field(
        "measured", min_length=1, max_length=100, description="The table's target name and label."
    )
    warmup: int = Field(5, ge=0, le=1000, description="Untimed runs of each kernel first.")
    repeats: int = Field(20, ge=1, le=10_000, description="Timed runs of each kernel; the table keeps their median and spread.")
    whole_model: bool = Field(
        True,
        description="Also time the whole model there (the worker fetches it): scale the lone layers' costs so "
        "uniform int8 and fp32 match it, and price each layer's switch from float back into integer kernels "
        "(one export and timing per such layer).",
    )


class VerifyRequest(BaseModel):
    """A verification: time a stored policy's exported model on the machine whose worker serves ``queue``."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [{"queue": "jetson-1", "warmup": 5, "repeats": 30}]})

    queue: str | None = Field(
        None,
        pattern=QUEUE_PATTERN,
        description="The named queue of the machine to time on (a worker started with `hwsearch worker --measure-queue NAME`); "
        "null: any of the service's own workers.",
    )
    warmup: int = Field(5, ge=0, le=1000, description="Untimed runs of each model first.")
    repeats: int = Field(30, ge=1, le=10_000, description="Timed runs of each model; their median is reported.")


class HardwareOut(BaseModel):
    name: str = Field(..., description="Target name to use in a job's 'target' (uploads: 'upload:ID').")
    description: str = Field("", description="What the target is (a simulator, a measured table, ...).")
    units: dict[str, str] = Field(default_factory=dict, description="Unit of each figure, e.g. {\"latency\": \"ms\", \"energy\": \"mJ\"}.")
    supported_bits: list[int] | None = Field(None, description="Widths with a real kernel; null = every width 2..8.")
    builtin: bool = Field(True, description="Shipped with hwsearch (visible to every key).")
    info: dict[str, Any] = Field(default_factory=dict, description="Target-specific details.")


class ModelOut(BaseModel):
    name: str = Field(..., description="The model's name (built-in) or its label (upload).")
    description: str = Field(..., description="What the model is.")
    dataset: str | None = Field(None, description="Data set it is evaluated on; null for architecture-only models.")
    input_shape: list[int] = Field(..., description="One sample's input (C, H, W).")
    searchable: bool = Field(
        ..., description="Has trained weights, so a search can measure accuracy (an upload's job names its data set)."
    )
    ref: str = Field(..., description="What a job's `model` names: the built-in name, or `upload:ID` for an upload.")
    builtin: bool = Field(True, description="A built-in model (shared) rather than one of your uploads.")


def _describe(descriptions: dict[str, str]):
    """A ``json_schema_extra`` giving the named properties a description where they have none."""

    def extra(schema: dict[str, Any], _model: type) -> None:
        for name, text in descriptions.items():
            schema["properties"][name].setdefault("description", text)

    return extra


class ModelCheckReport(ModelReport):
    """What the upload check found (``hwsearch.search.ModelReport``, with every field described)."""

    model_config = ConfigDict(
        json_schema_extra=_describe(
            {
                "output_shape": "One sample's output shape (batch 1).",
                "layers": "The quantizable layers a policy gives bits to, in execution order.",
                "unquantized": "Weights no bit width applies to (they stay float), with their share of the model's weights.",
            }
        )
    )


class UploadedModelOut(ModelOut):
    """An uploaded ONNX model and what its check found."""

    id: int = Field(..., description="Upload id (the N of upload:N).")
    filename: str = Field(..., description="The uploaded file's name.")
    sha256: str = Field(..., description="SHA-256 of the file.")
    size_bytes: int = Field(..., description="The file's size.")
    created_at: datetime = Field(..., description="When it was uploaded (UTC).")
    report: ModelCheckReport = Field(..., description="Quantizable layers, weights that stay float, agreement with onnxruntime.")


class WorkerOut(BaseModel):
    """A live worker, as its last heartbeat describes it."""

    model_config = ConfigDict(from_attributes=True)

    name: str = Field(..., description="`host:pid`; a running job's holder has the same name.")
    kind: Literal["local", "celery"] = Field(..., description="'local' (polls the database) or 'celery' (a Celery pool process).")
    queue: str | None = Field(None, description="The Celery queue it takes jobs from; none for a local worker.")
    job_id: int | None = Field(None, description="The job it runs, if any.")
    started_at: datetime = Field(..., description="When it started (UTC).")
    last_seen: datetime = Field(..., description="Its latest heartbeat (UTC).")


class Health(BaseModel):
    status: Literal["ok", "degraded"] = Field(
        ...,
        description=(
            "'ok' (HTTP 200): the API and its database answer, and a worker is alive or none is expected. "
            "'degraded' (HTTP 503): workers are expected (local workers of `hwsearch serve`, or Celery) "
            "but none has beaten within `HWSEARCH_WORKER_STALE_SECONDS`, so new jobs would wait."
        ),
    )
    database: str = Field(..., description="Database dialect in use.")
    queue: str = Field(..., description="'local' (workers poll the database) or 'celery'.")
    live_workers: int = Field(..., description="How many workers are alive (any machine sharing the database).")
    workers: list[WorkerOut] = Field(..., description="The live workers, by name.")


class DatasetOut(BaseModel):
    """An uploaded .npz data set and what its check found."""

    id: int = Field(..., description="Upload id (the N of upload:N).")
    ref: str = Field(..., description="What a job's `data` names: `upload:ID`.")
    name: str = Field(..., description="Its label (default: the file's name).")
    filename: str = Field(..., description="The uploaded file's name.")
    sha256: str = Field(..., description="SHA-256 of the file.")
    size_bytes: int = Field(..., description="The file's size.")
    created_at: datetime = Field(..., description="When it was uploaded (UTC).")
    counts: dict[str, int] = Field(..., description="Images per split (calib, val, test, and train when given).")
    image_shape: list[int] = Field(..., description="One image's (C, H, W).")
    num_classes: int = Field(..., description="Classes the labels span (the largest label + 1).")
    dtype: str = Field(..., description="The images' dtype as uploaded (uint8 is scaled by 1/255).")
    warnings: list[str] = Field(..., description="E.g. a validation split too small to rank policies reliably.")
