"""Assemble the FastAPI app: settings, store (migrated on start), body limits, the rate limiter, routes, error handlers and their declaration in the OpenAPI document, the docs pages."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
from collections.abc import AsyncIterator, Callable

import anyio.to_thread
from fastapi import FastAPI

from api.body_limit import BodyLimit, BodyLimitMiddleware
from api.db import Database, migrate
from api.docs_ui import router as docs_router
from api.errors import install_error_handlers
from api.openapi import install_openapi
from api.rate_limit import RateLimiter
from api.routes import datasets, hardware, jobs, meta, models, policies
from api.session_gate import new_gate
from api.web import router as web_router
from api.settings import Settings

log = logging.getLogger("hwsearch.api")
API_PREFIX = "/api/v1"
MULTIPART_SLACK = 64_000  # bytes an upload's body may have beyond its file: the form's fields and headers


def body_limits(settings: Settings) -> Callable[[str, str], BodyLimit]:
    """Each request's body limit: the upload routes' from their file limits, the rest ``max_body_bytes``."""
    uploads = {
        f"{API_PREFIX}/hardware": BodyLimit(settings.max_upload_bytes + MULTIPART_SLACK, f"table files up to {settings.max_upload_bytes} bytes"),
        f"{API_PREFIX}/models": BodyLimit(settings.max_model_bytes + MULTIPART_SLACK, f"model files up to {settings.max_model_bytes} bytes"),
        f"{API_PREFIX}/datasets": BodyLimit(settings.max_dataset_bytes + MULTIPART_SLACK, f"data set files up to {settings.max_dataset_bytes} bytes"),
    }
    default = BodyLimit(settings.max_body_bytes)

    def limit_for(method: str, path: str) -> BodyLimit:
        return uploads.get(path.rstrip("/"), default) if method == "POST" else default

    return limit_for


#: ``hwsearch serve --api-processes N`` hands its resolved settings to each API process in these.
CHILD_SETTINGS_ENV = "HWSEARCH_API_CHILD_SETTINGS"
PARENT_PID_ENV = "HWSEARCH_API_PARENT_PID"


def create_app_from_env() -> FastAPI:
    """The app of one of several API processes (uvicorn's factory, called in each child).

    The parent resolved the settings (options and environment) and holds the local workers and,
    with Celery, the dispatch loop; a child only serves requests, and stops when the parent is
    gone, even killed outright.
    """
    from api.parent_watch import stop_with_parent

    settings = Settings.model_validate_json(os.environ[CHILD_SETTINGS_ENV])
    stop_with_parent(int(os.environ[PARENT_PID_ENV]))
    return create_app(settings, dispatch=False, serving=True)


# gen-0 collections every this many net allocations (Python's default: 700), older ones rarer
GC_THRESHOLDS = (50_000, 50, 1_000)


def settle_garbage_collector() -> None:
    """Move everything loaded at start (modules, the app, SQLAlchemy's and pydantic's caches)
    out of the collector's sight and collect less often: a request frees its objects by
    reference counting, and each collection that walks the start-up heap stalls every
    request in flight, which showed up as the slowest 1% of answers under load."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def create_app(settings: Settings | None = None, dispatch: bool = True, serving: bool = False) -> FastAPI:
    """The service's app; ``dispatch``: in Celery mode, run the dispatch loop in this process;
    ``serving``: this process only serves it (``hwsearch serve``), so its garbage collector is
    tuned for requests (not done in a process that only embeds the app, like a test's)."""
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # the routes' threads, as many as the database pool keeps connections (api/db.py)
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.request_threads
        app.state.session_gate = new_gate(settings.request_threads)
        app.state.slow_gate = new_gate(settings.slow_threads)
        migrate(app.state.db.engine)
        dispatcher = None
        if settings.broker_url and dispatch:
            from api.broker import Dispatcher

            dispatcher = Dispatcher(app.state.db, settings)
            dispatcher.start()
        if serving:
            settle_garbage_collector()
        yield
        if dispatcher is not None:
            dispatcher.stop()
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
        docs_url=None,  # api/docs_ui.py serves /docs and /redoc from local files instead of a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.db = Database(settings.db_url, pool_size=settings.request_threads + settings.slow_threads)
    app.state.rate_limiter = RateLimiter(settings.rate_limit_per_minute)
    app.add_middleware(BodyLimitMiddleware, limit_for=body_limits(settings))
    install_error_handlers(app)
    install_openapi(app)
    for module in (jobs, policies, hardware, models, datasets, meta):
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(web_router)  # the web page (api/web): page shells, static files, baselines
    app.include_router(docs_router)  # Swagger UI and ReDoc
    return app
