// One endpoint: its settings and actions, its secret, a test event, its
// attempts chart, recovery, and its deliveries.
import { api, query, ApiError } from "./api.js";
import { h, replace, when, badge, field, focusHeading } from "./dom.js";
import { attemptsChart } from "./charts.js";
import { statusCell, endpointActions } from "./pages.js";

export async function endpointPage(ctx, id) {
  const alive = ctx.current();
  const ep = ctx.can("endpoints:read") ? await api("GET", `/webhooks/${id}`) : null;
  if (!alive()) return;
  const reload = (gone) => { if (gone) location.hash = "#/"; else endpointPage(ctx, id).catch((e) => ctx.error(e)); };
  const sections = [];
  if (ep) {
    sections.push(h("section", { class: "card", "aria-labelledby": "s-settings" },
      h("h2", { id: "s-settings" }, "Settings"),
      h("dl", { class: "facts" },
        h("dt", {}, "Status"), h("dd", {}, statusCell(ep)),
        h("dt", {}, "Description"), h("dd", {}, ep.description || "—"),
        h("dt", {}, "Events"), h("dd", {}, ep.events.map((t) => h("code", { class: "tag" }, t))),
        h("dt", {}, "Custom headers"), h("dd", {}, Object.keys(ep.headers || {}).length
          ? h("ul", { class: "plain" }, Object.entries(ep.headers).map(([k, v]) => h("li", {}, h("code", {}, k), ": ", h("code", {}, v)))) : "none"),
        h("dt", {}, "Rate limit"), h("dd", {}, ep.rate_limit ? ep.rate_limit + " per second" : "none"),
        Object.keys(ep.metadata || {}).length ? [h("dt", {}, "Metadata"), h("dd", {}, h("ul", { class: "plain" },
          Object.entries(ep.metadata).map(([k, v]) => h("li", {}, h("code", {}, k), ": ", v))))] : null,
        h("dt", {}, "Failures since the last success"), h("dd", {}, String(ep.failure_count)),
        h("dt", {}, "Last delivery"), h("dd", {}, when(ep.last_delivery_at)),
        h("dt", {}, "Last success"), h("dd", {}, when(ep.last_success_at)),
        h("dt", {}, "Created"), h("dd", {}, when(ep.created_at))),
      endpointActions(ctx, ep, reload)));
    sections.push(statsSection(ctx, id));
  }
  if (ctx.can("secrets:read")) sections.push(secretSection(ctx, id));
  if (ctx.can("endpoints:write")) sections.push(testSection(ctx, id));
  if (ctx.can("deliveries:write")) sections.push(recoverSection(ctx, id));
  if (ctx.can("deliveries:read")) sections.push(deliveriesSection(ctx, id));
  replace(ctx.main, h("p", { class: "crumbs" }, h("a", { href: "#/" }, "Endpoints"), " / "),
    h("h1", { tabindex: "-1", class: "url" }, ep ? ep.url : id), ...sections);
  focusHeading();
}

function statsSection(ctx, id) {
  const box = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const show = async (window) => {
    try {
      const st = await api("GET", `/webhooks/${id}/stats?window=${window}`);
      replace(box, attemptsChart(st, false));
      for (const b of buttons.querySelectorAll("button")) b.setAttribute("aria-pressed", String(b.value === window));
    } catch (e) { ctx.error(e); }
  };
  const buttons = h("div", { class: "segmented", role: "group", "aria-label": "Chart window" },
    h("button", { type: "button", value: "24h", "aria-pressed": "true", on: { click: () => show("24h") } }, "24 hours"),
    h("button", { type: "button", value: "7d", "aria-pressed": "false", on: { click: () => show("7d") } }, "7 days"));
  show("24h");
  return h("section", { class: "card", "aria-labelledby": "s-stats" }, h("h2", { id: "s-stats" }, "Attempts"), buttons, box);
}

function secretSection(ctx, id) {
  const out = h("div", { class: "secret" });
  const reveal = async () => {
    const { secret } = await api("GET", `/webhooks/${id}/secret`);
    showSecret(secret);
  };
  const showSecret = (secret) => {
    const code = h("code", { class: "secret-value" }, secret);
    const copy = h("button", { type: "button", on: { click: async () => {
      try {
        await navigator.clipboard.writeText(secret);
        ctx.ok("Secret copied to the clipboard.");
      } catch (e) {
        const r = document.createRange();
        r.selectNodeContents(code);
        getSelection().removeAllRanges();
        getSelection().addRange(r);
        ctx.ok("The clipboard is not available here: the secret is selected, copy it with your keyboard.");
      }
    } } }, "Copy");
    replace(out, code, " ", copy, " ", h("button", { type: "button", on: { click: () => replace(out, revealButton) } }, "Hide"));
  };
  const revealButton = h("button", { type: "button", on: { click: () => reveal().catch((e) => ctx.error(e)) } }, "Reveal secret");
  replace(out, revealButton);
  let rotate = null;
  if (ctx.can("endpoints:write")) {
    const grace = h("input", { type: "number", name: "grace_period_seconds", min: 0, max: 168, step: 1, value: 24 });
    rotate = h("form", { class: "inline-form" }, field("Keep the old secret signing for (hours)", grace, "0 retires it at once; at most 168."),
      h("button", { type: "submit" }, "Rotate secret"));
    rotate.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        const { secret } = await api("POST", `/webhooks/${id}/rotate-secret`, { grace_period_seconds: Math.round(Number(grace.value || 0) * 3600) });
        showSecret(secret);
        ctx.ok(Number(grace.value) > 0 ? `Secret rotated. The old one keeps signing for ${grace.value} hours.` : "Secret rotated. The old one no longer signs.");
      } catch (err) { ctx.error(err); }
    });
  }
  return h("section", { class: "card", "aria-labelledby": "s-secret" }, h("h2", { id: "s-secret" }, "Signing secret"),
    h("p", { class: "muted" }, "Verify each request's signature with it. Keep it secret."), out, rotate);
}

function testSection(ctx, id) {
  const out = h("div", { role: "status" });
  const send = h("button", { type: "button", on: { click: async () => {
    send.disabled = true;
    try {
      const r = await api("POST", `/webhooks/${id}/test`);
      replace(out, "Test event sent: delivery ", ctx.can("deliveries:read") ? h("a", { href: `#/deliveries/${encodeURIComponent(r.delivery_id)}` }, r.delivery_id) : r.delivery_id, " ", h("span", { class: "test-status" }, badge("pending")));
      if (ctx.can("deliveries:read")) watch(r.delivery_id);
    } catch (e) { ctx.error(e); } finally { send.disabled = false; }
  } } }, "Send a test event");
  const alive = ctx.current();
  const watch = async (dlv) => {
    const d = await api("GET", `/deliveries/${dlv}`).catch((e) => { ctx.error(e); return null; });
    if (!d || !alive()) return;
    const st = out.querySelector(".test-status");
    if (st) replace(st, badge(d.status), d.last_response_status ? " HTTP " + d.last_response_status : "", d.last_error ? " — " + d.last_error : "");
    if (d.status === "pending") ctx.later(() => watch(dlv), 1000);
  };
  return h("section", { class: "card", "aria-labelledby": "s-test" }, h("h2", { id: "s-test" }, "Test"),
    h("p", { class: "muted" }, "Sends a webhook.test event to this endpoint, whatever its event types or status."), send, out);
}

function recoverSection(ctx, id) {
  const since = h("input", { type: "datetime-local", name: "since", required: true, step: 1 });
  const until = h("input", { type: "datetime-local", name: "until", step: 1 });
  const d = new Date(Date.now() - 3600e3);
  since.value = new Date(d.getTime() - d.getTimezoneOffset() * 60e3).toISOString().slice(0, 16);
  const form = h("form", { class: "inline-form" }, field("Since", since, "Your local time."), field("Until (optional)", until),
    h("button", { type: "submit" }, "Recover"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!since.value) { ctx.error(new ApiError(422, "validation_failed", "Choose when to recover from.", { since: "is required" })); return; }
    const body = { since: new Date(since.value).toISOString() };
    if (until.value) body.until = new Date(until.value).toISOString();
    try {
      const r = await api("POST", `/webhooks/${id}/recover`, body);
      ctx.ok(`Recovery queued ${r.requeued} ${r.requeued === 1 ? "delivery" : "deliveries"}.`);
    } catch (err) { ctx.error(err); }
  });
  return h("section", { class: "card", "aria-labelledby": "s-recover" }, h("h2", { id: "s-recover" }, "Recover since…"),
    h("p", { class: "muted" }, "Sends again every event since then that this endpoint did not receive successfully (failed, cancelled, or missed while paused or disabled)."), form);
}

function deliveriesSection(ctx, id) {
  const alive = ctx.current();
  const status = h("select", { name: "status" }, ["", "pending", "succeeded", "failed", "cancelled"].map((v) => h("option", { value: v }, v || "any")));
  const type = h("input", { type: "text", name: "event_type", placeholder: "any", list: "type-list" });
  const types = h("datalist", { id: "type-list" });
  if (ctx.can("endpoints:read")) api("GET", "/event-types").then((r) => replace(types, r.data.map((t) => h("option", { value: t.type })))).catch(() => {});
  const body = h("tbody");
  const more = h("div");
  let cursor = null;
  let paged = false; // the user asked for more: no self-refresh then
  const load = async (reset) => {
    paged = !reset;
    const page = await api("GET", `/webhooks/${id}/deliveries` + query({ status: status.value, event_type: type.value.trim(), cursor: reset ? null : cursor, limit: 20 }));
    if (!alive()) return;
    if (reset) replace(body);
    for (const d of page.data) {
      body.append(h("tr", { "data-id": d.id },
        h("td", {}, h("a", { href: `#/deliveries/${encodeURIComponent(d.id)}` }, d.id)),
        h("td", {}, h("code", {}, d.event_type)),
        h("td", {}, badge(d.status)),
        h("td", {}, `${d.attempt} of ${d.max_attempts}`),
        h("td", {}, d.last_response_status ? String(d.last_response_status) : d.last_error ? "—" : ""),
        h("td", {}, when(d.updated_at)),
        h("td", {}, d.status === "pending" && d.next_retry_at ? when(d.next_retry_at) : "")));
    }
    if (reset && page.data.length === 0) body.append(h("tr", {}, h("td", { colspan: 7, class: "empty" }, "No deliveries match.")));
    // While a delivery of the first page is pending, the list refreshes itself.
    if (reset && page.data.some((d) => d.status === "pending")) ctx.later(() => { if (!paged) load(true).catch((e) => ctx.error(e)); }, 2000);
    cursor = page.next_cursor;
    replace(more, cursor ? h("button", { type: "button", on: { click: () => load(false).catch((e) => ctx.error(e)) } }, "Show more deliveries") : null);
  };
  const form = h("form", { class: "filters" }, field("Status", status), field("Event type", type), types,
    h("button", { type: "submit" }, "Filter"));
  form.addEventListener("submit", (e) => { e.preventDefault(); load(true).catch((err) => ctx.error(err)); });
  status.addEventListener("change", () => load(true).catch((err) => ctx.error(err)));
  load(true).catch((e) => ctx.error(e));
  return h("section", { class: "card", "aria-labelledby": "s-deliveries" },
    h("div", { class: "page-head" }, h("h2", { id: "s-deliveries" }, "Deliveries"),
      h("button", { type: "button", on: { click: () => load(true).catch((e) => ctx.error(e)) } }, "Refresh")),
    form,
    h("div", { class: "table-wrap" }, h("table", { class: "deliveries" },
      h("thead", {}, h("tr", {}, ["Delivery", "Event type", "Status", "Attempts", "Response", "Updated", "Next retry"].map((c) => h("th", { scope: "col" }, c)))),
      body)), more);
}
