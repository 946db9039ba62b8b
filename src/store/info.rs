//! 信息报送: the information items submitted upward, their 采用 decision, and the items of a
//! period (the month's figures and list).

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::stats::{bounds, local_day};
use super::Conn;
use crate::db::{parse_ts, ts};
use crate::domain::stats::info::InfoRow;
use crate::domain::stats::Period;

/// An item to record.
#[derive(Debug, Clone)]
pub struct NewItem<'a> {
    pub title: &'a str,
    pub link: Option<&'a str>,
    pub body: Option<&'a str>,
    pub submitted_to: Option<&'a str>,
    pub submitted_by: Option<i64>,
    pub zone_id: Option<i64>,
}

/// A stored item, with its submitter's name (if they are still on the roster).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub id: i64,
    pub title: String,
    pub link: Option<String>,
    pub submitted_to: Option<String>,
    pub submitted_by: Option<i64>,
    pub submitter: Option<String>,
    pub zone_id: Option<i64>,
    pub submitted_at: DateTime<Utc>,
    pub accepted: Option<bool>,
}

/// Records an item; its id.
pub async fn insert(conn: &mut Conn, item: &NewItem<'_>, now: DateTime<Utc>) -> crate::sql::Result<i64> {
    crate::sql::query_scalar::<i64>(
        "INSERT INTO info_items (title, link, body, submitted_to, submitted_by, zone_id, submitted_at)
         VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(item.title)
    .bind(item.link)
    .bind(item.body)
    .bind(item.submitted_to)
    .bind(item.submitted_by)
    .bind(item.zone_id)
    .bind(ts(now))
    .fetch_one(conn)
    .await
}

const ITEM_COLUMNS: &str = "SELECT i.id, i.title, i.link, i.submitted_to, i.submitted_by, p.name AS submitter,
        i.zone_id, i.submitted_at, i.accepted
   FROM info_items i LEFT JOIN people p ON p.id = i.submitted_by";

fn item_of(r: &crate::sql::Row) -> Option<Item> {
    Some(Item {
        id: r.get("id"),
        title: r.get("title"),
        link: r.get("link"),
        submitted_to: r.get("submitted_to"),
        submitted_by: r.get("submitted_by"),
        submitter: r.get("submitter"),
        zone_id: r.get("zone_id"),
        submitted_at: parse_ts(r.get("submitted_at"))?,
        accepted: r.get::<Option<i64>, _>("accepted").map(|a| a != 0),
    })
}

pub async fn get(conn: &mut Conn, id: i64) -> crate::sql::Result<Option<Item>> {
    let row = crate::sql::query(&format!("{ITEM_COLUMNS} WHERE i.id = ?")).bind(id).fetch_optional(conn).await?;
    Ok(row.as_ref().and_then(item_of))
}

/// Sets the 采用 decision (a later decision replaces an earlier one); whether the item exists.
pub async fn set_accepted(
    conn: &mut Conn,
    id: i64,
    accepted: bool,
    by: Option<i64>,
    note: Option<&str>,
    now: DateTime<Utc>,
) -> crate::sql::Result<bool> {
    let done = crate::sql::query(
        "UPDATE info_items SET accepted = ?, accepted_at = ?, accepted_by = ?, note = COALESCE(?, note) WHERE id = ?",
    )
    .bind(i64::from(accepted))
    .bind(ts(now))
    .bind(by)
    .bind(note)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// The items submitted in `period` (local days in `tz`), oldest first; `zone` narrows to a zone.
pub async fn list(conn: &mut Conn, tz: Tz, period: Period, zone: Option<i64>) -> crate::sql::Result<Vec<Item>> {
    let (start, end) = bounds(tz, period);
    let rows = crate::sql::query(&format!(
        "{ITEM_COLUMNS} WHERE i.submitted_at >= ? AND i.submitted_at < ? AND (? IS NULL OR i.zone_id = ?)
          ORDER BY i.submitted_at, i.id"
    ))
    .bind(start)
    .bind(end)
    .bind(zone)
    .bind(zone)
    .fetch_all(conn)
    .await?;
    Ok(rows.iter().filter_map(item_of).collect())
}

/// How many items were submitted in `period`, county-wide.
pub async fn count(conn: &mut Conn, tz: Tz, period: Period) -> crate::sql::Result<i64> {
    let (start, end) = bounds(tz, period);
    crate::sql::query_scalar::<i64>("SELECT COUNT(*) FROM info_items WHERE submitted_at >= ? AND submitted_at < ?")
        .bind(start)
        .bind(end)
        .fetch_one(conn)
        .await
}

/// The statistics rows of the items submitted in `period`.
pub async fn rows(conn: &mut Conn, tz: Tz, period: Period) -> crate::sql::Result<Vec<InfoRow>> {
    let (start, end) = bounds(tz, period);
    let rows = crate::sql::query_as::<(i64, Option<i64>, Option<i64>, String, Option<i64>)>(
        "SELECT id, submitted_by, zone_id, submitted_at, accepted FROM info_items
          WHERE submitted_at >= ? AND submitted_at < ? ORDER BY id",
    )
    .bind(start)
    .bind(end)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, person_id, zone_id, at, accepted)| {
            Some(InfoRow { id, person_id, zone_id, submitted: local_day(tz, &at)?, accepted: accepted.map(|a| a != 0) })
        })
        .collect())
}
