//! Supervisor notices (通知): `发通知 <对象> <内容> [需回执]` goes to each recipient through the
//! outbox like every other send (routing, pacing, audit); with 回执, recipients acknowledge with
//! `收到 N编号` or by quoting the notice, and `通知情况 N编号` shows who has and who has not.
//! Targets are read exactly as task targets are (`task::resolve_targets`).

use crate::app::task::{self, Addressees};
use crate::app::Ctx;
use crate::chat::Segment;
use crate::domain::command::{CommandId, ParsedCommand};
use crate::domain::notice::{notice_code, parse_notice, parse_notice_ref, NoticeError};
use crate::outbox::{Envelope, Recipient};
use crate::store::{self, notices::NewNotice};
use serde_json::json;

/// More recipients than this in one notice is a mistake (the county has ~300 people).
const MAX_RECIPIENTS: usize = 500;
/// Names listed in one line of a status reply before "等N人".
const LIST_NAMES: usize = 30;

pub async fn handle(ctx: &mut Ctx<'_>, id: CommandId, args: &str) -> anyhow::Result<()> {
    match id {
        CommandId::NoticeSend => send(ctx, args).await,
        CommandId::NoticeStatus => status(ctx, args).await,
        CommandId::NoticeAck => acknowledge_ref(ctx, args).await,
        _ => Ok(()),
    }
}

/// "收到" meant for a notice rather than a task: `收到 N3`, a quoted notice, or a bare 收到 from
/// someone with a notice awaiting their receipt. With both a task and a notice (or several
/// notices) waiting, a bare 收到 asks which instead of guessing. Returns the intent when the
/// message was handled here; `None` leaves it to the task workflow.
pub async fn intercept_ack(ctx: &mut Ctx<'_>, cmd: &ParsedCommand) -> anyhow::Result<Option<&'static str>> {
    if cmd.id != CommandId::TaskAck {
        return Ok(None);
    }
    let Some(actor) = ctx.actor.clone() else { return Ok(None) };
    let args = cmd.args.trim();
    if args.starts_with(['N', 'n']) && parse_notice_ref(args).is_some() {
        acknowledge_ref(ctx, args).await?;
        return Ok(Some("notice_ack"));
    }
    if !args.is_empty() {
        return Ok(None);
    }
    if let Some(quoted) = ctx.msg.reply_to().map(str::to_string) {
        let channel = ctx.msg.chat.channel.clone();
        return Ok(match store::notices::by_platform_message(ctx.tx, &channel, &quoted).await? {
            Some(id) => {
                acknowledge(ctx, id, "quote").await?;
                Some("notice_ack")
            }
            None => None,
        });
    }
    // Bare 收到 in a group without addressing the bot stays chatter (the task rule).
    if ctx.in_group() && !ctx.msg.to_me {
        return Ok(None);
    }
    let notices = store::notices::awaiting_receipt(ctx.tx, actor.person_id).await?;
    if notices.is_empty() {
        return Ok(None);
    }
    let tasks = task::awaiting_ack(ctx, actor.person_id).await?;
    if let ([(id, _)], []) = (notices.as_slice(), tasks.as_slice()) {
        acknowledge(ctx, *id, "command").await?;
        return Ok(Some("notice_ack"));
    }
    let mut items: Vec<String> = tasks.iter().map(|(code, title)| format!("任务 {code}“{title}”")).collect();
    items.extend(notices.iter().map(|(id, body)| format!("通知 {}“{}”", notice_code(*id), excerpt(body))));
    let example = tasks.first().map_or_else(|| notice_code(notices[0].0), |(code, _)| code.clone());
    ctx.reply(format!("您有{}项待确认：{}。请写明编号，例如：收到 {example}", items.len(), items.join("；")));
    Ok(Some("ack_ambiguous"))
}

fn excerpt(body: &str) -> String {
    let first = body.lines().next().unwrap_or("");
    let short: String = first.chars().take(16).collect();
    if short.chars().count() < body.chars().count() {
        format!("{short}…")
    } else {
        short
    }
}

async fn send(ctx: &mut Ctx<'_>, args: &str) -> anyhow::Result<()> {
    let Some(actor) = ctx.actor.clone() else { return Ok(()) };
    let mentions = task::mentions(ctx);
    let spec = match parse_notice(args, !mentions.is_empty()) {
        Ok(s) => s,
        Err(e @ (NoticeError::MissingTargets | NoticeError::MissingBody | NoticeError::BodyTooLong)) => {
            ctx.reply(format!("通知未发送。{e}"));
            return Ok(());
        }
    };
    let Addressees { people, problems, no_contact } = task::resolve_targets(ctx, &spec.targets, &mentions).await?;
    if !problems.is_empty() {
        ctx.reply(format!("通知未发送。{}", problems.join("\n")));
        return Ok(());
    }
    if people.is_empty() {
        ctx.reply("通知未发送：通知对象中没有可通知的人员。");
        return Ok(());
    }
    if people.len() > MAX_RECIPIENTS {
        ctx.reply(format!("通知未发送：接收人共{}人，超过上限{MAX_RECIPIENTS}人，请缩小范围。", people.len()));
        return Ok(());
    }
    let targets_json = task::targets_as_typed(&spec.targets, &mentions);
    let new = NewNotice {
        body: &spec.body,
        targets: json!(targets_json),
        receipt: spec.receipt,
        created_by: actor.person_id,
        inbound_id: Some(ctx.inbound_id),
    };
    let id = store::notices::create(ctx.tx, new, ctx.now).await?;
    let code = notice_code(id);
    let mut text = format!("【督导室通知 {code}】\n{}\n发布人：{}（督导室）", spec.body, actor.name);
    if spec.receipt {
        text.push_str(&format!("\n请回复“收到 {code}”确认（也可引用本消息回复“收到”）。"));
    }
    let mut unreachable = Vec::new();
    for p in &people {
        let key = format!("notice:{code}:p{}", p.id);
        store::notices::add_recipient(ctx.tx, id, p.id, &key).await?;
        ctx.outgoing.push(Envelope::new(
            key,
            Recipient::Person(p.id),
            vec![Segment::text(text.clone())],
            format!("notice:{code}"),
        ));
        if !task::reachable(ctx, p.id).await? {
            unreachable.push(p.name.clone());
        }
    }
    ctx.audit(
        "notice",
        Some(code.clone()),
        "sent",
        json!({
            "targets": targets_json,
            "receipt": spec.receipt,
            "recipients": people.iter().map(|p| p.code.clone()).collect::<Vec<_>>(),
        }),
    )
    .await?;
    let names: Vec<&str> = people.iter().take(LIST_NAMES).map(|p| p.name.as_str()).collect();
    let more = if people.len() > LIST_NAMES { format!("等{}人", people.len()) } else { String::new() };
    let mut lines = vec![format!("已发送通知 {code}，接收人（{}）：{}{more}", people.len(), names.join("、"))];
    if !no_contact.is_empty() {
        lines.push(format!("以下学校没有登记联络员或校长，未能通知：{}。", no_contact.join("、")));
    }
    if !unreachable.is_empty() {
        lines.push(format!(
            "其中{}人暂时无法送达（尚未绑定聊天账号）：{}；绑定后会自动补发。",
            unreachable.len(),
            unreachable.iter().take(10).cloned().collect::<Vec<_>>().join("、")
        ));
    }
    lines.push(if spec.receipt {
        format!("已要求回执。发送“通知情况 {code}”查看确认情况。")
    } else {
        format!("发送“通知情况 {code}”查看送达情况。")
    });
    ctx.reply(lines.join("\n"));
    Ok(())
}

/// `收到 N3` / `收到通知 N3`.
async fn acknowledge_ref(ctx: &mut Ctx<'_>, args: &str) -> anyhow::Result<()> {
    match parse_notice_ref(args) {
        Some((id, _)) => acknowledge(ctx, id, "command").await,
        None => {
            ctx.reply("请写明通知编号，例如：收到 N1（也可引用通知直接回复“收到”）。");
            Ok(())
        }
    }
}

async fn acknowledge(ctx: &mut Ctx<'_>, id: i64, via: &str) -> anyhow::Result<()> {
    let Some(actor) = ctx.actor.clone() else { return Ok(()) };
    let code = notice_code(id);
    if store::notices::get(ctx.tx, id).await?.is_none() {
        ctx.reply(format!("没有找到通知{code}。"));
        return Ok(());
    }
    let recipients = store::notices::recipients(ctx.tx, id).await?;
    let Some(mine) = recipients.iter().find(|r| r.person_id == actor.person_id) else {
        ctx.reply(format!("您不在通知{code}的接收人中，无需确认。"));
        return Ok(());
    };
    if !store::notices::ack(ctx.tx, mine.id, via, ctx.now).await? {
        ctx.reply(format!("您已确认过通知 {code}。"));
        return Ok(());
    }
    ctx.audit("notice", Some(code.clone()), "acknowledged", json!({ "person": actor.code, "via": via })).await?;
    ctx.reply(format!("已确认收到通知 {code}。"));
    Ok(())
}

/// `通知情况 N3`: delivery, and with 回执 who acknowledged and who did not.
async fn status(ctx: &mut Ctx<'_>, args: &str) -> anyhow::Result<()> {
    let Some((id, _)) = parse_notice_ref(args) else {
        ctx.reply("请写明通知编号，例如：通知情况 N1");
        return Ok(());
    };
    let code = notice_code(id);
    let Some(notice) = store::notices::get(ctx.tx, id).await? else {
        ctx.reply(format!("没有找到通知{code}。"));
        return Ok(());
    };
    let recipients = store::notices::recipients(ctx.tx, id).await?;
    let tz = ctx.app.tz;
    let when = notice.created_at.with_timezone(&tz).format("%m月%d日 %H:%M");
    let mut lines = vec![
        format!("通知 {code}（{}，{when}）：{}", notice.creator_name, excerpt(&notice.body)),
        delivery_line(&recipients),
    ];
    let list = |rs: &[&store::notices::Recipient]| {
        let names: Vec<&str> = rs.iter().take(LIST_NAMES).map(|r| r.name.as_str()).collect();
        let more = if rs.len() > LIST_NAMES { "等" } else { "" };
        format!("{}{more}", names.join("、"))
    };
    if notice.receipt {
        let (acked, waiting): (Vec<_>, Vec<_>) = recipients.iter().partition(|r| r.acked);
        lines.push(if acked.is_empty() {
            "已确认（0）".to_string()
        } else {
            format!("已确认（{}）：{}", acked.len(), list(&acked))
        });
        if !waiting.is_empty() {
            lines.push(format!("未确认（{}）：{}", waiting.len(), list(&waiting)));
        }
    } else {
        lines.push("本通知未要求回执。".into());
    }
    ctx.reply(lines.join("\n"));
    Ok(())
}

fn delivery_line(recipients: &[store::notices::Recipient]) -> String {
    let count = |f: &dyn Fn(Option<&str>) -> bool| recipients.iter().filter(|r| f(r.delivery.as_deref())).count();
    let sent = count(&|d| d == Some("sent"));
    let failed = count(&|d| matches!(d, Some("dead" | "unroutable" | "cancelled")));
    let waiting = recipients.len() - sent - failed;
    let mut line = format!("接收人{}人：已送达{sent}", recipients.len());
    if waiting > 0 {
        line.push_str(&format!("，待发送{waiting}"));
    }
    if failed > 0 {
        line.push_str(&format!("，未能送达{failed}"));
    }
    line
}

/// Notices (通知) and their receipts.
pub struct Notices;

#[async_trait::async_trait]
impl crate::app::registry::Workflow for Notices {
    fn name(&self) -> &'static str {
        "notices"
    }
    fn commands(&self) -> &'static [crate::domain::command::CommandId] {
        use crate::domain::command::CommandId;
        &[CommandId::NoticeSend, CommandId::NoticeStatus, CommandId::NoticeAck]
    }
    async fn command(
        &self,
        ctx: &mut Ctx<'_>,
        id: crate::domain::command::CommandId,
        args: &str,
    ) -> anyhow::Result<Option<&'static str>> {
        handle(ctx, id, args).await?;
        Ok(None)
    }
}
