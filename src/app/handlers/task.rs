//! Task assignment (督办) commands: create, acknowledge (by command or by quoting the notice),
//! progress, submit, approve/return, show, mine, list, cancel, close, reassign, extend. The rules
//! (states, permissions, the create grammar, deadlines) live in `domain::task`; this module reads
//! and writes the store, sends notices through the outbox and records every change in the audit log.

mod reminders;

pub use reminders::{register, schedules, sweep, SweepReport, JOB, SCHEDULE};

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

// ---- create ----

/// What a target name turned out to be.
enum Resolved {
    People(Vec<PersonRef>, Vec<String>),
    Problem(String),
    NotFound,
}

async fn resolve_named(ctx: &mut Ctx<'_>, name: &str) -> anyhow::Result<Resolved> {
    let people = store::people::find_people(ctx.tx, name).await?;
    match people.as_slice() {
        [p] => {
            return Ok(Resolved::People(
                vec![PersonRef { id: p.id, code: p.code.clone(), name: p.name.clone() }],
                vec![],
            ))
        }
        [] => {}
        many => {
            let list: Vec<String> = many.iter().map(|p| format!("{} {}", p.code, p.name)).collect();
            return Ok(Resolved::Problem(format!("“{name}”有多位同名人员（{}），请改用编号。", list.join("、"))));
        }
    }
    if let Some(zone) = store::people::find_zone(ctx.tx, name).await? {
        let inspectors = store::tasks::inspectors(ctx.tx, Some(zone.id)).await?;
        if inspectors.is_empty() {
            return Ok(Resolved::Problem(format!("{}目前没有在职督学。", zone.name)));
        }
        return Ok(Resolved::People(inspectors, vec![]));
    }
    if let Some(prefix) = dt::zone_schools_prefix(name) {
        if let Some(zone) = store::people::find_zone(ctx.tx, prefix).await? {
            let schools = store::tasks::schools(ctx.tx, Some(zone.id)).await?;
            return school_contacts(ctx, &schools).await;
        }
    }
    let schools = store::people::find_schools(ctx.tx, name).await?;
    match schools.as_slice() {
        [] => Ok(Resolved::NotFound),
        [s] => school_contacts(ctx, &[(s.id, s.name.clone())]).await,
        many => {
            let names: Vec<&str> = many.iter().take(5).map(|s| s.name.as_str()).collect();
            let more = if many.len() > 5 { format!("等{}所", many.len()) } else { String::new() };
            Ok(Resolved::Problem(format!("“{name}”对应多所学校：{}{more}，请写全称。", names.join("、"))))
        }
    }
}

async fn school_contacts(ctx: &mut Ctx<'_>, schools: &[(i64, String)]) -> anyhow::Result<Resolved> {
    let (mut people, mut missing) = (Vec::new(), Vec::new());
    for (id, name) in schools {
        match store::tasks::school_contact(ctx.tx, *id).await? {
            Some(p) => people.push(p),
            None => missing.push(name.clone()),
        }
    }
    if people.is_empty() && !missing.is_empty() {
        return Ok(Resolved::Problem(format!("{}没有登记学校联络员或校长。", missing.join("、"))));
    }
    Ok(Resolved::People(people, missing))
}

/// Platform mentions in the message other than of the bot: (account, display name).
pub(crate) fn mentions(ctx: &Ctx<'_>) -> Vec<(String, String)> {
    let bot = &ctx.app.settings.service.bot_name;
    ctx.msg
        .segments
        .iter()
        .filter_map(|s| match s {
            Segment::Mention { user_id, name } if user_id != "bot" && name != bot => {
                Some((user_id.clone(), name.clone()))
            }
            _ => None,
        })
        .collect()
}

/// The targets as the sender typed them, mentions last ("全体督学", "第一督学责任区", "@张三"),
/// kept with a task or notice to show whom it was meant for.
pub(crate) fn targets_as_typed(targets: &[Target], mentions: &[(String, String)]) -> Vec<String> {
    targets
        .iter()
        .map(|t| match t {
            Target::AllInspectors => "全体督学".to_string(),
            Target::AllSchools => "全部学校".to_string(),
            Target::Named(n) => n.clone(),
        })
        .chain(mentions.iter().map(|(_, n)| format!("@{n}")))
        .collect()
}

/// The people a list of targets (as typed) and platform mentions mean. Shared by tasks and
/// notices so both read 对象 the same way.
pub(crate) struct Addressees {
    /// Without duplicates, in the order found.
    pub people: Vec<PersonRef>,
    /// Why the list cannot be used as typed (unknown, ambiguous or unbound names); nothing
    /// should be sent while there are any.
    pub problems: Vec<String>,
    /// Schools with nobody registered to receive for them.
    pub no_contact: Vec<String>,
}

pub(crate) async fn resolve_targets(
    ctx: &mut Ctx<'_>,
    targets: &[Target],
    mentions: &[(String, String)],
) -> anyhow::Result<Addressees> {
    let mut people: Vec<PersonRef> = Vec::new();
    let (mut not_found, mut problems, mut no_contact) = (Vec::new(), Vec::new(), Vec::new());
    for (account, name) in mentions {
        match store::tasks::person_for_account(ctx.tx, ctx.platform, account).await? {
            Some(p) => people.push(p),
            None => problems.push(format!("@{name} 尚未绑定身份，请改写姓名或编号。")),
        }
    }
    for target in targets {
        match target {
            Target::AllInspectors => people.extend(store::tasks::inspectors(ctx.tx, None).await?),
            Target::AllSchools => {
                let schools = store::tasks::schools(ctx.tx, None).await?;
                match school_contacts(ctx, &schools).await? {
                    Resolved::People(p, missing) => {
                        people.extend(p);
                        no_contact.extend(missing);
                    }
                    Resolved::Problem(m) => problems.push(m),
                    Resolved::NotFound => {}
                }
            }
            Target::Named(name) => match resolve_named(ctx, name).await? {
                Resolved::People(p, missing) => {
                    people.extend(p);
                    no_contact.extend(missing);
                }
                Resolved::Problem(m) => problems.push(m),
                Resolved::NotFound => {
                    // A misspelt school name gets a suggestion.
                    let hint = store::people::suggest_school(ctx.tx, name, |_| true).await?;
                    not_found.push(match hint {
                        Some(h) => format!("“{name}”（是否为“{h}”？）"),
                        None => format!("“{name}”"),
                    });
                }
            },
        }
    }
    if !not_found.is_empty() {
        let ex = crate::app::examples::load(ctx.tx).await?;
        problems.insert(
            0,
            format!(
                "没有找到人员、责任区或学校：{}。请检查名称，或改用编号（如 {}、{}）。",
                not_found.join("、"),
                ex.person_code,
                ex.zone_code
            ),
        );
    }
    let mut seen = std::collections::HashSet::new();
    people.retain(|p| seen.insert(p.id));
    Ok(Addressees { people, problems, no_contact })
}

async fn create(ctx: &mut Ctx<'_>, args: &str) -> anyhow::Result<()> {
    let Some(actor) = ctx.actor.clone() else { return Ok(()) };
    if let Err(e) = dt::authorize(actor.role, Op::Create, false) {
        deny(ctx, e, "");
        return Ok(());
    }
    let tz = ctx.app.tz;
    let mentions = mentions(ctx);
    let now_local = local(tz, ctx.now);
    let spec = match parse_create(args, mentions.len(), now_local, ctx.app.settings.tasks.default_time()) {
        Ok(s) => s,
        Err(e) => {
            let ex = crate::app::examples::load(ctx.tx).await?;
            ctx.reply(e.message(&ex));
            return Ok(());
        }
    };
    let Addressees { people, problems, no_contact } = resolve_targets(ctx, &spec.targets, &mentions).await?;
    if !problems.is_empty() {
        ctx.reply(format!("任务未布置。{}", problems.join("\n")));
        return Ok(());
    }
    if people.is_empty() {
        ctx.reply("任务未布置：任务对象中没有可通知的人员。");
        return Ok(());
    }
    if people.len() > MAX_ASSIGNEES {
        ctx.reply(format!("任务未布置：承办人共{}人，超过上限{MAX_ASSIGNEES}人，请缩小范围。", people.len()));
        return Ok(());
    }
    let Some(deadline) = to_utc(tz, spec.deadline) else {
        ctx.reply(dt::CreateError::BadDeadline(spec.deadline.to_string()).to_string());
        return Ok(());
    };
    let targets_json = targets_as_typed(&spec.targets, &mentions);
    let new = store::tasks::NewTask {
        title: &spec.title,
        description: &spec.description,
        requires_result: spec.requires_result,
        targets: json!(targets_json),
        deadline,
        created_by: actor.person_id,
        inbound_id: Some(ctx.inbound_id),
    };
    let task_id = store::tasks::create(ctx.tx, new, ctx.now).await?;
    let Some(task) = store::tasks::get(ctx.tx, task_id).await? else { return Ok(()) };
    let code = task.code();
    event(ctx, task_id, None, "created", Some(&spec.title), &[]).await?;
    let notice = assignment_notice(tz, &task, ctx.now);
    let mut unreachable = Vec::new();
    for p in &people {
        let aid = store::tasks::add_assignment(ctx.tx, task_id, p.id, ctx.now).await?;
        notify(ctx, format!("task:{code}:assign:{aid}"), p.id, notice.clone(), task_id, Some(aid)).await?;
        let route = crate::outbox::route::resolve(ctx.tx, &ctx.app.directory, &Recipient::Person(p.id), false).await?;
        if route.is_none() {
            unreachable.push(p.name.clone());
        }
    }
    audit(
        ctx,
        task_id,
        "created",
        json!({
            "title": spec.title,
            "deadline": crate::db::ts(deadline),
            "requires_result": spec.requires_result,
            "targets": targets_json,
            "assignees": people.iter().map(|p| p.code.clone()).collect::<Vec<_>>(),
        }),
    )
    .await?;
    let names: Vec<&str> = people.iter().take(30).map(|p| p.name.as_str()).collect();
    let more = if people.len() > 30 { format!("等{}人", people.len()) } else { String::new() };
    let mut lines = vec![
        format!("已布置任务 {code}：{}", task.title),
        format!(
            "截止：{}{}",
            deadline_text(tz, &task, ctx.now),
            if task.requires_result { "｜需提交材料" } else { "" }
        ),
        format!("承办人（{}）：{}{more}", people.len(), names.join("、")),
    ];
    if !no_contact.is_empty() {
        lines.push(format!("以下学校没有登记学校联络员或校长，未能布置：{}。", no_contact.join("、")));
    }
    if !unreachable.is_empty() {
        lines.push(format!(
            "其中{}人暂时无法送达（尚未绑定聊天账号）：{}；绑定后会自动补发。",
            unreachable.len(),
            unreachable.iter().take(10).cloned().collect::<Vec<_>>().join("、")
        ));
    }
    lines.push(format!("已通知承办人。发送“任务 {code}”查看进度。"));
    ctx.reply(lines.join("\n"));
    Ok(())
}

// ---- the assignee's moves ----

async fn acknowledge(ctx: &mut Ctx<'_>, args: &str) -> anyhow::Result<()> {
    let Some(own) = own_assignment(ctx, args, Action::Acknowledge, "收到").await? else { return Ok(()) };
    let (task, a) = (&own.task, &own.assignment);
    let code = task.code();
    match next_state(a.state, Action::Acknowledge) {
        Ok(state) => {
            let via = if own.via_quote { "quote" } else { "command" };
            let change = Change { ack_via: Some(via), ..Default::default() };
            store::tasks::set_state(ctx.tx, a.id, state, change, ctx.now).await?;
            event(ctx, task.id, Some(a.id), "acknowledged", None, &[]).await?;
            audit(ctx, task.id, "acknowledged", json!({ "assignment": a.id, "person": a.person_code, "via": via }))
                .await?;
            let tz = ctx.app.tz;
            ctx.reply(format!(
                "已确认收到任务 {code}“{}”，截止{}。完成后请发送“完成 {code} 结果说明”。",
                task.title,
                deadline_text(tz, task, ctx.now)
            ));
        }
        Err(TransitionError::AlreadyAcknowledged) => {
            ctx.reply(format!("您已确认过任务 {code}（当前：{}）。", a.state.label()));
        }
        Err(e) => ctx.reply(transition_reply(&code, e)),
    }
    Ok(())
}

async fn progress(ctx: &mut Ctx<'_>, args: &str) -> anyhow::Result<()> {
    let Some(own) = own_assignment(ctx, args, Action::Progress, "进展").await? else { return Ok(()) };
    let (task, a) = (&own.task, &own.assignment);
    let code = task.code();
    let note = own.rest.trim();
    if note.is_empty() {
        ctx.reply(format!("请写明进展情况，例如：进展 {code} 已完成3所学校的检查"));
        return Ok(());
    }
    if note.chars().count() > dt::MAX_RESULT_CHARS {
        ctx.reply(format!("进展说明太长（最多{}字）。", dt::MAX_RESULT_CHARS));
        return Ok(());
    }
    match next_state(a.state, Action::Progress) {
        Ok(state) => {
            let change = Change { ack_via: Some("progress"), progress_note: Some(note), ..Default::default() };
            store::tasks::set_state(ctx.tx, a.id, state, change, ctx.now).await?;
            event(ctx, task.id, Some(a.id), "progress", Some(note), &[]).await?;
            audit(ctx, task.id, "progress", json!({ "assignment": a.id, "person": a.person_code })).await?;
            ctx.reply(format!("已记录任务 {code} 的进展。完成后请发送“完成 {code} 结果说明”。"));
        }
        Err(e) => ctx.reply(transition_reply(&code, e)),
    }
    Ok(())
}

async fn submit(ctx: &mut Ctx<'_>, args: &str) -> anyhow::Result<()> {
    let Some(own) = own_assignment(ctx, args, Action::Submit, "完成").await? else { return Ok(()) };
    let (task, a) = (&own.task, &own.assignment);
    let code = task.code();
    let text = own.rest.trim().to_string();
    let media = attachments(ctx);
    if task.requires_result && text.is_empty() && media.is_empty() {
        ctx.reply(format!(
            "任务 {code} 需提交书面结果或材料。请发送“完成 {code} 结果说明”，可在同一条消息里附图片或文件。"
        ));
        return Ok(());
    }
    if text.chars().count() > dt::MAX_RESULT_CHARS {
        ctx.reply(format!("结果说明太长（最多{}字），请精简或以文件形式附上。", dt::MAX_RESULT_CHARS));
        return Ok(());
    }
    let state = match next_state(a.state, Action::Submit) {
        Ok(s) => s,
        Err(e) => {
            ctx.reply(transition_reply(&code, e));
            return Ok(());
        }
    };
    let change = Change { ack_via: Some("submit"), result: Some((&text, &media)), ..Default::default() };
    store::tasks::set_state(ctx.tx, a.id, state, change, ctx.now).await?;
    let eid = event(ctx, task.id, Some(a.id), "submitted", Some(&text), &media).await?;
    let round = a.submissions + 1;
    audit(
        ctx,
        task.id,
        "submitted",
        json!({ "assignment": a.id, "person": a.person_code, "round": round, "attachments": media.len() }),
    )
    .await?;
    let mut lines = vec![format!(
        "【任务提交】{code}“{}”：{}提交了结果{}。",
        task.title,
        a.person_name,
        if round > 1 { format!("（第{round}次）") } else { String::new() }
    )];
    if !text.is_empty() {
        lines.push(format!("结果：{}", crate::domain::text::truncate_chars(&text, 500)));
    }
    if !media.is_empty() {
        lines.push(format!("附件：{}个", media.len()));
    }
    lines.push(format!(
        "请回复“通过 {code} {name}”或“退回 {code} {name} 原因”（也可引用本消息回复“通过”或“退回 原因”）。",
        name = a.person_name
    ));
    let creator = task.created_by;
    notify(ctx, format!("task:{code}:submitted:{eid}"), creator, lines.join("\n"), task.id, Some(a.id)).await?;
    let files = if media.is_empty() { String::new() } else { format!("（含附件{}个）", media.len()) };
    ctx.reply(format!("已提交任务 {code} 的结果{files}，等待督导室审核。"));
    Ok(())
}

// ---- review ----

/// Live assignments matching a name or 编号.
fn matching<'a>(list: &'a [Assignment], token: &str) -> Vec<&'a Assignment> {
    list.iter().filter(|a| a.person_name == token || a.person_code.eq_ignore_ascii_case(token)).collect()
}

fn live(list: Vec<Assignment>) -> Vec<Assignment> {
    list.into_iter().filter(|a| a.state != AssignmentState::Cancelled).collect()
}

async fn approve(ctx: &mut Ctx<'_>, args: &str) -> anyhow::Result<()> {
    if let Err(e) = dt::authorize(actor_role(ctx), Op::Review, false) {
        deny(ctx, e, "");
        return Ok(());
    }
    let Some(r) = task_ref(ctx, args, "通过 T1 张三").await? else { return Ok(()) };
    let task = r.task;
    let code = task.code();
    if !ensure_open(ctx, &task) {
        return Ok(());
    }
    let all = live(store::tasks::assignments(ctx.tx, task.id).await?);
    let names = split_names(&r.rest);
    let mut targets: Vec<&Assignment> = Vec::new();
    let mut problems = Vec::new();
    if names.is_empty() || names.iter().all(|n| n == "全部" || n == "所有") {
        match r.quoted_assignment.filter(|_| names.is_empty()) {
            Some(aid) => targets.extend(all.iter().filter(|a| a.id == aid)),
            None => targets.extend(all.iter().filter(|a| a.state == AssignmentState::Submitted)),
        }
        if targets.is_empty() {
            ctx.reply(format!("任务 {code} 暂无待审核的结果。发送“任务 {code}”查看进度。"));
            return Ok(());
        }
    } else {
        for n in &names {
            match matching(&all, n).as_slice() {
                [] => problems.push(format!("任务 {code} 没有承办人“{n}”。")),
                [one] => targets.push(one),
                _ => problems.push(format!("“{n}”有同名承办人，请改用编号。")),
            }
        }
    }
    let mut approved = Vec::new();
    for a in targets {
        match next_state(a.state, Action::Approve) {
            Ok(state) => {
                let reviewer = ctx.actor.as_ref().map(|x| x.person_id);
                let change = Change { reviewed_by: reviewer, ..Default::default() };
                store::tasks::set_state(ctx.tx, a.id, state, change, ctx.now).await?;
                let eid = event(ctx, task.id, Some(a.id), "approved", None, &[]).await?;
                audit(ctx, task.id, "approved", json!({ "assignment": a.id, "person": a.person_code })).await?;
                let text = format!("【审核通过】您提交的任务 {code}“{}”结果已审核通过，感谢！", task.title);
                notify(ctx, format!("task:{code}:approved:{eid}"), a.person_id, text, task.id, Some(a.id)).await?;
                approved.push(a.person_name.clone());
            }
            Err(e) => problems.push(format!("{}{e}，不能审核（当前：{}）。", a.person_name, a.state.label())),
        }
    }
    let mut lines = Vec::new();
    if !approved.is_empty() {
        lines.push(format!("已通过任务 {code}：{}。", approved.join("、")));
    }
    lines.extend(problems);
    let after = live(store::tasks::assignments(ctx.tx, task.id).await?);
    let done = after.iter().filter(|a| a.state == AssignmentState::Approved).count();
    if !approved.is_empty() && done == after.len() {
        let by = ctx.actor.as_ref().map(|x| x.person_id);
        store::tasks::end_task(ctx.tx, task.id, TaskStatus::Closed, by, Some("全部通过"), ctx.now).await?;
        event(ctx, task.id, None, "closed", Some("全部通过"), &[]).await?;
        audit(ctx, task.id, "closed", json!({ "reason": "all_approved" })).await?;
        lines.push(format!("全部{}位承办人已通过，任务 {code} 已办结。", after.len()));
    } else if !approved.is_empty() {
        lines.push(format!("进度：已通过 {done}/{}。", after.len()));
    }
    ctx.reply(lines.join("\n"));
    Ok(())
}

async fn return_result(ctx: &mut Ctx<'_>, args: &str) -> anyhow::Result<()> {
    if let Err(e) = dt::authorize(actor_role(ctx), Op::Review, false) {
        deny(ctx, e, "");
        return Ok(());
    }
    let Some(r) = task_ref(ctx, args, "退回 T1 张三 缺少现场照片").await? else { return Ok(()) };
    let task = r.task;
    let code = task.code();
    if !ensure_open(ctx, &task) {
        return Ok(());
    }
    let all = live(store::tasks::assignments(ctx.tx, task.id).await?);
    let rest = r.rest.trim();
    let (first, after_first) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let first_clean = first.trim_start_matches(['@', '＠']).trim_end_matches(['，', ',', ':', '：']);
    let named = matching(&all, first_clean);
    let submitted: Vec<&Assignment> = all.iter().filter(|a| a.state == AssignmentState::Submitted).collect();
    let quoted = r.quoted_assignment.and_then(|aid| all.iter().find(|a| a.id == aid));
    let (target, reason) = match (named.as_slice(), quoted, submitted.as_slice()) {
        ([one], _, _) => (*one, after_first.trim()),
        ([_, _, ..], _, _) => {
            ctx.reply(format!("“{first_clean}”有同名承办人，请改用编号。"));
            return Ok(());
        }
        ([], Some(q), _) => (q, rest),
        ([], None, [only]) => (*only, rest),
        _ => {
            ctx.reply(format!("请写明退回谁和原因，例如：退回 {code} 张三 缺少现场照片"));
            return Ok(());
        }
    };
    let reason = reason.trim_start_matches(['，', ',', ':', '：']).trim();
    if reason.is_empty() {
        ctx.reply(format!("请写明退回原因，例如：退回 {code} {} 缺少现场照片", target.person_name));
        return Ok(());
    }
    if reason.chars().count() > dt::MAX_REASON_CHARS {
        ctx.reply(format!("退回原因太长（最多{}字）。", dt::MAX_REASON_CHARS));
        return Ok(());
    }
    let state = match next_state(target.state, Action::Return) {
        Ok(s) => s,
        Err(e) => {
            ctx.reply(format!("{}{e}，不能退回（当前：{}）。", target.person_name, target.state.label()));
            return Ok(());
        }
    };
    let reviewer = ctx.actor.as_ref().map(|x| x.person_id);
    let change = Change { return_reason: Some(reason), reviewed_by: reviewer, ..Default::default() };
    store::tasks::set_state(ctx.tx, target.id, state, change, ctx.now).await?;
    let eid = event(ctx, task.id, Some(target.id), "returned", Some(reason), &[]).await?;
    audit(ctx, task.id, "returned", json!({ "assignment": target.id, "person": target.person_code, "reason": reason }))
        .await?;
    let tz = ctx.app.tz;
    let text = format!(
        "【任务退回】您提交的任务 {code}“{}”结果被退回。\n原因：{reason}\n请修改后重新发送“完成 {code} 结果说明”。截止：{}。",
        task.title,
        deadline_text(tz, &task, ctx.now)
    );
    notify(ctx, format!("task:{code}:returned:{eid}"), target.person_id, text, task.id, Some(target.id)).await?;
    ctx.reply(format!("已退回{}在任务 {code} 中提交的结果，并已通知本人。", target.person_name));
    Ok(())
}

// ---- views ----

fn assignment_line(a: &Assignment) -> String {
    let mut s = format!("· {}：{}", a.person_name, a.state.label());
    match a.state {
        AssignmentState::Submitted | AssignmentState::Approved => {
            if let Some(t) = a.result_text.as_deref().filter(|t| !t.is_empty()) {
                s.push_str(&format!(" — {}", crate::domain::text::truncate_chars(t, 40)));
            }
            if !a.result_media.is_empty() {
                s.push_str(&format!("（附件{}个）", a.result_media.len()));
            }
        }
        AssignmentState::Returned => {
            if let Some(r) = &a.return_reason {
                s.push_str(&format!("（退回原因：{}）", crate::domain::text::truncate_chars(r, 40)));
            }
        }
        AssignmentState::InProgress => {
            if let Some(p) = &a.progress_note {
                s.push_str(&format!(" — {}", crate::domain::text::truncate_chars(p, 40)));
            }
        }
        _ => {}
    }
    s
}

fn task_header(tz: Tz, task: &Task, now: DateTime<Utc>) -> Vec<String> {
    let code = task.code();
    let when = if task.status == TaskStatus::Open {
        format!("（{}）", remaining(task.deadline, now))
    } else {
        String::new()
    };
    let mut lines = vec![
        format!("任务 {code}：{}（{}）", task.title, task.status.label()),
        format!(
            "截止：{}{when}{}",
            deadline_text(tz, task, now),
            if task.requires_result { "｜需提交材料" } else { "" }
        ),
        format!("布置：{}，{}", task.creator_name, local(tz, task.created_at).format("%m-%d %H:%M")),
    ];
    if !task.description.is_empty() {
        lines.push(format!("说明：{}", task.description));
    }
    if let Some(r) = task.end_reason.as_deref().filter(|_| task.status != TaskStatus::Open) {
        lines.push(format!("{}原因：{r}", task.status.label()));
    }
    lines
}

async fn show(ctx: &mut Ctx<'_>, args: &str) -> anyhow::Result<()> {
    let Some(actor) = ctx.actor.clone() else { return Ok(()) };
    if parse_task_ref(args).is_none() && ctx.msg.reply_to().is_none() {
        return mine(ctx).await;
    }
    let Some(r) = task_ref(ctx, args, "任务 T1").await? else { return Ok(()) };
    let task = r.task;
    let code = task.code();
    let all = store::tasks::assignments(ctx.tx, task.id).await?;
    let own: Option<&Assignment> =
        all.iter().rev().find(|a| a.person_id == actor.person_id && a.state != AssignmentState::Cancelled);
    if dt::authorize(actor.role, Op::View, own.is_some()).is_err() {
        ctx.reply(format!("您不是任务{code}的承办人，无权查看。"));
        return Ok(());
    }
    let tz = ctx.app.tz;
    let mut lines = task_header(tz, &task, ctx.now);
    if actor.role.is_supervisor() {
        let live: Vec<&Assignment> = all.iter().filter(|a| a.state != AssignmentState::Cancelled).collect();
        let count = |s: AssignmentState| live.iter().filter(|a| a.state == s).count();
        lines.push(format!(
            "承办情况（已通过 {}/{}，待审核 {}，未确认 {}）：",
            count(AssignmentState::Approved),
            live.len(),
            count(AssignmentState::Submitted),
            count(AssignmentState::Assigned)
        ));
        if live.len() <= DETAIL_LINES {
            lines.extend(live.iter().map(|a| assignment_line(a)));
        } else {
            for s in AssignmentState::ALL {
                let names: Vec<&str> = live.iter().filter(|a| a.state == s).map(|a| a.person_name.as_str()).collect();
                if !names.is_empty() {
                    lines.push(format!("· {}（{}）：{}", s.label(), names.len(), names.join("、")));
                }
            }
        }
        let moved: Vec<String> = all
            .iter()
            .filter(|a| a.state == AssignmentState::Cancelled && task.status == TaskStatus::Open)
            .map(|a| format!("{}（{}）", a.person_name, a.end_reason.clone().unwrap_or_default()))
            .collect();
        if !moved.is_empty() {
            lines.push(format!("已改派：{}", moved.join("、")));
        }
    } else if let Some(a) = own {
        lines.push(format!("您的状态：{}", a.state.label()));
        if let Some(p) = &a.progress_note {
            lines.push(format!("最近进展：{p}"));
        }
        if let Some(t) = a.result_text.as_deref().filter(|t| !t.is_empty()) {
            lines.push(format!("提交的结果：{}", crate::domain::text::truncate_chars(t, 200)));
        }
        if a.state == AssignmentState::Returned {
            if let Some(r) = &a.return_reason {
                lines.push(format!("退回原因：{r}"));
            }
        }
        if a.state.awaits_assignee() && task.status == TaskStatus::Open {
            lines.push(format!("完成后请发送“完成 {code} 结果说明”。"));
        }
    }
    ctx.reply(lines.join("\n"));
    Ok(())
}

async fn mine(ctx: &mut Ctx<'_>) -> anyhow::Result<()> {
    let Some(actor) = ctx.actor.clone() else { return Ok(()) };
    let open = store::tasks::open_for_person(ctx.tx, actor.person_id).await?;
    if open.is_empty() {
        ctx.reply("您目前没有未办结的任务。");
        return Ok(());
    }
    let tz = ctx.app.tz;
    let mut lines = vec![format!("您有{}项未办结的任务：", open.len())];
    for (t, a) in &open {
        lines.push(format!(
            "· {} {}｜截止{}（{}）｜{}",
            t.code(),
            t.title,
            deadline_text(tz, t, ctx.now),
            remaining(t.deadline, ctx.now),
            a.state.label()
        ));
    }
    lines.push("发送“任务 T编号”查看详情。".into());
    ctx.reply(lines.join("\n"));
    Ok(())
}

async fn list(ctx: &mut Ctx<'_>, args: &str) -> anyhow::Result<()> {
    if let Err(e) = dt::authorize(actor_role(ctx), Op::Manage, false) {
        deny(ctx, e, "");
        return Ok(());
    }
    let all = matches!(args.trim(), "全部" | "所有" | "all");
    let rows = store::tasks::list(ctx.tx, all, 30).await?;
    if rows.is_empty() {
        ctx.reply(if all {
            "还没有布置过任务。"
        } else {
            "目前没有进行中的督办任务。发送“任务列表 全部”查看已办结的。"
        });
        return Ok(());
    }
    let tz = ctx.app.tz;
    let mut lines = vec![if all {
        "督办任务（最近30项）：".to_string()
    } else {
        "进行中的督办任务：".to_string()
    }];
    for s in &rows {
        let t = &s.task;
        let mut line = format!("· {} {}｜截止{}", t.code(), t.title, deadline_text(tz, t, ctx.now));
        if t.status == TaskStatus::Open {
            line.push_str(&format!("｜通过 {}/{}", s.approved, s.total));
            if s.submitted > 0 {
                line.push_str(&format!("，待审核 {}", s.submitted));
            }
            if s.unacknowledged > 0 {
                line.push_str(&format!("，未确认 {}", s.unacknowledged));
            }
            if t.deadline <= ctx.now {
                line.push_str("｜已逾期");
            }
        } else {
            line.push_str(&format!("｜{}", t.status.label()));
        }
        lines.push(line);
    }
    lines.push("发送“任务 T编号”查看详情。".into());
    ctx.reply(lines.join("\n"));
    Ok(())
}

// ---- management ----

/// Ends every live, unfinished assignment (cancel or close) and tells each assignee.
async fn end_assignments(
    ctx: &mut Ctx<'_>,
    task: &Task,
    action: Action,
    reason: &str,
    notice: &str,
) -> anyhow::Result<usize> {
    let code = task.code();
    let mut n = 0;
    for a in live(store::tasks::assignments(ctx.tx, task.id).await?) {
        let Ok(state) = next_state(a.state, action) else { continue };
        let change = Change { end_reason: Some(reason), ..Default::default() };
        store::tasks::set_state(ctx.tx, a.id, state, change, ctx.now).await?;
        let kind = if action == Action::Cancel { "cancelled" } else { "closed" };
        notify(ctx, format!("task:{code}:{kind}:{}", a.id), a.person_id, notice.to_string(), task.id, Some(a.id))
            .await?;
        n += 1;
    }
    Ok(n)
}

async fn cancel(ctx: &mut Ctx<'_>, args: &str) -> anyhow::Result<()> {
    if let Err(e) = dt::authorize(actor_role(ctx), Op::Manage, false) {
        deny(ctx, e, "");
        return Ok(());
    }
    let Some(r) = task_ref(ctx, args, "撤销 T1 工作安排调整").await? else { return Ok(()) };
    let task = r.task;
    let code = task.code();
    if !ensure_open(ctx, &task) {
        return Ok(());
    }
    let reason = r.rest.trim();
    if reason.chars().count() > dt::MAX_REASON_CHARS {
        ctx.reply(format!("撤销原因太长（最多{}字）。", dt::MAX_REASON_CHARS));
        return Ok(());
    }
    let reason_text = if reason.is_empty() { String::new() } else { format!("\n原因：{reason}") };
    let notice = format!("【任务撤销】任务 {code}“{}”已撤销，无需再办理。{reason_text}", task.title);
    let n = end_assignments(ctx, &task, Action::Cancel, "任务撤销", &notice).await?;
    let by = ctx.actor.as_ref().map(|x| x.person_id);
    store::tasks::end_task(ctx.tx, task.id, TaskStatus::Cancelled, by, Some(reason).filter(|r| !r.is_empty()), ctx.now)
        .await?;
    event(ctx, task.id, None, "cancelled", Some(reason), &[]).await?;
    audit(ctx, task.id, "cancelled", json!({ "reason": reason, "notified": n })).await?;
    ctx.reply(format!("已撤销任务 {code}，已通知{n}位承办人。"));
    Ok(())
}

async fn close(ctx: &mut Ctx<'_>, args: &str) -> anyhow::Result<()> {
    if let Err(e) = dt::authorize(actor_role(ctx), Op::Manage, false) {
        deny(ctx, e, "");
        return Ok(());
    }
    let Some(r) = task_ref(ctx, args, "办结 T1").await? else { return Ok(()) };
    let task = r.task;
    let code = task.code();
    if !ensure_open(ctx, &task) {
        return Ok(());
    }
    let before = live(store::tasks::assignments(ctx.tx, task.id).await?);
    let approved = before.iter().filter(|a| a.state == AssignmentState::Approved).count();
    let notice = format!("【任务办结】任务 {code}“{}”已由督导室办结，您无需再提交。", task.title);
    let n = end_assignments(ctx, &task, Action::Close, "任务办结", &notice).await?;
    let reason = r.rest.trim();
    let by = ctx.actor.as_ref().map(|x| x.person_id);
    let stored = if reason.is_empty() { "督导室办结" } else { reason };
    store::tasks::end_task(ctx.tx, task.id, TaskStatus::Closed, by, Some(stored), ctx.now).await?;
    event(ctx, task.id, None, "closed", Some(stored), &[]).await?;
    audit(ctx, task.id, "closed", json!({ "reason": stored, "unfinished": n })).await?;
    let tail = if n > 0 { format!("；{n}人未完成，不再催办，已通知本人") } else { String::new() };
    ctx.reply(format!("任务 {code} 已办结。已通过 {approved}/{}{tail}。", before.len()));
    Ok(())
}

async fn reassign(ctx: &mut Ctx<'_>, args: &str) -> anyhow::Result<()> {
    if let Err(e) = dt::authorize(actor_role(ctx), Op::Manage, false) {
        deny(ctx, e, "");
        return Ok(());
    }
    let Some(r) = task_ref(ctx, args, "改派 T1 张三 李四").await? else { return Ok(()) };
    let task = r.task;
    let code = task.code();
    if !ensure_open(ctx, &task) {
        return Ok(());
    }
    let cleaned = r.rest.replace("改派给", " ").replace("改为", " ").replace("->", " ").replace('→', " ");
    let names: Vec<String> = split_names(&cleaned).into_iter().filter(|n| n != "给").collect();
    let [from, to] = names.as_slice() else {
        ctx.reply(format!("请写明原承办人和新承办人，例如：改派 {code} 张三 李四"));
        return Ok(());
    };
    let all = live(store::tasks::assignments(ctx.tx, task.id).await?);
    let old = match matching(&all, from).as_slice() {
        [one] => (*one).clone(),
        [] => {
            ctx.reply(format!("任务 {code} 没有承办人“{from}”。发送“任务 {code}”查看承办人。"));
            return Ok(());
        }
        _ => {
            ctx.reply(format!("“{from}”有同名承办人，请改用编号。"));
            return Ok(());
        }
    };
    let new = match store::people::find_people(ctx.tx, to).await?.as_slice() {
        [p] => PersonRef { id: p.id, code: p.code.clone(), name: p.name.clone() },
        [] => {
            let ex = crate::app::examples::load(ctx.tx).await?;
            ctx.reply(format!("没有找到人员“{to}”。请检查姓名，或改用编号（如 {}）。", ex.person_code));
            return Ok(());
        }
        many => {
            let list: Vec<String> = many.iter().map(|p| format!("{} {}", p.code, p.name)).collect();
            ctx.reply(format!("“{to}”有多位同名人员（{}），请改用编号。", list.join("、")));
            return Ok(());
        }
    };
    if all.iter().any(|a| a.person_id == new.id) {
        ctx.reply(format!("{}已是任务 {code} 的承办人。", new.name));
        return Ok(());
    }
    if let Err(e) = next_state(old.state, Action::Reassign) {
        ctx.reply(format!("{}{e}，不能改派（当前：{}）。", old.person_name, old.state.label()));
        return Ok(());
    }
    let why = format!("改派给{}", new.name);
    let change = Change { end_reason: Some(&why), ..Default::default() };
    store::tasks::set_state(ctx.tx, old.id, AssignmentState::Cancelled, change, ctx.now).await?;
    let aid = store::tasks::add_assignment(ctx.tx, task.id, new.id, ctx.now).await?;
    event(ctx, task.id, Some(aid), "reassigned", Some(&format!("{} → {}", old.person_code, new.code)), &[]).await?;
    audit(ctx, task.id, "reassigned", json!({ "from": old.person_code, "to": new.code, "assignment": aid })).await?;
    let text = format!("【任务改派】任务 {code}“{}”已改派给{}，您无需再办理。", task.title, new.name);
    notify(ctx, format!("task:{code}:unassigned:{}", old.id), old.person_id, text, task.id, Some(old.id)).await?;
    let tz = ctx.app.tz;
    let notice = assignment_notice(tz, &task, ctx.now);
    notify(ctx, format!("task:{code}:assign:{aid}"), new.id, notice, task.id, Some(aid)).await?;
    ctx.reply(format!("已将任务 {code} 由{}改派给{}，已通知双方。", old.person_name, new.name));
    Ok(())
}

async fn extend(ctx: &mut Ctx<'_>, args: &str) -> anyhow::Result<()> {
    if let Err(e) = dt::authorize(actor_role(ctx), Op::Manage, false) {
        deny(ctx, e, "");
        return Ok(());
    }
    let Some(r) = task_ref(ctx, args, "延期 T1 12月5日17:00").await? else { return Ok(()) };
    let task = r.task;
    let code = task.code();
    if !ensure_open(ctx, &task) {
        return Ok(());
    }
    let tz = ctx.app.tz;
    let now_local = local(tz, ctx.now);
    let text = r.rest.trim();
    if text.is_empty() {
        ctx.reply(format!("请写明新的截止时间，例如：延期 {code} 12月5日17:00"));
        return Ok(());
    }
    let Some(new_local) = dt::parse_deadline(text, now_local, ctx.app.settings.tasks.default_time()) else {
        ctx.reply(dt::CreateError::BadDeadline(text.to_string()).to_string());
        return Ok(());
    };
    if let Err(e) = check_deadline(new_local, now_local) {
        ctx.reply(e.to_string());
        return Ok(());
    }
    let Some(deadline) = to_utc(tz, new_local) else { return Ok(()) };
    store::tasks::set_deadline(ctx.tx, task.id, deadline).await?;
    let when = fmt_deadline(new_local, now_local);
    let eid = event(ctx, task.id, None, "extended", Some(&crate::db::ts(deadline)), &[]).await?;
    audit(ctx, task.id, "extended", json!({ "from": crate::db::ts(task.deadline), "to": crate::db::ts(deadline) }))
        .await?;
    let mut n = 0;
    for a in live(store::tasks::assignments(ctx.tx, task.id).await?) {
        if !a.state.awaits_assignee() {
            continue;
        }
        let text = format!("【任务延期】任务 {code}“{}”的截止时间调整为{when}。", task.title);
        notify(ctx, format!("task:{code}:extended:{eid}:{}", a.id), a.person_id, text, task.id, Some(a.id)).await?;
        n += 1;
    }
    ctx.reply(format!("任务 {code} 的截止时间已改为{when}，已通知{n}位未完成的承办人。"));
    Ok(())
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
