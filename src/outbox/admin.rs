//! What admins see of the queue, and what they can do about stuck messages.

use super::Directory;
use crate::chat::Segment;
use crate::store::outbox as store;
use crate::store::Conn;
use chrono::{DateTime, Utc};

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

pub async fn stats(conn: &mut Conn, now: DateTime<Utc>) -> crate::sql::Result<QueueStats> {
    let mut s = QueueStats::default();
    for (status, n) in store::count_by_status(conn).await? {
        match status.as_str() {
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
    let oldest = store::oldest_waiting(conn).await?;
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
pub async fn list(conn: &mut Conn, statuses: &[&str], limit: i64) -> crate::sql::Result<Vec<QueueItem>> {
    let rows = store::list(conn, statuses, limit).await?;
    Ok(rows
        .iter()
        .map(|r| {
            let segs: Vec<Segment> = serde_json::from_str(&r.segments).unwrap_or_default();
            let text = crate::chat::plain_text(&segs);
            let preview: String = text.chars().take(40).collect();
            QueueItem {
                id: r.id,
                status: r.status.clone(),
                channel: r.channel.clone(),
                chat: r.chat_id.as_ref().map(|id| format!("{}:{}", r.chat_kind.clone().unwrap_or_default(), id)),
                person: r.person.clone(),
                attempts: r.attempts,
                created_at: r.created_at.clone(),
                last_error: r.last_error.clone(),
                source: r.source.clone(),
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
pub async fn retry(conn: &mut Conn, dir: &Directory, id: i64, now: DateTime<Utc>) -> crate::sql::Result<AdminOutcome> {
    let Some((status, _, _)) = store::retry_info(conn, id).await? else {
        return Ok(AdminOutcome::NotFound);
    };
    match status.as_str() {
        "dead" | "unknown" => {
            let applied = store::requeue(conn, id, &status, now).await?;
            // Changed meanwhile (cancelled by another admin, say): report, do not override.
            Ok(if applied { AdminOutcome::Done } else { AdminOutcome::WrongState(status) })
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

pub async fn cancel(conn: &mut Conn, id: i64) -> crate::sql::Result<AdminOutcome> {
    if store::cancel(conn, id).await? {
        return Ok(AdminOutcome::Done);
    }
    let st = store::status_of(conn, id).await?;
    Ok(st.map_or(AdminOutcome::NotFound, AdminOutcome::WrongState))
}

/// Tries to route an unroutable message now (a person may have bound an account since).
async fn reroute_one(conn: &mut Conn, dir: &Directory, id: i64, now: DateTime<Utc>) -> crate::sql::Result<bool> {
    let Some((person_id, channel, chat_kind, chat_id, segments)) = store::unroutable(conn, id).await? else {
        return Ok(false);
    };
    let to = match (person_id, channel) {
        (Some(p), _) => super::Recipient::Person(p),
        (None, Some(ch)) => {
            let kind = crate::chat::ChatKind::parse(chat_kind.as_deref().unwrap_or("group"))
                .unwrap_or(crate::chat::ChatKind::Group);
            super::Recipient::Chat(crate::chat::ChatRef { channel: ch, kind, id: chat_id.unwrap_or_default() })
        }
        _ => return Ok(false),
    };
    let Some((chat, prefix)) = super::route::resolve(conn, dir, &to, false).await? else { return Ok(false) };
    let mut segs = prefix;
    segs.extend(serde_json::from_str::<Vec<Segment>>(&segments).unwrap_or_default());
    let segs = serde_json::to_string(&segs).unwrap_or_else(|_| "[]".into());
    store::reroute(conn, id, &chat.channel, chat.kind.as_str(), &chat.id, &segs, now).await
}

/// Re-routes every unroutable message that can now be delivered; returns how many moved.
pub async fn reroute_all(conn: &mut Conn, dir: &Directory, now: DateTime<Utc>) -> crate::sql::Result<usize> {
    let ids = store::unroutable_ids(conn).await?;
    let mut n = 0;
    for id in ids {
        if reroute_one(conn, dir, id, now).await? {
            n += 1;
        }
    }
    Ok(n)
}
