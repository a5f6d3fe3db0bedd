"""Models and health."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from api.deps import KeyDep, SessionDep, SettingsDep
from api.schemas import Health, ModelOut

router = APIRouter(tags=["meta"])


@router.get("/models", response_model=list[ModelOut], summary="List built-in models")
def list_models(key: KeyDep) -> list[ModelOut]:
    from hwsearch.search import MODELS

    return [
        ModelOut(name=e.name, description=e.description, dataset=e.dataset, input_shape=list(e.input_shape), searchable=e.trainable)
        for e in MODELS.values()
    ]


@router.get("/healthz", response_model=Health, summary="Liveness and database check (no key needed)")
def health(session: SessionDep, settings: SettingsDep) -> Health:
    session.execute(text("SELECT 1"))
    return Health(database=session.get_bind().dialect.name, queue="celery" if settings.broker_url else "local")
