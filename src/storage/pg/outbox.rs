//! The webhook outbox rows of a claim batch, in one statement.

use super::super::Tx;

/// An event for the outbox, written in the transaction of the change it announces.
#[derive(Debug, serde::Serialize)]
pub struct NewEvent {
    /// Event id (`webhook-id`).
    pub id: String,
    /// Owning client.
    pub client_id: String,
    /// Event type.
    #[serde(rename = "type")]
    pub event_type: &'static str,
    /// The delivered body.
    pub body: String,
    /// Nanoseconds.
    pub created_at: i64,
}

/// [`insert_events`]: `$1` a JSON array of [`NewEvent`]s. An event of a client
/// with no active endpoint is not kept, as `storage::webhooks::INSERT_EVENT_SQL`.
const INSERT_EVENTS_SQL: &str = "insert into webhook_events (id, client_id, type, body, created_at)
     select e.id, e.client_id, e.type, e.body, e.created_at
     from json_to_recordset($1::json)
          as e(id text, client_id text, type text, body text, created_at bigint)
     where exists (select 1 from webhook_endpoints w
                   where w.client_id = e.client_id and w.is_active = 1 and w.is_deleted = 0)";

/// Writes the events to the outbox in one statement.
pub async fn insert_events(tx: &mut Tx, events: &[NewEvent]) -> Result<(), sqlx::Error> {
    if events.is_empty() {
        return Ok(());
    }
    let json =
        serde_json::to_string(events).map_err(|error| sqlx::Error::Encode(Box::new(error)))?;
    sqlx::query(INSERT_EVENTS_SQL)
        .bind(json)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
