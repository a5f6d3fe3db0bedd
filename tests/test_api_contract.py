"""The API's error answers over real HTTP: JSON bodies that say what to send, never a 500."""

from __future__ import annotations

import pytest

from tests.service import running_server

SPEC = {"model": "digits-cnn", "target": "bismo-edge", "objective": "latency", "budget": {"relative": 0.5}, "agent": "random", "episodes": 3, "seed": 0}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # no worker: jobs stay queued, which is all these tests need
    with running_server(tmp_path_factory.mktemp("contract"), workers=0) as srv:
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
