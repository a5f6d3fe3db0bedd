"""Stored policies: browse with filters, get one layer by layer, download configs."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import Response
from sqlalchemy import func, select

from api.deps import KeyDep, PolicyId, SessionDep, SettingsDep, Text
from api.errors import param_error
from api.json_text import JSONText
from api.openapi import answers
from api.models import Job, StoredPolicy
from api.routes.jobs import job_out
from api.schemas import JobOut, LayerOut, Page, PolicyDetail, PolicySummary, VerifyRequest
from api.slow_routes import slow_route
from api.uploads import server_document

router = APIRouter(prefix="/policies", tags=["policies"])

# A stored policy never changes, so its exports (seconds to rebuild: model, calibration,
# ONNX) are kept per (policy, format); the owner check runs before every cache read.
EXPORT_CACHE_SIZE = 32
_export_cache: OrderedDict = OrderedDict()
_export_lock = threading.Lock()

SORTABLE = ("created_at", "accuracy", "latency_ms", "energy_mj", "size_mb", "id")
SortKey = Literal[tuple(SORTABLE) + tuple(f"-{s}" for s in SORTABLE)]  # type: ignore[valid-type]
SUMMARY_COLUMNS = [getattr(StoredPolicy, name) for name in PolicySummary.model_fields]


def get_owned_policy(session, key, policy_id: int) -> StoredPolicy:
    row = session.get(StoredPolicy, policy_id)
    if row is None or row.owner_id != key.id:
        raise HTTPException(404, f"policy {policy_id} not found")
    return row


@router.get("", response_model=Page[PolicySummary], summary="List your policies")
def list_policies(
    key: KeyDep,
    session: SessionDep,
    model: Annotated[Text | None, Query(max_length=200, description="Only this model.")] = None,
    target: Annotated[Text | None, Query(max_length=200, description="Only this hardware target.")] = None,
    job: Annotated[int | None, Query(ge=1, le=2_147_483_647, description="Only policies of this job.")] = None,
    objective: Annotated[Text | None, Query(max_length=100, description="Only this objective.")] = None,
    kind: Annotated[Literal["best", "pareto"] | None, Query(description="'best' (one per job) or 'pareto'.")] = None,
    min_accuracy: Annotated[float | None, Query(ge=0, le=1, allow_inf_nan=False, description="Accuracy at least (0..1).")] = None,
    max_accuracy: Annotated[float | None, Query(ge=0, le=1, allow_inf_nan=False, description="Accuracy at most (0..1).")] = None,
    min_latency_ms: Annotated[float | None, Query(ge=0, allow_inf_nan=False, description="Latency at least (ms).")] = None,
    max_latency_ms: Annotated[float | None, Query(ge=0, allow_inf_nan=False, description="Latency at most (ms).")] = None,
    sort: Annotated[SortKey, Query(description="Sort key; prefix '-' for descending.")] = "-created_at",
    limit: Annotated[int, Query(ge=1, le=200, description="Page size.")] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000, description="Items to skip.")] = 0,
) -> Page[PolicySummary]:
    conditions = [StoredPolicy.owner_id == key.id]
    filters = {
        StoredPolicy.model: model,
        StoredPolicy.target: target,
        StoredPolicy.job_id: job,
        StoredPolicy.objective: objective,
        StoredPolicy.kind: kind,
    }
    conditions += [column == value for column, value in filters.items() if value is not None]
    if min_accuracy is not None:
        conditions.append(StoredPolicy.accuracy >= min_accuracy)
    if max_accuracy is not None:
        conditions.append(StoredPolicy.accuracy <= max_accuracy)
    if min_latency_ms is not None:
        conditions.append(StoredPolicy.latency_ms >= min_latency_ms)
    if max_latency_ms is not None:
        conditions.append(StoredPolicy.latency_ms <= max_latency_ms)
    # count(*) on the table itself: an index of the filters answers it alone (index-only scan)
    total = session.scalar(select(func.count()).select_from(StoredPolicy).where(*conditions))
    column = getattr(StoredPolicy, sort.lstrip("-"))
    order = column.desc() if sort.startswith("-") else column.asc()
    # plain rows of the summary's columns: no ORM objects, no document
    query = select(*SUMMARY_COLUMNS).where(*conditions).order_by(order, StoredPolicy.id.desc()).limit(limit).offset(offset)
    items = [PolicySummary.model_validate(row) for row in session.execute(query)]
    return JSONText(Page[PolicySummary](items=items, total=total, limit=limit, offset=offset).model_dump_json())


@router.get("/{policy_id}", response_model=PolicyDetail, summary="Get a policy layer by layer", responses=answers((404, "No such policy, or another key's."), 422))
def get_policy(policy_id: PolicyId, key: KeyDep, session: SessionDep) -> PolicyDetail:
    # one query: the summary's columns and the document, never the fine-tuned weights
    query = select(*SUMMARY_COLUMNS, StoredPolicy.document, StoredPolicy.verification).where(
        StoredPolicy.id == policy_id, StoredPolicy.owner_id == key.id
    )
    row = session.execute(query).one_or_none()
    if row is None:
        raise HTTPException(404, f"policy {policy_id} not found")
    doc = row.document
    detail = PolicyDetail.model_construct(
        **PolicySummary.model_validate(row).__dict__,
        layers=[LayerOut.model_construct(**{k: layer.get(k) for k in LayerOut.model_fields}) for layer in doc.get("layers", [])],
        totals=doc.get("totals", {}),
        baseline_int8=doc.get("baseline_int8"),
        document=doc,
        verification=row.verification,
    )
    return JSONText(detail.model_dump_json())


@router.post(
    "/{policy_id}/verify",
    response_model=JobOut,
    status_code=201,
    summary="Time a policy's exported model against its table",
    responses=answers((404, "No such policy, or another key's."), (422, "A field out of range or a bad queue name.")),
)
def verify_policy(policy_id: PolicyId, body: VerifyRequest, key: KeyDep, session: SessionDep) -> JobOut:
    """Queue a verification: a worker on ``queue`` (or any of the service's workers) exports the
    policy as ONNX QDQ, times it, uniform int8 and the float model in onnxruntime, and stores
    predicted against measured latency on the policy (`verification` in GET /policies/{id})."""
    row = get_owned_policy(session, key, policy_id)
    spec = {"kind": "verify", "policy_id": policy_id, "model": row.model, "target": row.target, "warmup": body.warmup, "repeats": body.repeats}
    job = Job(owner_id=key.id, spec=spec, queue=body.queue)
    session.add(job)
    session.commit()
    return job_out(session, job)


@router.get(
    "/{policy_id}/export",
    summary="Download a quantization config",
    response_class=Response,
    responses={
        200: {"description": "The config file (JSON, ONNX, safetensors or CSV)."},
        **answers((404, "No such policy, or another key's."), (422, "An unknown format, or one this policy cannot be exported to.")),
    },
)
@slow_route
def export_policy(
    policy_id: PolicyId,
    key: KeyDep,
    session: SessionDep,
    settings: SettingsDep,
    format: Annotated[str, Query(max_length=32, description="policy, onnx, encodings, weights or csv.")] = "policy",
) -> Response:
    from hwsearch.export import FORMATS, MODEL_FORMATS, ExportError
    from hwsearch.export import export_policy as build_export

    row = get_owned_policy(session, key, policy_id)
    if format not in FORMATS:
        raise param_error(("query", "format"), f"unknown format {format!r}; known formats: {', '.join(FORMATS)}")
    key_ = (row.id, format)
    with _export_lock:
        artifact = _export_cache.get(key_)
        if artifact is not None:
            _export_cache.move_to_end(key_)
    if artifact is None:
        try:
            doc, weights = row.document, None
            if format in MODEL_FORMATS:  # these rebuild the model: an upload's reference becomes its file
                doc, weights = server_document(session, settings, doc, key.id), row.finetuned_weights
            artifact = build_export(doc, format, finetuned_weights=weights)
        except ExportError as exc:
            raise HTTPException(422, str(exc)) from None
        with _export_lock:
            _export_cache[key_] = artifact
            while len(_export_cache) > EXPORT_CACHE_SIZE:
                _export_cache.popitem(last=False)
    return Response(
        artifact.content,
        media_type=artifact.media_type,
        headers={"Content-Disposition": f'attachment; filename="{artifact.filename}"'},
    )
