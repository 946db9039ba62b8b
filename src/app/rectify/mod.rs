//! Problem list and rectification ledger (整改台账) in chat: recording problems, the notice to
//! the school, acknowledgement, progress, completion with photo evidence, verification (销号 /
//! 退回), extensions, 回头看 reopening, cancellation, the ledger and month-end reconciliation;
//! the daily sweep (reminders and the escalation ladder, and taking in problems found on visits);
//! and the background evidence fetcher. Rules live in `domain::rectify`.

mod commands;
mod items;
mod ledger;
mod photos;
mod self_check;
mod sweep;

pub use crate::domain::rectify::Grouping;
use commands::*;
pub(crate) use commands::{event_label, may_verify, move_item, Moved, Origin};
use items::*;
pub use ledger::*;
use photos::*;
use self_check::*;
pub use sweep::*;

use crate::app::Ctx;
use crate::chat::{MediaRef, Segment};
use crate::config::{ScheduleSettings, Settings};
use crate::db::Tx;
use crate::domain::actor::{Actor, Denied};
use crate::domain::command::{CommandId, ParsedCommand};
use crate::domain::rectify::{
    self as dr, category_label, item_code, overdue_days, parse_deadline, parse_record, parse_ref, transition, Action,
    DeadlineDays, Ladder, Party, RecordError, Refused, Severity, Source, Stage, Status,
};
use crate::domain::role::Role;
use crate::outbox::{Delivery, Envelope, Recipient};
use crate::scheduler::{Firing, Job, JobCtx, Jobs};
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
        CommandId::ProblemEvidence => evidence(ctx, &actor, args).await,
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
pub(crate) fn party_for(actor: &Actor, school_id: i64) -> Result<Party, Denied> {
    actor.check_act_for_school(school_id)?;
    Ok(match actor.role {
        Role::Admin | Role::Supervisor => Party::Supervisor,
        Role::Inspector => Party::Inspector,
        Role::SchoolContact => Party::School,
    })
}

pub(crate) fn denied_text(d: Denied, it: &Item) -> String {
    match d {
        Denied::Recused => format!("您对{}需回避，不能办理 {}。", it.school_name, item_code(it.id)),
        _ => format!("{} 不属于您负责的学校（{}），您不能办理。", item_code(it.id), it.school_name),
    }
}

fn local_date(app: &JobCtx, t: DateTime<Utc>) -> NaiveDate {
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

// The evidence fetcher lives in `app::evidence`; these names stay available here.
pub use crate::app::evidence::{evidence_dir, evidence_loop, fetch_evidence, FetchReport};

/// Problems and rectification (整改): items, self-checks, the ledger and the daily sweep.
pub struct Rectify;

#[async_trait]
impl crate::app::registry::Workflow for Rectify {
    fn name(&self) -> &'static str {
        "rectify"
    }
    fn commands(&self) -> &'static [CommandId] {
        &[
            CommandId::ProblemRecord,
            CommandId::ProblemAck,
            CommandId::ProblemProgress,
            CommandId::ProblemSubmit,
            CommandId::ProblemClose,
            CommandId::ProblemReturn,
            CommandId::ProblemExtend,
            CommandId::ProblemReopen,
            CommandId::ProblemCancel,
            CommandId::ProblemShow,
            CommandId::ProblemEvidence,
            CommandId::ProblemLedger,
            CommandId::ProblemReconcile,
            CommandId::SelfCheckSubmit,
            CommandId::SelfCheckReview,
            CommandId::SelfCheckConfirm,
        ]
    }
    async fn command(&self, ctx: &mut Ctx<'_>, id: CommandId, args: &str) -> anyhow::Result<Option<&'static str>> {
        command(ctx, id, args).await?;
        Ok(None)
    }
    /// Photos with no text, from a bound account, privately or addressed to the bot.
    fn may_claim(&self, ctx: &Ctx<'_>, text: &str) -> bool {
        ctx.actor.is_some()
            && text.trim().is_empty()
            && (ctx.msg.to_me || !ctx.in_group())
            && ctx.msg.images().next().is_some()
    }
    async fn claim(&self, ctx: &mut Ctx<'_>, _text: &str) -> anyhow::Result<Option<&'static str>> {
        follow_up_photos(ctx).await
    }
    fn jobs(&self, jobs: &mut Jobs) {
        register(jobs);
    }
    fn schedules(&self, settings: &Settings) -> Vec<ScheduleSettings> {
        schedules(settings)
    }
}
