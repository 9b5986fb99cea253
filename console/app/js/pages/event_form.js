// Create or edit one event, every field of the contract including the claim
// policies; deactivate, delete. Viewers see the same form read-only.

import { call, explain } from "../api.js";
import { h, append, badge, button, checkbox, field, link, notice, replace, select } from "../dom.js";
import { num, when } from "../format.js";
import { heading } from "../shell.js";
import { barChart } from "../charts.js";

/** An RFC 3339 time → the value of a datetime-local input (UTC). */
const toLocalInput = (value) => (value ? new Date(value).toISOString().slice(0, 16) : "");
/** A datetime-local value (read as UTC) → RFC 3339, or null. */
const fromLocalInput = (value) => (value ? new Date(`${value}:00Z`).toISOString() : null);
const intOrNull = (input) => (input.value.trim() === "" ? null : Number(input.value));

function inputs(e) {
  const text = (name, value, attrs = {}) => h("input", { name, value: value ?? "", ...attrs });
  const int = (name, value, min) => h("input", { name, type: "number", min, step: 1, value: value ?? "", inputmode: "numeric" });
  const trace = checkbox("Needs a tracked activity before each claim", { name: "isActivityTraceEnabled", checked: !!e.isActivityTraceEnabled });
  const active = checkbox("Active (gamers can claim it)", { name: "isActive", checked: e.isActive ?? true });
  return {
    eventType: text("eventType", e.eventType, { required: true, maxlength: 128 }),
    eventName: text("eventName", e.eventName),
    eventDescription: h("textarea", { name: "eventDescription", rows: 2 }, e.eventDescription ?? ""),
    rewardAmount: int("rewardAmount", e.rewardAmount ?? 0, 0),
    rewardCategory: select([["EARNED", "Earned (withdrawable, from play)"], ["BONUS", "Bonus"]], e.rewardCategory ?? "EARNED", { name: "rewardCategory" }),
    entityType: text("entityType", e.entityType ?? "GAME"),
    entityID: text("entityID", e.entityID, { placeholder: "defaults to the game's client id" }),
    active,
    trace,
    activityTraceActivityID: text("activityTraceActivityID", e.activityTraceActivityID),
    maxClaimsPerUser: int("maxClaimsPerUser", e.maxClaimsPerUser, 1),
    claimPeriod: select([["LIFETIME", "In total (lifetime)"], ["DAILY", "Per UTC day"], ["WEEKLY", "Per ISO week"]], e.claimPeriod ?? "LIFETIME", { name: "claimPeriod" }),
    cooldownSeconds: int("cooldownSeconds", e.cooldownSeconds, 0),
    totalBudget: int("totalBudget", e.totalBudget, 0),
    startsAt: h("input", { name: "startsAt", type: "datetime-local", value: toLocalInput(e.startsAt) }),
    endsAt: h("input", { name: "endsAt", type: "datetime-local", value: toLocalInput(e.endsAt) }),
  };
}

function body(i, eventID) {
  return {
    eventID: eventID || "",
    eventType: i.eventType.value.trim(),
    eventName: i.eventName.value,
    eventDescription: i.eventDescription.value,
    rewardAmount: Number(i.rewardAmount.value),
    rewardCategory: i.rewardCategory.value,
    entityType: i.entityType.value.trim() || "GAME",
    ...(i.entityID.value.trim() ? { entityID: i.entityID.value.trim() } : {}),
    isActive: i.active.input.checked,
    isActivityTraceEnabled: i.trace.input.checked,
    activityTraceActivityID: i.activityTraceActivityID.value.trim(),
    maxClaimsPerUser: intOrNull(i.maxClaimsPerUser),
    claimPeriod: i.claimPeriod.value,
    cooldownSeconds: intOrNull(i.cooldownSeconds),
    totalBudget: intOrNull(i.totalBudget),
    startsAt: fromLocalInput(i.startsAt.value),
    endsAt: fromLocalInput(i.endsAt.value),
  };
}

function problems(b) {
  const out = [];
  if (!b.eventType) out.push("Event type is required.");
  if (!Number.isInteger(b.rewardAmount) || b.rewardAmount < 0) out.push("Reward must be a whole number of KCash, 0 or more.");
  if (b.isActivityTraceEnabled && !b.activityTraceActivityID) out.push("Give the activity id to trace, or untick “Needs a tracked activity”.");
  if (b.startsAt && b.endsAt && b.startsAt >= b.endsAt) out.push("The window must end after it starts.");
  return out;
}

function formLayout(i) {
  return [
    h("fieldset", {}, h("legend", {}, "What it is"),
      h("div", { class: "form-grid" },
        field("Event type (required)", i.eventType, "Stable key your game uses, e.g. DailyBonus."),
        field("Name shown to gamers", i.eventName),
        h("div", { class: "span-all" }, field("Description", i.eventDescription)),
        field("Reward (KCash)", i.rewardAmount), field("Wallet bucket", i.rewardCategory),
        field("Entity type", i.entityType), field("Entity id", i.entityID),
        h("div", { class: "span-all" }, i.active.node))),
    h("fieldset", {}, h("legend", {}, "Claim rules (leave empty for no limit)"),
      h("div", { class: "form-grid" },
        field("Max claims per gamer", i.maxClaimsPerUser), field("Counted", i.claimPeriod, "Only used with a max."),
        field("Cooldown between claims (seconds)", i.cooldownSeconds), field("Total budget (KCash)", i.totalBudget, "The most this event pays out in all."),
        field("Opens at (UTC)", i.startsAt), field("Closes at (UTC, exclusive)", i.endsAt),
        h("div", { class: "span-all" }, i.trace.node), field("Activity id to trace", i.activityTraceActivityID))),
  ];
}

/** New event (`params[1]` absent) or the event `params[1]` of game `params[0]`. */
export async function render(view, ctx, [gameId, eventID]) {
  const base = `/g/${encodeURIComponent(gameId)}`;
  const path = `/games/${encodeURIComponent(gameId)}/events`;
  const event = eventID ? await call(`${path}/${encodeURIComponent(eventID)}`) : {};
  const i = inputs(event);
  const status = h("div", { class: "status-slot", "aria-live": "polite" });
  const save = h("button", { type: "submit", class: "btn btn-primary" }, eventID ? "Save changes" : "Create event");
  const fields = h("fieldset", { class: "plain", disabled: !ctx.isAdmin }, formLayout(i));
  const form = h("form", { class: "panel event-form", novalidate: true }, fields,
    ctx.isAdmin ? h("div", { class: "form-actions" }, save, link(`${base}/events`, "Cancel", { class: "btn" })) : null, status);
  const put = async (payload, done) => {
    const bad = problems(payload);
    if (bad.length) return replace(status, notice("error", h("ul", {}, bad.map((p) => h("li", {}, p)))));
    save.disabled = true;
    try {
      const saved = await call(path, { method: "PUT", body: payload });
      done(saved);
    } catch (error) {
      replace(status, notice("error", error.code === "BUDGET_EXHAUSTED" ? "The budget cannot be set below what this event has already paid out." : explain(error)));
    } finally {
      save.disabled = false;
    }
  };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    put(body(i, eventID), (saved) => {
      sessionStorage.setItem("flash", eventID ? "Event saved." : "Event created.");
      if (eventID) ctx.navigate(`${base}/events/${encodeURIComponent(saved.eventID)}`);
      else location.hash = `${base}/events/${encodeURIComponent(saved.eventID)}`;
    });
  });
  const title = eventID ? event.eventName || event.eventType : "New event";
  view.append(heading(title, eventID ? h("span", {}, event.isActive ? badge("active", "ok") : badge("inactive", "muted"), " ", h("code", {}, event.eventID)) : "Set what the gamer gets and, optionally, limits.",
    link(`${base}/events`, "← All events", { class: "btn" })));
  const flash = sessionStorage.getItem("flash");
  if (flash) { sessionStorage.removeItem("flash"); view.append(notice("ok", flash)); }
  if (!ctx.isAdmin) view.append(notice("info", "You can look but not change: your role is viewer."));
  const stats = eventID ? await eventStats(gameId, eventID) : null;
  if (eventID) append(view, [facts(event, stats), claimsChart(stats)]);
  view.append(form);
  if (eventID && ctx.isAdmin) view.append(dangerZone(ctx, event, i, put, path, base));
}

/** The event's claims per day over 30 days and its budget used; null if unavailable. */
async function eventStats(gameId, eventID) {
  try {
    return await call(`/games/${encodeURIComponent(gameId)}/events/${encodeURIComponent(eventID)}/stats`, { query: { days: 30 } });
  } catch {
    return null;
  }
}

function facts(e, stats) {
  const used = e.paidOut ?? stats?.paidOut ?? undefined;
  return h("dl", { class: "facts" },
    h("div", {}, h("dt", {}, "Created"), h("dd", {}, when(e.createdAt))),
    h("div", {}, h("dt", {}, "Updated"), h("dd", {}, when(e.updatedAt))),
    h("div", {}, h("dt", {}, "Budget"), h("dd", {}, e.totalBudget == null ? "unlimited" : `${num(e.totalBudget)} KCash`)),
    used !== undefined && used !== null && e.totalBudget ? h("div", {}, h("dt", {}, "Budget used"),
      h("dd", {}, `${num(used)} of ${num(e.totalBudget)} KCash (${Math.round((used / e.totalBudget) * 100)} %)`)) : null,
    stats ? h("div", {}, h("dt", {}, "Last 30 days"), h("dd", {}, claimsText(stats.days))) : null);
}

function claimsText(days) {
  const claims = days.reduce((sum, d) => sum + d.claims, 0);
  const kcash = days.reduce((sum, d) => sum + d.kcash, 0);
  return `${num(claims)} ${claims === 1 ? "claim" : "claims"} · ${num(kcash)} KCash paid`;
}

function claimsChart(stats) {
  if (!stats) return null;
  return h("div", { class: "event-chart" }, barChart("Claims per day (last 30 days)", stats.days.map((d) => d.date),
    [{ name: "Claims", values: stats.days.map((d) => d.claims), color: 0 }]));
}

function dangerZone(ctx, event, i, put, path, base) {
  const slot = h("div", { class: "row-actions" });
  const reset = () => replace(slot,
    event.isActive ? button("Deactivate", () => put({ ...body(i, event.eventID), isActive: false }, () => {
      sessionStorage.setItem("flash", "Event deactivated: gamers can no longer claim it.");
      ctx.navigate(`${base}/events/${encodeURIComponent(event.eventID)}`);
    })) : null,
    button("Delete event…", () => replace(slot,
      h("span", {}, "Delete for good? Rewards already paid stay in gamers' histories."),
      button("Yes, delete", async () => {
        try {
          await call(`${path}/${encodeURIComponent(event.eventID)}`, { method: "DELETE" });
          ctx.navigate(`${base}/events`);
        } catch (error) {
          replace(slot, notice("error", explain(error)));
        }
      }, "danger"), button("Cancel", reset)), "danger"));
  reset();
  return h("section", { class: "panel danger" }, h("h2", {}, "Stop or remove"), slot);
}
