// A game's dashboard: KCash issued, withdrawn and outstanding per day; claims,
// new and active gamers per day; top events; the settlement queue.

import { call } from "../api.js";
import { h, link, empty, table, select } from "../dom.js";
import { age, num, when } from "../format.js";
import { barChart, lineChart } from "../charts.js";
import { heading, gameName } from "../shell.js";

const sum = (values) => values.reduce((a, b) => a + b, 0);

/** Draws the dashboard of game `params[0]` over `query.days` (default 30). */
export async function render(view, ctx, [gameId], query) {
  const days = [7, 30, 90].includes(Number(query.days)) ? Number(query.days) : 30;
  const base = `/g/${encodeURIComponent(gameId)}`;
  const range = select([["7", "Last 7 days"], ["30", "Last 30 days"], ["90", "Last 90 days"]], String(days), {
    id: "range", onchange: (e) => ctx.navigate(`${base}?days=${e.target.value}`),
  });
  view.append(heading(gameName(ctx, gameId), "Dashboard · all times UTC",
    h("div", { class: "switcher" }, h("label", { for: "range" }, "Period"), range)));
  const loading = h("p", { class: "muted" }, "Loading…");
  view.append(loading);
  const stats = await call(`/games/${encodeURIComponent(gameId)}/stats`, { query: { days } });
  loading.remove();
  const series = (key) => stats.days.map((d) => d[key] ?? 0);
  const dates = stats.days.map((d) => d.date);

  view.append(kpis(stats, series, base));
  if (!sum(series("claims")) && !sum(series("newGamers")) && !stats.outstanding) {
    view.append(empty("No activity in this period yet.",
      "Charts fill in as soon as gamers start sessions and claim rewards. Set up rewards under Events."));
  }
  const withdrawn = series("kcashWithdrawn").map((v) => -v);
  view.append(h("div", { class: "charts" },
    barChart("KCash in and out per day", dates, [
      { name: "Event rewards", values: series("kcashRewarded"), color: 0 },
      { name: "Welcome bonuses", values: series("kcashBonus"), color: 1 },
      { name: "Adjustments", values: series("kcashAdjusted"), color: 2 },
      { name: "Withdrawn (below 0)", values: withdrawn, color: 3 },
    ], "KCash issued per day by kind above the axis, withdrawn below"),
    lineChart("Outstanding KCash at day end", dates, [{ name: "Outstanding", values: outstandingByDay(stats), color: 0 }]),
    barChart("Claims per day", dates, [{ name: "Rewarded claims", values: series("claims"), color: 0 }]),
    lineChart("Gamers per day", dates, [
      { name: "Active gamers", values: series("activeGamers"), color: 2 },
      { name: "New gamers", values: series("newGamers"), color: 1 },
    ])));
  view.append(h("p", { class: "hint" }, "Outstanding per day is worked back from today's total and each day's KCash in and out. Hover a bar or a point for its value."));
  view.append(topEvents(stats.topEvents || [], base));
}

/** Outstanding KCash at the end of each day, worked back from now. */
function outstandingByDay(stats) {
  const out = new Array(stats.days.length);
  let level = stats.outstanding ?? 0;
  for (let i = stats.days.length - 1; i >= 0; i -= 1) {
    out[i] = level;
    const d = stats.days[i];
    level -= (d.kcashRewarded ?? 0) + (d.kcashBonus ?? 0) + (d.kcashAdjusted ?? 0) - (d.kcashWithdrawn ?? 0);
  }
  return out;
}

function kpi(label, value, detail) {
  return h("div", { class: "kpi" }, h("span", { class: "kpi-label" }, label), h("span", { class: "kpi-value" }, value),
    detail ? h("span", { class: "kpi-detail" }, detail) : null);
}

function kpis(stats, series, base) {
  const issued = sum(series("kcashRewarded")) + sum(series("kcashBonus")) + sum(series("kcashAdjusted"));
  const today = stats.days[stats.days.length - 1] || {};
  const verify = stats.lastLedgerVerify;
  return h("div", { class: "kpis" },
    kpi("Outstanding KCash", num(stats.outstanding), "in gamers' wallets now"),
    kpi("KCash issued", num(issued), `withdrawn ${num(sum(series("kcashWithdrawn")))}`),
    kpi("Claims", num(sum(series("claims"))), `${num(today.claims ?? 0)} today`),
    kpi("New gamers", num(sum(series("newGamers"))), `${num(today.activeGamers ?? 0)} active today`),
    h("div", { class: `kpi ${stats.pendingWithdrawals ? "kpi-warn" : ""}` },
      h("span", { class: "kpi-label" }, "Settlement queue"),
      h("span", { class: "kpi-value" }, num(stats.pendingWithdrawals)),
      h("span", { class: "kpi-detail" }, stats.oldestPendingSeconds == null ? "none pending" : `pending, oldest ${age(stats.oldestPendingSeconds)}`,
        " · ", link(`${base}/withdrawals?status=PENDING`, "see withdrawals"))),
    verify
      ? h("div", { class: `kpi ${verify.ok ? "" : "kpi-bad"}`, title: verify.summary ?? "" },
        h("span", { class: "kpi-label" }, "Last ledger verify"), h("span", { class: "kpi-value" }, verify.ok ? "All OK" : "FAILED"),
        h("span", { class: "kpi-detail" }, when(verify.at)))
      : kpi("Last ledger verify", "—", "not run yet"));
}

function topEvents(events, base) {
  const section = h("section", { class: "panel" }, h("h2", {}, "Top events in this period"));
  if (!events.length) {
    section.append(empty("No claims in this period.", "Events appear here once gamers claim their rewards."));
    return section;
  }
  const byKcash = [...events].sort((a, b) => b.kcash - a.kcash);
  const maxClaims = Math.max(...events.map((e) => e.claims), 1);
  const rows = (list) => table([
    { label: "Event", cell: (e) => link(`${base}/events/${encodeURIComponent(e.eventID)}`, e.eventName || e.eventID) },
    { label: "Claims", class: "num", cell: (e) => h("span", { class: "meter" },
      h("span", { class: "meter-bar", style: null, dataset: { w: Math.round((e.claims / maxClaims) * 100) } }), num(e.claims)) },
    { label: "KCash paid", class: "num", cell: (e) => num(e.kcash) },
  ], list);
  section.append(h("div", { class: "two-col" },
    h("div", {}, h("h3", {}, "By claims"), rows(events)),
    h("div", {}, h("h3", {}, "By KCash"), rows(byKcash))));
  // Widths are set through CSSOM (allowed by the CSP), not style attributes.
  section.querySelectorAll(".meter-bar").forEach((bar) => { bar.style.width = `${bar.dataset.w}%`; });
  return section;
}
