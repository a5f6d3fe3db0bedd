"""Health."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from api.deps import SessionDep, SettingsDep
from api.schemas import Health

router = APIRouter(tags=["meta"])


@router.get("/healthz", response_model=Health, summary="Liveness and database check (no key needed)")
def health(session: SessionDep, settings: SettingsDep) -> Health:
    session.execute(text("SELECT 1"))
    return Health(database=session.get_bind().dialect.name, queue="celery" if settings.broker_url else "local")
