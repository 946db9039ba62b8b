//! Files the outbox delivers, and the one-time download links for channels that cannot carry
//! files. The bytes are read only when a file is actually sent or downloaded: the outbox's
//! claims see the file's id alone.

use super::Conn;
use crate::db::ts;
use chrono::{DateTime, Utc};

/// A stored file with its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    pub name: String,
    pub mime: String,
    pub bytes: Vec<u8>,
}

/// Stores a file's bytes; returns its id for the outbox row that carries it.
pub async fn insert(
    conn: &mut Conn,
    name: &str,
    mime: &str,
    bytes: &[u8],
    now: DateTime<Utc>,
) -> crate::sql::Result<i64> {
    crate::sql::query_scalar(
        "INSERT INTO outbox_files (name, mime, size, bytes, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(name)
    .bind(mime)
    .bind(bytes.len())
    .bind(bytes)
    .bind(ts(now))
    .fetch_one(&mut *conn)
    .await
}

/// A file's name, MIME type and size in bytes, without reading the bytes.
pub async fn meta(conn: &mut Conn, id: i64) -> crate::sql::Result<Option<(String, String, i64)>> {
    crate::sql::query_as("SELECT name, mime, size FROM outbox_files WHERE id = ?").bind(id).fetch_optional(conn).await
}

/// A file with its bytes.
pub async fn load(conn: &mut Conn, id: i64) -> crate::sql::Result<Option<StoredFile>> {
    let row = crate::sql::query("SELECT name, mime, bytes FROM outbox_files WHERE id = ?")
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|r| StoredFile { name: r.get("name"), mime: r.get("mime"), bytes: r.get("bytes") }))
}

/// Records a download link by the hash of its token.
pub async fn create_link(
    conn: &mut Conn,
    file_id: i64,
    token_hash: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> crate::sql::Result<()> {
    crate::sql::query("INSERT INTO file_links (token_hash, file_id, created_at, expires_at) VALUES (?, ?, ?, ?)")
        .bind(token_hash)
        .bind(file_id)
        .bind(ts(now))
        .bind(ts(expires_at))
        .execute(conn)
        .await?;
    Ok(())
}

/// What a download link gives.
#[derive(Debug, PartialEq, Eq)]
pub enum Take {
    /// The file; the link is spent from now on.
    File(StoredFile),
    /// Downloaded before, expired, or its file deleted.
    Gone,
    /// No such link.
    Unknown,
}

/// Spends a link (one statement, so two requests racing cannot both win) and returns its file.
pub async fn take_link(conn: &mut Conn, token_hash: &str, now: DateTime<Utc>) -> crate::sql::Result<Take> {
    let file: Option<Option<i64>> = crate::sql::query_scalar(
        "UPDATE file_links SET used_at = ?1 WHERE token_hash = ?2 AND used_at IS NULL AND expires_at > ?1
             RETURNING file_id",
    )
    .bind(ts(now))
    .bind(token_hash)
    .fetch_optional(&mut *conn)
    .await?;
    match file {
        Some(Some(id)) => Ok(load(conn, id).await?.map_or(Take::Gone, Take::File)),
        Some(None) => Ok(Take::Gone),
        None => {
            let known: Option<i64> = crate::sql::query_scalar("SELECT id FROM file_links WHERE token_hash = ?")
                .bind(token_hash)
                .fetch_optional(conn)
                .await?;
            Ok(if known.is_some() { Take::Gone } else { Take::Unknown })
        }
    }
}

/// How long a spent or expired link still answers "gone" rather than "unknown".
const LINK_MEMORY_DAYS: i64 = 30;

/// Deletes up to `limit` files nothing needs any more: no outbox row still to be delivered
/// (pending, sending, or waiting for an admin) refers to it and no link to it can still be
/// used. Then forgets links long past. Returns (files, links) deleted.
pub async fn prune(conn: &mut Conn, now: DateTime<Utc>, limit: u32) -> crate::sql::Result<(u64, u64)> {
    let files = crate::sql::query(
        "DELETE FROM outbox_files WHERE id IN (
             SELECT f.id FROM outbox_files f
             WHERE NOT EXISTS (SELECT 1 FROM outbox o WHERE o.file_id = f.id
                               AND o.status IN ('pending', 'sending', 'dead', 'unknown', 'unroutable'))
               AND NOT EXISTS (SELECT 1 FROM file_links l WHERE l.file_id = f.id
                               AND l.used_at IS NULL AND l.expires_at > ?)
             ORDER BY f.id LIMIT ?)",
    )
    .bind(ts(now))
    .bind(i64::from(limit.max(1)))
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let links = crate::sql::query("DELETE FROM file_links WHERE expires_at < ?")
        .bind(ts(now - chrono::Duration::days(LINK_MEMORY_DAYS)))
        .execute(&mut *conn)
        .await?
        .rows_affected();
    Ok((files, links))
}
