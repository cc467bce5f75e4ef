// Building the DOM safely. Trace content is untrusted: text only ever goes in through text nodes
// (textContent), attributes through setAttribute on a short allow-list, and links only to our own
// paths. Nothing here parses HTML.

const SAFE_ATTRIBUTES = new Set([
  "id", "class", "title", "role", "tabindex", "type", "name", "value", "placeholder", "for", "colspan",
  "aria-label", "aria-expanded", "aria-selected", "aria-sort", "aria-invalid", "aria-describedby",
  "aria-live", "aria-level", "aria-controls", "aria-current", "aria-pressed", "aria-hidden", "aria-busy", "spellcheck",
  "autocomplete", "min", "max", "step", "checked", "selected", "disabled", "open", "scope", "datetime",
  "required", "maxlength", "rows", "method", "autofocus",
]);

/** Return `href` if it is one of our own paths ("/…", "?…", "#…"), otherwise "#": never a data URL. */
export function safeHref(href) {
  const text = String(href);
  return /^(\/(?!\/)|\?|#)/.test(text) && !/^\s*javascript:/i.test(text) ? text : "#";
}

/**
 * Create an element. `props`: class, text, attrs {name: value}, data {key: value}, on {event: fn},
 * href (internal paths only). Children: nodes, strings (as text), arrays, null/false (skipped).
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  applyProps(element, props);
  append(element, children);
  return element;
}

function applyProps(element, props) {
  if (!props) return;
  if (props.class) element.className = props.class;
  if (props.text !== undefined && props.text !== null) element.textContent = String(props.text);
  if (props.href !== undefined) element.setAttribute("href", safeHref(props.href));
  for (const [name, value] of Object.entries(props.attrs || {})) {
    if (!SAFE_ATTRIBUTES.has(name) && !name.startsWith("data-")) throw new Error(`attribute ${name} not allowed`);
    if (name.startsWith("aria-") && typeof value === "boolean") {
      element.setAttribute(name, String(value));
      continue;
    }
    if (value === false || value === null || value === undefined) continue;
    element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const [key, value] of Object.entries(props.data || {})) element.dataset[key] = String(value);
  for (const [event, handler] of Object.entries(props.on || {})) element.addEventListener(event, handler);
}

/** Append children (nodes, strings as text, arrays; null/undefined/false skipped). */
export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/** Replace all children of `parent`. */
export function replace(parent, ...children) {
  parent.replaceChildren();
  return append(parent, children);
}

const SVG_NS = "http://www.w3.org/2000/svg";

/** Create an SVG element with numeric/string attributes (our own values only). */
export function svg(tag, attrs = {}, ...children) {
  const element = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "text") element.textContent = String(value);
    else if (value !== null && value !== undefined) element.setAttribute(name, String(value));
  }
  for (const child of children.flat(Infinity)) if (child) element.append(child);
  return element;
}

/** A message box for an error (text only). */
export function errorBox(error) {
  return h("div", { class: "error", attrs: { role: "alert" }, text: error?.message || String(error) });
}
