//! The audit log: who did what, when, on which game. Entries are appended in the
//! transaction of the change they describe (or right after a read-only event
//! such as a login) and never edited or deleted; nothing in the console or the
//! CLI offers a way to.

use crate::domain::cursor::Cursors;
use crate::domain::Result;
use crate::storage::console::{self as store, AuditRow};
use crate::storage::{self, Db, Tx};

/// Whose audit lines a reader may see.
pub use crate::storage::console::AuditScope;

/// Who acted.
#[derive(Clone, Debug)]
pub enum Actor {
    /// A CLI command (operator `cli`).
    Cli,
    /// An operator, by email (or the email a failed login tried).
    Operator(String),
}

impl Actor {
    /// The name written in the log.
    pub fn name(&self) -> &str {
        match self {
            Actor::Cli => "cli",
            Actor::Operator(email) => email,
        }
    }
}

fn entry(
    actor: &Actor,
    action: &str,
    client_id: Option<&str>,
    target: &str,
    detail: serde_json::Value,
    now: i64,
) -> AuditRow {
    AuditRow {
        id: 0,
        at: now,
        operator: actor.name().to_owned(),
        action: action.to_owned(),
        client_id: client_id.map(str::to_owned),
        target: target.to_owned(),
        detail: detail.to_string(),
    }
}

/// Appends an entry inside the transaction of the change it describes.
pub async fn record_in(
    tx: &mut Tx,
    actor: &Actor,
    action: &str,
    client_id: Option<&str>,
    target: &str,
    detail: serde_json::Value,
    now: i64,
) -> Result<()> {
    let row = entry(actor, action, client_id, target, detail, now);
    store::insert_audit(&mut **tx, &row).await?;
    Ok(())
}

/// Appends an entry on its own.
pub async fn record(
    db: &Db,
    actor: &Actor,
    action: &str,
    client_id: Option<&str>,
    target: &str,
    detail: serde_json::Value,
) -> Result<()> {
    let row = entry(
        actor,
        action,
        client_id,
        target,
        detail,
        storage::now_nanos(),
    );
    store::insert_audit(db.writer(), &row).await?;
    Ok(())
}

/// One page of the entries in `scope`, newest first, and the next cursor.
pub async fn list(
    db: &Db,
    cursors: &Cursors,
    scope: AuditScope<'_>,
    limit: u32,
    cursor: Option<&str>,
) -> Result<(Vec<AuditRow>, String)> {
    let scope_name = match scope {
        AuditScope::All => "audit|all".to_owned(),
        AuditScope::Client(id) => format!("audit|client|{id}"),
        AuditScope::Clients(ids) => format!("audit|clients|{}", ids.join(",")),
    };
    let before = cursors.start(&scope_name, cursor)?;
    let rows = store::list_audit(db.reader(), scope, before, limit + 1).await?;
    Ok(cursors.finish_page(&scope_name, rows, limit, |row| row.id))
}
