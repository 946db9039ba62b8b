//! The problem commands: recording, the moves of an existing item, and showing one.

use super::*;

pub(super) async fn record(ctx: &mut Ctx<'_>, actor: &Actor, args: &str) -> anyhow::Result<()> {
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
    let (it, reach) = create_item(ctx.tx, &ctx.app.job_ctx, &n, ctx.now, &mut out).await?;
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

pub(super) fn refused_text(r: Refused, action: Action, it: &Item) -> String {
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

/// Everything that moves an existing item, from a chat command (`销号 W12`, `退回 W12 原因`, …):
/// the message's photos are the evidence; the move itself is [`move_item`], which the
/// platform's forms call too.
pub(super) async fn act(
    ctx: &mut Ctx<'_>,
    actor: &Actor,
    party: Party,
    it: Item,
    id: CommandId,
    rest: &str,
) -> anyhow::Result<()> {
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
    // A link (QQ) or the platform's file id, which the channel that received it resolves
    // through its own download API (Telegram getFile, WeCom media/get).
    let images: Vec<MediaRef> = ctx.msg.images().filter(|m| downloadable(m)).cloned().collect();
    let unlinked = ctx.msg.images().count() - images.len();
    let origin = Origin::Chat { inbound_id: ctx.inbound_id, channel: &ctx.msg.chat.channel };
    let mut out = Vec::new();
    let moved = move_item(ctx.tx, ctx.app, ctx.now, actor, party, it, action, rest, &images, origin, &mut out).await?;
    ctx.outgoing.extend(out);
    match moved {
        Moved::Refused { text, .. } => ctx.reply(text),
        Moved::Done { reply } => {
            ctx.reply(reply);
            if unlinked > 0 && matches!(action, Action::Submit | Action::Progress) {
                ctx.reply(format!("另有{unlinked}张照片本平台未提供下载方式，暂未保存；如需留档请通过其他渠道补交。"));
            }
        }
    }
    Ok(())
}

/// Where a move of an item comes from: a chat message, or the platform's pages (`via = web`).
#[derive(Clone, Copy)]
pub(crate) enum Origin<'a> {
    Chat { inbound_id: i64, channel: &'a str },
    Web,
}

/// What [`move_item`] did.
pub(crate) enum Moved {
    /// Nothing was written. `not_allowed`: the person's role may not take this step at all
    /// (rather than the item's state or the input being wrong).
    Refused { text: String, not_allowed: bool },
    /// The item moved; the answer for the person who moved it.
    Done { reply: String },
}

/// Moves an existing item by `action` (the domain's transition rule for `party`), with the
/// checks of its arguments, the item's history, the audit entry and the notices to the school
/// or its inspectors (pushed to `outgoing`, to be queued in the caller's transaction). The
/// one implementation of 确认/进展/完成/销号/退回/延期/回头看/撤销, for the chat and the platform.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn move_item(
    tx: &mut Tx<'static>,
    app: &crate::app::App,
    now: DateTime<Utc>,
    actor: &Actor,
    party: Party,
    mut it: Item,
    action: Action,
    rest: &str,
    images: &[MediaRef],
    origin: Origin<'_>,
    outgoing: &mut Vec<Envelope>,
) -> anyhow::Result<Moved> {
    let code = item_code(it.id);
    let refused = |r: Refused, it: &Item| Moved::Refused {
        text: refused_text(r, action, it),
        not_allowed: r == Refused::NotAllowed,
    };
    let bad = |text: String| Moved::Refused { text, not_allowed: false };
    // Verification starts when the inspector takes up a submitted report.
    let verify_first = matches!(action, Action::Close | Action::Return) && it.status == Status::Submitted;
    let from = if verify_first { Status::Verifying } else { it.status };
    if verify_first {
        if let Err(r) = transition(it.status, Action::StartVerify, party) {
            return Ok(refused(r, &it));
        }
    }
    let next = match transition(from, action, party) {
        Ok(s) => s,
        Err(r) => return Ok(refused(r, &it)),
    };
    let today = now.with_timezone(&app.tz).date_naive();
    let note = rest.trim();
    // Validate the arguments before anything is written.
    let mut new_deadline = None;
    match action {
        Action::Return | Action::Cancel if note.is_empty() => {
            return Ok(bad(format!(
                "请写明原因，如“{} {code} 原因”。",
                if action == Action::Return { "退回" } else { "撤销问题" }
            )));
        }
        Action::Submit if note.is_empty() && images.is_empty() => {
            return Ok(bad(format!(
                "请写明整改情况并附整改后的照片，如“完成 {code} 已清理消防通道”（同一条消息附图）。"
            )));
        }
        Action::Progress if note.is_empty() => {
            return Ok(bad(format!("请写明进展，如“进展 {code} 已采购灭火器”。")));
        }
        Action::Extend => {
            let mut parts = note.splitn(2, char::is_whitespace);
            let date = parts.next().and_then(|d| parse_deadline(d, today));
            let reason = parts.next().map(str::trim).unwrap_or_default();
            match date {
                Some(d) if d > it.deadline && !reason.is_empty() => new_deadline = Some(d),
                Some(d) if d <= it.deadline => {
                    return Ok(bad(format!("新期限须晚于原期限{}。", md(it.deadline))));
                }
                _ => {
                    return Ok(bad(format!("格式：延期 {code} <新期限，如12月10日> <原因>（延期须写明原因）。")));
                }
            }
        }
        _ => {}
    }
    let me = Some(actor.person_id);
    let note_opt = (!note.is_empty()).then_some(note);
    if verify_first {
        apply(tx, &app.job_ctx, &mut it, Action::StartVerify, Status::Verifying, me, None, now).await?;
    }
    match action {
        Action::Close => {
            it.closed_at = Some(now);
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
                &deadline_days(&app.settings),
                &app.calendar,
            );
        }
        _ => {}
    }
    let event_id = apply(tx, &app.job_ctx, &mut it, action, next, me, note_opt, now).await?;
    let (via, seq) = match origin {
        Origin::Chat { inbound_id, channel } => (channel, inbound_id.to_string()),
        Origin::Web => ("web", format!("web{event_id}")),
    };
    if action == Action::Submit || action == Action::Progress {
        for m in images {
            rs::add_photo(tx, it.id, event_id, &new_evidence(via, m), now).await?;
        }
    }
    let entry = store::audit::AuditEntry {
        actor_id: me,
        via,
        entity: "rectify",
        entity_id: Some(code.clone()),
        action: action.as_str(),
        detail: json!({ "note": note, "images": images.len() }),
    };
    store::audit::record(tx, now, entry).await?;

    // Who hears about it.
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
        for pid in rs::school_contacts(tx, it.school_id).await? {
            if Some(pid) != me {
                outgoing.push(env(
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
        for pid in rs::school_inspectors(tx, it.school_id).await? {
            outgoing.push(env(
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
                format!("（未附照片，核查时可能需要补充；可在{PHOTO_FOLLOW_UP_MINUTES}分钟内直接发送照片补上）")
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
    Ok(Moved::Done { reply })
}

/// Whether the person may verify the item now (销号 or 退回: the transition rule for their
/// party, starting verification of a submitted item first) — what the platform offers forms for.
pub(crate) fn may_verify(actor: &Actor, it: &Item) -> bool {
    let Ok(party) = party_for(actor, it.school_id) else { return false };
    let from = if it.status == Status::Submitted {
        match transition(it.status, Action::StartVerify, party) {
            Ok(s) => s,
            Err(_) => return false,
        }
    } else {
        it.status
    };
    [Action::Close, Action::Return].into_iter().all(|a| transition(from, a, party).is_ok())
}

/// Photos sent on their own within this many minutes of the sender's own completion or
/// progress report are that report's evidence. Platforms whose messages carry either text or a
/// picture, never both (WeCom self-built apps, QQ clients sending a photo separately), need it.
pub(super) const PHOTO_FOLLOW_UP_MINUTES: i64 = 10;

/// Whether the fetcher has anything to go on: a link, or a file id for the channel to resolve.
fn downloadable(m: &MediaRef) -> bool {
    let some = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.trim().is_empty());
    some(&m.url) || some(&m.file_id)
}

fn new_evidence<'a>(channel: &'a str, m: &'a MediaRef) -> rs::NewEvidence<'a> {
    let some = |v: &'a Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty());
    rs::NewEvidence { channel, url: some(&m.url), file_id: some(&m.file_id) }
}

/// Photos alone (no text), privately or addressed to the bot: the evidence of the sender's
/// completion or progress report of the last [`PHOTO_FOLLOW_UP_MINUTES`] minutes. A school
/// contact without such a report hears how to send them; anyone else is left to the usual
/// answer.
pub(super) async fn follow_up_photos(ctx: &mut Ctx<'_>) -> anyhow::Result<Option<&'static str>> {
    let Some(actor) = ctx.actor.clone() else { return Ok(None) };
    let images: Vec<MediaRef> = ctx.msg.images().filter(|m| downloadable(m)).cloned().collect();
    let since = ctx.now - chrono::Duration::minutes(PHOTO_FOLLOW_UP_MINUTES);
    let Some((item_id, event_id)) = rs::recent_report_event(ctx.tx, actor.person_id, since).await? else {
        if actor.role != Role::SchoolContact {
            return Ok(None);
        }
        ctx.reply(format!(
            "收到照片。如是整改照片，请先发送“完成 W编号 整改情况”（或“进展 W编号 情况”），\
             再在{PHOTO_FOLLOW_UP_MINUTES}分钟内发送照片；也可在同一条消息里附图。"
        ));
        return Ok(Some("rectify_photo_hint"));
    };
    let code = item_code(item_id);
    if images.is_empty() {
        ctx.reply(format!("这张照片本平台未提供下载方式，未能存入 {code} 的整改证据；如需留档请通过其他渠道补交。"));
        return Ok(Some("rectify_photos"));
    }
    for m in &images {
        rs::add_photo(ctx.tx, item_id, event_id, &new_evidence(&ctx.msg.chat.channel, m), ctx.now).await?;
    }
    ctx.audit("rectify", Some(code.clone()), "photos", json!({ "images": images.len() })).await?;
    ctx.reply(format!("已收到 {code} 的整改照片{}张，已存入整改台账。", images.len()));
    Ok(Some("rectify_photos"))
}

pub(super) async fn show(ctx: &mut Ctx<'_>, actor: &Actor, it: &Item) -> anyhow::Result<()> {
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
    // Only those who may see the photos learn how to ask for them.
    if stored > 0 && actor.check_see_evidence(it.school_id).is_ok() {
        lines.push(format!("私聊发送“证据 {code}”可查看照片。"));
    }
    for (date, action, who, note) in rs::history(ctx.tx, it.id, 8).await? {
        let note = if note.is_empty() || ctx.in_group() { String::new() } else { format!("：{note}") };
        lines.push(format!("· {date} {who} {}{note}", event_label(&action)));
    }
    ctx.reply(lines.join("\n"));
    Ok(())
}

pub(crate) fn event_label(action: &str) -> &'static str {
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
