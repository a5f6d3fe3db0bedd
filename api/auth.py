"""API keys: bearer tokens. Only a SHA-256 of each key is stored; a revoked key stays as a row
(its jobs and policies keep their owner) but no longer authenticates."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.models import ApiKey, utcnow

KEY_PREFIX = "hws_"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(session: Session, name: str = "default") -> tuple[ApiKey, str]:
    """Store a new key and return it with its plain text (shown once, never stored)."""
    plain = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(name=name[:100], key_hash=hash_key(plain))
    session.add(row)
    session.flush()
    return row, plain


@dataclass(frozen=True)
class KeyLookup:
    """What a request needs of its key: who owns what it touches, and whether it still counts."""

    id: int
    revoked_at: datetime | None


def look_up_key(session: Session, plain: str) -> KeyLookup | None:
    """The stored key ``plain`` is (active or revoked); None for an unknown one.

    Read on every request, so two columns through a Core query rather than an ORM object,
    and never cached: a revoked key is refused from the next request on, in every process.
    """
    row = session.execute(select(ApiKey.id, ApiKey.revoked_at).where(ApiKey.key_hash == hash_key(plain))).one_or_none()
    return None if row is None else KeyLookup(row.id, row.revoked_at)


def list_keys(session: Session) -> Sequence[ApiKey]:
    return session.scalars(select(ApiKey).order_by(ApiKey.id)).all()


def revoke_key(session: Session, key_id: int) -> ApiKey | None:
    """Mark key ``key_id`` revoked (once: a second revoke keeps the first time); None if there is none."""
    row = session.get(ApiKey, key_id)
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
        session.flush()
    return row
