"""Models: the built-in ones (shared) and each key's uploaded ONNX models.

An upload is streamed to the data dir under a size limit and checked by
``hwsearch.search.check_model`` (parsed, converted, compared with onnxruntime, traced;
nothing in it is executed) before it is kept (``api.uploads.store_upload``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Path as PathParam, UploadFile
from sqlalchemy import select

from api.deps import KeyDep, SessionDep, SettingsDep, Text, UploadId
from api.errors import param_error
from api.openapi import answers
from api.models import UploadedModel
from api.schemas import ModelCheckReport, ModelOut, UploadedModelOut
from api.slow_routes import slow_route
from api.uploads import UPLOAD_PREFIX, delete_upload, owned_model, store_upload
from hwsearch.search import MODELS, PICKLE_HINT, ModelCheckError, check_model

router = APIRouter(prefix="/models", tags=["models"])
PYTORCH_SUFFIXES = (".pt", ".pth", ".pt2", ".ptl")
ModelRef = Annotated[str, PathParam(max_length=200, description="A built-in model's name or `upload:ID`.")]
NOT_FOUND = answers((404, "No such model, or another key's upload."))


def _builtin(name: str) -> ModelOut:
    e = MODELS[name]
    return ModelOut(
        name=e.name, description=e.description, dataset=e.dataset, input_shape=list(e.input_shape),
        searchable=e.trainable, ref=e.name, builtin=True,
    )


def _uploaded(row: UploadedModel) -> UploadedModelOut:
    report = ModelCheckReport.model_validate(row.report)
    return UploadedModelOut(
        id=row.id, ref=f"{UPLOAD_PREFIX}{row.id}", name=row.name, builtin=False,
        description=f"uploaded ONNX model '{row.filename}': {len(report.layers)} quantizable layers",
        dataset=None, input_shape=report.input_shape[1:], searchable=True, filename=row.filename,
        sha256=row.sha256, size_bytes=row.size_bytes, created_at=row.created_at, report=report,
    )


def _owned(session, key, ref: str) -> UploadedModel:
    row = owned_model(session, ref, key.id)
    if row is None:
        raise HTTPException(404, f"model {ref!r} not found")
    return row


@router.get("", response_model=list[ModelOut | UploadedModelOut], summary="List built-in models and your uploads")
def list_models(key: KeyDep, session: SessionDep) -> list[ModelOut]:
    rows = session.scalars(select(UploadedModel).where(UploadedModel.owner_id == key.id).order_by(UploadedModel.id)).all()
    return [_builtin(name) for name in MODELS] + [_uploaded(r) for r in rows]


@router.get(
    "/{ref}", response_model=ModelOut | UploadedModelOut, summary="Describe one model (a built-in name or upload:ID)", responses={**NOT_FOUND, **answers(422)}
)
def get_model(ref: ModelRef, key: KeyDep, session: SessionDep) -> ModelOut:
    return _builtin(ref) if ref in MODELS else _uploaded(_owned(session, key, ref))


@router.delete(
    "/{model_id}",
    status_code=204,
    summary="Delete one of your uploaded models",
    responses={**NOT_FOUND, **answers((409, "A job uses the model (its policies' exports need it)."), 422)},
)
def delete_model(model_id: UploadId, key: KeyDep, session: SessionDep, settings: SettingsDep) -> None:
    delete_upload(session, settings, _owned(session, key, f"{UPLOAD_PREFIX}{model_id}"), "model")


@router.post(
    "",
    response_model=UploadedModelOut,
    status_code=201,
    summary="Upload an ONNX model",
    responses=answers(
        (413, "The file is larger than the server's limit (max_model_bytes)."),
        (422, "Not ONNX (e.g. a PyTorch file), malformed, or ops that cannot be imported; or a form field is invalid."),
    ),
)
@slow_route
def upload_model(
    key: KeyDep,
    session: SessionDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="The model, an .onnx file (protobuf; PyTorch files are refused).")],
    name: Annotated[Text | None, Form(min_length=1, max_length=100, description="A label; default: the file's name.")] = None,
) -> UploadedModelOut:
    """Check the model (conversion, agreement with onnxruntime, layers) and store it; use it as ``upload:ID``."""
    filename = Path(file.filename or "").name
    if filename.lower().endswith(PYTORCH_SUFFIXES):
        raise param_error(("body", "file"), f"{filename!r} is a PyTorch file. {PICKLE_HINT}")
    limit = settings.max_model_bytes

    def check(data: bytes) -> dict:
        return check_model(data, max_bytes=limit).model_dump(mode="json")

    row = store_upload(session, settings, UploadedModel, key.id, file, name, limit, check, (ModelCheckError,))
    return _uploaded(row)
