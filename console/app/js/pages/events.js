// A game's rewardable events: filter by state, page through, open one to edit.

import { call } from "../api.js";
import { h, badge, empty, link, replace, select, table, button } from "../dom.js";
import { num, when } from "../format.js";
import { heading, gameName } from "../shell.js";

/** Describes an event's claim rules in a few words. */
export function rulesSummary(e) {
  const parts = [];
  if (e.maxClaimsPerUser) parts.push(`${e.maxClaimsPerUser}× per gamer${e.claimPeriod && e.claimPeriod !== "LIFETIME" ? ` ${e.claimPeriod.toLowerCase()}` : ""}`);
  if (e.cooldownSeconds) parts.push(`cooldown ${e.cooldownSeconds} s`);
  if (e.totalBudget !== null && e.totalBudget !== undefined) parts.push(`budget ${num(e.totalBudget)}`);
  if (e.startsAt || e.endsAt) parts.push("time window");
  if (e.isActivityTraceEnabled) parts.push("needs trace");
  return parts.length ? parts.join(" · ") : "unlimited";
}

/** The list of events of game `params[0]`; `query.isActive` filters. */
export async function render(view, ctx, [gameId], query) {
  const base = `/g/${encodeURIComponent(gameId)}`;
  const filter = ["true", "false"].includes(query.isActive) ? query.isActive : "";
  const state = select([["", "All events"], ["true", "Active only"], ["false", "Inactive only"]], filter, {
    id: "event-filter", onchange: (e) => ctx.navigate(`${base}/events${e.target.value ? `?isActive=${e.target.value}` : ""}`),
  });
  const search = h("input", { type: "search", id: "event-search", placeholder: "Filter this page by name or type" });
  view.append(heading("Events", `What gamers of ${gameName(ctx, gameId)} are rewarded for.`,
    ctx.isAdmin ? link(`${base}/events/new`, "New event", { class: "btn btn-primary" }) : null));
  view.append(h("div", { class: "filters" },
    h("div", { class: "switcher" }, h("label", { for: "event-filter" }, "Show"), state),
    h("div", { class: "switcher grow" }, h("label", { for: "event-search" }, "Find"), search)));
  const list = h("div");
  const more = h("div", { class: "pager" });
  view.append(list, more);
  const loaded = [];
  const draw = () => {
    const needle = search.value.trim().toLowerCase();
    const shown = loaded.filter((e) => !needle || `${e.eventName} ${e.eventType}`.toLowerCase().includes(needle));
    if (!loaded.length) {
      list.replaceChildren(empty("No events here yet.", ctx.isAdmin ? "Create one with “New event”: give it a type and a reward." : "An admin of this game can create events."));
      return;
    }
    list.replaceChildren(shown.length ? eventsTable(shown, base) : empty("No event on this page matches.", "Clear the filter or load more."));
  };
  search.addEventListener("input", draw);
  const load = async (cursor) => {
    const page = await call(`/games/${encodeURIComponent(gameId)}/events`, { query: { isActive: filter, limit: 50, cursor } });
    const events = page.rewardableEvents ?? page.events ?? [];
    loaded.push(...events);
    draw();
    const next = page.cursor ?? page.offset ?? "";
    replace(more, next ? button("Load more events", () => load(next)) : null);
  };
  await load("");
}

function eventsTable(events, base) {
  return table([
    { label: "Event", cell: (e) => h("div", {}, link(`${base}/events/${encodeURIComponent(e.eventID)}`, e.eventName || e.eventType, { class: "strong" }),
      h("div", { class: "muted small" }, e.eventType)) },
    { label: "Reward", class: "num", cell: (e) => `${num(e.rewardAmount)} ${e.rewardCategory === "BONUS" ? "bonus" : "earned"}` },
    { label: "Rules", cell: rulesSummary },
    { label: "State", cell: (e) => e.isActive ? badge("active", "ok") : badge("inactive", "muted") },
    { label: "Updated", class: "nowrap", cell: (e) => when(e.updatedAt) },
  ], events, "Events");
}
