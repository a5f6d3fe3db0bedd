"""``python -m hwsearch`` runs the CLI."""

from hwsearch.cli import app

app()
