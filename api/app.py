"""Assemble the FastAPI app: settings, store (migrated on start), routes, error handlers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI

from api.db import Database, migrate
from api.errors import install_error_handlers
from api.routes import datasets, hardware, jobs, meta, models, policies
from api.web import router as web_router
from api.settings import Settings

log = logging.getLogger("hwsearch.api")
API_PREFIX = "/api/v1"


async def _dispatch_loop(app: FastAPI) -> None:
    """Celery mode: send each queued job exactly one message, and give jobs whose worker
    went silent (lease expired) back to the queue, so recovery takes the lease plus a tick."""
    from api.broker import dispatch_pending

    settings: Settings = app.state.settings
    while True:
        try:
            await asyncio.to_thread(dispatch_pending, app.state.db, settings)
        except Exception:
            log.exception("dispatch failed; will retry")
        await asyncio.sleep(settings.dispatch_interval_seconds)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        migrate(app.state.db.engine)
        task = asyncio.create_task(_dispatch_loop(app)) if settings.broker_url else None
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
    app.state.db = Database(settings.db_url)
    install_error_handlers(app)
    for module in (jobs, policies, hardware, models, datasets, meta):
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(web_router)  # the web page (api/web): page shells, static files, baselines
    return app
