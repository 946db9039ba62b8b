//! Problem list and rectification ledger (整改台账) in chat: recording problems, the notice to
//! the school, acknowledgement, progress, completion with photo evidence, verification (销号 /
//! 退回), extensions, 回头看 reopening, cancellation, the ledger and month-end reconciliation;
//! the daily sweep (reminders and the escalation ladder, and taking in problems found on visits);
//! and the background evidence fetcher. Rules live in `domain::rectify`.

use crate::app::{App, Ctx};
use crate::chat::Segment;
use crate::config::{ScheduleSettings, Settings};
use crate::db::Tx;
use crate::domain::actor::{Actor, Denied};
use crate::domain::command::{CommandId, ParsedCommand};
use crate::domain::rectify::{
    self as dr, category_label, item_code, overdue_days, parse_deadline, parse_record, parse_ref, transition, Action,
    DeadlineDays, Ladder, LedgerEvent, LedgerKind, Party, RecordError, Refused, Severity, Source, Stage, Status,
};
use crate::domain::role::Role;
use crate::outbox::{Delivery, Envelope, Recipient};
use crate::scheduler::{Firing, Job, Jobs};
use crate::store::{self, rectify as rs, rectify::Item, Conn};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;
use std::sync::Arc;

/// The job name to use in `[[schedules]]`.
pub const JOB: &str = "rectify_sweep";
/// The built-in schedule derived from `[rectify] sweep_cron`.
pub const SCHEDULE: &str = "rectify-sweep";
/// Lists in chat stop after this many lines; the rest are counted.
const LIST_LINES: usize = 20;

/// Everyday commands ("收到", "进展", "完成", "退回", "延期", "撤销", "任务") followed by a
/// problem id (W12) mean the rectification command: one vocabulary for schools.
pub fn reroute(cmd: ParsedCommand) -> ParsedCommand {
    if parse_ref(&cmd.args).is_none() {
        return cmd;
    }
    let id = match cmd.id {
        CommandId::TaskAck => CommandId::ProblemAck,
        CommandId::TaskProgress => CommandId::ProblemProgress,
        CommandId::TaskDone => CommandId::ProblemSubmit,
        CommandId::TaskReturn => CommandId::ProblemReturn,
        CommandId::TaskExtend => CommandId::ProblemExtend,
        CommandId::TaskCancel => CommandId::ProblemCancel,
        CommandId::TaskShow => CommandId::ProblemShow,
        _ => return cmd,
    };
    ParsedCommand { id, args: cmd.args }
}

pub async fn command(ctx: &mut Ctx<'_>, id: CommandId, args: &str) -> anyhow::Result<()> {
    let Some(actor) = ctx.actor.clone() else { return Ok(()) };
    match id {
        CommandId::ProblemRecord => record(ctx, &actor, args).await,
        CommandId::ProblemLedger => ledger(ctx, &actor, args).await,
        CommandId::ProblemReconcile => reconcile_command(ctx, args).await,
        CommandId::SelfCheckSubmit => self_check_submit(ctx, &actor, args).await,
        CommandId::SelfCheckReview | CommandId::SelfCheckConfirm => self_check_decide(ctx, &actor, id, args).await,
        _ => {
            let Some((item_id, rest)) = parse_ref(args) else {
                let usage = crate::domain::command::CommandSpec::get(id).usage;
                ctx.reply(format!("请写明问题编号，格式：{usage}"));
                return Ok(());
            };
            let Some(it) = rs::get(ctx.tx, item_id).await? else {
                ctx.reply(format!("没有找到问题 {}。", item_code(item_id)));
                return Ok(());
            };
            if id == CommandId::ProblemShow {
                return show(ctx, &actor, &it).await;
            }
            let party = match party_for(&actor, it.school_id) {
                Ok(p) => p,
                Err(d) => {
                    ctx.reply(denied_text(d, &it));
                    return Ok(());
                }
            };
            act(ctx, &actor, party, it, id, &rest).await
        }
    }
}

/// The actor's relation to an item's school.
fn party_for(actor: &Actor, school_id: i64) -> Result<Party, Denied> {
    actor.check_act_for_school(school_id)?;
    Ok(match actor.role {
        Role::Admin | Role::Supervisor => Party::Supervisor,
        Role::Inspector => Party::Inspector,
        Role::SchoolContact => Party::School,
    })
}

fn denied_text(d: Denied, it: &Item) -> String {
    match d {
        Denied::Recused => format!("您对{}需回避，不能办理 {}。", it.school_name, item_code(it.id)),
        _ => format!("{} 不属于您负责的学校（{}），您不能办理。", item_code(it.id), it.school_name),
    }
}

fn local_date(app: &App, t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&app.tz).date_naive()
}

fn deadline_days(s: &Settings) -> DeadlineDays {
    let r = &s.rectify;
    DeadlineDays { general: r.general_days, serious: r.serious_days, complex: r.complex_days }
}

pub fn ladder(s: &Settings) -> Ladder {
    let r = &s.rectify;
    Ladder {
        remind_days_before: r.remind_days_before.clone(),
        inspector_after_days: r.inspector_after_days,
        bulletin_after_days: r.bulletin_after_days,
        bulletin_after_returns: r.bulletin_after_returns,
        interview_after_days: r.interview_after_days,
    }
}

fn md(d: NaiveDate) -> String {
    use chrono::Datelike;
    format!("{}月{}日", d.month(), d.day())
}

fn env(key: String, to: Recipient, text: String, item_id: i64) -> Envelope {
    Envelope::new(key, to, vec![Segment::text(text)], format!("rectify:{}", item_code(item_id)))
}

/// Writes a transition and its ledger event.
#[allow(clippy::too_many_arguments)]
async fn apply(
    conn: &mut Conn,
    app: &App,
    it: &mut Item,
    action: Action,
    to: Status,
    actor_id: Option<i64>,
    note: Option<&str>,
    now: DateTime<Utc>,
) -> anyhow::Result<i64> {
    let from = it.status;
    it.status = to;
    rs::save(conn, it, now).await?;
    let ev = rs::EventRow {
        item_id: it.id,
        action: action.as_str(),
        from: Some(from),
        to,
        actor_id,
        note,
        deadline: it.deadline,
    };
    Ok(rs::add_event(conn, &ev, now, local_date(app, now)).await?)
}

fn notice_text(it: &Item) -> String {
    let owner = if it.owner == "school" { String::new() } else { format!("\n牵头部门：{}", it.owner) };
    format!(
        "【整改通知】{code} {school}\n问题类别：{cat}\n严重程度：{sev}\n问题：{desc}{owner}\n整改期限：{dl}\n请回复“收到 {code}”确认；整改中可发送“进展 {code} 情况”；整改完成后发送“完成 {code} 整改情况”并在同一条消息里附整改后的照片，由责任督学核查销号。",
        code = item_code(it.id),
        school = it.school_name,
        cat = category_label(it.category),
        sev = it.severity.label(),
        desc = it.description,
        dl = md(it.deadline),
    )
}

/// Sends an identified item's notice to everyone at the school who can receive it and marks it
/// notified; returns whom it reached (`学校联络员甲和校长乙`), or `None` when nobody is listed,
/// in which case the item stays identified (未通知): no reminders, no escalation.
async fn send_notice(
    conn: &mut Tx<'static>,
    app: &App,
    it: &mut Item,
    actor_id: Option<i64>,
    now: DateTime<Utc>,
    out: &mut Vec<Envelope>,
) -> anyhow::Result<Option<String>> {
    let people = rs::school_recipients(conn, it.school_id).await?;
    let names = |principal: bool| -> Vec<&str> {
        people.iter().filter(|r| r.principal == principal).map(|r| r.name.as_str()).collect()
    };
    let Some(mut reach) = dr::notice_reach(&names(false), &names(true)) else { return Ok(None) };
    // Someone listed but not yet bound gets the notice when they bind (the outbox keeps it);
    // the inspector is told so rather than that it arrived.
    let mut waiting = Vec::new();
    for r in &people {
        let to = Recipient::Person(r.person_id);
        if crate::outbox::route::resolve(conn, &app.directory, &to, false).await?.is_none() {
            waiting.push(r.name.as_str());
        }
    }
    if !waiting.is_empty() {
        reach.push_str(&format!("（{}尚未绑定聊天账号，通知将在绑定后送达）", waiting.join("、")));
    }
    apply(conn, app, it, Action::Notify, Status::Notified, actor_id, Some(&reach), now).await?;
    let text = notice_text(it);
    for r in &people {
        let key = format!("rectify:{}:notice:p{}", item_code(it.id), r.person_id);
        out.push(env(key, Recipient::Person(r.person_id), text.clone(), it.id));
    }
    Ok(Some(reach))
}

/// Tells the supervisors that an item's notice could not go out.
async fn report_unnotified(conn: &mut Tx<'static>, app: &App, it: &Item) -> anyhow::Result<()> {
    let code = item_code(it.id);
    let msg = format!(
        "【整改通知未发出】{code} {}：{}。该校没有登记学校联络员或校长，整改通知无法发出，问题暂列“未通知”，不计逾期。请在名册中为该校补登学校联络员或校长，下次整改巡查时将自动补发通知。",
        it.school_name, it.description
    );
    crate::app::broadcast::to_supervisors(app, conn, &format!("rectify:{code}:unnotified"), "rectify", &msg).await
}

/// The recording inspector's words for an item whose notice could not go out.
fn unnotified_reply() -> &'static str {
    "该校没有登记学校联络员或校长，整改通知未能发出，已告知督导室；问题暂列“未通知”，不计逾期，补登联络员或校长后将自动补发通知。"
}

/// Creates an item (identified), then closes it on site (minor) or sends the notice (notified).
/// Serious items are also reported to the office the same day. The second value names whom
/// the notice reached; `None` for items closed on site and for items nobody could be told of.
async fn create_item(
    conn: &mut Tx<'static>,
    app: &App,
    n: &rs::NewItem<'_>,
    now: DateTime<Utc>,
    out: &mut Vec<Envelope>,
) -> anyhow::Result<(Item, Option<String>)> {
    let id = rs::insert(conn, n, now).await?;
    let ev = rs::EventRow {
        item_id: id,
        action: "created",
        from: None,
        to: Status::Identified,
        actor_id: n.created_by,
        note: Some(n.description),
        deadline: n.deadline,
    };
    rs::add_event(conn, &ev, now, local_date(app, now)).await?;
    let Some(mut it) = rs::get(conn, id).await? else { anyhow::bail!("rectify item {id} vanished") };
    if n.severity == Severity::Minor {
        it.closed_at = Some(now);
        it.closed_late = Some(false);
        apply(conn, app, &mut it, Action::CloseOnSite, Status::Closed, n.created_by, Some("当场整改"), now).await?;
        return Ok((it, None));
    }
    let reach = send_notice(conn, app, &mut it, n.created_by, now, out).await?;
    if reach.is_none() {
        report_unnotified(conn, app, &it).await?;
    }
    if n.severity == Severity::Serious {
        let msg = format!(
            "【严重问题报告】{} {}：{}（{}），整改期限{}。",
            item_code(id),
            it.school_name,
            it.description,
            category_label(it.category),
            md(it.deadline)
        );
        crate::app::broadcast::to_supervisors(
            app,
            conn,
            &format!("rectify:{}:serious", item_code(id)),
            "rectify",
            &msg,
        )
        .await?;
    }
    Ok((it, reach))
}

async fn record(ctx: &mut Ctx<'_>, actor: &Actor, args: &str) -> anyhow::Result<()> {
    let today = ctx.today();
    let p = match parse_record(args, today) {
        Ok(p) => p,
        Err(e) => {
            let why = match e {
                RecordError::Empty => "请写明学校、类别和问题。",
                RecordError::NoCategory => "请在学校后写问题类别（1–9 或“安全”“食堂”等）。",
                RecordError::NoDescription => "请写明问题描述。",
                RecordError::BadDeadline => "期限没有看懂，请写“期限:12月5日”或“期限7天”，且不早于今天。",
            };
            ctx.reply(format!(
                "{why}\n格式：记问题 <学校> <类别> [轻微/一般/严重/复杂] <问题描述> [期限:12月5日] [部门:科室]\n类别：1校务 2招生收费 3课程教学 4课业负担 5师德 6安全 7食堂卫生 8校风 9其他"
            ));
            return Ok(());
        }
    };
    let schools = store::people::find_schools(ctx.tx, &p.school).await?;
    let school = match schools.as_slice() {
        [] => {
            let hint = store::people::suggest_school(ctx.tx, &p.school, |_| true).await?;
            ctx.reply(format!("没有找到学校“{}”。{}", p.school, crate::domain::text::did_you_mean(hint.as_deref())));
            return Ok(());
        }
        [s] => s.clone(),
        many => {
            let names: Vec<&str> = many.iter().take(5).map(|s| s.name.as_str()).collect();
            ctx.reply(format!("“{}”对应多所学校：{}。请写全称。", p.school, names.join("、")));
            return Ok(());
        }
    };
    match party_for(actor, school.id) {
        Ok(Party::Inspector | Party::Supervisor) => {}
        Ok(_) => {
            ctx.reply("学校不能直接登记问题。");
            return Ok(());
        }
        Err(Denied::Recused) => {
            ctx.reply(format!("您对{}需回避，不能登记该校问题。", school.name));
            return Ok(());
        }
        Err(_) => {
            ctx.reply(format!("{}不是您负责的学校，不能登记问题。请联系该校责任督学或督导室。", school.name));
            return Ok(());
        }
    }
    let deadline = p.deadline.unwrap_or_else(|| {
        dr::default_deadline(p.severity, today, &deadline_days(&ctx.app.settings), &ctx.app.calendar)
    });
    let owner = match (p.severity, &p.department) {
        (Severity::Complex, Some(d)) => d.clone(),
        _ => "school".to_string(),
    };
    let n = rs::NewItem {
        school_id: school.id,
        category: p.category,
        severity: p.severity,
        source: Source::Direct,
        source_ref: Some(format!("inbound:{}", ctx.inbound_id)),
        description: &p.description,
        owner: &owner,
        deadline,
        created_by: Some(actor.person_id),
    };
    let mut out = Vec::new();
    let (it, reach) = create_item(ctx.tx, ctx.app, &n, ctx.now, &mut out).await?;
    ctx.outgoing.extend(out);
    ctx.audit(
        "rectify",
        Some(item_code(it.id)),
        "created",
        json!({ "school": school.code, "severity": p.severity.as_str() }),
    )
    .await?;
    let code = item_code(it.id);
    if it.status == Status::Closed {
        ctx.reply(format!("已登记并销号 {code}（{}，当场整改）：{}", school.name, p.description));
    } else {
        let told = match reach {
            Some(who) => format!("整改通知已发给{who}。"),
            None => unnotified_reply().to_string(),
        };
        ctx.reply(format!(
            "已登记问题 {code}：{}，{}，{}，整改期限{}。{told}",
            school.name,
            category_label(p.category),
            p.severity.label(),
            md(deadline)
        ));
    }
    Ok(())
}

fn refused_text(r: Refused, action: Action, it: &Item) -> String {
    let code = item_code(it.id);
    match (r, action) {
        (Refused::NotAllowed, Action::Close) => "学校不能给本校问题销号，须由责任督学或督导室核查后销号。".into(),
        (Refused::NotAllowed, Action::Cancel) => "只有督导室可以撤销问题。".into(),
        (Refused::NotAllowed, Action::Acknowledge | Action::Progress | Action::Submit) => {
            "确认、报告进展和提交整改由学校办理。".into()
        }
        (Refused::NotAllowed, _) => "只有责任督学或督导室可以办理这一步。".into(),
        (Refused::WrongState, Action::Close | Action::Return) => {
            format!("{code} 当前状态为“{}”，学校提交整改完成后才能销号或退回。", it.status.label())
        }
        (Refused::WrongState, Action::Reopen) => {
            format!("{code} 当前状态为“{}”，只有已销号的问题可以回头看重开。", it.status.label())
        }
        (Refused::WrongState, _) => format!("{code} 当前状态为“{}”，不能办理这一步。", it.status.label()),
    }
}

/// Everything that moves an existing item.
async fn act(
    ctx: &mut Ctx<'_>,
    actor: &Actor,
    party: Party,
    mut it: Item,
    id: CommandId,
    rest: &str,
) -> anyhow::Result<()> {
    let code = item_code(it.id);
    let action = match id {
        CommandId::ProblemAck => Action::Acknowledge,
        CommandId::ProblemProgress => Action::Progress,
        CommandId::ProblemSubmit => Action::Submit,
        CommandId::ProblemClose => Action::Close,
        CommandId::ProblemReturn => Action::Return,
        CommandId::ProblemExtend => Action::Extend,
        CommandId::ProblemReopen => Action::Reopen,
        CommandId::ProblemCancel => Action::Cancel,
        _ => return Ok(()),
    };
    // Verification starts when the inspector takes up a submitted report.
    let verify_first = matches!(action, Action::Close | Action::Return) && it.status == Status::Submitted;
    let from = if verify_first { Status::Verifying } else { it.status };
    if verify_first {
        if let Err(r) = transition(it.status, Action::StartVerify, party) {
            ctx.reply(refused_text(r, action, &it));
            return Ok(());
        }
    }
    let next = match transition(from, action, party) {
        Ok(s) => s,
        Err(r) => {
            ctx.reply(refused_text(r, action, &it));
            return Ok(());
        }
    };
    let today = ctx.today();
    let note = rest.trim();
    let images: Vec<String> = ctx.msg.images().filter_map(|m| m.url.clone()).collect();
    // Platforms that hand out file ids instead of links (Telegram, WeCom) need their own download API.
    let unlinked = ctx.msg.images().filter(|m| m.url.is_none()).count();
    // Validate the arguments before anything is written.
    let mut new_deadline = None;
    match action {
        Action::Return | Action::Cancel if note.is_empty() => {
            ctx.reply(format!(
                "请写明原因，如“{} {code} 原因”。",
                if action == Action::Return { "退回" } else { "撤销问题" }
            ));
            return Ok(());
        }
        Action::Submit if note.is_empty() && images.is_empty() => {
            ctx.reply(format!("请写明整改情况并附整改后的照片，如“完成 {code} 已清理消防通道”（同一条消息附图）。"));
            return Ok(());
        }
        Action::Progress if note.is_empty() => {
            ctx.reply(format!("请写明进展，如“进展 {code} 已采购灭火器”。"));
            return Ok(());
        }
        Action::Extend => {
            let mut parts = note.splitn(2, char::is_whitespace);
            let date = parts.next().and_then(|d| parse_deadline(d, today));
            let reason = parts.next().map(str::trim).unwrap_or_default();
            match date {
                Some(d) if d > it.deadline && !reason.is_empty() => new_deadline = Some(d),
                Some(d) if d <= it.deadline => {
                    ctx.reply(format!("新期限须晚于原期限{}。", md(it.deadline)));
                    return Ok(());
                }
                _ => {
                    ctx.reply(format!("格式：延期 {code} <新期限，如12月10日> <原因>（延期须写明原因）。"));
                    return Ok(());
                }
            }
        }
        _ => {}
    }
    let me = Some(actor.person_id);
    let note_opt = (!note.is_empty()).then_some(note);
    if verify_first {
        apply(ctx.tx, ctx.app, &mut it, Action::StartVerify, Status::Verifying, me, None, ctx.now).await?;
    }
    match action {
        Action::Close => {
            it.closed_at = Some(ctx.now);
            it.closed_late = Some(today > it.deadline);
        }
        Action::Return => it.returns += 1,
        Action::Extend => {
            it.extensions += 1;
            it.deadline = new_deadline.unwrap_or(it.deadline);
        }
        Action::Reopen => {
            it.relapses += 1;
            it.closed_at = None;
            it.closed_late = None;
            it.deadline = dr::default_deadline(
                if it.severity == Severity::Minor { Severity::General } else { it.severity },
                today,
                &deadline_days(&ctx.app.settings),
                &ctx.app.calendar,
            );
        }
        _ => {}
    }
    let event_id = apply(ctx.tx, ctx.app, &mut it, action, next, me, note_opt, ctx.now).await?;
    for url in &images {
        if action == Action::Submit || action == Action::Progress {
            rs::add_evidence(ctx.tx, it.id, event_id, url, ctx.now).await?;
        }
    }
    ctx.audit("rectify", Some(code.clone()), action.as_str(), json!({ "note": note, "images": images.len() })).await?;

    // Who hears about it.
    let seq = ctx.inbound_id;
    let school_msg = match action {
        Action::Close => Some(format!("【整改销号】{code} {}：“{}”经核查已销号。", it.school_name, it.description)),
        Action::Return => Some(format!(
            "【整改退回】{code} {}：整改情况未通过核查，原因：{note}。请继续整改后重新发送“完成 {code} 整改情况”并附照片。整改期限{}。",
            it.school_name,
            md(it.deadline)
        )),
        Action::Extend => Some(format!("【整改延期】{code} 整改期限延至{}，原因：{note}。", md(it.deadline))),
        Action::Reopen => Some(format!(
            "【回头看】{code} {}：“{}”复查发现问题反弹，已重新列入整改，整改期限{}。{}",
            it.school_name,
            it.description,
            md(it.deadline),
            if note.is_empty() { String::new() } else { format!("情况：{note}") }
        )),
        Action::Cancel => Some(format!("【问题撤销】{code} 已撤销，原因：{note}。无需继续整改。")),
        _ => None,
    };
    if let Some(text) = school_msg {
        for pid in rs::school_contacts(ctx.tx, it.school_id).await? {
            if Some(pid) != me {
                ctx.outgoing.push(env(
                    format!("rectify:{code}:{}:{seq}:p{pid}", action.as_str()),
                    Recipient::Person(pid),
                    text.clone(),
                    it.id,
                ));
            }
        }
    }
    if action == Action::Submit {
        let text = format!(
            "【整改提交】{code} {}：学校已提交整改完成情况：{}（照片{}张）。请核查后发送“销号 {code}”或“退回 {code} 原因”。",
            it.school_name,
            if note.is_empty() { "（见照片）" } else { note },
            images.len()
        );
        for pid in rs::school_inspectors(ctx.tx, it.school_id).await? {
            ctx.outgoing.push(env(
                format!("rectify:{code}:submitted:{seq}:p{pid}"),
                Recipient::Person(pid),
                text.clone(),
                it.id,
            ));
        }
    }
    let reply = match action {
        Action::Acknowledge => format!("已确认收到 {code}，整改期限{}。", md(it.deadline)),
        Action::Progress => format!("已记录 {code} 的整改进展。"),
        Action::Submit => format!(
            "已提交 {code} 的整改完成情况{}，等待责任督学核查销号。",
            if images.is_empty() {
                "（未附照片，核查时可能需要补充）".to_string()
            } else {
                format!("和{}张照片", images.len())
            }
        ),
        Action::Close => format!(
            "已销号 {code}（{}）{}。",
            it.school_name,
            if it.closed_late == Some(true) { "，逾期完成" } else { "，按期完成" }
        ),
        Action::Return => format!("已退回 {code}，学校需重新整改（累计退回{}次）。", it.returns),
        Action::Extend => format!("已将 {code} 的整改期限延至{}（第{}次延期）。", md(it.deadline), it.extensions),
        Action::Reopen => {
            format!("已重开 {code}（回头看发现反弹，第{}次），新的整改期限{}。", it.relapses, md(it.deadline))
        }
        Action::Cancel => format!("已撤销 {code}。"),
        _ => String::new(),
    };
    ctx.reply(reply);
    if unlinked > 0 && matches!(action, Action::Submit | Action::Progress) {
        ctx.reply(format!("另有{unlinked}张照片本平台未提供下载链接，暂未保存；如需留档请通过其他渠道补交。"));
    }
    Ok(())
}

async fn show(ctx: &mut Ctx<'_>, actor: &Actor, it: &Item) -> anyhow::Result<()> {
    if let Err(d) = actor.check_view_school(it.school_id, it.zone_id) {
        ctx.reply(denied_text(d, it));
        return Ok(());
    }
    let code = item_code(it.id);
    let today = ctx.today();
    let over = overdue_days(it.status, it.deadline, today);
    let (stored, dup, pending, failed) = rs::evidence_counts(ctx.tx, it.id).await?;
    let mut lines = vec![
        format!("{code} {}（{}）", it.school_name, it.zone_name),
        format!("类别：{}；程度：{}；来源：{}", category_label(it.category), it.severity.label(), it.source.label()),
        format!("问题：{}", it.description),
        format!(
            "状态：{}；期限：{}{}",
            it.status.label(),
            md(it.deadline),
            if over > 0 { format!("（已逾期{over}天）") } else { String::new() }
        ),
    ];
    if it.owner != "school" {
        lines.push(format!("牵头部门：{}", it.owner));
    }
    lines.push(format!(
        "退回{}次，延期{}次，回头看重开{}次；照片{}张{}",
        it.returns,
        it.extensions,
        it.relapses,
        stored,
        if dup + pending + failed > 0 {
            format!("（重复{dup}，待下载{pending}，失败{failed}）")
        } else {
            String::new()
        }
    ));
    for (date, action, who, note) in rs::history(ctx.tx, it.id, 8).await? {
        let note = if note.is_empty() || ctx.in_group() { String::new() } else { format!("：{note}") };
        lines.push(format!("· {date} {who} {}{note}", event_label(&action)));
    }
    ctx.reply(lines.join("\n"));
    Ok(())
}

fn event_label(action: &str) -> &'static str {
    match action {
        "created" => "登记",
        "notified" => "通知学校",
        "acknowledged" => "确认收到",
        "progress" => "报告进展",
        "submitted" => "提交整改",
        "verifying" => "开始核查",
        "closed" => "销号",
        "closed_on_site" => "当场整改销号",
        "returned" => "退回",
        "extended" => "延期",
        "reopened" => "回头看重开",
        "cancelled" => "撤销",
        _ => "办理",
    }
}

// ---- Self-check lists (清单工作法) ----

async fn self_check_submit(ctx: &mut Ctx<'_>, actor: &Actor, args: &str) -> anyhow::Result<()> {
    let Some(school_id) = actor.school_id else { return Ok(()) };
    let (lines, bad) = dr::parse_self_check(args);
    if lines.is_empty() || !bad.is_empty() {
        let which = if bad.is_empty() {
            String::new()
        } else {
            format!("第{}行没有看懂。", bad.iter().map(ToString::to_string).collect::<Vec<_>>().join("、"))
        };
        ctx.reply(format!("{which}格式：自查清单 ↵1. <类别1-9> [轻微/一般/严重/复杂] <问题描述> ↵2. …（每行一条）"));
        return Ok(());
    }
    let id = rs::add_self_check(ctx.tx, school_id, actor.person_id, &lines, ctx.now).await?;
    let code = dr::self_check_code(id);
    let school = store::people::school_by_id(ctx.tx, school_id).await?.map(|s| s.name).unwrap_or_default();
    let mut text = vec![format!("【自查清单】{code} {school} 提交了{}条自查问题：", lines.len())];
    for (i, l) in lines.iter().enumerate() {
        // Severity labels carry no brackets of their own, so this stays one level deep.
        text.push(format!("{}. {}（{}）{}", i + 1, category_label(l.category), l.severity.label(), l.description));
    }
    text.push(format!(
        "请审核：“审核自查 {code} 通过”（可加“删除2,3”去掉不成立的条目）或“审核自查 {code} 退回 原因”。"
    ));
    let text = text.join("\n");
    for pid in rs::school_inspectors(ctx.tx, school_id).await? {
        ctx.outgoing.push(Envelope::new(
            format!("rectify:{code}:submitted:p{pid}"),
            Recipient::Person(pid),
            vec![Segment::text(text.clone())],
            format!("rectify:{code}"),
        ));
    }
    ctx.audit("rectify_self_check", Some(code.clone()), "submitted", json!({ "lines": lines.len() })).await?;
    ctx.reply(format!("已提交自查清单 {code}（{}条），等待责任督学审核。", lines.len()));
    Ok(())
}

async fn self_check_decide(ctx: &mut Ctx<'_>, actor: &Actor, id: CommandId, args: &str) -> anyhow::Result<()> {
    let confirm = id == CommandId::SelfCheckConfirm;
    let Some((sc_id, rest)) = dr::parse_self_check_ref(args) else {
        ctx.reply(format!("请写明清单编号，格式：{}", crate::domain::command::CommandSpec::get(id).usage));
        return Ok(());
    };
    let code = dr::self_check_code(sc_id);
    let Some(sc) = rs::self_check(ctx.tx, sc_id).await? else {
        ctx.reply(format!("没有找到自查清单 {code}。"));
        return Ok(());
    };
    match party_for(actor, sc.school_id) {
        Ok(Party::Inspector | Party::Supervisor) => {}
        Err(Denied::Recused) => {
            ctx.reply(format!("您对{}需回避，不能审核该校自查清单。", sc.school_name));
            return Ok(());
        }
        _ => {
            ctx.reply(format!("{code} 不属于您负责的学校（{}）。", sc.school_name));
            return Ok(());
        }
    }
    let expected = if confirm { "reviewed" } else { "submitted" };
    if sc.status != expected {
        let label = match sc.status.as_str() {
            "submitted" => "待督学审核",
            "reviewed" => "待督导室确认",
            "returned" => "已退回",
            _ => "已确认",
        };
        ctx.reply(format!("{code} 当前状态为“{label}”，不能办理这一步。"));
        return Ok(());
    }
    let rest = rest.trim();
    if let Some(reason) = rest.strip_prefix("退回").map(str::trim) {
        if reason.is_empty() {
            ctx.reply("请写明退回原因。");
            return Ok(());
        }
        rs::set_self_check_status(ctx.tx, sc_id, expected, "returned", actor.person_id, Some(reason), ctx.now).await?;
        let text = format!("【自查清单退回】{code}：{reason}。请修改后重新发送“自查清单”。");
        for pid in rs::school_contacts(ctx.tx, sc.school_id).await? {
            ctx.outgoing.push(Envelope::new(
                format!("rectify:{code}:returned:p{pid}"),
                Recipient::Person(pid),
                vec![Segment::text(text.clone())],
                format!("rectify:{code}"),
            ));
        }
        ctx.audit("rectify_self_check", Some(code.clone()), "returned", json!({ "reason": reason })).await?;
        ctx.reply(format!("已退回自查清单 {code}。"));
        return Ok(());
    }
    if !confirm {
        let drop = match rest.strip_prefix("通过").map(str::trim) {
            Some(r) => dr::parse_line_numbers(r),
            None => {
                ctx.reply(format!("请写“审核自查 {code} 通过”或“审核自查 {code} 退回 原因”。"));
                return Ok(());
            }
        };
        rs::drop_self_check_lines(ctx.tx, sc_id, &drop).await?;
        let kept = rs::self_check_lines(ctx.tx, sc_id).await?;
        if kept.is_empty() {
            ctx.reply("删去后清单为空；如自查问题都不成立，请退回并说明原因。");
            return Ok(());
        }
        rs::set_self_check_status(ctx.tx, sc_id, "submitted", "reviewed", actor.person_id, None, ctx.now).await?;
        let msg = format!(
            "【自查清单待确认】{code} {}：责任督学已审核，保留{}条。请发送“确认自查 {code}”列入整改台账。",
            sc.school_name,
            kept.len()
        );
        crate::app::broadcast::to_supervisors(ctx.app, ctx.tx, &format!("rectify:{code}:reviewed"), "rectify", &msg)
            .await?;
        ctx.audit("rectify_self_check", Some(code.clone()), "reviewed", json!({ "dropped": drop })).await?;
        ctx.reply(format!("已审核自查清单 {code}，保留{}条，已报督导室确认。", kept.len()));
        return Ok(());
    }
    // Confirmed: each kept line becomes a problem item with its notice to the school.
    let today = ctx.today();
    let days = deadline_days(&ctx.app.settings);
    let mut codes = Vec::new();
    let mut unnotified = false;
    let mut out = Vec::new();
    for (line_no, category, severity, description) in rs::self_check_lines(ctx.tx, sc_id).await? {
        let n = rs::NewItem {
            school_id: sc.school_id,
            category,
            severity,
            source: Source::SelfCheck,
            source_ref: Some(format!("self_check:{sc_id}:{line_no}")),
            description: &description,
            owner: "school",
            deadline: dr::default_deadline(severity, today, &days, &ctx.app.calendar),
            created_by: Some(actor.person_id),
        };
        let (it, reach) = create_item(ctx.tx, ctx.app, &n, ctx.now, &mut out).await?;
        rs::link_self_check_line(ctx.tx, sc_id, line_no, it.id).await?;
        codes.push(item_code(it.id));
        unnotified |= reach.is_none() && it.status == Status::Identified;
    }
    ctx.outgoing.extend(out);
    rs::set_self_check_status(ctx.tx, sc_id, "reviewed", "confirmed", actor.person_id, None, ctx.now).await?;
    ctx.audit("rectify_self_check", Some(code.clone()), "confirmed", json!({ "items": codes })).await?;
    ctx.reply(format!("已确认自查清单 {code}，列入整改台账：{}。", codes.join("、")));
    if unnotified {
        ctx.reply(unnotified_reply());
    }
    Ok(())
}

// ---- Ledger (整改台账) ----

/// Figures of a set of items.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LedgerStats {
    pub total: usize,
    pub open: usize,
    /// Open items by age since recorded: ≤7 days, 8–30, >30.
    pub by_age: [usize; 3],
    pub overdue: usize,
    /// Open items whose notice never went out (nobody listed at the school).
    pub unnotified: usize,
    pub closed_on_time: usize,
    pub closed_late: usize,
    pub cancelled: usize,
    /// Closed ÷ (total − cancelled), percent.
    pub rate: Option<f64>,
    pub avg_days_to_close: Option<f64>,
}

pub fn stats(items: &[Item], tz: chrono_tz::Tz, today: NaiveDate) -> LedgerStats {
    let mut s = LedgerStats { total: items.len(), ..LedgerStats::default() };
    let mut days = Vec::new();
    for it in items {
        let created = it.created_at.with_timezone(&tz).date_naive();
        match it.status {
            Status::Cancelled => s.cancelled += 1,
            Status::Closed => {
                if it.closed_late == Some(true) {
                    s.closed_late += 1;
                } else {
                    s.closed_on_time += 1;
                }
                if let Some(c) = it.closed_at {
                    days.push((c.with_timezone(&tz).date_naive() - created).num_days());
                }
            }
            _ => {
                s.open += 1;
                if it.status == Status::Identified {
                    s.unnotified += 1;
                }
                let age = (today - created).num_days();
                s.by_age[if age <= 7 {
                    0
                } else if age <= 30 {
                    1
                } else {
                    2
                }] += 1;
                if overdue_days(it.status, it.deadline, today) > 0 {
                    s.overdue += 1;
                }
            }
        }
    }
    let base = s.total - s.cancelled;
    if base > 0 {
        s.rate = Some(100.0 * (s.closed_on_time + s.closed_late) as f64 / base as f64);
    }
    if !days.is_empty() {
        s.avg_days_to_close = Some(days.iter().sum::<i64>() as f64 / days.len() as f64);
    }
    s
}

fn stats_text(title: &str, s: &LedgerStats) -> String {
    let rate = s.rate.map(|r| format!("{r:.1}%")).unwrap_or_else(|| "—".into());
    let avg = s.avg_days_to_close.map(|d| format!("{d:.1}天")).unwrap_or_else(|| "—".into());
    format!(
        "【整改台账】{title}\n问题{}条：在办{}（7天内{}，8–30天{}，30天以上{}），{}逾期{}；已销号{}（按期{}，逾期{}），撤销{}。\n整改率{rate}，平均销号用时{avg}。",
        s.total,
        s.open,
        s.by_age[0],
        s.by_age[1],
        s.by_age[2],
        if s.unnotified > 0 { format!("未通知{}，", s.unnotified) } else { String::new() },
        s.overdue,
        s.closed_on_time + s.closed_late,
        s.closed_on_time,
        s.closed_late,
        s.cancelled
    )
}

async fn ledger(ctx: &mut Ctx<'_>, actor: &Actor, args: &str) -> anyhow::Result<()> {
    let arg = args.trim();
    let (title, scope) = match (actor.role, arg) {
        (Role::SchoolContact, _) => {
            // Every school the contact serves.
            let mut names = Vec::new();
            for sid in &actor.contact_schools {
                names.extend(store::people::school_by_id(ctx.tx, *sid).await?.map(|s| s.name));
            }
            (names.join("、"), rs::Scope::Schools(actor.contact_schools.clone()))
        }
        (_, "" | "全县") if actor.role != Role::Inspector || arg == "全县" => {
            if actor.role == Role::Inspector {
                let zone = match actor.zone_id {
                    Some(id) => crate::store::people::zone_name(ctx.tx, id).await?,
                    None => None,
                };
                let zone = match zone {
                    Some(z) => z,
                    None => crate::app::examples::load(ctx.tx).await?.zone_name,
                };
                ctx.reply(format!("督学可查看本人负责学校或本责任区的台账，如“整改台账 {zone}”。"));
                return Ok(());
            }
            ("全县".to_string(), rs::Scope::County)
        }
        (Role::Inspector, "") => ("我负责的学校".to_string(), rs::Scope::Schools(actor.schools.clone())),
        _ => {
            if let Some(z) = store::people::find_zone(ctx.tx, arg).await? {
                if actor.check_zone(z.id).is_err() {
                    ctx.reply("您只能查看本责任区的台账。");
                    return Ok(());
                }
                (z.name, rs::Scope::Zone(z.id))
            } else {
                let schools = store::people::find_schools(ctx.tx, arg).await?;
                let [s] = schools.as_slice() else {
                    ctx.reply(format!("没有找到唯一的学校或责任区“{arg}”。"));
                    return Ok(());
                };
                if actor.check_view_school(s.id, s.zone_id).is_err() {
                    ctx.reply(format!("您不能查看{}的台账。", s.name));
                    return Ok(());
                }
                (s.name.clone(), rs::Scope::Schools(vec![s.id]))
            }
        }
    };
    let items = rs::items(ctx.tx, &scope).await?;
    let today = ctx.today();
    let s = stats(&items, ctx.app.tz, today);
    let mut lines = vec![stats_text(&title, &s)];
    let mut open: Vec<&Item> = items.iter().filter(|i| i.status.is_open()).collect();
    open.sort_by_key(|i| (std::cmp::Reverse(overdue_days(i.status, i.deadline, today)), i.deadline, i.id));
    if !open.is_empty() {
        lines.push("在办问题：".into());
    }
    for it in open.iter().take(LIST_LINES) {
        let over = overdue_days(it.status, it.deadline, today);
        lines.push(format!(
            "· {} {} {}：{}，{}，期限{}{}",
            item_code(it.id),
            it.school_name,
            category_label(it.category),
            it.description.chars().take(30).collect::<String>(),
            it.status.label(),
            md(it.deadline),
            if over > 0 { format!("，逾期{over}天") } else { String::new() }
        ));
    }
    if open.len() > LIST_LINES {
        lines.push(format!("……等共{}条", open.len()));
    }
    if matches!(actor.role, Role::Admin | Role::Supervisor) && matches!(scope, rs::Scope::County) {
        let month = dr::month_of(today);
        let rows = reconciliation(ctx.tx, today, Grouping::County).await?;
        if let Some(r) = rows.get(&(String::new(), month.clone())) {
            lines.push(format!(
                "本月对账（{month}）：期初{} + 新增{} + 重开{} − 销号{} − 撤销{} = 期末{}",
                r.opening, r.new, r.reopened, r.closed, r.cancelled, r.closing
            ));
        }
    }
    ctx.reply(lines.join("\n"));
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    County,
    Zone,
    School,
}

/// Month-end reconciliation from the event history.
pub async fn reconciliation(
    conn: &mut Conn,
    through: NaiveDate,
    grouping: Grouping,
) -> anyhow::Result<std::collections::BTreeMap<(String, String), dr::MonthRow>> {
    let events: Vec<LedgerEvent> = rs::ledger_events(conn)
        .await?
        .into_iter()
        .filter_map(|(item, school, zone, date, action)| {
            let kind = match action.as_str() {
                "created" => LedgerKind::New,
                "closed" | "closed_on_site" => LedgerKind::Closed,
                "cancelled" => LedgerKind::Cancelled,
                "reopened" => LedgerKind::Reopened,
                _ => return None,
            };
            let scope = match grouping {
                Grouping::County => String::new(),
                Grouping::Zone => zone,
                Grouping::School => school,
            };
            Some(LedgerEvent { item, scope, date: NaiveDate::parse_from_str(&date, "%Y-%m-%d").ok()?, kind })
        })
        .collect();
    Ok(dr::reconcile(&events, through))
}

async fn reconcile_command(ctx: &mut Ctx<'_>, args: &str) -> anyhow::Result<()> {
    let today = ctx.today();
    let month = match args.trim() {
        "" => dr::month_of(today),
        m => match NaiveDate::parse_from_str(&format!("{m}-01"), "%Y-%m-%d") {
            Ok(d) if d <= today => dr::month_of(d),
            _ => {
                ctx.reply("格式：整改对账 [2026-11]（不能是未来的月份）。");
                return Ok(());
            }
        },
    };
    let mut lines = vec![format!("【整改对账】{month}（期初 + 新增 + 重开 − 销号 − 撤销 = 期末）")];
    let fmt = |name: &str, r: &dr::MonthRow| {
        format!(
            "· {name}：{} + {} + {} − {} − {} = {}{}",
            r.opening,
            r.new,
            r.reopened,
            r.closed,
            r.cancelled,
            r.closing,
            if r.balances() { "" } else { "（不平）" }
        )
    };
    for grouping in [Grouping::Zone, Grouping::County] {
        for ((scope, m), r) in reconciliation(ctx.tx, today, grouping).await? {
            if m == month {
                lines.push(fmt(if scope.is_empty() { "全县" } else { &scope }, &r));
            }
        }
    }
    if lines.len() == 1 {
        lines.push("该月及以前没有整改问题记录。".into());
    }
    ctx.reply(lines.join("\n"));
    Ok(())
}

// ---- The sweep: visit problems in, reminders and escalation out ----

pub fn register(jobs: &mut Jobs) {
    jobs.register(JOB, Arc::new(RectifySweep));
}

pub fn schedules(settings: &Settings) -> Vec<ScheduleSettings> {
    let r = &settings.rectify;
    if r.sweep_cron.trim().is_empty() || settings.schedules.iter().any(|s| s.job == JOB || s.name == SCHEDULE) {
        return Vec::new();
    }
    vec![ScheduleSettings {
        name: SCHEDULE.into(),
        cron: r.sweep_cron.clone(),
        job: JOB.into(),
        enabled: Some(true),
        workdays: Some(r.sweep_workdays.clone()),
        school_days_only: Some(false),
        // The sweep looks at current state; a late run is as good as an on-time one.
        grace_minutes: Some(24 * 60),
        params: None,
    }]
}

pub struct RectifySweep;

#[async_trait]
impl Job for RectifySweep {
    async fn run(&self, app: &App, tx: &mut Tx<'static>, firing: &Firing) -> anyhow::Result<()> {
        let r = sweep(app, tx, app.clock.now()).await?;
        if r != SweepReport::default() {
            tracing::info!(schedule = %firing.schedule, ?r, "rectification sweep");
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub taken_from_visits: usize,
    pub reminders: usize,
    pub inspector: usize,
    pub bulletin: usize,
    pub interview: usize,
    /// Reminders and follow-ups not sent because no channel reaches the person yet.
    pub unreachable: usize,
    /// Notices sent now for items nobody at the school could be told of when recorded.
    pub late_notices: usize,
}

/// Safe to run any number of times: each step of each item fires once (rectify_escalations).
pub async fn sweep(app: &App, conn: &mut Tx<'static>, now: DateTime<Utc>) -> anyhow::Result<SweepReport> {
    let mut report = SweepReport::default();
    let today = local_date(app, now);
    let mut out = Vec::new();
    // Problems written down on visits become items with their visit's follow-up as severity.
    for vp in rs::new_visit_problems(conn).await? {
        if !rs::take_visit_problem(conn, vp.id).await? {
            continue;
        }
        let severity = match vp.follow_up.as_deref().and_then(Severity::parse) {
            Some(s) => s,
            None => Severity::General,
        };
        let n = rs::NewItem {
            school_id: vp.school_id,
            category: vp.category,
            severity,
            source: Source::Visit,
            source_ref: Some(format!("visit_problem:{}", vp.id)),
            description: &vp.description,
            owner: "school",
            deadline: dr::default_deadline(severity, today, &deadline_days(&app.settings), &app.calendar),
            created_by: Some(vp.person_id),
        };
        let (it, reach) = create_item(conn, app, &n, now, &mut out).await?;
        if reach.is_none() && it.status == Status::Identified {
            // The inspector who wrote the visit record hears it too, not only the office.
            let text = format!(
                "【整改通知未发出】{} {}：{}。{}",
                item_code(it.id),
                it.school_name,
                it.description,
                unnotified_reply()
            );
            out.push(env(
                format!("rectify:{}:unnotified:p{}", item_code(it.id), vp.person_id),
                Recipient::Person(vp.person_id),
                text,
                it.id,
            ));
        }
        report.taken_from_visits += 1;
    }
    // Notices that could not go out before: someone is listed at the school now.
    for mut it in rs::unnotified_items(conn).await? {
        it.deadline = dr::deadline_when_notified(local_date(app, it.created_at), it.deadline, today, &app.calendar);
        if send_notice(conn, app, &mut it, None, now, &mut out).await?.is_some() {
            report.late_notices += 1;
        }
    }
    let ladder = ladder(&app.settings);
    let mut bulletin = Vec::new();
    let mut interview = Vec::new();
    for it in rs::open_items(conn).await? {
        let code = item_code(it.id);
        let over = overdue_days(it.status, it.deadline, today);
        for stage in dr::due_stages(it.status, it.deadline, it.returns, today, &ladder) {
            if !rs::escalate_once(conn, it.id, &stage.key(it.deadline), now).await? {
                continue;
            }
            match stage {
                Stage::Remind(d) => {
                    let when = if d == 0 { "今天到期".to_string() } else { format!("还有{d}天到期") };
                    let text = format!(
                        "【整改提醒】{code} {}：“{}”整改期限{}（{when}），当前状态“{}”。整改完成后请发送“完成 {code} 整改情况”并附照片。",
                        it.school_name,
                        it.description,
                        md(it.deadline),
                        it.status.label()
                    );
                    for pid in rs::school_contacts(conn, it.school_id).await? {
                        out.push(Envelope {
                            delivery: Delivery::AtMostOnce,
                            ..env(
                                format!("rectify:{code}:{}:p{pid}", stage.key(it.deadline)),
                                Recipient::Person(pid),
                                text.clone(),
                                it.id,
                            )
                        });
                    }
                    report.reminders += 1;
                }
                Stage::Inspector => {
                    let text = format!(
                        "【整改逾期】{code} {}：“{}”已逾期{over}天（期限{}），学校尚未提交整改。请跟进督促；确需延期请发送“延期 {code} 新期限 原因”。",
                        it.school_name,
                        it.description,
                        md(it.deadline)
                    );
                    for pid in rs::school_inspectors(conn, it.school_id).await? {
                        out.push(Envelope {
                            delivery: Delivery::AtMostOnce,
                            ..env(format!("rectify:{code}:L1:p{pid}"), Recipient::Person(pid), text.clone(), it.id)
                        });
                    }
                    report.inspector += 1;
                }
                Stage::Bulletin => bulletin.push((it.clone(), over)),
                Stage::Interview => interview.push((it.clone(), over)),
            }
        }
    }
    let stamp = now.timestamp();
    for (list, title, rule) in [
        (
            &bulletin,
            "督导通报名单",
            format!("逾期{}天以上或退回{}次", ladder.bulletin_after_days, ladder.bulletin_after_returns),
        ),
        (&interview, "约谈名单", format!("逾期{}天以上", ladder.interview_after_days)),
    ] {
        if list.is_empty() {
            continue;
        }
        let mut lines = vec![format!("【{title}】以下整改问题{rule}，建议列入{title}：")];
        for (it, over) in list.iter().take(LIST_LINES * 2) {
            lines.push(format!(
                "· {} {}（{}）{}：{}{}",
                item_code(it.id),
                it.school_name,
                it.zone_name,
                category_label(it.category),
                if *over > 0 { format!("逾期{over}天") } else { String::new() },
                if it.returns > 0 { format!("，退回{}次", it.returns) } else { String::new() }
            ));
        }
        if list.len() > LIST_LINES * 2 {
            lines.push(format!("……等共{}条", list.len()));
        }
        let key = format!("rectify:{}:{stamp}", if title == "约谈名单" { "L3" } else { "L2" });
        crate::app::broadcast::to_supervisors(app, conn, &key, "rectify", &lines.join("\n")).await?;
    }
    report.bulletin = bulletin.len();
    report.interview = interview.len();
    for e in out {
        // A reminder parked for someone nobody can reach yet would arrive stale once they bind.
        if e.delivery == Delivery::AtMostOnce
            && crate::outbox::route::resolve(conn, &app.directory, &e.to, false).await?.is_none()
        {
            report.unreachable += 1;
            continue;
        }
        crate::outbox::enqueue(conn, &app.directory, now, e).await?;
    }
    Ok(report)
}

// ---- Evidence fetcher ----

// The fetcher lives in `app::evidence`; these names stay available here.
pub use crate::app::evidence::{evidence_dir, evidence_loop, fetch_evidence, FetchReport};
