//! Admin alerts: when a channel is down for `alerts.down_after_seconds`, or messages are
//! dead-lettered, the admins are told through another channel that still works; once per
//! incident (`store::alerts`, one open row per incident), and the recovery once too.
//!
//! The monitor polls: channel health is state each adapter already keeps (`Channel::health`),
//! and the dead-letter count is one indexed statement, so a check costs next to nothing.

use super::App;
use crate::chat::{ChatKind, ChatRef, HealthState, Segment};
use crate::db::begin_write;
use crate::outbox::{Envelope, Recipient};
use crate::store::alerts::{self as store, IncidentKind};
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Runs until `shutdown`.
pub async fn monitor(app: Arc<App>, shutdown: CancellationToken) {
    let every = Duration::from_millis(app.settings.alerts.check_interval_ms.max(1));
    let mut m = Monitor { app, down_since: HashMap::new(), open: None };
    loop {
        match m.check().await {
            Ok(()) => m.app.metrics.alert_checks.inc(),
            Err(e) => tracing::error!(error = %format!("{e:#}"), "admin alert check failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

struct Monitor {
    app: Arc<App>,
    /// Channels seen down, since when (monotonic, for the threshold; wall clock, for the text).
    down_since: HashMap<String, (Instant, DateTime<Utc>)>,
    /// Open incidents as (kind, subject); read from the database at the first check, so an
    /// incident open before a restart is closed (and its recovery told) after it.
    open: Option<HashSet<(IncidentKind, String)>>,
}

impl Monitor {
    async fn check(&mut self) -> anyhow::Result<()> {
        if self.open.is_none() {
            let mut conn = self.app.db.acquire().await?;
            let open = store::open_incidents(&mut conn).await?;
            self.open = Some(open.into_iter().map(|i| (i.kind, i.subject)).collect());
        }
        let down_after = Duration::from_secs(self.app.settings.alerts.down_after_seconds);
        for (name, platform, health) in super::health::channels(&self.app) {
            let key = (IncidentKind::ChannelDown, name.clone());
            let is_open = self.open.as_ref().is_some_and(|o| o.contains(&key));
            match health.state {
                HealthState::Down => {
                    let now = self.app.clock.now();
                    let (seen, since) = *self.down_since.entry(name.clone()).or_insert((Instant::now(), now));
                    if !is_open && seen.elapsed() >= down_after {
                        self.channel_down(&name, platform, &health.detail, since).await?;
                    }
                }
                HealthState::Up => {
                    self.down_since.remove(&name);
                    if is_open {
                        self.channel_up(&name, platform).await?;
                    }
                }
                // No news is not a recovery; nor is it an outage.
                HealthState::Unknown => {
                    self.down_since.remove(&name);
                }
            }
        }
        if self.app.settings.alerts.dead_letters {
            self.dead_letters().await?;
        }
        Ok(())
    }

    fn set_open(&mut self, kind: IncidentKind, subject: &str, open: bool) {
        if let Some(o) = self.open.as_mut() {
            if open {
                o.insert((kind, subject.to_string()));
            } else {
                o.remove(&(kind, subject.to_string()));
            }
        }
    }

    async fn channel_down(
        &mut self,
        name: &str,
        platform: &str,
        detail: &str,
        since: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let now = self.app.clock.now();
        let mut tx = begin_write(&self.app.db).await?;
        let mut told = None;
        // The incident starts when the channel was first seen down, so the recovery text can
        // say how long it lasted.
        if let Some(id) = store::open(&mut tx, IncidentKind::ChannelDown, name, detail, since).await? {
            let local = since.with_timezone(&self.app.tz).format("%-m月%-d日 %H:%M").to_string();
            let text = crate::domain::health::channel_down_text(name, platform, &local);
            told = Some(self.announce(&mut tx, &format!("alert:{id}:down"), text, Some(name), now).await?);
        }
        tx.commit().await?;
        self.set_open(IncidentKind::ChannelDown, name, true);
        if let Some(n) = told {
            self.app.outbox_notify.notify_waiters();
            log_told(n, name, "channel down");
        }
        Ok(())
    }

    async fn channel_up(&mut self, name: &str, platform: &str) -> anyhow::Result<()> {
        let now = self.app.clock.now();
        let mut tx = begin_write(&self.app.db).await?;
        let mut told = None;
        if let Some(inc) = store::close(&mut tx, IncidentKind::ChannelDown, name, now).await? {
            let minutes = (now - inc.opened_at).num_minutes().max(0);
            let text = crate::domain::health::channel_recovered_text(name, platform, minutes);
            told = Some(self.announce(&mut tx, &format!("alert:{}:up", inc.id), text, Some(name), now).await?);
        }
        tx.commit().await?;
        self.set_open(IncidentKind::ChannelDown, name, false);
        if let Some(n) = told {
            self.app.outbox_notify.notify_waiters();
            log_told(n, name, "channel recovered");
        }
        Ok(())
    }

    async fn dead_letters(&mut self) -> anyhow::Result<()> {
        let key = (IncidentKind::DeadLetters, String::new());
        let is_open = self.open.as_ref().is_some_and(|o| o.contains(&key));
        let dead = {
            let mut conn = self.app.db.acquire().await?;
            store::queue_health(&mut conn).await?.dead
        };
        if (dead > 0) == is_open {
            return Ok(());
        }
        let now = self.app.clock.now();
        let mut tx = begin_write(&self.app.db).await?;
        let mut told = None;
        if dead > 0 {
            if let Some(id) = store::open(&mut tx, IncidentKind::DeadLetters, "", &format!("{dead}"), now).await? {
                let text = crate::domain::health::dead_letters_text(dead);
                told = Some(self.announce(&mut tx, &format!("alert:{id}:dead"), text, None, now).await?);
            }
        } else if let Some(inc) = store::close(&mut tx, IncidentKind::DeadLetters, "", now).await? {
            let text = crate::domain::health::dead_letters_cleared_text();
            told = Some(self.announce(&mut tx, &format!("alert:{}:cleared", inc.id), text, None, now).await?);
        }
        tx.commit().await?;
        self.set_open(IncidentKind::DeadLetters, "", dead > 0);
        if let Some(n) = told {
            self.app.outbox_notify.notify_waiters();
            log_told(n, "", if dead > 0 { "dead letters" } else { "dead letters cleared" });
        }
        Ok(())
    }

    /// Queues `text` to every admin (privately, through the first working channel that reaches
    /// them) and to the configured alert chats, never through `exclude`; returns how many chats.
    async fn announce(
        &self,
        tx: &mut crate::db::Tx<'static>,
        key: &str,
        text: String,
        exclude: Option<&str>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<usize> {
        let chats = self.recipients(tx, exclude).await?;
        for chat in &chats {
            let env = Envelope::new(
                format!("{key}:{}:{}", chat.channel, chat.key()),
                Recipient::Chat(chat.clone()),
                vec![Segment::text(text.clone())],
                "alert",
            );
            crate::outbox::enqueue(tx, &self.app.directory, now, env).await?;
        }
        Ok(chats.len())
    }

    async fn recipients(&self, tx: &mut crate::db::Tx<'static>, exclude: Option<&str>) -> anyhow::Result<Vec<ChatRef>> {
        // Channels that work (or cannot tell) and can start a conversation, in configuration order.
        let usable: Vec<(String, &'static str)> = super::health::channels(&self.app)
            .into_iter()
            .filter(|(name, _, h)| Some(name.as_str()) != exclude && h.state != HealthState::Down)
            .filter(|(name, _, _)| self.app.directory.get(name).is_some_and(|c| c.caps.can_push))
            .map(|(name, platform, _)| (name, platform))
            .collect();
        let mut chats: Vec<ChatRef> = Vec::new();
        for admin in crate::store::people::reachable_admin_ids(tx).await? {
            let accounts = crate::store::people::accounts_of(tx, admin).await?;
            let reach = usable.iter().find_map(|(name, platform)| {
                let private = self.app.directory.get(name).is_some_and(|c| c.caps.can_send_private);
                let account = accounts.iter().find(|(p, _)| p == platform).map(|(_, a)| a)?;
                private.then(|| ChatRef::private(name.clone(), account.clone()))
            });
            match reach {
                Some(chat) => chats.push(chat),
                None => tracing::warn!(person = admin, "no working channel reaches this admin privately for alerts"),
            }
        }
        for c in &self.app.settings.alerts.chats {
            if usable.iter().any(|(name, _)| *name == c.channel) {
                let kind = ChatKind::parse(&c.kind).unwrap_or(ChatKind::Group);
                chats.push(ChatRef { channel: c.channel.clone(), kind, id: c.id.clone() });
            }
        }
        let mut seen = HashSet::new();
        chats.retain(|c| seen.insert((c.channel.clone(), c.key())));
        Ok(chats)
    }
}

fn log_told(n: usize, channel: &str, what: &str) {
    if n == 0 {
        tracing::error!(channel, what, "admin alert: no working channel reaches any admin or alert chat");
    } else {
        tracing::warn!(channel, what, chats = n, "admin alert queued");
    }
}
