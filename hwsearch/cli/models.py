"""``hwsearch models`` and ``hwsearch bench-models``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

console = Console()


def list_models() -> None:
    """List the built-in models."""
    from hwsearch.zoo import MODELS  # torch: imported by the commands that need it, not by every command

    table = Table("name", "data set", "input", "description")
    for entry in MODELS.values():
        table.add_row(entry.name, entry.dataset or "-", "x".join(map(str, entry.input_shape)), entry.description)
    console.print(table)


def bench_models_command(
    model: Annotated[
        list[str] | None, typer.Option("--model", "-m", help="Model(s) to report (default: every benchmark model).")
    ] = None,
    split: Annotated[str, typer.Option(help="Split to measure: val or test.")] = "test",
) -> None:
    """Accuracy of each benchmark model in float and under uniform 8/6/4/3/2-bit policies.

    The models' trained weights ship with hwsearch (a changed recipe trains on first use).
    """
    from hwsearch.data import DataError
    from hwsearch.report import UNIFORM_BITS, bench_models
    from hwsearch.zoo import MODELS, ModelError

    names = model or [name for name, entry in MODELS.items() if entry.trainable]
    try:
        with console.status("") as status:
            reports = bench_models(
                names, split, on_model=lambda n: status.update(f"{n}: loading, evaluating")
            )
    except (ModelError, DataError, ValueError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    table = Table(title=f"Top-1 accuracy (%) on the {split} split; WxAx = uniform weight/activation bits")
    table.add_column("model")
    table.add_column("samples", justify="right")
    table.add_column("float", justify="right")
    for b in UNIFORM_BITS:
        table.add_column(f"W{b}A{b}", justify="right")
    for r in reports:
        table.add_row(
            r.model,
            str(r.samples),
            f"{100 * r.float_accuracy:.2f}",
            *(f"{100 * r.uniform_accuracy[b]:.2f}" for b in UNIFORM_BITS),
        )
    console.print(table)
