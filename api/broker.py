"""The Celery broker as the API sees it: long-job-safe settings, and dispatch by task name.

The API sends a job to the Celery workers by name, so it imports no worker code
(the task itself is registered in ``api.celery_app``, on the workers).

Long jobs are safe with these broker settings:
- ``task_acks_late``: a job's message is acknowledged only after it finishes, so a worker
  killed mid-job (even SIGKILL) leaves the message to be delivered again;
- ``task_reject_on_worker_lost``: a pool process lost mid-job puts the message back at once;
- ``worker_prefetch_multiplier=1``: a busy worker holds no second job;
- Redis ``visibility_timeout`` longer than the longest job (12 h), so a running job's
  message is not handed to a second worker while the first still works on it.
The store's lease (``api.queue``) is the final word: a re-delivered message for a job
that another worker holds is a no-op, and the server re-dispatches jobs whose lease
expired, which then resume from their checkpoint.
"""

from __future__ import annotations

from celery import Celery

from api.settings import Settings

VISIBILITY_TIMEOUT_S = 12 * 3600
TASK_NAME = "hwsearch.run_job"


def make_celery(settings: Settings) -> Celery:
    """A Celery app bound to ``settings.broker_url`` with long-job-safe settings."""
    app = Celery("hwsearch", broker=settings.broker_url)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT_S},
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )
    return app


def dispatch(settings: Settings, job_id: int) -> None:
    """Send a job to the Celery workers (by name: the API needs no worker code)."""
    make_celery(settings).send_task(TASK_NAME, args=[job_id])
