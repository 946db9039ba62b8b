//! The holiday calendar as the office keeps it: shipped or configured year files, years the
//! office imported itself (`dudao calendar import`, kept in `calendar_years`), and the warning
//! when the current or next month has no holiday data (start-up log, `/healthz`, chat).

use crate::chat::Segment;
use crate::config::{ScheduleSettings, Settings};
use crate::db::{Db, Tx};
use crate::domain::calendar::{Calendar, CalendarError, CoverageGap};
use crate::outbox::{Envelope, Recipient};
use crate::scheduler::{Firing, Job, JobCtx, Jobs};
use crate::store::once::Subject;
use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

pub const JOB: &str = "calendar_check";
pub const SCHEDULE: &str = "calendar-check";

/// National calendars shipped with Dudao.
const SHIPPED: &[(&str, &str)] = &[
    ("config/calendar/2026.toml", include_str!("../../config/calendar/2026.toml")),
    ("config/calendar/2027.toml", include_str!("../../config/calendar/2027.toml")),
];

/// How an office fixes a missing year; shown in `/healthz` and the log.
pub const HINT: &str = "enter the State Council holiday notice for the year with `dudao calendar import FILE` \
                        (format: config/calendar/2026.toml; see README \"Calendar\") and restart the service";

/// Years imported with `dudao calendar import`: (year, TOML text).
pub async fn imported(db: &Db) -> crate::sql::Result<Vec<(i32, String)>> {
    crate::store::calendar::imported(&mut *db.acquire().await?).await
}

/// The shipped files (or `calendar.files` when configured), each year replaced by the office's
/// import of that year when there is one, merged into one calendar.
pub fn build(settings: &Settings, imported: &[(i32, String)]) -> anyhow::Result<Calendar> {
    let mut files: Vec<(String, String)> = Vec::new();
    if settings.calendar.files.is_empty() {
        files.extend(SHIPPED.iter().map(|(n, t)| (n.to_string(), t.to_string())));
    } else {
        for path in &settings.calendar.files {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("calendar.files: cannot read {}", path.display()))?;
            files.push((path.display().to_string(), text));
        }
    }
    let replaced: BTreeSet<i32> = imported.iter().map(|(y, _)| *y).collect();
    let mut cal = Calendar::default();
    for (name, text) in &files {
        let (year, c) = Calendar::parse_year_file(text).with_context(|| format!("calendar file {name}"))?;
        if replaced.contains(&year) {
            continue;
        }
        cal.merge(c).with_context(|| format!("calendar file {name}"))?;
    }
    for (year, text) in imported {
        let what = || format!("calendar for {year} imported with `dudao calendar import`");
        let (_, c) = Calendar::parse_year_file(text).with_context(what)?;
        cal.merge(c).with_context(what)?;
    }
    Ok(cal)
}

/// The local date of `now`.
fn local_today(app: &JobCtx, now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&app.tz).date_naive()
}

/// The start-up warning (nothing when the current and next month are covered).
pub fn log_gap(cal: &Calendar, today: NaiveDate) {
    let gap = cal.coverage_gap(today);
    if !gap.is_empty() {
        tracing::warn!(
            missing_months = %gap.missing_months.join(","),
            missing_years = ?gap.missing_years,
            "no holiday data for {}: its holidays count as working days; {HINT}",
            years_text(&gap)
        );
    }
}

fn years_text(gap: &CoverageGap) -> String {
    gap.missing_years.iter().map(|y| y.to_string()).collect::<Vec<_>>().join(", ")
}

/// The `calendar` detail of `/healthz`: a warning, never a failure.
pub fn health(cal: &Calendar, today: NaiveDate) -> serde_json::Value {
    let gap = cal.coverage_gap(today);
    if gap.is_empty() {
        return serde_json::json!({ "status": "ok" });
    }
    serde_json::json!({
        "status": "missing",
        "missing_months": gap.missing_months,
        "missing_years": gap.missing_years,
        "hint": format!("no holiday data for {}: {HINT}", years_text(&gap)),
    })
}

fn warning_text(year: i32, months: &[&str]) -> String {
    format!(
        "【日历提醒】系统中还没有{year}年的法定节假日安排，{}将只按周六、周日休息，春节等假期会被当作工作日（影响提醒、截止时间和整改期限）。\n\
         请管理员按国务院办公厅《关于{year}年部分节假日安排的通知》填写日历文件（格式同 config/calendar/2026.toml），\
         在服务器上运行 dudao calendar import 文件名 导入，再重启服务。步骤见说明文档“日历”一节。",
        months.join("、")
    )
}

/// Tells the administrators (privately, those with a bound account; else the supervisors) which
/// year lacks holiday data, at most once per year per local day, recorded in
/// the once-ledger (`store::once`) so a restart or a second run does not repeat it. Returns the years told.
pub async fn warn_missing(app: &JobCtx, tx: &mut Tx<'static>) -> anyhow::Result<usize> {
    let now = app.clock.now();
    let today = local_today(app, now);
    let gap = app.calendar.coverage_gap(today);
    let mut told = 0;
    for year in &gap.missing_years {
        let period = today.format("%Y-%m-%d").to_string();
        let fresh = crate::store::once::record_once(tx, Subject::CalendarYear(*year), &period, now).await?;
        if !fresh {
            continue;
        }
        let prefix = format!("{year}-");
        let months: Vec<&str> =
            gap.missing_months.iter().filter(|m| m.starts_with(&prefix)).map(String::as_str).collect();
        let text = warning_text(*year, &months);
        let key = format!("calendar:missing:{year}:{period}");
        let admins = crate::store::people::reachable_admin_ids(tx).await?;
        if admins.is_empty() {
            super::broadcast::to_supervisors(app, tx, &key, "calendar", &text).await?;
        }
        for pid in admins {
            let env =
                Envelope::new(format!("{key}:p{pid}"), Recipient::Person(pid), vec![Segment::text(&text)], "calendar");
            crate::outbox::enqueue(tx, &app.directory, now, env).await?;
        }
        tracing::warn!(year, "told the office that the calendar lacks holiday data");
        told += 1;
    }
    Ok(told)
}

pub struct CalendarCheck;

#[async_trait]
impl Job for CalendarCheck {
    async fn run(&self, app: &JobCtx, tx: &mut Tx<'static>, _firing: &Firing) -> anyhow::Result<()> {
        warn_missing(app, tx).await?;
        Ok(())
    }
}

pub fn register(jobs: &mut Jobs) {
    jobs.register(JOB, Arc::new(CalendarCheck));
}

/// The built-in schedule from `[calendar] check_cron`, unless configuration declares its own.
pub fn schedules(settings: &Settings) -> Vec<ScheduleSettings> {
    let cron = &settings.calendar.check_cron;
    if cron.trim().is_empty() || settings.schedules.iter().any(|s| s.job == JOB || s.name == SCHEDULE) {
        return Vec::new();
    }
    vec![ScheduleSettings {
        name: SCHEDULE.into(),
        cron: cron.clone(),
        job: JOB.into(),
        enabled: Some(true),
        // Told on working days, when the office reads it.
        workdays: Some("skip".into()),
        school_days_only: Some(false),
        grace_minutes: Some(12 * 60),
        params: None,
    }]
}

// ---- the command line --------------------------------------------------------------------

/// The 1-based line of the place a calendar error names, when it can be found in `text`.
fn error_line(text: &str, e: &CalendarError) -> Option<usize> {
    let CalendarError::Invalid { section, .. } = e else { return None };
    let (header, rest) = section.split_once(" #")?;
    let n: usize = rest.split(' ').next()?.parse().ok()?;
    text.lines().enumerate().filter(|(_, l)| l.trim() == header).nth(n.checked_sub(1)?).map(|(i, _)| i + 1)
}

/// What an import stored.
#[derive(Debug)]
pub struct ImportSummary {
    pub year: i32,
    pub holidays: usize,
    pub makeup_days: usize,
    pub terms: usize,
    pub replaced: bool,
}

/// Validates `text` (a year file in the shipped format) on its own and together with every other
/// year the service would load, then stores it as that year's calendar. Nothing is stored on error.
pub async fn import(
    db: &Db,
    settings: &Settings,
    text: &str,
    by: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<ImportSummary> {
    let (year, cal) = match Calendar::parse_year_file(text) {
        Ok(x) => x,
        Err(e) => {
            let at = error_line(text, &e).map(|l| format!("第{l}行 (line {l})：")).unwrap_or_default();
            anyhow::bail!("日历文件有误，未导入任何数据 / calendar file rejected, nothing imported: {at}{e}");
        }
    };
    if !cal.covered_years().any(|y| y == year) {
        anyhow::bail!(
            "日历文件没有 [[holidays]]，未导入 / the file lists no [[holidays]] for {year}; copy them from the State Council notice"
        );
    }
    let mut others: Vec<(i32, String)> = imported(db).await?.into_iter().filter(|(y, _)| *y != year).collect();
    others.push((year, text.to_string()));
    build(settings, &others)
        .context("与其他年份的日历冲突，未导入 / the file conflicts with another year's calendar, nothing imported")?;

    let holidays = cal.holidays_of(year);
    let mut tx = crate::db::begin_write(db).await?;
    let replaced = crate::store::calendar::year_imported(&mut tx, year).await?;
    crate::store::calendar::save_year(&mut tx, year, text, now, by).await?;
    let summary = ImportSummary {
        year,
        holidays: holidays.len(),
        makeup_days: holidays.iter().map(|h| h.makeup_workdays.len()).sum(),
        terms: cal.terms().len(),
        replaced,
    };
    let entry = crate::store::audit::AuditEntry {
        actor_id: None,
        via: by,
        entity: "calendar_year",
        entity_id: Some(year.to_string()),
        action: "calendar_import",
        detail: serde_json::json!({ "holidays": summary.holidays, "terms": summary.terms, "replaced": summary.replaced }),
    };
    crate::store::audit::record(&mut tx, now, entry).await?;
    tx.commit().await?;
    Ok(summary)
}

/// What `dudao calendar show [YEAR]` prints: per year, where its data comes from, its holidays
/// with make-up working days, and its terms.
pub async fn show(db: &Db, settings: &Settings, year: Option<i32>) -> anyhow::Result<String> {
    let imported_rows = crate::store::calendar::imports(&mut *db.acquire().await?).await?;
    let cal = build(settings, &imported(db).await?)?;
    let tz = settings.timezone();
    let imported_at: BTreeMap<i32, (String, String)> =
        imported_rows.into_iter().map(|(y, at, by)| (y, (at, by))).collect();
    let years: Vec<i32> = match year {
        Some(y) => vec![y],
        None => {
            let mut ys: BTreeSet<i32> = cal.covered_years().collect();
            ys.extend(cal.terms().iter().map(|t| t.start.year()));
            ys.extend(imported_at.keys().copied());
            ys.into_iter().collect()
        }
    };
    let mut out = Vec::new();
    for y in years {
        let origin = match imported_at.get(&y) {
            Some((at, by)) => {
                let at = crate::db::parse_ts(at)
                    .map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string())
                    .unwrap_or_else(|| at.clone());
                format!("由 dudao calendar import 导入（{at}，{by}）")
            }
            None if settings.calendar.files.is_empty() => "随程序提供的 config/calendar 文件".to_string(),
            None => "配置的 calendar.files".to_string(),
        };
        out.push(format!("{y}年 —— 数据来源：{origin}"));
        if let Some(src) = cal.source(y) {
            out.push(format!("  依据：{src}"));
        }
        let holidays = cal.holidays_of(y);
        if !cal.covered_years().any(|c| c == y) || holidays.is_empty() {
            out.push(format!(
                "  没有节假日数据：{y}年只按周六、周日休息。请按国务院办公厅通知填写日历文件后运行 dudao calendar import 文件名。"
            ));
        } else {
            out.push(format!("  节假日 {} 个：", holidays.len()));
            for h in holidays {
                let mut line = format!("    {} {} 至 {}", h.name, h.start, h.end);
                if !h.makeup_workdays.is_empty() {
                    let days: Vec<String> = h.makeup_workdays.iter().map(|d| d.to_string()).collect();
                    line.push_str(&format!("，调休上班：{}", days.join("、")));
                }
                out.push(line);
            }
        }
        let terms: Vec<_> = cal.terms().iter().filter(|t| t.start.year() == y).collect();
        if !terms.is_empty() {
            out.push("  学期：".to_string());
            for t in terms {
                out.push(format!("    {} {} 至 {}", t.name, t.start, t.end));
            }
        }
    }
    if out.is_empty() {
        out.push("（没有任何日历数据）".to_string());
    }
    Ok(out.join("\n"))
}

/// The working-day calendar: the check that next year's calendar is there in time.
pub struct CalendarWorkflow;

impl crate::app::registry::Workflow for CalendarWorkflow {
    fn name(&self) -> &'static str {
        "calendar"
    }
    fn jobs(&self, jobs: &mut Jobs) {
        register(jobs);
    }
    fn schedules(&self, settings: &Settings) -> Vec<ScheduleSettings> {
        schedules(settings)
    }
}
