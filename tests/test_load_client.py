"""The API load benchmark's client: it keeps one connection (``--client lean``) or opens one
per request (``--client lean-close``), as its results say; a real server answers."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path

import pytest

from tests.service import create_key, running_server

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def api_load():
    sys.path.insert(0, str(ROOT / "benchmarks"))  # api_load imports its seed module beside it
    spec = importlib.util.spec_from_file_location("api_load", ROOT / "benchmarks" / "api_load.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def connections_for(api_load, url: str, key: str, reuse: bool, requests: int = 12) -> tuple[int, set[int]]:
    """How many connections ``requests`` GETs opened, and the status codes they got."""
    opened = 0
    client = api_load.LeanClient(url, {"Authorization": f"Bearer {key}"}, reuse=reuse)

    async def run() -> set[int]:
        nonlocal opened
        codes = set()
        for _ in range(requests):
            fresh = client.writer is None
            codes.add(await client.get("/jobs", {"limit": 5}))
            opened += fresh
        await client.aclose()
        return codes

    codes = asyncio.run(run())
    return opened, codes


def test_lean_clients_keep_their_connection_unless_asked_not_to(api_load, tmp_path):
    with running_server(tmp_path, workers=0) as server:
        key = create_key(server.env)
        assert connections_for(api_load, server.url, key, reuse=True) == (1, {200})
        assert connections_for(api_load, server.url, key, reuse=False) == (12, {200})
