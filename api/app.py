"""Assemble the FastAPI app: settings, store (migrated on start), routes, error handlers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import anyio.to_thread
from fastapi import FastAPI

from api.db import Database, migrate
from api.errors import install_error_handlers
from api.routes import datasets, hardware, jobs, meta, models, policies
from api.session_gate import new_gate
from api.web import router as web_router
from api.settings import Settings

log = logging.getLogger("hwsearch.api")
API_PREFIX = "/api/v1"


async def _redispatch_loop(app: FastAPI) -> None:
    """Celery mode: re-send jobs whose worker vanished (lease expired) or never got them."""
    from api.broker import dispatch
    from api.queue import expired_running, stale_queued

    settings: Settings = app.state.settings
    while True:
        await asyncio.sleep(settings.lease_seconds)
        try:
            with app.state.db.sessions() as session:
                ids = expired_running(session) + stale_queued(session, settings.lease_seconds)
            for job_id in ids:
                await asyncio.to_thread(dispatch, settings, job_id)
        except Exception:
            log.exception("re-dispatch failed; will retry")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # the routes' threads, as many as the database pool keeps connections (api/db.py)
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.request_threads
        app.state.session_gate = new_gate(app.state.db)
        migrate(app.state.db.engine)
        task = asyncio.create_task(_redispatch_loop(app)) if settings.broker_url else None
        yield
        if task:
            task.cancel()
        app.state.db.engine.dispose()

    app = FastAPI(
        title="hwsearch",
        version="0.1.0",
        summary="Hardware-aware mixed-precision quantization search (HAQ) as a service.",
        description=(
            "Submit search jobs, watch their progress, browse per-layer bit policies and download "
            "quantization configs. Every route except /healthz needs `Authorization: Bearer KEY` "
            "(create a key with `hwsearch keys create`)."
        ),
        lifespan=lifespan,
        max_body_size=settings.max_body_bytes,
    )
    app.state.settings = settings
    app.state.db = Database(settings.db_url, pool_size=settings.request_threads)
    install_error_handlers(app)
    for module in (jobs, policies, hardware, models, datasets, meta):
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(web_router)  # the web page (api/web): page shells, static files, baselines
    return app
