// One policy: per-layer bits and cost shares (chart and table), totals against uniform 8-bit,
// predicted against measured latency (when a worker timed it), downloads.
"use strict";
(() => {
  const { el, api } = HW;
  const root = document.getElementById("policy");
  const policyId = Number(root.dataset.policyId);

  function stat(label, value, vs) {
    return el("div", { class: "stat" }, el("div", { class: "label" }, label), el("div", { class: "value" }, value), el("div", { class: "vs" }, vs || ""));
  }

  const ratio = (a, b) => (a == null || b == null || !b ? "–" : `${(a / b).toFixed(3)} ×`);

  function render(p) {
    const b8 = p.baseline_int8 || {};
    const jobLink = p.job_id ? el("a", { href: `/jobs/${p.job_id}` }, `job #${p.job_id}`) : "no job";
    document.getElementById("policy-meta").replaceChildren(
      `${p.model} on ${p.target} · objective ${p.objective} · ${p.kind} policy of `, jobLink, ` · ${p.layers.length} layers`);
    document.getElementById("policy-cards").replaceChildren(
      stat("Accuracy", HW.pct(p.accuracy), b8.accuracy != null ? `8-bit: ${HW.pct(b8.accuracy)}` : ""),
      stat("Latency", HW.ms(p.latency_ms), `${ratio(p.latency_ms, b8.latency_ms)} uniform 8-bit`),
      stat("Energy", HW.mj(p.energy_mj), `${ratio(p.energy_mj, b8.energy_mj)} uniform 8-bit`),
      stat("Size", HW.mb(p.size_mb), `${ratio(p.size_mb, b8.size_mb)} uniform 8-bit`));
    const ft = (p.document || {}).finetune;  // the search's final fine-tune of this policy
    if (ft) {
      const card = stat(ft.defensive ? "Defensive fine-tune" : "Fine-tuned accuracy", HW.pct(ft.accuracy_after),
        `before: ${HW.pct(ft.accuracy_before)} · ${ft.steps} steps` + (ft.defensive ? ` · β=${ft.beta}` : "")
        + (ft.robust_accuracy_after != null ? ` · robust ${HW.pct(ft.robust_accuracy_before)} → ${HW.pct(ft.robust_accuracy_after)}` : "")
        + (ft.weights ? " · exports use the fine-tuned weights" : ""));
      card.id = "finetune-stat";
      document.getElementById("policy-cards").append(card);
    }
    const rob = (p.document || {}).robustness;  // adversarial robustness, when the search measured it
    if (rob) {
      const card = stat("Robust accuracy", HW.pct(rob.accuracy),
        `${rob.attack.toUpperCase()} ε=${rob.eps} on ${rob.samples} images` + (rob.float_accuracy != null ? ` · float: ${HW.pct(rob.float_accuracy)}` : ""));
      card.id = "robust-stat";
      document.getElementById("policy-cards").append(card);
    }

    const kept = (p.document || {}).unquantized || [];  // weights no width applies to (BatchNorm, LSTM, ...)
    if (kept.length) {
      const share = kept.reduce((s, u) => s + u.share, 0);
      const top = [...kept].sort((a, b) => b.share - a.share).slice(0, 3).map((u) => `${u.module} (${u.kind}) ${HW.pct(u.share)}`);
      const card = stat("Kept in float", HW.pct(share), `of the weights, neither quantized nor costed: ${top.join(", ")}`
        + (kept.length > 3 ? ` and ${kept.length - 3} more` : ""));
      card.id = "float-stat";
      document.getElementById("policy-cards").append(card);
    }

    const names = p.layers.map((l) => l.name);
    const totalLat = p.layers.reduce((s, l) => s + (l.latency_ms || 0), 0);
    const totalEn = p.layers.reduce((s, l) => s + (l.energy_mj || 0), 0);
    const latShare = p.layers.map((l) => (totalLat ? (l.latency_ms || 0) / totalLat : null));
    const enShare = p.layers.map((l) => (totalEn && l.energy_mj != null ? l.energy_mj / totalEn : null));
    Charts.draw(document.getElementById("chart-bits"), "bars", {
      categories: names, yMax: 8, yTicks: [0, 2, 4, 6, 8], yLabel: "bits", valueLabels: true,
      series: [
        { name: "weight bits", cls: "bar-w", color: "#2f62b5", values: p.layers.map((l) => l.weight_bits) },
        { name: "activation bits", cls: "bar-a", color: "#e0862a", values: p.layers.map((l) => l.activation_bits) },
      ],
    });
    const shareSeries = [{ name: "latency share", cls: "bar-lat", color: "#5a8f3c", values: latShare, format: (v) => HW.pct(v, 0) }];
    if (totalEn) shareSeries.push({ name: "energy share", cls: "bar-en", color: "#8a4fb0", values: enShare, format: (v) => HW.pct(v, 0) });
    Charts.draw(document.getElementById("chart-share"), "bars", {
      categories: names, yLabel: "share", yFormat: (v) => HW.pct(v, 0), series: shareSeries, height: 200,
    });

    const rows = p.layers.map((l, i) => el("tr", { dataset: { layer: l.name } },
      el("td", { "data-label": "#" }, i + 1),
      el("td", { "data-label": "Layer" }, el("code", {}, l.name)),
      el("td", { "data-label": "Op" }, l.op),
      el("td", { "data-label": "W bits", class: "num" }, el("span", { class: "bits w-bits", style: `background:${HW.bitsColour(l.weight_bits)}` }, l.weight_bits)),
      el("td", { "data-label": "A bits", class: "num" }, el("span", { class: "bits a-bits", style: `background:${HW.bitsColour(l.activation_bits)}` }, l.activation_bits)),
      el("td", { "data-label": "Latency (ms)", class: "num" }, HW.num(l.latency_ms, 4)),
      el("td", { "data-label": "Latency share", class: "num" }, HW.pct(latShare[i])),
      el("td", { "data-label": "Energy (mJ)", class: "num" }, HW.num(l.energy_mj, 4)),
      el("td", { "data-label": "Energy share", class: "num" }, HW.pct(enShare[i]))));
    document.querySelector("#layers-table tbody").replaceChildren(...rows);

    renderVerification(p.verification);
    const t = p.totals || {};
    const line = (label, mine, base, fmt) => el("tr", {},
      el("th", {}, label), el("td", { class: "num" }, fmt(mine)), el("td", { class: "num" }, fmt(base)), el("td", { class: "num" }, ratio(mine, base)));
    document.querySelector("#totals-table tbody").replaceChildren(
      line("Accuracy", p.accuracy, b8.accuracy, (v) => HW.pct(v, 2)),
      line("Latency", t.latency_ms ?? p.latency_ms, b8.latency_ms, HW.ms),
      line("Energy", t.energy_mj ?? p.energy_mj, b8.energy_mj, HW.mj),
      line("Size", t.size_mb ?? p.size_mb, b8.size_mb, HW.mb));
  }

  function renderVerification(v) {
    if (!v) {
      document.getElementById("verify-meta").textContent = "Not timed yet.";
      return;
    }
    const label = { policy: "This policy", uniform_int8: "Uniform int8", float: "Float" };
    const rows = v.models.map((m) => el("tr", { dataset: { model: m.name } },
      el("th", {}, label[m.name] || m.name),
      el("td", { class: "num predicted" }, m.predicted_ms != null ? HW.ms(m.predicted_ms) : "–"),
      el("td", { class: "num measured" }, HW.ms(m.median_ms)),
      el("td", { class: "num" }, m.ratio != null ? `${m.ratio.toFixed(2)} ×` : "–"),
      el("td", { class: "num runtime-predicted" }, m.runtime_predicted_ms != null ? HW.ms(m.runtime_predicted_ms) : "–"),
      el("td", { class: "num" }, m.runtime_ratio != null ? `${m.runtime_ratio.toFixed(2)} ×` : "–")));
    document.querySelector("#verify-table tbody").replaceChildren(...rows);
    document.getElementById("verify-table").hidden = false;
    document.getElementById("verify-meta").textContent =
      `Measured on ${v.measured_on || "a worker"} · table ${v.target} at batch ${v.batch} · ${v.threads} thread(s).`;
  }

  async function verify(button) {
    const status = document.getElementById("verify-status");
    button.disabled = true;
    try {
      const job = await api(`/policies/${policyId}/verify`, { method: "POST", json: {} });
      status.replaceChildren("Queued as ", el("a", { href: `/jobs/${job.id}` }, `job #${job.id}`), "; this page shows the figures once it has run.");
    } catch (err) {
      status.textContent = `Could not queue the timing: ${err.message}`;
    } finally {
      button.disabled = false;
    }
  }

  async function download(button) {
    const status = document.getElementById("download-status");
    button.disabled = true;
    status.textContent = `Preparing ${button.dataset.format}…`;
    try {
      const file = await HW.download(policyId, button.dataset.format);
      status.textContent = `Saved ${file.name} (${file.size.toLocaleString()} bytes).`;
    } catch (err) {
      status.textContent = `Could not export ${button.dataset.format}: ${err.message}`;
    } finally {
      button.disabled = false;
    }
  }

  HW.start(async () => {
    document.querySelectorAll("#downloads button").forEach((b) => b.addEventListener("click", () => download(b)));
    const run = document.getElementById("verify-run");
    run.addEventListener("click", () => verify(run));
    document.getElementById("add-compare").addEventListener("click", () => {
      const ids = HW.compareList.add(policyId);
      location.href = `/compare?ids=${ids.join(",")}`;
    });
    try {
      render(await api(`/policies/${policyId}`));
    } catch (err) {
      if (err.status !== 401) HW.showError(document.getElementById("policy-error"), err);
    }
  });
})();
