// The endpoints list, the add/edit form, the event catalog and the events
// list.
import { api, query, ApiError } from "./api.js";
import { h, replace, when, badge, field, showFieldErrors, focusHeading } from "./dom.js";
import { attemptsChart } from "./charts.js";

// statusCell is an endpoint's status with why it is disabled.
export function statusCell(ep) {
  const why = ep.status === "disabled" ? (ep.disabled_reason === "gone" ? "the endpoint answered 410 Gone" : "its deliveries kept failing") : null;
  return h("span", {}, badge(ep.status), why ? h("span", { class: "small muted" }, " — disabled because " + why) : null);
}

// endpointActions are the buttons of one endpoint that the token allows:
// pause or resume, re-enable, edit, delete after a confirmation.
export function endpointActions(ctx, ep, done) {
  if (!ctx.can("endpoints:write")) return null;
  const box = h("div", { class: "actions" });
  const act = (label, fn, cls) => h("button", { type: "button", class: cls || "", on: { click: async (e) => {
    const b = e.currentTarget;
    b.disabled = true;
    try { await fn(); } catch (err) { ctx.error(err); } finally { b.disabled = false; }
  } } }, label);
  const name = ep.description || ep.url;
  if (ep.status === "active") {
    box.append(act("Pause", async () => { await api("PATCH", `/webhooks/${ep.id}`, { active: false }); ctx.ok(`Paused ${name}.`); done(); }));
  } else if (ep.status === "paused") {
    box.append(act("Resume", async () => { await api("PATCH", `/webhooks/${ep.id}`, { active: true }); ctx.ok(`Resumed ${name}.`); done(); }));
  } else {
    box.append(act("Re-enable", async () => { await api("POST", `/webhooks/${ep.id}/enable`); ctx.ok(`Re-enabled ${name}.`); done(); }, "primary"));
  }
  box.append(h("a", { class: "button", href: `#/endpoints/${encodeURIComponent(ep.id)}/edit` }, "Edit"));
  const confirmBox = h("span", { class: "confirm", role: "group", "aria-label": "Confirm deletion" });
  box.append(h("button", { type: "button", class: "danger", "aria-expanded": "false", on: { click: (e) => {
    const del = e.currentTarget;
    del.setAttribute("aria-expanded", "true");
    const yes = act("Yes, delete it", async () => { await api("DELETE", `/webhooks/${ep.id}`); ctx.ok(`Deleted ${name}.`); done(true); }, "danger");
    replace(confirmBox, `Delete ${name}? Its queued deliveries are cancelled. `, yes, " ",
      h("button", { type: "button", on: { click: () => { replace(confirmBox); del.setAttribute("aria-expanded", "false"); del.focus(); } } }, "Cancel"));
    yes.focus();
  } } }, "Delete…"), confirmBox);
  return box;
}

export async function endpointsPage(ctx) {
  const alive = ctx.current();
  const list = h("div", { class: "endpoint-list" });
  const more = h("div");
  const filter = h("select", { name: "status", on: { change: () => load(true) } },
    ["", "active", "paused", "disabled"].map((v) => h("option", { value: v }, v || "any")));
  replace(ctx.main,
    h("div", { class: "page-head" }, h("h1", { tabindex: "-1" }, "Endpoints"),
      ctx.can("endpoints:write") ? h("a", { class: "button primary", href: "#/new" }, "Add endpoint") : null),
    h("p", { class: "muted" }, "Where your webhooks are delivered. Each row shows the last 24 hours of attempts."),
    h("div", { class: "filters" }, field("Status", filter)),
    list, more);
  focusHeading();
  let cursor = null;
  async function load(reset) {
    if (reset) { cursor = null; replace(list); }
    const page = await api("GET", "/webhooks" + query({ status: filter.value, cursor, limit: 20 }));
    if (!alive()) return;
    if (reset && page.data.length === 0) {
      list.append(h("p", { class: "empty" }, "No endpoints yet.", ctx.can("endpoints:write") ? " Add one to start receiving webhooks." : ""));
    }
    for (const ep of page.data) list.append(endpointRow(ctx, ep, () => load(true)));
    cursor = page.next_cursor;
    replace(more, cursor ? h("button", { type: "button", on: { click: () => load(false).catch((e) => ctx.error(e)) } }, "Show more endpoints") : null);
  }
  await load(true);
}

function endpointRow(ctx, ep, reload) {
  const chart = h("div", { class: "spark" }, h("span", { class: "muted small" }, "…"));
  api("GET", `/webhooks/${ep.id}/stats?window=24h`).then((st) => replace(chart, attemptsChart(st, true)))
    .catch(() => replace(chart, h("span", { class: "muted small" }, "no chart")));
  return h("article", { class: "card endpoint", "data-id": ep.id },
    h("div", { class: "endpoint-head" },
      h("a", { class: "url", href: `#/endpoints/${encodeURIComponent(ep.id)}` }, ep.url),
      statusCell(ep)),
    ep.description ? h("p", { class: "description" }, ep.description) : null,
    h("dl", { class: "facts" },
      h("dt", {}, "Events"), h("dd", {}, ep.events.map((t) => h("code", { class: "tag" }, t))),
      h("dt", {}, "Failures"), h("dd", { class: ep.failure_count ? "warn" : "" }, String(ep.failure_count)),
      h("dt", {}, "Last delivery"), h("dd", {}, when(ep.last_delivery_at)),
      h("dt", {}, "Last success"), h("dd", {}, when(ep.last_success_at)),
      h("dt", {}, "24 h"), h("dd", {}, chart)),
    endpointActions(ctx, ep, reload));
}

// catalog returns the event types the token may see ([] without endpoints:read).
async function catalog(ctx) {
  if (!ctx.can("endpoints:read")) return [];
  return (await api("GET", "/event-types")).data;
}

// formPage adds an endpoint (id null) or edits one.
export async function formPage(ctx, id) {
  const alive = ctx.current();
  if (!ctx.can("endpoints:write") || (id && !ctx.can("endpoints:read"))) {
    replace(ctx.main, h("h1", { tabindex: "-1" }, "Not allowed"), h("p", {}, "This link does not allow changing endpoints."));
    return;
  }
  const [ep, types] = await Promise.all([id && ctx.can("endpoints:read") ? api("GET", `/webhooks/${id}`) : null, catalog(ctx)]);
  if (!alive()) return;
  const cur = ep || { url: "", description: "", events: [], headers: {}, rate_limit: null };
  const url = h("input", { name: "url", type: "url", required: true, value: cur.url, placeholder: "https://example.com/webhooks", autocomplete: "off" });
  const desc = h("input", { name: "description", type: "text", maxlength: 256, value: cur.description || "" });
  const known = new Set(types.map((t) => t.type));
  const picks = types.map((t) => h("label", { class: "check" },
    h("input", { type: "checkbox", name: "event-pick", value: t.type, checked: cur.events.includes(t.type) }), " ", h("code", {}, t.type),
    t.description ? h("span", { class: "muted small" }, " — " + t.description) : null));
  const typed = h("input", { name: "events", type: "text", value: cur.events.filter((e) => !known.has(e)).join(", "),
    placeholder: types.length ? "other types or patterns, comma-separated" : "e.g. invoice.paid, batch.*, or *" });
  const headerRows = h("div", { class: "header-rows" });
  const addHeader = (k, v) => {
    const row = h("div", { class: "header-row" });
    const name = h("input", { type: "text", "aria-label": "Header name", value: k || "", placeholder: "X-Custom-Header", class: "header-name" });
    const value = h("input", { type: "text", "aria-label": "Header value", value: v || "", class: "header-value" });
    row.append(name, value, h("button", { type: "button", "aria-label": "Remove this header", on: { click: () => row.remove() } }, "Remove"));
    headerRows.append(row);
    return name;
  };
  for (const [k, v] of Object.entries(cur.headers || {})) addHeader(k, v);
  const rate = h("input", { name: "rate_limit", type: "number", min: 1, step: 1, value: cur.rate_limit ?? "", placeholder: "no limit" });
  const submit = h("button", { type: "submit", class: "primary" }, ep ? "Save changes" : "Add endpoint");
  const form = h("form", { class: "card form", novalidate: true },
    field("Endpoint URL", url),
    field("Description", desc, "Optional, for your own reference."),
    h("fieldset", { class: "field", "data-field": "events" },
      h("legend", {}, "Event types"),
      picks.length ? h("div", { class: "picks" }, picks) : h("p", { class: "muted small" }, "No catalog yet: type the event types below."),
      field(picks.length ? "Other event types" : "Event types", typed, "Exact types, prefix wildcards such as batch.*, or * for all."),
      h("span", { class: "field-error", role: "status" })),
    h("fieldset", { class: "field", "data-field": "headers" },
      h("legend", {}, "Custom headers"), headerRows,
      h("button", { type: "button", on: { click: () => addHeader().focus() } }, "Add a header"),
      h("span", { class: "field-error", role: "status" })),
    field("Rate limit (deliveries per second)", rate, "Leave empty for no limit."),
    h("div", { class: "actions" }, submit, h("a", { class: "button", href: ep ? `#/endpoints/${encodeURIComponent(ep.id)}` : "#/" }, "Cancel")));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const events = [...form.querySelectorAll("input[name=event-pick]:checked")].map((c) => c.value)
      .concat(typed.value.split(",").map((x) => x.trim()).filter(Boolean));
    const headers = {};
    for (const row of headerRows.querySelectorAll(".header-row")) {
      const k = row.querySelector(".header-name").value.trim();
      if (k) headers[k] = row.querySelector(".header-value").value;
    }
    const body = { url: url.value.trim(), description: desc.value, events, headers, rate_limit: rate.value === "" ? null : Number(rate.value) };
    submit.disabled = true;
    try {
      const saved = ep ? await api("PATCH", `/webhooks/${ep.id}`, body) : await api("POST", "/webhooks", body);
      ctx.ok(ep ? "Saved." : "Endpoint added." + (saved.secret ? " Its signing secret is on its page." : ""));
      location.hash = ctx.can("endpoints:read") ? `#/endpoints/${encodeURIComponent(saved.id)}` : "#/";
    } catch (err) {
      showFieldErrors(form, err instanceof ApiError ? err.details : {});
      for (const fs of form.querySelectorAll("fieldset.field")) {
        const name = fs.getAttribute("data-field");
        const reasons = Object.entries((err && err.details) || {}).filter(([k]) => k === name || k.startsWith(name + "["));
        fs.querySelector(":scope > .field-error").textContent = reasons.map(([k, v]) => k + ": " + v).join("; ");
      }
      ctx.error(err);
    } finally {
      submit.disabled = false;
    }
  });
  replace(ctx.main, h("h1", { tabindex: "-1" }, ep ? "Edit endpoint" : "Add an endpoint"), form);
  focusHeading();
}

export async function eventTypesPage(ctx) {
  const alive = ctx.current();
  const types = await catalog(ctx);
  if (!alive()) return;
  replace(ctx.main, h("h1", { tabindex: "-1" }, "Event types"),
    h("p", { class: "muted" }, "The events you can subscribe an endpoint to."),
    types.length === 0 ? h("p", { class: "empty" }, "No event types yet.") :
      h("div", { class: "table-wrap" }, h("table", {},
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Type"), h("th", { scope: "col" }, "Description"))),
        h("tbody", {}, types.map((t) => h("tr", {}, h("td", {}, h("code", {}, t.type)), h("td", {}, t.description || "—")))))));
  focusHeading();
}

// eventsPage lists recent events and links to their deliveries.
export async function eventsPage(ctx) {
  const alive = ctx.current();
  const body = h("tbody");
  const more = h("div");
  replace(ctx.main, h("h1", { tabindex: "-1" }, "Events"), h("p", { class: "muted" }, "Events sent to your endpoints, newest first."),
    h("div", { class: "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {}, ["Event", "Type", "Created", "Deliveries"].map((c) => h("th", { scope: "col" }, c)))), body)), more);
  focusHeading();
  let cursor = null;
  async function load() {
    const page = await api("GET", "/events" + query({ cursor, limit: 20 }));
    if (!alive()) return;
    for (const ev of page.data) {
      const cell = h("td", {}, h("button", { type: "button", class: "link", on: { click: async () => {
        try {
          const full = await api("GET", `/events/${ev.id}`);
          replace(cell, full.deliveries.length ? full.deliveries.map((d) => h("a", { href: `#/deliveries/${encodeURIComponent(d.id)}`, class: "block" }, badge(d.status), " ", d.id)) : "none");
        } catch (e) { ctx.error(e); }
      } } }, "Show"));
      body.append(h("tr", {}, h("td", {}, h("code", {}, ev.id)), h("td", {}, h("code", {}, ev.type)), h("td", {}, when(ev.created_at)), cell));
    }
    if (page.data.length === 0 && !cursor) body.append(h("tr", {}, h("td", { colspan: 4, class: "empty" }, "No events yet.")));
    cursor = page.next_cursor;
    replace(more, cursor ? h("button", { type: "button", on: { click: () => load().catch((e) => ctx.error(e)) } }, "Show more events") : null);
  }
  await load();
}
