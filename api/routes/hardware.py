"""Hardware targets: the built-in ones (visible to all) and each key's uploaded tables."""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Path, UploadFile
from sqlalchemy import select

from api import table_cache
from api.deps import KeyDep, SessionDep, SettingsDep, Text
from api.errors import param_error
from api.openapi import answers
from api.routes.jobs import job_out
from api.models import HardwareTable, Job
from api.schemas import HardwareOut, JobOut, MeasureRequest
from api.slow_routes import slow_route
from api.uploads import UPLOAD_PREFIX, owned_model, owned_table, upload_file

router = APIRouter(prefix="/hardware", tags=["hardware"])
TargetName = Annotated[str, Path(max_length=200, description="A built-in target's name or `upload:ID` of your table.")]


def _clean(value):
    """JSON has no NaN: unknown figures become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _builtin(name: str) -> HardwareOut:
    from latency_tables import get_target

    target = get_target(name)
    return HardwareOut(
        name=name,
        description=target.description,
        units=dict(target.units),
        supported_bits=target.supported_bits,
        builtin=True,
        info=_clean(target.info()),
    )


@lru_cache(maxsize=4)
def _builtins(shipped: tuple) -> tuple[HardwareOut, ...]:
    """Every built-in target, described once per set of shipped table files (``shipped``)."""
    from latency_tables import list_targets

    return tuple(_builtin(name) for name in list_targets())


def _upload(row: HardwareTable) -> HardwareOut:
    from latency_tables import TableError

    try:
        units, note = dict(table_cache.tables.get(row).units), ""
    except TableError as exc:  # stored before a stricter check: listed, but jobs refuse it
        units, note = {}, f" (cannot be used: {exc})"
    return HardwareOut(
        name=f"upload:{row.id}",
        description=f"uploaded table '{row.name}'{note}",
        units=units,
        supported_bits=None,
        builtin=False,
        info={"id": row.id, "label": row.name, "created_at": row.created_at.isoformat()},
    )


@router.get("", response_model=list[HardwareOut], summary="List hardware targets")
def list_hardware(key: KeyDep, session: SessionDep) -> list[HardwareOut]:
    from latency_tables.registry import shipped_files

    rows = session.scalars(select(HardwareTable).where(HardwareTable.owner_id == key.id).order_by(HardwareTable.id)).all()
    return [*_builtins(shipped_files()), *(_upload(r) for r in rows)]


@router.get("/{name}", response_model=HardwareOut, summary="Describe one target", responses=answers((404, "No such target, or another key's table."), 422))
def get_hardware(name: TargetName, key: KeyDep, session: SessionDep) -> HardwareOut:
    from latency_tables import list_targets

    if name in list_targets():
        return _builtin(name)
    row = owned_table(session, name, key.id)
    if row is not None:
        return _upload(row)
    raise HTTPException(404, f"hardware target {name!r} not found")


@router.post(
    "",
    response_model=HardwareOut,
    status_code=201,
    summary="Upload a measured latency/energy table",
    responses=answers(
        (413, "The file is larger than the server's limit (max_upload_bytes)."),
        (422, "Not a table (not UTF-8, no rows, wrong units, a missing bit pair, a cost that is not > 0 or over the limit, a NUL "
         "character), or a form field is invalid."),
    ),
)
@slow_route
def upload_hardware(
    key: KeyDep,
    session: SessionDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="The table (CSV in the format of docs/hardware.md).")],
    name: Annotated[Text, Form(min_length=1, max_length=100, description="A label for the table.")] = "measured",
) -> HardwareOut:
    """Validate the table (units, every bit pair, numbers) and store it; use it as ``target: upload:ID``."""
    from latency_tables import TableError, parse_table

    raw = file.file.read(settings.max_upload_bytes + 1)
    if len(raw) > settings.max_upload_bytes:
        raise HTTPException(413, f"file: larger than the limit of {settings.max_upload_bytes} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise param_error(("body", "file"), "not UTF-8 text") from None
    if "\n" not in text.strip():
        raise param_error(("body", "file"), "a table needs header lines and rows")
    try:
        table = parse_table(text + "\n")
    except TableError as exc:
        raise param_error(("body", "file"), str(exc)) from None
    row = HardwareTable(owner_id=key.id, name=name, content=text)
    session.add(row)
    session.commit()
    table_cache.tables.put(row, table)
    return _upload(row)


@router.post(
    "/measure",
    response_model=JobOut,
    status_code=201,
    summary="Measure a model's layers on one of your machines",
    responses=answers((422, "An unknown model, another key's upload, a model that cannot be traced, or a field out of range.")),
)
@slow_route
def measure_hardware(body: MeasureRequest, key: KeyDep, session: SessionDep, settings: SettingsDep) -> JobOut:
    """Queue a measurement that only a worker on ``queue`` takes (``hwsearch worker --measure-queue
    NAME`` on that machine). It times onnxruntime's int8 and fp32 kernels for the model's layer
    shapes there, then (``whole_model``) the whole model, and stores the table as your upload:
    the job's `summary.table` names it (`upload:ID`), ready to be a search's target."""
    from hwsearch.search import MODELS, SpecError, layer_shapes, runtime_layers

    upload = owned_model(session, body.model, key.id)
    if upload is None and body.model not in MODELS:
        what = "no upload of yours" if body.model.startswith(UPLOAD_PREFIX) else "not a built-in model"
        raise param_error(("body", "model"), f"{body.model!r} is {what}; built-in models: {', '.join(MODELS)}")
    model = str(upload_file(session, settings, upload)) if upload else body.model
    try:  # traced here, where the model's file is: the measuring machine needs only the shapes
        layers = layer_shapes(model)
    except SpecError as exc:
        raise param_error(("body", "model"), str(exc)) from None
    try:  # and which layers stay float at int8 (the measuring worker times them as they run)
        runtime = runtime_layers(model)
        float_layers, requantized_by = runtime.float_layers, runtime.requantized_by
    except SpecError:
        float_layers = requantized_by = None  # the table keeps every int8 entry, as before this was read
    spec = {"kind": "measure", "model": body.model, "name": body.name, "warmup": body.warmup, "repeats": body.repeats,
            "layers": layers, "float_layers": float_layers,
            "requantized_by": requantized_by, "whole_model": body.whole_model and float_layers is not None}
    job = Job(owner_id=key.id, spec=spec, queue=body.queue)
    session.add(job)
    session.commit()
    return job_out(session, job)
