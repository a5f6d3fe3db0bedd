// One job: spec, live progress (server-sent events over fetch), per-episode charts, Pareto front.
"use strict";
(() => {
  const { el, api } = HW;
  const root = document.getElementById("job");
  const jobId = Number(root.dataset.jobId);
  const AXES = { latency_ms: { label: "Latency (ms)", fmt: HW.ms }, energy_mj: { label: "Energy (mJ)", fmt: HW.mj } };
  const state = { job: null, policies: [], baselines: null, axis: "latency_ms" };

  function kv(dl, pairs) {
    dl.replaceChildren(...pairs.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  }

  function renderProgress(job) {
    const badge = document.getElementById("job-state");
    badge.className = `badge ${job.state}`;
    badge.textContent = job.state;
    const p = job.progress;
    const block = document.getElementById("job-progress");
    const facts = p ? `Best accuracy ${HW.pct(p.best_accuracy)} at ${HW.ms(p.best_latency_ms)} · last reward ${HW.num(p.reward)} · ${p.elapsed_s.toFixed(1)} s` : "";
    block.replaceChildren(HW.progressBar(job), el("div", { class: "progress-text", id: "progress-facts" }, facts));
    document.getElementById("cancel-job").hidden = HW.TERMINAL.includes(job.state) || job.cancel_requested;
    if (job.error) HW.showError(document.getElementById("job-error"), job.error);
  }

  function renderSpec(job) {
    const s = job.spec;
    if (s.kind === "verify") {  // timing a stored policy's exports, not a search
      kv(document.getElementById("job-spec"), [
        ["Timing of", `policy #${s.policy_id} (${s.model} on ${s.target})`], ["On the queue", job.queue || "the service's workers"],
        ["Warm-up · repeats", `${s.warmup} · ${s.repeats}`], ["Submitted", HW.when(job.created_at)], ["Finished", HW.when(job.finished_at)],
      ]);
      return;
    }
    if (s.kind === "measure") {  // a measurement on a named queue, not a search
      kv(document.getElementById("job-spec"), [
        ["Measurement of", s.model], ["On the queue", job.queue], ["Table name", s.name], ["Warm-up · repeats", `${s.warmup} · ${s.repeats}`],
        ["Layers", s.layers.length], ["Submitted", HW.when(job.created_at)], ["Finished", HW.when(job.finished_at)],
      ]);
      return;
    }
    const pairs = [
      ["Model", s.model], ["Data", s.data || "the model's own"], ["Target", s.target], ["Objective", typeof s.objective === "string" ? s.objective : JSON.stringify(s.objective)],
      ["Budget", HW.budgetText(s.budget)], ["Agent", s.agent], ["Episodes", s.episodes], ["Seed", s.seed],
      ["Bits", HW.widthsText(s)], ["Eval samples", s.eval_samples ?? "all"],
      ["Submitted", HW.when(job.created_at)], ["Finished", HW.when(job.finished_at)],
    ];
    const r = s.robust;  // adversarial robustness asked of the search
    if (r) {
      const asks = [`${r.attack.toUpperCase()} ε=${r.eps}` + (r.attack === "pgd" ? `, ${r.steps} steps` : "") + ` on ${r.samples} images`];
      if (r.min_accuracy != null) asks.push(`at least ${HW.pct(r.min_accuracy)}`);
      if (r.weight > 0) asks.push(`reward weight ${r.weight}`);
      if (r.defensive) asks.push(`defensive fine-tune (β=${r.beta})`);
      pairs.splice(pairs.length - 2, 0, ["Robustness", asks.join(" · ")]);
    }
    kv(document.getElementById("job-spec"), pairs);
  }

  function renderSummary(job) {
    const sm = job.summary;
    if (!sm) return;
    if (job.spec.kind === "verify") {
      kv(document.getElementById("job-summary"), [
        ["Predicted", HW.ms(sm.predicted_ms)], ["Measured (median)", HW.ms(sm.measured_ms)], ["Measured on", sm.measured_on],
      ]);
      return;
    }
    if (job.spec.kind === "measure") {
      const pairs = [["Shapes timed", `${sm.shapes_done ?? sm.shapes} of ${sm.shapes}`]];
      if (sm.table) pairs.push(["Table", sm.table], ["Measured on", sm.measured_on]);
      kv(document.getElementById("job-summary"), pairs);
      return;
    }
    const b8 = sm.baseline_int8 || {};
    const pairs = [
      ["Float accuracy", HW.pct(sm.float_accuracy)],
      ["Uniform 8-bit", `${HW.pct(b8.accuracy)} · ${HW.ms(b8.latency_ms)} · ${HW.mj(b8.energy_mj)}`],
      ["Budget", `${HW.num(sm.budget, 4)} ${sm.unit || ""}`],
      ["Evaluations", sm.evaluations], ["Wall time", `${HW.num(sm.wall_time_s)} s`],
    ];
    if (job.best_policy_id) pairs.push(["Best policy", el("a", { href: `/policies/${job.best_policy_id}` }, `#${job.best_policy_id}`)]);
    kv(document.getElementById("job-summary"), pairs);
  }

  function renderHistory(job) {
    const h = job.history || [];
    if (!h.length) return;
    document.getElementById("history-card").hidden = false;
    Charts.draw(document.getElementById("chart-accuracy"), "line", {
      xLabel: "episode", yFormat: (v) => HW.pct(v, 1),
      series: [{ name: "accuracy", color: "#2f62b5", points: h.map((r) => [r.episode, r.accuracy]) }],
    });
    Charts.draw(document.getElementById("chart-reward"), "line", {
      xLabel: "episode",
      series: [{ name: "reward", color: "#e0862a", points: h.map((r) => [r.episode, r.reward]) }],
    });
  }

  /** The stored front is over latency, energy and size; the dashed line joins the part not dominated on this chart's two axes. */
  function front2d(points, axis) {
    const out = [];
    let bestAcc = -Infinity;
    for (const p of [...points].sort((a, b) => a[axis] - b[axis] || b.accuracy - a.accuracy)) {
      if (p.accuracy > bestAcc) { out.push(p); bestAcc = p.accuracy; }
    }
    return out;
  }

  function paretoGroups() {
    const axis = state.axis;
    const fmt = AXES[axis].fmt;
    const has = (p) => p[axis] !== null && p[axis] !== undefined;
    const history = (state.job.history || []).filter(has);
    const front = state.policies.filter((p) => p.kind === "pareto" && has(p));
    const frontier = front2d(front, axis);
    const best = state.policies.filter((p) => p.kind === "best" && has(p));
    const sm = state.job.summary || {};
    const base = state.baselines || (sm.baseline_int8 ? [{ bits: 8, ...sm.baseline_int8 }] : []);
    const point = (p, text) => ({ x: p[axis], y: p.accuracy, title: `${text}: ${HW.pct(p.accuracy)} at ${fmt(p[axis])}` });
    // drawn in this order: what can be clicked (the front) lies on top
    return [
      { name: "evaluated", color: "#9aa3b2", shape: "faint", r: 3.5, cls: "history", points: history.map((r) => point(r, `episode ${r.episode}`)) },
      { name: "uniform", color: "#f2c14e", shape: "diamond", r: 5, cls: "baselines", points: base.filter(has).map((b) => ({ ...point(b, `uniform ${b.bits}-bit`), label: `${b.bits}-bit`, dataset: { bits: b.bits } })) },
      { name: "best", color: "#c0392b", shape: "ring", cls: "best", points: best.map((p) => ({ ...point(p, `best policy #${p.id}`), href: `/policies/${p.id}`, dataset: { policyId: p.id } })) },
      { name: "", color: "#2f62b5", line: true, cls: "frontier", r: 0, points: frontier.map((p) => point(p, `policy #${p.id}`)) },
      { name: "Pareto front", color: "#2f62b5", cls: "pareto", points: front.map((p) => ({ ...point(p, `policy #${p.id}`), href: `/policies/${p.id}`, dataset: { policyId: p.id } })) },
    ];
  }

  function renderPareto() {
    const card = document.getElementById("pareto-card");
    card.hidden = false;
    const energy = state.policies.some((p) => p.energy_mj !== null);
    card.querySelector('[data-axis="energy_mj"]').hidden = !energy;
    Charts.draw(document.getElementById("chart-pareto"), "scatter", {
      height: 340, xLabel: AXES[state.axis].label, yLabel: "accuracy", yFormat: (v) => HW.pct(v, 0), groups: paretoGroups(),
    });
    const rows = [...state.policies].sort((a, b) => a.latency_ms - b.latency_ms).map((p) =>
      el("tr", { class: "clickable", onclick: () => { location.href = `/policies/${p.id}`; } },
        el("td", { "data-label": "Policy" }, el("a", { href: `/policies/${p.id}` }, `#${p.id}`)),
        el("td", { "data-label": "Kind" }, p.kind),
        el("td", { "data-label": "Accuracy", class: "num" }, HW.pct(p.accuracy)),
        el("td", { "data-label": "Latency", class: "num" }, HW.ms(p.latency_ms)),
        el("td", { "data-label": "Energy", class: "num" }, HW.mj(p.energy_mj)),
        el("td", { "data-label": "Size", class: "num" }, HW.mb(p.size_mb))));
    document.querySelector("#pareto-table tbody").replaceChildren(...rows);
  }

  async function loadBaselines() {
    const status = document.getElementById("baseline-status");
    status.textContent = "Computing the uniform 6- and 4-bit points…";
    try {
      state.baselines = (await api(`/web/jobs/${jobId}/baselines`)).baselines;
      status.textContent = "";
      renderPareto();
    } catch (err) {
      status.textContent = `Uniform baselines unavailable: ${err.message}`;
    }
  }

  async function loadFinished() {
    const [job, page] = await Promise.all([api(`/jobs/${jobId}`), api(`/policies?job=${jobId}&limit=200&sort=latency_ms`)]);
    state.job = job;
    state.policies = page.items;
    renderProgress(job);
    renderSpec(job);
    renderSummary(job);
    renderHistory(job);
    if (job.history && job.history.length) {
      renderPareto();
      loadBaselines();
    }
  }

  /** Live progress from GET /jobs/{id}/events; polling once a second if the stream breaks. */
  async function follow(job) {
    try {
      await HW.followEvents(jobId, (event, data) => {
        state.job = { ...state.job, state: data.state, progress: data.progress };
        renderProgress(state.job);
        if (event === "done") loadFinished();
      });
    } catch (err) {
      if (err.status === 401) return;
      const poll = async () => {
        const j = await api(`/jobs/${jobId}`);
        state.job = j;
        renderProgress(j);
        if (HW.TERMINAL.includes(j.state)) loadFinished(); else setTimeout(poll, 1000);
      };
      setTimeout(poll, 1000);
    }
  }

  HW.start(async () => {
    const card = document.getElementById("pareto-card");
    card.querySelectorAll("[data-axis]").forEach((b) => b.addEventListener("click", () => {
      state.axis = b.dataset.axis;
      card.querySelectorAll("[data-axis]").forEach((x) => x.setAttribute("aria-pressed", String(x === b)));
      renderPareto();
    }));
    document.getElementById("cancel-job").addEventListener("click", async () => {
      try { renderProgress(await api(`/jobs/${jobId}/cancel`, { method: "POST" })); } catch (err) { HW.showError(document.getElementById("job-error"), err); }
    });
    try {
      const job = await api(`/jobs/${jobId}`);
      state.job = job;
      renderProgress(job);
      renderSpec(job);
      if (HW.TERMINAL.includes(job.state)) await loadFinished(); else follow(job);
    } catch (err) {
      if (err.status !== 401) HW.showError(document.getElementById("job-error"), err);
    }
  });
})();
