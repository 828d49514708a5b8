// The admin API client. The admin key lives in sessionStorage only: it is gone when the browser
// tab closes, and it never leaves this node except as the `Authorization: Bearer` header of API
// calls to it. Every answer other than 2xx becomes an ApiError carrying the error envelope's
// `details` text as the server wrote it.

const KEY = "signalbox.admin-key";
const WHO = "signalbox.whoami";

export class ApiError extends Error {
  constructor(status, details, cid) {
    super(details);
    this.status = status;
    this.details = details;
    this.cid = cid;
  }
}

export const session = {
  key: () => sessionStorage.getItem(KEY),
  /** `{name, role, node}` of the logged-in key, as `GET /admin/v1/whoami` answered it. */
  whoami: () => JSON.parse(sessionStorage.getItem(WHO) || "null"),
  canWrite: () => session.whoami()?.role === "admin",
  save(key, whoami) {
    sessionStorage.setItem(KEY, key);
    sessionStorage.setItem(WHO, JSON.stringify(whoami));
  },
  clear() {
    sessionStorage.removeItem(KEY);
    sessionStorage.removeItem(WHO);
  },
};

/** Calls `/admin/v1{path}`; answers the parsed JSON body, or throws an ApiError. */
export async function api(method, path, body, key = session.key()) {
  return (await exchange(method, path, body, key)).body;
}

/**
 * `GET` of one page of a list: `{rows, total}`, `total` from the `X-Total-Count` header (null
 * when the node does not send it).
 */
export async function getPage(path) {
  const { body, headers } = await exchange("GET", path, undefined, session.key());
  const total = headers.get("X-Total-Count");
  return { rows: body ?? [], total: total === null ? null : Number(total) };
}

async function exchange(method, path, body, key) {
  const headers = { Accept: "application/json" };
  if (key) headers.Authorization = `Bearer ${key}`;
  const init = { method, headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(`/admin/v1${path}`, init);
  } catch (e) {
    throw new ApiError(0, `the node did not answer: ${e.message}`, null);
  }
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  if (!response.ok) {
    const details = parsed?.details ?? (text || response.statusText);
    throw new ApiError(response.status, details, parsed?.cid ?? null);
  }
  return { body: parsed, headers: response.headers };
}

export const get = (path) => api("GET", path);
export const post = (path, body = {}) => api("POST", path, body);
export const patch = (path, body) => api("PATCH", path, body);
export const del = (path) => api("DELETE", path);

/** A path segment, escaped (sub keys, message ids, names). */
export const seg = (value) => encodeURIComponent(value);
