"""The service's read paths under load: what they ask the database, what they parse, and
that requests never stall waiting for connections (the app in process, on SQLite)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

import httpx
from sqlalchemy import event, insert

from api import table_cache
from api.app import create_app
from api.auth import create_key
from api.models import StoredPolicy
from api.settings import Settings

TABLE = Path(__file__).parents[1] / "latency_tables" / "data" / "cpu-onnxruntime__digits-cnn.csv"


def run_app(tmp_path: Path, body, **settings) -> object:
    """Run ``await body(client, key, statements)`` against a started app (lifespan included);
    ``statements`` collects the SQL the app sends from then on."""

    async def main():
        app = create_app(Settings(data_dir=tmp_path, **settings))
        async with app.router.lifespan_context(app):
            db = app.state.db
            with db.session() as session:
                key_row, key = create_key(session, "reader")
                rows = [
                    {"owner_id": key_row.id, "kind": "best" if i % 5 == 0 else "pareto", "model": ["digits-cnn", "fashion-cnn"][i % 2],
                     "target": "bitfusion", "objective": "latency", "accuracy": i / 100, "latency_ms": 1.0 + i, "energy_mj": 1.0,
                     "size_mb": 0.1, "document": {"layers": [{"name": "conv", "op": "conv2d", "weight_bits": 4, "activation_bits": 8}],
                                                  "totals": {"latency_ms": 1.0}}}
                    for i in range(60)
                ]
                session.execute(insert(StoredPolicy), rows)
            statements: list[str] = []
            event.listen(db.engine, "before_cursor_execute", lambda _c, _cur, sql, *_a: statements.append(sql))
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test/api/v1", headers={"Authorization": f"Bearer {key}"}) as client:
                return await body(client, key, statements)

    return asyncio.run(main())


def selects(statements: list[str]) -> list[str]:
    return [s for s in statements if s.lstrip().upper().startswith("SELECT")]


def test_a_policy_is_one_query_and_a_page_loads_no_document(tmp_path):
    async def body(client, _key, statements):
        detail = await client.get("/policies/3")
        assert detail.status_code == 200 and detail.json()["layers"][0]["weight_bits"] == 4
        detail_sql = selects(statements)
        statements.clear()
        page = await client.get("/policies", params={"model": "fashion-cnn", "sort": "-accuracy", "limit": 5, "offset": 5})
        return detail_sql, page.json(), selects(statements)

    detail_sql, page, page_sql = run_app(tmp_path, body)
    # the key, then the policy with its document in the same row, never the fine-tuned weights
    assert len(detail_sql) == 2 and "document" in detail_sql[1] and "finetuned_weights" not in detail_sql[1]
    assert page["total"] == 30 and [p["accuracy"] for p in page["items"]] == [0.49, 0.47, 0.45, 0.43, 0.41]
    assert len(page_sql) == 3 and not any("document" in s for s in page_sql)  # key, count, page


def test_hardware_listing_parses_each_table_once(tmp_path, monkeypatch):
    parses = []
    real = table_cache.parse_table
    monkeypatch.setattr(table_cache, "parse_table", lambda text: parses.append(1) or real(text))
    table_cache.tables.clear()

    async def body(client, _key, statements):
        upload = await client.post("/hardware", files={"file": ("mine.csv", TABLE.read_text())}, data={"name": "board"})
        assert upload.status_code == 201, upload.text
        statements.clear()
        listings = [await client.get("/hardware") for _ in range(3)]
        read_text = [s for s in selects(statements) if "hardware_tables.content" in s]
        table_cache.tables.clear()  # as after a restart: parsed once more, then reused
        listings += [await client.get("/hardware") for _ in range(2)]
        return listings, read_text

    listings, read_text = run_app(tmp_path, body)
    assert all(r.status_code == 200 and r.json()[-1]["units"] for r in listings)
    assert read_text == []  # a cached table's text is never read
    assert len(parses) == 1


def test_the_parse_cache_is_keyed_by_content_hash_and_bounded(monkeypatch):
    monkeypatch.setattr(table_cache, "parse_table", lambda text: SimpleNamespace(text=text))
    cache = table_cache.TableCache(size=2)
    first = cache.get(SimpleNamespace(id=1, sha256="a", content="one"))
    assert cache.get(SimpleNamespace(id=1, sha256="a", content="unread")) is first
    assert cache.get(SimpleNamespace(id=1, sha256="b", content="two")).text == "two"  # a re-used id, other bytes
    cache.get(SimpleNamespace(id=2, sha256="c", content="three"))
    assert cache.get(SimpleNamespace(id=1, sha256="a", content="reparsed")).text == "reparsed"  # evicted (size 2)


def test_more_requests_than_connections_never_stall(tmp_path):
    """Two threads and a pool of two connections (plus its overflow), forty requests at once.

    Without the session gate, requests that hold connections wait for a thread while the
    threads wait for connections, and nothing moves until the pool's 30 s timeout fails them.
    """

    async def body(client, _key, _statements):
        requests = [client.get("/policies", params={"limit": 5}) for _ in range(20)]
        requests += [client.get(f"/policies/{i + 1}") for i in range(20)]
        return await asyncio.wait_for(asyncio.gather(*requests), timeout=20)

    responses = run_app(tmp_path, body, request_threads=2)
    assert [r.status_code for r in responses] == [200] * 40


def test_slow_routes_never_hold_the_threads_that_answer_reads(tmp_path, monkeypatch):
    """One request thread, one slow thread: while an export is held mid-build, reads keep being
    answered, and a second export waits for the slow thread instead of taking the read's."""
    import threading

    import hwsearch.export

    build = hwsearch.export.export_policy
    started, release = threading.Event(), threading.Event()
    builds: list[str] = []

    def held_export(*args, **kwargs):
        builds.append(threading.current_thread().name)
        started.set()
        assert release.wait(20), "the test never released the export"
        return build(*args, **kwargs)

    monkeypatch.setattr(hwsearch.export, "export_policy", held_export)

    async def body(client, _key, _statements):
        exports = [asyncio.create_task(client.get(f"/policies/{i}/export", params={"format": "policy"})) for i in (1, 2)]
        await asyncio.to_thread(started.wait, 10)
        reads = await asyncio.wait_for(asyncio.gather(*[client.get(f"/policies/{i + 3}") for i in range(10)]), timeout=10)
        held = [task.done() for task in exports]
        release.set()
        return reads, held, await asyncio.gather(*exports)

    reads, held, exports = run_app(tmp_path, body, request_threads=1, slow_threads=1)
    assert [r.status_code for r in reads] == [200] * 10  # answered while the export was held
    assert held == [False, False]  # both exports still waiting then: one held, one behind it
    # both ran the exporter to its end: it refuses the seeded one-layer documents, as it should
    assert [r.status_code for r in exports] == [422, 422] and len(builds) == 2
