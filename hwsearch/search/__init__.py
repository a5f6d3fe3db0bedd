"""Run a mixed-precision search: ``SearchSpec`` in, ``SearchResult`` out.

``validate_spec`` does the cheap checks a service runs before queuing a job;
``run_search`` runs it (progress callback, cancellation, resumable checkpoints).
"""

from hwsearch.search.context import Costing, Costs, EpisodeOutcome, SearchContext, build_costing
from hwsearch.search.result import (
    Baseline,
    EpisodeRecord,
    EvaluatedPolicy,
    FinetuneResult,
    SearchProgress,
    SearchResult,
)
from hwsearch.search.runner import CheckpointError, pareto_front, run_search
from hwsearch.core.spec import (
    DEFAULT_EVAL_SAMPLES,
    OBJECTIVES,
    Budget,
    SearchSpec,
    SpecError,
    parse_objective,
    spec_from_dict,
    validate_spec,
)

__all__ = [
    "DEFAULT_EVAL_SAMPLES",
    "OBJECTIVES",
    "Baseline",
    "Budget",
    "CheckpointError",
    "Costing",
    "Costs",
    "EpisodeOutcome",
    "EpisodeRecord",
    "EvaluatedPolicy",
    "FinetuneResult",
    "SearchContext",
    "SearchProgress",
    "SearchResult",
    "SearchSpec",
    "SpecError",
    "build_costing",
    "parse_objective",
    "pareto_front",
    "run_search",
    "spec_from_dict",
    "validate_spec",
]
