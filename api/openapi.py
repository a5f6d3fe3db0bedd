"""The OpenAPI document declares every error answer, each with the one body the service sends.

Routes declare the answers their own code gives (404, 409, ...) with ``answers()``. The
answers that come from shared machinery are added here to every operation they apply to,
so no route can forget one: 401 and 429 wherever the API key is needed (the bearer
scheme), 400 and 413 wherever there is a request body, and FastAPI's own 422 schema
(``HTTPValidationError``, which the service never sends) becomes ``ErrorBody``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from api.schemas import ErrorBody

REF = "#/components/schemas/{model}"
ERROR_CONTENT = {"application/json": {"schema": {"$ref": REF.format(model="ErrorBody")}}}

#: what each error answer means, unless a route says more
MEANING = {
    400: "The body could not be parsed (a malformed multipart form, too many parts, or JSON nested too deeply).",
    401: "No API key, an unknown one, or a revoked one (`message` says which).",
    404: "Nothing with that id or name, or it is another key's.",
    409: "The request conflicts with the resource's state.",
    413: "The request body is larger than the server accepts (`message` names both sizes).",
    422: "A parameter or the body is invalid: `message` names the field and says what to send.",
    429: "This API key's rate limit is used up: retry after `Retry-After` seconds.",
}
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before the next request.", "schema": {"type": "integer"}}}


def answers(*codes: int | tuple[int, str]) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for error answers, each an ``ErrorBody`` as JSON: ``404`` or ``(404, "No such job.")``.

    The content is spelled out (not ``model=``) so that a streaming route, whose own media
    type is not JSON, still declares its errors as JSON.
    """
    out: dict[int | str, dict[str, Any]] = {}
    for item in codes:
        code, meaning = item if isinstance(item, tuple) else (item, MEANING[item])
        out[code] = {"description": meaning, "content": ERROR_CONTENT}
    return out


def _add(responses: dict[str, Any], code: int) -> None:
    answer = responses.setdefault(str(code), {})
    answer.setdefault("description", MEANING[code])
    answer["content"] = ERROR_CONTENT
    if code == 429:
        answer["headers"] = RETRY_AFTER


def declare_errors(doc: dict[str, Any]) -> dict[str, Any]:
    """Add the shared machinery's answers to ``doc``'s operations and put ``ErrorBody`` in place of
    FastAPI's validation error schema."""
    for operations in doc.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            if operation.get("security"):
                _add(responses, 401)
                _add(responses, 429)
            if "requestBody" in operation:
                _add(responses, 400)
                _add(responses, 413)
            if "422" in responses:
                if responses["422"].get("description") == "Validation Error":
                    responses["422"]["description"] = MEANING[422]
                responses["422"]["content"] = ERROR_CONTENT
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    schemas["ErrorBody"] = ErrorBody.model_json_schema(ref_template=REF)
    return doc


def install_openapi(app: FastAPI) -> None:
    """Make ``app``'s document (built once, on first request) declare every error answer."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = declare_errors(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
