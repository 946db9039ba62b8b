//! Task assignment (督办) commands: create, acknowledge (by command or by quoting the notice),
//! progress, submit, approve/return, show, mine, list, cancel, close, reassign, extend. The rules
//! (states, permissions, the create grammar, deadlines) live in `domain::task`; this module reads
//! and writes the store, sends notices through the outbox and records every change in the audit log.

mod commands;
mod reminders;
mod targets;

pub(crate) use commands::create_from_spec;
use commands::*;
pub use reminders::{register, schedules, sweep, SweepReport, JOB, SCHEDULE};
pub(crate) use targets::{mentions, resolve_targets, targets_as_typed, Addressees};

use crate::app::Ctx;
use crate::chat::{MediaRef, Segment};
use crate::domain::command::{CommandId, ParsedCommand};
use crate::domain::role::Role;
use crate::domain::task::{
    self as dt, check_deadline, fmt_deadline, next_state, parse_create, parse_task_ref, remaining, split_names,
    task_code, Action, AssignmentState, Op, PermissionError, Target, TaskStatus, TransitionError,
};
use crate::outbox::{Envelope, Recipient};
use crate::store::{
    self,
    tasks::{Assignment, Change, Event, PersonRef, Task},
};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::json;

/// More assignees than this in one task is a mistake (the county has ~300 people).
const MAX_ASSIGNEES: usize = 500;
/// Above this many assignees, `任务 T1` groups names by state instead of one line each.
const DETAIL_LINES: usize = 20;

/// Commands that are also everyday words ("收到", "完成", "通过"): in a group, without a task id,
/// a quoted task notice or an address to the bot, they are chatter and get no answer. Quoting a
/// bot message that is not about a task ("收到" to an announcement) is chatter too.
pub async fn is_chatter(ctx: &mut Ctx<'_>, cmd: &ParsedCommand) -> anyhow::Result<bool> {
    use CommandId::*;
    let everyday = matches!(
        cmd.id,
        TaskAck
            | TaskProgress
            | TaskDone
            | TaskApprove
            | TaskReturn
            | TaskShow
            | TaskCancel
            | TaskReassign
            | TaskClose
            | TaskExtend
    );
    if !everyday || parse_task_ref(&cmd.args).is_some() {
        return Ok(false);
    }
    if ctx.msg.reply_to().is_some() {
        return Ok(quoted(ctx).await?.is_none());
    }
    Ok(!ctx.msg.to_me)
}

pub async fn handle(ctx: &mut Ctx<'_>, id: CommandId, args: &str) -> anyhow::Result<()> {
    if ctx.actor.is_none() {
        return Ok(());
    }
    match id {
        CommandId::TaskCreate => create(ctx, args).await,
        CommandId::TaskAck => acknowledge(ctx, args).await,
        CommandId::TaskProgress => progress(ctx, args).await,
        CommandId::TaskDone => submit(ctx, args).await,
        CommandId::TaskApprove => approve(ctx, args).await,
        CommandId::TaskReturn => return_result(ctx, args).await,
        CommandId::TaskShow => show(ctx, args).await,
        CommandId::TaskMine => mine(ctx).await,
        CommandId::TaskList => list(ctx, args).await,
        CommandId::TaskCancel => cancel(ctx, args).await,
        CommandId::TaskReassign => reassign(ctx, args).await,
        CommandId::TaskClose => close(ctx, args).await,
        CommandId::TaskExtend => extend(ctx, args).await,
        _ => Ok(()),
    }
}

// ---- helpers ----

fn local(tz: Tz, t: DateTime<Utc>) -> NaiveDateTime {
    t.with_timezone(&tz).naive_local()
}

fn to_utc(tz: Tz, t: NaiveDateTime) -> Option<DateTime<Utc>> {
    tz.from_local_datetime(&t).earliest().map(|t| t.with_timezone(&Utc))
}

fn deadline_text(tz: Tz, task: &Task, now: DateTime<Utc>) -> String {
    fmt_deadline(local(tz, task.deadline), local(tz, now))
}

/// The task (and assignment) of the bot message this one quotes.
async fn quoted(ctx: &mut Ctx<'_>) -> anyhow::Result<Option<(i64, Option<i64>)>> {
    let Some(id) = ctx.msg.reply_to().map(str::to_string) else { return Ok(None) };
    let channel = ctx.msg.chat.channel.clone();
    Ok(store::tasks::by_platform_message(ctx.tx, &channel, &id).await?)
}

/// Images and files carried by the message: the attachments of a result.
fn attachments(ctx: &Ctx<'_>) -> Vec<MediaRef> {
    ctx.msg
        .segments
        .iter()
        .filter_map(|s| match s {
            Segment::Image { media } | Segment::File { media } => Some(media.clone()),
            _ => None,
        })
        .collect()
}

/// Queues a notice to a person about a task; quoting it later addresses that task.
async fn notify(
    ctx: &mut Ctx<'_>,
    key: String,
    person_id: i64,
    text: String,
    task_id: i64,
    assignment_id: Option<i64>,
) -> anyhow::Result<()> {
    store::tasks::record_message(ctx.tx, &key, task_id, assignment_id).await?;
    ctx.outgoing.push(Envelope::new(
        key,
        Recipient::Person(person_id),
        vec![Segment::text(text)],
        format!("task:{}", task_code(task_id)),
    ));
    Ok(())
}

async fn audit(ctx: &mut Ctx<'_>, task_id: i64, action: &str, detail: serde_json::Value) -> anyhow::Result<()> {
    ctx.audit("task", Some(task_code(task_id)), action, detail).await?;
    Ok(())
}

async fn event(
    ctx: &mut Ctx<'_>,
    task_id: i64,
    assignment_id: Option<i64>,
    kind: &str,
    body: Option<&str>,
    media: &[MediaRef],
) -> anyhow::Result<i64> {
    let e = Event {
        task_id,
        assignment_id,
        actor_id: ctx.actor.as_ref().map(|a| a.person_id),
        kind,
        body,
        media,
        inbound_id: Some(ctx.inbound_id),
    };
    Ok(store::tasks::add_event(ctx.tx, e, ctx.now).await?)
}

fn actor_role(ctx: &Ctx<'_>) -> Role {
    ctx.actor.as_ref().map_or(Role::SchoolContact, |a| a.role)
}

fn deny(ctx: &mut Ctx<'_>, e: PermissionError, code: &str) {
    match e {
        PermissionError::SupervisorsOnly => ctx.reply("抱歉，只有督导室人员可以这样操作。"),
        PermissionError::NotAssignee => ctx.reply(format!("您不是任务{code}的承办人，不能代他人办理。")),
    }
}

/// The text every assignee receives when given a task.
fn assignment_notice(tz: Tz, task: &Task, now: DateTime<Utc>) -> String {
    let code = task.code();
    let mut lines = vec![
        format!("【督办任务 {code}】{}", task.title),
        format!("截止：{}（{}）", deadline_text(tz, task, now), remaining(task.deadline, now)),
    ];
    if !task.description.is_empty() {
        lines.push(format!("说明：{}", task.description));
    }
    if task.requires_result {
        lines.push("要求：需提交书面结果或材料（文字说明，可附图片或文件）。".into());
    }
    lines.push(format!("布置人：{}（督导室）", task.creator_name));
    lines.push(format!(
        "请回复“收到 {code}”确认（也可引用本消息回复“收到”）；办理中可发“进展 {code} 情况”，完成后发“完成 {code} 结果说明”。"
    ));
    lines.join("\n")
}

/// A task id from the arguments or from the quoted notice; the rest of the arguments; and the
/// assignment the quoted notice was about.
struct TaskRef {
    task: Task,
    rest: String,
    quoted_assignment: Option<i64>,
}

/// Resolves the task a supervisor command is about. Replies and returns `None` when there is none.
async fn task_ref(ctx: &mut Ctx<'_>, args: &str, example: &str) -> anyhow::Result<Option<TaskRef>> {
    let (id, rest, quoted_assignment) = match parse_task_ref(args) {
        Some((id, rest)) => (id, rest.to_string(), None),
        None => match quoted(ctx).await? {
            Some((id, a)) => (id, args.trim().to_string(), a),
            None => {
                ctx.reply(format!("请写明任务编号，例如：{example}"));
                return Ok(None);
            }
        },
    };
    match store::tasks::get(ctx.tx, id).await? {
        Some(task) => Ok(Some(TaskRef { task, rest, quoted_assignment })),
        None => {
            ctx.reply(format!("没有找到任务{}。发送“任务列表”查看进行中的任务。", task_code(id)));
            Ok(None)
        }
    }
}

fn ensure_open(ctx: &mut Ctx<'_>, task: &Task) -> bool {
    if task.status == TaskStatus::Open {
        return true;
    }
    ctx.reply(format!("任务{}{}，不能再办理。", task.code(), task.status.label()));
    false
}

/// The assignee's own live assignment on the task named (or quoted, or the only one that fits).
struct Own {
    task: Task,
    assignment: Assignment,
    rest: String,
    via_quote: bool,
}

async fn own_assignment(ctx: &mut Ctx<'_>, args: &str, action: Action, verb: &str) -> anyhow::Result<Option<Own>> {
    let Some(actor) = ctx.actor.clone() else { return Ok(None) };
    let (task_id, rest, via_quote) = match parse_task_ref(args) {
        Some((id, rest)) => (id, rest.to_string(), false),
        None => match quoted(ctx).await? {
            Some((id, _)) => (id, args.trim().to_string(), true),
            None => {
                // No id: the person's only open assignment this action fits.
                let open = store::tasks::open_for_person(ctx.tx, actor.person_id).await?;
                let fits: Vec<&(Task, Assignment)> =
                    open.iter().filter(|(_, a)| next_state(a.state, action).is_ok()).collect();
                match fits.as_slice() {
                    [] => {
                        ctx.reply(format!("您目前没有需要{verb}的任务。发送“我的任务”查看。"));
                        return Ok(None);
                    }
                    [(t, _)] => (t.id, args.trim().to_string(), false),
                    many => {
                        let list: Vec<String> = many.iter().map(|(t, _)| format!("{} {}", t.code(), t.title)).collect();
                        ctx.reply(format!(
                            "您有{}项任务：{}。请写明任务编号，例如：{verb} {}",
                            many.len(),
                            list.join("；"),
                            many[0].0.code()
                        ));
                        return Ok(None);
                    }
                }
            }
        },
    };
    let code = task_code(task_id);
    let Some(task) = store::tasks::get(ctx.tx, task_id).await? else {
        ctx.reply(format!("没有找到任务{code}。发送“我的任务”查看您的任务。"));
        return Ok(None);
    };
    let assignment = store::tasks::assignment_of(ctx.tx, task_id, actor.person_id).await?;
    // A former assignee of a cancelled or closed task hears why, not "not your task".
    if task.status != TaskStatus::Open && store::tasks::ever_assigned(ctx.tx, task_id, actor.person_id).await? {
        ensure_open(ctx, &task);
        return Ok(None);
    }
    if let Err(e) = dt::authorize(actor.role, Op::Work, assignment.is_some()) {
        deny(ctx, e, &code);
        return Ok(None);
    }
    let Some(assignment) = assignment else { return Ok(None) };
    if !ensure_open(ctx, &task) {
        return Ok(None);
    }
    Ok(Some(Own { task, assignment, rest, via_quote }))
}

fn transition_reply(code: &str, e: TransitionError) -> String {
    match e {
        TransitionError::AwaitingReview => format!("您已提交任务{code}的结果，正在等待督导室审核。"),
        TransitionError::AlreadyApproved => format!("您的任务{code}已通过审核，无需再办理。"),
        TransitionError::Ended => format!("您在任务{code}中的承办已结束（撤销、改派或办结），无需再办理。"),
        other => format!("任务{code}{other}。"),
    }
}

/// The person's open tasks a bare "收到" could acknowledge: (code, title).
pub(crate) async fn awaiting_ack(ctx: &mut Ctx<'_>, person_id: i64) -> anyhow::Result<Vec<(String, String)>> {
    let open = store::tasks::open_for_person(ctx.tx, person_id).await?;
    Ok(open
        .into_iter()
        .filter(|(_, a)| next_state(a.state, Action::Acknowledge).is_ok())
        .map(|(t, _)| (t.code(), t.title))
        .collect())
}

/// Whether a recipient's copy has a route now (bound account or a group for them).
pub(crate) async fn reachable(ctx: &mut Ctx<'_>, person_id: i64) -> anyhow::Result<bool> {
    let to = Recipient::Person(person_id);
    Ok(crate::outbox::route::resolve(ctx.tx, &ctx.app.directory, &to, false).await?.is_some())
}

/// Tasks (督办): assignment, the assignee's moves, review, and the reminder sweep.
pub struct Tasks;

#[async_trait::async_trait]
impl crate::app::registry::Workflow for Tasks {
    fn name(&self) -> &'static str {
        "tasks"
    }
    fn commands(&self) -> &'static [CommandId] {
        &[
            CommandId::TaskCreate,
            CommandId::TaskAck,
            CommandId::TaskProgress,
            CommandId::TaskDone,
            CommandId::TaskApprove,
            CommandId::TaskReturn,
            CommandId::TaskShow,
            CommandId::TaskMine,
            CommandId::TaskList,
            CommandId::TaskCancel,
            CommandId::TaskReassign,
            CommandId::TaskClose,
            CommandId::TaskExtend,
        ]
    }
    async fn command(&self, ctx: &mut Ctx<'_>, id: CommandId, args: &str) -> anyhow::Result<Option<&'static str>> {
        handle(ctx, id, args).await?;
        Ok(None)
    }
    fn jobs(&self, jobs: &mut crate::scheduler::Jobs) {
        register(jobs);
    }
    fn schedules(&self, settings: &crate::config::Settings) -> Vec<crate::config::ScheduleSettings> {
        schedules(settings)
    }
}
