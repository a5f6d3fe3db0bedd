// Models page: your uploaded models with their check report (and Delete), your data sets, the built-in models.
"use strict";
(() => {
  const { el, api } = HW;
  const int = (x) => Number(x).toLocaleString("en-US");

  /** A Delete button that asks once more, then deletes and reloads the lists; a 409 (a job uses it) is shown. */
  function deleteButton(path, label, errorBox) {
    const button = el("button", { type: "button", class: "secondary delete" }, "Delete");
    button.addEventListener("click", async () => {
      if (button.dataset.armed !== "yes") {
        button.dataset.armed = "yes";
        button.textContent = `Delete ${label}?`;
        return;
      }
      button.disabled = true;
      try {
        await api(path, { method: "DELETE" });
        await load();
      } catch (err) {
        if (err.status !== 401) HW.showError(errorBox, err);
        button.dataset.armed = "";
        button.textContent = "Delete";
      } finally {
        button.disabled = false;
      }
    });
    return button;
  }

  function table(cls, heads, rows) {
    return el("div", { class: "scroll-x" }, el("table", { class: `data compact ${cls}` },
      el("thead", {}, el("tr", {}, heads.map(([h, num]) => el("th", { class: num ? "num" : null }, h)))),
      el("tbody", {}, rows)));
  }

  function ownModel(m) {
    const r = m.report;
    const error = el("p", { class: "error delete-error", role: "alert", hidden: true });
    const layers = r.layers.map((l) => el("tr", { dataset: { layer: l.name } },
      el("td", {}, l.name), el("td", {}, l.op), el("td", { class: "num" }, l.calls),
      el("td", { class: "num" }, int(l.macs)), el("td", { class: "num" }, int(l.params))));
    const floats = r.unquantized.map((u) => el("tr", {},
      el("td", {}, u.module), el("td", {}, u.kind), el("td", { class: "num" }, int(u.values)), el("td", { class: "num" }, HW.pct(u.share))));
    return el("article", { class: "upload", dataset: { ref: m.ref } },
      el("div", { class: "title-row" },
        el("h2", {}, `${m.name} `, el("span", { class: "badge" }, m.ref)),
        deleteButton(`/models/${m.id}`, m.name, error)),
      el("p", { class: "muted" }, `${m.filename} · ${HW.num(m.size_bytes / 1024, 3)} kB · uploaded ${HW.when(m.created_at)} · input ${m.input_shape.join("×")}`),
      el("p", { class: "summary" }, `${r.layers.length} quantizable layers hold ${HW.pct(r.quantized_share)} of the weights; `
        + `agrees with onnxruntime to ${HW.num(r.relative_diff, 2)} (relative difference).`),
      error,
      table("layers", [["ONNX name"], ["Op"], ["Calls", 1], ["MACs", 1], ["Params", 1]], layers),
      floats.length
        ? [el("h3", {}, "Weights kept in float"), table("floats", [["Module"], ["Kind"], ["Values", 1], ["Share", 1]], floats)]
        : el("p", { class: "muted" }, "No weights stay float."));
  }

  function dataRow(d) {
    const error = el("p", { class: "error delete-error", role: "alert", hidden: true });
    return el("tr", { dataset: { ref: d.ref } },
      el("td", { "data-label": "Data set" }, `${d.name} (${d.ref})`),
      el("td", { "data-label": "Images" }, Object.entries(d.counts).map(([k, v]) => `${k} ${v}`).join(" · ")),
      el("td", { "data-label": "Image" }, d.image_shape.join("×")),
      el("td", { "data-label": "Classes", class: "num" }, d.num_classes),
      el("td", { "data-label": "Warnings", class: "warnings" }, d.warnings.join(" ") || "–"),
      el("td", { "data-label": "" }, deleteButton(`/datasets/${d.id}`, d.name, error), error));
  }

  async function load() {
    const [models, datasets] = await Promise.all([api("/models"), api("/datasets")]);
    const own = models.filter((m) => !m.builtin);
    document.getElementById("own-models").replaceChildren(...own.map(ownModel));
    document.getElementById("own-status").textContent = own.length
      ? `${own.length} uploaded model${own.length === 1 ? "" : "s"}.` : "No uploaded models yet.";
    const dt = document.getElementById("datasets-table");
    dt.tBodies[0].replaceChildren(...datasets.map(dataRow));
    dt.hidden = datasets.length === 0;
    document.getElementById("datasets-status").textContent = datasets.length
      ? `${datasets.length} uploaded data set${datasets.length === 1 ? "" : "s"}.` : "No uploaded data sets yet.";
    document.getElementById("builtin-table").tBodies[0].replaceChildren(...models.filter((m) => m.builtin).map((m) => el("tr", { dataset: { ref: m.ref } },
      el("td", { "data-label": "Model" }, m.name), el("td", { "data-label": "Description" }, m.description),
      el("td", { "data-label": "Data set" }, m.dataset || "–"), el("td", { "data-label": "Input" }, m.input_shape.join("×")),
      el("td", { "data-label": "Searchable" }, m.searchable ? "yes" : "architecture only"))));
  }

  HW.start(async () => {
    try {
      await load();
    } catch (err) {
      if (err.status !== 401) HW.showError(document.getElementById("models-error"), err);
    }
  });
})();
