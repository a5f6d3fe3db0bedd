"""The API's error answers over real HTTP: JSON bodies that say what to send, never a 500."""

from __future__ import annotations

import pytest

from tests.service import running_server

MODEL_LIMIT = 2_000_000

SPEC = {"model": "digits-cnn", "target": "bismo-edge", "objective": "latency", "budget": {"relative": 0.5}, "agent": "random", "episodes": 3, "seed": 0}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # no worker: jobs stay queued, which is all these tests need
    with running_server(tmp_path_factory.mktemp("errors"), workers=0, HWSEARCH_MAX_MODEL_BYTES=str(MODEL_LIMIT)) as srv:
        yield srv


def post_raw(client, path: str, body: bytes):
    return client.post(path, content=body, headers={"content-type": "application/json"})


def test_a_number_for_budget_says_what_to_send(alice):
    response = alice.post("/jobs", json={**SPEC, "budget": 0.5})
    assert response.status_code == 422
    message = response.json()["message"]
    assert message.startswith("budget: expected an object such as {\"relative\": 0.5}"), message
    assert '{"absolute": 2.0}' in message and "got the number 0.5" in message


def test_a_non_object_body_says_so(alice):
    response = alice.post("/jobs", json=[SPEC])
    assert response.status_code == 422
    assert response.json()["message"] == "body: expected a JSON object; got an array"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"model": "a" "b"}', "body: invalid JSON: Expecting ',' delimiter (line 1, column 15)"),
        (b'{\n  "model": "digits-cnn",\n  "target": }', "body: invalid JSON: Expecting value (line 3, column 13)"),
        (b"{not json", "body: invalid JSON: Expecting property name enclosed in double quotes (line 1, column 2)"),
    ],
)
def test_malformed_json_names_the_parsers_message_and_position(alice, body, message):
    response = post_raw(alice, "/jobs", body)
    assert response.status_code == 422
    assert response.json()["message"] == message


@pytest.mark.parametrize(
    "body",
    [
        b'{"model": "digits-cnn", "target": "bismo-edge", "budget": NaN}',
        b'{"model": "digits-cnn", "target": "bismo-edge", "budget": {"relative": NaN}}',
        b'{"model": "digits-cnn", "target": "bismo-edge", "budget": {"relative": -Infinity}}',
        b'{"model": "digits-cnn", "target": "bismo-edge", "budget": {"relative": 0.5}, "objective": {"latency": NaN}}',
    ],
)
def test_non_finite_numbers_are_a_422_not_a_500(alice, body):
    response = post_raw(alice, "/jobs", body)
    assert response.status_code == 422, response.text
    text = response.text
    assert "NaN" in text or "Infinity" in text  # the input is echoed, spelled as a string
    assert response.json()["message"].startswith(("budget", "objective"))


def test_an_oversized_json_body_is_a_json_413_with_sizes(alice):
    body = b'{"model": "' + b"x" * 1_500_000 + b'"}'
    response = post_raw(alice, "/jobs", body)
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {
        "message": f"request body is {len(body)} bytes; at most 1000000 accepted",
        "detail": {"size": len(body), "limit": 1_000_000},
    }


def test_a_body_without_a_length_is_counted_as_it_arrives(alice):
    def chunks():
        for _ in range(30):
            yield b"x" * 100_000

    response = alice.post("/jobs", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413
    message = response.json()["message"]
    assert message.startswith("request body is at least ") and message.endswith("bytes; at most 1000000 accepted"), message


@pytest.mark.parametrize(
    ("path", "size", "note"),
    [("/hardware", 6_000_000, "table files up to 5000000 bytes"), ("/models", MODEL_LIMIT + 100_000, f"model files up to {MODEL_LIMIT} bytes")],
)
def test_oversized_uploads_are_json_413s_naming_the_file_limit(alice, path, size, note):
    response = alice.post(path, files={"file": ("big.bin", b"\0" * size)})
    assert response.status_code == 413
    body = response.json()
    assert body["message"].startswith("request body is ") and body["message"].endswith(f"accepted ({note})"), body
    assert body["detail"]["size"] > size


def test_a_file_just_over_its_limit_is_refused_by_the_upload_check(alice):
    response = alice.post("/models", files={"file": ("net.onnx", b"\0" * (MODEL_LIMIT + 1))})
    assert response.status_code == 413
    assert response.json()["message"] == f"file: larger than the limit of {MODEL_LIMIT} bytes"
