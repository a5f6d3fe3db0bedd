"""The production setup for real: PostgreSQL store, Celery workers on a Redis broker.

Runs when HWSEARCH_TEST_DATABASE_URL (a PostgreSQL server URL; a fresh database is made
on it) and, for Celery, HWSEARCH_TEST_REDIS_URL are set; `.ci/run` sets both.
"""

from __future__ import annotations

import os
import signal

import pytest

from tests.service import Server, create_key, fresh_postgres_db, start_worker, wait_for

PG = os.environ.get("HWSEARCH_TEST_DATABASE_URL")
REDIS = os.environ.get("HWSEARCH_TEST_REDIS_URL")
JOB = {"model": "digits-cnn", "target": "bismo-edge", "budget": {"relative": 0.5}, "agent": "random", "episodes": 5, "seed": 1}

pytestmark = pytest.mark.skipif(not PG, reason="HWSEARCH_TEST_DATABASE_URL not set")


@pytest.fixture()
def pg_url():
    url, drop = fresh_postgres_db(PG)
    yield url
    drop()


def test_postgres_end_to_end(tmp_path, pg_url):
    server = Server(tmp_path, pg_url, workers=1).start()
    try:
        with server.client(create_key(server.env)) as client:
            assert client.get("/healthz").json()["database"] == "postgresql"
            job = client.post("/jobs", json=JOB).json()
            done = wait_for(client, job["id"], ("succeeded",))
            policy = client.get(f"/policies/{done['best_policy_id']}").json()
            assert len(policy["layers"]) == 6
            export = client.get(f"/policies/{policy['id']}/export", params={"format": "csv"})
            assert export.status_code == 200 and export.text.count("\n") >= 7
            assert client.post("/jobs", json={**JOB, "target": "nope"}).status_code == 422
            assert client.get("/jobs").json()["total"] == 1
    finally:
        server.stop()


@pytest.fixture()
def redis_broker():
    if not REDIS:
        pytest.skip("HWSEARCH_TEST_REDIS_URL not set")
    import redis

    redis.Redis.from_url(REDIS).flushdb()  # no stale messages from an earlier run
    return REDIS


@pytest.mark.slow
def test_celery_worker_runs_and_survives_sigkill(tmp_path, pg_url, redis_broker):
    server = Server(tmp_path, pg_url, workers=0, broker=redis_broker).start()
    workers = []
    try:
        with server.client(create_key(server.env)) as client:
            assert client.get("/healthz").json()["queue"] == "celery"
            workers.append(start_worker(server.env, "--broker", redis_broker))
            quick = client.post("/jobs", json=JOB).json()
            assert wait_for(client, quick["id"], ("succeeded",))["attempts"] == 1
            # the fine-tune keeps the job running after its last episode: a wide window to kill it in
            slow = client.post("/jobs", json={**JOB, "agent": "ddpg", "episodes": 26, "finetune_steps": 300}).json()
            wait_for(client, slow["id"], ("running",), min_episode=21)
            os.killpg(workers[0].pid, signal.SIGKILL)
            workers.append(start_worker(server.env, "--broker", redis_broker))
            done = wait_for(client, slow["id"], ("succeeded",), timeout=240)
            assert done["attempts"] == 2 and len(done["history"]) == 26
    finally:
        for proc in workers:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        server.stop()
