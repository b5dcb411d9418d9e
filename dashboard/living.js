// A run's page, the living part: pause, resume, edit (PATCH on the version shown) and delete
// the run; its learnt curves with their bands and current budgets, the forecast against an
// equal split, and the events (who changed what, when).

import { api, chart, el, errorText, money, notify, number, when } from "./common.js";

function field(label, input) {
  return el("label", {}, label, input);
}

/** Pause / resume / delete buttons and the edit form. `refresh(text)` redraws the page. */
export function controlsCard(view, campaigns, currency, refresh) {
  const { state } = view;
  const message = el("div", { class: "messages", id: "edit-notice" });
  const path = `/api/states/${encodeURIComponent(state.id)}`;
  const run = async (call, done) => {
    try {
      await call();
      await refresh(done);
    } catch (error) {
      notify(message, errorText(error), error.status === 409 ? "conflict" : "error");
    }
  };
  const buttons = el("div", { class: "advance" });
  if (state.status === "active") {
    buttons.append(el("button", { type: "button", id: "pause-run", class: "secondary", onclick: () => run(() => api(`${path}/pause`, { method: "POST" }), "Run paused.") }, "Pause run"));
  } else if (state.status === "paused") {
    buttons.append(el("button", { type: "button", id: "resume-run", onclick: () => run(() => api(`${path}/resume`, { method: "POST" }), "Run resumed.") }, "Resume run"));
  }
  buttons.append(
    el("button", {
      type: "button",
      id: "delete-run",
      class: "danger",
      onclick: async () => {
        try {
          await api(path, { method: "DELETE" });
          window.location.hash = "";
        } catch (error) {
          notify(message, errorText(error), "error");
        }
      },
    }, "Delete run"),
  );
  const section = el("section", { class: "card", id: "run-controls" }, el("h2", {}, "Run"), buttons, message);
  if (state.status === "completed") return section;
  const inRun = new Set(state.campaign_ids);
  const picks = campaigns.map((c) =>
    el("label", { class: "check" }, el("input", { type: "checkbox", name: "campaign_ids", value: c.id, checked: inRun.has(c.id) }), c.name));
  const form = el("form", { id: "edit-form" },
    el("div", { class: "two" },
      field("Name", el("input", { name: "name", value: state.name ?? "" })),
      field(`Total budget (${currency})`, el("input", { name: "budget", type: "number", step: "any", value: state.budget })),
      field("Timesteps", el("input", { name: "timesteps", type: "number", step: 1, value: state.timesteps })),
      field("Step", el("input", { name: "step", type: "number", step: "any", value: state.step })),
      field("Floor", el("input", { name: "floor", type: "number", step: "any", value: state.floor })),
      field("Policy parameters (JSON)", el("input", { name: "params", placeholder: '{"draws": 32}' }))),
    el("fieldset", { class: "picks" }, el("legend", {}, "Campaigns in the run"), picks),
    el("p", {}, el("button", { type: "submit" }, "Save changes"), el("span", { class: "muted" }, ` Saved on version ${state.version}: if the run moved on meanwhile the server answers 409.`)));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const body = { version: state.version };
    if ((data.get("name") || null) !== (state.name ?? null)) body.name = data.get("name") || null;
    for (const key of ["budget", "timesteps", "step", "floor"]) {
      const value = data.get(key);
      if (value !== "" && Number(value) !== state[key]) body[key] = Number(value);
    }
    const ids = data.getAll("campaign_ids");
    if (ids.join() !== state.campaign_ids.join()) body.campaign_ids = ids;
    const params = data.get("params");
    if (params) {
      try {
        body.params = JSON.parse(params);
      } catch {
        notify(message, "Policy parameters must be JSON, e.g. {\"draws\": 32}.", "error");
        return;
      }
    }
    run(() => api(path, { method: "PATCH", json: body }), "Changes saved: the current timestep was re-paced.");
  });
  section.append(el("h3", {}, "Edit"), form);
  return section;
}

/** The learnt curves (one chart, every campaign: mean, 80% band, current budget). */
export async function curvesCard(view, currency) {
  const box = el("section", { class: "card", id: "curves" }, el("h2", {}, "Learnt curves"), el("p", { class: "muted" }, "Loading…"));
  load();
  return box;

  async function load() {
    let curves;
    try {
      curves = await api(`/api/states/${encodeURIComponent(view.state.id)}/curves`);
    } catch (error) {
      box.replaceChildren(el("h2", {}, "Learnt curves"), el("p", { class: "muted", id: "curves-message" }, errorText(error)));
      return;
    }
    const plot = el("div", { class: "plot", id: "chart-curves" });
    const traces = [];
    for (const row of curves.campaigns) {
      const name = row.name || view.name(row.campaign_id);
      traces.push(
        { type: "scatter", mode: "lines", x: row.spend, y: row.high, line: { width: 0 }, showlegend: false, hoverinfo: "skip", legendgroup: name, name },
        { type: "scatter", mode: "lines", x: row.spend, y: row.low, fill: "tonexty", line: { width: 0 }, opacity: 0.2, showlegend: false, hoverinfo: "skip", legendgroup: name, name },
        { type: "scatter", mode: "lines", x: row.spend, y: row.mean, name, legendgroup: name },
        { type: "scatter", mode: "markers", x: [row.budget], y: [row.value_at_budget], name: `${name} budget`, legendgroup: name, marker: { size: 10, symbol: "diamond" } },
      );
    }
    const table = el("table", { id: "curves-table" },
      el("thead", {}, el("tr", {}, ["Campaign", `Budget (${currency})`, "Value at budget", "Marginal return", `Unpaced (${currency})`].map((h) => el("th", {}, h)))),
      el("tbody", {}, curves.campaigns.map((row) => el("tr", {},
        el("td", {}, row.name || view.name(row.campaign_id)),
        el("td", { class: "num" }, money(row.budget, currency)),
        el("td", { class: "num" }, number(row.value_at_budget)),
        el("td", { class: "num" }, number(row.marginal, 3)),
        el("td", { class: "num" }, money(row.unpaced, currency))))));
    box.replaceChildren(
      el("h2", {}, "Learnt curves"),
      el("p", { class: "muted" }, curves.observed ? "Posterior mean and 80% band per campaign; diamonds mark the current budgets." : "Nothing reported yet: these are the priors."),
      plot,
      el("div", { class: "scroll" }, table),
    );
    const metric = view.state.objective === "conversions" ? "Conversions per timestep" : `Revenue per timestep (${currency})`;
    chart(plot, traces, { title: "What the run has learnt", x: `Spend per timestep (${currency})`, y: metric });
  }
}

/** The forecast against an equal split. */
export function forecastCard(view, currency) {
  const box = el("section", { class: "card", id: "forecast" }, el("h2", {}, "Forecast"), el("p", { class: "muted" }, "Loading…"));
  const unit = view.state.objective === "conversions" ? (v) => `${number(v, 1)} conversions` : (v) => money(v, currency);
  api(`/api/states/${encodeURIComponent(view.state.id)}/forecast`)
    .then((f) => {
      const line = (label, b) => el("tr", {}, el("td", {}, label), el("td", { class: "num" }, unit(b.mean)), el("td", { class: "num" }, `${unit(b.low)} – ${unit(b.high)}`));
      box.replaceChildren(
        el("h2", {}, `Forecast: the ${f.timesteps_left} timesteps left (${f.objective})`),
        el("div", { class: "scroll" }, el("table", { id: "forecast-table" },
          el("thead", {}, el("tr", {}, ["", "Expected", "80% interval"].map((h) => el("th", {}, h)))),
          el("tbody", {}, line("This policy", f.policy), line("Equal split", f.equal_split), line("Gain", f.gain)))),
      );
    })
    .catch((error) => box.replaceChildren(el("h2", {}, "Forecast"), el("p", { class: "muted", id: "forecast-message" }, errorText(error))));
  return box;
}

function changeText(key, change, view, currency) {
  const names = (ids) => ids.map(view.name).join(", ");
  if (key === "campaign_ids") {
    const added = change.to.filter((id) => !change.from.includes(id));
    const removed = change.from.filter((id) => !change.to.includes(id));
    return [added.length ? `added ${names(added)}` : null, removed.length ? `removed ${names(removed)}` : null].filter(Boolean).join("; ");
  }
  const show = (v) => (key === "budget" ? money(v, currency) : typeof v === "object" && v !== null ? JSON.stringify(v) : String(v));
  return `${key} ${show(change.from)} → ${show(change.to)}`;
}

/** The events table: who changed what, when (in the client's time zone). */
export function eventsCard(view, events, currency, timezone) {
  return el("section", { class: "card", id: "events" },
    el("h2", {}, "Events"),
    events.length
      ? el("div", { class: "scroll" }, el("table", { id: "events-table" },
          el("thead", {}, el("tr", {}, ["When", "Who", "Timestep", "What"].map((h) => el("th", {}, h)))),
          el("tbody", {}, events.map((e) => el("tr", {},
            el("td", {}, when(e.at, timezone)),
            el("td", {}, e.by),
            el("td", { class: "num" }, e.timestep),
            el("td", {}, Object.entries(e.changes).map(([k, c]) => changeText(k, c, view, currency)).join("; ")))))))
      : el("p", { class: "muted" }, "No changes since the run started."));
}
