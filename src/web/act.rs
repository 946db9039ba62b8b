//! Acting from the platform: the forms on an item's page (销号, 退回) and on a task's page (收到,
//! 完成). Each goes through the same function as the chat command (`app::rectify::move_item`:
//! the domain's transition rule, the same checks, history, notices to the school; for tasks the
//! chat's `task::handle` itself, run on the form as the person's message, `app::web::WebTurn`),
//! in one write transaction with its audit entry (`via = web`) and its outbox rows; then back to
//! the page (303).

use super::pages::{page, signed_in};
use super::{see_other, Me, Web};
use crate::app::rectify::{denied_text, move_item, party_for, Moved, Origin};
use crate::app::web::WebTurn;
use crate::domain::rectify::{item_code, Action};
use crate::store::rectify as rs;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use std::sync::Arc;

/// The longest reason a form may carry (characters); a chat message has no such cap, but a
/// form field should not carry a document.
const NOTE_CHARS: usize = 500;

#[derive(Deserialize, Default)]
pub(super) struct ActForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    note: String,
}

/// `POST /ledger/<id>/close`: 销号, as `销号 W12 [情况]` in chat.
pub(super) async fn close(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<ActForm>,
) -> Response {
    act(&web, &headers, &id, Action::Close, form).await
}

/// `POST /ledger/<id>/return`: 退回 with a reason, as `退回 W12 <原因>` in chat.
pub(super) async fn give_back(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<ActForm>,
) -> Response {
    act(&web, &headers, &id, Action::Return, form).await
}

/// What came of a form.
enum Outcome {
    NotFound,
    Denied(String),
    Refused { text: String, not_allowed: bool },
    Done(i64),
}

async fn act(web: &Web, headers: &HeaderMap, id: &str, action: Action, form: ActForm) -> Response {
    let me = match signed_in(web, headers).await {
        Ok(me) => me,
        Err(r) => return r,
    };
    if let Some(r) = web.csrf_refusal(&me, &form.csrf) {
        return r;
    }
    let Some(id) = super::pages::item_id(id) else { return not_found(web, &me) };
    if form.note.chars().count() > NOTE_CHARS {
        let text = format!("说明过长，请控制在{NOTE_CHARS}字以内。");
        return web.message_back(StatusCode::UNPROCESSABLE_ENTITY, &me, "未能办理", &text, &item_path(id));
    }
    match run(web, &me, id, action, &form.note).await {
        Ok(Outcome::NotFound) => not_found(web, &me),
        Ok(Outcome::Denied(text)) => web.message_back(StatusCode::FORBIDDEN, &me, "无权办理", &text, &item_path(id)),
        Ok(Outcome::Refused { text, not_allowed: true }) => {
            web.message_back(StatusCode::FORBIDDEN, &me, "无权办理", &text, &item_path(id))
        }
        Ok(Outcome::Refused { text, not_allowed: false }) => {
            web.message_back(StatusCode::CONFLICT, &me, "未能办理", &text, &item_path(id))
        }
        Ok(Outcome::Done(id)) => {
            let done = if action == Action::Close { "closed" } else { "returned" };
            see_other(&web.base.page(&format!("{}?done={done}", item_path(id))), None)
        }
        Err(e) => page(web, Err(e)),
    }
}

fn item_path(id: i64) -> String {
    format!("/ledger/{}", item_code(id))
}

fn not_found(web: &Web, me: &Me) -> Response {
    web.message(StatusCode::NOT_FOUND, Some(me), "没有找到", "没有找到这个问题，或您无权查看。")
}

/// The move in one write transaction: scope (outside the person's view it is "not found"),
/// the chat's rule for their relation to the school, then `move_item` and its notices queued.
async fn run(web: &Web, me: &Me, id: i64, action: Action, note: &str) -> anyhow::Result<Outcome> {
    let app = &web.app;
    let now = app.clock.now();
    let mut tx = crate::db::begin_write(&app.db).await?;
    let Some(it) = rs::get(&mut tx, id).await? else { return Ok(Outcome::NotFound) };
    if me.actor.check_view_school(it.school_id, it.zone_id).is_err() {
        return Ok(Outcome::NotFound);
    }
    let party = match party_for(&me.actor, it.school_id) {
        Ok(p) => p,
        Err(d) => return Ok(Outcome::Denied(denied_text(d, &it))),
    };
    let mut out = Vec::new();
    let moved = move_item(&mut tx, app, now, &me.actor, party, it, action, note, &[], Origin::Web, &mut out).await?;
    match moved {
        Moved::Refused { text, not_allowed } => Ok(Outcome::Refused { text, not_allowed }),
        Moved::Done { .. } => {
            let mut queued = 0;
            for env in out {
                queued += crate::outbox::enqueue(&mut tx, &app.directory, now, env).await?;
            }
            tx.commit().await?;
            if queued > 0 {
                app.outbox_notify.notify_waiters();
            }
            tracing::info!(person = me.actor.person_id, item = id, action = action.as_str(), "item moved from the web");
            Ok(Outcome::Done(id))
        }
    }
}

/// The assignee's moves on a task's page.
#[derive(Clone, Copy, PartialEq, Eq)]
enum TaskAct {
    Ack,
    Done,
}

/// `POST /tasks/<id>/ack`: 收到, as `收到 T3` in chat.
pub(super) async fn task_ack(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<ActForm>,
) -> Response {
    task_act(&web, &headers, &id, TaskAct::Ack, form).await
}

/// `POST /tasks/<id>/done`: 完成 with the result, as `完成 T3 结果说明` in chat.
pub(super) async fn task_done(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<ActForm>,
) -> Response {
    task_act(&web, &headers, &id, TaskAct::Done, form).await
}

async fn task_act(web: &Web, headers: &HeaderMap, id: &str, act: TaskAct, form: ActForm) -> Response {
    let me = match signed_in(web, headers).await {
        Ok(me) => me,
        Err(r) => return r,
    };
    if let Some(r) = web.csrf_refusal(&me, &form.csrf) {
        return r;
    }
    let not_found = |web: &Web, me: &Me| {
        web.message(StatusCode::NOT_FOUND, Some(me), "没有找到", "没有找到这个任务，或您无权查看。")
    };
    let parsed = crate::domain::task::parse_task_ref(id).or_else(|| id.parse::<i64>().ok().map(|n| (n, "")));
    let Some((id, "")) = parsed else { return not_found(web, &me) };
    let back = format!("/tasks/{}", crate::domain::task::task_code(id));
    let outcome = run_task(web, &me, id, act, form.note.trim()).await;
    if outcome.is_err() {
        web.app.snapshot.clear(); // the turn's transaction was rolled back
    }
    match outcome {
        Ok(Outcome::NotFound) => not_found(web, &me),
        Ok(Outcome::Denied(text)) => web.message_back(StatusCode::FORBIDDEN, &me, "无权办理", &text, &back),
        Ok(Outcome::Refused { text, .. }) => web.message_back(StatusCode::CONFLICT, &me, "未能办理", &text, &back),
        Ok(Outcome::Done(_)) => {
            let done = if act == TaskAct::Ack { "acknowledged" } else { "submitted" };
            see_other(&web.base.page(&format!("{back}?done={done}")), None)
        }
        Err(e) => page(web, Err(e)),
    }
}

/// The task's command run on the form as the person's message: visible to them (else "not
/// found"), theirs to work on (else refused), then `task::handle` exactly as for the chat
/// command. When it moved nothing (a refusal), the transaction is dropped and the answer it
/// gave is shown on the page instead of being sent.
async fn run_task(web: &Web, me: &Me, id: i64, act: TaskAct, note: &str) -> anyhow::Result<Outcome> {
    use crate::domain::command::{CommandId, CommandSpec};
    use crate::domain::task::{self as dt, AssignmentState, Op};
    let app = &web.app;
    let now = app.clock.now();
    let mut tx = crate::db::begin_write(&app.db).await?;
    let Some(task) = crate::store::tasks::get(&mut tx, id).await? else { return Ok(Outcome::NotFound) };
    let mine = crate::store::tasks::assignment_of(&mut tx, id, me.actor.person_id).await?;
    let live = mine.as_ref().filter(|a| a.state != AssignmentState::Cancelled);
    if dt::authorize(me.actor.role, Op::View, live.is_some()).is_err() {
        return Ok(Outcome::NotFound);
    }
    let command = if act == TaskAct::Ack { CommandId::TaskAck } else { CommandId::TaskDone };
    let spec = CommandSpec::get(command);
    let Some(before) = live.map(|a| (a.state, a.submissions)) else {
        return Ok(Outcome::Denied("只有任务的承办人可以确认收到或提交结果。".into()));
    };
    if !spec.roles.contains(&me.actor.role) {
        return Ok(Outcome::Denied("您的账号不能办理这一步。".into()));
    }
    let code = task.code();
    let args = if note.is_empty() { code.clone() } else { format!("{code} {note}") };
    let text = format!("{} {args}", if act == TaskAct::Ack { "收到" } else { "完成" });
    let turn = WebTurn::open(app, &mut tx, me.actor.person_id, &text, now).await?;
    let mut ctx = turn.ctx(app, &mut tx, me.actor.clone(), now);
    crate::app::task::handle(&mut ctx, command, &args).await?;
    let after =
        crate::store::tasks::assignment_of(ctx.tx, id, me.actor.person_id).await?.map(|a| (a.state, a.submissions));
    if after == Some(before) {
        let text = crate::app::web::reply_text(&ctx);
        drop(ctx);
        drop(tx);
        // Rolled back: what the turn read into the shared snapshot may not have committed.
        app.snapshot.clear();
        return Ok(Outcome::Refused { text, not_allowed: false });
    }
    let queued = turn.finish(ctx, spec.intent).await?;
    tx.commit().await?;
    if queued > 0 {
        app.outbox_notify.notify_waiters();
    }
    tracing::info!(person = me.actor.person_id, task = id, intent = spec.intent, "task moved from the web");
    Ok(Outcome::Done(id))
}
