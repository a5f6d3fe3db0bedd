"""A worker's run of one measurement job: time the model's layer shapes here, store the table.

The job carries the layer shapes the server traced at submit (``spec.layers``), so the
worker times onnxruntime's kernels for those shapes without torch's trace of the model. With
``spec.whole_model`` it then times the model whole (a built-in by name, an upload fetched
from the store like a search's), which scales the table and prices the switches back into
integer kernels. A machine on a named queue (``hwsearch worker --measure-queue NAME``)
stores the table as an upload of the job's owner, as ``POST /hardware`` would. Writes are
fenced by the claim like a search's; cancel is read between shapes and between whole-model
timings.
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
from api.settings import Settings
from api.uploads import UPLOAD_PREFIX, owned_model, upload_file
from hwsearch.search import RuntimeLayers, measure_layer_table

MEASURE_KIND = "measure"


class MeasurementCancelled(Exception):
    """The owner cancelled the measurement: stop between two shapes, store nothing."""


def is_measurement(spec: dict[str, Any]) -> bool:
    return spec.get("kind") == MEASURE_KIND


def run_measurement(
    db: Database, held: queue.Claim, lease_seconds: float, settings: Settings, spec: dict[str, Any],
    should_stop: Callable[[], bool],
) -> None:
    """Measure ``spec``'s layers on this machine; store the table and finish the job."""
    summary: dict[str, Any] = {}

    def report(**progress: Any) -> None:
        if should_stop():
            raise MeasurementCancelled
        summary.update(progress)
        with db.session() as session:  # progress, fenced: a worker whose claim was taken stops here
            queue.fence(session, held, lease_seconds)
            session.get(Job, held.job_id).summary = dict(summary)

    host = socket.gethostname()
    runtime = None  # a job queued before the service read the runtime's layers keeps every int8 entry
    if spec.get("float_layers") is not None:
        runtime = RuntimeLayers(spec["float_layers"], spec.get("requantized_by") or [])
    whole_model = None
    if spec.get("whole_model") and runtime is not None:
        with db.session() as session:
            job = session.get(Job, held.job_id)
            upload = owned_model(session, spec["model"], job.owner_id)
            whole_model = str(upload_file(session, settings, upload)) if upload else spec["model"]
    try:
        text, shapes = measure_layer_table(
            spec["layers"], spec["name"], spec["model"], spec["warmup"], spec["repeats"],
            lambda done, total, _: report(shapes_done=done, shapes=total),
            {"measured-on": f"{host} ({platform.machine()})"}, runtime, whole_model,
            lambda done, total, _: report(whole_model_done=done, whole_model_steps=total),
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
        job.summary = {**summary, "table": f"{UPLOAD_PREFIX}{row.id}", "shapes": shapes, "measured_on": host}
        job.state, job.finished_at, job.lease_until = "succeeded", utcnow(), None
        drop_checkpoint(session, job.id)
