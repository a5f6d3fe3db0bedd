"""Nothing is lost: a worker killed with SIGKILL, and a server restart."""

from __future__ import annotations

import os
import signal

import pytest

from tests.service import Server, create_key, start_worker, wait_for

JOB = {"model": "digits-cnn", "target": "bismo-edge", "budget": {"relative": 0.5}, "agent": "ddpg", "episodes": 30, "seed": 3}


@pytest.fixture()
def server(tmp_path):
    srv = Server(tmp_path, f"sqlite:///{tmp_path / 'hwsearch.db'}", workers=0).start()
    yield srv
    srv.stop()


@pytest.mark.slow
def test_killed_worker_job_resumes_from_checkpoint(server):
    with server.client(create_key(server.env)) as client:
        job = client.post("/jobs", json=JOB).json()
        first = start_worker(server.env, "--local")
        try:
            wait_for(client, job["id"], ("running",), min_episode=22)
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
            killed_at = client.get(f"/jobs/{job['id']}").json()
            assert killed_at["state"] == "running"  # still marked running: its lease will expire
            second = start_worker(server.env, "--local")
            done = wait_for(client, job["id"], ("succeeded",))
            assert done["attempts"] == 2
            assert len(done["history"]) == JOB["episodes"]
            # an uninterrupted run of the same spec and seed gives the same search
            again = wait_for(client, client.post("/jobs", json=JOB).json()["id"], ("succeeded",))
            assert again["attempts"] == 1
            assert [h["reward"] for h in again["history"]] == [h["reward"] for h in done["history"]]
            assert again["summary"]["evaluations"] >= 1
        finally:
            for proc in (first, locals().get("second")):
                if proc is not None and proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)


def test_restart_keeps_queued_and_finished_jobs(server):
    key = create_key(server.env)
    with server.client(key) as client:
        queued = client.post("/jobs", json={**JOB, "agent": "random", "episodes": 4}).json()
        assert queued["state"] == "queued"  # no worker yet
    server.stop()
    server.start()
    with server.client(key) as client:
        assert client.get(f"/jobs/{queued['id']}").json()["state"] == "queued"
        worker = start_worker(server.env, "--local")
        try:
            done = wait_for(client, queued["id"], ("succeeded",))
        finally:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=30)
    server.stop()
    server.start()
    with server.client(key) as client:
        again = client.get(f"/jobs/{queued['id']}").json()
        assert again["state"] == "succeeded" and again["best_policy_id"] == done["best_policy_id"]
        assert client.get(f"/policies/{done['best_policy_id']}").status_code == 200


def test_sigterm_hands_running_job_back(server):
    with server.client(create_key(server.env)) as client:
        job = client.post("/jobs", json={**JOB, "episodes": 200}).json()
        worker = start_worker(server.env, "--local")
        wait_for(client, job["id"], ("running",), min_episode=3)
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)
        back = client.get(f"/jobs/{job['id']}").json()
        assert back["state"] == "queued" and back["progress"]["episode"] >= 3
        client.post(f"/jobs/{job['id']}/cancel")
