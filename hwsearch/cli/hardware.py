"""``hwsearch hardware ...``: list, show, build and measure hardware cost tables."""

from __future__ import annotations

import typer

app = typer.Typer(help="Hardware targets and their latency/energy tables.", no_args_is_help=True)
