// The REST API, exactly as users call it. Errors come back as ApiError with the server's message
// and, for filters, the character position of the problem.

export class ApiError extends Error {
  constructor(status, code, message, position) {
    super(message);
    this.status = status;
    this.code = code;
    this.position = position ?? null;
  }
}

/** Call the API; resolve to the parsed JSON body (null for 204), reject with ApiError. */
export async function api(method, path, body) {
  const init = { method, headers: { Accept: "application/json" } };
  // With auth on, a change made with the login session carries its CSRF token (docs/auth.md).
  const csrf = csrfToken();
  if (csrf && method !== "GET" && method !== "HEAD") init.headers["X-CSRF-Token"] = csrf;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    throw new ApiError(0, "UNAVAILABLE", `cannot reach the server (${error.message})`);
  }
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (response.status === 401 && location.pathname.startsWith("/ui/")) {
    // The session ended (logout elsewhere, expiry): log in again and come back here.
    location.assign(`/ui/login?next=${encodeURIComponent(location.pathname + location.search)}`);
  }
  if (!response.ok) {
    const error = data && data.error;
    if (error) throw new ApiError(response.status, error.code, error.message, error.position);
    const detail = data && data.detail;
    const message = Array.isArray(detail) ? detail.map((d) => d.msg).join("; ") : `HTTP ${response.status}`;
    throw new ApiError(response.status, "HTTP_ERROR", message);
  }
  return data;
}

/** The CSRF token of the login session (a cookie our pages may read; other sites' requests never carry it). */
function csrfToken() {
  const found = document.cookie.split("; ").find((part) => part.startsWith("tracelake_csrf="));
  return found ? decodeURIComponent(found.slice("tracelake_csrf=".length)) : "";
}

/** Quote a string for the filter grammar ('it''s'). */
export function quote(value) {
  return `'${String(value).replaceAll("'", "''")}'`;
}

/** AND filters together, each in parentheses; empty parts are left out. */
export function andFilters(...parts) {
  const kept = parts.filter((part) => part && part.trim());
  if (kept.length <= 1) return kept[0] || "";
  return kept.map((part) => `(${part})`).join(" AND ");
}
