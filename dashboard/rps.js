// The RPS allocator page: paste two price series, POST /api/allocate, see the band and split.

import { api, chart, el, errorText, money, notify, number, percent, startPage } from "./common.js";

const EXAMPLE_A = "1.00, 1.20, 1.10";
const EXAMPLE_B = "1.30, 1.35, 1.25";

startPage(({ main, currency }) => {
  const message = el("div", { class: "messages", id: "rps-message" });
  const form = el(
    "form",
    { class: "card", id: "rps-form" },
    el("h1", {}, "RPS allocator: split a budget between two channels"),
    el("p", { class: "muted" }, "Relative Price Strength: the mean of ln(price A / price B) over the last prices picks one of five bands, and the band sets the split. Paste prices oldest first, separated by commas, spaces or new lines."),
    el(
      "div",
      { class: "two" },
      el("label", {}, `Channel A prices (${currency})`, el("textarea", { name: "prices_a", required: true }, EXAMPLE_A)),
      el("label", {}, `Channel B prices (${currency})`, el("textarea", { name: "prices_b", required: true }, EXAMPLE_B)),
      el("label", {}, "Lookback (prices averaged; empty: all)", el("input", { name: "lookback", type: "number", min: 1, step: 1 })),
      el(
        "label",
        {},
        "Price kind",
        el("select", { name: "price_kind" }, el("option", { value: "cost" }, "cost (CPC, CPA: cheaper is stronger)"), el("option", { value: "value" }, "value (revenue per click: dearer is stronger)")),
      ),
      el("label", {}, `Budget to split (${currency}, optional)`, el("input", { name: "budget", type: "number", min: 0, step: "any" })),
    ),
    el("p", {}, el("button", { type: "submit" }, "Allocate")),
    message,
  );
  const result = el("section", { class: "card", id: "rps-result", hidden: true });
  const charts = el("section", { class: "charts" }, ["rps-prices", "rps-ratio", "rps-split"].map((id) => el("div", { class: "card chart" }, el("div", { class: "plot", id }))));
  charts.hidden = true;
  main.replaceChildren(form, result, charts);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const pricesA = parsePrices(data.get("prices_a"));
    const pricesB = parsePrices(data.get("prices_b"));
    const body = { prices_a: pricesA, prices_b: pricesB, price_kind: data.get("price_kind") };
    if (data.get("lookback")) body.lookback = Number(data.get("lookback"));
    if (pricesA.some(Number.isNaN) || pricesB.some(Number.isNaN)) {
      notify(message, "Prices must be numbers.", "error");
      return;
    }
    try {
      const answer = await api("/api/allocate", { method: "POST", json: body });
      message.replaceChildren();
      const budget = data.get("budget") ? Number(data.get("budget")) : null;
      showResult(result, answer, budget, currency);
      charts.hidden = false;
      drawCharts(answer, body, budget, currency);
    } catch (error) {
      result.hidden = true;
      charts.hidden = true;
      notify(message, errorText(error), "error");
    }
  });
});

function parsePrices(text) {
  return String(text)
    .split(/[\s,;]+/)
    .filter((part) => part !== "")
    .map(Number);
}

function showResult(box, answer, budget, currency) {
  const [a, b] = answer.allocation;
  box.hidden = false;
  box.replaceChildren(
    el("h2", {}, "Allocation"),
    el(
      "dl",
      { class: "facts" },
      el("div", {}, el("dt", {}, "Band"), el("dd", { id: "rps-band" }, answer.band)),
      el("div", {}, el("dt", {}, "Mean RPS, ln(A / B)"), el("dd", { id: "rps-value" }, number(answer.rps, 4))),
      el("div", {}, el("dt", {}, "Channel A"), el("dd", { id: "rps-share-a" }, percent(a, 0) + (budget === null ? "" : ` · ${money(a * budget, currency)}`))),
      el("div", {}, el("dt", {}, "Channel B"), el("dd", { id: "rps-share-b" }, percent(b, 0) + (budget === null ? "" : ` · ${money(b * budget, currency)}`))),
    ),
  );
}

function drawCharts(answer, body, budget, currency) {
  const times = body.prices_a.map((_, i) => i);
  const window = body.lookback ? Math.min(body.lookback, times.length) : times.length;
  const start = times.length - window;
  chart(
    document.getElementById("rps-prices"),
    [
      { type: "scatter", mode: "lines+markers", name: "Channel A", x: times, y: body.prices_a },
      { type: "scatter", mode: "lines+markers", name: "Channel B", x: times, y: body.prices_b },
    ],
    { title: "Prices of A and B", x: "Time unit", y: `Price (${currency})`, steps: times.length },
  );
  const ratios = times.map((i) => Math.log(body.prices_a[i] / body.prices_b[i]));
  chart(
    document.getElementById("rps-ratio"),
    [
      { type: "bar", name: "ln(A / B)", x: times, y: ratios, marker: { color: times.map((i) => (i >= start ? "#2457c5" : "#b8c3d6")) } },
      { type: "scatter", mode: "lines", name: `mean of the last ${window}`, x: [start - 0.5, times.length - 0.5], y: [answer.rps, answer.rps], line: { dash: "dash", color: "#b3261e" } },
    ],
    { title: `Relative price strength (band ${answer.band})`, x: "Time unit", y: "ln(price A / price B)", steps: times.length, yaxis: { title: { text: "ln(price A / price B)" }, automargin: true, zeroline: true } },
  );
  const values = budget === null ? answer.allocation.map((s) => 100 * s) : answer.allocation.map((s) => s * budget);
  chart(
    document.getElementById("rps-split"),
    [{ type: "bar", x: ["Channel A", "Channel B"], y: values, text: answer.allocation.map((s) => percent(s, 0)), textposition: "auto" }],
    { title: "Budget split", x: "Channel", y: budget === null ? "Share of the budget (%)" : `Budget (${currency})` },
  );
}
