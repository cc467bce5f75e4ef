// The selected span: header, error and exceptions with stack traces, inputs, outputs, attributes
// and events. The payload is fetched when the span is opened (never with the whole trace).
import { api } from "./api.js";
import { errorBox, h, replace } from "./dom.js";
import { formatCost, formatCount, formatDuration } from "./format.js";
import { jsonTree, longText, payloadView } from "./json_view.js";
import { typePill } from "./span_tree.js";

const cache = new Map();

function section(title, content, open = true) {
  const details = h("details", { class: "section", attrs: { open } }, h("summary", {}, h("h3", { text: title })), content);
  return details;
}

function exceptionView(event) {
  const attributes = event.attributes || {};
  return h("div", { class: "exception", attrs: { role: "group", "aria-label": "Exception" } },
    h("div", { class: "exception-head" }, h("strong", { text: String(attributes["exception.type"] ?? "Exception") }),
      attributes["exception.message"] ? h("span", { text: `: ${attributes["exception.message"]}` }) : null),
    attributes["exception.stacktrace"] ? h("pre", { class: "stacktrace" }, longText(String(attributes["exception.stacktrace"]))) : null);
}

/** Start fetching a span's payload (once per span); resolve to the API's answer. */
export function prefetchSpan(traceId, spanId) {
  const key = `${traceId}/${spanId}`;
  if (!cache.has(key)) {
    cache.set(key, api("GET", `/api/v1/traces/${encodeURIComponent(traceId)}/spans/${encodeURIComponent(spanId)}`));
  }
  return cache.get(key);
}

export async function renderSpan(panel, traceId, spanId) {
  // Keys move the selection faster than payloads load: only the latest choice may draw.
  panel.dataset.wanted = spanId;
  replace(panel, h("div", { class: "muted", text: "Loading span…" }));
  const key = `${traceId}/${spanId}`;
  let span;
  try {
    ({ span } = await prefetchSpan(traceId, spanId));
  } catch (error) {
    cache.delete(key);
    if (panel.dataset.wanted !== spanId) return;
    replace(panel, errorBox(error));
    return;
  }
  if (panel.dataset.wanted !== spanId) return;
  const duration = span.end_time_ns === null ? null : (span.end_time_ns - span.start_time_ns) / 1e6;
  const events = span.events || [];
  const exceptions = events.filter((event) => event.name === "exception");
  const others = events.filter((event) => event.name !== "exception");
  const usage = span.token_usage;
  replace(panel,
    h("div", { class: "span-head" },
      h("h2", {}, typePill(span.span_type), " ", h("span", { class: "span-title", text: span.name })),
      h("dl", { class: "facts" },
        fact("Status", span.status?.code ?? "UNSET"), fact("Duration", formatDuration(duration)),
        span.model_name ? fact("Model", span.model_name) : null,
        usage ? fact("Tokens", `${formatCount(usage.input_tokens)} in · ${formatCount(usage.output_tokens)} out`) : null,
        span.cost ? fact("Cost", formatCost(span.cost.total_cost)) : null,
        fact("Span id", span.span_id))),
    span.status?.code === "ERROR" && span.status.message
      ? h("div", { class: "error", attrs: { role: "note" } }, h("strong", { text: "Error: " }), longText(span.status.message)) : null,
    exceptions.length ? section("Exceptions", exceptions.map(exceptionView)) : null,
    section("Inputs", payloadView(span.inputs)),
    section("Outputs", payloadView(span.outputs)),
    section("Attributes", Object.keys(span.attributes || {}).length ? jsonTree(span.attributes, 1) : h("div", { class: "muted", text: "none" }), false),
    others.length ? section("Events", others.map((event) => h("div", { class: "event" },
      h("div", {}, h("strong", { text: event.name }),
        h("span", { class: "muted", text: ` +${formatDuration((event.timestamp_ns - span.start_time_ns) / 1e6)}` })),
      Object.keys(event.attributes || {}).length ? jsonTree(event.attributes, 0, "attributes") : null))) : null);
  panel.dataset.spanId = spanId;
}

function fact(label, value) {
  return h("div", { class: "fact" }, h("dt", { text: label }), h("dd", { text: value }));
}
