// Jobs page: the list (polled once a second while a job is live) and the submit form with model and data uploads.
"use strict";
(() => {
  const { el, api } = HW;
  const FAST = 1000, SLOW = 10000;
  let timer = null;

  function row(job) {
    const p = job.progress || {};
    const spec = job.spec || {};
    const open = () => { location.href = `/jobs/${job.id}`; };
    return el("tr", { class: "clickable", dataset: { jobId: job.id, state: job.state }, onclick: open },
      el("td", { "data-label": "Job" }, el("a", { href: `/jobs/${job.id}` }, `#${job.id}`)),
      el("td", { "data-label": "Model · target" }, `${names[spec.model] || spec.model} · ${spec.kind === "measure" ? `measured on queue ${job.queue}` : spec.target}`),
      el("td", { "data-label": "Agent · budget" }, spec.kind === "measure" ? "measurement"
        : spec.kind === "verify" ? `timing of policy #${spec.policy_id}` : `${spec.agent} · ${HW.budgetText(spec.budget)}`),
      el("td", { "data-label": "State", class: "state" }, HW.badge(job.state)),
      el("td", { "data-label": "Progress", class: "progress-cell" }, HW.progressBar(job)),
      el("td", { "data-label": "Best accuracy", class: "num best-accuracy" }, p.best_accuracy != null ? HW.pct(p.best_accuracy) : "–"),
      el("td", { "data-label": "Latency", class: "num best-latency" }, HW.ms(p.best_latency_ms)));
  }

  async function refresh() {
    clearTimeout(timer);
    const status = document.getElementById("jobs-status");
    let live = false;
    try {
      const page = await api("/jobs?limit=50");
      const table = document.getElementById("jobs-table");
      table.tBodies[0].replaceChildren(...page.items.map(row));
      table.hidden = page.items.length === 0;
      status.textContent = page.items.length ? `${page.total} job${page.total === 1 ? "" : "s"}; live ones update every second.` : "No jobs yet: submit one with the form.";
      live = page.items.some((j) => !HW.TERMINAL.includes(j.state));
    } catch (err) {
      if (err.status === 401) return;
      status.textContent = `Could not load jobs: ${err.message}`;
    }
    timer = setTimeout(refresh, live ? FAST : SLOW);
  }

  const names = {};  // model ref -> what the list shows

  function modelOption(m) {
    names[m.ref] = m.builtin ? m.name : `${m.name} (${m.ref})`;
    return el("option", { value: m.ref, title: m.description }, names[m.ref]);
  }

  function dataOption(d) {
    return el("option", { value: d.ref, title: d.filename }, `${d.name} (${d.ref})`);
  }

  async function fillSelects() {
    const [models, hardware, datasets] = await Promise.all([api("/models"), api("/hardware"), api("/datasets")]);
    const m = document.getElementById("f-model");
    const own = models.filter((x) => !x.builtin);
    m.replaceChildren(el("optgroup", { label: "Built-in" }, models.filter((x) => x.builtin && x.searchable).map(modelOption)),
      el("optgroup", { label: "Your uploads", id: "own-models", hidden: own.length === 0 }, own.map(modelOption)));
    const t = document.getElementById("f-target");
    t.replaceChildren(...hardware.map((h) => el("option", { value: h.name, title: h.description }, h.builtin ? h.name : `${h.name} (${h.info.label})`)));
    if ([...t.options].some((o) => o.value === "bitfusion")) t.value = "bitfusion";
    document.getElementById("f-data").replaceChildren(
      el("option", { value: "" }, "the model's own (built-in models)"),
      el("optgroup", { label: "Built-in" }, ["digits", "fashion"].map((n) => el("option", { value: n }, n))),
      el("optgroup", { label: "Your uploads", id: "own-data", hidden: datasets.length === 0 }, datasets.map(dataOption)));
  }

  const share = (x) => HW.pct(x, 1);

  /** What the server's check found in an uploaded model. */
  function modelReport(m) {
    const r = m.report;
    const float = r.unquantized.length
      ? el("ul", { class: "float-weights" }, r.unquantized.map((u) => el("li", {}, `${u.module} (${u.kind}, ${u.values} values, ${share(u.share)} of the weights)`)))
      : el("p", { class: "float-weights" }, "No weights stay float.");
    return [
      el("p", {}, el("strong", {}, m.name), ` is ${m.ref}: `, el("span", { class: "layer-count" }, `${r.layers.length} quantizable layers`),
        ` holding ${share(r.quantized_share)} of the weights.`),
      r.unquantized.length ? el("p", {}, "Stays float:") : null, float,
      el("p", { class: "agreement" }, `Agrees with onnxruntime to ${HW.num(r.relative_diff, 2)} (relative difference).`),
    ];
  }

  /** What the server's check found in an uploaded data set. */
  function dataReport(d) {
    const counts = Object.entries(d.counts).map(([k, v]) => `${k} ${v}`).join(" · ");
    return [
      el("p", {}, el("strong", {}, d.name), ` is ${d.ref}: `, el("span", { class: "counts" }, `${counts} images`),
        `, each ${d.image_shape.join("×")} (C×H×W), ${d.num_classes} classes.`),
      d.warnings.length ? el("ul", { class: "warnings" }, d.warnings.map((w) => el("li", {}, w))) : null,
    ];
  }

  /** Send a chosen file with fetch + FormData; show the check, or the server's message, under the field. */
  async function upload(input, path, box, extra, onDone) {
    const file = input.files[0];
    if (!file) return;
    const form = new FormData();
    form.append("file", file);
    for (const [k, v] of Object.entries(extra)) if (v) form.append(k, v);
    box.hidden = false;
    box.className = "check";
    box.replaceChildren(`Uploading and checking ${file.name}…`);
    input.disabled = true;
    try {
      const item = await api(path, { method: "POST", body: form });
      box.className = "check ok";
      box.replaceChildren(...onDone(item));
    } catch (err) {
      if (err.status === 401) return;
      box.className = "check error";
      box.replaceChildren(err.message);
    } finally {
      input.disabled = false;
      input.value = "";
    }
  }

  function setupUploads() {
    const model = document.getElementById("f-model");
    const data = document.getElementById("f-data");
    const modelFile = document.getElementById("f-model-file");
    const dataFile = document.getElementById("f-data-file");
    modelFile.addEventListener("change", () => upload(modelFile, "/models", document.getElementById("model-check"), {}, (m) => {
      const group = document.getElementById("own-models");
      group.hidden = false;
      group.append(modelOption(m));
      model.value = m.ref;
      return modelReport(m);
    }));
    dataFile.addEventListener("change", () => upload(dataFile, "/datasets", document.getElementById("data-check"), { model: model.value }, (d) => {
      const group = document.getElementById("own-data");
      group.hidden = false;
      group.append(dataOption(d));
      data.value = d.ref;
      return dataReport(d);
    }));
  }

  /** The job body, built like a careful API user would: blank optional fields are left out. */
  function body(form) {
    const get = (name) => form.elements[name].value.trim();
    const number = (name) => { const v = get(name); return v === "" ? undefined : Number(v); };
    const spec = { model: get("model"), target: get("target"), agent: get("agent") };
    if (get("data")) spec.data = get("data");  // left out: a built-in model's own data set
    if (get("objective")) spec.objective = get("objective");
    const budget = get("budget");
    spec.budget = { [get("budget_kind")]: budget === "" ? null : Number(budget) };
    for (const name of ["episodes", "seed", "min_bits", "max_bits", "eval_samples", "finetune_steps"]) {
      const v = number(name);
      if (v !== undefined) spec[name] = v;
    }
    for (const name of ["weight_bits", "activation_bits"]) {  // "2-8" or "4,8,32": the API parses them
      if (get(name)) spec[name] = get(name);
    }
    return spec;
  }

  function clearErrors(form) {
    form.querySelectorAll("[aria-invalid]").forEach((n) => n.removeAttribute("aria-invalid"));
    form.querySelectorAll(".field-error").forEach((n) => n.remove());
  }

  /** Show the API's own message, and mark each field it names. */
  function showErrors(form, err) {
    HW.showError(document.getElementById("form-error"), err);
    const detail = (err.body && Array.isArray(err.body.detail)) ? err.body.detail : [];
    for (const d of detail) {
      const loc = (d.loc || []).filter((p) => p !== "body");
      const input = form.elements[loc[0] === "budget" ? "budget" : loc[0]];
      if (!input || !input.closest) continue;
      input.setAttribute("aria-invalid", "true");
      const field = input.closest(".field");
      const msg = String(d.msg || "").replace(/^Value error, /, "");
      if (field) field.append(el("span", { class: "field-error" }, msg));
      if (input.closest("details")) input.closest("details").open = true;
    }
  }

  async function submit(ev) {
    ev.preventDefault();
    const form = ev.target;
    const button = document.getElementById("submit-job");
    const ok = document.getElementById("form-ok");
    clearErrors(form);
    document.getElementById("form-error").hidden = true;
    ok.hidden = true;
    button.disabled = true;
    try {
      const job = await api("/jobs", { method: "POST", json: body(form) });
      ok.hidden = false;
      ok.replaceChildren("Queued ", el("a", { href: `/jobs/${job.id}` }, `job #${job.id}`), ".");
      refresh();
    } catch (err) {
      if (err.status !== 401) showErrors(form, err);
    } finally {
      button.disabled = false;
    }
  }

  HW.start(async () => {
    document.getElementById("job-form").addEventListener("submit", submit);
    setupUploads();
    await Promise.all([fillSelects(), refresh()]);
  });
})();
