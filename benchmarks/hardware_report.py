"""Figures for docs/hardware.md: totals per model and target, HAQ table comparison, plot.

Run: ``.venv/bin/python benchmarks/hardware_report.py`` (prints markdown, writes the PNG).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

from hwsearch.core.graph import layer_names, trace  # noqa: E402
from hwsearch.core.policy import Policy  # noqa: E402
from hwsearch.zoo import build_model, example_input  # noqa: E402
from latency_tables import get_target  # noqa: E402
from latency_tables.regimes import regime  # noqa: E402

PLOT = Path(__file__).parent.parent / "docs" / "hardware_mobilenet-v2_layers.png"
SIMULATED = ("bitfusion", "bismo-edge", "bismo-cloud")


def specs_of(model: str):
    return trace(build_model(model, trained=False), example_input(model))


def totals() -> None:
    print("| model | target | batch | latency 8-bit (ms) | energy 8-bit (mJ) | 4/8 latency | 4/8 energy | memory-bound layers at 8-bit |")
    print("|---|---|---|---|---|---|---|---|")
    for model in ("mobilenet-v1", "mobilenet-v2", "resnet-50"):
        specs = specs_of(model)
        names = layer_names(specs)
        for name in SIMULATED:
            t = get_target(name)
            c8 = t.policy_cost(specs, Policy.uniform(names, 8))
            c4 = t.policy_cost(specs, Policy.uniform(names, 4))
            mem = sum(layer.bound == "memory" for layer in c8.layers)
            print(f"| {model} | {name} | {t.batch} | {c8.latency_ms:.2f} | {c8.energy_mj:.2f} | "
                  f"{c4.latency_ms / c8.latency_ms:.3f} | {c4.energy_mj / c8.energy_mj:.3f} | {mem}/{len(specs)} |")
    cpu = get_target("cpu-onnxruntime")
    for model in ("mobilenet-v1", "mobilenet-v2", "resnet-50"):
        specs = specs_of(model)
        names = layer_names(specs)
        i8 = cpu.policy_cost(specs, Policy.uniform(names, 8)).latency_ms
        f32 = cpu.policy_cost(specs, Policy.uniform(names, 32)).latency_ms
        print(f"| {model} | cpu-onnxruntime (measured) | 1 | {i8:.2f} | n/a | 1.000 (no 4-bit kernel) | n/a | fp32 {f32:.2f} ms |")


def regimes(grid: np.ndarray) -> list[str]:
    """Regime of each layer's latency grid [w, a] (bits 2..8): what moves it (latency_tables/regimes.py)."""
    return [regime(g[6, 6], g[0, 6], g[6, 0]) for g in grid]


def haq_comparison() -> None:
    specs = specs_of("mobilenet-v2")
    targets = {"haq-mobilenetv2": get_target("haq-mobilenetv2")}
    targets.update({n: get_target(n, batch=16) for n in SIMULATED})
    names = layer_names(specs)
    print("\n| target (batch 16) | activations | weights | both | neither | uniform 4/8 | uniform 2/8 | depthwise share of 8-bit latency | regimes as HAQ's | rank corr. with HAQ per layer |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    haq8 = haq_kinds = None
    for name, t in targets.items():
        grid = t.cost_array(specs, range(2, 9))[..., 0]
        kinds = regimes(grid)
        c8 = t.policy_cost(specs, Policy.uniform(names, 8))
        c4 = t.policy_cost(specs, Policy.uniform(names, 4)).latency_ms / c8.latency_ms
        c2 = t.policy_cost(specs, Policy.uniform(names, 2)).latency_ms / c8.latency_ms
        per = np.array([layer.latency_ms for layer in c8.layers])
        dw = per[[s.is_depthwise for s in specs]].sum() / per.sum()
        if haq8 is None:
            haq8, haq_kinds = per, kinds
        rho = spearmanr(per, haq8).statistic
        same = sum(a == b for a, b in zip(kinds, haq_kinds))
        print(f"| {name} | {kinds.count('activations')} | {kinds.count('weights')} | {kinds.count('both')} | "
              f"{kinds.count('neither')} | {c4:.3f} | {c2:.3f} | {dw:.2f} | {same}/{len(kinds)} | {rho:.3f} |")


def plot() -> None:
    specs = specs_of("mobilenet-v2")
    names = layer_names(specs)
    fig, axes = plt.subplots(4, 1, figsize=(11, 10), sharex=True)
    x = np.arange(len(specs))
    colors = ["tab:orange" if s.is_depthwise else ("tab:green" if s.op == "linear" else "tab:blue") for s in specs]
    panels = [("haq-mobilenetv2", None), ("bitfusion", 1), ("bismo-edge", 1), ("bismo-cloud", 16)]
    for ax, (name, batch) in zip(axes, panels):
        t = get_target(name) if batch is None else get_target(name, batch=batch)
        for bits, alpha, shift in ((8, 1.0, -0.2), (4, 0.4, 0.2)):
            cost = t.policy_cost(specs, Policy.uniform(names, bits))
            ax.bar(x + shift, [c.latency_ms for c in cost.layers], width=0.4, color=colors, alpha=alpha)
        unit = t.units["latency"]
        ax.set_ylabel(f"{unit}")
        ax.set_title(f"{name} (batch {t.batch}): left/solid = 8-bit, right/faded = 4-bit; orange = depthwise, green = FC", fontsize=9)
    axes[-1].set_xlabel("MobileNetV2 layer (trace order)")
    fig.tight_layout()
    PLOT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(PLOT, dpi=90)
    print(f"\nwrote {PLOT}")


if __name__ == "__main__":
    totals()
    haq_comparison()
    plot()
