"""The ``hwsearch`` command line (typer). Each sub-command group lives in its own module."""

from __future__ import annotations

import typer

from hwsearch.cli import export, hardware, models, remote, robust, search, service

app = typer.Typer(
    help="Hardware-aware mixed-precision quantization search.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("bench-models")(models.bench_models_command)
app.command("models")(models.list_models)
app.command("export")(export.export_command)
app.command("search")(search.search_command)
app.command("robust")(robust.robust_command)
app.add_typer(hardware.app, name="hardware")
app.command("serve")(service.serve_command)
app.command("worker")(service.worker_command)
app.add_typer(service.keys_app, name="keys")
app.add_typer(remote.app, name="remote")
