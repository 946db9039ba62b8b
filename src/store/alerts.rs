//! Operations: admin-alert incidents (`alert_incidents`), the queue figures alerts, `/readyz`
//! and `/metrics` watch, and the write probe of `/readyz` (`health_probe`). Every count here
//! goes through a partial index, so polling them every few seconds stays cheap.

use super::Conn;
use crate::db::{parse_ts, ts};
use chrono::{DateTime, Utc};

/// What an incident is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IncidentKind {
    /// A channel down longer than `alerts.down_after_seconds`; subject: the channel's name.
    ChannelDown,
    /// Dead letters waiting for an admin; subject: "".
    DeadLetters,
}

impl IncidentKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            IncidentKind::ChannelDown => "channel_down",
            IncidentKind::DeadLetters => "dead_letters",
        }
    }

    pub fn parse(s: &str) -> Option<IncidentKind> {
        match s {
            "channel_down" => Some(IncidentKind::ChannelDown),
            "dead_letters" => Some(IncidentKind::DeadLetters),
            _ => None,
        }
    }
}

/// An incident not yet closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenIncident {
    pub id: i64,
    pub kind: IncidentKind,
    pub subject: String,
    pub opened_at: DateTime<Utc>,
}

/// Opens an incident; its id when this call opened it, `None` when one was already open.
pub async fn open(
    conn: &mut Conn,
    kind: IncidentKind,
    subject: &str,
    detail: &str,
    now: DateTime<Utc>,
) -> crate::sql::Result<Option<i64>> {
    let r = crate::sql::query(
        "INSERT INTO alert_incidents (kind, subject, opened_at, detail) VALUES (?, ?, ?, ?)
         ON CONFLICT (kind, subject) WHERE closed_at IS NULL DO NOTHING",
    )
    .bind(kind.as_str())
    .bind(subject)
    .bind(ts(now))
    .bind(detail)
    .execute(&mut *conn)
    .await?;
    if r.rows_affected() != 1 {
        return Ok(None);
    }
    crate::sql::query_scalar("SELECT id FROM alert_incidents WHERE kind = ? AND subject = ? AND closed_at IS NULL")
        .bind(kind.as_str())
        .bind(subject)
        .fetch_optional(conn)
        .await
}

/// Closes the open incident of (kind, subject); it when this call closed it, `None` when none
/// was open.
pub async fn close(
    conn: &mut Conn,
    kind: IncidentKind,
    subject: &str,
    now: DateTime<Utc>,
) -> crate::sql::Result<Option<OpenIncident>> {
    let Some(open) = open_one(conn, kind, subject).await? else { return Ok(None) };
    let r = crate::sql::query("UPDATE alert_incidents SET closed_at = ? WHERE id = ? AND closed_at IS NULL")
        .bind(ts(now))
        .bind(open.id)
        .execute(conn)
        .await?;
    Ok((r.rows_affected() == 1).then_some(open))
}

async fn open_one(conn: &mut Conn, kind: IncidentKind, subject: &str) -> crate::sql::Result<Option<OpenIncident>> {
    let row: Option<(i64, String)> = crate::sql::query_as(
        "SELECT id, opened_at FROM alert_incidents WHERE kind = ? AND subject = ? AND closed_at IS NULL",
    )
    .bind(kind.as_str())
    .bind(subject)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|(id, at)| OpenIncident {
        id,
        kind,
        subject: subject.to_string(),
        opened_at: parse_ts(&at).unwrap_or_default(),
    }))
}

/// Every open incident, oldest first.
pub async fn open_incidents(conn: &mut Conn) -> crate::sql::Result<Vec<OpenIncident>> {
    let rows: Vec<(i64, String, String, String)> = crate::sql::query_as(
        "SELECT id, kind, subject, opened_at FROM alert_incidents WHERE closed_at IS NULL ORDER BY id",
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, kind, subject, at)| {
            Some(OpenIncident {
                id,
                kind: IncidentKind::parse(&kind)?,
                subject,
                opened_at: parse_ts(&at).unwrap_or_default(),
            })
        })
        .collect())
}

/// What the outbox holds that operators care about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueHealth {
    /// Waiting to go out ('pending', 'sending'), and when the oldest of them was queued.
    pub backlog: i64,
    pub oldest_backlog_at: Option<DateTime<Utc>>,
    /// Given up after the last attempt, not yet retried or cancelled by an admin.
    pub dead: i64,
    /// No channel reaches the recipient (yet): waits for a binding, not for a channel.
    pub unroutable: i64,
    /// Perhaps delivered, not resent: waits for an admin.
    pub unknown: i64,
}

pub async fn queue_health(conn: &mut Conn) -> crate::sql::Result<QueueHealth> {
    // Both statements name exactly the partial indexes' conditions (outbox_open, outbox_attention).
    let (backlog, oldest): (i64, Option<String>) =
        crate::sql::query_as("SELECT COUNT(*), MIN(created_at) FROM outbox WHERE status IN ('pending', 'sending')")
            .fetch_one(&mut *conn)
            .await?;
    let mut q = QueueHealth { backlog, oldest_backlog_at: oldest.as_deref().and_then(parse_ts), ..Default::default() };
    let rows: Vec<(String, i64)> = crate::sql::query_as(
        "SELECT status, COUNT(*) FROM outbox WHERE status IN ('dead', 'unroutable', 'unknown') GROUP BY status",
    )
    .fetch_all(conn)
    .await?;
    for (status, n) in rows {
        match status.as_str() {
            "dead" => q.dead = n,
            "unroutable" => q.unroutable = n,
            "unknown" => q.unknown = n,
            _ => {}
        }
    }
    Ok(q)
}

/// Rewrites the probe row: succeeds only when the database takes writes.
pub async fn write_probe(conn: &mut Conn, now: DateTime<Utc>) -> crate::sql::Result<()> {
    crate::sql::query(
        "INSERT INTO health_probe (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at",
    )
    .bind(ts(now))
    .execute(conn)
    .await?;
    Ok(())
}
