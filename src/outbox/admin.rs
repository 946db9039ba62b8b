//! What admins see of the queue, and what they can do about stuck messages.

use super::Directory;
use crate::chat::Segment;
use crate::db::ts;
use crate::store::Conn;
use chrono::{DateTime, Utc};
use sqlx::Row;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueStats {
    pub pending: i64,
    pub sending: i64,
    pub sent: i64,
    pub dead: i64,
    pub unroutable: i64,
    pub unknown: i64,
    pub cancelled: i64,
    /// Age in seconds of the oldest message still waiting to go out.
    pub oldest_pending_secs: Option<i64>,
}

pub async fn stats(conn: &mut Conn, now: DateTime<Utc>) -> sqlx::Result<QueueStats> {
    let mut s = QueueStats::default();
    for r in sqlx::query("SELECT status, COUNT(*) AS n FROM outbox GROUP BY status").fetch_all(&mut *conn).await? {
        let n: i64 = r.get("n");
        match r.get::<&str, _>("status") {
            "pending" => s.pending = n,
            "sending" => s.sending = n,
            "sent" => s.sent = n,
            "dead" => s.dead = n,
            "unroutable" => s.unroutable = n,
            "unknown" => s.unknown = n,
            "cancelled" => s.cancelled = n,
            _ => {}
        }
    }
    let oldest: Option<String> =
        sqlx::query_scalar("SELECT MIN(created_at) FROM outbox WHERE status IN ('pending', 'sending', 'unroutable')")
            .fetch_one(&mut *conn)
            .await?;
    s.oldest_pending_secs = oldest.and_then(|o| crate::db::parse_ts(&o)).map(|o| (now - o).num_seconds().max(0));
    Ok(s)
}

#[derive(Debug, Clone)]
pub struct QueueItem {
    pub id: i64,
    pub status: String,
    pub channel: Option<String>,
    pub chat: Option<String>,
    pub person: Option<String>,
    pub attempts: i64,
    pub created_at: String,
    pub last_error: Option<String>,
    pub source: String,
    pub preview: String,
}

/// Messages in the given statuses, oldest first.
pub async fn list(conn: &mut Conn, statuses: &[&str], limit: i64) -> sqlx::Result<Vec<QueueItem>> {
    let placeholders = vec!["?"; statuses.len().max(1)].join(",");
    let sql = format!(
        "SELECT o.id, o.status, o.channel, o.chat_kind, o.chat_id, p.name AS person, o.attempts, o.created_at,
                o.last_error, o.source, o.segments
         FROM outbox o LEFT JOIN people p ON p.id = o.person_id
         WHERE o.status IN ({placeholders}) ORDER BY o.id LIMIT ?"
    );
    let mut q = sqlx::query(&sql);
    if statuses.is_empty() {
        q = q.bind("");
    }
    for s in statuses {
        q = q.bind(*s);
    }
    let rows = q.bind(limit).fetch_all(conn).await?;
    Ok(rows
        .iter()
        .map(|r| {
            let segs: Vec<Segment> = serde_json::from_str(r.get::<&str, _>("segments")).unwrap_or_default();
            let text = crate::chat::plain_text(&segs);
            let preview: String = text.chars().take(40).collect();
            QueueItem {
                id: r.get("id"),
                status: r.get("status"),
                channel: r.get("channel"),
                chat: r
                    .get::<Option<String>, _>("chat_id")
                    .map(|id| format!("{}:{}", r.get::<Option<String>, _>("chat_kind").unwrap_or_default(), id)),
                person: r.get("person"),
                attempts: r.get("attempts"),
                created_at: r.get("created_at"),
                last_error: r.get("last_error"),
                source: r.get("source"),
                preview,
            }
        })
        .collect())
}

#[derive(Debug, PartialEq, Eq)]
pub enum AdminOutcome {
    Done,
    NotFound,
    /// The message is not in a state this action applies to.
    WrongState(String),
    /// Still no channel can reach the recipient.
    StillUnroutable,
}

/// Puts a dead, unknown or unroutable message back in the queue (re-routing it if needed).
pub async fn retry(conn: &mut Conn, dir: &Directory, id: i64, now: DateTime<Utc>) -> sqlx::Result<AdminOutcome> {
    let Some(r) = sqlx::query("SELECT status, person_id, channel FROM outbox WHERE id = ?")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(AdminOutcome::NotFound);
    };
    let status: String = r.get("status");
    match status.as_str() {
        "dead" | "unknown" => {
            let n = sqlx::query(
                "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = ?, lease_until = NULL
                 WHERE id = ? AND status = ?",
            )
            .bind(ts(now))
            .bind(id)
            .bind(&status)
            .execute(conn)
            .await?
            .rows_affected();
            // Changed meanwhile (cancelled by another admin, say): report, do not override.
            Ok(if n == 1 { AdminOutcome::Done } else { AdminOutcome::WrongState(status) })
        }
        "unroutable" => {
            if reroute_one(conn, dir, id, now).await? {
                Ok(AdminOutcome::Done)
            } else {
                Ok(AdminOutcome::StillUnroutable)
            }
        }
        other => Ok(AdminOutcome::WrongState(other.to_string())),
    }
}

pub async fn cancel(conn: &mut Conn, id: i64) -> sqlx::Result<AdminOutcome> {
    let r = sqlx::query(
        "UPDATE outbox SET status = 'cancelled' WHERE id = ? AND status IN ('pending', 'dead', 'unknown', 'unroutable')",
    )
    .bind(id)
    .execute(&mut *conn)
    .await?;
    if r.rows_affected() == 1 {
        return Ok(AdminOutcome::Done);
    }
    let st: Option<String> =
        sqlx::query_scalar("SELECT status FROM outbox WHERE id = ?").bind(id).fetch_optional(conn).await?;
    Ok(st.map_or(AdminOutcome::NotFound, AdminOutcome::WrongState))
}

/// Tries to route an unroutable message now (a person may have bound an account since).
async fn reroute_one(conn: &mut Conn, dir: &Directory, id: i64, now: DateTime<Utc>) -> sqlx::Result<bool> {
    let Some(r) = sqlx::query(
        "SELECT person_id, channel, chat_kind, chat_id, segments FROM outbox WHERE id = ? AND status = 'unroutable'",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(false);
    };
    let to = match (r.get::<Option<i64>, _>("person_id"), r.get::<Option<String>, _>("channel")) {
        (Some(p), _) => super::Recipient::Person(p),
        (None, Some(ch)) => {
            let kind = crate::chat::ChatKind::parse(r.get::<Option<&str>, _>("chat_kind").unwrap_or("group"))
                .unwrap_or(crate::chat::ChatKind::Group);
            super::Recipient::Chat(crate::chat::ChatRef {
                channel: ch,
                kind,
                id: r.get::<Option<String>, _>("chat_id").unwrap_or_default(),
            })
        }
        _ => return Ok(false),
    };
    let Some((chat, prefix)) = super::route::resolve(conn, dir, &to, false).await? else { return Ok(false) };
    let mut segs = prefix;
    segs.extend(serde_json::from_str::<Vec<Segment>>(r.get::<&str, _>("segments")).unwrap_or_default());
    let n = sqlx::query(
        "UPDATE outbox SET status = 'pending', channel = ?, chat_kind = ?, chat_id = ?, segments = ?, next_attempt_at = ?,
             last_error = NULL WHERE id = ? AND status = 'unroutable'",
    )
    .bind(&chat.channel)
    .bind(chat.kind.as_str())
    .bind(&chat.id)
    .bind(serde_json::to_string(&segs).unwrap_or_else(|_| "[]".into()))
    .bind(ts(now))
    .bind(id)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Re-routes every unroutable message that can now be delivered; returns how many moved.
pub async fn reroute_all(conn: &mut Conn, dir: &Directory, now: DateTime<Utc>) -> sqlx::Result<usize> {
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM outbox WHERE status = 'unroutable' ORDER BY id")
        .fetch_all(&mut *conn)
        .await?;
    let mut n = 0;
    for id in ids {
        if reroute_one(conn, dir, id, now).await? {
            n += 1;
        }
    }
    Ok(n)
}
