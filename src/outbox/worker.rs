//! The delivery worker for one channel: claims ready rows in short transactions, sends outside
//! any transaction within the channel's limits, and records the outcome.
//!
//! Claims and records are batched so the database is not what limits a fan-out: one statement
//! claims the heads of many chats, and the outcomes that finished together share one commit.
//! Claimed rows wait for their slot in tasks of their own; at most `max_in_flight` of them are
//! with the platform at once (a semaphore), and a slot is taken from the rate limiter only when
//! it is free at that moment, right before the request leaves, so concurrent senders never
//! exceed a limit and what the limiter counts is what the platform sees.
//!
//! Every state change names the state it expects: a claim takes only 'pending' rows, and an
//! outcome is recorded only while the row is still 'sending' under the lease this worker set.
//! A lease that expired was taken over by someone else, so its late outcome is not ours to
//! record (that would resend or un-send a message another worker already dealt with).

use super::handoff::{Delivered, Handoffs, RECORD_WITHIN};
use super::ratelimit::RateLimiter;
use super::Delivery;
use crate::chat::{Attachment, ChatKind, ChatRef, OutboundMessage, Segment, SendError};
use crate::clock::SharedClock;
use crate::config::OutboxSettings;
use crate::db::{begin_write, parse_ts, ts, Db};
use crate::store::outbox::{self as store, SendOutcome};
use crate::Channel;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use futures::FutureExt;
use rand::Rng;
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{oneshot, Mutex, Notify, Semaphore};
use tokio::task::{JoinError, JoinSet};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone)]
struct Claimed {
    id: i64,
    chat: ChatRef,
    segments: Vec<Segment>,
    attempts: i64,
    delivery: Delivery,
    /// The lease this claim wrote: while the row still carries it, the row is ours.
    lease: String,
    /// When that lease ends: past it the row may be someone else's, so it is not sent.
    lease_at: DateTime<Utc>,
    /// The file the row delivers (loaded only when it is sent).
    file_id: Option<i64>,
    /// For a row handed over by the transaction that queued it (`outbox::handoff`): how many
    /// wake-ups for new messages the worker had seen when it got the row.
    handed_at_notice: Option<u64>,
}

impl Claimed {
    fn from_row(r: store::HeadRow, channel: &str, lease: &str, lease_at: DateTime<Utc>, handed: Option<u64>) -> Self {
        let kind = ChatKind::parse(&r.chat_kind).unwrap_or(ChatKind::Group);
        Claimed {
            id: r.id,
            chat: ChatRef { channel: channel.to_string(), kind, id: r.chat_id },
            segments: serde_json::from_str(&r.segments).unwrap_or_default(),
            attempts: r.attempts,
            delivery: Delivery::parse(&r.delivery).unwrap_or(Delivery::AtLeastOnce),
            lease: lease.to_string(),
            lease_at,
            file_id: r.file_id,
            handed_at_notice: handed,
        }
    }
}

/// How files reach channels that cannot carry them: one-time links on the HTTP listener.
#[derive(Debug, Clone)]
pub struct FileLinks {
    /// Where people reach the listener (`http.public_url`), e.g. `https://dudao.example.org`;
    /// empty: no link can be given, and the message says so.
    pub public_url: String,
    /// How long a link may be used.
    pub valid_for: ChronoDuration,
}

impl Default for FileLinks {
    fn default() -> Self {
        FileLinks { public_url: String::new(), valid_for: ChronoDuration::hours(24) }
    }
}

pub struct Worker {
    db: Db,
    clock: SharedClock,
    channel: Arc<dyn Channel>,
    settings: OutboxSettings,
    notify: Arc<Notify>,
    limiter: Arc<Mutex<RateLimiter>>,
    /// Permits for requests with the platform at once (`max_in_flight`).
    sends: Arc<Semaphore>,
    /// Rows claimed and not yet recorded, at most (see [`claim_budget`]).
    budget: usize,
    counters: Counters,
    /// When expired leases were last looked for (see [`RECLAIM_EVERY`]).
    last_reclaim: std::sync::Mutex<Option<DateTime<Utc>>>,
    files: FileLinks,
    /// This channel's send counters (`/metrics`).
    metrics: Arc<crate::metrics::ChannelMetrics>,
    /// Where the service's transactions hand answers they claimed (`outbox::handoff`); the
    /// worker registers there while it runs.
    handoffs: Option<Arc<super::handoff::Handoffs>>,
}

/// How often a claim also takes back other owners' expired leases. A lease lasts
/// `lease_seconds`, so looking every claim (two statements each time) buys nothing; once a
/// second keeps a dead owner's rows waiting at most a second longer than their lease.
const RECLAIM_EVERY: ChronoDuration = ChronoDuration::seconds(1);

/// The most rows one worker keeps claimed: bounds memory and what a takeover must wait for.
const MAX_CLAIMED: usize = 512;

/// The most messages of one chat a claim takes (at-least-once ones; an at-most-once message is
/// claimed alone, at the head of its chat). They are sent one after another, in order, so a
/// chat with a backlog moves at the platform's pace instead of one claim and commit per message.
const PER_CHAT_RUN: usize = 8;

/// How many rows may be claimed ahead of their send: as many as the channel's global limits let
/// go out within half a lease (so none outlives its lease waiting for a slot), at least
/// `max_in_flight`, at most [`MAX_CLAIMED`]. More claimed rows than sends in flight is what keeps
/// the platform's limit, not the database round trips, the bottleneck.
fn claim_budget(caps: &crate::chat::Capabilities, settings: &OutboxSettings) -> usize {
    let half_lease = Duration::from_secs(settings.lease_seconds.max(1)).as_secs_f64() / 2.0;
    let by_rate = caps
        .global_limits
        .iter()
        .map(|r| (f64::from(r.count.max(1)) * half_lease / r.window.as_secs_f64().max(1e-3)) as usize)
        .min()
        .unwrap_or(MAX_CLAIMED);
    by_rate.clamp(settings.max_in_flight.max(1), MAX_CLAIMED.max(settings.max_in_flight))
}

/// A download token: 256 random bits, URL-safe.
fn new_token() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::rng().random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What the worker did, for tests and benchmarks (an idle queue must not keep it busy).
#[derive(Debug, Default)]
struct Counters {
    wakeups: AtomicU64,
    claims: AtomicU64,
    lost_leases: AtomicU64,
}

#[derive(Clone)]
enum Outcome {
    Sent(Option<String>),
    Retry {
        after: Duration,
        error: String,
        count_attempt: bool,
    },
    Dead(String),
    /// Perhaps delivered, perhaps not, and not to be resent: left for an admin.
    Unknown(String),
    /// Never handed to the platform (shutdown, or the lease ran out while waiting for a slot):
    /// back to 'pending' unchanged.
    Released,
    /// Not to be sent on this channel at all (an inline image it cannot show).
    Skipped(String),
}

impl Outcome {
    /// A retry leaves the chat's head backed off; anything else lets the next message go.
    fn advances_chat(&self) -> bool {
        !matches!(self, Outcome::Retry { .. } | Outcome::Released)
    }
}

/// The text of a panic payload (`panic!` gives a `&str` or a `String`).
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-text panic payload".into())
}

/// What the queue holds for this worker right now.
struct Due {
    /// Heads of chats due now, plus other owners' expired leases.
    ready: usize,
    /// The earliest moment something else becomes ready.
    next: Option<DateTime<Utc>>,
}

/// The sends under way, and per chat the last one started: a chat's messages go one after
/// another, each waiting for the one before and staying unsent (released) if that one did not
/// get through, so none overtakes a retry.
#[derive(Default)]
struct Sends {
    inflight: JoinSet<(Claimed, Outcome)>,
    tasks: HashMap<tokio::task::Id, Claimed>,
    /// Per chat, whether its last send got through, once known.
    last: HashMap<String, futures::future::Shared<oneshot::Receiver<bool>>>,
}

impl Sends {
    fn spawn(&mut self, worker: &Arc<Worker>, c: Claimed, shutdown: &CancellationToken) {
        // Chats whose last send got through need no chaining.
        self.last.retain(|_, f| f.clone().now_or_never().is_none_or(|went| went != Ok(true)));
        let key = c.chat.key();
        let before = self.last.get(&key).cloned();
        // A claim takes only rows at the head of their chat, in order, so a claimed row waits
        // only for a send still under way. A handed row was claimed by a transaction that may
        // have run before the chat's last failure was recorded: if that send did not get
        // through, it must not overtake its retry — released, it is claimed after it.
        let before = match before {
            Some(f) if c.handed_at_notice.is_some() || f.clone().now_or_never().is_none() => Some(f),
            _ => None,
        };
        let (went, next) = oneshot::channel::<bool>();
        self.last.insert(key, next.shared());
        let me = worker.clone();
        let task = c.clone();
        let stop = shutdown.clone();
        let handle = self.inflight.spawn(async move {
            let go = match before {
                Some(rx) => rx.await.unwrap_or(false),
                None => true,
            };
            let outcome = if go { me.send_one(&task, &stop).await } else { Outcome::Released };
            let _ = went.send(outcome.advances_chat());
            (task, outcome)
        });
        self.tasks.insert(handle.id(), c);
    }
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
        settings.max_in_flight = settings.max_in_flight.min(caps.max_concurrent_sends.max(1)).max(1);
        let budget = claim_budget(caps, &settings);
        Worker {
            db,
            clock,
            channel,
            sends: Arc::new(Semaphore::new(settings.max_in_flight)),
            budget,
            settings,
            notify,
            limiter: Arc::new(Mutex::new(limiter)),
            counters: Counters::default(),
            last_reclaim: std::sync::Mutex::new(None),
            files: FileLinks::default(),
            metrics: Arc::new(crate::metrics::ChannelMetrics::default()),
            handoffs: None,
        }
    }

    /// Takes answers claimed by the transactions that queued them (see `outbox::handoff`).
    pub fn with_handoffs(mut self, handoffs: Arc<super::handoff::Handoffs>) -> Self {
        self.handoffs = Some(handoffs);
        self
    }

    /// Counts this worker's sends in `m` (the service's counters for the channel).
    pub fn with_metrics(mut self, m: Arc<crate::metrics::ChannelMetrics>) -> Self {
        self.metrics = m;
        self
    }

    /// Sets how files reach this channel when it cannot carry them (see [`FileLinks`]).
    pub fn with_file_links(mut self, files: FileLinks) -> Self {
        self.files = files;
        self
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

    /// Outcomes not recorded because the row's lease had been taken over meanwhile.
    pub fn lost_leases(&self) -> u64 {
        self.counters.lost_leases.load(Ordering::Relaxed)
    }

    /// Rows left 'sending' by a previous run. One service runs per database, so at start-up
    /// every such row of this channel belongs to a process that is gone, whatever its lease
    /// says: resend those that may be resent, mark the rest 'unknown' for an admin.
    pub async fn recover(&self) -> crate::sql::Result<()> {
        let mut tx = begin_write(&self.db).await?;
        let (resent, unknown) = self.reclaim(&mut tx, None, &[]).await?;
        tx.commit().await?;
        if resent + unknown > 0 {
            tracing::warn!(channel = self.name(), resent, unknown, "recovered sends interrupted by the last shutdown");
        }
        self.seed_limiter().await
    }

    /// Takes back 'sending' rows whose owner is gone: all of them (`expired_by` None), or
    /// those whose lease ended by `expired_by`; never `ours`, the sends this worker has in flight.
    async fn reclaim(
        &self,
        tx: &mut crate::db::Tx<'static>,
        expired_by: Option<&str>,
        ours: &[i64],
    ) -> crate::sql::Result<(u64, u64)> {
        store::reclaim(tx, self.name(), expired_by, ours).await
    }

    /// Counts recent sends against the limits, so a restart does not burst past them.
    async fn seed_limiter(&self) -> crate::sql::Result<()> {
        let caps = self.channel.capabilities();
        let longest = caps.global_limits.iter().chain(caps.per_chat_limits.iter()).map(|r| r.window).max();
        let Some(window) = longest else { return Ok(()) };
        let now = self.clock.now();
        let since = now - ChronoDuration::from_std(window).unwrap_or(ChronoDuration::minutes(1));
        let rows = store::sent_since(&mut *self.db.acquire().await?, self.name(), since).await?;
        let base = tokio::time::Instant::now();
        let mut limiter = self.limiter.lock().await;
        for (chat_kind, chat_id, sent_at) in rows {
            let Some(sent) = parse_ts(&sent_at) else { continue };
            let ago = (now - sent).to_std().unwrap_or_default();
            let key = format!("{chat_kind}:{chat_id}");
            limiter.seed(&key, base.checked_sub(ago).unwrap_or(base));
        }
        Ok(())
    }

    /// Claims up to `limit` ready messages in one transaction: the oldest unsent one of each
    /// chat (to keep order within a chat; a chat with a send in flight has none). Rows whose
    /// lease expired under another owner are taken back first, so they never block their chat.
    ///
    /// At-most-once rows are claimed only up to `at_most_once` (free send permits): one claimed
    /// but not yet sent when the process dies is marked 'unknown' at restart, so they are not
    /// claimed ahead of their send like the others.
    ///
    /// `done` are outcomes to record first, in the same transaction: the sends that just
    /// finished and the claim of what they let go next share one commit.
    async fn claim(
        &self,
        limit: usize,
        at_most_once: usize,
        ours: &[i64],
        done: &[(Claimed, Outcome)],
    ) -> crate::sql::Result<Vec<Claimed>> {
        self.counters.claims.fetch_add(1, Ordering::Relaxed);
        let now = self.clock.now();
        let lease_at = now + ChronoDuration::seconds(self.settings.lease_seconds as i64);
        let lease = ts(lease_at);
        let mut tx = begin_write(&self.db).await?;
        let lost = self.apply_all(&mut tx, done, now).await?;
        let reclaim_due = {
            let mut last = self.last_reclaim.lock().unwrap_or_else(|e| e.into_inner());
            let due = last.is_none_or(|t| now >= t + RECLAIM_EVERY || now < t);
            if due {
                *last = Some(now);
            }
            due
        };
        let (resent, unknown) = if reclaim_due { self.reclaim(&mut tx, Some(&ts(now)), ours).await? } else { (0, 0) };
        if resent + unknown > 0 {
            tracing::warn!(channel = self.name(), resent, unknown, "took back sends whose lease expired");
        }
        let mut rows = Vec::new();
        if at_most_once.min(limit) > 0 {
            let amo = Some(Delivery::AtMostOnce.as_str());
            rows = store::take_heads(&mut tx, self.name(), now, &lease, amo, at_most_once.min(limit) as i64).await?;
        }
        let rest = limit.saturating_sub(rows.len());
        if rest > 0 {
            let alo = Delivery::AtLeastOnce.as_str();
            rows.extend(
                store::take_runs(&mut tx, self.name(), now, &lease, alo, rest as i64, PER_CHAT_RUN as i64).await?,
            );
        }
        tx.commit().await?;
        self.report_lost(lost);
        self.count(done);
        rows.sort_by_key(|r| r.id);
        Ok(rows.into_iter().map(|r| Claimed::from_row(r, self.name(), &lease, lease_at, None)).collect())
    }

    fn backoff(&self, attempts: i64) -> Duration {
        let base = self.settings.backoff_base_ms.max(1);
        let exp = base.saturating_mul(1u64 << attempts.clamp(0, 20) as u32);
        let capped = exp.min(self.settings.backoff_max_ms.max(base));
        // Jitter spreads retries of many messages that failed together.
        let jitter = rand::rng().random_range(0..=capped / 4);
        Duration::from_millis(capped - capped / 8 + jitter / 2)
    }

    /// How much later than due a retry may wake the worker: half the first backoff, at most 1 s.
    fn coalesce(&self) -> Duration {
        Duration::from_millis((self.settings.backoff_base_ms / 2).clamp(1, 1_000))
    }

    /// A send that did not get through: again later, or dead after the last attempt.
    fn failed(&self, c: &Claimed, error: String) -> Outcome {
        if c.attempts + 1 >= self.settings.max_attempts as i64 {
            Outcome::Dead(format!("gave up after {} attempts: {error}", c.attempts + 1))
        } else {
            Outcome::Retry { after: self.backoff(c.attempts), error, count_attempt: true }
        }
    }

    /// The platform may or may not have the message: resend only what may be sent twice.
    fn maybe_sent(&self, c: &Claimed, error: String) -> Outcome {
        match c.delivery {
            Delivery::AtMostOnce => Outcome::Unknown(format!("{error}; not resent to avoid a duplicate")),
            Delivery::AtLeastOnce => self.failed(c, error),
        }
    }

    /// A bug in the adapter, not the platform's answer: record it, the chat goes on.
    fn panicked(&self, c: &Claimed, what: &str) -> Outcome {
        tracing::error!(channel = self.name(), id = c.id, panic = %what, "send panicked");
        self.maybe_sent(c, format!("send panicked: {what}"))
    }

    /// Waits for a send permit and a free slot in every window, then sends; a row still waiting
    /// when `stop` fires (or its lease ends) is released unsent.
    async fn send_one(&self, c: &Claimed, stop: &CancellationToken) -> Outcome {
        let key = c.chat.key();
        let mut waited = false;
        let taken = loop {
            let now = tokio::time::Instant::now();
            let at = self.limiter.lock().await.earliest(&key, now);
            // The timer has millisecond granularity: do not pay for it when no wait is needed.
            if at > now {
                if !waited {
                    waited = true;
                    self.metrics.rate_limit_waits.inc();
                }
                self.metrics.rate_limit_wait_micros.add(u64::try_from((at - now).as_micros()).unwrap_or(u64::MAX));
                tokio::select! {
                    _ = tokio::time::sleep_until(at) => continue,
                    _ = stop.cancelled() => return Outcome::Released,
                }
            }
            let permit = tokio::select! {
                p = self.sends.clone().acquire_owned() => p,
                _ = stop.cancelled() => return Outcome::Released,
            };
            let Ok(permit) = permit else { return Outcome::Released };
            if self.clock.now() >= c.lease_at {
                tracing::warn!(channel = self.name(), id = c.id, "lease ended while waiting for a send slot; not sent");
                return Outcome::Released;
            }
            // Another sender may have taken the slot while this one waited for a permit.
            let now = tokio::time::Instant::now();
            if self.limiter.lock().await.try_take(&key, now).is_ok() {
                break (permit, now);
            }
        };
        let sent_at = taken.1;
        let result = self.dispatch(c).await;
        self.limiter.lock().await.complete(&key, sent_at, tokio::time::Instant::now());
        result
    }

    /// The message a file row stands for: the file itself where the channel can carry it, else
    /// a text with a one-time download link (or, with no public address configured, a text
    /// saying why there is none). Only here are a file's bytes read.
    async fn file_message(&self, c: &Claimed, file_id: i64) -> Result<OutboundMessage, Outcome> {
        let db_error = |e: crate::sql::Error| self.failed(c, format!("cannot read the file to send: {e}"));
        let mut conn = self.db.acquire().await.map_err(db_error)?;
        let Some((name, mime, size)) = crate::store::files::meta(&mut conn, file_id).await.map_err(db_error)? else {
            return Err(Outcome::Dead("the file to send was deleted".into()));
        };
        let caps = self.channel.capabilities();
        let size_u64 = u64::try_from(size).unwrap_or(u64::MAX);
        // An inline image (a chart) is shown where the channel can show it and otherwise left
        // out: the text sent with it carries the same figures, and a download link for a
        // picture would only be noise.
        let inline = c.segments.iter().any(|s| matches!(s, Segment::Image { .. }));
        if inline && !(caps.can_send_images && size_u64 <= caps.max_image_bytes) {
            return Err(Outcome::Skipped(format!("{} cannot show an image of {size} bytes", self.name())));
        }
        if inline || (caps.can_send_files && size_u64 <= caps.max_file_bytes) {
            let Some(file) = crate::store::files::load(&mut conn, file_id).await.map_err(db_error)? else {
                return Err(Outcome::Dead("the file to send was deleted".into()));
            };
            let attachment = Attachment { name: file.name, mime: file.mime, bytes: file.bytes.into(), inline };
            return Ok(OutboundMessage {
                chat: c.chat.clone(),
                segments: c.segments.clone(),
                attachment: Some(attachment),
            });
        }
        drop(conn);
        let size = u64::try_from(size).unwrap_or(0);
        let base = self.files.public_url.trim().trim_end_matches('/');
        let text = if base.is_empty() {
            crate::domain::files::no_link_text(&name, size)
        } else {
            // A fresh token per attempt: only its hash is stored, so a retry cannot reuse one.
            let token = new_token();
            let now = self.clock.now();
            let expires = now + self.files.valid_for;
            let stored = async {
                let mut tx = begin_write(&self.db).await?;
                let hash = crate::domain::files::token_hash(&token);
                crate::store::files::create_link(&mut tx, file_id, &hash, now, expires).await?;
                tx.commit().await
            };
            stored.await.map_err(|e| self.failed(c, format!("cannot record the download link: {e}")))?;
            let hours = self.files.valid_for.num_hours().max(1);
            crate::domain::files::link_text(&name, size, &format!("{base}/files/{token}"), hours)
        };
        tracing::debug!(channel = self.name(), id = c.id, %mime, "file sent as a text (the channel cannot carry it)");
        let mut segments: Vec<Segment> =
            c.segments.iter().filter(|s| !matches!(s, Segment::File { .. })).cloned().collect();
        segments.push(Segment::text(text));
        Ok(OutboundMessage::text(c.chat.clone(), segments))
    }

    /// Hands one message to the channel and reads its answer as an outcome.
    async fn dispatch(&self, c: &Claimed) -> Outcome {
        let msg = match c.file_id {
            None => OutboundMessage::text(c.chat.clone(), c.segments.clone()),
            Some(file_id) => match self.file_message(c, file_id).await {
                Ok(m) => m,
                Err(outcome) => return outcome,
            },
        };
        // The channel holds no state a panic could leave half-updated for us.
        let result = match AssertUnwindSafe(self.channel.send(&msg)).catch_unwind().await {
            Ok(r) => r,
            Err(payload) => return self.panicked(c, &panic_text(payload.as_ref())),
        };
        match result {
            Ok(receipt) => Outcome::Sent(receipt.platform_msg_id),
            Err(SendError::RateLimited { retry_after }) => {
                self.limiter.lock().await.pause(tokio::time::Instant::now() + retry_after);
                Outcome::Retry { after: retry_after, error: "rate limited (429)".into(), count_attempt: false }
            }
            Err(SendError::Transient(e)) => self.failed(c, e),
            Err(e @ SendError::Unknown(_)) => self.maybe_sent(c, e.to_string()),
            Err(SendError::Permanent(e)) => Outcome::Dead(e),
        }
    }

    /// Records the outcomes of several sends in one transaction (one commit, not one each).
    async fn finish_many(&self, done: &[(Claimed, Outcome)]) -> crate::sql::Result<()> {
        let now = self.clock.now();
        let mut tx = begin_write(&self.db).await?;
        let lost = self.apply_all(&mut tx, done, now).await?;
        tx.commit().await?;
        self.report_lost(lost);
        self.count(done);
        Ok(())
    }

    /// Records outcomes in `tx`; returns the rows that were no longer ours.
    async fn apply_all(
        &self,
        tx: &mut crate::db::Tx<'static>,
        done: &[(Claimed, Outcome)],
        now: DateTime<Utc>,
    ) -> crate::sql::Result<Vec<i64>> {
        let mut lost = Vec::new();
        for (c, outcome) in done {
            if !self.apply(tx, c, outcome.clone(), now).await? {
                lost.push(c.id);
            }
        }
        Ok(lost)
    }

    fn report_lost(&self, lost: Vec<i64>) {
        for id in lost {
            self.counters.lost_leases.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                channel = self.name(),
                id,
                "send outcome not recorded: the lease expired and the message was taken over"
            );
        }
    }

    /// Records one outcome if the row is still ours; false when it is not.
    async fn apply(
        &self,
        tx: &mut crate::db::Tx<'static>,
        c: &Claimed,
        outcome: Outcome,
        now: DateTime<Utc>,
    ) -> crate::sql::Result<bool> {
        let recorded = match &outcome {
            Outcome::Sent(platform_id) => SendOutcome::Sent { platform_msg_id: platform_id.as_deref() },
            Outcome::Retry { after, error, count_attempt } => {
                let next = now + ChronoDuration::from_std(*after).unwrap_or(ChronoDuration::seconds(1));
                tracing::info!(channel = self.name(), id = c.id, %error, retry_in_ms = after.as_millis() as u64, "send deferred");
                SendOutcome::Retry { next_attempt_at: next, count_attempt: *count_attempt, error }
            }
            Outcome::Dead(error) => {
                tracing::warn!(channel = self.name(), id = c.id, %error, "message dead-lettered");
                SendOutcome::Dead { error }
            }
            Outcome::Unknown(error) => {
                tracing::warn!(channel = self.name(), id = c.id, %error, "send outcome unknown; left for an admin");
                SendOutcome::Unknown { error }
            }
            Outcome::Released => SendOutcome::Released,
            Outcome::Skipped(reason) => {
                tracing::debug!(channel = self.name(), id = c.id, %reason, "message left out");
                SendOutcome::Skipped { reason }
            }
        };
        store::record_outcome(tx, c.id, &c.lease, recorded, now).await
    }

    /// Writes the outcomes of delivered answers that no other transaction carried.
    async fn record_delivered(&self, h: &Handoffs) {
        let written = async {
            let mut tx = begin_write(&self.db).await?;
            let carried = h.record_delivered(&mut tx).await?;
            if let Err(e) = tx.commit().await {
                h.put_back(carried);
                return Err(e);
            }
            Ok::<(), crate::sql::Error>(())
        };
        if let Err(e) = written.await {
            tracing::error!(channel = self.name(), error = %e, "cannot record send outcomes; retrying");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Records outcomes, retrying until the database takes them: the sends happened, and
    /// forgetting that would resend them.
    async fn record(&self, done: Vec<(Claimed, Outcome)>) {
        if done.is_empty() {
            return;
        }
        let mut delay = Duration::from_millis(200);
        while let Err(e) = self.finish_many(&done).await {
            tracing::error!(channel = self.name(), error = %e, "cannot record send outcomes; retrying");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(10));
        }
    }

    /// Counts recorded outcomes (after their commit: a failed record is tried again).
    fn count(&self, done: &[(Claimed, Outcome)]) {
        use crate::metrics::SendOutcome as M;
        for (_, o) in done {
            self.metrics.send(match o {
                Outcome::Sent(_) => M::Sent,
                Outcome::Retry { .. } => M::Retry,
                Outcome::Dead(_) => M::Dead,
                Outcome::Unknown(_) => M::Unknown,
                Outcome::Released => M::Released,
                Outcome::Skipped(_) => M::Skipped,
            });
        }
    }

    /// What can be sent: the heads of the chats (a message queued behind a backed-off one
    /// cannot go before it) and the leases of other owners (taken back when they expire).
    async fn next_due(&self, ours: &[i64]) -> crate::sql::Result<Due> {
        let (ready, next) =
            store::next_due(&mut *self.db.acquire().await?, self.name(), ours, self.clock.now()).await?;
        Ok(Due { ready: usize::try_from(ready).unwrap_or(0), next: next.and_then(|t| parse_ts(&t)) })
    }

    /// The claim and outcome of a finished send task; a task that panicked outside the
    /// guarded send (or was cancelled) still yields an outcome for its row.
    fn joined(
        &self,
        r: Result<(tokio::task::Id, (Claimed, Outcome)), JoinError>,
        tasks: &mut HashMap<tokio::task::Id, Claimed>,
    ) -> Option<(Claimed, Outcome)> {
        match r {
            Ok((id, done)) => {
                tasks.remove(&id);
                Some(done)
            }
            Err(e) => {
                let c = tasks.remove(&e.id())?;
                let what =
                    if e.is_panic() { panic_text(e.into_panic().as_ref()) } else { "send task cancelled".into() };
                let outcome = self.panicked(&c, &what);
                Some((c, outcome))
            }
        }
    }

    /// Delivers until `shutdown`; in-flight sends are finished and recorded before returning.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        if let Err(e) = self.recover().await {
            tracing::error!(channel = self.name(), error = %e, "outbox recovery failed");
        }
        // Registered after recovery: rows handed from now on are not taken for a dead run's.
        let mut intake = self.handoffs.as_ref().map(|h| h.register(self.name(), self.budget));
        let mut sends = Sends::default();
        let idle_cap = Duration::from_secs(5);
        // Claim without asking what is due first: new messages and chats that moved on set it
        // (work is likely); otherwise a cheap look at the chats' heads decides, so messages
        // waiting behind a backed-off one never make the worker poll.
        let mut should_claim = true;
        // Finished sends not yet recorded: recorded with the next claim when there is one.
        let mut finished: Vec<(Claimed, Outcome)> = Vec::new();
        // Wake-ups for new 'pending' messages so far, and what is due as last looked up (still
        // true until a wake-up, a claim, an outcome that changes a row's due time, or the
        // moment it names).
        let mut notices: u64 = 0;
        let mut known_due: Option<Due> = None;
        loop {
            self.counters.wakeups.fetch_add(1, Ordering::Relaxed);
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            while let Some(r) = sends.inflight.try_join_next_with_id() {
                finished.extend(self.joined(r, &mut sends.tasks));
            }
            // A handed answer that went out lets nothing else go unless a message was queued
            // for its chat meanwhile (a wake-up since it was handed); any other outcome may.
            let quiet = |(c, o): &(Claimed, Outcome)| o.advances_chat() && c.handed_at_notice == Some(notices);
            should_claim |= finished.iter().any(|d| d.1.advances_chat() && !quiet(d));
            if !finished.iter().all(quiet) {
                known_due = None;
            }
            if let Some(intake) = &intake {
                let handed = finished.iter().filter(|(c, _)| c.handed_at_notice.is_some()).count();
                let _ = intake
                    .outstanding
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| Some(n.saturating_sub(handed)));
            }
            if let Some(h) = &self.handoffs {
                // A quiet handed answer that went out changes nothing else: its outcome rides on
                // the service's next write (see `outbox::handoff`), unless none comes soon.
                let now = self.clock.now();
                finished.retain(|(c, o)| match o {
                    Outcome::Sent(platform_msg_id) if c.handed_at_notice == Some(notices) => {
                        self.metrics.send(crate::metrics::SendOutcome::Sent);
                        h.delivered(Delivered {
                            id: c.id,
                            lease: c.lease.clone(),
                            platform_msg_id: platform_msg_id.clone(),
                            at: now,
                            since: std::time::Instant::now(),
                        });
                        false
                    }
                    _ => true,
                });
                if h.oldest_delivered().is_some_and(|age| age >= RECORD_WITHIN) {
                    self.record_delivered(h).await;
                }
            }
            let ours: Vec<i64> = sends.tasks.values().map(|c| c.id).collect();
            let free = self.budget.saturating_sub(sends.inflight.len());
            if shutdown.is_cancelled() || free == 0 || !should_claim {
                // No claim follows at once (the due-time look-up below must see these outcomes).
                self.record(std::mem::take(&mut finished)).await;
            }
            if shutdown.is_cancelled() {
                break;
            }
            let now = self.clock.now();
            if known_due.as_ref().is_some_and(|d| d.next.is_some_and(|t| t <= now)) {
                known_due = None;
            }
            let mut due: Option<Due> = None;
            let mut want = 0;
            if free > 0 && should_claim {
                want = free;
            } else if free > 0 {
                let looked = match known_due.take() {
                    Some(d) => Ok(d),
                    None => self.next_due(&ours).await,
                };
                match looked {
                    Ok(d) => {
                        // Only as many as are ready: the claim's scan stops once it has them.
                        want = d.ready.min(free);
                        due = Some(d);
                    }
                    Err(e) => {
                        tracing::error!(channel = self.name(), error = %e, "outbox due-time query failed");
                        want = free;
                    }
                }
            }
            let claimed_now = want > 0;
            let mut claim_failed = false;
            if claimed_now {
                // Claimed rows were the ready ones: the next due time looked up before still holds
                // (a claim not preceded by a look-up must look afterwards).
                due = due.map(|d| Due { ready: 0, next: d.next });
                let amo_out = sends.tasks.values().filter(|c| c.delivery == Delivery::AtMostOnce).count();
                let amo_free = self.settings.max_in_flight.saturating_sub(amo_out);
                match self.claim(want, amo_free, &ours, &finished).await {
                    Ok(batch) => {
                        finished.clear();
                        // Every slot taken: more may be ready once one frees.
                        should_claim = batch.len() >= free;
                        for c in batch {
                            sends.spawn(&self, c, &shutdown);
                        }
                    }
                    Err(e) => {
                        tracing::error!(channel = self.name(), error = %e, "outbox claim failed");
                        self.record(std::mem::take(&mut finished)).await;
                        should_claim = false;
                        claim_failed = true;
                    }
                }
            }
            // Wanted nothing after all (nothing ready): record on their own.
            self.record(std::mem::take(&mut finished)).await;
            let wait = if claim_failed {
                Duration::from_secs(1)
            } else if sends.inflight.len() >= self.budget {
                // Only a finished send or a new message can change anything.
                idle_cap
            } else {
                let due = match due {
                    Some(d) => d,
                    None => {
                        let ours: Vec<i64> = sends.tasks.values().map(|c| c.id).collect();
                        self.next_due(&ours).await.unwrap_or_else(|e| {
                            tracing::error!(channel = self.name(), error = %e, "outbox due-time query failed");
                            Due { ready: 0, next: None }
                        })
                    }
                };
                if due.ready > 0 && !claimed_now {
                    continue;
                }
                let wait = match due.next {
                    // Ready, yet the claim just found nothing it could take (clocks of two
                    // processes disagree, say): look again soon rather than spin.
                    _ if due.ready > 0 => Duration::from_millis(50),
                    None => idle_cap,
                    Some(t) => {
                        let w = (t - self.clock.now()).to_std().unwrap_or(Duration::ZERO);
                        // A little later than due, so retries falling due close together share
                        // one claim and one commit (a retry is not urgent to the millisecond).
                        (w + self.coalesce()).min(idle_cap)
                    }
                };
                if due.ready == 0 {
                    known_due = Some(Due { ready: 0, next: due.next });
                }
                wait
            };
            // Outcomes kept for another transaction are written by this worker if none comes.
            let wait = match self.handoffs.as_ref().and_then(|h| h.oldest_delivered()) {
                Some(age) => wait.min(RECORD_WITHIN.saturating_sub(age)),
                None => wait,
            };
            tokio::select! {
                Some(r) = sends.inflight.join_next_with_id(), if !sends.inflight.is_empty() => {
                    // Sends that finished together are recorded in one commit, with the claim of
                    // what they let go next (top of the loop).
                    finished.extend(self.joined(r, &mut sends.tasks));
                }
                Some(h) = async { intake.as_mut()?.rx.recv().await }, if intake.is_some() => {
                    self.metrics.handed.add(h.rows.len() as u64);
                    for row in h.rows {
                        let c = Claimed::from_row(row, self.name(), &h.lease, h.lease_at, Some(notices));
                        sends.spawn(&self, c, &shutdown);
                    }
                }
                _ = &mut notified => {
                    should_claim = true;
                    notices += 1;
                    known_due = None;
                }
                _ = tokio::time::sleep(wait) => known_due = None,
                _ = shutdown.cancelled() => {}
            }
            self.limiter.lock().await.prune(tokio::time::Instant::now());
        }
        if let Some(h) = &self.handoffs {
            h.unregister(self.name());
            self.record_delivered(h).await;
        }
        // Rows handed but not taken yet: back to the queue (sent at the next start).
        if let Some(intake) = intake.as_mut() {
            intake.rx.close();
            while let Ok(h) = intake.rx.try_recv() {
                let done: Vec<(Claimed, Outcome)> = h
                    .rows
                    .into_iter()
                    .map(|row| (Claimed::from_row(row, self.name(), &h.lease, h.lease_at, None), Outcome::Released))
                    .collect();
                self.record(done).await;
            }
        }
        while let Some(r) = sends.inflight.join_next_with_id().await {
            let done = self.joined(r, &mut sends.tasks).into_iter().collect();
            self.record(done).await;
        }
    }

    /// Sends everything ready now and waits for the results (tests, `dudao outbox flush`).
    pub async fn drain_ready(&self) -> crate::sql::Result<usize> {
        let mut n = 0;
        loop {
            let batch = self.claim(self.budget, self.settings.max_in_flight, &[], &[]).await?;
            if batch.is_empty() {
                return Ok(n);
            }
            let mut done = Vec::new();
            let stop = CancellationToken::new();
            // A chat whose message did not get through sends nothing more of this claim.
            let mut stopped: std::collections::HashSet<String> = std::collections::HashSet::new();
            for c in batch {
                let outcome =
                    if stopped.contains(&c.chat.key()) { Outcome::Released } else { self.send_one(&c, &stop).await };
                if !outcome.advances_chat() {
                    stopped.insert(c.chat.key());
                }
                done.push((c, outcome));
            }
            n += done.iter().filter(|(_, o)| !matches!(o, Outcome::Released)).count();
            self.finish_many(&done).await?;
        }
    }
}
