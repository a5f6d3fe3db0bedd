"""A worker's run of one verification job: a stored policy's predicted latency against its
exported model's real speed on the worker's machine (``hwsearch.verify``).

A verification names a queue like a measurement (the machine whose speed is wanted), or
none (any of the service's own workers). The worker rebuilds the policy's exports where
the model is: a built-in model anywhere, an uploaded one where the service's data
directory is. The result is stored on the policy (``verification``) and in the job's
summary; writes are fenced by the claim like a search's.
"""

from __future__ import annotations

import platform
import socket
from collections.abc import Callable
from typing import Any

from api import queue
from api.checkpoints import drop_checkpoint
from api.db import Database
from api.models import Job, StoredPolicy, utcnow
from api.settings import Settings
from api.uploads import server_document
from hwsearch.verify import verify_policy

VERIFY_KIND = "verify"


def is_verification(spec: dict[str, Any]) -> bool:
    return spec.get("kind") == VERIFY_KIND


def run_verification(
    db: Database, held: queue.Claim, lease_seconds: float, settings: Settings, spec: dict[str, Any],
    should_stop: Callable[[], bool],
) -> None:
    """Export and time the job's policy here; store the figures on the policy and finish the job."""
    with db.session() as session:
        job = session.get(Job, held.job_id)
        row = session.get(StoredPolicy, spec["policy_id"])
        doc = server_document(session, settings, row.document, job.owner_id)
        weights = row.finetuned_weights
    if should_stop():
        with db.session() as session:
            queue.fence(session, held, lease_seconds)
            job = session.get(Job, held.job_id)
            job.state, job.finished_at, job.lease_until = "cancelled", utcnow(), None
        return
    result = verify_policy(doc, weights, warmup=spec["warmup"], repeats=spec["repeats"]).to_dict()
    result["measured_on"] = f"{socket.gethostname()} ({platform.machine()})"
    with db.session() as session:
        queue.fence(session, held, lease_seconds)
        session.get(StoredPolicy, spec["policy_id"]).verification = result
        job = session.get(Job, held.job_id)
        job.summary = {"policy_id": spec["policy_id"], **{k: result[k] for k in ("predicted_ms", "measured_ms", "ratio", "measured_on")}}
        job.state, job.finished_at, job.lease_until = "succeeded", utcnow(), None
        drop_checkpoint(session, job.id)
