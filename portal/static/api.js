// The /v1 API with the portal token. The token lives in this module's
// memory and in sessionStorage (so a reload keeps the page), never in the
// address bar, a cookie or a log.

const KEY = "tidings.portal.token";
let token = null;

// takeToken reads the token from the link's fragment (#token=…), removes it
// from the address bar at once, and falls back to the tab's stored one.
export function takeToken() {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (m) {
    token = decodeURIComponent(m[1]);
    history.replaceState(null, "", location.pathname + location.search + "#/");
    try { sessionStorage.setItem(KEY, token); } catch (e) { /* storage off: memory only */ }
  } else {
    try { token = sessionStorage.getItem(KEY); } catch (e) { token = null; }
  }
  return token;
}

export function forgetToken() {
  token = null;
  try { sessionStorage.removeItem(KEY); } catch (e) { /* nothing stored */ }
}

// ApiError is an answer outside 2xx, with the envelope's code, message and
// field details.
export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || {};
  }
}

let onUnauthorized = () => {};
export function whenUnauthorized(fn) { onUnauthorized = fn; }

// api calls a /v1 route and returns its JSON (null for 204); it throws an
// ApiError for any other answer, and a 401 also shows the expired page.
export async function api(method, path, body) {
  const init = { method, headers: { Authorization: "Bearer " + token }, credentials: "omit", cache: "no-store" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(new URL("../v1" + path, location.href), init);
  } catch (e) {
    throw new ApiError(0, "network", "Tidings could not be reached: " + e.message, {});
  }
  if (resp.status === 204) return null;
  let data = null;
  try { data = await resp.json(); } catch (e) { data = null; }
  if (resp.ok) return data;
  const err = (data && data.error) || {};
  const e = new ApiError(resp.status, err.code || "http_" + resp.status, err.message || "the request failed with status " + resp.status, err.details);
  if (resp.status === 401) onUnauthorized(e);
  throw e;
}

// query builds a query string from the set values of an object.
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
  const s = q.toString();
  return s ? "?" + s : "";
}
