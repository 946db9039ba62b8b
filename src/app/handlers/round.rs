//! Starting a round now: `发起周报` runs the weekly prompt job at once, exactly as its schedule
//! would, recorded in the firings ledger as this week's occurrence so the scheduled prompt later
//! in the week neither opens a second round nor prompts twice.

use crate::app::Ctx;
use crate::domain::weekly::{week_label, week_title};
use crate::scheduler::{run_now_in, ManualRun};
use crate::store;
use serde_json::json;

pub async fn start_weekly(ctx: &mut Ctx<'_>) -> anyhow::Result<()> {
    let Some(actor) = ctx.actor.clone() else { return Ok(()) };
    if !ctx.app.settings.weekly.enabled {
        ctx.reply("本系统未启用周报收集（weekly.enabled），无法发起周报。");
        return Ok(());
    }
    let jobs = ctx.app.registry.jobs();
    let by = format!("chat:{}", actor.code);
    let name = crate::app::weekly::PROMPT_SCHEDULE;
    let tz = ctx.app.tz;
    let local = |t: chrono::DateTime<chrono::Utc>| t.with_timezone(&tz).format("%m月%d日 %H:%M").to_string();
    // Rounds already open for any week: what the run adds is what it opened (the job reads its
    // own clock, so opening times cannot tell).
    let before = crate::store::weekly::round_ids(ctx.tx).await?;
    match run_now_in(&ctx.app.job_ctx, ctx.tx, jobs, name, &by).await? {
        ManualRun::AlreadyRan { nominal, at } => {
            let week = week_label(nominal.with_timezone(&tz).date_naive());
            ctx.reply(format!(
                "{}周报已于{}发起，不再重复发起。发送“周报统计”查看提交情况。",
                week_title(&week),
                local(at)
            ));
        }
        ManualRun::Ran { nominal, for_period } => {
            let week = week_label(nominal.with_timezone(&tz).date_naive());
            let rounds = store::weekly::rounds_of_week(ctx.tx, &week).await?;
            let opened: Vec<&store::weekly::Round> = rounds.iter().filter(|r| !before.contains(&r.id)).collect();
            ctx.audit(
                "weekly_round",
                Some(week.clone()),
                "started_by_hand",
                json!({ "rounds": opened.iter().map(|r| r.id).collect::<Vec<_>>(), "nominal": crate::db::ts(nominal) }),
            )
            .await?;
            if opened.is_empty() {
                ctx.reply(format!(
                    "{}周报已在收集中，没有需要重新发起的。发送“周报统计”查看提交情况。",
                    week_title(&week)
                ));
                return Ok(());
            }
            let ids: Vec<i64> = opened.iter().map(|r| r.id).collect();
            let mut expected = 0i64;
            for id in &ids {
                expected += crate::store::weekly::expected_count(ctx.tx, *id).await?;
            }
            let deadline = opened.iter().map(|r| r.deadline_at).max().unwrap_or(ctx.now);
            let mut text =
                format!("已发起{}周报收集：已提示{expected}位督学，截止{}。", week_title(&week), local(deadline));
            if for_period {
                text.push_str(&format!("本周{}的定时提示不再重复发送。", local(nominal)));
            }
            ctx.reply(text);
        }
    }
    Ok(())
}

/// Starting a weekly round by hand.
pub struct Round;

crate::app::registry::workflow!(Round, "round", |ctx, _args| { WeeklyStart => start_weekly(ctx) });
