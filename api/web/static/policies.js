// Policies page: all your policies across jobs, filtered and sorted by GET /policies, a page at a time.
// The filters live in the address (the API's own query parameters), so a filtered list can be shared or reloaded.
"use strict";
(() => {
  const { el, api } = HW;
  let limit = 20;  // ?limit=N in the address overrides it
  const FIELDS = ["model", "target", "kind", "min_accuracy", "max_accuracy", "min_latency_ms", "max_latency_ms", "sort"];
  const PERCENT = ["min_accuracy", "max_accuracy"];  // shown in %, sent as 0..1
  const form = document.getElementById("filter-form");
  let offset = 0;
  let latest = 0;  // answers to an older query than the last one are dropped

  /** The API query from the form (blank fields left out). */
  function query() {
    const q = new URLSearchParams();
    for (const name of FIELDS) {
      const v = form.elements[name].value.trim();
      if (v === "" || (name === "sort" && v === "-created_at")) continue;
      q.set(name, PERCENT.includes(name) ? String(Number(v) / 100) : v);
    }
    return q;
  }

  function fillForm(q) {
    for (const name of FIELDS) {
      const v = q.get(name);
      if (v === null) continue;
      form.elements[name].value = PERCENT.includes(name) ? String(+(Number(v) * 100).toFixed(6)) : v;
    }
    offset = Math.max(0, Number(q.get("offset")) || 0);
    limit = Math.min(200, Math.max(1, Number(q.get("limit")) || limit));
  }

  function row(p) {
    return el("tr", { dataset: { policyId: p.id } },
      el("td", { "data-label": "Policy" }, el("a", { href: `/policies/${p.id}` }, `#${p.id}`)),
      el("td", { "data-label": "Job" }, p.job_id ? el("a", { href: `/jobs/${p.job_id}` }, `#${p.job_id}`) : "–"),
      el("td", { "data-label": "Kind" }, p.kind),
      el("td", { "data-label": "Model · target" }, `${p.model} · ${p.target}`),
      el("td", { "data-label": "Objective" }, p.objective),
      el("td", { "data-label": "Accuracy", class: "num accuracy" }, HW.pct(p.accuracy)),
      el("td", { "data-label": "Latency", class: "num latency" }, HW.ms(p.latency_ms)),
      el("td", { "data-label": "Energy", class: "num" }, HW.mj(p.energy_mj)),
      el("td", { "data-label": "Size", class: "num" }, HW.mb(p.size_mb)),
      el("td", { "data-label": "Created" }, HW.when(p.created_at)));
  }

  async function refresh() {
    const q = query();
    if (offset) q.set("offset", offset);
    if (limit !== 20) q.set("limit", limit);
    history.replaceState(null, "", `${location.pathname}${q.size ? `?${q}` : ""}`);
    q.set("limit", limit);
    const status = document.getElementById("policies-status");
    const error = document.getElementById("policies-error");
    const table = document.getElementById("policies-table");
    error.hidden = true;
    try {
      const mine = ++latest;
      const page = await api(`/policies?${q}`);
      if (mine !== latest) return;
      table.tBodies[0].replaceChildren(...page.items.map(row));
      table.hidden = page.items.length === 0;
      const last = Math.min(page.offset + page.items.length, page.total);
      status.textContent = page.total ? `${page.total} polic${page.total === 1 ? "y" : "ies"} match.` : "No policies match.";
      document.getElementById("page-text").textContent = page.total ? `${page.offset + 1}–${last} of ${page.total}` : "";
      document.getElementById("page-prev").disabled = page.offset === 0;
      document.getElementById("page-next").disabled = last >= page.total;
    } catch (err) {
      if (err.status === 401) return;
      HW.showError(error, err);  // e.g. a 422 naming the filter out of range
      status.textContent = "";
    }
  }

  async function fillSelects() {
    const [models, hardware] = await Promise.all([api("/models"), api("/hardware")]);
    document.getElementById("q-model").append(...models.map((m) => el("option", { value: m.ref }, m.builtin ? m.name : `${m.name} (${m.ref})`)));
    document.getElementById("q-target").append(...hardware.map((h) => el("option", { value: h.name }, h.name)));
  }

  HW.start(async () => {
    await fillSelects();
    fillForm(new URLSearchParams(location.search));
    form.addEventListener("submit", (ev) => { ev.preventDefault(); offset = 0; refresh(); });
    form.addEventListener("change", () => { offset = 0; refresh(); });
    form.addEventListener("reset", () => setTimeout(() => { offset = 0; refresh(); }));
    document.getElementById("page-prev").addEventListener("click", () => { offset = Math.max(0, offset - limit); refresh(); });
    document.getElementById("page-next").addEventListener("click", () => { offset += limit; refresh(); });
    await refresh();
  });
})();
