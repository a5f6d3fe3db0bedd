"""What checkpointing costs a long search: none, a JSON-lines file, the service's database.

Runs the same search (default: TD3, 1,500 episodes on digits-cnn / bismo-edge at 0.4 x
int8 latency) three times and reports each wall time, the time per checkpoint write and
the overhead against no checkpoint. The database variant is the service's own path: a
claimed job on a SQLite store, every entry written through the claim's fence. Checkpoints
append only what is new, so the per-write cost should not grow with the episode count:
the first and last hundred writes are timed apart to show it.

``python benchmarks/checkpoint_cost.py [--episodes 1500] [--agent td3]``
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from api import queue  # noqa: E402
from api.auth import create_key  # noqa: E402
from api.checkpoints import JobCheckpointStore  # noqa: E402
from api.db import Database, migrate  # noqa: E402
from api.models import Job  # noqa: E402
from hwsearch.search import FileCheckpointStore, run_search  # noqa: E402


class Timed:
    """A checkpoint store that times each append of the store it wraps."""

    def __init__(self, inner) -> None:
        self.inner, self.seconds = inner, []

    def read(self) -> list[dict]:
        return self.inner.read()

    def append(self, entry: dict) -> None:
        start = time.perf_counter()
        self.inner.append(entry)
        self.seconds.append(time.perf_counter() - start)


def database_store(folder: Path, spec: dict) -> JobCheckpointStore:
    db = Database(f"sqlite:///{folder / 'store.db'}")
    migrate(db.engine)
    with db.session() as session:
        key, _ = create_key(session, "bench")
        session.add(Job(owner_id=key.id, spec=spec, state="queued", cancel_requested=False, attempts=0))
    with db.sessions() as session:
        held = queue.claim(session, "bench", 3600)
    return JobCheckpointStore(db, held, 3600)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="digits-cnn")
    p.add_argument("--target", default="bismo-edge")
    p.add_argument("--agent", default="td3")
    p.add_argument("--episodes", type=int, default=1500)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "checkpoint_cost.json")
    args = p.parse_args()
    import torch

    spec = {
        "model": args.model, "target": args.target, "budget": {"relative": 0.4}, "agent": args.agent,
        "episodes": args.episodes, "seed": 0, "eval_samples": 2000,
    }
    run_search({**spec, "episodes": 2})  # warm: model and data loaded, caches built
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("none", "file", "database"):
            folder = Path(tmp) / name
            folder.mkdir()
            store = None if name == "none" else Timed(FileCheckpointStore(folder) if name == "file" else database_store(folder, spec))
            start = time.perf_counter()
            result = run_search(spec, checkpoint=store)
            wall = time.perf_counter() - start
            writes = store.seconds if store else []
            rows[name] = {
                "wall_s": round(wall, 2),
                "episodes": len(result.history),
                "evaluations": result.evaluations,
                "writes": len(writes),
                "write_ms_mean": round(1000 * sum(writes) / len(writes), 3) if writes else None,
                "write_ms_first_100": round(1000 * sum(writes[:100]) / min(100, len(writes)), 3) if writes else None,
                "write_ms_last_100": round(1000 * sum(writes[-100:]) / min(100, len(writes)), 3) if writes else None,
            }
            print(name, rows[name], flush=True)
    base = rows["none"]["wall_s"]
    for row in rows.values():
        row["overhead_pct"] = round(100 * (row["wall_s"] - base) / base, 1)
    doc = {"benchmark": "checkpoint_cost", "spec": spec, "torch_threads": torch.get_num_threads(), "runs": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
