"""The search command's options come from ``SearchSpec``: one name, help text and default per field."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
import typer
from pydantic import BaseModel, Field
from typer.testing import CliRunner

from hwsearch.cli import app
from hwsearch.cli.search import SPEC_ADAPTERS
from hwsearch.cli.spec_options import ZERO_IS_ALL, option_name, with_spec_options
from hwsearch.core.spec import SearchSpec

NOT_ONE_TO_ONE = ("budget", "robust")


def search_params() -> dict[str, click.Parameter]:
    command = typer.main.get_command(app).commands["search"]
    return {p.name: p for p in command.params}


def test_every_spec_field_is_an_option_with_the_fields_help_and_default() -> None:
    params = search_params()
    for name, field in SearchSpec.model_fields.items():
        if name in NOT_ONE_TO_ONE:
            continue
        param = params[name]
        assert param.opts == [option_name(name)], name
        assert param.help.startswith(field.description), name
        if field.is_required():
            assert param.required, name
        elif field.default_factory is not None:  # no option given: None, which becomes the factory's value
            assert param.default is None, name
        elif field.default is not None:
            assert param.default == field.default, name
    assert {"budget", "budget_absolute", "robust", "out", "checkpoint_dir", "tensorboard"} <= set(params)


def test_a_fields_bounds_are_enforced_with_a_one_line_error() -> None:
    base = ["search", "--model", "digits-cnn", "--target", "bitfusion", "--budget", "0.5"]
    for option, value in (("--confirm-top", "101"), ("--episodes", "0"), ("--seed", "-1")):
        result = CliRunner().invoke(app, [*base, option, value])
        assert result.exit_code == 2, option
        assert option in result.output


class Small(BaseModel):
    name: str = Field(..., description="A required name.")
    count: int = Field(7, ge=1, le=9, description="How many.")
    limit: int | None = Field(None, ge=1, description="At most this many; None = no limit.")


def run_small(args: list[str]) -> tuple[int, dict | None]:
    seen: dict = {}
    cli = typer.Typer()

    @cli.command()
    @with_spec_options(Small, adapters={"limit": ZERO_IS_ALL})
    def show(fields: dict, loud: bool = False) -> None:
        seen.update(fields, loud=loud)

    result = CliRunner().invoke(cli, args)
    return result.exit_code, seen or None


def test_options_follow_the_model_they_are_made_from() -> None:
    code, seen = run_small(["--name", "a"])
    assert code == 0 and seen == {"name": "a", "count": 7, "limit": None, "loud": False}
    code, seen = run_small(["--name", "a", "--count", "3", "--limit", "5", "--loud"])
    assert seen == {"name": "a", "count": 3, "limit": 5, "loud": True}
    assert run_small(["--name", "a", "--count", "10"])[0] == 2  # le=9
    assert run_small(["--count", "3"])[0] == 2  # name is required


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--eval-samples", "0", "--confirm-samples", "300", "--agent", "greedy", "--episodes", "7"],
        ["--objective", "latency:0.7,energy:0.3", "--min-bits", "3", "--finetune-steps", "5", "--weights", "w.safetensors"],
    ],
)
def test_the_spec_from_the_command_line_is_the_spec_from_the_same_values(args: list[str]) -> None:
    seen: dict = {}
    cli = typer.Typer()

    @cli.command()
    @with_spec_options(SearchSpec, exclude=NOT_ONE_TO_ONE, adapters=SPEC_ADAPTERS)
    def capture(fields: dict) -> None:
        seen.update(fields)

    result = CliRunner().invoke(cli, ["--model", "digits-cnn", "--target", "bitfusion", *args])
    assert result.exit_code == 0, result.output
    budget = {"relative": 0.5}
    from_cli = SearchSpec(**seen, budget=budget)
    # the values as the command line parses them (the spec is strict: "3" is not an integer)
    given = {k.removeprefix("--").replace("-", "_"): int(v) if v.isdigit() else v for k, v in zip(args[::2], args[1::2])}
    if given.get("eval_samples") == 0:  # the command line's 0 is the spec's None (all)
        given["eval_samples"] = None
    if "weights" in given:  # paths are stored absolute, so a policy file works from any folder
        given["weights"] = str(Path(given["weights"]).resolve())
    expected = SearchSpec(model="digits-cnn", target="bitfusion", budget=budget, **given)
    assert from_cli == expected
    assert from_cli.confirm_samples == (300 if "confirm_samples" in given else None)
