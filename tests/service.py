"""Helpers that run the real service for tests: server and worker processes, HTTP client."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

FAST_LEASE = "3"  # seconds: a killed worker's job is re-claimable quickly in tests
# Requests a minute per key: high enough that polling tests (wait_for asks 20 times a second)
# are never throttled, while every request still passes through the limiter.
# tests/test_service_rate_limit.py starts its server with a low one.
TEST_RATE_LIMIT = "100000"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def service_env(data_dir: Path, db_url: str, broker: str | None = None) -> dict[str, str]:
    env = {
        **os.environ, "HWSEARCH_DATA_DIR": str(data_dir), "HWSEARCH_DATABASE_URL": db_url, "HWSEARCH_LEASE_SECONDS": FAST_LEASE,
        "HWSEARCH_RATE_LIMIT_PER_MINUTE": TEST_RATE_LIMIT,
    }
    env.pop("HWSEARCH_BROKER_URL", None)
    if broker:
        env["HWSEARCH_BROKER_URL"] = broker
    return env


def create_key(env: dict[str, str], name: str = "test") -> str:
    """A new key in the store ``env`` names, made in this process (``cli_create_key`` tests the command)."""
    from api.auth import create_key as make_key
    from api.db import Database, migrate

    database = Database(env["HWSEARCH_DATABASE_URL"])
    try:
        migrate(database.engine)
        with database.session() as session:
            return make_key(session, name)[1]
    finally:
        database.engine.dispose()


def cli_create_key(env: dict[str, str], name: str = "test") -> str:
    """A new key from ``hwsearch keys create`` (the last word it prints)."""
    out = subprocess.run([sys.executable, "-m", "hwsearch", "keys", "create", "--name", name], env=env, capture_output=True, text=True, check=True)
    return out.stdout.split()[-1]


class Server:
    """``hwsearch serve`` in a subprocess (with its local workers unless ``workers=0``)."""

    def __init__(self, data_dir: Path, db_url: str | None = None, workers: int = 1, broker: str | None = None) -> None:
        """``db_url`` defaults to a SQLite file in ``data_dir`` (the embedded default)."""
        self.env = service_env(data_dir, db_url or f"sqlite:///{data_dir / 'hwsearch.db'}", broker)
        self.port = free_port()
        self.workers = workers
        self.log = data_dir / f"server-{self.port}.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1"

    def start(self) -> Server:
        from hwsearch.zoo import build_model

        build_model("digits-cnn")  # the tests' jobs use it: load (or, for a changed recipe, train) it here, outside a job's time limit
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hwsearch", "serve", "--port", str(self.port), "--workers", str(self.workers)],
            env=self.env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        # ready: /healthz says ok (a local worker is up), or, with a broker, answers at all
        # (degraded, 503, until the test starts a Celery worker)
        ready = (200, 503) if "HWSEARCH_BROKER_URL" in self.env else (200,)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code in ready:
                    return self
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            time.sleep(0.2)
        raise RuntimeError("server did not start in 60 s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def client(self, key: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


@contextmanager
def running_server(data_dir: Path, workers: int = 1, **env: str) -> Iterator[Server]:
    """A started server (SQLite, ``workers`` local workers, extra ``HWSEARCH_*`` settings), stopped after."""
    server = Server(data_dir, workers=workers)
    server.env.update(env)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def stop_worker(proc: subprocess.Popen) -> None:
    """SIGTERM a process group started by ``start_worker``, SIGKILL if it lingers 20 s."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def start_worker(env: dict[str, str], *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "hwsearch", "worker", *extra], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def run_on_worker_elsewhere(env: dict[str, str], data_dir: Path, client: httpx.Client, job_id: int, *worker_args: str) -> dict:
    """Start a local worker with a data dir of its own (another machine's stand-in: it shares only
    the database), wait until the job ends, stop the worker; the job as it ended."""
    worker = start_worker({**env, "HWSEARCH_DATA_DIR": str(data_dir)}, "--local", *worker_args)
    try:
        return wait_for(client, job_id, ("succeeded", "failed", "cancelled"), timeout=180)
    finally:
        stop_worker(worker)


def wait_for(client: httpx.Client, job_id: int, states: tuple[str, ...], timeout: float = 180, min_episode: int = 0) -> dict:
    """Poll a job until it is in one of ``states`` (and past ``min_episode``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/jobs/{job_id}").json()
        episode = (job.get("progress") or {}).get("episode", 0)
        if job["state"] in states and episode >= min_episode:
            return job
        if job["state"] in ("failed",) and "failed" not in states:
            raise AssertionError(f"job {job_id} failed: {job['error']}")
        if job["state"] in ("succeeded", "cancelled") and job["state"] not in states:
            raise AssertionError(f"job {job_id} ended ({job['state']}) before reaching {states}, episode {min_episode}")
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} not in {states} after {timeout} s: {job}")


def fresh_postgres_db(base_url: str) -> tuple[str, callable]:
    """Create an empty database on the test server; returns its URL and a drop function."""
    from sqlalchemy import create_engine, text

    name = f"hwsearch_test_{uuid.uuid4().hex[:10]}"
    admin_url = base_url.replace("postgresql://", "postgresql+psycopg://", 1)
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base_url.rsplit("/", 1)[0] + f"/{name}"

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


# Processes, through /proc (Linux): a worker or an API process is a child of its server.


def stat(pid: int) -> tuple[str, int] | None:
    """(state letter, parent pid) of a process, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text.rsplit(")", 1)[1].split()  # the command name may hold spaces
    return fields[0], int(fields[1])


def children(pid: int) -> set[int]:
    """Live (not zombie) child processes of ``pid``."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (info := stat(int(entry.name))) and info[1] == pid and info[0] != "Z":
            found.add(int(entry.name))
    return found


def gone(pid: int) -> bool:
    info = stat(pid)
    return info is None or info[0] == "Z"


def within(seconds: float, condition: Callable[[], object], what: str) -> float:
    """Poll ``condition`` until true; the seconds it took."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if condition():
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"not within {seconds} s: {what}")
