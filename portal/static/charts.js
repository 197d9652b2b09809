// Charts drawn with SVG elements (no library): attempts per hour by
// outcome, and an attempt's timing phases.
import { s, h } from "./dom.js";

// attemptsChart draws stacked bars of succeeded and failed attempts per
// bucket of a stats answer. small: the endpoints list's sparkline.
export function attemptsChart(stats, small) {
  const buckets = stats.buckets || [];
  const total = buckets.reduce((n, b) => n + b.attempts, 0);
  const failed = buckets.reduce((n, b) => n + b.failed, 0);
  const hours = buckets.length;
  const label = `${total} attempts in the last ${stats.window === "7d" ? "7 days" : "24 hours"}, ${failed} failed`;
  const width = small ? 120 : 720;
  const height = small ? 28 : 160;
  const pad = small ? 0 : 20;
  const max = Math.max(1, ...buckets.map((b) => b.attempts));
  const bw = (width - pad) / Math.max(1, hours);
  const svg = s("svg", { viewBox: `0 0 ${width} ${height + (small ? 0 : 18)}`, class: small ? "chart chart-small" : "chart", role: "img", "aria-label": label });
  svg.append(s("title", { text: label }));
  const plot = height - (small ? 0 : 4);
  svg.append(s("line", { x1: pad, y1: plot - 0.5, x2: width, y2: plot - 0.5, class: "base" }));
  buckets.forEach((b, i) => {
    const x = pad + i * bw;
    const hs = (b.succeeded / max) * plot;
    const hf = (b.failed / max) * plot;
    const start = new Date(b.start);
    const tip = `${start.toLocaleString()}: ${b.succeeded} succeeded, ${b.failed} failed`;
    const g = s("g", { class: "bar" }, s("title", { text: tip }));
    g.append(s("rect", { x: x + 0.5, y: plot - hs, width: Math.max(0.5, bw - 1), height: hs, class: "ok" }));
    g.append(s("rect", { x: x + 0.5, y: plot - hs - hf, width: Math.max(0.5, bw - 1), height: hf, class: "fail" }));
    // A transparent full-height rect gives every hour a hover target.
    g.append(s("rect", { x, y: 0, width: bw, height: plot, class: "hit" }));
    svg.append(g);
  });
  if (!small) {
    svg.append(s("text", { x: 0, y: 10, class: "axis" }, String(max)));
    svg.append(s("text", { x: 0, y: plot, class: "axis" }, "0"));
    const step = hours > 24 ? 24 : 6;
    for (let i = 0; i < hours; i += step) {
      const d = new Date(buckets[i].start);
      const t = hours > 24 ? d.toLocaleDateString(undefined, { month: "short", day: "numeric" }) : d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
      svg.append(s("text", { x: pad + i * bw, y: height + 14, class: "axis" }, t));
    }
  }
  if (small) return svg;
  return h("figure", { class: "chart-figure" }, svg,
    h("figcaption", {}, h("span", { class: "key key-ok" }, "succeeded"), " ", h("span", { class: "key key-fail" }, "failed"), " — ", label));
}

// timingBars draws an attempt's phases as consecutive bars: DNS, connect,
// TLS, the wait until the first byte (first_byte_ms counts from the start),
// then the rest of the response; scaled to the slowest attempt shown.
export function timingBars(timing, totalMs, scaleMs) {
  const t = timing || {};
  const num = (v) => (v === null || v === undefined ? null : Number(v));
  const dns = num(t.dns_ms), connect = num(t.connect_ms), tls = num(t.tls_ms), first = num(t.first_byte_ms);
  const before = (dns || 0) + (connect || 0) + (tls || 0);
  const segments = [["dns", "DNS", dns], ["connect", "connect", connect], ["tls", "TLS", tls],
    ["wait", "waiting for the first byte", first === null ? null : Math.max(0, first - before)],
    ["rest", "rest of the response", Math.max(0, totalMs - (first === null ? before : Math.max(first, before)))]];
  const width = 360;
  const scale = width / Math.max(1, scaleMs);
  const fmt = (v) => (v === null ? "—" : Math.round(v * 10) / 10 + " ms");
  const words = `DNS ${fmt(dns)}, connect ${fmt(connect)}, TLS ${fmt(tls)}, first byte after ${fmt(first)}, total ${totalMs} ms`;
  const svg = s("svg", { viewBox: `0 0 ${width} 16`, class: "timing", role: "img", "aria-label": "timing: " + words });
  let x = 0;
  for (const [cls, name, v] of segments) {
    if (v === null || v <= 0) continue;
    const w = Math.max(1, v * scale);
    svg.append(s("rect", { x, y: 2, width: w, height: 12, class: "phase-" + cls }, s("title", { text: `${name}: ${fmt(v)}` })));
    x += w;
  }
  return h("div", { class: "timing-row" }, svg, h("span", { class: "muted small" }, words));
}
