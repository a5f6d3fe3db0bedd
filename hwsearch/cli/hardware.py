"""``hwsearch hardware ...``: list, show, build and measure hardware cost tables."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from hwsearch.cli.errors import err
from hwsearch.cli.errors import fail as _fail
from hwsearch.cli.errors import read_json_file
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

app = typer.Typer(help="Hardware targets and their latency/energy tables.", no_args_is_help=True)
console = Console()



ModelOption = Annotated[str, typer.Option(help="built-in model, the path of an .onnx file, or module:factory")]
DataOption = Annotated[
    str | None, typer.Option(help="data whose images give a module:factory model its input shape (npz:PATH, ...)")
]
ShapeOption = Annotated[str | None, typer.Option(help="input shape C,H,W (instead of --data), e.g. 3,224,224")]


def _label(model: str) -> str:
    """The model's name in a table and its default file name: an ONNX file's stem, a factory's
    dotted path with ':' as '_' (never a path with folders)."""
    name = Path(model).stem if model.endswith(".onnx") else model
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def _shape(input_shape: str | None) -> tuple[int, ...] | None:
    """``--input-shape C,H,W`` as integers (a one-line error otherwise)."""
    if input_shape is None:
        return None
    try:
        return tuple(int(v) for v in input_shape.split(","))
    except ValueError:
        _fail(f"input-shape: expected C,H,W integers, got {input_shape!r}")


def _specs(model: str, data: str | None = None, input_shape: str | None = None):
    """The layers of any model the search accepts (one-line errors)."""
    from hwsearch.search import SpecError, trace_model

    try:
        return trace_model(model, data=data, input_shape=_shape(input_shape))
    except SpecError as exc:
        _fail(str(exc))


def _fmt(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.4g}"


@app.command("list")
def list_cmd() -> None:
    """List the hardware targets."""
    from latency_tables import TableError, get_target, list_targets

    table = Table("name", "batch", "units", "widths", "description")
    try:
        for name in list_targets():
            t = get_target(name)
            widths = "2..8" if t.supported_bits is None else ",".join(map(str, t.supported_bits))
            widths += ", 32 (float)" if t.has_float else ""
            table.add_row(name, str(t.batch), f"{t.units['latency']}, {t.units['energy']}", widths, t.description)
    except TableError as exc:
        _fail(str(exc))
    console.print(table)


@app.command("show")
def show_cmd(
    target: Annotated[str, typer.Argument(help="target name or path to a .csv table")],
    model: Annotated[str | None, typer.Option(help="model to cost layer by layer (as --model of search)")] = None,
    data: DataOption = None,
    input_shape: ShapeOption = None,
    wbits: Annotated[int, typer.Option(help="weight bits for every layer")] = 8,
    abits: Annotated[int, typer.Option(help="activation bits for every layer")] = 8,
    batch: Annotated[int | None, typer.Option(help="batch (simulated targets only)")] = None,
) -> None:
    """Describe a target; with --model, print its per-layer cost at uniform bits."""
    from hwsearch.core.graph import layer_names
    from hwsearch.core.policy import Policy
    from latency_tables import TableError, get_target

    try:
        t = get_target(target, batch=batch)
        console.print(f"[bold]{t.name}[/bold]: {t.description}")
        console.print(f"batch {t.batch}; units {t.units}; widths {t.supported_bits or '2..8'}{' and 32 (float)' if t.has_float else ''}")
        if model is None:
            return
        specs = _specs(model, data, input_shape)
        policy = Policy.uniform(layer_names(specs), wbits, abits)
        cost = t.policy_cost(specs, policy)
    except (TableError, ValueError, KeyError) as exc:
        _fail(str(exc))
    lat_unit, en_unit = t.units["latency"], t.units["energy"]
    table = Table("#", "layer", "op", "shape", f"latency ({lat_unit})", f"energy ({en_unit})", "bound", title=f"{model} at w{wbits}a{abits} on {t.name}")
    for i, (spec, c) in enumerate(zip(specs, cost.layers)):
        kind = "dw" if spec.is_depthwise else spec.op
        shape = f"{spec.in_channels}->{spec.out_channels} k{spec.kernel_size[0]} s{spec.stride[0]} @{spec.out_hw[0]}x{spec.out_hw[1]}"
        table.add_row(str(i), spec.name, kind, shape, _fmt(c.latency_ms), _fmt(c.energy_mj), c.bound)
    table.add_row("", "total", "", "", _fmt(cost.latency_ms), _fmt(cost.energy_mj), "", style="bold")
    console.print(table)


@app.command("build")
def build_cmd(
    target: Annotated[str, typer.Argument(help="simulated target: bitfusion, bismo-edge, bismo-cloud")],
    model: ModelOption,
    out: Annotated[Path | None, typer.Option(help="output .csv (default latency_tables/data/TARGET__MODEL.csv)")] = None,
    batch: Annotated[int | None, typer.Option(help="batch (default: the target's)")] = None,
    data: DataOption = None,
    input_shape: ShapeOption = None,
) -> None:
    """Generate a simulated target's lookup table for a model's layer shapes."""
    from latency_tables.generate import build_table

    specs = _specs(model, data, input_shape)
    try:
        path = build_table(target, specs, _label(model), out, batch)
    except ValueError as exc:
        _fail(str(exc))
    console.print(f"wrote {path} ({len({s.shape_key for s in specs})} shapes)")


@app.command("measure")
def measure_cmd(
    model: ModelOption,
    out: Annotated[Path, typer.Option(help="output .csv table")],
    name: Annotated[str, typer.Option(help="target name written in the table")] = "cpu-onnxruntime",
    batch: Annotated[int, typer.Option(min=1)] = 1,
    warmup: Annotated[int, typer.Option(min=0)] = 5,
    repeats: Annotated[int, typer.Option(min=1)] = 20,
    data: DataOption = None,
    input_shape: ShapeOption = None,
    whole_model: Annotated[
        bool,
        typer.Option(
            "--whole-model/--no-whole-model",
            help="also time the whole model (batch 1): scale the lone layers' costs so uniform int8 and fp32 "
            "match it, and price each layer's switch from float back into integer kernels (one export and "
            "timing per such layer)",
        ),
    ] = True,
) -> None:
    """Time onnxruntime's int8 and fp32 kernels for each layer shape and write a table."""
    from hwsearch.search import SpecError
    from hwsearch.search.measure import runtime_layers, time_runtime_layers_header
    from latency_tables.measured import measure_specs, measured_table_text, write_measured_table

    specs = _specs(model, data, input_shape)
    columns = (TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err) as progress:
        task = progress.add_task("measuring", total=len({s.shape_key for s in specs}))

        def report(done: int, total: int, shape: str) -> None:
            progress.update(task, completed=done, total=total, description=f"measuring {shape[:48]}")

        try:
            results = measure_specs(specs, batch=batch, warmup=warmup, repeats=repeats, progress=report)
        except Exception as exc:  # onnxruntime errors have many types; report, don't trace
            _fail(f"measurement failed: {exc}")
        more: dict[str, str] = {}
        runtime = None
        try:  # which layers stay float in the int8 export, timed as they run there
            runtime = runtime_layers(model, data, _shape(input_shape))
            more = time_runtime_layers_header(specs, runtime, batch=batch, warmup=warmup, repeats=repeats)
        except SpecError as exc:
            err.print(f"warning: every layer keeps its int8 entry ({exc})")
        whole: dict[str, str] = {}
        if whole_model and runtime is not None and batch == 1:
            def table_with(extra: dict[str, str]) -> str:
                return measured_table_text(results, name, _label(model), batch, warmup, repeats, {**more, **extra})

            whole = _time_whole_model(progress, model, specs, runtime, data, input_shape, warmup, repeats, table_with)
        more.update(whole)
    path = write_measured_table(out, measured_table_text(results, name, _label(model), batch, warmup, repeats, more))
    console.print(f"wrote {path}: {len(results)} shapes, widths 8 (int8 kernels) and 32 (fp32); no kernel below 8 bits")
    if runtime is not None and more:
        console.print(f"{len(runtime.float_layers)} layer(s) run in float even at int8 (their output is not requantized): priced as timed so")
        console.print(f"{len(runtime.requantized_by)} layer(s) run as integers while the next layer quantizes its input: priced as timed in float when it does not")
    if "whole-model-scale" in whole:
        scale = json.loads(whole["whole-model-scale"])
        console.print(f"whole model: lone-layer costs scaled by {scale['integer']:.3g} (int8) and {scale['float']:.3g} (fp32) to match it")
    if "float-to-integer" in whole:
        console.print(f"{len(json.loads(whole['float-to-integer']))} layer(s) run in float before an integer one: the switch back priced as timed on the whole model")


def _time_whole_model(progress: Progress, model: str, specs: list, runtime, data: str | None, input_shape: str | None,
                      warmup: int, repeats: int, table_with: Callable[[dict[str, str]], str]) -> dict[str, str]:
    """``time_whole_model``'s headers, with a progress bar; a warning, not an error, when the
    model cannot be exported or timed whole (the lone-layer table still stands)."""
    from hwsearch.search import SpecError
    from hwsearch.search.whole_model import time_whole_model

    task = progress.add_task("whole model", total=1 + len(runtime.requantized_by))

    def report(done: int, total: int, what: str) -> None:
        progress.update(task, completed=done, total=total, description=f"whole model: {what[:40]}")

    try:
        return time_whole_model(model, specs, runtime, table_with, data, _shape(input_shape), warmup, repeats, report)
    except SpecError as exc:
        err.print(f"warning: costs stay as the lone layers timed them ({exc})")
    except Exception as exc:  # onnxruntime errors have many types; report, don't trace
        err.print(f"warning: costs stay as the lone layers timed them (timing the whole model failed: {exc})")
    return {}


@app.command("verify")
def verify_cmd(
    policy_file: Annotated[Path, typer.Argument(help="policy file written by 'hwsearch search' (hwsearch.policy/v1)")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON (predicted_ms, measured_ms, runtime_predicted_ms, every model)")] = False,
    table: Annotated[
        Path | None, typer.Option(help="the .csv table to predict with (default: the policy's target by name)")
    ] = None,
    warmup: Annotated[int, typer.Option(min=0, help="untimed runs first")] = 10,
    repeats: Annotated[int, typer.Option(min=1, max=100_000, help="timed runs (median and spread)")] = 50,
    threads: Annotated[int, typer.Option(min=1, max=256, help="onnxruntime threads (tables are measured on 1)")] = 1,
) -> None:
    """Time the policy's exported ONNX model here against its table's prediction (and uniform int8 and float)."""

    from hwsearch.data import DataError
    from hwsearch.export import ExportError
    from hwsearch.finetuned_weights import read_sidecar
    from hwsearch.search import SpecError
    from hwsearch.verify import verify_policy
    from latency_tables import TableError, get_target

    doc = read_json_file(policy_file)
    try:
        target = get_target(str(table)) if table is not None else None
        with err.status("exporting and timing the policy, uniform int8 and the float model"):
            result = verify_policy(doc, read_sidecar(policy_file, doc), target, warmup, repeats, threads)
    except (ExportError, DataError, SpecError, TableError, ValueError, KeyError, OSError) as exc:
        _fail(str(exc))
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    out = Table(title=f"{policy_file.name}: predicted by {result.target} (batch {result.batch}), measured here ({result.threads} thread(s))")
    columns = ("model", "predicted ms", "measured ms (median)", "p10-p90 ms", "measured / predicted",
               "runtime-aware ms", "measured / runtime-aware", "int layers")
    out.add_column(columns[0], no_wrap=True)
    for column in columns[1:]:
        out.add_column(column, justify="right")
    for m in result.models:
        out.add_row(
            m.name,
            "n/a" if m.predicted_ms is None else f"{m.predicted_ms:.4g}",
            f"{m.measured.median_ms:.4g}",
            f"{m.measured.p10_ms:.4g}-{m.measured.p90_ms:.4g}",
            "n/a" if m.ratio is None else f"{m.ratio:.2f}",
            "n/a" if m.runtime_predicted_ms is None else f"{m.runtime_predicted_ms:.4g}",
            "n/a" if m.runtime_ratio is None else f"{m.runtime_ratio:.2f}",
            str(m.integer_layers),
        )
    console.print(out)
    console.print("runtime-aware: the layers onnxruntime leaves in float (no integer kernel for them) priced at fp32")
