"""``hwsearch search``: one search in the terminal, with a live progress bar and a policy file."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from hwsearch.cli.errors import err
from hwsearch.cli.errors import fail as _fail
from hwsearch.cli.spec_options import ZERO_IS_ALL, Adapter, with_spec_options
from hwsearch.core.spec import Budget, SearchSpec
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

console = Console()


def _absolute(path: str | None) -> str | None:
    return None if path is None else str(Path(path).expanduser().resolve())


def _absolute_model(name: str) -> str:
    """An ONNX file's path is stored absolute, so the policy file works from any folder."""
    return _absolute(name) if name.endswith(".onnx") else name


def _absolute_data(name: str | None) -> str | None:
    kind, sep, path = (name or "").partition(":")
    return f"{kind}:{_absolute(path)}" if sep and kind in ("npz", "folder") else name


def _option_value(text: str) -> float | int | bool | None:
    lowered = text.strip().lower()
    if lowered in ("none", "null"):
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return int(lowered)
    except ValueError:
        pass
    try:
        return float(lowered)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a number, true/false or none", param_hint="--agent-options") from None


def _agent_options(text: str | None) -> dict[str, float | int | bool | None]:
    """``'noise_decisions=2,climb_after_stall=none'`` -> the spec's ``agent_options``."""
    options = {}
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{item!r}: expected NAME=VALUE", param_hint="--agent-options")
        options[key.strip()] = _option_value(value)
    return options


#: spec fields whose command-line form differs (the rest map one to one)
SPEC_ADAPTERS = {
    "model": Adapter(str, to_spec=_absolute_model),
    "objective": Adapter(str),
    "weight_bits": Adapter(str),  # '2-8' or '4,8,32': the spec parses it
    "activation_bits": Adapter(str),
    "eval_samples": ZERO_IS_ALL,
    "confirm_samples": ZERO_IS_ALL,
    "weights": Adapter(str, to_spec=_absolute),
    "data": Adapter(str, to_spec=_absolute_data),
    "agent_options": Adapter(
        str, to_spec=_agent_options, help_suffix=" On the command line: NAME=VALUE,... (e.g. noise_decisions=2,climb_after_stall=none)."
    ),
}


def _budget_help(kind: str) -> str:
    return Budget.model_fields[kind].description or ""


def _fmt(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}g}"


@with_spec_options(SearchSpec, exclude=("budget", "robust"), adapters=SPEC_ADAPTERS)
def search_command(
    fields: dict[str, Any],
    budget: Annotated[float | None, typer.Option(help=_budget_help("relative") + " Give this or --budget-absolute.")] = None,
    budget_absolute: Annotated[float | None, typer.Option("--budget-absolute", help=_budget_help("absolute"))] = None,
    robust: Annotated[
        str | None,
        typer.Option(
            help="Adversarial robustness, e.g. pgd:eps=0.1 (reported), plus steps=, samples=, min=0.5 (constraint), "
            "weight=1 (reward term), defensive=1,beta=0.003 (Lipschitz fine-tune; needs --finetune-steps)."
        ),
    ] = None,
    out: Annotated[Path, typer.Option(help="Policy file to write (hwsearch.policy/v1 JSON).")] = Path("policy.json"),
    checkpoint_dir: Annotated[
        Path | None, typer.Option(help="Checkpoint here after every episode; resume from it if present.")
    ] = None,
    tensorboard: Annotated[
        Path | None, typer.Option(help="TensorBoard log folder for RL agents (needs tensorboard installed).")
    ] = None,
) -> None:
    """Search per-layer weight/activation bits for MODEL on TARGET within a budget."""
    from hwsearch.policy_file import PolicyFileError, write_policy_file
    from hwsearch.search import (
        CheckpointError,
        DataError,
        SearchProgress,
        SpecError,
        check_npz,
        run_search,
        spec_from_dict,
        validate_spec,
    )
    from hwsearch.zoo import ModelError
    from latency_tables import TableError

    if (budget is None) == (budget_absolute is None):
        _fail("budget: give exactly one of --budget (relative) or --budget-absolute")
    body = {**fields, "budget": {"relative": budget} if budget is not None else {"absolute": budget_absolute}}
    if robust is not None:
        from hwsearch.core.robust_spec import parse_robust_option

        try:
            body["robust"] = parse_robust_option(robust)
        except ValueError as exc:
            _fail(str(exc))
    options = {}
    if tensorboard is not None:
        import importlib.util

        from agents import RL_AGENTS

        if importlib.util.find_spec("tensorboard") is None:
            err.print("[yellow]warning:[/yellow] tensorboard is not installed; --tensorboard ignored")
        elif fields["agent"] in RL_AGENTS:
            options["tensorboard_log"] = str(tensorboard)
    try:
        spec = spec_from_dict(body)
        costing = validate_spec(spec)  # refuse before the progress bar; the search reuses it
        if spec.data and spec.data.startswith("npz:"):  # e.g. too few validation images to rank policies
            for warning in check_npz(Path(spec.data.removeprefix("npz:"))).warnings:
                err.print(f"[yellow]warning:[/yellow] {warning}", highlight=False, soft_wrap=True)
        progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("best {task.fields[best]}  lat {task.fields[lat]} ms  en {task.fields[en]} mJ"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        with progress:
            task = progress.add_task(f"{spec.agent} on {spec.model}/{spec.target}", total=spec.episodes, best="-", lat="-", en="-")
            progress.update(task, description=f"{spec.agent}: loading {spec.model}")

            def report(p: SearchProgress) -> None:
                progress.update(
                    task,
                    completed=p.episode,
                    description=f"{spec.agent} episode",
                    best=f"{100 * p.best_accuracy:.2f}%",
                    lat=_fmt(p.best_latency_ms),
                    en=_fmt(p.best_energy_mj),
                )

            result = run_search(spec, progress=report, checkpoint_dir=checkpoint_dir, agent_options=options, costing=costing)
            progress.update(task, completed=spec.episodes)
        doc = result.policy_document()
        write_policy_file(out, doc, result.finetuned_weights)
    except (SpecError, CheckpointError, ModelError, DataError, TableError, PolicyFileError, ValueError, OSError) as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        _fail("interrupted" + (f"; resume with --checkpoint-dir {checkpoint_dir}" if checkpoint_dir else ""))
    _summary(result, doc, out)


def _summary(result, doc: dict, out: Path) -> None:
    from hwsearch.finetuned_weights import weights_block

    table = Table(title=f"{doc['model']} on {doc['target']}: {result.spec.agent}, objective {doc['objective']}")
    table.add_column("layer")
    table.add_column("op")
    table.add_column("W", justify="right")
    table.add_column("A", justify="right")
    table.add_column("latency ms", justify="right")
    table.add_column("energy mJ", justify="right")
    for layer in doc["layers"]:
        table.add_row(
            layer["name"], layer["op"], str(layer["weight_bits"]), str(layer["activation_bits"]),
            _fmt(layer["latency_ms"]), _fmt(layer["energy_mj"]),
        )
    t, b = doc["totals"], doc["baseline_int8"]
    table.add_row("total", "", "", "", _fmt(t["latency_ms"]), _fmt(t["energy_mj"]), style="bold")
    table.add_row("int8", "", "8", "8", _fmt(b["latency_ms"]), _fmt(b["energy_mj"]), style="dim")
    console.print(table)
    console.print(
        f"accuracy {100 * result.best.accuracy:.2f}% (float {100 * result.float_accuracy:.2f}%, int8 "
        f"{100 * b['accuracy']:.2f}%); budget {_fmt(result.budget)} {result.unit}; size {t['size_mb']:.4g} MB "
        f"(int8 {b['size_mb']:.4g}); {result.evaluations} evaluations in {result.wall_time_s:.1f} s"
        + ("; [yellow]cancelled[/yellow]" if result.cancelled else "")
    )
    ran, asked = len(result.history), result.spec.episodes
    if ran < asked and not result.cancelled:  # e.g. DDPG's final climb reached a local optimum
        console.print(f"ended after {ran} of {asked} episodes: the agent had no untried candidate left")
    if result.confirmation is not None:
        c = result.confirmation
        picked = "kept the search's best" if c["chosen"] == 0 else f"chose its no. {c['chosen'] + 1}"
        console.print(
            f"confirmed: the best {len(c['candidates'])} measured again on {c['samples']} unused validation images; "
            f"{picked}, {100 * result.best.confirmed_accuracy:.2f}% on all {c['samples'] + c['search_samples']}"
        )
    if result.finetune is not None:
        f = result.finetune
        console.print(f"fine-tune ({f.steps} steps): {100 * f.accuracy_before:.2f}% -> {100 * f.accuracy_after:.2f}%")
        if f.robust_accuracy_before is not None:
            console.print(
                f"{'defensive ' if f.defensive else ''}fine-tune robust accuracy: "
                f"{100 * f.robust_accuracy_before:.2f}% -> {100 * f.robust_accuracy_after:.2f}%"
            )
    if "robustness" in doc:
        r = doc["robustness"]
        console.print(
            f"robust accuracy ({r['attack'].upper()} eps={r['eps']:g}, {r['samples']} images): {100 * r['accuracy']:.2f}% "
            f"(clean {100 * r['clean_accuracy']:.2f}%, float {100 * r['float_accuracy']:.2f}%); "
            f"{r['evaluations']} policies attacked in {r['seconds']:.1f} s"
        )
    if result.unquantized:  # weights no width applies to: the user should know what stays float
        top = sorted(result.unquantized, key=lambda u: -u.share)[:5]
        listed = ", ".join(f"{u.module} ({u.kind}) {100 * u.share:.2g}%" for u in top)
        more = f" and {len(result.unquantized) - len(top)} more" if len(result.unquantized) > len(top) else ""
        share = 100 * sum(u.share for u in result.unquantized)
        console.print(f"kept in float, neither quantized nor costed: {share:.2g}% of the weights: {listed}{more}")
    weights = weights_block(doc)
    console.print(f"wrote {out}" + (f" and its fine-tuned weights {out.with_name(weights['file'])}" if weights else ""))
