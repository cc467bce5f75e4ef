// The span tree and its waterfall timeline, one row per visible span. Only the rows in view are in
// the DOM (a trace of 10,000 spans draws a few dozen rows), so scrolling and searching stay fast.
// Keyboard: ↑/↓ move, ←/→ collapse/expand, Home/End, Enter opens the span.
import { h, replace } from "./dom.js";
import { formatCost, formatCount, formatDuration } from "./format.js";

const ROW_HEIGHT = 28;
const OVERSCAN = 10;
const EXPAND_ALL_UP_TO = 2000;

const TYPE_LABELS = { LLM: "LLM", CHAT_MODEL: "LLM", TOOL: "TOOL", RETRIEVER: "RET", AGENT: "AGENT", CHAIN: "CHAIN",
  EMBEDDING: "EMB", RERANKER: "RANK", PARSER: "PARSE", GUARDRAIL: "GUARD", EVALUATOR: "EVAL", TASK: "TASK" };

export function typePill(spanType) {
  const type = String(spanType || "UNKNOWN").toUpperCase();
  const label = TYPE_LABELS[type] || type.slice(0, 5);
  return h("span", { class: `type-pill type-${(TYPE_LABELS[type] || "other").toLowerCase()}`, text: label, attrs: { title: type } });
}

/** Build the tree: nodes with children sorted by start time; spans whose parent is missing become roots. */
function buildTree(spans) {
  const nodes = new Map(spans.map((span) => [span.span_id, { span, children: [], depth: 0, parent: null }]));
  const roots = [];
  for (const node of nodes.values()) {
    const parent = node.span.parent_id ? nodes.get(node.span.parent_id) : null;
    if (parent) { parent.children.push(node); node.parent = parent; } else roots.push(node);
  }
  const stack = roots.map((node) => [node, 0]);
  while (stack.length) {
    const [node, depth] = stack.pop();
    node.depth = depth;
    for (const child of node.children) stack.push([child, depth + 1]);
  }
  return { nodes, roots };
}

export class SpanTree {
  constructor(spans, { onSelect, selected }) {
    this.onSelect = onSelect;
    const { nodes, roots } = buildTree(spans);
    this.nodes = nodes;
    this.roots = roots;
    this.expanded = new Set();
    for (const node of nodes.values()) {
      if (node.children.length && (nodes.size <= EXPAND_ALL_UP_TO || node.depth < 2)) this.expanded.add(node.span.span_id);
    }
    const starts = spans.map((s) => s.start_time_ns);
    const ends = spans.map((s) => s.end_time_ns ?? s.start_time_ns);
    this.t0 = Math.min(...starts);
    this.t1 = Math.max(...ends, this.t0 + 1);
    this.query = "";
    this.matches = null;
    this.selected = selected && nodes.has(selected) ? selected : roots[0]?.span.span_id ?? null;
    if (this.selected) this.revealAncestors(this.selected);

    this.inner = h("div", { class: "tree-inner" });
    this.element = h("div", { class: "tree-scroll", attrs: { role: "tree", tabindex: "0", "aria-label": "Span tree",
      id: "span-tree" } }, this.inner);
    this.element.addEventListener("scroll", () => this.draw());
    this.element.addEventListener("keydown", (event) => this.onKey(event));
    this.refresh();
  }

  revealAncestors(spanId) {
    let node = this.nodes.get(spanId)?.parent;
    while (node) { this.expanded.add(node.span.span_id); node = node.parent; }
  }

  /** Filter the tree to spans whose name, type or model contains `query` (and their ancestors). */
  search(query) {
    this.query = query.trim().toLowerCase();
    if (!this.query) {
      this.matches = null;
    } else {
      this.matches = new Set();
      for (const node of this.nodes.values()) {
        const span = node.span;
        const text = `${span.name} ${span.span_type} ${span.model_name ?? ""}`.toLowerCase();
        if (text.includes(this.query)) {
          this.matches.add(span.span_id);
          this.revealAncestors(span.span_id);
        }
      }
    }
    this.refresh();
    return this.matches ? this.matches.size : null;
  }

  visibleNodes() {
    const out = [];
    const keep = this.matches ? new Set() : null;
    if (keep) {
      for (const id of this.matches) {
        let node = this.nodes.get(id);
        while (node && !keep.has(node.span.span_id)) { keep.add(node.span.span_id); node = node.parent; }
      }
    }
    const stack = [...this.roots].reverse();
    while (stack.length) {
      const node = stack.pop();
      if (keep && !keep.has(node.span.span_id)) continue;
      out.push(node);
      if (this.expanded.has(node.span.span_id)) for (let i = node.children.length - 1; i >= 0; i--) stack.push(node.children[i]);
    }
    return out;
  }

  refresh() {
    this.rows = this.visibleNodes();
    this.inner.style.height = `${this.rows.length * ROW_HEIGHT}px`;
    this.lastRange = null;
    this.draw();
  }

  draw() {
    const top = this.element.scrollTop;
    const height = this.element.clientHeight || 600;
    const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(this.rows.length, Math.ceil((top + height) / ROW_HEIGHT) + OVERSCAN);
    const key = `${first}:${last}`;
    if (this.lastRange === key) return;
    this.lastRange = key;
    replace(this.inner, this.rows.slice(first, last).map((node, i) => this.row(node, first + i)));
    const active = this.rows.findIndex((node) => node.span.span_id === this.selected);
    if (active >= 0) this.element.setAttribute("aria-activedescendant", `row-${this.selected}`);
  }

  row(node, index) {
    const span = node.span;
    const id = span.span_id;
    const hasChildren = node.children.length > 0;
    const open = this.expanded.has(id);
    const toggle = h("button", { class: "toggle", text: hasChildren ? (open ? "▾" : "▸") : "", attrs: {
      tabindex: "-1", "aria-hidden": true, disabled: !hasChildren } });
    toggle.addEventListener("click", (event) => { event.stopPropagation(); this.toggle(id); });
    const duration = span.end_time_ns === null ? null : (span.end_time_ns - span.start_time_ns) / 1e6;
    const span0 = this.t1 - this.t0;
    const left = ((span.start_time_ns - this.t0) / span0) * 100;
    const width = Math.max(0.3, (((span.end_time_ns ?? this.t1) - span.start_time_ns) / span0) * 100);
    const bar = h("div", { class: `bar status-${String(span.status).toLowerCase()}${span.end_time_ns === null ? " open" : ""}` });
    bar.style.left = `${left}%`;
    bar.style.width = `${Math.min(width, 100 - left)}%`;
    const matched = this.matches && this.matches.has(id);
    const row = h("div", {
      class: `tree-row${id === this.selected ? " selected" : ""}${matched ? " match" : ""}${span.status === "ERROR" ? " has-error" : ""}`,
      attrs: { role: "treeitem", id: `row-${id}`, "aria-level": node.depth + 1, "aria-selected": id === this.selected,
        "aria-expanded": hasChildren ? open : null },
      data: { spanId: id },
    },
      h("div", { class: "tree-label" },
        h("span", { class: "indent" }), toggle, typePill(span.span_type), h("span", { class: "span-name", text: span.name })),
      h("div", { class: "tree-metrics" },
        h("span", { class: "num", text: formatDuration(duration) }),
        h("span", { class: "num muted", text: span.total_tokens !== null ? `${formatCount(span.total_tokens)} tok` : "" }),
        h("span", { class: "num muted", text: span.total_cost !== null ? formatCost(span.total_cost) : "" }),
        h("span", { class: `dot status-${String(span.status).toLowerCase()}`, attrs: { title: span.status } })),
      h("div", { class: "waterfall" }, bar));
    row.firstChild.firstChild.style.width = `${node.depth * 14}px`;
    row.style.top = `${index * ROW_HEIGHT}px`;
    row.addEventListener("click", () => this.select(id));
    return row;
  }

  toggle(id, open = !this.expanded.has(id)) {
    if (open) this.expanded.add(id); else this.expanded.delete(id);
    this.refresh();
  }

  select(id, notify = true) {
    this.selected = id;
    this.lastRange = null;
    this.scrollTo(id);
    this.draw();
    if (notify) this.onSelect(id);
  }

  scrollTo(id) {
    const index = this.rows.findIndex((node) => node.span.span_id === id);
    if (index < 0) return;
    const top = index * ROW_HEIGHT;
    const height = this.element.clientHeight || 600;
    if (top < this.element.scrollTop) this.element.scrollTop = top;
    else if (top + ROW_HEIGHT > this.element.scrollTop + height) this.element.scrollTop = top + ROW_HEIGHT - height;
  }

  onKey(event) {
    const index = this.rows.findIndex((node) => node.span.span_id === this.selected);
    const node = this.rows[index];
    const go = (i) => { const target = this.rows[Math.max(0, Math.min(this.rows.length - 1, i))]; if (target) this.select(target.span.span_id); };
    switch (event.key) {
      case "ArrowDown": go(index + 1); break;
      case "ArrowUp": go(index - 1); break;
      case "Home": go(0); break;
      case "End": go(this.rows.length - 1); break;
      case "ArrowRight":
        if (node && node.children.length && !this.expanded.has(node.span.span_id)) this.toggle(node.span.span_id, true);
        else go(index + 1);
        break;
      case "ArrowLeft":
        if (node && this.expanded.has(node.span.span_id) && node.children.length) this.toggle(node.span.span_id, false);
        else if (node?.parent) this.select(node.parent.span.span_id);
        break;
      case "Enter": case " ": if (node) this.select(node.span.span_id); break;
      default: return;
    }
    event.preventDefault();
  }
}
