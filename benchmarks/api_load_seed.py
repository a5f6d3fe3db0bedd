"""The store a load benchmark browses: one key, jobs with their policies, uploaded tables.

Rows are inserted straight through SQLAlchemy (the API would take minutes to store
10,000 policies); they look like what ``api/store.save_result`` writes: a job's best and
Pareto policies, varied models, targets and objectives, and full ``hwsearch.policy/v1``
documents of a few KB. Tables are built here and uploaded through ``POST /hardware``, so
they pass the server's own check.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from api.auth import create_key
from api.db import Database, migrate
from api.models import Job, StoredPolicy
from latency_tables.table import format_table

# (model, quantizable layers): the searchable built-in models and two uploads
MODELS = [("digits-cnn", 6), ("digits-mobilenet", 20), ("fashion-cnn", 6), ("fashion-mobilenet", 23),
          ("upload:1", 12), ("upload:2", 30)]
TARGETS = ["bitfusion", "bismo-edge", "bismo-cloud", "haq-mobilenetv2", "upload:1"]
OBJECTIVES = ["latency", "energy", "size", "latency:0.7,energy:0.3"]
POLICIES_PER_JOB = 10  # the best and nine on the Pareto front
OPS = ["conv2d", "depthwise_conv2d", "conv2d", "linear"]


def policy_document(rng: random.Random, model: str, layers: int, target: str, objective: str) -> dict[str, Any]:
    """A document shaped like ``SearchResult.policy_document`` (layers, totals, spec, search, versions)."""
    rows = []
    for j in range(layers):
        op = "linear" if j >= layers - 2 else OPS[j % 3]
        rows.append({
            "name": f"features.{j}.conv" if op != "linear" else f"classifier.{j - layers + 2}",
            "op": op, "weight_bits": rng.randint(2, 8), "activation_bits": rng.randint(2, 8),
            "latency_ms": rng.uniform(0.001, 0.4), "energy_mj": rng.uniform(0.0001, 0.05), "calls": 1,
            "weight_count": rng.randint(100, 300_000), "macs": rng.randint(10_000, 20_000_000),
        })
    latency = sum(r["latency_ms"] for r in rows)
    energy = sum(r["energy_mj"] for r in rows)
    size = sum(r["weight_count"] * r["weight_bits"] for r in rows) / 8e6
    spec = {"model": model, "target": target, "objective": objective, "budget": {"relative": rng.choice([0.25, 0.4, 0.5])},
            "agent": rng.choice(["ddpg", "greedy", "evolution"]), "episodes": 300, "seed": rng.randint(0, 9),
            "min_bits": 2, "max_bits": 8, "eval_samples": 2000, "confirm_top": 5, "finetune_steps": 0, "data": None}
    return {
        "schema": "hwsearch.policy/v1", "model": model, "target": target, "objective": objective,
        "accuracy": rng.uniform(0.5, 0.99), "float_accuracy": 0.92, "layers": rows,
        "totals": {"latency_ms": latency, "energy_mj": energy, "size_mb": size},
        "budget": {**spec["budget"], "value": latency * 1.1, "unit": "ms"},
        "baseline_int8": {"latency_ms": latency * 2, "energy_mj": energy * 2, "size_mb": size * 2, "accuracy": 0.92},
        "search": {"evaluations": 300, "episodes": 300, "best_episode": rng.randint(1, 300), "wall_time_s": 120.0,
                   "cancelled": False, "confirmed_accuracy": None, "confirm_samples": 3000},
        "spec": spec, "unquantized": [],
        "versions": {"hwsearch": "0.1.0", "torch": "2.13.0+cpu", "python": "3.11.2"},
        "created": "2026-01-01T00:00:00+00:00",
    }


def fill_store(url: str, policies: int, seed: int = 0) -> str:
    """Migrate a fresh store, add one key, ``policies // 10`` finished jobs and their policies; the key."""
    rng = random.Random(seed)
    db = Database(url)
    migrate(db.engine)
    with db.session() as session:
        key, plain = create_key(session, "load")
        owner = key.id
    start = datetime.now(UTC) - timedelta(days=30)
    jobs, rows = [], []
    for job_index in range((policies + POLICIES_PER_JOB - 1) // POLICIES_PER_JOB):
        model, layers = rng.choice(MODELS)
        target, objective = rng.choice(TARGETS), rng.choice(OBJECTIVES)
        created = start + timedelta(minutes=4 * job_index)
        job_id = job_index + 1
        jobs.append({"id": job_id, "owner_id": owner, "spec": {"model": model, "target": target, "objective": objective},
                     "state": "succeeded", "cancel_requested": False, "attempts": 1, "created_at": created,
                     "finished_at": created + timedelta(minutes=3)})
        for k in range(min(POLICIES_PER_JOB, policies - len(rows))):
            doc = policy_document(rng, model, layers, target, objective)
            rows.append({"owner_id": owner, "job_id": job_id, "kind": "best" if k == 0 else "pareto", "model": model,
                         "target": target, "objective": objective, "accuracy": doc["accuracy"],
                         "latency_ms": doc["totals"]["latency_ms"], "energy_mj": doc["totals"]["energy_mj"],
                         "size_mb": doc["totals"]["size_mb"], "document": doc, "created_at": created + timedelta(minutes=3)})
    with db.session() as session:
        session.execute(insert(Job), jobs)
        for first in range(0, len(rows), 1000):
            session.execute(insert(StoredPolicy), rows[first : first + 1000])
    if db.engine.dialect.name == "postgresql":  # explicit ids: move the sequence past them
        with db.engine.begin() as conn:
            conn.exec_driver_sql("SELECT setval('jobs_id_seq', (SELECT max(id) FROM jobs))")
    # a store in service has its statistics and visibility map (autovacuum): without them a
    # count is a sequential scan and the planner guesses
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE" if db.engine.dialect.name == "postgresql" else "ANALYZE")
    db.engine.dispose()
    return plain


def table_text(target: str, approx_bytes: int, seed: int = 0) -> str:
    """A valid measured table (every bit pair 2..8 per shape) of about ``approx_bytes``."""
    rng = random.Random(seed)
    bits = list(range(2, 9))
    rows = []
    size, i = 0, 0
    while size < approx_bytes:
        channels, hw = 16 * (1 + i % 32), 4 * (1 + (i // 32) % 14)
        shape = f"conv2d:ic{channels}:oc{channels * 2}:k3x3:s1x1:g1:in{hw}x{hw}:out{hw}x{hw}:b{i}"
        for w in bits:
            for a in bits:
                row = (shape, w, a, rng.uniform(0.001, 2.0), rng.uniform(0.0001, 0.5), "table")
                rows.append(row)
                size += len(f"{shape},{w},{a},{row[3]:.6g},{row[4]:.6g},table\n")
        i += 1
    return format_table(target, 1, bits, rows, "api_load benchmark")
