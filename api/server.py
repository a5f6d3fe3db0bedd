"""``hwsearch serve``: the API, the web page and supervised local worker processes, on one machine.

SIGTERM or SIGINT stops the server and then its workers (``api.supervisor``), and the
process ends by that same signal, as uvicorn intends. The catch: uvicorn's own handlers
restore the ones installed before it and re-raise the signal after its shutdown, so under
the default handler the process died right there and skipped any ``finally`` (the workers
were orphaned, still running jobs). So ``serve`` installs its handler first: the re-raised
signal becomes an exception, the workers are stopped and reaped, and only then the process
re-raises the signal with the default handler. A second signal cuts the workers' grace short.
"""

from __future__ import annotations

import logging
import signal

import uvicorn

from api.app import create_app
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
    db.engine.dispose()
    if first:
        print(f"Created the first API key (shown once; send it as 'Authorization: Bearer KEY'): {first}", flush=True)
    supervisor = Supervisor(settings) if settings.workers and not settings.broker_url else None
    try:
        if supervisor is not None:
            signals.on_repeat = supervisor.hurry
            supervisor.start()
        uvicorn.run(create_app(settings), host=host, port=port, log_level="info")
    finally:
        signals.armed = False  # nothing may interrupt stopping the workers
        if supervisor is not None:
            supervisor.stop()
