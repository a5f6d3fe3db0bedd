"""format=policy and format=csv, the shipped JSON Schema, and format-name errors."""

from __future__ import annotations

import copy
import csv
import io
import json
import math

import jsonschema
import pytest

from hwsearch.export import FORMATS, ExportError, export_policy, policy_schema, validate_policy_document
from hwsearch.core.policy import Policy
from hwsearch.zoo import build_model, example_input
from tests.export_fixtures import make_document, mixed_policy


@pytest.fixture(scope="module")
def doc() -> dict:
    from hwsearch.core.graph import layer_names, trace

    model = build_model("digits-cnn", trained=False)
    names = layer_names(trace(model, example_input("digits-cnn")))
    return make_document("digits-cnn", model, example_input("digits-cnn"), mixed_policy(names))


def test_format_names_are_the_contract():
    assert list(FORMATS) == ["policy", "onnx", "encodings", "weights", "csv"]
    assert all(isinstance(media, str) and "/" in media and ext for media, ext in FORMATS.values())


def test_shipped_schema_is_valid_draft_2020_12():
    schema = policy_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"].endswith("2020-12/schema")
    assert schema["properties"]["schema"]["const"] == "hwsearch.policy/v1"


def test_policy_export_round_trips_and_validates_with_jsonschema(doc):
    artifact = export_policy(doc, "policy")
    assert artifact.media_type == "application/json"
    assert artifact.filename == "digits-cnn-bitfusion.json"
    loaded = json.loads(artifact.content)
    assert loaded == doc
    jsonschema.validate(loaded, policy_schema(), cls=jsonschema.Draft202012Validator)
    assert Policy.from_dict({layer["name"]: layer for layer in loaded["layers"]}) == mixed_policy(
        [layer["name"] for layer in doc["layers"]]
    )


def test_policy_export_writes_nan_as_null(doc):
    bad = copy.deepcopy(doc)
    bad["totals"]["energy_mj"] = math.nan
    loaded = json.loads(export_policy(bad, "policy").content)
    assert loaded["totals"]["energy_mj"] is None


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("layers", 1, "weight_bits"), 9, "layers[1].weight_bits"),
        (("layers", 0, "op"), "conv3d", "layers[0].op"),
        (("schema",), "hwsearch.policy/v0", "schema"),
        (("accuracy",), 1.5, "accuracy"),
        (("spec", "budget"), {"relative": 0.5, "absolute": 2.0}, "spec.budget"),
        (("created",), "yesterday", "created"),
    ],
)
def test_invalid_documents_name_the_field(doc, path, value, field):
    bad = copy.deepcopy(doc)
    target = bad
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ValueError) as info:
        validate_policy_document(bad)
    assert str(info.value).startswith(field), str(info.value)
    with pytest.raises(ExportError, match=field.replace("[", r"\[").replace("]", r"\]")):
        export_policy(bad, "csv")


def test_missing_field_and_duplicate_layer_are_errors(doc):
    bad = copy.deepcopy(doc)
    del bad["totals"]
    with pytest.raises(ValueError, match="totals"):
        validate_policy_document(bad)
    dup = copy.deepcopy(doc)
    dup["layers"][1]["name"] = dup["layers"][0]["name"]
    with pytest.raises(ValueError, match=r"layers\[1\]\.name"):
        validate_policy_document(dup)


def test_unknown_format_lists_the_known_ones(doc):
    with pytest.raises(ExportError) as info:
        export_policy(doc, "tflite")
    assert isinstance(info.value, ValueError)
    for name in FORMATS:
        assert name in str(info.value)


def test_csv_has_one_row_per_layer(doc):
    doc = copy.deepcopy(doc)
    doc["layers"][0]["energy_mj"] = None
    artifact = export_policy(doc, "csv")
    assert artifact.media_type == "text/csv" and artifact.filename.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(artifact.content.decode("utf-8"))))
    assert [r["name"] for r in rows] == [layer["name"] for layer in doc["layers"]]
    for row, layer in zip(rows, doc["layers"]):
        assert int(row["weight_bits"]) == layer["weight_bits"]
        assert int(row["activation_bits"]) == layer["activation_bits"]
        assert float(row["latency_ms"]) == pytest.approx(layer["latency_ms"], rel=1e-12)
    assert rows[0]["energy_mj"] == ""


def test_user_model_names_make_safe_filenames(doc):
    doc = copy.deepcopy(doc)
    doc["model"] = "my_pkg.models:make_net"
    doc["target"] = "/tmp/tables/my board.csv"
    assert export_policy(doc, "csv").filename == "my_pkg.models_make_net-my_board.csv.csv"


def test_search_policy_file_validates_against_the_schema():
    """The search's own writer (hwsearch.policy_file) produces documents this schema accepts."""
    from hwsearch.core.records import LayerTotals
    from hwsearch.search import EvaluatedPolicy, SearchResult, build_costing, spec_from_dict
    from hwsearch.search.result import layer_infos

    spec = spec_from_dict({"model": "digits-mobilenet", "target": "bitfusion", "budget": {"relative": 1.0}, "agent": "random"})
    costing = build_costing(spec)
    policy = mixed_policy(costing.names)
    layers = tuple(LayerTotals(latency_ms=lat, energy_mj=en) for lat, en in costing.layer_costs(policy))
    best = EvaluatedPolicy(policy=policy, accuracy=0.9, latency_ms=1.0, energy_mj=1.0, size_mb=0.01, episode=3, layers=layers)
    int8 = EvaluatedPolicy(policy=Policy.uniform(costing.names, 8), accuracy=0.94, latency_ms=2.0, energy_mj=2.0, size_mb=0.02)
    result = SearchResult(
        spec=spec, best=best, pareto=[best], history=[], float_accuracy=0.95, baseline_int8=int8, evaluations=5,
        wall_time_s=1.0, budget=1.0, unit="ms", layers=layer_infos(costing.specs),
    )
    doc = json.loads(json.dumps(result.policy_document()))
    validate_policy_document(doc)
    assert json.loads(export_policy(doc, "policy").content)["layers"] == doc["layers"]
