-- Every change to a gamer's wallet (a bucket balance, a history line or its
-- status) announces the gamer id on channel `kgen_wallet` when its transaction
-- commits, so every server drops what it cached of that wallet. Triggers, not
-- application code, so that no write path can forget it.
create function kgen_announce_wallet_change() returns trigger
language plpgsql as $$
begin
    if tg_table_name = 'accounts' then
        perform pg_notify('kgen_wallet', new.owner_id::text);
    else
        perform pg_notify('kgen_wallet', new.gamer_id::text);
    end if;
    return null;
end;
$$;

create trigger accounts_announce_wallet_change
    after insert or update on accounts
    for each row when (new.kind in ('EARNED', 'BONUS', 'BOUGHT'))
    execute function kgen_announce_wallet_change();

create trigger wallet_entries_announce_wallet_change
    after insert or update on wallet_entries
    for each row
    execute function kgen_announce_wallet_change();
