// Compare: two or more policies of one model, layer by layer.
"use strict";
(() => {
  const { el, api } = HW;
  const COLOURS = ["#2f62b5", "#e0862a", "#5a8f3c", "#8a4fb0", "#c0392b", "#1f9e9e", "#7a6a2f", "#d35fa0"];

  const idsFromUrl = () => (new URLSearchParams(location.search).get("ids") || "").split(",").map(Number).filter((n) => n > 0);

  async function fillPicker(selected, model) {
    const all = (await api("/policies?limit=200&sort=-created_at")).items;
    const models = [...new Set(all.map((p) => p.model))];
    const select = document.getElementById("pick-model");
    select.replaceChildren(...models.map((m) => el("option", { value: m }, m)));
    if (model && models.includes(model)) select.value = model;
    const list = () => {
      const items = all.filter((p) => p.model === select.value);
      document.getElementById("pick-list").replaceChildren(...items.map((p) =>
        el("label", {}, el("input", { type: "checkbox", value: p.id, checked: selected.includes(p.id) }),
          `#${p.id} ${p.kind} · job ${p.job_id ?? "–"} · ${p.target} · ${HW.pct(p.accuracy)} · ${HW.ms(p.latency_ms)}`)));
    };
    select.onchange = list;
    list();
    if (!models.length) document.getElementById("pick-list").replaceChildren("No stored policies yet: run a job first.");
  }

  function policyHeader(p, i) {
    return el("th", { class: "num", style: `border-bottom: 3px solid ${COLOURS[i % COLOURS.length]}` }, el("a", { href: `/policies/${p.id}` }, `#${p.id}`), el("div", { class: "muted" }, p.target));
  }

  function render(policies) {
    const result = document.getElementById("compare-result");
    result.hidden = false;
    const totals = document.getElementById("compare-totals");
    totals.tHead.replaceChildren(el("tr", {}, el("th", {}, ""), ...policies.map(policyHeader)));
    const metric = (label, get, fmt) => el("tr", {}, el("th", {}, label), ...policies.map((p) => el("td", { class: "num" }, fmt(get(p)))));
    totals.tBodies[0].replaceChildren(
      metric("Kind · job", (p) => `${p.kind} · ${p.job_id ?? "–"}`, String),
      metric("Accuracy", (p) => p.accuracy, (v) => HW.pct(v, 2)),
      metric("Latency", (p) => p.latency_ms, HW.ms),
      metric("Energy", (p) => p.energy_mj, HW.mj),
      metric("Size", (p) => p.size_mb, HW.mb),
      metric("Latency vs 8-bit", (p) => (p.baseline_int8 ? p.latency_ms / p.baseline_int8.latency_ms : null), (v) => (v == null ? "–" : `${v.toFixed(3)} ×`)));

    const names = policies[0].layers.map((l) => l.name);
    const lookup = policies.map((p) => Object.fromEntries(p.layers.map((l) => [l.name, l])));
    const series = (key) => policies.map((p, i) => ({
      name: `#${p.id}`, cls: `policy-${p.id}`, color: COLOURS[i % COLOURS.length], values: names.map((n) => (lookup[i][n] ? lookup[i][n][key] : null)),
    }));
    const bitsChart = { categories: names, yMax: 8, yTicks: [0, 2, 4, 6, 8], yLabel: "bits", height: 190 };
    Charts.draw(document.getElementById("chart-compare-w"), "bars", { ...bitsChart, series: series("weight_bits") });
    Charts.draw(document.getElementById("chart-compare-a"), "bars", { ...bitsChart, series: series("activation_bits") });

    const table = document.getElementById("compare-layers");
    table.tHead.replaceChildren(el("tr", {}, el("th", {}, "Layer"), el("th", {}, "Op"), ...policies.map(policyHeader)));
    table.tBodies[0].replaceChildren(...names.map((n) => {
      const first = lookup[0][n];
      return el("tr", { dataset: { layer: n } }, el("td", {}, el("code", {}, n)), el("td", {}, first.op),
        ...lookup.map((lk) => {
          const l = lk[n];
          if (!l) return el("td", { class: "num" }, "–");
          const diff = l.weight_bits !== first.weight_bits || l.activation_bits !== first.activation_bits;
          return el("td", { class: "num" },
            el("span", { class: `bits${diff ? " diff" : ""}`, style: `background:${HW.bitsColour(Math.min(l.weight_bits, l.activation_bits))}` }, `${l.weight_bits} / ${l.activation_bits}`),
            el("div", { class: "muted" }, HW.ms(l.latency_ms)));
        }));
    }));
  }

  async function compare(ids) {
    const error = document.getElementById("compare-error");
    error.hidden = true;
    if (ids.length < 2) {
      document.getElementById("compare-result").hidden = true;
      if (ids.length) HW.showError(error, "Pick at least two policies to compare.");
      return null;
    }
    const policies = await Promise.all(ids.map((id) => api(`/policies/${id}`)));
    const models = [...new Set(policies.map((p) => p.model))];
    if (models.length > 1) {
      document.getElementById("compare-result").hidden = true;
      HW.showError(error, `Policies of different models (${models.join(", ")}) cannot be compared layer by layer; pick one model.`);
      return policies;
    }
    render(policies);
    document.getElementById("picker").open = false; // the result is what matters now; the list stays one click away
    return policies;
  }

  HW.start(async () => {
    let ids = idsFromUrl();
    if (!ids.length) ids = HW.compareList.get();
    let first = null;
    try {
      const shown = await compare(ids);
      first = shown && shown.length ? shown[0].model : null;
    } catch (err) {
      if (err.status !== 401) HW.showError(document.getElementById("compare-error"), err);
    }
    await fillPicker(ids, first);
    document.getElementById("pick-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const picked = [...document.querySelectorAll("#pick-list input:checked")].map((i) => Number(i.value));
      HW.compareList.set(picked);
      history.replaceState(null, "", `/compare?ids=${picked.join(",")}`);
      try { await compare(picked); } catch (err) { HW.showError(document.getElementById("compare-error"), err); }
    });
  });
})();
