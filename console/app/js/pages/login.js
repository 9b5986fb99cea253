// Sign-in: email and password. Wrong credentials and the per-email lockout
// (429 with Retry-After) each get their own message.

import { call, explain } from "../api.js";
import { h, field, notice, replace } from "../dom.js";

/** Draws the sign-in page into `root` (the whole window). */
export function render(root, ctx, message) {
  const email = h("input", { type: "email", name: "email", autocomplete: "username", required: true });
  const password = h("input", { type: "password", name: "password", autocomplete: "current-password", required: true });
  const status = h("div", { class: "status-slot" }, message ? notice("info", message) : null);
  const submit = h("button", { type: "submit", class: "btn btn-primary btn-wide" }, "Sign in");
  const form = h("form", { class: "login-form", novalidate: true },
    field("Email", email), field("Password", password), status, submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!email.value.trim() || !password.value) {
      replace(status, notice("error", "Enter your email and your password."));
      return;
    }
    submit.disabled = true;
    replace(status, notice("info", "Signing in…"));
    try {
      const session = await call("/login", { method: "POST", body: { email: email.value.trim(), password: password.value }, quiet401: true });
      await ctx.start(session);
      afterLogin(ctx);
    } catch (error) {
      replace(status, notice("error", loginError(error)));
      password.value = "";
      password.focus();
    } finally {
      submit.disabled = false;
    }
  });
  root.replaceChildren(h("main", { class: "login", id: "main" },
    h("div", { class: "login-card" },
      h("div", { class: "login-brand" }, h("img", { src: "/console/assets/icon.svg", alt: "", width: 40, height: 40 }),
        h("div", {}, h("h1", {}, "KGeN Loyalty console"), h("p", { class: "sub" }, "For the people who run a game's rewards and support."))),
      form,
      h("p", { class: "hint" }, "No account? An operator is created by your platform team with ",
        h("code", {}, "kgen-loyalty operators create"), "."))));
  document.title = "Sign in · KGeN Loyalty console";
  email.focus();
}

function loginError(error) {
  if (error.status === 401) return "Wrong email or password.";
  if (error.status === 429) {
    const minutes = error.retryAfter ? Math.max(1, Math.ceil(error.retryAfter / 60)) : 15;
    return `Too many failed sign-ins for this email. Sign-in is locked for about ${minutes} min; try again later or ask for a password reset.`;
  }
  return explain(error);
}

function afterLogin(ctx) {
  const wanted = location.hash.replace(/^#/, "");
  if (wanted && wanted !== "/login" && wanted !== "/") return ctx.navigate(wanted);
  const active = ctx.games.filter((g) => g.isActive);
  if (!ctx.isPlatformAdmin && active.length === 1) return ctx.navigate(`/g/${encodeURIComponent(active[0].clientID)}`);
  ctx.navigate("/");
}
