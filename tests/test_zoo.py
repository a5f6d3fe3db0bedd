"""Model zoo: trained benchmark models reach their accuracy; user models load safely."""

from __future__ import annotations

import os

import pytest
import torch
from safetensors.torch import save_file

from hwsearch.evaluate import accuracy
from hwsearch.zoo import ModelError, build_model, model_dataset

FASHION_PRESENT = os.path.exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz") or bool(
    os.environ.get("HWSEARCH_FASHION_DIR")
)


def test_digits_cnn_accuracy(digits_cnn, digits):
    assert accuracy(digits_cnn, digits.test) >= 0.96


def test_digits_mobilenet_has_depthwise_and_residuals(digits):
    from hwsearch.core.graph import trace

    model = build_model("digits-mobilenet")
    specs = trace(model, digits.example_input())
    assert any(s.is_depthwise for s in specs)
    assert any(getattr(m, "use_skip", False) for m in model.modules())
    assert accuracy(model, digits.test) >= 0.95


def test_every_trainable_model_ships_weights_for_its_current_recipe():
    """A recipe or architecture change without ``scripts/ship_weights.py`` would make every
    machine silently train its own, different weights."""
    from hwsearch.zoo import MODELS
    from hwsearch.zoo.training import SHIPPED_DIR, weights_file_name

    for name, entry in MODELS.items():
        if entry.trainable:
            file = SHIPPED_DIR / weights_file_name(name, entry.build(), entry.recipe)
            assert file.exists(), f"{name}: no shipped weights {file.name}; run python scripts/ship_weights.py {name}"
            assert len(list(SHIPPED_DIR.glob(f"{name}-*.safetensors"))) == 1, f"{name}: stale shipped weights"


def test_built_in_models_load_the_shipped_weights(digits_cnn):
    from safetensors.torch import load_file

    from hwsearch.zoo import MODELS
    from hwsearch.zoo.training import SHIPPED_DIR, weights_file_name

    entry = MODELS["digits-cnn"]
    shipped = load_file(str(SHIPPED_DIR / weights_file_name("digits-cnn", entry.build(), entry.recipe)))
    assert all(torch.equal(shipped[k], v) for k, v in digits_cnn.state_dict().items())


def test_a_recipe_without_shipped_weights_is_trained_once_and_cached(tmp_path, monkeypatch, digits):
    from hwsearch.zoo import MODELS
    from hwsearch.zoo.training import CACHE_ENV, TrainRecipe, load_or_train

    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    entry, recipe = MODELS["digits-cnn"], TrainRecipe(epochs=1, batch_size=64, seed=3)
    trained = load_or_train("digits-cnn", entry.build(), lambda: digits, recipe)
    files = list((tmp_path / "models").glob("digits-cnn-*.safetensors"))
    assert len(files) == 1, "trained weights should be cached as safetensors"
    again = load_or_train("digits-cnn", entry.build(), lambda: pytest.fail("trained twice"), recipe)
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), trained.state_dict().values()))


@pytest.mark.slow
@pytest.mark.skipif(not FASHION_PRESENT, reason="Fashion-MNIST not installed (Debian package dataset-fashion-mnist)")
def test_fashion_cnn_accuracy():
    model = build_model("fashion-cnn")
    assert accuracy(model, model_dataset("fashion-cnn").test) >= 0.87


def test_user_model_with_safetensors_weights(tmp_path):
    from tests.fixtures.user_models import tiny_net

    reference = tiny_net()
    path = tmp_path / "w.safetensors"
    save_file(reference.state_dict(), str(path))
    model = build_model("tests.fixtures.user_models:tiny_net", weights=path)
    x = torch.rand(2, 1, 8, 8)
    assert torch.equal(model(x), reference(x))


def test_user_model_errors(tmp_path):
    with pytest.raises(ModelError, match="unknown model"):
        build_model("no-such-net")
    with pytest.raises(ModelError, match="cannot import"):
        build_model("no_such_module:factory")
    with pytest.raises(ModelError, match="not a torch.nn.Module"):
        build_model("tests.fixtures.user_models:not_a_model")
    pickle_file = tmp_path / "w.pt"
    pickle_file.write_bytes(b"\x80\x04not really")
    with pytest.raises(ModelError, match="safetensors"):
        build_model("tests.fixtures.user_models:tiny_net", weights=pickle_file)


@pytest.mark.skipif(not FASHION_PRESENT, reason="Fashion-MNIST not installed (Debian package dataset-fashion-mnist)")
def test_fashion_mobilenetv2_searches_on_haqs_own_table():
    """HAQ's network at its depth: 53 layers, trained (shipped weights), searchable on
    ``haq-mobilenetv2`` within a budget, every layer priced by its row."""
    from hwsearch.search import run_search

    result = run_search({"model": "fashion-mobilenetv2", "target": "haq-mobilenetv2", "budget": {"relative": 0.5},
                         "agent": "fisher", "episodes": 3, "eval_samples": 128, "confirm_top": 0})
    assert len(result.best.policy) == 53
    assert result.float_accuracy >= 0.85  # on the first 128 validation images
    assert result.best.latency_ms <= 0.5 * result.baseline_int8.latency_ms * (1 + 1e-9)
    assert result.best.accuracy >= 0.5
