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

  async function load() {
    replace(message);
    // `start`/`end` (ms) in the URL pin an absolute range; otherwise the range ends now.
    const pinned = Number(state.start) > 0 && Number(state.end) > Number(state.start);
    const end = pinned ? Number(state.end) : Date.now();
    const start = pinned ? Number(state.start) : end - RANGES[state.range];
    const bucketSeconds = bucketFor(end - start);
    const base = { experiment_ids: [experimentId], filter: state.filter || null, start_time_ms: start, end_time_ms: end };
    const metrics = (extra) => api("POST", "/api/v1/metrics", { ...base, ...extra });
    try {
      const [timeline, totals] = await Promise.all([
        metrics({ bucket_seconds: bucketSeconds }), metrics({ bucket_seconds: WHOLE_RANGE_BUCKET }),
      ]);
      drawTiles(totals.series[0]?.points[0] ?? {});
      drawCharts(timeline.series[0]?.points ?? [], start, end, bucketSeconds * 1000);
      document.body.dataset.loaded = "dashboard";
    } catch (error) {
      document.body.dataset.loaded = "dashboard";
      if (error instanceof ApiError && error.status === 400 && error.position !== null) replace(message, filterError(error, state.filter));
      else replace(message, errorBox(error));
      return;
    }
    const [byModel, byEnvironment, bySpan, feedback] = await Promise.allSettled([
      metrics({ bucket_seconds: WHOLE_RANGE_BUCKET, group_by: "model", metrics: BREAKDOWN_METRICS }),
      metrics({ bucket_seconds: WHOLE_RANGE_BUCKET, group_by: "metadata.environment", metrics: BREAKDOWN_METRICS }),
      metrics({ bucket_seconds: WHOLE_RANGE_BUCKET, group_by: "span.name", metrics: BREAKDOWN_METRICS }),
      api("POST", "/api/v1/metrics/feedback", { ...base, bucket_seconds: bucketSeconds }),
    ]);
    if (feedback.status === "fulfilled") charts.append(feedbackChart(feedback.value, start, end, bucketSeconds * 1000));
    const rows = (result) => (result.status === "fulfilled" ? result.value.series.map((s) => ({ group: s.group, ...(s.points[0] || {}) })) : null);
    const spanRows = rows(bySpan) || [];
    replace(breakdowns,
      breakdownTable("By model", "by-model", rows(byModel)),
      breakdownTable("By environment", "by-environment", rows(byEnvironment)),
      breakdownTable("Slowest spans (p90)", "slowest-spans", [...spanRows].sort((a, b) => (b.latency_p90 ?? -1) - (a.latency_p90 ?? -1)).slice(0, 10)),
      breakdownTable("Failing spans", "failing-spans", spanRows.filter((r) => r.error_rate > 0).sort((a, b) => b.error_rate - a.error_rate).slice(0, 10)));
    document.body.dataset.breakdowns = "loaded";
  }

  function drawTiles(point) {
    const tile = (id, label, value) => h("div", { class: "tile", attrs: { id } }, h("div", { class: "tile-label", text: label }),
      h("div", { class: "tile-value", text: value }));
    replace(tiles,
      tile("tile-requests", "Requests", formatCount(point.request_count ?? 0)),
      tile("tile-errors", "Error rate", formatPercent(point.error_rate)),
      tile("tile-p50", "Latency p50", formatDuration(point.latency_p50)),
      tile("tile-p90", "Latency p90", formatDuration(point.latency_p90)),
      tile("tile-p99", "Latency p99", formatDuration(point.latency_p99)),
      tile("tile-tokens", "Tokens", formatCount(point.total_tokens)),
      tile("tile-cost", "Cost", formatCost(point.cost)));
  }

  function drawCharts(points, start, end, bucketMs) {
    const pick = (name) => points.map((p) => ({ x: p.start_time_ms, y: p[name] }));
    const common = { start, end, bucketMs };
    replace(charts,
      timeChart({ ...common, id: "chart-requests", title: "Requests", kind: "bar", series: [{ name: "requests", points: pick("request_count") }], format: (v) => formatCount(Math.round(v)) }),
      timeChart({ ...common, id: "chart-errors", title: "Error rate", series: [{ name: "error rate", points: pick("error_rate"), color: "var(--bad)" }], format: formatPercent }),
      timeChart({ ...common, id: "chart-latency", title: "Latency", series: [
        { name: "p50", points: pick("latency_p50") }, { name: "p90", points: pick("latency_p90") }, { name: "p99", points: pick("latency_p99") }],
      format: formatDuration }),
      timeChart({ ...common, id: "chart-tokens", title: "Tokens", series: [
        { name: "input", points: pick("input_tokens") }, { name: "output", points: pick("output_tokens") }], format: (v) => formatCount(Math.round(v)) }),
      timeChart({ ...common, id: "chart-cost", title: "Cost (USD)", series: [{ name: "cost", points: pick("cost") }], format: formatCost }));
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
