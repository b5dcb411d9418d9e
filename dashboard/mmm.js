// The marketing-mix page: upload a KPI history as CSV (POST /api/models), see the KPI's
// decomposition, each channel's ROI and response curve with 90% intervals, then allocate a
// budget on the model's posterior (POST /api/optimize/allocate with model_id).

import { api, chart, el, errorText, money, notify, number, startPage } from "./common.js";

const POLL_MS = 1000;
const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

startPage(({ main, currency }) => {
  const message = el("div", { class: "messages", id: "mmm-message" });
  const form = el(
    "form",
    { class: "card", id: "mmm-form" },
    el("h1", {}, "Marketing mix"),
    el("p", { class: "muted" }, "Upload a CSV of the KPI per period: a date column, the KPI (revenue, gmv, sales or conversions), one spend column per channel and any controls such as price. Oktopus fits one Bayesian model of the KPI (baseline, trend, seasonality, controls and each channel's carried-over, saturating effect) with 90% intervals."),
    el(
      "div",
      { class: "two" },
      el("label", {}, "CSV file", el("input", { name: "file", type: "file", accept: ".csv,text/csv", required: true })),
      el("label", {}, "KPI column (empty: detected)", el("input", { name: "kpi", type: "text" })),
      el("label", {}, "Controls (comma-separated columns)", el("input", { name: "controls", type: "text" })),
    ),
    el("p", {}, el("button", { type: "submit" }, "Fit model")),
    message,
  );
  const summaryBox = el("section", { class: "card", id: "mmm-summary", hidden: true });
  const charts = el("section", { class: "charts", hidden: true }, ["mmm-decomposition", "mmm-roi", "mmm-curves"].map((id) => el("div", { class: "card chart" }, el("div", { class: "plot", id }))));
  const allocateBox = el("section", { class: "card", id: "mmm-allocate", hidden: true });
  main.replaceChildren(form, summaryBox, charts, allocateBox);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    for (const key of ["kpi", "controls"]) if (!data.get(key)) data.delete(key);
    [summaryBox, charts, allocateBox].forEach((node) => (node.hidden = true));
    notify(message, "Fitting…", "ok");
    try {
      let model = await api("/api/models", { method: "POST", form: data });
      while (model.status === "fitting") {
        notify(message, `Fitting… ${Math.round(100 * model.progress)}%`, "ok");
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
        model = await api(`/api/models/${model.id}`);
      }
      if (model.status !== "ready") throw new Error(`The fit failed: ${model.error}`);
      const [parts, curves] = await Promise.all([api(`/api/models/${model.id}/decomposition`), api(`/api/models/${model.id}/curves`)]);
      message.replaceChildren();
      showSummary(summaryBox, model, currency);
      charts.hidden = false;
      drawDecomposition(parts, model.kpi);
      drawRoi(model);
      drawCurves(curves, model.kpi, currency);
      allocateBox.replaceChildren(...allocateForm(model, currency));
      allocateBox.hidden = false;
    } catch (error) {
      notify(message, errorText(error), "error");
    }
  });
});

const interval = (i, format) => `${format(i.mean)} (${format(i.low)} – ${format(i.high)})`;

function showSummary(box, model, currency) {
  box.hidden = false;
  const d = model.diagnostics;
  box.replaceChildren(
    el("h2", {}, `Model of ${model.kpi} over ${model.periods} periods`),
    el("p", { class: "muted", id: "mmm-id" }, `Stored as model ${model.id}: give it as a new run's prior (model_id) to start the run from these curves. R² ${number(d.r2, 3)}, NRMSE ${number(d.nrmse, 3)}, holdout MAPE ${number(d.mape_holdout, 3)}, DECOMP.RSSD ${number(d.decomp_rssd, 3)}.`),
    el(
      "div",
      { class: "scroll" },
      el(
        "table",
        { id: "mmm-table" },
        el("thead", {}, el("tr", {}, ["Channel", `Spend (${currency})`, "Contribution (90% interval)", "ROI (90% interval)", "Marginal ROI (90% interval)", "Carry-over θ"].map((h) => el("th", {}, h)))),
        el(
          "tbody",
          {},
          model.channels.map((c) =>
            el(
              "tr",
              {},
              el("td", {}, c.channel),
              el("td", {}, money(c.spend, currency)),
              el("td", {}, interval(c.contribution, (v) => number(v, 0))),
              el("td", {}, interval(c.roi, (v) => number(v, 2))),
              el("td", {}, interval(c.mroi, (v) => number(v, 2))),
              el("td", {}, number(c.adstock.theta.mean, 2)),
            ),
          ),
        ),
      ),
    ),
    model.warnings.length ? el("ul", { id: "mmm-warnings" }, model.warnings.map((w) => el("li", {}, w.message || JSON.stringify(w)))) : null,
  );
}

function drawDecomposition(parts, kpi) {
  const components = [
    ["Baseline", parts.baseline],
    ["Trend", parts.trend],
    ["Seasonality", parts.seasonality],
    ["Controls", parts.controls],
    ...Object.entries(parts.channels),
  ];
  const traces = components.map(([name, values]) => ({ x: parts.dates, y: values, name, type: "scatter", mode: "lines", stackgroup: "kpi", line: { width: 0.5 } }));
  traces.push({ x: parts.dates, y: parts.actual, name: "Actual", type: "scatter", mode: "lines", line: { color: "#000", width: 1.5 } });
  chart(document.getElementById("mmm-decomposition"), traces, { title: `${kpi} decomposed`, x: "Period", y: kpi });
}

function drawRoi(model) {
  const rois = model.channels.map((c) => c.roi);
  const trace = {
    x: model.channels.map((c) => c.channel),
    y: rois.map((r) => r.mean),
    type: "bar",
    name: "ROI",
    error_y: { type: "data", symmetric: false, array: rois.map((r) => r.high - r.mean), arrayminus: rois.map((r) => r.mean - r.low) },
  };
  chart(document.getElementById("mmm-roi"), [trace], { title: "ROI per channel (90% interval)", x: "Channel", y: `${model.kpi} per unit of spend` });
}

function drawCurves(curves, kpi, currency) {
  const traces = curves.channels.flatMap((c, i) => {
    const color = COLORS[i % COLORS.length];
    return [
      { x: c.spend, y: c.high, type: "scatter", mode: "lines", line: { width: 0 }, showlegend: false, hoverinfo: "skip", name: `${c.channel} 95th` },
      { x: c.spend, y: c.low, type: "scatter", mode: "lines", line: { width: 0 }, fill: "tonexty", fillcolor: `${color}33`, showlegend: false, hoverinfo: "skip", name: `${c.channel} 5th` },
      { x: c.spend, y: c.mean, type: "scatter", mode: "lines", line: { color }, name: c.channel },
    ];
  });
  chart(document.getElementById("mmm-curves"), traces, { title: "Response curves (90% band)", x: `Spend per period (${currency})`, y: `${kpi} per period` });
}

function allocateForm(model, currency) {
  const weekly = model.channels.reduce((sum, c) => sum + c.spend, 0) / model.periods;
  const result = el("div", { id: "mmm-allocation" });
  const form = el(
    "form",
    { id: "mmm-allocate-form" },
    el("h2", {}, "Allocate on this model"),
    el("p", { class: "muted" }, "The split of a budget per period that maximizes the expected KPI over the model's posterior, with the KPI it expects and its 90% interval."),
    el("label", {}, `Budget per period (${currency})`, el("input", { name: "budget", type: "number", min: 0, step: "any", required: true, value: Math.round(weekly) })),
    el("p", {}, el("button", { type: "submit" }, "Allocate")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const budget = Number(new FormData(form).get("budget"));
    try {
      const answer = await api("/api/optimize/allocate", { method: "POST", json: { model_id: model.id, budget } });
      const kpi = answer.expected_kpi;
      result.replaceChildren(
        el("p", { id: "mmm-expected" }, `Expected ${model.kpi}: ${number(kpi.mean, 0)} (90% interval ${number(kpi.low, 0)} – ${number(kpi.high, 0)})`),
        el(
          "table",
          { id: "mmm-allocation-table" },
          el("thead", {}, el("tr", {}, ["Channel", `Spend (${currency})`, "Share"].map((h) => el("th", {}, h)))),
          el("tbody", {}, answer.allocation.map((row) => el("tr", {}, el("td", {}, row.campaign), el("td", {}, money(row.spend, currency)), el("td", {}, `${(100 * row.share).toFixed(1)}%`)))),
        ),
      );
    } catch (error) {
      notify(result, errorText(error), "error");
    }
  });
  return [form, result];
}
