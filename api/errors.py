"""Error bodies: every error is JSON ``{"message": ..., "detail": ...}`` (``api.schemas.ErrorBody``).

Validation errors (422) name the field in ``message`` (e.g. ``budget.relative: ...``) and
say what to send where pydantic's own words would not (an object given as a number,
malformed JSON with the parser's position); FastAPI's own per-field list stays in
``detail``, made JSON-safe (a NaN in the input must not turn a 422 into a 500).
Unexpected errors are logged and answered with a plain 500 message, never a stack trace.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("hwsearch.api")

#: what to send for a field that must be a JSON object, when a client sent something else
OBJECT_HINTS = {
    "budget": 'expected an object such as {"relative": 0.5} (a fraction of the uniform 8-bit cost) '
    'or {"absolute": 2.0} (in the objective\'s unit: ms, mJ or MB)',
    "robust": 'expected an object such as {"attack": "pgd", "eps": 0.05}',
}
OBJECT_ERRORS = ("model_attributes_type", "model_type", "dict_type")


class ApiError(StarletteHTTPException):
    """An HTTP error whose body carries machine-readable ``info`` (in ``detail``) beside its message."""

    def __init__(self, status_code: int, message: str, info: Any = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(status_code, message, headers=headers)
        self.info = info


def param_error(loc: tuple[str, ...], message: str) -> RequestValidationError:
    """A 422 in FastAPI's own shape, for checks pydantic cannot do (e.g. budget feasibility)."""
    return RequestValidationError([{"type": "value_error", "loc": loc, "msg": message, "input": None}])


def body_error(field: str, message: str) -> RequestValidationError:
    return param_error(("body", *field.split(".")), message)


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float spelled as a string: JSON has no NaN or Infinity."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def _field_name(loc: tuple) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def _kind(value: Any) -> str:
    """A JSON value's kind, as a client would name it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {json_safe(value)}"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    return type(value).__name__


def _invalid_json(err: dict, body: Any) -> str:
    """The parser's own message with its line and column (as ``json`` counts them)."""
    reason = (err.get("ctx") or {}).get("error", "malformed")
    loc = err.get("loc", ())
    pos = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else None
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if pos is None or not isinstance(body, str):
        return f"body: invalid JSON: {reason}"
    line = body.count("\n", 0, pos) + 1
    column = pos - body.rfind("\n", 0, pos)
    return f"body: invalid JSON: {reason} (line {line}, column {column})"


def _message(err: dict, body: Any) -> str:
    """One error as ``field: what is wrong``, saying what to send when pydantic would not."""
    if err.get("type") == "json_invalid":
        return _invalid_json(err, body)
    field = _field_name(tuple(err.get("loc", ())))
    if err.get("type") in OBJECT_ERRORS:
        hint = OBJECT_HINTS.get(field, "expected a JSON object")
        return f"{field}: {hint}; got {_kind(err.get('input'))}"
    msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    return msg if msg.startswith(f"{field}:") else f"{field}: {msg}"


async def _validation_handler(_request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    message = "; ".join(_message(err, exc.body) for err in errors[:5]) or "invalid request"
    detail = json_safe(jsonable_encoder(errors, custom_encoder={Exception: str}))
    return JSONResponse({"message": message, "detail": detail}, status_code=422)


async def _http_handler(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
    body = {"message": str(exc.detail), "detail": json_safe(getattr(exc, "info", None))}
    return JSONResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))


async def _unexpected_handler(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return JSONResponse({"message": "internal error; the server log has details", "detail": None}, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(StarletteHTTPException, _http_handler)
    app.add_exception_handler(Exception, _unexpected_handler)
