"""API load: 50 closed-loop clients on a 10,000-policy store, latency per endpoint.

For each backend asked for (PostgreSQL: a fresh database made on the server URL given
and dropped after; SQLite: a file in a temporary folder) this fills the store
(``api_load_seed.py``: one key, 1,000 jobs, 10,000 policies with full documents), starts
``hwsearch serve --workers 0`` in a subprocess, uploads three measured tables (one near
the 5 MB limit) through ``POST /hardware``, and runs the clients. Each client sends its
next request as soon as the last one answers (closed loop), drawn from a mix of
``GET /policies`` with filters, sorts and pages, ``GET /policies/{id}`` and
``GET /hardware``. Requests started in the first --warmup seconds are not counted.

Clients, server and database share the machine's cores; the result records the CPU
each used, the load average and the server's configuration, so a run is read with them.
Results are merged into benchmarks/results/api_load.json under (--label, backend).

    python benchmarks/api_load.py --postgres postgresql://postgres@127.0.0.1:5432/test --label after
    python benchmarks/api_load.py --sqlite --seconds 30
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import inspect
import json
import math
import os
import random
import resource
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httptools
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from api_load_seed import MODELS, OBJECTIVES, POLICIES_PER_JOB, TARGETS, fill_store, table_text  # noqa: E402
from tests.service import Server, fresh_postgres_db  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "api_load.json"
SORTS = ["created_at", "accuracy", "latency_ms", "energy_mj", "size_mb"]
GOALS_MS = {"GET /policies/{id}": 250, "GET /policies": 500}
TABLES = [("measured-large", 4_900_000), ("measured-small", 60_000), ("measured-tiny", 8_000)]


def list_request(rng: random.Random, jobs: int) -> dict[str, Any]:
    """Query parameters of a browsing page: some filters, a sort, a page."""
    params: dict[str, Any] = {"sort": rng.choice(["", "-"]) + rng.choice(SORTS), "limit": rng.choice([20, 20, 50])}
    if rng.random() < 0.5:
        params["model"] = rng.choice(MODELS)[0]
    if rng.random() < 0.3:
        params["target"] = rng.choice(TARGETS)
    if rng.random() < 0.25:
        params["objective"] = rng.choice(OBJECTIVES)
    if rng.random() < 0.15:
        params["kind"] = "best"
    if rng.random() < 0.15:
        params["min_accuracy"] = round(rng.uniform(0.5, 0.9), 2)
    if rng.random() < 0.05:
        params["job"] = rng.randint(1, jobs)
    filtered = len(params) > 2
    params["offset"] = params["limit"] * rng.randrange(0, 10 if filtered else 100)
    return params


def next_request(rng: random.Random, policies: int) -> tuple[str, str, dict[str, Any]]:
    """(endpoint, path, params): 45% lists, 45% single policies, 10% hardware."""
    draw = rng.random()
    if draw < 0.45:
        return "GET /policies", "/policies", list_request(rng, policies // POLICIES_PER_JOB)
    if draw < 0.9:
        return "GET /policies/{id}", f"/policies/{rng.randint(1, policies)}", {}
    return "GET /hardware", "/hardware", {}


class LeanClient:
    """One keep-alive HTTP/1.1 connection on asyncio streams, its answers parsed by httptools
    (the C parser uvicorn itself uses). Clients and server share the machine's cores, so a
    client's own CPU per request is counted in the latency it sees: httpx spends several
    times this one's, and the server's latency is what the benchmark is after."""

    def __init__(self, base_url: str, headers: dict[str, str], reuse: bool = True) -> None:
        url = httpx.URL(base_url)
        self.reuse = reuse  # False: a new connection for every request (what session 14's runs did by mistake)
        self.host, self.port, self.prefix = url.host, url.port or 80, url.path.rstrip("/")
        self.head = "".join(f"{k}: {v}\r\n" for k, v in {"Host": f"{self.host}:{self.port}", **headers}.items())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.complete = False
        self.keep_alive = False
        self.parser: httptools.HttpResponseParser | None = None

    def on_message_complete(self) -> None:  # httptools callback
        self.complete = True
        self.keep_alive = self.parser.should_keep_alive()  # only here: the parser resets once the message ends

    async def get(self, path: str, params: dict[str, Any]) -> int:
        """The answer's status code; raises OSError (the connection is dropped) if it breaks."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        target = self.prefix + path + (f"?{urlencode(params)}" if params else "")
        self.parser, self.complete = httptools.HttpResponseParser(self), False
        try:
            self.writer.write(f"GET {target} HTTP/1.1\r\n{self.head}\r\n".encode())
            while not self.complete:
                data = await self.reader.read(1 << 16)
                if not data:
                    raise ConnectionResetError("server closed the connection")
                self.parser.feed_data(data)
        except (OSError, httptools.HttpParserError):
            await self.aclose()
            raise
        if not (self.keep_alive and self.reuse):
            await self.aclose()
        return self.parser.get_status_code()

    async def aclose(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None


async def client_loop(client: httpx.AsyncClient | LeanClient, rng: random.Random, record_from: float, stop_at: float,
                      policies: int, samples: list) -> None:
    while (started := time.monotonic()) < stop_at:
        endpoint, path, params = next_request(rng, policies)
        error = None
        t0 = time.perf_counter()
        try:
            if isinstance(client, LeanClient):
                status = await client.get(path, params)
            else:
                status = (await client.get(path, params=params)).status_code
            if status != 200:
                error = f"HTTP {status}"
        except (httpx.HTTPError, OSError, httptools.HttpParserError) as exc:
            error = type(exc).__name__
        if started >= record_from:
            samples.append((endpoint, time.perf_counter() - t0, error))


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1)."""
    return sorted_values[min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))]


def summarize(samples: list, seconds: float) -> dict[str, Any]:
    by_endpoint: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, Counter] = defaultdict(Counter)
    for endpoint, latency, error in samples:
        by_endpoint[endpoint].append(latency)
        if error:
            errors[endpoint][error] += 1
    out = {}
    for endpoint in sorted(by_endpoint):
        values = sorted(by_endpoint[endpoint])
        out[endpoint] = {
            "requests": len(values), "errors": sum(errors[endpoint].values()), "error_kinds": dict(errors[endpoint]),
            "throughput_rps": round(len(values) / seconds, 1),
            **{f"p{int(q * 100)}_ms": round(percentile(values, q) * 1e3, 1) for q in (0.5, 0.95, 0.99)},
            "max_ms": round(values[-1] * 1e3, 1), "mean_ms": round(sum(values) / len(values) * 1e3, 1),
            "goal_p99_ms": GOALS_MS.get(endpoint),
        }
    return out


async def run_clients(url: str, key: str, clients: int, warmup: float, seconds: float, policies: int, kind: str = "lean") -> list:
    """Each client its own connection (``LeanClient``, or with ``kind="httpx"`` a one-connection
    httpx client: one shared pool of 50 connections costs the clients' process far more CPU
    per request, and that would count as latency)."""
    samples: list = []
    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    pool = [
        LeanClient(url, headers, reuse=kind == "lean") if kind.startswith("lean") else httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=60)
        for _ in range(clients)
    ]
    try:
        record_from = time.monotonic() + warmup
        stop_at = record_from + seconds
        await asyncio.gather(*(client_loop(c, random.Random(i), record_from, stop_at, policies, samples) for i, c in enumerate(pool)))
    finally:
        for client in pool:
            await client.aclose()
    return samples


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of a process and its live descendants (the API processes of ``--api-processes``)."""
    from tests.service import children

    return cpu_seconds(pid) + sum(tree_cpu_seconds(child) for child in children(pid))


def postgres_backends(url: str) -> list[int]:
    """PIDs of the PostgreSQL backends serving ``url``'s database (their CPU is the database's share)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        pids = conn.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalars().all()
    engine.dispose()
    return list(pids)


def server_config(url: str, processes: int) -> dict[str, Any]:
    """What the server runs with: uvicorn as api/server.py starts it, the threadpool, the DB pool."""
    import uvicorn

    from api.db import make_engine
    from api.settings import Settings

    settings = Settings()
    threads = getattr(settings, "request_threads", 40)  # as the server reads it (HWSEARCH_REQUEST_THREADS); AnyIO's default before
    slow = getattr(settings, "slow_threads", 0)  # uploads, exports and submits on threads of their own (session 14 on)
    engine = make_engine(url, threads + slow) if "pool_size" in inspect.signature(make_engine).parameters else make_engine(url)
    pool = engine.pool
    config = {
        "uvicorn": uvicorn.__version__,
        "uvicorn_processes": processes,  # hwsearch serve --api-processes
        "loop": "uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        "http": "httptools" if importlib.util.find_spec("httptools") else "h11",
        "backlog": uvicorn.Config(app=None).backlog,
        "limit_concurrency": uvicorn.Config(app=None).limit_concurrency,
        "timeout_keep_alive_s": uvicorn.Config(app=None).timeout_keep_alive,
        "threadpool_tokens": threads,
        "slow_threads": slow,
        "db_pool": type(pool).__name__,
        "db_pool_size": pool.size() if hasattr(pool, "size") else None,
        "db_max_overflow": getattr(pool, "_max_overflow", None),
    }
    engine.dispose()
    return config


def upload_tables(server: Server, key: str) -> list[int]:
    with server.client(key) as client:
        sizes = []
        for i, (name, size) in enumerate(TABLES):
            text = table_text(name, size, seed=i)
            response = client.post("/hardware", files={"file": (f"{name}.csv", text)}, data={"name": name}, timeout=120)
            response.raise_for_status()
            sizes.append(len(text))
    return sizes


def bench(backend: str, url: str, args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    t0 = time.monotonic()
    key = fill_store(url, args.policies)
    print(f"{backend}: store filled in {time.monotonic() - t0:.0f} s", flush=True)
    server = Server(data_dir, url, workers=0)
    server.env["HWSEARCH_API_PROCESSES"] = str(args.api_processes)
    server.env["HWSEARCH_RATE_LIMIT_PER_MINUTE"] = "0"  # one key drives all the load: measure the server, not the limit
    server.start()
    try:
        table_sizes = upload_tables(server, key)
        db_pids = postgres_backends(url) if backend == "postgresql" else []
        load_before = os.getloadavg()
        server_cpu0, client_cpu0 = tree_cpu_seconds(server.proc.pid), resource.getrusage(resource.RUSAGE_SELF)
        db_cpu0 = {pid: cpu_seconds(pid) for pid in db_pids}
        samples = asyncio.run(run_clients(server.url, key, args.clients, args.warmup, args.seconds, args.policies, args.client))
        wall = args.warmup + args.seconds
        client_cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        db_pids = set(db_pids) | set(postgres_backends(url) if backend == "postgresql" else [])
        db_cpu = sum(cpu_seconds(pid) - db_cpu0.get(pid, 0.0) for pid in db_pids if Path(f"/proc/{pid}").exists())
        cpu = {
            "server_cores": round((tree_cpu_seconds(server.proc.pid) - server_cpu0) / wall, 2),
            "clients_cores": round((client_cpu1.ru_utime + client_cpu1.ru_stime - client_cpu0.ru_utime - client_cpu0.ru_stime) / wall, 2),
            "postgres_cores": round(db_cpu / wall, 2) if backend == "postgresql" else None,
        }
    finally:
        server.stop()
    total = len(samples)
    return {
        "label": args.label, "backend": backend, "policies": args.policies, "clients": args.clients,
        "seconds": args.seconds, "warmup_s": args.warmup, "uploaded_table_bytes": table_sizes,
        "client": args.client, "requests": total, "throughput_rps": round(total / args.seconds, 1),
        "errors": sum(1 for s in samples if s[2]), "endpoints": summarize(samples, args.seconds),
        "cpu_share_of_wall": cpu, "cores": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load_before], "server": server_config(url, args.api_processes),
    }


def markdown(run: dict[str, Any]) -> str:
    lines = []
    for endpoint, r in run["endpoints"].items():
        lines.append(f"| {run['label']} | {run['backend']} | `{endpoint}` | {r['requests']} | {r['errors']} | "
                     f"{r['p50_ms']:.0f} | {r['p95_ms']:.0f} | {r['p99_ms']:.0f} |")
    return "\n".join(lines)


def save(run: dict[str, Any]) -> None:
    """Merge ``run`` into the results file, replacing an earlier run of the same label and backend."""
    old = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    runs = [r for r in old.get("runs", []) if (r.get("label"), r.get("backend")) != (run["label"], run["backend"])]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"benchmark": "api_load", "runs": runs + [run]}, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", help="PostgreSQL server URL; a fresh database is made on it and dropped after")
    parser.add_argument("--sqlite", action="store_true", help="also run on a SQLite file")
    parser.add_argument("--label", default="current", help="name of this run in the results (e.g. before, after)")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=45, help="measured time")
    parser.add_argument("--warmup", type=float, default=5, help="seconds of load before measuring")
    parser.add_argument("--policies", type=int, default=10_000)
    parser.add_argument("--api-processes", type=int, default=1, help="hwsearch serve --api-processes")
    parser.add_argument("--client", choices=["lean", "lean-close", "httpx"], default="lean",
                        help="the clients' HTTP code: lean (asyncio streams + httptools, one keep-alive connection each), "
                             "lean-close (the same, a new connection for every request) or httpx (runs before session 14)")
    args = parser.parse_args()
    if not (args.postgres or args.sqlite):
        parser.error("name a backend: --postgres URL and/or --sqlite")
    with tempfile.TemporaryDirectory() as tmp:
        backends = []
        if args.postgres:
            backends.append("postgresql")
        if args.sqlite:
            backends.append("sqlite")
        for backend in backends:
            data_dir = Path(tmp) / backend
            data_dir.mkdir()
            if backend == "postgresql":
                url, drop = fresh_postgres_db(args.postgres)
                try:
                    run = bench(backend, url, args, data_dir)
                finally:
                    drop()
            else:
                run = bench(backend, f"sqlite:///{data_dir / 'load.db'}", args, data_dir)
            print(json.dumps(run, indent=2))
            print(markdown(run), flush=True)
            save(run)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
