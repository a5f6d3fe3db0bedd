"""The upload check on every built-in model exported to ONNX: agreement and time.

For each model of the zoo (the four benchmark models with their trained weights, and
MobileNetV1/V2 and ResNet-50 at ImageNet shape with random weights) the model is exported
the way a user's toolchain would (``torch.onnx.export``, BatchNorm kept) and put through
``hwsearch.search.check_model``: parse, conversion to torch, one forward pass against
onnxruntime's float output, trace. Reports the largest absolute and relative difference,
the check's time, and the layers found against the original model's trace.

``python benchmarks/onnx_import.py [--models mobilenet-v2,resnet-50]``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from hwsearch.core.graph import layer_names, trace  # noqa: E402
from hwsearch.search import check_model  # noqa: E402
from hwsearch.zoo import MODELS, build_model, example_input  # noqa: E402
from tests.fixtures.user_models import onnx_bytes  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "onnx_import.json"


def measure(name: str) -> dict:
    torch.manual_seed(0)
    entry = MODELS[name]
    model = build_model(name, trained=entry.trainable)
    data = onnx_bytes(model, (1, *entry.input_shape))
    start = time.perf_counter()
    report = check_model(data)
    seconds = time.perf_counter() - start
    original = layer_names(trace(model, example_input(name)))
    return {
        "model": name,
        "onnx_bytes": len(data),
        "max_abs_diff": report.max_abs_diff,
        "relative_diff": report.relative_diff,
        "check_s": round(seconds, 2),
        "layers": len(report.layers),
        "layers_of_original": len(original),
        "quantized_share": round(report.quantized_share, 6),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated built-in model names")
    args = parser.parse_args()
    torch.set_num_threads(2)
    rows = []
    for name in args.models.split(","):
        row = measure(name)
        rows.append(row)
        print(json.dumps(row), flush=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"torch_threads": 2, "rows": rows}, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
