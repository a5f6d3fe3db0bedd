"""`hwsearch serve --api-processes N`: several API processes on one port, real processes.

The parent keeps what must exist once (the workers' supervisor); the API processes serve,
share the rate limit and die with the server whether it is stopped or killed.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.service import Server, children, create_key, gone, wait_for, within

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")

JOB = {"model": "digits-cnn", "target": "bismo-edge", "budget": {"relative": 0.5}, "agent": "random", "episodes": 3, "seed": 0}


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return ""


def api_processes(server: Server) -> set[int]:
    return {pid for pid in children(server.proc.pid) if "spawn_main" in cmdline(pid)}


def workers(server: Server) -> set[int]:
    return {pid for pid in children(server.proc.pid) if " worker " in cmdline(pid)}


def start(tmp_path: Path, **env: str) -> Server:
    server = Server(tmp_path, workers=1)
    server.env.update({"HWSEARCH_API_PROCESSES": "2", **env})
    return server.start()


def test_two_processes_serve_run_a_job_and_stop_with_a_sigterm(tmp_path):
    server = start(tmp_path)
    try:
        within(30, lambda: len(api_processes(server)) == 2, "two API processes")
        assert len(workers(server)) == 1  # started once, by the parent, not by each API process
        with server.client(create_key(server.env)) as client:
            job = client.post("/jobs", json=JOB)
            assert job.status_code == 201, job.text
            assert wait_for(client, job.json()["id"], ("succeeded",))["attempts"] == 1
        started = api_processes(server) | workers(server)
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(timeout=30) == -signal.SIGTERM  # ends by the signal, as one process does
        within(10, lambda: all(gone(pid) for pid in started), "every API process and worker gone")
    finally:
        server.stop()


def test_a_killed_server_leaves_nothing_and_the_rate_limit_is_shared(tmp_path):
    server = start(tmp_path, HWSEARCH_RATE_LIMIT_PER_MINUTE="6")
    try:
        within(30, lambda: len(api_processes(server)) == 2, "two API processes")
        key = create_key(server.env)
        codes = [httpx.get(f"{server.url}/jobs", headers={"Authorization": f"Bearer {key}"}).status_code for _ in range(12)]
        assert set(codes) == {200, 429}
        assert codes.count(200) <= 6  # each process enforces its share: 3 a minute
        started = api_processes(server) | workers(server)
        server.proc.kill()
        server.proc.wait()
        within(10, lambda: all(gone(pid) for pid in started), "every API process and worker gone after kill -9")
    finally:
        server.stop()


def listening_sockets(pid: int, port: int) -> set[str]:
    """Inodes of the listening TCP sockets on ``port`` that process ``pid`` holds."""
    listening = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":  # 0A: LISTEN
                listening.add(fields[9])
    held = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().as_posix()
        except OSError:
            continue
        if target.startswith("socket:["):
            held.add(target[len("socket:["):-1])
    return held & listening


def test_each_api_process_listens_on_a_socket_of_its_own_and_a_second_server_cannot_share_the_port(tmp_path):
    server = start(tmp_path)
    try:
        within(30, lambda: len(api_processes(server)) == 2, "two API processes")
        listening = lambda: [listening_sockets(pid, server.port) for pid in api_processes(server)]  # noqa: E731
        within(30, lambda: all(listening()), "both API processes listening")  # each listens once its app has started
        per_process = listening()
        assert all(len(sockets) == 1 for sockets in per_process), per_process
        assert per_process[0] != per_process[1]  # the kernel spreads connections over the two
        second = subprocess.run(
            [sys.executable, "-m", "hwsearch", "serve", "--port", str(server.port), "--workers", "0"],
            env={**server.env, "HWSEARCH_DATA_DIR": str(tmp_path / "second")}, capture_output=True, text=True, timeout=60,
        )
        assert second.returncode != 0
        assert f"cannot listen on 127.0.0.1:{server.port}" in second.stderr, second.stderr[-2000:]
        assert "Traceback" not in second.stderr
        with server.client(create_key(server.env)) as client:
            assert client.get("/jobs").status_code == 200  # the first server still answers
    finally:
        server.stop()


def test_a_worker_pointed_at_a_database_no_server_set_up_says_so_in_one_line(tmp_path):
    """A real worker process on a fresh data dir's default SQLite file: it would poll an empty
    store forever (or trace on its first query); it stops with a one-line error instead."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "HWSEARCH_DATA_DIR": str(tmp_path / "box")}
    done = subprocess.run([sys.executable, "-m", "hwsearch", "worker", "--local", "--measure-queue", "box"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "no hwsearch jobs table" in done.stderr and "--db" in done.stderr and "Traceback" not in done.stderr
