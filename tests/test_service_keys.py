"""API keys over the real CLI and real HTTP: list them (never the key), revoke one (401 after)."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from tests.service import cli_create_key, create_key, running_server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("keys"), workers=0) as srv:
        yield srv


def keys_cli(server, *args: str) -> subprocess.CompletedProcess:
    """`hwsearch keys ...` on the server's store, named by --db as an operator would (no HWSEARCH_* variables)."""
    env = {k: v for k, v in server.env.items() if not k.startswith("HWSEARCH_")}
    command = [sys.executable, "-m", "hwsearch", "keys", *args, "--db", server.env["HWSEARCH_DATABASE_URL"]]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def key_ids(server) -> dict[str, str]:
    """{name: id} from `hwsearch keys list`."""
    lines = keys_cli(server, "list").stdout.splitlines()
    assert lines[0].split() == ["id", "name", "created", "revoked"]
    return {line.split()[1]: line.split()[0] for line in lines[1:]}


def test_list_shows_id_name_created_revoked_and_never_the_key(server):
    plain = cli_create_key(server.env, "carol")
    out = keys_cli(server, "list")
    assert out.returncode == 0, out.stderr
    assert plain not in out.stdout and plain.removeprefix("hws_")[:12] not in out.stdout
    row = next(line for line in out.stdout.splitlines() if " carol " in line)
    key_id, name, created_day, created_time, zone, revoked = row.split()
    assert key_id.isdigit() and name == "carol" and zone == "UTC" and revoked == "-"
    assert len(created_day) == 10 and created_time.count(":") == 2


def test_a_revoked_key_gets_401_revoked_and_other_keys_still_work(server):
    dave, erin = create_key(server.env, "dave"), create_key(server.env, "erin")
    with server.client(dave) as client:
        assert client.get("/jobs").status_code == 200
    out = keys_cli(server, "revoke", key_ids(server)["dave"])
    assert out.returncode == 0 and "revoked" in out.stdout, out.stderr
    with server.client(dave) as client:
        response = client.get("/jobs")
    assert response.status_code == 401
    assert response.json()["message"] == "API key revoked"
    assert response.headers["www-authenticate"] == "Bearer"
    with server.client(erin) as client:
        assert client.get("/jobs").status_code == 200
    unknown = httpx.get(f"{server.url}/jobs", headers={"Authorization": "Bearer hws_never_made"})
    assert unknown.status_code == 401 and unknown.json()["message"] == "unknown API key"
    row = next(line for line in keys_cli(server, "list").stdout.splitlines() if " dave " in line)
    assert row.split()[-1] == "UTC" and row.count("UTC") == 2  # created and revoked


def test_revoking_an_unknown_id_is_one_line_and_exit_2(server):
    out = keys_cli(server, "revoke", "987654")
    assert out.returncode == 2
    assert out.stderr.strip() == "error: no API key with id 987654; `hwsearch keys list` shows them"
    assert "Traceback" not in out.stderr
