"""Error bodies: every error is JSON ``{"message": ..., "detail": ...}``.

Validation errors (422) name the field in ``message`` (e.g. ``budget.relative: ...``);
FastAPI's own per-field list stays in ``detail``. Unexpected errors are logged and
answered with a plain 500 message, never a stack trace.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("hwsearch.api")


def param_error(loc: tuple[str, ...], message: str) -> RequestValidationError:
    """A 422 in FastAPI's own shape, for checks pydantic cannot do (e.g. budget feasibility)."""
    return RequestValidationError([{"type": "value_error", "loc": loc, "msg": message, "input": None}])


def body_error(field: str, message: str) -> RequestValidationError:
    return param_error(("body", *field.split(".")), message)


def _field_name(loc: tuple) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


async def _validation_handler(_request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    messages = []
    for err in errors[:5]:
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        field = _field_name(tuple(err.get("loc", ())))
        messages.append(msg if msg.startswith(f"{field}:") else f"{field}: {msg}")
    body = {"message": "; ".join(messages) or "invalid request", "detail": jsonable_encoder(errors, custom_encoder={Exception: str})}
    return JSONResponse(body, status_code=422)


async def _http_handler(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
    return JSONResponse({"message": str(exc.detail), "detail": None}, status_code=exc.status_code, headers=getattr(exc, "headers", None))


async def _unexpected_handler(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return JSONResponse({"message": "internal error; the server log has details", "detail": None}, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(StarletteHTTPException, _http_handler)
    app.add_exception_handler(Exception, _unexpected_handler)
