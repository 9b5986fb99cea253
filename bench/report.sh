# The Markdown report of scripts/bench (sourced by it): per backend, the scenarios as
# ratios to their ceilings, the ceilings, memory and the --big reads; then the
# targets of issues 7 and 10, pass or FAIL. Reads the figures from the array R, keyed
# "<backend>.<run>.<field>", fields as the RESULT lines name them (rate, p50_us,
# p99_us, p999_us, errors). Judges nothing for the exit status: timings are reported,
# never asserted.

v() { printf '%s' "${R[$1]-}"; }
num() { awk -v x="$1" -v f="$2" 'BEGIN { if (x == "") printf "—"; else printf f, x }'; }
ms() { num "$(awk -v u="$1" 'BEGIN { if (u != "") print u / 1000 }')" "%.2f"; }
# ratio A B: A / B with two decimals, "—" when either is missing.
ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) printf "—"; else printf "%.2f", a / b }'
}
# verdict VALUE OP LIMIT: "VALUE pass" or "VALUE FAIL" (OP is >= or <).
verdict() {
  awk -v x="$1" -v op="$2" -v t="$3" 'BEGIN {
    if (x == "—" || x == "") { printf "—"; exit }
    ok = (op == ">=") ? (x + 0 >= t) : (x + 0 < t)
    printf "%s %s", x, ok ? "pass" : "**FAIL**" }'
}

# The write ceiling of a backend: the minimal durable ledger transaction (one
# guarded UPDATE + one INSERT, one commit each) through the fastest client.
write_ceiling() { [[ $1 == postgres ]] && echo pg_ledger || echo ledger_sqlite; }
claim_ceiling() { write_ceiling "$1"; }
session_ceiling() { write_ceiling "$1"; }

# figures BACKEND RUN: "req/s | p50 | p99 | p99.9 | errors" of a run.
figures() {
  local k=$1.$2
  printf '%s | %s | %s | %s | %s' "$(num "$(v "$k.rate")" "%.0f")" "$(ms "$(v "$k.p50_us")")" \
    "$(ms "$(v "$k.p99_us")")" "$(ms "$(v "$k.p999_us")")" "$(v "$k.errors")"
}
# row BACKEND LABEL RUN CEILING_RATE CEILING_NAME [OWN_RATE]: a scenario, its ratio
# to its ceiling and (writes) to the server's own code without HTTP.
row() {
  local own="—"
  [[ -n ${6-} ]] && own=$(ratio "$(v "$1.$3.rate")" "$6")
  printf '| %s | %s | %s %s | %s |\n' "$2" "$(figures "$1" "$3")" "$(ratio "$(v "$1.$3.rate")" "$4")" "$5" "$own"
}
# ceiling_row BACKEND LABEL RUN HOW
ceiling_row() { printf '| %s | %s | %s |\n' "$2" "$(figures "$1" "$3")" "$4"; }

# The rate that the mix would reach if each request cost what its ceiling allows.
blend_ceiling() {
  awk -v h="$(v "$1.healthz.rate")" -v c="$(v "$1.$(claim_ceiling "$1").rate")" \
    -v s="$(v "$1.$(session_ceiling "$1").rate")" \
    'BEGIN { if (h && c && s) print 1 / (0.70 / h + 0.25 / c + 0.05 / s) }'
}

scenario_table() {
  local b=$1 claim session healthz
  claim=$(v "$b.$(claim_ceiling "$b").rate")
  session=$(v "$b.$(session_ceiling "$b").rate")
  healthz=$(v "$b.healthz.rate")
  local own_claim own_session
  own_claim=$(v "$b.sqlx_claim.rate") own_session=$(v "$b.sqlx_session.rate")
  echo "| scenario | req/s | p50 ms | p99 ms | p99.9 ms | errors | × ceiling | × own statements |"
  echo "|---|--:|--:|--:|--:|--:|---|--:|"
  row "$b" "session create (a new gamer each request)" session "$session" "write ceiling" "$own_session"
  row "$b" "claim, 1 game × $GAMERS_ONE gamers" claim_one "$claim" "write ceiling" "$own_claim"
  row "$b" "claim, $GAMES games × $GAMERS_PER_GAME gamers" claim_many "$claim" "write ceiling" "$own_claim"
  row "$b" "burst: $BURST claims from $BURST gamers at once" burst "$claim" "write ceiling" "$own_claim"
  row "$b" "claim, 1 game, fresh server, no webhook endpoint" claim_nohook "$claim" "write ceiling" "$own_claim"
  row "$b" "claim, 1 game, fresh server, one webhook endpoint" claim_hook "$claim" "write ceiling" "$own_claim"
  row "$b" "balance read" balance "$healthz" "healthz"
  row "$b" "transactions page (limit 50)" transactions "$healthz" "healthz"
  row "$b" "balance read, wallet cache off" balance_db "$healthz" "healthz"
  row "$b" "transactions page, wallet cache off" transactions_db "$healthz" "healthz"
  row "$b" "mix: 35 % balance, 35 % transactions, 25 % claims, 5 % sessions" mix "$(blend_ceiling "$b")" "blend¹"
}

ceiling_table() {
  local b=$1
  echo "| ceiling | per s | p50 ms | p99 ms | p99.9 ms | errors | how |"
  echo "|---|--:|--:|--:|--:|--:|---|"
  ceiling_row "$b" "HTTP: GET /healthz" healthz "wrk, $CONNECTIONS connections"
  if [[ $b == postgres ]]; then
    ceiling_row "$b" "write ceiling: minimal ledger transaction" pg_ledger "pgbench -M prepared -c $CONNECTIONS, bench/pg_ledger.sql (guarded UPDATE + INSERT, one commit each)"
  else
    ceiling_row "$b" "write ceiling: minimal ledger transaction" ledger_sqlite "kgen-bench ledger-sqlite: rusqlite, WAL, synchronous=FULL, one commit each, $CONNECTIONS tasks"
  fi
  ceiling_row "$b" "own statements: claim" sqlx_claim "kgen-bench raw-claims: the server's claim code, no HTTP, pool $POOL, $CONNECTIONS tasks"
  ceiling_row "$b" "own statements: session create" sqlx_session "kgen-bench raw-sessions: the server's session code, no HTTP"
  [[ $b == postgres ]] && ceiling_row "$b" "pgbench tpcb-like, scale $TPCB_SCALE" tpcb "pgbench -c $POOL (reference)"
  return 0
}

big_table() {
  local b=$1 run
  echo "| read (wallet cache off): wallet entries before → after | req/s | p50 ms | p99 ms | req/s (big) | p50 ms | p99 ms | slowdown |"
  echo "|---|--:|--:|--:|--:|--:|--:|--:|"
  for run in balance transactions; do
    printf '| %s: %s → %s rows | %s | %s | %s | %s | %s | %s | %s× |\n' "$run" \
      "$(v "$b.ledger_rows_small")" "$(v "$b.ledger_rows_big")" \
      "$(num "$(v "$b.${run}_db.rate")" "%.0f")" "$(ms "$(v "$b.${run}_db.p50_us")")" "$(ms "$(v "$b.${run}_db.p99_us")")" \
      "$(num "$(v "$b.big_$run.rate")" "%.0f")" "$(ms "$(v "$b.big_$run.p50_us")")" \
      "$(ms "$(v "$b.big_$run.p99_us")")" "$(ratio "$(v "$b.${run}_db.rate")" "$(v "$b.big_$run.rate")")"
  done
}

backend_section() {
  local b=$1
  echo
  if [[ $b == postgres ]]; then
    echo "## PostgreSQL $(v postgres.version) (fresh database, synchronous_commit=$(v postgres.synchronous_commit))"
  else
    echo "## SQLite (fresh file, WAL, synchronous=FULL)"
  fi
  echo
  scenario_table "$b"
  echo
  echo "¹ the rate the mix would reach if each request cost what its own ceiling allows."
  echo "Reads speak for $READERS gamers with full pages; measured at $(v "$b.ledger_rows_small") wallet entries in all (before the claim runs)."
  echo
  ceiling_table "$b"
  echo
  printf 'Memory (VmRSS of the server), idle: %s MB after start, %s MB after the scenarios, %s MB at the end; ' \
    "$(v "$b.rss_idle_start")" "$(v "$b.rss_idle_after")" "$(v "$b.rss_idle_end")"
  printf '%s MB peak with %s open connections (GET /healthz: %s req/s, %s errors).\n' \
    "$(v "$b.rss_1000")" "$RSS_CONNECTIONS" "$(num "$(v "$b.healthz_1000.rate")" "%.0f")" \
    "$(v "$b.healthz_1000.errors")"
  if [[ -n $(v "$b.webhook_received") ]]; then
    echo
    printf 'Webhooks: with one endpoint registered, claims ran at %s× the rate without; the outbox queue was at most %s deliveries deep (%s at the end of the %s s run) and empty %s s after the load stopped; the receiver got %s deliveries.\n' \
      "$(ratio "$(v "$b.claim_hook.rate")" "$(v "$b.claim_nohook.rate")")" "$(v "$b.webhook_depth_max")" \
      "$(v "$b.webhook_depth_end")" "$WEBHOOK_SECONDS" "$(v "$b.webhook_drain_seconds")" "$(v "$b.webhook_received")"
    if [[ -n $(v "$b.claim_hook.cpu_machine_us") ]]; then
      printf 'CPU per claim (µs; without → with the endpoint): the server %s → %s, the receiver %s → %s, the database %s → %s, the whole machine (wrk included) %s → %s.\n' \
        "$(v "$b.claim_nohook.cpu_server_us")" "$(v "$b.claim_hook.cpu_server_us")" \
        "$(v "$b.claim_nohook.cpu_receiver_us")" "$(v "$b.claim_hook.cpu_receiver_us")" \
        "$(v "$b.claim_nohook.cpu_db_us")" "$(v "$b.claim_hook.cpu_db_us")" \
        "$(v "$b.claim_nohook.cpu_machine_us")" "$(v "$b.claim_hook.cpu_machine_us")"
    fi
  fi
  if [[ -n $(v "$b.ledger_rows_big") ]]; then
    echo
    echo "--big: $(v "$b.grow.rows") transfers and wallet entries added in $(v "$b.grow.seconds") s."
    echo
    big_table "$b"
  fi
}

target_row() {
  local label=$1 b
  shift
  printf '| %s |' "$label"
  for b in $BACKENDS; do printf ' %s |' "$("$@" "$b")"; done
  echo
}
t_claim() { verdict "$(ratio "$(v "$2.$1.rate")" "$(v "$2.$(claim_ceiling "$2").rate")")" ">=" 1.0; }
t_claim_one() { t_claim claim_one "$1"; }
t_claim_many() { t_claim claim_many "$1"; }
t_session() { verdict "$(ratio "$(v "$1.session.rate")" "$(v "$1.$(session_ceiling "$1").rate")")" ">=" 0.7; }
t_p99() { verdict "$(awk -v u="$(v "$2.$1.p99_us")" 'BEGIN { if (u != "") printf "%.1f", u / 1000 }')" "<" "$3" | sed 's/^\([0-9.]*\)/\1 ms/'; }
t_p99_claim() { t_p99 claim_one "$1" 50.001; }
t_p99_session() { t_p99 session "$1" 50.001; }
t_p99_burst() { t_p99 burst "$1" 250.001; }
t_burst_errors() { verdict "$(v "$1.burst.errors")" "<" 0.5 | sed 's/ pass/ errors, pass/; s/ \*\*FAIL/ errors, **FAIL/'; }
t_balance() { verdict "$(ratio "$(v "$1.balance.rate")" "$(v "$1.healthz.rate")")" ">=" 0.5; }
t_transactions() { verdict "$(ratio "$(v "$1.transactions.rate")" "$(v "$1.healthz.rate")")" ">=" 0.5; }
t_one_vs_many() { verdict "$(ratio "$(v "$1.claim_one.rate")" "$(v "$1.claim_many.rate")")" ">=" 0.8; }
t_big() {
  [[ -n $(v "$2.big_$1.rate") ]] || { printf 'not run (--big)'; return; }
  verdict "$(ratio "$(v "$2.$1_db.rate")" "$(v "$2.big_$1.rate")")" "<" 1.5
}
t_big_balance() { t_big balance "$1"; }
t_big_transactions() { t_big transactions "$1"; }
t_rss_idle() {
  local worst
  worst=$(printf '%s\n' "$(v "$1.rss_idle_start")" "$(v "$1.rss_idle_after")" "$(v "$1.rss_idle_end")" |
    sort -g | tail -1)
  verdict "$worst" "<" 64 | sed 's/^\([0-9.]*\)/\1 MB/'
}
t_outbox() { verdict "$(ratio "$(v "$1.claim_hook.rate")" "$(v "$1.claim_nohook.rate")")" ">=" 0.9; }
t_drain() { verdict "$(v "$1.webhook_drain_seconds")" "<" 10.5 | sed 's/^\([0-9.]*\)/\1 s/'; }
t_rss_1000() { verdict "$(v "$1.rss_1000")" "<" 256 | sed 's/^\([0-9.]*\)/\1 MB/'; }

targets_table() {
  local b names=""
  for b in $BACKENDS; do
    [[ $b == postgres ]] && names+=" PostgreSQL |" || names+=" SQLite |"
  done
  echo
  echo "## Targets (issues 7, 10 and 12)"
  echo
  ((SHORT)) && echo "A --short run: too short and too small to judge; the verdicts below are indicative only." && echo
  echo "| target |$names"
  printf '|---|'; for b in $BACKENDS; do printf -- '---|'; done; echo
  target_row "claim, 1 game ≥ 1.0 × write ceiling" t_claim_one
  target_row "claim, $GAMES games ≥ 1.0 × write ceiling" t_claim_many
  target_row "session create ≥ 0.7 × write ceiling" t_session
  target_row "claim p99 ≤ 50 ms ($CONNECTIONS connections, 1 game)" t_p99_claim
  target_row "session create p99 ≤ 50 ms" t_p99_session
  target_row "burst of $BURST claims: 0 errors" t_burst_errors
  target_row "burst of $BURST claims: p99 ≤ 250 ms" t_p99_burst
  target_row "balance read ≥ 0.5 × healthz" t_balance
  target_row "transactions page ≥ 0.5 × healthz" t_transactions
  target_row "claim, 1 game ≥ 0.8 × claim, $GAMES games" t_one_vs_many
  target_row "balance read at $BIG_ROWS rows, cache off: slowdown < 1.5×" t_big_balance
  target_row "transactions page at $BIG_ROWS rows, cache off: slowdown < 1.5×" t_big_transactions
  target_row "claims with a webhook endpoint ≥ 0.9 × without (outbox ≤ 10 %)" t_outbox
  target_row "webhook queue empty ≤ 10 s after $WEBHOOK_SECONDS s of claims (the deliverer keeps up)" t_drain
  target_row "RSS idle < 64 MB (worst of the three)" t_rss_idle
  target_row "RSS with $RSS_CONNECTIONS connections < 256 MB" t_rss_1000
}

report() {
  local b
  for b in $BACKENDS; do backend_section "$b"; done
  targets_table
}
