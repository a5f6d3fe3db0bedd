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

from tests.service import Server, create_key, wait_for

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
    kept = policy["document"]["unquantized"]  # digits-cnn's BatchNorms: no width applies to them
    assert kept and page.text_content("#float-stat .value") == f"{100 * sum(u['share'] for u in kept):.1f}%"
    top = max(kept, key=lambda u: u["share"])
    assert f"{top['module']} ({top['kind']})" in page.text_content("#float-stat .vs")
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
    try:
        ids = ",".join(map(str, state["compare_ids"]))
        pages = [
            ("jobs", "/", "#jobs-table tbody tr"),
            ("job", f"/jobs/{state['job_id']}", "#chart-pareto .baselines [data-bits='4']"),
            ("policy", f"/policies/{state['best_policy_id']}", "#chart-bits rect.bar-w"),
            ("compare", f"/compare?ids={ids}", "#compare-layers tbody tr"),
        ]
        shoot_phone_pages(tab, base, pages, start=7)
    finally:
        tab.close()
    assert not tab.errors, tab.errors


def shoot_phone_pages(tab, base: str, pages: list[tuple[str, str, str]], start: int) -> None:
    """Each (name, path, ready selector) page: no sideways scrolling on a phone, and a screenshot."""
    for number, (name, path, ready) in enumerate(pages, start=start):
        tab.page.goto(f"{base}{path}")
        tab.page.wait_for_selector(ready, state="attached", timeout=TIMEOUT_MS)
        overflow = tab.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} page scrolls sideways by {overflow}px on a phone"
        tab.shot(f"{number:02d}-{name}-phone")


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


# --- bring your own model and data (issue 18, item 5) -------------------------------------------

UPLOAD_JOB = {"target": "bismo-edge", "budget": 0.5, "agent": "random", "episodes": 4, "seed": 0}


def user_onnx(seed: int = 0) -> bytes:
    import torch

    from tests.fixtures.user_models import UserCNN, onnx_bytes

    torch.manual_seed(seed)
    return onnx_bytes(UserCNN())


def npz_file(path: Path, shape: tuple[int, ...] = (1, 28, 28), val: int = 120) -> Path:
    """Explicit calib/val/test splits (like ``splits()`` in tests/test_dataset_upload.py)."""
    import io

    import numpy as np

    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("calib", 64), ("val", val), ("test", 100)):
        arrays[f"x_{split}"] = rng.integers(0, 256, (n, *shape), dtype=np.uint8)
        arrays[f"y_{split}"] = rng.integers(0, 10, n)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path.write_bytes(buffer.getvalue())
    return path


def open_form(page, base: str) -> None:
    page.goto(f"{base}/")
    page.wait_for_selector("#f-model option[value='digits-cnn']", state="attached")
    page.wait_for_selector("#f-data option[value='fashion']", state="attached")


def test_form_refuses_a_pytorch_file_with_the_servers_message(desktop, api, base, tmp_path):
    page = desktop.page
    open_form(page, base)
    pt = tmp_path / "net.pt"
    pt.write_bytes(b"PK\x03\x04 a torch.save archive")
    page.set_input_files("#f-model-file", str(pt))
    page.wait_for_selector("#model-check.error")
    expected = api.post("/models", files={"file": ("net.pt", pt.read_bytes())})
    assert expected.status_code == 422
    assert page.text_content("#model-check") == expected.json()["message"]
    assert "PyTorch file" in page.text_content("#model-check")
    assert [m for m in api.get("/models").json() if not m["builtin"]] == []  # nothing stored


def test_form_uploads_a_model_and_shows_its_check(desktop, api, base, state, tmp_path):
    page = desktop.page
    open_form(page, base)
    onnx = tmp_path / "user-cnn.onnx"
    onnx.write_bytes(user_onnx())
    page.set_input_files("#f-model-file", str(onnx))
    page.wait_for_selector("#model-check.ok", timeout=TIMEOUT_MS)
    [model] = [m for m in api.get("/models").json() if not m["builtin"]]
    report = model["report"]
    assert model["name"] == "user-cnn" and len(report["layers"]) == 5
    assert page.input_value("#f-model") == model["ref"]  # the upload is selected for the job
    assert page.text_content("#model-check .layer-count") == "5 quantizable layers"
    [bn] = report["unquantized"]
    assert page.locator("#model-check .float-weights li").all_text_contents() == [
        f"{bn['module']} (BatchNorm2d, 32 values, {100 * bn['share']:.1f}% of the weights)"
    ]
    assert f"{100 * report['quantized_share']:.1f}% of the weights" in page.text_content("#model-check")
    agreement = f"{report['relative_diff']:.2g}".replace("e-0", "e-")  # as JavaScript's toPrecision(2) writes it
    assert page.text_content("#model-check .agreement") == f"Agrees with onnxruntime to {agreement} (relative difference)."
    state.update(model_ref=model["ref"], model_id=model["id"], model_report=report)


def test_form_uploads_data_checked_against_the_selected_model(desktop, api, base, state, tmp_path):
    page = desktop.page
    assert page.input_value("#f-model") == state["model_ref"]
    # RGB 32x32 images do not fit the uploaded model: the server checked them against it
    page.set_input_files("#f-data-file", str(npz_file(tmp_path / "rgb.npz", shape=(3, 32, 32))))
    page.wait_for_selector("#data-check.error")
    assert "images are 3x32x32 but the model takes 1x28x28" in page.text_content("#data-check")
    page.set_input_files("#f-data-file", str(npz_file(tmp_path / "mine.npz")))
    page.wait_for_selector("#data-check.ok", timeout=TIMEOUT_MS)
    [data] = api.get("/datasets").json()
    assert data["counts"] == {"calib": 64, "val": 120, "test": 100}
    assert page.input_value("#f-data") == data["ref"]
    assert page.text_content("#data-check .counts") == "calib 64 · val 120 · test 100 images"
    assert "each 1×28×28 (C×H×W), 10 classes" in page.text_content("#data-check")
    warnings = page.locator("#data-check .warnings li").all_text_contents()
    assert warnings == data["warnings"] and any("only 120 validation images" in w for w in warnings)
    desktop.shot("12-jobs-uploads-desktop")
    state["data_ref"] = data["ref"]


def test_submit_a_job_on_the_uploaded_model_and_data(desktop, api, state):
    page = desktop.page
    # without data the server's message is shown and the data field is marked, as for any field
    page.select_option("#f-data", "")
    fill_form(page, {"model": state["model_ref"], **UPLOAD_JOB})
    page.click("#submit-job")
    page.wait_for_selector("#form-error:visible")
    expected = api.post("/jobs", json={"model": state["model_ref"], **UPLOAD_JOB, "budget": {"relative": 0.5}})
    assert expected.status_code == 422
    assert page.text_content("#form-error") == expected.json()["message"]
    assert page.get_attribute("#f-data", "aria-invalid") == "true"
    page.select_option("#f-data", state["data_ref"])
    page.click("#submit-job")
    page.wait_for_selector("#form-ok:visible")
    job_id = int(re.search(r"#(\d+)", page.text_content("#form-ok")).group(1))
    row = f"#jobs-table tr[data-job-id='{job_id}']"
    page.wait_for_selector(f"{row}[data-state='succeeded']", timeout=TIMEOUT_MS)
    spec = api.get(f"/jobs/{job_id}").json()["spec"]
    assert (spec["model"], spec["data"]) == (state["model_ref"], state["data_ref"])
    assert page.text_content(f"{row} td[data-label='Model · target']") == f"user-cnn ({state['model_ref']}) · bismo-edge"
    assert api.get(f"/jobs/{state['job_id']}").json()["spec"].get("data") is None  # a built-in model's own data: left out
    state["upload_job_id"] = job_id


def test_models_page_lists_the_upload_and_deletes(desktop, api, base, state, tmp_path):
    page = desktop.page
    page.goto(f"{base}/models")
    card = f"article.upload[data-ref='{state['model_ref']}']"
    page.wait_for_selector(card)
    layers = state["model_report"]["layers"]
    cells = page.locator(f"{card} table.layers tbody tr").evaluate_all("rs => rs.map(r => [...r.cells].map(c => c.textContent))")
    assert cells == [[l["name"], l["op"], str(l["calls"]), f"{l['macs']:,}", f"{l['params']:,}"] for l in layers]
    [bn] = state["model_report"]["unquantized"]
    assert page.locator(f"{card} table.floats tbody tr td").all_text_contents() == [bn["module"], "BatchNorm2d", "32", f"{100 * bn['share']:.1f}%"]
    assert page.locator("#builtin-table tbody tr[data-ref='digits-cnn']").count() == 1
    assert page.locator(f"#datasets-table tr[data-ref='{state['data_ref']}'] .warnings").text_content().startswith("only 120 validation images")
    desktop.shot("13-models-desktop")
    # a job uses the model: the server's 409 is shown and the model stays
    page.click(f"{card} button.delete")
    assert page.text_content(f"{card} button.delete") == "Delete user-cnn?"
    page.click(f"{card} button.delete")
    page.wait_for_selector(f"{card} .delete-error:visible")
    refusal = api.delete(f"/models/{state['model_id']}")
    assert refusal.status_code == 409
    assert page.text_content(f"{card} .delete-error") == refusal.json()["message"]
    # an unused upload is deleted
    spare = api.post("/models", files={"file": ("spare.onnx", user_onnx(seed=1))}).json()
    page.reload()
    spare_card = f"article.upload[data-ref='{spare['ref']}']"
    page.wait_for_selector(spare_card)
    page.click(f"{spare_card} button.delete")
    page.click(f"{spare_card} button.delete")
    page.wait_for_selector(spare_card, state="detached")
    assert [m["ref"] for m in api.get("/models").json() if not m["builtin"]] == [state["model_ref"]]
    assert page.locator(card).count() == 1


def shown_ids(page) -> list[int]:
    return page.locator("#policies-table tbody tr").evaluate_all("rs => rs.map(r => +r.dataset.policyId)")


def wait_for_ids(page, ids: list[int]) -> None:
    page.wait_for_function(
        "ids => JSON.stringify([...document.querySelectorAll('#policies-table tbody tr')].map(r => +r.dataset.policyId)) === JSON.stringify(ids)"
        " && !document.querySelector('#policies-table').hidden",
        arg=ids,
    )


def test_policies_page_filters_sorts_and_pages(desktop, api, base, state):
    page = desktop.page
    page.goto(f"{base}/")
    page.click("nav a[href='/policies']")
    page.wait_for_url(f"{base}/policies")
    everything = api.get("/policies", params={"limit": 20}).json()
    assert everything["total"] > 2
    wait_for_ids(page, [p["id"] for p in everything["items"]])
    assert page.text_content("#policies-status") == f"{everything['total']} policies match."
    mine = api.get("/policies", params={"model": state["model_ref"]}).json()
    assert 0 < mine["total"] < everything["total"]
    page.select_option("#q-model", state["model_ref"])
    wait_for_ids(page, [p["id"] for p in mine["items"]])
    assert {p["job_id"] for p in mine["items"]} == {state["upload_job_id"]}
    page.select_option("#q-kind", "best")
    [best] = api.get("/policies", params={"model": state["model_ref"], "kind": "best"}).json()["items"]
    wait_for_ids(page, [best["id"]])
    desktop.shot("14-policies-desktop")
    page.click("#filter-form button[type='reset']")
    # accuracy and latency ranges, sorted by latency
    cut = sorted(p["latency_ms"] for p in everything["items"])[len(everything["items"]) // 2]
    page.fill("#q-max_latency_ms", str(cut))
    page.select_option("#q-sort", "latency_ms")
    fast = api.get("/policies", params={"max_latency_ms": cut, "sort": "latency_ms", "limit": 20}).json()
    assert 0 < fast["total"] < everything["total"]
    wait_for_ids(page, [p["id"] for p in fast["items"]])
    assert "max_latency_ms=" in page.url and "sort=latency_ms" in page.url
    page.fill("#q-min_accuracy", "101")
    page.click("#filter-form button[type='submit']")
    page.wait_for_selector("#policies-error:visible")  # the API's 422 for an accuracy above 1
    assert "less than or equal to 1" in page.text_content("#policies-error")
    page.fill("#q-min_accuracy", "")
    page.click("#filter-form button[type='submit']")
    wait_for_ids(page, [p["id"] for p in fast["items"]])
    # two at a time: Next shows the next two, and each row opens its policy page
    page.goto(f"{base}/policies?limit=2&sort=created_at")
    by_id = api.get("/policies", params={"sort": "created_at", "limit": 4}).json()["items"]
    wait_for_ids(page, [p["id"] for p in by_id[:2]])
    assert page.input_value("#q-sort") == "created_at"  # the address fills the form
    assert page.text_content("#page-text") == f"1–2 of {everything['total']}" and page.is_disabled("#page-prev")
    page.click("#page-next")
    wait_for_ids(page, [p["id"] for p in by_id[2:4]])
    assert "offset=2" in page.url
    page.click(f"#policies-table tr[data-policy-id='{by_id[2]['id']}'] a[href='/policies/{by_id[2]['id']}']")
    page.wait_for_url(f"{base}/policies/{by_id[2]['id']}")
    page.wait_for_selector("#chart-bits rect.bar-w")


def test_new_pages_on_a_phone(browser, base, key, state):
    tab = Page(browser, PHONE, key)
    try:
        pages = [
            ("models", "/models", f"article.upload[data-ref='{state['model_ref']}'] table.layers tbody tr"),
            ("policies", "/policies", "#policies-table tbody tr"),
            ("jobs-form", "/", "#f-data option[value='fashion']"),
        ]
        shoot_phone_pages(tab, base, pages, start=15)
    finally:
        tab.close()
    assert not tab.errors, tab.errors


def test_form_sends_per_kind_widths_and_marks_a_bad_set(desktop, api, base):
    """Weight and activation widths from the form reach the spec; a bad set is marked on its field."""
    page = desktop.page
    page.goto(f"{base}/")
    page.wait_for_selector("#f-model option[value='digits-cnn']", state="attached")
    fill_form(page, {**SHORT_JOB, "budget": 0.8})  # activations at 8 bits: 0.66 x int8 at best
    page.click("#job-form summary")
    page.fill("#f-weight_bits", "2-8")
    page.fill("#f-activation_bits", "9")
    page.click("#submit-job")
    page.wait_for_selector("#form-error:visible")
    assert "activation_bits" in page.text_content("#form-error")
    assert page.get_attribute("#f-activation_bits", "aria-invalid") == "true"
    page.fill("#f-activation_bits", "8")
    page.click("#submit-job")
    page.wait_for_selector("#form-ok:visible")
    job_id = int(re.search(r"#(\d+)", page.text_content("#form-ok")).group(1))
    spec = api.get(f"/jobs/{job_id}").json()["spec"]
    assert spec["weight_bits"] == [2, 3, 4, 5, 6, 7, 8] and spec["activation_bits"] == [8]
    api.post(f"/jobs/{job_id}/cancel")


def test_policy_page_queues_a_timing_and_shows_predicted_against_measured(desktop, api, base, state):
    page = desktop.page
    policy_id = state["best_policy_id"]
    page.goto(f"{base}/policies/{policy_id}")
    page.wait_for_selector("#verify-meta:has-text('Not timed yet')")
    assert page.locator("#verify-table").is_hidden()
    page.click("#verify-run")
    link = page.wait_for_selector("#verify-status a")
    job_id = int(link.text_content().lstrip("job #"))
    done = wait_for(api, job_id, ("succeeded", "failed", "cancelled"), timeout=240)
    assert done["state"] == "succeeded", done.get("error")
    figures = api.get(f"/policies/{policy_id}").json()["verification"]
    page.goto(f"{base}/policies/{policy_id}")
    page.wait_for_selector("#verify-table tbody tr[data-model='policy']")
    assert page.locator("#verify-table tbody tr").count() == 3
    measured = page.text_content("#verify-table tr[data-model='policy'] .measured")
    assert measured == page.evaluate("v => HW.ms(v)", figures["measured_ms"])
    runtime = next(m for m in figures["models"] if m["name"] == "policy")["runtime_predicted_ms"]
    shown = page.text_content("#verify-table tr[data-model='policy'] .runtime-predicted")
    assert shown == ("–" if runtime is None else page.evaluate("v => HW.ms(v)", runtime))
    assert figures["measured_on"] in page.text_content("#verify-meta")
