//! `统计 <主题> [期间] [范围]`: a topic's figures as one text message, then the same figures as
//! a chart image where the channel can show images (`crate::charts`). The rows are read
//! inside the message's transaction through `export::load_figures`, as `导出` reads them.

use super::Ctx;
use crate::charts::figures::{self, Topic};
use crate::domain::stats::args;
use crate::export::{self, ExportError};

fn usage() -> String {
    format!(
        "用法：统计 <主题> [期间] [范围]。主题：{}；期间如 2026-11、上月、本学期、2026-09-01..2026-11-30；范围为全县（默认）、责任区或督学。例如：统计 整改 本学期 第一责任区",
        figures::topics_text()
    )
}

async fn run(ctx: &mut Ctx<'_>, text: &str) -> anyhow::Result<()> {
    let text = text.trim();
    let (word, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    if word.is_empty() {
        ctx.reply(usage());
        return Ok(());
    }
    let Some(topic) = Topic::parse(word) else {
        ctx.reply(format!("没有“{word}”这个统计主题。{}", usage()));
        return Ok(());
    };
    let today = ctx.today();
    let calendar = ctx.app.calendar.clone();
    let (period, scope_text) = match args::split_args(rest, today, Some(&calendar)) {
        Ok(split) => split,
        Err(e) => {
            ctx.reply(e);
            return Ok(());
        }
    };
    let period = period.unwrap_or_else(|| topic.default_period(today));
    let loaded = async {
        let scope_text = if scope_text.is_empty() { "全县" } else { scope_text.as_str() };
        let (scope, _) = export::resolve_scope(ctx.tx, scope_text).await?;
        export::load_figures(ctx.tx, ctx.app.tz, &ctx.app.settings, topic.kind(), period, scope, ctx.now).await
    }
    .await;
    let data = match loaded {
        Ok(d) => d,
        Err(ExportError::Input(msg)) => {
            ctx.reply(msg);
            return Ok(());
        }
        Err(e) => {
            tracing::error!(topic = topic.name(), error = %e, "statistics failed");
            ctx.reply("统计时出错，已记录。请稍后再试。");
            return Ok(());
        }
    };
    let summary = figures::summary(topic, &data);
    // The text is the answer; the chart, where one can be drawn, goes with it as one answer.
    // No font: the text alone (the start-up log said why).
    let png = if summary.charts.is_empty() || crate::charts::font::ensure(&ctx.app.settings.charts.font).is_err() {
        None
    } else {
        crate::charts::render(&summary.charts)
            .inspect_err(|e| tracing::error!(topic = topic.name(), error = %e, "chart drawing failed; figures sent as text only"))
            .ok()
    };
    match png {
        Some(png) => {
            let name = format!("{}统计_{}_{}.png", topic.name(), data.scope_name, args::period_slug(data.period));
            ctx.reply_image(summary.text, name, png);
        }
        None => ctx.reply(summary.text),
    }
    Ok(())
}

/// Statistics with charts on request in chat.
pub struct Charts;

crate::app::registry::workflow!(Charts, "charts", |ctx, args| {
    Stats => run(ctx, args),
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_names_every_topic() {
        let u = usage();
        for t in Topic::ALL {
            assert!(u.contains(t.name()), "{u}");
        }
    }
}
