# The Markdown report of scripts/bench (sourced by it): per backend, the scenarios as
# ratios to their ceilings, the ceilings, memory and the --big reads; then the
# targets of issue 7, pass or FAIL. Reads the figures from the array R, keyed
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

# The ceiling runs of a backend.
claim_ceiling() { [[ $1 == postgres ]] && echo pg_claim || echo sqlx_claim; }
session_ceiling() { [[ $1 == postgres ]] && echo pg_session || echo sqlx_session; }

# figures BACKEND RUN: "req/s | p50 | p99 | p99.9 | errors" of a run.
figures() {
  local k=$1.$2
  printf '%s | %s | %s | %s | %s' "$(num "$(v "$k.rate")" "%.0f")" "$(ms "$(v "$k.p50_us")")" \
    "$(ms "$(v "$k.p99_us")")" "$(ms "$(v "$k.p999_us")")" "$(v "$k.errors")"
}
# row BACKEND LABEL RUN CEILING_RATE CEILING_NAME: a scenario and its ratio to its ceiling.
row() {
  printf '| %s | %s | %s %s |\n' "$2" "$(figures "$1" "$3")" "$(ratio "$(v "$1.$3.rate")" "$4")" "$5"
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
  echo "| scenario | req/s | p50 ms | p99 ms | p99.9 ms | errors | × ceiling |"
  echo "|---|--:|--:|--:|--:|--:|---|"
  row "$b" "session create (a new gamer each request)" session "$session" "raw-SQL session"
  row "$b" "claim, 1 game × $GAMERS_ONE gamers" claim_one "$claim" "raw-SQL claim"
  row "$b" "claim, $GAMES games × $GAMERS_PER_GAME gamers" claim_many "$claim" "raw-SQL claim"
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
    ceiling_row "$b" "raw-SQL claim" pg_claim "pgbench -M prepared -c $POOL, bench/pg_claim.sql"
    ceiling_row "$b" "raw-SQL session create" pg_session "pgbench -M prepared -c $POOL, bench/pg_session.sql"
    ceiling_row "$b" "same claim statements, sqlx" sqlx_claim "kgen-bench raw-claims: server's pool ($POOL), $CONNECTIONS tasks"
    ceiling_row "$b" "same session statements, sqlx" sqlx_session "kgen-bench raw-sessions"
    ceiling_row "$b" "pgbench tpcb-like, scale $TPCB_SCALE" tpcb "pgbench -c $POOL (reference)"
  else
    ceiling_row "$b" "raw-SQL claim" sqlx_claim "kgen-bench raw-claims: server's Db (sqlx, 1 writer, synchronous=FULL), $CONNECTIONS tasks"
    ceiling_row "$b" "raw-SQL session create" sqlx_session "kgen-bench raw-sessions, likewise"
  fi
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
t_claim() { verdict "$(ratio "$(v "$2.$1.rate")" "$(v "$2.$(claim_ceiling "$2").rate")")" ">=" 0.7; }
t_claim_one() { t_claim claim_one "$1"; }
t_claim_many() { t_claim claim_many "$1"; }
t_session() { verdict "$(ratio "$(v "$1.session.rate")" "$(v "$1.$(session_ceiling "$1").rate")")" ">=" 0.5; }
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
t_rss_1000() { verdict "$(v "$1.rss_1000")" "<" 256 | sed 's/^\([0-9.]*\)/\1 MB/'; }

targets_table() {
  local b names=""
  for b in $BACKENDS; do
    [[ $b == postgres ]] && names+=" PostgreSQL |" || names+=" SQLite |"
  done
  echo
  echo "## Targets (issue 7)"
  echo
  ((SHORT)) && echo "A --short run: too short and too small to judge; the verdicts below are indicative only." && echo
  echo "| target |$names"
  printf '|---|'; for b in $BACKENDS; do printf -- '---|'; done; echo
  target_row "claim, 1 game ≥ 0.7 × raw-SQL claim" t_claim_one
  target_row "claim, $GAMES games ≥ 0.7 × raw-SQL claim" t_claim_many
  target_row "session create ≥ 0.5 × raw-SQL session" t_session
  target_row "balance read ≥ 0.5 × healthz" t_balance
  target_row "transactions page ≥ 0.5 × healthz" t_transactions
  target_row "claim, 1 game ≥ 0.8 × claim, $GAMES games" t_one_vs_many
  target_row "balance read at $BIG_ROWS rows, cache off: slowdown < 1.5×" t_big_balance
  target_row "transactions page at $BIG_ROWS rows, cache off: slowdown < 1.5×" t_big_transactions
  target_row "RSS idle < 64 MB (worst of the three)" t_rss_idle
  target_row "RSS with $RSS_CONNECTIONS connections < 256 MB" t_rss_1000
}

report() {
  local b
  for b in $BACKENDS; do backend_section "$b"; done
  targets_table
}
