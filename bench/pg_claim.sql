-- The statements of one reward claim as domain::claims::claim_event_reward and the
-- storage functions it calls run them (an event without policies, no idempotency
-- key): the raw-SQL claim ceiling of scripts/bench on PostgreSQL. Keep it in step
-- with src/storage/*.rs and bench/ceiling.rs.
-- Variables (pgbench -D): cid (client id), eid (its event, rewardAmount 1), gmin and
-- gmax (its gamers' ids, contiguous), now (nanoseconds). Needs -M prepared: the
-- server's sqlx prepares every statement too, and the text variables are bound as
-- parameters instead of pasted.
\set g random(:gmin, :gmax)
-- ledger::ISSUING_SHARDS = 16: the gamer's issuing shard.
\set shard :g % 16
begin;
update gamers set lock_version = lock_version + 1 where id = :g;
select seq, id, client_id, event_type, event_name, event_description,
       reward_amount, reward_category, entity_type, entity_id, is_active,
       is_activity_trace_enabled, activity_trace_activity_id, max_claims_per_user, claim_period,
       cooldown_seconds, total_budget, starts_at, ends_at, paid_out, created_at, updated_at
  from events
 where id = :eid
   and client_id = :cid
   and is_deleted = 0;
select (select created_at from claims
         where gamer_id = :g and event_id = :eid
         order by seq desc limit 1) as last_claim_at,
       (select trace_watermark from claims
         where gamer_id = :g and event_id = :eid
         order by seq desc limit 1) as last_watermark,
       (select count(*) from claims
         where gamer_id = :g and event_id = :eid and created_at >= 9223372036854775807)
         as claims_in_window,
       (select max(id) from tracker_drops where gamer_id = :g and event_id = '') as trace_drop,
       (select max(id) from tracker_drops where gamer_id = :g) as newest_drop;
insert into claims (id, client_id, gamer_id, event_id, amount, status, trace_watermark,
                    created_at, updated_at)
values (cast(gen_random_uuid() as text), :cid, :g, :eid, 1, 'REWARDED', null, :now, :now)
returning seq, id, event_id, amount, status, trace_watermark, created_at, updated_at
\gset claim_
update accounts
   set balance = balance - 1, updated_at = :now
 where kind = 'ISSUING'
   and client_id = :cid
   and owner_id = :shard
   and (kind = 'ISSUING' or balance >= 1)
returning id, address
\gset debit_
update accounts
   set balance = balance + 1, updated_at = :now
 where kind = 'EARNED'
   and client_id = :cid
   and owner_id = :g
returning id, address
\gset credit_
insert into transfers (uid, kind, debit_account_id, credit_account_id, amount, created_at)
values (:claim_id, 'EVENT_REWARD', :debit_id, :credit_id, 1, :now);
insert into wallet_entries (uid, gamer_id, kind, direction, amount, from_address,
                            to_address, name, description, sync_status, created_at)
values (:claim_id, :g, 'EVENT_REWARD', 'CREDIT', 1, :debit_address, :credit_address,
        'Bench reward', 'Reward for BenchReward', 'COMPLETED', :now);
commit;
