-- What an event's claims have paid out is counted when the event is replaced
-- (and by `ledger verify`): by event, not by scanning every claim.
create index claims_by_event on claims (event_id);
