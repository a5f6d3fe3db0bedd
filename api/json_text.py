"""A JSON answer serialised once, by pydantic-core, for the hot read routes.

A route that returns a plain model has it validated against its ``response_model`` and
encoded again by FastAPI: for a policy's document that is most of the request's CPU. These
routes build their model from rows the service itself wrote, dump it to JSON in one call
and return it as this response; ``response_model`` stays on the route for the OpenAPI
document, which then describes exactly these bytes.
"""

from __future__ import annotations

from fastapi.responses import Response


class JSONText(Response):
    media_type = "application/json"
