"""A request's database session, opened only when the pool has a connection for it.

FastAPI runs each sync dependency and each sync route in a separate hop into AnyIO's thread
pool, and a session keeps its connection from its first query (the key lookup) to its end.
So a request holds a connection while it waits for a thread; when more requests have
sessions than the pool has connections, threads wait for connections held by requests that
wait for threads, and with every thread waiting nothing moves until the pool's timeout turns
them into errors. Here a request waits on the event loop, before its session exists, for
one of as many places as the pool keeps connections: a thread never waits for the pool.

Async routes (the job event stream) are not gated: they hold no thread, use their session
briefly on the event loop, and would otherwise keep a place for the whole stream. Slow
routes (``api.slow_routes``: uploads, exports, submits) have places of their own, as many
as their pool's threads, so they never take a read's place; the pool keeps connections for both.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.db import Database
from api.slow_routes import is_slow


def new_gate(places: int) -> asyncio.Semaphore:
    """Places of one running app (made by its lifespan, on its event loop)."""
    return asyncio.Semaphore(places)


def _end(session: Session, ok: bool) -> None:
    """Commit (or roll back) and close: one thread hop at the end of a request."""
    try:
        if ok:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()


@asynccontextmanager
async def request_session(request: Request, db: Database) -> AsyncIterator[Session]:
    """The request's session: committed if the route succeeds, rolled back if it raises."""
    endpoint = request.scope.get("endpoint")
    gate: asyncio.Semaphore | None = None
    if is_slow(endpoint):  # its own places, as many as the slow pool's threads (api.slow_routes)
        gate = request.app.state.slow_gate
    elif not (inspect.iscoroutinefunction(endpoint) or inspect.isasyncgenfunction(endpoint)):
        gate = request.app.state.session_gate
    if gate is not None:
        await gate.acquire()
    try:
        session = db.sessions()
        try:
            yield session
        except BaseException:
            await run_in_threadpool(_end, session, False)
            raise
        await run_in_threadpool(_end, session, True)
    finally:
        if gate is not None:
            gate.release()
