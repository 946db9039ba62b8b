//! `证据 W12 [第2页]`: a problem's evidence photos sent back as files, privately, to the office
//! and the school's own inspector only (`Actor::check_see_evidence`). Photos are read from the
//! evidence directory, never fetched again from the platform's URL (it carries tokens).

use super::*;
use crate::domain::evidence::{image_ext, pages, parse_page, size_label, PAGE};
use std::path::Path;

/// One refusal for an item that does not exist and one the asker may not see, so that the
/// answer tells nothing about the item.
fn not_yours(code: &str) -> String {
    format!("没有找到可供您查看的 {code} 整改照片。整改照片只提供给督导室和该校责任督学。")
}

/// A photo's bytes, when its stored path stays inside `dir` and the content still has the
/// hash it was stored under (`app::evidence::read_stored`, shared with the platform's photos).
async fn read_photo(dir: &Path, p: &rs::EvidencePhoto) -> Option<Vec<u8>> {
    crate::app::evidence::read_stored(dir, "evidence", p.id, p.path.as_deref(), p.sha256.as_deref()).await
}

pub(super) async fn evidence(ctx: &mut Ctx<'_>, actor: &Actor, args: &str) -> anyhow::Result<()> {
    let Some((item_id, rest)) = parse_ref(args) else {
        ctx.reply("请写明问题编号，格式：证据 W编号 [第2页]，例如：证据 W12");
        return Ok(());
    };
    let code = item_code(item_id);
    let it = rs::get(ctx.tx, item_id).await?;
    let it = match it {
        Some(it) if actor.check_see_evidence(it.school_id).is_ok() => it,
        Some(_) => {
            ctx.reply(not_yours(&code));
            return Ok(());
        }
        None if matches!(actor.role, Role::Admin | Role::Supervisor) => {
            ctx.reply(format!("没有找到问题 {code}。"));
            return Ok(());
        }
        None => {
            ctx.reply(not_yours(&code));
            return Ok(());
        }
    };
    let Some(page) = parse_page(&rest) else {
        ctx.reply(format!("页码没有看懂，请写“证据 {code}”或“证据 {code} 第2页”。"));
        return Ok(());
    };
    let all = rs::evidence_photos(ctx.tx, it.id).await?;
    let stored: Vec<&rs::EvidencePhoto> = all.iter().filter(|p| p.status == "stored").collect();
    let count = |s: &str| all.iter().filter(|p| p.status == s).count();
    let (pending, failed, dup) = (count("pending"), count("failed"), count("duplicate"));
    let mut notes = Vec::new();
    if pending > 0 {
        notes.push(format!("另有{pending}张尚在下载，请稍后再查看"));
    }
    let too_large = all
        .iter()
        .filter(|p| p.status == "failed" && p.error.as_deref().is_some_and(crate::app::evidence::is_too_large))
        .count();
    if too_large > 0 {
        let cap = size_label(ctx.app.settings.rectify.evidence_max_bytes);
        notes.push(format!("{too_large}张超过{cap}的大小上限，未保存，如需留档请学校压缩后补交"));
    }
    if failed > too_large {
        notes.push(format!("{}张下载失败，无法提供，如需留档请学校另行补交", failed - too_large));
    }
    if dup > 0 {
        notes.push(format!("{dup}张与已有照片重复，未重复发送"));
    }
    let head = format!("{code} {}（{}）", it.school_name, it.status.label());
    if stored.is_empty() {
        let mut text = format!("{head}：暂无已保存的整改照片。");
        if !notes.is_empty() {
            text.push_str(&notes.join("；"));
            text.push('。');
        }
        ctx.reply(text);
        return Ok(());
    }
    let total_pages = pages(stored.len());
    if page > total_pages {
        ctx.reply(format!("{code} 共{}张照片、{total_pages}页，没有第{page}页。", stored.len()));
        return Ok(());
    }
    let first = (page - 1) * PAGE;
    let dir = crate::app::evidence::evidence_dir(&ctx.app.settings);
    let mut files = Vec::new();
    let mut lines = Vec::new();
    let mut unreadable = 0;
    for (i, p) in stored.iter().enumerate().skip(first).take(PAGE) {
        let n = i + 1;
        let when = p
            .received_at
            .map(|t| t.with_timezone(&ctx.app.tz).format("%-m月%-d日 %H:%M").to_string())
            .unwrap_or_else(|| "时间不详".into());
        match read_photo(&dir, p).await {
            Some(bytes) => {
                let name = format!("{code}-{n}.{}", image_ext(&bytes));
                lines.push(format!("{n}. {name}，{when}收到"));
                files.push((name, bytes));
            }
            None => {
                unreadable += 1;
                lines.push(format!("{n}. {when}收到，文件无法读取，已记录"));
            }
        }
    }
    let mut caption = format!("{head}：整改照片{}张", stored.len());
    if total_pages > 1 {
        caption.push_str(&format!("（第{page}/{total_pages}页）"));
    }
    caption.push_str(&format!("，本次发送{}张：\n{}", files.len(), lines.join("\n")));
    let left = stored.len().saturating_sub(first + PAGE);
    if left > 0 {
        caption.push_str(&format!("\n还有{left}张，发送“证据 {code} 第{}页”查看。", page + 1));
    }
    if !notes.is_empty() {
        caption.push_str(&format!("\n{}。", notes.join("；")));
    }
    if unreadable > 0 {
        tracing::error!(item = %code, unreadable, "evidence photos missing from the evidence directory");
    }
    ctx.audit("rectify", Some(code.clone()), "evidence_viewed", json!({ "page": page, "sent": files.len() })).await?;
    let mut caption = Some(caption);
    if files.is_empty() {
        ctx.reply(caption.take().unwrap_or_default());
    }
    for (name, bytes) in files {
        ctx.reply_file(name, bytes, caption.take());
    }
    Ok(())
}
