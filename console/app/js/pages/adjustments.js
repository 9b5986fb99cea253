// Adjustments (admins): credit or debit a gamer's wallet with a reason. Each
// filled-in form carries its own Idempotency-Key, so a double click or a retry
// after a lost answer posts once; a changed form gets a new key.

import { call, explain, newKey } from "../api.js";
import { h, field, link, notice, replace } from "../dom.js";
import { num, signed } from "../format.js";
import { heading, gameName } from "../shell.js";

/**
 * The adjustment form. With `userID` the gamer is fixed (the gamer page);
 * `onDone(adjustment)` runs after a 201.
 */
export function adjustmentForm(ctx, gameId, userID, onDone) {
  const base = `/g/${encodeURIComponent(gameId)}`;
  const who = h("input", { name: "userID", required: true, value: userID ?? "", autocomplete: "off" });
  const credit = h("input", { type: "radio", name: "direction", value: "credit", id: `dir-credit-${userID ? "g" : "p"}`, checked: true });
  const debit = h("input", { type: "radio", name: "direction", value: "debit", id: `dir-debit-${userID ? "g" : "p"}` });
  const amount = h("input", { name: "amount", type: "number", min: 1, max: 1000000000, step: 1, required: true, inputmode: "numeric" });
  const reason = h("textarea", { name: "reason", rows: 2, required: true, maxlength: 500 });
  const status = h("div", { class: "status-slot", "aria-live": "polite" });
  const submit = h("button", { type: "submit", class: "btn btn-primary" }, "Post adjustment");
  let key = newKey();
  const form = h("form", { class: "panel form-grid adjust-form", novalidate: true },
    h("h2", { class: "span-all" }, "Adjust balance"),
    userID ? null : field("Gamer's user id", who, "Exactly as the game sends it."),
    h("fieldset", { class: "span-all radios" }, h("legend", {}, "Direction"),
      h("div", { class: "check" }, credit, h("label", { for: credit.id }, "Credit: add KCash (bonus bucket)")),
      h("div", { class: "check" }, debit, h("label", { for: debit.id }, "Debit: remove KCash (bonus first, then earned)"))),
    field("Amount (KCash)", amount),
    h("div", { class: "span-all" }, field("Reason (required, shown in the gamer's history and the audit log)", reason)),
    h("div", { class: "span-all form-actions" }, submit), h("div", { class: "span-all" }, status));
  form.addEventListener("input", () => { key = newKey(); });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const target = (userID ?? who.value).trim();
    const value = Number(amount.value);
    const bad = [];
    if (!target) bad.push("Enter the gamer's user id.");
    if (!Number.isInteger(value) || value < 1 || value > 1e9) bad.push("Amount must be a whole number from 1 to 1,000,000,000.");
    if (!reason.value.trim()) bad.push("A reason is required.");
    if (bad.length) return replace(status, notice("error", h("ul", {}, bad.map((b) => h("li", {}, b)))));
    submit.disabled = true;
    replace(status, notice("info", "Posting…"));
    try {
      const posted = await call(`/games/${encodeURIComponent(gameId)}/gamers/${encodeURIComponent(target)}/adjustments`, {
        method: "POST", headers: { "idempotency-key": key },
        body: { amount: debit.checked ? -value : value, reason: reason.value.trim() },
      });
      replace(status, notice("ok", `Posted ${signed(posted.amount)} KCash for `,
        link(`${base}/gamers/${encodeURIComponent(posted.userID)}`, posted.userID), "."));
      form.reset();
      credit.checked = true;
      if (userID) who.value = userID;
      key = newKey();
      onDone?.(posted);
    } catch (error) {
      const text = error.code === "INSUFFICIENT_BALANCE" ? "The gamer does not have that much KCash (bonus + earned): nothing was changed."
        : error.status === 404 ? `No gamer “${target}” in this game.` : explain(error);
      replace(status, notice("error", text));
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

/** The adjustments page of game `params[0]`. */
export async function render(view, ctx, [gameId]) {
  view.append(heading("Adjustments", `Fix a gamer's balance in ${gameName(ctx, gameId)}. Every adjustment is a ledger entry of its own and cannot be edited or deleted: post an opposite one to undo.`));
  if (!ctx.isAdmin) {
    view.append(notice("warn", "Adjustments need the admin role; you are signed in as a viewer. Ask an admin of this game."));
    return;
  }
  view.append(adjustmentForm(ctx, gameId, null),
    h("p", { class: "hint" }, "Tip: open the gamer from ", link(`/g/${encodeURIComponent(gameId)}/gamers`, "Gamers"),
      " to see their balance first. Amounts up to ", num(1e9), "."));
}
