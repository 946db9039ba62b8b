//! 督导通报 in chat (`通报 预览|修改|发布|重新发布`) and the draft the CLI writes as .docx: the
//! statistics rows of the month loaded once, the names, the issue number and a supervisor's
//! corrections, built into `domain::bulletin::Bulletin`.

use super::Ctx;
use crate::config::Settings;
use crate::domain::bulletin::{self as b, Bulletin, Month, Names, Options, Target, MONTHLY};
use crate::domain::command::CommandId;
use crate::domain::group::GroupPurpose;
use crate::domain::stats::Scope;
use crate::outbox::{Envelope, Recipient};
use crate::store::{self, bulletin::Key, Conn};
use async_trait::async_trait;
use chrono::NaiveDate;
use chrono_tz::Tz;
use serde_json::json;

/// Room left for the mention a group reply starts with ("@姓名 "), so the text plus the mention
/// still fits one message.
const MENTION_ROOM: usize = 40;

const USAGE: &str = "用法：通报 预览 [2026-11|本月|上月] [责任区]；通报 修改 [期间] <基本情况|亮点|问题|要求|名单> <文字>；通报 发布 [期间] [责任区]；通报 重新发布 [期间] [责任区]。不写期间为上月，不写范围为全县。";

/// Where the full text is, for a chat text cut to the channel's length: the .docx sent with it.
const MORE_HINT: &str = "完整内容见所附 .docx 文件";

/// The bulletin as a Word file: its name (the title) and bytes.
pub fn docx_file(bulletin: &Bulletin) -> anyhow::Result<(String, Vec<u8>)> {
    let bytes = b::docx::to_docx(bulletin).map_err(|e| anyhow::anyhow!("building the .docx: {e}"))?;
    let name: String =
        bulletin
            .title
            .chars()
            .map(|c| {
                if matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|') || c.is_control() {
                    '_'
                } else {
                    c
                }
            })
            .collect();
    Ok((format!("{name}.docx"), bytes))
}

/// The draft of `month` for `target` as it stands: figures taken today, corrections applied.
pub async fn draft(
    conn: &mut Conn,
    settings: &Settings,
    tz: Tz,
    month: Month,
    target: &Target,
    today: NaiveDate,
) -> anyhow::Result<Bulletin> {
    let (period, scope) = (month.key(), target.key());
    let key = Key { kind: MONTHLY, period: &period, scope: &scope };
    let rows = store::stats::load_on(conn, tz, month.period(), settings.visits.exempt_invited, today).await?;
    let names = Names {
        zones: store::people::active_zones(conn).await?,
        schools: store::people::active_schools(conn).await?.into_iter().map(|(id, name, ..)| (id, name)).collect(),
        inspectors: store::people::active_inspectors(conn)
            .await?
            .into_iter()
            .map(|(id, name, ..)| (id, name))
            .collect(),
    };
    let opts = Options {
        county: settings.bulletin.county.clone(),
        name_schools: settings.bulletin.name_schools,
        per_inspector_per_month: settings.visits.per_inspector_per_month,
        issue_no: store::bulletin::issue_no(conn, key, month.year).await?,
        today,
    };
    let mut bulletin = b::build(&rows, &names, month, target, &opts);
    bulletin.apply_overrides(&store::bulletin::overrides(conn, key).await?);
    Ok(bulletin)
}

/// The scope words: none or 全县 → the county; else a zone by code or name. The error is the
/// reply.
pub async fn resolve_target(conn: &mut Conn, words: &[&str]) -> anyhow::Result<Result<Target, String>> {
    let q = words.join(" ");
    if q.is_empty() || matches!(q.as_str(), "全县" | "县" | "county") {
        return Ok(Ok(Target::county()));
    }
    Ok(match store::people::find_zone(conn, &q).await? {
        Some(z) => Ok(Target { scope: Scope::Zone(z.id), label: z.name }),
        None => Err(format!("没有找到责任区“{q}”。范围请写责任区编号或名称，或“全县”。")),
    })
}

/// `[期间] [范围]` words: the month (default: last month) and the scope words.
fn split_period<'a>(words: &[&'a str], today: NaiveDate) -> Result<(Month, Vec<&'a str>), String> {
    let mut month = None;
    let mut rest = Vec::new();
    for w in words {
        match Month::parse(w, today) {
            Some(m) if month.is_none() => month = Some(m),
            Some(_) => return Err("只能写一个期间，例如“2026-11”或“上月”。".into()),
            None if looks_like_period(w) => {
                return Err(format!("期间“{w}”无法识别：请写 2026-11、2026年11月、本月或上月。"))
            }
            None => rest.push(*w),
        }
    }
    Ok((month.unwrap_or_else(|| Month::of(today).previous()), rest))
}

/// A word meant as a period that does not parse ("2026-13", "13月"), as opposed to a zone.
fn looks_like_period(w: &str) -> bool {
    let body = w.strip_suffix('月').unwrap_or(w);
    body.chars().next().is_some_and(|c| c.is_ascii_digit())
        && body.chars().all(|c| c.is_ascii_digit() || matches!(c, '-' | '/' | '.' | '年'))
}

/// Parses `[期间] [范围]`; `None` after replying with the problem.
async fn target_of(ctx: &mut Ctx<'_>, words: &[&str]) -> anyhow::Result<Option<(Month, Target)>> {
    let today = ctx.today();
    let (month, rest) = match split_period(words, today) {
        Ok(v) => v,
        Err(e) => {
            ctx.reply(e);
            return Ok(None);
        }
    };
    if month > Month::of(today) {
        ctx.reply(format!("{}还没有到，不能生成通报。", month.label()));
        return Ok(None);
    }
    match resolve_target(ctx.tx, &rest).await? {
        Ok(t) => Ok(Some((month, t))),
        Err(e) => {
            ctx.reply(e);
            Ok(None)
        }
    }
}

/// The longest text the chat this message came from takes in one message.
fn reply_room(ctx: &Ctx<'_>) -> usize {
    let max = ctx.app.directory.get(ctx.via()).map_or(2000, |c| c.caps.max_message_chars);
    if ctx.in_group() {
        max.saturating_sub(MENTION_ROOM)
    } else {
        max
    }
}

async fn preview(ctx: &mut Ctx<'_>, words: &[&str]) -> anyhow::Result<()> {
    let Some((month, target)) = target_of(ctx, words).await? else { return Ok(()) };
    let today = ctx.today();
    let bulletin = draft(ctx.tx, &ctx.app.settings, ctx.app.tz, month, &target, today).await?;
    let (period, scope) = (month.key(), target.key());
    let published = store::bulletin::latest(ctx.tx, Key { kind: MONTHLY, period: &period, scope: &scope }).await?;
    // The words that name this bulletin again in a follow-up command.
    let which = match target.scope {
        Scope::County => period.clone(),
        _ => format!("{period} {}", target.label),
    };
    let footer = match published {
        Some(p) => format!(
            "（此期已于{}发布；修改后可发“通报 重新发布 {which}”再次发送。）",
            p.published_at.with_timezone(&ctx.app.tz).format("%m月%d日 %H:%M"),
        ),
        None => format!("（草稿。可发“通报 修改 {which} 亮点 <文字>”按节修改，确认后发“通报 发布 {which}”。）"),
    };
    let room = reply_room(ctx).saturating_sub(footer.chars().count() + 1);
    let text = bulletin.chat_text(room, MORE_HINT);
    ctx.reply(format!("{text}\n{footer}"));
    // The draft as the office will file it, for review (a link where the chat cannot carry files).
    let (name, bytes) = docx_file(&bulletin)?;
    ctx.reply_file(name, bytes, None);
    Ok(())
}

async fn edit(ctx: &mut Ctx<'_>, args: &str) -> anyhow::Result<()> {
    let e = match b::parse_edit(args) {
        Ok(e) => e,
        Err(msg) => {
            ctx.reply(msg);
            return Ok(());
        }
    };
    let Some((month, target)) = target_of(ctx, &e.before).await? else { return Ok(()) };
    let (period, scope) = (month.key(), target.key());
    let key = Key { kind: MONTHLY, period: &period, scope: &scope };
    let title = e.section.title();
    let what = format!("{}{}通报", month.label(), if target.scope == Scope::County { "" } else { &target.label });
    if b::is_restore(e.text) {
        let had = store::bulletin::clear_override(ctx.tx, key, e.section).await?;
        if had {
            ctx.audit(
                "bulletin",
                Some(format!("{period}:{scope}")),
                "restored",
                json!({ "section": e.section.as_str() }),
            )
            .await?;
            ctx.reply(format!("已恢复{what}“{title}”的自动生成内容。"));
        } else {
            ctx.reply(format!("{what}“{title}”没有修改过，仍是自动生成的内容。"));
        }
        return Ok(());
    }
    let by = ctx.actor.as_ref().map(|a| a.person_id);
    store::bulletin::set_override(ctx.tx, key, e.section, e.text, by, ctx.now).await?;
    ctx.audit(
        "bulletin",
        Some(format!("{period}:{scope}")),
        "edited",
        json!({ "section": e.section.as_str(), "chars": e.text.chars().count() }),
    )
    .await?;
    let scope_word = if target.scope == Scope::County { String::new() } else { format!(" {}", target.label) };
    ctx.reply(format!(
        "已修改{what}草稿的“{title}”。发“通报 预览 {period}{scope_word}”查看，写“通报 修改 {period}{scope_word} {title} 恢复”可恢复自动生成。"
    ));
    Ok(())
}

/// The registered groups a bulletin goes to: every group of the configured purposes; for a
/// zone's bulletin, the zone's own groups of the zone and school purposes and the county-wide
/// ones.
async fn publish_groups(
    conn: &mut Conn,
    settings: &Settings,
    target: &Target,
) -> anyhow::Result<Vec<store::groups::Group>> {
    let mut out: Vec<store::groups::Group> = Vec::new();
    for p in settings.bulletin.groups.iter().filter_map(|p| GroupPurpose::parse(p)) {
        let zone = match (target.scope, p) {
            (Scope::Zone(z), GroupPurpose::ZoneInspectors | GroupPurpose::ZoneSchools | GroupPurpose::School) => {
                Some(z)
            }
            _ => None,
        };
        for g in store::groups::with_purpose(conn, p, zone, None).await? {
            if !out.iter().any(|o| o.id == g.id) {
                out.push(g);
            }
        }
    }
    Ok(out)
}

/// What publishing a bulletin did: the answer for the person who asked, the sends to commit
/// with it, and the audit entry (none when nothing was published).
pub struct Publication {
    pub reply: String,
    pub sends: Vec<Envelope>,
    /// The audit's entity id ("2026-11:county"), action and detail.
    pub audit: Option<(String, &'static str, serde_json::Value)>,
}

/// `通报 发布|重新发布`: records the publication of `month`'s bulletin for `target` and builds
/// its sends to every group of `[bulletin] groups`, once per (kind, period, scope) unless
/// `again`. The chat command and the platform's publish form both call this, in their write
/// transaction; the caller queues `sends` and records `audit` with its own `via`.
#[allow(clippy::too_many_arguments)]
pub async fn publish_bulletin(
    conn: &mut Conn,
    app: &super::App,
    by: Option<i64>,
    month: Month,
    target: &Target,
    again: bool,
    now: chrono::DateTime<chrono::Utc>,
    today: NaiveDate,
) -> anyhow::Result<Publication> {
    let nothing = |reply: String| Publication { reply, sends: Vec::new(), audit: None };
    let (period, scope) = (month.key(), target.key());
    let key = Key { kind: MONTHLY, period: &period, scope: &scope };
    let what =
        format!("{}{}督导通报", month.label(), if target.scope == Scope::County { "全县" } else { &target.label });
    let previous = store::bulletin::latest(conn, key).await?;
    if let (Some(p), false) = (&previous, again) {
        return Ok(nothing(format!(
            "{what}（第{}期）已于{}发布到{}个群，不再重复发送。如需修改后再次发送，请发“通报 重新发布 {period}{}”。",
            p.issue_no,
            p.published_at.with_timezone(&app.tz).format("%m月%d日 %H:%M"),
            p.groups,
            if target.scope == Scope::County { String::new() } else { format!(" {}", target.label) }
        )));
    }
    let groups = publish_groups(conn, &app.settings, target).await?;
    if groups.is_empty() {
        return Ok(nothing(
            "没有可发布的群：请先在目标群里发送“登记群 全县督学群”等登记群的用途，或在配置 [bulletin] groups 中写明要发布到的群的用途。".into(),
        ));
    }
    let bulletin = draft(conn, &app.settings, app.tz, month, target, today).await?;
    let revision = previous.as_ref().map_or(1, |p| p.revision + 1);
    let (docx_name, docx_bytes) = docx_file(&bulletin)?;
    let docx = crate::chat::Attachment::new(docx_name, docx_bytes);
    let mut reached = Vec::new();
    let mut sends = Vec::new();
    for g in &groups {
        let max = app.directory.get(&g.channel).map_or(2000, |c| c.caps.max_message_chars);
        let text = bulletin.chat_text(max, MORE_HINT);
        // The text, then the .docx as its own row (retried alone if its upload fails).
        sends.push(Envelope::file(
            format!("bulletin:{MONTHLY}:{period}:{scope}:r{revision}:g{}", g.id),
            Recipient::Chat(g.chat()),
            docx.clone(),
            Some(text),
            format!("bulletin:{period}"),
        ));
        reached.push(json!({
            "group_id": g.id,
            "channel": g.channel,
            "chat_id": g.external_id,
            "purpose": g.purpose.map(|p| p.as_str()),
            "name": g.name,
        }));
    }
    let channels = serde_json::Value::Array(reached);
    let body = bulletin.full_text();
    let record = store::bulletin::NewPublication {
        key,
        revision,
        issue_no: bulletin.issue_no,
        by,
        channels: &channels,
        title: &bulletin.title,
        body: &body,
    };
    if !store::bulletin::record(conn, &record, now).await? {
        return Ok(nothing(format!("{what}刚刚已经发布，不再重复发送。")));
    }
    // 重新发布 of a bulletin never published is its first publication, and says so.
    let again = revision > 1;
    let audit = (
        format!("{period}:{scope}"),
        if again { "republished" } else { "published" },
        json!({ "revision": revision, "issue_no": bulletin.issue_no, "groups": groups.len() }),
    );
    let labels: Vec<String> = groups
        .iter()
        .map(|g| g.name.clone().unwrap_or_else(|| g.purpose.map_or("群", |p| p.label()).to_string()))
        .collect();
    let reply = format!(
        "已{}{what}（第{}期）到{}个群：{}。",
        if again { "重新发布" } else { "发布" },
        bulletin.issue_no,
        groups.len(),
        labels.join("、")
    );
    Ok(Publication { reply, sends, audit: Some(audit) })
}

async fn publish(ctx: &mut Ctx<'_>, words: &[&str], again: bool) -> anyhow::Result<()> {
    let Some((month, target)) = target_of(ctx, words).await? else { return Ok(()) };
    let by = ctx.actor.as_ref().map(|a| a.person_id);
    let today = ctx.today();
    let p = publish_bulletin(ctx.tx, ctx.app, by, month, &target, again, ctx.now, today).await?;
    ctx.outgoing.extend(p.sends);
    if let Some((entity_id, action, detail)) = p.audit {
        ctx.audit("bulletin", Some(entity_id), action, detail).await?;
    }
    ctx.reply(p.reply);
    Ok(())
}

/// `通报 <动作> …`: the action word first; the intent recorded names the action.
async fn run(ctx: &mut Ctx<'_>, args: &str) -> anyhow::Result<&'static str> {
    let ws = b::words(args);
    let Some(&(at, action)) = ws.first() else {
        ctx.reply(USAGE);
        return Ok("bulletin");
    };
    let rest: Vec<&str> = ws[1..].iter().map(|(_, w)| *w).collect();
    Ok(match action {
        "预览" | "查看" | "草稿" | "preview" => {
            preview(ctx, &rest).await?;
            "bulletin_preview"
        }
        "修改" | "更正" | "edit" => {
            edit(ctx, &args[at + action.len()..]).await?;
            "bulletin_edit"
        }
        "发布" | "publish" => {
            publish(ctx, &rest, false).await?;
            "bulletin_publish"
        }
        "重新发布" | "再次发布" | "republish" => {
            publish(ctx, &rest, true).await?;
            "bulletin_republish"
        }
        _ => {
            ctx.reply(format!("不认识“{action}”。{USAGE}"));
            "bulletin"
        }
    })
}

/// 督导通报: drafts, corrections and publication.
pub struct Bulletins;

#[async_trait]
impl super::registry::Workflow for Bulletins {
    fn name(&self) -> &'static str {
        "bulletin"
    }

    fn commands(&self) -> &'static [CommandId] {
        &[CommandId::Bulletin]
    }

    async fn command(&self, ctx: &mut Ctx<'_>, id: CommandId, args: &str) -> anyhow::Result<Option<&'static str>> {
        match id {
            CommandId::Bulletin => Ok(Some(run(ctx, args).await?)),
            _ => Ok(None),
        }
    }

    fn check_config(&self, settings: &Settings) -> anyhow::Result<()> {
        for p in &settings.bulletin.groups {
            if GroupPurpose::parse(p).is_none() {
                anyhow::bail!(
                    "bulletin.groups: \"{p}\" is not a group purpose (county_inspectors, zone_inspectors, zone_schools, school, supervisors)"
                );
            }
        }
        if settings.bulletin.county.trim().is_empty() {
            anyhow::bail!("bulletin.county must name the county (e.g. \"示例县\")");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_and_scope_words() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
        let (m, rest) = split_period(&["第一责任区", "2026-10"], today).unwrap();
        assert_eq!((m, rest), (Month::new(2026, 10).unwrap(), vec!["第一责任区"]));
        let (m, rest) = split_period(&[], today).unwrap();
        assert_eq!((m, rest.len()), (Month::new(2026, 11).unwrap(), 0), "last month by default");
        assert!(split_period(&["上月", "本月"], today).is_err());
        assert!(split_period(&["2026-13"], today).unwrap_err().contains("期间“2026-13”无法识别"));
        assert!(split_period(&["2026年13月"], today).is_err());
        assert_eq!(split_period(&["Z01"], today).unwrap().1, vec!["Z01"]);
    }
}
