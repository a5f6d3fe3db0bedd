"""Predicted against measured from the service (issue 20 item 3): ``POST /policies/{id}/verify``
queues a timing of the policy's exports that a worker runs, on a named queue or on the
service's own workers, and the figures land on the policy (``verification``).

Real processes: ``hwsearch serve`` with its local worker, and a second worker on the queue
``box3`` with its own data dir (another machine's stand-in: it shares only the database).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.service import Server, create_key, run_on_worker_elsewhere, running_server, wait_for

SEARCH = {"model": "digits-cnn", "target": "bismo-edge", "objective": "latency", "budget": {"relative": 0.5},
          "agent": "uniform", "episodes": 2, "seed": 0, "eval_samples": 100}
TERMINAL = ("succeeded", "failed", "cancelled")


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Server:
    with running_server(tmp_path_factory.mktemp("server")) as running:
        yield running


@pytest.fixture(scope="module")
def alice(server):
    with server.client(create_key(server.env, "alice")) as client:
        yield client


@pytest.fixture(scope="module")
def policy_id(alice) -> int:
    job = alice.post("/jobs", json=SEARCH).json()
    done = wait_for(alice, job["id"], TERMINAL, timeout=120)
    assert done["state"] == "succeeded", done.get("error")
    return done["best_policy_id"]


def _figures(alice, policy_id: int) -> dict:
    return alice.get(f"/policies/{policy_id}").json()["verification"]


def test_a_policy_is_timed_by_the_services_workers_and_keeps_the_figures(alice, policy_id):
    assert _figures(alice, policy_id) is None
    job = alice.post(f"/policies/{policy_id}/verify", json={"warmup": 1, "repeats": 3})
    assert job.status_code == 201, job.text
    job = job.json()
    assert job["queue"] is None and job["spec"]["kind"] == "verify" and job["spec"]["model"] == "digits-cnn"
    done = wait_for(alice, job["id"], TERMINAL, timeout=180)
    assert done["state"] == "succeeded", done.get("error")
    figures = _figures(alice, policy_id)
    assert figures["predicted_ms"] > 0 and figures["measured_ms"] > 0 and figures["measured_on"]
    assert {m["name"] for m in figures["models"]} == {"policy", "uniform_int8", "float"}
    assert all(m["repeats"] == 3 for m in figures["models"])
    assert done["summary"]["measured_ms"] == figures["measured_ms"] and done["summary"]["policy_id"] == policy_id


def test_a_named_queue_waits_for_its_machine(server, alice, policy_id, tmp_path: Path):
    job = alice.post(f"/policies/{policy_id}/verify", json={"queue": "box3", "warmup": 0, "repeats": 2}).json()
    assert job["queue"] == "box3"
    done = run_on_worker_elsewhere(server.env, tmp_path / "box3", alice, job["id"], "--measure-queue", "box3")
    assert done["state"] == "succeeded", done.get("error")
    assert all(m["repeats"] == 2 for m in _figures(alice, policy_id)["models"])  # the newer timing replaced the first


@pytest.mark.parametrize(
    ("body", "field"),
    [({"queue": "bad queue"}, "queue"), ({"repeats": 0}, "repeats"), ({"warmup": True}, "warmup"), ({"extra": 1}, "extra")],
)
def test_bad_verify_requests_are_refused_naming_the_field(alice, policy_id, body, field):
    before = alice.get("/jobs").json()["total"]
    answer = alice.post(f"/policies/{policy_id}/verify", json=body)
    assert answer.status_code == 422 and field in answer.text
    assert alice.get("/jobs").json()["total"] == before


def test_another_keys_policy_cannot_be_timed(server, policy_id):
    with server.client(create_key(server.env, "mallory")) as mallory:
        answer = mallory.post(f"/policies/{policy_id}/verify", json={})
        assert answer.status_code == 404 and "not found" in answer.text
        assert mallory.get("/jobs").json()["total"] == 0
