"""Agent options in the spec: settable from the CLI and REST, checked before the search,
reaching the agent, and recorded in the policy file."""

from __future__ import annotations

import math

import pytest
import typer

from hwsearch.cli.search import _agent_options
from hwsearch.search import SpecError, run_search, spec_from_dict, validate_spec

SPEC = {"model": "digits-cnn", "target": "bismo-edge", "budget": {"relative": 0.6}, "agent": "ddpg", "episodes": 8, "seed": 0, "eval_samples": 200}
PLAIN_HAQ = {"noise_decisions": None, "climb_after_stall": None, "cheap_starts": 0}


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"bogus": 1}, "no options ['bogus']"),
        ({"noise_decisions": -1}, "noise_decisions must be > 0"),
        ({"actor_learning_rate": 0}, "actor_learning_rate must be > 0"),
    ],
)
def test_an_option_the_agent_lacks_or_refuses_is_refused_naming_agent_options(options, words):
    with pytest.raises(SpecError) as refused:
        validate_spec({**SPEC, "agent_options": options})
    assert refused.value.field == "agent_options" and words in refused.value.message


@pytest.mark.parametrize("value", [math.nan, "fast", [1, 2], {"a": 1}])
def test_option_values_are_plain_finite_scalars(value):
    with pytest.raises(SpecError, match="agent_options"):
        spec_from_dict({**SPEC, "agent_options": {"sigma": value}})


def test_options_reach_the_agent_and_the_policy_file():
    given = run_search({**SPEC, "agent_options": PLAIN_HAQ})
    direct = run_search(SPEC, agent_options=PLAIN_HAQ)  # the library's own way in
    default = run_search(SPEC)
    policies = lambda result: [p.policy for p in result.history]  # noqa: E731
    assert policies(given) == policies(direct)
    assert policies(given) != policies(default)  # sparse noise is the default; HAQ perturbs every decision
    assert given.policy_document(given.best)["spec"]["agent_options"] == PLAIN_HAQ
    assert default.policy_document(default.best)["spec"]["agent_options"] == {}


def test_the_command_line_form():
    assert _agent_options("noise_decisions=2, climb_after_stall=none,use_baseline=false,sigma=0.25") == {
        "noise_decisions": 2, "climb_after_stall": None, "use_baseline": False, "sigma": 0.25,
    }
    assert _agent_options(None) == {}
    for bad in ("sigma", "=1", "sigma=fast"):
        with pytest.raises(typer.BadParameter):
            _agent_options(bad)
