//! Monthly themes, visit records with their indicator scores and problems, and month-end reports.

use super::Conn;
use crate::db::ts;
use crate::domain::monthly::{self as m, InspectorFact, SchoolFact, ThemeDef, VisitFact};
use crate::domain::visit_parse::{IndicatorResult, ParsedVisit};
use chrono::{DateTime, NaiveDate, Utc};

#[derive(Debug, Clone)]
pub struct ThemeRow {
    pub id: i64,
    pub month: String,
    pub def: ThemeDef,
    pub source: String,
}

pub async fn theme_for(conn: &mut Conn, month: &str) -> crate::sql::Result<Option<ThemeRow>> {
    let r = crate::sql::query(
        "SELECT id, month, code, title, description, indicators, categories, source FROM monthly_themes WHERE month = ?",
    )
    .bind(month)
    .fetch_optional(conn)
    .await?;
    Ok(r.map(|r| {
        let month: String = r.get("month");
        ThemeRow {
            id: r.get("id"),
            def: ThemeDef {
                month: crate::domain::monthly::parse_month_label(&month).map_or(0, |(_, m)| m),
                code: r.get::<Option<String>, _>("code").unwrap_or_default(),
                title: r.get("title"),
                description: r.get("description"),
                categories: serde_json::from_str(r.get::<&str, _>("categories")).unwrap_or_default(),
                indicators: serde_json::from_str(r.get::<&str, _>("indicators")).unwrap_or_default(),
            },
            month,
            source: r.get("source"),
        }
    }))
}

/// Publishes (or replaces) the theme of a month.
pub async fn publish_theme(
    conn: &mut Conn,
    month: &str,
    def: &ThemeDef,
    source: &str,
    by: Option<i64>,
    now: DateTime<Utc>,
) -> crate::sql::Result<i64> {
    crate::sql::query_scalar(
        "INSERT INTO monthly_themes (month, code, title, description, indicators, categories, source, published_by, published_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (month) DO UPDATE SET code = excluded.code, title = excluded.title,
             description = excluded.description, indicators = excluded.indicators, categories = excluded.categories,
             source = excluded.source, published_by = excluded.published_by, published_at = excluded.published_at
         RETURNING id",
    )
    .bind(month)
    .bind(&def.code)
    .bind(&def.title)
    .bind(&def.description)
    .bind(serde_json::to_string(&def.indicators).unwrap_or_else(|_| "[]".into()))
    .bind(serde_json::to_string(&def.categories).unwrap_or_else(|_| "[]".into()))
    .bind(source)
    .bind(by)
    .bind(ts(now))
    .fetch_one(conn)
    .await
}

#[derive(Debug, Clone)]
pub struct Draft {
    pub id: i64,
    pub pending_field: Option<String>,
    pub parsed: ParsedVisit,
}

/// The person's open draft, if it was touched after `since`.
pub async fn draft_for(conn: &mut Conn, person: i64, since: DateTime<Utc>) -> crate::sql::Result<Option<Draft>> {
    let r = crate::sql::query(
        "SELECT id, pending_field, parsed FROM visits WHERE person_id = ? AND status = 'draft' AND updated_at >= ?
         ORDER BY id DESC LIMIT 1",
    )
    .bind(person)
    .bind(ts(since))
    .fetch_optional(conn)
    .await?;
    Ok(r.and_then(|r| {
        let parsed: ParsedVisit = serde_json::from_str(r.get::<&str, _>("parsed")).ok()?;
        Some(Draft { id: r.get("id"), pending_field: r.get("pending_field"), parsed })
    }))
}

/// Drops the person's unfinished drafts (a new record starts afresh).
pub async fn abandon_drafts(conn: &mut Conn, person: i64, now: DateTime<Utc>) -> crate::sql::Result<()> {
    crate::sql::query(
        "UPDATE visits SET status = 'abandoned', updated_at = ? WHERE person_id = ? AND status = 'draft'",
    )
    .bind(ts(now))
    .bind(person)
    .execute(conn)
    .await?;
    Ok(())
}

/// Removes a record that is not being saved (refused or given up), with its message parts;
/// the caller keeps the attempt in the audit log. Submitted visits are never removed.
pub async fn discard_visit(conn: &mut Conn, id: i64) -> crate::sql::Result<()> {
    crate::sql::query(
        "DELETE FROM visit_parts WHERE visit_id = ? AND EXISTS
           (SELECT 1 FROM visits WHERE id = ? AND status <> 'submitted')",
    )
    .bind(id)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    crate::sql::query("DELETE FROM visits WHERE id = ? AND status <> 'submitted'").bind(id).execute(conn).await?;
    Ok(())
}

pub async fn create_visit(
    conn: &mut Conn,
    person: i64,
    v: &ParsedVisit,
    now: DateTime<Utc>,
) -> crate::sql::Result<i64> {
    crate::sql::query_scalar(
        "INSERT INTO visits (person_id, school_id, visit_date, kind, status, parsed, created_at, updated_at)
         VALUES (?, ?, ?, ?, 'draft', ?, ?, ?) RETURNING id",
    )
    .bind(person)
    .bind(v.school)
    .bind(v.date.format("%Y-%m-%d").to_string())
    .bind(v.kind.as_str())
    .bind(serde_json::to_string(v).unwrap_or_else(|_| "{}".into()))
    .bind(ts(now))
    .bind(ts(now))
    .fetch_one(conn)
    .await
}

pub async fn add_part(
    conn: &mut Conn,
    visit: i64,
    inbound: i64,
    kind: &str,
    text: &str,
    now: DateTime<Utc>,
) -> crate::sql::Result<()> {
    crate::sql::query("INSERT INTO visit_parts (visit_id, inbound_id, kind, text, at) VALUES (?, ?, ?, ?, ?)")
        .bind(visit)
        .bind(inbound)
        .bind(kind)
        .bind(text)
        .bind(ts(now))
        .execute(conn)
        .await?;
    Ok(())
}

/// Raw texts of a visit, in order.
pub async fn part_texts(conn: &mut Conn, visit: i64) -> crate::sql::Result<Vec<String>> {
    crate::sql::query_scalar("SELECT text FROM visit_parts WHERE visit_id = ? ORDER BY id")
        .bind(visit)
        .fetch_all(conn)
        .await
}

/// Saves a draft visit's current understanding and state (it stays a draft or is submitted);
/// false when it is no longer a draft.
#[allow(clippy::too_many_arguments)]
pub async fn save_visit(
    conn: &mut Conn,
    id: i64,
    v: &ParsedVisit,
    status: &str,
    pending_field: Option<&str>,
    theme_id: Option<i64>,
    themed: bool,
    now: DateTime<Utc>,
) -> crate::sql::Result<bool> {
    let n = crate::sql::query(
        "UPDATE visits SET school_id = ?, visit_date = ?, kind = ?, status = ?, pending_field = ?, theme_id = ?,
             themed = ?, parsed = ?, updated_at = ? WHERE id = ? AND status = 'draft'",
    )
    .bind(v.school)
    .bind(v.date.format("%Y-%m-%d").to_string())
    .bind(v.kind.as_str())
    .bind(status)
    .bind(pending_field)
    .bind(theme_id)
    .bind(themed)
    .bind(serde_json::to_string(v).unwrap_or_else(|_| "{}".into()))
    .bind(ts(now))
    .bind(id)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

pub async fn add_score(
    conn: &mut Conn,
    visit: i64,
    indicator: &str,
    indicator_no: Option<usize>,
    result: IndicatorResult,
    remark: Option<&str>,
) -> crate::sql::Result<()> {
    crate::sql::query(
        "INSERT INTO visit_indicator_scores (visit_id, indicator, indicator_no, result, remark) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(visit)
    .bind(indicator)
    .bind(indicator_no.and_then(|n| i64::try_from(n).ok()))
    .bind(result.as_str())
    .bind(remark)
    .execute(conn)
    .await?;
    Ok(())
}

/// Hands a problem found on a visit to the rectification ledger (status 'new').
#[allow(clippy::too_many_arguments)]
pub async fn add_problem(
    conn: &mut Conn,
    visit: i64,
    school: i64,
    person: i64,
    description: &str,
    category: u8,
    follow_up: Option<&str>,
    now: DateTime<Utc>,
) -> crate::sql::Result<()> {
    crate::sql::query(
        "INSERT INTO visit_problems (visit_id, school_id, person_id, description, category, follow_up, status, created_at)
         VALUES (?, ?, ?, ?, ?, ?, 'new', ?)",
    )
    .bind(visit)
    .bind(school)
    .bind(person)
    .bind(description)
    .bind(i64::from(category))
    .bind(follow_up)
    .bind(ts(now))
    .execute(conn)
    .await?;
    Ok(())
}

/// A submitted visit with what the month report needs.
#[derive(Debug, Clone)]
pub struct VisitRow {
    pub id: i64,
    pub person_id: i64,
    pub school_id: i64,
    pub date: NaiveDate,
    pub themed: bool,
}

fn day(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// Submitted visits dated within `[from, to]`.
pub async fn visits_between(conn: &mut Conn, from: NaiveDate, to: NaiveDate) -> crate::sql::Result<Vec<VisitRow>> {
    let rows = crate::sql::query(
        "SELECT id, person_id, school_id, visit_date, themed FROM visits
         WHERE status = 'submitted' AND visit_date BETWEEN ? AND ? ORDER BY visit_date, id",
    )
    .bind(day(from))
    .bind(day(to))
    .fetch_all(conn)
    .await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            Some(VisitRow {
                id: r.get("id"),
                person_id: r.get("person_id"),
                school_id: r.get::<Option<i64>, _>("school_id")?,
                date: NaiveDate::parse_from_str(r.get::<&str, _>("visit_date"), "%Y-%m-%d").ok()?,
                themed: r.get("themed"),
            })
        })
        .collect())
}

/// Inspectors held to the visit quota: every active inspector, less 特约督学 when
/// `exempt_invited` (the `[visits]` rule).
pub async fn counted_inspectors(conn: &mut Conn, exempt_invited: bool) -> crate::sql::Result<Vec<InspectorFact>> {
    let rows = crate::store::people::active_inspectors(conn).await?;
    Ok(rows
        .into_iter()
        .filter(|(_, _, _, kind)| !(exempt_invited && kind.as_deref() == Some("invited")))
        .map(|(person_id, name, zone_id, _)| InspectorFact { person_id, name, zone_id })
        .collect())
}

/// What a month's figures (`domain::monthly::month_figures`) are computed from, read in a fixed
/// number of queries whatever the size of the county or province.
pub struct MonthInputs {
    pub zones: Vec<(i64, String)>,
    pub inspectors: Vec<InspectorFact>,
    pub schools: Vec<SchoolFact>,
    pub visits: Vec<VisitFact>,
    /// The month's published theme, if any.
    pub theme: Option<String>,
}

impl MonthInputs {
    /// The month's figures (`domain::monthly::month_figures`) under `quotas`.
    pub fn figures(&self, month: &str, quotas: m::Quotas) -> m::MonthFigures {
        m::month_figures(
            month,
            self.theme.as_deref(),
            quotas,
            &self.zones,
            &self.inspectors,
            &self.schools,
            &self.visits,
        )
    }
}

/// [`MonthInputs`] of a `YYYY-MM` month; `None` for a malformed month.
pub async fn month_inputs(
    conn: &mut Conn,
    month: &str,
    exempt_invited: bool,
) -> crate::sql::Result<Option<MonthInputs>> {
    let Some((from, to)) = m::month_bounds(month) else { return Ok(None) };
    let zones = crate::store::people::active_zones(conn).await?;
    let inspectors = counted_inspectors(conn, exempt_invited).await?;
    let schools = crate::store::people::active_schools(conn)
        .await?
        .into_iter()
        .map(|(school_id, name, short, zone_id, city_direct)| SchoolFact {
            school_id,
            name: short.unwrap_or(name),
            zone_id,
            city_direct,
        })
        .collect();
    let mut scores = scores_between(conn, from, to).await?;
    let mut problems = problem_categories_between(conn, from, to).await?;
    let visits = visits_between(conn, from, to)
        .await?
        .into_iter()
        .map(|v| VisitFact {
            person_id: v.person_id,
            school_id: v.school_id,
            themed: v.themed,
            indicators: scores.remove(&v.id).unwrap_or_default(),
            problems: problems.remove(&v.id).unwrap_or_default(),
        })
        .collect();
    let theme = theme_for(conn, month).await?.map(|t| t.def.title);
    Ok(Some(MonthInputs { zones, inspectors, schools, visits, theme }))
}

/// Submitted visits dated within `[from, to]` to a zone's schools or by its inspectors: what
/// `督导进度 <责任区>` counts, without reading the rest of a province.
pub async fn zone_visits_between(
    conn: &mut Conn,
    zone_id: i64,
    from: NaiveDate,
    to: NaiveDate,
) -> crate::sql::Result<Vec<VisitRow>> {
    let rows: Vec<(i64, i64, Option<i64>, String, bool)> = crate::sql::query_as(
        "SELECT v.id, v.person_id, v.school_id, v.visit_date, v.themed
           FROM schools s JOIN visits v ON v.school_id = s.id
          WHERE s.zone_id = ?3 AND v.status = 'submitted' AND v.visit_date BETWEEN ?1 AND ?2
         UNION
         SELECT v.id, v.person_id, v.school_id, v.visit_date, v.themed
           FROM people p CROSS JOIN visits v ON v.person_id = p.id
          WHERE p.zone_id = ?3 AND v.status = 'submitted' AND v.visit_date BETWEEN ?1 AND ?2
         ORDER BY 4, 1",
    )
    .bind(day(from))
    .bind(day(to))
    .bind(zone_id)
    .fetch_all(conn)
    .await?;
    Ok(visit_rows(rows))
}

/// Submitted visits dated within `[from, to]` by a person or to any of `schools`: what
/// `我的进度` counts.
pub async fn person_visits_between(
    conn: &mut Conn,
    person_id: i64,
    schools: &[i64],
    from: NaiveDate,
    to: NaiveDate,
) -> crate::sql::Result<Vec<VisitRow>> {
    let rows: Vec<(i64, i64, Option<i64>, String, bool)> = crate::sql::query_as(
        "SELECT id, person_id, school_id, visit_date, themed FROM visits
         WHERE status = 'submitted' AND visit_date BETWEEN ?1 AND ?2
           AND (person_id = ?3 OR school_id IN (SELECT value FROM json_each(?4)))
         ORDER BY visit_date, id",
    )
    .bind(day(from))
    .bind(day(to))
    .bind(person_id)
    .bind(serde_json::to_string(schools).unwrap_or_else(|_| "[]".into()))
    .fetch_all(conn)
    .await?;
    Ok(visit_rows(rows))
}

fn visit_rows(rows: Vec<(i64, i64, Option<i64>, String, bool)>) -> Vec<VisitRow> {
    rows.into_iter()
        .filter_map(|(id, person_id, school_id, date, themed)| {
            Some(VisitRow {
                id,
                person_id,
                school_id: school_id?,
                date: NaiveDate::parse_from_str(&date, "%Y-%m-%d").ok()?,
                themed,
            })
        })
        .collect()
}

/// Indicator results of every submitted visit dated within `[from, to]`, by visit, each visit's
/// in stored order. One query for a month's report instead of one per visit.
pub async fn scores_between(
    conn: &mut Conn,
    from: NaiveDate,
    to: NaiveDate,
) -> crate::sql::Result<std::collections::HashMap<i64, Vec<IndicatorResult>>> {
    let rows: Vec<(i64, String)> = crate::sql::query_as(
        "SELECT s.visit_id, s.result FROM visits v JOIN visit_indicator_scores s ON s.visit_id = v.id
         WHERE v.status = 'submitted' AND v.visit_date BETWEEN ? AND ? ORDER BY s.visit_id, s.rowid",
    )
    .bind(day(from))
    .bind(day(to))
    .fetch_all(conn)
    .await?;
    let mut out: std::collections::HashMap<i64, Vec<IndicatorResult>> = std::collections::HashMap::new();
    for (visit, result) in rows {
        if let Some(r) = IndicatorResult::parse(&result) {
            out.entry(visit).or_default().push(r);
        }
    }
    Ok(out)
}

/// Problem categories of every submitted visit dated within `[from, to]`, by visit, one per
/// problem in stored order.
pub async fn problem_categories_between(
    conn: &mut Conn,
    from: NaiveDate,
    to: NaiveDate,
) -> crate::sql::Result<std::collections::HashMap<i64, Vec<u8>>> {
    let rows: Vec<(i64, i64)> = crate::sql::query_as(
        "SELECT p.visit_id, p.category FROM visits v JOIN visit_problems p ON p.visit_id = v.id
         WHERE v.status = 'submitted' AND v.visit_date BETWEEN ? AND ? ORDER BY p.visit_id, p.id",
    )
    .bind(day(from))
    .bind(day(to))
    .fetch_all(conn)
    .await?;
    let mut out: std::collections::HashMap<i64, Vec<u8>> = std::collections::HashMap::new();
    for (visit, category) in rows {
        if let Ok(c) = u8::try_from(category) {
            out.entry(visit).or_default().push(c);
        }
    }
    Ok(out)
}

/// Stores a month's report, replacing an earlier one.
pub async fn save_report(
    conn: &mut Conn,
    month: &str,
    figures: &str,
    text: &str,
    trigger: &str,
    now: DateTime<Utc>,
) -> crate::sql::Result<()> {
    crate::sql::query(
        "INSERT INTO monthly_reports (month, figures, text, generated_at, trigger) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (month) DO UPDATE SET figures = excluded.figures, text = excluded.text,
             generated_at = excluded.generated_at, trigger = excluded.trigger",
    )
    .bind(month)
    .bind(figures)
    .bind(text)
    .bind(ts(now))
    .bind(trigger)
    .execute(conn)
    .await?;
    Ok(())
}

/// The trigger of a stored report for the month, if any.
pub async fn report_trigger(conn: &mut Conn, month: &str) -> crate::sql::Result<Option<String>> {
    crate::sql::query_scalar("SELECT trigger FROM monthly_reports WHERE month = ?")
        .bind(month)
        .fetch_optional(conn)
        .await
}

/// A photo of a visit record, as stored (`add_visit_photo`).
#[derive(Debug, Clone)]
pub struct VisitPhoto {
    pub id: i64,
    pub sha256: String,
    pub mime: String,
    /// Relative to the evidence directory.
    pub path: String,
}

/// A visit's photos, in the order they were added.
pub async fn visit_photos(conn: &mut Conn, visit: i64) -> crate::sql::Result<Vec<VisitPhoto>> {
    let rows: Vec<(i64, String, String, String)> =
        crate::sql::query_as("SELECT id, sha256, mime, path FROM visit_photos WHERE visit_id = ? ORDER BY id")
            .bind(visit)
            .fetch_all(conn)
            .await?;
    Ok(rows.into_iter().map(|(id, sha256, mime, path)| VisitPhoto { id, sha256, mime, path }).collect())
}

/// Links a stored photo (content-addressed in the evidence directory) to a visit; false when
/// the visit already has that content.
#[allow(clippy::too_many_arguments)]
pub async fn add_visit_photo(
    conn: &mut Conn,
    visit: i64,
    sha256: &str,
    size: i64,
    mime: &str,
    path: &str,
    now: DateTime<Utc>,
) -> crate::sql::Result<bool> {
    let r = crate::sql::query(
        "INSERT INTO visit_photos (visit_id, sha256, size, mime, path, created_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (visit_id, sha256) DO NOTHING",
    )
    .bind(visit)
    .bind(sha256)
    .bind(size)
    .bind(mime)
    .bind(path)
    .bind(ts(now))
    .execute(conn)
    .await?;
    Ok(r.rows_affected() > 0)
}
