//! Personal leave (`请假 A 至 B`, `取消请假`).

use crate::app::Ctx;
use crate::domain::dates::parse_range;
use crate::store;
use serde_json::json;

/// Longest leave one message may register; longer absences are a roster matter.
const MAX_LEAVE_DAYS: i64 = 92;

pub async fn request(ctx: &mut Ctx<'_>, args: &str) -> anyhow::Result<()> {
    let Some(actor) = ctx.actor.clone() else { return Ok(()) };
    let today = ctx.today();
    let (range_text, reason) = match args.split_once([' ', '，', ',']) {
        Some((a, b)) if parse_range(a, today).is_some() && parse_range(args, today).is_none() => (a, Some(b.trim())),
        _ => (args, None),
    };
    let Some((start, end)) = parse_range(range_text, today) else {
        ctx.reply("请写明请假日期，例如：请假 2026-11-23 至 2026-11-25，或 请假 11月23日到25日。");
        return Ok(());
    };
    if end < today {
        ctx.reply("请假结束日期已经过去，无需登记。");
        return Ok(());
    }
    if (end - start).num_days() >= MAX_LEAVE_DAYS {
        ctx.reply(format!("一次请假最长{MAX_LEAVE_DAYS}天，更长的请联系督导室调整花名册。"));
        return Ok(());
    }
    let id = store::leave::add(ctx.tx, actor.person_id, start, end, reason.filter(|r| !r.is_empty()), ctx.now).await?;
    ctx.audit("leave", Some(id.to_string()), "created", json!({ "start": start, "end": end })).await?;
    ctx.reply(format!("已登记请假：{start} 至 {end}。期间不会催报，也不计缺报。如需取消，发送“取消请假”。"));
    Ok(())
}

pub async fn cancel(ctx: &mut Ctx<'_>) -> anyhow::Result<()> {
    let Some(actor) = ctx.actor.clone() else { return Ok(()) };
    let today = ctx.today();
    let leaves = store::leave::current_and_future(ctx.tx, actor.person_id, today).await?;
    let Some(leave) = leaves.last() else {
        ctx.reply("您目前没有未结束的请假。");
        return Ok(());
    };
    if !store::leave::cancel(ctx.tx, leave.id, ctx.now).await? {
        ctx.reply("您目前没有未结束的请假。");
        return Ok(());
    }
    ctx.audit("leave", Some(leave.id.to_string()), "cancelled", json!({})).await?;
    ctx.reply(format!("已取消请假：{} 至 {}。", leave.start, leave.end));
    Ok(())
}

/// Inspectors' leave.
pub struct Leave;

crate::app::registry::workflow!(Leave, "leave", |ctx, args| {
    Leave => request(ctx, args),
    CancelLeave => cancel(ctx),
});
