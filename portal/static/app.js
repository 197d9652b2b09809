// The customer dashboard: reads the link's token, learns what it may do
// (GET /v1/portal/session), and renders each page from the /v1 API.
// Routes live in the fragment: #/ endpoints, #/new, #/endpoints/<id>,
// #/endpoints/<id>/edit, #/deliveries/<id>, #/event-types.
import { api, takeToken, forgetToken, whenUnauthorized, ApiError } from "./api.js";
import { h, replace } from "./dom.js";
import { endpointsPage, formPage, eventTypesPage, eventsPage } from "./pages.js";
import { endpointPage } from "./endpoint.js";
import { deliveryPage } from "./delivery.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const notice = document.getElementById("notice");
const footer = document.getElementById("session");

// ctx is what every page gets: the token's capabilities, the main element,
// a way to report, and a generation that tells a page it was left.
const ctx = {
  caps: new Set(),
  can(...caps) { return caps.every((c) => this.caps.has(c)); },
  main,
  gen: 0,
  timers: [],
  current() { const g = this.gen; return () => g === this.gen; },
  later(fn, ms) { this.timers.push(setTimeout(fn, ms)); },
  // error shows an API error in words: its message and every field detail.
  error(e) {
    if (e instanceof ApiError && e.status === 401) return; // the link page is shown
    const details = e instanceof ApiError ? Object.entries(e.details) : [];
    replace(notice, h("div", { class: "notice notice-error", role: "alert" },
      h("strong", {}, e instanceof ApiError ? `Error (${e.code}): ` : "Error: "), e.message,
      details.length ? h("ul", {}, details.map(([k, v]) => h("li", {}, h("code", {}, k), ": ", v))) : null,
      h("button", { type: "button", class: "link", on: { click: () => replace(notice) } }, "Dismiss")));
    notice.focus();
  },
  ok(msg) {
    replace(notice, h("div", { class: "notice notice-ok", role: "status" }, msg,
      h("button", { type: "button", class: "link", on: { click: () => replace(notice) } }, "Dismiss")));
  },
  clear() { replace(notice); },
};

function linkPage(title, text) {
  nav.hidden = true;
  replace(footer);
  replace(notice);
  replace(main, h("section", { class: "card link-page" },
    h("h1", { tabindex: "-1" }, title), h("p", {}, text),
    h("p", { class: "muted" }, "Ask for a new link from the application that sent you here.")));
  document.title = title + " · Webhooks";
  main.querySelector("h1").focus();
}

whenUnauthorized(() => {
  forgetToken();
  ctx.gen++;
  linkPage("This link is invalid, expired or revoked", "The dashboard link you opened no longer works: it has expired, was revoked, or was never valid.");
});

const routes = [
  [/^#?\/?$/, () => (ctx.can("endpoints:read") ? endpointsPage(ctx) : ctx.can("deliveries:read") ? eventsPage(ctx) : nothing())],
  [/^#\/new$/, () => formPage(ctx, null)],
  [/^#\/endpoints\/([^/]+)\/edit$/, (id) => formPage(ctx, id)],
  [/^#\/endpoints\/([^/]+)$/, (id) => endpointPage(ctx, id)],
  [/^#\/deliveries\/([^/]+)$/, (id) => deliveryPage(ctx, id)],
  [/^#\/event-types$/, () => eventTypesPage(ctx)],
  [/^#\/events$/, () => eventsPage(ctx)],
];

function nothing() {
  replace(main, h("h1", { tabindex: "-1" }, "Webhooks"), h("p", {}, "This link does not allow viewing endpoints or deliveries."));
}

function route() {
  ctx.gen++;
  for (const t of ctx.timers) clearTimeout(t);
  ctx.timers = [];
  ctx.clear();
  const hash = location.hash || "#/";
  for (const [re, page] of routes) {
    const m = re.exec(hash);
    if (m) {
      replace(main, h("p", { class: "muted", role: "status" }, "Loading…"));
      Promise.resolve(page(...m.slice(1).map(decodeURIComponent))).catch((e) => ctx.error(e));
      for (const a of nav.querySelectorAll("a")) {
        if (a.getAttribute("href") === hash) a.setAttribute("aria-current", "page");
        else a.removeAttribute("aria-current");
      }
      return;
    }
  }
  replace(main, h("h1", { tabindex: "-1" }, "Not found"), h("p", {}, h("a", { href: "#/" }, "Back to the endpoints")));
}

async function boot() {
  if (!takeToken()) {
    linkPage("No dashboard link", "This page opens from a link that carries its access token. None was given, or it was already used in another tab.");
    return;
  }
  let session;
  try {
    session = await api("GET", "/portal/session");
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 401)) {
      replace(main, h("h1", { tabindex: "-1" }, "The dashboard could not start"));
      ctx.error(e);
    }
    return;
  }
  ctx.caps = new Set(session.capabilities);
  replace(nav,
    ctx.can("endpoints:read") ? h("a", { href: "#/" }, "Endpoints") : null,
    ctx.can("deliveries:read") ? h("a", { href: "#/events" }, "Events") : null,
    ctx.can("endpoints:read") ? h("a", { href: "#/event-types" }, "Event types") : null);
  nav.hidden = false;
  replace(footer, "This link allows: ", session.capabilities.join(", "), ". It expires ",
    h("time", { datetime: session.expires_at }, new Date(session.expires_at).toLocaleString()), ".");
  window.addEventListener("hashchange", route);
  route();
}

document.getElementById("skip").addEventListener("click", () => main.focus());
boot();
