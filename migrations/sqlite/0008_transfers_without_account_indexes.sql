-- Transfers are read by account only by `ledger verify`, which now sums them in
-- one pass (a grouped scan) instead of once per account through these indexes.
-- Every claim, welcome bonus and withdrawal paid for them: two index entries per
-- transfer, the credit side's on a page of its own (a random page per claim, which
-- SQLite writes whole to its WAL at each commit). The foreign keys stay: accounts
-- are never deleted or renumbered, so they need no index on this side.
drop index transfers_by_debit;
drop index transfers_by_credit;
