"""Models: the built-in ones (shared) and each key's uploaded ONNX models.

An upload is streamed to a temporary file under the data dir (never held whole before its
size is known), checked by ``hwsearch.search.check_model`` (parsed, converted, compared
with onnxruntime, traced; nothing in it is executed), and only then stored, named by its
SHA-256. A refused upload leaves no file and no row.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, UploadFile
from sqlalchemy import func, select

from api.deps import KeyDep, SessionDep, SettingsDep
from api.errors import param_error
from api.models import Job, StoredPolicy, UploadedModel
from api.schemas import ErrorBody, ModelOut, UploadedModelOut
from api.uploads import UPLOAD_PREFIX
from hwsearch.search import MODELS, PICKLE_HINT, ModelCheckError, ModelReport, check_model

router = APIRouter(prefix="/models", tags=["models"])
CHUNK = 1 << 20
#: the route's own body cap; the setting ``max_model_bytes`` (below it) is what users meet
BODY_CAP = 4 << 30
PYTORCH_SUFFIXES = (".pt", ".pth", ".pt2", ".ptl")


def _builtin(name: str) -> ModelOut:
    e = MODELS[name]
    return ModelOut(
        name=e.name, description=e.description, dataset=e.dataset, input_shape=list(e.input_shape),
        searchable=e.trainable, ref=e.name, builtin=True,
    )


def _uploaded(row: UploadedModel) -> UploadedModelOut:
    report = ModelReport.model_validate(row.report)
    return UploadedModelOut(
        id=row.id, ref=f"{UPLOAD_PREFIX}{row.id}", name=row.name, builtin=False,
        description=f"uploaded ONNX model '{row.filename}': {len(report.layers)} quantizable layers",
        dataset=None, input_shape=report.input_shape, searchable=False, filename=row.filename,
        sha256=row.sha256, size_bytes=row.size_bytes, created_at=row.created_at, report=report,
    )


def _owned(session, key, model_id: int) -> UploadedModel:
    row = session.get(UploadedModel, model_id)
    if row is None or row.owner_id != key.id:
        raise HTTPException(404, f"model {UPLOAD_PREFIX}{model_id} not found")
    return row


@router.get("", response_model=list[ModelOut | UploadedModelOut], summary="List built-in models and your uploads")
def list_models(key: KeyDep, session: SessionDep) -> list[ModelOut]:
    rows = session.scalars(select(UploadedModel).where(UploadedModel.owner_id == key.id).order_by(UploadedModel.id)).all()
    return [_builtin(name) for name in MODELS] + [_uploaded(r) for r in rows]


@router.get(
    "/{ref}",
    response_model=ModelOut | UploadedModelOut,
    summary="Describe one model (a built-in name or upload:ID)",
    responses={404: {"model": ErrorBody, "description": "No such model, or another key's upload."}},
)
def get_model(ref: str, key: KeyDep, session: SessionDep) -> ModelOut:
    if ref in MODELS:
        return _builtin(ref)
    number = ref.removeprefix(UPLOAD_PREFIX)
    if ref.startswith(UPLOAD_PREFIX) and number.isdigit():
        return _uploaded(_owned(session, key, int(number)))
    raise HTTPException(404, f"model {ref!r} not found")


@router.delete(
    "/{model_id}",
    status_code=204,
    summary="Delete one of your uploaded models",
    responses={
        404: {"model": ErrorBody, "description": "No such model, or another key's upload."},
        409: {"model": ErrorBody, "description": "Jobs or stored policies use the model (their exports need it)."},
    },
)
def delete_model(model_id: int, key: KeyDep, session: SessionDep, settings: SettingsDep) -> None:
    row = _owned(session, key, model_id)
    ref = f"{UPLOAD_PREFIX}{model_id}"
    policies = session.scalar(select(func.count()).where(StoredPolicy.owner_id == key.id, StoredPolicy.model == ref))
    jobs = [j.id for j in session.scalars(select(Job).where(Job.owner_id == key.id)) if j.spec.get("model") == ref]
    if policies or jobs:
        raise HTTPException(409, f"model {ref} is used by {len(jobs)} job(s) and {policies} stored policies; delete those first")
    sha = row.sha256
    session.delete(row)
    session.commit()
    if session.scalar(select(UploadedModel.id).where(UploadedModel.sha256 == sha).limit(1)) is None:
        (settings.model_root / f"{sha}.onnx").unlink(missing_ok=True)


def _receive(file: UploadFile, folder: Path, limit: int) -> tuple[Path, str, int]:
    """Copy the upload to a temporary file in ``folder``: (path, sha256, size); 413 past ``limit``."""
    folder.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    fd, name = tempfile.mkstemp(prefix="upload-", suffix=".part", dir=folder)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := file.file.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise HTTPException(413, f"file: larger than the limit of {limit} bytes")
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, digest.hexdigest(), size


@router.post(
    "",
    response_model=UploadedModelOut,
    status_code=201,
    summary="Upload an ONNX model",
    max_body_size=BODY_CAP,
    responses={
        413: {"model": ErrorBody, "description": "The file is larger than the server's limit."},
        422: {"model": ErrorBody, "description": "Not ONNX (e.g. a PyTorch file), malformed, or ops that cannot be imported."},
    },
)
def upload_model(
    key: KeyDep,
    session: SessionDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="The model, an .onnx file (protobuf; PyTorch files are refused).")],
    name: Annotated[str | None, Form(min_length=1, max_length=100, description="A label; default: the file's name.")] = None,
) -> UploadedModelOut:
    """Check the model (conversion, agreement with onnxruntime, layers) and store it; use it as ``upload:ID``."""
    filename = Path(file.filename or "model.onnx").name[:255]
    if filename.lower().endswith(PYTORCH_SUFFIXES):
        raise param_error(("body", "file"), f"{filename!r} is a PyTorch file. {PICKLE_HINT}")
    temp, sha, size = _receive(file, settings.model_root, settings.max_model_bytes)
    try:
        report = check_model(temp.read_bytes(), max_bytes=settings.max_model_bytes)
    except ModelCheckError as exc:
        temp.unlink(missing_ok=True)
        raise param_error(("body", "file"), str(exc).removeprefix("file: ")) from None
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    os.replace(temp, settings.model_root / f"{sha}.onnx")
    row = UploadedModel(
        owner_id=key.id, name=name or Path(filename).stem, filename=filename, sha256=sha, size_bytes=size,
        report=report.model_dump(mode="json"),
    )
    session.add(row)
    session.commit()
    return _uploaded(row)

