"""hwsearch: hardware-aware mixed-precision quantization search.

The data flow (see docs and DESIGN.md): ``graph`` traces a model to ``LayerSpec``s,
``latency_tables`` costs them on a target, ``quant`` simulates a ``Policy``,
``env``/``agents``/``search`` find a good policy, ``api`` serves it, ``export`` ships it.
"""

from hwsearch.core.graph import LayerSpec, trace
from hwsearch.core.policy import FLOAT_BITS, LayerBits, Policy

__version__ = "0.1.0"

__all__ = ["FLOAT_BITS", "LayerBits", "LayerSpec", "Policy", "__version__", "trace"]
