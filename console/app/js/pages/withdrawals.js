// Withdrawals across the operator's games: filter by status and game, with age.

import { call } from "../api.js";
import { h, badge, empty, link, pager, select, table } from "../dom.js";
import { age, num, when } from "../format.js";
import { heading } from "../shell.js";

const TONE = { COMPLETED: "ok", PENDING: "warn", FAILED: "bad" };

/** `/withdrawals` or `/g/{id}/withdrawals`; `query.status`, `query.clientID` filter. */
export async function render(view, ctx, [routeGame], query) {
  const gameId = routeGame ?? query.clientID ?? "";
  const status = ["PENDING", "COMPLETED", "FAILED"].includes(query.status) ? query.status : "";
  const go = (g, s) => {
    const search = new URLSearchParams();
    if (s) search.set("status", s);
    if (g && !routeGame) search.set("clientID", g);
    const prefix = g ? `/g/${encodeURIComponent(g)}` : "";
    ctx.navigate(`${prefix}/withdrawals${search.size ? `?${search}` : ""}`);
  };
  const statusSelect = select([["", "Any status"], ["PENDING", "Pending"], ["FAILED", "Failed"], ["COMPLETED", "Completed"]], status,
    { id: "wd-status", onchange: (e) => go(gameId, e.target.value) });
  const gameSelect = select([["", "All my games"], ...ctx.games.map((g) => [g.clientID, g.name])], gameId,
    { id: "wd-game", onchange: (e) => go(e.target.value, status) });
  view.append(heading("Withdrawals", "Gamers moving KCash to their KGeN wallet. Pending ones are settled by the server within seconds; an old pending one needs a look."),
    h("div", { class: "filters" },
      h("div", { class: "switcher" }, h("label", { for: "wd-status" }, "Status"), statusSelect),
      h("div", { class: "switcher" }, h("label", { for: "wd-game" }, "Game"), gameSelect)));
  const name = (id) => ctx.games.find((g) => g.clientID === id)?.name ?? id;
  const list = pager(async (cursor) => {
    const page = await call("/withdrawals", { query: { clientID: gameId, status, limit: 50, cursor } });
    if (!page.withdrawals.length) return { node: empty(status ? `No ${status.toLowerCase()} withdrawals.` : "No withdrawals yet.", "Try another status or game."), next: "" };
    return { node: table([
      { label: "Requested", class: "nowrap", cell: (w) => when(w.createdAt) },
      { label: "Age", cell: (w) => age(w.ageSeconds) },
      { label: "Game", cell: (w) => name(w.clientID) },
      { label: "Gamer", cell: (w) => link(`/g/${encodeURIComponent(w.clientID)}/gamers/${encodeURIComponent(w.userID)}`, w.userID) },
      { label: "Amount", class: "num", cell: (w) => num(w.amount) },
      { label: "Status", cell: (w) => badge(w.sync_status, TONE[w.sync_status]) },
      { label: "Id", cell: (w) => h("code", { class: "small" }, w.uid) },
    ], page.withdrawals, "Withdrawals"), next: page.cursor };
  }, "Withdrawals");
  view.append(list.node);
  await list.reload();
}
