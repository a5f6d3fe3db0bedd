"""Jobs: submit, list, get, cancel, and progress as server-sent events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Body, Depends, HTTPException, Query
from fastapi.sse import EventSourceResponse, ServerSentEvent
from sqlalchemy import func, select

from api.errors import body_error
from api.openapi import answers
from api.deps import JobId, DatabaseDep, KeyDep, SessionDep, SettingsDep
from api.models import Job, StoredPolicy
from api.queue import TERMINAL
from api.schemas import JobDetail, JobOut, JobState, Page
from api.slow_routes import slow_route
from api.uploads import UPLOAD_PREFIX, owned_dataset, owned_model, owned_table, table_target, with_files
from hwsearch.search import SearchSpec, SpecError, validate_spec

router = APIRouter(prefix="/jobs", tags=["jobs"])

# what the OpenAPI document offers to send; tests/test_openapi_contract.py posts it (on bitfusion, digits-cnn cannot go below 0.74 x int8)
EXAMPLE = {"model": "digits-cnn", "target": "bismo-edge", "objective": "latency", "budget": {"relative": 0.5}, "agent": "ddpg", "episodes": 50, "seed": 0}
NOT_FOUND = answers((404, "No such job, or another key's."))


def job_out(session, job: Job, detail: bool = False) -> JobOut | JobDetail:
    best = session.scalar(select(StoredPolicy.id).where(StoredPolicy.job_id == job.id, StoredPolicy.kind == "best"))
    data = {c: getattr(job, c) for c in ("id", "state", "spec", "progress", "error", "cancel_requested", "attempts", "created_at", "started_at", "finished_at", "queue")}
    if detail:
        return JobDetail(**data, best_policy_id=best, history=job.history, summary=job.summary)
    return JobOut(**data, best_policy_id=best)


def get_owned_job(session, key, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None or job.owner_id != key.id:
        raise HTTPException(404, f"job {job_id} not found")
    return job


def check_service_limits(data: dict, session, key) -> None:
    """Over HTTP a spec may only name built-in models, data sets and targets or the caller's
    uploads (another key's upload is refused like an unknown name).

    Server paths and importable factories would let a caller read files or run code on
    the server, so ``weights``, data paths, ``module:factory`` and table paths are CLI-only.
    """
    from hwsearch.search import BUILTIN_DATASETS, MODELS
    from latency_tables import list_targets

    if data["model"].startswith(UPLOAD_PREFIX):
        if owned_model(session, data["model"], key.id) is None:
            raise body_error("model", f"uploaded model {data['model']!r} not found; GET /api/v1/models lists yours")
    elif data["model"] not in MODELS:
        raise body_error("model", f"unknown model {data['model']!r}; built-in models: {', '.join(MODELS)}, or upload:ID")
    if data["target"].startswith(UPLOAD_PREFIX):
        if owned_table(session, data["target"], key.id) is None:
            raise body_error("target", f"uploaded table {data['target']!r} not found")
    elif data["target"] not in list_targets():
        raise body_error("target", f"unknown target {data['target']!r}; use GET /api/v1/hardware for the names, or upload a table")
    if data.get("weights"):
        raise body_error("weights", "server paths are not accepted over the API; upload an ONNX model (it holds its weights)")
    if (data.get("data") or "").startswith(UPLOAD_PREFIX):
        if owned_dataset(session, data["data"], key.id) is None:
            raise body_error("data", f"uploaded data set {data['data']!r} not found; GET /api/v1/datasets lists yours")
    elif data.get("data") and data["data"] not in BUILTIN_DATASETS:
        raise body_error(
            "data", f"over the API, data is a built-in data set ({', '.join(BUILTIN_DATASETS)}) or upload:ID; paths are for the CLI"
        )


@router.post(
    "",
    status_code=201,
    response_model=JobOut,
    summary="Submit a search job",
    responses=answers((422, "The spec is invalid (a field, a name, an infeasible budget, a limit): `message` names the field.")),
)
@slow_route
def submit_job(
    spec: Annotated[SearchSpec, Body(openapi_examples={"ddpg": {"summary": "HAQ's DDPG, latency at half of int8", "value": EXAMPLE}})],
    key: KeyDep,
    session: SessionDep,
    settings: SettingsDep,
    db: DatabaseDep,
    background: BackgroundTasks,
) -> JobOut:
    """Validate the spec (names, bits, budget feasibility, the server's limits) and queue it.

    Nothing is stored when validation fails: the 422's message names the field.
    """
    from api.limits import check_job_limits

    data = spec.model_dump(mode="json")
    check_job_limits(data, settings)
    check_service_limits(data, session, key)
    table = owned_table(session, data["target"], key.id)
    checked = with_files(session, settings, data, key.id)
    try:
        validate_spec(checked, target=table_target(table) if table is not None else None)
    except SpecError as exc:
        message = exc.message
        for field in ("model", "data"):  # speak of the user's upload:ID, never of a server path
            if checked.get(field) != data.get(field):
                message = message.replace(str(checked[field]).removeprefix("npz:"), data[field]).replace(str(checked[field]), data[field])
        raise body_error(exc.field, message) from None
    job = Job(owner_id=key.id, spec=data, state="queued", cancel_requested=False, attempts=0)
    session.add(job)
    session.commit()
    if settings.broker_url:  # send its message now, after the answer; the server's dispatch loop is the fallback
        from api.broker import dispatch_pending

        background.add_task(dispatch_pending, db, settings)
    return job_out(session, job)


@router.get("", response_model=Page[JobOut], summary="List your jobs")
def list_jobs(
    key: KeyDep,
    session: SessionDep,
    state: Annotated[JobState | None, Query(description="Only jobs in this state.")] = None,
    limit: Annotated[int, Query(ge=1, le=200, description="Page size.")] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000, description="Items to skip.")] = 0,
) -> Page[JobOut]:
    query = select(Job).where(Job.owner_id == key.id)
    if state:
        query = query.where(Job.state == state)
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    jobs = session.scalars(query.order_by(Job.id.desc()).limit(limit).offset(offset)).all()
    return Page[JobOut](items=[job_out(session, j) for j in jobs], total=total, limit=limit, offset=offset)


@router.get("/{job_id}", response_model=JobDetail, summary="Get a job with its history", responses={**NOT_FOUND, **answers(422)})
def get_job(job_id: JobId, key: KeyDep, session: SessionDep) -> JobDetail:
    return job_out(session, get_owned_job(session, key, job_id), detail=True)


@router.post(
    "/{job_id}/cancel",
    response_model=JobOut,
    summary="Cancel a job",
    responses={**NOT_FOUND, **answers((409, "The job has already finished (succeeded, failed or cancelled)."), 422)},
)
def cancel_job(job_id: JobId, key: KeyDep, session: SessionDep) -> JobOut:
    """A queued job is cancelled at once; a running one stops within one episode and keeps its best policy."""
    job = get_owned_job(session, key, job_id)
    if job.state in TERMINAL:
        raise HTTPException(409, f"job {job_id} already {job.state}")
    if job.state == "queued" and job.attempts == 0:
        job.state = "cancelled"
    job.cancel_requested = True
    session.commit()
    return job_out(session, job)


def watched_job(job_id: JobId, key: KeyDep, session: SessionDep) -> int:
    """The caller's job to stream, checked before the stream starts: a missing or another key's
    job is a JSON 404, not a 200 that breaks off. The session is then closed, so an open
    stream holds no database connection."""
    get_owned_job(session, key, job_id)
    session.close()
    return job_id


@router.get(
    "/{job_id}/events",
    response_class=EventSourceResponse,
    summary="Stream a job's progress (SSE)",
    responses={**NOT_FOUND, **answers(422)},
)
async def job_events(
    job_id: Annotated[int, Depends(watched_job)],
    db: DatabaseDep,
    interval: Annotated[float, Query(ge=0.1, le=10, description="Seconds between checks.")] = 0.5,
) -> AsyncIterator[ServerSentEvent]:
    """Events: ``progress`` whenever the job's state or progress changes, then one ``done``.

    An async generator: an open stream waits on the event loop, not on one of the
    threads that serve ordinary requests, so many watchers do not starve the API.
    """

    def read() -> dict:
        with db.sessions() as s:
            job = s.get(Job, job_id)
            return {"id": job.id, "state": job.state, "progress": job.progress}

    last = None
    while True:
        payload = await asyncio.to_thread(read)
        if payload != last:
            yield ServerSentEvent(data=payload, event="progress")
            last = payload
        if payload["state"] in TERMINAL:
            yield ServerSentEvent(data=payload, event="done")
            return
        await asyncio.sleep(interval)
