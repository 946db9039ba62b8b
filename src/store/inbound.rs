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

/// The columns [`decode`] reads, of `inbound_messages m`.
const COLUMNS: &str =
    "m.id, m.channel, m.platform_msg_id, m.chat_kind, m.chat_id, m.sender_id, m.sender_name, m.segments, m.to_me, m.sent_at";

/// Messages stored but never processed (the service stopped mid-way), oldest first.
pub async fn unprocessed(conn: &mut Conn) -> crate::sql::Result<Vec<(i64, InboundMessage)>> {
    let sql = format!("SELECT {COLUMNS} FROM inbound_messages m WHERE m.status = 'received' ORDER BY m.id");
    Ok(decode(crate::sql::query(&sql).fetch_all(conn).await?))
}

/// Messages as stored, from rows of [`COLUMNS`].
fn decode(rows: Vec<crate::sql::Row>) -> Vec<(i64, InboundMessage)> {
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
    out
}

// ---- Read-only commands, answered outside the write transaction ----

/// Records, in the processing transaction, that the message's answer is built by a reader.
pub async fn defer(conn: &mut Conn, id: i64, now: DateTime<Utc>) -> crate::sql::Result<()> {
    crate::sql::query("INSERT INTO deferred_reads (inbound_id, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING")
        .bind(id)
        .bind(ts(now))
        .execute(conn)
        .await?;
    Ok(())
}

/// Takes the deferral back, in the transaction that queues the answer. False when it was
/// already answered (a second reader, or a start-up recovery, got there first).
pub async fn undefer(conn: &mut Conn, id: i64) -> crate::sql::Result<bool> {
    let r = crate::sql::query("DELETE FROM deferred_reads WHERE inbound_id = ?").bind(id).execute(conn).await?;
    Ok(r.rows_affected() == 1)
}

/// Deferred messages not answered yet (the service stopped while building them), oldest first.
pub async fn deferred(conn: &mut Conn) -> crate::sql::Result<Vec<(i64, InboundMessage)>> {
    let sql =
        format!("SELECT {COLUMNS} FROM inbound_messages m JOIN deferred_reads d ON d.inbound_id = m.id ORDER BY m.id");
    Ok(decode(crate::sql::query(&sql).fetch_all(conn).await?))
}

/// Records why a deferred message could not be answered (it was claimed, so it is `processed`).
pub async fn mark_deferred_failed(conn: &mut Conn, id: i64, error: &str) -> crate::sql::Result<()> {
    crate::sql::query("UPDATE inbound_messages SET status = 'failed', error = ? WHERE id = ? AND status = 'processed'")
        .bind(error)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}
