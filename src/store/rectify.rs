//! The rectification ledger in SQLite: problem items, their event history, evidence photos and
//! the once-only escalation marks.

use super::Conn;
use crate::db::{parse_ts, ts};
use crate::domain::rectify::{Severity, Source, Status};
use chrono::{DateTime, NaiveDate, Utc};

#[derive(Debug, Clone)]
pub struct Item {
    pub id: i64,
    pub school_id: i64,
    pub school_name: String,
    pub zone_id: i64,
    pub zone_name: String,
    pub category: u8,
    pub severity: Severity,
    pub source: Source,
    pub description: String,
    pub owner: String,
    pub deadline: NaiveDate,
    pub status: Status,
    pub returns: u32,
    pub relapses: u32,
    pub extensions: u32,
    pub created_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub closed_late: Option<bool>,
}

const SELECT: &str = "SELECT i.*, s.name AS school_name, s.zone_id, z.name AS zone_name
     FROM rectify_items i JOIN schools s ON s.id = i.school_id JOIN zones z ON z.id = s.zone_id";

fn item(r: &crate::sql::Row) -> Option<Item> {
    Some(Item {
        id: r.get("id"),
        school_id: r.get("school_id"),
        school_name: r.get("school_name"),
        zone_id: r.get("zone_id"),
        zone_name: r.get("zone_name"),
        category: u8::try_from(r.get::<i64, _>("category")).ok()?,
        severity: Severity::from_db(r.get("severity"))?,
        source: Source::from_db(r.get("source"))?,
        description: r.get("description"),
        owner: r.get("owner"),
        deadline: NaiveDate::parse_from_str(r.get("deadline"), "%Y-%m-%d").ok()?,
        status: Status::from_db(r.get("status"))?,
        returns: u32::try_from(r.get::<i64, _>("returns")).unwrap_or(0),
        relapses: u32::try_from(r.get::<i64, _>("relapses")).unwrap_or(0),
        extensions: u32::try_from(r.get::<i64, _>("extensions")).unwrap_or(0),
        created_at: parse_ts(r.get("created_at"))?,
        closed_at: r.get::<Option<&str>, _>("closed_at").and_then(parse_ts),
        closed_late: r.get::<Option<i64>, _>("closed_late").map(|v| v != 0),
    })
}

pub struct NewItem<'a> {
    pub school_id: i64,
    pub category: u8,
    pub severity: Severity,
    pub source: Source,
    pub source_ref: Option<String>,
    pub description: &'a str,
    pub owner: &'a str,
    pub deadline: NaiveDate,
    pub created_by: Option<i64>,
}

pub async fn insert(conn: &mut Conn, n: &NewItem<'_>, now: DateTime<Utc>) -> crate::sql::Result<i64> {
    let r = crate::sql::query(
        "INSERT INTO rectify_items (school_id, category, severity, source, source_ref, description, owner, deadline,
                                    status, created_by, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'identified', ?, ?, ?)",
    )
    .bind(n.school_id)
    .bind(i64::from(n.category))
    .bind(n.severity.as_str())
    .bind(n.source.as_str())
    .bind(&n.source_ref)
    .bind(n.description)
    .bind(n.owner)
    .bind(n.deadline.to_string())
    .bind(n.created_by)
    .bind(ts(now))
    .bind(ts(now))
    .execute(conn)
    .await?;
    Ok(r.last_insert_rowid())
}

pub async fn get(conn: &mut Conn, id: i64) -> crate::sql::Result<Option<Item>> {
    let r = crate::sql::query(&format!("{SELECT} WHERE i.id = ?")).bind(id).fetch_optional(conn).await?;
    Ok(r.as_ref().and_then(item))
}

/// Writes back the mutable fields of an item.
pub async fn save(conn: &mut Conn, it: &Item, now: DateTime<Utc>) -> crate::sql::Result<()> {
    crate::sql::query(
        "UPDATE rectify_items SET status = ?, deadline = ?, returns = ?, relapses = ?, extensions = ?,
                closed_at = ?, closed_late = ?, updated_at = ? WHERE id = ?",
    )
    .bind(it.status.as_str())
    .bind(it.deadline.to_string())
    .bind(i64::from(it.returns))
    .bind(i64::from(it.relapses))
    .bind(i64::from(it.extensions))
    .bind(it.closed_at.map(ts))
    .bind(it.closed_late.map(i64::from))
    .bind(ts(now))
    .bind(it.id)
    .execute(conn)
    .await?;
    Ok(())
}

pub struct EventRow<'a> {
    pub item_id: i64,
    pub action: &'a str,
    pub from: Option<Status>,
    pub to: Status,
    pub actor_id: Option<i64>,
    pub note: Option<&'a str>,
    pub deadline: NaiveDate,
}

pub async fn add_event(
    conn: &mut Conn,
    e: &EventRow<'_>,
    now: DateTime<Utc>,
    local: NaiveDate,
) -> crate::sql::Result<i64> {
    let r = crate::sql::query(
        "INSERT INTO rectify_events (item_id, action, from_status, to_status, actor_id, note, deadline, at, local_date)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(e.item_id)
    .bind(e.action)
    .bind(e.from.map(Status::as_str))
    .bind(e.to.as_str())
    .bind(e.actor_id)
    .bind(e.note)
    .bind(e.deadline.to_string())
    .bind(ts(now))
    .bind(local.to_string())
    .execute(conn)
    .await?;
    Ok(r.last_insert_rowid())
}

/// The latest events of an item, newest first: (local date, action, actor name, note).
pub async fn history(
    conn: &mut Conn,
    item_id: i64,
    limit: i64,
) -> crate::sql::Result<Vec<(String, String, String, String)>> {
    let rows = crate::sql::query(
        "SELECT e.local_date, e.action, COALESCE(p.name, '系统') AS who, COALESCE(e.note, '') AS note
           FROM rectify_events e LEFT JOIN people p ON p.id = e.actor_id
          WHERE e.item_id = ? ORDER BY e.id DESC LIMIT ?",
    )
    .bind(item_id)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(rows.iter().map(|r| (r.get("local_date"), r.get("action"), r.get("who"), r.get("note"))).collect())
}

/// Which items a ledger covers.
#[derive(Debug, Clone)]
pub enum Scope {
    County,
    Zone(i64),
    Schools(Vec<i64>),
}

/// The join and `WHERE` condition (over `i` items) for a scope, and its one binding. The county
/// needs no join: a province's ledger is hundreds of thousands of items.
fn scope_condition(scope: &Scope) -> (&'static str, &'static str, Option<String>) {
    match scope {
        Scope::County => ("", "1 = 1", None),
        Scope::Zone(z) => ("JOIN schools s ON s.id = i.school_id", "s.zone_id = ?", Some(z.to_string())),
        Scope::Schools(ids) => (
            "",
            "i.school_id IN (SELECT value FROM json_each(?))",
            Some(serde_json::to_string(ids).unwrap_or_else(|_| "[]".into())),
        ),
    }
}

pub async fn items(conn: &mut Conn, scope: &Scope) -> crate::sql::Result<Vec<Item>> {
    let (_, cond, arg) = scope_condition(scope);
    let sql = format!("{SELECT} WHERE {cond} ORDER BY i.id");
    let mut q = crate::sql::query(&sql);
    if let Some(a) = arg {
        q = q.bind(a);
    }
    Ok(q.fetch_all(conn).await?.iter().filter_map(item).collect())
}

/// Every open item, whole (the sweep's working set).
pub async fn open_items(conn: &mut Conn) -> crate::sql::Result<Vec<Item>> {
    let rows = crate::sql::query(&format!("{SELECT} WHERE i.status NOT IN ('closed', 'cancelled') ORDER BY i.id"))
        .fetch_all(conn)
        .await?;
    Ok(rows.iter().filter_map(item).collect())
}

/// What the ledger's figures need of an open item; the listed few are read whole with [`get`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenItem {
    pub id: i64,
    pub status: Status,
    pub deadline: NaiveDate,
    pub created_at: DateTime<Utc>,
}

/// The open items of a scope (not closed, not cancelled): the ledger's working set.
pub async fn open_items_in(conn: &mut Conn, scope: &Scope) -> crate::sql::Result<Vec<OpenItem>> {
    let (join, cond, arg) = scope_condition(scope);
    let sql = format!(
        "SELECT i.id, i.status, i.deadline, i.created_at FROM rectify_items i {join}
          WHERE i.status NOT IN ('closed', 'cancelled') AND {cond}"
    );
    let mut q = crate::sql::query_as::<(i64, String, String, String)>(&sql);
    if let Some(a) = arg {
        q = q.bind(a);
    }
    Ok(q.fetch_all(conn)
        .await?
        .into_iter()
        .filter_map(|(id, status, deadline, created)| {
            Some(OpenItem {
                id,
                status: Status::from_db(&status)?,
                deadline: NaiveDate::parse_from_str(&deadline, "%Y-%m-%d").ok()?,
                created_at: parse_ts(&created)?,
            })
        })
        .collect())
}

/// The open items of a scope counted by when they were recorded: since `recent` (an instant),
/// between `old` and `recent`, and before `old` — the ledger's ages (≤7 days, 8–30, >30) with
/// the local day boundaries given as instants. `created_at` is written by `db::ts` (fixed-width
/// UTC), so the text compares as the time does.
pub async fn open_ages(
    conn: &mut Conn,
    scope: &Scope,
    recent: DateTime<Utc>,
    old: DateTime<Utc>,
) -> crate::sql::Result<[usize; 3]> {
    let (join, cond, arg) = scope_condition(scope);
    let sql = format!(
        "SELECT COALESCE(SUM(i.created_at >= ?1), 0), COALESCE(SUM(i.created_at < ?1 AND i.created_at >= ?2), 0),
                COALESCE(SUM(i.created_at < ?2), 0)
           FROM rectify_items i {join}
          WHERE i.status NOT IN ('closed', 'cancelled') AND {}",
        cond.replace('?', "?3")
    );
    let mut q = crate::sql::query_as::<(i64, i64, i64)>(&sql).bind(ts(recent)).bind(ts(old));
    if let Some(a) = arg {
        q = q.bind(a);
    }
    let (a, b, c) = q.fetch_one(conn).await?;
    let n = |v: i64| usize::try_from(v).unwrap_or(0);
    Ok([n(a), n(b), n(c)])
}

/// The finished items of a scope, counted in SQL (a province keeps hundreds of thousands).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FinishedSummary {
    pub cancelled: usize,
    pub closed_on_time: usize,
    pub closed_late: usize,
    /// Closed items with a closing time, and the sum of their local calendar days from recorded
    /// to closed.
    pub timed: usize,
    pub days_to_close: i64,
}

/// Counts the closed and cancelled items of a scope. `utc_offset_days` is the local time zone's
/// offset in days (⅓ for Asia/Shanghai), so days are counted between local dates as the chat
/// shows them.
pub async fn finished_summary(
    conn: &mut Conn,
    scope: &Scope,
    utc_offset_days: f64,
) -> crate::sql::Result<FinishedSummary> {
    let (join, cond, arg) = scope_condition(scope);
    // julianday() counts days from noon: + offset + ½ then truncated is the local day number.
    let sql = format!(
        "SELECT COALESCE(SUM(i.status = 'cancelled'), 0),
                COALESCE(SUM(i.status = 'closed' AND COALESCE(i.closed_late, 0) = 0), 0),
                COALESCE(SUM(i.status = 'closed' AND i.closed_late = 1), 0),
                COALESCE(SUM(i.status = 'closed' AND i.closed_at IS NOT NULL), 0),
                COALESCE(SUM(CASE WHEN i.status = 'closed' AND i.closed_at IS NOT NULL
                    THEN CAST(julianday(i.closed_at) + ?1 AS INTEGER) - CAST(julianday(i.created_at) + ?1 AS INTEGER)
                    END), 0)
           FROM rectify_items i {join}
          WHERE i.status IN ('closed', 'cancelled') AND {}",
        cond.replace('?', "?2")
    );
    let mut q = crate::sql::query_as::<(i64, i64, i64, i64, i64)>(&sql).bind(utc_offset_days + 0.5);
    if let Some(a) = arg {
        q = q.bind(a);
    }
    let (cancelled, on_time, late, timed, days) = q.fetch_one(conn).await?;
    Ok(FinishedSummary {
        cancelled: cancelled as usize,
        closed_on_time: on_time as usize,
        closed_late: late as usize,
        timed: timed as usize,
        days_to_close: days,
    })
}

/// Ledger events counted per scope and month, for months up to `last_month` (`YYYY-MM`), from
/// the per-school monthly counts the event triggers keep (migration 20261212000400). The scope is
/// the zone's or school's current name, or "" for the county.
pub async fn month_counts(
    conn: &mut Conn,
    grouping: crate::domain::rectify::Grouping,
    last_month: &str,
) -> crate::sql::Result<Vec<crate::domain::rectify::MonthCount>> {
    use crate::domain::rectify::Grouping;
    let scope = match grouping {
        Grouping::County => "''",
        Grouping::Zone => "z.name",
        Grouping::School => "s.name",
    };
    let sql = format!(
        "SELECT {scope} AS scope, c.month, SUM(c.new), SUM(c.reopened), SUM(c.closed), SUM(c.cancelled)
           FROM rectify_month_counts c JOIN schools s ON s.id = c.school_id JOIN zones z ON z.id = s.zone_id
          WHERE c.month <= ?
          GROUP BY 1, 2"
    );
    let rows: Vec<(String, String, i64, i64, i64, i64)> =
        crate::sql::query_as(&sql).bind(last_month).fetch_all(conn).await?;
    Ok(rows
        .into_iter()
        .map(|(scope, month, new, reopened, closed, cancelled)| crate::domain::rectify::MonthCount {
            scope,
            month,
            new,
            reopened,
            closed,
            cancelled,
        })
        .collect())
}

/// The school's contact and principal (every active school contact of the school).
pub async fn school_contacts(conn: &mut Conn, school_id: i64) -> crate::sql::Result<Vec<i64>> {
    crate::sql::query_scalar(
        "SELECT p.id FROM school_contacts c JOIN people p ON p.id = c.person_id
          WHERE c.school_id = ? AND p.role = 'school_contact' AND p.active = 1 ORDER BY p.code",
    )
    .bind(school_id)
    .fetch_all(conn)
    .await
}

/// One person a school's notices go to: id, name, and whether they are its principal (职务
/// contains 校长, the same test as the task ledger's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub person_id: i64,
    pub name: String,
    pub principal: bool,
}

/// Who receives a school's notices, 联络员 before principals.
pub async fn school_recipients(conn: &mut Conn, school_id: i64) -> crate::sql::Result<Vec<Recipient>> {
    let rows = crate::sql::query(
        "SELECT p.id, p.name, COALESCE(p.title, '') LIKE '%校长%' AS principal
           FROM school_contacts c JOIN people p ON p.id = c.person_id
          WHERE c.school_id = ? AND p.role = 'school_contact' AND p.active = 1
          ORDER BY principal, p.code",
    )
    .bind(school_id)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .iter()
        .map(|r| Recipient {
            person_id: r.get("id"),
            name: r.get("name"),
            principal: r.get::<i64, _>("principal") != 0,
        })
        .collect())
}

/// Items recorded but never notified (nobody at the school could receive the notice).
pub async fn unnotified_items(conn: &mut Conn) -> crate::sql::Result<Vec<Item>> {
    let rows =
        crate::sql::query(&format!("{SELECT} WHERE i.status = 'identified' ORDER BY i.id")).fetch_all(conn).await?;
    Ok(rows.iter().filter_map(item).collect())
}

/// The school's inspectors without a conflict of interest.
pub async fn school_inspectors(conn: &mut Conn, school_id: i64) -> crate::sql::Result<Vec<i64>> {
    crate::sql::query_scalar(
        "SELECT p.id FROM school_assignments a JOIN people p ON p.id = a.person_id
          WHERE a.school_id = ? AND a.conflict_of_interest = 0 AND p.active = 1
          ORDER BY a.role = 'primary' DESC, p.code",
    )
    .bind(school_id)
    .fetch_all(conn)
    .await
}

// ---- Evidence ----

/// A photo as a message carried it: a link to fetch, and/or the platform's file id that the
/// receiving channel resolves (Telegram, WeCom). `channel` is the channel instance that received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvidence<'a> {
    pub channel: &'a str,
    pub url: Option<&'a str>,
    pub file_id: Option<&'a str>,
}

/// A photo by its link alone, with no channel recorded (rows as they were before channels
/// resolved file ids; tools and tests).
pub async fn add_evidence(
    conn: &mut Conn,
    item_id: i64,
    event_id: i64,
    url: &str,
    now: DateTime<Utc>,
) -> crate::sql::Result<()> {
    crate::sql::query("INSERT INTO rectify_evidence (item_id, event_id, url, created_at) VALUES (?, ?, ?, ?)")
        .bind(item_id)
        .bind(event_id)
        .bind(url)
        .bind(ts(now))
        .execute(conn)
        .await?;
    Ok(())
}

/// A photo as the message carried it, with the channel that received it.
pub async fn add_photo(
    conn: &mut Conn,
    item_id: i64,
    event_id: i64,
    photo: &NewEvidence<'_>,
    now: DateTime<Utc>,
) -> crate::sql::Result<()> {
    crate::sql::query(
        "INSERT INTO rectify_evidence (item_id, event_id, url, channel, file_id, created_at) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(item_id)
    .bind(event_id)
    .bind(photo.url.unwrap_or_default())
    .bind(photo.channel)
    .bind(photo.file_id)
    .bind(ts(now))
    .execute(conn)
    .await?;
    Ok(())
}

/// The event a person's photos sent on their own belong to: their latest completion or progress
/// report (`submitted`, `progress`) at or after `since`, on an item still open. (item id, event id).
pub async fn recent_report_event(
    conn: &mut Conn,
    actor_id: i64,
    since: DateTime<Utc>,
) -> crate::sql::Result<Option<(i64, i64)>> {
    crate::sql::query_as(
        "SELECT e.item_id, e.id FROM rectify_events e JOIN rectify_items i ON i.id = e.item_id
          WHERE e.actor_id = ? AND e.action IN ('submitted', 'progress') AND e.at >= ?
            AND i.status NOT IN ('closed', 'cancelled')
          ORDER BY e.id DESC LIMIT 1",
    )
    .bind(actor_id)
    .bind(ts(since))
    .fetch_optional(conn)
    .await
}

#[derive(Debug, Clone)]
pub struct PendingEvidence {
    pub id: i64,
    pub item_id: i64,
    /// Empty when the platform gave only a file id.
    pub url: String,
    /// The channel instance that received the photo (none on rows older than that column).
    pub channel: Option<String>,
    pub file_id: Option<String>,
    pub attempts: u32,
}

pub async fn pending_evidence(conn: &mut Conn, limit: i64) -> crate::sql::Result<Vec<PendingEvidence>> {
    let rows = crate::sql::query(
        "SELECT id, item_id, url, channel, file_id, attempts FROM rectify_evidence
          WHERE status = 'pending' ORDER BY id LIMIT ?",
    )
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .iter()
        .map(|r| PendingEvidence {
            id: r.get("id"),
            item_id: r.get("item_id"),
            url: r.get("url"),
            channel: r.get("channel"),
            file_id: r.get("file_id"),
            attempts: u32::try_from(r.get::<i64, _>("attempts")).unwrap_or(0),
        })
        .collect())
}

/// Records a downloaded photo: stored, or a duplicate of one already on the item.
pub async fn evidence_fetched(
    conn: &mut Conn,
    ev: &PendingEvidence,
    sha256: &str,
    size: i64,
    path: &str,
    now: DateTime<Utc>,
) -> crate::sql::Result<bool> {
    let dup: Option<i64> = crate::sql::query_scalar(
        "SELECT id FROM rectify_evidence WHERE item_id = ? AND sha256 = ? AND status = 'stored' AND id <> ?",
    )
    .bind(ev.item_id)
    .bind(sha256)
    .bind(ev.id)
    .fetch_optional(&mut *conn)
    .await?;
    match dup {
        Some(first) => {
            crate::sql::query(
                "UPDATE rectify_evidence SET status = 'duplicate', duplicate_of = ?, size = ?, attempts = attempts + 1,
                        fetched_at = ? WHERE id = ? AND status = 'pending'",
            )
            .bind(first)
            .bind(size)
            .bind(ts(now))
            .bind(ev.id)
            .execute(conn)
            .await?;
            Ok(false)
        }
        None => {
            crate::sql::query(
                "UPDATE rectify_evidence SET status = 'stored', sha256 = ?, size = ?, path = ?, attempts = attempts + 1,
                        fetched_at = ? WHERE id = ? AND status = 'pending'",
            )
            .bind(sha256)
            .bind(size)
            .bind(path)
            .bind(ts(now))
            .bind(ev.id)
            .execute(conn)
            .await?;
            Ok(true)
        }
    }
}

pub async fn evidence_failed(conn: &mut Conn, id: i64, error: &str, give_up: bool) -> crate::sql::Result<()> {
    crate::sql::query(
        "UPDATE rectify_evidence SET attempts = attempts + 1, error = ?,
                status = CASE WHEN ? THEN 'failed' ELSE status END WHERE id = ? AND status = 'pending'",
    )
    .bind(error)
    .bind(give_up)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// (stored, duplicate, pending, failed) photos of an item.
pub async fn evidence_counts(conn: &mut Conn, item_id: i64) -> crate::sql::Result<(i64, i64, i64, i64)> {
    let r = crate::sql::query(
        "SELECT COALESCE(SUM(status = 'stored'), 0) AS s, COALESCE(SUM(status = 'duplicate'), 0) AS d,
                COALESCE(SUM(status = 'pending'), 0) AS p, COALESCE(SUM(status = 'failed'), 0) AS f
           FROM rectify_evidence WHERE item_id = ?",
    )
    .bind(item_id)
    .fetch_one(conn)
    .await?;
    Ok((r.get("s"), r.get("d"), r.get("p"), r.get("f")))
}

/// One photo row of an item, for showing the evidence: never its URL (it carries tokens).
#[derive(Debug, Clone)]
pub struct EvidencePhoto {
    pub id: i64,
    /// pending, stored, duplicate or failed.
    pub status: String,
    pub sha256: Option<String>,
    /// Relative to the evidence directory.
    pub path: Option<String>,
    /// When the message carrying it arrived.
    pub received_at: Option<DateTime<Utc>>,
    /// Why the last download failed (no URL, no secret in it).
    pub error: Option<String>,
}

/// Every photo row of an item, oldest first.
pub async fn evidence_photos(conn: &mut Conn, item_id: i64) -> crate::sql::Result<Vec<EvidencePhoto>> {
    let rows = crate::sql::query(
        "SELECT id, status, sha256, path, created_at, error FROM rectify_evidence WHERE item_id = ? ORDER BY id",
    )
    .bind(item_id)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .iter()
        .map(|r| EvidencePhoto {
            id: r.get("id"),
            status: r.get("status"),
            sha256: r.get("sha256"),
            path: r.get("path"),
            received_at: parse_ts(&r.get::<String, _>("created_at")),
            error: r.get("error"),
        })
        .collect())
}

// ---- The seam from visit records ----

#[derive(Debug, Clone)]
pub struct VisitProblem {
    pub id: i64,
    pub school_id: i64,
    pub person_id: i64,
    pub description: String,
    pub category: u8,
    pub follow_up: Option<String>,
}

/// Problems found on visits not yet in the ledger.
pub async fn new_visit_problems(conn: &mut Conn) -> crate::sql::Result<Vec<VisitProblem>> {
    let rows = crate::sql::query(
        "SELECT id, school_id, person_id, description, category, follow_up FROM visit_problems
          WHERE status = 'new' ORDER BY id LIMIT 500",
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .iter()
        .map(|r| VisitProblem {
            id: r.get("id"),
            school_id: r.get("school_id"),
            person_id: r.get("person_id"),
            description: r.get("description"),
            category: u8::try_from(r.get::<i64, _>("category")).unwrap_or(9).clamp(1, 9),
            follow_up: r.get("follow_up"),
        })
        .collect())
}

pub async fn take_visit_problem(conn: &mut Conn, id: i64) -> crate::sql::Result<bool> {
    let r = crate::sql::query("UPDATE visit_problems SET status = 'taken' WHERE id = ? AND status = 'new'")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

// ---- Self-check lists (清单工作法: school self-check → zone review → office confirmation) ----

#[derive(Debug, Clone)]
pub struct SelfCheck {
    pub id: i64,
    pub school_id: i64,
    pub school_name: String,
    pub zone_id: i64,
    pub status: String,
}

pub async fn add_self_check(
    conn: &mut Conn,
    school_id: i64,
    by: i64,
    lines: &[crate::domain::rectify::CheckLine],
    now: DateTime<Utc>,
) -> crate::sql::Result<i64> {
    let id = crate::sql::query(
        "INSERT INTO rectify_self_checks (school_id, submitted_by, status, created_at, updated_at)
         VALUES (?, ?, 'submitted', ?, ?)",
    )
    .bind(school_id)
    .bind(by)
    .bind(ts(now))
    .bind(ts(now))
    .execute(&mut *conn)
    .await?
    .last_insert_rowid();
    for (i, l) in lines.iter().enumerate() {
        crate::sql::query(
            "INSERT INTO rectify_self_check_lines (self_check_id, line_no, category, severity, description)
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(id)
        .bind(i64::try_from(i + 1).unwrap_or(i64::MAX))
        .bind(i64::from(l.category))
        .bind(l.severity.as_str())
        .bind(&l.description)
        .execute(&mut *conn)
        .await?;
    }
    Ok(id)
}

pub async fn self_check(conn: &mut Conn, id: i64) -> crate::sql::Result<Option<SelfCheck>> {
    let r = crate::sql::query(
        "SELECT c.id, c.school_id, s.name AS school_name, s.zone_id, c.status
           FROM rectify_self_checks c JOIN schools s ON s.id = c.school_id WHERE c.id = ?",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?;
    Ok(r.map(|r| SelfCheck {
        id: r.get("id"),
        school_id: r.get("school_id"),
        school_name: r.get("school_name"),
        zone_id: r.get("zone_id"),
        status: r.get("status"),
    }))
}

/// Lines not dropped: (line no, category, severity, description).
pub async fn self_check_lines(conn: &mut Conn, id: i64) -> crate::sql::Result<Vec<(i64, u8, Severity, String)>> {
    Ok(self_check_all_lines(conn, id)
        .await?
        .into_iter()
        .filter(|(.., dropped, _)| !dropped)
        .map(|(line, category, severity, description, ..)| (line, category, severity, description))
        .collect())
}

pub async fn drop_self_check_lines(conn: &mut Conn, id: i64, line_nos: &[usize]) -> crate::sql::Result<u64> {
    let list = serde_json::to_string(line_nos).unwrap_or_else(|_| "[]".into());
    let r = crate::sql::query(
        "UPDATE rectify_self_check_lines SET dropped = 1
          WHERE self_check_id = ? AND line_no IN (SELECT value FROM json_each(?))",
    )
    .bind(id)
    .bind(list)
    .execute(conn)
    .await?;
    Ok(r.rows_affected())
}

/// Moves a list on from `from`; the office acts on reviewed lists, the inspector on submitted ones.
pub async fn set_self_check_status(
    conn: &mut Conn,
    id: i64,
    from: &str,
    to: &str,
    by: i64,
    note: Option<&str>,
    now: DateTime<Utc>,
) -> crate::sql::Result<bool> {
    let col = if from == "reviewed" { "confirmed_by" } else { "reviewed_by" };
    let r = crate::sql::query(&format!(
        "UPDATE rectify_self_checks SET status = ?, {col} = ?, note = COALESCE(?, note), updated_at = ?
          WHERE id = ? AND status = ?"
    ))
    .bind(to)
    .bind(by)
    .bind(note)
    .bind(ts(now))
    .bind(id)
    .bind(from)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// A self-check list as the platform lists it.
#[derive(Debug, Clone)]
pub struct SelfCheckRow {
    pub id: i64,
    pub school_id: i64,
    pub school_name: String,
    pub zone_id: i64,
    pub status: String,
    pub submitted_by: String,
    pub created_at: Option<DateTime<Utc>>,
    pub note: Option<String>,
    /// Lines not dropped.
    pub lines: i64,
}

const SELF_CHECK_ROW: &str = "SELECT c.id, c.school_id, s.name AS school_name, s.zone_id, c.status,
        p.name AS submitted_by, c.created_at, c.note,
        (SELECT COUNT(*) FROM rectify_self_check_lines l WHERE l.self_check_id = c.id AND l.dropped = 0) AS lines
   FROM rectify_self_checks c JOIN schools s ON s.id = c.school_id JOIN people p ON p.id = c.submitted_by";

fn self_check_row(r: &crate::sql::Row) -> SelfCheckRow {
    SelfCheckRow {
        id: r.get("id"),
        school_id: r.get("school_id"),
        school_name: r.get("school_name"),
        zone_id: r.get("zone_id"),
        status: r.get("status"),
        submitted_by: r.get("submitted_by"),
        created_at: parse_ts(&r.get::<String, _>("created_at")),
        note: r.get("note"),
        lines: r.get("lines"),
    }
}

/// Self-check lists in one of `statuses`, oldest first (the platform's list of what awaits a
/// decision; callers scope it by school).
pub async fn self_checks_in(conn: &mut Conn, statuses: &[&str], limit: i64) -> crate::sql::Result<Vec<SelfCheckRow>> {
    let list = serde_json::to_string(statuses).unwrap_or_else(|_| "[]".into());
    let rows = crate::sql::query(&format!(
        "{SELF_CHECK_ROW} WHERE c.status IN (SELECT value FROM json_each(?)) ORDER BY c.id LIMIT ?"
    ))
    .bind(list)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(rows.iter().map(self_check_row).collect())
}

/// One self-check list as the platform shows it.
pub async fn self_check_row_by_id(conn: &mut Conn, id: i64) -> crate::sql::Result<Option<SelfCheckRow>> {
    let r = crate::sql::query(&format!("{SELF_CHECK_ROW} WHERE c.id = ?")).bind(id).fetch_optional(conn).await?;
    Ok(r.as_ref().map(self_check_row))
}

/// Every line of a list, dropped ones included: (line no, category, severity, description,
/// dropped, the item it became).
#[allow(clippy::type_complexity)]
pub async fn self_check_all_lines(
    conn: &mut Conn,
    id: i64,
) -> crate::sql::Result<Vec<(i64, u8, Severity, String, bool, Option<i64>)>> {
    let rows = crate::sql::query(
        "SELECT line_no, category, severity, description, dropped, item_id FROM rectify_self_check_lines
          WHERE self_check_id = ? ORDER BY line_no",
    )
    .bind(id)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            Some((
                r.get("line_no"),
                u8::try_from(r.get::<i64, _>("category")).ok()?,
                Severity::from_db(r.get("severity"))?,
                r.get("description"),
                r.get::<i64, _>("dropped") != 0,
                r.get("item_id"),
            ))
        })
        .collect())
}

pub async fn link_self_check_line(conn: &mut Conn, id: i64, line_no: i64, item_id: i64) -> crate::sql::Result<()> {
    crate::sql::query("UPDATE rectify_self_check_lines SET item_id = ? WHERE self_check_id = ? AND line_no = ?")
        .bind(item_id)
        .bind(id)
        .bind(line_no)
        .execute(conn)
        .await?;
    Ok(())
}

/// The open statuses exactly as the partial index `rectify_items_open_deadline` (migration
/// 20261216000100) names them: a county-wide query that repeats this term may use that index.
const OPEN_TERM: &str =
    "i.status IN ('identified', 'notified', 'acknowledged', 'in_progress', 'submitted', 'verifying')";

/// `statuses` as an SQL list of literals (they are our own constant names).
fn status_list(statuses: &[Status]) -> String {
    let names: Vec<String> = statuses.iter().map(|s| format!("'{}'", s.as_str())).collect();
    format!("({})", names.join(", "))
}

/// The `WHERE` prefix and binding for a scope over open items only: the county's condition names
/// the open statuses so the deadline index serves it (a zone's or a school's uses the school
/// index, which is faster for them).
fn open_scope_condition(scope: &Scope, statuses: &[Status]) -> (&'static str, String, Option<String>) {
    let (join, cond, arg) = scope_condition(scope);
    let cond = if matches!(scope, Scope::County) && statuses.iter().all(|s| s.is_open()) {
        OPEN_TERM.to_string()
    } else {
        cond.to_string()
    };
    (join, cond, arg)
}

/// The ids of the first `limit` items of the scope with one of `statuses`, by deadline then id,
/// either overdue only (awaiting the school, deadline before `today`) or not overdue only.
async fn page_ids(
    conn: &mut Conn,
    scope: &Scope,
    statuses: &[Status],
    today: NaiveDate,
    overdue: bool,
    limit: usize,
) -> crate::sql::Result<Vec<i64>> {
    if statuses.is_empty() || limit == 0 {
        return Ok(Vec::new());
    }
    let awaiting: Vec<Status> = Status::ALL.into_iter().filter(|s| s.awaits_school()).collect();
    let late = format!("(i.status IN {} AND i.deadline < ?2)", status_list(&awaiting));
    let (join, cond, arg) = open_scope_condition(scope, statuses);
    let sql = format!(
        "SELECT i.id FROM rectify_items i {join}
          WHERE {} AND i.status IN {} AND {}{late}
          ORDER BY i.deadline, i.id LIMIT {limit}",
        cond.replace('?', "?1"),
        status_list(statuses),
        if overdue { "" } else { "NOT " },
    );
    let q = crate::sql::query_scalar::<i64>(&sql).bind(arg).bind(today.format("%Y-%m-%d").to_string());
    q.fetch_all(conn).await
}

/// Items whole by id, in the order of `ids`.
async fn items_by_ids(conn: &mut Conn, ids: &[i64]) -> crate::sql::Result<Vec<Item>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
    let rows = crate::sql::query(&format!("{SELECT} WHERE i.id IN (SELECT value FROM json_each(?))"))
        .bind(list)
        .fetch_all(conn)
        .await?;
    let mut found: std::collections::HashMap<i64, Item> = rows.iter().filter_map(item).map(|it| (it.id, it)).collect();
    Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
}

/// The first `limit` items with one of `statuses`, most overdue first (the school's side of an
/// item is overdue past its deadline), then by deadline — the order the ledger shows, computed
/// in SQL so a province's open items are not all read for one page. With `overdue_only`, only
/// the overdue ones. The overdue ones are one range of the deadline index, the rest another:
/// a province's first page reads its 200 ids from the index and only those items whole.
pub async fn most_overdue(
    conn: &mut Conn,
    scope: &Scope,
    statuses: &[Status],
    today: NaiveDate,
    overdue_only: bool,
    limit: u32,
) -> crate::sql::Result<Vec<Item>> {
    let limit = limit as usize;
    let awaiting: Vec<Status> = statuses.iter().copied().filter(|s| s.awaits_school()).collect();
    let mut ids = page_ids(conn, scope, &awaiting, today, true, limit).await?;
    if !overdue_only && ids.len() < limit {
        let rest = page_ids(conn, scope, statuses, today, false, limit - ids.len()).await?;
        ids.extend(rest);
    }
    items_by_ids(conn, &ids).await
}

/// The ledger's figures of a scope from the per-school counts the item triggers keep (migration
/// 20261216000100), and its overdue items counted on the deadline index. Equal to counting the
/// items themselves ([`open_items_in`], [`finished_summary`]); tests hold them to it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LedgerCounts {
    /// Items in each status, in [`Status::ALL`] order (closed: every closed item).
    pub by_status: [usize; 8],
    /// Closed items with `closed_late` unset or 0, and with 1.
    pub closed_on_time: usize,
    pub closed_late: usize,
    /// Open items awaiting the school past their deadline (`overdue_days` > 0).
    pub overdue: usize,
}

impl LedgerCounts {
    pub fn count(&self, status: Status) -> usize {
        Status::ALL.iter().position(|s| *s == status).map_or(0, |i| self.by_status[i])
    }

    /// Items not closed and not cancelled.
    pub fn open(&self) -> usize {
        Status::ALL.iter().filter(|s| s.is_open()).map(|s| self.count(*s)).sum()
    }
}

pub async fn ledger_counts(conn: &mut Conn, scope: &Scope, today: NaiveDate) -> crate::sql::Result<LedgerCounts> {
    let (join, cond) = match scope {
        Scope::County => ("", "1 = 1"),
        Scope::Zone(_) => ("JOIN schools s ON s.id = c.school_id", "s.zone_id = ?"),
        Scope::Schools(_) => ("", "c.school_id IN (SELECT value FROM json_each(?))"),
    };
    let (_, _, arg) = scope_condition(scope);
    let sql = format!(
        "SELECT COALESCE(SUM(c.identified), 0), COALESCE(SUM(c.notified), 0), COALESCE(SUM(c.acknowledged), 0),
                COALESCE(SUM(c.in_progress), 0), COALESCE(SUM(c.submitted), 0), COALESCE(SUM(c.verifying), 0),
                COALESCE(SUM(c.closed_on_time), 0), COALESCE(SUM(c.closed_late), 0),
                COALESCE(SUM(c.closed_other), 0), COALESCE(SUM(c.cancelled), 0)
           FROM rectify_school_counts c {join} WHERE {cond}"
    );
    let mut q = crate::sql::query(&sql);
    if let Some(a) = arg {
        q = q.bind(a);
    }
    let row = q.fetch_one(&mut *conn).await?;
    let n = |i: usize| usize::try_from(row.get::<i64, _>(i)).unwrap_or(0);
    let mut counts = LedgerCounts {
        by_status: [n(0), n(1), n(2), n(3), n(4), n(5), n(6) + n(7) + n(8), n(9)],
        closed_on_time: n(6),
        closed_late: n(7),
        overdue: 0,
    };
    let awaiting: Vec<Status> = Status::ALL.into_iter().filter(|s| s.awaits_school()).collect();
    let (join, cond, arg) = open_scope_condition(scope, &awaiting);
    let sql = format!(
        "SELECT COUNT(*) FROM rectify_items i {join}
          WHERE {} AND i.status IN {} AND i.deadline < ?2",
        cond.replace('?', "?1"),
        status_list(&awaiting)
    );
    let overdue: i64 =
        crate::sql::query_scalar(&sql).bind(arg).bind(today.format("%Y-%m-%d").to_string()).fetch_one(conn).await?;
    counts.overdue = usize::try_from(overdue).unwrap_or(0);
    Ok(counts)
}

/// The items of a scope whose status is one of `statuses` (the platform's ledger list and
/// 我的待办): all of them oldest first, or with `latest` only that many, newest first (finished
/// items are the bulk of a province's ledger).
pub async fn items_with_status(
    conn: &mut Conn,
    scope: &Scope,
    statuses: &[Status],
    latest: Option<u32>,
) -> crate::sql::Result<Vec<Item>> {
    let (_, cond, arg) = scope_condition(scope);
    let wanted: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
    let order = match latest {
        Some(n) => format!("ORDER BY i.id DESC LIMIT {n}"),
        None => "ORDER BY i.id".to_string(),
    };
    let sql = format!("{SELECT} WHERE {cond} AND i.status IN (SELECT value FROM json_each(?)) {order}");
    let mut q = crate::sql::query(&sql);
    if let Some(a) = arg {
        q = q.bind(a);
    }
    let q = q.bind(serde_json::to_string(&wanted).unwrap_or_else(|_| "[]".into()));
    Ok(q.fetch_all(conn).await?.iter().filter_map(item).collect())
}
