"""Keeps the local workers of ``hwsearch serve`` running, and takes them down with the server.

Why a supervisor: workers are separate processes (a search holds a core for minutes), and
one can die at any time (a crash, the out-of-memory killer, ``kill -9``). Before, nobody
waited on a dead one: it stayed a zombie, its slot stayed empty, and with every worker
dead new jobs waited forever. So a thread polls each worker (``Popen.poll``, which also
reaps it), logs how it ended, deletes its heartbeat row and starts a replacement after a
delay that doubles from 1 s to 60 s while replacements keep dying young (back to 1 s once
one has lived a minute), so a worker that cannot start does not spin.

``stop()`` sends SIGTERM (a worker hands its running job back to the queue), waits up to a
grace period, then SIGKILLs what is left and reaps every one. The workers also watch the
server themselves (``api.worker``), so a server killed outright does not orphan them.
The supervisor thread starts every worker: their kernel parent-death signal follows the
thread that started them, and this one lives until ``stop()``.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

from api.db import Database
from api.settings import Settings
from api.workers import forget, worker_name

log = logging.getLogger("hwsearch.supervisor")

FIRST_DELAY_S = 1.0
MAX_DELAY_S = 60.0
HEALTHY_AFTER_S = 60.0  # a worker that lived this long resets its slot's delay


@dataclass
class _Slot:
    number: int
    proc: subprocess.Popen | None = None
    started: float = 0.0
    delay: float = FIRST_DELAY_S  # before the next replacement
    restart_at: float = 0.0  # monotonic time the slot may start a worker


def describe_exit(code: int) -> str:
    """``Popen.returncode`` in words: a signal's name, or the exit code."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


class Supervisor:
    """``count`` local worker processes, replaced when they die, stopped with ``stop()``."""

    def __init__(self, settings: Settings, count: int | None = None, poll_s: float = 0.5, grace_s: float = 30.0) -> None:
        self.settings, self.poll_s, self.grace_s = settings, poll_s, grace_s
        self._slots = [_Slot(i) for i in range(settings.workers if count is None else count)]
        self._db = Database(settings.db_url)
        self._stopping = threading.Event()
        self._hurry = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="worker-supervisor")

    def start(self) -> None:
        self._thread.start()

    def hurry(self) -> None:
        """Skip the rest of the grace period (a second Ctrl+C)."""
        self._hurry.set()

    def stop(self) -> None:
        """Stop supervising, SIGTERM every worker, SIGKILL those still alive after the grace period, reap all."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()
        running = [slot.proc for slot in self._slots if slot.proc is not None]
        for proc in running:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + self.grace_s
        for proc in running:
            while proc.poll() is None and time.monotonic() < deadline and not self._hurry.is_set():
                try:
                    proc.wait(timeout=0.1)
                except subprocess.TimeoutExpired:
                    pass
            if proc.poll() is None:
                log.warning("worker pid %s still running after SIGTERM; killing it", proc.pid)
                proc.kill()
                proc.wait()
            log.info("worker pid %s stopped (%s)", proc.pid, describe_exit(proc.returncode))
            self._forget(proc.pid)  # a killed worker could not delete its own row
        self._db.engine.dispose()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._tend()
            except Exception:  # the supervisor must outlive any one failure
                log.exception("worker supervision failed; retrying")
            self._stopping.wait(self.poll_s)

    def _tend(self) -> None:
        for slot in self._slots:
            if slot.proc is not None and (code := slot.proc.poll()) is not None:
                self._buried(slot, code)
            if slot.proc is None and time.monotonic() >= slot.restart_at and not self._stopping.is_set():
                self._spawn(slot)

    def _buried(self, slot: _Slot, code: int) -> None:
        now = time.monotonic()
        lived = now - slot.started
        if lived >= HEALTHY_AFTER_S:
            slot.delay = FIRST_DELAY_S
        slot.restart_at = now + slot.delay
        log.warning(
            "worker %s (pid %s) %s after %.1f s; starting a new one in %.0f s",
            slot.number, slot.proc.pid, describe_exit(code), lived, slot.delay,
        )
        slot.delay = min(slot.delay * 2, MAX_DELAY_S)
        self._forget(slot.proc.pid)
        slot.proc = None

    def _spawn(self, slot: _Slot) -> None:
        env = {**os.environ, "HWSEARCH_DATABASE_URL": self.settings.db_url, "HWSEARCH_DATA_DIR": str(self.settings.data_dir)}
        env.pop("HWSEARCH_BROKER_URL", None)
        command = [sys.executable, "-m", "hwsearch", "worker", "--local", "--parent-pid", str(os.getpid())]
        slot.started = time.monotonic()
        try:
            slot.proc = subprocess.Popen(command, env=env)
        except OSError:
            log.exception("could not start worker %s; retrying in %.0f s", slot.number, slot.delay)
            slot.restart_at = slot.started + slot.delay
            slot.delay = min(slot.delay * 2, MAX_DELAY_S)
            return
        log.info("worker %s started (pid %s)", slot.number, slot.proc.pid)

    def _forget(self, pid: int) -> None:
        try:
            with self._db.session() as session:
                forget(session, worker_name(pid))
        except Exception:
            log.warning("could not delete the heartbeat row of worker pid %s; it will go stale", pid)
