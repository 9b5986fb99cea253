// The studio console in a real browser (Debian's chromium) against the real
// binary: sign-in, the dashboard, events, gamers, adjustments, session
// revocation, roles and game scoping, XSS-safe rendering, and /docs.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SCREENSHOTS, api, openBrowser, seedGame, signIn, startServer } from "./harness.mjs";

const XSS = "<img src=x onerror=window.__xss=1>";
let server;
let gameA;
let gameB;
let admin;
let viewer;
let platform;

before(async () => {
  server = await startServer();
  gameA = await seedGame(server, "Callbreak Clash", {
    events: [
      { eventType: "DailyBonus", eventName: "Unlocking the daily gift", rewardAmount: 100 },
      { eventType: "BattlePassTier5", eventName: "Battle pass tier 5", rewardAmount: 500, rewardCategory: "BONUS" },
      { eventType: "Xss", eventName: XSS, rewardAmount: 5 },
    ],
    gamers: ["FTC_User1", "FTC_User2", "player_7", XSS],
    claims: [["FTC_User1", "DailyBonus"], ["FTC_User1", "BattlePassTier5"], ["FTC_User2", "DailyBonus"],
      ["player_7", "DailyBonus"], ["player_7", "Xss"]],
  });
  gameB = await seedGame(server, "Ludo Legends", { gamers: ["ludo_secret_player"] });
  admin = server.cli("operators", "create", "--email", "ops@callbreak.example", "--role", "admin", "--client", gameA.clientID);
  viewer = server.cli("operators", "create", "--email", "support@callbreak.example", "--role", "viewer", "--client", gameA.clientID);
  platform = server.cli("operators", "create", "--email", "platform@kgen.example", "--role", "admin");
});

after(async () => {
  await server?.stop();
});

/** Runs `body(page)` in a fresh browser and fails on any script error of the page. */
async function inBrowser(body, size) {
  const browser = await openBrowser(size);
  try {
    await body(browser.page);
    assert.deepEqual(browser.problems, [], "the page logged no script error");
  } finally {
    await browser.close();
  }
}

const gamerUrl = (game, userID) => `${server.base}/console/#/g/${encodeURIComponent(game.clientID)}/gamers/${encodeURIComponent(userID)}`;

test("an operator is refused with a message for a wrong password, then signs in to their game's dashboard", async () => {
  await inBrowser(async (page) => {
    // Act
    await signIn(page, server.base, admin.email, "not-the-password");

    // Assert
    await page.getByText("Wrong email or password.").waitFor();
    await page.getByLabel("Password").fill(admin.password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Callbreak Clash" }).waitFor();
    await page.getByText("KCash in and out per day").waitFor();
  });
});

test("after five wrong passwords the sign-in page says the email is locked for a while", async () => {
  await inBrowser(async (page) => {
    // Arrange: five failures for one email (throttling counts per email, known or not)
    await page.goto(`${server.base}/console/`);
    for (let attempt = 0; attempt < 5; attempt += 1) {
      await page.getByLabel("Email").fill("locked@callbreak.example");
      await page.getByLabel("Password").fill(`wrong-${attempt}`);
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.getByText("Wrong email or password.").waitFor();
      await page.getByRole("button", { name: "Sign in" }).and(page.locator(":enabled")).waitFor();
    }

    // Act
    await page.getByLabel("Password").fill("wrong-again");
    await page.getByRole("button", { name: "Sign in" }).click();

    // Assert
    await page.getByText("Too many failed sign-ins for this email").waitFor();
  });
});

test("the dashboard shows the seeded claims, KCash, gamers and top events", async () => {
  await inBrowser(async (page) => {
    // Act
    await signIn(page, server.base, admin.email, admin.password);
    await page.getByText("KCash in and out per day").waitFor();

    // Assert
    const kpi = (label) => page.locator(".kpi", { hasText: label }).locator(".kpi-value").textContent();
    assert.equal(await kpi("Claims"), "5", "five claims were seeded");
    assert.equal(await kpi("New gamers"), "4", "four gamers were seeded");
    assert.equal(await kpi("Outstanding KCash"), "1,005", "4 welcome bonuses of 50 plus 805 of rewards");
    assert.ok(await page.locator("svg.chart rect.bar").count() > 0, "the charts have bars");
    await page.getByRole("link", { name: "Unlocking the daily gift" }).first().waitFor();
    mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: join(SCREENSHOTS, "dashboard.png") });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: join(tmpdir(), "kgen-console-dashboard-phone.png"), fullPage: true });
  });
});

test("an admin creates an event with claim rules, edits it, deactivates it and deletes it", async () => {
  await inBrowser(async (page) => {
    // Arrange
    await signIn(page, server.base, admin.email, admin.password);
    await page.getByRole("link", { name: "Events", exact: true }).click();
    await page.getByRole("link", { name: "New event" }).click();

    // Act: create
    await page.getByLabel("Event type (required)").fill("WeeklyQuest");
    await page.getByLabel("Name shown to gamers").fill("Weekly quest");
    await page.getByLabel("Reward (KCash)").fill("250");
    await page.getByLabel("Max claims per gamer").fill("1");
    await page.getByLabel("Counted").selectOption("WEEKLY");
    await page.getByLabel("Total budget (KCash)").fill("10000");
    await page.getByRole("button", { name: "Create event" }).click();
    await page.getByText("Event created.").waitFor();

    // Act: edit
    await page.getByLabel("Reward (KCash)").fill("300");
    await page.getByLabel("Name shown to gamers").fill("Weekly quest (season 2)");
    await page.getByRole("button", { name: "Save changes" }).click();
    await page.getByText("Event saved.").waitFor();
    await page.getByText("0 of 10,000 KCash (0 %)").waitFor();

    // Assert: what the game's server now reads
    const list = await api(server.base, "GET", "/s2s/loyalty/rewardable-events", { headers: gameA.s2s });
    const event = list.body.rewardableEvents.find((e) => e.eventType === "WeeklyQuest");
    assert.equal(event.eventName, "Weekly quest (season 2)");
    assert.equal(event.rewardAmount, 300);
    assert.equal(event.maxClaimsPerUser, 1);
    assert.equal(event.claimPeriod, "WEEKLY");
    assert.equal(event.totalBudget, 10000);

    // Act: deactivate, then delete
    await page.getByRole("button", { name: "Deactivate" }).click();
    await page.getByText("Event deactivated").waitFor();
    const read = () => api(server.base, "GET", `/s2s/loyalty/rewardable-events/${event.eventID}`, { headers: gameA.s2s });
    assert.equal((await read()).body.isActive, false, "deactivated");
    await page.getByRole("button", { name: "Delete event…" }).click();
    await page.getByRole("button", { name: "Yes, delete" }).click();
    await page.getByRole("heading", { name: "Events" }).waitFor();

    // Assert
    assert.equal((await read()).status, 404, "deleted");
    assert.equal(await page.getByRole("link", { name: /Weekly quest/ }).count(), 0, "gone from the list");
  });
});

test("support finds a gamer by the start of the user id and opens the gamer page", async () => {
  await inBrowser(async (page) => {
    // Arrange
    await signIn(page, server.base, viewer.email, viewer.password);
    await page.getByRole("link", { name: "Gamers", exact: true }).click();

    // Act
    await page.getByLabel(/User id/).fill("FTC_");
    await page.getByRole("button", { name: "Search" }).click();

    // Assert: the unfiltered list may still be on screen when the search is sent
    // (it lists FTC_User2 too), so wait for player_7 to leave before counting.
    await page.getByRole("link", { name: "FTC_User2" }).waitFor();
    await page.getByRole("link", { name: "player_7" }).waitFor({ state: "detached" });
    assert.equal(await page.getByRole("link", { name: "player_7" }).count(), 0, "player_7 does not start with FTC_");
    await page.getByRole("link", { name: "FTC_User1" }).click();
    await page.getByRole("heading", { name: "FTC_User1" }).waitFor();
    await page.locator("td", { hasText: "Welcome bonus" }).first().waitFor();
    await page.locator(".kpi", { hasText: "Total balance" }).getByText("650").waitFor();
  });
});

test("an admin posts an adjustment that shows in the gamer's balance and history", async () => {
  await inBrowser(async (page) => {
    // Arrange
    await signIn(page, server.base, admin.email, admin.password);
    await page.getByText("KCash in and out per day").waitFor();
    await page.goto(gamerUrl(gameA, "FTC_User1"));
    await page.getByRole("heading", { name: "FTC_User1" }).waitFor();

    // Act
    await page.getByLabel("Amount (KCash)").fill("75");
    await page.getByLabel(/^Reason/).fill("Goodwill for a lost match");
    await page.getByRole("button", { name: "Post adjustment" }).click();

    // Assert
    await page.getByText("Posted +75 KCash").waitFor();
    await page.locator("td", { hasText: "Goodwill for a lost match" }).waitFor();
    await page.locator(".kpi", { hasText: "Total balance" }).getByText("725").waitFor();
    const balance = await api(server.base, "GET", "/fe/wallet/balance", { headers: { "user-jwt-token": gameA.tokens.FTC_User1 } });
    assert.equal(balance.body.lazy_balance, 725);
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: join(SCREENSHOTS, "gamer.png") });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: join(tmpdir(), "kgen-console-gamer-phone.png"), fullPage: true });
  });
});

test("an admin revokes all of a gamer's sessions and the gamer's token stops working", async () => {
  const token = { "user-jwt-token": gameA.tokens.FTC_User2 };
  assert.equal((await api(server.base, "GET", "/fe/wallet/balance", { headers: token })).status, 200, "the token works before");
  await inBrowser(async (page) => {
    // Arrange
    await signIn(page, server.base, admin.email, admin.password);
    await page.getByText("KCash in and out per day").waitFor();
    await page.goto(gamerUrl(gameA, "FTC_User2"));
    await page.getByTestId("active-sessions").waitFor();
    assert.equal(await page.getByTestId("active-sessions").textContent(), "1");

    // Act
    await page.getByRole("button", { name: "Revoke all sessions…" }).click();
    await page.getByRole("button", { name: "Yes, revoke all" }).click();

    // Assert
    await page.getByText("All sessions revoked").waitFor();
    assert.equal(await page.getByTestId("active-sessions").textContent(), "0");
  });
  assert.equal((await api(server.base, "GET", "/fe/wallet/balance", { headers: token })).status, 401, "the token is dead after");
});

test("a viewer is refused admin actions: no adjustment form, a read-only event, and 403 from the API", async () => {
  await inBrowser(async (page) => {
    // Arrange
    await signIn(page, server.base, viewer.email, viewer.password);
    await page.getByText("KCash in and out per day").waitFor();

    // Act
    await page.goto(`${server.base}/console/#/g/${gameA.clientID}/adjustments`);

    // Assert
    await page.getByText("Adjustments need the admin role").waitFor();
    assert.equal(await page.getByRole("button", { name: "Post adjustment" }).count(), 0);
    await page.goto(`${server.base}/console/#/g/${gameA.clientID}/events/${gameA.eventIds.DailyBonus}`);
    await page.getByText("your role is viewer").waitFor();
    assert.ok(await page.getByLabel("Reward (KCash)").isDisabled(), "the form is read-only");
    await page.getByText("Claims per day (last 30 days)").waitFor();
    await page.getByText("3 claims · 300 KCash paid").waitFor();
    const status = await page.evaluate(async ([clientID]) => {
      const session = await (await fetch("/console/api/session")).json();
      const response = await fetch(`/console/api/games/${clientID}/gamers/FTC_User1/adjustments`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-csrf-token": session.csrfToken, "idempotency-key": crypto.randomUUID() },
        body: JSON.stringify({ amount: 1000, reason: "a viewer trying" }),
      });
      return response.status;
    }, [gameA.clientID]);
    assert.equal(status, 403);
  });
});

test("an operator of game A cannot open game B's gamer by URL", async () => {
  await inBrowser(async (page) => {
    // Arrange
    await signIn(page, server.base, admin.email, admin.password);
    await page.getByText("KCash in and out per day").waitFor();

    // Act
    await page.goto(gamerUrl(gameB, "ludo_secret_player"));

    // Assert
    await page.getByRole("heading", { name: "Gamer not found" }).waitFor();
    assert.equal(await page.locator(".kpi").count(), 0, "no balance of game B is shown");
    assert.ok(!(await page.locator("#app").textContent()).includes("Ludo Legends"), "game B's name is not shown");
  });
});

test("an event name and a user id holding HTML show as plain text and run nothing", async () => {
  await inBrowser(async (page) => {
    // Arrange
    await signIn(page, server.base, admin.email, admin.password);
    await page.getByText("KCash in and out per day").waitFor();

    // Act
    await page.goto(`${server.base}/console/#/g/${gameA.clientID}/events`);
    await page.getByRole("link", { name: XSS }).waitFor();
    await page.goto(`${server.base}/console/#/g/${gameA.clientID}/gamers?q=${encodeURIComponent("<img")}`);
    await page.getByRole("link", { name: XSS }).click();
    await page.getByRole("heading", { name: XSS }).waitFor();

    // Assert
    assert.equal(await page.evaluate(() => window.__xss), undefined, "no injected handler ran");
    assert.equal(await page.locator("#app img[src=x]").count(), 0, "no element was made from the text");
  });
});

test("a platform admin creates a game and sees its secret once", async () => {
  await inBrowser(async (page) => {
    // Arrange
    await signIn(page, server.base, platform.email, platform.password);
    await page.getByRole("heading", { name: "Your games" }).waitFor();
    await page.getByRole("link", { name: "Games & keys" }).click();

    // Act
    await page.getByLabel("Name", { exact: true }).fill("Carrom Cup");
    await page.getByRole("button", { name: "Create game" }).click();

    // Assert
    const secret = await page.getByTestId("client-secret").textContent();
    assert.match(secret, /^[A-Za-z0-9]{30,}$/);
    await page.getByRole("cell", { name: "Carrom Cup", exact: true }).waitFor();
  });
});

test("a platform admin sees a gamer's withdrawal with its game, amount, status and age, and filters by status", async () => {
  // Arrange: a gamer of a third game links a phone (OTP from the server log) and withdraws
  const game = await seedGame(server, "Carrom Cup Withdrawals", {
    events: [{ eventType: "Big", rewardAmount: 500 }], gamers: ["whale"], claims: [["whale", "Big"]],
  });
  const gamer = { "user-jwt-token": game.tokens.whale };
  const phone = { phone_number: "9876543219", countryCode: "+91" };
  const registered = await api(server.base, "POST", "/fe/users/auth/otp/register", { headers: gamer, body: phone });
  const line = server.log().split("\n").find((l) => l.includes(`auth_code=${registered.body.authCode}`));
  const otp = line.match(/otp=(\d+)/)[1];
  const verified = await api(server.base, "POST", "/fe/users/auth/otp/verify", { headers: gamer, body: { ...phone, authCode: registered.body.authCode, otp } });
  assert.equal(verified.status, 200, JSON.stringify(verified.body));
  const withdrawn = await api(server.base, "POST", "/fe/wallet/withdraw", { headers: gamer });
  assert.equal(withdrawn.status, 200, JSON.stringify(withdrawn.body));

  await inBrowser(async (page) => {
    // Act
    await signIn(page, server.base, platform.email, platform.password);
    await page.getByRole("heading", { name: "Your games" }).waitFor();
    await page.getByRole("link", { name: "Withdrawals", exact: true }).click();

    // Assert
    const row = page.locator("tr", { hasText: "whale" });
    await row.waitFor();
    assert.match(await row.textContent(), /Carrom Cup Withdrawals/);
    assert.match(await row.textContent(), /550/);
    await page.getByLabel("Status").selectOption("FAILED");
    await page.getByText("No failed withdrawals.").waitFor();
    await page.getByLabel("Status").selectOption("");
    await row.waitFor();
  });
});

test("sign-in works with the keyboard alone, and every control of the forms has a label", async () => {
  await inBrowser(async (page) => {
    // Act: the email field has the focus on load; Tab to the password, Enter submits
    await page.goto(`${server.base}/console/`);
    await page.getByLabel("Email").waitFor();
    await page.keyboard.type(admin.email);
    await page.keyboard.press("Tab");
    await page.keyboard.type(admin.password);
    await page.keyboard.press("Enter");
    await page.getByText("KCash in and out per day").waitFor();

    // Assert
    const unlabelled = async () => page.evaluate(() => [...document.querySelectorAll("#app input, #app select, #app textarea")]
      .filter((control) => control.labels.length === 0 && !control.getAttribute("aria-label"))
      .map((control) => control.name || control.id || control.outerHTML));
    for (const route of ["events/new", `gamers/FTC_User1`, "adjustments", "withdrawals", "audit"]) {
      await page.goto(`${server.base}/console/#/g/${gameA.clientID}/${route}`);
      await page.locator("main h1").first().waitFor();
      await page.waitForLoadState("networkidle");
      assert.deepEqual(await unlabelled(), [], `${route}: every control has a label`);
    }
  });
});

test("/docs renders the API reference from /openapi.json under its CSP", async () => {
  await inBrowser(async (page) => {
    // Act
    await page.goto(`${server.base}/docs`);

    // Assert
    await page.getByRole("button", { name: /Authorize/ }).waitFor();
    await page.getByText("/s2s/session").first().waitFor();
  });
});

test("/docs try-it-out of a console change carries the signed-in operator's CSRF token", async () => {
  await inBrowser(async (page) => {
    // Arrange
    await signIn(page, server.base, admin.email, admin.password);
    await page.getByText("KCash in and out per day").waitFor();
    await page.goto(`${server.base}/docs`);
    await page.getByRole("button", { name: /Authorize/ }).waitFor();

    // Act
    const headers = await page.evaluate(async () => {
      const request = await window.ui.getConfigs().requestInterceptor({ url: "/console/api/logout", method: "POST", headers: {} });
      return request.headers;
    });

    // Assert
    const session = await page.evaluate(async () => (await fetch("/console/api/session")).json());
    assert.equal(headers["x-csrf-token"], session.csrfToken);
  });
});

test("the console's files come with a CSP that allows only this origin, and nosniff", async () => {
  // Act
  const response = await fetch(`${server.base}/console/`);

  // Assert
  const csp = response.headers.get("content-security-policy");
  assert.match(csp, /script-src 'self'(;|$)/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:/);
  assert.equal(response.headers.get("x-content-type-options"), "nosniff");
});

test("support sees a game's webhook endpoints with delivered and failing deliveries", async () => {
  // Arrange: a receiver that answers 200, and an endpoint nobody listens on.
  const got = [];
  const receiver = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk) => { body += chunk; });
    request.on("end", () => { got.push(body); response.writeHead(200); response.end(); });
  });
  await new Promise((ready) => receiver.listen(0, "127.0.0.1", ready));
  try {
    const game = await seedGame(server, "Webhook Arena", { events: [{ eventType: "Win", rewardAmount: 10 }], gamers: ["hooked"] });
    for (const url of [`http://127.0.0.1:${receiver.address().port}/hook`, "http://127.0.0.1:9/nobody"]) {
      const created = await api(server.base, "POST", "/s2s/webhooks", { headers: game.s2s, body: { url, eventTypes: ["reward.granted"] } });
      assert.equal(created.status, 201, JSON.stringify(created.body));
    }
    const claim = await api(server.base, "POST", `/fe/loyalty/event-reward-user-claims/events/${game.eventIds.Win}`,
      { headers: { "user-jwt-token": game.tokens.hooked } });
    assert.equal(claim.status, 201);
    for (let i = 0; i < 100 && got.length === 0; i += 1) await new Promise((done) => setTimeout(done, 50));
    assert.equal(got.length, 1, "the receiver got the reward");

    await inBrowser(async (page) => {
      // Act
      await signIn(page, server.base, platform.email, platform.password);
      await page.getByRole("heading", { name: "Games" }).first().waitFor();
      await page.goto(`${server.base}/console/#/g/${encodeURIComponent(game.clientID)}/webhooks`);

      // Assert
      await page.getByRole("heading", { name: "Webhooks" }).waitFor();
      const delivered = page.locator("section.webhook", { hasText: "/hook" });
      await delivered.getByText("succeeded").waitFor();
      await delivered.getByText(/HTTP 200/).waitFor();
      const failing = page.locator("section.webhook", { hasText: "/nobody" });
      await failing.getByText("pending").waitFor();
      await failing.getByText(/request failed/).waitFor();
      assert.equal(await page.locator("section.webhook").count(), 2);
      mkdirSync(SCREENSHOTS, { recursive: true });
      await page.screenshot({ path: join(SCREENSHOTS, "webhooks.png"), fullPage: true });
    });
  } finally {
    receiver.close();
  }
});
