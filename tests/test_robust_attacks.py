"""Attacks, amplification, the orthogonality penalty and spectral norms (digits models, small subsets)."""

from __future__ import annotations

import pytest
import torch

from hwsearch.evaluate import accuracy
from hwsearch.core.policy import Policy
from hwsearch.quant import QuantizedModel
from hwsearch.robust import (
    Attack,
    adversarial_split,
    defensive_finetune,
    error_amplification,
    orthogonality,
    orthogonality_grad,
    orthogonality_penalty,
    parse_attack,
    robust_accuracy,
    spectral_norm,
    spectral_norms,
)
from hwsearch.robust.lipschitz import layer_matrices
from hwsearch.zoo import build_model, model_dataset

N = 128


@pytest.fixture(scope="module")
def digits():
    model = build_model("digits-cnn")
    data = model_dataset("digits-cnn")
    qmodel = QuantizedModel(model, data.calib.x).set_policy(Policy.uniform(build_qnames(model, data), 4))
    return model, qmodel, data, data.val.head(N)


def build_qnames(model, data):
    return QuantizedModel(model, data.calib.x[:8]).layer_names


@pytest.mark.parametrize("kind", ["fgsm", "pgd"])
def test_eps_zero_is_clean_accuracy_exactly(digits, kind):
    model, qmodel, _, subset = digits
    for m in (model, qmodel):
        attack = Attack(kind, 0.0, steps=2)
        assert torch.equal(adversarial_split(m, subset, attack).x, subset.x)
        assert robust_accuracy(m, subset, attack) == accuracy(m, subset)


def test_attacks_lower_accuracy_and_pgd_is_at_least_fgsm(digits):
    model, qmodel, _, subset = digits
    for m in (model, qmodel):
        clean = accuracy(m, subset)
        fg = robust_accuracy(m, subset, Attack("fgsm", 0.1))
        pg = robust_accuracy(m, subset, Attack("pgd", 0.1, steps=10, seed=0))
        assert fg < clean - 0.05, (clean, fg)
        assert pg <= fg, (fg, pg)
        assert pg < clean - 0.2


def test_perturbations_stay_in_the_ball_and_the_data_range(digits):
    _, qmodel, _, subset = digits
    eps = 0.07
    for attack in (Attack("fgsm", eps), Attack("pgd", eps, steps=3, step_size=0.05, seed=1)):
        adv = adversarial_split(qmodel, subset, attack).x
        assert (adv - subset.x).abs().max() <= eps + 1e-6
        assert adv.min() >= 0.0 and adv.max() <= 1.0
        assert (adv - subset.x).abs().max() > eps / 2  # and they do move


def test_pgd_is_seeded(digits):
    _, qmodel, _, subset = digits
    a = adversarial_split(qmodel, subset.head(32), Attack("pgd", 0.1, steps=2, seed=3)).x
    b = adversarial_split(qmodel, subset.head(32), Attack("pgd", 0.1, steps=2, seed=3)).x
    c = adversarial_split(qmodel, subset.head(32), Attack("pgd", 0.1, steps=2, seed=4)).x
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_parse_attack_and_errors():
    a = parse_attack("pgd:eps=0.05,steps=7,step=0.01,rand=0")
    assert (a.kind, a.eps, a.steps, a.step_size, a.random_start) == ("pgd", 0.05, 7, 0.01, False)
    assert parse_attack("fgsm:eps=0.1").alpha == 0.1
    for bad, field in (("pgd:eps=-1", "eps"), ("cw:eps=0.1", "attack"), ("pgd:eps=0.1,foo=2", "attack"), ("pgd:eps=x", "attack")):
        with pytest.raises(ValueError, match=field):
            parse_attack(bad)


def test_amplification_curve(digits):
    model, qmodel, _, subset = digits
    x = subset.x[:64]
    adv = adversarial_split(qmodel, subset.head(64), Attack("pgd", 0.1, steps=3, seed=0)).x
    curve = error_amplification(qmodel, x, adv)
    assert [n for n, _ in curve] == ["input"] + qmodel.layer_names
    assert all(v >= 0 for _, v in curve)
    assert curve[-1][1] > curve[0][1]  # the noise grows through this net
    assert all(v == 0 for _, v in error_amplification(model, x, x.clone()))


def test_penalty_zero_for_orthogonal_positive_otherwise_and_gradient_matches_autograd():
    g = torch.Generator().manual_seed(0)
    for shape in [(5, 5), (3, 8), (8, 3)]:
        q, _ = torch.linalg.qr(torch.randn(max(shape), min(shape), generator=g, dtype=torch.float64))
        ortho = q if shape[0] > shape[1] else q.T  # orthonormal columns (tall) or rows (wide)
        assert ortho.shape == shape
        assert float(orthogonality(ortho)) < 1e-20
        w = torch.randn(*shape, generator=g, dtype=torch.float64, requires_grad=True)
        p = orthogonality(w)
        assert float(p.detach()) > 0.1
        (auto,) = torch.autograd.grad(p, w)
        assert torch.allclose(orthogonality_grad(w), auto, rtol=1e-10, atol=1e-10)
        assert torch.allclose(orthogonality_grad(ortho), torch.zeros_like(ortho), atol=1e-12)  # a minimum


def test_grouped_and_depthwise_layers_are_penalised_per_group():
    conv = torch.nn.Conv2d(4, 8, 3, groups=2, bias=False)
    mats = layer_matrices(torch.nn.Sequential(conv), fold_bn=False)["0"]
    assert [tuple(m.shape) for m in mats] == [(4, 18), (4, 18)]
    dw = torch.nn.Conv2d(6, 6, 3, groups=6, bias=False)
    with torch.no_grad():
        dw.weight.copy_(torch.randn(6, 1, 3, 3))
        dw.weight /= dw.weight.flatten(1).norm(dim=1).view(6, 1, 1, 1)
    assert float(orthogonality_penalty(torch.nn.Sequential(dw), beta=1.0, fold_bn=False)) < 1e-10  # unit-norm filters
    with torch.no_grad():
        dw.weight *= 2
    assert float(orthogonality_penalty(torch.nn.Sequential(dw), beta=1.0, fold_bn=False)) > 1.0


def test_spectral_norm_matches_svd():
    w = torch.randn(20, 12, generator=torch.Generator().manual_seed(1))
    assert spectral_norm(w, iters=200) == pytest.approx(float(torch.linalg.matrix_norm(w, ord=2)), rel=1e-4)


@pytest.mark.slow
def test_defensive_finetune_lowers_spectral_norms(digits):
    model, _, data, subset = digits
    names = build_qnames(model, data)
    norms = {}
    for beta in (0.0, 3e-3):
        q = QuantizedModel(model, data.calib.x).set_policy(Policy.uniform(names, 4))
        torch.manual_seed(0)
        defensive_finetune(q, data.train, beta=beta, steps=25, lr=1e-3, seed=0)
        norms[beta] = spectral_norms(q)
        if beta:
            assert accuracy(q, subset) > 0.8  # still a working classifier
    lower = sum(norms[3e-3][n] < norms[0.0][n] for n in names)
    assert lower == len(names), (norms[0.0], norms[3e-3])
    assert max(norms[3e-3].values()) < max(norms[0.0].values())
