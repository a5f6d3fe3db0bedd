"""Routes whose work takes seconds run on threads of their own, never on the ones that answer reads.

An upload's check, an export that rebuilds the model, a submit that traces a model: each
holds its thread for its whole run. On the request threads (few, so that reads do not
fight over the GIL: ``Settings.request_threads``) two of them at once would hold every
read behind them. A route marked ``@slow_route`` is served by FastAPI as an async route
that hands its body to a separate pool; ``api.session_gate`` lets at most
``Settings.slow_threads`` of them hold a database session at once.
"""

from __future__ import annotations

import asyncio
import functools
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import anyio.to_thread

SLOW_MARK = "_hwsearch_slow_route"
POOL_TOKENS = 64  # the session gate bounds how many run; this only keeps them off the default pool
Result = TypeVar("Result")
_limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = weakref.WeakKeyDictionary()


def _limiter() -> anyio.CapacityLimiter:
    """This event loop's limiter for slow work (made on first use: a limiter belongs to its loop)."""
    loop = asyncio.get_running_loop()
    limiter = _limiters.get(loop)
    if limiter is None:
        limiter = _limiters[loop] = anyio.CapacityLimiter(POOL_TOKENS)
    return limiter


def slow_route(route: Callable[..., Result]) -> Callable[..., Any]:
    """``route`` (a sync endpoint) run on the slow pool; FastAPI reads its parameters through
    ``functools.wraps``, so dependencies, bodies and the OpenAPI document are unchanged."""

    @functools.wraps(route)
    async def on_slow_pool(*args: Any, **kwargs: Any) -> Result:
        return await anyio.to_thread.run_sync(functools.partial(route, *args, **kwargs), limiter=_limiter())

    setattr(on_slow_pool, SLOW_MARK, True)
    return on_slow_pool


def is_slow(endpoint: object) -> bool:
    return bool(getattr(endpoint, SLOW_MARK, False))
