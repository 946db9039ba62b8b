//! Pages of long answers waiting for `更多` (see `app::paging`).

use super::Conn;
use crate::chat::ChatRef;
use crate::db::ts;
use chrono::{DateTime, Duration, Utc};

/// How long the rest of an answer waits for `更多`.
pub const KEEP: Duration = Duration::hours(24);

/// Keeps every page of an answer (the first already sent), replacing the account's earlier
/// pages in that chat; forgets pages nobody asked for within [`KEEP`].
pub async fn save(
    conn: &mut Conn,
    chat: &ChatRef,
    account: &str,
    pages: &[String],
    now: DateTime<Utc>,
) -> crate::sql::Result<()> {
    crate::sql::query("DELETE FROM reply_pages WHERE created_at < ?").bind(ts(now - KEEP)).execute(&mut *conn).await?;
    crate::sql::query(
        "INSERT INTO reply_pages (channel, chat_kind, chat_id, account_id, pages, sent, created_at)
         VALUES (?, ?, ?, ?, ?, 1, ?)
         ON CONFLICT (channel, chat_kind, chat_id, account_id) DO UPDATE SET
             pages = excluded.pages, sent = 1, created_at = excluded.created_at",
    )
    .bind(&chat.channel)
    .bind(chat.kind.as_str())
    .bind(&chat.id)
    .bind(account)
    .bind(serde_json::to_string(pages).unwrap_or_else(|_| "[]".into()))
    .bind(ts(now))
    .execute(conn)
    .await?;
    Ok(())
}

/// The next page for this account in this chat: its text, its number (1-based) and the page
/// count. Marks it sent; the row goes with the last page.
pub async fn next(
    conn: &mut Conn,
    chat: &ChatRef,
    account: &str,
    now: DateTime<Utc>,
) -> crate::sql::Result<Option<(String, usize, usize)>> {
    let row: Option<(String, i64)> = crate::sql::query_as(
        "SELECT pages, sent FROM reply_pages
          WHERE channel = ? AND chat_kind = ? AND chat_id = ? AND account_id = ? AND created_at >= ?",
    )
    .bind(&chat.channel)
    .bind(chat.kind.as_str())
    .bind(&chat.id)
    .bind(account)
    .bind(ts(now - KEEP))
    .fetch_optional(&mut *conn)
    .await?;
    let Some((pages, sent)) = row else { return Ok(None) };
    let pages: Vec<String> = serde_json::from_str(&pages).unwrap_or_default();
    let sent = usize::try_from(sent).unwrap_or(usize::MAX);
    let Some(page) = pages.get(sent).cloned() else { return Ok(None) };
    if sent + 1 >= pages.len() {
        crate::sql::query(
            "DELETE FROM reply_pages WHERE channel = ? AND chat_kind = ? AND chat_id = ? AND account_id = ?",
        )
        .bind(&chat.channel)
        .bind(chat.kind.as_str())
        .bind(&chat.id)
        .bind(account)
        .execute(conn)
        .await?;
    } else {
        crate::sql::query(
            "UPDATE reply_pages SET sent = sent + 1
              WHERE channel = ? AND chat_kind = ? AND chat_id = ? AND account_id = ?",
        )
        .bind(&chat.channel)
        .bind(chat.kind.as_str())
        .bind(&chat.id)
        .bind(account)
        .execute(conn)
        .await?;
    }
    Ok(Some((page, sent + 1, pages.len())))
}
