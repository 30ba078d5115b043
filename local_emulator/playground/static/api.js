// The page's calls to the three functions, with the connection settings it keeps.
//
// Where each function is: "" means this page's origin (the local emulator serves the page
// on the query function's port and relays /v1/users/... and /v1/sandboxes/... to the state
// and sandbox functions); a deployment's URLs need CORS_ALLOW_ORIGINS to list this page's
// origin. The token (AUTH_MODE=jwt) goes as Authorization: Bearer and is kept in
// sessionStorage only; the rest in localStorage.

const SAVED = "agentscope-faas.playground";
const TOKEN = "agentscope-faas.playground.token";

export class ApiError extends Error {
  constructor(status, code, detail) {
    super(typeof detail === "string" ? detail : JSON.stringify(detail));
    this.status = status;
    this.code = code;
  }
}

export const settings = {
  query: "",
  state: "",
  sandbox: "",
  user: "",
  token: "",
  authMode: "none",
  defaultUser: "default",
  userClaim: "sub",
};

/** Settings from the server's config, then what was saved, then the page's ?query= etc. */
export async function loadSettings() {
  try {
    const resp = await fetch("/playground/config.json", { cache: "no-store" });
    if (resp.ok) {
      const config = await resp.json();
      settings.authMode = config.auth_mode || "none";
      settings.defaultUser = config.default_user || "default";
      settings.userClaim = config.user_claim || "sub";
      settings.query = config.query_url || "";
      settings.state = config.state_url || "";
      settings.sandbox = config.sandbox_url || "";
    }
  } catch (_) {
    // a page served without its config: everything on this origin
  }
  const saved = JSON.parse(localStorage.getItem(SAVED) || "{}");
  for (const key of ["query", "state", "sandbox", "user"]) {
    if (typeof saved[key] === "string") settings[key] = saved[key];
  }
  const params = new URLSearchParams(location.search);
  for (const key of ["query", "state", "sandbox", "user"]) {
    if (params.has(key)) settings[key] = params.get(key);
  }
  settings.token = sessionStorage.getItem(TOKEN) || "";
}

export function saveSettings(values) {
  Object.assign(settings, values);
  const { query, state, sandbox, user } = settings;
  localStorage.setItem(SAVED, JSON.stringify({ query, state, sandbox, user }));
  if (settings.token) sessionStorage.setItem(TOKEN, settings.token);
  else sessionStorage.removeItem(TOKEN);
}

/** The user the page acts for: the one typed in, else the token's, else the default. */
export function currentUser() {
  if (settings.user) return settings.user;
  const claims = tokenClaims(settings.token);
  if (claims && typeof claims[settings.userClaim] === "string") return claims[settings.userClaim];
  return settings.defaultUser;
}

function tokenClaims(token) {
  const part = (token || "").split(".")[1];
  if (!part) return null;
  try {
    const base64 = part.replace(/-/g, "+").replace(/_/g, "/");
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (_) {
    return null;
  }
}

export function endpoint(base, path) {
  return (base || "").replace(/\/+$/, "") + path;
}

export function headers(json) {
  const out = {};
  if (json) out["Content-Type"] = "application/json";
  if (settings.token) out.Authorization = `Bearer ${settings.token}`;
  return out;
}

/** An ApiError from an error answer ({code, detail}, or anything else a proxy sent). */
export async function errorOf(resp) {
  let body = null;
  try {
    body = await resp.json();
  } catch (_) {
    // not JSON: a gateway's page
  }
  if (body && body.code) return new ApiError(resp.status, body.code, body.detail);
  return new ApiError(resp.status, `http_${resp.status}`, resp.statusText || "request failed");
}

/** One JSON call: the parsed answer, or an ApiError. */
export async function call(base, path, { method = "GET", body } = {}) {
  let resp;
  try {
    resp = await fetch(endpoint(base, path), {
      method,
      headers: headers(body !== undefined),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (exc) {
    throw new ApiError(0, "unreachable", `${endpoint(base, path)}: ${exc.message}`);
  }
  if (!resp.ok) throw await errorOf(resp);
  return resp.status === 204 ? null : resp.json();
}

export const seg = encodeURIComponent;

// the list follows the state function's pages (in id order, not by time) up to this many
// sessions, so the newest is listed whatever its id
export const MAX_LISTED_SESSIONS = 5000;
const SESSIONS_PAGE = 200;

/** The user's sessions, page after page: {items, more}; `more` when there were more than
 * `max` (those are left out). */
export async function listSessions(max = MAX_LISTED_SESSIONS) {
  const base = `/v1/users/${seg(currentUser())}/sessions`;
  const items = [];
  let cursor = null;
  do {
    const limit = Math.min(SESSIONS_PAGE, max - items.length);
    const page = await call(settings.state, `${base}?limit=${limit}` + (cursor ? `&cursor=${seg(cursor)}` : ""));
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && items.length < max);
  return { items, more: !!cursor };
}

/** Every message of a session, oldest first (the state function pages them). */
export async function sessionMessages(sessionId, limit = 1000) {
  const base = `/v1/users/${seg(currentUser())}/sessions/${seg(sessionId)}/messages`;
  const out = [];
  let cursor = null;
  do {
    const query = `?limit=${Math.min(limit - out.length, 1000)}` + (cursor ? `&cursor=${seg(cursor)}` : "");
    const page = await call(settings.state, base + query);
    out.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && out.length < limit);
  return out;
}

export async function listSandboxes() {
  const query = settings.user ? `?user_id=${seg(settings.user)}` : "";
  const page = await call(settings.sandbox, `/v1/sandboxes${query}`);
  return page.items;
}

export async function stopTurn(sessionId) {
  const body = { session_id: sessionId };
  if (settings.user) body.user_id = settings.user;
  return call(settings.query, "/process/stop", { method: "POST", body });
}
