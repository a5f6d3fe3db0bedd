"""``SearchSpec``: everything that defines one search, and the checks on its own fields.

A spec is plain JSON (the REST API's job body is a ``SearchSpec``). Checks that need the
model or the target (names exist, the budget can be met) are ``hwsearch.search.validate_spec``.

Objectives: ``latency`` (ms), ``energy`` (mJ), ``size`` (MB of weights), or a weighted
mix written ``"latency:0.7,energy:0.3"`` (or the dict ``{"latency": 0.7, "energy": 0.3}``).
A mix is costed as ``sum_k w_k * cost_k / int8_k``: each term is normalised by the
uniform 8-bit cost, so the mix is unitless (1.0 at uniform 8-bit) and only a *relative*
budget makes sense for it.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from hwsearch.core.robust_spec import RobustSpec
from hwsearch.core.strict import SpecModel

OBJECTIVES = ("latency", "energy", "size")
UNITS = {"latency": "ms", "energy": "mJ", "size": "MB"}
DEFAULT_EVAL_SAMPLES = 2000
DEFAULT_CONFIRM_TOP = 5
#: seeds are 32-bit: what ``numpy.random.seed``, ``torch.manual_seed`` and ``random.seed`` all take
MAX_SEED = 2**32 - 1
#: a relative budget above this many times the int8 cost constrains nothing
MAX_RELATIVE_BUDGET = 1000.0
#: an absolute budget (ms, mJ or MB) above this is no budget: a table's costs are capped far below
MAX_ABSOLUTE_BUDGET = 1e12
#: largest weight of one term of a mixed objective (only the weights' ratios matter)
MAX_OBJECTIVE_WEIGHT = 1e6
#: validation images: more than a data set holds means all of them
MAX_SAMPLES = 10_000_000
MAX_FINETUNE_STEPS = 1_000_000
#: ``auto`` (a GPU when there is one), ``cpu``, ``cuda`` or ``cuda:N``
DEVICE_PATTERN = r"^(auto|cpu|cuda(:[0-9]{1,2})?)$"


class SpecError(ValueError):
    """A search spec that cannot run; ``field`` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def parse_objective(value: str | dict[str, float]) -> dict[str, float]:
    """``"latency"``, ``"latency:0.7,energy:0.3"`` or a dict -> {name: weight} (weights > 0)."""
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, str):
        items = []
        for part in value.split(","):
            part = part.strip()
            if not part:
                continue
            name, sep, weight = part.partition(":")
            try:
                items.append((name.strip(), float(weight) if sep else 1.0))
            except ValueError:
                raise ValueError(f"objective: weight {weight!r} of {name.strip()!r} is not a number") from None
    else:
        raise ValueError(f"objective: expected a string or a dict, got {type(value).__name__}")
    weights: dict[str, float] = {}
    for name, weight in items:
        if name not in OBJECTIVES:
            raise ValueError(f"objective: unknown term {name!r}; choose from {', '.join(OBJECTIVES)}")
        if name in weights:
            raise ValueError(f"objective: {name!r} given twice")
        if isinstance(weight, bool) or not isinstance(weight, int | float):
            raise ValueError(f"objective: weight of {name!r} must be a number, got {weight!r}")
        if not 0 < weight <= MAX_OBJECTIVE_WEIGHT:  # also refuses NaN and infinities
            raise ValueError(f"objective: weight of {name!r} must be > 0 and at most {MAX_OBJECTIVE_WEIGHT:g}, got {weight}")
        weights[name] = float(weight)
    if not weights:
        raise ValueError("objective: empty; use latency, energy, size or a mix like 'latency:0.7,energy:0.3'")
    return weights


#: widths a search may choose from: integer 2..8, half (16) and float (32)
CHOOSABLE_WIDTHS = (*range(2, 9), 16, 32)


def parse_widths(value: Any, field: str) -> list[int]:
    """A set of widths from ``'2-8'``, ``'4,8,32'``, an int or a list: sorted, each checked."""
    if isinstance(value, str):
        widths: list[Any] = []
        for part in value.replace(" ", "").split(","):
            low, dash, high = part.partition("-")
            try:
                widths += list(range(int(low), int(high) + 1)) if dash else [int(part)]
            except ValueError:
                raise ValueError(f"{field}: expected a range like '2-8' or a list like '4,8,32', got {value!r}") from None
    elif isinstance(value, int) and not isinstance(value, bool):
        widths = [value]
    elif isinstance(value, (list, tuple)):
        widths = list(value)
    else:
        raise ValueError(f"{field}: expected a range like '2-8', a list like '4,8,32' or a list of integers, got {value!r}")
    for w in widths:
        if isinstance(w, bool) or not isinstance(w, int) or w not in CHOOSABLE_WIDTHS:
            raise ValueError(f"{field}: widths are 2..8, 16 (half) or 32 (float), got {w!r}")
    if not widths:
        raise ValueError(f"{field}: give at least one width")
    return sorted(set(widths))


class Budget(SpecModel):
    """Exactly one of ``relative`` (fraction of uniform 8-bit cost) or ``absolute``."""

    relative: float | None = Field(
        None,
        gt=0,
        le=MAX_RELATIVE_BUDGET,
        description="Budget as a fraction of the uniform 8-bit policy's cost, e.g. 0.4 (must be > 0).",
    )
    absolute: float | None = Field(
        None,
        gt=0,
        le=MAX_ABSOLUTE_BUDGET,
        description="Budget in the objective's unit: ms (latency), mJ (energy) or MB (size).",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> Budget:
        if (self.relative is None) == (self.absolute is None):
            raise ValueError("budget: give exactly one of 'relative' or 'absolute'")
        return self

    def describe(self, unit: str) -> str:
        return f"{self.relative:g} x int8" if self.relative is not None else f"{self.absolute:g} {unit}"


class SearchSpec(SpecModel):
    """One mixed-precision search: what to search, on which hardware, under which budget.

    Strict (``SpecModel``): finite numbers, integers that are integers, no NUL in text;
    every number has its range, so whatever a spec accepts a worker can run.
    """

    model: str = Field(..., description="Model name from the zoo (e.g. 'fashion-cnn'), the path of an .onnx file, or 'module:factory'.")
    target: str = Field(..., description="Hardware target name (e.g. 'bitfusion', 'bismo-edge') or a table path.")
    objective: str | dict[str, float] = Field(
        "latency",
        description="'latency', 'energy', 'size', or a weighted mix 'latency:0.7,energy:0.3' (or a dict); "
        "a mix is normalised by the uniform 8-bit cost and needs a relative budget.",
    )
    budget: Budget = Field(..., description="Cost budget: {'relative': r} (fraction of uniform 8-bit) or {'absolute': x}.")
    agent: str = Field("ddpg", description="Search agent: ddpg (HAQ, default), td3, sac, ppo, uniform, random, greedy, ilp, fisher, evolution.")
    agent_options: dict[str, float | int | bool | None] = Field(
        default_factory=dict,
        max_length=32,
        description="The agent's own options, by name (e.g. ddpg: {'noise_decisions': 2, 'climb_after_stall': null} "
        "for HAQ's plain DDPG with a different noise); an option the agent does not have, or a value it refuses, is refused.",
    )
    episodes: int = Field(50, ge=1, le=100_000, description="Episodes (candidate policies) the agent may propose.")
    seed: int = Field(
        0, ge=0, le=MAX_SEED, description="Random seed (0..2**32-1): the same spec and seed give the same result."
    )
    min_bits: int = Field(2, ge=2, le=8, description="Lowest bit width the search may pick (2..8).")
    max_bits: int = Field(8, ge=2, le=8, description="Highest bit width the search may pick (2..8, >= min_bits).")
    weight_bits: list[int] | None = Field(
        None,
        description="The widths weights may take: a range '2-8', a list '4,8,32' (or a JSON list); 32 = float, 16 = "
        "half, where the target costs them. None = min_bits..max_bits plus the float formats the target has kernels for.",
    )
    activation_bits: list[int] | None = Field(
        None,
        description="The widths activations may take, as weight_bits (e.g. '8' for a weights-only search).",
    )
    eval_samples: int | None = Field(
        DEFAULT_EVAL_SAMPLES,
        ge=1,
        le=MAX_SAMPLES,
        description="Validation images used to score a policy (first N of the fixed validation split); None = all.",
    )
    confirm_top: int = Field(
        DEFAULT_CONFIRM_TOP,
        ge=0,
        le=100,
        description="After the search, measure this many best policies again on validation images the search did not "
        "use, and keep the best on both subsets (0 = keep the best on the search's subset).",
    )
    confirm_samples: int | None = Field(
        None, ge=1, le=MAX_SAMPLES, description="Validation images for that confirmation, the ones after the search's subset; None = all of them."
    )
    finetune_steps: int = Field(0, ge=0, le=MAX_FINETUNE_STEPS, description="Quantization-aware fine-tune steps for the best policy (0 = none).")
    weights: str | None = Field(None, description="Path to a .safetensors file with the model's weights (else the zoo's).")
    data: str | None = Field(None, description="Data set ('digits', 'fashion', 'npz:PATH', 'folder:PATH'); default: the model's.")
    random_init: bool = Field(
        False,
        description="Search a module:factory model with its random initial weights (no weights file): refused otherwise, "
        "since an untrained model's accuracy means nothing.",
    )
    robust: RobustSpec | None = Field(
        None, description="Adversarial robustness: report it for stored policies, constrain or reward it, defensive fine-tune."
    )
    device: str = Field(
        "auto",
        pattern=DEVICE_PATTERN,
        description="Where evaluation, fine-tune and attacks run: auto (a GPU if there is one), cpu, cuda or cuda:N.",
    )

    @field_validator("agent_options", mode="before")
    @classmethod
    def _scalar_options(cls, value: Any) -> Any:
        """One message per bad option (the union's three would each say what the value is not)."""
        if isinstance(value, dict):
            for key, option in value.items():
                if option is not None and not isinstance(option, int | float):  # bool is an int
                    raise ValueError(f"option {key!r} must be a number, true/false or null, not {option!r}")
        return value

    @field_validator("weight_bits", "activation_bits", mode="before")
    @classmethod
    def _width_set(cls, value: Any, info) -> list[int] | None:
        return None if value is None else parse_widths(value, info.field_name)

    @field_validator("objective", mode="before")
    @classmethod
    def _objective(cls, value: Any) -> Any:
        parse_objective(value)  # before the union's own checks: one message naming 'objective'
        return value

    @model_validator(mode="after")
    def _bits_order(self) -> SearchSpec:
        if self.min_bits > self.max_bits:
            raise ValueError(f"min_bits: {self.min_bits} is above max_bits {self.max_bits}")
        if self.robust is not None and self.robust.defensive and self.finetune_steps == 0:
            raise ValueError("robust.defensive: a defensive fine-tune needs finetune_steps > 0")
        return self

    @property
    def objective_weights(self) -> dict[str, float]:
        return parse_objective(self.objective)

    @property
    def objective_unit(self) -> str:
        weights = self.objective_weights
        return UNITS[next(iter(weights))] if len(weights) == 1 else "x int8"


def spec_from_dict(data: dict[str, Any]) -> SearchSpec:
    """Parse a dict into a ``SearchSpec``; pydantic errors become ``SpecError`` naming the field."""
    from pydantic import ValidationError

    try:
        return SearchSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        message = first["msg"].removeprefix("Value error, ")
        field = ".".join(str(p) for p in first["loc"])
        named = message.split(":", 1)[0]
        if named.split(".")[0] in SearchSpec.model_fields and (not field or field == "budget"):
            field = named  # a model-level validator names its field in its message
        field = field or "spec"
        raise SpecError(field, message.removeprefix(f"{field}: ")) from None
