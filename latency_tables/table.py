"""The lookup-table file format: read, validate and write.

A table is a UTF-8 CSV file with ``# key: value`` header lines, then one row per layer
shape and bit pair (format described in docs/hardware.md)::

    # hwsearch-table: 1
    # target: my-board
    # units: latency=ms energy=mJ
    # generator: my-script 0.3
    # date: 2025-01-31
    # batch: 1
    # bits: 8,32
    shape,w_bits,a_bits,latency,energy,bound
    conv2d:ic3:oc16:k3x3:s1x1:g1:in8x8:out8x8,8,8,0.0123,,table

``shape`` is ``LayerSpec.shape_key``; every pair of the widths listed in ``bits`` must be
present for every shape (a width without a kernel is simply not listed in ``bits``).
Loading is strict because tables come from users: any problem raises ``TableError`` naming
the line, column or shape. Every latency and energy is a finite number > 0 and at most
``MAX_COST`` (in ms or mJ, after the units): a zero cost would make a budget of zero, and
a huge one would overflow a model's total to infinity. A NUL character is refused anywhere.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np

from hwsearch.core.cost_model import BOUND_NAMES, TableError
from hwsearch.core.policy import FLOAT_BITS, MAX_BITS

FORMAT_VERSION = "1"
REQUIRED_HEADERS = ("target", "units", "generator", "date", "batch", "bits")
COLUMNS = ("shape", "w_bits", "a_bits", "latency", "energy")
LATENCY_TO_MS = {"ms": 1.0, "us": 1e-3, "s": 1e3}
ENERGY_TO_MJ = {"mJ": 1.0, "uJ": 1e-3, "J": 1e3, "n/a": math.nan}
#: largest latency (ms) or energy (mJ) of one row: 11.6 days, 1 MJ; a model's total stays finite
MAX_COST = 1e9
UNIT_OF = {"latency": "ms", "energy": "mJ"}


@dataclass
class Table:
    """A validated table: per shape, a (bits x bits x 2) array in ms and mJ."""

    target: str
    batch: int
    bits: list[int]
    units: dict[str, str]  # as declared in the file
    meta: dict[str, str]
    costs: dict[str, np.ndarray] = field(default_factory=dict)  # shape -> [w, a, (ms, mJ)]
    bounds: dict[str, np.ndarray] = field(default_factory=dict)  # shape -> [w, a] bound code
    # (layer, shape) -> ms at integer widths (None: the fp32 entry), for the layers the runtime
    # runs in float whatever their widths (header 'float-layers')
    float_layers: dict[tuple[str, str], float | None] = field(default_factory=dict)
    # (layer, shape) -> (the layers that requantize its output, ms in float when one does not),
    # for the layers that run an integer kernel only while those quantize their input
    # (header 'requantized-by')
    requantized_by: dict[tuple[str, str], tuple[tuple[str, ...], float | None]] = field(default_factory=dict)
    # {"integer": s8, "float": s32}: what every latency was multiplied by so uniform int8 and fp32
    # match the whole model's measured time (header 'whole-model-scale'; empty: not scaled)
    whole_model_scale: dict[str, float] = field(default_factory=dict)
    # (layer, shape) -> (its consumers, ms the layer costs beyond its entry when it runs in float
    # while one of them quantizes its input) (header 'float-to-integer')
    float_to_integer: dict[tuple[str, str], tuple[tuple[str, ...], float]] = field(default_factory=dict)

    @property
    def has_energy(self) -> bool:
        return self.units.get("energy") != "n/a"


def _parse_units(text: str) -> dict[str, str]:
    units: dict[str, str] = {}
    for part in text.replace(",", " ").split():
        key, sep, value = part.partition("=")
        if not sep:
            raise TableError(f"table header 'units': expected 'latency=ms energy=mJ', got {text!r}")
        units[key.strip()] = value.strip()
    if units.get("latency") not in LATENCY_TO_MS:
        raise TableError(f"table header 'units': latency unit must be one of {sorted(LATENCY_TO_MS)}, got {units.get('latency')!r}")
    if units.get("energy") not in ENERGY_TO_MJ:
        raise TableError(f"table header 'units': energy unit must be one of {sorted(ENERGY_TO_MJ)}, got {units.get('energy')!r}")
    return units


def _parse_int_list(text: str, what: str) -> list[int]:
    try:
        values = sorted({int(v) for v in text.replace(" ", "").split(",") if v})
    except ValueError:
        raise TableError(f"table header {what!r}: expected comma-separated integers, got {text!r}") from None
    bad = [v for v in values if not (1 <= v <= 16 or v == 32)]
    if not values or bad:
        raise TableError(f"table header {what!r}: widths must be 1..16 or 32, got {text!r}")
    return values


def _cost(text: str, line: int, column: str, shape: str, unit: str, scale: float) -> float:
    """One latency or energy in the file's ``unit``, times ``scale`` (to ms or mJ): finite, > 0,
    at most ``MAX_COST``."""
    where = f"line {line} (shape {shape!r}), column {column!r}"
    if text.strip() == "":
        raise TableError(f"{where}: value is missing")
    try:
        value = float(text)
    except ValueError:
        raise TableError(f"{where}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise TableError(f"{where}: {text!r} is not a finite number")
    if value < 0:
        raise TableError(f"{where}: {value} is negative")
    if value == 0:
        raise TableError(f"{where}: a cost of 0 is not a measurement (costs must be > 0)")
    scaled = value * scale
    if not scaled <= MAX_COST:  # also an overflow to infinity
        raise TableError(f"{where}: {value:g} {unit} is above the limit of {MAX_COST:g} {UNIT_OF[column]}")
    return scaled


def _spread(text: str, line: int, shape: str, scale: float) -> float:
    """An optional ``latency_spread`` cell (the repeats' spread, in the latency unit): finite, >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise TableError(f"line {line} (shape {shape!r}), column 'latency_spread': {text!r} is not a number") from None
    if not (math.isfinite(value) and 0 <= value * scale <= MAX_COST):
        raise TableError(f"line {line} (shape {shape!r}), column 'latency_spread': {text!r} must be a finite number >= 0")
    return value * scale


def _header_latency(header: str, entry: list, position: int, scale: float) -> float | None:
    """The optional latency at ``entry[position]`` of a layer list header, in ms (None if absent)."""
    if len(entry) <= position:
        return None
    value = entry[position]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and 0 < value * scale <= MAX_COST):
        raise TableError(f"table header {header!r}: latency of {entry[0]!r} must be a number > 0 (in the table's unit), got {value!r}")
    return value * scale


def _parse_float_layers(text: str, bits: list[int], scale: float) -> dict[tuple[str, str], float | None]:
    """The 'float-layers' header: a JSON list of [layer, shape] or [layer, shape, latency]
    (``hardware measure`` reads the layers off an int8 export of the model it measured and
    times each as the runtime runs it: float kernel, quantize/dequantize around it). A layer
    without a latency costs its shape's fp32 entry at integer widths, so 32 must be in ``bits``."""
    try:
        entries = json.loads(text)
        if not isinstance(entries, list) or not all(
            isinstance(e, list) and len(e) in (2, 3) and all(isinstance(v, str) and v for v in e[:2]) for e in entries
        ):
            raise ValueError
    except ValueError:
        raise TableError(f"table header 'float-layers': expected a JSON list of [layer, shape] or [layer, shape, latency], got {text[:80]!r}") from None
    out: dict[tuple[str, str], float | None] = {}
    for entry in entries:
        out[(entry[0], entry[1])] = _header_latency("float-layers", entry, 2, scale)
    if out and FLOAT_BITS not in bits:
        raise TableError(f"table header 'float-layers': the layers it names run a float kernel, but the table's bits {bits} have no {FLOAT_BITS}")
    return out


def _consumer_entries(header: str, text: str, latency_required: bool) -> list[list]:
    """A header listing ``[layer, shape, [layers]]`` (with a latency after them, optional unless
    ``latency_required``), checked for its shape; a ``TableError`` naming ``header`` otherwise."""
    sizes = (4,) if latency_required else (3, 4)
    form = "[layer, shape, [layers], latency]" if latency_required else "[layer, shape, [layers]] or [layer, shape, [layers], latency]"
    try:
        entries = json.loads(text)
        if not isinstance(entries, list) or not all(
            isinstance(e, list) and len(e) in sizes and all(isinstance(v, str) and v for v in e[:2])
            and isinstance(e[2], list) and all(isinstance(v, str) and v for v in e[2])
            for e in entries
        ):
            raise ValueError
    except ValueError:
        raise TableError(f"table header {header!r}: expected a JSON list of {form}, got {text[:80]!r}") from None
    return entries


def _parse_requantized_by(text: str, bits: list[int], scale: float) -> dict[tuple[str, str], tuple[tuple[str, ...], float | None]]:
    """The 'requantized-by' header: a JSON list of [layer, shape, [layers]] or [layer, shape,
    [layers], latency]: the layer runs its integer kernel only while each listed layer quantizes
    its input; once one takes a float input, nothing requantizes the output and the layer runs
    in float (its latency, else its shape's fp32 entry, so 32 must be in ``bits``)."""
    out: dict[tuple[str, str], tuple[tuple[str, ...], float | None]] = {}
    for entry in _consumer_entries("requantized-by", text, latency_required=False):
        out[(entry[0], entry[1])] = (tuple(entry[2]), _header_latency("requantized-by", entry, 3, scale))
    if out and FLOAT_BITS not in bits:
        raise TableError(f"table header 'requantized-by': its layers fall back to a float kernel, but the table's bits {bits} have no {FLOAT_BITS}")
    return out


def _parse_float_to_integer(text: str, bits: list[int], scale: float) -> dict[tuple[str, str], tuple[tuple[str, ...], float]]:
    """The 'float-to-integer' header: a JSON list of [layer, shape, [layers], latency]: what the
    layer, run in float while one of the listed layers quantizes its input, costs beyond its own
    entry (``hardware measure`` times it on the whole model), >= 0: a cost that could be negative
    could make a policy's total one. Needs 32 in ``bits``."""
    out: dict[tuple[str, str], tuple[tuple[str, ...], float]] = {}
    for entry in _consumer_entries("float-to-integer", text, latency_required=True):
        value = entry[3]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and 0 <= value * scale <= MAX_COST):
            raise TableError(f"table header 'float-to-integer': latency of {entry[0]!r} must be a number >= 0 (in the table's unit), got {value!r}")
        out[(entry[0], entry[1])] = (tuple(entry[2]), value * scale)
    if out and FLOAT_BITS not in bits:
        raise TableError(f"table header 'float-to-integer': it prices layers run in float, but the table's bits {bits} have no {FLOAT_BITS}")
    return out


def _read_source(source: str | Path) -> str:
    if isinstance(source, Path) or ("\n" not in source and source.endswith(".csv")):
        path = Path(source)
        try:
            return path.read_text(encoding="utf-8")
        except OSError as exc:
            raise TableError(f"cannot read table {path}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise TableError(f"table {path} is not UTF-8 text") from None
        except ValueError as exc:  # e.g. a NUL character in the path
            raise TableError(f"cannot read table {str(path)!r}: {exc}") from None
    return source


def parse_table(source: str | Path) -> Table:
    """Parse and validate a table from a path or from its text; raise ``TableError``."""
    text = _read_source(source)
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise TableError(f"line {line}: contains a NUL character (\\x00); a table is plain text")
    meta: dict[str, str] = {}
    body: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            key, sep, value = stripped[1:].partition(":")
            if sep:
                meta[key.strip().lower()] = value.strip()
            continue
        body.append((number, line))
    missing = [h for h in REQUIRED_HEADERS if h not in meta]
    if missing:
        raise TableError(f"table header: missing {', '.join(repr(m) for m in missing)} (lines '# key: value' before the rows)")
    version = meta.get("hwsearch-table", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise TableError(f"table header 'hwsearch-table': version {version!r} is not supported (expected {FORMAT_VERSION})")
    units = _parse_units(meta["units"])
    bits = _parse_int_list(meta["bits"], "bits")
    try:
        batch = int(meta["batch"])
        if batch < 1:
            raise ValueError
    except ValueError:
        raise TableError(f"table header 'batch': expected a positive integer, got {meta['batch']!r}") from None
    if not meta["target"]:
        raise TableError("table header 'target': empty name")
    if not body:
        raise TableError("table has no column header and no rows")

    header_line, header = body[0]
    reader = csv.reader(io.StringIO("\n".join(line for _, line in body)))
    columns = [c.strip() for c in next(reader)]
    absent = [c for c in COLUMNS if c not in columns]
    if absent:
        raise TableError(f"line {header_line}: column header lacks {absent}; expected {','.join(COLUMNS)}[,bound]")
    col = {name: columns.index(name) for name in columns}
    lat_scale = LATENCY_TO_MS[units["latency"]]
    en_scale = ENERGY_TO_MJ[units["energy"]]
    has_energy = units["energy"] != "n/a"
    index = {b: i for i, b in enumerate(bits)}
    table = Table(meta["target"], batch, bits, units, meta)
    if "float-layers" in meta:
        table.float_layers = _parse_float_layers(meta["float-layers"], bits, LATENCY_TO_MS[units["latency"]])
    if "requantized-by" in meta:
        table.requantized_by = _parse_requantized_by(meta["requantized-by"], bits, LATENCY_TO_MS[units["latency"]])
    if "float-to-integer" in meta:
        table.float_to_integer = _parse_float_to_integer(meta["float-to-integer"], bits, LATENCY_TO_MS[units["latency"]])
    seen: dict[str, np.ndarray] = {}
    for (number, _), row in zip(body[1:], reader):
        if len(row) != len(columns):
            raise TableError(f"line {number}: expected {len(columns)} columns, got {len(row)}")
        shape = row[col["shape"]].strip()
        if not shape:
            raise TableError(f"line {number}: column 'shape' is empty")
        pair = []
        for name in ("w_bits", "a_bits"):
            try:
                value = int(row[col[name]])
            except ValueError:
                raise TableError(f"line {number} (shape {shape!r}), column {name!r}: {row[col[name]]!r} is not an integer") from None
            if value not in index:
                raise TableError(f"line {number} (shape {shape!r}), column {name!r}: {value} is not in the header's bits {bits}")
            pair.append(index[value])
        latency = _cost(row[col["latency"]], number, "latency", shape, units["latency"], lat_scale)
        if has_energy:
            energy = _cost(row[col["energy"]], number, "energy", shape, units["energy"], en_scale)
        else:
            if row[col["energy"]].strip():
                raise TableError(f"line {number} (shape {shape!r}), column 'energy': units say energy=n/a, so leave it empty")
            energy = math.nan
        if "latency_spread" in col and row[col["latency_spread"]].strip():
            _spread(row[col["latency_spread"]], number, shape, lat_scale)
        bound = row[col["bound"]].strip() if "bound" in col else "table"
        if bound not in BOUND_NAMES:
            raise TableError(f"line {number} (shape {shape!r}), column 'bound': {bound!r} is not one of {list(BOUND_NAMES)}")
        if shape not in table.costs:
            table.costs[shape] = np.full((len(bits), len(bits), 2), np.nan)
            table.bounds[shape] = np.full((len(bits), len(bits)), BOUND_NAMES.index("table"), dtype=np.int8)
            seen[shape] = np.zeros((len(bits), len(bits)), dtype=bool)
        w, a = pair
        if seen[shape][w, a]:
            raise TableError(f"line {number} (shape {shape!r}): duplicate row for w_bits={bits[w]}, a_bits={bits[a]}")
        seen[shape][w, a] = True
        table.costs[shape][w, a] = (latency, energy)
        table.bounds[shape][w, a] = BOUND_NAMES.index(bound)
    if not table.costs:
        raise TableError("table has no rows")
    for shape, mask in seen.items():
        if not mask.all():
            holes = [f"(w={bits[w]}, a={bits[a]})" for w, a in zip(*np.nonzero(~mask))]
            raise TableError(f"shape {shape!r}: missing bit pairs {', '.join(holes[:6])}{' ...' if len(holes) > 6 else ''}")
    if "whole-model-scale" in meta:
        _apply_whole_model_scale(table, _parse_whole_model_scale(meta["whole-model-scale"]))
    return table


def _parse_whole_model_scale(text: str) -> dict[str, float]:
    """The 'whole-model-scale' header: {"integer": s8, "float": s32}, each a number in (0, 100]."""
    try:
        scale = json.loads(text)
        if not isinstance(scale, dict) or set(scale) != {"integer", "float"}:
            raise ValueError
    except ValueError:
        raise TableError(f'table header \'whole-model-scale\': expected {{"integer": number, "float": number}}, got {text[:80]!r}') from None
    for kind, value in scale.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and 0 < value <= 100):
            raise TableError(f"table header 'whole-model-scale': {kind!r} must be a number in (0, 100], got {value!r}")
    return {kind: float(value) for kind, value in scale.items()}


def _apply_whole_model_scale(table: Table, scale: dict[str, float]) -> None:
    """Scale every latency as the header says: a cell with both widths integer, and a layer's
    in-place time (priced at integer widths), by the integer factor; a cell with a float
    width by the float one. The table's rows stay the lone layers' timings."""
    integer = np.array([b <= MAX_BITS for b in table.bits])
    factor = np.where(integer[:, None] & integer[None, :], scale["integer"], scale["float"])
    for costs in table.costs.values():
        costs[..., 0] *= factor
    table.float_layers = {k: None if v is None else v * scale["integer"] for k, v in table.float_layers.items()}
    table.requantized_by = {k: (c, None if v is None else v * scale["integer"]) for k, (c, v) in table.requantized_by.items()}
    table.whole_model_scale = scale


def format_table(
    target: str,
    batch: int,
    bits: list[int],
    rows: list[tuple[str, int, int, float, float | None, str]],
    generator: str,
    extra: dict[str, str] | None = None,
    energy_unit: str = "mJ",
    spreads: list[float | None] | None = None,
) -> str:
    """The text of a table. ``rows`` are (shape, w, a, latency_ms, energy_mj or None, bound);
    ``spreads``, one per row, adds the optional ``latency_spread`` column (ms, blank = unknown)."""
    lines = [
        f"# hwsearch-table: {FORMAT_VERSION}",
        f"# target: {target}",
        f"# units: latency=ms energy={energy_unit}",
        f"# generator: {generator}",
        f"# date: {date.today().isoformat()}",
        f"# batch: {batch}",
        f"# bits: {','.join(str(b) for b in bits)}",
    ]
    for key, value in (extra or {}).items():
        lines.append(f"# {key}: {value}")
    lines.append("shape,w_bits,a_bits,latency,energy,bound" + (",latency_spread" if spreads is not None else ""))
    for i, (shape, w, a, latency, energy, bound) in enumerate(rows):
        energy_text = "" if energy is None or math.isnan(energy) else f"{energy:.6g}"
        line = f"{shape},{w},{a},{latency:.6g},{energy_text},{bound}"
        if spreads is not None:
            line += "," + ("" if spreads[i] is None else f"{spreads[i]:.6g}")
        lines.append(line)
    return "\n".join(lines) + "\n"
