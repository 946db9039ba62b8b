//! Weekly-report rounds, members, reports and their raw parts.

use super::Conn;
use crate::db::{parse_ts, ts};
use chrono::{DateTime, Utc};

#[derive(Debug, Clone)]
pub struct Round {
    pub id: i64,
    pub week: String,
    pub group_id: Option<i64>,
    pub opened_at: DateTime<Utc>,
    pub deadline_at: DateTime<Utc>,
    pub closed: bool,
}

fn round(r: &crate::sql::Row) -> Round {
    Round {
        id: r.get("id"),
        week: r.get("week"),
        group_id: r.get("group_id"),
        opened_at: parse_ts(r.get("opened_at")).unwrap_or_default(),
        deadline_at: parse_ts(r.get("deadline_at")).unwrap_or_default(),
        closed: r.get::<Option<String>, _>("closed_at").is_some(),
    }
}

const ROUND_COLS: &str = "r.id, r.week, r.group_id, r.opened_at, r.deadline_at, r.closed_at";

/// Opens a round; `None` if this (week, scope) was opened before.
pub async fn open_round(
    conn: &mut Conn,
    week: &str,
    scope: &str,
    group_id: Option<i64>,
    opened: DateTime<Utc>,
    deadline: DateTime<Utc>,
) -> crate::sql::Result<Option<i64>> {
    crate::sql::query_scalar(
        "INSERT INTO weekly_rounds (week, scope, group_id, opened_at, deadline_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (week, scope) DO NOTHING RETURNING id",
    )
    .bind(week)
    .bind(scope)
    .bind(group_id)
    .bind(ts(opened))
    .bind(ts(deadline))
    .fetch_optional(conn)
    .await
}

pub async fn add_member(conn: &mut Conn, round: i64, person: i64, excluded: Option<&str>) -> crate::sql::Result<()> {
    crate::sql::query("INSERT OR IGNORE INTO weekly_members (round_id, person_id, excluded) VALUES (?, ?, ?)")
        .bind(round)
        .bind(person)
        .bind(excluded)
        .execute(conn)
        .await?;
    Ok(())
}

/// The round a person reports for now: the latest opened round they belong to whose deadline
/// is not more than `late_days` past.
pub async fn current_round_for(
    conn: &mut Conn,
    person: i64,
    now: DateTime<Utc>,
    late_days: u32,
) -> crate::sql::Result<Option<Round>> {
    let oldest_deadline = now - chrono::Duration::days(i64::from(late_days));
    let r = crate::sql::query(&format!(
        "SELECT {ROUND_COLS} FROM weekly_rounds r JOIN weekly_members m ON m.round_id = r.id
         WHERE m.person_id = ? AND r.opened_at <= ? AND r.deadline_at >= ? ORDER BY r.opened_at DESC LIMIT 1"
    ))
    .bind(person)
    .bind(ts(now))
    .bind(ts(oldest_deadline))
    .fetch_optional(conn)
    .await?;
    Ok(r.as_ref().map(round))
}

pub async fn open_rounds(conn: &mut Conn) -> crate::sql::Result<Vec<Round>> {
    let rows =
        crate::sql::query(&format!("SELECT {ROUND_COLS} FROM weekly_rounds r WHERE r.closed_at IS NULL ORDER BY r.id"))
            .fetch_all(conn)
            .await?;
    Ok(rows.iter().map(round).collect())
}

pub async fn rounds_of_week(conn: &mut Conn, week: &str) -> crate::sql::Result<Vec<Round>> {
    let rows = crate::sql::query(&format!("SELECT {ROUND_COLS} FROM weekly_rounds r WHERE r.week = ? ORDER BY r.id"))
        .bind(week)
        .fetch_all(conn)
        .await?;
    Ok(rows.iter().map(round).collect())
}

pub async fn latest_week(conn: &mut Conn, not_after: DateTime<Utc>) -> crate::sql::Result<Option<String>> {
    crate::sql::query_scalar("SELECT week FROM weekly_rounds WHERE opened_at <= ? ORDER BY opened_at DESC LIMIT 1")
        .bind(ts(not_after))
        .fetch_optional(conn)
        .await
}

pub async fn close_round(conn: &mut Conn, round: i64, now: DateTime<Utc>) -> crate::sql::Result<()> {
    crate::sql::query("UPDATE weekly_rounds SET closed_at = ? WHERE id = ? AND closed_at IS NULL")
        .bind(ts(now))
        .bind(round)
        .execute(conn)
        .await?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct MemberRow {
    pub person_id: i64,
    pub name: String,
    pub excluded: Option<String>,
    pub report: Option<(bool, String)>,
}

/// Members of the given rounds with their report (late flag, parsed JSON), if any.
pub async fn members(conn: &mut Conn, rounds: &[i64]) -> crate::sql::Result<Vec<MemberRow>> {
    let mut out = Vec::new();
    for r in rounds {
        let rows = crate::sql::query(
            "SELECT m.person_id, p.name, m.excluded, w.late, w.parsed FROM weekly_members m
             JOIN people p ON p.id = m.person_id
             LEFT JOIN weekly_reports w ON w.round_id = m.round_id AND w.person_id = m.person_id
             WHERE m.round_id = ? ORDER BY p.code",
        )
        .bind(r)
        .fetch_all(&mut *conn)
        .await?;
        out.extend(
            rows.iter().map(|row| MemberRow {
                person_id: row.get("person_id"),
                name: row.get("name"),
                excluded: row.get("excluded"),
                report: row
                    .get::<Option<String>, _>("parsed")
                    .map(|p| (row.get::<Option<bool>, _>("late").unwrap_or(false), p)),
            }),
        );
    }
    Ok(out)
}

#[derive(Debug, Clone)]
pub struct Report {
    pub id: i64,
    pub version: i64,
    pub late: bool,
    pub pending_question: Option<String>,
    pub asked: bool,
    pub parsed: String,
    /// The incremental parse state (JSON of `report_parse::WeeklyParts`) and the version it is of.
    pub parse_state: Option<(i64, String)>,
}

pub async fn report(conn: &mut Conn, round: i64, person: i64) -> crate::sql::Result<Option<Report>> {
    let r = crate::sql::query(
        "SELECT id, version, late, pending_question, asked, parsed, parse_state, parse_state_version
         FROM weekly_reports WHERE round_id = ? AND person_id = ?",
    )
    .bind(round)
    .bind(person)
    .fetch_optional(conn)
    .await?;
    Ok(r.map(|r| Report {
        id: r.get("id"),
        version: r.get("version"),
        late: r.get("late"),
        pending_question: r.get("pending_question"),
        asked: r.get("asked"),
        parsed: r.get("parsed"),
        parse_state: match (r.get::<Option<i64>, _>("parse_state_version"), r.get::<Option<String>, _>("parse_state")) {
            (Some(v), Some(state)) => Some((v, state)),
            _ => None,
        },
    }))
}

pub async fn create_report(conn: &mut Conn, round: i64, person: i64, now: DateTime<Utc>) -> crate::sql::Result<i64> {
    crate::sql::query_scalar(
        "INSERT INTO weekly_reports (round_id, person_id, first_at, updated_at, parsed) VALUES (?, ?, ?, ?, '{}') RETURNING id",
    )
    .bind(round)
    .bind(person)
    .bind(ts(now))
    .bind(ts(now))
    .fetch_one(conn)
    .await
}

pub async fn add_part(
    conn: &mut Conn,
    report: i64,
    inbound: i64,
    version: i64,
    kind: &str,
    text: &str,
    now: DateTime<Utc>,
) -> crate::sql::Result<()> {
    crate::sql::query(
        "INSERT INTO weekly_report_parts (report_id, inbound_id, version, kind, text, at) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(report)
    .bind(inbound)
    .bind(version)
    .bind(kind)
    .bind(text)
    .bind(ts(now))
    .execute(conn)
    .await?;
    Ok(())
}

/// The parts of one version, oldest first: (kind, text).
pub async fn parts(conn: &mut Conn, report: i64, version: i64) -> crate::sql::Result<Vec<(String, String)>> {
    crate::sql::query_as("SELECT kind, text FROM weekly_report_parts WHERE report_id = ? AND version = ? ORDER BY id")
        .bind(report)
        .bind(version)
        .fetch_all(conn)
        .await
}

#[allow(clippy::too_many_arguments)]
pub async fn save_report(
    conn: &mut Conn,
    id: i64,
    version: i64,
    late: bool,
    pending: Option<&str>,
    asked: bool,
    parsed: &str,
    parse_state: &str,
    now: DateTime<Utc>,
) -> crate::sql::Result<()> {
    crate::sql::query(
        "UPDATE weekly_reports SET version = ?, late = ?, pending_question = ?, asked = ?, parsed = ?,
             parse_state = ?, parse_state_version = ?, updated_at = ? WHERE id = ?",
    )
    .bind(version)
    .bind(late)
    .bind(pending)
    .bind(asked)
    .bind(parsed)
    .bind(parse_state)
    .bind(version)
    .bind(ts(now))
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Whether the platform message quoted is one of the weekly prompts or reminders.
pub async fn is_weekly_message(conn: &mut Conn, channel: &str, platform_msg_id: &str) -> crate::sql::Result<bool> {
    let source: Option<String> =
        crate::sql::query_scalar("SELECT source FROM outbox WHERE channel = ? AND platform_msg_id = ?")
            .bind(channel)
            .bind(platform_msg_id)
            .fetch_optional(conn)
            .await?;
    Ok(source.is_some_and(|s| s.starts_with("weekly:")))
}

/// Keeps a late addendum to an on-time report: `text` verbatim, `parsed` its own parse (JSON).
#[allow(clippy::too_many_arguments)]
pub async fn add_addendum(
    conn: &mut Conn,
    report: i64,
    inbound: i64,
    kind: &str,
    text: &str,
    parsed: &str,
    now: DateTime<Utc>,
) -> crate::sql::Result<()> {
    crate::sql::query(
        "INSERT INTO weekly_report_addenda (report_id, inbound_id, kind, text, parsed, at) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(report)
    .bind(inbound)
    .bind(kind)
    .bind(text)
    .bind(parsed)
    .bind(ts(now))
    .execute(conn)
    .await?;
    Ok(())
}

/// A stored late addendum: whose (name), its text as received and when it came.
#[derive(Debug, Clone)]
pub struct AddendumRow {
    pub name: String,
    pub text: String,
    pub at: DateTime<Utc>,
}

/// The late addenda of the given rounds (all reports when `person` is `None`), oldest first.
pub async fn addenda(conn: &mut Conn, rounds: &[i64], person: Option<i64>) -> crate::sql::Result<Vec<AddendumRow>> {
    let mut out = Vec::new();
    for r in rounds {
        let rows = crate::sql::query(
            "SELECT p.name, a.text, a.at FROM weekly_report_addenda a
             JOIN weekly_reports w ON w.id = a.report_id JOIN people p ON p.id = w.person_id
             WHERE w.round_id = ? AND (? IS NULL OR w.person_id = ?) ORDER BY a.id",
        )
        .bind(r)
        .bind(person)
        .bind(person)
        .fetch_all(&mut *conn)
        .await?;
        out.extend(rows.iter().map(|row| AddendumRow {
            name: row.get("name"),
            text: row.get("text"),
            at: parse_ts(row.get("at")).unwrap_or_default(),
        }));
    }
    out.sort_by_key(|a| a.at);
    Ok(out)
}

/// Ids of every weekly round there is.
pub async fn round_ids(conn: &mut Conn) -> crate::sql::Result<Vec<i64>> {
    crate::sql::query_scalar("SELECT id FROM weekly_rounds").fetch_all(&mut *conn).await
}

/// Members of a round still expected to report (not excluded).
pub async fn expected_count(conn: &mut Conn, round: i64) -> crate::sql::Result<i64> {
    crate::sql::query_scalar::<i64>("SELECT COUNT(*) FROM weekly_members WHERE round_id = ? AND excluded IS NULL")
        .bind(round)
        .fetch_one(&mut *conn)
        .await
}

/// A person's report for a week, by person code: (parsed JSON, late, version).
pub async fn report_of_week(
    conn: &mut Conn,
    week: &str,
    person_code: &str,
) -> crate::sql::Result<Option<(String, bool, i64)>> {
    let r = crate::sql::query(
        "SELECT w.parsed, w.late, w.version FROM weekly_reports w JOIN weekly_rounds r ON r.id = w.round_id
         JOIN people p ON p.id = w.person_id WHERE r.week = ? AND p.code = ?",
    )
    .bind(week)
    .bind(person_code)
    .fetch_optional(conn)
    .await?;
    Ok(r.map(|r| (r.get("parsed"), r.get("late"), r.get("version"))))
}
