"""Robustness inside the search: the spec's robust block, constraint, policy file, CLI."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from hwsearch.cli import app
from hwsearch.export.schema import validate_policy_document as validate_schema
from hwsearch.policy_file import write_policy_file
from hwsearch.core.robust_spec import parse_robust_option
from hwsearch.search.robust import RobustConstraintError
from hwsearch.search import SpecError, run_search, spec_from_dict

BASE = {"model": "digits-cnn", "target": "bismo-edge", "budget": {"relative": 0.5}, "agent": "random", "episodes": 4, "seed": 0}
ROBUST = {"eps": 0.1, "steps": 2, "samples": 64}


@pytest.mark.parametrize(
    "robust, extra, field",
    [
        ({"eps": -1}, {}, "robust.eps"),
        ({"eps": 2}, {}, "robust.eps"),
        ({}, {}, "robust.eps"),
        ({"eps": 0.1, "attack": "cw"}, {}, "robust.attack"),
        ({"eps": 0.1, "samples": 0}, {}, "robust.samples"),
        ({"eps": 0.1, "min_accuracy": 1.5}, {}, "robust.min_accuracy"),
        ({"eps": 0.1, "defensive": True}, {}, "robust.defensive"),
        ({"eps": 0.1, "bogus": 1}, {}, "robust.bogus"),
    ],
)
def test_robust_block_errors_name_the_field(robust, extra, field):
    with pytest.raises(SpecError) as info:
        spec_from_dict({**BASE, **extra, "robust": robust})
    assert info.value.field == field, info.value


def test_robust_block_is_optional_and_json_round_trips():
    assert spec_from_dict(BASE).robust is None
    spec = spec_from_dict({**BASE, "finetune_steps": 5, "robust": {**ROBUST, "min_accuracy": 0.2, "defensive": True}})
    again = spec_from_dict(json.loads(json.dumps(spec.model_dump(mode="json"))))
    assert again == spec and again.robust.beta > 0


def test_cli_option_parses():
    body = parse_robust_option("pgd:eps=0.1,steps=3,samples=64,min=0.5,weight=1,defensive=1,beta=0.01")
    assert body == {"attack": "pgd", "eps": 0.1, "steps": 3, "samples": 64, "min_accuracy": 0.5, "weight": 1.0, "defensive": True, "beta": 0.01}
    with pytest.raises(ValueError, match="robust"):
        parse_robust_option("pgd:eps=0.1,nope=3")


@pytest.mark.slow
def test_search_with_robust_constraint_meets_it_and_documents_it(tmp_path):
    result = run_search({**BASE, "robust": {**ROBUST, "min_accuracy": 0.3}})
    assert result.best.robust_accuracy is not None and result.best.robust_accuracy >= 0.3
    assert all(p.robust_accuracy is not None for p in result.pareto)
    doc = result.policy_document()
    validate_schema(doc)
    r = doc["robustness"]
    assert (r["attack"], r["eps"], r["samples"], r["min_accuracy"]) == ("pgd", 0.1, 64, 0.3)
    assert 0 <= r["accuracy"] <= r["clean_accuracy"] and r["seconds"] > 0
    path = write_policy_file(tmp_path / "p.json", doc)
    # the standalone command agrees with the search on the same subset and attack
    out = CliRunner().invoke(app, ["robust", str(path), "--eps", "0.1", "--steps", "2", "--samples", "64", "--update", "--no-compare-float", "--no-amplification"])
    assert out.exit_code == 0, out.output
    updated = json.loads(path.read_text())
    assert updated["robustness"]["accuracy"] == pytest.approx(r["accuracy"])
    assert updated["robustness"]["clean_accuracy"] == pytest.approx(r["clean_accuracy"])


@pytest.mark.slow
def test_impossible_robust_constraint_fails_clearly():
    with pytest.raises(RobustConstraintError) as info:
        run_search({**BASE, "episodes": 3, "robust": {"eps": 0.5, "steps": 2, "samples": 32, "min_accuracy": 0.99}})
    assert info.value.field == "robust.min_accuracy"
    assert "no policy reached robust accuracy 0.99" in str(info.value)


def test_cancel_is_honoured_between_attacked_batches():
    """A cancel during the final attacks keeps the best (with its robust accuracy) and the
    points already attacked, and attacks nothing more."""
    body = {**BASE, "episodes": 6, "robust": ROBUST}
    full = run_search(body)
    calls = iter(range(10**9))
    cut = run_search(body, should_stop=lambda: next(calls) >= 5)  # 5 polls: the episodes', then the attacks
    assert cut.cancelled and cut.best.robust_accuracy is not None
    assert len(cut.history) == len(full.history)
    assert len(cut.pareto) < len(full.pareto)
