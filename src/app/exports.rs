//! `导出 <种类> [期间] [范围]`: the workbook of `crate::export`, built in the message's
//! transaction and sent back as a file (a one-time link where the channel cannot carry files).

use super::Ctx;
use crate::domain::stats::args;
use crate::export::{self, ExportError, Kind};

fn usage() -> String {
    format!(
        "用法：导出 <种类> [期间] [范围]。种类：{}；期间如 2026-11、上月、本学期、2026-09-01..2026-11-30；范围为全县（默认）、责任区或督学。例如：导出 整改台账 上月 第一责任区",
        export::kinds_text()
    )
}

/// A file size as people read it.
fn size_text(bytes: usize) -> String {
    if bytes < 1024 * 1024 {
        format!("{} KB", bytes.div_ceil(1024))
    } else {
        format!("{:.1} MB", bytes as f64 / (1024.0 * 1024.0))
    }
}

async fn run(ctx: &mut Ctx<'_>, text: &str) -> anyhow::Result<()> {
    let text = text.trim();
    let (word, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    if word.is_empty() {
        ctx.reply(usage());
        return Ok(());
    }
    let Some(kind) = Kind::parse(word) else {
        ctx.reply(format!("没有“{word}”这种导出。{}", usage()));
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
    let built = async {
        let period = match period {
            Some(p) => p,
            None => export::resolve_period(kind, "", today, Some(&calendar))?,
        };
        let scope_text = if scope_text.is_empty() { "全县" } else { scope_text.as_str() };
        let (scope, _) = export::resolve_scope(ctx.tx, scope_text).await?;
        export::build(ctx.tx, ctx.app.tz, &ctx.app.settings, kind, period, scope, ctx.now).await
    }
    .await;
    match built {
        Ok(file) => {
            let caption = format!("已生成《{}》（{}），文件随后发送。", file.file_name, size_text(file.bytes.len()));
            ctx.reply_file(file.file_name, file.bytes, Some(caption));
        }
        Err(ExportError::Input(msg)) => ctx.reply(msg),
        Err(e) => {
            tracing::error!(kind = kind.name(), error = %e, "export failed");
            ctx.reply("生成表格时出错，已记录。请稍后再试，或请管理员用 dudao export 在服务器上导出。");
        }
    }
    Ok(())
}

/// Exports on request in chat.
pub struct Exports;

crate::app::registry::workflow!(Exports, "export", |ctx, args| {
    Export => run(ctx, args),
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(size_text(1), "1 KB");
        assert_eq!(size_text(10_240), "10 KB");
        assert_eq!(size_text(3 * 1024 * 1024 + 512 * 1024), "3.5 MB");
    }

    #[test]
    fn usage_names_every_kind() {
        let u = usage();
        for k in Kind::ALL {
            assert!(u.contains(k.name()), "{u}");
        }
    }
}
