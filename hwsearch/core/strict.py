"""``SpecModel``: the base of the spec's pydantic models, strict about what it accepts.

A spec comes from users (JSON over HTTP, a policy file, the command line), and whatever
it accepts a worker must be able to run and a database to store. So every spec model:

- refuses unknown fields (``extra="forbid"``);
- is strict about types: ``true`` is not an integer, ``"5"`` is not a number, ``5.5``
  is not an integer (an integer is accepted where a float is asked for);
- refuses NaN and infinities in every float (``allow_inf_nan=False``), nested dicts too;
- refuses the NUL character in every string (PostgreSQL cannot store it in text), in
  lists and dict keys too, naming the field (a nested block's own field: ``robust.attack``).

Ranges are each field's own ``ge``/``le``: the command line reads them from there.
"""

from __future__ import annotations

from typing import Any, get_args

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

NUL = "\x00"
NUL_MESSAGE = "must not contain a NUL character (\\x00)"


def has_nul(value: Any) -> bool:
    """Whether ``value`` (a string, or a list or dict of them, nested) holds a NUL character."""
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, list | tuple):
        return any(has_nul(v) for v in value)
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    return False


def no_nul(value: str) -> str:
    """A pydantic ``AfterValidator`` for one text field (e.g. a form field or a label)."""
    if NUL in value:
        raise ValueError(NUL_MESSAGE)
    return value


def _is_block(annotation: Any) -> bool:
    """Whether a field holds a nested model (``Budget``, ``RobustSpec | None``): it checks its own fields."""
    return any(isinstance(a, type) and issubclass(a, BaseModel) for a in (annotation, *get_args(annotation)))


class SpecModel(BaseModel):
    """Strict, finite, NUL-free (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, dict) and _is_block(cls.model_fields[info.field_name].annotation):
            return value
        if has_nul(value):
            raise ValueError(NUL_MESSAGE)
        return value
