//! Personal leave: people on leave are neither prompted nor counted missing.

use super::Conn;
use crate::db::ts;
use chrono::{DateTime, NaiveDate, Utc};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leave {
    pub id: i64,
    pub start: NaiveDate,
    pub end: NaiveDate,
}

pub async fn add(
    conn: &mut Conn,
    person_id: i64,
    start: NaiveDate,
    end: NaiveDate,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> crate::sql::Result<i64> {
    crate::sql::query_scalar(
        "INSERT INTO leaves (person_id, start_date, end_date, reason, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(person_id)
    .bind(start.to_string())
    .bind(end.to_string())
    .bind(reason)
    .bind(ts(now))
    .fetch_one(conn)
    .await
}

/// Leaves not cancelled that end on or after `today`.
pub async fn current_and_future(conn: &mut Conn, person_id: i64, today: NaiveDate) -> crate::sql::Result<Vec<Leave>> {
    let rows = crate::sql::query(
        "SELECT id, start_date, end_date FROM leaves WHERE person_id = ? AND cancelled_at IS NULL AND end_date >= ? ORDER BY start_date",
    )
    .bind(person_id)
    .bind(today.to_string())
    .fetch_all(conn)
    .await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            Some(Leave {
                id: r.get("id"),
                start: r.get::<&str, _>("start_date").parse().ok()?,
                end: r.get::<&str, _>("end_date").parse().ok()?,
            })
        })
        .collect())
}

/// Cancels a leave not cancelled yet; false when it already was.
pub async fn cancel(conn: &mut Conn, leave_id: i64, now: DateTime<Utc>) -> crate::sql::Result<bool> {
    let n = crate::sql::query("UPDATE leaves SET cancelled_at = ? WHERE id = ? AND cancelled_at IS NULL")
        .bind(ts(now))
        .bind(leave_id)
        .execute(conn)
        .await?
        .rows_affected();
    Ok(n == 1)
}

/// Whether the person is on leave on `date`.
pub async fn on_leave(conn: &mut Conn, person_id: i64, date: NaiveDate) -> crate::sql::Result<bool> {
    let n: i64 = crate::sql::query_scalar(
        "SELECT COUNT(*) FROM leaves WHERE person_id = ? AND cancelled_at IS NULL AND start_date <= ? AND end_date >= ?",
    )
    .bind(person_id)
    .bind(date.to_string())
    .bind(date.to_string())
    .fetch_one(conn)
    .await?;
    Ok(n > 0)
}
