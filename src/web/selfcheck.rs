//! 自查清单 on the platform: the lists awaiting the person's decision (`/selfchecks`, also on
//! 我的待办), one list with its entries (`/selfchecks/<id>`), and the two decisions the chat
//! takes — `审核自查 Z3 通过 [删除2,3]` / `审核自查 Z3 退回 <原因>` by the school's inspector (or
//! the office), then `确认自查 Z3 [退回 <原因>]` by the office, which lists the entries on the
//! ledger (`POST /selfchecks/<id>/review|confirm`).
//!
//! A list is visible under `Actor::check_view_school` for its school, like an item of the
//! ledger (outside it: "not found"); deciding takes the chat command's role and the chat's
//! relation to the school (`app::rectify::party_for`: the school's inspector or the office).
//! The decision runs the chat's own function (`app::rectify::command`) on the form as the
//! person's message (`app::web::WebTurn`), in one write transaction with its audit entry
//! (`via = web`) and the same notices (to the school on a return, to the office after a
//! review, the items' notices on a confirmation); a refusal rolls back and shows the chat's
//! reason on the page, with the form as it was filled.

use super::assign::{all, field, Fields};
use super::pages::{local_text, page, signed_in};
use super::stats::may;
use super::{see_other, Me, Web};
use crate::app::rectify::party_for;
use crate::app::web::{reply_text, WebTurn};
use crate::domain::command::{CommandId, CommandSpec};
use crate::domain::rectify::{self as dr, category_label, Party};
use crate::store::rectify as rs;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use minijinja::context;
use serde::Deserialize;
use std::sync::Arc;

/// Most lists a page shows.
const LISTS: usize = 200;
/// Most undecided lists read to find the person's (lists are decided within days; a province
/// rarely has more than a few hundred waiting at once).
const PENDING_SCAN: i64 = 5000;
/// The longest reason a form may carry (characters).
const REASON_CHARS: usize = 500;

/// The step a list in `status` waits for, if any.
fn step_of(status: &str) -> Option<CommandId> {
    match status {
        "submitted" => Some(CommandId::SelfCheckReview),
        "reviewed" => Some(CommandId::SelfCheckConfirm),
        _ => None,
    }
}

/// Whether the person may take `step` on a list of `school_id`: the chat command's roles and
/// the chat's relation to the school.
fn may_decide(me: &Me, step: CommandId, school_id: i64) -> bool {
    may(me, step) && matches!(party_for(&me.actor, school_id), Ok(Party::Inspector | Party::Supervisor))
}

/// The lists waiting for the person's decision, oldest first.
pub(super) async fn waiting(conn: &mut crate::store::Conn, me: &Me) -> anyhow::Result<Vec<rs::SelfCheckRow>> {
    if !may(me, CommandId::SelfCheckReview) {
        return Ok(Vec::new());
    }
    Ok(rs::self_checks_in(conn, &["submitted", "reviewed"], PENDING_SCAN)
        .await?
        .into_iter()
        .filter(|c| me.actor.check_view_school(c.school_id, c.zone_id).is_ok())
        .filter(|c| step_of(&c.status).is_some_and(|s| may_decide(me, s, c.school_id)))
        .take(LISTS)
        .collect())
}

/// A list as a line of 我的待办 or `/selfchecks`.
pub(super) fn line(web: &Web, c: &rs::SelfCheckRow) -> minijinja::Value {
    context! {
        id => c.id,
        code => dr::self_check_code(c.id),
        school => c.school_name.clone(),
        status => dr::self_check_status_label(&c.status),
        lines => c.lines,
        by => c.submitted_by.clone(),
        at => c.created_at.map(|t| local_text(web, t)).unwrap_or_default(),
    }
}

/// `GET /selfchecks`: what awaits the person's review or confirmation.
pub(super) async fn list(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    let me = match signed_in(&web, &headers).await {
        Ok(me) => me,
        Err(r) => return r,
    };
    if !may(&me, CommandId::SelfCheckReview) {
        return web.message(StatusCode::FORBIDDEN, Some(&me), "自查清单", "学校的自查清单由责任督学和督导室审核。");
    }
    let loaded = async {
        let mut conn = web.app.db.acquire().await?;
        let lists: Vec<_> = waiting(&mut conn, &me).await?.iter().map(|c| line(&web, c)).collect();
        let ctx = context! { title => "自查清单", lists, ..web.frame(Some(&me), "selfchecks") };
        Ok(web.render(StatusCode::OK, "selfchecks.html", ctx))
    };
    page(&web, loaded.await)
}

#[derive(Deserialize, Default)]
pub(super) struct ShowQuery {
    #[serde(default)]
    done: String,
}

fn list_id(s: &str) -> Option<i64> {
    match dr::parse_self_check_ref(s) {
        Some((id, rest)) if rest.trim().is_empty() => Some(id),
        Some(_) => None,
        None => s.parse().ok(),
    }
}

fn not_found(web: &Web, me: &Me) -> Response {
    web.message(StatusCode::NOT_FOUND, Some(me), "没有找到", "没有找到这份自查清单，或您无权查看。")
}

/// `GET /selfchecks/<id>`: a list with its entries and, when it waits for the person, the forms.
pub(super) async fn show(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<ShowQuery>,
) -> Response {
    let me = match signed_in(&web, &headers).await {
        Ok(me) => me,
        Err(r) => return r,
    };
    let Some(id) = list_id(&id) else { return not_found(&web, &me) };
    let done = match q.done.as_str() {
        "reviewed" => "已审核，已报督导室确认。",
        "confirmed" => "已确认，各条目已列入整改台账并通知学校。",
        "returned" => "已退回，已通知学校。",
        _ => "",
    };
    match detail(&web, &me, id, StatusCode::OK, done, None, "").await {
        Ok(Some(r)) => r,
        Ok(None) => not_found(&web, &me),
        Err(e) => page(&web, Err(e)),
    }
}

/// The list's page; `None` when it is outside the person's view. `typed` is a form that came
/// back with the chat's `error`.
async fn detail(
    web: &Web,
    me: &Me,
    id: i64,
    status: StatusCode,
    done: &str,
    typed: Option<&Fields>,
    error: &str,
) -> anyhow::Result<Option<Response>> {
    let mut conn = web.app.db.acquire().await?;
    let Some(c) = rs::self_check_row_by_id(&mut conn, id).await? else { return Ok(None) };
    if me.actor.check_view_school(c.school_id, c.zone_id).is_err() {
        return Ok(None);
    }
    let dropped: Vec<&str> = typed.map(|t| all(t, "drop")).unwrap_or_default();
    let entries: Vec<_> = rs::self_check_all_lines(&mut conn, id)
        .await?
        .into_iter()
        .map(|(no, cat, sev, text, gone, item)| {
            context! {
                no, category => category_label(cat), severity => sev.label(), text, dropped => gone,
                item => item.map(dr::item_code).unwrap_or_default(),
                drop => dropped.contains(&no.to_string().as_str()),
            }
        })
        .collect();
    let step = step_of(&c.status).filter(|s| may_decide(me, *s, c.school_id));
    let ctx = context! {
        title => dr::self_check_code(id),
        list => line(web, &c),
        note => if c.status == "returned" { c.note.clone().unwrap_or_default() } else { String::new() },
        entries,
        review => step == Some(CommandId::SelfCheckReview),
        confirm => step == Some(CommandId::SelfCheckConfirm),
        done, error,
        reason => typed.map(|t| field(t, "reason").to_string()).unwrap_or_default(),
        ..web.frame(Some(me), "selfchecks")
    };
    Ok(Some(web.render(status, "selfcheck.html", ctx)))
}

/// `POST /selfchecks/<id>/review`: 审核自查 — `decision=pass` with the entries to drop
/// (`drop`, repeated), or `decision=return` with a `reason`.
pub(super) async fn review(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(fields): Form<Fields>,
) -> Response {
    decide(&web, &headers, &id, CommandId::SelfCheckReview, fields).await
}

/// `POST /selfchecks/<id>/confirm`: 确认自查 — `decision=pass` lists the entries on the
/// ledger, `decision=return` with a `reason` sends the list back to the school.
pub(super) async fn confirm(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(fields): Form<Fields>,
) -> Response {
    decide(&web, &headers, &id, CommandId::SelfCheckConfirm, fields).await
}

/// What came of a decision.
enum Decided {
    NotFound,
    Denied(String),
    Refused(String),
    Done(&'static str),
}

async fn decide(web: &Web, headers: &HeaderMap, id: &str, step: CommandId, fields: Fields) -> Response {
    let me = match signed_in(web, headers).await {
        Ok(me) => me,
        Err(r) => return r,
    };
    if let Some(r) = web.csrf_refusal(&me, field(&fields, "csrf")) {
        return r;
    }
    let Some(id) = list_id(id) else { return not_found(web, &me) };
    let back = format!("/selfchecks/{}", dr::self_check_code(id));
    let code = dr::self_check_code(id);
    let reason = field(&fields, "reason").trim().replace("\r\n", "\n");
    // Only the form's two buttons decide; anything else is not read as either.
    let returning = match field(&fields, "decision") {
        "return" => true,
        "pass" => false,
        _ => return refused(web, &me, id, &fields, "请选择“通过”或“退回”。").await,
    };
    if reason.chars().count() > REASON_CHARS {
        let text = format!("退回原因过长，请控制在{REASON_CHARS}字以内。");
        return refused(web, &me, id, &fields, &text).await;
    }
    // The chat command this form stands for.
    let verb = CommandSpec::get(step).names[0];
    let text = match (step, returning) {
        (_, true) => format!("{verb} {code} 退回 {reason}"),
        (CommandId::SelfCheckReview, false) => {
            let drops: Vec<&str> = all(&fields, "drop").into_iter().filter(|n| n.parse::<usize>().is_ok()).collect();
            if drops.is_empty() {
                format!("{verb} {code} 通过")
            } else {
                format!("{verb} {code} 通过 删除{}", drops.join(","))
            }
        }
        (_, false) => format!("{verb} {code}"),
    };
    let outcome = run(web, &me, id, step, &text, returning).await;
    if outcome.is_err() {
        web.app.snapshot.clear(); // the turn's transaction was rolled back
    }
    match outcome {
        Ok(Decided::NotFound) => not_found(web, &me),
        Ok(Decided::Denied(text)) => web.message_back(StatusCode::FORBIDDEN, &me, "无权办理", &text, &back),
        Ok(Decided::Refused(text)) => refused(web, &me, id, &fields, &text).await,
        Ok(Decided::Done(done)) => see_other(&web.base.page(&format!("{back}?done={done}")), None),
        Err(e) => page(web, Err(e)),
    }
}

/// The list's page again with the form as it was filled and the chat's reason.
async fn refused(web: &Web, me: &Me, id: i64, fields: &Fields, text: &str) -> Response {
    match detail(web, me, id, StatusCode::UNPROCESSABLE_ENTITY, "", Some(fields), text).await {
        Ok(Some(r)) => r,
        Ok(None) => not_found(web, me),
        Err(e) => page(web, Err(e)),
    }
}

/// The decision in one write transaction: in view (else "not found"), the person's to take
/// (else refused), then the chat's function on the form's text; unchanged means refused.
async fn run(web: &Web, me: &Me, id: i64, step: CommandId, text: &str, returning: bool) -> anyhow::Result<Decided> {
    let app = &web.app;
    let now = app.clock.now();
    let mut tx = crate::db::begin_write(&app.db).await?;
    let Some(before) = rs::self_check(&mut tx, id).await? else { return Ok(Decided::NotFound) };
    if me.actor.check_view_school(before.school_id, before.zone_id).is_err() {
        return Ok(Decided::NotFound);
    }
    let spec = CommandSpec::get(step);
    if !may(me, step) {
        let text = if step == CommandId::SelfCheckConfirm {
            "自查清单由督导室确认列入台账。"
        } else {
            "学校的自查清单由责任督学和督导室审核。"
        };
        return Ok(Decided::Denied(text.into()));
    }
    if !may_decide(me, step, before.school_id) {
        return Ok(Decided::Denied(format!(
            "{} 不属于您负责的学校（{}）。",
            dr::self_check_code(id),
            before.school_name
        )));
    }
    let turn = WebTurn::open(app, &mut tx, me.actor.person_id, text, now).await?;
    let mut ctx = turn.ctx(app, &mut tx, me.actor.clone(), now);
    let args = text.split_once(' ').map_or("", |(_, a)| a);
    crate::app::rectify::command(&mut ctx, step, args).await?;
    let after = rs::self_check(ctx.tx, id).await?.map(|c| c.status);
    if after.as_deref() == Some(before.status.as_str()) {
        let text = reply_text(&ctx);
        drop(ctx);
        drop(tx);
        // Rolled back: what the turn read into the shared snapshot may not have committed.
        app.snapshot.clear();
        return Ok(Decided::Refused(text));
    }
    let queued = turn.finish(ctx, spec.intent).await?;
    tx.commit().await?;
    if queued > 0 {
        app.outbox_notify.notify_waiters();
    }
    tracing::info!(
        person = me.actor.person_id,
        self_check = id,
        intent = spec.intent,
        "self-check decided from the web"
    );
    Ok(Decided::Done(match (returning, step) {
        (true, _) => "returned",
        (false, CommandId::SelfCheckReview) => "reviewed",
        (false, _) => "confirmed",
    }))
}
