// The console's JSON API (/console/api/…, CONTRACT Part 2 "Console"). The
// session cookie is HttpOnly; the CSRF token from login or /session is kept in
// memory only and sent as `x-csrf-token` on every change.

let csrfToken = "";

/** An answer other than 2xx, with the envelope's code and message. */
export class ApiError extends Error {
  constructor(status, code, message, retryAfter) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

/** Remembers the session's CSRF token (from login or /session). */
export function setCsrf(token) {
  csrfToken = token || "";
}

const listeners = new Set();

/** Calls `fn` whenever an API call answers 401 (the session is gone). */
export function onUnauthorized(fn) {
  listeners.add(fn);
}

/**
 * Calls the API. `path` is below /console/api. Options: method, body (JSON),
 * query (object; empty values dropped), headers. Resolves to the parsed JSON
 * (or null for 204); rejects with ApiError.
 */
export async function call(path, { method = "GET", body, query, headers = {}, quiet401 = false } = {}) {
  const url = new URL(`/console/api${path}`, location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
  }
  const init = { method, credentials: "same-origin", headers: { accept: "application/json", ...headers } };
  if (method !== "GET" && method !== "HEAD") init.headers["x-csrf-token"] = csrfToken;
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch {
    throw new ApiError(0, "NETWORK", "The server could not be reached. Check your connection and try again.");
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (response.ok) return data;
  const error = new ApiError(response.status, data?.code, data?.message, Number(response.headers.get("retry-after")) || null);
  if (response.status === 401 && !quiet401) listeners.forEach((fn) => fn(error));
  throw error;
}

/** A new random Idempotency-Key. */
export function newKey() {
  return crypto.randomUUID();
}

/** A sentence for a person about what went wrong. */
export function explain(error) {
  if (!(error instanceof ApiError)) return `Something went wrong: ${error?.message || error}`;
  switch (error.status) {
    case 0: return error.message;
    case 403: return "You are not allowed to do this: your role is viewer (read only). Ask an admin of this game.";
    case 404: return "Not found: it does not exist, was deleted, or belongs to a game you cannot see.";
    case 429: return `Too many attempts. Try again in ${error.retryAfter ? `${Math.ceil(error.retryAfter / 60)} min` : "a while"}.`;
    case 500: case 503: return "The server had a problem. Try again in a moment; if it persists, tell the platform team.";
    default: return error.message || `The request failed (${error.code || error.status}).`;
  }
}
