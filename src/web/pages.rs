//! The platform's pages: 我的待办, 周报, 整改台账 and one item. Each reads through the store
//! with the signed-in person's scope, decided by the same functions the chat commands use.

use super::{unavailable, Me, Web};
use crate::app::rectify::{ledger_scope, may_verify, party_for};
use crate::domain::rectify::{category_label, item_code, overdue_days, transition, Action, Status};
use crate::domain::role::Role;
use crate::store::{self, rectify as rs};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use minijinja::context;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

/// Longest list a ledger page shows; the rest are counted.
const LEDGER_ROWS: usize = 200;

/// The signed-in person, or the response to send instead.
pub(super) async fn signed_in(web: &Web, headers: &HeaderMap) -> Result<Me, Response> {
    match web.me(headers).await {
        Ok(Some(me)) => Ok(me),
        Ok(None) => Err(web.signed_out()),
        Err(e) => {
            tracing::error!(error = %e, "web session lookup failed");
            Err(unavailable())
        }
    }
}

/// A page's body from its loader: errors are logged and answered politely.
pub(super) fn page(web: &Web, loaded: anyhow::Result<Response>) -> Response {
    loaded.unwrap_or_else(|e| {
        tracing::error!(error = %e, "web page failed");
        web.message(StatusCode::SERVICE_UNAVAILABLE, None, "服务暂时不可用", "请稍后再试。")
    })
}

pub(super) fn local_text(web: &Web, t: DateTime<Utc>) -> String {
    let l = t.with_timezone(&web.app.tz);
    format!("{}月{}日 {}", l.month(), l.day(), l.format("%H:%M"))
}

fn date_text(d: NaiveDate) -> String {
    format!("{}年{}月{}日", d.year(), d.month(), d.day())
}

#[derive(Serialize)]
struct ItemLine {
    id: i64,
    code: String,
    school: String,
    zone: String,
    category: &'static str,
    severity: &'static str,
    description: String,
    status: &'static str,
    deadline: String,
    overdue_days: i64,
}

fn item_line(it: &rs::Item, today: NaiveDate) -> ItemLine {
    ItemLine {
        id: it.id,
        code: item_code(it.id),
        school: it.school_name.clone(),
        zone: it.zone_name.clone(),
        category: category_label(it.category),
        severity: it.severity.label(),
        description: it.description.clone(),
        status: it.status.label(),
        deadline: date_text(it.deadline),
        overdue_days: overdue_days(it.status, it.deadline, today),
    }
}

/// Whether the person may take the item's next step themselves now (the domain's transition
/// rule for their party): staff verify submitted items, a school submits its open ones.
fn awaits(me: &Me, it: &rs::Item) -> bool {
    let Ok(party) = party_for(&me.actor, it.school_id) else { return false };
    [Action::StartVerify, Action::Close, Action::Submit].into_iter().any(|a| transition(it.status, a, party).is_ok())
}

/// 我的待办: the person's weekly report due now, open tasks, and items waiting for them.
pub(super) async fn home(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    let me = match signed_in(&web, &headers).await {
        Ok(me) => me,
        Err(r) => return r,
    };
    page(&web, home_page(&web, &me).await)
}

async fn home_page(web: &Web, me: &Me) -> anyhow::Result<Response> {
    let now = web.app.clock.now();
    let today = now.with_timezone(&web.app.tz).date_naive();
    let mut conn = web.app.db.acquire().await?;
    let late_days = web.app.settings.weekly.late_days;
    let weekly = match store::weekly::current_round_for(&mut conn, me.actor.person_id, now, late_days).await? {
        None => None,
        Some(round) => {
            let report = store::weekly::report(&mut conn, round.id, me.actor.person_id).await?;
            let state = match &report {
                None if now > round.deadline_at => "已过截止时间，尚未提交".to_string(),
                None => "尚未提交".to_string(),
                Some(r) if r.late => format!("已逾期提交（第{}版）", r.version),
                Some(r) => format!("已提交（第{}版）", r.version),
            };
            Some(context! {
                title => crate::domain::weekly::week_title(&round.week),
                deadline => local_text(web, round.deadline_at),
                state,
                due => report.is_none(),
            })
        }
    };
    let tasks: Vec<_> = store::tasks::open_for_person(&mut conn, me.actor.person_id)
        .await?
        .into_iter()
        .map(|(t, a)| {
            context! {
                code => t.code(),
                title => t.title.clone(),
                deadline => local_text(web, t.deadline),
                remaining => crate::domain::task::remaining(t.deadline, now),
                state => a.state.label(),
            }
        })
        .collect();
    let (verify, fix) = match ledger_scope(&mut conn, &me.actor, "").await? {
        Ok((_, scope)) => {
            // Only the statuses this role can move on (schools rectify, staff verify), so the
            // office's page does not load the county's whole open ledger.
            let waiting: &[Status] = if me.actor.role == Role::SchoolContact {
                &[Status::Notified, Status::Acknowledged, Status::InProgress]
            } else {
                &[Status::Submitted, Status::Verifying]
            };
            let items = rs::items_with_status(&mut conn, &scope, waiting, None).await?;
            let mine: Vec<&rs::Item> = items.iter().filter(|it| awaits(me, it)).collect();
            let (v, f): (Vec<&rs::Item>, Vec<&rs::Item>) =
                mine.into_iter().partition(|it| matches!(it.status, Status::Submitted | Status::Verifying));
            (
                v.into_iter().take(LEDGER_ROWS).map(|it| item_line(it, today)).collect::<Vec<_>>(),
                f.into_iter().take(LEDGER_ROWS).map(|it| item_line(it, today)).collect::<Vec<_>>(),
            )
        }
        Err(_) => (Vec::new(), Vec::new()),
    };
    let selfchecks: Vec<_> =
        super::selfcheck::waiting(&mut conn, me).await?.iter().map(|c| super::selfcheck::line(web, c)).collect();
    let ctx = context! {
        title => "我的待办",
        weekly,
        tasks,
        verify,
        fix,
        selfchecks,
        ..web.frame(Some(me), "home")
    };
    Ok(web.render(StatusCode::OK, "home.html", ctx))
}

#[derive(Serialize)]
struct MemberLine {
    name: String,
    zone: String,
    status: &'static str,
    class: &'static str,
    updated: String,
    text: String,
}

/// 周报: the latest round's members in the person's scope — supervisors the county, an
/// inspector their zone (`Actor::check_zone`, as the chat's zone figures) — each with their
/// report's verbatim text.
/// Above this many members in view, 周报 lists the zones with their figures and shows one zone's
/// reports at a time (a province's week is ~3,000 reports, several hundred KB).
const WEEKLY_MEMBERS_AT_ONCE: usize = 300;

#[derive(Deserialize, Default)]
pub(super) struct WeeklyQuery {
    #[serde(default)]
    zone: Option<String>,
}

pub(super) async fn weekly(State(web): State<Arc<Web>>, headers: HeaderMap, Query(q): Query<WeeklyQuery>) -> Response {
    let me = match signed_in(&web, &headers).await {
        Ok(me) => me,
        Err(r) => return r,
    };
    if me.actor.role == Role::SchoolContact {
        return web.message(StatusCode::FORBIDDEN, Some(&me), "周报", "周报由责任督学提交，学校联络员无需查看。");
    }
    let zone = q.zone.filter(|z| !z.trim().is_empty()).map(|z| z.trim().parse::<i64>().unwrap_or(-1));
    page(&web, weekly_page(&web, &me, zone).await)
}

/// A member's standing in the round: (label, class).
fn standing(m: &store::web::RoundMember) -> (&'static str, &'static str) {
    match (&m.report, m.excluded.as_deref()) {
        (Some((_, _, false, _)), _) => ("按时提交", "ok"),
        (Some((_, _, true, _)), _) => ("逾期提交", "late"),
        (None, Some("leave")) => ("请假", "muted"),
        (None, Some(_)) => ("免报", "muted"),
        (None, None) => ("未提交", "missing"),
    }
}

/// Expected, on time, late and missing among `members`.
#[derive(Default, Serialize)]
struct Tally {
    expected: usize,
    on_time: usize,
    late: usize,
    missing: usize,
}

impl Tally {
    fn add(&mut self, m: &store::web::RoundMember) {
        if m.excluded.is_none() || m.report.is_some() {
            self.expected += 1;
        }
        match standing(m).1 {
            "ok" => self.on_time += 1,
            "late" => self.late += 1,
            "missing" => self.missing += 1,
            _ => {}
        }
    }
}

async fn weekly_page(web: &Web, me: &Me, zone: Option<i64>) -> anyhow::Result<Response> {
    let now = web.app.clock.now();
    let mut conn = web.app.db.acquire().await?;
    let Some(week) = store::weekly::latest_week(&mut conn, now).await? else {
        return Ok(web.message(StatusCode::OK, Some(me), "周报", "还没有开始过周报收集。"));
    };
    let rounds = store::weekly::rounds_of_week(&mut conn, &week).await?;
    let ids: Vec<i64> = rounds.iter().map(|r| r.id).collect();
    let deadline = rounds.iter().map(|r| r.deadline_at).max();
    let members: Vec<_> = store::web::round_members(&mut conn, &ids)
        .await?
        .into_iter()
        .filter(|m| m.person_id == me.actor.person_id || m.zone_id.is_some_and(|z| me.actor.check_zone(z).is_ok()))
        .collect();
    // The zones in view, with their figures, in the order the members come.
    let mut zones: Vec<(i64, String, Tally)> = Vec::new();
    for m in &members {
        let Some(z) = m.zone_id else { continue };
        let at = match zones.iter().position(|(id, ..)| *id == z) {
            Some(at) => at,
            None => {
                zones.push((z, m.zone_name.clone().unwrap_or_default(), Tally::default()));
                zones.len() - 1
            }
        };
        zones[at].2.add(m);
    }
    let chosen = match zone {
        Some(id) => match zones.iter().find(|(z, ..)| *z == id) {
            Some((_, name, _)) => Some((id, name.clone())),
            None => {
                return Ok(web.message(
                    StatusCode::NOT_FOUND,
                    Some(me),
                    "周报",
                    "没有这个责任区，或不在您的查看范围内。",
                ))
            }
        },
        None => None,
    };
    let paged = chosen.is_none() && members.len() > WEEKLY_MEMBERS_AT_ONCE;
    let shown: Vec<_> = match (&chosen, paged) {
        (Some((id, _)), _) => members.iter().filter(|m| m.zone_id == Some(*id)).collect(),
        (None, true) => Vec::new(),
        (None, false) => members.iter().collect(),
    };
    let mut tally = Tally::default();
    for m in members.iter().filter(|m| chosen.as_ref().is_none_or(|(id, _)| m.zone_id == Some(*id))) {
        tally.add(m);
    }
    let reports: Vec<i64> = shown.iter().filter_map(|m| m.report.map(|r| r.0)).collect();
    let mut texts: HashMap<i64, Vec<String>> = HashMap::new();
    for (report, text) in store::web::report_texts(&mut conn, &reports).await? {
        texts.entry(report).or_default().push(text);
    }
    let lines: Vec<MemberLine> = shown
        .iter()
        .map(|m| {
            let (status, class) = standing(m);
            MemberLine {
                name: m.name.clone(),
                zone: m.zone_name.clone().unwrap_or_default(),
                status,
                class,
                updated: m.report.map(|r| local_text(web, r.3)).unwrap_or_default(),
                text: m.report.and_then(|r| texts.get(&r.0)).map(|t| t.join("\n")).unwrap_or_default(),
            }
        })
        .collect();
    // The zone list when there is a choice to make: several zones in view.
    let zone_lines: Vec<_> = if zones.len() > 1 {
        zones
            .iter()
            .map(|(id, name, t)| context! { id, name, on => chosen.as_ref().is_some_and(|(c, _)| c == id), tally => t })
            .collect()
    } else {
        Vec::new()
    };
    let scope = match &chosen {
        Some((_, name)) => name.clone(),
        None if me.actor.role.is_supervisor() => "全县".to_string(),
        None => "本责任区".to_string(),
    };
    let ctx = context! {
        title => "周报",
        week => crate::domain::weekly::week_title(&week),
        deadline => deadline.map(|d| local_text(web, d)).unwrap_or_default(),
        scope,
        expected => tally.expected, on_time => tally.on_time, late => tally.late, missing => tally.missing,
        zones => zone_lines,
        paged,
        members => lines,
        ..web.frame(Some(me), "weekly")
    };
    Ok(web.render(StatusCode::OK, "weekly.html", ctx))
}

#[derive(Deserialize, Default)]
pub(super) struct LedgerQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
}

/// The ledger's status filters: (value, label).
const FILTERS: &[(&str, &str)] = &[
    ("open", "在办"),
    ("overdue", "逾期"),
    ("verify", "待核查"),
    ("closed", "已销号"),
    ("cancelled", "已撤销"),
    ("all", "全部"),
];

fn filter_statuses(filter: &str) -> Vec<Status> {
    match filter {
        "verify" => vec![Status::Submitted, Status::Verifying],
        "closed" => vec![Status::Closed],
        "cancelled" => vec![Status::Cancelled],
        "all" => Status::ALL.to_vec(),
        _ => Status::ALL.into_iter().filter(|s| s.is_open()).collect(),
    }
}

/// 整改台账: the items of the person's scope (`ledger_scope`, as `整改台账 [学校/责任区]` in
/// chat), filtered by status or overdue.
pub(super) async fn ledger(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Query(query): Query<LedgerQuery>,
) -> Response {
    let me = match signed_in(&web, &headers).await {
        Ok(me) => me,
        Err(r) => return r,
    };
    page(&web, ledger_page(&web, &me, query).await)
}

async fn ledger_page(web: &Web, me: &Me, query: LedgerQuery) -> anyhow::Result<Response> {
    let now = web.app.clock.now();
    let today = now.with_timezone(&web.app.tz).date_naive();
    let filter = FILTERS.iter().find(|(v, _)| *v == query.status).map_or("open", |(v, _)| *v);
    let q = query.q.trim().chars().take(50).collect::<String>();
    let mut conn = web.app.db.acquire().await?;
    let filters: Vec<_> =
        FILTERS.iter().map(|(v, l)| context! { value => v, label => l, on => *v == filter }).collect();
    let (title, scope) = match ledger_scope(&mut conn, &me.actor, &q).await? {
        Ok(found) => found,
        Err(refusal) => {
            let ctx = context! {
                title => "整改台账", q, filters, refusal, scope_title => "", summary => None::<()>,
                items => Vec::<ItemLine>::new(), more => 0,
                ..web.frame(Some(me), "ledger")
            };
            return Ok(web.render(StatusCode::OK, "ledger.html", ctx));
        }
    };
    // Kept per school as the ledger changes (a province's items are not read for its figures).
    let counts = rs::ledger_counts(&mut conn, &scope, today).await?;
    let s = crate::app::rectify::counted_stats(&counts);
    let summary = context! {
        total => s.total, open => s.open, overdue => s.overdue,
        closed => s.closed_on_time + s.closed_late, cancelled => s.cancelled,
        rate => s.rate.map(|r| format!("{r:.1}%")).unwrap_or_else(|| "—".into()),
    };
    // One page of items either way: open ones most overdue first, finished ones the latest;
    // counted from the ledger's own figures.
    let statuses = filter_statuses(filter);
    let (items, matching) = if statuses.iter().all(|s| s.is_open()) {
        let overdue_only = filter == "overdue";
        let items = rs::most_overdue(&mut conn, &scope, &statuses, today, overdue_only, LEDGER_ROWS as u32).await?;
        let n = if overdue_only { counts.overdue } else { statuses.iter().map(|st| counts.count(*st)).sum() };
        (items, n)
    } else {
        let items = rs::items_with_status(&mut conn, &scope, &statuses, Some(LEDGER_ROWS as u32)).await?;
        let n = match filter {
            "closed" => s.closed_on_time + s.closed_late,
            "cancelled" => s.cancelled,
            _ => s.total,
        };
        (items, n)
    };
    let more = matching.saturating_sub(LEDGER_ROWS.min(items.len()));
    let lines: Vec<ItemLine> = items.iter().take(LEDGER_ROWS).map(|it| item_line(it, today)).collect();
    let ctx = context! {
        title => "整改台账", q, filters, refusal => "", scope_title => title, summary,
        items => lines, more,
        ..web.frame(Some(me), "ledger")
    };
    Ok(web.render(StatusCode::OK, "ledger.html", ctx))
}

/// An item's id as a link or a person writes it: `W12`, `w12` or `12`.
pub(super) fn item_id(id: &str) -> Option<i64> {
    id.trim_start_matches(['W', 'w']).parse::<i64>().ok().filter(|id| *id > 0)
}

#[derive(Deserialize, Default)]
pub(super) struct ItemQuery {
    #[serde(default)]
    done: String,
}

/// One item with its history. Outside the person's view (`Actor::check_view_school`, as
/// `问题 W12` in chat) it is "not found", exactly like an id that does not exist. The person who
/// may verify it now (`app::rectify::may_verify`, the chat's rule) gets the 销号 and 退回 forms.
pub(super) async fn item(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<ItemQuery>,
) -> Response {
    let me = match signed_in(&web, &headers).await {
        Ok(me) => me,
        Err(r) => return r,
    };
    let not_found = |web: &Web, me: &Me| {
        web.message(StatusCode::NOT_FOUND, Some(me), "没有找到", "没有找到这个问题，或您无权查看。")
    };
    let Some(id) = item_id(&id) else { return not_found(&web, &me) };
    let loaded = async {
        let mut conn = web.app.db.acquire().await?;
        let Some(it) = rs::get(&mut conn, id).await? else { return Ok(None) };
        if me.actor.check_view_school(it.school_id, it.zone_id).is_err() {
            return Ok(None);
        }
        let history = rs::history(&mut conn, id, 100).await?;
        let photos = super::photos::shown(rs::evidence_photos(&mut conn, id).await?).len();
        Ok::<_, anyhow::Error>(Some((it, history, photos)))
    };
    match loaded.await {
        Ok(Some((it, history, photos))) => {
            let today = web.app.clock.now().with_timezone(&web.app.tz).date_naive();
            let events: Vec<_> = history
                .into_iter()
                .map(|(date, action, who, note)| {
                    context! { date, who, action => crate::app::rectify::event_label(&action), note }
                })
                .collect();
            // A fixed sentence per outcome: nothing from the query string is echoed.
            let done = match query.done.as_str() {
                "closed" => "已销号，已通知学校。",
                "returned" => "已退回，已通知学校重新整改。",
                _ => "",
            };
            let ctx = context! {
                title => item_code(it.id),
                item => item_line(&it, today),
                source => it.source.label(),
                owner => if it.owner == "school" { String::new() } else { it.owner.clone() },
                returns => it.returns, extensions => it.extensions, relapses => it.relapses,
                photos,
                // Counted for everyone who sees the item, shown as `证据 W12` shows them.
                photo_numbers => if super::photos::may_see(&me, &it) { (1..=photos).collect() } else { Vec::new() },
                events,
                verify => may_verify(&me.actor, &it),
                done,
                ..web.frame(Some(&me), "ledger")
            };
            web.render(StatusCode::OK, "item.html", ctx)
        }
        Ok(None) => not_found(&web, &me),
        Err(e) => page(&web, Err(e)),
    }
}
