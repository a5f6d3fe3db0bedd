"""``hwsearch serve``: the API, the web page and local worker processes, on one machine."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import uvicorn

from api.app import create_app
from api.db import Database, migrate
from api.settings import Settings

log = logging.getLogger("hwsearch.server")


def ensure_first_key(db: Database) -> str | None:
    """On a store with no API key yet, create one and return it (shown once)."""
    from sqlalchemy import func, select

    from api.auth import create_key
    from api.models import ApiKey

    with db.session() as session:
        if session.scalar(select(func.count()).select_from(ApiKey)):
            return None
        _, plain = create_key(session, "first")
        return plain


def start_local_workers(settings: Settings) -> list[subprocess.Popen]:
    """Worker processes (``hwsearch worker --local``) sharing the server's store."""
    env = {**os.environ, "HWSEARCH_DATABASE_URL": settings.db_url, "HWSEARCH_DATA_DIR": str(settings.data_dir)}
    env.pop("HWSEARCH_BROKER_URL", None)
    return [
        subprocess.Popen([sys.executable, "-m", "hwsearch", "worker", "--local"], env=env)
        for _ in range(settings.workers)
    ]


def serve(settings: Settings, host: str, port: int) -> None:
    db = Database(settings.db_url)
    migrate(db.engine)
    first = ensure_first_key(db)
    if first:
        print(f"Created the first API key (shown once; send it as 'Authorization: Bearer KEY'): {first}", flush=True)
    workers = [] if settings.broker_url else start_local_workers(settings)
    try:
        uvicorn.run(create_app(settings), host=host, port=port, log_level="info")
    finally:
        for proc in workers:
            proc.terminate()
        for proc in workers:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
