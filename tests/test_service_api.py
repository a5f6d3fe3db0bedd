"""The service over real HTTP: a `hwsearch serve` process on a SQLite file with a local worker."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.service import Server, wait_for

SHORT_JOB = {"model": "digits-cnn", "target": "bismo-edge", "objective": "latency", "budget": {"relative": 0.5}, "agent": "random", "episodes": 6, "seed": 0}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("service")
    srv = Server(data_dir, workers=1).start()
    yield srv
    srv.stop()




@pytest.fixture(scope="module")
def finished_job(alice):
    job = alice.post("/jobs", json=SHORT_JOB)
    assert job.status_code == 201, job.text
    return wait_for(alice, job.json()["id"], ("succeeded",))


def test_health_is_public(server):
    answer = httpx.get(f"{server.url}/healthz")
    body = answer.json()
    assert answer.status_code == 200
    assert {k: body[k] for k in ("status", "database", "queue", "live_workers")} == {"status": "ok", "database": "sqlite", "queue": "local", "live_workers": 1}
    assert [w["kind"] for w in body["workers"]] == ["local"]  # the server's one worker, by its heartbeat


def test_no_key_or_bad_key_is_401(server):
    assert httpx.get(f"{server.url}/jobs").status_code == 401
    response = httpx.get(f"{server.url}/jobs", headers={"Authorization": "Bearer hws_nope"})
    assert response.status_code == 401 and "unknown API key" in response.json()["message"]


def test_submit_run_policy_export(alice, finished_job):
    assert finished_job["attempts"] == 1 and finished_job["progress"]["episode"] == 6
    assert len(finished_job["history"]) == 6
    policies = alice.get("/policies", params={"job": finished_job["id"], "kind": "best"}).json()
    assert policies["total"] == 1
    policy = alice.get(f"/policies/{finished_job['best_policy_id']}").json()
    assert [layer["name"] for layer in policy["layers"]] == ["1.0", "2.0", "4.0", "5.0", "8", "11"]
    assert all(2 <= layer["weight_bits"] <= 8 and layer["latency_ms"] > 0 for layer in policy["layers"])
    assert policy["latency_ms"] <= 0.5 * policy["baseline_int8"]["latency_ms"] + 1e-12
    assert abs(sum(layer["latency_ms"] for layer in policy["layers"]) - policy["totals"]["latency_ms"]) < 1e-9
    export = alice.get(f"/policies/{policy['id']}/export", params={"format": "policy"})
    assert export.status_code == 200, export.text
    assert export.headers["content-type"].startswith("application/json")
    assert 'filename="' in export.headers["content-disposition"]
    assert export.json()["schema"] == "hwsearch.policy/v1"


def test_fine_tuned_job_exports_its_fine_tuned_weights(alice):
    from hwsearch.evaluate import accuracy
    from hwsearch.export import rebuild_quantized_model
    from hwsearch.zoo import build_model, model_dataset

    job = alice.post("/jobs", json={**SHORT_JOB, "budget": {"relative": 0.25}, "agent": "uniform", "episodes": 2, "finetune_steps": 40})
    assert job.status_code == 201, job.text
    done = wait_for(alice, job.json()["id"], ("succeeded",))
    best = alice.get(f"/policies/{done['best_policy_id']}").json()["document"]
    record = best["finetune"]["weights"]
    assert record["file"] is None and len(record["sha256"]) == 64  # kept in the store, not in a file
    for item in alice.get("/policies", params={"job": done["id"], "kind": "pareto"}).json()["items"]:
        assert "finetune" not in alice.get(f"/policies/{item['id']}").json()["document"]  # the fine-tune was the best's
    exported = alice.get(f"/policies/{done['best_policy_id']}/export", params={"format": "weights"})
    assert exported.status_code == 200, exported.text
    rebuilt = rebuild_quantized_model(build_model("digits-cnn"), best, exported.content)
    assert accuracy(rebuilt, model_dataset("digits-cnn").val) == pytest.approx(best["finetune"]["accuracy_after"], abs=1e-9)


def test_export_unknown_format_lists_known(alice, finished_job):
    response = alice.get(f"/policies/{finished_job['best_policy_id']}/export", params={"format": "tflite"})
    assert response.status_code == 422
    assert "format" in response.json()["message"] and "onnx" in response.json()["message"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"model": "no-such-net"}, "model"),
        ({"model": "os:system"}, "model"),
        ({"target": "tpu-v9"}, "target"),
        ({"target": "/etc/passwd"}, "target"),
        ({"min_bits": 1}, "min_bits"),
        ({"max_bits": 9}, "max_bits"),
        ({"min_bits": 6, "max_bits": 4}, "min_bits"),
        ({"budget": {"relative": 0.001}}, "budget"),
        ({"budget": {"relative": -1}}, "budget.relative"),
        ({"budget": {"relative": 0.5, "absolute": 1.0}}, "budget"),
        ({"episodes": 10_000_000}, "episodes"),
        ({"episodes": 0}, "episodes"),
        ({"agent": "alphago"}, "agent"),
        ({"objective": "speed"}, "objective"),
        ({"weights": "/root/w.safetensors"}, "weights"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_invalid_jobs_are_422_naming_the_field_and_store_nothing(alice, change, field):
    before = alice.get("/jobs").json()["total"]
    response = alice.post("/jobs", json={**SHORT_JOB, **change})
    assert response.status_code == 422, response.text
    message = response.json()["message"]
    assert message.startswith(f"{field}:") or f"{field}:" in message, message
    assert "Traceback" not in response.text
    assert alice.get("/jobs").json()["total"] == before


def test_malformed_and_oversized_bodies(alice):
    response = alice.post("/jobs", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422
    huge = {**SHORT_JOB, "model": "x" * 2_000_000}
    assert alice.post("/jobs", json=huge).status_code == 413


def test_owners_see_only_their_own(alice, bob, finished_job):
    job_id, policy_id = finished_job["id"], finished_job["best_policy_id"]
    assert bob.get(f"/jobs/{job_id}").status_code == 404
    assert bob.post(f"/jobs/{job_id}/cancel").status_code == 404
    assert bob.get(f"/policies/{policy_id}").status_code == 404
    assert bob.get(f"/policies/{policy_id}/export").status_code == 404
    assert bob.get("/jobs").json()["total"] == 0
    assert bob.get("/policies").json()["total"] == 0
    assert any(t["name"] == "bitfusion" for t in bob.get("/hardware").json())  # built-ins are shared
    assert any(m["name"] == "digits-cnn" for m in bob.get("/models").json())


def test_policy_filters_sorting_pagination(alice, finished_job):
    everything = alice.get("/policies", params={"job": finished_job["id"], "limit": 200}).json()
    assert everything["total"] >= 2
    by_latency = alice.get("/policies", params={"job": finished_job["id"], "sort": "latency_ms", "limit": 200}).json()["items"]
    latencies = [p["latency_ms"] for p in by_latency]
    assert latencies == sorted(latencies)
    page = alice.get("/policies", params={"job": finished_job["id"], "limit": 1, "offset": 1, "sort": "latency_ms"}).json()
    assert page["items"][0]["id"] == by_latency[1]["id"] and page["total"] == everything["total"]
    cutoff = latencies[0]
    fast = alice.get("/policies", params={"job": finished_job["id"], "max_latency_ms": cutoff}).json()
    assert fast["total"] >= 1 and all(p["latency_ms"] <= cutoff for p in fast["items"])
    assert alice.get("/policies", params={"model": "resnet-50"}).json()["total"] == 0
    assert alice.get("/policies", params={"sort": "bogus"}).status_code == 422
    assert alice.get("/policies", params={"min_accuracy": 2}).status_code == 422


def test_events_stream_progress_then_done(alice, finished_job):
    with alice.stream("GET", f"/jobs/{finished_job['id']}/events") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line.split(": ", 1)[1] for line in response.iter_lines() if line.startswith("event: ")]
    assert events == ["progress", "done"]


def test_events_of_another_keys_job_or_none_are_a_json_404_before_any_stream(server, alice, bob, finished_job):
    for client, job_id in ((bob, finished_job["id"]), (alice, 2_000_000)):
        with client.stream("GET", f"/jobs/{job_id}/events") as response:
            response.read()
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/json")
        assert response.json()["message"] == f"job {job_id} not found"
    assert "Traceback" not in server.log.read_text()


def test_cancel_running_job_keeps_best_policy(alice):
    job = alice.post("/jobs", json={**SHORT_JOB, "agent": "ddpg", "episodes": 500}).json()
    wait_for(alice, job["id"], ("running",), min_episode=2)
    assert alice.post(f"/jobs/{job['id']}/cancel").status_code == 200
    done = wait_for(alice, job["id"], ("cancelled",), timeout=60)
    assert done["progress"]["episode"] < 500
    assert done["best_policy_id"] is not None
    assert alice.post(f"/jobs/{job['id']}/cancel").status_code == 409


def test_cancel_queued_job_is_immediate(server, alice):
    # the single worker is idle again; queue two and cancel the second before it starts
    first = alice.post("/jobs", json={**SHORT_JOB, "agent": "ddpg", "episodes": 300}).json()
    second = alice.post("/jobs", json=SHORT_JOB).json()
    cancelled = alice.post(f"/jobs/{second['id']}/cancel").json()
    assert cancelled["state"] == "cancelled"
    alice.post(f"/jobs/{first['id']}/cancel")
    wait_for(alice, first["id"], ("cancelled",), timeout=60)


def test_hardware_upload_and_use(alice, bob):
    table = (Path(__file__).parents[1] / "latency_tables" / "data" / "cpu-onnxruntime__digits-cnn.csv").read_text()
    response = alice.post("/hardware", files={"file": ("mine.csv", table)}, data={"name": "my board"})
    assert response.status_code == 201, response.text
    name = response.json()["name"]
    assert name.startswith("upload:")
    assert alice.get(f"/hardware/{name}").status_code == 200
    assert bob.get(f"/hardware/{name}").status_code == 404
    job = alice.post("/jobs", json={**SHORT_JOB, "target": name, "budget": {"relative": 1.0}})
    assert job.status_code == 201, job.text
    assert bob.post("/jobs", json={**SHORT_JOB, "target": name}).status_code == 422
    wait_for(alice, job.json()["id"], ("succeeded",))


def test_corrupt_table_upload_names_the_problem(alice):
    table = (Path(__file__).parents[1] / "latency_tables" / "data" / "cpu-onnxruntime__digits-cnn.csv").read_text()
    lines = table.splitlines()
    last = lines[-1].split(",")
    last[3] = "-5"
    bad = "\n".join(lines[:-1] + [",".join(last)]) + "\n"
    before = len(alice.get("/hardware").json())
    response = alice.post("/hardware", files={"file": ("bad.csv", bad)})
    assert response.status_code == 422
    assert "negative" in response.json()["message"] and "file" in response.json()["message"]
    assert len(alice.get("/hardware").json()) == before


def test_openapi_documents_every_field(server):
    schema = httpx.get(f"{server.url.removesuffix('/api/v1')}/openapi.json").json()
    spec = schema["components"]["schemas"]["SearchSpec"]["properties"]
    missing = [name for name, prop in spec.items() if not prop.get("description")]
    assert not missing, missing
    assert json.dumps(schema).count("Bearer") >= 1


def test_oversized_upload_is_413(alice):
    big = "# hwsearch-table: 1\n" + ("x" * 1000 + "\n") * 6000
    response = alice.post("/hardware", files={"file": ("big.csv", big)})
    assert response.status_code == 413


def test_docker_compose_file_is_valid():
    import shutil
    import subprocess

    if shutil.which("docker-compose") is None:
        pytest.skip("Debian's docker-compose is not installed")
    root = Path(__file__).parents[1]
    out = subprocess.run(["docker-compose", "-f", str(root / "docker-compose.yml"), "config"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    for service in ("api", "worker", "postgres", "redis"):
        assert f"  {service}:" in out.stdout
    assert "HWSEARCH_BROKER_URL" in out.stdout and "HWSEARCH_DATABASE_URL" in out.stdout
