// Starts the console: restores the session (or shows the sign-in page), loads
// the operator's games, and routes `#/…` addresses to pages.

import { call, onUnauthorized, setCsrf, explain } from "./api.js";
import { h, notice } from "./dom.js";
import { frame } from "./shell.js";
import * as login from "./pages/login.js";
import * as games from "./pages/games.js";
import * as dashboard from "./pages/dashboard.js";
import * as events from "./pages/events.js";
import * as eventForm from "./pages/event_form.js";
import * as gamers from "./pages/gamers.js";
import * as gamer from "./pages/gamer.js";
import * as adjustments from "./pages/adjustments.js";
import * as withdrawals from "./pages/withdrawals.js";
import * as audit from "./pages/audit.js";
import * as webhooks from "./pages/webhooks.js";

const root = document.getElementById("app");

/** Pages by route: [pattern, page module, nav section, title]. */
const ROUTES = [
  [/^\/$/, games.picker, "picker", "Games"],
  [/^\/games$/, games.keys, "keys", "Games & keys"],
  [/^\/withdrawals$/, withdrawals.render, "withdrawals", "Withdrawals"],
  [/^\/audit$/, audit.render, "audit", "Audit log"],
  [/^\/g\/([^/]+)$/, dashboard.render, "dashboard", "Dashboard"],
  [/^\/g\/([^/]+)\/events$/, events.render, "events", "Events"],
  [/^\/g\/([^/]+)\/events\/new$/, eventForm.render, "events", "New event"],
  [/^\/g\/([^/]+)\/events\/([^/]+)$/, eventForm.render, "events", "Event"],
  [/^\/g\/([^/]+)\/gamers$/, gamers.render, "gamers", "Gamers"],
  [/^\/g\/([^/]+)\/gamers\/([^/]+)$/, gamer.render, "gamers", "Gamer"],
  [/^\/g\/([^/]+)\/adjustments$/, adjustments.render, "adjustments", "Adjustments"],
  [/^\/g\/([^/]+)\/withdrawals$/, withdrawals.render, "withdrawals", "Withdrawals"],
  [/^\/g\/([^/]+)\/audit$/, audit.render, "audit", "Audit log"],
  [/^\/g\/([^/]+)\/webhooks$/, webhooks.render, "webhooks", "Webhooks"],
];

const ctx = {
  session: null,
  games: [],
  isAdmin: false,
  isPlatformAdmin: false,
  /** Goes to a route ("/g/…"); same route → renders again. */
  navigate(route) {
    if (location.hash === `#${route}`) route_();
    else location.hash = route;
  },
  /** Signs in with a session object from login or /session. */
  async start(session) {
    ctx.session = session;
    ctx.isAdmin = session.role === "admin";
    ctx.isPlatformAdmin = ctx.isAdmin && session.clients.length === 0;
    setCsrf(session.csrfToken);
    ctx.games = (await call("/games")).games;
  },
  async reloadGames() {
    ctx.games = (await call("/games")).games;
  },
  logout: async () => {
    try {
      await call("/logout", { method: "POST" });
    } catch {
      // Already signed out on the server: the page below says so either way.
    }
    signedOut("You are signed out.");
  },
};

function signedOut(message) {
  ctx.session = null;
  setCsrf("");
  if (location.hash !== "#/login") history.replaceState(null, "", "#/login");
  login.render(root, ctx, message);
}

onUnauthorized(() => {
  if (ctx.session) signedOut("Your session ended (signed out, expired, or disabled). Please sign in again.");
});

function parse() {
  const raw = decodeURI(location.hash.replace(/^#/, "")) || "/";
  const [path, search = ""] = raw.split("?");
  return { path: path || "/", query: Object.fromEntries(new URLSearchParams(search)) };
}

async function route_() {
  const { path, query } = parse();
  if (!ctx.session || path === "/login") {
    if (ctx.session && path === "/login") return ctx.navigate("/");
    return login.render(root, ctx);
  }
  for (const [pattern, page, section, title] of ROUTES) {
    const match = path.match(pattern);
    if (!match) continue;
    const params = match.slice(1).map(decodeURIComponent);
    const gameId = path.startsWith("/g/") ? params[0] : null;
    const view = frame(root, ctx, { gameId, section });
    document.title = `${title} · KGeN Loyalty console`;
    try {
      await page(view, ctx, params, query);
    } catch (error) {
      if (view.isConnected) view.replaceChildren(notice("error", explain(error)));
    }
    return;
  }
  const view = frame(root, ctx, { section: "" });
  view.append(h("h1", {}, "Page not found"), h("p", {}, "This address is not a page of the console. "), h("a", { href: "#/" }, "Go to your games"));
}

window.addEventListener("hashchange", route_);

async function boot() {
  try {
    const session = await call("/session", { quiet401: true });
    await ctx.start(session);
  } catch (error) {
    if (error.status !== 401) {
      root.replaceChildren(notice("error", explain(error)));
      return;
    }
  }
  route_();
}

boot();

export { ctx };
