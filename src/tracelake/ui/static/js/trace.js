// Trace detail: summary, tags (editable), feedback and other assessments (with a form to add
// feedback), the span tree with its waterfall, and the selected span.
import { api } from "./api.js";
import { errorBox, h, replace } from "./dom.js";
import { statusBadge } from "./explorer.js";
import { formatCost, formatCount, formatDuration, formatTime } from "./format.js";
import { longText } from "./json_view.js";
import { renderNav } from "./nav.js";
import { SpanTree } from "./span_tree.js";
import { prefetchSpan, renderSpan } from "./span_view.js";
import { readState, writeState } from "./state.js";

const DEFAULTS = { span: "", q: "" };

export async function render(main, { traceId }) {
  const state = readState(DEFAULTS);
  replace(main, h("div", { class: "muted", text: "Loading trace…" }));
  let info;
  let index;
  try {
    const enc = encodeURIComponent(traceId);
    // A span named in the URL is fetched at once; otherwise the server starts decoding the payloads
    // while the tree is drawn, so the root span opens without waiting for the whole trace to decode.
    if (state.span) prefetchSpan(traceId, state.span).catch(() => {}); // renderSpan reports a failure
    [{ trace: { info } }, { spans: index }] = await Promise.all([
      api("GET", `/api/v1/traces/${enc}?include_spans=false`),
      api("GET", `/api/v1/traces/${enc}/span-index?prefetch_payloads=true`),
    ]);
  } catch (error) {
    renderNav(null, "trace");
    replace(main, errorBox(error));
    return;
  }
  renderNav(info.experiment_id, "trace");

  const tagsBox = h("div", { class: "tags", attrs: { id: "tags" } });
  const assessmentsBox = h("div", { attrs: { id: "assessments" } });
  const panel = h("section", { class: "span-panel", attrs: { id: "span-panel", "aria-label": "Selected span" } });
  const searchInput = h("input", { attrs: { type: "search", id: "span-search", placeholder: "search spans",
    "aria-label": "Search spans", autocomplete: "off" } });
  const searchCount = h("span", { class: "muted", attrs: { "aria-live": "polite", id: "span-search-count" } });

  const tree = new SpanTree(index, { selected: state.span, onSelect: (spanId) => {
    state.span = spanId;
    writeState(state, DEFAULTS);
    renderSpan(panel, traceId, spanId);
  } });
  searchInput.value = state.q;
  searchInput.addEventListener("input", () => {
    const count = tree.search(searchInput.value);
    searchCount.textContent = count === null ? "" : `${count} match${count === 1 ? "" : "es"}`;
    state.q = searchInput.value;
    writeState(state, DEFAULTS);
  });

  const meta = info.metadata || {};
  const sessionUrl = meta.session_id
    ? `/ui/experiments/${encodeURIComponent(info.experiment_id)}/sessions?session=${encodeURIComponent(meta.session_id)}` : null;
  replace(main,
    h("div", { class: "trace-head" },
      h("h1", {}, h("span", { text: info.name || "(unnamed trace)" }), " ", statusBadge(info.state)),
      h("dl", { class: "facts" },
        fact("Started", formatTime(info.request_time)), fact("Duration", formatDuration(info.execution_duration)),
        fact("Spans", formatCount(info.span_count)),
        fact("Tokens", formatCount(info.token_usage?.total_tokens)), fact("Cost", formatCost(info.cost?.total_cost)),
        meta.session_id ? h("div", { class: "fact" }, h("dt", { text: "Session" }), h("dd", {}, h("a", { href: sessionUrl, text: meta.session_id }))) : null,
        meta.user_id ? fact("User", meta.user_id) : null, meta.environment ? fact("Environment", meta.environment) : null,
        info.client_request_id ? fact("Client request id", info.client_request_id) : null,
        fact("Trace id", info.trace_id))),
    h("div", { class: "trace-io" },
      h("div", {}, h("h3", { text: "Request" }), h("div", { class: "plain-text" }, longText(info.request_preview ?? ""))),
      h("div", {}, h("h3", { text: "Response" }), h("div", { class: "plain-text" }, longText(info.response_preview ?? "")))),
    h("div", { class: "trace-side" },
      h("section", { attrs: { "aria-label": "Tags" } }, h("h3", { text: "Tags" }), tagsBox),
      h("section", { attrs: { "aria-label": "Feedback" } }, h("h3", { text: "Feedback" }), assessmentsBox)),
    h("div", { class: "trace-body" },
      h("section", { class: "tree-panel", attrs: { "aria-label": "Spans" } },
        h("div", { class: "tree-tools" }, searchInput, searchCount,
          h("span", { class: "muted", text: `${index.length} spans · ${formatDuration((tree.t1 - tree.t0) / 1e6)}` })),
        tree.element),
      panel));
  tree.refresh();
  if (state.q) searchInput.dispatchEvent(new Event("input"));
  if (tree.selected) {
    tree.scrollTo(tree.selected);
    tree.draw();
    renderSpan(panel, traceId, tree.selected);
  }
  drawTags(tagsBox, traceId, info.tags || {});
  drawAssessments(assessmentsBox, traceId, info.assessments || []);
  document.body.dataset.loaded = "trace";
}

function fact(label, value) {
  return h("div", { class: "fact" }, h("dt", { text: label }), h("dd", { text: value ?? "—" }));
}

function drawTags(box, traceId, tags) {
  const message = h("div", { attrs: { "aria-live": "polite" } });
  const enc = encodeURIComponent(traceId);
  const reload = async () => {
    const { trace } = await api("GET", `/api/v1/traces/${enc}?include_spans=false`);
    drawTags(box, traceId, trace.info.tags || {});
  };
  const chips = Object.entries(tags).map(([key, value]) => {
    const remove = h("button", { class: "chip-remove", text: "×", attrs: { "aria-label": `Remove tag ${key}` } });
    remove.addEventListener("click", async () => {
      try { await api("DELETE", `/api/v1/traces/${enc}/tags/${encodeURIComponent(key)}`); await reload(); }
      catch (error) { replace(message, errorBox(error)); }
    });
    return h("span", { class: "chip", data: { tag: key } }, h("span", { text: `${key}=${value}` }), remove);
  });
  const keyInput = h("input", { attrs: { id: "tag-key", placeholder: "key", "aria-label": "Tag key", required: true, maxlength: 250 } });
  const valueInput = h("input", { attrs: { id: "tag-value", placeholder: "value", "aria-label": "Tag value" } });
  const form = h("form", { class: "inline-form" }, keyInput, valueInput, h("button", { attrs: { type: "submit" }, text: "Set tag" }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api("PUT", `/api/v1/traces/${enc}/tags/${encodeURIComponent(keyInput.value.trim())}`, { value: valueInput.value });
      await reload();
    } catch (error) {
      replace(message, errorBox(error));
    }
  });
  replace(box, h("div", { class: "chips" }, chips.length ? chips : h("span", { class: "muted", text: "no tags" })), form, message);
}

function assessmentValue(assessment) {
  if (assessment.value === true) return h("span", { class: "thumb up", text: "▲ thumbs up" });
  if (assessment.value === false) return h("span", { class: "thumb down", text: "▼ thumbs down" });
  if (assessment.value === null || assessment.value === undefined) {
    return h("span", { class: "bad", text: assessment.error ? `error: ${assessment.error.error_message || assessment.error.error_code}` : "—" });
  }
  return h("code", { text: typeof assessment.value === "string" ? assessment.value : JSON.stringify(assessment.value) });
}

function drawAssessments(box, traceId, assessments) {
  const enc = encodeURIComponent(traceId);
  const message = h("div", { attrs: { "aria-live": "polite" } });
  const list = h("ul", { class: "assessments" }, assessments.map((a) => h("li", { data: { assessmentId: a.assessment_id } },
    h("span", { class: "assessment-name", text: a.name }), " ", assessmentValue(a), " ",
    h("span", { class: "muted", text: `${a.kind} · ${a.source?.source_type ?? ""} ${a.source?.source_id ?? ""} · ${formatTime(a.create_time_ms)}` }),
    a.rationale ? h("div", { class: "rationale" }, longText(a.rationale)) : null)));
  if (!assessments.length) list.append(h("li", { class: "muted", text: "no feedback yet" }));

  const nameInput = h("input", { attrs: { id: "feedback-name", value: "user_thumbs", "aria-label": "Feedback name", maxlength: 250 } });
  const kindSelect = h("select", { attrs: { id: "feedback-value", "aria-label": "Value" } },
    h("option", { attrs: { value: "up" }, text: "▲ thumbs up" }), h("option", { attrs: { value: "down" }, text: "▼ thumbs down" }),
    h("option", { attrs: { value: "score" }, text: "score…" }), h("option", { attrs: { value: "text" }, text: "label…" }));
  const scoreInput = h("input", { attrs: { id: "feedback-score", "aria-label": "Score or label", placeholder: "0.8 or a label" } });
  const rationale = h("textarea", { attrs: { id: "feedback-rationale", "aria-label": "Comment", placeholder: "comment (optional)", rows: 2 } });
  const form = h("form", { class: "feedback-form", attrs: { "aria-label": "Add feedback" } },
    nameInput, kindSelect, scoreInput, rationale, h("button", { attrs: { type: "submit", id: "feedback-submit" }, text: "Add feedback" }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    let value;
    if (kindSelect.value === "up") value = true;
    else if (kindSelect.value === "down") value = false;
    else if (kindSelect.value === "score") {
      value = Number(scoreInput.value);
      if (scoreInput.value.trim() === "" || Number.isNaN(value)) { replace(message, errorBox(new Error("a score must be a number"))); return; }
    } else value = scoreInput.value;
    try {
      await api("POST", `/api/v1/traces/${enc}/assessments`, {
        name: nameInput.value.trim() || "user_thumbs", kind: "feedback", value,
        rationale: rationale.value.trim() || null, source: { source_type: "HUMAN", source_id: "web-ui" },
      });
      const { assessments: fresh } = await api("GET", `/api/v1/traces/${enc}/assessments`);
      drawAssessments(box, traceId, fresh);
      box.querySelector("#feedback-status").textContent = "Feedback saved.";
    } catch (error) {
      replace(message, errorBox(error));
    }
  });
  replace(box, list, form, message, h("div", { class: "muted", attrs: { id: "feedback-status", "aria-live": "polite" } }));
}
