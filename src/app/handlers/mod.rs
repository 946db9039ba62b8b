//! Command dispatch: the special pre-routing (a problem id, a notice receipt, everyday words as
//! chatter), role and place checks from the catalog, then the command's workflow in the
//! registry; free text goes to the workflows' claims. Returns the intent recorded on the
//! inbound message. The small workflows' handlers live beside this file.

pub mod account;
pub mod admin;
pub mod group;
pub mod leave;
pub mod notice;
pub mod round;
pub mod school;

use super::Ctx;
use crate::app::task;
use crate::domain::command::{self, CommandId, CommandSpec, Place};

/// The intent `dispatch` answers in the write path for a read-only command, which is then
/// answered outside it (`App::answer_deferred`, where the command runs).
pub const DEFERRED: &str = "deferred";

pub async fn dispatch(ctx: &mut Ctx<'_>) -> anyhow::Result<&'static str> {
    let text = ctx.msg.command_text();
    let Some(cmd) = command::parse(&text) else {
        return not_a_command(ctx).await;
    };
    // "收到 W12", "完成 W12 …": the everyday task words address a rectification item by its id.
    let cmd = crate::app::rectify::reroute(cmd);
    // "收到", "完成", "通过" are everyday words: without a task id or a quoted task notice they are chatter.
    // "收到 N3", a quoted notice, or a bare 收到 with a notice awaiting a receipt.
    if let Some(intent) = notice::intercept_ack(ctx, &cmd).await? {
        return Ok(intent);
    }
    if task::is_chatter(ctx, &cmd).await? {
        return Ok("chatter");
    }
    let spec = CommandSpec::get(cmd.id);
    let role = ctx.actor.as_ref().map(|a| a.role);
    // An unbound account learns how to bind and nothing else; only a binding attempt is answered.
    if role.is_none() && cmd.id != CommandId::Bind {
        ctx.hint_unbound().await?;
        return Ok(if spec.allowed(None) { "unbound" } else { "denied" });
    }
    if let (false, Some(r)) = (spec.allowed(role), role) {
        ctx.reply(format!("抱歉，{}身份不能使用“{}”。发送“帮助”查看您可用的指令。", r.label(), spec.names[0]));
        return Ok("denied");
    }
    match (spec.place, ctx.in_group()) {
        (Place::GroupOnly, false) => {
            ctx.reply(format!("“{}”需要在群里发送。", spec.names[0]));
            return Ok("wrong_place");
        }
        (Place::PrivateOnly, true) => {
            ctx.reply(format!("“{}”涉及个人信息，请私聊我发送。", spec.names[0]));
            return Ok("wrong_place");
        }
        _ => {}
    }
    if spec.reads_only() && !ctx.tx.is_read() {
        return Ok(DEFERRED);
    }
    ctx.app.registry.command(ctx, cmd.id, cmd.args.as_str()).await
}

/// Free text: chatter in a group is stored and left alone; text addressed to the bot gets a hint.
async fn not_a_command(ctx: &mut Ctx<'_>) -> anyhow::Result<&'static str> {
    // Workflows that take free text (a visit answer, a weekly report quoting the prompt) look
    // first, in the registry's order, each only when its in-memory pre-check allows.
    let text = ctx.msg.command_text();
    if let Some(intent) = ctx.app.registry.claim(ctx, &text).await? {
        return Ok(intent);
    }
    if !ctx.msg.to_me {
        return Ok("chatter");
    }
    if ctx.actor.is_none() {
        ctx.hint_unbound().await?;
        return Ok("unbound");
    }
    ctx.reply("没有看懂这条消息。发送“帮助”查看可用指令。");
    Ok("unknown")
}
