// The runs page: list a client's states; for one state show the budget split, allocation and
// performance over time, success rates and insights; post metrics and advance the timestep.

import { allPages, api, chart, el, errorText, money, notify, number, percent, startPage, when } from "./common.js";
import { controlsCard, curvesCard, eventsCard, forecastCard } from "./living.js";
import { campaignsCard, newRunCard } from "./workspace.js";

const METRIC_INPUTS = [
  ["spend", "Spend", true],
  ["impressions", "Impressions", false],
  ["clicks", "Clicks", false],
  ["conversions", "Conversions", false],
  ["revenue", "Revenue", false],
];

let page = null;

startPage((context) => {
  page = context;
  route();
});
window.addEventListener("hashchange", () => page && route());

function stateIdFromHash() {
  return new URLSearchParams(window.location.hash.slice(1)).get("state");
}

function route() {
  const id = stateIdFromHash();
  if (id) showState(id);
  else showList();
}

async function showList(done = null) {
  const { main, currency } = page;
  const section = el("section", { class: "card" }, el("h1", {}, "Optimization runs"), el("p", { class: "muted" }, "Loading…"));
  main.replaceChildren(section);
  try {
    const [states, campaigns] = await Promise.all([allPages("/api/states"), allPages("/api/campaigns")]);
    const campaignBox = campaignsCard(campaigns, showList);
    main.append(campaignBox, newRunCard(campaigns, currency, (created) => {
      window.location.hash = `state=${encodeURIComponent(created.id)}`;
    }));
    if (done) notify(campaignBox.querySelector("#campaign-notice"), done, "ok");
    const rows = states.map((s) =>
      el(
        "tr",
        {},
        el("td", {}, el("a", { href: `#state=${encodeURIComponent(s.id)}`, class: "state-link" }, s.name || s.id)),
        el("td", {}, el("span", { class: `badge ${s.status}` }, s.status)),
        el("td", {}, `${Math.min(s.current_time, s.timesteps)} / ${s.timesteps}`),
        el("td", { class: "num" }, money(s.budget, currency)),
        el("td", { class: "num" }, money(s.remaining, currency)),
        el("td", {}, `${s.policy.name} · ${s.objective}`),
      ),
    );
    section.replaceChildren(
      el("h1", {}, "Optimization runs"),
      states.length
        ? el(
            "div",
            { class: "scroll" },
            el(
              "table",
              { id: "states-table" },
              el("thead", {}, el("tr", {}, ["Run", "Status", "Timestep", "Budget", "Remaining", "Policy"].map((h) => el("th", {}, h)))),
              el("tbody", {}, rows),
            ),
          )
        : el("p", {}, "No runs yet: create one below."),
    );
  } catch (error) {
    notify(section, errorText(error), "error");
  }
}

async function showState(id, keepNotice = null) {
  const { main } = page;
  const notice = keepNotice || el("div", { id: "notice", class: "messages", "aria-live": "polite" });
  main.replaceChildren(el("p", {}, el("a", { href: "#" }, "← All runs")), notice, el("p", { class: "muted" }, "Loading…"));
  let state, campaigns, history, reported, events;
  try {
    [state, campaigns, history, reported, events] = await Promise.all([
      api(`/api/states/${encodeURIComponent(id)}`),
      allPages("/api/campaigns"),
      allPages(`/api/states/${encodeURIComponent(id)}/history`),
      api(`/api/states/${encodeURIComponent(id)}/metrics`),
      allPages(`/api/states/${encodeURIComponent(id)}/events`),
    ]);
  } catch (error) {
    notify(notice, errorText(error), "error");
    main.lastChild.remove();
    return;
  }
  const names = Object.fromEntries(campaigns.map((c) => [c.id, c.name]));
  const view = { state, history, reported, notice, name: (cid) => names[cid] || cid };
  const insightsBox = el("section", { class: "card", id: "insights" }, el("h2", {}, "Insights"), el("p", { class: "muted" }, "Analysing…"));
  const refresh = async (text) => {
    notify(notice, text, "ok");
    await showState(id, notice);
  };
  const living = state.policy.name === "curve";
  main.replaceChildren(
    el("p", {}, el("a", { href: "#" }, "← All runs")),
    notice,
    summary(view),
    controlsCard(view, campaigns, page.currency, refresh),
    actions(view),
    await curvesCard(view, page.currency),
    living && state.status !== "completed" ? forecastCard(view, page.currency) : null,
    eventsCard(view, events, page.currency, page.timezone),
    el("section", { class: "charts", id: "charts" }, chartBoxes()),
    insightsBox,
  );
  drawCharts(view);
  loadInsights(view, insightsBox);
}

function summary({ state }) {
  const { currency } = page;
  const shown = Math.min(state.current_time, state.timesteps - 1);
  const facts = [
    ["Status", el("span", { class: `badge ${state.status}`, id: "state-status" }, state.status)],
    ["Timestep", el("span", { id: "current-time" }, state.status === "completed" ? `done (${state.timesteps})` : `${shown} of ${state.timesteps} (0-based)`)],
    ["Budget", money(state.budget, currency)],
    ["Remaining", money(state.remaining, currency)],
    ["This timestep", money(state.timestep_budget, currency)],
    ["Policy", `${state.policy.name} · objective ${state.objective}`],
    ["Next due", when(state.next_due_at, page.timezone)],
  ];
  return el(
    "section",
    { class: "card" },
    el("h1", { id: "state-title" }, state.name || state.id),
    el("dl", { class: "facts" }, facts.map(([k, v]) => el("div", {}, el("dt", {}, k), el("dd", {}, v)))),
  );
}

function actions(view) {
  const { state } = view;
  const section = el("section", { class: "card", id: "actions" }, el("h2", {}, `Metrics for timestep ${state.current_time}`));
  if (state.status !== "active") {
    section.append(el("p", { class: "muted" }, `This run is ${state.status}: nothing to report or advance.`));
    return section;
  }
  section.append(
    el("p", { class: "muted" }, "Report what each campaign did in the current timestep, then advance: the policy learns from it and decides the next split."),
    el("div", { class: "forms" }, state.campaign_ids.map((cid) => metricsForm(view, cid))),
    el(
      "div",
      { class: "advance" },
      el("button", { type: "button", id: "advance", onclick: () => advance(view) }, `Advance to timestep ${state.current_time + 1}`),
      el("span", { class: "muted" }, ` Sends expected_time = ${state.current_time}: if the run moved on meanwhile the server answers 409.`),
    ),
  );
  return section;
}

function metricsForm(view, cid) {
  const { state, reported } = view;
  const previous = reported[cid] || {};
  const message = el("div", { class: "messages" });
  const form = el(
    "form",
    { class: "metrics", "data-campaign": cid },
    el("h3", {}, view.name(cid)),
    el("p", { class: "muted" }, `Budget ${money(state.budgets[cid], page.currency)}`),
    METRIC_INPUTS.map(([field, label, required]) =>
      el(
        "label",
        {},
        label + (field === "spend" || field === "revenue" ? ` (${page.currency})` : ""),
        el("input", { name: field, type: "number", min: 0, step: "any", inputmode: "decimal", required, value: previous[field] ?? null }),
      ),
    ),
    el("button", { type: "submit" }, previous.spend !== undefined ? "Update" : "Post"),
    message,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const row = { campaign_id: cid };
    for (const [field] of METRIC_INPUTS) {
      const value = form.elements[field].value;
      if (value !== "") row[field] = Number(value);
    }
    try {
      await api(`/api/states/${encodeURIComponent(state.id)}/metrics`, {
        method: "POST",
        json: { timestep: state.current_time, metrics: [row] },
      });
      notify(message, `Recorded for timestep ${state.current_time}.`, "ok");
      form.querySelector("button").textContent = "Update";
    } catch (error) {
      notify(message, errorText(error), "error");
    }
  });
  return form;
}

async function advance(view) {
  const { state, notice } = view;
  const button = document.getElementById("advance");
  button.disabled = true;
  try {
    const updated = await api(`/api/states/${encodeURIComponent(state.id)}/next`, {
      method: "POST",
      json: { expected_time: state.current_time },
    });
    const text =
      updated.status === "completed"
        ? `Timestep ${state.current_time} closed: the run is completed.`
        : `Advanced: timestep ${state.current_time} closed, now spending timestep ${updated.current_time}.`;
    notify(notice, text, "ok");
  } catch (error) {
    if (error.status === 409) {
      const detail = error.detail;
      const why = typeof detail === "object" && detail ? detail.message : detail;
      const now = typeof detail === "object" && detail && detail.current_time !== undefined ? ` The run is at timestep ${detail.current_time}.` : "";
      notify(notice, `409 Conflict: not advanced. ${why}.${now} The page now shows the run as it is.`, "conflict");
    } else {
      notify(notice, errorText(error), "error");
    }
  }
  await showState(state.id, notice);
}

const CHARTS = ["chart-split", "chart-allocation", "chart-conversions", "chart-revenue", "chart-cpa", "chart-roas", "chart-success"];

function chartBoxes() {
  return CHARTS.map((id) => el("div", { class: "card chart" }, el("div", { class: "plot", id })));
}

function ratio(a, b) {
  return a === null || a === undefined || !b ? null : a / b;
}

function series(view, pick) {
  const { state, history } = view;
  return state.campaign_ids.map((cid) => ({
    type: "scatter",
    mode: "lines+markers",
    name: view.name(cid),
    x: history.map((row) => row.timestep),
    y: history.map((row) => (row.metrics[cid] ? pick(row.metrics[cid]) : null)),
  }));
}

function drawCharts(view) {
  const { state, history } = view;
  const { currency } = page;
  const ids = state.campaign_ids;
  const current = state.status === "completed" ? null : state.current_time;
  const splitTime = current ?? (history.length ? history[history.length - 1].timestep : 0);
  const splitBudgets = current !== null ? state.budgets : history.length ? history[history.length - 1].budgets : state.budgets;
  chart(
    document.getElementById("chart-split"),
    [{ type: "bar", orientation: "h", y: ids.map(view.name), x: ids.map((cid) => splitBudgets[cid]), text: ids.map((cid) => money(splitBudgets[cid], currency)), textposition: "auto", hovertemplate: `%{y}: %{x:,.2f} ${currency}<extra></extra>` }],
    { title: `Budget split now (timestep ${splitTime})`, x: `Budget for the timestep (${currency})`, y: "Campaign", yaxis: { title: { text: "Campaign" }, automargin: true } },
  );
  const rows = history.map((row) => ({ t: row.timestep, allocation: row.allocation }));
  if (current !== null) rows.push({ t: current, allocation: state.allocation });
  chart(
    document.getElementById("chart-allocation"),
    ids.map((cid) => ({ type: "scatter", mode: "lines", stackgroup: "shares", name: view.name(cid), x: rows.map((r) => r.t), y: rows.map((r) => 100 * (r.allocation[cid] ?? 0)), hovertemplate: "%{y:.1f}%" })),
    { title: "Allocation over time", x: "Timestep", steps: rows.length, y: "Share of the timestep budget (%)", yaxis: { title: { text: "Share of the timestep budget (%)" }, range: [0, 100] } },
  );
  chart(document.getElementById("chart-conversions"), series(view, (m) => m.conversions), { title: "Conversions per campaign", x: "Timestep", steps: history.length, y: "Conversions (count)" });
  chart(document.getElementById("chart-revenue"), series(view, (m) => m.revenue), { title: "Revenue per campaign", x: "Timestep", steps: history.length, y: `Revenue (${currency})` });
  chart(document.getElementById("chart-cpa"), series(view, (m) => ratio(m.spend, m.conversions)), { title: "CPA per campaign", x: "Timestep", steps: history.length, y: `Cost per acquisition (${currency})` });
  chart(document.getElementById("chart-roas"), series(view, (m) => ratio(m.revenue, m.spend)), { title: "ROAS per campaign", x: "Timestep", steps: history.length, y: `ROAS (revenue ÷ spend, ${currency}/${currency})` });
  const totals = ids.map((cid) => {
    let clicks = 0;
    let conversions = 0;
    for (const row of history) {
      const m = row.metrics[cid];
      if (m && m.clicks !== null && m.clicks !== undefined && m.conversions !== null && m.conversions !== undefined) {
        clicks += m.clicks;
        conversions += m.conversions;
      }
    }
    return { clicks, conversions, rate: clicks > 0 ? conversions / clicks : null };
  });
  chart(
    document.getElementById("chart-success"),
    [{ type: "bar", x: ids.map(view.name), y: totals.map((t) => (t.rate === null ? null : 100 * t.rate)), text: totals.map((t) => `${number(t.conversions, 0)} / ${number(t.clicks, 0)}`), textposition: "auto", hovertemplate: "%{x}: %{y:.2f}% (%{text} conversions / clicks)<extra></extra>" }],
    { title: "Success rate per campaign", x: "Campaign", y: "Conversion rate (% of clicks)" },
  );
}

const TREND_ARROWS = { up: "↑", down: "↓", flat: "→", unknown: "?" };

function trendCell(trend) {
  const text = trend.relative_change === null ? TREND_ARROWS[trend.direction] : `${TREND_ARROWS[trend.direction]} ${percent(trend.relative_change, 0)}`;
  return el("td", { class: `trend ${trend.assessment}`, title: `${trend.direction}, ${trend.assessment}, ${trend.points} points` }, text);
}

/** The engine's recommendation, with amounts in the client's currency. */
function recommendationText(r, insights) {
  const { currency } = page;
  const name = Object.fromEntries(insights.campaigns.map((c) => [c.campaign_id, c.name]));
  const revenue = r.metric === "revenue";
  const marginal = (m) => (revenue ? m.toFixed(1) : m > 0 ? money(1 / m, currency) : "none");
  const gain = revenue ? money(r.expected_gain, currency) : `${number(r.expected_gain, 1)} conversions`;
  const relative = r.expected_gain_relative === null ? "" : ` (${r.expected_gain_relative >= 0 ? "+" : ""}${percent(r.expected_gain_relative)})`;
  const hint = r.confidence === "learning" ? " Still learning: treat as a hint." : "";
  return (
    `Move ${percent(r.share, 0)} of the timestep budget (${money(r.amount, currency)}) from ${name[r.from_campaign]} to ${name[r.to_campaign]}: ` +
    `marginal ${revenue ? "ROAS" : "CPA"} ${marginal(r.from_marginal)} vs ${marginal(r.to_marginal)}. ` +
    `Expected ${r.expected_gain >= 0 ? "+" : ""}${gain} ${revenue ? "revenue " : ""}per timestep${relative}.${hint}`
  );
}

async function loadInsights(view, box) {
  const { state } = view;
  const { currency } = page;
  let insights;
  try {
    insights = await api(`/api/states/${encodeURIComponent(state.id)}/insights`);
  } catch (error) {
    box.replaceChildren(el("h2", {}, "Insights"), el("p", { class: "notice error" }, errorText(error)));
    return;
  }
  const marginalName = insights.value_metric === "conversions" ? "Marginal conv. per " + currency : "Marginal ROAS";
  const recommendations = insights.recommendations.length
    ? el("ul", { id: "recommendations" }, insights.recommendations.map((r) => el("li", {}, el("span", { class: `badge ${r.confidence.replace(" ", "-")}` }, r.confidence), " ", recommendationText(r, insights))))
    : el("p", { id: "recommendations" }, "No budget shift recommended: the marginal returns are close, or the data do not support one yet.");
  const warnings = insights.warnings.length
    ? el("ul", { id: "warnings" }, insights.warnings.map((w) => el("li", { class: `warning ${w.severity}` }, w.text)))
    : el("p", { id: "warnings", class: "muted" }, "No warnings.");
  const anomalies = insights.anomalies.length
    ? el("ul", { id: "anomalies" }, insights.anomalies.map((a) => el("li", { class: a.favourable ? "good" : "bad" }, a.text)))
    : el("p", { id: "anomalies", class: "muted" }, "No anomalies.");
  const table = el(
    "table",
    { id: "insights-table" },
    el("thead", {}, el("tr", {}, ["Campaign", "Obs.", "ROAS", `CPA (${currency})`, "Conv. rate", marginalName, "ROAS trend", "CPA trend", "Saturation", "Learning"].map((h) => el("th", {}, h)))),
    el(
      "tbody",
      {},
      insights.campaigns.map((c) =>
        el(
          "tr",
          {},
          el("td", {}, c.name),
          el("td", { class: "num" }, c.observations),
          el("td", { class: "num" }, number(c.roas)),
          el("td", { class: "num" }, number(c.cpa)),
          el("td", { class: "num" }, percent(c.conversion_rate)),
          el("td", { class: "num", title: c.marginal_basis === "curve" ? "from the fitted curve" : "average return (spend has not varied enough to fit a curve)" }, number(c.marginal_return)),
          trendCell(c.trends.roas),
          trendCell(c.trends.cpa),
          el("td", {}, c.saturation.status + (c.saturation.elasticity === null ? "" : ` (b = ${number(c.saturation.elasticity)})`)),
          el("td", {}, c.learning.status + (c.learning.relative_width === null ? "" : ` (±${percent(c.learning.relative_width / 2, 0)})`)),
        ),
      ),
    ),
  );
  box.replaceChildren(
    el("h2", {}, `Insights (${insights.timesteps_analyzed} timesteps analysed)`),
    insights.narrative ? el("blockquote", { id: "narrative" }, insights.narrative) : el("p", { class: "muted", id: "narrative-error" }, insights.narrative_error),
    el("h3", {}, "Recommendations"),
    recommendations,
    el("h3", {}, "Warnings"),
    warnings,
    el("h3", {}, "Anomalies"),
    anomalies,
    el("h3", {}, "Per campaign"),
    el("div", { class: "scroll" }, table),
  );
}
