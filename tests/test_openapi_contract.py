"""The OpenAPI document is a contract, checked over real HTTP against a running server.

Every error answer a route gives is provoked and must be declared for that operation with
a schema its body validates against; every error answer declared must be provoked here
(429, declared wherever a key is needed, is provoked in tests/test_service_rate_limit.py).
Every example posts successfully, and every field of every schema is described.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import jsonschema
import pytest

from tests.service import running_server
from tests.test_remote_client import splits

LIMITS = {"HWSEARCH_MAX_UPLOAD_BYTES": 1_000_000, "HWSEARCH_MAX_MODEL_BYTES": 1_000_000, "HWSEARCH_MAX_DATASET_BYTES": 1_000_000}
BIG = 1_200_000  # bytes: over every limit above and over max_body_bytes (1 MB)
MISSING = 2_000_000  # an id nothing has
SPEC = {"model": "digits-cnn", "target": "bismo-edge", "budget": {"relative": 0.5}, "agent": "random", "episodes": 3}
V1 = "/api/v1"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # no worker: jobs stay queued, so a job naming an upload keeps it in use
    limits = {name: str(value) for name, value in LIMITS.items()}
    with running_server(tmp_path_factory.mktemp("openapi"), workers=0, **limits) as srv:
        yield srv


@pytest.fixture(scope="module")
def doc(server) -> dict[str, Any]:
    return httpx.get(server.url.removesuffix(V1) + "/openapi.json").json()




@pytest.fixture(scope="module")
def owned(alice) -> dict[str, int]:
    """Alice's resources in the states the conflicts need: a cancelled job, and an uploaded
    model and data set that a queued job uses."""
    import torch

    from tests.fixtures.user_models import UserCNN, onnx_bytes

    torch.manual_seed(0)
    model = alice.post("/models", files={"file": ("net.onnx", onnx_bytes(UserCNN()))})
    assert model.status_code == 201, model.text
    data = alice.post("/datasets", files={"file": ("d.npz", splits())})
    assert data.status_code == 201, data.text
    user_job = alice.post("/jobs", json={**SPEC, "model": model.json()["ref"], "data": data.json()["ref"], "budget": {"relative": 0.6}})
    assert user_job.status_code == 201, user_job.text
    job = alice.post("/jobs", json=SPEC).json()
    assert alice.post(f"/jobs/{job['id']}/cancel").json()["state"] == "cancelled"
    return {"job": job["id"], "model": model.json()["id"], "dataset": data.json()["id"]}


MEASURE = {"model": "digits-cnn", "queue": "box"}


def table(owned: dict[str, int]) -> dict[tuple[str, str, int], Callable[[httpx.Client, httpx.Client], httpx.Response]]:
    """(method, path as the document names it, status) -> how to get that answer, given a
    client with a key and one without."""
    job, model, dataset = owned["job"], owned["model"], owned["dataset"]
    too_many_parts = [("file", ("t.csv", b"x"))] * 1001  # over the form parser's 1000 files
    junk = {"file": ("big.bin", b"\0" * BIG)}
    cases: dict[tuple[str, str, int], Callable[[httpx.Client, httpx.Client], httpx.Response]] = {
        ("post", "/jobs", 400): lambda c, _: c.post("/jobs", content=b"[" * 100_000, headers={"content-type": "application/json"}),
        ("post", "/jobs", 401): lambda _, anon: anon.post("/jobs", json=SPEC),
        ("post", "/jobs", 413): lambda c, _: c.post("/jobs", json={**SPEC, "model": "x" * BIG}),
        ("post", "/jobs", 422): lambda c, _: c.post("/jobs", json={**SPEC, "budget": 0.5}),
        ("get", "/jobs", 401): lambda _, anon: anon.get("/jobs"),
        ("post", "/hardware/measure", 400): lambda c, _: c.post("/hardware/measure", content=b"[" * 100_000, headers={"content-type": "application/json"}),
        ("post", "/hardware/measure", 401): lambda _, anon: anon.post("/hardware/measure", json=MEASURE),
        ("post", "/hardware/measure", 413): lambda c, _: c.post("/hardware/measure", json={**MEASURE, "model": "x" * BIG}),
        ("post", "/hardware/measure", 422): lambda c, _: c.post("/hardware/measure", json={**MEASURE, "queue": "a b"}),
        ("get", "/jobs", 422): lambda c, _: c.get("/jobs", params={"limit": 0}),
        ("post", "/jobs/{job_id}/cancel", 409): lambda c, _: c.post(f"/jobs/{job}/cancel"),
        ("get", "/policies", 401): lambda _, anon: anon.get("/policies"),
        ("get", "/policies", 422): lambda c, _: c.get("/policies", params={"sort": "bogus"}),
        ("get", "/hardware", 401): lambda _, anon: anon.get("/hardware"),
        ("get", "/hardware/{name}", 422): lambda c, _: c.get("/hardware/" + "t" * 201),
        ("get", "/models", 401): lambda _, anon: anon.get("/models"),
        ("get", "/models/{ref}", 422): lambda c, _: c.get("/models/" + "m" * 201),
        ("delete", "/models/{model_id}", 409): lambda c, _: c.delete(f"/models/{model}"),
        ("get", "/datasets", 401): lambda _, anon: anon.get("/datasets"),
        ("get", "/datasets/{ref}", 422): lambda c, _: c.get("/datasets/" + "d" * 201),
        ("delete", "/datasets/{dataset_id}", 409): lambda c, _: c.delete(f"/datasets/{dataset}"),
        ("post", "/policies/{policy_id}/verify", 400): lambda c, _: c.post(
            f"/policies/{MISSING}/verify", content=b"[" * 100_000, headers={"content-type": "application/json"}),
        ("post", "/policies/{policy_id}/verify", 401): lambda _, anon: anon.post("/policies/1/verify", json={}),
        ("post", "/policies/{policy_id}/verify", 404): lambda c, _: c.post(f"/policies/{MISSING}/verify", json={}),
        ("post", "/policies/{policy_id}/verify", 413): lambda c, _: c.post(f"/policies/{MISSING}/verify", json={"queue": "q" * BIG}),
        ("post", "/policies/{policy_id}/verify", 422): lambda c, _: c.post(f"/policies/{MISSING}/verify", json={"queue": "a b"}),
    }
    for route in ("/hardware", "/models", "/datasets"):  # the uploads
        cases[("post", route, 400)] = lambda c, _, r=route: c.post(r, files=too_many_parts)
        cases[("post", route, 401)] = lambda _, anon, r=route: anon.post(r, files={"file": ("f", b"x")})
        cases[("post", route, 413)] = lambda c, _, r=route: c.post(r, files=junk)
        cases[("post", route, 422)] = lambda c, _, r=route: c.post(r, data={"name": "no file"})
    by_id = {  # routes on one thing: 401 without a key, 404 for none, 422 for an id that cannot be one
        ("get", "/jobs/{job_id}"): "/jobs/{}",
        ("post", "/jobs/{job_id}/cancel"): "/jobs/{}/cancel",
        ("get", "/jobs/{job_id}/events"): "/jobs/{}/events",
        ("get", "/policies/{policy_id}"): "/policies/{}",
        ("get", "/policies/{policy_id}/export"): "/policies/{}/export",
        ("get", "/web/jobs/{job_id}/baselines"): "/web/jobs/{}/baselines",
        ("delete", "/models/{model_id}"): "/models/{}",
        ("delete", "/datasets/{dataset_id}"): "/datasets/{}",
        ("get", "/hardware/{name}"): "/hardware/{}",
        ("get", "/models/{ref}"): "/models/{}",
        ("get", "/datasets/{ref}"): "/datasets/{}",
    }
    for (method, path), url in by_id.items():
        by_name = "{name}" in path or "{ref}" in path
        cases[(method, path, 401)] = lambda _, anon, m=method, u=url: anon.request(m, u.format(1))
        cases[(method, path, 404)] = lambda c, _, m=method, u=url.format(f"upload:{MISSING}" if by_name else MISSING): c.request(m, u)
        if not by_name:
            cases[(method, path, 422)] = lambda c, _, m=method, u=url: c.request(m, u.format(0))
    return cases


@pytest.fixture(scope="module")
def provoked(server, alice, owned) -> dict[tuple[str, str, int], httpx.Response]:
    with server.client(None) as anon:
        return {case: provoke(alice, anon) for case, provoke in table(owned).items()}


def operations(doc: dict[str, Any]):
    for path, ops in doc["paths"].items():
        for method, operation in ops.items():
            yield method, path.removeprefix(V1), operation


def declared_schema(doc: dict[str, Any], method: str, path: str, status: int, content_type: str) -> dict[str, Any]:
    answer = doc["paths"][V1 + path][method]["responses"].get(str(status))
    assert answer is not None, f"{method.upper()} {path} answers {status}, which its document does not declare"
    media = content_type.split(";")[0].strip()
    assert media in answer.get("content", {}), f"{method.upper()} {path} {status}: sent as {media}, declared {list(answer.get('content', {}))}"
    # the document's own components resolve the schema's $refs
    return {**answer["content"][media]["schema"], "components": doc["components"]}


def test_every_error_answer_is_declared_and_its_body_matches(doc, provoked):
    for (method, path, status), response in provoked.items():
        assert response.status_code == status, f"{method.upper()} {path}: expected {status}, got {response.status_code}: {response.text[:300]}"
        schema = declared_schema(doc, method, path, status, response.headers["content-type"])
        jsonschema.validate(response.json(), schema, cls=jsonschema.Draft202012Validator)
        assert response.json()["message"], (method, path, status)


def test_every_declared_error_answer_is_provoked(doc, owned):
    cases = set(table(owned))
    unprovoked = [
        (method, path, int(code))
        for method, path, operation in operations(doc)
        for code in operation["responses"]
        if code.startswith("4") and code != "429" and (method, path, int(code)) not in cases
    ]
    assert not unprovoked, f"declared but never provoked here: {unprovoked}"


def test_no_operation_declares_fastapis_validation_body(doc):
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    assert "HTTPValidationError" not in str(doc["paths"])


def examples(doc: dict[str, Any]):
    """(method, path, example) for every example of every JSON request body in the document."""
    for method, path, operation in operations(doc):
        media = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if media is None:
            continue
        found = list(media.get("schema", {}).get("examples", []))
        found += [e["value"] for e in media.get("examples", {}).values()]
        found += [media["example"]] if "example" in media else []
        yield from ((method, path, example) for example in found)


def test_every_example_in_the_document_is_accepted(doc, alice):
    found = list(examples(doc))
    assert [(m, p) for m, p, _ in found] == [("post", "/jobs")]  # the one JSON body; uploads are files
    for method, path, example in found:
        response = alice.request(method, path, json=example)
        assert response.status_code in (200, 201), f"{method.upper()} {path} refuses its own example: {response.text}"
        schema = declared_schema(doc, method, path, response.status_code, response.headers["content-type"])
        jsonschema.validate(response.json(), schema, cls=jsonschema.Draft202012Validator)


def test_every_field_of_every_schema_is_described(doc):
    missing = [
        f"{name}.{field}"
        for name, schema in doc["components"]["schemas"].items()
        for field, prop in (schema.get("properties") or {}).items()
        if not prop.get("description")
    ]
    assert not missing, f"fields without a description: {missing}"
