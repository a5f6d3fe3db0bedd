"""What a worker cannot run is refused at submit, over real HTTP: a 422 naming the field, nothing stored.

Non-finite numbers, NUL characters, booleans and strings for integers, integers out of
range, the server's own limits (``HWSEARCH_MAX_*``), hardware tables whose costs are zero
or overflow. On a SQLite server with one worker (the largest seed runs to the end), and
on PostgreSQL where NUL used to be a 500 (when HWSEARCH_TEST_DATABASE_URL is set).
The validators themselves are tested in ``tests/test_strict_spec.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest
import torch

from tests.service import Server, create_key, fresh_postgres_db, running_server, wait_for

PG = os.environ.get("HWSEARCH_TEST_DATABASE_URL")
ROOT = Path(__file__).resolve().parents[1]
TABLE = (ROOT / "latency_tables" / "data" / "cpu-onnxruntime__digits-cnn.csv").read_text()
FIRST_ROW = next(i for i, line in enumerate(TABLE.splitlines(), 1) if not line.startswith(("#", "shape")))
SPEC = {"model": "digits-cnn", "target": "bismo-edge", "objective": "latency", "budget": {"relative": 0.5}, "agent": "random", "episodes": 2, "seed": 0}
LIMITS = {"HWSEARCH_MAX_EPISODES": "20", "HWSEARCH_MAX_FINETUNE_STEPS": "50", "HWSEARCH_MAX_ROBUST_SAMPLES": "100", "HWSEARCH_MAX_ROBUST_STEPS": "5"}
ROBUST = {"attack": "pgd", "eps": 0.1, "steps": 2, "samples": 16}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("strict"), workers=1, **LIMITS) as srv:
        yield srv


def counts(client: httpx.Client) -> tuple[int, int, int, int]:
    """Jobs, uploaded tables, models and data sets the key has: a refusal changes none."""
    return (
        client.get("/jobs").json()["total"],
        sum(not t["builtin"] for t in client.get("/hardware").json()),
        sum(not m["builtin"] for m in client.get("/models").json()),
        len(client.get("/datasets").json()),
    )


def post_json(client: httpx.Client, body: dict) -> httpx.Response:
    """``body`` as JSON with NaN and Infinity spelled as Python's json writes them (clients do send them)."""
    return client.post("/jobs", content=json.dumps(body).encode(), headers={"content-type": "application/json"})


def assert_refused(client: httpx.Client, response: httpx.Response, field: str, before: tuple, *words: str) -> str:
    assert response.status_code == 422, response.text
    message = response.json()["message"]
    assert message.startswith(f"{field}:"), message
    for word in words:
        assert word in message, message
    assert counts(client) == before
    return message


def table_with(latency: str) -> str:
    out = []
    for line in TABLE.splitlines():
        if line.startswith(("#", "shape")):
            out.append(line)
        else:
            cells = line.split(",")
            cells[3] = latency
            out.append(",".join(cells))
    return "\n".join(out) + "\n"


def multipart(path: str, filename: bytes, content: bytes, **fields: bytes) -> tuple[str, bytes, dict]:
    """A multipart upload built by hand: httpx escapes control characters in a file's name."""
    boundary = b"strict-input-boundary"
    body = b""
    for name, value in fields.items():
        body += b"--" + boundary + b'\r\nContent-Disposition: form-data; name="' + name.encode() + b'"\r\n\r\n' + value + b"\r\n"
    body += (b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="' + filename + b'"\r\n'
             b"Content-Type: application/octet-stream\r\n\r\n" + content + b"\r\n--" + boundary + b"--\r\n")
    return path, body, {"content-type": f"multipart/form-data; boundary={boundary.decode()}"}


# ---- numbers -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"budget": {"relative": float("nan")}}, "budget.relative"),
        ({"budget": {"relative": float("inf")}}, "budget.relative"),
        ({"budget": {"absolute": float("inf")}}, "budget.absolute"),
        ({"budget": {"absolute": -float("inf")}}, "budget.absolute"),
        ({"robust": {**ROBUST, "eps": float("nan")}}, "robust.eps"),
        ({"robust": {**ROBUST, "weight": float("inf")}}, "robust.weight"),
        ({"robust": {**ROBUST, "beta": float("nan")}}, "robust.beta"),
        ({"robust": {**ROBUST, "step_size": float("inf")}}, "robust.step_size"),
        ({"robust": {**ROBUST, "min_accuracy": float("nan")}}, "robust.min_accuracy"),
        ({"objective": {"latency": float("inf")}}, "objective"),
        ({"objective": "latency:inf"}, "objective"),
        ({"objective": "latency:nan,energy:1"}, "objective"),
    ],
)
def test_non_finite_numbers_are_refused_naming_the_field(alice, change, field):
    before = counts(alice)
    message = assert_refused(alice, post_json(alice, {**SPEC, **change}), field, before)
    assert "finite" in message or "must be > 0" in message, message


@pytest.mark.parametrize(
    ("change", "field", "word"),
    [
        ({"episodes": True}, "episodes", "valid integer"),
        ({"seed": False}, "seed", "valid integer"),
        ({"min_bits": True}, "min_bits", "valid integer"),
        ({"confirm_top": True}, "confirm_top", "valid integer"),
        ({"eval_samples": True}, "eval_samples", "valid integer"),
        ({"finetune_steps": True}, "finetune_steps", "valid integer"),
        ({"robust": {**ROBUST, "steps": True}}, "robust.steps", "valid integer"),
        ({"robust": {**ROBUST, "samples": True}}, "robust.samples", "valid integer"),
        ({"budget": {"relative": True}}, "budget.relative", "valid number"),
        ({"episodes": "5"}, "episodes", "valid integer"),
        ({"episodes": 2.5}, "episodes", "integer"),
        ({"seed": 2**64}, "seed", "4294967295"),
        ({"seed": 2**32}, "seed", "4294967295"),
        ({"seed": -1}, "seed", "greater than or equal to 0"),
        ({"finetune_steps": 10**12}, "finetune_steps", "less than or equal"),
        ({"budget": {"relative": 1e308}}, "budget.relative", "less than or equal"),
        ({"budget": {"absolute": 1e300}}, "budget.absolute", "less than or equal"),
    ],
)
def test_integers_are_integers_in_range(alice, change, field, word):
    before = counts(alice)
    assert_refused(alice, post_json(alice, {**SPEC, **change}), field, before, word)


def test_the_largest_seed_runs_to_the_end(alice):
    response = alice.post("/jobs", json={**SPEC, "seed": 2**32 - 1})
    assert response.status_code == 201, response.text
    done = wait_for(alice, response.json()["id"], ("succeeded",))
    assert done["spec"]["seed"] == 2**32 - 1 and done["progress"]["best_latency_ms"] > 0


# ---- the server's own limits ----------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "field", "limit", "setting"),
    [
        ({"episodes": 21}, "episodes", 20, "HWSEARCH_MAX_EPISODES"),
        ({"finetune_steps": 51}, "finetune_steps", 50, "HWSEARCH_MAX_FINETUNE_STEPS"),
        ({"robust": {**ROBUST, "samples": 101}}, "robust.samples", 100, "HWSEARCH_MAX_ROBUST_SAMPLES"),
        ({"robust": {**ROBUST, "steps": 6}}, "robust.steps", 5, "HWSEARCH_MAX_ROBUST_STEPS"),
    ],
)
def test_the_servers_limits_name_the_field_the_limit_and_the_setting(alice, change, field, limit, setting):
    before = counts(alice)
    assert_refused(alice, alice.post("/jobs", json={**SPEC, **change}), field, before, f"at most {limit}", setting)


def test_a_job_at_the_servers_limits_is_accepted(alice):
    response = alice.post("/jobs", json={**SPEC, "episodes": 20, "finetune_steps": 50, "robust": {**ROBUST, "samples": 100, "steps": 5}})
    assert response.status_code == 201, response.text
    alice.post(f"/jobs/{response.json()['id']}/cancel")


# ---- NUL characters -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"model": "digits\x00cnn"}, "model"),
        ({"target": "bismo\x00edge"}, "target"),
        ({"agent": "random\x00"}, "agent"),
        ({"objective": "latency\x00"}, "objective"),
        ({"data": "digits\x00"}, "data"),
        ({"weights": "\x00"}, "weights"),
        ({"weight_bits": "2-8\x00"}, "weight_bits"),
        ({"robust": {**ROBUST, "attack": "pgd\x00"}}, "robust.attack"),
    ],
)
def test_nul_in_a_spec_is_refused_naming_the_field(alice, change, field):
    before = counts(alice)
    assert_refused(alice, alice.post("/jobs", json={**SPEC, **change}), field, before)


def test_nul_in_a_table_or_its_name_is_refused(alice):
    before = counts(alice)
    response = alice.post("/hardware", files={"file": ("t.csv", TABLE)}, data={"name": "my\x00board"})
    assert_refused(alice, response, "name", before, "NUL")
    bad = TABLE.replace("# target: cpu-onnxruntime", "# target: cpu\x00onnxruntime")
    response = alice.post("/hardware", files={"file": ("t.csv", bad)})
    assert_refused(alice, response, "file", before, "line 2", "NUL")


@pytest.mark.parametrize("path", ["/models", "/datasets"])
def test_nul_in_an_uploads_file_name_or_label_is_refused(alice, path):
    before = counts(alice)
    url, body, headers = multipart(path, b"net\x00.onnx", b"not read")
    assert_refused(alice, alice.post(url, content=body, headers=headers), "file", before, "name", "NUL")
    url, body, headers = multipart(path, b"net.onnx", b"not read", name=b"my\x00net")
    assert_refused(alice, alice.post(url, content=body, headers=headers), "name", before, "NUL")


@pytest.mark.parametrize(("param", "value"), [("model", "digits\x00cnn"), ("target", "\x00"), ("objective", "latency\x00"),
                                              ("min_latency_ms", "inf"), ("max_accuracy", "nan")])
def test_policy_filters_refuse_nul_and_non_finite_numbers(alice, param, value):
    response = alice.get("/policies", params={param: value})
    assert response.status_code == 422, response.text
    assert response.json()["message"].startswith(f"{param}:"), response.text


# ---- hardware tables ------------------------------------------------------------------
@pytest.mark.parametrize(("latency", "words"), [("0", (f"line {FIRST_ROW}", "column 'latency'", "a cost of 0")),
                                                ("1e308", (f"line {FIRST_ROW}", "above the limit of 1e+09 ms"))])
def test_tables_of_zero_or_overflowing_costs_are_refused_at_upload(alice, latency, words):
    before = counts(alice)
    response = alice.post("/hardware", files={"file": ("t.csv", table_with(latency))}, data={"name": "bad"})
    assert_refused(alice, response, "file", before, *words)


@pytest.mark.parametrize(("latency", "words"), [("0", ("a cost of 0",)), ("1e308", ("above the limit",))])
def test_a_table_stored_before_the_check_is_refused_at_submit(server, alice, latency, words):
    """A table the upload check let through before it was stricter: listed, never run."""
    from api.db import Database
    from api.models import ApiKey, HardwareTable

    db = Database(server.env["HWSEARCH_DATABASE_URL"])
    with db.sessions() as session:
        owner = session.query(ApiKey).filter_by(name="alice").one()
        row = HardwareTable(owner_id=owner.id, name="old", content=table_with(latency))
        session.add(row)
        session.commit()
        name = f"upload:{row.id}"
    db.engine.dispose()
    before = counts(alice)
    listed = {t["name"]: t for t in alice.get("/hardware").json()}
    assert "cannot be used" in listed[name]["description"]
    assert alice.get(f"/hardware/{name}").status_code == 200
    response = alice.post("/jobs", json={**SPEC, "target": name, "budget": {"relative": 1.0}})
    assert_refused(alice, response, "target", before, f"uploaded table {name} cannot be used", *words)


def test_a_valid_table_still_runs(alice):
    response = alice.post("/hardware", files={"file": ("t.csv", TABLE)}, data={"name": "good"})
    assert response.status_code == 201, response.text
    job = alice.post("/jobs", json={**SPEC, "target": response.json()["name"], "budget": {"relative": 1.0}})
    assert job.status_code == 201, job.text
    done = wait_for(alice, job.json()["id"], ("succeeded",))
    assert done["progress"]["best_latency_ms"] > 0


# ---- PostgreSQL: NUL and infinities used to be 500s ----------------------------------------
def valid_onnx() -> bytes:
    import torch

    from tests.fixtures.user_models import UserCNN, onnx_bytes

    torch.manual_seed(0)
    return onnx_bytes(UserCNN())


def valid_npz() -> bytes:
    import io

    import numpy as np

    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    np.savez(buffer, x=rng.integers(0, 256, (400, 1, 28, 28), dtype=np.uint8), y=rng.integers(0, 10, 400))
    return buffer.getvalue()


@pytest.fixture(scope="module")
def pg_client(tmp_path_factory):
    if not PG:
        pytest.skip("HWSEARCH_TEST_DATABASE_URL not set")
    url, drop = fresh_postgres_db(PG)
    srv = Server(tmp_path_factory.mktemp("strict-pg"), url, workers=0).start()
    try:
        with srv.client(create_key(srv.env, "pg")) as client:
            assert client.get("/healthz").json()["database"] == "postgresql"
            yield client
    finally:
        srv.stop()
        drop()


def test_postgres_refuses_nul_and_infinity_with_a_422(pg_client):
    client = pg_client
    before = counts(client)
    assert_refused(client, client.post("/hardware", files={"file": ("t.csv", TABLE)}, data={"name": "my\x00board"}), "name", before)
    bad = TABLE.replace("# target: cpu-onnxruntime", "# target: cpu\x00onnxruntime")
    assert_refused(client, client.post("/hardware", files={"file": ("t.csv", bad)}), "file", before, "NUL")
    for path, content in (("/models", valid_onnx()), ("/datasets", valid_npz())):  # files that pass their check
        url, body, headers = multipart(path, b"mine\x00.bin", content)
        assert_refused(client, client.post(url, content=body, headers=headers), "file", before, "NUL")
    assert_refused(client, client.post("/jobs", json={**SPEC, "model": "digits\x00cnn"}), "model", before, "NUL")
    assert_refused(client, post_json(client, {**SPEC, "budget": {"relative": float("inf")}}), "budget.relative", before, "finite")
    assert_refused(client, post_json(client, {**SPEC, "seed": 2**64}), "seed", before)
    response = client.get("/policies", params={"target": "bismo\x00edge"})
    assert response.status_code == 422 and response.json()["message"].startswith("target:"), response.text
    # and a clean table and job are stored as ever
    table = client.post("/hardware", files={"file": ("t.csv", TABLE)}, data={"name": "board"})
    assert table.status_code == 201, table.text
    assert client.post("/jobs", json={**SPEC, "target": table.json()["name"], "budget": {"relative": 1.0}}).status_code == 201
    assert counts(client)[:2] == (before[0] + 1, before[1] + 1)


# ---- the limits table itself ----------------------------------------------------------------
def test_every_limit_names_a_spec_field_and_a_setting():
    """A misspelt field in ``JOB_LIMITS`` would never be checked: each names a real one."""
    from api.limits import JOB_LIMITS
    from api.settings import Settings
    from hwsearch.core.robust_spec import RobustSpec
    from hwsearch.search import SearchSpec

    blocks = {"": SearchSpec, "robust": RobustSpec}
    for field, setting in JOB_LIMITS:
        block, _, name = field.rpartition(".")
        assert name in blocks[block].model_fields, field
        assert setting in Settings.model_fields, setting


def test_check_job_limits_in_python():
    from fastapi.exceptions import RequestValidationError

    from api.limits import check_job_limits
    from api.settings import Settings

    settings = Settings(max_episodes=20, max_finetune_steps=50, max_robust_samples=100, max_robust_steps=5)
    check_job_limits({"episodes": 20, "finetune_steps": 50, "robust": None}, settings)
    check_job_limits({"episodes": 1, "finetune_steps": 0, "robust": {"samples": 100, "steps": 5}}, settings)
    with pytest.raises(RequestValidationError) as info:
        check_job_limits({"episodes": 1, "finetune_steps": 0, "robust": {"samples": 100, "steps": 6}}, settings)
    (error,) = info.value.errors()
    assert error["loc"] == ("body", "robust", "steps") and "at most 5" in error["msg"], error


# ---- device -------------------------------------------------------------------------------
@pytest.mark.parametrize("device", ["gpu", "cuda:x", "cuda:123"] + ([] if torch.cuda.is_available() else ["cuda", "cuda:0"]))
def test_a_device_this_server_cannot_use_is_refused_naming_the_field(alice, device):
    before = counts(alice)
    assert_refused(alice, alice.post("/jobs", json={**SPEC, "device": device}), "device", before)


@pytest.mark.parametrize(
    ("options", "field"), [({"bogus": 1}, "agent_options"), ({"sigma": "wide"}, "agent_options"), ({"noise_decisions": -2}, "agent_options")]
)
def test_agent_options_the_agent_would_refuse_are_refused_at_submit(alice, options, field):
    before = counts(alice)
    assert_refused(alice, alice.post("/jobs", json={**SPEC, "agent": "ddpg", "agent_options": options}), field, before)
