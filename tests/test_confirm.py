"""Confirming a search's best on validation images the search did not use (digits-cnn)."""

from __future__ import annotations

import pytest

from hwsearch.evaluate import accuracy
from hwsearch.core.policy import Policy
from hwsearch.search import build_problem, run_search, spec_from_dict
from hwsearch.search.confirm import confirm, top_candidates

BASE = {"model": "digits-cnn", "target": "bismo-edge", "budget": {"relative": 0.3}, "eval_samples": 120, "agent": "random", "episodes": 12}


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def _policies(n: int) -> list[Policy]:
    return [Policy({"a": (2 + i, 8), "b": (8, 2 + i)}) for i in range(n)]


def test_top_candidates_are_distinct_and_ranked_like_the_search_best():
    p = _policies(4)
    rows = [(p[0], 0.8, 1.0, 1), (p[1], 0.9, 2.0, 2), (p[0], 0.8, 1.0, 3), (p[2], 0.9, 1.5, 4), (p[3], 0.7, 0.1, 5)]
    ranked = top_candidates(rows, 3)
    assert [r[0] for r in ranked] == [p[2], p[1], p[0]]  # 0.9 cheaper first, duplicates once
    assert ranked[2][3] == 1  # a policy seen twice keeps its first episode


def test_confirm_can_prefer_a_lower_ranked_policy_and_pools_by_sample_counts():
    p = _policies(3)
    rows = [(p[0], 0.90, 1.0, 1), (p[1], 0.89, 1.0, 2), (p[2], 0.50, 1.0, 3)]
    extra = {p[0]: 0.80, p[1]: 0.88, p[2]: 0.99}
    done = confirm(rows, extra.__getitem__, top=2, search_samples=100, samples=300)
    assert [c.policy for c in done.candidates] == [p[0], p[1]]  # p[2] is not in the top 2: never measured
    assert done.best.policy == p[1]
    assert done.best.pooled_accuracy == pytest.approx((100 * 0.89 + 300 * 0.88) / 400)
    assert confirm(rows, extra.__getitem__, top=0, search_samples=100, samples=300) is None
    assert confirm(rows, extra.__getitem__, top=2, search_samples=100, samples=0) is None


def test_policies_named_also_are_confirmed_whatever_their_rank():
    p = _policies(4)
    rows = [(p[0], 0.90, 1.0, 1), (p[1], 0.89, 1.0, 2), (p[2], 0.50, 1.0, 3), (p[3], 0.40, 1.0, 4)]
    extra = {p[0]: 0.80, p[1]: 0.81, p[2]: 0.99, p[3]: 0.10}
    done = confirm(rows, extra.__getitem__, top=2, search_samples=100, samples=300, also={p[2], p[0]})
    assert [c.policy for c in done.candidates] == [p[0], p[1], p[2]]  # p[0] once; p[3] never measured
    assert done.best.policy == p[2]


def test_ddpg_confirms_its_cheap_starts_besides_its_top_episodes():
    body = {**BASE, "agent": "ddpg", "episodes": 40, "confirm_top": 2, "seed": 0}
    result = run_search(body, agent_options={"net_arch": [32, 32], "warmup_episodes": 2})
    starts = {r.policy for r in result.history[:4]}  # a tenth of 40 episodes
    confirmed = {Policy.from_dict(c["policy"]) for c in result.confirmation["candidates"]}
    assert starts <= confirmed and len(confirmed) <= 2 + len(starts)
    plain = run_search(body, agent_options={"net_arch": [32, 32], "warmup_episodes": 2, "cheap_starts": 0})
    assert len(plain.confirmation["candidates"]) == 2


def test_search_result_is_the_confirmed_choice_measured_on_unseen_images():
    spec = spec_from_dict({**BASE, "confirm_top": 3})
    result = run_search(spec)
    conf = result.confirmation
    assert conf is not None and conf["search_samples"] == 120 and conf["samples"] > 0
    ctx = build_problem(spec)
    rest = ctx.dataset.val
    held = type(rest)(rest.x[120:], rest.y[120:])
    assert len(held) == conf["samples"]
    seen: dict[str, float] = {}
    for h in result.history:
        seen.setdefault(str(h.policy), h.accuracy)
    want_top = sorted(seen.values(), reverse=True)[:3]
    assert [c["accuracy"] for c in conf["candidates"]] == want_top
    for c in conf["candidates"]:  # each really measured on the images after the search's subset
        ctx.scorer.qmodel.set_policy(Policy.from_dict(c["policy"]))
        assert c["confirm_accuracy"] == pytest.approx(accuracy(ctx.scorer.qmodel, held))
    chosen = conf["candidates"][conf["chosen"]]
    assert chosen["pooled_accuracy"] == max(c["pooled_accuracy"] for c in conf["candidates"])
    assert result.best.policy == Policy.from_dict(chosen["policy"])
    assert result.best.confirmed_accuracy == pytest.approx(chosen["pooled_accuracy"])
    assert result.to_dict()["best"]["confirmed_accuracy"] == result.best.confirmed_accuracy
    unconfirmed = run_search(spec_from_dict({**BASE, "confirm_top": 0}))
    assert unconfirmed.confirmation is None and unconfirmed.best.confirmed_accuracy is None
    assert unconfirmed.best.accuracy == max(h.accuracy for h in unconfirmed.history)
    assert result.evaluations == unconfirmed.evaluations + len(conf["candidates"])


def test_no_confirmation_when_the_search_uses_every_validation_image():
    result = run_search(spec_from_dict({**BASE, "eval_samples": None, "episodes": 3}))
    assert result.confirmation is None and result.best.confirmed_accuracy is None
