-- Outbound webhooks (issue 12): a client's endpoints, the events announced to them
-- (written in the transaction of the change they announce: the outbox), one
-- delivery per event and endpoint, and every attempt of a delivery.

-- An endpoint. Its signing secrets must be used again to sign, so they are kept
-- as given (never logged, never listed); `previous_secret` signs alongside until
-- `previous_until` after a rotation.
create table webhook_endpoints (
    seq integer primary key autoincrement,
    id text not null unique,
    client_id text not null references clients (id),
    url text not null,
    event_types text not null,
    description text not null,
    is_active bigint not null,
    secret text not null,
    previous_secret text,
    previous_until bigint,
    failing_since bigint,
    is_deleted bigint not null default 0,
    created_at bigint not null,
    updated_at bigint not null
);
create index webhook_endpoints_by_client on webhook_endpoints (client_id, seq);

-- The outbox: an event to announce. `fanned_out` is 0 until deliveries exist for
-- every endpoint that subscribed to it when it occurred.
create table webhook_events (
    seq integer primary key autoincrement,
    id text not null unique,
    client_id text not null,
    type text not null,
    body text not null,
    only_endpoint text,
    fanned_out bigint not null default 0,
    created_at bigint not null
);
create index webhook_events_unfanned on webhook_events (fanned_out, seq);
create index webhook_events_by_time on webhook_events (created_at);

-- One event to one endpoint: PENDING until an attempt succeeds (SUCCEEDED) or the
-- schedule is spent (FAILED). `locked_until` is the lease of the server attempting it.
create table webhook_deliveries (
    seq integer primary key autoincrement,
    id text not null unique,
    endpoint_id text not null,
    event_id text not null,
    status text not null,
    attempts bigint not null default 0,
    next_attempt_at bigint,
    locked_until bigint not null default 0,
    created_at bigint not null,
    updated_at bigint not null
);
create index webhook_deliveries_due on webhook_deliveries (status, next_attempt_at);
create index webhook_deliveries_by_endpoint on webhook_deliveries (endpoint_id, seq);

create table webhook_attempts (
    seq integer primary key autoincrement,
    delivery_id text not null,
    at bigint not null,
    status_code bigint,
    error text,
    duration_ms bigint not null
);
create index webhook_attempts_by_delivery on webhook_attempts (delivery_id, seq);
