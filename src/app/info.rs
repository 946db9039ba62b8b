//! 信息报送 in chat (`报送`, `报送采用`, `报送未采用`, `报送情况`) and the reminder on
//! `[info] remind_day` when the month is short of `[info] per_month`.

use super::Ctx;
use crate::config::{ScheduleSettings, Settings};
use crate::db::Tx;
use crate::domain::bulletin::Month;
use crate::domain::command::CommandId;
use crate::domain::info::{self as i, ItemFact, MonthFigures};
use crate::scheduler::{Firing, Job, JobCtx};
use crate::store::once::{record_once, Subject};
use crate::store::{self, Conn};
use async_trait::async_trait;
use chrono_tz::Tz;
use serde_json::json;

pub const REMIND_SCHEDULE: &str = "info-remind";
const REMIND_JOB: &str = "info_remind";

fn fact(item: store::info::Item) -> ItemFact {
    ItemFact {
        id: item.id,
        title: item.title,
        submitter: item.submitter,
        person_id: item.submitted_by,
        zone_id: item.zone_id,
        to: item.submitted_to,
        submitted_at: item.submitted_at,
        accepted: item.accepted,
    }
}

/// The county's items of `month` and their figures.
async fn month_of(
    conn: &mut Conn,
    tz: Tz,
    month: Month,
    per_month: u32,
) -> anyhow::Result<(MonthFigures, Vec<ItemFact>)> {
    let items: Vec<ItemFact> = store::info::list(conn, tz, month.period(), None).await?.into_iter().map(fact).collect();
    Ok((i::month_figures(&items, tz, month, per_month), items))
}

/// `报送 <标题> [链接] [报送至 单位]`.
async fn submit(ctx: &mut Ctx<'_>, args: &str) -> anyhow::Result<()> {
    let s = match i::parse_submit(args) {
        Ok(s) => s,
        Err(e) => {
            ctx.reply(e);
            return Ok(());
        }
    };
    let (by, zone) = ctx.actor.as_ref().map_or((None, None), |a| (Some(a.person_id), a.zone_id));
    let new = store::info::NewItem {
        title: &s.title,
        link: s.link.as_deref(),
        body: None,
        submitted_to: s.to.as_deref(),
        submitted_by: by,
        zone_id: zone,
    };
    let id = store::info::insert(ctx.tx, &new, ctx.now).await?;
    ctx.audit("info_item", Some(i::code(id)), "submitted", json!({ "to": s.to, "link": s.link.is_some() })).await?;
    let month = Month::of(ctx.today());
    let (figures, _) = month_of(ctx.tx, ctx.app.tz, month, ctx.app.settings.info.per_month).await?;
    ctx.reply(i::recorded_text(id, &s, &figures));
    Ok(())
}

/// `报送采用 X3` / `报送未采用 X3`.
async fn decide(ctx: &mut Ctx<'_>, args: &str, accepted: bool) -> anyhow::Result<()> {
    let (id, note) = match i::parse_ref(args) {
        Ok(v) => v,
        Err(e) => {
            ctx.reply(e);
            return Ok(());
        }
    };
    let Some(item) = store::info::get(ctx.tx, id).await? else {
        ctx.reply(format!("没有找到信息 {}。请核对报送时回复的编号，或发“报送情况”查看本月的信息。", i::code(id)));
        return Ok(());
    };
    let by = ctx.actor.as_ref().map(|a| a.person_id);
    store::info::set_accepted(ctx.tx, id, accepted, by, note, ctx.now).await?;
    ctx.audit(
        "info_item",
        Some(i::code(id)),
        if accepted { "accepted" } else { "rejected" },
        json!({ "before": item.accepted, "note": note.is_some() }),
    )
    .await?;
    let word = if accepted { "已采用" } else { "未采用" };
    let changed = match item.accepted {
        Some(prev) if prev != accepted => format!("（原记为{}）", if prev { "已采用" } else { "未采用" }),
        _ => String::new(),
    };
    ctx.reply(format!("已记下信息 {}《{}》{word}{changed}。", i::code(id), item.title));
    Ok(())
}

/// `报送情况 [月份]` (default: this month).
async fn status(ctx: &mut Ctx<'_>, args: &str) -> anyhow::Result<()> {
    let today = ctx.today();
    let words: Vec<&str> = args.split_whitespace().collect();
    let month = match words.as_slice() {
        [] => Month::of(today),
        [w] => match Month::parse(w, today) {
            Some(m) => m,
            None => {
                ctx.reply(format!("月份“{w}”无法识别：请写 2026-11、2026年11月、本月或上月。"));
                return Ok(());
            }
        },
        _ => {
            ctx.reply("用法：报送情况 [2026-11|本月|上月]");
            return Ok(());
        }
    };
    if month > Month::of(today) {
        ctx.reply(format!("{}还没有到。", month.label()));
        return Ok(());
    }
    let tz = ctx.app.tz;
    let (figures, items) = month_of(ctx.tx, tz, month, ctx.app.settings.info.per_month).await?;
    let zones = store::people::active_zones(ctx.tx).await?;
    let text = i::status_text(&figures, &items, tz, |z| {
        zones.iter().find(|(id, _)| *id == z).map_or_else(|| format!("责任区{z}"), |(_, n)| n.clone())
    });
    ctx.reply(text);
    Ok(())
}

/// `info_remind`: on remind_day, the supervisors hear how far the month is short — once a month.
pub struct InfoRemind;

#[async_trait]
impl Job for InfoRemind {
    async fn run(&self, app: &JobCtx, tx: &mut Tx<'static>, firing: &Firing) -> anyhow::Result<()> {
        let now = app.clock.now();
        let month = Month::of(firing.nominal_at.with_timezone(&app.tz).date_naive());
        let (figures, _) = month_of(tx, app.tz, month, app.settings.info.per_month).await?;
        if figures.short() == 0 {
            return Ok(());
        }
        let subject = Subject::InfoMonth(month.year * 100 + i32::try_from(month.month).unwrap_or(0));
        if !record_once(tx, subject, "remind", now).await? {
            return Ok(());
        }
        let key = format!("info:{}:remind", month.key());
        super::broadcast::to_supervisors(
            app,
            tx,
            &key,
            &format!("info:remind:{}", month.key()),
            &i::remind_text(&figures),
        )
        .await?;
        tracing::info!(month = %month.key(), submitted = figures.county.submitted, "information reminder sent");
        Ok(())
    }
}

/// The reminder's schedule, from `[info]` (none when remind_day is 0).
pub fn schedules(settings: &Settings) -> Vec<ScheduleSettings> {
    let s = &settings.info;
    if s.remind_day == 0 {
        return Vec::new();
    }
    let Some(cron) = crate::domain::monthly::reminder_cron(&[s.remind_day], &s.remind_time) else {
        return Vec::new();
    };
    vec![ScheduleSettings {
        name: REMIND_SCHEDULE.into(),
        cron,
        job: REMIND_JOB.into(),
        enabled: Some(true),
        workdays: Some("next".into()),
        school_days_only: Some(false),
        grace_minutes: Some(60 * 24),
        params: None,
    }]
}

/// 信息报送: items, their 采用, the month's figures and the reminder.
pub struct Info;

#[async_trait]
impl super::registry::Workflow for Info {
    fn name(&self) -> &'static str {
        "info"
    }

    fn commands(&self) -> &'static [CommandId] {
        &[CommandId::InfoSubmit, CommandId::InfoAccept, CommandId::InfoReject, CommandId::InfoStatus]
    }

    async fn command(&self, ctx: &mut Ctx<'_>, id: CommandId, args: &str) -> anyhow::Result<Option<&'static str>> {
        match id {
            CommandId::InfoSubmit => submit(ctx, args).await?,
            CommandId::InfoAccept => decide(ctx, args, true).await?,
            CommandId::InfoReject => decide(ctx, args, false).await?,
            CommandId::InfoStatus => status(ctx, args).await?,
            _ => {}
        }
        Ok(None)
    }

    fn jobs(&self, jobs: &mut crate::scheduler::Jobs) {
        jobs.register(REMIND_JOB, std::sync::Arc::new(InfoRemind));
    }

    fn schedules(&self, settings: &Settings) -> Vec<ScheduleSettings> {
        schedules(settings)
    }

    fn check_config(&self, settings: &Settings) -> anyhow::Result<()> {
        let s = &settings.info;
        if s.remind_day > 28 {
            anyhow::bail!(
                "info.remind_day must be 1-28 (a day every month has) or 0 for no reminder, not {}",
                s.remind_day
            );
        }
        if s.remind_day > 0 && crate::domain::monthly::reminder_cron(&[s.remind_day], &s.remind_time).is_none() {
            anyhow::bail!("info.remind_time must be \"HH:MM\", not \"{}\"", s.remind_time);
        }
        Ok(())
    }
}
