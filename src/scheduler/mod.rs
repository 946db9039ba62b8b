//! Durable schedules: cron in local time, adjusted to the working-day calendar, each occurrence
//! recorded once in `firings`; jobs enqueue their messages in the same transaction.
//!
//! After downtime only the latest missed occurrence runs, and only within its grace window;
//! the others are recorded as skipped — never a burst of catch-ups.

pub mod cron;
pub mod jobs;

use crate::app::App;
use crate::config::ScheduleSettings;
use crate::db::{begin_write, parse_ts, ts, Tx};
use crate::domain::calendar::NonWorkdayPolicy;
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use sqlx::Row;
use std::collections::HashMap;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// How far ahead occurrences are examined, so that a firing moved to an earlier working day
/// (a Friday holiday moved to Wednesday) is seen in time.
const LOOKAHEAD_DAYS: i64 = 15;
/// Bound on occurrences examined per schedule per tick (a per-minute cron after a long outage).
const MAX_OCCURRENCES: usize = 5000;

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

#[async_trait]
pub trait Job: Send + Sync {
    /// Runs inside the firing's transaction; everything it enqueues commits with the firing.
    async fn run(&self, app: &App, tx: &mut Tx<'static>, firing: &Firing) -> anyhow::Result<()>;
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
    app: Arc<App>,
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
    pub fn new(app: Arc<App>, jobs: Jobs) -> Self {
        Scheduler { app, jobs }
    }

    /// Makes the `schedules` table match configuration: new ones start from now (no backfill),
    /// changed ones keep their cursor, ones removed from configuration are disabled.
    pub async fn sync_config(&self, defs: &[ScheduleSettings]) -> anyhow::Result<()> {
        let now = self.app.clock.now();
        let mut tx = begin_write(&self.app.db).await?;
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
            sqlx::query(
                "INSERT INTO schedules (name, cron, job, params, workdays, school_days_only, grace_minutes, enabled, source,
                     cursor_at, updated_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'config', ?, ?)
                 ON CONFLICT (name) DO UPDATE SET cron = excluded.cron, job = excluded.job, params = excluded.params,
                     workdays = excluded.workdays, school_days_only = excluded.school_days_only,
                     grace_minutes = excluded.grace_minutes, enabled = excluded.enabled, source = 'config',
                     updated_at = excluded.updated_at",
            )
            .bind(&d.name)
            .bind(&d.cron)
            .bind(&d.job)
            .bind(params)
            .bind(d.workdays.as_deref().unwrap_or("fire"))
            .bind(d.school_days_only.unwrap_or(false))
            .bind(d.grace_minutes.unwrap_or(self.app.settings.scheduler.default_grace_minutes))
            .bind(d.enabled.unwrap_or(true))
            .bind(ts(now))
            .bind(ts(now))
            .execute(&mut *tx)
            .await?;
        }
        let names: Vec<&str> = defs.iter().map(|d| d.name.as_str()).collect();
        let rows = sqlx::query("SELECT name FROM schedules WHERE source = 'config' AND enabled = 1")
            .fetch_all(&mut *tx)
            .await?;
        for r in rows {
            let name: String = r.get(0);
            if !names.contains(&name.as_str()) {
                sqlx::query("UPDATE schedules SET enabled = 0, updated_at = ? WHERE name = ?")
                    .bind(ts(now))
                    .bind(&name)
                    .execute(&mut *tx)
                    .await?;
                tracing::info!(schedule = %name, "schedule no longer in configuration; disabled");
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn load(&self) -> anyhow::Result<Vec<ScheduleRow>> {
        let rows = sqlx::query(
            "SELECT id, name, cron, job, params, workdays, school_days_only, grace_minutes, cursor_at
             FROM schedules WHERE enabled = 1 ORDER BY id",
        )
        .fetch_all(&self.app.db)
        .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                Some(ScheduleRow {
                    id: r.get("id"),
                    name: r.get("name"),
                    cron: r.get("cron"),
                    job: r.get("job"),
                    params: serde_json::from_str(r.get::<&str, _>("params")).unwrap_or_default(),
                    policy: cron::parse_workday_policy(r.get("workdays")).unwrap_or(NonWorkdayPolicy::Fire),
                    school_days_only: r.get::<bool, _>("school_days_only"),
                    grace: Duration::minutes(r.get::<i64, _>("grace_minutes")),
                    cursor: parse_ts(r.get("cursor_at"))?,
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
        Ok(report)
    }

    async fn tick_one(&self, s: &ScheduleRow) -> anyhow::Result<TickReport> {
        let app = &self.app;
        let now = app.clock.now();
        let mut report = TickReport::default();
        let sched = match cron::parse(&s.cron) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(schedule = %s.name, error = %e, "invalid cron in database; schedule ignored");
                return Ok(report);
            }
        };
        let mut tx = begin_write(&app.db).await?;
        // Re-read the cursor under the write lock: another loop may have advanced it.
        let cursor: String =
            sqlx::query_scalar("SELECT cursor_at FROM schedules WHERE id = ?").bind(s.id).fetch_one(&mut *tx).await?;
        let cursor = parse_ts(&cursor).unwrap_or(s.cursor);
        let horizon = now + Duration::days(LOOKAHEAD_DAYS);
        let mut due: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
        let mut skips: Vec<(DateTime<Utc>, String)> = Vec::new();
        let mut next_fire: Option<DateTime<Utc>> = None;
        for nominal in cron::occurrences(&sched, app.tz, cursor, horizon, MAX_OCCURRENCES) {
            match cron::fire_time(nominal, app.tz, &app.calendar, s.policy, s.school_days_only) {
                Ok(at) if at <= now => due.push((nominal, at)),
                Ok(at) => {
                    next_fire = Some(at);
                    break;
                }
                Err(reason) => skips.push((nominal, reason)),
            }
        }
        let new_cursor = due.iter().map(|(n, _)| *n).chain(skips.iter().map(|(n, _)| *n).filter(|n| *n <= now)).max();
        let last_due = due.last().copied();
        for (nominal, at) in &due {
            let is_last = Some((*nominal, *at)) == last_due;
            if is_last && now - *at <= s.grace {
                continue; // fired below
            }
            let reason = if is_last {
                "missed: the service was down past the grace window"
            } else {
                "missed: superseded by a later occurrence"
            };
            report.skipped += record(&mut tx, s.id, *nominal, Some(*at), "skipped", Some(reason), now).await?;
        }
        for (nominal, reason) in skips.iter().filter(|(n, _)| Some(*n) <= new_cursor) {
            report.skipped += record(&mut tx, s.id, *nominal, None, "skipped", Some(reason), now).await?;
        }
        let mut fire: Option<Firing> = None;
        if let Some((nominal, at)) = last_due.filter(|(_, at)| now - *at <= s.grace) {
            if record(&mut tx, s.id, nominal, Some(at), "fired", None, now).await? == 1 {
                fire = Some(Firing {
                    schedule: s.name.clone(),
                    nominal_at: nominal,
                    fire_at: at,
                    params: s.params.clone(),
                });
            }
        }
        if let Some(c) = new_cursor {
            sqlx::query("UPDATE schedules SET cursor_at = ?, next_fire_at = ?, updated_at = ? WHERE id = ?")
                .bind(ts(c))
                .bind(next_fire.map(ts))
                .bind(ts(now))
                .bind(s.id)
                .execute(&mut *tx)
                .await?;
        } else {
            sqlx::query("UPDATE schedules SET next_fire_at = ? WHERE id = ?")
                .bind(next_fire.map(ts))
                .bind(s.id)
                .execute(&mut *tx)
                .await?;
        }
        let Some(firing) = fire else {
            tx.commit().await?;
            return Ok(report);
        };
        let job = self.jobs.get(&s.job);
        let result = match &job {
            Some(job) => job.run(app, &mut tx, &firing).await,
            None => Err(anyhow::anyhow!("unknown job \"{}\"", s.job)),
        };
        match result {
            Ok(()) => {
                tx.commit().await?;
                app.outbox_notify.notify_waiters();
                tracing::info!(schedule = %s.name, nominal = %ts(firing.nominal_at), "schedule fired");
                report.fired += 1;
            }
            Err(e) => {
                // The job's partial work is rolled back; the occurrence is recorded as failed so it
                // is visible and not retried in a loop.
                drop(tx);
                tracing::error!(schedule = %s.name, error = %e, "scheduled job failed");
                let mut tx = begin_write(&app.db).await?;
                sqlx::query(
                    "INSERT INTO firings (schedule_id, nominal_at, fire_at, status, reason, recorded_at) VALUES (?, ?, ?, 'failed', ?, ?)
                     ON CONFLICT DO NOTHING",
                )
                .bind(s.id)
                .bind(ts(firing.nominal_at))
                .bind(ts(firing.fire_at))
                .bind(e.to_string())
                .bind(ts(now))
                .execute(&mut *tx)
                .await?;
                if let Some(c) = new_cursor {
                    sqlx::query("UPDATE schedules SET cursor_at = ?, next_fire_at = ? WHERE id = ?")
                        .bind(ts(c))
                        .bind(next_fire.map(ts))
                        .bind(s.id)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                report.failed += 1;
            }
        }
        Ok(report)
    }

    /// When the scheduler next has something to do.
    async fn next_wake(&self) -> Option<DateTime<Utc>> {
        let t: Option<String> = sqlx::query_scalar("SELECT MIN(next_fire_at) FROM schedules WHERE enabled = 1")
            .fetch_one(&self.app.db)
            .await
            .ok()
            .flatten();
        t.and_then(|t| parse_ts(&t))
    }

    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let max_sleep = std::time::Duration::from_secs(self.app.settings.scheduler.max_sleep_seconds.max(1));
        loop {
            if let Err(e) = self.tick().await {
                tracing::error!(error = %e, "scheduler tick failed");
            }
            // Messages for people who have since bound an account can now be routed.
            if let Ok(mut tx) = begin_write(&self.app.db).await {
                let moved = crate::outbox::admin::reroute_all(&mut tx, &self.app.directory, self.app.clock.now()).await;
                if matches!(moved, Ok(n) if n > 0) && tx.commit().await.is_ok() {
                    self.app.outbox_notify.notify_waiters();
                }
            }
            let wait = match self.next_wake().await {
                Some(t) => (t - self.app.clock.now()).to_std().unwrap_or_default().min(max_sleep),
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

async fn record(
    tx: &mut Tx<'static>,
    schedule_id: i64,
    nominal: DateTime<Utc>,
    fire_at: Option<DateTime<Utc>>,
    status: &str,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> sqlx::Result<usize> {
    let r = sqlx::query(
        "INSERT INTO firings (schedule_id, nominal_at, fire_at, status, reason, recorded_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (schedule_id, nominal_at) DO NOTHING",
    )
    .bind(schedule_id)
    .bind(ts(nominal))
    .bind(fire_at.map(ts))
    .bind(status)
    .bind(reason)
    .bind(ts(now))
    .execute(&mut **tx)
    .await?;
    Ok(r.rows_affected() as usize)
}
