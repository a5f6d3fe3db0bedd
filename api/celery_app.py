"""Celery workers for more than one machine: Redis broker, PostgreSQL store, same job code.

The broker settings that make long jobs safe are in ``api.broker``; this module adds the
task (``api.job_runner.execute_job``) that the workers run, and their heartbeats.

The heartbeat (``api.workers``) runs in each *pool* process, started on Celery's
``worker_process_init`` and stopped on ``worker_process_shutdown``: the pool process is
what runs a job and holds its lease, so its row names the job it runs, and a pool process
that died (Celery starts another) stops counting as alive even while the main process lives.
"""

from __future__ import annotations

from functools import lru_cache

from celery import Celery
from celery.signals import worker_process_init, worker_process_shutdown

from api.broker import TASK_NAME, make_celery
from api.db import Database
from api.job_runner import execute_job
from api.settings import Settings
from api.workers import Heartbeat

_heartbeat: list[Heartbeat] = []  # this pool process's, once started


@lru_cache(maxsize=1)
def _database(url: str) -> Database:
    return Database(url)


def _start_heartbeat(queue: str) -> None:
    current = Settings()  # the worker's own environment
    heartbeat = Heartbeat(_database(current.db_url), "celery", queue, interval_s=current.worker_stale_seconds / 3)
    heartbeat.start()
    _heartbeat.append(heartbeat)


def _stop_heartbeat() -> None:
    while _heartbeat:
        _heartbeat.pop().stop()


def make_worker_app(settings: Settings, queue_name: str | None = None) -> Celery:
    """The broker's app with the job task registered, and pool processes that beat
    (naming ``queue_name``, the queue they consume, when it is not the default one)."""
    app = make_celery(settings)

    @app.task(name=TASK_NAME)
    def run_job(job_id: int) -> None:
        current = Settings()  # the worker's own environment (database URL, data dir)
        execute_job(_database(current.db_url), current, job_id)

    queue = queue_name or app.conf.task_default_queue
    worker_process_init.connect(lambda **_: _start_heartbeat(queue), weak=False, dispatch_uid="hwsearch-heartbeat-start")
    worker_process_shutdown.connect(lambda **_: _stop_heartbeat(), weak=False, dispatch_uid="hwsearch-heartbeat-stop")
    return app


def run_celery_worker(settings: Settings, concurrency: int = 1, queue_name: str | None = None) -> None:
    """A Celery worker on the default queue, or only on ``queue_name`` (measurements for this machine)."""
    app = make_worker_app(settings, queue_name)
    argv = ["worker", "--loglevel=INFO", f"--concurrency={concurrency}", "--pool=prefork", "--without-gossip", "--without-mingle"]
    app.worker_main(argv + (["-Q", queue_name] if queue_name else []))
