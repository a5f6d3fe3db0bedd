"""One writer per job: fencing tokens, the retry limit, and a worker paused past its lease.

The store-level tests run on SQLite and, when HWSEARCH_TEST_DATABASE_URL is set, on
PostgreSQL; the paused-worker test runs real worker processes.
"""

from __future__ import annotations

import os
import signal
import time

import pytest
from sqlalchemy import func, select

from api import queue, store
from api.auth import create_key as store_key
from api.checkpoints import JobCheckpointStore
from api.db import Database, migrate
from api.models import Job, JobCheckpoint, StoredPolicy
from hwsearch.search import SearchProgress
from tests.service import Server, create_key, fresh_postgres_db, start_worker, wait_for

PG = os.environ.get("HWSEARCH_TEST_DATABASE_URL")
SPEC = {"model": "digits-cnn", "target": "bismo-edge", "budget": {"relative": 0.5}, "agent": "random", "episodes": 5, "seed": 0}


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    if request.param == "sqlite":
        database, drop = Database(f"sqlite:///{tmp_path / 'store.db'}"), None
    else:
        if not PG:
            pytest.skip("HWSEARCH_TEST_DATABASE_URL not set")
        url, drop = fresh_postgres_db(PG)
        database = Database(url)
    migrate(database.engine)
    yield database
    database.engine.dispose()
    if drop:
        drop()


def new_job(db: Database) -> int:
    with db.session() as session:
        key, _ = store_key(session, "t")
        job = Job(owner_id=key.id, spec=SPEC, state="queued", cancel_requested=False, attempts=0)
        session.add(job)
        session.flush()
        return job.id


def expire(db: Database, job_id: int) -> None:
    """Make the job's lease run out now (as a paused or dead worker's would)."""
    with db.session() as session:
        session.get(Job, job_id).lease_until = queue.utcnow()


def progress(episode: int) -> SearchProgress:
    return SearchProgress(episode=episode, episodes=5, best_accuracy=0.5, best_latency_ms=1.0, best_energy_mj=None, reward=0.0, accuracy=0.5, elapsed_s=1.0)


def test_a_claim_taken_over_writes_nothing(db):
    job_id = new_job(db)
    with db.sessions() as session:
        first = queue.claim(session, "a", 30)
    store.save_progress(db, first, 30, progress(1))
    JobCheckpointStore(db, first, 30).append({"kind": "header"})
    expire(db, job_id)
    with db.sessions() as session:
        second = queue.claim(session, "b", 30)
        assert second.generation == first.generation + 1
        assert not queue.renew(session, first, 30)  # the heartbeat notices
    for write in (
        lambda: store.save_progress(db, first, 30, progress(4)),
        lambda: JobCheckpointStore(db, first, 30).append({"kind": "episode"}),
        lambda: store.save_failure(db, first, 30, "late"),
    ):
        with pytest.raises(queue.LeaseLost):
            write()
    with db.sessions() as session:
        job = session.get(Job, job_id)
        assert (job.state, job.worker, job.progress["episode"], job.error) == ("running", "b", 1, None)
        assert session.scalar(select(func.count()).select_from(JobCheckpoint)) == 1
    store.save_progress(db, second, 30, progress(2))  # the holder writes on
    with db.sessions() as session:
        assert session.get(Job, job_id).progress["episode"] == 2


def test_release_gives_the_attempt_back_and_a_stale_release_is_ignored(db):
    job_id = new_job(db)
    with db.sessions() as session:
        first = queue.claim(session, "a", 30)
        queue.release(session, first)
        second = queue.claim(session, "b", 30)
        queue.release(session, first)  # too late: b holds it
        job = session.get(Job, job_id, populate_existing=True)
        assert (job.state, job.worker, job.attempts) == ("running", "b", 1)
        assert second.generation == first.generation + 1


def test_a_job_whose_worker_dies_three_times_fails_with_the_reason(db):
    job_id = new_job(db)
    for attempt in range(3):
        with db.sessions() as session:
            assert queue.claim(session, f"w{attempt}", 30, max_attempts=3) is not None
        expire(db, job_id)
    with db.sessions() as session:
        assert queue.claim(session, "w4", 30, max_attempts=3) is None
        job = session.get(Job, job_id, populate_existing=True)
        assert job.state == "failed" and job.attempts == 3
        assert "stopped without finishing 3 times" in job.error and job.finished_at is not None


def test_requeue_and_dispatch_send_each_job_once(db):
    first, second = new_job(db), new_job(db)
    with db.sessions() as session:
        assert queue.take_undispatched(session) == [first, second]
        assert queue.take_undispatched(session) == []  # sent once, not again
        queue.undispatch(session, second)  # the broker was down for this one
        assert queue.take_undispatched(session) == [second]
        held = queue.claim(session, "w", 30, first)
    expire(db, first)
    with db.sessions() as session:
        assert queue.requeue_expired(session, 3) == [first]
        assert queue.take_undispatched(session) == [first]  # one new message for the dead worker's job
        assert not queue.renew(session, held, 30)


@pytest.mark.slow
def test_a_worker_paused_past_its_lease_stops_and_writes_nothing(tmp_path):
    """The issue's case: SIGSTOP a worker longer than its lease, let another take the job,
    SIGCONT: one best policy, progress never goes back, the paused worker leaves the job."""
    server = Server(tmp_path, workers=0).start()
    procs = []
    try:
        with server.client(create_key(server.env)) as client:
            job = client.post("/jobs", json={**SPEC, "agent": "ddpg", "episodes": 60, "seed": 2}).json()
            procs.append(start_worker(server.env, "--local"))
            wait_for(client, job["id"], ("running",), min_episode=3)
            os.killpg(procs[0].pid, signal.SIGSTOP)
            procs.append(start_worker(server.env, "--local"))
            deadline = time.monotonic() + 60
            while client.get(f"/jobs/{job['id']}").json()["attempts"] < 2:
                assert time.monotonic() < deadline, "the job was not claimed again after the lease"
                time.sleep(0.1)
            wait_for(client, job["id"], ("running",), min_episode=client.get(f"/jobs/{job['id']}").json()["progress"]["episode"] + 2)
            os.killpg(procs[0].pid, signal.SIGCONT)
            seen = []
            while (now := client.get(f"/jobs/{job['id']}").json())["state"] == "running":
                seen.append(now["progress"]["episode"])
                time.sleep(0.02)
            assert now["state"] == "succeeded" and now["attempts"] == 2 and len(now["history"]) == 60
            assert seen == sorted(seen), "progress went backwards: two writers"
            policies = client.get("/policies", params={"job": job["id"], "limit": 200}).json()["items"]
            assert sum(p["kind"] == "best" for p in policies) == 1
            assert procs[0].poll() is None  # the paused worker lives on, polling for other jobs
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGCONT)
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        server.stop()
