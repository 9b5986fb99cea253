// The audit log: who did what, when, on which game. Read-only.

import { call } from "../api.js";
import { h, empty, pager, select, table } from "../dom.js";
import { when } from "../format.js";
import { heading } from "../shell.js";

function detailText(detail) {
  if (detail === null || detail === undefined || detail === "") return "";
  if (typeof detail !== "object") return String(detail);
  return Object.entries(detail)
    .map(([key, value]) => `${key}: ${typeof value === "object" && value !== null ? JSON.stringify(value) : value}`)
    .join(" · ");
}

/** `/audit` or `/g/{id}/audit`; `query.clientID` filters. */
export async function render(view, ctx, [routeGame], query) {
  const gameId = routeGame ?? query.clientID ?? "";
  const gameSelect = select([["", ctx.isPlatformAdmin ? "Everything" : "All my games"], ...ctx.games.map((g) => [g.clientID, g.name])], gameId, {
    id: "audit-game",
    onchange: (e) => ctx.navigate(e.target.value ? `/g/${encodeURIComponent(e.target.value)}/audit` : "/audit"),
  });
  const needle = h("input", { type: "search", id: "audit-find", placeholder: "operator, action or target on this page" });
  view.append(heading("Audit log", "Every console action: sign-ins, changes, adjustments, revocations, key operations (CLI ones as “cli”). Nothing here can be edited or deleted."),
    h("div", { class: "filters" },
      h("div", { class: "switcher" }, h("label", { for: "audit-game" }, "Game"), gameSelect),
      h("div", { class: "switcher grow" }, h("label", { for: "audit-find" }, "Find"), needle)));
  const name = (id) => (id ? ctx.games.find((g) => g.clientID === id)?.name ?? id : "—");
  let rows = [];
  const body = h("div");
  const draw = () => {
    const n = needle.value.trim().toLowerCase();
    const shown = rows.filter((e) => !n || `${e.operator} ${e.action} ${e.target ?? ""} ${detailText(e.detail)}`.toLowerCase().includes(n));
    body.replaceChildren(shown.length ? table([
      { label: "When", class: "nowrap", cell: (e) => when(e.at) },
      { label: "Who", cell: (e) => e.operator },
      { label: "Action", class: "nowrap", cell: (e) => h("code", {}, e.action) },
      { label: "Game", cell: (e) => name(e.clientID) },
      { label: "Target", cell: (e) => e.target ?? "" },
      { label: "Detail", class: "wrap", cell: (e) => detailText(e.detail) },
    ], shown, "Audit entries") : empty(rows.length ? "No entry on this page matches." : "No entries yet."));
  };
  needle.addEventListener("input", draw);
  const list = pager(async (cursor) => {
    const page = await call("/audit", { query: { clientID: gameId, limit: 50, cursor } });
    rows = page.entries;
    draw();
    return { node: body, next: page.cursor };
  }, "Audit log");
  view.append(list.node);
  await list.reload();
}
