//! What `/readyz` and `/metrics` report: gathered here from the database, the channels, the
//! scheduler's last tick and the calendar; the ready/not-ready rule is `domain::health`.

use super::App;
use crate::chat::{ChannelHealth, HealthState};
use crate::store::alerts::QueueHealth;
use serde_json::json;
use std::time::Duration;

/// How long the write probe may wait for the write gate before the database counts as not
/// taking writes (a long batch holds it for well under a second).
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Each running channel's health, in configuration order.
pub fn channels(app: &App) -> Vec<(String, &'static str, ChannelHealth)> {
    app.channels
        .get()
        .map(|chs| chs.iter().map(|c| (c.name().to_string(), c.platform(), c.health())).collect())
        .unwrap_or_default()
}

/// Rewrites the probe row in a write transaction of its own.
async fn probe_write(app: &App) -> Result<(), String> {
    let now = app.clock.now();
    let write = async {
        let mut tx = crate::db::begin_write(&app.db).await?;
        crate::store::alerts::write_probe(&mut tx, now).await?;
        tx.commit().await
    };
    match tokio::time::timeout(PROBE_TIMEOUT, write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no write within {} s", PROBE_TIMEOUT.as_secs())),
    }
}

pub async fn queue(app: &App) -> crate::sql::Result<QueueHealth> {
    let mut conn = app.db.acquire().await?;
    crate::store::alerts::queue_health(&mut conn).await
}

/// `/readyz`: whether the service is ready, and the JSON body saying why (not).
pub async fn readiness(app: &App) -> (bool, serde_json::Value) {
    let now = app.clock.now();
    let written = probe_write(app).await;
    let queue = queue(app).await;
    let channels = channels(app);
    let last_tick = app.metrics.last_tick();
    let hs = &app.settings.health;
    let q = queue.as_ref().ok().cloned().unwrap_or_default();
    let oldest_secs = q.oldest_backlog_at.map(|t| (now - t).num_seconds().max(0));
    let tick_age = last_tick.map(|t| (now - t).num_seconds().max(0));
    let input = crate::domain::health::ReadyInput {
        db_writable: written.is_ok() && queue.is_ok(),
        channels_down: channels
            .iter()
            .filter(|(_, _, h)| h.state == HealthState::Down)
            .map(|(n, _, _)| n.clone())
            .collect(),
        oldest_pending_secs: oldest_secs,
        max_backlog_age_secs: i64::try_from(hs.max_backlog_age_seconds).unwrap_or(i64::MAX),
        last_tick_age_secs: tick_age,
        max_tick_age_secs: i64::try_from(hs.max_tick_age_seconds).unwrap_or(i64::MAX),
    };
    let problems = crate::domain::health::not_ready(&input);
    let today = now.with_timezone(&app.tz).date_naive();
    let body = json!({
        "status": if problems.is_empty() { "ready" } else { "not ready" },
        "problems": problems,
        "database": {
            "writable": written.is_ok(),
            "error": written.as_ref().err().cloned().or_else(|| queue.as_ref().err().map(|e| e.to_string())),
        },
        "channels": channels.iter().map(|(name, platform, h)| json!({
            "name": name,
            "platform": platform,
            "state": h.state.as_str(),
            "detail": h.detail,
        })).collect::<Vec<_>>(),
        "outbox": {
            "backlog": q.backlog,
            "oldest_backlog_seconds": oldest_secs,
            "dead_letters": q.dead,
            "unroutable": q.unroutable,
            "unknown": q.unknown,
        },
        "calendar": crate::app::calendar::health(&app.calendar, today),
        "scheduler": {
            "last_tick": last_tick.map(crate::db::ts),
            "seconds_ago": tick_age,
        },
    });
    (problems.is_empty(), body)
}

/// `/metrics`: the counters plus gauges read now.
pub async fn metrics_text(app: &App) -> String {
    let mut out = crate::metrics::Text::default();
    app.metrics.render(&mut out);
    let now = app.clock.now();
    let channels = channels(app);
    out.family(
        "dudao_channel_up",
        "gauge",
        "1 while the channel can deliver, 0 while it is down (channels that cannot tell are left out).",
    );
    for (name, platform, h) in &channels {
        let v = match h.state {
            HealthState::Up => 1.0,
            HealthState::Down => 0.0,
            HealthState::Unknown => continue,
        };
        out.sample("dudao_channel_up", &[("channel", name), ("platform", platform)], v);
    }
    match queue(app).await {
        Ok(q) => {
            out.gauge("dudao_outbox_backlog", "Messages waiting to go out (pending or being sent).", q.backlog as f64);
            let age = q.oldest_backlog_at.map(|t| (now - t).num_milliseconds().max(0) as f64 / 1e3).unwrap_or(0.0);
            out.gauge(
                "dudao_outbox_oldest_backlog_seconds",
                "Age of the oldest message waiting to go out (0: none).",
                age,
            );
            out.gauge(
                "dudao_outbox_dead_letters",
                "Messages given up after their last attempt, waiting for an admin.",
                q.dead as f64,
            );
            out.gauge(
                "dudao_outbox_unroutable",
                "Messages no channel can deliver yet (recipient without an account).",
                q.unroutable as f64,
            );
            out.gauge(
                "dudao_outbox_unknown",
                "Messages whose delivery is unknown and that are not resent.",
                q.unknown as f64,
            );
            out.gauge("dudao_database_up", "1 while the database answers.", 1.0);
        }
        Err(e) => {
            tracing::warn!(error = %e, "metrics: the outbox figures could not be read");
            out.gauge("dudao_database_up", "1 while the database answers.", 0.0);
        }
    }
    out.finish()
}
