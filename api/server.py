"""``hwsearch serve``: the API, the web page and supervised local worker processes, on one machine.

SIGTERM or SIGINT stops the server and then its workers (``api.supervisor``), and the
process ends by that same signal, as uvicorn intends. The catch: uvicorn's own handlers
restore the ones installed before it and re-raise the signal after its shutdown, so under
the default handler the process died right there and skipped any ``finally`` (the workers
were orphaned, still running jobs). So ``serve`` installs its handler first: the re-raised
signal becomes an exception, the workers are stopped and reaped, and only then the process
re-raises the signal with the default handler. A second signal cuts the workers' grace short.

With ``api_processes`` > 1 the parent binds the port and runs uvicorn's process supervisor
(``Multiprocess``: it restarts an API process that dies or hangs); each child builds the app
from the settings resolved here (``api.app.create_app_from_env``) and stops when this process
is gone. The parent keeps what must exist once: the local workers' supervisor and, with
Celery, the dispatch loop. Each child's rate limiter gets an equal share of the limit.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import socket

import uvicorn
from uvicorn.supervisors.multiprocess import Multiprocess, Process

from api import listen_sockets, upload_blobs
from api.app import CHILD_SETTINGS_ENV, PARENT_PID_ENV, create_app
from api.db import Database, migrate
from api.settings import Settings
from api.supervisor import Supervisor

log = logging.getLogger("hwsearch.server")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class _Stopped(SystemExit):
    """A stop signal arrived: unwinds the main thread so the workers are stopped on the way out."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signum = signum


class _StopSignals:
    """The first stop signal raises ``_Stopped``; later ones, and any once the workers are being
    stopped (``armed`` False), call ``on_repeat`` (hurry the workers) instead."""

    def __init__(self) -> None:
        self.armed = True
        self.on_repeat = lambda: None

    def install(self) -> None:
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, _frame: object) -> None:
        if self.armed:
            self.armed = False
            raise _Stopped(signum)
        self.on_repeat()


def ensure_first_key(db: Database) -> str | None:
    """On a store with no API key yet, create one and return it (shown once)."""
    from sqlalchemy import func, select

    from api.auth import create_key
    from api.models import ApiKey

    with db.session() as session:
        if session.scalar(select(func.count()).select_from(ApiKey)):
            return None
        _, plain = create_key(session, "first")
        return plain


def serve(settings: Settings, host: str, port: int) -> None:
    """Run the API (and, without a broker, ``settings.workers`` supervised local workers) until a stop signal."""
    signals = _StopSignals()
    signals.install()  # before uvicorn's: it restores this one and re-raises into it
    try:
        _serve(settings, host, port, signals)
    except _Stopped as stop:
        log.info("stopped by %s", signal.Signals(stop.signum).name)
        logging.shutdown()
        signal.signal(stop.signum, signal.SIG_DFL)
        signal.raise_signal(stop.signum)


def _serve(settings: Settings, host: str, port: int, signals: _StopSignals) -> None:
    db = Database(settings.db_url)
    migrate(db.engine)
    first = ensure_first_key(db)
    with db.session() as session:  # uploads from before the store kept their bytes
        if copied := upload_blobs.backfill(session, settings.data_dir):
            log.info("copied %s earlier upload(s) from %s into the store", copied, settings.data_dir)
    db.engine.dispose()
    if first:
        print(f"Created the first API key (shown once; send it as 'Authorization: Bearer KEY'): {first}", flush=True)
    supervisor = Supervisor(settings) if settings.workers and not settings.broker_url else None
    try:
        if supervisor is not None:
            signals.on_repeat = supervisor.hurry
            supervisor.start()
        if settings.api_processes > 1:
            _serve_processes(settings, host, port, signals)
        else:
            uvicorn.run(create_app(settings, serving=True), host=host, port=port, log_level="info")
    finally:
        signals.armed = False  # nothing may interrupt stopping the workers
        if supervisor is not None:
            supervisor.stop()


def child_settings(settings: Settings) -> Settings:
    """What each of ``settings.api_processes`` API processes runs with: its share of the rate limit."""
    limit = settings.rate_limit_per_minute
    share = math.ceil(limit / settings.api_processes) if limit > 0 else 0
    return settings.model_copy(update={"rate_limit_per_minute": share})


class _Processes(Multiprocess):
    """uvicorn's process supervisor, remembering which stop signal ended it. Given one socket
    per process (``api.listen_sockets``), each process starts on its own; one that replaces a
    dead process listens on all of them (uvicorn's own restart), which serves every socket."""

    stopped_by: int | None = None

    def init_processes(self) -> None:
        if len(self.sockets) != self.processes_num:
            return super().init_processes()
        for sock in self.sockets:
            process = Process(self.config, [sock])
            process.start()
            self.processes.append(process)

    def handle_int(self) -> None:
        self.stopped_by = signal.SIGINT
        super().handle_int()

    def handle_term(self) -> None:
        self.stopped_by = signal.SIGTERM
        super().handle_term()


def _listening_sockets(config: uvicorn.Config, count: int) -> list[socket.socket]:
    """A socket per API process where the kernel spreads connections over them, else one shared."""
    if not listen_sockets.spreads_connections():
        return [config.bind_socket()]
    try:
        sockets = listen_sockets.bind_port_sockets(config.host, config.port, count)
    except OSError as exc:
        raise SystemExit(f"hwsearch serve: cannot listen on {config.host}:{config.port}: {exc.strerror or exc}") from None
    logging.getLogger("uvicorn.error").info("Uvicorn running on http://%s:%d (Press CTRL+C to quit), a socket per API process", config.host, sockets[0].getsockname()[1])
    return sockets


def _serve_processes(settings: Settings, host: str, port: int, signals: _StopSignals) -> None:
    """Serve with ``settings.api_processes`` API processes until a stop signal, which is then re-raised."""
    from api.broker import Dispatcher

    os.environ[CHILD_SETTINGS_ENV] = child_settings(settings).model_dump_json()
    os.environ[PARENT_PID_ENV] = str(os.getpid())
    config = uvicorn.Config(
        "api.app:create_app_from_env", factory=True, host=host, port=port, workers=settings.api_processes, log_level="info"
    )
    dispatcher = None
    if settings.broker_url:
        dispatcher = Dispatcher(Database(settings.db_url), settings)
        dispatcher.start()
    processes = _Processes(config, _listening_sockets(config, settings.api_processes))  # installs its own signal handlers
    try:
        processes.run()
    finally:
        signals.install()  # ours again: a second signal hurries the workers
        if dispatcher is not None:
            dispatcher.stop()
            dispatcher.db.engine.dispose()
    if processes.stopped_by is None:
        raise SystemExit("hwsearch serve: an API process could not start; see the log above")
    raise _Stopped(processes.stopped_by)
