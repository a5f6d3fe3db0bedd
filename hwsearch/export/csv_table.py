"""``format=csv``: one row per layer, for spreadsheets."""

from __future__ import annotations

import csv
import io
import math

COLUMNS = ("name", "op", "weight_bits", "activation_bits", "latency_ms", "energy_mj")


def _cell(value: object) -> object:
    """Empty cell for a missing figure (null/NaN) rather than the text 'nan'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return value


def export_csv(doc: dict) -> bytes:
    """``name,op,weight_bits,activation_bits,latency_ms,energy_mj`` rows (bits 32 = float)."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for layer in doc["layers"]:
        writer.writerow([_cell(layer.get(column)) for column in COLUMNS])
    return out.getvalue().encode("utf-8")
