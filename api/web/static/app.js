// Shared helpers for every page: the API key, JSON calls, downloads, formatting, DOM.
"use strict";
const HW = (() => {
  const KEY = "hwsearch.key";
  const API = "/api/v1";
  const TERMINAL = ["succeeded", "failed", "cancelled"];

  /** Build an element: el("td", {class: "num", dataset: {x: 1}}, "text", child). */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "dataset") Object.assign(node.dataset, v);
      else if (k === "style") node.style.cssText = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
    return node;
  }

  const key = () => sessionStorage.getItem(KEY);

  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.message) || `HTTP ${status}`);
      this.status = status;
      this.body = body;
    }
  }

  function askForKey(message) {
    const panel = document.getElementById("key-panel");
    panel.hidden = false;
    document.getElementById("main").hidden = true;
    const err = document.getElementById("key-error");
    err.hidden = !message;
    err.textContent = message || "";
    document.getElementById("key-input").focus();
  }

  async function request(path, options = {}) {
    const k = key();
    if (!k) {
      askForKey();
      throw new ApiError(401, { message: "no API key yet" });
    }
    const headers = { Authorization: `Bearer ${k}`, ...(options.headers || {}) };
    const res = await fetch(API + path, { ...options, headers });
    if (res.status === 401) {
      sessionStorage.removeItem(KEY);
      const body = await res.json().catch(() => null);
      askForKey((body && body.message) || "the key was refused");
      throw new ApiError(401, body);
    }
    return res;
  }

  /** GET or POST JSON; throws ApiError carrying the API's {message, detail}. */
  async function api(path, options = {}) {
    const opts = { ...options };
    if (opts.json !== undefined) {
      opts.body = JSON.stringify(opts.json);
      opts.headers = { "Content-Type": "application/json", ...(opts.headers || {}) };
      delete opts.json;
    }
    const res = await request(path, opts);
    const body = await res.json().catch(() => null);
    if (!res.ok) throw new ApiError(res.status, body);
    return body;
  }

  /** Fetch an export with the key and save it through a Blob link (a plain link cannot send headers). */
  async function download(policyId, format) {
    const res = await request(`/policies/${policyId}/export?format=${encodeURIComponent(format)}`);
    if (!res.ok) throw new ApiError(res.status, await res.json().catch(() => null));
    const blob = await res.blob();
    const match = /filename="?([^";]+)"?/.exec(res.headers.get("Content-Disposition") || "");
    const name = match ? match[1] : `policy-${policyId}.${format}`;
    const url = URL.createObjectURL(blob);
    const a = el("a", { href: url, download: name, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    return { name, size: blob.size };
  }

  /** Follow a job's server-sent events with fetch streaming (EventSource cannot send the key). */
  async function followEvents(jobId, onEvent, signal) {
    const res = await request(`/jobs/${jobId}/events`, { signal, headers: { Accept: "text/event-stream" } });
    if (!res.ok) throw new ApiError(res.status, await res.json().catch(() => null));
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value.replace(/\r\n/g, "\n");
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        let event = "message";
        const data = [];
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) event = line.slice(6).trim();
          else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
        }
        if (data.length) onEvent(event, JSON.parse(data.join("\n")));
      }
    }
  }

  const num = (x, digits = 3) => (x === null || x === undefined || Number.isNaN(x) ? "–" : Number(x).toPrecision(digits));
  const pct = (x, digits = 1) => (x === null || x === undefined ? "–" : `${(100 * x).toFixed(digits)}%`);
  const ms = (x) => (x === null || x === undefined ? "–" : `${num(x)} ms`);
  const mj = (x) => (x === null || x === undefined ? "–" : `${num(x)} mJ`);
  const mb = (x) => (x === null || x === undefined ? "–" : `${num(x)} MB`);
  const when = (iso) => (iso ? new Date(iso).toLocaleString() : "–");
  /** Background colour of a bit width: warm for few bits, cool for 8. */
  const bitsColour = (b) => `hsl(${Math.round(((b - 2) / 6) * 210)}, 70%, 86%)`;
  const budgetText = (b) => (!b ? "–" : b.relative != null ? `${b.relative} × int8` : `${b.absolute} abs`);
  /** A spec's widths: per-kind sets when given (32 shown as float), else min..max. */
  const widthsText = (s) => {
    const set = (w) => (w ? w.map((b) => (b === 32 ? "float" : b === 16 ? "half" : b)).join(",") : `${s.min_bits ?? 2}..${s.max_bits ?? 8}`);
    return s.weight_bits || s.activation_bits ? `weights ${set(s.weight_bits)} · activations ${set(s.activation_bits)}` : set(null);
  };

  function badge(state) {
    return el("span", { class: `badge ${state}` }, state);
  }

  function progressBar(job) {
    const p = job.progress;
    const done = p ? p.episode : 0;
    const total = p ? p.episodes : (job.spec && job.spec.episodes) || 0;
    const frac = total ? done / total : 0;
    return el("div", { class: "progress" },
      el("div", { class: "meter", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": total, "aria-valuenow": done },
        el("span", { style: `width:${(100 * frac).toFixed(1)}%` })),
      el("span", { class: "progress-text" }, `${done} / ${total} episodes`));
  }

  function showError(node, err) {
    node.hidden = false;
    node.textContent = err instanceof Error ? err.message : String(err);
  }

  function setupKeyPanel() {
    document.getElementById("key-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const value = document.getElementById("key-input").value.trim();
      if (!value) return;
      const res = await fetch(`${API}/models`, { headers: { Authorization: `Bearer ${value}` } });
      if (!res.ok) {
        const body = await res.json().catch(() => null);
        askForKey((body && body.message) || `HTTP ${res.status}`);
        return;
      }
      sessionStorage.setItem(KEY, value);
      location.reload();
    });
    const change = document.getElementById("key-change");
    change.hidden = !key();
    change.addEventListener("click", () => {
      sessionStorage.removeItem(KEY);
      askForKey();
    });
    if (!key()) askForKey();
  }

  /** Run a page's start function once a key is known. */
  function start(fn) {
    document.addEventListener("DOMContentLoaded", () => {
      setupKeyPanel();
      if (key()) fn().catch((err) => { if (!(err instanceof ApiError && err.status === 401)) console.error(err); });
    });
  }

  const compareList = {
    get: () => JSON.parse(sessionStorage.getItem("hwsearch.compare") || "[]"),
    add(id) {
      const ids = compareList.get().filter((x) => x !== id);
      ids.push(id);
      sessionStorage.setItem("hwsearch.compare", JSON.stringify(ids));
      return ids;
    },
    set: (ids) => sessionStorage.setItem("hwsearch.compare", JSON.stringify(ids)),
  };

  return { el, api, download, followEvents, num, pct, ms, mj, mb, when, bitsColour, budgetText, widthsText, badge, progressBar, showError, start, compareList, ApiError, TERMINAL };
})();
