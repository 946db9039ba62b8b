//! The delivery worker for one channel: claims ready rows in short transactions, sends outside
//! any transaction within the channel's limits, and records the outcome.

use super::ratelimit::RateLimiter;
use crate::chat::{ChatKind, ChatRef, OutboundMessage, Segment, SendError};
use crate::clock::SharedClock;
use crate::config::OutboxSettings;
use crate::db::{begin_write, parse_ts, ts, Db};
use crate::Channel;
use chrono::Duration as ChronoDuration;
use rand::Rng;
use sqlx::Row;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, Notify};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone)]
struct Claimed {
    id: i64,
    chat: ChatRef,
    segments: Vec<Segment>,
    attempts: i64,
}

pub struct Worker {
    db: Db,
    clock: SharedClock,
    channel: Arc<dyn Channel>,
    settings: OutboxSettings,
    notify: Arc<Notify>,
    limiter: Arc<Mutex<RateLimiter>>,
    counters: Counters,
}

/// What the worker did, for tests and benchmarks (an idle queue must not keep it busy).
#[derive(Debug, Default)]
struct Counters {
    wakeups: AtomicU64,
    claims: AtomicU64,
}

#[derive(Clone)]
enum Outcome {
    Sent(Option<String>),
    Retry { after: Duration, error: String, count_attempt: bool },
    Dead(String),
}

impl Worker {
    pub fn new(
        db: Db,
        clock: SharedClock,
        channel: Arc<dyn Channel>,
        settings: OutboxSettings,
        notify: Arc<Notify>,
    ) -> Self {
        let caps = channel.capabilities();
        let limiter = RateLimiter::new(&caps.global_limits, &caps.per_chat_limits);
        let mut settings = settings;
        settings.max_in_flight = settings.max_in_flight.min(caps.max_concurrent_sends.max(1));
        Worker { db, clock, channel, settings, notify, limiter: Arc::new(Mutex::new(limiter)), counters: Counters::default() }
    }

    fn name(&self) -> &str {
        self.channel.name()
    }

    /// Passes of the delivery loop so far (the first one starts after recovery).
    pub fn wakeups(&self) -> u64 {
        self.counters.wakeups.load(Ordering::Relaxed)
    }

    /// Claim transactions run so far.
    pub fn claims(&self) -> u64 {
        self.counters.claims.load(Ordering::Relaxed)
    }

    /// Rows left 'sending' by a previous run: resend those that may be resent, mark the rest
    /// 'unknown' for an admin to look at.
    pub async fn recover(&self) -> sqlx::Result<()> {
        let now = ts(self.clock.now());
        let mut tx = begin_write(&self.db).await?;
        let resent = sqlx::query(
            "UPDATE outbox SET status = 'pending', lease_until = NULL
             WHERE channel = ? AND status = 'sending' AND delivery = 'at_least_once' AND lease_until <= ?",
        )
        .bind(self.name())
        .bind(&now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let unknown = sqlx::query(
            "UPDATE outbox SET status = 'unknown', lease_until = NULL,
                 last_error = 'interrupted while sending; not resent to avoid a duplicate'
             WHERE channel = ? AND status = 'sending' AND delivery = 'at_most_once' AND lease_until <= ?",
        )
        .bind(self.name())
        .bind(&now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        if resent + unknown > 0 {
            tracing::warn!(channel = self.name(), resent, unknown, "recovered interrupted sends");
        }
        self.seed_limiter().await
    }

    /// Counts recent sends against the limits, so a restart does not burst past them.
    async fn seed_limiter(&self) -> sqlx::Result<()> {
        let caps = self.channel.capabilities();
        let longest = caps.global_limits.iter().chain(caps.per_chat_limits.iter()).map(|r| r.window).max();
        let Some(window) = longest else { return Ok(()) };
        let now = self.clock.now();
        let since = now - ChronoDuration::from_std(window).unwrap_or(ChronoDuration::minutes(1));
        let rows = sqlx::query(
            "SELECT chat_kind, chat_id, sent_at FROM outbox WHERE channel = ? AND status = 'sent' AND sent_at > ? ORDER BY sent_at",
        )
        .bind(self.name())
        .bind(ts(since))
        .fetch_all(&self.db)
        .await?;
        let base = tokio::time::Instant::now();
        let mut limiter = self.limiter.lock().await;
        for r in rows {
            let Some(sent) = parse_ts(r.get("sent_at")) else { continue };
            let ago = (now - sent).to_std().unwrap_or_default();
            let key = format!("{}:{}", r.get::<String, _>("chat_kind"), r.get::<String, _>("chat_id"));
            limiter.seed(&key, base.checked_sub(ago).unwrap_or(base));
        }
        Ok(())
    }

    /// Claims up to `limit` ready messages: the oldest unsent one of each chat (to keep order
    /// within a chat), skipping chats with a send in flight.
    async fn claim(&self, limit: usize, busy: &HashSet<String>) -> sqlx::Result<Vec<Claimed>> {
        let now = self.clock.now();
        let lease = now + ChronoDuration::seconds(self.settings.lease_seconds as i64);
        self.counters.claims.fetch_add(1, Ordering::Relaxed);
        let mut tx = begin_write(&self.db).await?;
        let rows = sqlx::query(
            "SELECT o.id, o.chat_kind, o.chat_id, o.segments, o.attempts FROM outbox o
             WHERE o.channel = ?1 AND o.status = 'pending' AND o.next_attempt_at <= ?2
               AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.channel = o.channel AND p.chat_kind = o.chat_kind
                               AND p.chat_id = o.chat_id AND p.id < o.id AND p.status IN ('pending', 'sending'))
             ORDER BY o.id LIMIT ?3",
        )
        .bind(self.name())
        .bind(ts(now))
        .bind((limit + busy.len()) as i64)
        .fetch_all(&mut *tx)
        .await?;
        let mut out = Vec::new();
        for r in rows {
            if out.len() >= limit {
                break;
            }
            let kind = ChatKind::parse(r.get("chat_kind")).unwrap_or(ChatKind::Group);
            let chat = ChatRef { channel: self.name().to_string(), kind, id: r.get("chat_id") };
            if busy.contains(&chat.key()) {
                continue;
            }
            let id: i64 = r.get("id");
            sqlx::query("UPDATE outbox SET status = 'sending', lease_until = ? WHERE id = ?")
                .bind(ts(lease))
                .bind(id)
                .execute(&mut *tx)
                .await?;
            out.push(Claimed {
                id,
                chat,
                segments: serde_json::from_str(r.get::<&str, _>("segments")).unwrap_or_default(),
                attempts: r.get("attempts"),
            });
        }
        tx.commit().await?;
        Ok(out)
    }

    fn backoff(&self, attempts: i64) -> Duration {
        let base = self.settings.backoff_base_ms.max(1);
        let exp = base.saturating_mul(1u64 << attempts.clamp(0, 20) as u32);
        let capped = exp.min(self.settings.backoff_max_ms.max(base));
        // Jitter spreads retries of many messages that failed together.
        let jitter = rand::rng().random_range(0..=capped / 4);
        Duration::from_millis(capped - capped / 8 + jitter / 2)
    }

    async fn send_one(&self, c: &Claimed) -> Outcome {
        let at = self.limiter.lock().await.reserve(&c.chat.key(), tokio::time::Instant::now());
        // The timer has millisecond granularity: do not pay for it when no wait is needed.
        if at > tokio::time::Instant::now() {
            tokio::time::sleep_until(at).await;
        }
        let msg = OutboundMessage { chat: c.chat.clone(), segments: c.segments.clone() };
        match self.channel.send(&msg).await {
            Ok(receipt) => Outcome::Sent(receipt.platform_msg_id),
            Err(SendError::RateLimited { retry_after }) => {
                self.limiter.lock().await.pause(tokio::time::Instant::now() + retry_after);
                Outcome::Retry { after: retry_after, error: "rate limited (429)".into(), count_attempt: false }
            }
            Err(SendError::Transient(e)) => {
                if c.attempts + 1 >= self.settings.max_attempts as i64 {
                    Outcome::Dead(format!("gave up after {} attempts: {e}", c.attempts + 1))
                } else {
                    Outcome::Retry { after: self.backoff(c.attempts), error: e, count_attempt: true }
                }
            }
            Err(SendError::Permanent(e)) => Outcome::Dead(e),
        }
    }

    /// Records the outcomes of several sends in one transaction (one commit, not one each).
    async fn finish_many(&self, done: &[(Claimed, Outcome)]) -> sqlx::Result<()> {
        let now = self.clock.now();
        let mut tx = begin_write(&self.db).await?;
        for (c, outcome) in done {
            self.apply(&mut tx, c, outcome.clone(), now).await?;
        }
        tx.commit().await
    }

    async fn apply(
        &self,
        tx: &mut crate::db::Tx<'static>,
        c: &Claimed,
        outcome: Outcome,
        now: chrono::DateTime<chrono::Utc>,
    ) -> sqlx::Result<()> {
        match outcome {
            Outcome::Sent(platform_id) => {
                sqlx::query(
                    "UPDATE outbox SET status = 'sent', sent_at = ?, platform_msg_id = ?, attempts = attempts + 1,
                         lease_until = NULL, last_error = NULL WHERE id = ?",
                )
                .bind(ts(now))
                .bind(platform_id)
                .bind(c.id)
                .execute(&mut **tx)
                .await?;
            }
            Outcome::Retry { after, error, count_attempt } => {
                let next = now + ChronoDuration::from_std(after).unwrap_or(ChronoDuration::seconds(1));
                tracing::info!(channel = self.name(), id = c.id, %error, retry_in_ms = after.as_millis() as u64, "send deferred");
                sqlx::query(
                    "UPDATE outbox SET status = 'pending', next_attempt_at = ?, attempts = attempts + ?, lease_until = NULL,
                         last_error = ? WHERE id = ?",
                )
                .bind(ts(next))
                .bind(i64::from(count_attempt))
                .bind(error)
                .bind(c.id)
                .execute(&mut **tx)
                .await?;
            }
            Outcome::Dead(error) => {
                tracing::warn!(channel = self.name(), id = c.id, %error, "message dead-lettered");
                sqlx::query(
                    "UPDATE outbox SET status = 'dead', attempts = attempts + 1, lease_until = NULL, last_error = ? WHERE id = ?",
                )
                .bind(error)
                .bind(c.id)
                .execute(&mut **tx)
                .await?;
            }
        }
        Ok(())
    }

    /// Records outcomes, retrying until the database takes them: the sends happened, and
    /// forgetting that would resend them.
    async fn record(&self, done: Vec<(Claimed, Outcome)>, busy: &mut HashSet<String>) {
        if done.is_empty() {
            return;
        }
        let mut delay = Duration::from_millis(200);
        while let Err(e) = self.finish_many(&done).await {
            tracing::error!(channel = self.name(), error = %e, "cannot record send outcomes; retrying");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(10));
        }
        for (c, _) in &done {
            busy.remove(&c.chat.key());
        }
    }

    /// When the next pending message becomes due, if any.
    async fn next_due(&self) -> sqlx::Result<Option<chrono::DateTime<chrono::Utc>>> {
        let t: Option<String> =
            sqlx::query_scalar("SELECT MIN(next_attempt_at) FROM outbox WHERE channel = ? AND status = 'pending'")
                .bind(self.name())
                .fetch_one(&self.db)
                .await?;
        Ok(t.and_then(|t| parse_ts(&t)))
    }

    /// Delivers until `shutdown`; in-flight sends are finished and recorded before returning.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        if let Err(e) = self.recover().await {
            tracing::error!(channel = self.name(), error = %e, "outbox recovery failed");
        }
        let mut inflight: JoinSet<(Claimed, Outcome)> = JoinSet::new();
        let mut busy: HashSet<String> = HashSet::new();
        let idle_cap = Duration::from_secs(5);
        loop {
            self.counters.wakeups.fetch_add(1, Ordering::Relaxed);
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let mut done = Vec::new();
            while let Some(r) = inflight.try_join_next() {
                done.extend(r.ok());
            }
            self.record(done, &mut busy).await;
            if shutdown.is_cancelled() {
                break;
            }
            let free = self.settings.max_in_flight.saturating_sub(inflight.len());
            let mut claimed_any = false;
            if free > 0 {
                match self.claim(free, &busy).await {
                    Ok(batch) => {
                        for c in batch {
                            claimed_any = true;
                            busy.insert(c.chat.key());
                            let me = self.clone();
                            inflight.spawn(async move {
                                let outcome = me.send_one(&c).await;
                                (c, outcome)
                            });
                        }
                    }
                    Err(e) => tracing::error!(channel = self.name(), error = %e, "outbox claim failed"),
                }
            }
            if claimed_any {
                continue;
            }
            let wait = match self.next_due().await {
                Ok(Some(t)) => (t - self.clock.now()).to_std().unwrap_or(Duration::ZERO).min(idle_cap),
                _ => idle_cap,
            }
            .max(Duration::from_millis(5));
            tokio::select! {
                Some(r) = inflight.join_next(), if !inflight.is_empty() => {
                    self.record(r.ok().into_iter().collect(), &mut busy).await;
                }
                _ = &mut notified => {}
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.cancelled() => {}
            }
            self.limiter.lock().await.prune(tokio::time::Instant::now());
        }
        while let Some(r) = inflight.join_next().await {
            self.record(r.ok().into_iter().collect(), &mut busy).await;
        }
    }

    /// Sends everything ready now and waits for the results (tests, `dudao outbox flush`).
    pub async fn drain_ready(&self) -> sqlx::Result<usize> {
        let mut n = 0;
        loop {
            let batch = self.claim(self.settings.max_in_flight, &HashSet::new()).await?;
            if batch.is_empty() {
                return Ok(n);
            }
            let mut done = Vec::new();
            for c in batch {
                let outcome = self.send_one(&c).await;
                done.push((c, outcome));
            }
            n += done.len();
            self.finish_many(&done).await?;
        }
    }
}
