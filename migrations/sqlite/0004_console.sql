-- The studio console (issue 11): operators, their sessions, login failures, the
-- audit log, adjustments, recorded `ledger verify` runs, and the indexes that keep
-- every console page a bounded index read.

-- People of a studio or of the platform who use the console.
create table operators (
    id integer primary key autoincrement,
    email text not null,
    email_lower text not null unique,
    password_hash text not null,
    role text not null,
    is_disabled bigint not null default 0,
    created_at bigint not null
);

-- The games an operator is scoped to; none (for an admin) = platform admin.
create table operator_clients (
    operator_id bigint not null references operators (id),
    client_id text not null references clients (id),
    primary key (operator_id, client_id)
);

-- Console sessions, by the SHA-256 of the cookie's id.
create table console_sessions (
    id_hash text primary key,
    operator_id bigint not null references operators (id),
    csrf_token text not null,
    created_at bigint not null,
    last_seen_at bigint not null
);
create index console_sessions_by_operator on console_sessions (operator_id);

-- Failed logins per lower-cased email (existing or not), for the throttle.
create table console_login_failures (
    id integer primary key autoincrement,
    email_lower text not null,
    failed_at bigint not null
);
create index console_login_failures_by_email on console_login_failures (email_lower, failed_at);

-- Every console action and operator CLI command; append-only.
create table audit_log (
    id integer primary key autoincrement,
    at bigint not null,
    operator text not null,
    action text not null,
    client_id text,
    target text not null,
    detail text not null
);
create index audit_log_by_client on audit_log (client_id, id);

-- Balance adjustments posted from the console (one ledger transfer each).
create table adjustments (
    seq integer primary key autoincrement,
    id text not null unique,
    client_id text not null,
    gamer_id bigint not null references gamers (id),
    amount bigint not null,
    reason text not null,
    operator text not null,
    idempotency_key text not null,
    created_at bigint not null
);
create index adjustments_by_client on adjustments (client_id, created_at);
create index adjustments_by_key on adjustments (client_id, idempotency_key, created_at);

-- `ledger verify` runs, the last of which the dashboard shows.
create table ledger_verifications (
    id integer primary key autoincrement,
    at bigint not null,
    ok bigint not null,
    summary text not null
);

-- Console searches and dashboard windows.
create index gamers_by_client_created on gamers (client_id, created_at);
create index gamers_by_client_id on gamers (client_id, id);
create index withdrawals_by_client_status on withdrawals (client_id, status, created_at);
create index withdrawals_by_status on withdrawals (status, created_at);
create index withdrawals_by_client_created on withdrawals (client_id, created_at);
create index sessions_by_gamer on sessions (gamer_id);

-- Dashboard rollups, maintained incrementally: every row older than the
-- watermark (a time, nanoseconds) is counted here exactly once; rows newer than
-- it are counted live from the (client, time) indexes above.
create table stats_watermarks (
    name text primary key,
    position bigint not null
);
create table stats_daily (
    client_id text not null,
    day bigint not null,
    claims bigint not null default 0,
    kcash_rewarded bigint not null default 0,
    kcash_bonus bigint not null default 0,
    kcash_adjusted bigint not null default 0,
    kcash_requested bigint not null default 0,
    new_gamers bigint not null default 0,
    active_gamers bigint not null default 0,
    primary key (client_id, day)
);
create table stats_event_daily (
    client_id text not null,
    day bigint not null,
    event_id text not null,
    claims bigint not null default 0,
    kcash bigint not null default 0,
    primary key (client_id, day, event_id)
);
create table stats_active (
    client_id text not null,
    day bigint not null,
    gamer_id bigint not null,
    primary key (client_id, day, gamer_id)
);
create index claims_by_created on claims (created_at);
create index gamers_by_created on gamers (created_at);
create index wallet_entries_by_created on wallet_entries (created_at);
create index adjustments_by_created on adjustments (created_at);
create index withdrawals_by_created on withdrawals (created_at);
create index sessions_by_created on sessions (created_at);
create index tracker_drops_by_created on tracker_drops (created_at);
