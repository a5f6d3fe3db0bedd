"""/docs (Swagger UI) and /redoc (ReDoc) work offline: every asset comes from the service itself."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from tests.service import running_server

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> str:
    with running_server(tmp_path_factory.mktemp("docs"), workers=0) as srv:
        yield srv.url.removesuffix("/api/v1")


def referenced_urls(html: str) -> list[str]:
    """Every URL the page names: src and href attributes, and the OpenAPI document it loads."""
    return re.findall(r'(?:src|href|spec-url)="([^"]+)"', html) + re.findall(r"url: '([^']+)'", html)


@pytest.mark.parametrize(("page", "needs"), [("/docs", {"swagger-ui-bundle.js", "swagger-ui.css"}), ("/redoc", {"redoc.standalone.js"})])
def test_docs_pages_reference_only_their_own_assets_and_those_answer(base, page, needs):
    response = httpx.get(base + page)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    urls = referenced_urls(response.text)
    assert {u.rsplit("/", 1)[-1] for u in urls} >= needs | {"openapi.json"}, urls
    assert "googleapis" not in response.text and "cdn." not in response.text
    assert response.headers["content-security-policy"].startswith("default-src 'self'")
    for url in urls:
        absolute = urljoin(base + page, url)
        assert urlsplit(absolute).netloc == urlsplit(base).netloc, f"{page} loads {url} from elsewhere"
        asset = httpx.get(absolute)
        assert asset.status_code == 200, (url, asset.status_code)
        assert len(asset.content) > 100


def test_only_the_named_assets_are_served(base):
    assert httpx.get(f"{base}/docs/assets/swagger-ui.css").headers["content-type"].startswith("text/css")
    for name in ("core.py", "..%2Fcore.py", "favicon.png", "nothing.js"):
        assert httpx.get(f"{base}/docs/assets/{name}").status_code == 404


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium")
def test_the_pages_render_in_a_browser_without_leaving_the_server(base):
    sync_api = pytest.importorskip("playwright.sync_api")
    fetched: list[str] = []  # requests that got an answer (one the page's policy blocked never leaves)
    errors: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            page.on("requestfinished", lambda request: fetched.append(request.url))
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" and "Content Security Policy" not in msg.text else None)
            page.goto(f"{base}/docs")
            page.wait_for_selector(".swagger-ui .info .title", timeout=30_000)
            assert "hwsearch" in page.inner_text(".swagger-ui .info .title")
            page.click("text=Submit a search job")
            page.wait_for_selector("text=bismo-edge", timeout=30_000)  # the example job, ready to try
            page.goto(f"{base}/redoc")
            page.wait_for_selector("h1:has-text('hwsearch')", timeout=30_000)
            page.wait_for_selector("h2:has-text('Submit a search job')", state="attached", timeout=30_000)
        finally:
            browser.close()
    outside = [url for url in fetched if not url.startswith((base, "data:", "blob:"))]
    assert not outside, f"the docs pages fetched from outside the server: {outside}"
    assert any(url.endswith("/openapi.json") for url in fetched)
    assert not errors, errors
