"""Alembic's migrations build exactly the schema the SQLAlchemy models describe."""

from __future__ import annotations

import os

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from api.db import make_engine, migrate
from api.models import Base

URLS = ["sqlite"] + (["postgresql"] if os.environ.get("HWSEARCH_TEST_DATABASE_URL") else [])


@pytest.mark.parametrize("kind", URLS)
def test_migrations_match_the_models(kind, tmp_path):
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'm.db'}"
    else:
        import sqlalchemy as sa

        url = os.environ["HWSEARCH_TEST_DATABASE_URL"]
        with sa.create_engine(url, isolation_level="AUTOCOMMIT").connect() as conn:  # a schema of its own
            conn.execute(sa.text("DROP SCHEMA IF EXISTS migrations_check CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA migrations_check"))
        url += ("&" if "?" in url else "?") + "options=-csearch_path%3Dmigrations_check"
    engine = make_engine(url)
    migrate(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == [], diff


def test_0006_hashes_the_tables_already_stored(tmp_path):
    """Tables uploaded before 0006 get their content's SHA-256, the key of the parse cache."""
    import hashlib

    import sqlalchemy as sa
    from alembic import command
    from alembic.config import Config

    from api.db import MIGRATIONS

    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0005")
        conn.execute(sa.text("INSERT INTO api_keys (id, name, key_hash, created_at) VALUES (1, 'k', 'h', '2026-01-01')"))
        conn.execute(sa.text("INSERT INTO hardware_tables (owner_id, name, content, created_at) VALUES (1, 't', 'a,b\n', '2026-01-01')"))
    migrate(engine)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT sha256 FROM hardware_tables")).scalar_one() == hashlib.sha256(b"a,b\n").hexdigest()
    engine.dispose()
