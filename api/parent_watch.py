"""Processes that ``hwsearch serve`` starts (local workers, API processes) stop when it is gone.

A server killed outright (``kill -9``) runs no cleanup, so each child watches for itself:
a thread notices that its parent changed and sends this process SIGTERM (the same path as a
stop from the server), and on Linux the kernel sends SIGTERM as well (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
import time

log = logging.getLogger("hwsearch.parent_watch")

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _watch_parent(parent_pid: int, check_s: float) -> None:
    while os.getppid() == parent_pid:
        time.sleep(check_s)
    log.warning("pid %s: its server (pid %s) is gone; stopping", os.getpid(), parent_pid)
    os.kill(os.getpid(), signal.SIGTERM)


def stop_with_parent(parent_pid: int, check_s: float = 1.0) -> None:
    """Send this process SIGTERM once ``parent_pid`` is no longer its parent.

    The kernel's parent-death signal is set too where there is one (Linux); it fires when
    the *thread* that started us ends, which is why the watchdog is the rule and it the extra.
    """
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        except (OSError, AttributeError):
            log.warning("prctl(PR_SET_PDEATHSIG) unavailable; the watchdog alone follows the server")
    if os.getppid() != parent_pid:  # gone before we looked
        os.kill(os.getpid(), signal.SIGTERM)
    threading.Thread(target=_watch_parent, args=(parent_pid, check_s), daemon=True, name="parent-watch").start()
