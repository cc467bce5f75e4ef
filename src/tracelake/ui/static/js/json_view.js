// Payload rendering: a collapsible JSON tree whose branches are built only when opened (a 10 MB
// payload costs nothing until looked at), and renderers that show chat messages, tool calls and
// retrieved documents as such. All text goes in as text nodes.
import { h } from "./dom.js";

const STRING_CUT = 2000;
const CHILDREN_CUT = 200;

function scalar(value) {
  if (value === null) return h("span", { class: "j-null", text: "null" });
  if (typeof value === "string") return longText(value, "j-str");
  if (typeof value === "number") return h("span", { class: "j-num", text: String(value) });
  if (typeof value === "boolean") return h("span", { class: "j-bool", text: String(value) });
  return h("span", { text: String(value) });
}

/** A string, cut at STRING_CUT characters with a button to show it whole. */
export function longText(text, className = "") {
  const span = h("span", { class: className });
  if (text.length <= STRING_CUT) {
    span.textContent = text;
    return span;
  }
  span.textContent = text.slice(0, STRING_CUT);
  const more = h("button", { class: "link", text: `… show all ${text.length.toLocaleString("en-US")} characters` });
  more.addEventListener("click", () => { span.textContent = text; });
  return h("span", {}, span, more);
}

function summaryOf(value) {
  return Array.isArray(value) ? `[${value.length} items]` : `{${Object.keys(value).length} keys}`;
}

/** A collapsible tree of any JSON value; levels below `openDepth` start open. */
export function jsonTree(value, openDepth = 2, label = null, depth = 0) {
  if (value === null || typeof value !== "object") {
    return h("div", { class: "j-row" }, label !== null ? h("span", { class: "j-key", text: `${label}: ` }) : null, scalar(value));
  }
  const entries = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
  const details = h("details", { class: "j-node" });
  const summary = h("summary", {}, label !== null ? h("span", { class: "j-key", text: `${label}: ` }) : null,
    h("span", { class: "muted", text: summaryOf(value) }));
  details.append(summary);
  let built = false;
  const build = () => {
    if (built) return;
    built = true;
    const body = h("div", { class: "j-children" });
    const addRange = (start) => {
      for (const [key, child] of entries.slice(start, start + CHILDREN_CUT)) body.append(jsonTree(child, openDepth, key, depth + 1));
      if (entries.length > start + CHILDREN_CUT) {
        const more = h("button", { class: "link", text: `show ${Math.min(CHILDREN_CUT, entries.length - start - CHILDREN_CUT)} more of ${entries.length}` });
        more.addEventListener("click", () => { more.remove(); addRange(start + CHILDREN_CUT); });
        body.append(more);
      }
    };
    addRange(0);
    details.append(body);
  };
  details.addEventListener("toggle", () => { if (details.open) build(); });
  if (depth < openDepth && entries.length <= 50) {
    build();
    details.open = true;
  }
  return details;
}

function textOfContent(content) {
  if (content === null || content === undefined) return "";
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content.map((part) => (typeof part === "string" ? part : part?.text ?? part?.content ?? (part?.type ? `[${part.type}]` : ""))).join("\n");
  }
  if (typeof content === "object" && typeof content.text === "string") return content.text;
  return JSON.stringify(content);
}

function toolCall(call) {
  const fn = call.function || call;
  let args = fn.arguments ?? call.arguments ?? call.input ?? null;
  if (typeof args === "string") {
    try { args = JSON.parse(args); } catch { /* keep the text */ }
  }
  return h("div", { class: "tool-call" },
    h("div", { class: "tool-call-name" }, h("span", { class: "type-pill type-tool", text: "TOOL CALL" }), " ",
      h("code", { text: fn.name ?? call.name ?? "(unnamed)" }), call.id ? h("span", { class: "muted", text: ` ${call.id}` }) : null),
    args !== null ? jsonTree(args, 1) : null);
}

function message(item) {
  const role = String(item.role ?? item.type ?? "message");
  const calls = item.tool_calls || (item.type === "function_call" ? [item] : null);
  const content = item.type === "function_call" ? "" : textOfContent(item.content ?? item.text ?? item.output);
  return h("div", { class: `message role-${role.replace(/[^a-z_]/gi, "").toLowerCase()}` },
    h("div", { class: "message-role", text: role + (item.name ? ` · ${item.name}` : "") }),
    content ? h("div", { class: "message-text" }, longText(content)) : null,
    calls ? calls.map(toolCall) : null);
}

function isMessage(item) {
  return item && typeof item === "object" && !Array.isArray(item) &&
    (typeof item.role === "string" || item.type === "function_call" || item.type === "function_call_output");
}

/** The chat messages inside a value (OpenAI chat, Responses API, choices), or null. */
export function findMessages(value) {
  if (Array.isArray(value) && value.length && value.every(isMessage)) return value;
  if (!value || typeof value !== "object") return null;
  for (const key of ["messages", "input", "output"]) {
    if (Array.isArray(value[key]) && value[key].length && value[key].every(isMessage)) return value[key];
  }
  if (Array.isArray(value.choices)) {
    const found = value.choices.map((choice) => choice?.message).filter(isMessage);
    if (found.length) return found;
  }
  if (isMessage(value)) return [value];
  return null;
}

function isDocument(item) {
  return item && typeof item === "object" && !Array.isArray(item) &&
    (typeof item.page_content === "string" || (typeof item.content === "string" && ("metadata" in item || "id" in item || "score" in item)));
}

/** Retrieved documents inside a value, or null. */
export function findDocuments(value) {
  if (Array.isArray(value) && value.length && value.every(isDocument)) return value;
  if (value && typeof value === "object" && Array.isArray(value.documents) && value.documents.every(isDocument)) return value.documents;
  return null;
}

function documentCard(doc, index) {
  const meta = doc.metadata && typeof doc.metadata === "object" ? doc.metadata : {};
  const source = meta.source ?? meta.doc_uri ?? meta.url ?? doc.id ?? `document ${index + 1}`;
  return h("div", { class: "document" },
    h("div", { class: "document-head" }, h("span", { class: "type-pill type-retriever", text: "DOC" }), " ",
      h("span", { text: String(source) }), doc.score !== undefined ? h("span", { class: "muted", text: ` score ${doc.score}` }) : null),
    h("div", { class: "document-text" }, longText(String(doc.page_content ?? doc.content))),
    Object.keys(meta).length ? jsonTree(meta, 0, "metadata") : null);
}

/** Render a span's inputs or outputs: messages, documents or a plain value, with the raw JSON below. */
export function payloadView(value) {
  if (value === null || value === undefined) return h("div", { class: "muted", text: "none" });
  if (typeof value === "string") return h("div", { class: "plain-text" }, longText(value));
  const messages = findMessages(value);
  const documents = messages ? null : findDocuments(value);
  if (messages || documents) {
    const rendered = messages ? h("div", { class: "messages" }, messages.map(message))
      : h("div", { class: "documents" }, documents.map(documentCard));
    return h("div", {}, rendered, h("details", { class: "raw" }, h("summary", { text: "JSON" }), jsonTree(value, 1)));
  }
  return jsonTree(value, 2);
}
