"""``hwsearch serve``, ``hwsearch worker`` and ``hwsearch keys create|list|revoke``."""

from __future__ import annotations

import logging
import os
from typing import Annotated

import typer

keys_app = typer.Typer(help="API keys for the service.", no_args_is_help=True)

DbOption = Annotated[str | None, typer.Option("--db", help="Database URL (default: SQLite file in the data dir).")]
DataDirOption = Annotated[str | None, typer.Option("--data-dir", help="Where the SQLite file and checkpoints live.")]


def _database(db: str | None, data_dir: str | None):
    """The store the options name, migrated (a first command on a fresh data dir works too)."""
    from api.db import Database, migrate

    database = Database(_settings(db, data_dir).db_url)
    migrate(database.engine)
    return database


def _settings(db: str | None, data_dir: str | None, **extra):
    from api.settings import Settings

    values = {k: v for k, v in {"database_url": db, "data_dir": data_dir, **extra}.items() if v is not None}
    return Settings(**values)


def _refuse_a_database_without_jobs(url: str) -> None:
    """A worker serves the jobs a server stored: a database its server never set up (say, a
    fresh data dir's default SQLite file) is the wrong one, said in one line, not polled."""
    from sqlalchemy import inspect
    from sqlalchemy.exc import SQLAlchemyError

    from api.db import make_engine
    from hwsearch.cli.errors import fail

    engine = make_engine(url)
    try:
        has_jobs = inspect(engine).has_table("jobs")
    except SQLAlchemyError as exc:
        fail(f"db: cannot open the database {engine.url.render_as_string(hide_password=True)}: {exc.__class__.__name__}")
    finally:
        engine.dispose()
    if not has_jobs:
        fail(f"db: {engine.url.render_as_string(hide_password=True)} has no hwsearch jobs table: point --db "
             "(or HWSEARCH_DATABASE_URL) at the database of the server whose jobs this worker should run")


def serve_command(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    db: DbOption = None,
    data_dir: DataDirOption = None,
    workers: Annotated[int | None, typer.Option(help="Local worker processes (default 1; 0 with a broker).")] = None,
    api_processes: Annotated[
        int | None, typer.Option(min=1, max=64, help="API processes serving the port (default 1; about one per core under load).")
    ] = None,
) -> None:
    """Run the API, the web page and local workers (SQLite by default: nothing else to start)."""
    from api.server import serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    serve(_settings(db, data_dir, workers=workers, api_processes=api_processes), host, port)


def worker_command(
    db: DbOption = None,
    data_dir: DataDirOption = None,
    broker: Annotated[str | None, typer.Option(help="Celery broker URL (e.g. redis://127.0.0.1:6379/0).")] = None,
    local: Annotated[bool, typer.Option("--local", help="Poll the database instead of a broker.")] = False,
    concurrency: Annotated[int, typer.Option(help="Celery worker processes.")] = 1,
    parent_pid: Annotated[
        int | None, typer.Option("--parent-pid", help="Local worker: stop when this process is gone (`hwsearch serve` sets it).")
    ] = None,
    measure_queue: Annotated[
        str | None,
        typer.Option(
            "--measure-queue",
            help="Take only jobs on this named queue: measurements (POST /hardware/measure) to time on this machine.",
        ),
    ] = None,
) -> None:
    """Run a worker: Celery (with --broker or HWSEARCH_BROKER_URL) or a local database-polling one."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = _settings(db, data_dir, broker_url=broker)
    _refuse_a_database_without_jobs(settings.db_url)
    os.environ["HWSEARCH_DATABASE_URL"] = settings.db_url  # Celery's pool processes read it
    os.environ["HWSEARCH_DATA_DIR"] = str(settings.data_dir)
    if settings.broker_url and not local:
        from api.celery_app import run_celery_worker

        run_celery_worker(settings, concurrency, measure_queue)
    else:
        from api.worker import run_local_worker

        try:
            run_local_worker(settings, parent_pid=parent_pid, queue_name=measure_queue)
        except (KeyboardInterrupt, SystemExit):
            pass


@keys_app.command("create")
def create_key_command(
    db: DbOption = None,
    data_dir: DataDirOption = None,
    name: Annotated[str, typer.Option(help="A label for the key.")] = "default",
) -> None:
    """Create an API key and print it (the last word of the output)."""
    from api.auth import create_key

    with _database(db, data_dir).session() as session:
        _, plain = create_key(session, name)
    typer.echo(f"created API key '{name}': {plain}")


def _when(moment) -> str:  # noqa: ANN001
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment is not None else "-"


@keys_app.command("list")
def list_keys_command(db: DbOption = None, data_dir: DataDirOption = None) -> None:
    """List API keys: id, name, created, revoked. Keys themselves are never stored, so never shown."""
    from api.auth import list_keys

    with _database(db, data_dir).session() as session:
        rows = [(str(k.id), k.name, _when(k.created_at), _when(k.revoked_at)) for k in list_keys(session)]
    if not rows:
        typer.echo("no API keys yet; create one with `hwsearch keys create`")
        return
    table = [("id", "name", "created", "revoked"), *rows]
    widths = [max(len(row[i]) for row in table) for i in range(3)]
    for row in table:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True)) + "  " + row[3])


@keys_app.command("revoke")
def revoke_key_command(
    key_id: Annotated[int, typer.Argument(help="The key's id, from `hwsearch keys list`.")],
    db: DbOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Revoke an API key: requests with it get 401 "API key revoked"; its jobs and policies stay."""
    from api.auth import revoke_key
    from hwsearch.cli.errors import fail

    with _database(db, data_dir).session() as session:
        key = revoke_key(session, key_id)
        if key is None:
            fail(f"no API key with id {key_id}; `hwsearch keys list` shows them")
        name, revoked_at = key.name, key.revoked_at
    typer.echo(f"API key {key_id} '{name}' revoked ({_when(revoked_at)})")
