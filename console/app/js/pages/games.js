// The game picker (every operator) and "Games & keys" (platform admins):
// create a game client, rotate its secret (shown once), disable it.

import { call, explain } from "../api.js";
import { h, button, empty, field, link, notice, replace, table, badge } from "../dom.js";
import { heading } from "../shell.js";

/** The operator's games, each a link to its dashboard. */
export async function picker(view, ctx) {
  await ctx.reloadGames();
  view.append(heading("Your games", "Pick a game to see its dashboard, events, gamers and withdrawals."));
  if (!ctx.games.length) {
    view.append(empty("No games yet.", ctx.isPlatformAdmin
      ? h("span", {}, "Create the first one in ", link("/games", "Games & keys"), ".")
      : "Ask your platform team to give your operator access to a game."));
    return;
  }
  view.append(h("ul", { class: "cards" }, ctx.games.map((g) =>
    h("li", {}, h("a", { class: "card card-link", href: `#/g/${encodeURIComponent(g.clientID)}` },
      h("span", { class: "card-title" }, g.name),
      h("code", { class: "muted" }, g.clientID),
      g.isActive ? badge("active", "ok") : badge("disabled", "bad"))))));
}

/** Platform admins: every game client and its keys. */
export async function keys(view, ctx) {
  view.append(heading("Games & keys", "Each game is a client of the API with its own id and secret (what the game's server sends as x-client-id / x-client-secret)."));
  if (!ctx.isPlatformAdmin) {
    view.append(notice("warn", "Only platform admins (admins without a game scope) manage games and keys."));
    return;
  }
  const secretSlot = h("div", { "aria-live": "polite" });
  const list = h("div");
  const refresh = async () => {
    await ctx.reloadGames();
    replace(list, gamesTable(ctx, secretSlot, refresh));
  };
  view.append(secretSlot, createForm(secretSlot, refresh), h("h2", {}, "All games"), list);
  await refresh();
}

function showSecret(slot, title, clientID, secret) {
  const copy = button("Copy secret", async () => {
    await navigator.clipboard?.writeText(secret).catch(() => {});
    copy.textContent = "Copied";
  });
  replace(slot, notice("ok", h("strong", {}, title),
    h("p", {}, "Copy the secret now: it is shown only once and stored only as a hash."),
    h("dl", { class: "kv" }, h("dt", {}, "Client id"), h("dd", {}, h("code", { class: "secret" }, clientID)),
      h("dt", {}, "Client secret"), h("dd", {}, h("code", { class: "secret", "data-testid": "client-secret" }, secret))),
    copy));
  slot.scrollIntoView({ block: "nearest" });
}

function createForm(secretSlot, refresh) {
  const name = h("input", { name: "name", required: true, maxlength: 128 });
  const bonus = h("input", { name: "welcomeBonus", type: "number", min: 0, step: 1, value: 50 });
  const minWithdraw = h("input", { name: "minWithdraw", type: "number", min: 0, step: 1, value: 300 });
  const status = h("div");
  const form = h("form", { class: "panel form-grid" },
    h("h2", { class: "span-all" }, "New game"),
    field("Name", name), field("Welcome bonus (KCash)", bonus, "Credited once to each new gamer."),
    field("Minimum withdrawal (KCash)", minWithdraw),
    h("div", { class: "span-all form-actions" }, h("button", { type: "submit", class: "btn btn-primary" }, "Create game"), status));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!name.value.trim()) return replace(status, notice("error", "Give the game a name."));
    try {
      const created = await call("/games", { method: "POST", body: { name: name.value.trim(), welcomeBonus: Number(bonus.value), minWithdraw: Number(minWithdraw.value) } });
      showSecret(secretSlot, `Game “${created.name}” created.`, created.clientID, created.clientSecret);
      replace(status);
      form.reset();
      await refresh();
    } catch (error) {
      replace(status, notice("error", explain(error)));
    }
  });
  return form;
}

function gamesTable(ctx, secretSlot, refresh) {
  if (!ctx.games.length) return empty("No games yet.", "Create one with the form above.");
  const act = (g) => {
    const cell = h("div", { class: "row-actions" });
    const confirmThen = (question, label, run) => () => replace(cell, h("span", {}, question),
      button(label, async () => {
        try { await run(); } catch (error) { replace(cell, notice("error", explain(error))); }
      }, "danger"), button("Cancel", () => refresh()));
    cell.append(
      button("Rotate secret", confirmThen("The old secret stops working at once.", "Rotate now", async () => {
        const rotated = await call(`/games/${encodeURIComponent(g.clientID)}/rotate-secret`, { method: "POST" });
        showSecret(secretSlot, `New secret for “${g.name}”.`, rotated.clientID, rotated.clientSecret);
        await refresh();
      }), "", { "aria-label": `Rotate secret of ${g.name}` }),
      g.isActive ? button("Disable", confirmThen("Its server and gamers' tokens stop working.", "Disable now", async () => {
        await call(`/games/${encodeURIComponent(g.clientID)}/disable`, { method: "POST" });
        await refresh();
      }), "danger", { "aria-label": `Disable ${g.name}` }) : null);
    return cell;
  };
  return table([
    { label: "Name", cell: (g) => link(`/g/${encodeURIComponent(g.clientID)}`, g.name) },
    { label: "Client id", cell: (g) => h("code", {}, g.clientID) },
    { label: "Status", cell: (g) => g.isActive ? badge("active", "ok") : badge("disabled", "bad") },
    { label: "Actions", cell: act },
  ], ctx.games, "Games");
}
