"""``hwsearch models`` and ``hwsearch bench-models``."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from hwsearch.zoo import MODELS

console = Console()


def list_models() -> None:
    """List the built-in models."""
    table = Table("name", "data set", "input", "description")
    for entry in MODELS.values():
        table.add_row(entry.name, entry.dataset or "-", "x".join(map(str, entry.input_shape)), entry.description)
    console.print(table)


def bench_models() -> None:
    """Accuracy of each benchmark model in float and under uniform 8/6/4/3/2-bit policies."""
    raise typer.Exit(1)
