"""Command-line options made from a pydantic model's fields (``SearchSpec``), as tyro does.

Each field's option name, help text, default and numeric bounds are read from the model,
so a spec field is declared once and the CLI cannot drift from the REST API. Fields that
do not map one to one (a nested budget, the robust block, ``None`` meaning "all") get a
small explicit adapter here.
"""

from __future__ import annotations

import functools
import inspect
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any, Union, get_args, get_origin

import annotated_types
import typer
from pydantic import BaseModel
from pydantic.fields import FieldInfo


@dataclass(frozen=True)
class Adapter:
    """How a field looks on the command line when its spec type is not a CLI type."""

    cli_type: type
    to_spec: Callable[[Any], Any] = lambda value: value
    help_suffix: str = ""
    min: int | None = None  # replaces the field's lower bound (e.g. 0 standing for None)


#: 0 on the command line stands for the spec's None ("all of them").
ZERO_IS_ALL = Adapter(int, to_spec=lambda value: value or None, help_suffix=" On the command line 0 = all.", min=0)


def _plain_type(annotation: Any) -> type:
    """``int | None`` -> ``int``; a union of several types (``str | dict``) -> the first."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        return _plain_type(args[0])
    return annotation


def _bounds(field: FieldInfo) -> dict[str, Any]:
    bounds: dict[str, Any] = {}
    for meta in field.metadata:
        if isinstance(meta, annotated_types.Ge):
            bounds["min"] = meta.ge
        elif isinstance(meta, annotated_types.Le):
            bounds["max"] = meta.le
    return bounds


def option_name(field: str) -> str:
    return "--" + field.replace("_", "-")


def spec_parameter(name: str, field: FieldInfo, adapter: Adapter | None = None) -> inspect.Parameter:
    """The keyword parameter that makes ``typer`` declare the field's option."""
    cli_type = adapter.cli_type if adapter else _plain_type(field.annotation)
    bounds = _bounds(field)
    if adapter is not None and adapter.min is not None:
        bounds["min"] = adapter.min
    help_text = (field.description or "") + (adapter.help_suffix if adapter else "")
    # a default made by a factory (an empty dict) is no option given: None, which the adapter turns into it
    made = field.default_factory is not None
    if not field.is_required() and (field.default is None or made):
        cli_type = cli_type | None  # type: ignore[operator]
    option = typer.Option(option_name(name), help=help_text, **bounds)
    default = inspect.Parameter.empty if field.is_required() else (None if made else field.default)
    if adapter is not None and default is None and adapter.min == 0:
        default = 0
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[cli_type, option], default=default)


def with_spec_options(
    model: type[BaseModel], exclude: Iterable[str] = (), adapters: dict[str, Adapter] | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a typer command ``f(fields, **own_options)``: the model's fields (but
    ``exclude``) become options before the command's own, and arrive as the dict ``fields``
    of spec values (adapters applied)."""
    adapters = adapters or {}
    names = [n for n in model.model_fields if n not in set(exclude)]
    spec_params = [spec_parameter(n, model.model_fields[n], adapters.get(n)) for n in names]

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        own = list(inspect.signature(command, eval_str=True).parameters.values())[1:]

        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> Any:
            fields = {}
            for name in names:
                value = kwargs.pop(name)
                fields[name] = adapters[name].to_spec(value) if name in adapters else value
            return command(fields, **kwargs)

        params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in [*spec_params, *own]]
        wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        del wrapper.__wrapped__  # typer must read the signature above, not the command's
        return wrapper

    return decorate
