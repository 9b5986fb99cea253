//! PostgreSQL-only statements of the hot write paths. The shared-subset SQL of the
//! other modules costs one round trip per step; here a claim is two statements in
//! one transaction that locks the gamer as it begins: a read that gathers everything
//! the claim policies need, and one data-modifying `WITH` that writes the claim, the budget,
//! the transfer, both balances, the history line and the idempotency key together.
//! The SQLite twin of each path lives in `storage::lite`.

pub mod claims;
pub mod lanes;
