//! Command dispatch: role and place checks, then the handler. Returns the intent recorded on
//! the inbound message.

mod account;
mod admin;
mod group;
mod leave;
mod notice;
mod round;
mod school;
pub mod task;

use super::Ctx;
use crate::domain::command::{self, CommandId, CommandSpec, Place};

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
    let args = cmd.args.as_str();
    match cmd.id {
        CommandId::Help => account::help(ctx, args).await?,
        CommandId::Bind => account::bind(ctx, args).await?,
        CommandId::WhoAmI => account::whoami(ctx).await?,
        CommandId::IssueCode => account::issue_code(ctx, args).await?,
        CommandId::RegisterGroup => group::register(ctx, args).await?,
        CommandId::School => school::show(ctx, args).await?,
        CommandId::Leave => leave::request(ctx, args).await?,
        CommandId::CancelLeave => leave::cancel(ctx).await?,
        CommandId::Queue => admin::queue(ctx).await?,
        CommandId::WeeklyReport => crate::app::weekly::command(ctx, args).await?,
        CommandId::MyWeekly => crate::app::weekly::mine(ctx).await?,
        CommandId::WeeklyStats => crate::app::weekly::stats_command(ctx, args).await?,
        CommandId::WeeklyStart => round::start_weekly(ctx).await?,
        CommandId::TaskCreate
        | CommandId::TaskAck
        | CommandId::TaskProgress
        | CommandId::TaskDone
        | CommandId::TaskApprove
        | CommandId::TaskReturn
        | CommandId::TaskShow
        | CommandId::TaskMine
        | CommandId::TaskList
        | CommandId::TaskCancel
        | CommandId::TaskReassign
        | CommandId::TaskClose
        | CommandId::TaskExtend => task::handle(ctx, cmd.id, args).await?,
        CommandId::ThemePublish => crate::app::monthly::publish(ctx, args).await?,
        CommandId::ThemeShow => crate::app::monthly::show(ctx).await?,
        CommandId::VisitLog => return crate::app::monthly::log_visit(ctx, args).await,
        CommandId::MyProgress => crate::app::monthly::my_progress(ctx).await?,
        CommandId::VisitProgress => crate::app::monthly::zone_progress(ctx, args).await?,
        CommandId::MonthlyReport => crate::app::monthly::report_command(ctx, args).await?,
        CommandId::ProblemRecord
        | CommandId::ProblemAck
        | CommandId::ProblemProgress
        | CommandId::ProblemSubmit
        | CommandId::ProblemClose
        | CommandId::ProblemReturn
        | CommandId::ProblemExtend
        | CommandId::ProblemReopen
        | CommandId::ProblemCancel
        | CommandId::ProblemShow
        | CommandId::ProblemLedger
        | CommandId::ProblemReconcile
        | CommandId::SelfCheckSubmit
        | CommandId::SelfCheckReview
        | CommandId::SelfCheckConfirm => crate::app::rectify::command(ctx, cmd.id, args).await?,
        CommandId::NoticeSend | CommandId::NoticeStatus | CommandId::NoticeAck => {
            notice::handle(ctx, cmd.id, args).await?
        }
    }
    Ok(command_intent(cmd.id))
}

fn command_intent(id: CommandId) -> &'static str {
    match id {
        CommandId::Help => "help",
        CommandId::Bind => "bind",
        CommandId::WhoAmI => "whoami",
        CommandId::IssueCode => "issue_code",
        CommandId::RegisterGroup => "register_group",
        CommandId::School => "school",
        CommandId::Leave => "leave",
        CommandId::CancelLeave => "cancel_leave",
        CommandId::Queue => "queue",
        CommandId::WeeklyReport => "weekly_command",
        CommandId::MyWeekly => "weekly_mine",
        CommandId::WeeklyStats => "weekly_stats",
        CommandId::WeeklyStart => "weekly_start",
        CommandId::TaskCreate => "task_create",
        CommandId::TaskAck => "task_ack",
        CommandId::TaskProgress => "task_progress",
        CommandId::TaskDone => "task_done",
        CommandId::TaskApprove => "task_approve",
        CommandId::TaskReturn => "task_return",
        CommandId::TaskShow => "task_show",
        CommandId::TaskMine => "task_mine",
        CommandId::TaskList => "task_list",
        CommandId::TaskCancel => "task_cancel",
        CommandId::TaskReassign => "task_reassign",
        CommandId::TaskClose => "task_close",
        CommandId::TaskExtend => "task_extend",
        CommandId::ThemePublish => "theme_publish",
        CommandId::ThemeShow => "theme_show",
        CommandId::VisitLog => "visit",
        CommandId::MyProgress => "my_progress",
        CommandId::VisitProgress => "visit_progress",
        CommandId::MonthlyReport => "monthly_report",
        CommandId::ProblemRecord => "problem_record",
        CommandId::ProblemAck => "problem_ack",
        CommandId::ProblemProgress => "problem_progress",
        CommandId::ProblemSubmit => "problem_submit",
        CommandId::ProblemClose => "problem_close",
        CommandId::ProblemReturn => "problem_return",
        CommandId::ProblemExtend => "problem_extend",
        CommandId::ProblemReopen => "problem_reopen",
        CommandId::ProblemCancel => "problem_cancel",
        CommandId::ProblemShow => "problem_show",
        CommandId::ProblemLedger => "problem_ledger",
        CommandId::ProblemReconcile => "problem_reconcile",
        CommandId::SelfCheckSubmit => "self_check_submit",
        CommandId::SelfCheckReview => "self_check_review",
        CommandId::SelfCheckConfirm => "self_check_confirm",
        CommandId::NoticeSend => "notice_send",
        CommandId::NoticeStatus => "notice_status",
        CommandId::NoticeAck => "notice_ack",
    }
}

/// Free text: chatter in a group is stored and left alone; text addressed to the bot gets a hint.
async fn not_a_command(ctx: &mut Ctx<'_>) -> anyhow::Result<&'static str> {
    // Workflows that take free text (a weekly report quoting the prompt) look first.
    let text = ctx.msg.command_text();
    // The answer to a visit record's one follow-up question is more specific than a weekly report.
    if let Some(intent) = crate::app::monthly::maybe_answer(ctx, &text).await? {
        return Ok(intent);
    }
    if let Some(intent) = crate::app::weekly::maybe_intake(ctx, &text).await? {
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
