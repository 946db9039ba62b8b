//! 主题与纪实 (`/themes`), read-only: a month's theme and checklist (`本月主题`), its visit
//! records (the rows `导出 纪实` lists, `store::export::visit_records`), filterable by zone,
//! school, inspector and themed or not, and quota coverage — for supervisors the figures of
//! `督导进度` (`app::monthly::gather`), for an inspector those of `我的进度`, and for both the
//! schools short of the semester and school-year rules (`app::monthly::school_coverage`).
//!
//! The page is for the roles `本月主题` answers (`CommandId::ThemeShow`). Records are scoped by
//! `Actor::check_view_school`, as an item of the ledger: supervisors the county, an inspector
//! the schools of their zone and their own (and their own visits).

use super::pages::{page, signed_in};
use super::stats::may;
use super::{Me, Web};
use crate::app::monthly::{coverage_from, gather, school_coverage, theme_calendar};
use crate::domain::command::CommandId;
use crate::domain::monthly::{self as m, category_label};
use crate::domain::role::Role;
use crate::domain::stats::Period;
use crate::store::{self, monthly as sm};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::Datelike;
use minijinja::context;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

/// Most visit records a page lists; the rest are counted.
const VISIT_ROWS: usize = 200;

#[derive(Deserialize, Default)]
pub(super) struct ThemesQuery {
    #[serde(default)]
    month: String,
    #[serde(default)]
    zone: String,
    #[serde(default)]
    school: String,
    #[serde(default)]
    inspector: String,
    #[serde(default)]
    themed: String,
    /// `published` after the 发布主题 form.
    #[serde(default)]
    done: String,
    /// `1`: the 发布主题 form opened (the link on 我的待办).
    #[serde(default)]
    publish: String,
}

#[derive(Serialize)]
struct VisitLine {
    /// The record's id (its page `/visits/V<id>`, with its photos).
    id: i64,
    date: String,
    inspector: String,
    zone: String,
    school: String,
    kind: &'static str,
    methods: String,
    themed: bool,
    theme: String,
    problems: Vec<String>,
    narrative: String,
}

#[derive(Serialize)]
struct Area {
    name: String,
    inspectors: u32,
    visits: u32,
    quota: u32,
    schools: u32,
    covered: u32,
    themed: u32,
    pass_rate: String,
    below: String,
}

fn area(f: &m::AreaFigures) -> Area {
    Area {
        name: f.name.clone(),
        inspectors: f.inspectors,
        visits: f.visits,
        quota: f.quota,
        schools: f.schools,
        covered: f.schools_covered,
        themed: f.themed_visits,
        pass_rate: f.pass_rate_permille().map_or_else(|| "—".into(), |p| format!("{}.{}%", p / 10, p % 10)),
        below: m::capped_list(&f.below_quota, "人"),
    }
}

/// 主题与纪实.
pub(super) async fn themes(State(web): State<Arc<Web>>, headers: HeaderMap, Query(q): Query<ThemesQuery>) -> Response {
    let me = match signed_in(&web, &headers).await {
        Ok(me) => me,
        Err(r) => return r,
    };
    if !may(&me, CommandId::ThemeShow) {
        return web.message(StatusCode::FORBIDDEN, Some(&me), "主题与纪实", "督导主题与纪实由督导室和责任督学查看。");
    }
    let publish = super::assign::theme_form(&web, &me, None, "");
    page(&web, themes_page(&web, &me, q, publish, StatusCode::OK).await)
}

/// The page again with the 发布主题 form as the person filled it and the chat's reason.
pub(super) async fn themes_with_form(
    web: &Web,
    me: &Me,
    typed: &super::assign::Fields,
    error: &str,
) -> anyhow::Result<Response> {
    let publish = super::assign::theme_form(web, me, Some(typed), error);
    themes_page(web, me, ThemesQuery::default(), publish, StatusCode::UNPROCESSABLE_ENTITY).await
}

async fn themes_page(
    web: &Web,
    me: &Me,
    q: ThemesQuery,
    publish: minijinja::Value,
    status: StatusCode,
) -> anyhow::Result<Response> {
    let actor = &me.actor;
    let supervisor = actor.role.is_supervisor();
    let today = web.app.clock.now().with_timezone(&web.app.tz).date_naive();
    let this_month = m::month_label(today);
    let typed: String = q.month.trim().chars().take(20).collect();
    let (month, notice) = match m::parse_month(&typed, today) {
        _ if typed.is_empty() => (this_month.clone(), String::new()),
        Some(mo) if mo > this_month => (this_month.clone(), format!("{}还没有到，显示本月。", m::month_title(&mo))),
        Some(mo) => (mo, String::new()),
        None => (this_month.clone(), "月份无法识别（请写 2026-11 或 11月），显示本月。".to_string()),
    };
    let Some((mfrom, mto)) = m::month_bounds(&month) else { anyhow::bail!("bad month {month}") };
    let mut conn = web.app.db.acquire().await?;

    // The theme, or the calendar's suggestion, as `本月主题` answers.
    let theme = sm::theme_for(&mut conn, &month).await?.map(|t| {
        let categories: Vec<&str> = t.def.categories.iter().map(|c| category_label(*c)).collect();
        context! {
            title => t.def.title.clone(),
            description => t.def.description.clone(),
            indicators => t.def.indicators.clone(),
            categories => categories.join("、"),
        }
    });
    let hint = if theme.is_some() {
        String::new()
    } else {
        match theme_calendar(&web.app.settings)?.for_month(mfrom.month()) {
            Some(t) => {
                format!("主题日历建议：“{}”。督导室可在下方或聊天中（“发布主题 {}月”）发布。", t.title, mfrom.month())
            }
            None => "督导室可在下方或聊天中（“发布主题 …”）发布。".to_string(),
        }
    };

    // Names, and the records in scope.
    let zones = store::export::zones(&mut conn).await?;
    let people = store::export::people(&mut conn).await?;
    let schools = store::export::schools(&mut conn).await?;
    let school_zone: HashMap<i64, i64> = schools.iter().filter_map(|s| Some((s.id, s.zone_id?))).collect();
    let names = |rows: &[crate::domain::stats::records::NameRow]| -> HashMap<i64, String> {
        rows.iter().map(|r| (r.id, r.name.clone())).collect()
    };
    let (zone_names, person_names, school_names) = (names(&zones), names(&people), names(&schools));
    let name_of = |map: &HashMap<i64, String>, id: i64| map.get(&id).cloned().unwrap_or_default();
    let sees = |person: i64, school: i64| {
        person == actor.person_id
            || school_zone.get(&school).is_some_and(|z| actor.check_view_school(school, *z).is_ok())
    };
    let zone_filter = q.zone.parse::<i64>().ok().filter(|z| actor.check_zone(*z).is_ok());
    let period = Period { from: mfrom, to: mto };
    let records = store::export::visit_records(&mut conn, period, zone_filter).await?;
    let school_q = q.school.trim().chars().take(30).collect::<String>();
    let inspector_filter = q.inspector.parse::<i64>().ok();
    let themed_filter = match q.themed.as_str() {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    };
    let visible: Vec<_> = records.iter().filter(|v| sees(v.person_id, v.school_id)).collect();
    // Filter choices from what the person may see.
    let mut inspector_ids: Vec<i64> = visible.iter().map(|v| v.person_id).collect();
    inspector_ids.sort_unstable();
    inspector_ids.dedup();
    let inspectors: Vec<_> = inspector_ids
        .iter()
        .map(|id| context! { value => id.to_string(), label => name_of(&person_names, *id), on => Some(*id) == inspector_filter })
        .collect();
    let zone_options: Vec<_> = zones
        .iter()
        .filter(|z| z.active && actor.check_zone(z.id).is_ok())
        .map(|z| context! { value => z.id.to_string(), label => z.name.clone(), on => Some(z.id) == zone_filter })
        .collect();
    let matching: Vec<_> = visible
        .into_iter()
        .filter(|v| inspector_filter.is_none_or(|p| v.person_id == p))
        .filter(|v| themed_filter.is_none_or(|t| v.themed == t))
        .filter(|v| school_q.is_empty() || name_of(&school_names, v.school_id).contains(school_q.as_str()))
        .collect();
    let total = matching.len();
    let themed_count = matching.iter().filter(|v| v.themed).count();
    let lines: Vec<VisitLine> = matching
        .iter()
        .rev()
        .take(VISIT_ROWS)
        .map(|v| VisitLine {
            id: v.id,
            date: format!("{}月{}日", v.date.month(), v.date.day()),
            inspector: name_of(&person_names, v.person_id),
            zone: school_zone.get(&v.school_id).map(|z| name_of(&zone_names, *z)).unwrap_or_default(),
            school: name_of(&school_names, v.school_id),
            kind: v.kind.label(),
            methods: v.methods_text().join("、"),
            themed: v.themed,
            theme: v.theme.clone().unwrap_or_default(),
            problems: v.problems.iter().map(|(c, t)| format!("[{}] {t}", category_label(*c))).collect(),
            narrative: v.narrative.clone().unwrap_or_default(),
        })
        .collect();

    // Coverage, as of the month's end (or today in the current month).
    let as_of = mto.min(today);
    let quotas = web.app.settings.visits.quotas();
    let term = web.app.calendar.term_of(as_of).cloned();
    let from = coverage_from(as_of, term.as_ref());
    let (areas, mine, school_ids) = if supervisor {
        let f = gather(&mut conn, &web.app.settings, &month).await?;
        let areas: Vec<Area> = std::iter::once(&f.county).chain(f.zones.iter()).map(area).collect();
        let ids: Vec<i64> = schools
            .iter()
            .filter(|s| s.active && zone_filter.is_none_or(|z| s.zone_id == Some(z)))
            .map(|s| s.id)
            .collect();
        (areas, None, ids)
    } else {
        // `我的进度`: the inspector's own visits this month against the quota.
        let own = sm::person_visits_between(&mut conn, actor.person_id, &[], mfrom, mto).await?;
        let n = own.iter().filter(|v| v.person_id == actor.person_id).count();
        let themed = own.iter().filter(|v| v.person_id == actor.person_id && v.themed).count();
        let kind = store::people::inspector_type(&mut conn, actor.person_id).await?;
        let exempt = web.app.settings.visits.exempt_invited && kind.as_deref() == Some("invited");
        let mine = context! { visits => n, themed, quota => quotas.per_inspector_per_month, exempt };
        (Vec::new(), Some(mine), actor.schools.clone())
    };
    let visits = if let (true, Some(z)) = (supervisor, zone_filter) {
        sm::zone_visits_between(&mut conn, z, from, as_of).await?
    } else if supervisor {
        sm::visits_between(&mut conn, from, as_of).await?
    } else {
        sm::person_visits_between(&mut conn, actor.person_id, &actor.schools, from, as_of).await?
    };
    let coverage = school_coverage(&visits, &school_ids, as_of, term.as_ref(), &quotas);
    let school_line = |c: &crate::app::monthly::SchoolCoverage| {
        let zone = school_zone.get(&c.school_id).map(|z| name_of(&zone_names, *z)).unwrap_or_default();
        context! { name => name_of(&school_names, c.school_id), zone, term => c.term, year => c.year, term_short => c.term_short, year_short => c.year_short }
    };
    // Supervisors see the schools short of a rule (a county is long); an inspector every school.
    let school_lines: Vec<_> = coverage
        .iter()
        .filter(|c| !supervisor || c.year_short || c.term_short)
        .take(VISIT_ROWS)
        .map(school_line)
        .collect();
    let unvisited = coverage.iter().filter(|c| c.year_short).count();
    let term_short = coverage.iter().filter(|c| c.term_short).count();

    let ctx = context! {
        title => "主题与纪实",
        month, month_title => m::month_title(&month), notice,
        current => month == this_month,
        as_of => format!("{}月{}日", as_of.month(), as_of.day()),
        theme, hint,
        filters => context! {
            zones => zone_options, inspectors, school => school_q, themed => q.themed.clone(),
            zone_on => zone_filter.is_some(),
        },
        visits => lines, total, themed_count, more => total.saturating_sub(VISIT_ROWS),
        supervisor,
        areas, mine,
        term => term.as_ref().map(|t| t.name.clone()),
        quotas => context! { semester => quotas.per_school_per_semester, year => quotas.per_school_per_year },
        schools => school_lines, school_count => school_ids.len(), unvisited, term_short,
        inspector => actor.role == Role::Inspector,
        publish,
        published => q.done == "published",
        open_form => q.publish == "1",
        ..web.frame(Some(me), "themes")
    };
    Ok(web.render(status, "themes.html", ctx))
}
