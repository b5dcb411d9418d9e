// The runs page's workspace: the client's campaigns (create, rename, pause, resume, delete) and
// the form that creates a run (optionally warm-started from a stored curve fit).

import { api, el, errorText, notify } from "./common.js";

const POLICIES = ["curve", "thompson", "epsilon_greedy", "ucb", "softmax", "optimistic", "step_thompson", "rps", "uniform"];
const OBJECTIVES = ["revenue", "conversions", "profit"];

function field(label, input) {
  return el("label", {}, label, input);
}

/** The campaigns card: a table with per-row actions and a create form. */
export function campaignsCard(campaigns, reload) {
  const message = el("div", { class: "messages", id: "campaign-notice" });
  const rows = campaigns.map((c) => {
    const act = async (call, done) => {
      try {
        await call();
        await reload(done);
      } catch (error) {
        notify(message, errorText(error), "error");
      }
    };
    const rename = el("form", { class: "inline", "data-campaign": c.id },
      el("input", { name: "name", value: c.name, "aria-label": `New name of ${c.name}`, required: true }),
      el("button", { type: "submit" }, "Rename"));
    rename.addEventListener("submit", (event) => {
      event.preventDefault();
      const name = rename.elements.name.value;
      act(() => api(`/api/campaigns/${encodeURIComponent(c.id)}`, { method: "PATCH", json: { name } }), `Renamed to ${name}.`);
    });
    const paused = c.status !== "active";
    const toggle = el("button", {
      type: "button",
      class: "secondary",
      onclick: () => act(() => api(`/api/campaigns/${encodeURIComponent(c.id)}`, { method: "PATCH", json: { status: paused ? "active" : "paused" } }), `${c.name} ${paused ? "resumed" : "paused"}.`),
    }, paused ? "Resume" : "Pause");
    const remove = el("button", {
      type: "button",
      class: "danger",
      onclick: () => act(() => api(`/api/campaigns/${encodeURIComponent(c.id)}`, { method: "DELETE" }), `${c.name} deleted.`),
    }, "Delete");
    return el("tr", { "data-campaign": c.id },
      el("td", {}, rename),
      el("td", {}, c.platform),
      el("td", {}, el("span", { class: `badge ${c.status}` }, c.status)),
      el("td", { class: "actions" }, toggle, remove));
  });
  const create = el("form", { id: "campaign-form", class: "two" },
    field("Name", el("input", { name: "name", required: true })),
    field("Platform", el("input", { name: "platform", value: "google", required: true })),
    field("External id (optional)", el("input", { name: "external_id" })),
    el("p", {}, el("button", { type: "submit" }, "Create campaign")));
  create.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(create);
    const body = { name: data.get("name"), platform: data.get("platform") };
    if (data.get("external_id")) body.external_id = data.get("external_id");
    try {
      await api("/api/campaigns", { method: "POST", json: body });
      await reload(`Campaign ${body.name} created.`);
    } catch (error) {
      notify(message, errorText(error), "error");
    }
  });
  return el("section", { class: "card", id: "campaigns" },
    el("h2", {}, "Campaigns"),
    message,
    campaigns.length
      ? el("div", { class: "scroll" }, el("table", { id: "campaigns-table" },
          el("thead", {}, el("tr", {}, ["Name", "Platform", "Status", ""].map((h) => el("th", {}, h)))),
          el("tbody", {}, rows)))
      : el("p", { class: "muted" }, "No campaigns yet."),
    el("h3", {}, "New campaign"),
    create);
}

/** The form that creates a run; `onCreated(state)` when the API accepts it. */
export function newRunCard(campaigns, currency, onCreated) {
  const message = el("div", { class: "messages", id: "run-notice" });
  const picks = campaigns.map((c) =>
    el("label", { class: "check" }, el("input", { type: "checkbox", name: "campaign_ids", value: c.id, checked: c.status === "active" }), c.name));
  const select = (name, options, value) => el("select", { name }, options.map((o) => el("option", { value: o, selected: o === value }, o)));
  const form = el("form", { id: "run-form" },
    el("fieldset", { class: "picks" }, el("legend", {}, "Campaigns"), picks),
    el("div", { class: "two" },
      field("Name", el("input", { name: "name" })),
      field(`Total budget (${currency})`, el("input", { name: "budget", type: "number", step: "any", required: true, value: 3000 })),
      field("Timesteps", el("input", { name: "timesteps", type: "number", step: 1, value: 30 })),
      field("Timestep length (hours)", el("input", { name: "timestep_hours", type: "number", step: "any", value: 24 })),
      field("Policy", select("policy", POLICIES, "curve")),
      field("Objective", select("objective", OBJECTIVES, "revenue")),
      field("Step (share points a timestep)", el("input", { name: "step", type: "number", step: "any", value: 0.1 })),
      field("Floor (least share)", el("input", { name: "floor", type: "number", step: "any", value: 0.02 })),
      field("Prior: stored fit id (optional)", el("input", { name: "fit_id", placeholder: "from the curve optimizer" })),
      field("Prior strength (optional)", el("input", { name: "prior_strength", type: "number", step: "any" }))),
    el("p", {}, el("button", { type: "submit" }, "Create run")),
    message);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const body = {
      campaign_ids: data.getAll("campaign_ids"),
      budget: Number(data.get("budget")),
      timesteps: Number(data.get("timesteps")),
      timestep_hours: Number(data.get("timestep_hours")),
      policy: { name: data.get("policy") },
      objective: data.get("objective"),
      step: Number(data.get("step")),
      floor: Number(data.get("floor")),
    };
    if (data.get("name")) body.name = data.get("name");
    if (data.get("fit_id")) body.prior = { fit_id: data.get("fit_id") };
    if (data.get("prior_strength")) body.prior_strength = Number(data.get("prior_strength"));
    try {
      onCreated(await api("/api/states", { method: "POST", json: body }));
    } catch (error) {
      notify(message, errorText(error), "error");
    }
  });
  return el("section", { class: "card", id: "new-run" }, el("h2", {}, "New run"), form);
}
