// Sessions: an experiment's traces grouped by session id with per-session totals; opening one shows
// the conversation (each trace's request and response, oldest first).
import { api, quote } from "./api.js";
import { errorBox, h, replace } from "./dom.js";
import { statusBadge } from "./explorer.js";
import { formatAgo, formatCost, formatCount, formatDuration, formatTime, preview } from "./format.js";
import { longText } from "./json_view.js";
import { renderNav } from "./nav.js";
import { readState, writeState } from "./state.js";

const DEFAULTS = { session: "", page: "" };

export async function render(main, { experimentId }) {
  renderNav(experimentId, "sessions");
  const state = readState(DEFAULTS);
  const previousTokens = [];
  const body = h("tbody");
  const pager = h("div", { class: "pager" });
  const conversation = h("section", { class: "conversation", attrs: { id: "conversation", "aria-label": "Conversation" } });
  const message = h("div", { attrs: { "aria-live": "polite" } });
  replace(main, h("h1", { text: "Sessions" }), message,
    h("div", { class: "sessions-layout" },
      h("div", { class: "table-wrap" }, h("table", { class: "table", attrs: { id: "sessions" } },
        h("thead", {}, h("tr", {}, ["Session", "User", "Turns", "Errors", "Last activity", "Duration", "Tokens", "Cost"].map(
          (label) => h("th", { attrs: { scope: "col" }, text: label })))), body), pager),
      conversation));

  async function loadSessions() {
    try {
      const params = new URLSearchParams({ max_results: "50" });
      if (state.page) params.set("page_token", state.page);
      const page = await api("GET", `/api/v1/experiments/${encodeURIComponent(experimentId)}/sessions?${params}`);
      replace(body, page.sessions.map(sessionRow));
      if (!page.sessions.length) {
        replace(body, h("tr", {}, h("td", { attrs: { colspan: 8 }, class: "empty",
          text: "No sessions: traces get one with tracelake.update_current_trace(session_id=…)." })));
      }
      drawPager(page.next_page_token);
    } catch (error) {
      replace(message, errorBox(error));
    }
  }

  function sessionRow(session) {
    const open = h("a", { href: `?session=${encodeURIComponent(session.session_id)}`, text: preview(session.session_id, 40),
      attrs: { title: session.session_id } });
    open.addEventListener("click", (event) => {
      event.preventDefault();
      state.session = session.session_id;
      writeState(state, DEFAULTS, true);
      markSelected();
      loadConversation();
    });
    return h("tr", { data: { sessionId: session.session_id } },
      h("td", {}, open), h("td", { text: session.user_id ?? "" }),
      h("td", { class: "num", text: formatCount(session.trace_count) }),
      h("td", { class: `num${session.error_count ? " bad" : ""}`, text: formatCount(session.error_count) }),
      h("td", { text: formatAgo(session.last_time_ms), attrs: { title: formatTime(session.last_time_ms) } }),
      h("td", { class: "num", text: formatDuration(session.total_duration_ms) }),
      h("td", { class: "num", text: formatCount(session.total_tokens) }),
      h("td", { class: "num", text: formatCost(session.total_cost) }));
  }

  function markSelected() {
    for (const row of body.rows) row.classList.toggle("selected", row.dataset.sessionId === state.session);
  }

  function drawPager(nextToken) {
    const prev = h("button", { text: "← Newer", attrs: { disabled: !state.page } });
    prev.addEventListener("click", () => { state.page = previousTokens.pop() || ""; writeState(state, DEFAULTS, true); loadSessions(); });
    const next = h("button", { text: "Older →", attrs: { disabled: !nextToken } });
    next.addEventListener("click", () => { previousTokens.push(state.page); state.page = nextToken; writeState(state, DEFAULTS, true); loadSessions(); });
    replace(pager, prev, next);
  }

  async function loadConversation() {
    if (!state.session) {
      replace(conversation, h("p", { class: "muted", text: "Choose a session to read the conversation." }));
      return;
    }
    replace(conversation, h("p", { class: "muted", text: "Loading…" }));
    try {
      const traces = [];
      let token = null;
      do {
        const page = await api("POST", "/api/v1/traces/search", {
          experiment_ids: [experimentId], filter: `session = ${quote(state.session)}`, order_by: ["timestamp_ms ASC"],
          max_results: 500, page_token: token,
        });
        traces.push(...page.traces.map((t) => t.info));
        token = page.next_page_token;
      } while (token && traces.length < 2000);
      const totals = traces.reduce((acc, t) => ({
        tokens: acc.tokens + (t.token_usage?.total_tokens ?? 0), cost: acc.cost + (t.cost?.total_cost ?? 0),
        duration: acc.duration + (t.execution_duration ?? 0), errors: acc.errors + (t.state === "ERROR" ? 1 : 0),
      }), { tokens: 0, cost: 0, duration: 0, errors: 0 });
      replace(conversation,
        h("h2", {}, "Session ", h("code", { text: state.session })),
        h("p", { class: "muted", attrs: { id: "session-totals" },
          text: `${traces.length} turns · ${totals.errors} errors · ${formatDuration(totals.duration)} · ` +
            `${formatCount(totals.tokens)} tokens · ${formatCost(totals.cost)}` }),
        h("ol", { class: "turns" }, traces.map(turn)));
    } catch (error) {
      replace(conversation, errorBox(error));
    }
  }

  function turn(trace) {
    return h("li", { class: "turn", data: { traceId: trace.trace_id } },
      h("div", { class: "message role-user" }, h("div", { class: "message-role", text: `user · ${formatTime(trace.request_time)}` }),
        h("div", { class: "message-text" }, longText(trace.request_preview ?? ""))),
      h("div", { class: "message role-assistant" }, h("div", { class: "message-role" }, "agent ", statusBadge(trace.state),
        h("span", { class: "muted", text: ` ${formatDuration(trace.execution_duration)} · ${formatCount(trace.token_usage?.total_tokens)} tokens` })),
        h("div", { class: "message-text" }, longText(trace.response_preview ?? ""))),
      h("a", { class: "turn-link", href: `/ui/traces/${encodeURIComponent(trace.trace_id)}`, text: "open trace →" }));
  }

  window.addEventListener("popstate", () => {
    Object.assign(state, readState(DEFAULTS));
    markSelected();
    loadConversation();
  });
  await Promise.all([loadSessions(), loadConversation()]);
  markSelected();
  document.body.dataset.loaded = "sessions";
}
