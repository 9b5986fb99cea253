-- Issue 13, OTP: every send remembers the game client that caused it, for the
-- per-client hourly send cap against SMS pumping (counted over the index, newest
-- first). Sends recorded before this migration belong to no client.
alter table otp_sends add column client_id text not null default '';
create index otp_sends_by_client on otp_sends (client_id, sent_at);

-- One row per game client that ever sent an OTP: a send updates it before the
-- gamer and client limits are checked, so that on every backend and across
-- servers the sends of one client are counted one at a time (like otp_phones).
create table otp_clients (
    client_id text primary key,
    updated_at bigint not null
);

-- Issue 13, analytics: how many drops each gamer stored on each UTC day (days
-- since 1970-01-01). A drop increments its row in the transaction that inserts
-- it, only while under the quota; concurrent drops of one gamer wait on that row,
-- so the count is exact. Rows of past days are deleted with expired drops.
create table tracker_drop_days (
    gamer_id bigint not null,
    day bigint not null,
    drops bigint not null,
    primary key (gamer_id, day)
);
create index tracker_drop_days_by_day on tracker_drop_days (day);

-- Retention deletes the oldest drops in small batches, found by time.
create index tracker_drops_by_time on tracker_drops (created_at);
