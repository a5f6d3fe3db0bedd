from __future__ import annotations

import pytest

from hwsearch.core.policy import LayerBits, Policy


def test_bits_validated_with_layer_name():
    with pytest.raises(ValueError, match="'conv1' weight_bits"):
        Policy({"conv1": (9, 8)})
    with pytest.raises(ValueError, match="activation_bits"):
        Policy({"conv1": (8, 1)})
    with pytest.raises(ValueError, match="integer"):
        Policy({"conv1": (8.0, 8)})
    assert Policy({"fc": (32, 32)})["fc"] == LayerBits(32, 32)


def test_hashable_and_round_trip():
    p = Policy({"a": (4, 8), "b": (2, 3)})
    q = Policy.from_dict(p.to_dict())
    assert p == q and hash(p) == hash(q) and {p: 1}[q] == 1
    assert p.replace("a", weight_bits=5) != p
    assert p.replace("a", weight_bits=5)["a"] == LayerBits(5, 8)


def test_from_dict_reports_missing_field():
    with pytest.raises(ValueError, match="'x'"):
        Policy.from_dict({"x": {"weight_bits": 4}})
