// Building the page with DOM calls only: text goes in as text nodes, never as
// HTML, so a gamer id or an event name like "<img onerror=…>" shows as typed.

/**
 * Creates an element. `attrs` keys: `class`, `text`, `on<event>` (listeners),
 * `dataset`, boolean properties (`disabled`, `checked`, `required`, …) and any
 * other attribute (set with setAttribute). Children: nodes, strings (as text),
 * arrays of those; null/false/undefined are skipped.
 */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  setAttrs(node, attrs);
  append(node, children);
  return node;
}

const PROPERTIES = new Set(["disabled", "checked", "required", "hidden", "value", "selected", "readOnly", "multiple"]);

function setAttrs(node, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = String(value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (PROPERTIES.has(key)) node[key] = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
}

/** Appends children (nodes, text, nested arrays) to `node`. */
export function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Replaces everything inside `node` with `children`. */
export function replace(node, ...children) {
  node.replaceChildren();
  return append(node, children);
}

let fieldSeq = 0;

/** A labelled form field; `input` is the control (its id is set here). */
export function field(label, input, hint) {
  const id = input.id || `f${++fieldSeq}`;
  input.id = id;
  const hintNode = hint ? h("small", { class: "hint", id: `${id}-hint` }, hint) : null;
  if (hintNode) input.setAttribute("aria-describedby", hintNode.id);
  return h("div", { class: "field" }, h("label", { for: id }, label), input, hintNode);
}

/** A checkbox with its label on the right. */
export function checkbox(label, attrs = {}) {
  const input = h("input", { type: "checkbox", ...attrs });
  const id = input.id || `f${++fieldSeq}`;
  input.id = id;
  return { input, node: h("div", { class: "check" }, input, h("label", { for: id }, label)) };
}

/** A `<select>` from `[value, label]` pairs. */
export function select(options, value, attrs = {}) {
  const node = h("select", attrs);
  for (const [optionValue, label] of options) {
    node.append(h("option", { value: optionValue, selected: optionValue === value }, label));
  }
  return node;
}

/** A message box: kind is "error", "ok", "info" or "warn". */
export function notice(kind, ...children) {
  return h("div", { class: `notice notice-${kind}`, role: kind === "error" ? "alert" : "status" }, children);
}

/** What a page shows when there is nothing to list, with a hint on what to do. */
export function empty(title, hint) {
  return h("div", { class: "empty" }, h("p", { class: "empty-title" }, title), hint ? h("p", {}, hint) : null);
}

/**
 * A table. `columns`: [{ label, cell(row) → node|text, class? }]. Returns the
 * wrapper (it scrolls sideways on narrow screens).
 */
export function table(columns, rows, caption) {
  const head = h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.class }, c.label)));
  const body = rows.map((row) =>
    h("tr", {}, columns.map((c) => h("td", { class: c.class, "data-label": c.label }, c.cell(row)))),
  );
  return h("div", { class: "table-wrap" },
    h("table", {}, caption ? h("caption", { class: "sr-only" }, caption) : null, h("thead", {}, head), h("tbody", {}, body)));
}

/** A link inside the app (hash route). */
export function link(route, text, attrs = {}) {
  return h("a", { href: `#${route}`, ...attrs }, text);
}

/** A button; `kind` is "primary", "danger" or "" (secondary). */
export function button(text, onclick, kind = "", attrs = {}) {
  return h("button", { type: "button", class: `btn ${kind ? `btn-${kind}` : ""}`.trim(), onclick, ...attrs }, text);
}

/** A small coloured label. */
export function badge(text, tone = "") {
  return h("span", { class: `badge ${tone ? `badge-${tone}` : ""}`.trim() }, text);
}

/**
 * Pages through a cursor list. `fetchPage(cursor)` resolves to
 * `{ node, next }` (next: the cursor of the following page, "" at the end).
 * Returns `{ node, reload }`: the list with Previous / Next buttons under it.
 */
export function pager(fetchPage, label = "page") {
  const body = h("div");
  const controls = h("nav", { class: "pager", "aria-label": `${label} pages` });
  const stack = [""];
  const show = async () => {
    const { node, next } = await fetchPage(stack[stack.length - 1]);
    body.replaceChildren(node);
    replace(controls,
      stack.length > 1 ? button("← Newer", () => { stack.pop(); show(); }) : null,
      h("span", { class: "muted" }, `Page ${stack.length}`),
      next ? button("Older →", () => { stack.push(next); show(); }) : null);
  };
  return { node: h("div", {}, body, controls), reload: () => { stack.length = 1; return show(); } };
}
