"""Trained weights of the built-in benchmark models: shipped, else trained once and cached.

The weights the project ships (``hwsearch/zoo/weights/``, safetensors) are used first:
training is seeded, but its floating-point reduction order follows the CPU and thread
count, so two machines train different weights, and searches on them give different
numbers (seen: fashion-mobilenet 90.25% float on one machine, 89.95% on the next).
Shipped weights make every machine search the same model. A model without shipped
weights for its current recipe is trained on first use and cached. The file name hashes
the recipe and the architecture, so changing either retrains (and ``scripts/ship_weights.py``
refreshes the shipped file); a lock file keeps two processes from training the same model at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from hwsearch.data import Dataset

CACHE_ENV = "HWSEARCH_CACHE_DIR"
SHIPPED_DIR = Path(__file__).parent / "weights"


@dataclass(frozen=True)
class TrainRecipe:
    """Everything that decides the trained weights (besides the architecture)."""

    epochs: int
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 1e-4
    seed: int = 0


def cache_dir() -> Path:
    """Root of hwsearch's caches: $HWSEARCH_CACHE_DIR or ~/.cache/hwsearch."""
    root = os.environ.get(CACHE_ENV)
    return Path(root) if root else Path.home() / ".cache" / "hwsearch"


def recipe_hash(name: str, model: nn.Module, recipe: TrainRecipe) -> str:
    """Hash of recipe + architecture: the weights file's identity."""
    payload = json.dumps({"name": name, "arch": repr(model), "recipe": asdict(recipe)}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def train(
    model: nn.Module,
    data: Dataset,
    recipe: TrainRecipe,
    progress: Callable[[int, int, float], None] | None = None,
) -> nn.Module:
    """Train ``model`` on ``data.train`` with AdamW and a one-cycle schedule, seeded."""
    torch.manual_seed(recipe.seed)
    generator = torch.Generator().manual_seed(recipe.seed)
    x, y = data.train.x, data.train.y
    steps_per_epoch = (len(y) + recipe.batch_size - 1) // recipe.batch_size
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=recipe.lr, total_steps=recipe.epochs * steps_per_epoch
    )
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for epoch in range(recipe.epochs):
        order = torch.randperm(len(y), generator=generator)
        total = 0.0
        for start in range(0, len(y), recipe.batch_size):
            idx = order[start : start + recipe.batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(idx)
        if progress is not None:
            progress(epoch + 1, recipe.epochs, total / len(y))
    model.eval()
    return model


def weights_file_name(name: str, model: nn.Module, recipe: TrainRecipe) -> str:
    """``NAME-HASH.safetensors``: the same name in the shipped folder and the cache."""
    return f"{name}-{recipe_hash(name, model, recipe)}.safetensors"


def load_or_train(
    name: str,
    model: nn.Module,
    data_loader: Callable[[], Dataset],
    recipe: TrainRecipe,
    progress: Callable[[int, int, float], None] | None = None,
) -> nn.Module:
    """Load shipped or cached weights for ``name``, or train and cache them (atomically)."""
    file_name = weights_file_name(name, model, recipe)
    shipped = SHIPPED_DIR / file_name
    if shipped.exists():
        model.load_state_dict(load_file(str(shipped)))
        return model.eval()
    path = cache_dir() / "models" / file_name
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            train(model, data_loader(), recipe, progress)
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp))
            os.replace(tmp, path)
    model.load_state_dict(load_file(str(path)))
    return model.eval()
