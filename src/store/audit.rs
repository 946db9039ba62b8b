//! The audit log: every state change, who made it, when, and through which channel.

use super::Conn;
use crate::db::ts;
use chrono::{DateTime, Utc};

pub struct AuditEntry<'a> {
    pub actor_id: Option<i64>,
    pub via: &'a str,
    pub entity: &'a str,
    pub entity_id: Option<String>,
    pub action: &'a str,
    pub detail: serde_json::Value,
}

pub async fn record(conn: &mut Conn, at: DateTime<Utc>, e: AuditEntry<'_>) -> crate::sql::Result<()> {
    crate::sql::query(
        "INSERT INTO audit_log (at, actor_id, via, entity, entity_id, action, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(ts(at))
    .bind(e.actor_id)
    .bind(e.via)
    .bind(e.entity)
    .bind(e.entity_id)
    .bind(e.action)
    .bind(if e.detail.is_null() { None } else { Some(e.detail.to_string()) })
    .execute(conn)
    .await?;
    Ok(())
}
