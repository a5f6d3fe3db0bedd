"""Simulated quantization: quantizers, calibration and the policy-switchable model."""

from hwsearch.quant.model import QuantizedModel, QuantLayer
from hwsearch.quant.quantizers import ActivationQuant, WeightQuant

__all__ = ["ActivationQuant", "QuantLayer", "QuantizedModel", "WeightQuant"]
