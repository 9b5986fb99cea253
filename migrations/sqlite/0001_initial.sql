-- The whole schema of kgen-loyalty V1. Timestamps are nanoseconds since the Unix
-- epoch (bigint), flags are 0/1 integers: both backends read them the same way.

-- Server-wide values generated on first start (cursor MAC key, OTP hash key, xpub).
create table settings (
    name text primary key,
    value text not null
);

-- Game clients (tenants).
create table clients (
    id text primary key,
    name text not null,
    secret_hash text not null,
    welcome_bonus bigint not null check (welcome_bonus >= 0),
    min_withdraw bigint not null check (min_withdraw >= 0),
    is_disabled bigint not null default 0,
    address_index bigint not null unique,
    issuing_address text not null unique,
    created_at bigint not null
);

-- Rewardable events. `seq` orders the list; `id` is the public eventID.
create table events (
    seq integer primary key autoincrement,
    id text not null unique,
    client_id text not null references clients (id),
    event_type text not null,
    event_name text not null,
    event_description text not null,
    reward_amount bigint not null check (reward_amount >= 0),
    reward_category text not null,
    entity_type text not null,
    entity_id text not null,
    is_active bigint not null,
    is_activity_trace_enabled bigint not null,
    activity_trace_activity_id text not null,
    max_claims_per_user bigint,
    claim_period text not null,
    cooldown_seconds bigint,
    total_budget bigint,
    starts_at bigint,
    ends_at bigint,
    paid_out bigint not null default 0 check (paid_out >= 0),
    is_deleted bigint not null default 0,
    created_at bigint not null,
    updated_at bigint not null
);
create index events_by_client on events (client_id, seq);

-- KGeN accounts: one per phone, shared by the gamers of every game linked to it.
create table kgen_accounts (
    id integer primary key autoincrement,
    kgen_id text not null unique,
    phone text not null unique,
    wallet_address text unique,
    created_at bigint not null
);

-- Gamers: one per client + the game's user id.
create table gamers (
    id integer primary key autoincrement,
    client_id text not null references clients (id),
    user_id text not null,
    wallet_address text unique,
    kgen_account_id bigint references kgen_accounts (id),
    profile text not null,
    lock_version bigint not null default 0,
    created_at bigint not null,
    updated_at bigint not null,
    unique (client_id, user_id),
    unique (client_id, kgen_account_id)
);

-- Ledger accounts: a game's issuing shards (may go negative), a gamer's wallet
-- buckets and a KGeN account's wallet (never negative).
create table accounts (
    id integer primary key autoincrement,
    kind text not null,
    client_id text not null,
    owner_id bigint not null,
    address text not null,
    balance bigint not null default 0,
    created_at bigint not null,
    updated_at bigint not null,
    unique (kind, client_id, owner_id),
    check (kind = 'ISSUING' or balance >= 0)
);

-- Transfers: immutable, positive, between two different accounts.
create table transfers (
    id integer primary key autoincrement,
    uid text not null,
    kind text not null,
    debit_account_id bigint not null references accounts (id),
    credit_account_id bigint not null references accounts (id),
    amount bigint not null check (amount > 0),
    created_at bigint not null,
    check (debit_account_id <> credit_account_id)
);
create index transfers_by_debit on transfers (debit_account_id);
create index transfers_by_credit on transfers (credit_account_id);
create index transfers_by_uid on transfers (uid);

-- A gamer's wallet history: one row per transaction as the gamer sees it.
create table wallet_entries (
    id integer primary key autoincrement,
    uid text not null,
    gamer_id bigint not null references gamers (id),
    kind text not null,
    direction text not null,
    amount bigint not null check (amount > 0),
    from_address text not null,
    to_address text not null,
    name text not null,
    description text not null,
    sync_status text not null,
    created_at bigint not null,
    unique (uid, gamer_id)
);
create index wallet_entries_by_gamer on wallet_entries (gamer_id, id);
create index wallet_entries_pending on wallet_entries (gamer_id) where sync_status = 'PENDING';
create index wallet_entries_failed on wallet_entries (gamer_id) where sync_status = 'FAILED';

-- Reward claims.
create table claims (
    seq integer primary key autoincrement,
    id text not null unique,
    client_id text not null,
    gamer_id bigint not null references gamers (id),
    event_id text not null,
    amount bigint not null check (amount >= 0),
    status text not null,
    trace_watermark bigint,
    created_at bigint not null,
    updated_at bigint not null
);
create index claims_by_gamer_event on claims (gamer_id, event_id, created_at);
create index claims_by_gamer on claims (gamer_id, seq);

-- Withdrawals from a custodial wallet to the linked KGeN account's wallet.
create table withdrawals (
    id text primary key,
    client_id text not null,
    gamer_id bigint not null references gamers (id),
    kgen_account_id bigint not null references kgen_accounts (id),
    amount bigint not null check (amount > 0),
    status text not null,
    created_at bigint not null,
    settled_at bigint
);
create index withdrawals_pending on withdrawals (created_at) where status = 'PENDING';

-- Gamer sessions and their refresh tokens (stored as SHA-256 hashes).
create table sessions (
    id text primary key,
    client_id text not null,
    gamer_id bigint not null references gamers (id),
    created_at bigint not null,
    revoked_at bigint
);
create table refresh_tokens (
    token_hash text primary key,
    session_id text not null references sessions (id),
    expires_at bigint not null,
    used_at bigint,
    created_at bigint not null
);
create index refresh_tokens_by_session on refresh_tokens (session_id);

-- Token signing keys: HS256 for access tokens, Ed25519 for K-Store tokens.
create table signing_keys (
    id text primary key,
    purpose text not null,
    secret text not null,
    public_key text not null,
    created_at bigint not null
);
create index signing_keys_current on signing_keys (purpose, created_at);

-- Idempotency keys of claims and withdrawals, with the first successful response.
create table idempotency_keys (
    gamer_id bigint not null,
    key text not null,
    fingerprint text not null,
    status_code bigint not null,
    response text not null,
    created_at bigint not null,
    primary key (gamer_id, key)
);

-- Analytics drops (append-only); also what activity-traced events check.
create table tracker_drops (
    id integer primary key autoincrement,
    client_id text not null,
    gamer_id bigint not null references gamers (id),
    event_id text not null,
    attributes text not null,
    created_at bigint not null
);
create index tracker_drops_by_gamer on tracker_drops (gamer_id, event_id, id);

-- OTP requests for phone linking; the OTP is stored only as a keyed hash. A request
-- is PENDING while its first OTP is being delivered (its authCode reserved, no hash
-- yet, not verifiable), then OPEN until it is VERIFIED, REPLACED by a new register of
-- the same gamer and phone, or DEAD after too many wrong tries.
create table otp_requests (
    auth_code text primary key,
    client_id text not null,
    gamer_id bigint not null references gamers (id),
    phone text not null,
    otp_hash text not null,
    state text not null,
    attempts bigint not null default 0,
    expires_at bigint not null,
    created_at bigint not null
);
create unique index otp_requests_open on otp_requests (gamer_id, phone) where state = 'OPEN';
create index otp_requests_by_phone on otp_requests (phone, state, created_at);

-- One row per phone that ever asked for an OTP: every send to that phone first
-- updates its row, so the rate-limit check and the recording of a send are
-- serialised per phone on both backends.
create table otp_phones (
    phone text primary key,
    updated_at bigint not null
);

-- OTP sends per phone, for the cooldown and the hourly limit. A send whose delivery
-- fails is deleted again: only delivered OTPs count.
create table otp_sends (
    id integer primary key autoincrement,
    phone text not null,
    gamer_id bigint not null,
    sent_at bigint not null
);
create index otp_sends_by_phone on otp_sends (phone, sent_at);
create index otp_sends_by_gamer on otp_sends (gamer_id, sent_at);
