//! Rows for the statistics (`domain::stats`): one or two queries per area for a period, read
//! once per request; the figures are computed from them in the domain.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::Conn;
use crate::db::{parse_ts, ts};
use crate::domain::rectify::{Severity, Source, Status};
use crate::domain::report_parse::VisitMethod;
use crate::domain::stats::rectify::{escalation_level, fold_cut, EscalationRow, EventRow, Folding, ItemRow};
use crate::domain::stats::tasks::AssignmentRow;
use crate::domain::stats::visits::{InspectorRow, SchoolRow, VisitRow};
use crate::domain::stats::weekly::WeeklyRow;
use crate::domain::stats::{Period, Rows};
use crate::domain::task::AssignmentState;
use crate::domain::visit_parse::VisitKind;
use crate::domain::weekly::week_label;

pub(crate) fn day(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

pub(crate) fn parse_day(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// `parse_day` for the hundreds of thousands of dates a province's ledger read holds: a
/// stored `YYYY-MM-DD` read digit by digit, anything else left to `parse_day`.
fn parse_day_fast(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |n, c| c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0')))
    };
    if b.len() == 10 && b[4] == b'-' && b[7] == b'-' {
        if let (Some(y), Some(m), Some(d)) = (digits(0..4), digits(5..7), digits(8..10)) {
            return NaiveDate::from_ymd_opt(i32::try_from(y).ok()?, m, d);
        }
    }
    parse_day(s)
}

/// The instant local day `d` begins (the earliest one at a clock change).
fn start_of(tz: Tz, d: NaiveDate) -> DateTime<Utc> {
    let midnight = d.and_time(NaiveTime::MIN);
    tz.from_local_datetime(&midnight)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&midnight))
}

/// The instants `[start, end)` covering the local days of `period`, as stored text.
pub(crate) fn bounds(tz: Tz, period: Period) -> (String, String) {
    let end = match period.to.succ_opt() {
        Some(next) => ts(start_of(tz, next)),
        // The last representable day: everything after its start.
        None => "~".to_string(),
    };
    (ts(start_of(tz, period.from)), end)
}

pub(crate) fn local_day(tz: Tz, stored: &str) -> Option<NaiveDate> {
    parse_ts(stored).map(|t| t.with_timezone(&tz).date_naive())
}

/// [`load`] for figures taken on `today`: the same figures, read faster ([`rectify_rows_on`]).
pub async fn load_on(
    conn: &mut Conn,
    tz: Tz,
    period: Period,
    exempt_invited: bool,
    today: NaiveDate,
) -> crate::sql::Result<Rows> {
    let schools = school_rows(conn).await?;
    let rectify = rectify_rows_on(conn, tz, period, &schools, None, today).await?;
    rows_with(conn, tz, period, exempt_invited, schools, rectify).await
}

/// The rows besides rectification's, around the schools and items already read.
async fn rows_with(
    conn: &mut Conn,
    tz: Tz,
    period: Period,
    exempt_invited: bool,
    schools: Vec<SchoolRow>,
    (items, escalations): (Vec<ItemRow>, Vec<EscalationRow>),
) -> crate::sql::Result<Rows> {
    Ok(Rows {
        weekly: weekly_rows(conn, period, None).await?,
        visits: visit_rows(conn, period, None).await?,
        inspectors: inspector_rows(conn, exempt_invited).await?,
        items,
        escalations,
        assignments: task_rows(conn, tz, period).await?,
        info: super::info::rows(conn, tz, period).await?,
        schools,
    })
}

/// Everything the statistics of `period` read. `exempt_invited`: 特约督学 are not held to the
/// visit quota (`[visits] exempt_invited`).
pub async fn load(conn: &mut Conn, tz: Tz, period: Period, exempt_invited: bool) -> crate::sql::Result<Rows> {
    let schools = school_rows(conn).await?;
    let rectify = rectify_rows(conn, tz, period, &schools, None).await?;
    rows_with(conn, tz, period, exempt_invited, schools, rectify).await
}

/// Members of the weekly rounds around `period`, with their reports (the domain keeps the weeks
/// whose Thursday falls in the period).
/// `zone` only narrows what is read (the figures filter by scope themselves).
pub async fn weekly_rows(conn: &mut Conn, period: Period, zone: Option<i64>) -> crate::sql::Result<Vec<WeeklyRow>> {
    // Every week whose Thursday is in the period lies between these labels (they sort as text).
    let (first, last) = (week_label(period.from), week_label(period.to));
    let rows = crate::sql::query(
        "SELECT r.week, m.person_id, p.zone_id, m.excluded IS NOT NULL AS excluded,
                w.id IS NOT NULL AS submitted, COALESCE(w.late, 0) AS late
           FROM weekly_members m
           JOIN weekly_rounds r ON r.id = m.round_id
           JOIN people p ON p.id = m.person_id
           LEFT JOIN weekly_reports w ON w.round_id = m.round_id AND w.person_id = m.person_id
          WHERE r.week BETWEEN ?1 AND ?2 AND (?3 IS NULL OR p.zone_id = ?3)
          ORDER BY r.week, m.person_id",
    )
    .bind(first)
    .bind(last)
    .bind(zone);
    // A province's half-year is ~10^5 member-weeks: read as SQLite steps, one `String` a row.
    let mut out = Vec::new();
    rows.for_each_ref(conn, |r| {
        out.push(WeeklyRow {
            week: r.text(0)?.to_owned(),
            person_id: r.int(1)?,
            zone_id: r.opt_int(2)?,
            excluded: r.int(3)? != 0,
            submitted: r.int(4)? != 0,
            late: r.int(5)? != 0,
        });
        Ok(())
    })
    .await?;
    Ok(out)
}

/// Submitted visits dated in `period`, with the zone of the school visited and the methods of
/// the record.
/// With `zone`, only visits to that zone's schools (what the figures count for a zone; the
/// per-inspector tables need every visit, so they pass `None`).
pub async fn visit_rows(conn: &mut Conn, period: Period, zone: Option<i64>) -> crate::sql::Result<Vec<VisitRow>> {
    let mut out = Vec::new();
    crate::sql::query(
        "SELECT v.id, v.person_id, v.school_id, s.zone_id, v.visit_date, v.kind, v.themed,
                json_extract(v.parsed, '$.methods') AS methods
           FROM visits v JOIN schools s ON s.id = v.school_id
          WHERE v.status = 'submitted' AND v.visit_date BETWEEN ?1 AND ?2 AND (?3 IS NULL OR s.zone_id = ?3)
          ORDER BY v.visit_date, v.id",
    )
    .bind(day(period.from))
    .bind(day(period.to))
    .bind(zone)
    .for_each_ref(conn, |r| {
        let Some(date) = parse_day_fast(r.text(4)?) else {
            return Ok(());
        };
        let methods = r.opt_text(7)?;
        out.push(VisitRow {
            id: r.int(0)?,
            person_id: r.int(1)?,
            school_id: r.int(2)?,
            zone_id: r.int(3)?,
            date,
            kind: VisitKind::parse(r.text(5)?).unwrap_or_default(),
            themed: r.int(6)? != 0,
            methods: methods.and_then(|m| serde_json::from_str::<Vec<(VisitMethod, u32)>>(m).ok()).unwrap_or_default(),
        });
        Ok(())
    })
    .await?;
    Ok(out)
}

/// Active schools with their responsible inspectors (active, not recused).
pub async fn school_rows(conn: &mut Conn) -> crate::sql::Result<Vec<SchoolRow>> {
    let schools = crate::sql::query("SELECT id, zone_id FROM schools WHERE active = 1 ORDER BY code")
        .fetch_all(&mut *conn)
        .await?;
    let assigned = crate::sql::query(
        "SELECT a.school_id, a.person_id FROM school_assignments a JOIN people p ON p.id = a.person_id
          WHERE a.conflict_of_interest = 0 AND p.role = 'inspector' AND p.active = 1
          ORDER BY a.school_id, a.person_id",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut by_school: HashMap<i64, Vec<i64>> = HashMap::new();
    for r in &assigned {
        by_school.entry(r.get("school_id")).or_default().push(r.get("person_id"));
    }
    Ok(schools
        .iter()
        .map(|r| {
            let id: i64 = r.get("id");
            SchoolRow { id, zone_id: r.get("zone_id"), inspectors: by_school.remove(&id).unwrap_or_default() }
        })
        .collect())
}

/// Active inspectors; `counted` false for 特约督学 when they are exempt from the quota.
pub async fn inspector_rows(conn: &mut Conn, exempt_invited: bool) -> crate::sql::Result<Vec<InspectorRow>> {
    let rows = crate::sql::query(
        "SELECT id, zone_id, inspector_type FROM people WHERE role = 'inspector' AND active = 1 ORDER BY code",
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let kind: Option<String> = r.get("inspector_type");
            InspectorRow {
                id: r.get("id"),
                zone_id: r.get("zone_id"),
                counted: !(exempt_invited && kind.as_deref() == Some("invited")),
            }
        })
        .collect())
}

/// Items that matter to `period` — recorded by its end and still open, or touched since its
/// start (an item closed or cancelled before the period, and untouched since, has no figure
/// in it) — with their events up to the period's end, and the escalations sent in it.
pub async fn rectify_rows(
    conn: &mut Conn,
    tz: Tz,
    period: Period,
    schools: &[SchoolRow],
    zone: Option<i64>,
) -> crate::sql::Result<(Vec<ItemRow>, Vec<EscalationRow>)> {
    let (start, end) = bounds(tz, period);
    // `zone` only narrows what is read: the figures filter by scope themselves. The school's zone
    // is looked up here rather than joined: a province's items are read in one pass over the
    // table, and each item's events through the `(item_id, id)` index (items first, by
    // `CROSS JOIN`), which is several times cheaper than scanning every event against the items.
    const RELEVANT: &str = "i.created_at < ?1 AND (i.status NOT IN ('closed', 'cancelled') OR i.updated_at >= ?2)
         AND (?4 IS NULL OR i.school_id IN (SELECT id FROM schools WHERE zone_id = ?4))";
    let zone_of: HashMap<i64, i64> = crate::sql::query_as::<(i64, i64)>("SELECT id, zone_id FROM schools")
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .collect();
    let sql = format!(
        "SELECT i.id, i.school_id, i.category, i.severity, i.source, i.created_at, i.status, i.deadline
           FROM rectify_items i
          WHERE {RELEVANT} AND ?3 IS NOT NULL ORDER BY i.id"
    );
    let items = crate::sql::query(&sql).bind(&end).bind(&start).bind(day(period.to)).bind(zone);
    let mut by_item: HashMap<i64, Vec<EventRow>> = HashMap::new();
    crate::sql::query(&format!(
        "SELECT e.item_id, e.local_date, e.action, e.to_status, e.deadline
           FROM rectify_items i CROSS JOIN rectify_events e ON e.item_id = i.id
          WHERE {RELEVANT} AND e.local_date <= ?3 ORDER BY i.id, e.id"
    ))
    .bind(&end)
    .bind(&start)
    .bind(day(period.to))
    .bind(zone)
    .for_each(&mut *conn, |r| {
        let (Some(date), Some(to_status)) = (parse_day(r.get("local_date")), Status::from_db(r.get("to_status")))
        else {
            return Ok(());
        };
        let deadline: Option<String> = r.get("deadline");
        by_item.entry(r.get("item_id")).or_default().push(EventRow {
            date,
            action: r.get("action"),
            to_status,
            deadline: deadline.as_deref().and_then(parse_day),
        });
        Ok(())
    })
    .await?;
    let inspectors: HashMap<i64, &Vec<i64>> = schools.iter().map(|s| (s.id, &s.inspectors)).collect();
    let items = items
        .filter_map(&mut *conn, |r| {
            let id: i64 = r.get("id");
            let school_id: i64 = r.get("school_id");
            Some(ItemRow {
                id,
                school_id,
                zone_id: zone_of.get(&school_id).copied()?,
                inspectors: inspectors.get(&school_id).map(|v| v.to_vec()).unwrap_or_default(),
                category: u8::try_from(r.get::<i64, _>("category")).ok()?,
                severity: Severity::from_db(r.get("severity"))?,
                source: Source::from_db(r.get("source"))?,
                created: local_day(tz, r.get("created_at"))?,
                status: Status::from_db(r.get("status"))?,
                deadline: parse_day(r.get("deadline"))?,
                events: by_item.remove(&id).unwrap_or_default(),
            })
        })
        .await?;
    let esc = crate::sql::query(
        "SELECT subject_id, event, at FROM once_events
          WHERE subject_kind = 'rectify_item' AND at >= ? AND at < ? ORDER BY at",
    )
    .bind(&start)
    .bind(&end)
    .fetch_all(&mut *conn)
    .await?;
    let escalations = esc
        .iter()
        .filter_map(|r| {
            Some(EscalationRow {
                item_id: r.get("subject_id"),
                level: escalation_level(r.get("event"))?,
                date: local_day(tz, r.get("at"))?,
            })
        })
        .collect();
    Ok((items, escalations))
}

/// [`rectify_rows`] for the figures of `period` taken on `today`: the same items and
/// escalations, with each item's events before `fold_cut(period, today)` folded into one
/// (`domain::stats::rectify::Folding`: the figures are the same, tests/stats_fold.rs holds
/// them to `rectify_rows`'s), read as SQLite steps without copying each row out.
pub async fn rectify_rows_on(
    conn: &mut Conn,
    tz: Tz,
    period: Period,
    schools: &[SchoolRow],
    zone: Option<i64>,
    today: NaiveDate,
) -> crate::sql::Result<(Vec<ItemRow>, Vec<EscalationRow>)> {
    let (start, end) = bounds(tz, period);
    let cut = fold_cut(period, today);
    // The items are `rectify_rows`'s, read in its plan (items first, each one's events by index).
    const RELEVANT: &str = "i.created_at < ?1 AND (i.status NOT IN ('closed', 'cancelled') OR i.updated_at >= ?2)
         AND (?4 IS NULL OR i.school_id IN (SELECT id FROM schools WHERE zone_id = ?4))";
    let mut zone_of: HashMap<i64, i64> = HashMap::new();
    crate::sql::query("SELECT id, zone_id FROM schools")
        .for_each_ref(&mut *conn, |r| {
            zone_of.insert(r.int(0)?, r.int(1)?);
            Ok(())
        })
        .await?;
    let inspectors: HashMap<i64, &Vec<i64>> = schools.iter().map(|s| (s.id, &s.inspectors)).collect();
    // One pass: each relevant item once, with its events up to the period's end (none: one row
    // of NULLs), in `rectify_rows`'s order — the items table is walked once, not twice.
    let mut items: Vec<ItemRow> = Vec::new();
    // The item being read (`None` when its row was unreadable, as `rectify_rows` skips it).
    let mut current: Option<(i64, Option<ItemRow>, Folding)> = None;
    let finish = |items: &mut Vec<ItemRow>, current: Option<(i64, Option<ItemRow>, Folding)>| {
        if let Some((_, Some(mut item), folding)) = current {
            item.events = folding.finish();
            items.push(item);
        }
    };
    crate::sql::query(&format!(
        "SELECT i.id, i.school_id, i.category, i.severity, i.source, i.created_at, i.status, i.deadline,
                e.local_date, e.action, e.to_status, e.deadline
           FROM rectify_items i LEFT JOIN rectify_events e ON e.item_id = i.id AND e.local_date <= ?3
          WHERE {RELEVANT} ORDER BY i.id, e.id"
    ))
    .bind(&end)
    .bind(&start)
    .bind(day(period.to))
    .bind(zone)
    .for_each_ref(&mut *conn, |r| {
        let id = r.int(0)?;
        if current.as_ref().map(|c| c.0) != Some(id) {
            finish(&mut items, current.take());
            let school_id = r.int(1)?;
            let category = u8::try_from(r.int(2)?).ok();
            let (severity, source) = (Severity::from_db(r.text(3)?), Source::from_db(r.text(4)?));
            let created = local_day(tz, r.text(5)?);
            let (status, deadline) = (Status::from_db(r.text(6)?), parse_day_fast(r.text(7)?));
            let item = match (zone_of.get(&school_id), category, severity, source, created, status, deadline) {
                (
                    Some(&zone_id),
                    Some(category),
                    Some(severity),
                    Some(source),
                    Some(created),
                    Some(status),
                    Some(deadline),
                ) => Some(ItemRow {
                    id,
                    school_id,
                    zone_id,
                    inspectors: inspectors.get(&school_id).map(|v| v.to_vec()).unwrap_or_default(),
                    category,
                    severity,
                    source,
                    created,
                    status,
                    deadline,
                    events: Vec::new(),
                }),
                _ => None,
            };
            current = Some((id, item, Folding::new(cut)));
        }
        let Some(local_date) = r.opt_text(8)? else {
            return Ok(());
        };
        let (Some(date), Some(to_status)) = (parse_day_fast(local_date), Status::from_db(r.text(10)?)) else {
            return Ok(());
        };
        let deadline = r.opt_text(11)?.and_then(parse_day_fast);
        if let Some((_, _, folding)) = &mut current {
            folding.push(date, r.text(9)?, to_status, deadline);
        }
        Ok(())
    })
    .await?;
    finish(&mut items, current.take());
    let escalations = escalation_rows(conn, tz, &start, &end).await?;
    Ok((items, escalations))
}

/// The escalation steps sent in `[start, end)`.
async fn escalation_rows(conn: &mut Conn, tz: Tz, start: &str, end: &str) -> crate::sql::Result<Vec<EscalationRow>> {
    let mut out = Vec::new();
    crate::sql::query(
        "SELECT subject_id, event, at FROM once_events
          WHERE subject_kind = 'rectify_item' AND at >= ? AND at < ? ORDER BY at",
    )
    .bind(start)
    .bind(end)
    .for_each_ref(conn, |r| {
        let (item_id, event, at) = (r.int(0)?, r.text(1)?, r.text(2)?);
        if let (Some(level), Some(date)) = (escalation_level(event), local_day(tz, at)) {
            out.push(EscalationRow { item_id, level, date });
        }
        Ok(())
    })
    .await?;
    Ok(out)
}

/// Live assignments made in `period`, in their current state.
pub async fn task_rows(conn: &mut Conn, tz: Tz, period: Period) -> crate::sql::Result<Vec<AssignmentRow>> {
    let (start, end) = bounds(tz, period);
    let rows = crate::sql::query(
        "SELECT a.task_id, a.person_id, p.zone_id, a.state, a.assigned_at,
                a.acknowledged_at IS NOT NULL AS acknowledged, t.deadline_at, t.status AS task_status
           FROM task_assignments a
           JOIN tasks t ON t.id = a.task_id
           JOIN people p ON p.id = a.person_id
          WHERE a.state <> 'cancelled' AND a.assigned_at >= ? AND a.assigned_at < ?
          ORDER BY a.id",
    )
    .bind(start)
    .bind(end)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            Some(AssignmentRow {
                task_id: r.get("task_id"),
                person_id: r.get("person_id"),
                zone_id: r.get("zone_id"),
                state: AssignmentState::parse_db(r.get("state"))?,
                assigned: local_day(tz, r.get("assigned_at"))?,
                acknowledged: r.get::<i64, _>("acknowledged") != 0,
                deadline: parse_ts(r.get("deadline_at"))?,
                task_open: r.get::<&str, _>("task_status") == "open",
            })
        })
        .collect())
}
