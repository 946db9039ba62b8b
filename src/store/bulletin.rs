//! 督导通报: a supervisor's corrections to a period's draft (per section) and the publications.
//! A bulletin is identified by (kind, period, scope) as `domain::bulletin` names them.

use chrono::{DateTime, Utc};

use super::Conn;
use crate::db::{parse_ts, ts};
use crate::domain::bulletin::Section;

/// Which bulletin: kind ('monthly'), period ('2026-11'), scope ('county', 'zone:3').
#[derive(Debug, Clone, Copy)]
pub struct Key<'a> {
    pub kind: &'a str,
    pub period: &'a str,
    pub scope: &'a str,
}

/// The corrections of a draft, in section order.
pub async fn overrides(conn: &mut Conn, key: Key<'_>) -> crate::sql::Result<Vec<(Section, String)>> {
    let rows = crate::sql::query_as::<(String, String)>(
        "SELECT section, body FROM bulletin_overrides WHERE kind = ? AND period = ? AND scope = ?",
    )
    .bind(key.kind)
    .bind(key.period)
    .bind(key.scope)
    .fetch_all(conn)
    .await?;
    let mut out: Vec<(Section, String)> =
        rows.into_iter().filter_map(|(s, body)| Section::from_db(&s).map(|s| (s, body))).collect();
    out.sort_by_key(|(s, _)| *s);
    Ok(out)
}

/// Sets (or replaces) one section's correction.
pub async fn set_override(
    conn: &mut Conn,
    key: Key<'_>,
    section: Section,
    body: &str,
    by: Option<i64>,
    now: DateTime<Utc>,
) -> crate::sql::Result<()> {
    crate::sql::query(
        "INSERT INTO bulletin_overrides (kind, period, scope, section, body, updated_by, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (kind, period, scope, section) DO UPDATE SET
             body = excluded.body, updated_by = excluded.updated_by, updated_at = excluded.updated_at",
    )
    .bind(key.kind)
    .bind(key.period)
    .bind(key.scope)
    .bind(section.as_str())
    .bind(body)
    .bind(by)
    .bind(ts(now))
    .execute(conn)
    .await?;
    Ok(())
}

/// Drops one section's correction; whether there was one.
pub async fn clear_override(conn: &mut Conn, key: Key<'_>, section: Section) -> crate::sql::Result<bool> {
    let done =
        crate::sql::query("DELETE FROM bulletin_overrides WHERE kind = ? AND period = ? AND scope = ? AND section = ?")
            .bind(key.kind)
            .bind(key.period)
            .bind(key.scope)
            .bind(section.as_str())
            .execute(conn)
            .await?;
    Ok(done.rows_affected() > 0)
}

/// The latest sending of a bulletin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub revision: i64,
    pub issue_no: u32,
    pub published_at: DateTime<Utc>,
    /// How many groups it went to.
    pub groups: usize,
}

pub async fn latest(conn: &mut Conn, key: Key<'_>) -> crate::sql::Result<Option<Published>> {
    let row = crate::sql::query_as::<(i64, i64, String, String)>(
        "SELECT revision, issue_no, published_at, channels FROM bulletin_publications
          WHERE kind = ? AND period = ? AND scope = ? ORDER BY revision DESC LIMIT 1",
    )
    .bind(key.kind)
    .bind(key.period)
    .bind(key.scope)
    .fetch_optional(conn)
    .await?;
    Ok(row.and_then(|(revision, issue_no, at, channels)| {
        Some(Published {
            revision,
            issue_no: u32::try_from(issue_no).ok()?,
            published_at: parse_ts(&at)?,
            groups: serde_json::from_str::<Vec<serde_json::Value>>(&channels).map_or(0, |v| v.len()),
        })
    }))
}

/// The issue number (第N期) of a bulletin: the one it was published with, else one more than
/// the periods of the same year published before it (same kind and scope).
pub async fn issue_no(conn: &mut Conn, key: Key<'_>, year: i32) -> crate::sql::Result<u32> {
    if let Some(p) = latest(conn, key).await? {
        return Ok(p.issue_no);
    }
    let before: i64 = crate::sql::query_scalar(
        "SELECT COUNT(DISTINCT period) FROM bulletin_publications
          WHERE kind = ? AND scope = ? AND period >= ? AND period < ?",
    )
    .bind(key.kind)
    .bind(key.scope)
    .bind(format!("{year}-"))
    .bind(key.period)
    .fetch_one(conn)
    .await?;
    Ok(u32::try_from(before).unwrap_or(0).saturating_add(1))
}

/// A sending to record.
#[derive(Debug, Clone)]
pub struct NewPublication<'a> {
    pub key: Key<'a>,
    pub revision: i64,
    pub issue_no: u32,
    pub by: Option<i64>,
    /// JSON array of the groups reached.
    pub channels: &'a serde_json::Value,
    pub title: &'a str,
    pub body: &'a str,
}

/// Records a sending; `false` when this revision was recorded already (a concurrent 发布), in
/// which case the caller sends nothing.
pub async fn record(conn: &mut Conn, p: &NewPublication<'_>, now: DateTime<Utc>) -> crate::sql::Result<bool> {
    let done = crate::sql::query(
        "INSERT INTO bulletin_publications
             (kind, period, scope, revision, issue_no, published_at, published_by, channels, title, body)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (kind, period, scope, revision) DO NOTHING",
    )
    .bind(p.key.kind)
    .bind(p.key.period)
    .bind(p.key.scope)
    .bind(p.revision)
    .bind(i64::from(p.issue_no))
    .bind(ts(now))
    .bind(p.by)
    .bind(p.channels.to_string())
    .bind(p.title)
    .bind(p.body)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// A bulletin as published (its latest revision), for the platform's list of bulletins.
#[derive(Debug, Clone)]
pub struct PublishedRow {
    pub period: String,
    /// 'county' or 'zone:<id>'.
    pub scope: String,
    pub revision: i64,
    pub issue_no: i64,
    pub published_at: DateTime<Utc>,
    pub title: String,
}

/// The latest revision of each published bulletin of `kind`, newest period first.
pub async fn published(conn: &mut Conn, kind: &str, limit: i64) -> crate::sql::Result<Vec<PublishedRow>> {
    let rows = crate::sql::query_as::<(String, String, i64, i64, String, String)>(
        "SELECT p.period, p.scope, p.revision, p.issue_no, p.published_at, p.title
           FROM bulletin_publications p
          WHERE p.kind = ?1
            AND p.revision = (SELECT MAX(q.revision) FROM bulletin_publications q
                               WHERE q.kind = p.kind AND q.period = p.period AND q.scope = p.scope)
          ORDER BY p.period DESC, p.scope LIMIT ?2",
    )
    .bind(kind)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(period, scope, revision, issue_no, at, title)| {
            Some(PublishedRow { period, scope, revision, issue_no, published_at: parse_ts(&at)?, title })
        })
        .collect())
}
