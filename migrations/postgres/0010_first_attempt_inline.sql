-- A delivery attempted straight from the queue (an event for one endpoint with room
-- in flight: the common case) keeps that first attempt in its own row, written in
-- the same insert, instead of a row of `webhook_attempts` with its index entry
-- (issue 12: the deliverer's writes are much of what a webhook costs a claim).
-- Later attempts, and the first attempt of a delivery planned PENDING, are still
-- rows of `webhook_attempts`; a delivery's attempts are the inline one, if any,
-- then those rows. Existing deliveries keep their attempts where they are.
alter table webhook_deliveries add column first_at bigint;
alter table webhook_deliveries add column first_status_code bigint;
alter table webhook_deliveries add column first_error text;
alter table webhook_deliveries add column first_duration_ms bigint;
