// Trace explorer: a table of an experiment's traces with the filter grammar, quick filters,
// sorting, column choice, keyset paging and live updates (polling the search API for traces newer
// than the newest shown).
import { ApiError, andFilters, api, quote } from "./api.js";
import { errorBox, h, replace } from "./dom.js";
import { feedbackBadges } from "./feedback.js";
import { formatCost, formatCount, formatDuration, formatTime, preview } from "./format.js";
import { renderNav } from "./nav.js";
import { RANGES, readState, writeState } from "./state.js";

const LIVE_INTERVAL_MS = 3000;
const MAX_ROWS = 1000;

const COLUMNS = [
  { key: "time", label: "Time", sort: "timestamp_ms", cell: (t) => traceLink(t) },
  { key: "request", label: "Request", cell: (t) => previewCell(t.request_preview) },
  { key: "response", label: "Response", cell: (t) => previewCell(t.response_preview) },
  { key: "status", label: "Status", sort: "status", cell: (t) => statusBadge(t.state) },
  { key: "duration", label: "Duration", sort: "execution_time_ms", num: true, cell: (t) => formatDuration(t.execution_duration) },
  { key: "tokens", label: "Tokens", sort: "total_tokens", num: true, cell: (t) => formatCount(t.token_usage?.total_tokens) },
  { key: "cost", label: "Cost", sort: "total_cost", num: true, cell: (t) => formatCost(t.cost?.total_cost) },
  { key: "session", label: "Session", sort: "session", cell: (t) => sessionLink(t) },
  { key: "user", label: "User", sort: "user", cell: (t) => t.metadata?.user_id ?? "" },
  { key: "environment", label: "Environment", cell: (t) => t.metadata?.environment ?? "" },
  { key: "feedback", label: "Feedback", cell: (t, feedback) => feedbackBadges(feedback.get(t.trace_id)) },
  { key: "tags", label: "Tags", cell: (t) => tagChips(t.tags) },
  { key: "name", label: "Name", sort: "name", cell: (t) => t.name ?? "" },
  { key: "trace_id", label: "Trace id", cell: (t) => h("code", { text: t.trace_id }) },
];
const DEFAULT_COLUMNS = "time,request,response,status,duration,tokens,cost,session,user,environment,feedback,tags";
const DEFAULTS = { filter: "", errors: "", down: "", env: "", range: "all", sort: "time", dir: "desc",
  cols: DEFAULT_COLUMNS, page: "", size: "50" };

function traceLink(trace) {
  return h("a", { href: `/ui/traces/${encodeURIComponent(trace.trace_id)}`, text: formatTime(trace.request_time),
    attrs: { title: trace.trace_id } });
}

function previewCell(text) {
  return h("span", { class: "preview", text: preview(text), attrs: { title: preview(text, 1000) } });
}

export function statusBadge(state) {
  const value = state || "UNSET";
  return h("span", { class: `status status-${value.toLowerCase()}`, text: value });
}

function sessionLink(trace) {
  const session = trace.metadata?.session_id;
  if (!session) return "";
  const url = `/ui/experiments/${encodeURIComponent(trace.experiment_id)}/sessions?session=${encodeURIComponent(session)}`;
  return h("a", { href: url, text: preview(session, 24), attrs: { title: session } });
}

function tagChips(tags) {
  return Object.entries(tags || {}).slice(0, 4).map(([key, value]) =>
    h("span", { class: "chip", text: `${preview(key, 20)}=${preview(value, 24)}` }));
}

/** Show a filter error under the box, the problem's position marked in the filter text. */
export function filterError(error, text, offset = 0) {
  const box = errorBox(error);
  box.classList.add("filter-error");
  const position = error instanceof ApiError && error.position !== null ? error.position - offset : null;
  if (position !== null && position >= 0 && position <= text.length) {
    box.append(h("div", { class: "filter-echo" },
      h("code", {}, text.slice(0, position), h("mark", { class: "filter-here", text: text.slice(position, position + 1) || " " }),
        text.slice(position + 1)),
      h("span", { class: "muted", text: ` (position ${position})` })));
  }
  return box;
}

export async function render(main, { experimentId }) {
  renderNav(experimentId, "traces");
  let state = readState(DEFAULTS);
  const previousTokens = [];
  let feedback = new Map();
  let newest = null;
  let liveTimer = null;
  const shown = new Set();
  const environments = new Set(state.env ? [state.env] : []);

  const filterInput = h("input", { attrs: { id: "filter", type: "search", spellcheck: "false", autocomplete: "off",
    "aria-describedby": "filter-help", placeholder: "status = 'ERROR' AND metadata.environment = 'production'" } });
  filterInput.value = state.filter;
  const filterMessage = h("div", { attrs: { id: "filter-message", "aria-live": "polite" } });
  const errorsBox = h("input", { attrs: { type: "checkbox", id: "quick-errors", checked: state.errors === "1" } });
  const downBox = h("input", { attrs: { type: "checkbox", id: "quick-down", checked: state.down === "1" } });
  const envSelect = h("select", { attrs: { id: "quick-env", "aria-label": "Environment" } });
  const rangeSelect = h("select", { attrs: { id: "quick-range", "aria-label": "Time range" } },
    Object.keys(RANGES).map((key) => h("option", { attrs: { value: key, selected: key === state.range },
      text: key === "all" ? "any time" : `last ${key}` })));
  const liveBox = h("input", { attrs: { type: "checkbox", id: "live", checked: true } });
  const liveStatus = h("span", { class: "muted", attrs: { id: "live-status", "aria-live": "off" } });
  const columnsMenu = h("details", { class: "menu" }, h("summary", { text: "Columns" }),
    h("div", { class: "menu-body" }, COLUMNS.map((column) => {
      const box = h("input", { attrs: { type: "checkbox", id: `col-${column.key}`, checked: visibleColumns().includes(column.key) } });
      box.addEventListener("change", () => {
        const chosen = COLUMNS.filter((c) => document.getElementById(`col-${c.key}`).checked).map((c) => c.key);
        state.cols = chosen.join(",") || "time";
        writeState(state, DEFAULTS);
        drawHeader();
        drawRows(currentTraces);
      });
      return h("label", {}, box, ` ${column.label}`);
    })));
  const table = h("table", { class: "table traces", attrs: { id: "traces" } });
  const thead = h("thead");
  const tbody = h("tbody");
  table.append(thead, tbody);
  const pager = h("div", { class: "pager" });
  const summary = h("div", { class: "muted", attrs: { id: "result-summary", "aria-live": "polite" } });

  const form = h("form", { class: "filter-form", attrs: { role: "search" } },
    h("label", { attrs: { for: "filter" }, text: "Filter" }), filterInput,
    h("button", { attrs: { type: "submit" }, text: "Apply" }),
    h("button", { attrs: { type: "button" }, text: "Clear", on: { click: () => { filterInput.value = ""; apply(); } } }));
  form.addEventListener("submit", (event) => { event.preventDefault(); apply(); });
  const help = h("div", { class: "help muted", attrs: { id: "filter-help" },
    text: "Fields: status, name, session, user, tags.<key>, metadata.<key>, execution_time_ms, total_tokens, total_cost, " +
      "span.name, span.type, span.status … joined with AND / OR." });
  const quick = h("div", { class: "quick", attrs: { role: "group", "aria-label": "Quick filters" } },
    h("label", {}, errorsBox, " Errors only"), h("label", {}, downBox, " Thumbs down"),
    h("label", {}, "Environment ", envSelect), h("label", {}, "Time ", rangeSelect), columnsMenu,
    h("label", { class: "live" }, liveBox, " Live"), liveStatus);
  for (const control of [errorsBox, downBox, envSelect, rangeSelect]) control.addEventListener("change", apply);
  liveBox.addEventListener("change", scheduleLive);

  replace(main, h("h1", { text: "Traces" }), form, help, filterMessage, quick, summary,
    h("div", { class: "table-wrap" }, table), pager);
  drawEnvironments();
  drawHeader();

  let currentTraces = [];

  function visibleColumns() {
    return state.cols.split(",").filter((key) => COLUMNS.some((c) => c.key === key));
  }

  function drawEnvironments() {
    replace(envSelect, h("option", { attrs: { value: "" }, text: "any" }),
      [...environments].sort().map((env) => h("option", { attrs: { value: env, selected: env === state.env }, text: env })));
  }

  function drawHeader() {
    const row = h("tr");
    for (const column of COLUMNS.filter((c) => visibleColumns().includes(c.key))) {
      const sorted = state.sort === column.key;
      const th = h("th", { attrs: { scope: "col", "aria-sort": sorted ? (state.dir === "asc" ? "ascending" : "descending") : null },
        class: column.num ? "num" : "" });
      if (column.sort) {
        const arrow = sorted ? (state.dir === "asc" ? " ▲" : " ▼") : "";
        th.append(h("button", { class: "sort", text: column.label + arrow, data: { sort: column.key }, on: { click: () => {
          state.dir = sorted && state.dir === "desc" ? "asc" : "desc";
          state.sort = column.key;
          state.page = "";
          previousTokens.length = 0;
          drawHeader();
          load();
        } } }));
      } else {
        th.textContent = column.label;
      }
      row.append(th);
    }
    replace(thead, row);
  }

  function traceRow(trace, fresh = false) {
    const row = h("tr", { class: fresh ? "fresh" : "", data: { traceId: trace.trace_id } });
    for (const column of COLUMNS.filter((c) => visibleColumns().includes(c.key))) {
      row.append(h("td", { class: column.num ? "num" : "" }, column.cell(trace, feedback)));
    }
    row.addEventListener("click", (event) => {
      if (event.target.closest("a, button, input")) return;
      location.href = `/ui/traces/${encodeURIComponent(trace.trace_id)}`;
    });
    return row;
  }

  function drawRows(traces) {
    replace(tbody, traces.map((trace) => traceRow(trace)));
    if (!traces.length) {
      replace(tbody, h("tr", {}, h("td", { attrs: { colspan: visibleColumns().length }, class: "empty", text: "No traces match." })));
    }
  }

  function apply() {
    state.filter = filterInput.value.trim();
    state.errors = errorsBox.checked ? "1" : "";
    state.down = downBox.checked ? "1" : "";
    state.env = envSelect.value;
    state.range = rangeSelect.value;
    state.page = "";
    previousTokens.length = 0;
    writeState(state, DEFAULTS, true);
    load();
  }

  async function effectiveFilter() {
    const parts = [];
    if (state.errors === "1") parts.push("status = 'ERROR'");
    if (state.env) parts.push(`metadata.environment = ${quote(state.env)}`);
    if (RANGES[state.range]) parts.push(`timestamp_ms >= ${Date.now() - RANGES[state.range]}`);
    if (state.down === "1") {
      const { trace_ids: ids } = await api("GET", `/api/v1/experiments/${encodeURIComponent(experimentId)}/thumbs-down-traces`);
      parts.push(ids.length ? `trace_id IN (${ids.map(quote).join(", ")})` : "trace_id IS NULL");
    }
    // The user's filter comes first, so an error position inside it is shifted by one "(" at most.
    const text = andFilters(state.filter, ...parts);
    const offset = state.filter && parts.length ? 1 : 0;
    return { text, offset };
  }

  function orderBy() {
    const column = COLUMNS.find((c) => c.key === state.sort && c.sort) || COLUMNS[0];
    return [`${column.sort} ${state.dir === "asc" ? "ASC" : "DESC"}`];
  }

  async function search(filter, pageToken, maxResults) {
    return api("POST", "/api/v1/traces/search", {
      experiment_ids: [experimentId], filter: filter || null, order_by: orderBy(),
      max_results: maxResults, page_token: pageToken || null,
    });
  }

  async function loadFeedback(traces) {
    if (!traces.length) return;
    const { assessments } = await api("POST", "/api/v1/assessments/by-trace", { trace_ids: traces.map((t) => t.info.trace_id) });
    for (const [traceId, items] of Object.entries(assessments)) feedback.set(traceId, items);
  }

  let loadSeq = 0;

  async function load() {
    // Only the latest load may draw: an earlier, slower answer must not overwrite a newer one.
    const seq = ++loadSeq;
    stopLive();
    filterInput.removeAttribute("aria-invalid");
    replace(filterMessage);
    summary.textContent = "Loading…";
    let filter;
    try {
      filter = await effectiveFilter();
      const started = performance.now();
      const page = await search(filter.text, state.page, Number(state.size) || 50);
      if (seq !== loadSeq) return;
      currentTraces = page.traces.map((t) => t.info);
      feedback = new Map();
      shown.clear();
      currentTraces.forEach((t) => shown.add(t.trace_id));
      newest = currentTraces.reduce((max, t) => Math.max(max, t.request_time), newest ?? 0) || null;
      drawRows(currentTraces);
      noteEnvironments(currentTraces);
      summary.textContent = `${currentTraces.length} traces${page.next_page_token ? " (more on the next page)" : ""} · ` +
        `${Math.round(performance.now() - started)} ms`;
      drawPager(page.next_page_token);
      document.body.dataset.loaded = "explorer";
      await loadFeedback(page.traces);
      if (seq !== loadSeq) return;
      drawRows(currentTraces);
    } catch (error) {
      if (seq !== loadSeq) return;
      summary.textContent = "";
      if (error instanceof ApiError && error.status === 400) {
        filterInput.setAttribute("aria-invalid", "true");
        replace(filterMessage, filterError(error, state.filter, filter ? filter.offset : 0));
      } else {
        replace(filterMessage, errorBox(error));
      }
      drawRows([]);
      document.body.dataset.loaded = "explorer";
    }
    scheduleLive();
  }

  function noteEnvironments(traces) {
    const before = environments.size;
    for (const trace of traces) if (trace.metadata?.environment) environments.add(trace.metadata.environment);
    if (environments.size !== before) drawEnvironments();
  }

  function drawPager(nextToken) {
    const prev = h("button", { text: "← Newer", attrs: { disabled: !state.page, id: "page-prev" } });
    prev.addEventListener("click", () => {
      state.page = previousTokens.pop() || "";
      writeState(state, DEFAULTS, true);
      load();
    });
    const next = h("button", { text: "Older →", attrs: { disabled: !nextToken, id: "page-next" } });
    next.addEventListener("click", () => {
      previousTokens.push(state.page);
      state.page = nextToken;
      writeState(state, DEFAULTS, true);
      load();
    });
    replace(pager, prev, next);
  }

  function liveApplies() {
    return liveBox.checked && !state.page && state.sort === "time" && state.dir === "desc";
  }

  function stopLive() {
    if (liveTimer) clearTimeout(liveTimer);
    liveTimer = null;
  }

  function scheduleLive() {
    stopLive();
    liveStatus.textContent = liveApplies() ? "watching for new traces" : (liveBox.checked ? "live on the first page, newest first" : "");
    if (liveApplies()) liveTimer = setTimeout(poll, LIVE_INTERVAL_MS);
  }

  async function poll() {
    const seq = loadSeq;
    try {
      const filter = await effectiveFilter();
      const since = newest ?? Date.now() - 60_000;
      const page = await search(andFilters(filter.text, `timestamp_ms >= ${since}`), null, 100);
      if (seq !== loadSeq) return;
      const fresh = page.traces.filter((t) => !shown.has(t.info.trace_id)).map((t) => t.info);
      if (fresh.length) {
        await loadFeedback(page.traces.filter((t) => !shown.has(t.info.trace_id)));
        fresh.forEach((t) => shown.add(t.trace_id));
        newest = Math.max(newest ?? 0, ...fresh.map((t) => t.request_time));
        if (tbody.querySelector("td.empty")) replace(tbody);
        tbody.prepend(...fresh.map((t) => traceRow(t, true)));
        currentTraces = [...fresh, ...currentTraces].slice(0, MAX_ROWS);
        while (tbody.rows.length > MAX_ROWS) tbody.deleteRow(-1);
        noteEnvironments(fresh);
        summary.textContent = `${fresh.length} new trace${fresh.length > 1 ? "s" : ""} at ${formatTime(Date.now())}`;
      }
    } catch {
      // A failed poll is retried at the next tick; the table stays as it is.
    }
    scheduleLive();
  }

  window.addEventListener("popstate", () => {
    state = readState(DEFAULTS);
    filterInput.value = state.filter;
    errorsBox.checked = state.errors === "1";
    downBox.checked = state.down === "1";
    rangeSelect.value = state.range;
    drawHeader();
    load();
  });

  await load();
}
