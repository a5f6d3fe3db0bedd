"""A worker's run of one measurement job: time the model's layer shapes here, store the table.

The job carries the layer shapes the server traced at submit (``spec.layers``), so the
worker that measures needs neither the model's file nor torch's trace of it: a machine on
a named queue (``hwsearch worker --measure-queue NAME``) times onnxruntime's kernels for
those shapes and stores the table as an upload of the job's owner, as ``POST /hardware``
would. Writes are fenced by the claim like a search's; cancel is read between shapes.
"""

from __future__ import annotations

import platform
import socket
from collections.abc import Callable
from typing import Any

from api import queue
from api.checkpoints import drop_checkpoint
from api.db import Database
from api.models import HardwareTable, Job, utcnow
from api.uploads import UPLOAD_PREFIX
from hwsearch.search import RuntimeLayers, measure_layer_table

MEASURE_KIND = "measure"


class MeasurementCancelled(Exception):
    """The owner cancelled the measurement: stop between two shapes, store nothing."""


def is_measurement(spec: dict[str, Any]) -> bool:
    return spec.get("kind") == MEASURE_KIND


def run_measurement(
    db: Database, held: queue.Claim, lease_seconds: float, spec: dict[str, Any], should_stop: Callable[[], bool]
) -> None:
    """Measure ``spec``'s layers on this machine; store the table and finish the job."""

    def between_shapes(done: int, total: int, shape: str) -> None:
        if should_stop():
            raise MeasurementCancelled
        with db.session() as session:  # progress, fenced: a worker whose claim was taken stops here
            queue.fence(session, held, lease_seconds)
            session.get(Job, held.job_id).summary = {"shapes_done": done, "shapes": total}

    host = socket.gethostname()
    runtime = None  # a job queued before the service read the runtime's layers keeps every int8 entry
    if spec.get("float_layers") is not None:
        runtime = RuntimeLayers(spec["float_layers"], spec.get("requantized_by") or [])
    try:
        text, shapes = measure_layer_table(
            spec["layers"], spec["name"], spec["model"], spec["warmup"], spec["repeats"], between_shapes,
            {"measured-on": f"{host} ({platform.machine()})"}, runtime,
        )
    except MeasurementCancelled:
        with db.session() as session:
            queue.fence(session, held, lease_seconds)
            job = session.get(Job, held.job_id)
            job.state, job.finished_at, job.lease_until = "cancelled", utcnow(), None
        return
    with db.session() as session:
        queue.fence(session, held, lease_seconds)
        job = session.get(Job, held.job_id)
        row = HardwareTable(owner_id=job.owner_id, name=spec["name"], content=text)
        session.add(row)
        session.flush()
        job.summary = {"table": f"{UPLOAD_PREFIX}{row.id}", "shapes": shapes, "measured_on": host}
        job.state, job.finished_at, job.lease_until = "succeeded", utcnow(), None
        drop_checkpoint(session, job.id)
