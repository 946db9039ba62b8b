//! The inbound message log: stored verbatim before anything acts on it, deduplicated by
//! (channel, platform message id).

use super::Conn;
use crate::chat::InboundMessage;
use crate::db::ts;
use chrono::{DateTime, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// First delivery: act on it.
    New(i64),
    /// Delivered before but not yet processed (e.g. a crash mid-way): act on it.
    Pending(i64),
    /// Already processed: ignore the duplicate.
    Duplicate(i64),
}

pub async fn store(
    conn: &mut Conn,
    platform: &str,
    msg: &InboundMessage,
    now: DateTime<Utc>,
) -> crate::sql::Result<Stored> {
    let segments = serde_json::to_string(&msg.segments).unwrap_or_else(|_| "[]".into());
    let inserted: Option<i64> = crate::sql::query_scalar(
        "INSERT INTO inbound_messages (channel, platform, platform_msg_id, chat_kind, chat_id, sender_id, sender_name,
             text, segments, to_me, reply_to, sent_at, received_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (channel, platform_msg_id) DO NOTHING RETURNING id",
    )
    .bind(&msg.chat.channel)
    .bind(platform)
    .bind(&msg.platform_msg_id)
    .bind(msg.chat.kind.as_str())
    .bind(&msg.chat.id)
    .bind(&msg.sender.id)
    .bind(&msg.sender.display)
    .bind(msg.text())
    .bind(segments)
    .bind(msg.to_me)
    .bind(msg.reply_to())
    .bind(ts(msg.sent_at))
    .bind(ts(now))
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(id) = inserted {
        return Ok(Stored::New(id));
    }
    let r = crate::sql::query("SELECT id, status FROM inbound_messages WHERE channel = ? AND platform_msg_id = ?")
        .bind(&msg.chat.channel)
        .bind(&msg.platform_msg_id)
        .fetch_one(conn)
        .await?;
    let id: i64 = r.get("id");
    Ok(if r.get::<&str, _>("status") == "received" { Stored::Pending(id) } else { Stored::Duplicate(id) })
}

/// Claims a stored message for processing inside the caller's write transaction. False when
/// another worker already processed it.
pub async fn claim(conn: &mut Conn, id: i64) -> crate::sql::Result<bool> {
    let r = crate::sql::query("UPDATE inbound_messages SET status = 'processed' WHERE id = ? AND status = 'received'")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn annotate(conn: &mut Conn, id: i64, person_id: Option<i64>, intent: &str) -> crate::sql::Result<()> {
    crate::sql::query("UPDATE inbound_messages SET person_id = ?, intent = ? WHERE id = ?")
        .bind(person_id)
        .bind(intent)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Records why a message could not be processed. False when it is no longer `received`.
pub async fn mark_failed(conn: &mut Conn, id: i64, error: &str) -> crate::sql::Result<bool> {
    let r = crate::sql::query(
        "UPDATE inbound_messages SET status = 'failed', error = ? WHERE id = ? AND status = 'received'",
    )
    .bind(error)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Messages stored but never processed (the service stopped mid-way), oldest first.
pub async fn unprocessed(conn: &mut Conn) -> crate::sql::Result<Vec<(i64, InboundMessage)>> {
    let rows = crate::sql::query(
        "SELECT id, channel, platform_msg_id, chat_kind, chat_id, sender_id, sender_name, segments, to_me, sent_at
         FROM inbound_messages WHERE status = 'received' ORDER BY id",
    )
    .fetch_all(conn)
    .await?;
    let mut out = Vec::new();
    for r in rows {
        let kind = crate::chat::ChatKind::parse(r.get("chat_kind")).unwrap_or(crate::chat::ChatKind::Private);
        let msg = InboundMessage {
            chat: crate::chat::ChatRef { channel: r.get("channel"), kind, id: r.get("chat_id") },
            sender: crate::chat::UserRef { id: r.get("sender_id"), display: r.get("sender_name") },
            platform_msg_id: r.get("platform_msg_id"),
            segments: serde_json::from_str(r.get::<&str, _>("segments")).unwrap_or_default(),
            to_me: r.get::<bool, _>("to_me"),
            sent_at: crate::db::parse_ts(r.get("sent_at")).unwrap_or_else(Utc::now),
        };
        out.push((r.get("id"), msg));
    }
    Ok(out)
}
