//! Durable schedules: cron in local time, adjusted to the working-day calendar, each occurrence
//! recorded once in `firings`; jobs enqueue their messages in the same transaction.
//!
//! After downtime only the latest missed occurrence runs, and only within its grace window;
//! the others are summarised in one 'skipped' row — never a burst of catch-ups, and never a row
//! (or a loop iteration) per missed occurrence. A failed (or panicking) job is retried with
//! exponential backoff until its grace window ends, then recorded as failed for good.

pub mod cron;
pub mod jobs;

use crate::clock::SharedClock;
use crate::config::{ScheduleSettings, Settings};
use crate::db::{begin_write, parse_ts, ts, Db, Tx};
use crate::domain::calendar::Calendar;
use crate::domain::calendar::NonWorkdayPolicy;
use crate::outbox::Directory;
use crate::store::schedules::{self as store, record, set_cursor, stop_retrying, supersede_retries};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use futures::FutureExt;
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// One occurrence being fired.
#[derive(Debug, Clone)]
pub struct Firing {
    pub schedule: String,
    pub nominal_at: DateTime<Utc>,
    pub fire_at: DateTime<Utc>,
    pub params: serde_json::Value,
}

impl Firing {
    /// A stable prefix for idempotency keys of messages this firing enqueues.
    pub fn key(&self) -> String {
        format!("sched:{}:{}", self.schedule, ts(self.nominal_at))
    }
}

/// What a job may use besides its transaction: the service's clock, settings, calendar and
/// routing. Deliberately not the whole application, so the scheduler depends on no workflow.
#[derive(Clone)]
pub struct JobCtx {
    pub clock: SharedClock,
    pub settings: Arc<Settings>,
    pub tz: chrono_tz::Tz,
    pub calendar: Arc<Calendar>,
    pub directory: Directory,
}

impl AsRef<JobCtx> for JobCtx {
    fn as_ref(&self) -> &JobCtx {
        self
    }
}

/// The running service as the scheduler sees it: where firings are recorded, what jobs are
/// given, and whom to poke after a commit that enqueued messages.
pub trait Host: Send + Sync + 'static {
    fn db(&self) -> &Db;
    fn job_ctx(&self) -> &JobCtx;
    fn outbox_notify(&self) -> &Notify;
    /// Told after every tick (`/readyz` reads when the last one was, `/metrics` what it did).
    fn ticked(&self, _at: DateTime<Utc>, _report: &TickReport) {}
}

#[async_trait]
pub trait Job: Send + Sync {
    /// Runs inside the firing's transaction; everything it enqueues commits with the firing.
    async fn run(&self, ctx: &JobCtx, tx: &mut Tx<'static>, firing: &Firing) -> anyhow::Result<()>;
}

#[derive(Clone, Default)]
pub struct Jobs(HashMap<&'static str, Arc<dyn Job>>);

impl Jobs {
    pub fn register(&mut self, name: &'static str, job: Arc<dyn Job>) {
        self.0.insert(name, job);
    }
    pub fn get(&self, name: &str) -> Option<Arc<dyn Job>> {
        self.0.get(name).cloned()
    }
    pub fn names(&self) -> Vec<&'static str> {
        let mut v: Vec<_> = self.0.keys().copied().collect();
        v.sort();
        v
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickReport {
    pub fired: usize,
    pub skipped: usize,
    pub failed: usize,
}

pub struct Scheduler {
    host: Arc<dyn Host>,
    jobs: Jobs,
}

#[derive(Debug)]
struct ScheduleRow {
    id: i64,
    name: String,
    cron: String,
    job: String,
    params: serde_json::Value,
    policy: NonWorkdayPolicy,
    school_days_only: bool,
    grace: Duration,
    cursor: DateTime<Utc>,
}

impl Scheduler {
    pub fn new(host: Arc<impl Host>, jobs: Jobs) -> Self {
        Scheduler { host, jobs }
    }

    fn ctx(&self) -> &JobCtx {
        self.host.job_ctx()
    }

    /// Makes the `schedules` table match configuration: new ones start from now (no backfill),
    /// changed ones keep their cursor, ones removed from configuration are disabled.
    pub async fn sync_config(&self, defs: &[ScheduleSettings]) -> anyhow::Result<()> {
        let now = self.ctx().clock.now();
        let mut tx = begin_write(self.host.db()).await?;
        for d in defs {
            if self.jobs.get(&d.job).is_none() {
                anyhow::bail!(
                    "schedule \"{}\": unknown job \"{}\" (known: {})",
                    d.name,
                    d.job,
                    self.jobs.names().join(", ")
                );
            }
            let params = serde_json::to_string(&d.params.clone().unwrap_or_default())?;
            let row = store::ConfigSchedule {
                name: &d.name,
                cron: &d.cron,
                job: &d.job,
                params: &params,
                workdays: d.workdays.as_deref().unwrap_or("fire"),
                school_days_only: d.school_days_only.unwrap_or(false),
                grace_minutes: d.grace_minutes.unwrap_or(self.ctx().settings.scheduler.default_grace_minutes),
                enabled: d.enabled.unwrap_or(true),
            };
            store::upsert_config(&mut tx, &row, now).await?;
        }
        let names: Vec<&str> = defs.iter().map(|d| d.name.as_str()).collect();
        for name in store::enabled_config_names(&mut tx).await? {
            if !names.contains(&name.as_str()) {
                store::disable(&mut tx, &name, now).await?;
                tracing::info!(schedule = %name, "schedule no longer in configuration; disabled");
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn load(&self) -> anyhow::Result<Vec<ScheduleRow>> {
        let rows = store::enabled(&mut *self.host.db().acquire().await?).await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                Some(ScheduleRow {
                    id: r.id,
                    name: r.name.clone(),
                    cron: r.cron.clone(),
                    job: r.job.clone(),
                    params: serde_json::from_str(&r.params).unwrap_or_default(),
                    policy: cron::parse_workday_policy(&r.workdays).unwrap_or(NonWorkdayPolicy::Fire),
                    school_days_only: r.school_days_only,
                    grace: Duration::minutes(r.grace_minutes),
                    cursor: parse_ts(&r.cursor_at)?,
                })
            })
            .collect())
    }

    /// Deals with every due occurrence of every schedule; returns what happened.
    pub async fn tick(&self) -> anyhow::Result<TickReport> {
        let mut report = TickReport::default();
        for s in self.load().await? {
            match self.tick_one(&s).await {
                Ok(r) => {
                    report.fired += r.fired;
                    report.skipped += r.skipped;
                    report.failed += r.failed;
                }
                Err(e) => tracing::error!(schedule = %s.name, error = %e, "schedule tick failed"),
            }
        }
        self.host.ticked(self.ctx().clock.now(), &report);
        Ok(report)
    }

    async fn tick_one(&self, s: &ScheduleRow) -> anyhow::Result<TickReport> {
        let app = self.ctx();
        let db = self.host.db();
        let now = app.clock.now();
        let sched = match cron::parse(&s.cron) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(schedule = %s.name, error = %e, "invalid cron in database; schedule ignored");
                return Ok(TickReport::default());
            }
        };
        let mut report = self.retry_due(s, now).await?;
        let mut tx = begin_write(db).await?;
        // Re-read the cursor under the write lock: another loop may have advanced it.
        let cursor = store::cursor_of(&mut tx, s.id).await?;
        let cursor = parse_ts(&cursor).unwrap_or(s.cursor);
        let plan = cron::plan(&sched, app.tz, &app.calendar, s.policy, s.school_days_only, cursor, now, s.grace);
        for (nominal, reason) in &plan.calendar_skips {
            report.skipped += record(&mut tx, s.id, *nominal, None, "skipped", Some(reason), now).await?;
        }
        if let Some((nominal, at, reason)) = &plan.missed {
            report.skipped += record(&mut tx, s.id, *nominal, *at, "skipped", Some(reason), now).await?;
        }
        let mut fire: Option<Firing> = None;
        if let Some((nominal, at)) = plan.fire {
            if record(&mut tx, s.id, nominal, Some(at), "fired", None, now).await? == 1 {
                fire = Some(Firing {
                    schedule: s.name.clone(),
                    nominal_at: nominal,
                    fire_at: at,
                    params: s.params.clone(),
                });
            }
        }
        set_cursor(&mut tx, s.id, plan.cursor, plan.next_fire, now).await?;
        let Some(firing) = fire else {
            tx.commit().await?;
            return Ok(report);
        };
        supersede_retries(&mut tx, s.id, firing.nominal_at).await?;
        match self.run_job(s, &mut tx, &firing).await {
            Ok(()) => {
                tx.commit().await?;
                self.host.outbox_notify().notify_waiters();
                tracing::info!(schedule = %s.name, nominal = %ts(firing.nominal_at), "schedule fired");
                report.fired += 1;
            }
            Err(e) => {
                // The job's partial work is rolled back; the occurrence is recorded as failed,
                // with a retry while its grace window lasts.
                drop(tx);
                let retry_at = self.next_retry(now, 1, firing.fire_at + s.grace);
                log_failure(s, &firing, 1, &e, retry_at);
                let mut tx = begin_write(db).await?;
                let reason = failure_reason(&e, 1, retry_at);
                store::record_failed(&mut tx, s.id, firing.nominal_at, firing.fire_at, &reason, now, retry_at).await?;
                supersede_retries(&mut tx, s.id, firing.nominal_at).await?;
                set_cursor(&mut tx, s.id, plan.cursor, plan.next_fire, now).await?;
                tx.commit().await?;
                report.failed += 1;
            }
        }
        Ok(report)
    }

    /// Runs a job, turning a panic into an error so that one firing never takes the loop down.
    async fn run_job(&self, s: &ScheduleRow, tx: &mut Tx<'static>, firing: &Firing) -> anyhow::Result<()> {
        let Some(job) = self.jobs.get(&s.job) else {
            anyhow::bail!("unknown job \"{}\"", s.job);
        };
        match AssertUnwindSafe(job.run(self.ctx(), tx, firing)).catch_unwind().await {
            Ok(result) => result,
            Err(panic) => {
                let msg = panic
                    .downcast_ref::<&str>()
                    .map(|m| m.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "(no message)".into());
                Err(anyhow::anyhow!("the job panicked: {msg}"))
            }
        }
    }

    /// When a failed firing is tried again: exponential backoff, never past its window.
    fn next_retry(&self, now: DateTime<Utc>, attempts: i64, window_end: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if now >= window_end {
            return None;
        }
        let cfg = &self.ctx().settings.scheduler;
        let exp = u32::try_from(attempts.saturating_sub(1)).unwrap_or(u32::MAX).min(20);
        let delay = cfg.retry_base_seconds.saturating_mul(1u64 << exp).min(cfg.retry_max_seconds.max(1));
        let delay = Duration::seconds(i64::try_from(delay).unwrap_or(i64::MAX / 1000).min(86_400 * 365));
        Some((now + delay).min(window_end))
    }

    /// Tries again the earliest failed firing of `s` whose retry is due. The retry runs in the
    /// transaction that turns the row into 'fired', so racing loops run a success once.
    async fn retry_due(&self, s: &ScheduleRow, now: DateTime<Utc>) -> anyhow::Result<TickReport> {
        let mut report = TickReport::default();
        let mut tx = begin_write(self.host.db()).await?;
        let row = store::due_retry(&mut tx, s.id, now).await?;
        let Some((nominal_text, fire_text, attempts)) = row else {
            return Ok(report);
        };
        let Some(nominal) = parse_ts(&nominal_text) else {
            // Unreadable: stop retrying rather than loop on it.
            stop_retrying(&mut tx, s.id, &nominal_text, None).await?;
            tx.commit().await?;
            return Ok(report);
        };
        let fire_at = fire_text.as_deref().and_then(parse_ts).unwrap_or(nominal);
        let window_end = fire_at + s.grace;
        if now > window_end {
            stop_retrying(&mut tx, s.id, &nominal_text, Some("gave up: the grace window ended")).await?;
            tx.commit().await?;
            return Ok(report);
        }
        let firing = Firing { schedule: s.name.clone(), nominal_at: nominal, fire_at, params: s.params.clone() };
        let attempt = attempts + 1;
        match self.run_job(s, &mut tx, &firing).await {
            Ok(()) => {
                // Read as 'failed' under this transaction's write lock, so it applies; if it ever
                // does not, the job's work would be recorded under no firing: roll it back.
                anyhow::ensure!(
                    store::retry_fired(&mut tx, s.id, &nominal_text, attempt, now).await?,
                    "firing {nominal_text} of {} is no longer failed; retry not recorded",
                    s.name
                );
                tx.commit().await?;
                self.host.outbox_notify().notify_waiters();
                tracing::info!(schedule = %s.name, nominal = %nominal_text, attempt, "schedule fired on retry");
                report.fired += 1;
            }
            Err(e) => {
                drop(tx);
                let retry_at = self.next_retry(now, attempt, window_end);
                log_failure(s, &firing, attempt, &e, retry_at);
                let mut tx = begin_write(self.host.db()).await?;
                // Guarded by the attempt count read above: a racing loop's record is not doubled.
                let reason = failure_reason(&e, attempt, retry_at);
                store::retry_failed(&mut tx, s.id, &nominal_text, attempts, attempt, &reason, retry_at, now).await?;
                tx.commit().await?;
                report.failed += 1;
            }
        }
        Ok(report)
    }

    /// When the scheduler next has something to do.
    async fn next_wake(&self) -> Option<DateTime<Utc>> {
        let mut conn = self.host.db().acquire().await.ok()?;
        let t = store::next_wake(&mut conn).await.ok().flatten();
        t.and_then(|t| parse_ts(&t))
    }

    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let max_sleep = std::time::Duration::from_secs(self.ctx().settings.scheduler.max_sleep_seconds.max(1));
        loop {
            if let Err(e) = self.tick().await {
                tracing::error!(error = %e, "scheduler tick failed");
            }
            // Messages for people who have since bound an account can now be routed.
            if let Ok(mut tx) = begin_write(self.host.db()).await {
                let moved =
                    crate::outbox::admin::reroute_all(&mut tx, &self.ctx().directory, self.ctx().clock.now()).await;
                if matches!(moved, Ok(n) if n > 0) && tx.commit().await.is_ok() {
                    self.host.outbox_notify().notify_waiters();
                }
            }
            let wait = match self.next_wake().await {
                Some(t) => (t - self.ctx().clock.now()).to_std().unwrap_or_default().min(max_sleep),
                None => max_sleep,
            }
            .max(std::time::Duration::from_millis(200));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    }
}

/// What running a schedule by hand did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManualRun {
    /// The job ran now, recorded under `nominal`: the occurrence of the current period (its
    /// regular firing will find it recorded and not run again) when `for_period`, else now (the
    /// period has no occurrence, e.g. a weekday schedule on a Saturday).
    Ran { nominal: DateTime<Utc>, for_period: bool },
    /// The current period's occurrence has already run (recorded at `at`): nothing was done.
    AlreadyRan { nominal: DateTime<Utc>, at: DateTime<Utc> },
}

/// The occurrence a run by hand at `now` stands for: the one in the same period as `now`, where
/// the period follows the schedule's rhythm — its month for a monthly schedule, its (Monday to
/// Sunday) week for a weekly one, its day for a daily one; for several a day, the next one.
pub fn period_occurrence(s: &::cron::Schedule, tz: chrono_tz::Tz, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    use chrono::Datelike;
    let next = cron::next_after(s, tz, now)?;
    let Some(prev) = cron::last_at_or_before(s, tz, now) else { return Some(next) };
    let gap = next - prev;
    let day = |t: DateTime<Utc>| t.with_timezone(&tz).date_naive();
    let today = day(now);
    let same: fn(chrono::NaiveDate, chrono::NaiveDate) -> bool = if gap >= Duration::days(28) {
        |a, b| (a.year(), a.month()) == (b.year(), b.month())
    } else if gap >= Duration::days(7) {
        |a, b| a.iso_week() == b.iso_week()
    } else if gap >= Duration::hours(23) {
        |a, b| a == b
    } else {
        return Some(next);
    };
    [prev, next].into_iter().find(|t| same(day(*t), today))
}

/// Runs schedule `name` now inside `tx` (which commits what the job enqueues), recorded in the
/// firings ledger as a manual occurrence of the current period. If that occurrence has already
/// fired, nothing runs. `by` says who asked ('cli', 'chat:S001').
pub async fn run_now_in(
    app: &JobCtx,
    tx: &mut Tx<'static>,
    jobs: &Jobs,
    name: &str,
    by: &str,
) -> anyhow::Result<ManualRun> {
    let row = store::by_name(tx, name).await?;
    let Some((id, cron_text, job_name, params)) = row else {
        let names = store::names(tx).await?;
        anyhow::bail!("unknown schedule \"{name}\" (known: {})", names.join(", "));
    };
    let job = jobs.get(&job_name).ok_or_else(|| anyhow::anyhow!("schedule \"{name}\": unknown job \"{job_name}\""))?;
    let sched = cron::parse(&cron_text).map_err(|e| anyhow::anyhow!("schedule \"{name}\": {e}"))?;
    let now = app.clock.now();
    let period = period_occurrence(&sched, app.tz, now);
    let nominal = period.unwrap_or(now);
    let done = store::fired_at(tx, id, nominal).await?;
    if let Some(at) = done {
        return Ok(ManualRun::AlreadyRan { nominal, at: parse_ts(&at).unwrap_or(nominal) });
    }
    let firing = Firing {
        schedule: name.to_string(),
        nominal_at: nominal,
        fire_at: now,
        params: serde_json::from_str(&params).unwrap_or_default(),
    };
    job.run(app, tx, &firing).await?;
    // A failed or skipped row for the occurrence becomes this manual firing.
    store::record_manual(tx, id, nominal, now, by).await?;
    supersede_retries(tx, id, nominal).await?;
    tracing::info!(schedule = %name, nominal = %ts(nominal), by, "schedule run by hand");
    Ok(ManualRun::Ran { nominal, for_period: period.is_some() })
}

impl Scheduler {
    /// `dudao schedules run NAME`: [`run_now_in`] in its own transaction.
    pub async fn run_now(&self, name: &str, by: &str) -> anyhow::Result<ManualRun> {
        let mut tx = begin_write(self.host.db()).await?;
        let r = run_now_in(self.ctx(), &mut tx, &self.jobs, name, by).await?;
        tx.commit().await?;
        self.host.outbox_notify().notify_waiters();
        Ok(r)
    }
}

fn failure_reason(e: &anyhow::Error, attempt: i64, retry_at: Option<DateTime<Utc>>) -> String {
    match retry_at {
        Some(t) => format!("{e:#} (attempt {attempt}; retry at {})", ts(t)),
        None => format!("{e:#} (attempt {attempt}; no retry: the grace window has ended)"),
    }
}

fn log_failure(s: &ScheduleRow, firing: &Firing, attempt: i64, e: &anyhow::Error, retry_at: Option<DateTime<Utc>>) {
    match retry_at {
        Some(t) => {
            tracing::warn!(schedule = %s.name, nominal = %ts(firing.nominal_at), attempt, error = %format!("{e:#}"),
            retry_at = %ts(t), "scheduled job failed; will retry")
        }
        None => {
            tracing::error!(schedule = %s.name, nominal = %ts(firing.nominal_at), attempt, error = %format!("{e:#}"),
            "scheduled job failed for good: its grace window has ended")
        }
    }
}

#[cfg(test)]
mod period_tests {
    use super::*;
    use chrono::TimeZone;
    use chrono_tz::Asia::Shanghai;

    fn at(m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Shanghai.with_ymd_and_hms(2026, m, d, h, min, 0).unwrap().with_timezone(&Utc)
    }

    fn occ(cron_text: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        period_occurrence(&cron::parse(cron_text).unwrap(), Shanghai, now)
    }

    #[test]
    fn weekly_runs_stand_for_this_weeks_occurrence() {
        // Wednesday: this Friday's prompt; Saturday and Sunday: the Friday just past.
        assert_eq!(occ("0 16 * * Fri", at(11, 25, 10, 0)), Some(at(11, 27, 16, 0)));
        assert_eq!(occ("0 16 * * Fri", at(11, 28, 10, 0)), Some(at(11, 27, 16, 0)));
        assert_eq!(occ("0 16 * * Fri", at(11, 29, 23, 0)), Some(at(11, 27, 16, 0)));
        // Monday starts a new week.
        assert_eq!(occ("0 16 * * Fri", at(11, 30, 8, 0)), Some(at(12, 4, 16, 0)));
    }

    #[test]
    fn monthly_daily_and_sub_daily() {
        // The month's report on the 1st: a run on the 3rd is that month's, already past.
        assert_eq!(occ("0 8 1 * *", at(11, 3, 9, 0)), Some(at(11, 1, 8, 0)));
        // Daily at 09:00: before it, today's; after it, today's too.
        assert_eq!(occ("0 9 * * *", at(11, 25, 8, 0)), Some(at(11, 25, 9, 0)));
        assert_eq!(occ("0 9 * * *", at(11, 25, 15, 0)), Some(at(11, 25, 9, 0)));
        // Weekdays only, asked on a Saturday: the period has no occurrence.
        assert_eq!(occ("0 9 * * Mon-Fri", at(11, 28, 10, 0)), None);
        // Every ten minutes: the next one.
        assert_eq!(occ("*/10 * * * *", at(11, 25, 10, 3)), Some(at(11, 25, 10, 10)));
    }
}
