// Hand-made SVG charts (no library): line, scatter and grouped bars, redrawn on resize.
"use strict";
const Charts = (() => {
  const NS = "http://www.w3.org/2000/svg";

  function s(tag, attrs, ...children) {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) node.setAttribute(k, v);
    for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }
  const title = (text) => s("title", {}, text);

  /** About `count` round tick values covering [lo, hi]. */
  function ticks(lo, hi, count = 5) {
    if (!(hi > lo)) { hi = lo + 1; }
    const raw = (hi - lo) / count;
    const mag = 10 ** Math.floor(Math.log10(raw));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((st) => st >= raw);
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toPrecision(12));
    return out;
  }
  const fmt = (v) => (Math.abs(v) >= 1000 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(1) : +v.toPrecision(4));

  /** The drawing area: an SVG as wide as its container. */
  function frame(container, height, margin) {
    const width = Math.max(280, container.clientWidth || 600);
    const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img" });
    container.replaceChildren(svg);
    const box = { x0: margin.left, x1: width - margin.right, y0: height - margin.bottom, y1: margin.top };
    return { svg, width, height, box };
  }

  function scale(d0, d1, r0, r1) {
    const k = d1 === d0 ? 0 : (r1 - r0) / (d1 - d0);
    return (v) => r0 + (v - d0) * k;
  }

  function axes(svg, box, x, y, xt, yt, labels) {
    const g = s("g", { class: "axis" });
    const grid = s("g", { class: "grid" });
    for (const t of yt) {
      grid.append(s("line", { x1: box.x0, x2: box.x1, y1: y(t), y2: y(t) }));
      g.append(s("text", { x: box.x0 - 6, y: y(t) + 4, "text-anchor": "end" }, labels.yFormat ? labels.yFormat(t) : fmt(t)));
    }
    if (xt) for (const t of xt) g.append(s("text", { x: x(t), y: box.y0 + 16, "text-anchor": "middle" }, labels.xFormat ? labels.xFormat(t) : fmt(t)));
    g.append(s("line", { x1: box.x0, x2: box.x1, y1: box.y0, y2: box.y0 }));
    g.append(s("line", { x1: box.x0, x2: box.x0, y1: box.y0, y2: box.y1 }));
    if (labels.x) g.append(s("text", { x: (box.x0 + box.x1) / 2, y: box.y0 + (labels.xGap || 34), "text-anchor": "middle" }, labels.x));
    if (labels.y) g.append(s("text", { x: 12, y: (box.y0 + box.y1) / 2, transform: `rotate(-90 12 ${(box.y0 + box.y1) / 2})`, "text-anchor": "middle" }, labels.y));
    svg.append(grid, g);
  }

  function legend(svg, items, x, y) {
    const g = s("g", { class: "legend" });
    let dx = 0;
    for (const it of items) {
      g.append(s("rect", { x: x + dx, y: y - 9, width: 10, height: 10, fill: it.color, rx: it.round ? 5 : 1 }));
      g.append(s("text", { x: x + dx + 14, y }, it.name));
      dx += 24 + it.name.length * 6.5;
    }
    svg.append(g);
  }

  function extent(values, pad = 0.05) {
    const v = values.filter((n) => n !== null && n !== undefined && Number.isFinite(n));
    let lo = Math.min(...v), hi = Math.max(...v);
    if (!v.length) { lo = 0; hi = 1; }
    const span = hi - lo || Math.abs(hi) || 1;
    return [lo - span * pad, hi + span * pad];
  }

  /** Lines over episodes: opts.series = [{name, color, points: [[x, y]]}]. */
  function line(container, opts) {
    const { svg, box } = frame(container, opts.height || 220, { left: 52, right: 12, top: 22, bottom: 42 });
    const xs = opts.series.flatMap((sr) => sr.points.map((p) => p[0]));
    const ys = opts.series.flatMap((sr) => sr.points.map((p) => p[1]));
    const [xl, xh] = [Math.min(...xs), Math.max(...xs)];
    const [yl, yh] = extent(ys, 0.08);
    const x = scale(xl, xh, box.x0 + 6, box.x1 - 6), y = scale(yl, yh, box.y0, box.y1);
    axes(svg, box, x, y, ticks(xl, xh, 6).filter((t) => Number.isInteger(t)), ticks(yl, yh, 4), { x: opts.xLabel, yFormat: opts.yFormat });
    for (const sr of opts.series) {
      const d = sr.points.map((p, i) => `${i ? "L" : "M"}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join("");
      svg.append(s("path", { d, fill: "none", stroke: sr.color, "stroke-width": 1.6, class: `series ${sr.cls || ""}` }));
      for (const p of sr.points) svg.append(s("circle", { cx: x(p[0]), cy: y(p[1]), r: 2.6, fill: sr.color, class: "pt" }, title(`${sr.name} · episode ${p[0]}: ${opts.yFormat ? opts.yFormat(p[1]) : fmt(p[1])}`)));
    }
    if (opts.series.length > 1) legend(svg, opts.series, box.x0 + 4, 12);
    return svg;
  }

  function marker(shape, cx, cy, color, r) {
    if (shape === "diamond") return s("path", { d: `M${cx},${cy - r * 1.4}L${cx + r * 1.4},${cy}L${cx},${cy + r * 1.4}L${cx - r * 1.4},${cy}Z`, fill: color, stroke: "#333", "stroke-width": 1, class: "pt" });
    if (shape === "ring") return s("circle", { cx, cy, r: r + 4, fill: "none", stroke: color, "stroke-width": 2.2, class: "pt ring" });
    return s("circle", { cx, cy, r, fill: color, class: "pt", "fill-opacity": shape === "faint" ? 0.55 : 1 });
  }

  /** Accuracy against a cost: opts.groups = [{name, color, shape, line, points: [{x, y, href, title, label}]}]. */
  function scatter(container, opts) {
    const { svg, box } = frame(container, opts.height || 320, { left: 56, right: 16, top: 26, bottom: 44 });
    const pts = opts.groups.flatMap((g) => g.points);
    const [xl, xh] = extent(pts.map((p) => p.x), 0.06);
    const [yl, yh] = extent(pts.map((p) => p.y), 0.08);
    const x = scale(xl, xh, box.x0, box.x1), y = scale(yl, yh, box.y0, box.y1);
    axes(svg, box, x, y, ticks(xl, xh, 5), ticks(yl, yh, 5), { x: opts.xLabel, y: opts.yLabel, yFormat: opts.yFormat });
    for (const g of opts.groups) {
      const layer = s("g", { class: `group ${g.cls || ""}` });
      if (g.line && g.points.length > 1) {
        const sorted = [...g.points].sort((a, b) => a.x - b.x);
        const d = sorted.map((p, i) => `${i ? "L" : "M"}${x(p.x).toFixed(1)},${y(p.y).toFixed(1)}`).join("");
        layer.append(s("path", { d, fill: "none", stroke: g.color, "stroke-width": 1.4, "stroke-dasharray": "4 3" }));
      }
      for (const p of g.points) {
        if (g.r === 0) continue; // a line-only group
        const m = marker(g.shape, x(p.x), y(p.y), g.color, g.r ?? 4.5);
        m.append(title(p.title || ""));
        if (p.dataset) for (const [k, v] of Object.entries(p.dataset)) m.setAttribute(`data-${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`, v);
        const node = p.href ? s("a", { href: p.href }, m) : m;
        layer.append(node);
        if (p.label) layer.append(s("text", { x: x(p.x) + 8, y: y(p.y) - 7, class: "pt-label" }, p.label));
      }
      svg.append(layer);
    }
    legend(svg, opts.groups.filter((g) => g.name).map((g) => ({ name: g.name, color: g.color, round: g.shape !== "diamond" })), box.x0 + 4, 12);
    return svg;
  }

  /** Grouped vertical bars: one group per category, one bar per series, each bar a <rect class="bar CLS" data-layer data-value>. */
  function bars(container, opts) {
    const n = opts.categories.length;
    const rotate = n > 8 || (container.clientWidth || 600) / Math.max(n, 1) < 60;
    const longest = Math.max(...opts.categories.map((c) => String(c).length));
    const bottom = rotate ? Math.min(110, 22 + longest * 5.2) : 40;
    const { svg, width, box } = frame(container, (opts.height || 220) + bottom - 40, { left: 46, right: 10, top: opts.valueLabels ? 36 : 24, bottom });
    const yMax = opts.yMax || Math.max(...opts.series.flatMap((sr) => sr.values.filter(Number.isFinite)), 1e-9) * 1.1;
    const y = scale(0, yMax, box.y0, box.y1);
    axes(svg, box, null, y, null, opts.yTicks || ticks(0, yMax, 4), { y: opts.yLabel, yFormat: opts.yFormat });
    const slot = (box.x1 - box.x0) / Math.max(n, 1);
    const inner = slot * 0.8;
    const bw = inner / opts.series.length;
    const step = Math.max(1, Math.ceil(n / Math.max(1, Math.floor((width - 60) / 14))));
    opts.categories.forEach((cat, i) => {
      const gx = box.x0 + i * slot + (slot - inner) / 2;
      const group = s("g", { class: "bar-group", "data-layer": cat });
      opts.series.forEach((sr, j) => {
        const v = sr.values[i];
        if (v === null || v === undefined || !Number.isFinite(v)) return;
        const top = y(v);
        const rect = s("rect", {
          x: (gx + j * bw).toFixed(2), y: top.toFixed(2), width: Math.max(1, bw - 1).toFixed(2), height: Math.max(0, box.y0 - top).toFixed(2),
          fill: sr.color, class: `bar ${sr.cls || ""}`, "data-layer": cat, "data-value": v,
        }, title(`${cat} · ${sr.name}: ${sr.format ? sr.format(v) : fmt(v)}`));
        group.append(rect);
        if (opts.valueLabels && bw >= 13) group.append(s("text", { x: gx + j * bw + bw / 2 - 0.5, y: top - 3, "text-anchor": "middle", class: "bar-label" }, sr.format ? sr.format(v) : v));
      });
      if (i % step === 0) {
        const lx = gx + inner / 2, ly = box.y0 + 14;
        group.append(rotate
          ? s("text", { x: lx, y: ly - 4, transform: `rotate(-50 ${lx} ${ly - 4})`, "text-anchor": "end", class: "cat-label" }, cat)
          : s("text", { x: lx, y: ly, "text-anchor": "middle", class: "cat-label" }, cat));
      }
      svg.append(group);
    });
    legend(svg, opts.series, box.x0 + 4, 12);
    return svg;
  }

  const drawn = new Map();
  /** Draw now and again whenever the container's width changes (phones rotate, windows resize). */
  function draw(container, kind, opts) {
    const fn = { line, scatter, bars }[kind];
    drawn.set(container, { fn, opts, width: container.clientWidth });
    return fn(container, opts);
  }
  let pending = null;
  window.addEventListener("resize", () => {
    clearTimeout(pending);
    pending = setTimeout(() => {
      for (const [c, d] of drawn) if (c.isConnected && c.clientWidth !== d.width) { d.width = c.clientWidth; d.fn(c, d.opts); }
    }, 150);
  });

  return { draw, ticks };
})();
