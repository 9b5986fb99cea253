//! PostgreSQL-only statements of the hot write paths. The shared-subset SQL of the
//! other modules costs one round trip per step; here the claims of a group-commit
//! batch (`lanes`) share three statements in one transaction that locks their
//! gamers as it begins: a read that gathers everything the claim policies need for
//! every claim, one data-modifying `WITH` that writes the granted claims, their
//! transfers, balances, history lines and idempotency keys together, and one insert
//! of their outbox events. A batch's parameters travel as one JSON array each
//! (`json_to_recordset`: sqlx's `Any` driver binds no arrays). The SQLite twin of
//! each path lives in `storage::lite`.

pub mod claims;
pub mod lanes;
pub mod sessions;
