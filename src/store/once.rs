//! The "record this event once" ledger: a reminder, an escalation step or a warning happens at
//! most once per subject across restarts and racing runs. One table (`once_events`) for every
//! workflow; the statements are plain `INSERT … ON CONFLICT DO NOTHING` and portable.

use super::Conn;
use crate::db::{parse_ts, ts};
use chrono::{DateTime, Utc};

/// What an event happened to. The only place that maps a subject to its stored (kind, id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Subject {
    /// A weekly-report round (`weekly_rounds.id`): `remind:<i>`, `wrapup`.
    WeeklyRound(i64),
    /// A monthly theme (`monthly_themes.id`): `remind:<day of month>`.
    Theme(i64),
    /// A rectification item (`rectify_items.id`): escalation steps (`L0:<deadline>:<days>`, `L1` …).
    RectifyItem(i64),
    /// A calendar year without holiday data: the local day the office was warned.
    CalendarYear(i32),
    /// 信息报送 of a month, as yyyymm (202612): `remind`.
    InfoMonth(i32),
}

/// A subject's kind without its id, for statements over every subject of a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubjectKind {
    WeeklyRound,
    Theme,
    RectifyItem,
    CalendarYear,
    InfoMonth,
}

impl SubjectKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            SubjectKind::WeeklyRound => "weekly_round",
            SubjectKind::Theme => "theme",
            SubjectKind::RectifyItem => "rectify_item",
            SubjectKind::CalendarYear => "calendar_year",
            SubjectKind::InfoMonth => "info_month",
        }
    }
}

impl Subject {
    pub const fn kind(self) -> SubjectKind {
        match self {
            Subject::WeeklyRound(_) => SubjectKind::WeeklyRound,
            Subject::Theme(_) => SubjectKind::Theme,
            Subject::RectifyItem(_) => SubjectKind::RectifyItem,
            Subject::CalendarYear(_) => SubjectKind::CalendarYear,
            Subject::InfoMonth(_) => SubjectKind::InfoMonth,
        }
    }

    pub fn id(self) -> i64 {
        match self {
            Subject::WeeklyRound(id) | Subject::Theme(id) | Subject::RectifyItem(id) => id,
            Subject::CalendarYear(year) | Subject::InfoMonth(year) => i64::from(year),
        }
    }
}

/// Records `event` for `subject`; true when this call recorded it, false when it had happened
/// before (the caller then does not act again).
pub async fn record_once(
    conn: &mut Conn,
    subject: Subject,
    event: &str,
    at: DateTime<Utc>,
) -> crate::sql::Result<bool> {
    let r = crate::sql::query(
        "INSERT INTO once_events (subject_kind, subject_id, event, at) VALUES (?, ?, ?, ?)
         ON CONFLICT (subject_kind, subject_id, event) DO NOTHING",
    )
    .bind(subject.kind().as_str())
    .bind(subject.id())
    .bind(event)
    .bind(ts(at))
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Whether `event` was recorded for `subject`.
pub async fn has_happened(conn: &mut Conn, subject: Subject, event: &str) -> crate::sql::Result<bool> {
    let n: i64 = crate::sql::query_scalar(
        "SELECT COUNT(*) FROM once_events WHERE subject_kind = ? AND subject_id = ? AND event = ?",
    )
    .bind(subject.kind().as_str())
    .bind(subject.id())
    .bind(event)
    .fetch_one(conn)
    .await?;
    Ok(n > 0)
}

/// The events recorded for `subject` with their times, in the order they were recorded.
pub async fn events_of(conn: &mut Conn, subject: Subject) -> crate::sql::Result<Vec<(String, DateTime<Utc>)>> {
    let rows =
        crate::sql::query("SELECT event, at FROM once_events WHERE subject_kind = ? AND subject_id = ? ORDER BY rowid")
            .bind(subject.kind().as_str())
            .bind(subject.id())
            .fetch_all(conn)
            .await?;
    Ok(rows.iter().map(|r| (r.get("event"), parse_ts(r.get("at")).unwrap_or_default())).collect())
}

/// Forgets every event of every subject of `kind`; returns how many rows went. The ledger has no
/// foreign keys to follow, so code that deletes subjects (the sample purge) calls this, lest a
/// later subject that reuses a deleted id find its events "already happened".
pub async fn forget_kind(conn: &mut Conn, kind: SubjectKind) -> crate::sql::Result<u64> {
    let r =
        crate::sql::query("DELETE FROM once_events WHERE subject_kind = ?").bind(kind.as_str()).execute(conn).await?;
    Ok(r.rows_affected())
}
