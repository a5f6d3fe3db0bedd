"""Measure on the device: a measurement job runs only on a worker of its named queue.

Real processes: ``hwsearch serve`` with its own local worker, and a second
``hwsearch worker --measure-queue box2`` process with its own data dir (another machine's
stand-in: it shares only the database).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.service import Server, create_key, running_server, start_worker, stop_worker, wait_for

MEASURE = {"model": "digits-cnn", "queue": "box2", "name": "box2-cpu", "warmup": 1, "repeats": 3}
SEARCH = {"model": "digits-cnn", "objective": "latency", "budget": {"relative": 1.0}, "agent": "uniform", "episodes": 2, "seed": 0}


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Server:
    with running_server(tmp_path_factory.mktemp("server")) as running:
        yield running


@pytest.fixture(scope="module")
def alice(server):
    with server.client(create_key(server.env, "alice")) as client:
        yield client


def test_a_measurement_waits_for_its_queue_then_stores_a_table_a_search_can_use(server, alice, tmp_path: Path):
    job = alice.post("/hardware/measure", json=MEASURE)
    assert job.status_code == 201, job.text
    job = job.json()
    assert job["queue"] == "box2" and job["state"] == "queued" and job["spec"]["kind"] == "measure"
    assert [name for name, _ in job["spec"]["float_layers"]] == ["11"]  # read at submit: the classifier stays float
    assert {layer: consumers for layer, _, consumers in job["spec"]["requantized_by"]}["8"] == ["11"]
    time.sleep(3)  # the server's own worker polls twice a second and is alive: it must leave it alone
    assert alice.get(f"/jobs/{job['id']}").json()["state"] == "queued"
    other = tmp_path / "box2"
    other.mkdir()
    worker = start_worker({**server.env, "HWSEARCH_DATA_DIR": str(other)}, "--local", "--measure-queue", "box2")
    try:
        done = wait_for(alice, job["id"], ("succeeded", "failed", "cancelled"), timeout=120)
    finally:
        stop_worker(worker)
    assert done["state"] == "succeeded", done.get("error")
    table = done["summary"]["table"]
    assert table.startswith("upload:") and done["summary"]["shapes"] >= 1 and done["summary"]["measured_on"]
    listed = {t["name"]: t for t in alice.get("/hardware").json()}
    assert table in listed and listed[table]["builtin"] is False
    stored = stored_table(server, int(table.removeprefix("upload:")))  # timed there, with the runtime's layers
    assert set(stored.float_layers) == {tuple(pair) for pair in job["spec"]["float_layers"]}
    assert stored.requantized_by[("8", next(s for n, s, _ in job["spec"]["requantized_by"] if n == "8"))][0] == ("11",)
    assert all(ms is not None and ms > 0 for _, ms in stored.requantized_by.values())
    # and timed whole there: scaled to the whole model, every switch back into integers priced
    assert job["spec"]["whole_model"] is True and set(stored.whole_model_scale) == {"integer", "float"}
    assert set(stored.float_to_integer) == set(stored.requantized_by)
    assert done["summary"]["whole_model_done"] == done["summary"]["whole_model_steps"] == 1 + len(stored.requantized_by)
    search = alice.post("/jobs", json={**SEARCH, "target": table})
    assert search.status_code == 201, search.text  # the measured table is a search's target
    alice.post(f"/jobs/{search.json()['id']}/cancel")


def test_a_worker_times_an_uploaded_model_whole_from_the_store(server, alice, tmp_path: Path):
    """The measuring worker's data dir lacks the upload: it fetches the model's bytes from the
    store to time it whole. Asked not to, it times the lone layers only."""
    from tests.fixtures.user_models import UserCNN, onnx_bytes

    import torch

    torch.manual_seed(0)
    model = alice.post("/models", files={"file": ("net.onnx", onnx_bytes(UserCNN()))})
    assert model.status_code == 201, model.text
    reference = f"upload:{model.json()['id']}"
    whole = alice.post("/hardware/measure", json={**MEASURE, "model": reference, "queue": "box3"}).json()
    lone = alice.post("/hardware/measure", json={**MEASURE, "model": reference, "queue": "box3", "whole_model": False}).json()
    assert whole["spec"]["whole_model"] is True and lone["spec"]["whole_model"] is False
    other = tmp_path / "box3"
    other.mkdir()
    worker = start_worker({**server.env, "HWSEARCH_DATA_DIR": str(other)}, "--local", "--measure-queue", "box3")
    try:
        done = [wait_for(alice, job["id"], ("succeeded", "failed", "cancelled"), timeout=120) for job in (whole, lone)]
    finally:
        stop_worker(worker)
    assert [d["state"] for d in done] == ["succeeded", "succeeded"], [d.get("error") for d in done]
    timed, untimed = (stored_table(server, int(d["summary"]["table"].removeprefix("upload:"))) for d in done)
    assert timed.whole_model_scale and set(timed.float_to_integer) == set(timed.requantized_by) != set()
    assert untimed.whole_model_scale == {} and untimed.float_to_integer == {} and untimed.requantized_by


def stored_table(server, table_id: int):
    """The table a worker stored, read from the service's database and parsed."""
    from api.db import Database
    from api.models import HardwareTable
    from latency_tables import parse_table

    db = Database(server.env["HWSEARCH_DATABASE_URL"])
    try:
        with db.sessions() as session:
            return parse_table(session.get(HardwareTable, table_id).content)
    finally:
        db.engine.dispose()


def test_a_measurement_nobody_serves_stays_queued_and_can_be_cancelled(alice):
    job = alice.post("/hardware/measure", json={**MEASURE, "queue": "nobody-here"}).json()
    time.sleep(1.5)
    assert alice.get(f"/jobs/{job['id']}").json()["state"] == "queued"
    alice.post(f"/jobs/{job['id']}/cancel")
    assert wait_for(alice, job["id"], ("cancelled",), timeout=20)["state"] == "cancelled"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"model": "no-such-net"}, "model"),
        ({"model": "upload:999"}, "model"),
        ({"queue": "has space"}, "queue"),
        ({"queue": ""}, "queue"),
        ({"repeats": True}, "repeats"),
        ({"repeats": 0}, "repeats"),
        ({"warmup": 10**6}, "warmup"),
        ({"name": "a\x00b"}, "name"),
        ({"whole_model": "yes"}, "whole_model"),
        ({"extra": 1}, "extra"),
    ],
)
def test_a_bad_measurement_is_refused_naming_the_field_and_stores_nothing(alice, change, field):
    before = alice.get("/jobs", params={"limit": 200}).json()["total"]
    response = alice.post("/hardware/measure", json={**MEASURE, **change})
    assert response.status_code == 422, response.text
    assert field in response.json()["message"]
    assert alice.get("/jobs", params={"limit": 200}).json()["total"] == before
