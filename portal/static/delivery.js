// One delivery: the event's payload, every attempt with its response,
// error and timing, the next retry, a retry button; it refreshes itself
// while pending.
import { api } from "./api.js";
import { h, replace, when, badge, focusHeading } from "./dom.js";
import { timingBars } from "./charts.js";

export async function deliveryPage(ctx, id, refreshing) {
  const alive = ctx.current();
  const d = await api("GET", `/deliveries/${id}`);
  const ev = refreshing ? refreshing.ev : await api("GET", `/events/${d.event_id}`).catch((e) => { ctx.error(e); return null; });
  if (!alive()) return;
  const slowest = Math.max(1, ...d.attempts.map((a) => a.response_time_ms || 0));
  const retry = ctx.can("deliveries:write") && d.status !== "pending"
    ? h("button", { type: "button", class: "primary", on: { click: async (e) => {
      const b = e.currentTarget;
      b.disabled = true;
      try {
        await api("POST", `/deliveries/${id}/retry`);
        ctx.ok("Retry queued: a fresh run of the retry schedule.");
        await deliveryPage(ctx, id, { ev });
      } catch (err) { ctx.error(err); b.disabled = false; }
    } } }, "Retry this delivery") : null;
  const attempts = d.attempts.slice().reverse().map((a) => h("li", { class: "card attempt", "data-attempt": a.attempt },
    h("div", { class: "attempt-head" },
      h("strong", {}, `Attempt ${a.attempt}`), " ", when(a.at), " ",
      h("span", { class: "tag" }, a.trigger), " ",
      a.error_class ? badge("failed", a.error_class) : badge("succeeded")),
    h("dl", { class: "facts" },
      h("dt", {}, "Response"), h("dd", {}, a.response_status !== null ? "HTTP " + a.response_status : "no response"),
      a.error ? [h("dt", {}, "Error"), h("dd", { class: "error-text" }, a.error)] : null,
      h("dt", {}, "Time"), h("dd", {}, timingBars(a.timing, a.response_time_ms, slowest)),
      a.next_retry_at ? [h("dt", {}, "Next retry"), h("dd", {}, when(a.next_retry_at))] : null),
    a.response_body ? h("details", {}, h("summary", {}, "Response body"), h("pre", { class: "body" }, a.response_body)) : null));
  const payload = ev ? h("pre", { class: "json", tabindex: "0", "aria-label": "Event payload" }, JSON.stringify(ev.data, null, 2)) : h("p", { class: "muted" }, "The event is no longer kept.");
  replace(ctx.main,
    h("p", { class: "crumbs" }, ctx.can("endpoints:read") ? h("a", { href: "#/" }, "Endpoints") : h("a", { href: "#/events" }, "Events"), " / ",
      h("a", { href: `#/endpoints/${encodeURIComponent(d.webhook_id)}` }, "endpoint"), " / "),
    h("div", { class: "page-head" }, h("h1", { tabindex: "-1" }, "Delivery ", h("code", {}, d.id)), retry),
    h("section", { class: "card", "aria-labelledby": "s-summary" }, h("h2", { id: "s-summary" }, "Summary"),
      h("dl", { class: "facts" },
        h("dt", {}, "Status"), h("dd", { class: "delivery-status" }, badge(d.status), d.status === "pending" ? h("span", { class: "muted small" }, " refreshing…") : null),
        h("dt", {}, "Event"), h("dd", {}, h("code", {}, d.event_type), " ", h("code", { class: "muted" }, d.event_id)),
        h("dt", {}, "Attempts"), h("dd", {}, `${d.attempt} of ${d.max_attempts}`),
        h("dt", {}, "Next retry"), h("dd", {}, d.status === "pending" ? when(d.next_retry_at) : "none"),
        d.last_error ? [h("dt", {}, "Last error"), h("dd", { class: "error-text" }, d.last_error)] : null,
        h("dt", {}, "Created"), h("dd", {}, when(d.created_at)))),
    h("section", { class: "card", "aria-labelledby": "s-payload" }, h("h2", { id: "s-payload" }, "Payload"), payload),
    h("section", { "aria-labelledby": "s-attempts" }, h("h2", { id: "s-attempts" }, "Attempts"),
      attempts.length ? h("ol", { class: "attempts", reversed: true }, attempts) : h("p", { class: "muted" }, "No attempt yet.")));
  if (!refreshing) focusHeading();
  if (d.status === "pending") ctx.later(() => deliveryPage(ctx, id, { ev }).catch((e) => ctx.error(e)), 1500);
}
