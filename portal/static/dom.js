// DOM helpers. Every value is put in the page as text (text nodes,
// textContent, attributes): nothing is ever parsed as markup.

const SVG = "http://www.w3.org/2000/svg";

function build(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "on") {
      for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    } else if (k === "text") {
      el.textContent = String(v);
    } else if (k === "value" && "value" in el) {
      el.value = String(v);
    } else if (k === "checked" || k === "selected" || k === "disabled") {
      el[k] = Boolean(v);
    } else {
      el.setAttribute(k, v === true ? "" : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// h("a", {href: "#/x", class: "y"}, "text", child…) makes an HTML element.
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

// s("rect", {x: 1}) makes an SVG element.
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG, tag), attrs, children);
}

// replace empties el and puts children in it.
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

// when formats an API time for people, in their time zone; "never" for null.
export function when(iso) {
  if (!iso) return h("span", { class: "muted" }, "never");
  const d = new Date(iso);
  return h("time", { datetime: iso, title: iso }, d.toLocaleString());
}

// badge is a delivery's or endpoint's status, coloured by class.
export function badge(status, extra) {
  return h("span", { class: "badge badge-" + status }, status, extra ? " (" + extra + ")" : "");
}

// field is a labelled form control; hint and the API's reason go below it.
export function field(label, control, hint) {
  const id = control.id || "f-" + Math.random().toString(36).slice(2);
  control.id = id;
  const err = h("span", { class: "field-error", id: id + "-error", role: "status" });
  control.setAttribute("aria-describedby", id + "-error" + (hint ? " " + id + "-hint" : ""));
  return h("div", { class: "field", "data-field": control.name || "" },
    h("label", { for: id }, label), control,
    hint ? h("span", { class: "hint", id: id + "-hint" }, hint) : null, err);
}

// showFieldErrors marks the controls named in an API error's details.
export function showFieldErrors(form, details) {
  for (const el of form.querySelectorAll(".field")) {
    const name = el.getAttribute("data-field");
    const err = el.querySelector(".field-error");
    const control = el.querySelector("input, select, textarea");
    const reasons = Object.entries(details || {}).filter(([k]) => name && (k === name || k.startsWith(name + "[") || k.startsWith(name + ".")));
    err.textContent = reasons.map(([k, v]) => (k === name ? v : k + ": " + v)).join("; ");
    if (control) control.setAttribute("aria-invalid", reasons.length ? "true" : "false");
  }
}

// focusHeading moves the keyboard focus to a new page's heading.
export function focusHeading() {
  const h1 = document.querySelector("#main h1");
  if (h1) h1.focus({ preventScroll: true });
}
