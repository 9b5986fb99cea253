// The frame around every page: the top bar (product, game switcher, who is
// signed in, sign out) and the navigation, which follows the current game.

import { h, link, select } from "./dom.js";

/** The navigation entries for a game, then the ones across games. */
function navItems(ctx, gameId) {
  const items = [];
  if (gameId) {
    const base = `/g/${encodeURIComponent(gameId)}`;
    items.push(["dashboard", base, "Dashboard"]);
    items.push(["events", `${base}/events`, "Events"]);
    items.push(["gamers", `${base}/gamers`, "Gamers"]);
    if (ctx.isAdmin) items.push(["adjustments", `${base}/adjustments`, "Adjustments"]);
    items.push(["withdrawals", `${base}/withdrawals`, "Withdrawals"]);
    items.push(["webhooks", `${base}/webhooks`, "Webhooks"]);
    items.push(["audit", `${base}/audit`, "Audit log"]);
  } else {
    items.push(["picker", "/", "Choose a game"]);
    items.push(["withdrawals", "/withdrawals", "Withdrawals"]);
    items.push(["audit", "/audit", "Audit log"]);
  }
  if (ctx.isPlatformAdmin) items.push(["keys", "/games", "Games & keys"]);
  return items;
}

function gameSwitcher(ctx, gameId) {
  const options = [["", "— all games —"], ...ctx.games.map((g) => [g.clientID, g.isActive ? g.name : `${g.name} (disabled)`])];
  if (gameId && !ctx.games.some((g) => g.clientID === gameId)) options.push([gameId, `${gameId} (unknown)`]);
  const control = select(options, gameId || "", {
    id: "game-switcher",
    onchange: (e) => ctx.navigate(e.target.value ? `/g/${encodeURIComponent(e.target.value)}` : "/"),
  });
  return h("div", { class: "switcher" }, h("label", { for: "game-switcher" }, "Game"), control);
}

/**
 * Draws the frame and returns the element a page fills. `section` is the nav
 * key of the page (marked as current).
 */
export function frame(root, ctx, { gameId, section }) {
  const view = h("main", { id: "main", tabindex: "-1", class: "view" });
  const skip = h("button", { type: "button", class: "skip-link", onclick: () => view.focus() }, "Skip to content");
  const who = h("div", { class: "who" },
    h("span", { class: "who-email" }, ctx.session.email),
    h("span", { class: `badge ${ctx.isAdmin ? "badge-admin" : ""}` }, ctx.isPlatformAdmin ? "platform admin" : ctx.session.role),
    h("button", { type: "button", class: "btn btn-small", onclick: ctx.logout }, "Sign out"));
  const top = h("header", { class: "topbar" },
    h("a", { class: "brand", href: "#/" }, h("img", { src: "/console/assets/icon.svg", alt: "", width: 24, height: 24 }), "KGeN Loyalty"),
    gameSwitcher(ctx, gameId), who);
  const nav = h("nav", { class: "sidenav", "aria-label": "Sections" },
    h("ul", {}, navItems(ctx, gameId).map(([key, route, label]) =>
      h("li", {}, link(route, label, key === section ? { "aria-current": "page", class: "current" } : {})))));
  root.replaceChildren(skip, top, h("div", { class: "layout" }, nav, view));
  return view;
}

/** The name of a game for headings ("Game abc…" when unknown). */
export function gameName(ctx, gameId) {
  return ctx.games.find((g) => g.clientID === gameId)?.name ?? `Game ${gameId}`;
}

/** A page heading with an optional line under it and actions on the right. */
export function heading(title, sub, ...actions) {
  return h("div", { class: "page-head" },
    h("div", {}, h("h1", {}, title), sub ? h("p", { class: "sub" }, sub) : null),
    actions.length ? h("div", { class: "actions" }, actions) : null);
}
