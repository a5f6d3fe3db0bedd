"""Checkpoints: a search's state after every episode, so a killed search resumes exactly.

The file is replaced atomically (temp file + ``os.replace``) after every new episode.
Resuming re-runs the agent from its seed with the stored accuracy cache: all agents are
deterministic given the seed and the accuracies they observe, so every episode before the
interruption replays exactly (checked against the stored history) at no evaluation cost,
and the agent arrives where it stopped in exactly the state it had (networks, optimizer,
replay buffer, noise, generators) without serialising any of it.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from hwsearch.core.policy import Policy
from hwsearch.core.records import EvaluatedPolicy
from hwsearch.core.run import SearchCallback, SearchRun
from hwsearch.core.spec import DEFAULT_CONFIRM_TOP, SearchSpec
from hwsearch.search.callbacks import BestTracker

CHECKPOINT_NAME = "checkpoint.json"
CHECKPOINT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed (another spec, or another code version)."""


def write_json_atomic(path: Path, doc: Any) -> None:
    """Write JSON to ``path`` via a temp file in the same folder and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(doc, fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Checkpoint(SearchCallback):
    """Writes ``checkpoint.json`` after every new episode and makes a resumed run replay.

    The file holds the spec, the history, the best so far, the elapsed time and every
    accuracy measured (in order). On resume the agent is re-run from its seed with that
    accuracy cache (see ``hwsearch.search.runner``); each replayed episode is checked
    against the stored history.
    """

    def __init__(self, folder: str | Path, spec: SearchSpec, tracker: BestTracker, prior: dict | None) -> None:
        self.path = Path(folder) / CHECKPOINT_NAME
        self.spec, self.tracker, self.prior = spec, tracker, prior

    def init_callback(self, run: SearchRun) -> None:
        super().init_callback(run)
        if self.prior:
            run.replay_until = len(self.prior["history"])
            run.prior_elapsed_s = self.prior["elapsed_s"]
            names = run.problem.names
            run.problem.scorer.preload(
                [(Policy({n: (w, a) for n, (w, a) in zip(names, rows)}), acc) for rows, acc in self.prior["cache"]]
            )

    def on_episode(self, record: EvaluatedPolicy) -> bool:
        n = record.episode
        if self.run.replaying:
            stored = EvaluatedPolicy.from_dict(self.prior["history"][n - 1])
            if stored.policy != record.policy or not math.isclose(stored.accuracy, record.accuracy):
                raise CheckpointError(
                    f"checkpoint episode {n} does not replay (stored {stored.policy.to_dict()}, now "
                    f"{record.policy.to_dict()}); it was made by another version of the agent: delete the "
                    "checkpoint to start afresh"
                )
        else:
            self.write()
        return True

    def write(self, finished: bool = False, best: EvaluatedPolicy | None = None) -> None:
        run = self.run
        names = run.problem.names
        scorer = run.problem.scorer
        best = best or self.tracker.best
        doc = {
            "version": CHECKPOINT_VERSION,
            "spec": self.spec.model_dump(mode="json"),
            "layers": names,
            "history": [h.to_dict() for h in run.history],
            "best": best.to_dict() if best else None,
            "elapsed_s": run.elapsed(),
            "cache": [[[[p[n].weight_bits, p[n].activation_bits] for n in names], scorer.cache[p]] for p in scorer.order],
            "finished": finished,
        }
        write_json_atomic(self.path, doc)


def load_checkpoint(folder: str | Path, spec: SearchSpec) -> dict | None:
    """The checkpoint in ``folder`` made for ``spec``, or None; another spec or version is an error."""
    path = Path(folder) / CHECKPOINT_NAME
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from None
    if doc.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"checkpoint {path} has version {doc.get('version')}, expected {CHECKPOINT_VERSION}")
    stored = doc.get("spec")
    if isinstance(stored, dict):
        # checkpoints from before these fields (neither changes the episodes a search replays)
        stored = {"robust": None, "confirm_top": DEFAULT_CONFIRM_TOP, "confirm_samples": None, "random_init": False, **stored}
    if stored != spec.model_dump(mode="json"):
        raise CheckpointError(f"checkpoint {path} was made for another spec; use another checkpoint folder or delete it")
    return doc
