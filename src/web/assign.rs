//! The office's acts on the platform: 布置任务 on 督办 (`POST /tasks/new`) and 发布主题 on
//! 主题与纪实 (`POST /themes/publish`). Each form becomes the spec the chat command parses
//! (`domain::task::CreateSpec`, `domain::monthly::ThemeDraft`) and goes through the chat's own
//! function (`app::task::create_from_spec`, `app::monthly::publish_draft`: the same rules,
//! target resolution, notices and answer) on a `WebTurn`, in one write transaction with its
//! audit entries (`via = web`) and outbox rows. A refusal rolls back and the form is shown
//! again with the chat's reason and what the person typed; success goes to the new task's page
//! or back to the themes (303).

use super::pages::{page, signed_in};
use super::stats::may;
use super::{see_other, Me, Web};
use crate::app::web::{reply_text, WebTurn};
use crate::domain::command::{CommandId, CommandSpec};
use crate::domain::monthly as m;
use crate::domain::task::{self as dt, Target};
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{Datelike, NaiveDate, NaiveTime};
use minijinja::{context, Value};
use std::sync::Arc;

/// A form as posted: its fields in order (repeated names, like a multiple select, included).
pub(super) type Fields = Vec<(String, String)>;

/// The value of a single field (the first one of that name), or "".
pub(super) fn field<'a>(fields: &'a Fields, name: &str) -> &'a str {
    fields.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
}

/// Every value of a repeated field.
pub(super) fn all<'a>(fields: &'a Fields, name: &str) -> Vec<&'a str> {
    fields.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
}

/// What a form submitted on a web turn is.
pub(super) enum Turn {
    Assign(dt::CreateSpec),
    Publish(m::ThemeDraft),
}

/// What came of a turn.
pub(super) enum Turned {
    /// The new task's or theme's id.
    Done(i64),
    /// The chat's answer explaining the refusal; nothing was stored or sent.
    Refused(String),
}

/// Runs the chat's function for `turn` as the person's message `text`, in one transaction;
/// on a refusal the transaction is dropped and the answer returned instead of sent.
pub(super) async fn run_turn(web: &Web, me: &Me, command: CommandId, text: &str, turn: Turn) -> anyhow::Result<Turned> {
    let app = &web.app;
    let now = app.clock.now();
    let mut tx = crate::db::begin_write(&app.db).await?;
    let spec = CommandSpec::get(command);
    let t = WebTurn::open(app, &mut tx, me.actor.person_id, text, now).await?;
    let mut ctx = t.ctx(app, &mut tx, me.actor.clone(), now);
    let done = match turn {
        Turn::Assign(s) => crate::app::task::create_from_spec(&mut ctx, s).await?,
        Turn::Publish(d) => crate::app::monthly::publish_draft(&mut ctx, d).await?,
    };
    let Some(id) = done else {
        let text = reply_text(&ctx);
        drop(ctx);
        drop(tx);
        // Rolled back: what the turn read into the shared snapshot may not have committed.
        app.snapshot.clear();
        return Ok(Turned::Refused(text));
    };
    let queued = t.finish(ctx, spec.intent).await?;
    tx.commit().await?;
    if queued > 0 {
        app.outbox_notify.notify_waiters();
    }
    tracing::info!(person = me.actor.person_id, id, intent = spec.intent, "office act from the web");
    Ok(Turned::Done(id))
}

fn refused(web: &Web, me: &Me, back: &str) -> Response {
    web.message_back(StatusCode::FORBIDDEN, me, "无权办理", "您的账号不能办理这一步。", back)
}

// ---- 布置任务 ----

/// The 布置任务 form's choices (whom the chat command can address, all the county for the
/// office that may assign) and what the person typed when the form comes back with a reason.
pub(super) async fn task_form(web: &Web, me: &Me, typed: Option<&Fields>, error: &str) -> anyhow::Result<Value> {
    if !may(me, CommandId::TaskCreate) {
        return Ok(Value::from(()));
    }
    let mut conn = web.app.db.acquire().await?;
    // A province keeps thousands of schools and inspectors: beyond a page's worth they are
    // typed in the free field instead of listed.
    let (school_count, inspector_count) = crate::store::web::choice_counts(&mut conn).await?;
    let inspectors =
        if inspector_count <= CHOICES { crate::store::tasks::inspectors(&mut conn, None).await? } else { Vec::new() };
    let zones = crate::store::people::active_zones(&mut conn).await?;
    let schools: Vec<_> = if school_count <= CHOICES {
        crate::store::people::all_schools(&mut conn)
            .await?
            .into_iter()
            .filter(|s| me.actor.check_view_school(s.id, s.zone_id).is_ok())
            .collect()
    } else {
        Vec::new()
    };
    drop(conn);
    let chosen: Vec<&str> = typed.map(|f| all(f, "target")).unwrap_or_default();
    let option = |value: String, label: String| {
        let on = chosen.contains(&value.as_str());
        context! { value, label, on }
    };
    let mut groups = vec![context! {
        label => "全体",
        options => vec![option("全体督学".into(), "全体督学".into()), option("全部学校".into(), "全部学校".into())],
    }];
    groups.push(context! {
        label => "责任区（该区督学）",
        options => zones.iter().map(|(_, n)| option(n.clone(), n.clone())).collect::<Vec<_>>(),
    });
    groups.push(context! {
        label => "责任区学校（各校联络员）",
        options => zones.iter().map(|(_, n)| option(format!("{n}学校"), format!("{n}全部学校"))).collect::<Vec<_>>(),
    });
    if !inspectors.is_empty() {
        groups.push(context! {
            label => "督学",
            options => inspectors.iter().map(|p| option(p.code.clone(), format!("{}（{}）", p.name, p.code))).collect::<Vec<_>>(),
        });
    }
    if !schools.is_empty() {
        groups.push(context! {
            label => "学校（联络员）",
            options => schools.iter().map(|s| option(s.code.clone(), s.name.clone())).collect::<Vec<_>>(),
        });
    }
    let f = |name: &str| typed.map(|t| field(t, name).to_string()).unwrap_or_default();
    let today = web.app.clock.now().with_timezone(&web.app.tz).date_naive();
    Ok(context! {
        groups,
        error,
        title => f("title"),
        other => f("other"),
        date => f("date"),
        time => match typed { Some(t) => field(t, "time").to_string(), None => web.app.settings.tasks.default_time().format("%H:%M").to_string() },
        min_date => today.format("%Y-%m-%d").to_string(),
        needs => typed.is_some_and(|t| !field(t, "needs").is_empty()),
        description => f("description"),
    })
}

/// Most schools (and inspectors) offered one by one on the 布置任务 form.
const CHOICES: i64 = 300;

/// The form's fields as the chat's create spec: the chosen and typed targets read as the chat
/// reads 对象, the deadline from the date and time (the time defaults as in the chat).
fn assign_spec(web: &Web, fields: &Fields) -> Result<dt::CreateSpec, String> {
    let mut targets: Vec<Target> = all(fields, "target").into_iter().filter_map(dt::target_from_item).collect();
    targets.extend(dt::split_names(field(fields, "other")).iter().filter_map(|s| dt::target_from_item(s)));
    let date_text = field(fields, "date").trim();
    let time_text = field(fields, "time").trim();
    let date = NaiveDate::parse_from_str(date_text, "%Y-%m-%d").ok();
    let time = if time_text.is_empty() {
        Some(web.app.settings.tasks.default_time())
    } else {
        NaiveTime::parse_from_str(time_text, "%H:%M").or_else(|_| NaiveTime::parse_from_str(time_text, "%H:%M:%S")).ok()
    };
    let deadline = match (date, time) {
        (Some(d), Some(t)) => d.and_time(t),
        _ if date_text.is_empty() => return Err(dt::CreateError::MissingDeadline.to_string()),
        _ => {
            return Err(dt::CreateError::BadDeadline(format!("{date_text} {time_text}").trim().to_string()).to_string())
        }
    };
    Ok(dt::CreateSpec {
        title: field(fields, "title").to_string(),
        description: field(fields, "description").replace("\r\n", "\n"),
        targets,
        deadline,
        requires_result: !field(fields, "needs").is_empty(),
    })
}

/// The form as the message it stands for (stored verbatim as the person's web message).
fn assign_text(spec: &dt::CreateSpec) -> String {
    let targets = crate::app::task::targets_as_typed(&spec.targets, &[]);
    let mut text = format!(
        "布置任务 {} 对象:{} 截止:{}{}",
        spec.title,
        targets.join("、"),
        spec.deadline.format("%Y-%m-%d %H:%M"),
        if spec.requires_result { " 需提交材料" } else { "" }
    );
    if !spec.description.trim().is_empty() {
        text.push_str(&format!("\n说明:{}", spec.description));
    }
    text
}

/// `POST /tasks/new`: 布置任务, as the chat command with the form's fields.
pub(super) async fn assign(State(web): State<Arc<Web>>, headers: HeaderMap, Form(fields): Form<Fields>) -> Response {
    let me = match signed_in(&web, &headers).await {
        Ok(me) => me,
        Err(r) => return r,
    };
    if let Some(r) = web.csrf_refusal(&me, field(&fields, "csrf")) {
        return r;
    }
    if !may(&me, CommandId::TaskCreate) {
        return refused(&web, &me, "/tasks");
    }
    let outcome = match assign_spec(&web, &fields) {
        Err(reason) => Ok(Turned::Refused(reason)),
        Ok(spec) => {
            let text = assign_text(&spec);
            run_turn(&web, &me, CommandId::TaskCreate, &text, Turn::Assign(spec)).await
        }
    };
    if outcome.is_err() {
        web.app.snapshot.clear(); // the turn's transaction was rolled back
    }
    match outcome {
        Ok(Turned::Done(id)) => see_other(&web.base.page(&format!("/tasks/{}?done=created", dt::task_code(id))), None),
        Ok(Turned::Refused(reason)) => page(&web, super::board::tasks_with_form(&web, &me, &fields, &reason).await),
        Err(e) => page(&web, Err(e)),
    }
}

// ---- 发布主题 ----

/// Months a theme can be published for from the form: this one and the next two.
const THEME_MONTHS: u32 = 3;

/// The 发布主题 form (for the roles the chat lets publish), with what the person typed when it
/// comes back with a reason.
pub(super) fn theme_form(web: &Web, me: &Me, typed: Option<&Fields>, error: &str) -> Value {
    if !may(me, CommandId::ThemePublish) {
        return Value::from(());
    }
    let today = web.app.clock.now().with_timezone(&web.app.tz).date_naive();
    let chosen = typed.map(|t| field(t, "month").to_string()).unwrap_or_default();
    let mut months = Vec::new();
    let mut d = today.with_day(1).unwrap_or(today);
    for _ in 0..THEME_MONTHS {
        let value = m::month_label(d);
        months.push(context! { on => value == chosen, label => m::month_title(&value), value });
        d = d.checked_add_months(chrono::Months::new(1)).unwrap_or(d);
    }
    let f = |name: &str| typed.map(|t| field(t, name).to_string()).unwrap_or_default();
    context! {
        months,
        error,
        title => f("title"),
        description => f("description"),
        indicators => f("indicators"),
        categories => f("categories"),
    }
}

/// The form as the message it stands for (stored verbatim as the person's web message).
fn publish_text(d: &m::ThemeDraft) -> String {
    let mut text = format!("发布主题 {} {}", d.month, d.title);
    if !d.description.is_empty() {
        text.push_str(&format!("\n说明：{}", d.description));
    }
    text.push_str("\n指标：");
    for (i, ind) in d.indicators.iter().enumerate() {
        text.push_str(&format!("\n{}. {ind}", i + 1));
    }
    if !d.categories.is_empty() {
        let cats: Vec<String> = d.categories.iter().map(ToString::to_string).collect();
        text.push_str(&format!("\n问题类别：{}", cats.join("、")));
    }
    text
}

/// `POST /themes/publish`: 发布主题, as the chat command with the form's fields.
pub(super) async fn publish(State(web): State<Arc<Web>>, headers: HeaderMap, Form(fields): Form<Fields>) -> Response {
    let me = match signed_in(&web, &headers).await {
        Ok(me) => me,
        Err(r) => return r,
    };
    if let Some(r) = web.csrf_refusal(&me, field(&fields, "csrf")) {
        return r;
    }
    if !may(&me, CommandId::ThemePublish) {
        return refused(&web, &me, "/themes");
    }
    let month = field(&fields, "month").trim();
    let month = match m::parse_month_label(month) {
        Some((y, mo)) => format!("{y:04}-{mo:02}"),
        None => month.chars().take(20).collect(),
    };
    let draft = m::ThemeDraft {
        month: month.clone(),
        title: field(&fields, "title").trim().to_string(),
        description: field(&fields, "description").replace("\r\n", "\n").trim().to_string(),
        indicators: m::indicator_lines(field(&fields, "indicators")),
        categories: m::parse_categories(field(&fields, "categories")),
    };
    // An empty title in chat means "the calendar's theme"; the form always writes one.
    let outcome = match draft.checked() {
        Err(reason) => Ok(Turned::Refused(reason)),
        Ok(d) => {
            let text = publish_text(&d);
            run_turn(&web, &me, CommandId::ThemePublish, &text, Turn::Publish(d)).await
        }
    };
    if outcome.is_err() {
        web.app.snapshot.clear(); // the turn's transaction was rolled back
    }
    match outcome {
        Ok(Turned::Done(_)) => see_other(&web.base.page(&format!("/themes?month={month}&done=published")), None),
        Ok(Turned::Refused(reason)) => page(&web, super::themes::themes_with_form(&web, &me, &fields, &reason).await),
        Err(e) => page(&web, Err(e)),
    }
}
