// Shared by every dashboard page: the session, calls to the public REST API, the page header
// (navigation, client picker for admins, log out), DOM building and chart helpers.

const TOKEN_KEY = "oktopus.token";
const ME_KEY = "oktopus.me";
const CLIENT_KEY = "oktopus.client";
const EXPIRED_KEY = "oktopus.expired";

export class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : JSON.stringify(detail));
    this.status = status;
    this.detail = detail;
  }
}

function stored(key) {
  const text = sessionStorage.getItem(key);
  return text ? JSON.parse(text) : null;
}

export const session = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  get me() {
    return stored(ME_KEY);
  },
  get client() {
    return stored(CLIENT_KEY);
  },
  set(key, value) {
    if (value === null) sessionStorage.removeItem(key);
    else sessionStorage.setItem(key, typeof value === "string" ? value : JSON.stringify(value));
  },
  clear() {
    [TOKEN_KEY, ME_KEY, CLIENT_KEY].forEach((key) => sessionStorage.removeItem(key));
  },
};

/** Call the API with the user's bearer token; admins act on the client they picked. */
export async function api(path, { method = "GET", json, form, query = {} } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [key, value] of Object.entries(query)) url.searchParams.set(key, value);
  const me = session.me;
  if (me?.is_admin && session.client && !url.searchParams.has("client_id")) {
    url.searchParams.set("client_id", session.client.id);
  }
  const headers = { Accept: "application/json" };
  if (session.token) headers.Authorization = `Bearer ${session.token}`;
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form instanceof FormData ? form : new URLSearchParams(form);
  }
  const response = await fetch(url, { method, headers, body });
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    if (response.status === 401 && session.token) {
      session.clear();
      sessionStorage.setItem(EXPIRED_KEY, "1");
      window.location.reload();
    }
    throw new ApiError(response.status, data?.detail ?? response.statusText);
  }
  return data;
}

/** Every item of a paginated list endpoint. */
export async function allPages(path, query = {}) {
  const items = [];
  for (let offset = 0; ; offset += 500) {
    const page = await api(path, { query: { ...query, limit: 500, offset } });
    items.push(...page.items);
    if (items.length >= page.total || page.items.length === 0) return items;
  }
}

/** A readable sentence from an API error (plain detail, {message}, or validation errors). */
export function errorText(error) {
  if (!(error instanceof ApiError)) return String(error?.message ?? error);
  const detail = error.detail;
  if (typeof detail === "string") return `${error.status}: ${detail}`;
  if (Array.isArray(detail)) {
    const parts = detail.map((d) => {
      const where = (d.loc || []).slice(1).join(".");
      return where ? `${where}: ${d.msg}` : d.msg;
    });
    return `${error.status}: ${parts.join("; ")}`;
  }
  if (detail && typeof detail === "object" && detail.message) return `${error.status}: ${detail.message}`;
  return `${error.status}: ${JSON.stringify(detail)}`;
}

/** Build an element: el("p", {class: "x"}, "text", child). Text is never parsed as HTML. */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function money(value, currency) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "–";
  return new Intl.NumberFormat("en", { style: "currency", currency }).format(value);
}

/** A time in the client's time zone (named), e.g. "7 Dec 2026, 01:10 (Europe/Paris)". */
export function when(iso, timezone) {
  if (!iso) return "–";
  const zone = timezone || "UTC";
  const text = new Date(iso).toLocaleString("en-GB", { timeZone: zone, dateStyle: "medium", timeStyle: "short" });
  return `${text} (${zone})`;
}

export function number(value, digits = 2) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "–";
  return new Intl.NumberFormat("en", { maximumFractionDigits: digits }).format(value);
}

export function percent(value, digits = 1) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "–";
  return `${(100 * value).toFixed(digits)}%`;
}

/** Show a message in a notice box; kind is ok, error or conflict. */
export function notify(box, text, kind = "ok") {
  box.replaceChildren(el("p", { class: `notice ${kind}`, role: kind === "ok" ? "status" : "alert" }, text));
}

const CHART_CONFIG = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["lasso2d", "select2d"] };

/** Plotly reads <a href>, <b>, <br> and entities in labels: escape text so it shows as typed. */
function plotlyText(value) {
  return typeof value === "string" ? value.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;") : value;
}

/** A trace whose names, categories and labels (campaign names, say) are plain text. */
function plainTrace(trace) {
  const plain = { ...trace, name: plotlyText(trace.name) };
  for (const key of ["x", "y", "text"]) {
    if (Array.isArray(trace[key])) plain[key] = trace[key].map(plotlyText);
  }
  return plain;
}

/**
 * Draw a Plotly chart: every chart has a title and axis titles with units. `steps` (the number
 * of timesteps on the x axis) makes the x ticks whole numbers.
 */
export function chart(node, traces, { title, x, y, steps, height = 340, ...extra }) {
  const xaxis = { title: { text: x }, automargin: true };
  if (steps !== undefined) Object.assign(xaxis, { tick0: 0, dtick: Math.max(1, Math.ceil(steps / 10)) });
  const layout = {
    title: { text: title, font: { size: 15 } },
    xaxis,
    yaxis: { title: { text: y }, automargin: true, rangemode: "tozero" },
    height,
    margin: { l: 56, r: 16, t: 48, b: 40 },
    legend: { orientation: "h", x: 0, y: -0.3, yanchor: "top" },
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)",
    ...extra,
  };
  window.Plotly.react(node, traces.map(plainTrace), layout, CHART_CONFIG);
}

const PAGES = [
  ["/dashboard", "Runs"],
  ["/dashboard/rps", "RPS allocator"],
  ["/dashboard/optimizer", "Curve optimizer"],
  ["/dashboard/mmm", "Marketing mix"],
];

/**
 * Revoke the session's tokens on the server (every device: the API logs the account out
 * everywhere), then forget them here. Not through api(): a 401 must not read as "expired", and
 * an unreachable server must not keep the user logged in on this page.
 */
async function logOut() {
  const token = session.token;
  if (token) {
    // A server that accepts the call but never answers must not keep the page logged in.
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), 5000);
    try {
      await fetch("/api/auth/logout", {
        method: "POST",
        headers: { Authorization: `Bearer ${token}` },
        signal: abort.signal,
      });
    } catch {
      // Offline, down or too slow: the local session ends all the same.
    } finally {
      clearTimeout(timer);
    }
  }
  session.clear();
  window.location.reload();
}

function header(onClientChange) {
  const me = session.me;
  const nav = el(
    "nav",
    {},
    PAGES.map(([href, label]) =>
      el("a", { href, "aria-current": window.location.pathname === href ? "page" : null }, label),
    ),
  );
  const who = el("div", { class: "who" });
  if (me) {
    who.append(el("span", { class: "user" }, me.username));
    if (me.is_admin) who.append(clientPicker(onClientChange));
    else if (me.client) who.append(el("span", { class: "client" }, `${me.client.name} · ${me.client.currency}`));
    who.append(
      el("button", { type: "button", class: "link", id: "logout", title: "Ends this account's sessions on every device", onclick: logOut }, "Log out"),
    );
  }
  return el("header", { class: "top" }, el("a", { class: "brand", href: "/dashboard" }, "Oktopus"), nav, who);
}

function clientPicker(onClientChange) {
  const select = el("select", { id: "client-picker", "aria-label": "Client" }, el("option", { value: "" }, "Pick a client…"));
  allPages("/api/clients")
    .then((clients) => {
      if (session.client && !clients.some((c) => c.id === session.client.id)) {
        // The client picked earlier was deleted: ask again rather than act on it.
        session.set(CLIENT_KEY, null);
        onClientChange();
        return;
      }
      for (const client of clients) {
        select.append(el("option", { value: client.id, selected: session.client?.id === client.id }, `${client.name} (${client.currency})`));
      }
      select.addEventListener("change", () => {
        const client = clients.find((c) => c.id === select.value) || null;
        session.set(CLIENT_KEY, client && { id: client.id, name: client.name, currency: client.currency, timezone: client.timezone });
        onClientChange();
      });
    })
    .catch((error) => select.replaceChildren(el("option", {}, errorText(error))));
  return select;
}

function loginForm(main, onLoggedIn) {
  const message = el("div", { class: "messages" });
  const form = el(
    "form",
    { class: "card login", id: "login-form" },
    el("h1", {}, "Log in to Oktopus"),
    el("label", {}, "Username", el("input", { name: "username", autocomplete: "username", required: true })),
    el("label", {}, "Password", el("input", { name: "password", type: "password", autocomplete: "current-password", required: true })),
    el("button", { type: "submit" }, "Log in"),
    message,
  );
  if (sessionStorage.getItem(EXPIRED_KEY)) {
    sessionStorage.removeItem(EXPIRED_KEY);
    notify(message, "Your session has expired: log in again.", "error");
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    session.clear(); // a token left from an unfinished first login would turn a 401 here into "expired"
    try {
      const token = await api("/api/auth/token", {
        method: "POST",
        form: { grant_type: "password", username: data.get("username"), password: data.get("password") },
      });
      session.set(TOKEN_KEY, token.access_token);
      if (token.first_login) {
        passwordChange(main, data.get("username"), data.get("password"), onLoggedIn);
        return;
      }
      session.set(ME_KEY, await api("/api/users/me"));
      onLoggedIn();
    } catch (error) {
      session.clear();
      notify(message, error.status === 401 ? "Incorrect username or password." : errorText(error), "error");
    }
  });
  main.replaceChildren(form);
}

function passwordChange(main, username, oldPassword, onLoggedIn) {
  const message = el("div", { class: "messages" });
  const form = el(
    "form",
    { class: "card login" },
    el("h1", {}, "Choose a new password"),
    el("p", {}, "This is your first login: set your own password to continue."),
    el("label", {}, "New password", el("input", { name: "password", type: "password", autocomplete: "new-password", minlength: 8, required: true })),
    el("button", { type: "submit" }, "Change password"),
    message,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const password = new FormData(form).get("password");
    try {
      await api("/api/auth/account", { method: "PATCH", json: { old_password: oldPassword, new_password: password } });
      const token = await api("/api/auth/token", { method: "POST", form: { username, password } });
      session.set(TOKEN_KEY, token.access_token);
      session.set(ME_KEY, await api("/api/users/me"));
      onLoggedIn();
    } catch (error) {
      notify(message, errorText(error), "error");
    }
  });
  main.replaceChildren(form);
}

/**
 * Start a page: header, login when needed, client choice for admins, then
 * `onReady({main, me, currency})` (again whenever an admin picks another client).
 */
export function startPage(onReady) {
  const shell = document.getElementById("app");
  const main = el("main", { id: "main" });
  const render = () => {
    const me = session.me;
    shell.replaceChildren(header(render), main);
    if (!session.token || !me) {
      loginForm(main, render);
      return;
    }
    const client = me.is_admin ? session.client : me.client;
    if (me.is_admin && !client) {
      main.replaceChildren(el("section", { class: "card" }, el("h1", {}, "Pick a client"), el("p", {}, "Admins see one client at a time: choose it in the menu at the top.")));
      return;
    }
    onReady({ main, me, client, currency: client?.currency || "EUR", timezone: client?.timezone || "UTC" });
  };
  render();
}
