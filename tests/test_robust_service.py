"""A job with a robust block over real HTTP: its stored policies carry a robustness block."""

from __future__ import annotations

import pytest

from tests.service import Server, create_key, wait_for

JOB = {
    "model": "digits-cnn", "target": "bismo-edge", "objective": "latency", "budget": {"relative": 0.5},
    "agent": "random", "episodes": 3, "seed": 0, "robust": {"attack": "pgd", "eps": 0.1, "steps": 2, "samples": 64},
}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("robust-service")
    srv = Server(data_dir, workers=1).start()
    try:
        with srv.client(create_key(srv.env, "robust")) as c:
            yield c
    finally:
        srv.stop()


def test_negative_eps_is_422_naming_the_field(client):
    response = client.post("/jobs", json={**JOB, "robust": {"eps": -1}})
    assert response.status_code == 422, response.text
    assert "robust.eps:" in response.json()["message"]


@pytest.mark.slow
def test_job_with_robust_block_stores_robustness(client):
    job = client.post("/jobs", json=JOB)
    assert job.status_code == 201, job.text
    assert job.json()["spec"]["robust"]["eps"] == 0.1
    done = wait_for(client, job.json()["id"], ("succeeded",), timeout=300)
    policies = client.get("/policies", params={"job": done["id"]}).json()["items"]
    assert policies
    for item in policies:
        doc = client.get(f"/policies/{item['id']}").json()["document"]
        r = doc["robustness"]
        assert (r["attack"], r["eps"], r["samples"]) == ("pgd", 0.1, 64)
        assert 0 <= r["accuracy"] <= 1
    exported = client.get(f"/policies/{done['best_policy_id']}/export", params={"format": "policy"})
    assert exported.status_code == 200 and exported.json()["robustness"]["eps"] == 0.1
