//! Built-in scheduled jobs. Workflows register their own jobs next to their logic.

use super::{Firing, Job, JobCtx, Jobs};
use crate::chat::Segment;
use crate::config::{ScheduleSettings, Settings};
use crate::db::Tx;
use crate::domain::group::GroupPurpose;
use crate::outbox::{Delivery, Envelope, Recipient};
use async_trait::async_trait;
use std::sync::Arc;

/// `announce`: posts a fixed text to every registered group of a purpose.
/// Params: `text`, `to` (a group purpose, e.g. "county_inspectors"), optional `zone` (code or name).
pub struct Announce;

#[async_trait]
impl Job for Announce {
    async fn run(&self, app: &JobCtx, tx: &mut Tx<'static>, firing: &Firing) -> anyhow::Result<()> {
        let text = firing.params.get("text").and_then(|v| v.as_str()).unwrap_or_default();
        if text.trim().is_empty() {
            anyhow::bail!("announce: params.text is empty");
        }
        let to = firing.params.get("to").and_then(|v| v.as_str()).unwrap_or("county_inspectors");
        let purpose =
            GroupPurpose::parse(to).ok_or_else(|| anyhow::anyhow!("announce: unknown group purpose \"{to}\""))?;
        let zone = match firing.params.get("zone").and_then(|v| v.as_str()) {
            Some(z) => Some(
                crate::store::people::find_zone(tx, z)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("announce: unknown zone \"{z}\""))?
                    .id,
            ),
            None => None,
        };
        let groups = crate::store::groups::with_purpose(tx, purpose, zone, None).await?;
        if groups.is_empty() {
            tracing::warn!(schedule = %firing.schedule, purpose = purpose.as_str(), "announce: no group registered for this purpose");
        }
        for g in groups {
            let env = Envelope {
                delivery: Delivery::AtMostOnce,
                ..Envelope::new(
                    format!("{}:g{}", firing.key(), g.id),
                    Recipient::Chat(g.chat()),
                    vec![Segment::text(text)],
                    format!("schedule:{}", firing.schedule),
                )
            };
            crate::outbox::enqueue(tx, &app.directory, app.clock.now(), env).await?;
        }
        Ok(())
    }
}

/// `retention`: prunes finished rows as `[retention]` allows (see store::retention).
pub struct Retention;

pub const RETENTION: &str = "retention";

#[async_trait]
impl Job for Retention {
    async fn run(&self, app: &JobCtx, tx: &mut Tx<'static>, _firing: &Firing) -> anyhow::Result<()> {
        let policy = crate::store::retention::Policy::from(&app.settings.retention);
        let r = crate::store::retention::prune(tx, &policy, app.clock.now()).await?;
        tracing::info!(
            outbox = r.outbox,
            inbound = r.inbound,
            firings = r.firings,
            files = r.files,
            more = r.more,
            "retention sweep"
        );
        Ok(())
    }
}

/// `backup`: a consistent copy of the database and the evidence manifest in `[backup] dir`, then
/// the scheduled copies beyond `[backup] keep` deleted (see `crate::backup`).
pub struct Backup;

pub const BACKUP: &str = "backup";

#[async_trait]
impl Job for Backup {
    async fn run(&self, app: &JobCtx, _tx: &mut Tx<'static>, _firing: &Firing) -> anyhow::Result<()> {
        // The copy is read on a connection of its own while this firing's write transaction
        // waits: writers pause for as long as the copy takes (about a second per 100 MB), which
        // at the scheduled hour is acceptable, and the firing commits only once the copy exists.
        let settings = app.settings.clone();
        let now = app.clock.now();
        let done = tokio::task::spawn_blocking(move || crate::backup::scheduled(&settings, now)).await??;
        tracing::info!(
            file = %done.taken.path.display(),
            bytes = done.taken.size,
            evidence_files = done.taken.evidence_files,
            removed = done.removed.len(),
            "scheduled backup"
        );
        Ok(())
    }
}

pub const ANNOUNCE: &str = "announce";

/// Adds the built-in jobs.
pub fn register(jobs: &mut Jobs) {
    jobs.register(ANNOUNCE, Arc::new(Announce));
    jobs.register(RETENTION, Arc::new(Retention));
    jobs.register(BACKUP, Arc::new(Backup));
}

pub fn builtin() -> Jobs {
    let mut jobs = Jobs::default();
    register(&mut jobs);
    jobs
}

/// The built-in schedule derived from `[retention] sweep_cron`, unless configuration declares
/// its own schedule for the job.
pub fn schedules(settings: &Settings) -> Vec<ScheduleSettings> {
    let mut out = Vec::new();
    let b = &settings.backup;
    if !b.schedule.trim().is_empty() && !settings.schedules.iter().any(|s| s.job == BACKUP || s.name == BACKUP) {
        out.push(ScheduleSettings {
            name: BACKUP.into(),
            cron: b.schedule.clone(),
            job: BACKUP.into(),
            enabled: Some(true),
            workdays: Some("fire".into()),
            school_days_only: Some(false),
            // A day's copy taken late is still that day's copy; the next day has its own.
            grace_minutes: Some(12 * 60),
            params: None,
        });
    }
    let r = &settings.retention;
    if r.sweep_cron.trim().is_empty() || settings.schedules.iter().any(|s| s.job == RETENTION || s.name == RETENTION) {
        return out;
    }
    out.push(ScheduleSettings {
        name: RETENTION.into(),
        cron: r.sweep_cron.clone(),
        job: RETENTION.into(),
        enabled: Some(true),
        workdays: Some("fire".into()),
        school_days_only: Some(false),
        // Pruning is as good late as on time.
        grace_minutes: Some(24 * 60),
        params: None,
    });
    out
}
