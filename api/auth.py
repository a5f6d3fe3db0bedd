"""API keys: bearer tokens. Only a SHA-256 of each key is stored."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.models import ApiKey

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


def find_key(session: Session, plain: str) -> ApiKey | None:
    return session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(plain)))
