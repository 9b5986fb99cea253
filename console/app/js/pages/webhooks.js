// A game's webhook endpoints, each with its latest deliveries: whether the game's
// server is receiving what it subscribed to, and why not when it is not.

import { call } from "../api.js";
import { h, badge, empty, table } from "../dom.js";
import { when } from "../format.js";
import { heading, gameName } from "../shell.js";

const TONES = { SUCCEEDED: "ok", PENDING: "warn", FAILED: "bad" };

/** What the last attempt of a delivery came to, in words. */
function lastAttempt(d) {
  const last = d.attempts[d.attempts.length - 1];
  if (!last) return "not attempted yet";
  const what = last.statusCode ? `HTTP ${last.statusCode}` : (last.error || "no answer");
  return `${what} · ${last.durationMs} ms · ${when(last.at)}`;
}

/** The endpoints of game `params[0]`. */
export async function render(view, ctx, [gameId]) {
  view.append(heading("Webhooks", `Where ${gameName(ctx, gameId)}'s server is told about rewards, bonuses, withdrawals and phone links.`));
  const page = await call(`/games/${encodeURIComponent(gameId)}/webhooks`);
  if (!page.webhooks.length) {
    view.append(empty("No webhook endpoints.", "The game's server registers them with POST /s2s/webhooks."));
    return;
  }
  for (const w of page.webhooks) {
    const state = w.isActive ? badge("active", "ok") : badge("disabled", "bad");
    const deliveries = w.recent.length
      ? table([
        { label: "Event", cell: (d) => h("div", {}, h("div", { class: "strong" }, d.type), h("div", { class: "muted small" }, d.eventID)) },
        { label: "Status", cell: (d) => badge(d.status.toLowerCase(), TONES[d.status] || "") },
        { label: "Attempts", class: "num", cell: (d) => String(d.attempts.length) },
        { label: "Last attempt", cell: lastAttempt },
        { label: "Next attempt", class: "nowrap", cell: (d) => (d.nextAttemptAt ? when(d.nextAttemptAt) : "—") },
        { label: "Created", class: "nowrap", cell: (d) => when(d.createdAt) },
      ], w.recent, `Recent deliveries to ${w.url}`)
      : empty("No deliveries yet.", "Events this endpoint subscribes to will show here.");
    view.append(h("section", { class: "card webhook" },
      h("h2", {}, w.url, " ", state),
      h("p", { class: "muted small" }, `Subscribed to ${w.eventTypes.join(", ")}${w.description ? ` · ${w.description}` : ""}`),
      deliveries));
  }
}
