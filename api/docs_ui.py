"""Swagger UI (``/docs``) and ReDoc (``/redoc``) served from the service's own files, no CDN.

FastAPI's default pages load their scripts from a CDN and its fonts from Google, so on a
machine without internet they stay blank. The assets ship in the ``fastapi-offline``
package (Swagger UI 5 and ReDoc 2 bundles); only those named in ``ASSETS`` are served.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

ASSET_DIR = Path(str(files("fastapi_offline") / "static"))
ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css", "redoc.standalone.js": "text/javascript"}
ASSET_URL = "/docs/assets/"
ICON_URL = "/static/icon.svg"  # the web page's icon (api/web/static)
# The browser itself keeps the pages on this server: ReDoc's bundle would show Redocly's
# logo from their CDN (it hides it when the image fails, as it then does).
POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:"
)

router = APIRouter(include_in_schema=False)


def _openapi_url(request: Request) -> str:
    return request.scope.get("root_path", "") + request.app.openapi_url


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    page = get_swagger_ui_html(
        openapi_url=_openapi_url(request),
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=f"{root}{ASSET_URL}swagger-ui-bundle.js",
        swagger_css_url=f"{root}{ASSET_URL}swagger-ui.css",
        swagger_favicon_url=f"{root}{ICON_URL}",
        oauth2_redirect_url=None,  # keys are bearer tokens: no OAuth2 flow to return from
        swagger_ui_parameters={"validatorUrl": None},  # Swagger UI would send the document to an online validator
    )
    page.headers["Content-Security-Policy"] = POLICY
    return page


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    page = get_redoc_html(
        openapi_url=_openapi_url(request),
        title=f"{request.app.title} - ReDoc",
        redoc_js_url=f"{root}{ASSET_URL}redoc.standalone.js",
        redoc_favicon_url=f"{root}{ICON_URL}",
        with_google_fonts=False,
    )
    page.headers["Content-Security-Policy"] = POLICY
    return page


@router.get(ASSET_URL + "{name}")
def asset(name: str) -> FileResponse:
    """One of the named bundles; they change only with the package, so browsers may keep them a day."""
    if name not in ASSETS:
        raise HTTPException(404, f"docs asset {name!r} not found")
    return FileResponse(ASSET_DIR / name, media_type=ASSETS[name], headers={"Cache-Control": "public, max-age=86400"})
