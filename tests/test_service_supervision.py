"""Workers live and die with their server: real `hwsearch serve` processes, real signals.

Processes are found through /proc (a worker is a child of its server), so these tests run
on Linux. A process counts as gone when /proc has no entry for it, or it is a zombie
whose parent is no longer its server (an orphan's exit, for init to reap).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.service import Server, children, create_key, gone, start_worker, stat, wait_for, within

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")

LONG_JOB = {"model": "digits-cnn", "target": "bismo-edge", "budget": {"relative": 0.5}, "agent": "ddpg", "episodes": 400, "seed": 3}
SHORT_JOB = {**LONG_JOB, "agent": "random", "episodes": 3}
STALE_S = "2"  # HWSEARCH_WORKER_STALE_SECONDS: a silent worker stops counting quickly


def health(server: Server) -> httpx.Response:
    return httpx.get(f"{server.url}/healthz", timeout=10)


def health_pids(server: Server) -> list[int]:
    return [int(w["name"].rsplit(":", 1)[1]) for w in health(server).json()["workers"]]


def job_ids(server: Server) -> list[int | None]:
    """The job each live worker runs (None: idle), jobs first."""
    return sorted((w["job_id"] for w in health(server).json()["workers"]), key=lambda job: (job is None, job or 0))


def job_in_store(data_dir: Path, job_id: int) -> tuple[str, int]:
    """A job's state and episode, read from the server's SQLite file (for when no server runs)."""
    with sqlite3.connect(data_dir / "hwsearch.db") as db:
        state, progress = db.execute("SELECT state, progress FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return state, json.loads(progress)["episode"]


def kill_all(server: Server | None) -> None:
    """SIGKILL a test server's whole process group (its workers included)."""
    if server is not None and server.proc is not None:
        try:
            os.killpg(server.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        server.proc.wait()


def test_sigterm_stops_the_workers_and_sigkill_leaves_none_behind(tmp_path):
    """SIGTERM of the server: every worker stopped and reaped, the running job queued again
    and resumed by the next server. SIGKILL of that server: its worker stops by itself and
    hands the job back."""
    first = Server(tmp_path, workers=2).start()
    second = None
    try:
        key = create_key(first.env)
        with first.client(key) as client:
            job = client.post("/jobs", json=LONG_JOB).json()
            wait_for(client, job["id"], ("running",), min_episode=5)
            within(10, lambda: job_ids(first) == [job["id"], None], "/healthz: one worker runs the job, the other waits")
        workers = children(first.proc.pid)
        assert len(workers) == 2
        os.kill(first.proc.pid, signal.SIGTERM)  # the server alone: it must take its workers down
        first.proc.wait(timeout=60)
        assert first.proc.returncode == -signal.SIGTERM  # it still ends by the signal, as uvicorn intends
        assert all(stat(pid) is None for pid in workers)  # stopped and reaped by the server
        state, done_before = job_in_store(tmp_path, job["id"])  # the API went with its server
        assert state == "queued"  # handed back by its worker

        second = Server(tmp_path, workers=1).start()
        with second.client(key) as client:
            seen = []  # every episode count while the job runs again
            while (now := client.get(f"/jobs/{job['id']}").json())["progress"]["episode"] <= done_before + 1:
                assert now["state"] in ("queued", "running"), now
                seen.append(now["progress"]["episode"])
                time.sleep(0.02)
            assert now["state"] == "running" and now["attempts"] == 1  # a hand-back is not a failed attempt
            assert all(episode >= done_before - 1 for episode in seen), (done_before, seen[:5])  # resumed from its checkpoint
        [worker] = children(second.proc.pid)
        os.kill(second.proc.pid, signal.SIGKILL)
        second.proc.wait()
        took = within(10, lambda: gone(worker), "the orphaned worker exits")
        print(f"worker exited {took:.2f} s after its server's SIGKILL")
        assert took < 5
        assert job_in_store(tmp_path, job["id"])[0] == "queued"  # handed back on its way out
    finally:
        kill_all(first)
        kill_all(second)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("supervised"), workers=1)
    srv.env["HWSEARCH_WORKER_STALE_SECONDS"] = STALE_S
    try:
        yield srv.start()
    finally:
        kill_all(srv)


def test_a_killed_worker_is_reaped_and_replaced(server):
    """A worker killed outright is reaped and replaced after 1 s, a replacement killed young after 2 s;
    the survivor runs the next job."""
    [old] = children(server.proc.pid)
    within(10, lambda: health_pids(server) == [old], "the worker's heartbeat shows in /healthz")
    os.kill(old, signal.SIGKILL)
    took = within(15, lambda: children(server.proc.pid) - {old}, "a new worker is started")
    print(f"replacement started {took:.2f} s after the SIGKILL")
    [young] = children(server.proc.pid)
    assert stat(old) is None  # reaped: no zombie left behind
    os.kill(young, signal.SIGKILL)  # a replacement dying young: the next one waits twice as long
    took = within(15, lambda: children(server.proc.pid) - {young}, "another worker is started")
    print(f"second replacement started {took:.2f} s after the SIGKILL")
    assert took >= 2
    [new] = children(server.proc.pid)
    assert stat(young) is None
    within(15, lambda: health_pids(server) == [new], "/healthz lists the new worker, not the dead ones")
    with server.client(create_key(server.env)) as client:
        job = client.post("/jobs", json=SHORT_JOB).json()
        assert wait_for(client, job["id"], ("succeeded",), timeout=120)["attempts"] == 1
    log = server.log.read_text()
    assert f"(pid {old}) killed by SIGKILL" in log and "starting a new one in 1 s" in log
    assert f"(pid {young}) killed by SIGKILL" in log and "starting a new one in 2 s" in log


def test_health_is_degraded_while_no_worker_is_alive(server):
    within(15, lambda: health(server).status_code == 200, "the server is healthy")
    body = health(server).json()
    assert body["status"] == "ok" and body["live_workers"] == 1
    [worker] = body["workers"]
    assert worker["kind"] == "local" and worker["queue"] is None
    [pid] = children(server.proc.pid)
    os.kill(pid, signal.SIGSTOP)  # a hung worker: alive to its supervisor, silent to the registry
    try:
        within(float(STALE_S) + 5, lambda: health(server).status_code == 503, "/healthz says 503")
        body = health(server).json()
        assert body["status"] == "degraded" and body["live_workers"] == 0 and body["workers"] == []
    finally:
        os.kill(pid, signal.SIGCONT)
    within(10, lambda: health(server).status_code == 200, "healthy again once the worker beats")


def test_celery_pool_processes_beat(tmp_path):
    """Celery mode: degraded with no Celery worker, ok once one's pool process beats, degraded again
    after it stops. The broker is Celery's in-memory transport: no job can travel through it,
    but the worker and its pool processes are real, and no shared Redis queue is consumed."""
    srv = Server(tmp_path, workers=0, broker="memory://")
    srv.env["HWSEARCH_WORKER_STALE_SECONDS"] = STALE_S
    worker: subprocess.Popen | None = None
    try:
        srv.start()
        answer = health(srv)
        assert answer.status_code == 503 and answer.json()["status"] == "degraded" and answer.json()["queue"] == "celery"
        worker = start_worker(srv.env, "--broker", "memory://")
        within(60, lambda: health(srv).status_code == 200, "a Celery pool process beats")
        [beating] = health(srv).json()["workers"]
        assert beating["kind"] == "celery" and beating["queue"] == "celery"
        assert int(beating["name"].rsplit(":", 1)[1]) in children(worker.pid)  # the pool process, not the main one
        os.killpg(worker.pid, signal.SIGTERM)  # its pool process deletes its row on the way out
        within(float(STALE_S) + 10, lambda: health(srv).status_code == 503, "degraded once the worker stops")
    finally:
        if worker is not None and worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
        kill_all(srv)
