"""The web page in a real browser: Debian's Chromium driven by Playwright against `hwsearch serve`.

One module-scoped server and browser; the tests run in file order and share the job the
first one submits through the form. Screenshots go to test-output/screenshots/.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from tests.service import Server, create_key

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium)")
playwright_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright package (pip install -e '.[test]')")

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "test-output" / "screenshots"
DESKTOP = {"width": 1366, "height": 860}
PHONE = {"width": 390, "height": 844}
SHORT_JOB = {"model": "digits-cnn", "target": "bismo-edge", "budget": 0.5, "agent": "random", "episodes": 6, "seed": 0}
TIMEOUT_MS = 120_000
FORMATS = ("policy", "onnx", "encodings", "weights", "csv")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("web")
    srv = Server(data_dir, workers=1).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def key(server) -> str:
    return create_key(server.env, "web")


@pytest.fixture(scope="module")
def api(server, key):
    with server.client(key) as client:
        yield client


@pytest.fixture(scope="module")
def base(server) -> str:
    return server.url.removesuffix("/api/v1")


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        yield chromium
        chromium.close()


class Page:
    """A browser tab that records script errors (every test asserts there were none)."""

    def __init__(self, browser, viewport: dict, key: str | None = None) -> None:
        options = {"viewport": viewport, "accept_downloads": True}
        if viewport["width"] < 600:
            options.update(is_mobile=True, has_touch=True, device_scale_factor=2)
        self.context = browser.new_context(**options)
        self.context.set_default_timeout(30_000)
        if key:  # as if the user had typed it earlier in this tab
            self.context.add_init_script(f"sessionStorage.setItem('hwsearch.key', {json.dumps(key)})")
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("console", self._console)

    def _console(self, msg) -> None:
        # The browser logs every 4xx as "Failed to load resource"; the tests provoke some on purpose.
        if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
            self.errors.append(msg.text)

    def shot(self, name: str) -> Path:
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def close(self) -> None:
        self.context.close()


@pytest.fixture(scope="module")
def desktop(browser):
    tab = Page(browser, DESKTOP)
    yield tab
    tab.close()
    assert not tab.errors, tab.errors


@pytest.fixture(scope="module")
def state() -> dict:
    """What the flow tests hand on to each other (job id, policy id)."""
    return {}


def test_key_is_asked_for_and_checked(desktop, base, key):
    page = desktop.page
    page.goto(f"{base}/")
    assert page.locator("#key-panel").is_visible() and not page.locator("#main").is_visible()
    page.fill("#key-input", "hws_wrong")
    page.click("#key-form button")
    page.wait_for_selector("#key-error:visible")
    assert "unknown API key" in page.text_content("#key-error")
    desktop.shot("00-key-desktop")
    page.fill("#key-input", key)
    page.click("#key-form button")
    page.wait_for_selector("#jobs-status:has-text('No jobs yet')")
    assert page.evaluate("sessionStorage.getItem('hwsearch.key')") == key


def fill_form(page, job: dict) -> None:
    page.select_option("#f-model", job["model"])
    page.select_option("#f-target", job["target"])
    page.fill("#f-budget", str(job["budget"]))
    page.select_option("#f-agent", job["agent"])
    page.fill("#f-episodes", str(job["episodes"]))
    page.fill("#f-seed", str(job["seed"]))


def test_form_shows_the_apis_validation_message(desktop, api):
    page = desktop.page
    fill_form(page, {**SHORT_JOB, "budget": 0.0001})
    page.click("#submit-job")
    page.wait_for_selector("#form-error:visible")
    expected = api.post("/jobs", json={**SHORT_JOB, "budget": {"relative": 0.0001}})
    assert expected.status_code == 422
    assert page.text_content("#form-error") == expected.json()["message"]
    assert page.get_attribute("#f-budget", "aria-invalid") == "true"
    desktop.shot("01-jobs-form-error-desktop")
    assert api.get("/jobs").json()["total"] == 0  # nothing was queued


def test_submit_and_watch_the_job_finish(desktop, api, state):
    page = desktop.page
    page.evaluate("window.__sameDocument = true")
    fill_form(page, SHORT_JOB)
    page.click("#submit-job")
    page.wait_for_selector("#form-ok:visible")
    job_id = int(re.search(r"#(\d+)", page.text_content("#form-ok")).group(1))
    row = f"#jobs-table tr[data-job-id='{job_id}']"
    page.wait_for_selector(f"{row}[data-state='succeeded']", timeout=TIMEOUT_MS)
    assert page.evaluate("window.__sameDocument") is True  # updated in place, never reloaded
    assert page.text_content(f"{row} .progress-text") == "6 / 6 episodes"
    job = api.get(f"/jobs/{job_id}").json()
    assert page.text_content(f"{row} .best-accuracy") == f"{100 * job['progress']['best_accuracy']:.1f}%"
    desktop.shot("02-jobs-desktop")
    state.update(job_id=job_id, best_policy_id=job["best_policy_id"])


def test_job_page_charts_and_pareto(desktop, api, base, state):
    page = desktop.page
    job_id = state["job_id"]
    page.click(f"#jobs-table tr[data-job-id='{job_id}'] a")
    page.wait_for_url(f"{base}/jobs/{job_id}")
    page.wait_for_selector("#chart-accuracy svg")
    assert page.locator("#chart-accuracy .pt").count() == 6
    assert page.locator("#chart-reward .pt").count() == 6
    page.wait_for_selector("#chart-pareto .baselines [data-bits='4']", timeout=TIMEOUT_MS)
    assert sorted(page.locator("#chart-pareto .baselines [data-bits]").evaluate_all("ns => ns.map(n => +n.dataset.bits)")) == [4, 6, 8]
    pareto = api.get("/policies", params={"job": job_id, "kind": "pareto"}).json()["items"]
    shown = page.locator("#chart-pareto .pareto [data-policy-id]").evaluate_all("ns => ns.map(n => +n.dataset.policyId)")
    assert sorted(shown) == sorted(p["id"] for p in pareto)
    baselines = api.get(f"/web/jobs/{job_id}/baselines").json()["baselines"]
    int8 = api.get(f"/jobs/{job_id}").json()["summary"]["baseline_int8"]
    assert baselines[0]["bits"] == 8 and baselines[0]["accuracy"] == pytest.approx(int8["accuracy"])
    assert baselines[0]["latency_ms"] == pytest.approx(int8["latency_ms"])
    assert baselines[0]["latency_ms"] > baselines[1]["latency_ms"] > baselines[2]["latency_ms"]
    desktop.shot("03-job-desktop")
    page.click("[data-axis='energy_mj']")
    assert page.locator("#chart-pareto .pareto [data-policy-id]").count() == len(pareto)
    page.click("[data-axis='latency_ms']")
    target = pareto[0]["id"]
    page.click(f"#chart-pareto .pareto a:has([data-policy-id='{target}'])")
    page.wait_for_url(f"{base}/policies/{target}")
    state["pareto_policy_id"] = target


def same_export(fmt: str, got: bytes, want: bytes) -> bool:
    """The browser saved what the API serves (safetensors' header order varies between calls)."""
    if fmt == "weights":
        from safetensors.numpy import load

        a, b = load(got), load(want)
        return a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    return got == want


def test_policy_page_bars_table_and_downloads(desktop, api, base, state, tmp_path):
    page = desktop.page
    policy_id = state["best_policy_id"]
    page.goto(f"{base}/policies/{policy_id}")
    page.wait_for_selector("#chart-bits rect.bar-w")
    policy = api.get(f"/policies/{policy_id}").json()
    layers = policy["layers"]
    for cls, field in (("bar-w", "weight_bits"), ("bar-a", "activation_bits")):
        bars = page.locator(f"#chart-bits rect.{cls}").evaluate_all(
            "ns => ns.map(n => [n.dataset.layer, +n.dataset.value, n.getBBox().height])"
        )
        assert [(name, bits) for name, bits, _ in bars] == [(layer["name"], layer[field]) for layer in layers]
        per_bit = {round(h / bits, 1) for _, bits, h in bars}
        assert len(per_bit) == 1, bars  # bar height is proportional to the bits on one 0..8 axis
    assert page.locator("#chart-share rect.bar-lat").count() == len(layers)
    assert page.locator("#layers-table tbody tr").count() == len(layers)
    assert page.locator("#layers-table tbody tr .w-bits").all_text_contents() == [str(layer["weight_bits"]) for layer in layers]
    assert page.locator("#totals-table tbody tr").count() == 4
    desktop.shot("04-policy-desktop")
    for fmt in FORMATS:
        with page.expect_download(timeout=TIMEOUT_MS) as info:
            page.click(f"#downloads [data-format='{fmt}']")
        download = info.value
        saved = tmp_path / download.suggested_filename
        download.save_as(saved)
        expected = api.get(f"/policies/{policy_id}/export", params={"format": fmt})
        assert same_export(fmt, saved.read_bytes(), expected.content), fmt
        assert expected.headers["content-disposition"].endswith(f'"{download.suggested_filename}"')
    assert json.loads((tmp_path / next(p.name for p in tmp_path.iterdir() if p.suffix == ".json" and "enc" not in p.name)).read_text())["schema"] == "hwsearch.policy/v1"
    page.wait_for_selector("#download-status:has-text('Saved')")


def test_compare_two_policies(desktop, api, base, state):
    page = desktop.page
    ids = [state["best_policy_id"], state["pareto_policy_id"]]
    if ids[0] == ids[1]:
        ids[1] = next(p["id"] for p in api.get("/policies", params={"job": state["job_id"]}).json()["items"] if p["id"] != ids[0])
    page.goto(f"{base}/compare")
    page.wait_for_selector("#pick-list input")
    assert page.locator("#picker").get_attribute("open") is not None
    for policy_id in ids:
        page.check(f"#pick-list input[value='{policy_id}']")
    page.click("#pick-form button")
    page.wait_for_selector("#compare-result:visible")
    assert page.locator("#picker").get_attribute("open") is None  # the list folds away once compared
    ids = [int(i) for i in page.url.split("?ids=")[1].split(",")]  # in the list's order
    assert set(ids) == {state["best_policy_id"], state["pareto_policy_id"]} or len(set(ids)) == 2
    layers = api.get(f"/policies/{ids[0]}").json()["layers"]
    assert page.locator("#compare-layers tbody tr").count() == len(layers)
    assert page.locator("#compare-layers thead th").count() == 2 + len(ids)
    second = api.get(f"/policies/{ids[1]}").json()["layers"]
    cells = page.locator("#compare-layers tbody tr td:nth-child(4) .bits").all_text_contents()
    assert cells == [f"{layer['weight_bits']} / {layer['activation_bits']}" for layer in second]
    assert page.locator("#chart-compare-w rect.bar").count() == 2 * len(layers)
    desktop.shot("05-compare-desktop")
    state["compare_ids"] = ids


EPISODE = "() => +(/^(\\d+) \\//.exec(document.querySelector('#job-progress .progress-text')?.textContent || '') || [0, 0])[1]"


def test_job_page_follows_a_running_job_and_cancels(desktop, api, base):
    """Progress arrives over the events stream while the page stays put; Cancel stops the job."""
    page = desktop.page
    body = {**SHORT_JOB, "budget": {"relative": 0.5}, "episodes": 4000}
    job_id = api.post("/jobs", json=body).json()["id"]
    page.goto(f"{base}/jobs/{job_id}")
    page.evaluate("window.__sameDocument = true")
    page.wait_for_function(f"() => ({EPISODE})() >= 3", timeout=TIMEOUT_MS)
    first = page.evaluate(EPISODE)
    page.wait_for_function(f"() => ({EPISODE})() > {first}", timeout=TIMEOUT_MS)
    assert page.text_content("#job-state") == "running"
    assert "Best accuracy" in page.text_content("#progress-facts")
    desktop.shot("06-job-running-desktop")
    page.click("#cancel-job")
    page.wait_for_selector("#job-state.cancelled", timeout=TIMEOUT_MS)
    page.wait_for_selector("#chart-accuracy svg")  # a cancelled job keeps its history and front
    assert page.evaluate("window.__sameDocument") is True
    job = api.get(f"/jobs/{job_id}").json()
    assert job["state"] == "cancelled" and job["progress"]["episode"] < 4000
    assert page.locator("#chart-accuracy .pt").count() == len(job["history"])


def test_phone_layout(browser, base, key, state):
    tab = Page(browser, PHONE, key)
    page = tab.page
    try:
        ids = ",".join(map(str, state["compare_ids"]))
        pages = [
            ("jobs", "/", "#jobs-table tbody tr"),
            ("job", f"/jobs/{state['job_id']}", "#chart-pareto .baselines [data-bits='4']"),
            ("policy", f"/policies/{state['best_policy_id']}", "#chart-bits rect.bar-w"),
            ("compare", f"/compare?ids={ids}", "#compare-layers tbody tr"),
        ]
        for number, (name, path, ready) in enumerate(pages, start=7):
            page.goto(f"{base}{path}")
            page.wait_for_selector(ready, timeout=TIMEOUT_MS)
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{name} page scrolls sideways by {overflow}px on a phone"
            tab.shot(f"{number:02d}-{name}-phone")
    finally:
        tab.close()
    assert not tab.errors, tab.errors


def test_policy_page_shows_robust_accuracy_and_fine_tune(desktop, api, base):
    """A search with a robust block and a defensive fine-tune: the policy page's cards show
    what the API stored; a policy without them has no such cards."""
    body = {
        **SHORT_JOB, "budget": {"relative": 0.5}, "episodes": 3, "finetune_steps": 10,
        "robust": {"attack": "pgd", "eps": 0.1, "steps": 2, "samples": 64, "defensive": True},
    }
    job_id = api.post("/jobs", json=body).json()["id"]
    page = desktop.page
    page.goto(f"{base}/jobs/{job_id}")
    page.wait_for_selector("#job-state.succeeded", timeout=TIMEOUT_MS)
    assert "PGD ε=0.1, 2 steps on 64 images" in page.text_content("#job-spec")
    policy_id = api.get(f"/jobs/{job_id}").json()["best_policy_id"]
    robustness = api.get(f"/policies/{policy_id}").json()["document"]["robustness"]
    page.goto(f"{base}/policies/{policy_id}")
    page.wait_for_selector("#robust-stat")
    assert page.text_content("#robust-stat .value") == f"{100 * robustness['accuracy']:.1f}%"
    assert page.text_content("#robust-stat .vs").startswith("PGD ε=0.1 on 64 images")
    finetune = api.get(f"/policies/{policy_id}").json()["document"]["finetune"]
    assert page.text_content("#finetune-stat .label") == "Defensive fine-tune"
    assert page.text_content("#finetune-stat .value") == f"{100 * finetune['accuracy_after']:.1f}%"
    assert "exports use the fine-tuned weights" in page.text_content("#finetune-stat .vs")
    desktop.shot("11-policy-robust-desktop")
    plain = api.get("/policies", params={"job": 1}).json()["items"][0]["id"]  # the first job had no robust block
    page.goto(f"{base}/policies/{plain}")
    page.wait_for_selector("#chart-bits rect.bar-w")
    assert page.locator("#robust-stat").count() == 0 and page.locator("#finetune-stat").count() == 0


def test_pages_without_a_key_hold_no_data(base):
    page = httpx.get(f"{base}/jobs/1")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert httpx.get(f"{base}/static/..%2Fapi%2Fapp.py").status_code == 404
    assert httpx.get(f"{base}/api/v1/web/jobs/1/baselines").status_code == 401
