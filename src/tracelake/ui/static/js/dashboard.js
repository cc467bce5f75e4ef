// Dashboard: request volume, error rate, latency percentiles, tokens and cost over time (the
// metrics API), breakdowns by model, environment and span name, and feedback over time.
import { ApiError, api } from "./api.js";
import { errorBox, h, replace } from "./dom.js";
import { filterError } from "./explorer.js";
import { timeChart } from "./charts.js";
import { formatCost, formatCount, formatDuration, formatPercent } from "./format.js";
import { renderNav } from "./nav.js";
import { RANGES, readState, writeState } from "./state.js";

const DEFAULTS = { range: "24h", filter: "", start: "", end: "" };
const BUCKETS = [60, 300, 900, 1800, 3600, 10800, 21600, 43200, 86400];
// One bucket from the epoch to the year 2286: the whole range as a single point.
const WHOLE_RANGE_BUCKET = 10_000_000_000;
const BREAKDOWN_METRICS = ["request_count", "error_rate", "latency_p50", "latency_p90", "total_tokens", "cost"];

function bucketFor(rangeMs) {
  return BUCKETS.find((seconds) => rangeMs / (seconds * 1000) <= 96) || 86400;
}

export async function render(main, { experimentId }) {
  renderNav(experimentId, "dashboard");
  const state = readState(DEFAULTS);
  if (!RANGES[state.range]) state.range = "24h";
  const rangeSelect = h("select", { attrs: { id: "dash-range", "aria-label": "Time range" } },
    Object.keys(RANGES).filter((key) => RANGES[key]).map((key) => h("option", { attrs: { value: key, selected: key === state.range }, text: `last ${key}` })));
  const filterInput = h("input", { attrs: { id: "dash-filter", type: "search", spellcheck: "false",
    placeholder: "optional filter, e.g. metadata.environment = 'production'", "aria-label": "Filter" } });
  filterInput.value = state.filter;
  const form = h("form", { class: "filter-form" }, h("label", { attrs: { for: "dash-range" }, text: "Range" }), rangeSelect,
    filterInput, h("button", { attrs: { type: "submit", id: "dashboard-apply" }, text: "Apply" }));
  const message = h("div", { attrs: { "aria-live": "polite" } });
  const tiles = h("div", { class: "tiles", attrs: { id: "tiles" } });
  const charts = h("div", { class: "charts", attrs: { id: "charts" } });
  const breakdowns = h("div", { class: "breakdowns", attrs: { id: "breakdowns" } });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    state.range = rangeSelect.value;
    state.filter = filterInput.value.trim();
    state.start = "";
    state.end = "";
    writeState(state, DEFAULTS, true);
    load();
  });
  rangeSelect.addEventListener("change", () => form.requestSubmit());
  replace(main, h("h1", { text: "Dashboard" }), form, message, tiles, charts, h("h2", { text: "Breakdowns" }), breakdowns);

  // Each load draws placeholders at once, then fills tiles and charts as each metrics call answers
  // (they are independent: a slow latency query never holds back the request counts). Breakdowns
  // are asked for only when scrolled into view. Only the latest load may draw.
  let loadSeq = 0;
  let breakdownWatch = null;

  async function load() {
    const seq = ++loadSeq;
    const current = () => seq === loadSeq;
    replace(message);
    delete document.body.dataset.loaded;
    delete document.body.dataset.firstRender;
    delete document.body.dataset.breakdowns;
    // `start`/`end` (ms) in the URL pin an absolute range; otherwise the range ends now.
    const pinned = Number(state.start) > 0 && Number(state.end) > Number(state.start);
    const end = pinned ? Number(state.end) : Date.now();
    const start = pinned ? Number(state.start) : end - RANGES[state.range];
    const bucketSeconds = bucketFor(end - start);
    const bucketMs = bucketSeconds * 1000;
    const base = { experiment_ids: [experimentId], filter: state.filter || null, start_time_ms: start, end_time_ms: end };
    const metrics = (extra) => api("POST", "/api/v1/metrics", { ...base, ...extra });
    const timeline = (names) => metrics({ bucket_seconds: bucketSeconds, metrics: names }).then((r) => r.series[0]?.points ?? []);
    const chartOf = (options) => timeChart({ start, end, bucketMs, ...options });
    const sum = (points, name) => points.reduce((total, p) => total + (p[name] ?? 0), 0);

    drawPlaceholders();
    breakdownWatch?.disconnect();
    replace(breakdowns, h("div", { class: "muted", text: "Breakdowns load when shown…" }));

    // 1. Request counts: the cheapest query, drawn first; a bad filter is reported by this one.
    let counts;
    try {
      counts = await timeline(["request_count"]);
    } catch (error) {
      if (!current()) return;
      if (error instanceof ApiError && error.status === 400 && error.position !== null) replace(message, filterError(error, state.filter));
      else replace(message, errorBox(error));
      document.body.dataset.loaded = "dashboard";
      return;
    }
    if (!current()) return;
    const requests = sum(counts, "request_count");
    setTile("tile-requests", formatCount(requests));
    put("requests", chartOf({ id: "chart-requests", title: "Requests", kind: "bar",
      series: [{ name: "requests", points: pick(counts, "request_count") }], format: (v) => formatCount(Math.round(v)) }));
    document.body.dataset.firstRender = "dashboard";

    // 2. Everything else above the fold, at once, each drawn when it answers.
    const parts = [
      timeline(["request_count", "error_rate"]).then((points) => {
        if (!current()) return;
        const errors = points.reduce((total, p) => total + Math.round((p.error_rate ?? 0) * (p.request_count ?? 0)), 0);
        const total = sum(points, "request_count");
        setTile("tile-errors", formatPercent(total ? errors / total : null));
        put("errors", chartOf({ id: "chart-errors", title: "Error rate",
          series: [{ name: "error rate", points: pick(points, "error_rate"), color: "var(--bad)" }], format: formatPercent }));
      }),
      timeline(["latency_p50", "latency_p90", "latency_p99"]).then((points) => {
        if (!current()) return;
        put("latency", chartOf({ id: "chart-latency", title: "Latency", series: [
          { name: "p50", points: pick(points, "latency_p50") }, { name: "p90", points: pick(points, "latency_p90") },
          { name: "p99", points: pick(points, "latency_p99") }], format: formatDuration }));
      }),
      metrics({ bucket_seconds: WHOLE_RANGE_BUCKET, metrics: ["latency_p50", "latency_p90", "latency_p99"] }).then((result) => {
        if (!current()) return;
        const point = result.series[0]?.points[0] ?? {};
        setTile("tile-p50", formatDuration(point.latency_p50));
        setTile("tile-p90", formatDuration(point.latency_p90));
        setTile("tile-p99", formatDuration(point.latency_p99));
      }),
      timeline(["input_tokens", "output_tokens", "total_tokens", "cost"]).then((points) => {
        if (!current()) return;
        setTile("tile-tokens", formatCount(points.some((p) => p.total_tokens !== null && p.total_tokens !== undefined)
          ? sum(points, "total_tokens") : null));
        setTile("tile-cost", formatCost(points.some((p) => p.cost !== null && p.cost !== undefined) ? sum(points, "cost") : null));
        put("tokens", chartOf({ id: "chart-tokens", title: "Tokens", series: [
          { name: "input", points: pick(points, "input_tokens") }, { name: "output", points: pick(points, "output_tokens") }],
        format: (v) => formatCount(Math.round(v)) }));
        put("cost", chartOf({ id: "chart-cost", title: "Cost (USD)", series: [{ name: "cost", points: pick(points, "cost") }],
          format: formatCost }));
      }),
      api("POST", "/api/v1/metrics/feedback", { ...base, bucket_seconds: bucketSeconds }).then((result) => {
        if (current()) put("feedback", feedbackChart(result, start, end, bucketMs));
      }),
    ];
    const settled = await Promise.allSettled(parts);
    if (!current()) return;
    const failed = settled.find((result) => result.status === "rejected");
    if (failed) replace(message, errorBox(failed.reason));
    document.body.dataset.loaded = "dashboard";

    // 3. Breakdowns (three grouped queries, the costliest): when the user scrolls to them.
    breakdownWatch = whenShown(breakdowns, () => loadBreakdowns(metrics, current));
  }

  async function loadBreakdowns(metrics, current) {
    replace(breakdowns, h("div", { class: "muted", text: "Loading breakdowns…" }));
    const grouped = (groupBy) => metrics({ bucket_seconds: WHOLE_RANGE_BUCKET, group_by: groupBy, metrics: BREAKDOWN_METRICS });
    const [byModel, byEnvironment, bySpan] = await Promise.allSettled([
      grouped("model"), grouped("metadata.environment"), grouped("span.name"),
    ]);
    if (!current()) return;
    const rows = (result) => (result.status === "fulfilled" ? result.value.series.map((s) => ({ group: s.group, ...(s.points[0] || {}) })) : null);
    const spanRows = rows(bySpan) || [];
    replace(breakdowns,
      breakdownTable("By model", "by-model", rows(byModel)),
      breakdownTable("By environment", "by-environment", rows(byEnvironment)),
      breakdownTable("Slowest spans (p90)", "slowest-spans", [...spanRows].sort((a, b) => (b.latency_p90 ?? -1) - (a.latency_p90 ?? -1)).slice(0, 10)),
      breakdownTable("Failing spans", "failing-spans", spanRows.filter((r) => r.error_rate > 0).sort((a, b) => b.error_rate - a.error_rate).slice(0, 10)));
    document.body.dataset.breakdowns = "loaded";
  }

  const TILES = [["tile-requests", "Requests"], ["tile-errors", "Error rate"], ["tile-p50", "Latency p50"],
    ["tile-p90", "Latency p90"], ["tile-p99", "Latency p99"], ["tile-tokens", "Tokens"], ["tile-cost", "Cost"]];
  const CHARTS = [["requests", "Requests"], ["errors", "Error rate"], ["latency", "Latency"], ["tokens", "Tokens"],
    ["cost", "Cost (USD)"], ["feedback", "Feedback: mean value (share of thumbs up)"]];
  let slots = {};

  function drawPlaceholders() {
    replace(tiles, TILES.map(([id, label]) => h("div", { class: "tile", attrs: { id, "aria-busy": "true" } },
      h("div", { class: "tile-label", text: label }), h("div", { class: "tile-value muted", text: "…" }))));
    slots = Object.fromEntries(CHARTS.map(([key, title]) => [key, h("figure", { class: "chart-card loading", attrs: { "aria-busy": "true" } },
      h("figcaption", { text: title }), h("div", { class: "muted chart-empty", text: "Loading…" }))]));
    replace(charts, Object.values(slots));
  }

  function setTile(id, value) {
    const tile = document.getElementById(id);
    tile.removeAttribute("aria-busy");
    const box = tile.querySelector(".tile-value");
    box.classList.remove("muted");
    box.textContent = value;
  }

  function put(key, element) {
    slots[key].replaceWith(element);
    slots[key] = element;
  }

  function pick(points, name) {
    return points.map((p) => ({ x: p.start_time_ms, y: p[name] }));
  }

  /** Run `action` once, when `element` comes within 200 px of the viewport; return the observer. */
  function whenShown(element, action) {
    const observer = new IntersectionObserver((entries) => {
      if (entries.some((entry) => entry.isIntersecting)) { observer.disconnect(); action(); }
    }, { rootMargin: "200px" });
    observer.observe(element);
    return observer;
  }

  function feedbackChart(result, start, end, bucketMs) {
    const series = result.series.slice(0, 6).map((s) => ({ name: `${s.name} (${s.points.reduce((n, p) => n + p.count, 0)})`,
      points: s.points.map((p) => ({ x: p.start_time_ms, y: p.mean })) }));
    return timeChart({ id: "chart-feedback", title: "Feedback: mean value (share of thumbs up)", series, start, end, bucketMs,
      format: (v) => v.toFixed(2) });
  }

  function breakdownTable(title, id, rows) {
    const table = h("table", { class: "table compact", attrs: { id } },
      h("thead", {}, h("tr", {}, ["", "Calls", "Errors", "p50", "p90", "Tokens", "Cost"].map((label) => h("th", { attrs: { scope: "col" }, text: label })))),
      h("tbody", {}, (rows || []).map((row) => h("tr", { data: { group: row.group ?? "" } },
        h("td", { text: row.group ?? "(none)" }), h("td", { class: "num", text: formatCount(row.request_count) }),
        h("td", { class: `num${row.error_rate > 0 ? " bad" : ""}`, text: formatPercent(row.error_rate) }),
        h("td", { class: "num", text: formatDuration(row.latency_p50) }), h("td", { class: "num", text: formatDuration(row.latency_p90) }),
        h("td", { class: "num", text: formatCount(row.total_tokens) }), h("td", { class: "num", text: formatCost(row.cost) })))));
    return h("section", { class: "breakdown" }, h("h3", { text: title }),
      rows === null ? h("div", { class: "error", text: "could not load" }) : rows.length ? table : h("div", { class: "muted", text: "nothing in this range" }));
  }

  await load();
}
