//! The supervision platform: one-time login links, browser sessions (both by token hash only),
//! and the few reads its pages need beyond other modules' (weekly rounds with their verbatim
//! texts, the ledger's item list with filters).

use super::Conn;
use crate::db::{parse_ts, ts};
use crate::domain::web as dw;
use chrono::{DateTime, Utc};

/// Stores a login link for a person.
pub async fn add_link(
    conn: &mut Conn,
    token_hash: &str,
    person_id: i64,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> crate::sql::Result<()> {
    crate::sql::query(
        "INSERT INTO web_login_links (token_hash, person_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
    )
    .bind(token_hash)
    .bind(person_id)
    .bind(ts(now))
    .bind(ts(expires_at))
    .execute(conn)
    .await?;
    Ok(())
}

/// Forgets a person's links and sessions that ended before `before` (kept until then so the
/// audit trail's "link spent / session ended" stays explainable); runs at each `登录`, so the
/// tables hold little more than the live rows.
pub async fn forget_ended(conn: &mut Conn, person_id: i64, before: DateTime<Utc>) -> crate::sql::Result<()> {
    crate::sql::query("DELETE FROM web_login_links WHERE person_id = ? AND expires_at < ?")
        .bind(person_id)
        .bind(ts(before))
        .execute(&mut *conn)
        .await?;
    crate::sql::query("DELETE FROM web_sessions WHERE person_id = ? AND expires_at < ?")
        .bind(person_id)
        .bind(ts(before))
        .execute(conn)
        .await?;
    Ok(())
}

/// Spends a link in one statement (two requests racing cannot both win): the person it was for,
/// if it was unused, unexpired and the person is still active. The stored copy of the message
/// that carried it (outbox key [`dw::message_key`]) no longer shows the link afterwards.
pub async fn take_link(conn: &mut Conn, token_hash: &str, now: DateTime<Utc>) -> crate::sql::Result<Option<i64>> {
    let person = crate::sql::query_scalar(
        "UPDATE web_login_links SET used_at = ?1
          WHERE token_hash = ?2 AND used_at IS NULL AND expires_at > ?1
            AND person_id IN (SELECT id FROM people WHERE active = 1)
          RETURNING person_id",
    )
    .bind(ts(now))
    .bind(token_hash)
    .fetch_optional(&mut *conn)
    .await?;
    if person.is_some() {
        let spent =
            serde_json::to_string(&[crate::chat::Segment::text(dw::SPENT_TEXT)]).unwrap_or_else(|_| "[]".into());
        crate::sql::query("UPDATE outbox SET segments = ? WHERE idempotency_key = ?")
            .bind(spent)
            .bind(dw::message_key(token_hash))
            .execute(conn)
            .await?;
    }
    Ok(person)
}

/// Opens a session.
pub async fn add_session(
    conn: &mut Conn,
    token_hash: &str,
    person_id: i64,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> crate::sql::Result<()> {
    crate::sql::query(
        "INSERT INTO web_sessions (token_hash, person_id, created_at, last_seen_at, expires_at) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(token_hash)
    .bind(person_id)
    .bind(ts(now))
    .bind(ts(now))
    .bind(ts(expires_at))
    .execute(conn)
    .await?;
    Ok(())
}

/// A session that is not revoked, of a person still active.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub person_id: i64,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

pub async fn session(conn: &mut Conn, token_hash: &str) -> crate::sql::Result<Option<Session>> {
    let r = crate::sql::query(
        "SELECT s.person_id, s.last_seen_at, s.expires_at FROM web_sessions s JOIN people p ON p.id = s.person_id
          WHERE s.token_hash = ? AND s.revoked_at IS NULL AND p.active = 1",
    )
    .bind(token_hash)
    .fetch_optional(conn)
    .await?;
    Ok(r.and_then(|r| {
        Some(Session {
            person_id: r.get("person_id"),
            last_seen_at: parse_ts(r.get("last_seen_at"))?,
            expires_at: parse_ts(r.get("expires_at"))?,
        })
    }))
}

/// Records activity on a session (idle expiry counts from here).
pub async fn touch_session(conn: &mut Conn, token_hash: &str, now: DateTime<Utc>) -> crate::sql::Result<()> {
    crate::sql::query("UPDATE web_sessions SET last_seen_at = ? WHERE token_hash = ? AND revoked_at IS NULL")
        .bind(ts(now))
        .bind(token_hash)
        .execute(conn)
        .await?;
    Ok(())
}

/// Ends one session; whether it was live.
pub async fn revoke_session(conn: &mut Conn, token_hash: &str, now: DateTime<Utc>) -> crate::sql::Result<bool> {
    let n = crate::sql::query("UPDATE web_sessions SET revoked_at = ? WHERE token_hash = ? AND revoked_at IS NULL")
        .bind(ts(now))
        .bind(token_hash)
        .execute(conn)
        .await?
        .rows_affected();
    Ok(n > 0)
}

/// Ends every session of a person and drops their unspent links; the sessions that were still
/// live (not past their absolute expiry, seen after `idle_since`).
pub async fn revoke_person(
    conn: &mut Conn,
    person_id: i64,
    now: DateTime<Utc>,
    idle_since: DateTime<Utc>,
) -> crate::sql::Result<u64> {
    let n = crate::sql::query(
        "UPDATE web_sessions SET revoked_at = ?1
          WHERE person_id = ?2 AND revoked_at IS NULL AND expires_at > ?1 AND last_seen_at > ?3",
    )
    .bind(ts(now))
    .bind(person_id)
    .bind(ts(idle_since))
    .execute(&mut *conn)
    .await?
    .rows_affected();
    crate::sql::query("UPDATE web_sessions SET revoked_at = ?1 WHERE person_id = ?2 AND revoked_at IS NULL")
        .bind(ts(now))
        .bind(person_id)
        .execute(&mut *conn)
        .await?;
    crate::sql::query("DELETE FROM web_login_links WHERE person_id = ? AND used_at IS NULL")
        .bind(person_id)
        .execute(conn)
        .await?;
    Ok(n)
}

/// A member of a weekly round with their report, for the 周报 page.
#[derive(Debug, Clone)]
pub struct RoundMember {
    pub round_id: i64,
    pub person_id: i64,
    pub code: String,
    pub name: String,
    pub zone_id: Option<i64>,
    pub zone_name: Option<String>,
    /// Why the member is not expected to report (leave), if so.
    pub excluded: Option<String>,
    /// (report id, version, late, last change) when a report came.
    pub report: Option<(i64, i64, bool, DateTime<Utc>)>,
}

/// Members of the given rounds with their zone and report.
pub async fn round_members(conn: &mut Conn, rounds: &[i64]) -> crate::sql::Result<Vec<RoundMember>> {
    let ids = serde_json::to_string(rounds).unwrap_or_else(|_| "[]".into());
    let rows = crate::sql::query(
        "SELECT m.round_id, m.person_id, p.code, p.name, p.zone_id, z.name AS zone_name, m.excluded,
                w.id AS report_id, w.version, w.late, w.updated_at
           FROM weekly_members m JOIN people p ON p.id = m.person_id
           LEFT JOIN zones z ON z.id = p.zone_id
           LEFT JOIN weekly_reports w ON w.round_id = m.round_id AND w.person_id = m.person_id
          WHERE m.round_id IN (SELECT value FROM json_each(?))
          ORDER BY z.name, p.code",
    )
    .bind(ids)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .iter()
        .map(|r| RoundMember {
            round_id: r.get("round_id"),
            person_id: r.get("person_id"),
            code: r.get("code"),
            name: r.get("name"),
            zone_id: r.get("zone_id"),
            zone_name: r.get("zone_name"),
            excluded: r.get("excluded"),
            report: r.get::<Option<i64>, _>("report_id").map(|id| {
                (
                    id,
                    r.get::<i64, _>("version"),
                    r.get::<Option<bool>, _>("late").unwrap_or(false),
                    r.get::<Option<&str>, _>("updated_at").and_then(parse_ts).unwrap_or_default(),
                )
            }),
        })
        .collect())
}

/// The verbatim parts of the current version of each given report, oldest first:
/// (report id, text).
pub async fn report_texts(conn: &mut Conn, reports: &[i64]) -> crate::sql::Result<Vec<(i64, String)>> {
    let ids = serde_json::to_string(reports).unwrap_or_else(|_| "[]".into());
    crate::sql::query_as(
        "SELECT p.report_id, p.text FROM weekly_report_parts p JOIN weekly_reports w ON w.id = p.report_id
          WHERE p.report_id IN (SELECT value FROM json_each(?)) AND p.version = w.version ORDER BY p.id",
    )
    .bind(ids)
    .fetch_all(conn)
    .await
}

/// Ids of the tasks a person holds a live (not reassigned-away) assignment on, newest first:
/// what a non-supervisor may see (`domain::task::authorize(_, Op::View, is_assignee)`).
pub async fn task_ids_of_person(conn: &mut Conn, person_id: i64, limit: i64) -> crate::sql::Result<Vec<i64>> {
    crate::sql::query_scalar(
        "SELECT DISTINCT task_id FROM task_assignments
          WHERE person_id = ? AND state <> 'cancelled' ORDER BY task_id DESC LIMIT ?",
    )
    .bind(person_id)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// One entry of a task's history.
#[derive(Debug, Clone)]
pub struct TaskEvent {
    /// The assignment it concerns; `None` for the task as a whole.
    pub assignment_id: Option<i64>,
    pub at: DateTime<Utc>,
    pub kind: String,
    pub who: Option<String>,
    pub body: Option<String>,
}

/// A task's history, oldest first, at most `limit` entries.
pub async fn task_events(conn: &mut Conn, task_id: i64, limit: i64) -> crate::sql::Result<Vec<TaskEvent>> {
    let rows = crate::sql::query(
        "SELECT e.assignment_id, e.at, e.kind, p.name AS who, e.body FROM task_events e LEFT JOIN people p ON p.id = e.actor_id
          WHERE e.task_id = ? ORDER BY e.id LIMIT ?",
    )
    .bind(task_id)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            Some(TaskEvent {
                assignment_id: r.get("assignment_id"),
                at: parse_ts(r.get::<&str, _>("at"))?,
                kind: r.get("kind"),
                who: r.get("who"),
                body: r.get("body"),
            })
        })
        .collect())
}

/// An active person as the roster page lists them.
#[derive(Debug, Clone)]
pub struct RosterPerson {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub role: crate::domain::role::Role,
    pub title: Option<String>,
    pub zone_id: Option<i64>,
    pub phone: Option<String>,
}

/// Every active person, by code.
pub async fn roster_people(conn: &mut Conn) -> crate::sql::Result<Vec<RosterPerson>> {
    let rows = crate::sql::query(
        "SELECT id, code, name, role, title, zone_id, phone FROM people WHERE active = 1 ORDER BY code",
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            Some(RosterPerson {
                id: r.get("id"),
                code: r.get("code"),
                name: r.get("name"),
                role: crate::domain::role::Role::parse_db(r.get::<&str, _>("role"))?,
                title: r.get("title"),
                zone_id: r.get("zone_id"),
                phone: r.get("phone"),
            })
        })
        .collect())
}

/// Who serves each active school: (school_id, person_id, relation) with relation `primary`,
/// `secondary`, `recused` (an inspector with a conflict of interest) or `contact`.
pub async fn school_links(conn: &mut Conn) -> crate::sql::Result<Vec<(i64, i64, String)>> {
    crate::sql::query_as(
        "SELECT a.school_id, a.person_id, CASE WHEN a.conflict_of_interest = 1 THEN 'recused' ELSE a.role END
           FROM school_assignments a JOIN people p ON p.id = a.person_id WHERE p.active = 1
         UNION ALL
         SELECT c.school_id, c.person_id, 'contact'
           FROM school_contacts c JOIN people p ON p.id = c.person_id WHERE p.active = 1
         ORDER BY 1, 3, 2",
    )
    .fetch_all(conn)
    .await
}

/// Every chat account binding: (person_id, platform, account_id), oldest first.
pub async fn bindings(conn: &mut Conn) -> crate::sql::Result<Vec<(i64, String, String)>> {
    crate::sql::query_as("SELECT person_id, platform, account_id FROM chat_accounts ORDER BY bound_at")
        .fetch_all(conn)
        .await
}

/// A visit record as its page shows it.
pub struct VisitView {
    pub id: i64,
    pub person_id: i64,
    pub person: String,
    pub school_id: i64,
    pub zone_id: i64,
    pub school: String,
    pub date: String,
    pub kind: String,
    pub themed: bool,
    /// The verbatim texts it was made from, oldest first.
    pub texts: Vec<String>,
    pub photos: i64,
    pub problems: i64,
}

/// A submitted visit record with what its page shows.
pub async fn visit(conn: &mut Conn, id: i64) -> crate::sql::Result<Option<VisitView>> {
    let Some(r) = crate::sql::query(
        "SELECT v.id, v.person_id, p.name AS person, v.school_id, s.zone_id, s.name AS school, v.visit_date, v.kind,
                v.themed,
                (SELECT COUNT(*) FROM visit_photos f WHERE f.visit_id = v.id) AS photos,
                (SELECT COUNT(*) FROM visit_problems q WHERE q.visit_id = v.id) AS problems
           FROM visits v JOIN people p ON p.id = v.person_id JOIN schools s ON s.id = v.school_id
          WHERE v.id = ? AND v.status = 'submitted'",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let texts = crate::sql::query_scalar("SELECT text FROM visit_parts WHERE visit_id = ? ORDER BY id")
        .bind(id)
        .fetch_all(conn)
        .await?;
    Ok(Some(VisitView {
        id: r.get("id"),
        person_id: r.get("person_id"),
        person: r.get("person"),
        school_id: r.get("school_id"),
        zone_id: r.get("zone_id"),
        school: r.get("school"),
        date: r.get("visit_date"),
        kind: r.get("kind"),
        themed: r.get("themed"),
        texts,
        photos: r.get("photos"),
        problems: r.get("problems"),
    }))
}

/// Active schools and active inspectors: whether a form can offer each one as a choice.
pub async fn choice_counts(conn: &mut Conn) -> crate::sql::Result<(i64, i64)> {
    crate::sql::query_as(
        "SELECT (SELECT COUNT(*) FROM schools WHERE active = 1),
                (SELECT COUNT(*) FROM people WHERE active = 1 AND role = 'inspector')",
    )
    .fetch_one(conn)
    .await
}
