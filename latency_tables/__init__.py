"""Hardware targets: cost models and lookup tables.

``get_target(name)`` returns a ``CostModel``; ``cost(spec, w_bits, a_bits)`` gives one
layer's ``LayerCost`` (latency ms, energy mJ, bound), ``policy_cost`` a whole policy's
``ModelCost`` and ``cost_array`` the grid the search indexes. See docs/hardware.md.
"""

from hwsearch.core.cost_model import CostModel, LayerCost, ModelCost, TableError, UnknownTargetError
from latency_tables.lookup import TableTarget, load_table_target
from latency_tables.registry import get_target, list_targets
from latency_tables.table import Table, parse_table

__all__ = [
    "CostModel",
    "LayerCost",
    "ModelCost",
    "Table",
    "TableError",
    "TableTarget",
    "UnknownTargetError",
    "get_target",
    "list_targets",
    "load_table_target",
    "parse_table",
]
