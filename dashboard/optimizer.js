// The curve optimizer page: upload spend/response history as CSV (POST /api/optimize/fit),
// see the fitted response curves, then allocate a budget on them (POST /api/optimize/allocate).

import { api, chart, el, errorText, money, notify, number, percent, startPage } from "./common.js";

const SCENARIOS = [
  ["fixed_budget", "Fixed budget: the best split of exactly this budget"],
  ["flexible_budget", "Flexible: spend up to the budget while the marginal ROI ≥ target"],
  ["target_efficiency", "Target efficiency: the most response with overall ROAS ≥ target"],
];

startPage(({ main, currency }) => {
  const fitMessage = el("div", { class: "messages", id: "fit-message" });
  const fitForm = el(
    "form",
    { class: "card", id: "fit-form" },
    el("h1", {}, "Curve optimizer"),
    el("p", { class: "muted" }, "Upload a CSV of past spend and results: one row per date and campaign with columns date, campaign, spend and revenue and/or conversions (or a wide monthly layout: Month_Year, one spend column per channel, gmv). Oktopus fits a saturating response curve per campaign, then splits a budget where the marginal returns meet."),
    el(
      "div",
      { class: "two" },
      el("label", {}, "CSV file", el("input", { name: "file", type: "file", accept: ".csv,text/csv", required: true })),
      el("label", {}, "Response column", el("select", { name: "metric" }, ["auto", "revenue", "conversions"].map((m) => el("option", { value: m }, m)))),
      el("label", {}, "Held-out share of the latest dates", el("input", { name: "holdout_share", type: "number", min: 0, max: 0.9, step: 0.05, value: 0.25 })),
      el("label", {}, "Carry-over (adstock)", el("select", { name: "adstock" }, el("option", { value: "true" }, "fit a decay per campaign"), el("option", { value: "false" }, "none"))),
    ),
    el("p", {}, el("button", { type: "submit" }, "Fit curves")),
    fitMessage,
  );
  const fitBox = el("section", { class: "card", id: "fit-result", hidden: true });
  const curveCharts = el("section", { class: "charts", hidden: true }, ["opt-curves", "opt-marginal"].map((id) => el("div", { class: "card chart" }, el("div", { class: "plot", id }))));
  const allocateBox = el("section", { class: "card", id: "allocate-box", hidden: true });
  const resultBox = el("section", { class: "card", id: "allocation-result", hidden: true });
  const allocationChart = el("section", { class: "charts", hidden: true }, el("div", { class: "card chart" }, el("div", { class: "plot", id: "opt-allocation" })));
  main.replaceChildren(fitForm, fitBox, curveCharts, allocateBox, resultBox, allocationChart);

  fitForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(fitForm);
    [fitBox, curveCharts, allocateBox, resultBox, allocationChart].forEach((node) => (node.hidden = true));
    notify(fitMessage, "Fitting…", "ok");
    try {
      const fit = await api("/api/optimize/fit", { method: "POST", form: data });
      fitMessage.replaceChildren();
      showFit(fitBox, fit, currency);
      curveCharts.hidden = false;
      drawCurves(fit, currency, null);
      allocateBox.replaceChildren(...allocateForm(fit, currency, resultBox, allocationChart));
      allocateBox.hidden = false;
    } catch (error) {
      // A build without the optimizer answers the router's bare 404; the route's own 404s
      // (an admin's client deleted meanwhile) say what is missing.
      const noRoute = error.status === 404 && error.detail === "Not Found";
      notify(fitMessage, noRoute ? "The curve optimizer is not available on this server." : errorText(error), "error");
    }
  });
});

function responseUnit(fit, currency) {
  return fit.metric === "revenue" ? `Revenue per period (${currency})` : "Conversions per period (count)";
}

function showFit(box, fit, currency) {
  box.hidden = false;
  box.replaceChildren(
    el("h2", {}, `Fitted curves (${fit.metric}, ${fit.campaigns.length} campaigns)`),
    el("p", { class: "muted", id: "fit-id" }, `Stored as fit ${fit.id}: give this id as a new run's prior on the Runs page to start the run from these curves.`),
    el(
      "div",
      { class: "scroll" },
      el(
        "table",
        { id: "fit-table" },
        el("thead", {}, el("tr", {}, ["Campaign", "Observations", "Best model", "Weight of best", "Carry-over θ", `Largest spend (${currency})`].map((h) => el("th", {}, h)))),
        el(
          "tbody",
          {},
          fit.campaigns.map((c) =>
            el(
              "tr",
              {},
              el("td", {}, c.campaign),
              el("td", { class: "num" }, c.observations),
              el("td", {}, c.best_model),
              el("td", { class: "num" }, percent(c.models[c.best_model]?.weight ?? null, 0)),
              el("td", { class: "num" }, number(c.theta)),
              el("td", { class: "num" }, money(c.max_spend, currency)),
            ),
          ),
        ),
      ),
    ),
  );
}

function drawCurves(fit, currency, allocation) {
  const traces = fit.campaigns.map((c) => ({ type: "scatter", mode: "lines", name: c.campaign, x: c.ensemble.spend, y: c.ensemble.response, legendgroup: c.campaign }));
  if (allocation) {
    traces.push({
      type: "scatter",
      mode: "markers",
      name: "optimum",
      marker: { size: 11, symbol: "diamond", color: "#1d2330" },
      x: allocation.allocation.map((row) => row.spend),
      y: allocation.allocation.map((row) => row.response),
      text: allocation.allocation.map((row) => row.campaign),
      hovertemplate: "%{text}: spend %{x:,.2f}, response %{y:,.2f}<extra>optimum</extra>",
    });
  }
  chart(document.getElementById("opt-curves"), traces, { title: "Fitted response curves (ensemble)", x: `Spend per period (${currency})`, y: responseUnit(fit, currency) });
  const perUnit = fit.metric === "revenue" ? `Marginal revenue per ${currency} spent` : `Marginal conversions per ${currency} spent`;
  chart(
    document.getElementById("opt-marginal"),
    fit.campaigns.map((c) => ({ type: "scatter", mode: "lines", name: c.campaign, x: c.ensemble.spend, y: c.ensemble.marginal })),
    { title: "Marginal return: where the next unit of spend pays most", x: `Spend per period (${currency})`, y: perUnit },
  );
}

function allocateForm(fit, currency, resultBox, chartBox) {
  const message = el("div", { class: "messages", id: "allocate-message" });
  const form = el(
    "form",
    { id: "allocate-form" },
    el(
      "div",
      { class: "two" },
      el("label", {}, `Budget per period (${currency})`, el("input", { name: "budget", type: "number", min: 0, step: "any", required: true })),
      el("label", {}, "Scenario", el("select", { name: "scenario" }, SCENARIOS.map(([value, label]) => el("option", { value }, label)))),
      el("label", {}, "Target (marginal ROI or ROAS; for the flexible and target scenarios)", el("input", { name: "target", type: "number", min: 0, step: "any" })),
      el("label", {}, "Curves", el("select", { name: "model" }, ["ensemble", ...fit.models].map((m) => el("option", { value: m }, m)))),
    ),
    el("p", {}, el("button", { type: "submit" }, "Allocate")),
    message,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const body = { fit_id: fit.id, budget: Number(data.get("budget")), scenario: data.get("scenario"), model: data.get("model") };
    const target = data.get("target") ? Number(data.get("target")) : null;
    if (body.scenario === "flexible_budget" && target !== null) body.target_mroi = target;
    if (body.scenario === "target_efficiency" && target !== null) body.target_roas = target;
    try {
      const answer = await api("/api/optimize/allocate", { method: "POST", json: body });
      message.replaceChildren();
      showAllocation(resultBox, answer, fit, currency);
      chartBox.hidden = false;
      drawAllocation(answer, fit, currency);
      drawCurves(fit, currency, answer);
    } catch (error) {
      resultBox.hidden = true;
      chartBox.hidden = true;
      notify(message, errorText(error), "error");
    }
  });
  return [el("h2", {}, "Allocate a budget on these curves"), form];
}

function showAllocation(box, answer, fit, currency) {
  const revenue = fit.metric === "revenue";
  box.hidden = false;
  box.replaceChildren(
    el("h2", {}, "Optimal allocation"),
    el(
      "dl",
      { class: "facts" },
      el("div", {}, el("dt", {}, "Total spend"), el("dd", { id: "opt-total-spend" }, money(answer.total_spend, currency))),
      el("div", {}, el("dt", {}, "Expected response"), el("dd", {}, revenue ? money(answer.total_response, currency) : number(answer.total_response, 1))),
      el("div", {}, el("dt", {}, "ROI"), el("dd", {}, number(answer.roi))),
      el("div", {}, el("dt", {}, "Marginal ROI"), el("dd", {}, number(answer.marginal_roi))),
    ),
    el(
      "div",
      { class: "scroll" },
      el(
        "table",
        { id: "allocation-table" },
        el("thead", {}, el("tr", {}, ["Campaign", `Spend (${currency})`, "Share", "Response", "ROI", "Marginal ROI"].map((h) => el("th", {}, h)))),
        el(
          "tbody",
          {},
          answer.allocation.map((row) =>
            el(
              "tr",
              {},
              el("td", {}, row.campaign),
              el("td", { class: "num" }, money(row.spend, currency)),
              el("td", { class: "num" }, percent(row.share)),
              el("td", { class: "num" }, number(row.response, 1)),
              el("td", { class: "num" }, number(row.roi)),
              el("td", { class: "num" }, number(row.mroi)),
            ),
          ),
        ),
      ),
    ),
  );
}

function drawAllocation(answer, fit, currency) {
  const rows = answer.allocation;
  chart(
    document.getElementById("opt-allocation"),
    [{ type: "bar", x: rows.map((r) => r.campaign), y: rows.map((r) => r.spend), text: rows.map((r) => percent(r.share, 0)), textposition: "auto", hovertemplate: `%{x}: %{y:,.2f} ${currency} (%{text})<extra></extra>` }],
    { title: "Optimal spend per campaign", x: "Campaign", y: `Spend per period (${currency})` },
  );
}
