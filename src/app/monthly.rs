//! Monthly themes (一月一主题), visit records (督导纪实), quotas (我的进度 / 督导进度) and the
//! month-end report (月汇报).

use super::Ctx;
use crate::chat::Segment;
use crate::config::Settings;
use crate::db::Tx;
use crate::domain::actor::Denied;
use crate::domain::group::GroupPurpose;
use crate::domain::monthly::{self as m, InspectorFact, MonthFigures, ThemeCalendar, ThemeDef};
use crate::domain::report_parse::SchoolRef;
use crate::domain::role::Role;
use crate::domain::visit_parse::{self as vp, ParsedVisit, VisitField};
use crate::outbox::{Delivery, Envelope, Recipient};
use crate::scheduler::JobCtx;
use crate::scheduler::{Firing, Job};
use crate::store::once::{record_once, Subject};
use crate::store::{self, monthly as sm, Conn};
use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use serde_json::json;
use std::collections::HashMap;

pub const THEME_REMIND_SCHEDULE: &str = "monthly-theme-remind";
pub const REPORT_SCHEDULE: &str = "monthly-report";

const SHIPPED_THEMES: &str = include_str!("../../config/themes/default.toml");

/// The yearly theme calendar: `[themes] file`, else the shipped default. Read when needed (a few
/// times a month), so an edited file takes effect without a restart; checked at start-up.
pub fn theme_calendar(settings: &Settings) -> anyhow::Result<ThemeCalendar> {
    match &settings.themes.file {
        Some(path) if !path.as_os_str().is_empty() => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("themes.file: cannot read {}", path.display()))?;
            ThemeCalendar::from_toml_str(&text).map_err(|e| anyhow::anyhow!("themes.file {}: {e}", path.display()))
        }
        _ => {
            ThemeCalendar::from_toml_str(SHIPPED_THEMES).map_err(|e| anyhow::anyhow!("config/themes/default.toml: {e}"))
        }
    }
}

/// The schedules of this workflow, derived from `[themes]` and `[visits]`.
pub fn schedules(settings: &Settings) -> Vec<crate::config::ScheduleSettings> {
    let mut out = Vec::new();
    let th = &settings.themes;
    if let Some(cron) = m::reminder_cron(&th.reminder_days, &th.reminder_time) {
        out.push(crate::config::ScheduleSettings {
            name: THEME_REMIND_SCHEDULE.into(),
            cron,
            job: "theme_remind".into(),
            enabled: Some(true),
            workdays: Some("next".into()),
            school_days_only: Some(false),
            grace_minutes: Some(60 * 24),
            params: None,
        });
    }
    if settings.visits.report_enabled {
        out.push(crate::config::ScheduleSettings {
            name: REPORT_SCHEDULE.into(),
            cron: settings.visits.report_cron.clone(),
            job: "monthly_report".into(),
            enabled: Some(true),
            workdays: Some("fire".into()),
            school_days_only: Some(false),
            grace_minutes: Some(60 * 24),
            params: None,
        });
    }
    out
}

pub fn register(jobs: &mut crate::scheduler::Jobs) {
    jobs.register("theme_remind", std::sync::Arc::new(ThemeRemind));
    jobs.register("monthly_report", std::sync::Arc::new(MonthlyReport));
}

// ---------------------------------------------------------------------------------------------
// Themes

/// Posts a theme notice to every inspector group, or privately to each inspector when no
/// inspector group is registered.
async fn broadcast_theme(
    app: &JobCtx,
    tx: &mut Tx<'static>,
    key: &str,
    text: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let (envs, _) = theme_envelopes(tx, key, text).await?;
    for env in envs {
        crate::outbox::enqueue(tx, &app.directory, now, env).await?;
    }
    Ok(())
}

/// `发布主题 [月份] <标题>\n说明：…\n指标：…\n问题类别：…`
pub async fn publish(ctx: &mut Ctx<'_>, args: &str) -> anyhow::Result<()> {
    match m::parse_publish(args, ctx.today()) {
        Ok(draft) => {
            publish_draft(ctx, draft).await?;
        }
        Err(e) => ctx.reply(e),
    }
    Ok(())
}

/// Publishes a theme however it was written (`发布主题` in chat, or the platform's form after
/// `ThemeDraft::checked`): the month must not be past; an empty title takes the month's theme
/// from the calendar. Stored, broadcast to the inspectors' groups through the outbox, audited
/// and answered. The theme's id, or `None` when refused (the reason is the reply).
pub(crate) async fn publish_draft(ctx: &mut Ctx<'_>, draft: m::ThemeDraft) -> anyhow::Result<Option<i64>> {
    let Some(actor) = ctx.actor.clone() else { return Ok(None) };
    let today = ctx.today();
    if m::parse_month_label(&draft.month).is_none() {
        ctx.reply(format!("没有看懂月份“{}”，请写成2026-12这样的格式。", draft.month));
        return Ok(None);
    }
    if draft.month < m::month_label(today) {
        ctx.reply(format!("{}已经过去，不能再发布主题。", m::month_title(&draft.month)));
        return Ok(None);
    }
    let month_no = m::parse_month_label(&draft.month).map_or(0, |(_, mo)| mo);
    let (def, source) = if draft.title.is_empty() {
        let cal = theme_calendar(&ctx.app.settings)?;
        match cal.for_month(month_no) {
            Some(t) => (t.clone(), "calendar"),
            None => {
                ctx.reply(format!(
                    "主题日历中没有{}的主题，请写明主题和指标：\n{}",
                    m::month_title(&draft.month),
                    m::PUBLISH_USAGE
                ));
                return Ok(None);
            }
        }
    } else {
        let def = ThemeDef {
            month: month_no,
            code: String::new(),
            title: draft.title,
            description: draft.description,
            categories: draft.categories,
            indicators: draft.indicators,
        };
        (def, "chat")
    };
    let theme_id = sm::publish_theme(ctx.tx, &draft.month, &def, source, Some(actor.person_id), ctx.now).await?;
    let text = m::theme_notice(&draft.month, &def);
    let key = format!("{}:in{}", draft.month, ctx.inbound_id);
    // Notices to others commit with this message's transaction, through ctx.outgoing.
    let (envs, groups) = theme_envelopes(ctx.tx, &key, &text).await?;
    let n = envs.len();
    ctx.outgoing.extend(envs);
    ctx.audit(
        "monthly_theme",
        Some(theme_id.to_string()),
        "published",
        json!({ "month": draft.month, "title": def.title, "indicators": def.indicators.len(), "source": source }),
    )
    .await?;
    let to = if groups {
        format!("已通知 {n} 个督学群")
    } else {
        format!("未登记督学群，已私信通知 {n} 位督学")
    };
    ctx.reply(format!(
        "已发布{}督导主题“{}”（{}项指标），{to}。",
        m::month_title(&draft.month),
        def.title,
        def.indicators.len()
    ));
    Ok(Some(theme_id))
}

/// The envelopes of a theme notice; the flag says whether they go to groups.
async fn theme_envelopes(conn: &mut Conn, key: &str, text: &str) -> anyhow::Result<(Vec<Envelope>, bool)> {
    let mut groups = store::groups::with_purpose(conn, GroupPurpose::CountyInspectors, None, None).await?;
    groups.extend(store::groups::with_purpose(conn, GroupPurpose::ZoneInspectors, None, None).await?);
    let source = format!("theme:{key}");
    if groups.is_empty() {
        let people = store::people::active_inspector_ids(conn).await?;
        let envs = people
            .iter()
            .map(|pid| {
                Envelope::new(
                    format!("theme:{key}:p{pid}"),
                    Recipient::Person(*pid),
                    vec![Segment::text(text)],
                    &source,
                )
            })
            .collect();
        return Ok((envs, false));
    }
    let envs = groups
        .iter()
        .map(|g| {
            Envelope::new(
                format!("theme:{key}:g{}", g.id),
                Recipient::Chat(g.chat()),
                vec![Segment::text(text)],
                &source,
            )
        })
        .collect();
    Ok((envs, true))
}

/// `本月主题`: the month's theme, or the calendar's suggestion when none is published.
pub async fn show(ctx: &mut Ctx<'_>) -> anyhow::Result<()> {
    let month = m::month_label(ctx.today());
    match sm::theme_for(ctx.tx, &month).await? {
        Some(t) => ctx.reply(m::theme_notice(&month, &t.def)),
        None => {
            let cal = theme_calendar(&ctx.app.settings)?;
            let hint = match cal.for_month(ctx.today().month()) {
                Some(t) => {
                    format!("主题日历建议：“{}”。督导室可发送“发布主题 {}月”发布。", t.title, ctx.today().month())
                }
                None => format!("督导室可发送：\n{}", m::PUBLISH_USAGE),
            };
            ctx.reply(format!("{}尚未发布督导主题。{hint}", m::month_title(&month)));
        }
    }
    Ok(())
}

/// Inspectors held to the quota (and reminded about the theme).
async fn counted_inspectors(conn: &mut Conn, settings: &Settings) -> crate::sql::Result<Vec<InspectorFact>> {
    sm::counted_inspectors(conn, settings.visits.exempt_invited).await
}

/// `theme_remind`: publishes the calendar's theme on the first reminder day when none is
/// published, then reminds those without a themed visit this month — each round once.
pub struct ThemeRemind;

#[async_trait]
impl Job for ThemeRemind {
    async fn run(&self, app: &JobCtx, tx: &mut Tx<'static>, firing: &Firing) -> anyhow::Result<()> {
        let now = app.clock.now();
        let nominal = firing.nominal_at.with_timezone(&app.tz).date_naive();
        let today = now.with_timezone(&app.tz).date_naive();
        let month = m::month_label(nominal);
        let th = &app.settings.themes;
        let first_day = th.reminder_days.iter().min().copied().unwrap_or(1);
        let theme = match sm::theme_for(tx, &month).await? {
            Some(t) => t,
            None if th.auto_publish && nominal.day() == first_day => {
                let cal = theme_calendar(&app.settings)?;
                let Some(def) = cal.for_month(nominal.month()).cloned() else { return Ok(()) };
                let id = sm::publish_theme(tx, &month, &def, "calendar", None, now).await?;
                record_once(tx, Subject::Theme(id), &format!("remind:{}", nominal.day()), now).await?;
                let text = m::theme_notice(&month, &def);
                broadcast_theme(app, tx, &format!("{month}:auto"), &text, now).await?;
                tracing::info!(%month, title = %def.title, "monthly theme published from the calendar");
                return Ok(()); // the announcement is this round's reminder
            }
            None => return Ok(()),
        };
        if !record_once(tx, Subject::Theme(theme.id), &format!("remind:{}", nominal.day()), now).await? {
            return Ok(());
        }
        let Some((from, to)) = m::month_bounds(&month) else { return Ok(()) };
        let themed: std::collections::HashSet<i64> =
            sm::visits_between(tx, from, to).await?.into_iter().filter(|v| v.themed).map(|v| v.person_id).collect();
        let last_call = nominal.day() >= th.last_call_day;
        let text = m::theme_reminder_text(&month, &theme.def.title, last_call);
        let mut sent = 0;
        for i in counted_inspectors(tx, &app.settings).await? {
            if themed.contains(&i.person_id) || store::leave::on_leave(tx, i.person_id, today).await? {
                continue;
            }
            let env = Envelope {
                delivery: Delivery::AtMostOnce,
                ..Envelope::new(
                    format!("theme:{month}:remind{}:p{}", nominal.day(), i.person_id),
                    Recipient::Person(i.person_id),
                    vec![Segment::text(text.clone())],
                    format!("theme:remind:{month}"),
                )
            };
            crate::outbox::enqueue(tx, &app.directory, now, env).await?;
            sent += 1;
        }
        tracing::info!(%month, day = nominal.day(), sent, "theme reminders");
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Visit records

/// The inspector's schools, recused ones included so that naming one is recognised and refused.
async fn visit_schools(ctx: &mut Ctx<'_>, actor: &crate::domain::actor::Actor) -> crate::sql::Result<Vec<SchoolRef>> {
    let ids: Vec<i64> = actor.schools.iter().chain(actor.recused.iter()).copied().collect();
    ctx.school_refs(&ids).await
}

fn field_str(f: VisitField) -> &'static str {
    match f {
        VisitField::School => "school",
        VisitField::Activity => "activity",
    }
}

/// The visit template after `督导纪实 学校：<school>`; the school is one of the inspector's own.
pub const VISIT_TEMPLATE_REST: &str = "\n日期：今天（可省略）\n方式：推门听课2节、查阅资料、校园巡视\n指标：1达标 2基本达标 3不达标（主题督导时填写）\n亮点：……\n发现问题：1.…… 2.……\n处理意见：限期整改";

/// `督导纪实 <内容>`: logs a visit. A new record replaces an unfinished draft.
pub async fn log_visit(ctx: &mut Ctx<'_>, args: &str) -> anyhow::Result<&'static str> {
    let Some(actor) = ctx.actor.clone() else { return Ok("unbound") };
    let text = args.trim();
    if text.is_empty() {
        let own = visit_schools(ctx, &actor).await?.into_iter().find(|s| actor.schools.contains(&s.id));
        let school = match own {
            Some(s) => s.short_name.unwrap_or(s.name),
            None => crate::app::examples::load(ctx.tx).await?.school_short,
        };
        // Where the platform is set up, the same record can be filled in on a phone form.
        let form = match crate::domain::web::BaseUrl::parse(&ctx.app.settings.web.base_url) {
            Some(base) => {
                format!("\n也可以在督导信息平台用手机填写：{}/visits/new（先私聊发送“登录”进入平台）", base.url)
            }
            None => String::new(),
        };
        ctx.reply(format!(
            "请按以下格式发送督导纪实（也可以直接用一段话描述）：\n督导纪实 学校：{school}{VISIT_TEMPLATE_REST}{form}"
        ));
        return Ok("visit_template");
    }
    let schools = visit_schools(ctx, &actor).await?;
    let parsed = vp::parse_visit(text, &schools, ctx.today());
    record_visit(ctx, &actor, parsed, text, false, &schools).await.map(|(intent, _)| intent)
}

/// A visit record filled in on the platform's form (`web::visit`): the same record
/// `督导纪实 <text>` makes, through the same steps ([`record_visit`]: drafts replaced, the text
/// kept, [`advance`]'s checks, scores, problems, audit and the confirmation in chat), except
/// that no follow-up question is asked — the form asks for what is missing before it is sent.
/// The intent and, when it was saved, the visit's id.
pub async fn submit_form(
    ctx: &mut Ctx<'_>,
    parsed: ParsedVisit,
    text: &str,
) -> anyhow::Result<(&'static str, Option<i64>)> {
    let Some(actor) = ctx.actor.clone() else { return Ok(("unbound", None)) };
    let schools = visit_schools(ctx, &actor).await?;
    record_visit(ctx, &actor, parsed, text, true, &schools).await
}

/// A new record: replaces an unfinished draft, keeps the text it came from, then [`advance`].
async fn record_visit(
    ctx: &mut Ctx<'_>,
    actor: &crate::domain::actor::Actor,
    parsed: ParsedVisit,
    text: &str,
    asked: bool,
    schools: &[SchoolRef],
) -> anyhow::Result<(&'static str, Option<i64>)> {
    sm::abandon_drafts(ctx.tx, actor.person_id, ctx.now).await?;
    let id = sm::create_visit(ctx.tx, actor.person_id, &parsed, ctx.now).await?;
    sm::add_part(ctx.tx, id, ctx.inbound_id, "text", text, ctx.now).await?;
    let intent = advance(ctx, id, parsed, asked, schools).await?;
    Ok((intent, (intent == "visit").then_some(id)))
}

/// Words that make free text a weekly report rather than the answer to a visit question.
const WEEKLY_WORDS: [&str; 3] = ["本周", "周报", "下周"];

/// Whether [`maybe_answer`] could take this text, decided without reading the draft: an
/// inspector's non-empty text, private or addressed to the bot, quoting nothing, not a weekly
/// report. The same conditions `maybe_answer` checks around its reads.
pub fn could_answer(ctx: &Ctx<'_>, text: &str) -> bool {
    let text = text.trim();
    ctx.actor.as_ref().is_some_and(|a| a.role == Role::Inspector)
        && (!ctx.in_group() || ctx.msg.to_me)
        && !text.is_empty()
        && ctx.msg.reply_to().is_none()
        && !WEEKLY_WORDS.iter().any(|w| text.contains(w))
}

/// Free text answering the one follow-up question of a visit draft (private, @bot or a quote).
pub async fn maybe_answer(ctx: &mut Ctx<'_>, text: &str) -> anyhow::Result<Option<&'static str>> {
    let Some(actor) = ctx.actor.clone() else { return Ok(None) };
    if actor.role != Role::Inspector || (ctx.in_group() && !ctx.msg.to_me) {
        return Ok(None);
    }
    let since = ctx.now - Duration::hours(i64::from(ctx.app.settings.visits.draft_hours));
    let Some(draft) = sm::draft_for(ctx.tx, actor.person_id, since).await? else { return Ok(None) };
    let Some(field) = draft.pending_field.as_deref() else { return Ok(None) };
    let field = if field == "school" { VisitField::School } else { VisitField::Activity };
    let text = text.trim();
    // A quote belongs to the message quoted (a weekly prompt, a task notice); a weekly report
    // written while a visit question is open is still a weekly report.
    if text.is_empty() || ctx.msg.reply_to().is_some() || WEEKLY_WORDS.iter().any(|w| text.contains(w)) {
        return Ok(None);
    }
    let schools = visit_schools(ctx, &actor).await?;
    let answer = vp::parse_visit_answer(field, text, &schools, ctx.today());
    // The record named a school of the county that is not the inspector's; naming one of their
    // own now does not make that text a record of this school: ask for the record again.
    if let (VisitField::School, Some(own)) = (field, answer.school) {
        for named in &draft.parsed.unknown_schools {
            let found = store::people::find_schools(ctx.tx, named).await?;
            if found.is_empty() || found.iter().any(|s| s.id == own) {
                continue;
            }
            let names = crate::domain::school_match::display_names(&schools);
            let own = names(own);
            let detail = json!({ "named": named, "answered": own, "reason": "OtherSchool" });
            discard(ctx, draft.id, "abandoned", detail).await?;
            ctx.reply(format!(
                "您的纪实写的是“{named}”的督导情况，不能记到{own}名下，本条纪实未保存。如督导的是{own}，请重新发送“督导纪实 {own} ……”，写明在{own}的督导情况；如确需督导“{named}”，请联系督导室。"
            ));
            return Ok(Some("visit_abandoned"));
        }
    }
    let mut merged = vp::merge_visit(&draft.parsed, &answer);
    // A school of the county that is not the inspector's: say so rather than "not understood".
    if merged.school.is_none() && field == VisitField::School && merged.unknown_schools.is_empty() {
        if let [s] = store::people::find_schools(ctx.tx, text).await?.as_slice() {
            merged.unknown_schools.push(s.short_name.clone().unwrap_or_else(|| s.name.clone()));
        }
    }
    sm::add_part(ctx.tx, draft.id, ctx.inbound_id, &format!("answer:{}", field_str(field)), text, ctx.now).await?;
    Ok(Some(advance(ctx, draft.id, merged, true, &schools).await?))
}

/// A record that is not saved leaves no visit behind: the reply says "未保存", so the data
/// agrees; the attempt, with what was written, stays in the audit log.
async fn discard(ctx: &mut Ctx<'_>, id: i64, action: &str, mut detail: serde_json::Value) -> anyhow::Result<()> {
    detail["text"] = json!(sm::part_texts(ctx.tx, id).await?.join("\n"));
    sm::discard_visit(ctx.tx, id).await?;
    ctx.audit("visit", None, action, detail).await?;
    Ok(())
}

/// Checks the record, asks the one question or saves it.
async fn advance(
    ctx: &mut Ctx<'_>,
    id: i64,
    parsed: ParsedVisit,
    asked: bool,
    schools: &[SchoolRef],
) -> anyhow::Result<&'static str> {
    let Some(actor) = ctx.actor.clone() else { return Ok("unbound") };
    let names = crate::domain::school_match::display_names(schools);
    if let Some(school) = parsed.school {
        if let Err(denied) = actor.check_act_for_school(school) {
            let reason = format!("{denied:?}");
            discard(ctx, id, "refused", json!({ "school": school, "reason": reason })).await?;
            ctx.reply(match denied {
                Denied::Recused => format!(
                    "您与{}存在回避关系（利益冲突），按规定不能督导该校，本条纪实未保存。如需对该校督导，请联系督导室另行安排。",
                    names(school)
                ),
                _ => format!("{}不在您负责的学校名单中，本条纪实未保存。", names(school)),
            });
            return Ok("visit_refused");
        }
    }
    let today = ctx.today();
    if parsed.date > today {
        discard(ctx, id, "refused", json!({ "date": parsed.date.to_string(), "reason": "FutureDate" })).await?;
        ctx.reply("督导日期不能晚于今天，本条纪实未保存。请核对日期后重新发送“督导纪实 …”。");
        return Ok("visit_future");
    }
    if !asked {
        if let Some(q) = parsed.next_question(&names) {
            let field = parsed.missing_required().unwrap_or(VisitField::School);
            let mut q = q;
            if field == VisitField::School && actor.schools.is_empty() {
                // No list to show (a 特约督学 without assigned schools): say so, ask for the full name.
                let named = if parsed.unknown_schools.is_empty() {
                    String::new()
                } else {
                    format!("“{}”不在您负责的学校名单中。", parsed.unknown_schools.join("、"))
                };
                q = format!("{named}请补充：本次督导的是哪所学校？您目前没有分配负责的学校，请写学校全称。");
            } else if field == VisitField::School && !parsed.unknown_schools.is_empty() {
                let mine: Vec<String> = actor.schools.iter().map(|s| names(*s)).collect();
                // A misspelt name of one of the inspector's own schools gets a suggestion.
                let own: Vec<&str> = schools
                    .iter()
                    .flat_map(|s| std::iter::once(s.name.as_str()).chain(s.short_name.as_deref()))
                    .collect();
                let hint = parsed
                    .unknown_schools
                    .iter()
                    .find_map(|u| crate::domain::text::closest_name(u, &own))
                    .map(|n| format!("是否为“{n}”？"))
                    .unwrap_or_default();
                q = format!(
                    "“{}”不在您负责的学校名单中。{hint}{q}\n您负责的学校：{}",
                    parsed.unknown_schools.join("、"),
                    mine.join("、")
                );
            }
            let saved =
                sm::save_visit(ctx.tx, id, &parsed, "draft", Some(field_str(field)), None, false, ctx.now).await?;
            anyhow::ensure!(saved, "visit {id} is no longer a draft");
            ctx.reply(q);
            return Ok("visit_question");
        }
    }
    let Some(school) = parsed.school else {
        discard(ctx, id, "abandoned", json!({ "unknown_schools": parsed.unknown_schools })).await?;
        let why = if parsed.unknown_schools.is_empty() {
            "仍未能确定督导的学校".to_string()
        } else {
            format!("“{}”不在您负责的学校名单中", parsed.unknown_schools.join("、"))
        };
        ctx.reply(format!(
            "{why}，本条纪实未保存。请重新发送“督导纪实 学校名称 …”；如确需督导其他学校，请联系督导室。"
        ));
        return Ok("visit_abandoned");
    };
    // Theme: the month of the visit date.
    let month = m::month_label(parsed.date);
    let theme = sm::theme_for(ctx.tx, &month).await?;
    let raw = sm::part_texts(ctx.tx, id).await?.join("\n");
    let themed = theme.as_ref().is_some_and(|t| !parsed.indicators.is_empty() || m::declares_theme(&raw, &t.def.title));
    let mut matched = 0;
    for score in &parsed.indicators {
        let no = theme.as_ref().and_then(|t| m::match_indicator(&score.indicator, &t.def.indicators));
        matched += usize::from(no.is_some());
        sm::add_score(ctx.tx, id, &score.indicator, no, score.result, score.remark.as_deref()).await?;
    }
    let follow = parsed.follow_up.map(|f| f.as_str());
    for p in &parsed.problems {
        sm::add_problem(ctx.tx, id, school, actor.person_id, p, m::classify_problem(p), follow, ctx.now).await?;
    }
    let saved =
        sm::save_visit(ctx.tx, id, &parsed, "submitted", None, theme.as_ref().map(|t| t.id), themed, ctx.now).await?;
    // Only a draft is submitted (abandoned or submitted ones are not rewritten).
    anyhow::ensure!(saved, "visit {id} is no longer a draft");
    ctx.audit(
        "visit",
        Some(id.to_string()),
        "submitted",
        json!({ "school": school, "date": parsed.date.to_string(), "themed": themed, "problems": parsed.problems.len() }),
    )
    .await?;
    let mut reply = vp::visit_summary(&parsed, &names);
    if let (Some(t), true) = (&theme, themed) {
        reply.push_str(&format!("\n· 主题督导：{}", t.def.title));
        if !parsed.indicators.is_empty() {
            reply.push_str(&format!("（对应主题指标 {matched}/{} 项）", t.def.indicators.len()));
        }
    }
    if !parsed.problems.is_empty() {
        reply.push_str(&format!("\n发现的 {} 个问题已登记，待纳入整改台账。", parsed.problems.len()));
    }
    reply.push_str(&format!("\n编号 V{id}。发送“我的进度”查看本月督导进度。"));
    ctx.reply(reply);
    Ok("visit")
}

// ---------------------------------------------------------------------------------------------
// Quotas and the month report

/// A month's figures as `月汇报` shows them; the export of that kind reads the same.
pub async fn gather(conn: &mut Conn, settings: &Settings, month: &str) -> anyhow::Result<MonthFigures> {
    let exempt = settings.visits.exempt_invited;
    let inputs = sm::month_inputs(conn, month, exempt).await?.context("bad month")?;
    Ok(inputs.figures(month, settings.visits.quotas()))
}

/// `monthly_report`: the previous month's report, posted and stored once.
pub struct MonthlyReport;

#[async_trait]
impl Job for MonthlyReport {
    async fn run(&self, app: &JobCtx, tx: &mut Tx<'static>, firing: &Firing) -> anyhow::Result<()> {
        let now = app.clock.now();
        let nominal = firing.nominal_at.with_timezone(&app.tz).date_naive();
        // A cron on the month's last day reports that month; any other day, the month before.
        let last_day = nominal.succ_opt().is_none_or(|d| d.month() != nominal.month());
        let month = if last_day { m::month_label(nominal) } else { m::previous_month(nominal) };
        if sm::report_trigger(tx, &month).await?.as_deref() == Some("schedule") {
            return Ok(());
        }
        let figures = gather(tx, &app.settings, &month).await?;
        let text = m::report_text(&figures);
        sm::save_report(tx, &month, &serde_json::to_string(&figures)?, &text, "schedule", now).await?;
        super::broadcast::to_supervisors(
            app,
            tx,
            &format!("monthly:{month}:report"),
            &format!("monthly:report:{month}"),
            &text,
        )
        .await?;
        tracing::info!(%month, "month-end report posted");
        Ok(())
    }
}

/// `月汇报 [2026-11]`: a month's report computed from the database now (default: last month).
pub async fn report_command(ctx: &mut Ctx<'_>, args: &str) -> anyhow::Result<()> {
    let today = ctx.today();
    let month = if args.trim().is_empty() {
        m::previous_month(today)
    } else {
        match m::parse_month(args, today) {
            Some(mo) => mo,
            None => {
                ctx.reply("请写明月份，例如：月汇报 2026-11 或 月汇报 11月");
                return Ok(());
            }
        }
    };
    if month > m::month_label(today) {
        ctx.reply(format!("{}还没有到。", m::month_title(&month)));
        return Ok(());
    }
    let figures = gather(ctx.tx, &ctx.app.settings, &month).await?;
    let mut text = m::report_text(&figures);
    if month == m::month_label(today) {
        text.push_str(&format!("\n（截至{}，本月尚未结束）", today.format("%m月%d日")));
    }
    ctx.reply(text);
    Ok(())
}

/// `督导进度 [责任区]`: this month's figures per zone; with a zone, each of its inspectors.
pub async fn zone_progress(ctx: &mut Ctx<'_>, args: &str) -> anyhow::Result<()> {
    let month = m::month_label(ctx.today());
    let figures = gather(ctx.tx, &ctx.app.settings, &month).await?;
    let arg = args.trim();
    if arg.is_empty() {
        ctx.reply(m::progress_text(&figures));
        return Ok(());
    }
    let Some(zone) = store::people::find_zone(ctx.tx, arg).await? else {
        let ex = crate::app::examples::load(ctx.tx).await?;
        ctx.reply(format!("没有找到责任区“{arg}”。请写责任区编号或名称，例如：督导进度 {}", ex.zone_code));
        return Ok(());
    };
    let Some(z) = figures.zones.iter().find(|z| z.name == zone.name) else {
        ctx.reply(format!("{}目前没有统计数据。", zone.name));
        return Ok(());
    };
    let (from, to) = m::month_bounds(&month).context("bad month")?;
    let visits = sm::zone_visits_between(ctx.tx, zone.id, from, to).await?;
    let mut by_person: HashMap<i64, (usize, usize)> = HashMap::new();
    for v in &visits {
        let e = by_person.entry(v.person_id).or_default();
        e.0 += 1;
        e.1 += usize::from(v.themed);
    }
    let quota = ctx.app.settings.visits.per_inspector_per_month;
    let mut lines = vec![format!(
        "【督导进度】{} {}：督导 {}/{} 次，覆盖学校 {}/{} 所，主题督导 {} 次",
        m::month_title(&month),
        z.name,
        z.visits,
        z.quota,
        z.schools_covered,
        z.schools,
        z.themed_visits
    )];
    for i in counted_inspectors(ctx.tx, &ctx.app.settings).await?.iter().filter(|i| i.zone_id == Some(zone.id)) {
        let (n, themed) = by_person.get(&i.person_id).copied().unwrap_or_default();
        let flag = if (n as u32) < quota { "（未达定额）" } else { "" };
        lines.push(format!("· {} {n}/{quota} 次，主题督导 {themed} 次{flag}", i.name));
    }
    // The zone's schools against the semester and school-year rules.
    let q = ctx.app.settings.visits.quotas();
    let today = ctx.today();
    let (_, yto) = m::school_year(today);
    let term = ctx.app.calendar.term_of(today).cloned();
    let from = coverage_from(today, term.as_ref());
    let year_visits = sm::zone_visits_between(ctx.tx, zone.id, from, yto).await?;
    let schools = store::people::zone_school_names(ctx.tx, zone.id).await?;
    let ids: Vec<i64> = schools.iter().map(|(id, _)| *id).collect();
    let names: HashMap<i64, &str> = schools.iter().map(|(id, n)| (*id, n.as_str())).collect();
    let name = |id: i64| names.get(&id).map(|n| n.to_string()).unwrap_or_default();
    let coverage = school_coverage(&year_visits, &ids, today, term.as_ref(), &q);
    if term.is_some() {
        let short = coverage.iter().filter(|c| c.term_short).count();
        lines.push(format!("本学期督导未达 {} 次的学校：{short}/{} 所", q.per_school_per_semester, ids.len()));
    }
    let unvisited: Vec<String> = coverage.iter().filter(|c| c.year_short).map(|c| name(c.school_id)).collect();
    if unvisited.is_empty() {
        lines.push("本学年各校均已督导".into());
    } else {
        lines.push(format!("本学年尚未督导 {} 所：{}", unvisited.len(), unvisited.join("、")));
    }
    ctx.reply(lines.join("\n"));
    Ok(())
}

/// One school's visits this semester and this school year against the per-school rules
/// (`[visits] per_school_per_semester`, `per_school_per_year`): what `我的进度`, `督导进度` and the
/// platform's 主题与纪实 page list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchoolCoverage {
    pub school_id: i64,
    /// Visits in the semester containing the day; `None` outside a semester (holidays).
    pub term: Option<usize>,
    pub year: usize,
    /// Fewer visits this semester than the rule asks.
    pub term_short: bool,
    /// Fewer visits this school year than the rule asks (the "not yet visited" list).
    pub year_short: bool,
}

/// The first day whose visits [`school_coverage`] needs on `today`: the semester's or the school
/// year's start, whichever is earlier.
pub fn coverage_from(today: NaiveDate, term: Option<&crate::domain::calendar::Term>) -> NaiveDate {
    let (yfrom, _) = m::school_year(today);
    term.map_or(yfrom, |t| t.start.min(yfrom))
}

/// Each of `schools` with its visits among `visits` (read from [`coverage_from`] on) in the
/// semester and the school year containing `today`.
pub fn school_coverage(
    visits: &[sm::VisitRow],
    schools: &[i64],
    today: NaiveDate,
    term: Option<&crate::domain::calendar::Term>,
    q: &m::Quotas,
) -> Vec<SchoolCoverage> {
    let (yfrom, yto) = m::school_year(today);
    let per_term = term.map(|t| count_by_school(visits, schools, t.start, t.end));
    count_by_school(visits, schools, yfrom, yto)
        .into_iter()
        .enumerate()
        .map(|(i, (school_id, year))| {
            let term = per_term.as_ref().map(|p| p[i].1);
            SchoolCoverage {
                school_id,
                term,
                year,
                term_short: term.is_some_and(|c| (c as u32) < q.per_school_per_semester),
                year_short: (year as u32) < q.per_school_per_year,
            }
        })
        .collect()
}

/// Visits to each of `schools` in `[from, to]`.
fn count_by_school(visits: &[sm::VisitRow], schools: &[i64], from: NaiveDate, to: NaiveDate) -> Vec<(i64, usize)> {
    let mut counts: HashMap<i64, usize> = HashMap::new();
    for v in visits.iter().filter(|v| v.date >= from && v.date <= to) {
        *counts.entry(v.school_id).or_insert(0) += 1;
    }
    schools.iter().map(|s| (*s, counts.get(s).copied().unwrap_or(0))).collect()
}

/// `我的进度`: the inspector's visits against the quota, and their schools not yet visited.
pub async fn my_progress(ctx: &mut Ctx<'_>) -> anyhow::Result<()> {
    let Some(actor) = ctx.actor.clone() else { return Ok(()) };
    let today = ctx.today();
    let q = ctx.app.settings.visits.quotas();
    let month = m::month_label(today);
    let (mfrom, mto) = m::month_bounds(&month).context("bad month")?;
    let (_, yto) = m::school_year(today);
    let term = ctx.app.calendar.term_of(today).cloned();
    let from = coverage_from(today, term.as_ref());
    let visits = sm::person_visits_between(ctx.tx, actor.person_id, &actor.schools, from, yto.max(mto)).await?;
    let coverage = school_coverage(&visits, &actor.schools, today, term.as_ref(), &q);
    let mine: Vec<&sm::VisitRow> =
        visits.iter().filter(|v| v.person_id == actor.person_id && v.date >= mfrom && v.date <= mto).collect();
    let themed = mine.iter().filter(|v| v.themed).count();
    let schools = visit_schools(ctx, &actor).await?;
    let names = crate::domain::school_match::display_names(&schools);
    let n = mine.len() as u32;
    let mut lines = vec![format!("【我的进度】{}", m::month_title(&month))];
    let kind = store::people::inspector_type(ctx.tx, actor.person_id).await?;
    // The same rule as the quota figures (counted_inspectors): exempt 特约督学 have no quota.
    if ctx.app.settings.visits.exempt_invited && kind.as_deref() == Some("invited") {
        lines.push(format!("本月督导 {n} 次"));
    } else {
        let gap = if n >= q.per_inspector_per_month {
            "已完成".to_string()
        } else {
            format!("还差 {} 次", q.per_inspector_per_month - n)
        };
        lines.push(format!("本月督导 {n} 次 / 定额 {} 次（{gap}）", q.per_inspector_per_month));
    }
    match sm::theme_for(ctx.tx, &month).await? {
        Some(t) => lines.push(format!(
            "本月主题“{}”：主题督导 {themed} 次{}",
            t.def.title,
            if themed == 0 { "（尚未开展）" } else { "" }
        )),
        None => lines.push("本月尚未发布督导主题".into()),
    }
    if actor.schools.is_empty() {
        lines.push("您目前没有分配负责的学校，不统计各校督导次数。".into());
    } else if let Some(t) = &term {
        let list: Vec<String> = coverage
            .iter()
            .map(|c| format!("{} {}/{}", names(c.school_id), c.term.unwrap_or(0), q.per_school_per_semester))
            .collect();
        lines.push(format!("本学期（{}）各校督导次数：{}", t.name, list.join("、")));
        let short: Vec<String> = coverage.iter().filter(|c| c.term_short).map(|c| names(c.school_id)).collect();
        if !short.is_empty() {
            lines.push(format!("本学期未达 {} 次：{}", q.per_school_per_semester, short.join("、")));
        }
    } else {
        lines.push("当前不在学期内（假期），不统计学期督导次数".into());
    }
    let unvisited: Vec<String> = coverage.iter().filter(|c| c.year_short).map(|c| names(c.school_id)).collect();
    if actor.schools.is_empty() {
        // Nothing to say about schools that do not exist.
    } else if unvisited.is_empty() {
        lines.push("本学年您负责的学校均已督导".into());
    } else {
        lines.push(format!("本学年尚未督导：{}", unvisited.join("、")));
    }
    if !actor.recused.is_empty() {
        let r: Vec<String> = actor.recused.iter().map(|s| names(*s)).collect();
        lines.push(format!("回避学校（不计入）：{}", r.join("、")));
    }
    ctx.reply(lines.join("\n"));
    Ok(())
}

/// Monthly themes, visit records (督导纪实) and the monthly report.
pub struct Monthly;

#[async_trait]
impl crate::app::registry::Workflow for Monthly {
    fn name(&self) -> &'static str {
        "monthly"
    }
    fn commands(&self) -> &'static [crate::domain::command::CommandId] {
        use crate::domain::command::CommandId;
        &[
            CommandId::ThemePublish,
            CommandId::ThemeShow,
            CommandId::VisitLog,
            CommandId::MyProgress,
            CommandId::VisitProgress,
            CommandId::MonthlyReport,
        ]
    }
    async fn command(
        &self,
        ctx: &mut Ctx<'_>,
        id: crate::domain::command::CommandId,
        args: &str,
    ) -> anyhow::Result<Option<&'static str>> {
        use crate::domain::command::CommandId;
        match id {
            CommandId::ThemePublish => publish(ctx, args).await?,
            CommandId::ThemeShow => show(ctx).await?,
            // A visit record says what it did (saved, asked a question, showed the template).
            CommandId::VisitLog => return Ok(Some(log_visit(ctx, args).await?)),
            CommandId::MyProgress => my_progress(ctx).await?,
            CommandId::VisitProgress => zone_progress(ctx, args).await?,
            CommandId::MonthlyReport => report_command(ctx, args).await?,
            _ => {}
        }
        Ok(None)
    }
    fn may_claim(&self, ctx: &Ctx<'_>, text: &str) -> bool {
        could_answer(ctx, text)
    }
    async fn claim(&self, ctx: &mut Ctx<'_>, text: &str) -> anyhow::Result<Option<&'static str>> {
        maybe_answer(ctx, text).await
    }
    fn jobs(&self, jobs: &mut crate::scheduler::Jobs) {
        register(jobs);
    }
    fn schedules(&self, settings: &Settings) -> Vec<crate::config::ScheduleSettings> {
        schedules(settings)
    }
    /// The theme calendar (configured file or the shipped one) must read.
    fn check_config(&self, settings: &Settings) -> anyhow::Result<()> {
        theme_calendar(settings).map(|_| ())
    }
}
