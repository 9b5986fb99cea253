-- The load of scripts/bench, for wrk (one script, the scenario picked by environment):
--   BENCH_MODE     healthz | session | claim | balance | transactions | mix
--   BENCH_TOKENS   file of "access_token eventID" lines, one per seeded gamer: each
--                  request speaks for a random one of them (claim, reads, mix)
--   BENCH_CLIENT_ID, BENCH_CLIENT_SECRET  s2s credentials (session, mix)
--   BENCH_NONCE    makes the new user ids of session requests unique to this run
-- The mix is 35 % balance, 35 % transactions page, 25 % claims, 5 % new sessions.
-- done() prints one "RESULT key=value ..." line: rate, exact latency percentiles
-- (microseconds) and errors (socket errors, and every answer that is not 2xx).

local mode = os.getenv("BENCH_MODE") or "healthz"
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_number", #threads)
end

-- Per thread (each wrk thread has its own Lua state).
local gamers = {}
local s2s_headers = {}
local nonce = os.getenv("BENCH_NONCE") or tostring(os.time())
local sessions_started = 0
local healthz
non2xx = 0

local function load_gamers(path)
  local file = assert(io.open(path, "r"), "cannot open BENCH_TOKENS " .. path)
  for line in file:lines() do
    local token, event = line:match("^(%S+)%s+(%S+)")
    if token then
      local auth = { ["user-jwt-token"] = token }
      table.insert(gamers, {
        claim = wrk.format("POST", "/fe/loyalty/event-reward-user-claims/events/" .. event, auth),
        balance = wrk.format("GET", "/fe/wallet/balance", auth),
        transactions = wrk.format("GET", "/fe/wallet/transactions?limit=50", auth),
      })
    end
  end
  file:close()
  assert(#gamers > 0, "no gamers in " .. path)
end

function init(args)
  math.randomseed(os.time() * 1000 + thread_number)
  healthz = wrk.format("GET", "/healthz")
  s2s_headers = {
    ["x-client-id"] = os.getenv("BENCH_CLIENT_ID") or "",
    ["x-client-secret"] = os.getenv("BENCH_CLIENT_SECRET") or "",
    ["content-type"] = "application/json",
  }
  if mode ~= "healthz" and mode ~= "session" then
    load_gamers(assert(os.getenv("BENCH_TOKENS"), "BENCH_TOKENS is not set"))
  end
end

local function new_session()
  sessions_started = sessions_started + 1
  local body = string.format('{"user_id":"bench-%s-%d-%d"}', nonce, thread_number, sessions_started)
  return wrk.format("POST", "/s2s/session", s2s_headers, body)
end

function request()
  if mode == "healthz" then
    return healthz
  elseif mode == "session" then
    return new_session()
  end
  local gamer = gamers[math.random(#gamers)]
  if mode ~= "mix" then
    return gamer[mode]
  end
  local dice = math.random(100)
  if dice <= 35 then
    return gamer.balance
  elseif dice <= 70 then
    return gamer.transactions
  elseif dice <= 95 then
    return gamer.claim
  end
  return new_session()
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    if non2xx <= 3 then
      io.stderr:write(string.format("wrk: answer %d: %s\n", status, body:sub(1, 300)))
    end
  end
end

function done(summary, latency, requests)
  local failed = 0
  for _, thread in ipairs(threads) do
    failed = failed + (thread:get("non2xx") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d seconds=%.3f rate=%.1f p50_us=%d p99_us=%d p999_us=%d errors=%d socket_errors=%d non2xx=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / summary.duration * 1e6,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9),
    e.connect + e.read + e.write + e.timeout + failed,
    e.connect + e.read + e.write + e.timeout, failed))
end
