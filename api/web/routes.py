"""Routes of the web page: six page shells, their static files, and one JSON helper.

Page shells need no key (they hold no data); the JSON helper
``GET /api/v1/web/jobs/{id}/baselines`` needs one like every other API route.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.templating import Jinja2Templates

from api.deps import JobId, KeyDep, PolicyId, SessionDep
from api.openapi import answers

HERE = Path(__file__).parent
STATIC = HERE / "static"
templates = Jinja2Templates(directory=str(HERE / "templates"))
router = APIRouter()
api_router = APIRouter(prefix="/api/v1/web", tags=["web"])

MEDIA = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".png": "image/png"}


def _page(request: Request, name: str, **context: Any) -> HTMLResponse:
    from hwsearch.search import AGENT_NAMES, OBJECTIVES

    base = {"agents": AGENT_NAMES, "objectives": OBJECTIVES}
    return templates.TemplateResponse(request, name, {**base, **context})


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def jobs_page(request: Request) -> HTMLResponse:
    return _page(request, "jobs.html", page="jobs")


@router.get("/jobs/{job_id}", response_class=HTMLResponse, include_in_schema=False)
def job_page(request: Request, job_id: JobId) -> HTMLResponse:
    return _page(request, "job.html", page="job", job_id=job_id)


@router.get("/policies/{policy_id}", response_class=HTMLResponse, include_in_schema=False)
def policy_page(request: Request, policy_id: PolicyId) -> HTMLResponse:
    return _page(request, "policy.html", page="policy", policy_id=policy_id)


@router.get("/policies", response_class=HTMLResponse, include_in_schema=False)
def policies_page(request: Request) -> HTMLResponse:
    return _page(request, "policies.html", page="policies")


@router.get("/models", response_class=HTMLResponse, include_in_schema=False)
def models_page(request: Request) -> HTMLResponse:
    return _page(request, "models.html", page="models")


@router.get("/compare", response_class=HTMLResponse, include_in_schema=False)
def compare_page(request: Request) -> HTMLResponse:
    return _page(request, "compare.html", page="compare")


@router.get("/static/{name}", include_in_schema=False)
def static_file(name: str) -> FileResponse:
    """Only the flat files shipped in ``static/`` (no sub-paths, so nothing else is reachable)."""
    path = STATIC / name
    if "/" in name or name.startswith(".") or path.suffix not in MEDIA or not path.is_file():
        raise HTTPException(404, f"static file {name!r} not found")
    return FileResponse(path, media_type=MEDIA[path.suffix], headers={"Cache-Control": "no-cache"})


@api_router.get(
    "/jobs/{job_id}/baselines",
    summary="Uniform 8/6/4-bit reference points of a job",
    responses=answers((404, "No such job, or another key's."), 422),
)
def job_baselines(job_id: JobId, key: KeyDep, session: SessionDep) -> dict[str, Any]:
    """Accuracy and costs of the uniform 8-, 6- and 4-bit policies on the job's model and target.

    The worker measures them when it runs the job (``summary.uniform``); before the job
    has finished there are none.
    """
    from api.routes.jobs import get_owned_job

    job = get_owned_job(session, key, job_id)
    return {"job_id": job_id, "baselines": (job.summary or {}).get("uniform", [])}


router.include_router(api_router)
