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

pub const ANNOUNCE: &str = "announce";

/// Adds the built-in jobs.
pub fn register(jobs: &mut Jobs) {
    jobs.register(ANNOUNCE, Arc::new(Announce));
    jobs.register(RETENTION, Arc::new(Retention));
}

pub fn builtin() -> Jobs {
    let mut jobs = Jobs::default();
    register(&mut jobs);
    jobs
}

/// The built-in schedule derived from `[retention] sweep_cron`, unless configuration declares
/// its own schedule for the job.
pub fn schedules(settings: &Settings) -> Vec<ScheduleSettings> {
    let r = &settings.retention;
    if r.sweep_cron.trim().is_empty() || settings.schedules.iter().any(|s| s.job == RETENTION || s.name == RETENTION) {
        return Vec::new();
    }
    vec![ScheduleSettings {
        name: RETENTION.into(),
        cron: r.sweep_cron.clone(),
        job: RETENTION.into(),
        enabled: Some(true),
        workdays: Some("fire".into()),
        school_days_only: Some(false),
        // Pruning is as good late as on time.
        grace_minutes: Some(24 * 60),
        params: None,
    }]
}
