// Finding a gamer: by user id prefix, wallet address or KGeN id.

import { call } from "../api.js";
import { h, empty, link, pager, table } from "../dom.js";
import { num, when } from "../format.js";
import { heading, gameName } from "../shell.js";

/** The search page of game `params[0]`; `query.q` is the search. */
export async function render(view, ctx, [gameId], query) {
  const base = `/g/${encodeURIComponent(gameId)}`;
  const q = (query.q ?? "").trim();
  const input = h("input", { type: "search", id: "gamer-q", name: "q", value: q, autocomplete: "off",
    placeholder: "e.g. FTC_User1, 0x7889…, or a KGeN id" });
  const form = h("form", { class: "search", role: "search" },
    h("label", { for: "gamer-q" }, "User id (start of it), wallet address or KGeN id"),
    h("div", { class: "search-row" }, input, h("button", { type: "submit", class: "btn btn-primary" }, "Search")));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const value = input.value.trim();
    ctx.navigate(`${base}/gamers${value ? `?q=${encodeURIComponent(value)}` : ""}`);
  });
  view.append(heading("Gamers", `Find a gamer of ${gameName(ctx, gameId)} who wrote to support.`), form);
  input.focus();
  const list = pager(async (cursor) => {
    const page = await call(`/games/${encodeURIComponent(gameId)}/gamers`, { query: { q, limit: 25, cursor } });
    if (!page.gamers.length) {
      return { node: q ? empty(`No gamer matches “${q}”.`, "User ids match from the start and are case-sensitive; wallet addresses and KGeN ids must be complete.")
        : empty("No gamers yet.", "Gamers appear when the game's server starts their first session."), next: "" };
    }
    return { node: gamersTable(page.gamers, base, q), next: page.cursor };
  }, "Gamers");
  view.append(h("h2", { class: "sr-only" }, "Results"), h("p", { class: "muted" }, q ? `Results for “${q}”` : "Newest gamers"), list.node);
  await list.reload();
}

function gamersTable(gamers, base) {
  return table([
    { label: "User id", cell: (g) => link(`${base}/gamers/${encodeURIComponent(g.userID)}`, g.userID, { class: "strong" }) },
    { label: "Wallet", cell: (g) => h("code", { class: "small" }, g.walletAddress) },
    { label: "Balance", class: "num", cell: (g) => num(g.lazyBalance) },
    { label: "Joined", class: "nowrap", cell: (g) => when(g.createdAt) },
  ], gamers, "Gamers");
}
