"""Data sets: each key's uploaded .npz files (plain arrays, read with allow_pickle=False).

The check (``hwsearch.search.check_npz``) reads every array's header before any data, so a
file declaring huge or object arrays is refused without allocating or unpickling; with
``model`` named, it also checks the images' shape and the labels against that model.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Path, UploadFile
from sqlalchemy import select

from api.deps import KeyDep, SessionDep, SettingsDep, Text, UploadId
from api.errors import param_error
from api.openapi import answers
from api.models import UploadedDataset
from api.schemas import DatasetOut
from api.slow_routes import slow_route
from api.uploads import UPLOAD_PREFIX, delete_upload, owned_dataset, owned_model, store_upload
from hwsearch.search import MODELS, DataError, check_npz

router = APIRouter(prefix="/datasets", tags=["datasets"])
NOT_FOUND = answers((404, "No such data set, or another key's."))
DatasetRef = Annotated[str, Path(max_length=200, description="`upload:ID` of one of your data sets.")]


def _out(row: UploadedDataset) -> DatasetOut:
    return DatasetOut(
        id=row.id, ref=f"{UPLOAD_PREFIX}{row.id}", name=row.name, filename=row.filename, sha256=row.sha256,
        size_bytes=row.size_bytes, created_at=row.created_at, **row.report,
    )


def _owned(session, key, ref: str) -> UploadedDataset:
    row = owned_dataset(session, ref, key.id)
    if row is None:
        raise HTTPException(404, f"data set {ref!r} not found")
    return row


def _model_expects(session, key, model: str | None) -> tuple[tuple[int, ...] | None, int | None]:
    """(input (C, H, W), output classes) of the model a data set is checked against."""
    if model is None:
        return None, None
    if model in MODELS:
        return tuple(MODELS[model].input_shape), None
    row = owned_model(session, model, key.id)
    if row is None:
        raise param_error(("body", "model"), f"model {model!r} not found; a built-in name or one of your upload:ID")
    report = row.report
    return tuple(report["input_shape"][1:]), report["output_shape"][-1]


@router.get("", response_model=list[DatasetOut], summary="List your uploaded data sets")
def list_datasets(key: KeyDep, session: SessionDep) -> list[DatasetOut]:
    rows = session.scalars(select(UploadedDataset).where(UploadedDataset.owner_id == key.id).order_by(UploadedDataset.id))
    return [_out(r) for r in rows]


@router.get("/{ref}", response_model=DatasetOut, summary="Describe one of your data sets (upload:ID)", responses={**NOT_FOUND, **answers(422)})
def get_dataset(ref: DatasetRef, key: KeyDep, session: SessionDep) -> DatasetOut:
    return _out(_owned(session, key, ref))


@router.delete(
    "/{dataset_id}",
    status_code=204,
    summary="Delete one of your data sets",
    responses={**NOT_FOUND, **answers((409, "A job uses the data set."), 422)},
)
def delete_dataset(dataset_id: UploadId, key: KeyDep, session: SessionDep, settings: SettingsDep) -> None:
    delete_upload(session, settings, _owned(session, key, f"{UPLOAD_PREFIX}{dataset_id}"), "data")


@router.post(
    "",
    response_model=DatasetOut,
    status_code=201,
    summary="Upload a data set (.npz)",
    responses=answers(
        (413, "The file is larger than the server's limit (max_dataset_bytes)."),
        (422, "Not a plain-array .npz, inconsistent splits, not for the model named, or a form field is invalid."),
    ),
)
@slow_route
def upload_dataset(
    key: KeyDep,
    session: SessionDep,
    settings: SettingsDep,
    file: Annotated[
        UploadFile,
        File(description="An .npz with x/y (split with a fixed seed) or x_calib/y_calib, x_val/y_val, x_test/y_test "
             "(optionally x_train/y_train); uint8 or float images, NCHW or NHWC."),
    ],
    name: Annotated[Text | None, Form(min_length=1, max_length=100, description="A label; default: the file's name.")] = None,
    model: Annotated[Text | None, Form(max_length=100, description="Check the images and labels against this model.")] = None,
) -> DatasetOut:
    """Check the arrays (headers first, then shapes, labels, counts) and store the file; use it as ``data: upload:ID``."""
    input_shape, num_classes = _model_expects(session, key, model)
    limit = settings.max_dataset_bytes

    def check(data: bytes) -> dict:
        report = check_npz(data, max_bytes=limit, input_shape=input_shape, num_classes=num_classes)
        return dataclasses.asdict(report)

    return _out(store_upload(session, settings, UploadedDataset, key.id, file, name, limit, check, (DataError,)))
