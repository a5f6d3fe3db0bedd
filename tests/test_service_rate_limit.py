"""The per-key rate limit over real HTTP: a server allowing 5 requests a minute per key."""

from __future__ import annotations

import httpx
import jsonschema
import pytest

from api.rate_limit import RateLimiter
from tests.service import create_key, running_server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("rate"), workers=0, HWSEARCH_RATE_LIMIT_PER_MINUTE="5") as srv:
        yield srv


def test_the_sixth_quick_request_is_a_429_with_retry_after_and_other_keys_are_unaffected(server):
    with server.client(create_key(server.env, "busy")) as busy, server.client(create_key(server.env, "calm")) as calm:
        assert [busy.get("/jobs").status_code for _ in range(5)] == [200] * 5
        refused = busy.get("/hardware")  # any keyed route: the limit is the key's, not the route's
        assert refused.status_code == 429
        retry_after = int(refused.headers["retry-after"])
        assert 1 <= retry_after <= 12  # one token comes back every 60 / 5 = 12 s
        body = refused.json()
        assert body["message"].startswith("rate limit: at most 5 requests a minute per API key")
        assert body["detail"] == {"limit_per_minute": 5, "retry_after": retry_after}
        doc = httpx.get(server.url.removesuffix("/api/v1") + "/openapi.json").json()
        declared = doc["paths"]["/api/v1/hardware"]["get"]["responses"]["429"]
        assert "Retry-After" in declared["headers"]
        schema = {**declared["content"]["application/json"]["schema"], "components": doc["components"]}
        jsonschema.validate(body, schema, cls=jsonschema.Draft202012Validator)
        assert calm.get("/jobs").status_code == 200
        assert busy.get("/healthz").status_code == 200  # no key, no limit


def test_a_refused_request_costs_no_key_a_token(server):
    with server.client("hws_not_a_key") as stranger:
        assert all(stranger.get("/jobs").status_code == 401 for _ in range(8))  # 401, never 429


def test_tokens_come_back_at_the_rate_and_zero_turns_the_limit_off():
    now = [0.0]
    limiter = RateLimiter(60, clock=lambda: now[0])  # one token a second
    assert [limiter.take(1) for _ in range(60)] == [0.0] * 60
    assert limiter.take(1) == pytest.approx(1.0)
    now[0] = 0.5
    assert limiter.take(1) == pytest.approx(0.5)
    now[0] = 1.0
    assert limiter.take(1) == 0.0 and limiter.take(2) == 0.0
    now[0] = 1000.0
    assert [limiter.take(1) for _ in range(60)] == [0.0] * 60  # a full bucket holds 60, no more
    assert limiter.take(1) > 0
    off = RateLimiter(0)
    assert all(off.take(1) == 0.0 for _ in range(1000))


def test_every_keyed_operation_declares_the_429(server):
    doc = httpx.get(server.url.removesuffix("/api/v1") + "/openapi.json").json()
    keyed = [(m, p, op) for p, ops in doc["paths"].items() for m, op in ops.items() if op.get("security")]
    assert len(keyed) >= 20
    assert not [f"{m.upper()} {p}" for m, p, op in keyed if "429" not in op["responses"]]
