"""Scoring by re-running only the layers after the first changed one (``hwsearch.quant.reuse``):
the same logits as a full forward pass, for any sequence of policies, and no reuse where
the graph does not allow it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from hwsearch.core.policy import Policy
from hwsearch.data import load_dataset
from hwsearch.quant import QuantizedModel
from hwsearch.quant.reuse import PrefixReuse
from hwsearch.zoo import build_model

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def _batches(x: torch.Tensor, size: int = 64) -> list[torch.Tensor]:
    return [x[i : i + size] for i in range(0, len(x), size)]


def _walk(names: list[str], steps: int, seed: int) -> list[Policy]:
    """Policies each a few widths away from the one before, as a search proposes them."""
    rng = np.random.default_rng(seed)
    bits = {n: (8, 8) for n in names}
    out = []
    for _ in range(steps):
        for i in rng.choice(len(names), size=int(rng.integers(1, 3)), replace=False):
            bits[names[i]] = (int(rng.integers(2, 9)), int(rng.choice([2, 4, 6, 8, 32])))
        out.append(Policy(dict(bits)))
    return out


def _full(qmodel: QuantizedModel, batches: list[torch.Tensor]) -> list[torch.Tensor]:
    with torch.inference_mode():
        return [qmodel(x) for x in batches]


@pytest.mark.parametrize("name, memory", [("digits-mobilenet", 2**28), ("digits-cnn", 2**28), ("digits-mobilenet", 1_000_000)])
def test_reused_logits_equal_a_full_forward_pass(name, memory):
    data = load_dataset("digits")
    qmodel = QuantizedModel(build_model(name), data.calib.x)
    batches = _batches(data.val.x[:150])
    reuse = PrefixReuse.build(qmodel, batches, memory=memory)
    assert reuse is not None and len(reuse.cuts) >= 2
    for policy in _walk(list(qmodel.layers), 12, seed=1):
        qmodel.set_policy(policy)
        assert all(torch.equal(a, b) for a, b in zip(reuse.logits(policy), _full(qmodel, batches)))
        reuse.keep_last()  # every policy a start for the next ones
    assert reuse.layers_skipped > 0  # it did reuse, even where only some cuts fit


def test_a_small_memory_budget_keeps_the_deepest_cuts_that_fit_or_none():
    from hwsearch.quant.reuse import KEPT_POLICIES

    data = load_dataset("digits")
    qmodel = QuantizedModel(build_model("digits-mobilenet"), data.calib.x)
    batches = _batches(data.val.x[:150])
    every = PrefixReuse.build(qmodel, batches, memory=2**30)
    qmodel.set_policy(Policy.uniform(list(qmodel.layers), 8))
    every.logits(qmodel.policy)
    every.keep_last()
    sizes = [sum(t.numel() * t.element_size() for t in per_cut) for per_cut in next(iter(every._kept.values()))[1]]
    budget = sum(sizes[len(sizes) // 2 :]) + 1  # room for the deeper half (per kept policy)
    some = PrefixReuse.build(qmodel, batches, memory=KEPT_POLICIES * budget)
    kept = [every.cuts.index(c) for c in some.cuts] if some else []
    assert some is not None and len(some.cuts) < len(every.cuts) and kept[-1] == len(every.cuts) - 1
    assert sum(sizes[i] for i in kept) <= budget
    assert PrefixReuse.build(qmodel, batches, memory=KEPT_POLICIES * min(sizes) - 1) is None


class Forks(nn.Module):
    """c1's output feeds c2 and an in-place ReLU: c2's input is no place to restart from."""

    def __init__(self) -> None:
        super().__init__()
        self.c1, self.c2, self.c3 = nn.Conv2d(1, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1), nn.Conv2d(4, 4, 1)
        self.act = nn.ReLU(inplace=True)
        self.fc = nn.Linear(4 * 8 * 8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.c1(x)
        y = self.c2(h)
        return self.fc(torch.flatten(self.c3(self.act(h) + y), 1))


def test_a_tensor_an_op_writes_into_is_no_cut_and_results_stay_exact():
    torch.manual_seed(0)
    x = torch.rand(96, 1, 8, 8)
    qmodel = QuantizedModel(Forks(), x)
    reuse = PrefixReuse.build(qmodel, _batches(x))
    assert reuse is not None
    assert "c1" not in {str(c.node.target) for c in reuse.cuts}  # c1's output is written in place
    assert [c.layers_before for c in reuse.cuts] == sorted(c.layers_before for c in reuse.cuts)
    for policy in _walk(list(qmodel.layers), 8, seed=2):
        qmodel.set_policy(policy)
        assert all(torch.equal(a, b) for a, b in zip(reuse.logits(policy), _full(qmodel, _batches(x))))
        reuse.keep_last()


class Branchy(nn.Module):
    """Control flow on the data: fx cannot trace it, so scoring runs full passes."""

    def __init__(self) -> None:
        super().__init__()
        self.c = nn.Conv2d(1, 2, 3)
        self.fc = nn.Linear(2 * 6 * 6, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:
            x = x * 2
        return self.fc(torch.flatten(self.c(x), 1))


def test_an_untraceable_model_gets_no_reuse():
    qmodel = QuantizedModel(Branchy(), torch.rand(16, 1, 8, 8))
    assert PrefixReuse.build(qmodel, _batches(torch.rand(16, 1, 8, 8))) is None


def test_the_scorer_scores_the_same_with_and_without_reuse(monkeypatch):
    from hwsearch.search import build_problem, scoring, spec_from_dict

    monkeypatch.setattr(scoring, "PREFIX_REUSE", True)
    problem = build_problem(spec_from_dict({"model": "digits-mobilenet", "target": "bismo-edge", "budget": {"relative": 0.5},
                                            "eval_samples": 200, "agent": "random", "episodes": 5}))
    scorer = problem.scorer
    assert scorer.reuse is not None
    policies = _walk(list(scorer.qmodel.layers), 6, seed=3)
    with_reuse = [scorer.accuracy(p) for p in policies]
    assert 1 <= len(scorer.reuse._kept) <= len(policies)  # only each new most accurate policy is kept
    scorer.reuse = None
    scorer.cache.clear()
    assert [scorer.accuracy(p) for p in policies] == with_reuse


def test_only_kept_policies_are_starting_points():
    data = load_dataset("digits")
    qmodel = QuantizedModel(build_model("digits-cnn"), data.calib.x)
    batches = _batches(data.val.x[:100])
    reuse = PrefixReuse.build(qmodel, batches)
    first, second = _walk(list(qmodel.layers), 2, seed=4)
    for policy in (first, second):
        qmodel.set_policy(policy)
        reuse.logits(policy)
    assert reuse.layers_skipped == 0 and not reuse._kept  # nothing kept: every pass from the input
    reuse.keep_last()
    last = second.replace(list(qmodel.layers)[-1], weight_bits=3, activation_bits=3)
    qmodel.set_policy(last)
    assert all(torch.equal(a, b) for a, b in zip(reuse.logits(last), _full(qmodel, batches)))
    assert reuse.layers_skipped > 0
