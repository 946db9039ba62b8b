//! Detail rows for the exports (`crate::export`) that the statistics loader (`store::stats`)
//! does not read: names, one row per visit with its problems, the ledger's items with their
//! evidence, the tasks. One query per table per request.

use std::collections::HashMap;

use chrono_tz::Tz;

use super::stats::{bounds, day, local_day, parse_day};
use super::Conn;
use crate::db::parse_ts;
use crate::domain::rectify::{Severity, Source, Status};
use crate::domain::report_parse::VisitMethod;
use crate::domain::stats::records::{EvidenceRef, LedgerItem, NameRow, TaskHead, VisitRecord};
use crate::domain::stats::Period;
use crate::domain::task::TaskStatus;
use crate::domain::visit_parse::VisitKind;

/// Rows of `id, code, name, zone_id, kind, active` as [`NameRow`]s.
async fn name_rows(conn: &mut Conn, sql: &str) -> crate::sql::Result<Vec<NameRow>> {
    let rows = crate::sql::query(sql).fetch_all(conn).await?;
    Ok(rows
        .iter()
        .map(|r| NameRow {
            id: r.get("id"),
            code: r.get("code"),
            name: r.get("name"),
            zone_id: r.get("zone_id"),
            kind: r.get("kind"),
            active: r.get::<i64, _>("active") != 0,
        })
        .collect())
}

/// Every zone, by code (retired ones too: old items still name them).
pub async fn zones(conn: &mut Conn) -> crate::sql::Result<Vec<NameRow>> {
    name_rows(conn, "SELECT id, code, name, NULL AS zone_id, '' AS kind, active FROM zones ORDER BY code").await
}

/// Every person, by code, with their role as `kind`.
pub async fn people(conn: &mut Conn) -> crate::sql::Result<Vec<NameRow>> {
    name_rows(conn, "SELECT id, code, name, zone_id, role AS kind, active FROM people ORDER BY code").await
}

/// Every school, by code, named by its short name when it has one (as the chat shows it).
pub async fn schools(conn: &mut Conn) -> crate::sql::Result<Vec<NameRow>> {
    name_rows(
        conn,
        "SELECT id, code, COALESCE(short_name, name) AS name, zone_id, stage AS kind, active FROM schools ORDER BY code",
    )
    .await
}

/// Submitted visits dated in `period`, in date order, with their problems.
pub async fn visit_records(conn: &mut Conn, period: Period, zone: Option<i64>) -> crate::sql::Result<Vec<VisitRecord>> {
    let (from, to) = (day(period.from), day(period.to));
    let rows = crate::sql::query(
        "SELECT v.id, v.visit_date, v.person_id, v.school_id, v.kind, v.themed, t.title AS theme,
                json_extract(v.parsed, '$.methods') AS methods,
                json_extract(v.parsed, '$.narrative') AS narrative
           FROM visits v LEFT JOIN monthly_themes t ON t.id = v.theme_id
          WHERE v.status = 'submitted' AND v.visit_date BETWEEN ?1 AND ?2
            AND (?3 IS NULL OR v.school_id IN (SELECT id FROM schools WHERE zone_id = ?3))
          ORDER BY v.visit_date, v.id",
    )
    .bind(&from)
    .bind(&to)
    .bind(zone);
    // The problems of those visits in one pass (of the zone's schools only), rather than one
    // lookup per visit; rows are turned into records as they are read, never all kept raw.
    let mut by_visit: HashMap<i64, Vec<(u8, String)>> = HashMap::new();
    crate::sql::query(
        "SELECT p.visit_id, p.category, p.description
           FROM visit_problems p JOIN visits v ON v.id = p.visit_id
          WHERE v.status = 'submitted' AND v.visit_date BETWEEN ?1 AND ?2
            AND (?3 IS NULL OR v.school_id IN (SELECT id FROM schools WHERE zone_id = ?3))
          ORDER BY p.id",
    )
    .bind(&from)
    .bind(&to)
    .bind(zone)
    .for_each(&mut *conn, |r| {
        let category = u8::try_from(r.get::<i64, _>("category")).unwrap_or(crate::domain::monthly::OTHER_CATEGORY);
        by_visit.entry(r.get("visit_id")).or_default().push((category, r.get("description")));
        Ok(())
    })
    .await?;
    rows.filter_map(&mut *conn, |r| {
        let id: i64 = r.get("id");
        let methods: Option<String> = r.get("methods");
        Some(VisitRecord {
            id,
            date: parse_day(r.get("visit_date"))?,
            person_id: r.get("person_id"),
            school_id: r.get::<Option<i64>, _>("school_id")?,
            kind: VisitKind::parse(r.get("kind")).unwrap_or_default(),
            themed: r.get::<i64, _>("themed") != 0,
            theme: r.get("theme"),
            methods: methods.and_then(|m| serde_json::from_str::<Vec<(VisitMethod, u32)>>(&m).ok()).unwrap_or_default(),
            narrative: r.get("narrative"),
            problems: by_visit.remove(&id).unwrap_or_default(),
        })
    })
    .await
}

/// The ledger of `period`: items recorded by its end that were still open at its start or
/// touched since (the same items `store::stats::rectify_rows` reads), in their current state,
/// with their evidence.
pub async fn ledger_items(
    conn: &mut Conn,
    tz: Tz,
    period: Period,
    zone: Option<i64>,
) -> crate::sql::Result<Vec<LedgerItem>> {
    let (start, end) = bounds(tz, period);
    const RELEVANT: &str = "i.created_at < ?1 AND (i.status NOT IN ('closed', 'cancelled') OR i.updated_at >= ?2)
         AND (?3 IS NULL OR i.school_id IN (SELECT id FROM schools WHERE zone_id = ?3))";
    let sql = format!(
        "SELECT i.id, i.school_id, i.category, i.severity, i.source, i.source_ref, i.description, i.owner,
                i.status, i.created_at, i.deadline, i.closed_at, i.closed_late, i.returns, i.relapses,
                i.extensions
           FROM rectify_items i WHERE {RELEVANT} ORDER BY i.id"
    );
    let rows = crate::sql::query(&sql).bind(&end).bind(&start).bind(zone);
    let mut by_item: HashMap<i64, Vec<EvidenceRef>> = HashMap::new();
    crate::sql::query(&format!(
        "SELECT e.id, e.item_id, e.status, e.path
           FROM rectify_evidence e JOIN rectify_items i ON i.id = e.item_id
          WHERE {RELEVANT} ORDER BY e.id"
    ))
    .bind(&end)
    .bind(&start)
    .bind(zone)
    .for_each(&mut *conn, |r| {
        by_item.entry(r.get("item_id")).or_default().push(EvidenceRef {
            id: r.get("id"),
            status: r.get("status"),
            path: r.get("path"),
        });
        Ok(())
    })
    .await?;
    let count = |r: &crate::sql::Row, c: &str| u32::try_from(r.get::<i64, _>(c)).unwrap_or(0);
    rows.filter_map(&mut *conn, |r| {
        let id: i64 = r.get("id");
        let closed_at: Option<String> = r.get("closed_at");
        Some(LedgerItem {
            id,
            school_id: r.get("school_id"),
            category: u8::try_from(r.get::<i64, _>("category")).ok()?,
            severity: Severity::from_db(r.get("severity"))?,
            source: Source::from_db(r.get("source"))?,
            source_ref: r.get("source_ref"),
            description: r.get("description"),
            owner: r.get("owner"),
            status: Status::from_db(r.get("status"))?,
            created: local_day(tz, r.get("created_at"))?,
            deadline: parse_day(r.get("deadline"))?,
            closed: closed_at.as_deref().and_then(|c| local_day(tz, c)),
            closed_late: r.get::<Option<i64>, _>("closed_late").map(|v| v != 0),
            returns: count(r, "returns"),
            relapses: count(r, "relapses"),
            extensions: count(r, "extensions"),
            evidence: by_item.remove(&id).unwrap_or_default(),
        })
    })
    .await
}

/// Tasks with a live assignment made in `period` (the assignments are `store::stats::task_rows`).
pub async fn tasks(conn: &mut Conn, tz: Tz, period: Period) -> crate::sql::Result<Vec<TaskHead>> {
    let (start, end) = bounds(tz, period);
    let rows = crate::sql::query(
        "SELECT t.id, t.title, t.deadline_at, t.status, t.created_by FROM tasks t
          WHERE EXISTS (SELECT 1 FROM task_assignments a WHERE a.task_id = t.id AND a.state <> 'cancelled'
                           AND a.assigned_at >= ? AND a.assigned_at < ?)
          ORDER BY t.id",
    )
    .bind(start)
    .bind(end)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            Some(TaskHead {
                id: r.get("id"),
                title: r.get("title"),
                deadline: parse_ts(r.get("deadline_at"))?,
                status: TaskStatus::parse_db(r.get("status"))?,
                created_by: r.get("created_by"),
            })
        })
        .collect())
}
