//! 周交流 H5: a phone-friendly weekly-report form (`/reports/new`) for an inspector with an open
//! round, pre-filled with their own schools, the methods the chat's parser knows, and — when
//! they already reported — their current version's parsed fields. The form is written out as
//! the template's text (`domain::weekly_form::WeeklyForm::text`), stored as the person's message
//! (`app::web::WebTurn`) and taken in by the chat's own intake (`app::weekly::submit_form`):
//! the same parse, the same stored report and version (a second submission is `修改：…`, a new
//! version), the same confirmation sent to the person's chat through the outbox.

use super::pages::{local_text, page, signed_in};
use super::{Me, Web};
use crate::app::web::WebTurn;
use crate::domain::report_parse::{self as rp, ParsedReport, Section, VisitMethod};
use crate::domain::role::Role;
use crate::domain::weekly::week_title;
use crate::domain::weekly_form::WeeklyForm;
use crate::store;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Form;
use minijinja::context;
use serde::Serialize;
use std::sync::Arc;

/// Longest text field kept (characters).
const FIELD_CHARS: usize = 2000;

/// What the person typed (or what their current version says), kept to re-render the form.
#[derive(Serialize, Default)]
struct Filled {
    schools: Vec<String>,
    no_visits: bool,
    visit_count: String,
    methods: Vec<String>,
    /// (method value, count typed) for the methods given a count.
    counts: Vec<(String, String)>,
    problems: String,
    no_problems: bool,
    followup: String,
    next_plan: String,
}

impl Filled {
    fn of(form: &WeeklyForm) -> Filled {
        Filled {
            schools: form.schools.iter().map(i64::to_string).collect(),
            no_visits: form.no_visits,
            visit_count: form.visit_count.map(|n| n.to_string()).unwrap_or_default(),
            methods: form.methods.iter().map(|(m, _)| m.as_str().to_string()).collect(),
            counts: form.methods.iter().map(|(m, n)| (m.as_str().to_string(), n.to_string())).collect(),
            problems: form.problems.clone(),
            no_problems: form.no_problems,
            followup: form.followup.clone(),
            next_plan: form.next_plan.clone(),
        }
    }

    fn read(fields: Vec<(String, String)>, csrf: &mut String) -> Filled {
        let mut f = Filled::default();
        for (name, value) in fields {
            let value: String = value.chars().take(FIELD_CHARS).collect();
            match name.as_str() {
                "csrf" => *csrf = value,
                "school" => f.schools.push(value),
                "no_visits" => f.no_visits = !value.is_empty(),
                "visit_count" => f.visit_count = value,
                "method" => f.methods.push(value),
                "problems" => f.problems = value,
                "no_problems" => f.no_problems = !value.is_empty(),
                "followup" => f.followup = value,
                "next_plan" => f.next_plan = value,
                other => {
                    if let Some(m) = other.strip_prefix("count_").and_then(VisitMethod::parse) {
                        f.counts.push((m.as_str().to_string(), value));
                    }
                }
            }
        }
        f
    }

    fn count_of(&self, m: VisitMethod) -> &str {
        self.counts.iter().find(|(k, _)| k == m.as_str()).map_or("", |(_, v)| v.as_str())
    }
}

fn refused(web: &Web, me: &Me) -> Response {
    web.message(StatusCode::FORBIDDEN, Some(me), "填写周报", "周报由责任督学填写，您的账号无需填写。")
}

fn no_round(web: &Web, me: &Me) -> Response {
    web.message_back(
        StatusCode::OK,
        me,
        "填写周报",
        "目前没有需要您提交的周报。周报收集开始后，督导助手会在聊天中提醒您，届时可在这里填写。",
        "/",
    )
}

/// The inspector's own schools, as the chat reads their reports against: (id, full name).
async fn schools(web: &Web, me: &Me) -> anyhow::Result<Vec<rp::SchoolRef>> {
    let mut conn = web.app.db.acquire().await?;
    Ok(web.app.snapshot.school_refs(&mut conn, &me.actor.schools).await?)
}

/// The person's open round and their report in it, if any.
async fn round_of(web: &Web, me: &Me) -> anyhow::Result<Option<(store::weekly::Round, Option<store::weekly::Report>)>> {
    let now = web.app.clock.now();
    let mut conn = web.app.db.acquire().await?;
    let late_days = web.app.settings.weekly.late_days;
    let Some(round) = store::weekly::current_round_for(&mut conn, me.actor.person_id, now, late_days).await? else {
        return Ok(None);
    };
    let report = store::weekly::report(&mut conn, round.id, me.actor.person_id).await?;
    Ok(Some((round, report)))
}

/// `GET /reports/new`: the form, filled in from the current version when there is one.
pub(super) async fn new(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    let me = match signed_in(&web, &headers).await {
        Ok(me) => me,
        Err(r) => return r,
    };
    if me.actor.role != Role::Inspector {
        return refused(&web, &me);
    }
    let loaded = async {
        let Some((round, report)) = round_of(&web, &me).await? else { return Ok(no_round(&web, &me)) };
        let filled = match &report {
            Some(r) => {
                let parsed: ParsedReport = serde_json::from_str(&r.parsed).unwrap_or_default();
                Filled::of(&WeeklyForm::from_parsed(&parsed, &me.actor.schools))
            }
            None => Filled::default(),
        };
        form_page(&web, &me, StatusCode::OK, &round, report.as_ref(), filled, "").await
    };
    page(&web, loaded.await)
}

async fn form_page(
    web: &Web,
    me: &Me,
    status: StatusCode,
    round: &store::weekly::Round,
    report: Option<&store::weekly::Report>,
    filled: Filled,
    error: &str,
) -> anyhow::Result<Response> {
    let now = web.app.clock.now();
    let schools: Vec<_> = schools(web, me)
        .await?
        .into_iter()
        .map(|s| {
            let id = s.id.to_string();
            context! { on => filled.schools.contains(&id), id, name => s.name }
        })
        .collect();
    let methods: Vec<_> = VisitMethod::ALL
        .iter()
        .map(|m| {
            context! {
                value => m.as_str(),
                label => m.label(),
                unit => if *m == VisitMethod::LessonObservation { "节" } else { "次" },
                on => filled.methods.iter().any(|v| v == m.as_str()),
                count => filled.count_of(*m),
            }
        })
        .collect();
    // What a submission will do, said before it is made.
    let state = match report {
        None => String::new(),
        Some(r) if now > round.deadline_at && !r.late => {
            format!("您已按时提交第{}版。截止时间已过，再次提交将作为补充记录，原周报及按时状态不变。", r.version)
        }
        Some(r) => format!("您已提交第{}版（下面已填入），再次提交将更新为第{}版。", r.version, r.version + 1),
    };
    let ctx = context! {
        title => "填写周报",
        week => week_title(&round.week),
        deadline => local_text(web, round.deadline_at),
        late => now > round.deadline_at,
        state,
        error,
        filled,
        schools,
        methods,
        ..web.frame(Some(me), "home")
    };
    Ok(web.render(status, "report_form.html", ctx))
}

/// The report the form describes, or the sentence saying what to fix.
fn check(filled: &Filled, own: &[rp::SchoolRef]) -> Result<WeeklyForm, &'static str> {
    let mut schools = Vec::new();
    for s in &filled.schools {
        match s.parse::<i64>().ok().filter(|id| own.iter().any(|o| o.id == *id)) {
            Some(id) if !schools.contains(&id) => schools.push(id),
            Some(_) => {}
            None => return Err("请只勾选您负责的学校。"),
        }
    }
    if filled.no_visits && !schools.is_empty() {
        return Err("勾选了“本周未下校”，就不要再勾选学校了；如本周下过校，请取消“本周未下校”。");
    }
    let visit_count = match filled.visit_count.trim() {
        "" => None,
        n => match n.parse::<u32>() {
            Ok(n) if (1..=100).contains(&n) => Some(n),
            _ => return Err("下校次数请填写1到100之间的数字，不清楚可以不填。"),
        },
    };
    let mut methods = Vec::new();
    for m in VisitMethod::ALL {
        if !filled.methods.iter().any(|v| v == m.as_str()) {
            continue;
        }
        let n = match filled.count_of(m).trim() {
            "" => 1,
            n => match n.parse::<u32>() {
                Ok(n) if (1..=99).contains(&n) => n,
                _ => return Err("督导方式的次数请填写1到99之间的数字。"),
            },
        };
        methods.push((m, n));
    }
    if filled.no_problems && !filled.problems.trim().is_empty() {
        return Err("勾选了“未发现问题”，就不要再填写问题了；如发现了问题，请取消“未发现问题”。");
    }
    Ok(WeeklyForm {
        schools,
        no_visits: filled.no_visits,
        visit_count: if filled.no_visits { None } else { visit_count },
        methods,
        problems: filled.problems.clone(),
        no_problems: filled.no_problems,
        followup: filled.followup.clone(),
        next_plan: filled.next_plan.clone(),
    })
}

/// The form's sentence for what the chat would ask about (`rp::missing_required`, the chat's rule).
fn missing_text(section: Section) -> &'static str {
    match section {
        Section::Schools => "请勾选本周督导的学校；如本周未下校，请勾选“本周未下校”。",
        _ => "请填写本周发现的问题（每行一个）；如未发现问题，请勾选“未发现问题”。",
    }
}

/// `POST /reports/new`: the report, taken in as the same words in chat would be.
pub(super) async fn submit(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let me = match signed_in(&web, &headers).await {
        Ok(me) => me,
        Err(r) => return r,
    };
    if me.actor.role != Role::Inspector {
        return refused(&web, &me);
    }
    let mut csrf = String::new();
    let filled = Filled::read(fields, &mut csrf);
    if let Some(r) = web.csrf_refusal(&me, &csrf) {
        return r;
    }
    let loaded = async {
        let Some((round, report)) = round_of(&web, &me).await? else { return Ok(no_round(&web, &me)) };
        let own = schools(&web, &me).await?;
        let name = |id: i64| own.iter().find(|s| s.id == id).map(|s| s.name.clone()).unwrap_or_default();
        let checked = check(&filled, &own).and_then(|form| {
            let text = form.text(&name);
            match rp::missing_required(&rp::parse_weekly(&text, &own)) {
                Some(section) => Err(missing_text(section)),
                None => Ok(text),
            }
        });
        let text = match checked {
            Ok(text) => text,
            Err(error) => {
                let status = StatusCode::UNPROCESSABLE_ENTITY;
                return form_page(&web, &me, status, &round, report.as_ref(), filled, error).await;
            }
        };
        let saved = save(&web, &me, &text).await;
        if saved.is_err() {
            web.app.snapshot.clear(); // the turn's transaction was rolled back
        }
        let (intent, version, reply) = match saved? {
            Some(done) => done,
            None => return Ok(no_round(&web, &me)),
        };
        let title = match (intent, version) {
            ("weekly_addendum", _) => "补充已收到".to_string(),
            (_, Some(v)) => format!("周报已提交（第{v}版）"),
            (_, None) => "周报已提交".to_string(),
        };
        let text = format!("{reply}\n（以上确认也已发送到您的聊天中。）");
        Ok(web.message_back(StatusCode::OK, &me, &title, &text, "/"))
    };
    page(&web, loaded.await)
}

/// Stores the form's text as the person's message and runs the chat's intake on it, in one
/// write transaction: the intake's intent, the report's version afterwards and the answer sent
/// to the chat; `None` when the round closed meanwhile.
async fn save(web: &Web, me: &Me, text: &str) -> anyhow::Result<Option<(&'static str, Option<i64>, String)>> {
    let app = &web.app;
    let now = app.clock.now();
    let pid = me.actor.person_id;
    let mut tx = crate::db::begin_write(&app.db).await?;
    // Read again inside the transaction: the round and whether this is a new version.
    let Some(round) = store::weekly::current_round_for(&mut tx, pid, now, app.settings.weekly.late_days).await? else {
        return Ok(None);
    };
    let round_id = round.id;
    let existing = store::weekly::report(&mut tx, round_id, pid).await?;
    let message = crate::app::weekly::form_message(text, existing.is_some());
    let turn = WebTurn::open(app, &mut tx, pid, &message, now).await?;
    let mut ctx = turn.ctx(app, &mut tx, me.actor.clone(), now);
    let intent = crate::app::weekly::submit_form(&mut ctx, round, existing, &message).await?;
    let reply = crate::app::web::reply_text(&ctx);
    let queued = turn.finish(ctx, intent).await?;
    let version = store::weekly::report(&mut tx, round_id, pid).await?.map(|r| r.version);
    tx.commit().await?;
    if queued > 0 {
        app.outbox_notify.notify_waiters();
    }
    tracing::info!(person = pid, round = round_id, intent, "weekly report from the web form");
    Ok(Some((intent, version, reply)))
}
