"""Request body limits that answer a JSON 413 (``{"message": "request body is N bytes; ..."}``).

Starlette's own limit (FastAPI's ``max_body_size``) answers plain text, and replaces any
answer the app gives to a request whose declared length is too large, so the service
enforces its limits here instead: a declared ``Content-Length`` over the limit is refused
before the app runs; a body without one is counted as it arrives and refused once past it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import ApiError


@dataclass(frozen=True)
class BodyLimit:
    """The most bytes a request body may have, and what to tell a client about it."""

    limit: int
    note: str = ""


def _message(size: int, limit: BodyLimit, exact: bool) -> str:
    size_text = f"{size} bytes" if exact else f"at least {size} bytes"
    note = f" ({limit.note})" if limit.note else ""
    return f"request body is {size_text}; at most {limit.limit} accepted{note}"


class BodyTooLarge(ApiError):
    """Raised while the body is read, so the app's error handler answers it (a JSON 413)."""

    def __init__(self, size: int, limit: BodyLimit) -> None:
        super().__init__(413, _message(size, limit, exact=False), info={"limit": limit.limit})


class BodyLimitMiddleware:
    """Refuse request bodies over ``limit_for(method, path)`` bytes with a JSON 413."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str, str], BodyLimit]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["method"], scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit.limit:
            body = {"message": _message(declared, limit, exact=True), "detail": {"size": declared, "limit": limit.limit}}
            await JSONResponse(body, status_code=413, headers={"Connection": "close"})(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit.limit:
                    raise BodyTooLarge(received, limit)
            return message

        await self.app(scope, counted, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
