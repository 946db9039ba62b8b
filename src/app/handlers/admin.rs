//! Queue health for admins (`发送队列`).

use crate::app::Ctx;
use crate::outbox::admin;

pub async fn queue(ctx: &mut Ctx<'_>) -> anyhow::Result<()> {
    let s = admin::stats(ctx.tx, ctx.now).await?;
    let mut text = format!(
        "发送队列：待发送 {}，发送中 {}，已发送 {}，失败 {}，无法送达 {}，状态不明 {}",
        s.pending, s.sending, s.sent, s.dead, s.unroutable, s.unknown
    );
    if let Some(age) = s.oldest_pending_secs {
        text.push_str(&format!("\n最早一条待发消息已等待 {} 分钟", age / 60));
    }
    let stuck = admin::list(ctx.tx, &["dead", "unroutable", "unknown"], 5).await?;
    if !stuck.is_empty() {
        text.push_str("\n需要处理：");
        for i in stuck {
            let who = i.person.or(i.chat).unwrap_or_default();
            text.push_str(&format!("\n#{} [{}] {} {}", i.id, i.status, who, i.preview));
        }
        text.push_str("\n可在服务器上用 dudao outbox retry/cancel <编号> 处理。");
    }
    ctx.reply(text);
    Ok(())
}

/// The outbox queue, for the office.
pub struct Admin;

crate::app::registry::workflow!(Admin, "admin", |ctx, _args| { Queue => queue(ctx) });
