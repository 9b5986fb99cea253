-- The outbox's queue gets a table of its own (issue 12: the outbox cost a claim
-- 26 %). An event waits in `webhook_queue` (its rowid is the event's seq: no index
-- of its own) until its deliveries exist; the deliverer leases it there
-- (`locked_until`) and deletes it in the transaction that writes its deliveries.
-- Before, an event was marked fanned out by an update of an indexed column, and
-- every delivery was inserted PENDING and updated to SUCCEEDED after its first
-- attempt, moving its entry in the due index. Now the deliverer attempts an event
-- for its one endpoint straight from the queue and writes the delivery once, in
-- the state its first attempt left it in; SUCCEEDED and FAILED deliveries are in
-- no due index.
create table webhook_queue (
    seq integer primary key,
    locked_until bigint not null default 0
);
insert into webhook_queue (seq) select seq from webhook_events where fanned_out = 0;
drop index webhook_events_unfanned;
alter table webhook_events drop column fanned_out;

drop index webhook_deliveries_due;
create index webhook_deliveries_due on webhook_deliveries (next_attempt_at)
    where status = 'PENDING';

-- Every event is queued in the statement that writes it (PostgreSQL's statements
-- write both rows themselves; SQLite cannot insert from a `with`).
create trigger webhook_events_queued after insert on webhook_events
begin
    insert into webhook_queue (seq) values (new.seq);
end;
