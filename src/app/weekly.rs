//! The weekly-report workflow (周交流): rounds open with a prompt, replies are collected and
//! parsed, the missing are reminded, and a wrap-up goes to the supervisors.

use super::{App, Ctx};
use crate::chat::{ChatKind, Segment};
use crate::config::WeeklySettings;
use crate::db::Tx;
use crate::domain::group::GroupPurpose;
use crate::domain::report_parse::{self as rp, ParsedReport, Section};
use crate::domain::role::Role;
use crate::domain::weekly::{self, MemberStatus};
use crate::outbox::{Delivery, Envelope, Recipient};
use crate::scheduler::JobCtx;
use crate::scheduler::{Firing, Job};
use crate::store::once::Subject;
use crate::store::{self, Conn};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::json;

/// Names of the built-in schedules this workflow adds.
pub const PROMPT_SCHEDULE: &str = "weekly-prompt";
pub const SWEEP_SCHEDULE: &str = "weekly-sweep";

/// The schedules that drive the workflow, derived from `[weekly]`.
pub fn schedules(w: &WeeklySettings) -> Vec<crate::config::ScheduleSettings> {
    if !w.enabled {
        return Vec::new();
    }
    vec![
        crate::config::ScheduleSettings {
            name: PROMPT_SCHEDULE.into(),
            cron: w.prompt_cron.clone(),
            job: "weekly_prompt".into(),
            enabled: Some(true),
            workdays: Some(w.prompt_workdays.clone()),
            school_days_only: Some(false),
            grace_minutes: None,
            params: None,
        },
        crate::config::ScheduleSettings {
            name: SWEEP_SCHEDULE.into(),
            cron: "*/10 * * * *".into(),
            job: "weekly_sweep".into(),
            enabled: Some(true),
            workdays: Some("fire".into()),
            school_days_only: Some(false),
            grace_minutes: Some(60 * 24),
            params: None,
        },
    ]
}

/// Mentions of people, by their account on the group's platform where they have one.
async fn mentions(conn: &mut Conn, platform: &str, people: &[(i64, String)]) -> crate::sql::Result<Vec<Segment>> {
    let mut segs = Vec::new();
    for (pid, name) in people {
        let acc = store::people::account_on(conn, *pid, platform).await?;
        segs.push(match acc {
            Some(user_id) => Segment::Mention { user_id, name: name.clone() },
            None => Segment::text(format!("@{name}")),
        });
        segs.push(Segment::text(" "));
    }
    Ok(segs)
}

/// Shared by the jobs (a [`JobCtx`]) and the handlers (an [`App`]).
fn local_deadline(app: &impl AsRef<JobCtx>, t: DateTime<Utc>) -> String {
    t.with_timezone(&app.as_ref().tz).format("%m月%d日 %H:%M").to_string()
}

/// `weekly_prompt`: opens this week's rounds and posts the prompt.
pub struct Prompt;

#[async_trait]
impl Job for Prompt {
    async fn run(&self, app: &JobCtx, tx: &mut Tx<'static>, firing: &Firing) -> anyhow::Result<()> {
        let w = &app.settings.weekly;
        let now = app.clock.now();
        let local_day = firing.nominal_at.with_timezone(&app.tz).date_naive();
        let today = now.with_timezone(&app.tz).date_naive();
        let week = weekly::week_label(local_day);
        let (day, time) =
            weekly::parse_deadline_spec(&w.deadline).unwrap_or((chrono::Weekday::Mon, chrono::NaiveTime::MIN));
        let deadline =
            weekly::deadline_off_holidays(weekly::deadline_after(now, app.tz, day, time), app.tz, &app.calendar);
        let zone_groups = store::groups::with_purpose(tx, GroupPurpose::ZoneInspectors, None, None).await?;
        let county_groups = store::groups::with_purpose(tx, GroupPurpose::CountyInspectors, None, None).await?;
        let inspectors = store::people::active_inspectors(tx).await?;
        // Each inspector reports in their zone's group, else the county group, else privately.
        let mut scopes: Vec<(String, Option<crate::store::groups::Group>, Vec<(i64, String, bool)>)> = Vec::new();
        for (pid, name, zone, kind) in inspectors {
            let group = zone_groups.iter().find(|g| g.zone_id.is_some() && g.zone_id == zone).or(county_groups.first());
            let scope = group.map_or("private".to_string(), |g| format!("group:{}", g.id));
            let invited = kind.as_deref() == Some("invited");
            match scopes.iter_mut().find(|(s, _, _)| *s == scope) {
                Some((_, _, members)) => members.push((pid, name, invited)),
                None => scopes.push((scope, group.cloned(), vec![(pid, name, invited)])),
            }
        }
        for (scope, group, members) in scopes {
            let Some(round) =
                store::weekly::open_round(tx, &week, &scope, group.as_ref().map(|g| g.id), now, deadline).await?
            else {
                continue; // opened before (a restart or a second scheduler): nothing to repeat
            };
            let mut expected = Vec::new();
            for (pid, name, invited) in &members {
                let excluded = if *invited && w.exempt_invited {
                    Some("exempt")
                } else if store::leave::on_leave(tx, *pid, today).await? {
                    Some("leave")
                } else {
                    None
                };
                store::weekly::add_member(tx, round, *pid, excluded).await?;
                if excluded.is_none() {
                    expected.push((*pid, name.clone()));
                }
            }
            let text = format!(
                "【周交流】{}周报开始收集，请于 {} 前提交。可直接回复本消息、@我 或私聊我，格式参考：\n{}",
                weekly::week_title(&week),
                local_deadline(app, deadline),
                weekly::TEMPLATE
            );
            let source = format!("weekly:prompt:{round}");
            let in_group = w.prompt_mode != "private";
            let in_private = w.prompt_mode != "group" || group.is_none();
            if let (Some(g), true) = (&group, in_group) {
                let platform = app.directory.platform_of(&g.channel).unwrap_or("unknown");
                let mut segs = mentions(tx, platform, &expected).await?;
                segs.push(Segment::text(format!("\n{text}")));
                let env = Envelope::new(format!("weekly:r{round}:prompt"), Recipient::Chat(g.chat()), segs, &source);
                crate::outbox::enqueue(tx, &app.directory, now, env).await?;
            }
            if in_private {
                // Only the private prompt points to the platform's form (the plain page
                // address: login happens through `登录`); group messages never carry it.
                let private = format!("{text}{}", form_hint(&app.settings));
                for (pid, _) in &expected {
                    let env = Envelope::new(
                        format!("weekly:r{round}:prompt:p{pid}"),
                        Recipient::Person(*pid),
                        vec![Segment::text(private.clone())],
                        &source,
                    );
                    crate::outbox::enqueue(tx, &app.directory, now, env).await?;
                }
            }
            tracing::info!(%week, round, expected = expected.len(), "weekly round opened");
        }
        Ok(())
    }
}

/// Where the platform is set up, the sentence pointing to the weekly-report form (for private
/// chats only); empty otherwise.
pub fn form_hint(settings: &crate::config::Settings) -> String {
    match crate::domain::web::BaseUrl::parse(&settings.web.base_url) {
        Some(base) => format!("\n也可以在督导信息平台用手机填写：{}/reports/new（先私聊发送“登录”进入平台）", base.url),
        None => String::new(),
    }
}

/// `weekly_sweep`: reminders before the deadline, the wrap-up after it. Each happens once per
/// round, across restarts, because it is recorded in the once-ledger (`store::once`).
pub struct Sweep;

#[async_trait]
impl Job for Sweep {
    async fn run(&self, app: &JobCtx, tx: &mut Tx<'static>, _firing: &Firing) -> anyhow::Result<()> {
        let w = &app.settings.weekly;
        let now = app.clock.now();
        let today = now.with_timezone(&app.tz).date_naive();
        let rounds = store::weekly::open_rounds(tx).await?;
        for r in &rounds {
            for (i, hours) in w.reminders_before_hours.iter().enumerate() {
                if !weekly::reminder_due_on(&app.calendar, app.tz, now, r.deadline_at, *hours)
                    || !store::once::record_once(tx, Subject::WeeklyRound(r.id), &format!("remind:{i}"), now).await?
                {
                    continue;
                }
                let members = store::weekly::members(tx, &[r.id]).await?;
                let expected = members.iter().filter(|m| m.excluded.is_none()).count();
                let mut missing = Vec::new();
                for m in members.iter().filter(|m| m.excluded.is_none() && m.report.is_none()) {
                    if !store::leave::on_leave(tx, m.person_id, today).await? {
                        missing.push((m.person_id, m.name.clone()));
                    }
                }
                if missing.is_empty() {
                    continue;
                }
                let source = format!("weekly:remind:{}", r.id);
                let dl = local_deadline(app, r.deadline_at);
                let group = match r.group_id {
                    Some(gid) if !w.remind_private_only => group_by_id(tx, gid).await?,
                    _ => None,
                };
                let mut env = match group {
                    Some(g) if i == 0 => Envelope::new(
                        format!("weekly:r{}:remind{i}", r.id),
                        Recipient::Chat(g.chat()),
                        vec![Segment::text(format!(
                            "【周交流提醒】本周周报已收到 {}/{} 份，尚未提交的老师请于 {dl} 前提交，回复本消息或私聊我即可。",
                            expected - missing.len(),
                            expected
                        ))],
                        &source,
                    ),
                    Some(g) => {
                        let platform = app.directory.platform_of(&g.channel).unwrap_or("unknown");
                        let mut segs = mentions(tx, platform, &missing).await?;
                        segs.push(Segment::text(format!("\n【周交流提醒】以上老师的本周周报尚未提交，截止时间 {dl}，请尽快回复。")));
                        Envelope::new(format!("weekly:r{}:remind{i}", r.id), Recipient::Chat(g.chat()), segs, &source)
                    }
                    None => {
                        for (pid, _) in &missing {
                            let env = Envelope {
                                delivery: Delivery::AtMostOnce,
                                ..Envelope::new(
                                    format!("weekly:r{}:remind{i}:p{pid}", r.id),
                                    Recipient::Person(*pid),
                                    vec![Segment::text(format!("【周交流提醒】您本周的周报尚未提交，截止时间 {dl}，直接回复我即可。"))],
                                    &source,
                                )
                            };
                            crate::outbox::enqueue(tx, &app.directory, now, env).await?;
                        }
                        continue;
                    }
                };
                env.delivery = Delivery::AtMostOnce;
                crate::outbox::enqueue(tx, &app.directory, now, env).await?;
            }
        }
        // Wrap up each week whose rounds have all reached their deadline.
        let mut weeks: Vec<String> = rounds.iter().filter(|r| now >= r.deadline_at).map(|r| r.week.clone()).collect();
        weeks.dedup();
        for week in weeks {
            let all = store::weekly::rounds_of_week(tx, &week).await?;
            if all.iter().any(|r| !r.closed && now < r.deadline_at) {
                continue;
            }
            let ids: Vec<i64> = all.iter().map(|r| r.id).collect();
            for id in &ids {
                store::weekly::close_round(tx, *id, now).await?;
                store::once::record_once(tx, Subject::WeeklyRound(*id), "wrapup", now).await?;
            }
            let text = weekly::wrap_up_text(&week, &week_stats(tx, &ids).await?);
            super::broadcast::to_supervisors(
                app,
                tx,
                &format!("weekly:{week}:wrapup"),
                &format!("weekly:wrapup:{week}"),
                &text,
            )
            .await?;
            tracing::info!(%week, "weekly wrap-up posted");
        }
        Ok(())
    }
}

async fn group_by_id(conn: &mut Conn, id: i64) -> crate::sql::Result<Option<store::groups::Group>> {
    match store::groups::key_of(conn, id).await? {
        Some((platform, external_id)) => store::groups::get(conn, &platform, &external_id).await,
        None => Ok(None),
    }
}

fn parsed_of(json: &str) -> ParsedReport {
    serde_json::from_str(json).unwrap_or_default()
}

async fn week_stats(conn: &mut Conn, rounds: &[i64]) -> crate::sql::Result<weekly::WeekStats> {
    let members = store::weekly::members(conn, rounds).await?;
    let statuses: Vec<MemberStatus> = members
        .into_iter()
        .map(|m| {
            let (submitted, late, parsed) = match &m.report {
                Some((late, json)) => (true, *late, parsed_of(json)),
                None => (false, false, ParsedReport::default()),
            };
            MemberStatus {
                person_id: m.person_id,
                name: m.name,
                excluded: m.excluded,
                submitted,
                late,
                visits: parsed.visit_count.unwrap_or(parsed.schools.len() as u32),
                schools: parsed.schools.clone(),
                problems: parsed.problem_items.clone(),
            }
        })
        .collect();
    Ok(weekly::stats(&statuses))
}

/// `pending_question` when the question asked which school a fragment is.
const PENDING_SCHOOL_CHOICE: &str = "school_choice";
/// The part kind of an answer to that question.
const ANSWER_SCHOOL_CHOICE: &str = "answer:school_choice";

/// Every active school of the county, for reading names against (see [`rp::ReportSchools`]).
async fn county_refs(ctx: &mut Ctx<'_>) -> crate::sql::Result<std::sync::Arc<Vec<rp::SchoolRef>>> {
    ctx.county_refs().await
}

const EDIT_WORDS: &[&str] = &["修改周报", "更正周报", "重新提交", "修改", "更正", "重报"];

/// Whether free text from a bound person should be taken as a weekly report, and takes it.
/// Returns the intent when it did.
pub async fn maybe_intake(ctx: &mut Ctx<'_>, text: &str) -> anyhow::Result<Option<&'static str>> {
    let Some(actor) = ctx.actor.clone() else { return Ok(None) };
    if actor.role != Role::Inspector || !ctx.app.settings.weekly.enabled {
        return Ok(None);
    }
    let quoted = match ctx.msg.reply_to() {
        Some(id) => store::weekly::is_weekly_message(ctx.tx, &ctx.msg.chat.channel, id).await?,
        None => false,
    };
    // A quote of some other message (a task notice) belongs to another workflow.
    if ctx.msg.reply_to().is_some() && !quoted {
        return Ok(None);
    }
    if !ctx.msg.to_me && !quoted {
        return Ok(None);
    }
    let Some(round) =
        store::weekly::current_round_for(ctx.tx, actor.person_id, ctx.now, ctx.app.settings.weekly.late_days).await?
    else {
        return Ok(None);
    };
    // Small talk addressed to the bot ("谢谢") is not a report, unless it answers our question.
    let existing = store::weekly::report(ctx.tx, round.id, actor.person_id).await?;
    if !quoted {
        let pending = existing.as_ref().and_then(|r| r.pending_question.clone());
        let schools = ctx.school_refs(&actor.schools).await?;
        let starts_edit = EDIT_WORDS.iter().any(|w| text.trim().starts_with(w));
        if pending.is_none() && !starts_edit && is_empty(&rp::parse_weekly(text, &schools)) {
            return Ok(None);
        }
    }
    Ok(Some(intake(ctx, round, existing, text).await?))
}

/// The parse state of a version with its newest part (`kind`, `body`, already stored) folded
/// in: the kept state plus that one part, or, when none fits (reports from before states were
/// kept, a new version, a roster change), every part of the version read afresh.
async fn parts_with(
    conn: &mut Conn,
    existing: Option<&store::weekly::Report>,
    report_id: i64,
    version: i64,
    kind: &str,
    body: &str,
    within: rp::ReportSchools<'_>,
) -> anyhow::Result<rp::WeeklyParts> {
    // A version begun by this very part (a new report, or an edit) holds nothing else.
    let fresh = existing.is_none_or(|r| r.version != version);
    if fresh {
        return Ok(rp::WeeklyParts::from_parts(part_kind(kind).map(|k| (k, body)), within));
    }
    let kept = existing
        .and_then(|r| r.parse_state.as_ref())
        .filter(|(v, _)| *v == version)
        .and_then(|(_, json)| serde_json::from_str::<rp::WeeklyParts>(json).ok())
        .filter(|state| state.read_against(within));
    if let Some(mut state) = kept {
        if let Some(kind) = part_kind(kind) {
            state.push(kind, body, within);
        }
        return Ok(state);
    }
    let parts = store::weekly::parts(conn, report_id, version).await?;
    Ok(rp::WeeklyParts::from_parts(parts.iter().filter_map(|(k, t)| part_kind(k).map(|k| (k, t.as_str()))), within))
}

/// A stored part's kind as the parse reads it; `None` for a kind it ignores.
fn part_kind(kind: &str) -> Option<rp::PartKind> {
    if kind == "text" {
        Some(rp::PartKind::Text)
    } else if kind == ANSWER_SCHOOL_CHOICE {
        Some(rp::PartKind::SchoolChoice)
    } else {
        kind.strip_prefix("answer:").and_then(Section::parse).map(rp::PartKind::Answer)
    }
}

fn is_empty(p: &ParsedReport) -> bool {
    p.sections.is_empty()
        && p.schools.is_empty()
        && p.ambiguous.is_empty()
        && p.unknown_schools.is_empty()
        && p.methods.is_empty()
        && !p.no_visits
        && !p.no_problems
}

/// The message a report filled in on the platform's form stands for: its template text, as an
/// edit ("修改：…", a new version, exactly as that reply in chat) when the person already
/// reported this round.
pub(crate) fn form_message(text: &str, reported: bool) -> String {
    if reported {
        format!("{}：{text}", EDIT_WORDS[3])
    } else {
        text.to_string()
    }
}

/// A report from the platform's form (`form_message`), taken in by the chat's own intake.
pub(crate) async fn submit_form(
    ctx: &mut Ctx<'_>,
    round: store::weekly::Round,
    existing: Option<store::weekly::Report>,
    text: &str,
) -> anyhow::Result<&'static str> {
    intake(ctx, round, existing, text).await
}

/// Takes `text` into the report; `existing` is the inspector's report of `round` as read just before.
async fn intake(
    ctx: &mut Ctx<'_>,
    round: store::weekly::Round,
    existing: Option<store::weekly::Report>,
    text: &str,
) -> anyhow::Result<&'static str> {
    let Some(actor) = ctx.actor.clone() else { return Ok("unbound") };
    // A report belongs in the inspector's own group or a private chat.
    if ctx.msg.chat.kind == ChatKind::Group {
        let here = ctx.here().await?;
        if here.as_ref().map(|g| g.id) != round.group_id {
            ctx.reply("请在您所在的责任区督学群或私聊我提交周报，本群的消息不计入周报。");
            return Ok("weekly_wrong_group");
        }
    }
    let text = text.trim();
    if text.is_empty() {
        ctx.reply(format!("请按以下格式回复周报内容：\n{}", weekly::TEMPLATE));
        return Ok("weekly_empty");
    }
    let body = strip_edit_word(text);
    let edit = body.len() != text.len();
    let schools = ctx.school_refs(&actor.schools).await?;
    let county = county_refs(ctx).await?;
    let within = rp::ReportSchools { mine: &schools, county: &county };
    if let Some(on_file) = &existing {
        if weekly::intake_kind(ctx.now, round.deadline_at, Some(on_file.late)) == weekly::Intake::Addendum {
            return addendum(ctx, &round, on_file, edit, text, body, &schools).await;
        }
    }
    let (report_id, mut version, pending, asked) = match &existing {
        Some(r) => (r.id, r.version, r.pending_question.clone(), r.asked),
        None => (store::weekly::create_report(ctx.tx, round.id, actor.person_id, ctx.now).await?, 1, None, false),
    };
    let mut asked = asked;
    if edit && existing.is_some() {
        version += 1;
        asked = false;
    }
    // An answer to the one follow-up question, unless the message is a whole report itself.
    let confirming = existing.as_ref().and_then(|r| parsed_of(&r.parsed).ambiguous.first().cloned());
    let kind = match pending.as_deref() {
        Some(PENDING_SCHOOL_CHOICE)
            if !edit
                && rp::parse_weekly(body, &schools).sections.is_empty()
                && confirming.as_ref().is_some_and(|m| rp::school_choice(body, m, &county).is_some()) =>
        {
            ANSWER_SCHOOL_CHOICE.to_string()
        }
        Some(p) => match Section::parse(p) {
            Some(section) if !edit && rp::parse_weekly(body, &schools).sections.len() <= 1 => {
                format!("answer:{}", section.as_str())
            }
            _ => "text".to_string(),
        },
        None => "text".to_string(),
    };
    store::weekly::add_part(ctx.tx, report_id, ctx.inbound_id, version, &kind, body, ctx.now).await?;
    let names = crate::domain::school_match::display_names(&county);
    let state = parts_with(ctx.tx, existing.as_ref(), report_id, version, &kind, body, within).await?;
    let state_json = serde_json::to_string(&state)?;
    let parsed = state.into_report(within, &names);
    let late = ctx.now > round.deadline_at;
    let question = if asked { None } else { rp::next_question(&parsed, &names) };
    // What the question asks for: which school a fragment is (asked first), else a section.
    let pending_section = match &question {
        None => None,
        Some(_) if !parsed.ambiguous.is_empty() => Some(PENDING_SCHOOL_CHOICE),
        Some(_) => Some(rp::missing_required(&parsed).unwrap_or(Section::Schools).as_str()),
    };
    store::weekly::save_report(
        ctx.tx,
        report_id,
        version,
        late,
        pending_section,
        asked || question.is_some(),
        &serde_json::to_string(&parsed)?,
        &state_json,
        ctx.now,
    )
    .await?;
    ctx.audit(
        "weekly_report",
        Some(report_id.to_string()),
        if edit { "edited" } else { "received" },
        json!({ "week": round.week, "version": version, "late": late, "kind": kind }),
    )
    .await?;
    match question {
        Some(q) => ctx.reply(q),
        None => {
            let mut reply = rp::summary(&parsed, &names);
            if edit {
                reply = format!("已更新（第{version}版）。{reply}");
            }
            if late {
                reply.push_str("\n（已过截止时间，本次记为逾期提交。）");
            } else {
                reply.push_str(&format!(
                    "\n截止前可发送“修改 …”更新。截止时间：{}",
                    local_deadline(ctx.app, round.deadline_at)
                ));
            }
            ctx.reply(reply);
        }
    }
    Ok(if late { "weekly_late" } else { "weekly_report" })
}

/// After the deadline, an edit or a further part from someone who reported on time: kept as a
/// late addendum beside the on-time version, which stays current with its on-time status, so
/// the published wrap-up and the statistics keep agreeing.
async fn addendum(
    ctx: &mut Ctx<'_>,
    round: &store::weekly::Round,
    on_file: &store::weekly::Report,
    edit: bool,
    text: &str,
    body: &str,
    schools: &[rp::SchoolRef],
) -> anyhow::Result<&'static str> {
    let parsed = rp::parse_weekly(body, schools);
    let kind = if edit { "edit" } else { "part" };
    store::weekly::add_addendum(
        ctx.tx,
        on_file.id,
        ctx.inbound_id,
        kind,
        text,
        &serde_json::to_string(&parsed)?,
        ctx.now,
    )
    .await?;
    ctx.audit(
        "weekly_report",
        Some(on_file.id.to_string()),
        "addendum",
        json!({ "week": round.week, "version": on_file.version, "kind": kind }),
    )
    .await?;
    ctx.reply(format!(
        "已在截止后收到您的补充，原按时提交的周报及状态不变，补充内容另行标注。\n补充：{}",
        weekly::addendum_line(&local_deadline(ctx.app, ctx.now), body)
    ));
    Ok("weekly_addendum")
}

fn addenda_shown(app: &App, rows: Vec<store::weekly::AddendumRow>) -> Vec<weekly::Addendum> {
    rows.into_iter()
        .map(|a| weekly::Addendum {
            name: a.name,
            at: local_deadline(app, a.at),
            text: strip_edit_word(&a.text).to_string(),
        })
        .collect()
}

/// The message without its leading edit word ("修改 …" → "…").
fn strip_edit_word(text: &str) -> &str {
    let text = text.trim();
    match EDIT_WORDS.iter().find_map(|w| text.strip_prefix(w)) {
        Some(rest) => rest.trim_start_matches([':', '：', ' ']).trim(),
        None => text,
    }
}

/// `周报 [内容]`: the template, or a report given explicitly.
pub async fn command(ctx: &mut Ctx<'_>, args: &str) -> anyhow::Result<()> {
    let Some(actor) = ctx.actor.clone() else { return Ok(()) };
    let Some(round) =
        store::weekly::current_round_for(ctx.tx, actor.person_id, ctx.now, ctx.app.settings.weekly.late_days).await?
    else {
        // Outside a round: say when the next one opens and show the template to prepare with.
        let next = crate::scheduler::cron::parse(&ctx.app.settings.weekly.prompt_cron)
            .ok()
            .and_then(|s| crate::scheduler::cron::next_after(&s, ctx.app.tz, ctx.now));
        let when = match next {
            Some(t) => format!("下次周报提醒预计在{}发出。", local_deadline(ctx.app, t)),
            None => String::new(),
        };
        ctx.reply(format!("目前没有需要您提交的周报。{when}届时请按以下格式回复：\n{}", weekly::TEMPLATE));
        return Ok(());
    };
    if args.trim().is_empty() {
        ctx.reply(format!(
            "{}周报截止时间：{}。请按以下格式回复（可分几条发送）：\n{}",
            weekly::week_title(&round.week),
            local_deadline(ctx.app, round.deadline_at),
            weekly::TEMPLATE
        ));
        return Ok(());
    }
    // The parser read a normalised copy; the report is kept as the inspector wrote it.
    let raw = ctx.msg.command_text();
    let verbatim = weekly::verbatim_tail(&raw, args).unwrap_or(args).to_string();
    let existing = store::weekly::report(ctx.tx, round.id, actor.person_id).await?;
    intake(ctx, round, existing, &verbatim).await?;
    Ok(())
}

/// `我的周报`: the inspector's current report as understood.
pub async fn mine(ctx: &mut Ctx<'_>) -> anyhow::Result<()> {
    let Some(actor) = ctx.actor.clone() else { return Ok(()) };
    let Some(round) =
        store::weekly::current_round_for(ctx.tx, actor.person_id, ctx.now, ctx.app.settings.weekly.late_days).await?
    else {
        ctx.reply("目前没有需要您提交的周报。");
        return Ok(());
    };
    let title = weekly::week_title(&round.week);
    match store::weekly::report(ctx.tx, round.id, actor.person_id).await? {
        None => ctx.reply(format!("{title}周报：尚未提交，截止时间 {}。", local_deadline(ctx.app, round.deadline_at))),
        Some(r) => {
            let schools = county_refs(ctx).await?;
            let parsed = parsed_of(&r.parsed);
            let status = if r.late { "逾期提交" } else { "已提交" };
            let mut reply = format!(
                "{title}周报：{status}（第{}版）\n{}",
                r.version,
                rp::summary(&parsed, &crate::domain::school_match::display_names(&schools))
            );
            let rows = store::weekly::addenda(ctx.tx, &[round.id], Some(actor.person_id)).await?;
            for a in addenda_shown(ctx.app, rows) {
                reply.push_str(&format!("\n· 补充：{}", weekly::addendum_line(&a.at, &a.text)));
            }
            ctx.reply(reply);
        }
    }
    Ok(())
}

/// `周报统计 [第N周]`: the figures of a week, live.
pub async fn stats_command(ctx: &mut Ctx<'_>, args: &str) -> anyhow::Result<()> {
    let week = if args.trim().is_empty() {
        store::weekly::latest_week(ctx.tx, ctx.now).await?
    } else {
        match weekly::parse_week(args, ctx.today()) {
            Some(w) => Some(w),
            None => {
                ctx.reply("请写明周次，例如：周报统计 第48周");
                return Ok(());
            }
        }
    };
    let Some(week) = week else {
        ctx.reply("还没有开始过周报收集。");
        return Ok(());
    };
    let rounds = store::weekly::rounds_of_week(ctx.tx, &week).await?;
    if rounds.is_empty() {
        ctx.reply(format!("{}没有周报记录。", weekly::week_title(&week)));
        return Ok(());
    }
    let ids: Vec<i64> = rounds.iter().map(|r| r.id).collect();
    let stats = week_stats(ctx.tx, &ids).await?;
    let mut text = weekly::wrap_up_text(&week, &stats).replacen("【周报汇总】", "【周报统计】", 1);
    let rows = store::weekly::addenda(ctx.tx, &ids, None).await?;
    if let Some(addenda) = weekly::addenda_text(&addenda_shown(ctx.app, rows)) {
        text.push('\n');
        text.push_str(&addenda);
    }
    ctx.reply(text);
    Ok(())
}

/// Used by tests and the report: the current version's parse for a person in a week.
pub async fn report_of(
    conn: &mut Conn,
    week: &str,
    person_code: &str,
) -> crate::sql::Result<Option<(ParsedReport, bool, i64)>> {
    let r = store::weekly::report_of_week(conn, week, person_code).await?;
    Ok(r.map(|(parsed, late, version)| (parsed_of(&parsed), late, version)))
}

pub fn register(jobs: &mut crate::scheduler::Jobs) {
    jobs.register("weekly_prompt", std::sync::Arc::new(Prompt));
    jobs.register("weekly_sweep", std::sync::Arc::new(Sweep));
}

/// Weekly reports (周交流): the prompt, reminders and wrap-up, intake of free-text reports.
pub struct Weekly;

crate::app::registry::workflow!(Weekly, "weekly", |ctx, args| {
    WeeklyReport => command(ctx, args),
    MyWeekly => mine(ctx),
    WeeklyStats => stats_command(ctx, args),
} {
    /// `maybe_intake` takes nothing but an inspector's text, with collection on, that quotes a
    /// message (perhaps the prompt) or is addressed to the bot (a private chat is): everything
    /// past that (the quoted message, the open round, a pending question) needs the database.
    fn may_claim(&self, ctx: &Ctx<'_>, _text: &str) -> bool {
        ctx.actor.as_ref().is_some_and(|a| a.role == Role::Inspector)
            && ctx.app.settings.weekly.enabled
            && (ctx.msg.reply_to().is_some() || ctx.msg.to_me)
    }
    async fn claim(&self, ctx: &mut Ctx<'_>, text: &str) -> anyhow::Result<Option<&'static str>> {
        maybe_intake(ctx, text).await
    }
    fn jobs(&self, jobs: &mut crate::scheduler::Jobs) {
        register(jobs);
    }
    fn schedules(&self, settings: &crate::config::Settings) -> Vec<crate::config::ScheduleSettings> {
        schedules(&settings.weekly)
    }
});
