// Jobs page: the list (polled once a second while a job is live) and the submit form.
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
      el("td", { "data-label": "Model · target" }, `${spec.model} · ${spec.target}`),
      el("td", { "data-label": "Agent · budget" }, `${spec.agent} · ${HW.budgetText(spec.budget)}`),
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

  async function fillSelects() {
    const [models, hardware] = await Promise.all([api("/models"), api("/hardware")]);
    const m = document.getElementById("f-model");
    m.replaceChildren(...models.filter((x) => x.searchable).map((x) => el("option", { value: x.name, title: x.description }, x.name)));
    const t = document.getElementById("f-target");
    t.replaceChildren(...hardware.map((h) => el("option", { value: h.name, title: h.description }, h.builtin ? h.name : `${h.name} (${h.info.label})`)));
    if ([...t.options].some((o) => o.value === "bitfusion")) t.value = "bitfusion";
  }

  /** The job body, built like a careful API user would: blank optional fields are left out. */
  function body(form) {
    const get = (name) => form.elements[name].value.trim();
    const number = (name) => { const v = get(name); return v === "" ? undefined : Number(v); };
    const spec = { model: get("model"), target: get("target"), agent: get("agent") };
    if (get("objective")) spec.objective = get("objective");
    const budget = get("budget");
    spec.budget = { [get("budget_kind")]: budget === "" ? null : Number(budget) };
    for (const name of ["episodes", "seed", "min_bits", "max_bits", "eval_samples", "finetune_steps"]) {
      const v = number(name);
      if (v !== undefined) spec[name] = v;
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
    await Promise.all([fillSelects(), refresh()]);
  });
})();
