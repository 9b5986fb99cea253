// The real parts the browser tests drive: the kgen-loyalty binary serving a
// fresh SQLite file on a port the OS picks, its CLI for game clients and
// operators, the /s2s and /fe APIs for seeding, and Debian's chromium.

import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const BINARY = process.env.KGEN_BINARY ?? join(repo, "target", "debug", "kgen-loyalty");
export const SCREENSHOTS = join(repo, "docs", "screenshots");
const CHROMIUM = process.env.KGEN_CHROMIUM ?? "/usr/bin/chromium";
const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

/** A running server on a fresh database; `stop()` ends it and removes its files. */
export async function startServer() {
  const dir = mkdtempSync(join(tmpdir(), "kgen-browser-"));
  const databaseUrl = `sqlite://${join(dir, "kgen.db")}?mode=rwc`;
  // Webhooks to the tests' own receivers on loopback.
  const env = { ...process.env, DATABASE_URL: databaseUrl, NO_COLOR: "1", RUST_LOG: "info", KGEN_SMS: "log",
    KGEN_WEBHOOK_ALLOW_HTTP: "true", KGEN_WEBHOOK_ALLOW_PRIVATE: "true" };
  const child = spawn(BINARY, ["serve", "--listen", "127.0.0.1:0"], { env, stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  const base = await new Promise((resolveBase, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${log}`)), 30_000);
    const read = (chunk) => {
      log += chunk;
      // eslint-disable-next-line no-control-regex
      const match = log.replace(/\x1b\[[0-9;]*m/g, "").match(/listening.*?listen=(127\.0\.0\.1:\d+)/);
      if (match) { clearTimeout(timer); resolveBase(`http://${match[1]}`); }
    };
    child.stdout.on("data", read);
    child.stderr.on("data", read);
    child.on("exit", (code) => reject(new Error(`server exited with ${code}:\n${log}`)));
  });
  const cli = (...args) => {
    // The CLI can meet the running server's write lock on SQLite ("the database
    // is busy; retry", exit non-zero); it says to retry, so a few tries it gets.
    for (let attempt = 1; ; attempt += 1) {
      try {
        return JSON.parse(execFileSync(BINARY, [...args, "--json"], { env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }));
      } catch (error) {
        if (attempt >= 5 || !String(error.stderr).includes("busy")) throw error;
        execFileSync("sleep", ["0.5"]);
      }
    }
  };
  return {
    base,
    cli,
    /** What the server has logged so far, without colours. */
    // eslint-disable-next-line no-control-regex
    log: () => log.replace(/\x1b\[[0-9;]*m/g, ""),
    async stop() {
      child.kill("SIGTERM");
      await new Promise((done) => { child.once("exit", done); setTimeout(done, 5_000); });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Calls the server's JSON API; resolves to { status, body, headers }. */
export async function api(base, method, path, { headers = {}, body } = {}) {
  const response = await fetch(`${base}${path}`, {
    method, headers: { "content-type": "application/json", ...headers }, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null, headers: response.headers };
}

/** A game with events, gamers and claims, seeded through the public APIs. */
export async function seedGame(server, name, { gamers = [], events = [], claims = [] } = {}) {
  const client = server.cli("clients", "create", "--name", name);
  const s2s = { "x-client-id": client.client_id, "x-client-secret": client.client_secret };
  const eventIds = {};
  for (const event of events) {
    const created = await api(server.base, "PUT", "/s2s/loyalty/rewardable-events", { headers: s2s, body: event });
    if (created.status !== 201) throw new Error(`seeding event ${event.eventType}: ${created.status} ${JSON.stringify(created.body)}`);
    eventIds[event.eventType] = created.body.eventID;
  }
  const tokens = {};
  for (const userID of gamers) {
    const session = await api(server.base, "POST", "/s2s/session", { headers: s2s, body: { user_id: userID, name: `Player ${userID}` } });
    if (session.status !== 200) throw new Error(`seeding gamer ${userID}: ${session.status}`);
    tokens[userID] = session.body.access_token;
  }
  for (const [userID, eventType] of claims) {
    const claim = await api(server.base, "POST", `/fe/loyalty/event-reward-user-claims/events/${eventIds[eventType]}`,
      { headers: { "user-jwt-token": tokens[userID] } });
    if (claim.status !== 201) throw new Error(`seeding claim ${userID}/${eventType}: ${claim.status}`);
  }
  return { clientID: client.client_id, name, s2s, eventIds, tokens };
}

/** A fresh chromium profile and page; `close()` ends the browser and removes the profile. */
export async function openBrowser({ width = 1280, height = 800 } = {}) {
  const profile = mkdtempSync(join(tmpdir(), "kgen-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport: { width, height },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const problems = [];
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error" && !/status of (401|403|404|409|422|429)/.test(message.text())) problems.push(`console: ${message.text()}`);
  });
  return {
    page,
    problems,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Signs in through the form. */
export async function signIn(page, base, email, password) {
  await page.goto(`${base}/console/`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
}
