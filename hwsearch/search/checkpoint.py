"""Checkpoints: a search's state as append-only entries, so a killed search resumes exactly.

One entry per episode (its record, the accuracies measured since the last entry, the
elapsed time), after a header naming the spec, and a last entry with the best when the
search ends: writing costs the same at episode 1,500 as at episode 1. Where entries live
is a ``CheckpointStore``: a JSON-lines file for the CLI (``FileCheckpointStore``), the
database for the service (``api.checkpoints``), so a worker on any machine resumes.

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
from pathlib import Path
from typing import Any, Protocol

from hwsearch.core.policy import Policy
from hwsearch.core.records import EvaluatedPolicy
from hwsearch.core.run import SearchCallback, SearchRun
from hwsearch.core.spec import DEFAULT_CONFIRM_TOP, SearchSpec
from hwsearch.search.callbacks import BestTracker

CHECKPOINT_NAME = "checkpoint.jsonl"
LEGACY_CHECKPOINT_NAME = "checkpoint.json"  # version 1: the whole state rewritten each episode
CHECKPOINT_VERSION = 2


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed (another spec, or another code version)."""


class CheckpointStore(Protocol):
    """Where a checkpoint's entries live, in the order they were appended."""

    def read(self) -> list[dict[str, Any]]: ...

    def append(self, entry: dict[str, Any]) -> None: ...


class FileCheckpointStore:
    """Entries as lines of ``checkpoint.jsonl`` in a folder; a torn last line (a kill
    mid-write) is dropped on reading. A version-1 ``checkpoint.json`` is read as one entry."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / CHECKPOINT_NAME

    def read(self) -> list[dict[str, Any]]:
        if self.path.exists():
            entries = []
            for line in self.path.read_text().splitlines():
                try:
                    entries.append(json.loads(line))
                except json.JSONDecodeError:
                    break  # the write a kill interrupted; everything before it stands
            return entries
        legacy = self.folder / LEGACY_CHECKPOINT_NAME
        if legacy.exists():
            try:
                doc = json.loads(legacy.read_text())
            except (OSError, json.JSONDecodeError) as exc:
                raise CheckpointError(f"cannot read checkpoint {legacy}: {exc}") from None
            if doc.get("version") != 1:
                raise CheckpointError(f"checkpoint {legacy} has version {doc.get('version')}, expected 1")
            return [{"kind": "header", "version": CHECKPOINT_VERSION, "spec": doc.get("spec")}, doc]
        return []

    def append(self, entry: dict[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        legacy = self.folder / LEGACY_CHECKPOINT_NAME
        carried = self.read() if not self.path.exists() and legacy.exists() else []
        with self.path.open("a") as fh:
            for line in [*carried, entry]:
                fh.write(json.dumps(line) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        if carried:
            legacy.unlink()


def _normalised(spec: dict[str, Any]) -> dict[str, Any]:
    # specs stored before these fields (none changes the episodes a search replays)
    return {
        "robust": None, "confirm_top": DEFAULT_CONFIRM_TOP, "confirm_samples": None, "random_init": False,
        "weight_bits": None, "activation_bits": None, **spec,
    }


def load_checkpoint(store: CheckpointStore, identity: dict[str, Any]) -> dict[str, Any] | None:
    """The state in ``store`` (history, cache, elapsed_s, best), or None when it is empty.

    ``identity`` is the spec the checkpoint must have been made for; another is an error.
    """
    entries = store.read()
    if not entries:
        return None
    header = entries[0]
    if header.get("kind") != "header" or header.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"checkpoint has version {header.get('version')}, expected {CHECKPOINT_VERSION}")
    if not isinstance(header.get("spec"), dict) or _normalised(header["spec"]) != _normalised(identity):
        raise CheckpointError("checkpoint was made for another spec; use another checkpoint folder or delete it")
    state: dict[str, Any] = {"history": [], "cache": [], "elapsed_s": 0.0, "best": None, "finished": False}
    for entry in entries[1:]:
        state["history"].extend(entry.get("history", ()))
        state["cache"].extend(entry.get("cache", ()))
        for key in ("elapsed_s", "best", "finished"):
            if key in entry:
                state[key] = entry[key]
    return state


class Checkpoint(SearchCallback):
    """Appends an entry after every new episode and makes a resumed run replay.

    An entry holds only what is new: the episode's record and the accuracies measured
    since the previous entry. On resume the agent is re-run from its seed with the stored
    accuracy cache (see ``hwsearch.search.runner``); each replayed episode is checked
    against the stored history.
    """

    def __init__(self, store: CheckpointStore, identity: dict[str, Any], tracker: BestTracker, prior: dict | None) -> None:
        self.store, self.identity, self.tracker, self.prior = store, identity, tracker, prior
        self.written = 0  # measured accuracies already in the store

    def init_callback(self, run: SearchRun) -> None:
        super().init_callback(run)
        if self.prior:
            run.replay_until = len(self.prior["history"])
            run.prior_elapsed_s = self.prior["elapsed_s"]
            names = run.problem.names
            run.problem.scorer.preload(
                [(Policy({n: (w, a) for n, (w, a) in zip(names, rows)}), acc) for rows, acc in self.prior["cache"]]
            )
            self.written = len(run.problem.scorer.order)
        else:
            self.store.append({"kind": "header", "version": CHECKPOINT_VERSION, "spec": self.identity})

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
            self.store.append({"kind": "episode", "history": [record.to_dict()], **self._news()})
        return True

    def write_end(self, finished: bool, best: EvaluatedPolicy | None) -> None:
        """The last entry: the best and whether the search finished (not cancelled)."""
        best = best or self.tracker.best
        self.store.append({"kind": "end", "best": best.to_dict() if best else None, "finished": finished, **self._news()})

    def _news(self) -> dict[str, Any]:
        names = self.run.problem.names
        scorer = self.run.problem.scorer
        new = scorer.order[self.written :]
        self.written = len(scorer.order)
        rows = [[[[p[n].weight_bits, p[n].activation_bits] for n in names], scorer.cache[p]] for p in new]
        return {"cache": rows, "elapsed_s": self.run.elapsed()}
