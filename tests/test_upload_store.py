"""Uploads live in the store as well as under the data dir: a worker with its own data dir
(another machine's stand-in: it shares only the database) runs a search and a verification
on a user's uploaded model and data set, fetching their files from the store."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import torch

from api import upload_blobs
from api.db import Database, migrate
from api.models import ApiKey, UploadChunk, UploadedDataset, UploadedModel
from tests.fixtures.user_models import UserCNN, onnx_bytes
from tests.service import Server, create_key, fresh_postgres_db, run_on_worker_elsewhere
from tests.test_dataset_upload import splits


@pytest.fixture()
def server(tmp_path):
    (tmp_path / "api").mkdir()
    srv = Server(tmp_path / "api", workers=0).start()
    yield srv
    srv.stop()


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file() and p.suffix in (".onnx", ".npz"))


@pytest.mark.slow
def test_a_worker_elsewhere_searches_and_verifies_an_uploaded_model(server, tmp_path):
    torch.manual_seed(0)
    model_bytes, data_bytes = onnx_bytes(UserCNN().eval()), splits()
    with server.client(create_key(server.env)) as client:
        model = client.post("/models", files={"file": ("cnn.onnx", model_bytes)}).json()
        data = client.post("/datasets", files={"file": ("d.npz", data_bytes)}, data={"model": model["ref"]}).json()
        spec = {"model": model["ref"], "data": data["ref"], "target": "bismo-edge", "budget": {"relative": 0.5},
                "agent": "uniform", "episodes": 2, "seed": 0}
        job = client.post("/jobs", json=spec).json()
        elsewhere = tmp_path / "worker-box"
        done = run_on_worker_elsewhere(server.env, elsewhere, client, job["id"])
        assert done["state"] == "succeeded", done.get("error")
        # the worker wrote the files it needed from the store into its own data dir
        expected = sorted([hashlib.sha256(model_bytes).hexdigest() + ".onnx", hashlib.sha256(data_bytes).hexdigest() + ".npz"])
        assert _files(elsewhere) == expected
        # a device on its own queue, with a data dir of its own too, times the policy's exports
        device = tmp_path / "device"
        verify = client.post(f"/policies/{done['best_policy_id']}/verify", json={"queue": "box", "warmup": 0, "repeats": 2}).json()
        verified = run_on_worker_elsewhere(server.env, device, client, verify["id"], "--measure-queue", "box")
        assert verified["state"] == "succeeded", verified.get("error")
        assert verified["summary"]["measured_ms"] > 0
        assert hashlib.sha256(model_bytes).hexdigest() + ".onnx" in _files(device)

BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("HWSEARCH_TEST_DATABASE_URL") else [])


@pytest.fixture(params=BACKENDS)
def db(request, tmp_path) -> Database:
    drop = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        url, drop = fresh_postgres_db(os.environ["HWSEARCH_TEST_DATABASE_URL"])
    database = Database(url)
    migrate(database.engine)
    with database.session() as session:
        session.add(ApiKey(id=1, name="k", key_hash="h" * 64))
    yield database
    database.engine.dispose()
    if drop is not None:
        drop()


def _upload(session, table, folder: Path, content: bytes, owner: int = 1):
    sha = hashlib.sha256(content).hexdigest()
    path = folder / table.folder / f"{sha}{table.suffix}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    row = table(owner_id=owner, name="n", filename="f", sha256=sha, size_bytes=len(content), report={})
    session.add(row)
    return row, path


def test_bytes_round_trip_in_pieces_and_go_when_unused(db, tmp_path, monkeypatch):
    monkeypatch.setattr(upload_blobs, "CHUNK_BYTES", 1000)
    content = bytes(range(256)) * 20  # 5,120 bytes: six pieces
    with db.session() as session:
        row, path = _upload(session, UploadedModel, tmp_path / "api", content)
        upload_blobs.store_bytes(session, row.sha256, path)
        upload_blobs.store_bytes(session, row.sha256, path)  # the same bytes again: stored once
        twin, _ = _upload(session, UploadedDataset, tmp_path / "api", content)
    with db.session() as session:
        assert session.query(UploadChunk).filter_by(sha256=row.sha256).count() == 6
        fetched = upload_blobs.local_file(session, tmp_path / "other" / "m.onnx", row.sha256)
        assert fetched.read_bytes() == content and [p.name for p in fetched.parent.iterdir()] == ["m.onnx"]
        session.delete(session.get(UploadedModel, row.id))
        session.flush()
        upload_blobs.drop_if_unused(session, row.sha256)  # the data set row still holds the same bytes
        assert session.query(UploadChunk).filter_by(sha256=row.sha256).count() == 6
        session.delete(session.get(UploadedDataset, twin.id))
        session.flush()
        upload_blobs.drop_if_unused(session, row.sha256)
        assert session.query(UploadChunk).count() == 0
        with pytest.raises(upload_blobs.MissingUpload, match="not in the store"):
            upload_blobs.local_file(session, tmp_path / "third" / "m.onnx", row.sha256)


def test_corrupted_bytes_are_refused_and_leave_no_file(db, tmp_path):
    with db.session() as session:
        row, path = _upload(session, UploadedModel, tmp_path / "api", b"model bytes")
        upload_blobs.store_bytes(session, row.sha256, path)
    with db.session() as session:
        session.query(UploadChunk).update({"data": b"tampered"})
    with db.session() as session, pytest.raises(upload_blobs.MissingUpload, match="do not match"):
        upload_blobs.local_file(session, tmp_path / "other" / "m.onnx", row.sha256)
    assert list((tmp_path / "other").iterdir()) == []


def test_uploads_from_before_the_store_kept_bytes_are_copied_in(db, tmp_path):
    with db.session() as session:
        kept, _ = _upload(session, UploadedModel, tmp_path / "api", b"an older model")
        lost, lost_path = _upload(session, UploadedDataset, tmp_path / "api", b"an older data set")
    lost_path.unlink()  # only another machine's data dir had it
    with db.session() as session:
        assert upload_blobs.backfill(session, tmp_path / "api") == 1
        assert upload_blobs.backfill(session, tmp_path / "api") == 0  # done once
        assert upload_blobs.local_file(session, tmp_path / "other" / "m.onnx", kept.sha256).read_bytes() == b"an older model"
        assert session.query(UploadChunk).filter_by(sha256=lost.sha256).count() == 0
