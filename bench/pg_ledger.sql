-- The write ceiling on PostgreSQL: the minimal durable ledger transaction, one
-- guarded UPDATE of a balance and one INSERT of a ledger row, one commit each. Run
-- with pgbench -M prepared at the load generator's concurrency, in a database of its
-- own whose tables scripts/bench creates (ceiling_accounts with :accounts rows,
-- ceiling_ledger). Variables (pgbench -D): accounts, now (nanoseconds).
\set a random(1, :accounts)
begin;
update ceiling_accounts set balance = balance - 1 where id = :a and balance >= 1;
insert into ceiling_ledger (account_id, amount, created_at) values (:a, 1, :now);
commit;
