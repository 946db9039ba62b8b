//! The scheduler's tables: `schedules` (what runs when, with a durable cursor) and `firings`
//! (the ledger of occurrences: each fires, is skipped or fails once per schedule and nominal time).

use super::Conn;
use crate::db::ts;
use chrono::{DateTime, Utc};

/// A schedule as configuration defines it.
pub struct ConfigSchedule<'a> {
    pub name: &'a str,
    pub cron: &'a str,
    pub job: &'a str,
    /// JSON of the job's parameters.
    pub params: &'a str,
    pub workdays: &'a str,
    pub school_days_only: bool,
    pub grace_minutes: u32,
    pub enabled: bool,
}

/// Inserts or updates a schedule from configuration; a new one starts its cursor at `now`.
pub async fn upsert_config(conn: &mut Conn, d: &ConfigSchedule<'_>, now: DateTime<Utc>) -> crate::sql::Result<()> {
    crate::sql::query(
        "INSERT INTO schedules (name, cron, job, params, workdays, school_days_only, grace_minutes, enabled, source,
                     cursor_at, updated_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'config', ?, ?)
                 ON CONFLICT (name) DO UPDATE SET cron = excluded.cron, job = excluded.job, params = excluded.params,
                     workdays = excluded.workdays, school_days_only = excluded.school_days_only,
                     grace_minutes = excluded.grace_minutes, enabled = excluded.enabled, source = 'config',
                     updated_at = excluded.updated_at",
    )
    .bind(d.name)
    .bind(d.cron)
    .bind(d.job)
    .bind(d.params)
    .bind(d.workdays)
    .bind(d.school_days_only)
    .bind(d.grace_minutes)
    .bind(d.enabled)
    .bind(ts(now))
    .bind(ts(now))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Names of the enabled schedules that came from configuration.
pub async fn enabled_config_names(conn: &mut Conn) -> crate::sql::Result<Vec<String>> {
    let rows = crate::sql::query("SELECT name FROM schedules WHERE source = 'config' AND enabled = 1")
        .fetch_all(&mut *conn)
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

pub async fn disable(conn: &mut Conn, name: &str, now: DateTime<Utc>) -> crate::sql::Result<()> {
    crate::sql::query("UPDATE schedules SET enabled = 0, updated_at = ? WHERE name = ?")
        .bind(ts(now))
        .bind(name)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// An enabled schedule as stored (text columns as stored; the scheduler parses them).
pub struct StoredSchedule {
    pub id: i64,
    pub name: String,
    pub cron: String,
    pub job: String,
    pub params: String,
    pub workdays: String,
    pub school_days_only: bool,
    pub grace_minutes: i64,
    pub cursor_at: String,
}

pub async fn enabled(conn: &mut Conn) -> crate::sql::Result<Vec<StoredSchedule>> {
    let rows = crate::sql::query(
        "SELECT id, name, cron, job, params, workdays, school_days_only, grace_minutes, cursor_at
             FROM schedules WHERE enabled = 1 ORDER BY id",
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .iter()
        .map(|r| StoredSchedule {
            id: r.get("id"),
            name: r.get("name"),
            cron: r.get("cron"),
            job: r.get("job"),
            params: r.get("params"),
            workdays: r.get("workdays"),
            school_days_only: r.get("school_days_only"),
            grace_minutes: r.get("grace_minutes"),
            cursor_at: r.get("cursor_at"),
        })
        .collect())
}

pub async fn cursor_of(conn: &mut Conn, schedule_id: i64) -> crate::sql::Result<String> {
    crate::sql::query_scalar("SELECT cursor_at FROM schedules WHERE id = ?")
        .bind(schedule_id)
        .fetch_one(&mut *conn)
        .await
}

/// Records a first attempt that failed, unless the occurrence is already recorded.
pub async fn record_failed(
    conn: &mut Conn,
    schedule_id: i64,
    nominal: DateTime<Utc>,
    fire_at: DateTime<Utc>,
    reason: &str,
    now: DateTime<Utc>,
    retry_at: Option<DateTime<Utc>>,
) -> crate::sql::Result<()> {
    crate::sql::query(
        "INSERT INTO firings (schedule_id, nominal_at, fire_at, status, reason, recorded_at, attempts, retry_at)
                     VALUES (?, ?, ?, 'failed', ?, ?, 1, ?)
                     ON CONFLICT DO NOTHING",
    )
    .bind(schedule_id)
    .bind(ts(nominal))
    .bind(ts(fire_at))
    .bind(reason)
    .bind(ts(now))
    .bind(retry_at.map(ts))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The earliest failed occurrence due for a retry: (nominal_at, fire_at, attempts).
pub async fn due_retry(
    conn: &mut Conn,
    schedule_id: i64,
    now: DateTime<Utc>,
) -> crate::sql::Result<Option<(String, Option<String>, i64)>> {
    crate::sql::query_as(
        "SELECT nominal_at, fire_at, attempts FROM firings
             WHERE schedule_id = ? AND status = 'failed' AND retry_at IS NOT NULL AND retry_at <= ?
             ORDER BY nominal_at LIMIT 1",
    )
    .bind(schedule_id)
    .bind(ts(now))
    .fetch_optional(&mut *conn)
    .await
}

/// A retry succeeded: the failed occurrence becomes fired. Only from 'failed' (the state the
/// retry was read in); false when the row moved on meanwhile.
pub async fn retry_fired(
    conn: &mut Conn,
    schedule_id: i64,
    nominal_at: &str,
    attempt: i64,
    now: DateTime<Utc>,
) -> crate::sql::Result<bool> {
    let n = crate::sql::query(
        "UPDATE firings SET status = 'fired', attempts = ?, retry_at = NULL, reason = NULL, recorded_at = ?
                     WHERE schedule_id = ? AND nominal_at = ? AND status = 'failed'",
    )
    .bind(attempt)
    .bind(ts(now))
    .bind(schedule_id)
    .bind(nominal_at)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// A retry failed again; guarded by the attempt count read before it (a racing loop's record
/// is not doubled). False when the row moved on meanwhile.
#[allow(clippy::too_many_arguments)]
pub async fn retry_failed(
    conn: &mut Conn,
    schedule_id: i64,
    nominal_at: &str,
    read_attempts: i64,
    attempt: i64,
    reason: &str,
    retry_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> crate::sql::Result<bool> {
    let n = crate::sql::query(
        "UPDATE firings SET attempts = ?, reason = ?, retry_at = ?, recorded_at = ?
                     WHERE schedule_id = ? AND nominal_at = ? AND status = 'failed' AND attempts = ?",
    )
    .bind(attempt)
    .bind(reason)
    .bind(retry_at.map(ts))
    .bind(ts(now))
    .bind(schedule_id)
    .bind(nominal_at)
    .bind(read_attempts)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// When the scheduler next has something to do (the earliest next firing or retry).
pub async fn next_wake(conn: &mut Conn) -> crate::sql::Result<Option<String>> {
    crate::sql::query_scalar(
        "SELECT MIN(t) FROM (
                 SELECT next_fire_at AS t FROM schedules WHERE enabled = 1
                 UNION ALL
                 SELECT f.retry_at FROM firings f JOIN schedules s ON s.id = f.schedule_id
                 WHERE s.enabled = 1 AND f.retry_at IS NOT NULL)",
    )
    .fetch_one(&mut *conn)
    .await
}

/// (id, cron, job, params) of a schedule by name.
pub async fn by_name(conn: &mut Conn, name: &str) -> crate::sql::Result<Option<(i64, String, String, String)>> {
    crate::sql::query_as("SELECT id, cron, job, params FROM schedules WHERE name = ?")
        .bind(name)
        .fetch_optional(&mut *conn)
        .await
}

pub async fn names(conn: &mut Conn) -> crate::sql::Result<Vec<String>> {
    crate::sql::query_scalar("SELECT name FROM schedules ORDER BY name").fetch_all(&mut *conn).await
}

/// When the occurrence was recorded as fired, if it was.
pub async fn fired_at(conn: &mut Conn, schedule_id: i64, nominal: DateTime<Utc>) -> crate::sql::Result<Option<String>> {
    crate::sql::query_scalar(
        "SELECT recorded_at FROM firings WHERE schedule_id = ? AND nominal_at = ? AND status = 'fired'",
    )
    .bind(schedule_id)
    .bind(ts(nominal))
    .fetch_optional(&mut *conn)
    .await
}

/// Records a run by hand: a failed or skipped row for the occurrence becomes this manual firing.
pub async fn record_manual(
    conn: &mut Conn,
    schedule_id: i64,
    nominal: DateTime<Utc>,
    now: DateTime<Utc>,
    by: &str,
) -> crate::sql::Result<()> {
    crate::sql::query(
        "INSERT INTO firings (schedule_id, nominal_at, fire_at, status, reason, recorded_at, attempts, manual_by)
         VALUES (?1, ?2, ?3, 'fired', ?4, ?5, 1, ?6)
         ON CONFLICT (schedule_id, nominal_at) DO UPDATE SET status = 'fired', fire_at = excluded.fire_at,
             reason = COALESCE(firings.reason || '; ', '') || excluded.reason, recorded_at = excluded.recorded_at,
             attempts = firings.attempts + 1, retry_at = NULL, manual_by = excluded.manual_by",
    )
    .bind(schedule_id)
    .bind(ts(nominal))
    .bind(ts(now))
    .bind(format!("run by hand ({by})"))
    .bind(ts(now))
    .bind(by)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// All schedules for listing: (id, name, cron, job, workdays, enabled, next_fire_at).
pub type ListedSchedule = (i64, String, String, String, String, bool, Option<String>);

pub async fn list(conn: &mut Conn) -> crate::sql::Result<Vec<ListedSchedule>> {
    crate::sql::query_as("SELECT id, name, cron, job, workdays, enabled, next_fire_at FROM schedules ORDER BY name")
        .fetch_all(&mut *conn)
        .await
}

/// The last three firings of a schedule: (nominal_at, status, reason).
pub async fn recent_firings(
    conn: &mut Conn,
    schedule_id: i64,
) -> crate::sql::Result<Vec<(String, String, Option<String>)>> {
    crate::sql::query_as(
        "SELECT nominal_at, status, reason FROM firings WHERE schedule_id = ? ORDER BY nominal_at DESC LIMIT 3",
    )
    .bind(schedule_id)
    .fetch_all(&mut *conn)
    .await
}

pub async fn record(
    conn: &mut Conn,
    schedule_id: i64,
    nominal: DateTime<Utc>,
    fire_at: Option<DateTime<Utc>>,
    status: &str,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> crate::sql::Result<usize> {
    let attempts = i64::from(status == "fired");
    let r = crate::sql::query(
        "INSERT INTO firings (schedule_id, nominal_at, fire_at, status, reason, recorded_at, attempts)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (schedule_id, nominal_at) DO NOTHING",
    )
    .bind(schedule_id)
    .bind(ts(nominal))
    .bind(fire_at.map(ts))
    .bind(status)
    .bind(reason)
    .bind(ts(now))
    .bind(attempts)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() as usize)
}

pub async fn set_cursor(
    conn: &mut Conn,
    schedule_id: i64,
    cursor: Option<DateTime<Utc>>,
    next_fire: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> crate::sql::Result<()> {
    match cursor {
        Some(c) => {
            crate::sql::query("UPDATE schedules SET cursor_at = ?, next_fire_at = ?, updated_at = ? WHERE id = ?")
                .bind(ts(c))
                .bind(next_fire.map(ts))
                .bind(ts(now))
                .bind(schedule_id)
                .execute(&mut *conn)
                .await?
        }
        None => {
            crate::sql::query("UPDATE schedules SET next_fire_at = ? WHERE id = ?")
                .bind(next_fire.map(ts))
                .bind(schedule_id)
                .execute(&mut *conn)
                .await?
        }
    };
    Ok(())
}

/// A later occurrence has run (or been tried): earlier ones stop retrying, so a schedule never
/// has a pile of stale retries.
pub async fn supersede_retries(conn: &mut Conn, schedule_id: i64, nominal: DateTime<Utc>) -> crate::sql::Result<()> {
    crate::sql::query(
        "UPDATE firings SET retry_at = NULL, reason = COALESCE(reason, '') || '; gave up: superseded by a later occurrence'
         WHERE schedule_id = ? AND nominal_at < ? AND retry_at IS NOT NULL",
    )
    .bind(schedule_id)
    .bind(ts(nominal))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Makes a failed firing final: no further retry, with `why` appended to its reason.
pub async fn stop_retrying(
    conn: &mut Conn,
    schedule_id: i64,
    nominal_at: &str,
    why: Option<&str>,
) -> crate::sql::Result<()> {
    crate::sql::query(
        "UPDATE firings SET retry_at = NULL,
             reason = CASE WHEN ?1 IS NULL THEN reason ELSE COALESCE(reason, '') || '; ' || ?1 END
         WHERE schedule_id = ?2 AND nominal_at = ?3",
    )
    .bind(why)
    .bind(schedule_id)
    .bind(nominal_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
