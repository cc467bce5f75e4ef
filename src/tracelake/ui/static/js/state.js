// Page state lives in the query string, so every view has a URL that can be shared.

/** Read the query string into an object: defaults, overridden by what the URL holds. */
export function readState(defaults) {
  const params = new URLSearchParams(location.search);
  const state = { ...defaults };
  for (const key of Object.keys(defaults)) if (params.has(key)) state[key] = params.get(key);
  return state;
}

/** Write the state to the URL (values equal to the default are left out). `push` adds a history entry. */
export function writeState(state, defaults, push = false) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(state)) {
    if (value !== null && value !== undefined && value !== "" && String(value) !== String(defaults[key] ?? "")) {
      params.set(key, String(value));
    }
  }
  const query = params.toString();
  const url = `${location.pathname}${query ? `?${query}` : ""}`;
  if (url === `${location.pathname}${location.search}`) return;
  if (push) history.pushState(null, "", url);
  else history.replaceState(null, "", url);
}

/** The time ranges the pages offer, in ms ("all" = no bound). */
export const RANGES = { "1h": 3_600_000, "6h": 21_600_000, "24h": 86_400_000, "7d": 604_800_000, "30d": 2_592_000_000, all: null };
