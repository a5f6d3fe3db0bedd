"""The model zoo: built-in benchmark models, ImageNet architectures, and user models.

``build_model(name)`` returns an ``nn.Module`` in eval mode, with trained weights where
the model has them (trained on first use and cached; see ``zoo.training``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from hwsearch.data import Dataset, load_dataset
from hwsearch.zoo.imagenet import MobileNetV2, ResNet50, mobilenet_v1
from hwsearch.zoo.small import SmallMobileNet, plain_cnn
from hwsearch.zoo.training import TrainRecipe, load_or_train

DIGITS_MEAN, DIGITS_STD = 0.30, 0.38
FASHION_MEAN, FASHION_STD = 0.286, 0.353
#: MobileNetV2's stage strides for 28x28 images: ImageNet's (1, 2, 2, 2, 1, 2, 1) with a stem at
#: stride 1 instead of 2, so the last stages see 2x2 rather than nothing.
FASHION_MOBILENETV2_STRIDES = (1, 2, 2, 2, 1, 2, 1)


class ModelError(ValueError):
    """A model name, factory or weights file is unusable; the message says why."""


@dataclass(frozen=True)
class ModelEntry:
    name: str
    description: str
    build: Callable[[], nn.Module]
    dataset: str | None  # data set it is trained and evaluated on; None: architecture only
    input_shape: tuple[int, int, int]
    recipe: TrainRecipe | None = None

    @property
    def trainable(self) -> bool:
        return self.recipe is not None


MODELS: dict[str, ModelEntry] = {
    entry.name: entry
    for entry in [
        ModelEntry(
            "digits-cnn",
            "plain CNN (4 conv + 2 FC) on scikit-learn's 8x8 digits",
            lambda: plain_cnn(1, 8, 10, ((16, False), (16, True), (32, False), (32, True)), 64, DIGITS_MEAN, DIGITS_STD),
            "digits",
            (1, 8, 8),
            TrainRecipe(epochs=30, batch_size=64, lr=3e-3),
        ),
        ModelEntry(
            "digits-mobilenet",
            "MobileNetV2-style net (depthwise, residual blocks) on 8x8 digits",
            lambda: SmallMobileNet(1, 10, ((1, 16, 1, 1), (4, 24, 2, 2), (4, 32, 2, 2)), 16, 128, DIGITS_MEAN, DIGITS_STD),
            "digits",
            (1, 8, 8),
            TrainRecipe(epochs=40, batch_size=64, lr=4e-3),
        ),
        ModelEntry(
            "fashion-cnn",
            "plain CNN (4 conv + 2 FC) on Fashion-MNIST 28x28",
            lambda: plain_cnn(1, 28, 10, ((16, True), (32, True), (64, False), (64, False)), 128, FASHION_MEAN, FASHION_STD),
            "fashion",
            (1, 28, 28),
            TrainRecipe(epochs=3, batch_size=128, lr=3e-3),
        ),
        ModelEntry(
            "fashion-mobilenet",
            "MobileNetV2-style net (depthwise, residual blocks) on Fashion-MNIST",
            lambda: SmallMobileNet(
                1, 10, ((1, 16, 1, 1), (4, 24, 2, 1), (4, 32, 2, 2), (4, 64, 2, 2)), 16, 256, FASHION_MEAN, FASHION_STD, 2
            ),
            "fashion",
            (1, 28, 28),
            TrainRecipe(epochs=3, batch_size=128, lr=4e-3),
        ),
        ModelEntry(
            "fashion-mobilenetv2",
            "MobileNetV2 1.0 on Fashion-MNIST: HAQ's 53 layers, 1-channel stem at stride 1",
            lambda: MobileNetV2(10, 1, 1, FASHION_MOBILENETV2_STRIDES, [FASHION_MEAN], [FASHION_STD]),
            "fashion",
            (1, 28, 28),
            TrainRecipe(epochs=3, batch_size=128, lr=4e-3),
        ),
        ModelEntry("mobilenet-v1", "MobileNetV1 1.0 at 224x224 (architecture only)", mobilenet_v1, None, (3, 224, 224)),
        ModelEntry("mobilenet-v2", "MobileNetV2 1.0 at 224x224 (architecture only)", MobileNetV2, None, (3, 224, 224)),
        ModelEntry("resnet-50", "ResNet-50 at 224x224 (architecture only)", ResNet50, None, (3, 224, 224)),
    ]
}


def get_entry(name: str) -> ModelEntry:
    """The zoo entry for a built-in model name, or a ModelError listing the names."""
    try:
        return MODELS[name]
    except KeyError:
        raise ModelError(f"unknown model {name!r}; built-in models: {', '.join(MODELS)}") from None


def _import_factory(spec: str) -> Callable[[], nn.Module]:
    module_name, _, attr = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ModelError(f"cannot import model factory {spec!r}: {exc}") from exc
    if not callable(factory):
        raise ModelError(f"{spec!r} is not callable")
    return factory


def is_onnx(name: str) -> bool:
    """A model named by the path of an ONNX file (its weights are inside it)."""
    return name.endswith(".onnx")


def load_onnx(name: str) -> nn.Module:
    """The ONNX file ``name`` as a torch module (``onnx_import``: nothing in it is executed)."""
    from hwsearch.zoo.onnx_import import OnnxImportError, load_onnx_model

    try:
        return load_onnx_model(Path(name)).module
    except OSError as exc:
        raise ModelError(f"cannot read ONNX model {name}: {exc.strerror or exc}") from None
    except OnnxImportError as exc:
        raise ModelError(f"ONNX model {name}: {exc}") from None


def build_model(name: str, weights: str | Path | None = None, trained: bool = True) -> nn.Module:
    """Build a model by name, in eval mode.

    ``name`` is a built-in name (trained weights loaded, training once if not cached,
    unless ``trained=False``), the path of an ``.onnx`` file (weights inside), or
    ``module:factory`` for a user's model, whose weights come from a safetensors file
    (never a pickle).
    """
    if is_onnx(name):
        if weights is not None:
            raise ModelError(f"an ONNX model carries its own weights; do not give weights for {name}")
        return load_onnx(name).eval()
    if ":" in name:
        factory = _import_factory(name)
        try:
            model = factory()
        except Exception as exc:  # the user's code: report it in one line, not a traceback
            raise ModelError(f"model factory {name!r} raised {type(exc).__name__}: {exc}") from None
        if not isinstance(model, nn.Module):
            raise ModelError(f"{name!r} returned {type(model).__name__}, not a torch.nn.Module")
    else:
        entry = get_entry(name)
        model = entry.build()
        if trained and entry.recipe is not None and weights is None:
            return load_or_train(entry.name, model, lambda: load_dataset(entry.dataset), entry.recipe)
    if weights is not None:
        path = Path(weights)
        if path.suffix != ".safetensors":
            raise ModelError(f"weights must be a .safetensors file, got {path.name}")
        try:
            model.load_state_dict(load_file(str(path)))
        except (OSError, RuntimeError, SafetensorError) as exc:  # missing, not the model's, or corrupt
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"cannot load weights {path}: {first}") from None
    return model.eval()


def model_dataset(name: str) -> Dataset | None:
    """The data set a built-in model is evaluated on (None for architecture-only models)."""
    entry = get_entry(name)
    return load_dataset(entry.dataset) if entry.dataset else None


def example_input(name: str) -> torch.Tensor:
    """A zero input of the model's shape, batch 1, for tracing."""
    return torch.zeros(1, *get_entry(name).input_shape)
