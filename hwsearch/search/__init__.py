"""Run a mixed-precision search: ``SearchSpec`` in, ``SearchResult`` out.

``validate_spec`` does the cheap checks a service runs before queuing a job;
``run_search`` runs it (progress, cancellation, resumable checkpoints, callbacks).
This package is the public search API: the CLI and the service use nothing below it.
"""

from agents import AGENT_NAMES
from hwsearch.core.costing import Costing, Costs
from hwsearch.core.problem import SearchProblem
from hwsearch.core.records import EvaluatedPolicy, FinetuneResult, SearchProgress
from hwsearch.core.run import SearchCallback, SearchRun
from hwsearch.core.strict import NUL_MESSAGE, no_nul
from hwsearch.core.spec import (
    DEFAULT_EVAL_SAMPLES,
    DEVICE_PATTERN,
    OBJECTIVES,
    Budget,
    SearchSpec,
    SpecError,
    parse_objective,
    spec_from_dict,
)
from hwsearch.search.measure import RuntimeLayers, layer_shapes, runtime_layers
from hwsearch.search.measure_table import measure_layer_table
from hwsearch.search.checkpoint import CheckpointError, CheckpointStore, FileCheckpointStore
from hwsearch.search.model_check import PICKLE_HINT, ModelCheckError, ModelReport, check_model
from hwsearch.search.problem import build_costing, build_problem, trace_model, validate_spec
from hwsearch.search.result import SearchResult
from hwsearch.search.runner import pareto_front, run_search
from hwsearch.data import BUILTIN_DATASETS, DataError
from hwsearch.npz_data import NpzReport, check_npz
from hwsearch.zoo import MODELS

__all__ = [
    "AGENT_NAMES",
    "BUILTIN_DATASETS",
    "MODELS",
    "NUL_MESSAGE",
    "DEFAULT_EVAL_SAMPLES",
    "DEVICE_PATTERN",
    "OBJECTIVES",
    "PICKLE_HINT",
    "Budget",
    "CheckpointError",
    "CheckpointStore",
    "FileCheckpointStore",
    "Costing",
    "Costs",
    "DataError",
    "EvaluatedPolicy",
    "ModelCheckError",
    "ModelReport",
    "NpzReport",
    "FinetuneResult",
    "SearchCallback",
    "SearchProblem",
    "SearchProgress",
    "SearchResult",
    "SearchRun",
    "SearchSpec",
    "SpecError",
    "build_costing",
    "build_problem",
    "check_model",
    "check_npz",
    "layer_shapes",
    "measure_layer_table",
    "runtime_layers",
    "RuntimeLayers",
    "parse_objective",
    "no_nul",
    "pareto_front",
    "run_search",
    "spec_from_dict",
    "trace_model",
    "validate_spec",
]
