"""API load: 50 concurrent clients browsing and fetching policies from a 10,000-policy store.

For each backend (SQLite file; PostgreSQL when --postgres URL is given) this fills a fresh
store, starts `hwsearch serve` (no workers), and runs clients for --seconds: list pages
with filters and sorts, and single policies. Two client behaviours are measured:
"browsing" (each client pauses --think seconds between requests, as a person clicking
through pages does) and "closed loop" (no pause: each client fires its next request as
soon as the last one answers, which measures saturation throughput; latency is then
clients / throughput by construction). Writes throughput and p50/p90/p99 latency to
benchmarks/results/api_load.json. Target: p99 under 100 ms on two cores.

    python benchmarks/api_load.py [--postgres postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.auth import create_key  # noqa: E402
from api.db import Database, migrate  # noqa: E402
from api.models import StoredPolicy  # noqa: E402
from tests.service import Server, fresh_postgres_db  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "api_load.json"
MODELS = ["digits-cnn", "digits-mobilenet", "fashion-cnn", "fashion-mobilenet"]
TARGETS = ["bitfusion", "bismo-edge", "bismo-cloud"]
SORTS = ["-created_at", "accuracy", "-accuracy", "latency_ms", "size_mb"]


def fill_store(url: str, n: int, seed: int = 0) -> str:
    """Migrate a fresh store, add one key and ``n`` policies (realistic 20-layer documents)."""
    rng = random.Random(seed)
    db = Database(url)
    migrate(db.engine)
    with db.session() as session:
        key, plain = create_key(session, "load")
        owner = key.id
    rows = []
    for i in range(n):
        layers = [
            {"name": f"features.{j}", "op": "conv2d", "weight_bits": rng.randint(2, 8), "activation_bits": rng.randint(2, 8),
             "latency_ms": rng.random(), "energy_mj": rng.random()}
            for j in range(20)
        ]
        latency = sum(layer["latency_ms"] for layer in layers)
        doc = {"schema": "hwsearch.policy/v1", "model": MODELS[i % 4], "target": TARGETS[i % 3], "layers": layers,
               "totals": {"latency_ms": latency, "energy_mj": 1.0, "size_mb": 0.1}, "baseline_int8": {"latency_ms": 2 * latency}}
        rows.append({"owner_id": owner, "job_id": None, "kind": "best" if i % 5 == 0 else "pareto", "model": doc["model"],
                     "target": doc["target"], "objective": "latency", "accuracy": rng.uniform(0.5, 1.0), "latency_ms": latency,
                     "energy_mj": 1.0, "size_mb": 0.1, "document": doc})
    with db.session() as session:
        for start in range(0, n, 1000):
            session.execute(insert(StoredPolicy), rows[start : start + 1000])
    db.engine.dispose()
    return plain


async def client_loop(
    client: httpx.AsyncClient, rng: random.Random, stop_at: float, n: int, think: float, out: list, errors: list
) -> None:
    await asyncio.sleep(rng.uniform(0, think))  # clients do not start in lock-step
    while time.monotonic() < stop_at:
        if rng.random() < 0.5:
            params = {"limit": 20, "offset": rng.randrange(0, 2000), "sort": rng.choice(SORTS)}
            if rng.random() < 0.5:
                params["model"] = rng.choice(MODELS)
            if rng.random() < 0.3:
                params["target"] = rng.choice(TARGETS)
            request = client.get("/policies", params=params)
        else:
            request = client.get(f"/policies/{rng.randint(1, n)}")
        start = time.perf_counter()
        try:
            response = await request
            ok = response.status_code == 200
        except httpx.HTTPError:
            ok = False
        out.append(time.perf_counter() - start)
        if not ok:
            errors.append(1)
        if think:
            await asyncio.sleep(rng.expovariate(1 / think))


async def run_clients(url: str, key: str, clients: int, seconds: float, n: int, think: float) -> dict:
    latencies: list[float] = []
    errors: list[int] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {key}"}, limits=limits, timeout=30) as client:
        await client.get("/policies", params={"limit": 1})  # warm-up
        stop_at = time.monotonic() + seconds
        await asyncio.gather(*(client_loop(client, random.Random(i), stop_at, n, think, latencies, errors) for i in range(clients)))
    latencies.sort()
    q = statistics.quantiles(latencies, n=100)
    return {
        "requests": len(latencies),
        "errors": len(errors),
        "throughput_rps": round(len(latencies) / seconds, 1),
        "p50_ms": round(q[49] * 1e3, 1),
        "p90_ms": round(q[89] * 1e3, 1),
        "p99_ms": round(q[98] * 1e3, 1),
    }


def bench(name: str, url: str, args: argparse.Namespace, data_dir: Path) -> list[dict]:
    key = fill_store(url, args.policies)
    server = Server(data_dir, url, workers=0).start()
    results = []
    try:
        for mode, think in (("browsing", args.think), ("closed loop", 0.0)):
            result = asyncio.run(run_clients(server.url, key, args.clients, args.seconds, args.policies, think))
            result.update({"backend": name, "mode": mode, "think_s": think, "policies": args.policies,
                           "clients": args.clients, "seconds": args.seconds, "target_p99_ms": 100})
            print(json.dumps(result))
            results.append(result)
    finally:
        server.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--policies", type=int, default=10_000)
    parser.add_argument("--think", type=float, default=1.0, help="mean pause between a browsing client's requests (s)")
    parser.add_argument("--postgres", help="PostgreSQL server URL; a fresh database is made on it")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        results += bench("sqlite", f"sqlite:///{tmp}/load.db", args, Path(tmp))
        if args.postgres:
            url, drop = fresh_postgres_db(args.postgres)
            try:
                results += bench("postgresql", url, args, Path(tmp))
            finally:
                drop()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"benchmark": "api_load", "results": results}, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
