"""hwsearch: hardware-aware mixed-precision quantization search.

The data flow (see docs/architecture.md): ``graph`` traces a model to ``LayerSpec``s,
``latency_tables`` costs them on a target, ``quant`` simulates a ``Policy``,
``env``/``agents``/``search`` find a good policy, ``api`` serves it, ``export`` ships it.

The names below are loaded on first use: importing the package (every ``hwsearch``
command does) must not import torch, which commands such as ``hwsearch keys`` never need.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "LayerSpec": "hwsearch.core.graph",
    "trace": "hwsearch.core.graph",
    "FLOAT_BITS": "hwsearch.core.policy",
    "LayerBits": "hwsearch.core.policy",
    "Policy": "hwsearch.core.policy",
}

__all__ = ["FLOAT_BITS", "LayerBits", "LayerSpec", "Policy", "__version__", "trace"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'hwsearch' has no attribute {name!r}")
