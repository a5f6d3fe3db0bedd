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
