//! The service core: the inbound pipeline (store → bind identity → act → enqueue replies, in one
//! transaction) and what every workflow needs from the running service.

pub mod alerts;
pub mod broadcast;
pub mod bulletin;
pub mod calendar;
pub mod charts;
pub mod evidence;
pub mod examples;
pub mod exports;
pub mod handlers;
pub mod health;
pub mod info;
pub mod monthly;
pub mod paging;
pub mod pipeline;
pub mod rectify;
pub mod registry;
pub mod roster_load;
pub mod snapshot;
pub mod task;
pub mod web;
pub mod weekly;

use crate::chat::{Attachment, ChatKind, InboundMessage, InboundSink, Segment};
use crate::clock::SharedClock;
use crate::config::Settings;
use crate::db::{begin_write, Db, Tx};
use crate::domain::actor::Actor;
use crate::domain::calendar::Calendar;
use crate::outbox::{Directory, Envelope, Recipient};
use crate::store::{self, inbound::Stored};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use futures::FutureExt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use tokio::sync::Notify;

/// With the `fault-injection` feature (tests only), a message containing this text panics
/// inside its processing transaction, as a workflow bug would.
#[cfg(feature = "fault-injection")]
pub const FAULT_PANIC_MARKER: &str = "\u{1}dudao:panic\u{1}";

/// With the `fault-injection` feature, while [`FAULT_HANG_ARMED`] is set, a message containing
/// this text never finishes processing: its batch's transaction stays open, as when the process
/// dies mid-batch. [`FAULT_HANGING`] counts the messages stuck so.
#[cfg(feature = "fault-injection")]
pub const FAULT_HANG_MARKER: &str = "\u{1}dudao:hang\u{1}";
#[cfg(feature = "fault-injection")]
pub static FAULT_HANG_ARMED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
#[cfg(feature = "fault-injection")]
pub static FAULT_HANGING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// With the `fault-injection` feature, a stored message containing this text is not processed
/// (nor anything batched with it) until a test calls `FAULT_HOLD.notify_one()`: processing
/// falls behind while storing goes on, as on a slow machine.
#[cfg(feature = "fault-injection")]
pub const FAULT_HOLD_MARKER: &str = "\u{1}dudao:hold\u{1}";
#[cfg(feature = "fault-injection")]
pub static FAULT_HOLD: Notify = Notify::const_new();

/// With the `fault-injection` feature, the answer of a read-only command containing this text
/// waits, its read transaction open, until a test calls `FAULT_SLOW_READ.notify_one()`, as a
/// province-wide export would take its time. [`FAULT_SLOW_READING`] counts those waiting.
#[cfg(feature = "fault-injection")]
pub const FAULT_SLOW_READ_MARKER: &str = "\u{1}dudao:slow-read\u{1}";
#[cfg(feature = "fault-injection")]
pub static FAULT_SLOW_READ: Notify = Notify::const_new();
#[cfg(feature = "fault-injection")]
pub static FAULT_SLOW_READING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

pub struct App {
    pub db: Db,
    pub clock: SharedClock,
    pub settings: Arc<Settings>,
    pub tz: Tz,
    pub calendar: Arc<Calendar>,
    pub directory: Directory,
    /// Poked after every commit that enqueued messages for the workers to claim.
    pub outbox_notify: Arc<Notify>,
    /// The running workers that take answers claimed by the transaction that queued them.
    pub handoffs: Arc<crate::outbox::handoff::Handoffs>,
    /// Inbound messages waiting for their (shared) transaction.
    pub pipeline: pipeline::Pipeline,
    /// Who each chat account is and which groups are known, kept between messages.
    pub snapshot: snapshot::Snapshot,
    /// Turns for read-only commands (`service.reads_in_flight`), see [`App::answer_deferred`].
    read_slots: tokio::sync::Semaphore,
    /// Where transports' processing loops hand read-only commands (set by
    /// [`App::deferred_answers`] when the service runs).
    deferred_tx: std::sync::OnceLock<tokio::sync::mpsc::UnboundedSender<(i64, InboundMessage)>>,
    /// What jobs are given: clones of the fields above, so the scheduler needs no `App`.
    pub job_ctx: crate::scheduler::JobCtx,
    /// The workflows: their commands, free-text claims, jobs and schedules.
    pub registry: &'static registry::Registry,
    /// Counters for `/metrics`, one set per running service.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The running channel instances (set once by `service::start`), for `/readyz`, `/metrics`
    /// and admin alerts; empty in tools that run workflows without channels.
    pub channels: std::sync::OnceLock<Vec<Arc<dyn crate::chat::Channel>>>,
}

/// What an unbound account is told, whatever it sent.
pub const UNBOUND_HINT: &str = "您好，您的账号尚未绑定身份。请向督导室索取绑定码，然后私聊我发送“绑定 绑定码”。";

/// Everything a handler needs while processing one inbound message inside its transaction.
pub struct Ctx<'a> {
    pub app: &'a App,
    pub tx: &'a mut Tx<'static>,
    pub msg: &'a InboundMessage,
    pub inbound_id: i64,
    pub platform: &'static str,
    pub now: DateTime<Utc>,
    pub actor: Option<Actor>,
    /// Extra envelopes (notices to others) that commit with the transaction.
    pub outgoing: Vec<Envelope>,
    replies: Vec<Vec<Segment>>,
    /// The service's snapshot in the write path; a private one on a read snapshot, whose rows
    /// may be older than the service's and must not be cached for others.
    snapshot: &'a snapshot::Snapshot,
}

impl Ctx<'_> {
    /// The group this message came from, if it is one we know (from the snapshot).
    pub async fn here(&mut self) -> crate::sql::Result<Option<store::groups::Group>> {
        self.snapshot.group(self.tx, self.platform, &self.msg.chat.id).await
    }

    /// The active schools among `ids`, for matching names in texts (from the snapshot).
    pub async fn school_refs(
        &mut self,
        ids: &[i64],
    ) -> crate::sql::Result<Vec<crate::domain::school_match::SchoolRef>> {
        self.snapshot.school_refs(self.tx, ids).await
    }

    /// Every active school of the county as report texts are read against (from the snapshot).
    pub async fn county_refs(&mut self) -> crate::sql::Result<Arc<Vec<crate::domain::school_match::SchoolRef>>> {
        self.snapshot.county_refs(self.tx).await
    }

    /// Every active school of the county, by code (from the snapshot).
    pub async fn county_schools(&mut self) -> crate::sql::Result<Arc<Vec<store::people::SchoolRow>>> {
        self.snapshot.schools(self.tx).await
    }

    /// Answers the sender in the chat they wrote from; in a group the answer mentions them.
    pub fn reply(&mut self, text: impl Into<String>) {
        let mut segs = Vec::new();
        if self.msg.chat.kind == ChatKind::Group {
            let name = self.actor.as_ref().map(|a| a.name.clone()).or_else(|| self.msg.sender.display.clone());
            segs.push(Segment::Mention { user_id: self.msg.sender.id.clone(), name: name.unwrap_or_default() });
            segs.push(Segment::text(" "));
        }
        segs.push(Segment::text(text));
        self.replies.push(segs);
    }

    /// Sends a file (an export, a bulletin) to `to`, after an optional caption; queued in this
    /// transaction with the message's other effects. Where the channel that reaches `to` cannot
    /// carry files, the outbox sends a one-time download link instead (see `http.public_url`).
    pub fn send_file(
        &mut self,
        to: Recipient,
        file_name: impl Into<String>,
        bytes: impl Into<Arc<[u8]>>,
        caption: Option<String>,
    ) {
        let key = format!("in:{}:file{}", self.inbound_id, self.outgoing.len());
        let file = Attachment::new(file_name, bytes);
        self.outgoing.push(Envelope::file(key, to, file, caption, format!("inbound:{}", self.inbound_id)));
    }

    /// Answers the sender with a file in the chat they wrote from (the caption, if any, first;
    /// in a group it mentions them, like [`Ctx::reply`]).
    pub fn reply_file(&mut self, file_name: impl Into<String>, bytes: impl Into<Arc<[u8]>>, caption: Option<String>) {
        self.reply_attachment(Attachment::new(file_name, bytes), caption);
    }

    /// Answers the sender with `text` and then a picture (a chart) in the chat they wrote from:
    /// one answer, the text as the picture's caption. Channels that cannot show pictures get
    /// the text alone (see `Capabilities::can_send_images`), so the text must say what the
    /// picture shows.
    pub fn reply_image(&mut self, text: String, file_name: impl Into<String>, bytes: impl Into<Arc<[u8]>>) {
        self.reply_attachment(Attachment::image(file_name, bytes), Some(text));
    }

    fn reply_attachment(&mut self, attachment: Attachment, caption: Option<String>) {
        let mut segments = Vec::new();
        if let Some(c) = caption.filter(|c| !c.trim().is_empty()) {
            if self.in_group() {
                let name = self.actor.as_ref().map(|a| a.name.clone()).or_else(|| self.msg.sender.display.clone());
                segments.push(Segment::Mention { user_id: self.msg.sender.id.clone(), name: name.unwrap_or_default() });
                segments.push(Segment::text(" "));
            }
            segments.push(Segment::text(c));
        }
        let key = format!("in:{}:file{}", self.inbound_id, self.outgoing.len());
        let source = format!("inbound:{}", self.inbound_id);
        let to = Recipient::Chat(self.msg.chat.clone());
        self.outgoing.push(Envelope {
            prompted: true,
            attachment: Some(attachment),
            ..Envelope::new(key, to, segments, source)
        });
    }

    /// Tells an unbound account how to bind — at most once per `roster.unbound_hint_quiet_hours`,
    /// whatever it sends — so a stranger cannot spend the account's send budget that everyone's
    /// notices share. From a group, the hint goes privately when the channel can reach the sender.
    pub async fn hint_unbound(&mut self) -> anyhow::Result<()> {
        let quiet = chrono::Duration::hours(i64::from(self.app.settings.roster.unbound_hint_quiet_hours));
        let account = self.msg.sender.id.clone();
        if !store::binding::take_unbound_hint(self.tx, self.platform, &account, self.now, quiet).await? {
            return Ok(());
        }
        let privately = self.in_group()
            && self.app.directory.get(self.via()).is_some_and(|c| c.caps.can_push && c.caps.can_send_private);
        if privately {
            let chat = crate::chat::ChatRef::private(self.via().to_string(), account);
            self.outgoing.push(Envelope::new(
                format!("in:{}:hint", self.inbound_id),
                Recipient::Chat(chat),
                vec![Segment::text(UNBOUND_HINT)],
                format!("inbound:{}", self.inbound_id),
            ));
        } else {
            self.reply(UNBOUND_HINT);
        }
        Ok(())
    }

    pub fn today(&self) -> NaiveDate {
        self.now.with_timezone(&self.app.tz).date_naive()
    }

    pub fn in_group(&self) -> bool {
        self.msg.chat.kind == ChatKind::Group
    }

    pub fn via(&self) -> &str {
        &self.msg.chat.channel
    }

    pub async fn audit(
        &mut self,
        entity: &str,
        entity_id: Option<String>,
        action: &str,
        detail: serde_json::Value,
    ) -> crate::sql::Result<()> {
        let entry = store::audit::AuditEntry {
            actor_id: self.actor.as_ref().map(|a| a.person_id),
            via: &self.msg.chat.channel,
            entity,
            entity_id,
            action,
            detail,
        };
        store::audit::record(self.tx, self.now, entry).await
    }
}

impl App {
    /// The service core over an open, migrated database.
    pub fn new(
        db: Db,
        clock: SharedClock,
        settings: Arc<Settings>,
        calendar: Arc<Calendar>,
        directory: Directory,
    ) -> App {
        let job_ctx = crate::scheduler::JobCtx {
            clock: clock.clone(),
            settings: settings.clone(),
            tz: settings.timezone(),
            calendar: calendar.clone(),
            directory: directory.clone(),
        };
        let metrics = Arc::new(crate::metrics::Metrics::new(directory.iter().map(|c| c.name.clone())));
        db.observe_transactions(metrics.db_transactions.clone());
        App {
            read_slots: tokio::sync::Semaphore::new(settings.service.reads_in_flight.max(1)),
            deferred_tx: std::sync::OnceLock::new(),
            job_ctx,
            metrics,
            channels: std::sync::OnceLock::new(),
            registry: registry::Registry::builtin(),
            db,
            clock,
            tz: settings.timezone(),
            settings,
            calendar,
            directory,
            outbox_notify: Arc::new(Notify::new()),
            handoffs: Default::default(),
            pipeline: pipeline::Pipeline::default(),
            snapshot: snapshot::Snapshot::default(),
        }
    }

    /// Stores the message, then processes it once. Duplicate deliveries are ignored.
    pub async fn ingest(&self, msg: InboundMessage) -> anyhow::Result<()> {
        self.run_pipeline(vec![pipeline::Work::Deliver(msg)]).await.pop().unwrap_or(Ok(()))
    }

    /// Processes messages stored before a crash but never acted on.
    pub async fn recover_inbound(&self) -> anyhow::Result<usize> {
        let mut conn = self.db.acquire().await?;
        let pending = store::inbound::unprocessed(&mut conn).await?;
        drop(conn);
        let n = pending.len();
        let work = pending.into_iter().map(|(id, msg)| pipeline::Work::Stored(id, msg)).collect();
        self.run_pipeline(work).await.into_iter().collect::<anyhow::Result<Vec<()>>>()?;
        // Read-only commands whose answer was being built when the service stopped.
        let deferred = store::inbound::deferred(&mut *self.db.acquire().await?).await?;
        for (id, msg) in &deferred {
            self.answer_deferred(*id, msg).await?;
        }
        Ok(n + deferred.len())
    }

    /// Processes one message inside the batch's transaction: claims it, binds the sender, runs
    /// the workflow and queues the replies. `None` when the message was already processed (a
    /// second delivery that arrived before the first was processed).
    async fn process_in(
        &self,
        tx: &mut Tx<'static>,
        id: i64,
        msg: &InboundMessage,
    ) -> anyhow::Result<Option<Processed>> {
        let now = self.clock.now();
        let platform = self.directory.platform_of(&msg.chat.channel).unwrap_or("unknown");
        if !store::inbound::claim(tx, id).await? {
            return Ok(None);
        }
        #[cfg(feature = "fault-injection")]
        if msg.text().contains(FAULT_PANIC_MARKER) {
            panic!("fault injection: a workflow panicked mid-transaction");
        }
        #[cfg(feature = "fault-injection")]
        if msg.text().contains(FAULT_HANG_MARKER) && FAULT_HANG_ARMED.load(std::sync::atomic::Ordering::SeqCst) {
            FAULT_HANGING.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            std::future::pending::<()>().await;
        }
        self.snapshot.sync(tx).await?;
        if msg.chat.kind == ChatKind::Group {
            self.snapshot.touch_group(tx, platform, &msg.chat).await?;
        }
        let actor = self.snapshot.actor(tx, platform, &msg.sender.id).await?;
        let mut ctx = Ctx {
            app: self,
            tx: &mut *tx,
            msg,
            inbound_id: id,
            platform,
            now,
            actor,
            outgoing: Vec::new(),
            replies: Vec::new(),
            snapshot: &self.snapshot,
        };
        let intent = handlers::dispatch(&mut ctx).await?;
        let person_id = ctx.actor.as_ref().map(|a| a.person_id);
        if intent == handlers::DEFERRED {
            store::inbound::annotate(tx, id, person_id, intent).await?;
            store::inbound::defer(tx, id, now).await?;
            return Ok(Some(Processed::Deferred));
        }
        let answer = Answer {
            intent,
            person_id,
            replies: std::mem::take(&mut ctx.replies),
            outgoing: std::mem::take(&mut ctx.outgoing),
        };
        Ok(Some(Processed::Queued(self.queue_answer(tx, id, msg, now, answer).await?)))
    }

    /// Records what a message was and queues its answer: long replies paged, each reply and
    /// other send an outbox row; the answers in the sender's channel claimed for its running
    /// worker at once (`outbox::handoff`), to be handed over after the commit.
    async fn queue_answer(
        &self,
        tx: &mut Tx<'static>,
        id: i64,
        msg: &InboundMessage,
        now: DateTime<Utc>,
        answer: Answer,
    ) -> anyhow::Result<Queued> {
        let (replies, pages) = paging::paginate(answer.replies);
        store::inbound::annotate(tx, id, answer.person_id, answer.intent).await?;
        if !pages.is_empty() {
            store::pages::save(tx, &msg.chat, &msg.sender.id, &pages, now).await?;
        }
        let mut queued = 0;
        for (i, segments) in replies.into_iter().enumerate() {
            let env = Envelope {
                prompted: true,
                ..Envelope::new(
                    format!("in:{id}:{i}"),
                    Recipient::Chat(msg.chat.clone()),
                    segments,
                    format!("inbound:{id}"),
                )
            };
            queued += crate::outbox::enqueue(tx, &self.directory, now, env).await?;
        }
        for env in answer.outgoing {
            queued += crate::outbox::enqueue(tx, &self.directory, now, env).await?;
        }
        let handed = if queued > 0 {
            let lease = self.settings.outbox.lease_seconds;
            self.handoffs.claim(tx, &msg.chat.channel, id, now, lease).await?
        } else {
            None
        };
        Ok(Queued { count: queued, handed })
    }

    /// Answers a read-only command that its processing transaction deferred
    /// (`CommandSpec::reads_only`): the command runs again, with the same checks, on a read
    /// snapshot that holds no write lock — so however long a province's export takes, other
    /// messages are processed meanwhile — with at most `service.reads_in_flight` at once.
    /// Then one short write transaction takes the deferral back and queues the answer, so it
    /// is answered once; a deferral left by a crash is answered by [`App::recover_inbound`].
    pub(crate) async fn answer_deferred(&self, id: i64, msg: &InboundMessage) -> anyhow::Result<()> {
        let built = {
            let _turn = self.read_slots.acquire().await?;
            AssertUnwindSafe(self.read_answer(id, msg)).catch_unwind().await
        };
        let built = match built {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) => Err(format!("{e:#}")),
            Err(panic) => Err(format!("panicked: {}", panic_message(panic.as_ref()))),
        };
        let now = self.clock.now();
        let mut tx = begin_write(&self.db).await?;
        if !store::inbound::undefer(&mut tx, id).await? {
            return Ok(()); // answered meanwhile
        }
        let queued = match built {
            Ok(answer) => self.queue_answer(&mut tx, id, msg, now, answer).await?,
            Err(error) => {
                tracing::error!(id, channel = %msg.chat.channel, error = %error, "answering a read-only command failed");
                store::inbound::mark_deferred_failed(&mut tx, id, &error).await?;
                Queued::count(self.apologise(&mut tx, id, msg).await?)
            }
        };
        tx.commit().await?;
        self.hand_over(vec![queued]);
        Ok(())
    }

    /// After the commit that queued them: claimed answers to their worker, and the workers
    /// woken for anything else.
    pub(crate) fn hand_over(&self, queued: Vec<Queued>) {
        if queued.iter().any(Queued::to_claim) {
            self.outbox_notify.notify_waiters();
        }
        self.handoffs.deliver(queued.into_iter().filter_map(|q| q.handed));
    }

    /// Answers the read-only commands that transports' processing loops hand over
    /// ([`App::run_pipeline_handing_off`]), each on a task of its own (the turns of
    /// `service.reads_in_flight` still apply), until `shutdown`; answers under way then finish.
    /// A deferral never handed over (a crash) is answered at the next start.
    pub fn deferred_answers(
        self: &Arc<Self>,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(i64, InboundMessage)>();
        let _ = self.deferred_tx.set(tx);
        let app = self.clone();
        async move {
            let mut running = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    next = rx.recv() => {
                        let Some((id, msg)) = next else { break };
                        let app = app.clone();
                        running.spawn(async move {
                            if let Err(e) = app.answer_deferred(id, &msg).await {
                                tracing::error!(id, error = %e, "answering a read-only command failed");
                            }
                        });
                    }
                    Some(_) = running.join_next(), if !running.is_empty() => {}
                    _ = shutdown.cancelled() => break,
                }
            }
            while running.join_next().await.is_some() {}
        }
    }

    /// The answer of a deferred read-only command, built on a read snapshot.
    async fn read_answer(&self, id: i64, msg: &InboundMessage) -> anyhow::Result<Answer> {
        let platform = self.directory.platform_of(&msg.chat.channel).unwrap_or("unknown");
        let snapshot = snapshot::Snapshot::default();
        let mut tx = crate::db::begin_read(&self.db).await?;
        let actor = snapshot.actor(&mut tx, platform, &msg.sender.id).await?;
        #[cfg(feature = "fault-injection")]
        if msg.text().contains(FAULT_SLOW_READ_MARKER) {
            struct Waiting;
            impl Drop for Waiting {
                fn drop(&mut self) {
                    FAULT_SLOW_READING.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                }
            }
            FAULT_SLOW_READING.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let _waiting = Waiting;
            FAULT_SLOW_READ.notified().await;
        }
        let mut ctx = Ctx {
            app: self,
            tx: &mut tx,
            msg,
            inbound_id: id,
            platform,
            now: self.clock.now(),
            actor,
            outgoing: Vec::new(),
            replies: Vec::new(),
            snapshot: &snapshot,
        };
        let intent = handlers::dispatch(&mut ctx).await?;
        Ok(Answer {
            intent,
            person_id: ctx.actor.as_ref().map(|a| a.person_id),
            replies: std::mem::take(&mut ctx.replies),
            outgoing: std::mem::take(&mut ctx.outgoing),
        })
    }
}

/// The sends a transaction queued.
#[derive(Default)]
pub(crate) struct Queued {
    pub count: usize,
    /// Those of them claimed for their channel's worker, to hand over after the commit.
    pub handed: Option<crate::outbox::handoff::Handoff>,
}

impl Queued {
    pub fn count(count: usize) -> Self {
        Queued { count, handed: None }
    }

    /// Whether rows were queued that the worker must claim itself (it is woken for those).
    pub fn to_claim(&self) -> bool {
        self.count > self.handed.as_ref().map_or(0, |h| h.rows.len())
    }
}

/// What processing a message in the write path did.
pub(crate) enum Processed {
    /// Answered: these sends queued.
    Queued(Queued),
    /// A read-only command, to be answered by [`App::answer_deferred`] after the commit.
    Deferred,
}

/// A message's answer, before it is queued.
struct Answer {
    intent: &'static str,
    person_id: Option<i64>,
    replies: Vec<Vec<Segment>>,
    outgoing: Vec<Envelope>,
}

/// The text a panic carried, for the failure record.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

// ---- Store first, process later (transports without delivery acknowledgement) ----

impl App {
    /// Stores messages in one transaction without acting on them. Per message: its row id when
    /// it still needs processing, `None` for a duplicate that was already processed.
    pub async fn store_inbound(&self, msgs: &[InboundMessage]) -> anyhow::Result<Vec<Option<i64>>> {
        let now = self.clock.now();
        let mut tx = begin_write(&self.db).await?;
        let carried = self.handoffs.record_delivered(&mut tx).await?;
        let stored = self.store_in(&mut tx, msgs, now).await;
        let stored = match stored {
            Ok(ids) => tx.commit().await.map(|_| ids).map_err(anyhow::Error::from),
            Err(e) => Err(e),
        };
        let ids = match stored {
            Ok(ids) => ids,
            Err(e) => {
                self.handoffs.put_back(carried);
                return Err(e);
            }
        };
        for (msg, id) in msgs.iter().zip(&ids) {
            if id.is_none() {
                self.metrics.channel(&msg.chat.channel).inbound(crate::metrics::InboundOutcome::Duplicate);
            }
        }
        Ok(ids)
    }

    async fn store_in(
        &self,
        tx: &mut Tx<'static>,
        msgs: &[InboundMessage],
        now: DateTime<Utc>,
    ) -> anyhow::Result<Vec<Option<i64>>> {
        let mut ids = Vec::with_capacity(msgs.len());
        for msg in msgs {
            let platform = self.directory.platform_of(&msg.chat.channel).unwrap_or("unknown");
            ids.push(match store::inbound::store(tx, platform, msg, now).await? {
                Stored::Duplicate(id) => {
                    tracing::debug!(id, channel = %msg.chat.channel, "duplicate delivery ignored");
                    None
                }
                Stored::New(id) | Stored::Pending(id) => Some(id),
            });
        }
        Ok(ids)
    }

    /// Processes a message stored by [`App::store_inbound`]; does nothing if it already was.
    pub async fn process_stored(&self, id: i64, msg: &InboundMessage) -> anyhow::Result<()> {
        self.run_pipeline(vec![pipeline::Work::Stored(id, msg.clone())]).await.pop().unwrap_or(Ok(()))
    }
}

#[async_trait]
impl InboundSink for App {
    async fn deliver(&self, msg: InboundMessage) -> anyhow::Result<()> {
        self.ingest(msg).await
    }

    async fn store(&self, msgs: &[InboundMessage]) -> anyhow::Result<Vec<Option<i64>>> {
        self.store_inbound(msgs).await
    }

    async fn process_stored(&self, id: i64, msg: InboundMessage) -> anyhow::Result<()> {
        App::process_stored(self, id, &msg).await
    }

    async fn process_batch(&self, items: Vec<(i64, InboundMessage)>) -> Vec<anyhow::Result<()>> {
        #[cfg(feature = "fault-injection")]
        if items.iter().any(|(_, m)| m.text().contains(FAULT_HOLD_MARKER)) {
            FAULT_HOLD.notified().await;
        }
        let work = items.into_iter().map(|(id, m)| pipeline::Work::Stored(id, m)).collect();
        self.run_pipeline_handing_off(work).await
    }

    async fn process_pending(&self) -> anyhow::Result<usize> {
        self.recover_inbound().await
    }
}
