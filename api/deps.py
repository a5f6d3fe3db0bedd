"""Request dependencies: the database session, and the caller's API key (authenticated, then rate-limited)."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator
from sqlalchemy.orm import Session

from api.auth import KeyLookup, look_up_key
from api.db import Database
from api.errors import ApiError
from api.session_gate import request_session
from api.settings import Settings
from hwsearch.search import no_nul

bearer = HTTPBearer(auto_error=False, description="An API key from `hwsearch keys create`.")


# Dependencies that only read app state are async: FastAPI runs a sync one in a thread-pool hop.
async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_database(request: Request) -> Database:
    return request.app.state.db


async def get_session(request: Request, db: Annotated[Database, Depends(get_database)]) -> AsyncIterator[Session]:
    async with request_session(request, db) as session:
        yield session


def current_key(
    session: Annotated[Session, Depends(get_session)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> KeyLookup:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(401, "missing API key: send 'Authorization: Bearer KEY' (create one with `hwsearch keys create`)", headers={"WWW-Authenticate": "Bearer"})
    key = look_up_key(session, credentials.credentials)
    if key is None or key.revoked_at is not None:
        reason = "unknown API key" if key is None else "API key revoked"
        raise HTTPException(401, reason, headers={"WWW-Authenticate": "Bearer"})
    return key


async def limited_key(request: Request, key: Annotated[KeyLookup, Depends(current_key)]) -> KeyLookup:
    """The caller's key, once its rate limit (``api.rate_limit``, per API process) allows one more request."""
    limiter = request.app.state.rate_limiter
    wait = limiter.take(key.id)
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        raise ApiError(
            429,
            f"rate limit: at most {limiter.per_minute} requests a minute per API key; retry in {seconds} s",
            info={"limit_per_minute": limiter.per_minute, "retry_after": seconds},
            headers={"Retry-After": str(seconds)},
        )
    return key


SessionDep = Annotated[Session, Depends(get_session)]
KeyDep = Annotated[KeyLookup, Depends(limited_key)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_database)]

# Ids are 32-bit in every backend: larger numbers are a 422, not a database overflow.
JobId = Annotated[int, Path(ge=1, le=2_147_483_647, description="Job id.")]
PolicyId = Annotated[int, Path(ge=1, le=2_147_483_647, description="Policy id.")]
MAX_ID = 2_147_483_647  # ids are 32-bit on every backend: a larger one names nothing
UploadId = Annotated[int, Path(ge=1, le=MAX_ID, description="Id of your upload (the N of upload:N).")]
#: Text a request may carry into the database: no NUL character (PostgreSQL cannot store it).
Text = Annotated[str, AfterValidator(no_nul)]
