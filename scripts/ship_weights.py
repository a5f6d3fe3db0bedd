"""Put the built-in models' trained weights into hwsearch/zoo/weights/, the ones every
machine then uses (see hwsearch.zoo.training for why).

    python scripts/ship_weights.py                 # every trainable model lacking a shipped file
    python scripts/ship_weights.py fashion-cnn     # one model (after changing its recipe)

A model with a shipped file for its current recipe is left alone; an older shipped file
of the same model (another recipe hash) is removed. Weights come from this machine's
cache, or are trained here. Searches on the new weights give new numbers: benchmark
runs made on the old ones are not comparable.
"""

from __future__ import annotations

import sys
from pathlib import Path

from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hwsearch.zoo import MODELS, build_model  # noqa: E402
from hwsearch.zoo.training import SHIPPED_DIR, weights_file_name  # noqa: E402


def ship(name: str) -> Path:
    entry = MODELS[name]
    target = SHIPPED_DIR / weights_file_name(name, entry.build(), entry.recipe)
    if not target.exists():
        model = build_model(name)  # from the cache, or trained now
        SHIPPED_DIR.mkdir(exist_ok=True)
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(target))
    for old in SHIPPED_DIR.glob(f"{name}-*.safetensors"):
        if old != target:
            old.unlink()
    return target


def main() -> None:
    names = sys.argv[1:] or [n for n, e in MODELS.items() if e.trainable]
    unknown = [n for n in names if n not in MODELS or not MODELS[n].trainable]
    if unknown:
        sys.exit(f"not trainable built-in models: {', '.join(unknown)}")
    for name in names:
        print(f"{name}: {ship(name)}")


if __name__ == "__main__":
    main()
