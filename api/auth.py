"""API keys: bearer tokens. Only a SHA-256 of each key is stored; a revoked key stays as a row
(its jobs and policies keep their owner) but no longer authenticates."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence

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


def _row(session: Session, plain: str) -> ApiKey | None:
    return session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(plain)))


def find_key(session: Session, plain: str) -> ApiKey | None:
    """The active key ``plain`` is; None for an unknown or revoked one."""
    row = _row(session, plain)
    return row if row is not None and row.revoked_at is None else None


def is_revoked(session: Session, plain: str) -> bool:
    """Whether ``plain`` was a key that has been revoked (so a refusal can say so)."""
    row = _row(session, plain)
    return row is not None and row.revoked_at is not None


def list_keys(session: Session) -> Sequence[ApiKey]:
    return session.scalars(select(ApiKey).order_by(ApiKey.id)).all()


def revoke_key(session: Session, key_id: int) -> ApiKey | None:
    """Mark key ``key_id`` revoked (once: a second revoke keeps the first time); None if there is none."""
    row = session.get(ApiKey, key_id)
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
        session.flush()
    return row
