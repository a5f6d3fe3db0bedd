"""A quantization policy: weight and activation bits for each quantizable layer.

Bits are 2..8, or ``FLOAT_BITS`` (32) for "leave this tensor in float". A policy is
immutable and hashable so accuracy and cost can be cached per policy.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

FLOAT_BITS = 32
MIN_BITS = 2
MAX_BITS = 8


def check_bits(value: object, what: str) -> int:
    """Return ``value`` as valid bits or raise a ValueError naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what}: bits must be an integer, got {value!r}")
    if value != FLOAT_BITS and not MIN_BITS <= value <= MAX_BITS:
        raise ValueError(f"{what}: bits must be {MIN_BITS}..{MAX_BITS} or {FLOAT_BITS} (float), got {value}")
    return value


@dataclass(frozen=True)
class LayerBits:
    weight_bits: int
    activation_bits: int


class Policy(Mapping[str, LayerBits]):
    """Layer name -> ``LayerBits``, in the model's layer order."""

    __slots__ = ("_bits", "_key")

    def __init__(self, bits: Mapping[str, LayerBits | tuple[int, int]]) -> None:
        parsed: dict[str, LayerBits] = {}
        for name, value in bits.items():
            w, a = (value.weight_bits, value.activation_bits) if isinstance(value, LayerBits) else value
            parsed[name] = LayerBits(
                check_bits(w, f"layer {name!r} weight_bits"),
                check_bits(a, f"layer {name!r} activation_bits"),
            )
        self._bits = parsed
        self._key = tuple((n, b.weight_bits, b.activation_bits) for n, b in parsed.items())

    @classmethod
    def uniform(cls, names: Iterable[str], weight_bits: int, activation_bits: int | None = None) -> Policy:
        """Every layer at the same bits (activations default to the weight bits)."""
        a = weight_bits if activation_bits is None else activation_bits
        return cls({name: (weight_bits, a) for name in names})

    def __getitem__(self, name: str) -> LayerBits:
        return self._bits[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._bits)

    def __len__(self) -> int:
        return len(self._bits)

    def __hash__(self) -> int:
        return hash(self._key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Policy) and self._key == other._key

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}: w{w}a{a}" for n, w, a in self._key)
        return f"Policy({inner})"

    @property
    def key(self) -> tuple[tuple[str, int, int], ...]:
        """A plain tuple that identifies the policy (for caches and JSON)."""
        return self._key

    def replace(self, name: str, weight_bits: int | None = None, activation_bits: int | None = None) -> Policy:
        """A copy with one layer's bits changed."""
        if name not in self._bits:
            raise KeyError(f"unknown layer {name!r}")
        old = self._bits[name]
        bits = dict(self._bits)
        bits[name] = LayerBits(
            old.weight_bits if weight_bits is None else weight_bits,
            old.activation_bits if activation_bits is None else activation_bits,
        )
        return Policy(bits)

    def check_layers(self, names: Iterable[str]) -> None:
        """Raise a ValueError if this policy does not cover exactly ``names``."""
        expected = list(names)
        missing = [n for n in expected if n not in self._bits]
        extra = [n for n in self._bits if n not in set(expected)]
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"missing layers {missing}")
            if extra:
                parts.append(f"unknown layers {extra}")
            raise ValueError("policy does not match the model: " + "; ".join(parts))

    def to_dict(self) -> dict[str, dict[str, int]]:
        return {n: {"weight_bits": w, "activation_bits": a} for n, w, a in self._key}

    @classmethod
    def from_dict(cls, data: Mapping[str, Mapping[str, int]] | Policy) -> Policy:
        if isinstance(data, Policy):
            return data
        out = {}
        for name, entry in data.items():
            try:
                out[name] = (entry["weight_bits"], entry["activation_bits"])
            except (KeyError, TypeError) as exc:
                raise ValueError(f"layer {name!r}: needs weight_bits and activation_bits") from exc
        return cls(out)
