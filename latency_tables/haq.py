"""``haq-mobilenetv2``: HAQ's released MobileNetV2 latency table as a table-only target.

Source: mit-han-lab/haq, ``lib/simulator/lookup_tables/qmobilenetv2_imagenet100_batch16_
latency_table.npy`` (MIT licence, Copyright (c) 2019 MIT HAN Lab; copy of the licence in
``reference/LICENSE.haq-mit``). An int64 array of shape (53, 8, 8) indexed
[layer, w_bits - 1, a_bits - 1] for MobileNetV2 at batch 16. Its units are not documented;
they are reported as "relative units" (the FC row equals weight bits x weights / 256,
which suggests cycles of a 256-bit memory port, but that is an inference). Use it with
relative budgets (a fraction of the uniform 8-bit cost), which do not depend on units.
"""

from __future__ import annotations

import json
import re
from functools import cached_property
from importlib import resources

import numpy as np

from hwsearch.core.graph import LayerSpec
from hwsearch.core.cost_model import CostModel, TableError

TABLE_FILE = "qmobilenetv2_imagenet100_batch16_latency_table.npy"
#: The built-in mobilenet-v2's 53 layers (trace order): name and shape key of each row.
#: Shipped beside the table so this layer needs no model; tests check it against the zoo.
LAYERS_FILE = "qmobilenetv2_layers.json"
MODEL = "mobilenet-v2"
#: The built-in MobileNetV2 for 28x28 images: same layer names and channels, other strides.
ADAPTED_MODEL = "fashion-mobilenetv2"
LAYERS, MAX_TABLE_BITS = 53, 8


def load_haq_layers() -> list[tuple[str, str]]:
    """(name, shape_key) of each of the table's rows, checked for count and form."""
    text = (resources.files("latency_tables") / "reference" / LAYERS_FILE).read_text()
    try:
        rows = [(str(r["name"]), str(r["shape_key"])) for r in json.loads(text)]
    except (ValueError, TypeError, KeyError) as exc:
        raise TableError(f"{LAYERS_FILE}: expected a JSON list of {{name, shape_key}} objects ({exc})") from None
    if len(rows) != LAYERS:
        raise TableError(f"{LAYERS_FILE}: has {len(rows)} layers; HAQ's table has {LAYERS}")
    return rows


def load_haq_array() -> np.ndarray:
    """The released array, checked for the documented shape and dtype."""
    with resources.as_file(resources.files("latency_tables") / "reference" / TABLE_FILE) as path:
        array = np.load(path, allow_pickle=False)
    if array.shape != (LAYERS, MAX_TABLE_BITS, MAX_TABLE_BITS) or array.dtype.kind not in "iu":
        raise TableError(f"{TABLE_FILE}: expected an int array of shape (53, 8, 8), got {array.dtype} {array.shape}")
    if (array <= 0).any():
        raise TableError(f"{TABLE_FILE}: has non-positive entries")
    return array


def same_structure(key: str, spec: LayerSpec, stem: bool) -> bool:
    """``spec`` is row ``key``'s layer at another input size and class count: the same
    operator, kernel and groups, the same input channels except at the stem (image
    channels) and the same output channels except at the classifier (classes).

    Such a layer is priced at the row's cost, as HAQ measured it at 224x224: the table is
    the hardware's account of the architecture, and relative budgets compare policies on
    it whatever the images' size."""
    row = dict(re.findall(r"(ic|oc|k|g)([0-9x]+)", key))
    ours = dict(re.findall(r"(ic|oc|k|g)([0-9x]+)", spec.shape_key))
    skip = {"ic"} if stem else set()
    if spec.op == "linear":
        skip.add("oc")
    return key.split(":")[0] == spec.op and all(row[f] == ours[f] for f in row if f not in skip)


class HaqMobileNetV2(CostModel):
    """Table-only target for the built-in MobileNetV2s: layer i of their trace = row i."""

    name = "haq-mobilenetv2"
    description = (
        "HAQ's released MobileNetV2 latency table (mit-han-lab/haq, MIT licence), batch 16, "
        "relative units, latency only; table-only target for the built-in mobilenet-v2 and fashion-mobilenetv2"
    )
    units = {"latency": "relative units", "energy": "n/a"}
    batch = 16
    has_float = False

    def __init__(self) -> None:
        super().__init__()
        self.array = load_haq_array().astype(np.float64)

    @cached_property
    def layer_shapes(self) -> list[tuple[str, str]]:
        """(name, shape_key) of the built-in mobilenet-v2's 53 layers in trace order."""
        return load_haq_layers()

    def layer_index(self, spec: LayerSpec) -> int:
        """Row of ``spec``: by name and shape; else by name and channel structure (the same
        MobileNetV2 at another input size, such as ``fashion-mobilenetv2``); else by a shape
        whose rows all agree."""
        shapes = self.layer_shapes
        for i, (name, key) in enumerate(shapes):
            if name == spec.name and key == spec.shape_key:
                return i
        for i, (name, key) in enumerate(shapes):
            if name == spec.name and same_structure(key, spec, stem=i == 0):
                return i
        rows = [i for i, (_, key) in enumerate(shapes) if key == spec.shape_key]
        if rows and all(np.array_equal(self.array[rows[0]], self.array[r]) for r in rows):
            return rows[0]
        raise TableError(
            f"target {self.name!r} has no row for layer {spec.name!r} with shape {spec.shape_key}: "
            f"it only covers MobileNetV2 (the built-in {MODEL} and {ADAPTED_MODEL}, batch 16)"
        )

    def _grid(self, spec: LayerSpec, w_bits: np.ndarray, a_bits: np.ndarray):
        row = self.array[self.layer_index(spec)]
        w, a = np.broadcast_arrays(np.asarray(w_bits), np.asarray(a_bits))
        ok = (w >= 1) & (w <= MAX_TABLE_BITS) & (a >= 1) & (a <= MAX_TABLE_BITS)
        wi = np.clip(w, 1, MAX_TABLE_BITS) - 1
        ai = np.clip(a, 1, MAX_TABLE_BITS) - 1
        lat = np.where(ok, row[wi, ai], np.nan)
        return lat, np.full(lat.shape, np.nan), np.full(lat.shape, 2, dtype=np.int8)

    def _cannot_cost(self, what: str) -> str:
        return f"target {self.name!r} covers 1..8 bits only, not {what}"
