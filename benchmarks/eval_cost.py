"""Cost of evaluating one policy vs one plain float forward pass over the same split.

The search evaluates hundreds of policies, so switching policy must be nearly free:
target ratio <= 1.5x. Writes benchmarks/results/eval_cost.json.

    python benchmarks/eval_cost.py [--models digits-cnn fashion-cnn] [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from hwsearch.evaluate import accuracy
from hwsearch.core.policy import Policy
from hwsearch.quant import QuantizedModel
from hwsearch.zoo import build_model, model_dataset

RESULTS = Path(__file__).parent / "results" / "eval_cost.json"


def _median_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(name: str, repeats: int) -> dict:
    model = build_model(name)
    data = model_dataset(name)
    split = data.val
    qmodel = QuantizedModel(model, data.calib.x)
    qmodel.precompute(range(2, 9))
    rng = torch.Generator().manual_seed(0)

    def random_policy() -> Policy:
        bits = torch.randint(2, 9, (len(qmodel.layer_names), 2), generator=rng).tolist()
        return Policy({n: (w, a) for n, (w, a) in zip(qmodel.layer_names, bits)})

    def float_pass() -> None:
        accuracy(model, split)

    def policy_pass() -> None:  # a new policy every time: switch + evaluate
        qmodel.set_policy(random_policy())
        accuracy(qmodel, split)

    t_float = _median_time(float_pass, repeats)
    t_policy = _median_time(policy_pass, repeats)
    return {
        "model": name,
        "split": "val",
        "samples": len(split),
        "float_forward_s": round(t_float, 5),
        "policy_eval_s": round(t_policy, 5),
        "ratio": round(t_policy / t_float, 3),
        "target_ratio": 1.5,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", nargs="+", default=["digits-cnn", "digits-mobilenet", "fashion-cnn", "fashion-mobilenet"])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    rows = [measure(name, args.repeats) for name in args.models]
    for row in rows:
        print(f"{row['model']:18s} float {row['float_forward_s']*1e3:8.2f} ms  policy {row['policy_eval_s']*1e3:8.2f} ms  ratio {row['ratio']:.2f}x")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {"benchmark": "eval_cost", "torch": torch.__version__, "threads": torch.get_num_threads(),
             "machine": platform.processor() or platform.machine(), "results": rows},
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
