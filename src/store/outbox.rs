//! The outbox table: enqueueing, the delivery worker's claims and outcomes, and admin actions.
//!
//! Every state change names the state it expects and reports whether it applied: a claim takes
//! only 'pending' rows, an outcome is recorded only while the row is still 'sending' under the
//! lease that claimed it, admin actions only from the states they are allowed from.

use super::Conn;
use crate::db::ts;
use chrono::{DateTime, Utc};

/// Ids as a JSON array, for `id NOT IN (SELECT value FROM json_each(?))`.
fn id_list(ids: &[i64]) -> String {
    serde_json::to_string(ids).unwrap_or_else(|_| "[]".into())
}

pub async fn exists(conn: &mut Conn, key: &str) -> crate::sql::Result<bool> {
    let exists: Option<i64> = crate::sql::query_scalar("SELECT id FROM outbox WHERE idempotency_key = ?")
        .bind(key)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(exists.is_some())
}

/// One routed row to insert (a part of an envelope).
pub struct NewRow<'a> {
    pub key: &'a str,
    pub channel: Option<&'a str>,
    pub chat_kind: Option<&'a str>,
    pub chat_id: Option<&'a str>,
    pub person_id: Option<i64>,
    /// JSON of the segments.
    pub segments: &'a str,
    pub delivery: &'a str,
    pub source: &'a str,
    /// The file the row delivers (`store::files`), if it carries one.
    pub file_id: Option<i64>,
}

/// Inserts a routed row unless its key exists; returns the rows inserted (0 or 1).
pub async fn insert_routed(
    conn: &mut Conn,
    row: &NewRow<'_>,
    status: &str,
    now: DateTime<Utc>,
) -> crate::sql::Result<u64> {
    Ok(crate::sql::query(
        "INSERT INTO outbox (idempotency_key, channel, chat_kind, chat_id, person_id, segments, delivery, status,
                 next_attempt_at, created_at, source, file_id)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(row.key)
    .bind(row.channel)
    .bind(row.chat_kind)
    .bind(row.chat_id)
    .bind(row.person_id)
    .bind(row.segments)
    .bind(row.delivery)
    .bind(status)
    .bind(ts(now))
    .bind(ts(now))
    .bind(row.source)
    .bind(row.file_id)
    .execute(&mut *conn)
    .await?
    .rows_affected())
}

/// Inserts a row no channel can deliver as 'unroutable'; returns the rows inserted (0 or 1).
pub async fn insert_unroutable(
    conn: &mut Conn,
    row: &NewRow<'_>,
    now: DateTime<Utc>,
    error: &str,
) -> crate::sql::Result<u64> {
    Ok(crate::sql::query(
        "INSERT INTO outbox (idempotency_key, person_id, chat_kind, chat_id, channel, segments, delivery, status,
                 next_attempt_at, created_at, source, last_error, file_id)
             VALUES (?, ?, ?, ?, ?, ?, ?, 'unroutable', ?, ?, ?, ?, ?) ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(row.key)
    .bind(row.person_id)
    .bind(row.chat_kind)
    .bind(row.chat_id)
    .bind(row.channel)
    .bind(row.segments)
    .bind(row.delivery)
    .bind(ts(now))
    .bind(ts(now))
    .bind(row.source)
    .bind(error)
    .bind(row.file_id)
    .execute(&mut *conn)
    .await?
    .rows_affected())
}

/// Takes back a channel's 'sending' rows whose owner is gone: all of them (`expired_by` None),
/// or those whose lease ended by `expired_by`; never `ours`. Returns (resent, marked unknown).
pub async fn reclaim(
    conn: &mut Conn,
    channel: &str,
    expired_by: Option<&str>,
    ours: &[i64],
) -> crate::sql::Result<(u64, u64)> {
    let ours = id_list(ours);
    let resent = crate::sql::query(
        "UPDATE outbox SET status = 'pending', lease_until = NULL
             WHERE channel = ?1 AND status = 'sending' AND delivery = 'at_least_once'
               AND (?2 IS NULL OR lease_until IS NULL OR lease_until <= ?2)
               AND id NOT IN (SELECT value FROM json_each(?3))",
    )
    .bind(channel)
    .bind(expired_by)
    .bind(&ours)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let unknown = crate::sql::query(
        "UPDATE outbox SET status = 'unknown', lease_until = NULL,
                 last_error = 'interrupted while sending; not resent to avoid a duplicate'
             WHERE channel = ?1 AND status = 'sending' AND delivery = 'at_most_once'
               AND (?2 IS NULL OR lease_until IS NULL OR lease_until <= ?2)
               AND id NOT IN (SELECT value FROM json_each(?3))",
    )
    .bind(channel)
    .bind(expired_by)
    .bind(&ours)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok((resent, unknown))
}

/// A channel's sends after `since`, oldest first: (chat_kind, chat_id, sent_at).
pub async fn sent_since(
    conn: &mut Conn,
    channel: &str,
    since: DateTime<Utc>,
) -> crate::sql::Result<Vec<(String, String, String)>> {
    let rows = crate::sql::query(
        "SELECT chat_kind, chat_id, sent_at FROM outbox WHERE channel = ? AND status = 'sent' AND sent_at > ? ORDER BY sent_at",
    )
    .bind(channel)
    .bind(ts(since))
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.iter().map(|r| (r.get("chat_kind"), r.get("chat_id"), r.get("sent_at"))).collect())
}

/// A ready row at the head of its chat.
pub struct HeadRow {
    pub id: i64,
    pub chat_kind: String,
    pub chat_id: String,
    pub segments: String,
    pub attempts: i64,
    pub delivery: String,
    /// The file it delivers; its bytes are loaded only when it is sent.
    pub file_id: Option<i64>,
}

/// Like [`take_heads`], but takes from each chat the run of up to `per_chat` rows that starts at
/// its head: consecutive, all due and all of `delivery` (a row of the other kind, or one not due
/// yet, ends the run). Up to `limit` rows in all, oldest first. The worker sends a chat's run in
/// order, one after another, so a chat with a backlog no longer waits for a claim per message.
pub async fn take_runs(
    conn: &mut Conn,
    channel: &str,
    now: DateTime<Utc>,
    lease: &str,
    delivery: &str,
    limit: i64,
    per_chat: i64,
) -> crate::sql::Result<Vec<HeadRow>> {
    let rows = crate::sql::query(
        "WITH heads AS (
             SELECT o.chat_kind, o.chat_id FROM outbox o
             WHERE o.channel = ?1 AND o.status = 'pending' AND o.next_attempt_at <= ?2 AND o.delivery = ?5
               AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.channel = o.channel AND p.chat_kind = o.chat_kind
                               AND p.chat_id = o.chat_id AND p.id < o.id AND p.status IN ('pending', 'sending'))
             ORDER BY o.id LIMIT ?3),
         runs AS (
             SELECT x.id, x.chat_kind, x.chat_id, x.delivery, x.next_attempt_at FROM heads h
             JOIN outbox x ON x.id IN (SELECT y.id FROM outbox y WHERE y.channel = ?1 AND y.chat_kind = h.chat_kind
                                       AND y.chat_id = h.chat_id AND y.status = 'pending' ORDER BY y.id LIMIT ?6)),
         marked AS (
             SELECT id, MAX(next_attempt_at) OVER w AS latest, SUM(delivery <> ?5) OVER w AS others FROM runs
             WINDOW w AS (PARTITION BY chat_kind, chat_id ORDER BY id ROWS UNBOUNDED PRECEDING))
         UPDATE outbox SET status = 'sending', lease_until = ?4
             WHERE status = 'pending'
               AND id IN (SELECT id FROM marked WHERE latest <= ?2 AND others = 0 ORDER BY id LIMIT ?3)
             RETURNING id, chat_kind, chat_id, segments, attempts, delivery, file_id",
    )
    .bind(channel)
    .bind(ts(now))
    .bind(limit)
    .bind(lease)
    .bind(delivery)
    .bind(per_chat.max(1))
    .fetch_all(&mut *conn)
    .await?;
    let mut out: Vec<HeadRow> = rows.iter().map(head_row).collect();
    // RETURNING gives no order.
    out.sort_by_key(|r| r.id);
    Ok(out)
}

/// Claims, in the transaction that just queued them, the at-least-once rows of one envelope
/// family (keys from `key_from` up to, not including, `key_to`) on `channel` — 'pending' →
/// 'sending' under `lease` — unless an older row of the same chat is still 'pending' (it must
/// go first, and the worker's claims keep that order). Rows of the chat already 'sending' do
/// not stop it: the worker sends the handed rows after them. Oldest first.
pub async fn hand_off(
    conn: &mut Conn,
    channel: &str,
    key_from: &str,
    key_to: &str,
    lease: &str,
) -> crate::sql::Result<Vec<HeadRow>> {
    let rows = crate::sql::query(
        "UPDATE outbox SET status = 'sending', lease_until = ?1
             WHERE idempotency_key >= ?2 AND idempotency_key < ?3 AND channel = ?4 AND status = 'pending'
               AND delivery = 'at_least_once'
               AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.channel = outbox.channel
                               AND p.chat_kind = outbox.chat_kind AND p.chat_id = outbox.chat_id
                               AND p.id < outbox.id AND p.status = 'pending'
                               AND NOT (p.idempotency_key >= ?2 AND p.idempotency_key < ?3))
             RETURNING id, chat_kind, chat_id, segments, attempts, delivery, file_id",
    )
    .bind(lease)
    .bind(key_from)
    .bind(key_to)
    .bind(channel)
    .fetch_all(&mut *conn)
    .await?;
    let mut out: Vec<HeadRow> = rows.iter().map(head_row).collect();
    out.sort_by_key(|r| r.id);
    Ok(out)
}

fn head_row(r: &crate::sql::Row) -> HeadRow {
    HeadRow {
        id: r.get("id"),
        chat_kind: r.get("chat_kind"),
        chat_id: r.get("chat_id"),
        segments: r.get("segments"),
        attempts: r.get("attempts"),
        delivery: r.get("delivery"),
        file_id: r.get("file_id"),
    }
}

/// Claims, in one statement, up to `limit` ready rows of a channel that are the oldest unsent of
/// their chat ('pending' → 'sending' under `lease`); oldest first; only rows of `delivery` when
/// given. A chat with a row in flight has no head, so it yields nothing until that row's outcome
/// is recorded (per-chat order).
pub async fn take_heads(
    conn: &mut Conn,
    channel: &str,
    now: DateTime<Utc>,
    lease: &str,
    delivery: Option<&str>,
    limit: i64,
) -> crate::sql::Result<Vec<HeadRow>> {
    let rows = crate::sql::query(
        "UPDATE outbox SET status = 'sending', lease_until = ?4
             WHERE status = 'pending' AND id IN (
                 SELECT o.id FROM outbox o
                 WHERE o.channel = ?1 AND o.status = 'pending' AND o.next_attempt_at <= ?2
                   AND (?5 IS NULL OR o.delivery = ?5)
                   AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.channel = o.channel AND p.chat_kind = o.chat_kind
                                   AND p.chat_id = o.chat_id AND p.id < o.id AND p.status IN ('pending', 'sending'))
                 ORDER BY o.id LIMIT ?3)
             RETURNING id, chat_kind, chat_id, segments, attempts, delivery, file_id",
    )
    .bind(channel)
    .bind(ts(now))
    .bind(limit)
    .bind(lease)
    .bind(delivery)
    .fetch_all(&mut *conn)
    .await?;
    let mut out: Vec<HeadRow> = rows.iter().map(head_row).collect();
    // RETURNING gives no order.
    out.sort_by_key(|r| r.id);
    Ok(out)
}

/// How a send ended, as recorded on its row.
pub enum SendOutcome<'a> {
    Sent {
        platform_msg_id: Option<&'a str>,
    },
    Retry {
        next_attempt_at: DateTime<Utc>,
        count_attempt: bool,
        error: &'a str,
    },
    Dead {
        error: &'a str,
    },
    Unknown {
        error: &'a str,
    },
    /// Never handed to the platform (the worker stopped first): back to 'pending' as it was.
    Released,
    /// Deliberately not sent (an inline image the channel cannot show; its figures went as
    /// text): 'cancelled', with the reason, so nobody retries or resends it.
    Skipped {
        reason: &'a str,
    },
}

/// Records an outcome if the row is still 'sending' under `lease`; false when it is not ours.
pub async fn record_outcome(
    conn: &mut Conn,
    id: i64,
    lease: &str,
    outcome: SendOutcome<'_>,
    now: DateTime<Utc>,
) -> crate::sql::Result<bool> {
    let q = match outcome {
        SendOutcome::Sent { platform_msg_id } => crate::sql::query(
            "UPDATE outbox SET status = 'sent', sent_at = ?, platform_msg_id = ?, attempts = attempts + 1,
                     lease_until = NULL, last_error = NULL WHERE id = ? AND status = 'sending' AND lease_until = ?",
        )
        .bind(ts(now))
        .bind(platform_msg_id),
        SendOutcome::Retry { next_attempt_at, count_attempt, error } => crate::sql::query(
            "UPDATE outbox SET status = 'pending', next_attempt_at = ?, attempts = attempts + ?, lease_until = NULL,
                         last_error = ? WHERE id = ? AND status = 'sending' AND lease_until = ?",
        )
        .bind(ts(next_attempt_at))
        .bind(i64::from(count_attempt))
        .bind(error),
        SendOutcome::Dead { error } => crate::sql::query(
            "UPDATE outbox SET status = 'dead', attempts = attempts + 1, lease_until = NULL, last_error = ?
                     WHERE id = ? AND status = 'sending' AND lease_until = ?",
        )
        .bind(error),
        SendOutcome::Unknown { error } => crate::sql::query(
            "UPDATE outbox SET status = 'unknown', attempts = attempts + 1, lease_until = NULL, last_error = ?
                     WHERE id = ? AND status = 'sending' AND lease_until = ?",
        )
        .bind(error),
        SendOutcome::Released => crate::sql::query(
            "UPDATE outbox SET status = 'pending', lease_until = NULL WHERE id = ? AND status = 'sending' AND lease_until = ?",
        ),
        SendOutcome::Skipped { reason } => crate::sql::query(
            "UPDATE outbox SET status = 'cancelled', lease_until = NULL, last_error = ?
                     WHERE id = ? AND status = 'sending' AND lease_until = ?",
        )
        .bind(reason),
    };
    let n = q.bind(id).bind(lease).execute(&mut *conn).await?.rows_affected();
    Ok(n == 1)
}

/// How many chat heads (and foreign leases) are due at `now`, and the earliest later moment.
pub async fn next_due(
    conn: &mut Conn,
    channel: &str,
    ours: &[i64],
    now: DateTime<Utc>,
) -> crate::sql::Result<(i64, Option<String>)> {
    crate::sql::query_as(
        "SELECT COALESCE(SUM(t <= ?3), 0), MIN(CASE WHEN t > ?3 THEN t END) FROM (
                 SELECT o.next_attempt_at AS t
                 FROM (SELECT MIN(id) AS id FROM outbox WHERE channel = ?1 AND status IN ('pending', 'sending')
                       GROUP BY chat_kind, chat_id) h
                 JOIN outbox o ON o.id = h.id WHERE o.status = 'pending'
                 UNION ALL
                 SELECT lease_until FROM outbox WHERE channel = ?1 AND status = 'sending'
                     AND id NOT IN (SELECT value FROM json_each(?2)))",
    )
    .bind(channel)
    .bind(id_list(ours))
    .bind(ts(now))
    .fetch_one(&mut *conn)
    .await
}

/// Rows still to be delivered at `now` (sending, or pending and due).
pub async fn in_flight_count(conn: &mut Conn, now: DateTime<Utc>) -> crate::sql::Result<i64> {
    crate::sql::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE status = 'sending' OR (status = 'pending' AND next_attempt_at <= ?)",
    )
    .bind(ts(now))
    .fetch_one(&mut *conn)
    .await
}

// ---- admin ----

/// Rows per status.
pub async fn count_by_status(conn: &mut Conn) -> crate::sql::Result<Vec<(String, i64)>> {
    let rows =
        crate::sql::query("SELECT status, COUNT(*) AS n FROM outbox GROUP BY status").fetch_all(&mut *conn).await?;
    Ok(rows.iter().map(|r| (r.get("status"), r.get("n"))).collect())
}

pub async fn oldest_waiting(conn: &mut Conn) -> crate::sql::Result<Option<String>> {
    crate::sql::query_scalar("SELECT MIN(created_at) FROM outbox WHERE status IN ('pending', 'sending', 'unroutable')")
        .fetch_one(&mut *conn)
        .await
}

pub async fn status_of(conn: &mut Conn, id: i64) -> crate::sql::Result<Option<String>> {
    crate::sql::query_scalar("SELECT status FROM outbox WHERE id = ?").bind(id).fetch_optional(conn).await
}

/// (status, person_id, channel) of a row.
pub async fn retry_info(conn: &mut Conn, id: i64) -> crate::sql::Result<Option<(String, Option<i64>, Option<String>)>> {
    let r = crate::sql::query("SELECT status, person_id, channel FROM outbox WHERE id = ?")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(r.map(|r| (r.get("status"), r.get("person_id"), r.get("channel"))))
}

/// `expected` ('dead' or 'unknown') → 'pending', due now; false when the row changed meanwhile.
pub async fn requeue(conn: &mut Conn, id: i64, expected: &str, now: DateTime<Utc>) -> crate::sql::Result<bool> {
    let n = crate::sql::query(
        "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = ?, lease_until = NULL
                 WHERE id = ? AND status = ?",
    )
    .bind(ts(now))
    .bind(id)
    .bind(expected)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// → 'cancelled' from a state not yet sent or in flight; false otherwise.
pub async fn cancel(conn: &mut Conn, id: i64) -> crate::sql::Result<bool> {
    let r = crate::sql::query(
        "UPDATE outbox SET status = 'cancelled' WHERE id = ? AND status IN ('pending', 'dead', 'unknown', 'unroutable')",
    )
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// An unroutable row: (person_id, channel, chat_kind, chat_id, segments).
pub type UnroutableRow = (Option<i64>, Option<String>, Option<String>, Option<String>, String);

pub async fn unroutable(conn: &mut Conn, id: i64) -> crate::sql::Result<Option<UnroutableRow>> {
    let r = crate::sql::query(
        "SELECT person_id, channel, chat_kind, chat_id, segments FROM outbox WHERE id = ? AND status = 'unroutable'",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(r.map(|r| (r.get("person_id"), r.get("channel"), r.get("chat_kind"), r.get("chat_id"), r.get("segments"))))
}

/// 'unroutable' → 'pending' on a new route; false when the row changed meanwhile.
pub async fn reroute(
    conn: &mut Conn,
    id: i64,
    channel: &str,
    chat_kind: &str,
    chat_id: &str,
    segments: &str,
    now: DateTime<Utc>,
) -> crate::sql::Result<bool> {
    let n = crate::sql::query(
        "UPDATE outbox SET status = 'pending', channel = ?, chat_kind = ?, chat_id = ?, segments = ?, next_attempt_at = ?,
             last_error = NULL WHERE id = ? AND status = 'unroutable'",
    )
    .bind(channel)
    .bind(chat_kind)
    .bind(chat_id)
    .bind(segments)
    .bind(ts(now))
    .bind(id)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

pub async fn unroutable_ids(conn: &mut Conn) -> crate::sql::Result<Vec<i64>> {
    crate::sql::query_scalar("SELECT id FROM outbox WHERE status = 'unroutable' ORDER BY id")
        .fetch_all(&mut *conn)
        .await
}

/// A row as an admin lists it.
pub struct ListedRow {
    pub id: i64,
    pub status: String,
    pub channel: Option<String>,
    pub chat_kind: Option<String>,
    pub chat_id: Option<String>,
    pub person: Option<String>,
    pub attempts: i64,
    pub created_at: String,
    pub last_error: Option<String>,
    pub source: String,
    pub segments: String,
}

/// Rows in the given statuses, oldest first.
pub async fn list(conn: &mut Conn, statuses: &[&str], limit: i64) -> crate::sql::Result<Vec<ListedRow>> {
    let placeholders = vec!["?"; statuses.len().max(1)].join(",");
    let sql = format!(
        "SELECT o.id, o.status, o.channel, o.chat_kind, o.chat_id, p.name AS person, o.attempts, o.created_at,
                o.last_error, o.source, o.segments
         FROM outbox o LEFT JOIN people p ON p.id = o.person_id
         WHERE o.status IN ({placeholders}) ORDER BY o.id LIMIT ?"
    );
    let mut q = crate::sql::query(&sql);
    if statuses.is_empty() {
        q = q.bind("");
    }
    for s in statuses {
        q = q.bind(*s);
    }
    let rows = q.bind(limit).fetch_all(conn).await?;
    Ok(rows
        .iter()
        .map(|r| ListedRow {
            id: r.get("id"),
            status: r.get("status"),
            channel: r.get("channel"),
            chat_kind: r.get("chat_kind"),
            chat_id: r.get("chat_id"),
            person: r.get("person"),
            attempts: r.get("attempts"),
            created_at: r.get("created_at"),
            last_error: r.get("last_error"),
            source: r.get("source"),
            segments: r.get("segments"),
        })
        .collect())
}

/// The outbox key of the message a reply quotes, by its platform id, without the part suffix
/// that later parts of a split message carry ("<key>#2"): the key its workflow recorded.
pub async fn quoted_key(conn: &mut Conn, channel: &str, platform_msg_id: &str) -> crate::sql::Result<Option<String>> {
    let key: Option<String> = crate::sql::query_scalar(
        "SELECT idempotency_key FROM outbox WHERE channel = ? AND platform_msg_id = ? LIMIT 1",
    )
    .bind(channel)
    .bind(platform_msg_id)
    .fetch_optional(conn)
    .await?;
    Ok(key.map(|k| k.split_once('#').map_or(k.as_str(), |(root, _)| root).to_string()))
}
