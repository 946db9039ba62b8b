//! The platform's 督办 (`/tasks`, `/tasks/<id>`) and 花名册 (`/roster`) pages, read-only.
//!
//! Scope is the chat's: a task is visible under `domain::task::authorize(role, Op::View,
//! is_assignee)` exactly as `任务 T12` decides it (supervisors every task, anyone else the tasks
//! they hold a live assignment on); a task outside it is "not found", like a missing one. The
//! roster shows the schools `Actor::check_view_school` lets the person see, the zones
//! `Actor::check_zone` lets them act for (or that hold their visible schools), and the people
//! serving those; bindings only to supervisors and admins, phone numbers and account ids only
//! to admins.

use super::pages::{local_text, page, signed_in};
use super::{Me, Web};
use crate::domain::role::Role;
use crate::domain::task::{self as dt, AssignmentState, Op, TaskStatus};
use crate::store::{self, tasks::Task};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use minijinja::context;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// Most tasks a board lists.
const BOARD_TASKS: i64 = 100;
/// Most history entries a task page shows.
const HISTORY: i64 = 200;

/// How a task history entry reads (`task_events.kind`).
fn event_label(kind: &str) -> &str {
    match kind {
        "created" => "布置任务",
        "assigned" => "分派",
        "acknowledged" => "确认收到",
        "progress" => "报告进展",
        "submitted" => "提交结果",
        "approved" => "审核通过",
        "returned" => "退回",
        "reassigned" => "改派",
        "extended" => "延期",
        "cancelled" => "撤销",
        "closed" => "办结",
        other => other,
    }
}

#[derive(Serialize)]
struct AssigneeLine {
    name: String,
    state: &'static str,
    class: &'static str,
}

fn state_class(s: AssignmentState) -> &'static str {
    match s {
        AssignmentState::Approved => "ok",
        AssignmentState::Returned | AssignmentState::Assigned => "missing",
        AssignmentState::Submitted => "late",
        _ => "muted",
    }
}

#[derive(Serialize)]
struct TaskLine {
    id: i64,
    code: String,
    title: String,
    status: &'static str,
    deadline: String,
    overdue: bool,
    assignees: Vec<AssigneeLine>,
}

#[derive(Deserialize, Default)]
pub(super) struct BoardQuery {
    #[serde(default)]
    status: String,
    /// `1`: the 布置任务 form opened (the link on 我的待办).
    #[serde(default)]
    assign: String,
}

/// The board's status filters: (value, label).
const FILTERS: &[(&str, &str)] = &[("open", "进行中"), ("closed", "已办结"), ("cancelled", "已撤销"), ("all", "全部")];

/// 督办: the tasks the person may see, by status, each with its assignees and their states.
pub(super) async fn tasks(State(web): State<Arc<Web>>, headers: HeaderMap, Query(q): Query<BoardQuery>) -> Response {
    let me = match signed_in(&web, &headers).await {
        Ok(me) => me,
        Err(r) => return r,
    };
    page(&web, tasks_page(&web, &me, q).await)
}

async fn tasks_page(web: &Web, me: &Me, q: BoardQuery) -> anyhow::Result<Response> {
    let assign = super::assign::task_form(web, me, None, "").await?;
    tasks_page_with(web, me, q, assign, StatusCode::OK).await
}

/// The board again with the 布置任务 form as the person filled it and the chat's reason.
pub(super) async fn tasks_with_form(
    web: &Web,
    me: &Me,
    typed: &super::assign::Fields,
    error: &str,
) -> anyhow::Result<Response> {
    let assign = super::assign::task_form(web, me, Some(typed), error).await?;
    tasks_page_with(web, me, BoardQuery::default(), assign, StatusCode::UNPROCESSABLE_ENTITY).await
}

async fn tasks_page_with(
    web: &Web,
    me: &Me,
    q: BoardQuery,
    assign: minijinja::Value,
    status: StatusCode,
) -> anyhow::Result<Response> {
    let now = web.app.clock.now();
    let filter = FILTERS.iter().find(|(v, _)| *v == q.status).map_or("open", |(v, _)| *v);
    let mut conn = web.app.db.acquire().await?;
    let visible: Vec<Task> = if me.actor.role.is_supervisor() {
        store::tasks::list(&mut conn, filter != "open", BOARD_TASKS).await?.into_iter().map(|s| s.task).collect()
    } else {
        let mut out = Vec::new();
        for id in store::web::task_ids_of_person(&mut conn, me.actor.person_id, BOARD_TASKS).await? {
            out.extend(store::tasks::get(&mut conn, id).await?);
        }
        out
    };
    let mut lines = Vec::new();
    for t in visible.into_iter().filter(|t| filter == "all" || t.status.as_str() == filter) {
        let all = store::tasks::assignments(&mut conn, t.id).await?;
        // The chat's rule for `任务 T12`: supervisors see every assignee, others their own part.
        let assignees = all
            .iter()
            .filter(|a| a.state != AssignmentState::Cancelled)
            .filter(|a| me.actor.role.is_supervisor() || a.person_id == me.actor.person_id)
            .map(|a| AssigneeLine { name: a.person_name.clone(), state: a.state.label(), class: state_class(a.state) })
            .collect();
        lines.push(TaskLine {
            id: t.id,
            code: t.code(),
            title: t.title.clone(),
            status: t.status.label(),
            deadline: local_text(web, t.deadline),
            overdue: t.status == TaskStatus::Open && t.deadline <= now,
            assignees,
        });
    }
    let filters: Vec<_> =
        FILTERS.iter().map(|(v, l)| context! { value => v, label => l, on => *v == filter }).collect();
    let scope = if me.actor.role.is_supervisor() { "全部督办任务" } else { "我承办的任务" };
    let ctx = context! {
        title => "督办", scope, filters, tasks => lines, assign, open_form => q.assign == "1",
        ..web.frame(Some(me), "tasks")
    };
    Ok(web.render(status, "tasks.html", ctx))
}

/// One task with its assignees and history; outside the person's view it is "not found".
#[derive(Deserialize, Default)]
pub(super) struct TaskQuery {
    #[serde(default)]
    done: String,
}

pub(super) async fn task(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<TaskQuery>,
) -> Response {
    let me = match signed_in(&web, &headers).await {
        Ok(me) => me,
        Err(r) => return r,
    };
    let not_found = |web: &Web, me: &Me| {
        web.message(StatusCode::NOT_FOUND, Some(me), "没有找到", "没有找到这个任务，或您无权查看。")
    };
    let Some((id, "")) = dt::parse_task_ref(&id).or_else(|| id.parse::<i64>().ok().map(|n| (n, ""))) else {
        return not_found(&web, &me);
    };
    let loaded = async {
        let mut conn = web.app.db.acquire().await?;
        let Some(t) = store::tasks::get(&mut conn, id).await? else { return Ok(None) };
        let all = store::tasks::assignments(&mut conn, id).await?;
        let own = all.iter().any(|a| a.person_id == me.actor.person_id && a.state != AssignmentState::Cancelled);
        if dt::authorize(me.actor.role, Op::View, own).is_err() {
            return Ok(None);
        }
        // Others see the task's own entries and those of their own assignments, as the chat
        // shows them only their own part.
        let mine: Vec<i64> = all.iter().filter(|a| a.person_id == me.actor.person_id).map(|a| a.id).collect();
        let events: Vec<_> = store::web::task_events(&mut conn, id, HISTORY)
            .await?
            .into_iter()
            .filter(|e| me.actor.role.is_supervisor() || e.assignment_id.is_none_or(|a| mine.contains(&a)))
            .collect();
        Ok::<_, anyhow::Error>(Some((t, all, events)))
    };
    let (t, all, events) = match loaded.await {
        Ok(Some(found)) => found,
        Ok(None) => return not_found(&web, &me),
        Err(e) => return page(&web, Err(e)),
    };
    let now = web.app.clock.now();
    let supervisor = me.actor.role.is_supervisor();
    // The person's own live assignment on an open task: the moves the chat's rule allows now.
    let own = all
        .iter()
        .find(|a| a.person_id == me.actor.person_id && a.state != AssignmentState::Cancelled)
        .filter(|_| t.status == TaskStatus::Open);
    let can = |action| own.is_some_and(|a| dt::next_state(a.state, action).is_ok());
    let (can_ack, can_submit) = (can(dt::Action::Acknowledge), can(dt::Action::Submit));
    let done = match query.done.as_str() {
        "created" => "任务已布置，已通知承办人。",
        "acknowledged" => "已确认收到。",
        "submitted" => "已提交结果，等待督导室审核。",
        _ => "",
    };
    let assignees: Vec<_> = all
        .iter()
        .filter(|a| a.state != AssignmentState::Cancelled)
        .filter(|a| supervisor || a.person_id == me.actor.person_id)
        .map(|a| {
            context! {
                name => a.person_name.clone(),
                state => a.state.label(),
                class => state_class(a.state),
                progress => a.progress_note.clone().unwrap_or_default(),
                result => a.result_text.clone().unwrap_or_default(),
                files => a.result_media.len(),
                returned => if a.state == AssignmentState::Returned { a.return_reason.clone().unwrap_or_default() } else { String::new() },
            }
        })
        .collect();
    let history: Vec<_> = events
        .into_iter()
        .map(|e| {
            context! {
                at => local_text(&web, e.at),
                who => e.who.unwrap_or_default(),
                action => event_label(&e.kind).to_string(),
                body => e.body.unwrap_or_default(),
            }
        })
        .collect();
    let ctx = context! {
        title => t.code(),
        task => context! {
            code => t.code(),
            title => t.title.clone(),
            description => t.description.clone(),
            status => t.status.label(),
            deadline => local_text(&web, t.deadline),
            remaining => if t.status == TaskStatus::Open { dt::remaining(t.deadline, now) } else { String::new() },
            creator => t.creator_name.clone(),
            created => local_text(&web, t.created_at),
            requires_result => t.requires_result,
            end_reason => if t.status == TaskStatus::Open { String::new() } else { t.end_reason.clone().unwrap_or_default() },
        },
        assignees,
        history,
        supervisor,
        can_ack,
        can_submit,
        done,
        ..web.frame(Some(&me), "tasks")
    };
    web.render(StatusCode::OK, "task.html", ctx)
}

/// 花名册: zones, schools with who serves them, and people, within the person's view.
#[derive(Deserialize, Default)]
pub(super) struct RosterQuery {
    /// A zone's id; anything else is answered as a zone not found.
    #[serde(default)]
    zone: Option<String>,
}

/// A roster of more schools than this is shown one zone at a time (a province keeps thousands).
const ROSTER_SCHOOLS_AT_ONCE: usize = 300;

pub(super) async fn roster(State(web): State<Arc<Web>>, headers: HeaderMap, Query(q): Query<RosterQuery>) -> Response {
    let me = match signed_in(&web, &headers).await {
        Ok(me) => me,
        Err(r) => return r,
    };
    let zone = q.zone.filter(|z| !z.trim().is_empty()).map(|z| z.trim().parse::<i64>().unwrap_or(-1));
    page(&web, roster_page(&web, &me, zone).await)
}

fn relation_label(relation: &str) -> &'static str {
    match relation {
        "primary" => "责任督学",
        "secondary" => "协助督学",
        "recused" => "回避",
        _ => "联络员",
    }
}

async fn roster_page(web: &Web, me: &Me, zone: Option<i64>) -> anyhow::Result<Response> {
    let actor = &me.actor;
    let supervisor = actor.role.is_supervisor();
    let admin = actor.role == Role::Admin;
    let mut conn = web.app.db.acquire().await?;
    let schools: Vec<_> = store::people::all_schools(&mut conn)
        .await?
        .into_iter()
        .filter(|s| actor.check_view_school(s.id, s.zone_id).is_ok())
        .collect();
    let school_zones: BTreeSet<i64> = schools.iter().map(|s| s.zone_id).collect();
    let zones: Vec<(i64, String)> = store::people::active_zones(&mut conn)
        .await?
        .into_iter()
        .filter(|(id, _)| actor.check_zone(*id).is_ok() || school_zones.contains(id))
        .collect();
    let mut zone_schools: HashMap<i64, usize> = HashMap::new();
    for s in &schools {
        *zone_schools.entry(s.zone_id).or_default() += 1;
    }
    // One zone at a time when asked, or when the whole roster is too long for one page.
    let zone_name = |id: i64| zones.iter().find(|(z, _)| *z == id).map(|(_, n)| n.clone());
    let chosen = match zone {
        Some(id) => match zone_name(id) {
            Some(name) => Some((id, name)),
            None => {
                return Ok(web.message(
                    StatusCode::NOT_FOUND,
                    Some(me),
                    "花名册",
                    "没有这个责任区，或不在您的查看范围内。",
                ))
            }
        },
        None => None,
    };
    let paged = chosen.is_none() && schools.len() > ROSTER_SCHOOLS_AT_ONCE;
    let schools: Vec<_> = match (&chosen, paged) {
        (Some((id, _)), _) => schools.into_iter().filter(|s| s.zone_id == *id).collect(),
        (None, true) => Vec::new(),
        (None, false) => schools,
    };
    let people = store::web::roster_people(&mut conn).await?;
    let links = store::web::school_links(&mut conn).await?;
    let visible_school: BTreeSet<i64> = schools.iter().map(|s| s.id).collect();
    // People seen: everyone for the office; otherwise those serving a visible school and, for
    // an inspector, the inspectors of their own zone.
    let serving: BTreeSet<i64> =
        links.iter().filter(|(s, _, _)| visible_school.contains(s)).map(|(_, p, _)| *p).collect();
    let people: Vec<_> = people
        .into_iter()
        .filter(|p| {
            supervisor
                || serving.contains(&p.id)
                || (actor.role == Role::Inspector
                    && p.role == Role::Inspector
                    && p.zone_id.is_some_and(|z| actor.check_zone(z).is_ok()))
        })
        // Within a zone: its people and those serving its schools; a long roster unpaged: the
        // people of no zone (the office).
        .filter(|p| match (&chosen, paged) {
            (Some((id, _)), _) => p.zone_id == Some(*id) || serving.contains(&p.id),
            (None, true) => p.zone_id.is_none() && !serving.contains(&p.id),
            (None, false) => true,
        })
        .collect();
    let mut serving_at: HashMap<i64, Vec<(i64, &str)>> = HashMap::new();
    for (school, p, rel) in &links {
        if visible_school.contains(school) {
            serving_at.entry(*school).or_default().push((*p, rel.as_str()));
        }
    }
    let names: HashMap<i64, &str> = people.iter().map(|p| (p.id, p.name.as_str())).collect();
    let zone_names: HashMap<i64, &str> = zones.iter().map(|(id, n)| (*id, n.as_str())).collect();
    let mut bound: HashMap<i64, Vec<String>> = HashMap::new();
    if supervisor {
        for (person, platform, account) in store::web::bindings(&mut conn).await? {
            let shown = if admin { format!("{platform}：{account}") } else { platform };
            let list = bound.entry(person).or_default();
            if !list.contains(&shown) {
                list.push(shown);
            }
        }
    }
    let school_lines: Vec<_> = schools
        .iter()
        .map(|s| {
            let serving: Vec<_> = serving_at
                .get(&s.id)
                .into_iter()
                .flatten()
                .filter(|(p, _)| names.contains_key(p))
                .map(|(p, rel)| context! { name => names[p], relation => relation_label(rel) })
                .collect();
            context! { name => s.name.clone(), zone => s.zone_name.clone(), stage => s.stage.clone(), serving }
        })
        .collect();
    let people_lines: Vec<_> = people
        .iter()
        .map(|p| {
            context! {
                name => p.name.clone(),
                role => p.role.label(),
                title => p.title.clone().unwrap_or_default(),
                zone => p.zone_id.and_then(|z| zone_names.get(&z).copied()).unwrap_or_default(),
                phone => if admin { p.phone.clone().unwrap_or_default() } else { String::new() },
                bindings => bound.remove(&p.id).unwrap_or_default(),
            }
        })
        .collect();
    let zone_lines: Vec<_> = zones
        .iter()
        .map(|(id, name)| {
            let n = zone_schools.get(id).copied().unwrap_or(0);
            context! { id, name => name.clone(), schools => n, on => chosen.as_ref().is_some_and(|(c, _)| c == id) }
        })
        .collect();
    let scope = match actor.role {
        Role::Admin | Role::Supervisor => "全县",
        Role::Inspector => "本责任区",
        Role::SchoolContact => "本校",
    };
    let ctx = context! {
        title => "花名册", scope, supervisor, admin, paged,
        chosen => chosen.as_ref().map(|(_, n)| n.clone()),
        zones => zone_lines, schools => school_lines, people => people_lines,
        ..web.frame(Some(me), "roster")
    };
    Ok(web.render(StatusCode::OK, "roster.html", ctx))
}
