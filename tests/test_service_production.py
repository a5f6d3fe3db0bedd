"""The production setup for real: PostgreSQL store, Celery workers on a Redis broker.

Runs when HWSEARCH_TEST_DATABASE_URL (a PostgreSQL server URL; a fresh database is made
on it) and, for Celery, HWSEARCH_TEST_REDIS_URL are set; `.ci/run` sets both.
"""

from __future__ import annotations

import os
import signal
import time

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


def holder(db_url: str, job_id: int, workers: list):
    """The worker process (its group leader) whose pool process holds the job."""
    from api.db import Database
    from api.models import Job

    db = Database(db_url)
    with db.sessions() as session:
        pid = int(session.get(Job, job_id).worker.rsplit(":", 1)[1])
    db.engine.dispose()
    return next(proc for proc in workers if os.getpgid(pid) == proc.pid)


@pytest.mark.slow
def test_celery_worker_runs_and_survives_sigkill(tmp_path, pg_url, redis_broker):
    """One message per job however long it waits; a worker killed mid-job: its job runs
    again on another worker within the lease plus 5 s, resumes, and leaves no message behind."""
    import redis

    broker = redis.Redis.from_url(redis_broker)
    server = Server(tmp_path, pg_url, workers=0, broker=redis_broker).start()
    lease = float(server.env["HWSEARCH_LEASE_SECONDS"])
    workers = []
    try:
        with server.client(create_key(server.env)) as client:
            assert client.get("/healthz").json()["queue"] == "celery"
            quick = [client.post("/jobs", json={**JOB, "seed": seed}).json() for seed in range(3)]
            time.sleep(3 * lease)  # several dispatch rounds with no worker to take the jobs
            assert broker.llen("celery") == 3
            workers.append(start_worker(server.env, "--broker", redis_broker))
            for job in quick:
                assert wait_for(client, job["id"], ("succeeded",))["attempts"] == 1
            # the fine-tune keeps the job running after its last episode: a wide window to kill it in
            slow = client.post("/jobs", json={**JOB, "agent": "ddpg", "episodes": 26, "finetune_steps": 300}).json()
            workers.append(start_worker(server.env, "--broker", redis_broker))  # idle, waiting
            wait_for(client, slow["id"], ("running",), min_episode=21)
            victim = holder(pg_url, slow["id"], workers)
            os.killpg(victim.pid, signal.SIGKILL)
            killed = time.monotonic()
            while client.get(f"/jobs/{slow['id']}").json()["attempts"] < 2:
                assert time.monotonic() - killed < lease + 5, "not running again within the lease plus 5 s"
                time.sleep(0.05)
            print(f"recovered {time.monotonic() - killed:.1f} s after the kill (lease {lease:g} s)")
            done = wait_for(client, slow["id"], ("succeeded",), timeout=240)
            assert done["attempts"] == 2 and len(done["history"]) == 26
            assert broker.llen("celery") == 0  # no duplicate message waits in the queue
    finally:
        for proc in workers:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        server.stop()


def test_a_measurement_goes_to_the_celery_queue_of_its_name(tmp_path, pg_url, redis_broker):
    """On Celery the server sends a measurement to the broker queue named in it: a worker on
    the default queue never gets it, a worker started with --measure-queue runs it."""
    import redis

    broker = redis.Redis.from_url(redis_broker)
    server = Server(tmp_path, pg_url, workers=0, broker=redis_broker).start()
    workers = [start_worker(server.env, "--broker", redis_broker)]  # the default queue's
    try:
        with server.client(create_key(server.env)) as client:
            job = client.post("/hardware/measure", json={"model": "digits-cnn", "queue": "box2", "warmup": 1, "repeats": 3}).json()
            deadline = time.monotonic() + 20
            while broker.llen("box2") != 1 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert broker.llen("box2") == 1 and broker.llen("celery") == 0  # sent once, to its own queue
            time.sleep(2)
            assert client.get(f"/jobs/{job['id']}").json()["state"] == "queued"  # the default worker leaves it
            other = tmp_path / "box2"
            other.mkdir()
            workers.append(start_worker({**server.env, "HWSEARCH_DATA_DIR": str(other)}, "--broker", redis_broker, "--measure-queue", "box2"))
            done = wait_for(client, job["id"], ("succeeded", "failed"), timeout=120)
            assert done["state"] == "succeeded", done.get("error")
            assert done["summary"]["table"] in {t["name"] for t in client.get("/hardware").json()}
    finally:
        for proc in workers:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        server.stop()
