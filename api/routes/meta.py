"""Health: the API, its database, and whether any worker is alive to run jobs."""

from __future__ import annotations

from fastapi import APIRouter, Response
from sqlalchemy import text

from api.deps import SessionDep, SettingsDep
from api.schemas import Health, WorkerOut
from api.workers import live_workers

router = APIRouter(tags=["meta"])


@router.get(
    "/healthz",
    response_model=Health,
    summary="Liveness, database and worker check (no key needed)",
    responses={503: {"model": Health, "description": "Degraded: workers are expected and none is alive (a load balancer takes the node out)."}},
)
def health(session: SessionDep, settings: SettingsDep, response: Response) -> Health:
    session.execute(text("SELECT 1"))
    workers = [WorkerOut.model_validate(w) for w in live_workers(session, settings.worker_stale_seconds)]
    # a server started with no local workers and no broker runs none by design: nothing is missing
    expected = bool(settings.broker_url) or settings.workers > 0
    status = "degraded" if expected and not workers else "ok"
    if status == "degraded":
        response.status_code = 503
    return Health(
        status=status,
        database=session.get_bind().dialect.name,
        queue="celery" if settings.broker_url else "local",
        live_workers=len(workers),
        workers=workers,
    )
