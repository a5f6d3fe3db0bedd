"""One listening socket per API process, all on the server's one port (``SO_REUSEPORT``).

On a single shared socket every API process waits to accept, whichever wakes first takes
the connection, and uvloop accepts every pending connection at once; so 50 keep-alive
clients connecting together were split 14/36 or 16/34 between two processes, and the
requests of the busier one waited about twice as long. With a socket each, the kernel picks
the socket of every new connection by a hash of its addresses, which spreads them evenly
whatever the processes are doing.

``SO_REUSEPORT`` would also let a second server bind the same port and take half of the
connections without a word, so the port is first bound by a plain socket: if anything
holds it, that bind fails as it would for one process ("address already in use").
"""

from __future__ import annotations

import socket
import sys


def spreads_connections() -> bool:
    """Whether the kernel spreads connections over sockets sharing a port (Linux does; others differ)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def _socket(host: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family=family, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: restart over TIME_WAIT
    return sock


def bind_port_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """``count`` sockets bound to (``host``, ``port``), inheritable by child processes; port 0
    picks one free port for all. Raises OSError if anything else holds the port."""
    with _socket(host) as probe:  # no SO_REUSEPORT: fails on any holder, a reusing one included
        probe.bind((host, port))
        port = probe.getsockname()[1]
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = _socket(host)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            sock.set_inheritable(True)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets
