"""The service's limits on one job: stricter than ``SearchSpec``'s own bounds, set per server.

``SearchSpec`` refuses what no search can run anywhere (a seed numpy cannot take, a
million fine-tune steps); a server also caps what one job may cost its workers. Each
limit is a setting (``HWSEARCH_MAX_*``) on one spec field; a job over one is a 422
naming the field, the limit and the setting, and nothing is stored.
"""

from __future__ import annotations

from typing import Any

from api.errors import body_error
from api.settings import Settings

#: (spec field, dotted for a nested block; the setting that caps it)
JOB_LIMITS: tuple[tuple[str, str], ...] = (
    ("episodes", "max_episodes"),
    ("finetune_steps", "max_finetune_steps"),
    ("robust.samples", "max_robust_samples"),
    ("robust.steps", "max_robust_steps"),
)


def _value(spec: dict[str, Any], field: str) -> Any:
    for part in field.split("."):
        if not isinstance(spec, dict):
            return None
        spec = spec.get(part)
    return spec


def check_job_limits(spec: dict[str, Any], settings: Settings) -> None:
    """Raise a 422 for the first field of ``spec`` (a dumped ``SearchSpec``) over its limit."""
    for field, setting in JOB_LIMITS:
        value, limit = _value(spec, field), getattr(settings, setting)
        if value is not None and value > limit:
            raise body_error(field, f"this server allows at most {limit} (setting HWSEARCH_{setting.upper()}), got {value}")
