// One gamer: balances, profile, linked phone (masked), sessions with "revoke
// all", the ledger history (paged), and adjustments for admins.

import { call, explain } from "../api.js";
import { h, badge, button, empty, link, notice, pager, replace, table } from "../dom.js";
import { num, when } from "../format.js";
import { heading } from "../shell.js";
import { adjustmentForm } from "./adjustments.js";

const TYPE_LABEL = { WELCOME_BONUS: "Welcome bonus", EVENT_REWARD: "Event reward", WITHDRAW: "Withdrawal", ADJUSTMENT: "Adjustment" };
const STATUS_TONE = { COMPLETED: "ok", PENDING: "warn", FAILED: "bad" };

/** The page of gamer `params[1]` of game `params[0]`. */
export async function render(view, ctx, [gameId, userID]) {
  const base = `/g/${encodeURIComponent(gameId)}`;
  const path = `/games/${encodeURIComponent(gameId)}/gamers/${encodeURIComponent(userID)}`;
  let gamer;
  try {
    gamer = await call(path);
  } catch (error) {
    view.append(heading("Gamer not found", null, link(`${base}/gamers`, "← Search gamers", { class: "btn" })),
      notice("error", error.status === 404 ? `There is no gamer “${userID}” in this game (or this game is not one of yours).` : explain(error)));
    return;
  }
  const summary = h("div");
  const history = pager(async (cursor) => {
    const page = await call(`${path}/transactions`, { query: { limit: 20, cursor } });
    return { node: page.transactions.length ? transactions(page.transactions) : empty("No transactions yet."), next: page.cursor };
  }, "History");
  const refresh = async () => {
    gamer = await call(path);
    draw();
    await history.reload();
  };
  const adjust = ctx.isAdmin ? adjustmentForm(ctx, gameId, gamer.userID, () => refresh()) : null;
  const identity = h("div");
  const side = h("div", { class: "stack" });
  const draw = () => {
    replace(summary, balances(gamer.balance || {}));
    replace(identity, identityPanel(gamer));
    replace(side, sessions(ctx, gamer, path, refresh), adjust);
  };
  draw();
  view.append(heading(gamer.userID, h("span", {}, "Gamer since ", when(gamer.createdAt)), link(`${base}/gamers`, "← Search gamers", { class: "btn" })),
    summary,
    h("div", { class: "main-side" },
      h("div", { class: "stack" }, identity,
        h("section", { class: "panel" }, h("h2", {}, "History"), h("p", { class: "hint" }, "Every ledger entry of this wallet, newest first: rewards, bonuses, withdrawals and adjustments."), history.node)),
      side));
  await history.reload();
}

function balances(b) {
  const card = (label, value, note) => h("div", { class: "kpi" }, h("span", { class: "kpi-label" }, label), h("span", { class: "kpi-value" }, num(value)), note ? h("span", { class: "kpi-detail" }, note) : null);
  return h("div", { class: "kpis" },
    card("Total balance", b.lazy_balance, b.lazy_balance_delta ? `${num(-b.lazy_balance_delta)} in pending withdrawals` : "all settled"),
    card("Earned", b.earned_balance), card("Bonus", b.bonus_balance), card("Bought", b.bought_balance),
    card("Min. to withdraw", b.minWalletBalToWithdraw, b.wallet_transaction_error ? "a transaction FAILED" : null));
}

/** Profile fields worth a label of their own; others show their key. */
const PROFILE_LABELS = { name: "Name", username: "Username", email: "Email", phonenumber: "Phone (profile)", os_name: "OS", os_version: "OS version", app_version: "App version", device_model: "Device", playertag: "Player tag", date_joined: "Joined (game)" };

function identityPanel(g) {
  const profile = Object.entries(g.profile || {}).filter(([, v]) => v !== "" && v !== null && v !== 0 && v !== undefined);
  return h("section", { class: "panel" }, h("h2", {}, "Identity"),
    h("dl", { class: "kv" },
      h("dt", {}, "User ID"), h("dd", {}, g.userID),
      h("dt", {}, "Wallet"), h("dd", {}, h("code", {}, g.walletAddress)),
      h("dt", {}, "Linked phone"), h("dd", {}, g.linkedPhone || "not linked"),
      h("dt", {}, "KGeN ID"), h("dd", {}, g.kgenID ? h("code", {}, g.kgenID) : "—"),
      profile.map(([k, v]) => [h("dt", {}, PROFILE_LABELS[k] ?? k[0].toUpperCase() + k.slice(1).replace(/_/g, " ")), h("dd", {}, String(v))])));
}

/** Shown once in the next drawn sessions panel (after a revocation). */
let sessionsFlash = "";

function sessions(ctx, g, path, refresh) {
  const active = g.sessions?.active ?? 0;
  const flash = sessionsFlash ? notice("ok", sessionsFlash) : null;
  sessionsFlash = "";
  const slot = h("div", { class: "row-actions" });
  const section = h("section", { class: "panel" }, h("h2", {}, "Sessions"),
    h("p", {}, h("strong", { "data-testid": "active-sessions" }, num(active)), active === 1 ? " active session" : " active sessions"),
    h("p", { class: "hint" }, "Revoking signs the gamer out of every device at once; they can start a new session in the game."), flash, slot);
  const reset = () => replace(slot, ctx.isAdmin
    ? button("Revoke all sessions…", () => replace(slot, h("span", {}, `Sign ${g.userID} out everywhere?`),
      button("Yes, revoke all", async () => {
        try {
          await call(`${path}/sessions/revoke`, { method: "POST" });
          sessionsFlash = "All sessions revoked: the gamer is signed out everywhere.";
          await refresh();
        } catch (error) {
          replace(slot, notice("error", explain(error)));
        }
      }, "danger"), button("Cancel", reset)), "danger")
    : h("span", { class: "muted" }, "Only admins can revoke sessions."));
  reset();
  return section;
}

function transactions(list) {
  return table([
    { label: "When", class: "nowrap", cell: (t) => when(t.created_at) },
    { label: "What", cell: (t) => h("div", {}, h("span", { class: "strong" }, TYPE_LABEL[t.description?.type] ?? t.description?.type ?? "—"),
      h("div", { class: "muted small" }, t.description?.platformProtocolsTxnName || "", t.description?.platformProtocolsTxnDescription ? ` · ${t.description.platformProtocolsTxnDescription}` : "")) },
    { label: "Amount", class: "num", cell: (t) => {
      const credit = t.description?.platformProtocolsTxnType === "CREDIT";
      return h("span", { class: credit ? "credit" : "debit" }, `${credit ? "+" : "−"}${num(t.amount)}`);
    } },
    { label: "Status", cell: (t) => badge(t.sync_status, STATUS_TONE[t.sync_status]) },
    { label: "Id", class: "nowrap", cell: (t) => h("code", { class: "small", title: t.uid }, `${t.uid.slice(0, 8)}…`) },
  ], list, "Transactions");
}
