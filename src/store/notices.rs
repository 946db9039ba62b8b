//! Supervisor notices (通知) and who acknowledged them.

use super::Conn;
use crate::db::{parse_ts, ts};
use chrono::{DateTime, Utc};

#[derive(Debug, Clone)]
pub struct Notice {
    pub id: i64,
    pub body: String,
    pub receipt: bool,
    pub creator_name: String,
    pub created_at: DateTime<Utc>,
}

impl Notice {
    pub fn code(&self) -> String {
        crate::domain::notice::notice_code(self.id)
    }
}

pub struct NewNotice<'a> {
    pub body: &'a str,
    pub targets: serde_json::Value,
    pub receipt: bool,
    pub created_by: i64,
    pub inbound_id: Option<i64>,
}

pub async fn create(conn: &mut Conn, n: NewNotice<'_>, now: DateTime<Utc>) -> crate::sql::Result<i64> {
    crate::sql::query_scalar(
        "INSERT INTO notices (body, targets, receipt, created_by, created_at, inbound_id)
         VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(n.body)
    .bind(n.targets.to_string())
    .bind(n.receipt)
    .bind(n.created_by)
    .bind(ts(now))
    .bind(n.inbound_id)
    .fetch_one(conn)
    .await
}

pub async fn add_recipient(
    conn: &mut Conn,
    notice_id: i64,
    person_id: i64,
    outbox_key: &str,
) -> crate::sql::Result<()> {
    crate::sql::query("INSERT OR IGNORE INTO notice_recipients (notice_id, person_id, outbox_key) VALUES (?, ?, ?)")
        .bind(notice_id)
        .bind(person_id)
        .bind(outbox_key)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn get(conn: &mut Conn, id: i64) -> crate::sql::Result<Option<Notice>> {
    let r = crate::sql::query(
        "SELECT n.id, n.body, n.receipt, n.created_at, p.name AS creator_name
           FROM notices n JOIN people p ON p.id = n.created_by WHERE n.id = ?",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?;
    Ok(r.and_then(|r| {
        Some(Notice {
            id: r.get("id"),
            body: r.get("body"),
            receipt: r.get::<i64, _>("receipt") != 0,
            creator_name: r.get("creator_name"),
            created_at: parse_ts(&r.get::<String, _>("created_at"))?,
        })
    }))
}

/// One recipient of a notice, with the delivery state of their copy.
#[derive(Debug, Clone)]
pub struct Recipient {
    pub id: i64,
    pub person_id: i64,
    pub name: String,
    pub acked: bool,
    /// The outbox status of the copy (`sent`, `pending`, `unroutable`, …); `None` before it is queued.
    pub delivery: Option<String>,
}

pub async fn recipients(conn: &mut Conn, notice_id: i64) -> crate::sql::Result<Vec<Recipient>> {
    let rows = crate::sql::query(
        "SELECT r.id, r.person_id, p.name, r.acked_at IS NOT NULL AS acked,
                (SELECT o.status FROM outbox o WHERE o.idempotency_key = r.outbox_key) AS delivery
           FROM notice_recipients r JOIN people p ON p.id = r.person_id
          WHERE r.notice_id = ? ORDER BY p.code",
    )
    .bind(notice_id)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .iter()
        .map(|r| Recipient {
            id: r.get("id"),
            person_id: r.get("person_id"),
            name: r.get("name"),
            acked: r.get::<i64, _>("acked") != 0,
            delivery: r.get("delivery"),
        })
        .collect())
}

/// Records an acknowledgement; false when it was already recorded.
pub async fn ack(conn: &mut Conn, recipient_id: i64, via: &str, now: DateTime<Utc>) -> crate::sql::Result<bool> {
    let done =
        crate::sql::query("UPDATE notice_recipients SET acked_at = ?, ack_via = ? WHERE id = ? AND acked_at IS NULL")
            .bind(ts(now))
            .bind(via)
            .bind(recipient_id)
            .execute(conn)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// Notices asking this person for a receipt they have not given, newest first.
pub async fn awaiting_receipt(conn: &mut Conn, person_id: i64) -> crate::sql::Result<Vec<(i64, String)>> {
    let rows = crate::sql::query(
        "SELECT n.id, n.body FROM notice_recipients r JOIN notices n ON n.id = r.notice_id
          WHERE r.person_id = ? AND n.receipt = 1 AND r.acked_at IS NULL ORDER BY n.id DESC",
    )
    .bind(person_id)
    .fetch_all(conn)
    .await?;
    Ok(rows.iter().map(|r| (r.get("id"), r.get("body"))).collect())
}

/// The notice a sent message carried, by the platform id a reply quotes.
pub async fn by_platform_message(
    conn: &mut Conn,
    channel: &str,
    platform_msg_id: &str,
) -> crate::sql::Result<Option<i64>> {
    let Some(root) = super::outbox::quoted_key(&mut *conn, channel, platform_msg_id).await? else { return Ok(None) };
    let root = root.as_str();
    crate::sql::query_scalar("SELECT notice_id FROM notice_recipients WHERE outbox_key = ?")
        .bind(root)
        .fetch_optional(conn)
        .await
}
