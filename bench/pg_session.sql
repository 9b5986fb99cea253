-- The statements of a new gamer's first session as domain::sessions::write_session
-- and the storage functions it calls run them (wallet, welcome bonus, session,
-- refresh token): the raw-SQL session ceiling of scripts/bench on PostgreSQL. Keep it
-- in step with src/storage/*.rs and bench/ceiling.rs.
-- Variables (pgbench -D): cid (client id), bonus (its welcome bonus, > 0), now and
-- expires (nanoseconds), profile (an empty profile's JSON). Needs -M prepared.
\set u random(1, 9000000000000000000)
begin;
update gamers
   set lock_version = lock_version + 1, updated_at = :now
 where client_id = :cid
   and user_id = 'raw-' || cast(:u as text)
returning id;
insert into gamers (client_id, user_id, profile, created_at, updated_at)
values (:cid, 'raw-' || cast(:u as text), :profile, :now, :now)
on conflict (client_id, user_id) do nothing
returning id
\gset gamer_
-- ledger::ISSUING_SHARDS = 16: the gamer's issuing shard.
\set shard :gamer_id % 16
update gamers set wallet_address = '0x' || lpad(to_hex(cast(:gamer_id as bigint)), 40, '0')
 where id = :gamer_id;
insert into accounts (kind, client_id, owner_id, address, balance, created_at, updated_at)
values ('EARNED', :cid, :gamer_id, '0x' || lpad(to_hex(cast(:gamer_id as bigint)), 40, '0'), 0, :now, :now),
       ('BONUS', :cid, :gamer_id, '0x' || lpad(to_hex(cast(:gamer_id as bigint)), 40, '0'), 0, :now, :now),
       ('BOUGHT', :cid, :gamer_id, '0x' || lpad(to_hex(cast(:gamer_id as bigint)), 40, '0'), 0, :now, :now);
update accounts
   set balance = balance - :bonus, updated_at = :now
 where kind = 'ISSUING'
   and client_id = :cid
   and owner_id = :shard
   and (kind = 'ISSUING' or balance >= :bonus)
returning id, address
\gset debit_
update accounts
   set balance = balance + :bonus, updated_at = :now
 where kind = 'BONUS'
   and client_id = :cid
   and owner_id = :gamer_id
returning id, address
\gset credit_
insert into transfers (uid, kind, debit_account_id, credit_account_id, amount, created_at)
values ('raw-w-' || cast(:u as text), 'WELCOME_BONUS', :debit_id, :credit_id, :bonus, :now);
insert into wallet_entries (uid, gamer_id, kind, direction, amount, from_address,
                            to_address, name, description, sync_status, created_at)
values ('raw-w-' || cast(:u as text), :gamer_id, 'WELCOME_BONUS', 'CREDIT', :bonus,
        :debit_address, :credit_address, 'Welcome bonus', 'Welcome bonus from bench',
        'COMPLETED', :now);
select g.id, g.user_id, g.wallet_address, g.profile,
       k.kgen_id, k.wallet_address as kgen_wallet_address, k.phone as kgen_phone
  from gamers g
  left join kgen_accounts k on k.id = g.kgen_account_id
 where g.id = :gamer_id;
insert into sessions (id, client_id, gamer_id, created_at)
values ('raw-s-' || cast(:u as text), :cid, :gamer_id, :now);
insert into refresh_tokens (token_hash, session_id, expires_at, created_at)
values (lpad(to_hex(cast(:u as bigint)), 64, '0'), 'raw-s-' || cast(:u as text), :expires, :now);
commit;
