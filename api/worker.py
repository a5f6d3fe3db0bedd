"""A local worker process: takes jobs from the store until told to stop.

``hwsearch serve`` starts these next to the API (the default, nothing else to run);
``hwsearch worker --db URL`` starts one by hand against a shared database.
"""

from __future__ import annotations

import logging
import signal
import time

from api.db import Database
from api.job_runner import execute_job
from api.settings import Settings

log = logging.getLogger("hwsearch.worker")


def _raise_exit(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def run_local_worker(settings: Settings, poll_seconds: float = 0.5, max_jobs: int | None = None) -> None:
    """Poll for claimable jobs and run them; SIGTERM hands a running job back to the queue."""
    signal.signal(signal.SIGTERM, _raise_exit)
    db = Database(settings.db_url)
    done = 0
    log.info("local worker polling %s", settings.db_url.split("@")[-1])
    while max_jobs is None or done < max_jobs:
        job_id = execute_job(db, settings)
        if job_id is None:
            time.sleep(poll_seconds)
        else:
            done += 1
