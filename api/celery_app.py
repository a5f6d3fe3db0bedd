"""Celery workers for more than one machine: Redis broker, PostgreSQL store, same job code.

The broker settings that make long jobs safe are in ``api.broker``; this module adds the
task (``api.job_runner.execute_job``) that the workers run.
"""

from __future__ import annotations

from functools import lru_cache

from celery import Celery

from api.broker import TASK_NAME, make_celery
from api.db import Database
from api.job_runner import execute_job
from api.settings import Settings


@lru_cache(maxsize=1)
def _database(url: str) -> Database:
    return Database(url)


def make_worker_app(settings: Settings) -> Celery:
    """The broker's app with the job task registered."""
    app = make_celery(settings)

    @app.task(name=TASK_NAME)
    def run_job(job_id: int) -> None:
        current = Settings()  # the worker's own environment (database URL, data dir)
        execute_job(_database(current.db_url), current, job_id)

    return app


def run_celery_worker(settings: Settings, concurrency: int = 1) -> None:
    app = make_worker_app(settings)
    app.worker_main(["worker", "--loglevel=INFO", f"--concurrency={concurrency}", "--pool=prefork", "--without-gossip", "--without-mingle"])
