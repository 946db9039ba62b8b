//! Group commit for inbound messages.
//!
//! Every inbound message is processed inside a write transaction that also holds its replies,
//! and every commit costs an fsync. Messages that arrive together share one transaction: the
//! first caller to find the pipeline idle becomes the leader, takes everything queued (up to
//! [`MAX_BATCH`]) and processes it in arrival order, each message under its own savepoint, so a
//! message whose workflow fails or panics is rolled back alone, marked `failed` and answered
//! politely, while the others commit. Callers wait until the commit that holds their message:
//! a webhook is answered, or a OneBot message counted done, only once its effects are durable.
//! With one message in flight this is exactly one transaction per message, as before, and no
//! savepoint: a lone message that fails rolls the transaction back and is recorded in another.

use super::{App, Processed, Queued};
use crate::chat::{ChatKind, InboundMessage, Segment};
use crate::db::{self, Tx};
use crate::metrics::InboundOutcome;
use crate::outbox::{Envelope, Recipient};
use crate::store::{self, inbound::Stored};
use futures::FutureExt;
use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use tokio::sync::oneshot;

/// The most messages one transaction takes. Large enough that a burst shares few fsyncs, small
/// enough that the first message of a batch is not kept waiting long for the last.
pub const MAX_BATCH: usize = 64;

/// What a caller hands the pipeline.
#[derive(Clone)]
pub enum Work {
    /// A message not stored yet: stored (deduplicated) and processed in the same transaction.
    Deliver(InboundMessage),
    /// A message stored earlier (`App::store_inbound`), processed unless it already was.
    Stored(i64, InboundMessage),
}

impl Work {
    fn msg(&self) -> &InboundMessage {
        match self {
            Work::Deliver(m) | Work::Stored(_, m) => m,
        }
    }
}

/// How one message of a batch went.
enum Step {
    /// Processed, or failed and recorded (or a duplicate); the sends queued; the row id of a
    /// read-only command its caller answers after the commit (`App::answer_deferred`).
    Done(Queued, InboundOutcome, Option<i64>),
    /// Failed outside a savepoint: the transaction must be rolled back, then this recorded.
    Failed(String),
}

/// What a caller learns of its message: `Ok(Some(id))` when it committed and is a read-only
/// command still to answer; `Err` with the reason when its batch could not commit.
type Outcome = Result<Option<i64>, String>;

struct Pending {
    work: Work,
    /// When the pipeline took it (its processing latency runs from here to the commit).
    since: std::time::Instant,
    done: oneshot::Sender<Outcome>,
}

/// The queue of messages waiting for a transaction and the leader's baton.
#[derive(Default)]
pub struct Pipeline {
    queue: Mutex<VecDeque<Pending>>,
    leader: tokio::sync::Mutex<()>,
    committed_batches: AtomicU64,
    committed_messages: AtomicU64,
}

impl Pipeline {
    fn push(&self, work: Work) -> oneshot::Receiver<Outcome> {
        let (done, rx) = oneshot::channel();
        let since = std::time::Instant::now();
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).push_back(Pending { work, since, done });
        rx
    }

    /// Transactions committed so far and the messages they held: the mean batch size.
    pub fn committed(&self) -> (u64, u64) {
        (self.committed_batches.load(Ordering::Relaxed), self.committed_messages.load(Ordering::Relaxed))
    }

    fn take_batch(&self) -> Vec<Pending> {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let n = q.len().min(MAX_BATCH);
        q.drain(..n).collect()
    }
}

impl App {
    /// Runs `items` through the pipeline; one result per item, in order. Returns once every item
    /// is committed (or has failed to be).
    /// A read-only command is answered here, after the commit, on the caller's task and
    /// outside the write path (`App::answer_deferred`).
    pub async fn run_pipeline(&self, items: Vec<Work>) -> Vec<anyhow::Result<()>> {
        let (mut results, deferred) = self.commit_all(items).await;
        for (i, id, msg) in deferred {
            results[i] = self.answer_deferred(id, &msg).await;
        }
        results
    }

    /// As [`App::run_pipeline`], but read-only commands are handed to the service's readers
    /// (`App::deferred_answers`) when they run, so the caller — a transport's processing loop —
    /// goes on to its next messages meanwhile.
    pub async fn run_pipeline_handing_off(&self, items: Vec<Work>) -> Vec<anyhow::Result<()>> {
        let (mut results, deferred) = self.commit_all(items).await;
        for (i, id, msg) in deferred {
            if let Some(readers) = self.deferred_tx.get() {
                if readers.send((id, msg.clone())).is_ok() {
                    continue;
                }
            }
            results[i] = self.answer_deferred(id, &msg).await;
        }
        results
    }

    /// Commits `items`; one result per item, and the read-only commands still to answer (their
    /// index, row id and message).
    async fn commit_all(&self, items: Vec<Work>) -> (Vec<anyhow::Result<()>>, Vec<(usize, i64, InboundMessage)>) {
        let mut waiting: Vec<(Work, oneshot::Receiver<Outcome>)> =
            items.into_iter().map(|w| (w.clone(), self.pipeline.push(w))).collect();
        let mut results = Vec::with_capacity(waiting.len());
        let mut deferred = Vec::new();
        for (i, (work, rx)) in waiting.iter_mut().enumerate() {
            loop {
                match rx.try_recv() {
                    Ok(r) => {
                        if let Ok(Some(id)) = r {
                            deferred.push((i, id));
                        }
                        results.push(r.map(|_| ()).map_err(anyhow::Error::msg));
                        break;
                    }
                    Err(oneshot::error::TryRecvError::Closed) => {
                        // The leader that took it was cancelled mid-batch (its transaction rolled
                        // back): queue it again.
                        *rx = self.pipeline.push(work.clone());
                    }
                    Err(oneshot::error::TryRecvError::Empty) => {}
                }
                let _lead = self.pipeline.leader.lock().await;
                if !matches!(rx.try_recv(), Err(oneshot::error::TryRecvError::Empty)) {
                    continue; // done (or dropped) by the leader before us; read it above
                }
                let batch = self.pipeline.take_batch();
                self.commit_batch(batch).await;
            }
        }
        let deferred = deferred.into_iter().map(|(i, id)| (i, id, waiting[i].0.msg().clone())).collect();
        (results, deferred)
    }

    /// Processes a batch in one transaction and tells each waiting caller the outcome.
    async fn commit_batch(&self, batch: Vec<Pending>) {
        if batch.is_empty() {
            return;
        }
        self.snapshot.begin_batch();
        let outcome = self.batch_in_tx(&batch).await;
        self.snapshot.end_batch(outcome.is_ok());
        match outcome {
            Ok((queued, deferred)) => {
                self.pipeline.committed_batches.fetch_add(1, Ordering::Relaxed);
                self.pipeline.committed_messages.fetch_add(batch.len() as u64, Ordering::Relaxed);
                self.hand_over(queued);
                for (p, d) in batch.into_iter().zip(deferred) {
                    let _ = p.done.send(Ok(d));
                }
            }
            Err(e) => {
                let e = format!("{e:#}");
                tracing::error!(messages = batch.len(), error = %e, "a batch of inbound messages could not be committed");
                for p in batch {
                    let _ = p.done.send(Err(e.clone()));
                }
            }
        }
    }

    /// The batch's transaction. An error here is the database's (the transaction is gone and
    /// nothing of the batch is kept); a workflow's error or panic is contained per message.
    /// Per message, the row id of a read-only command still to answer.
    async fn batch_in_tx(&self, batch: &[Pending]) -> anyhow::Result<(Vec<Queued>, Vec<Option<i64>>)> {
        let mut tx = db::begin_write(&self.db).await?;
        // Answers delivered since the last write: their outcomes ride along (outbox::handoff).
        let carried = self.handoffs.record_delivered(&mut tx).await?;
        match self.batch_steps(tx, batch).await {
            Ok((queued, deferred, true)) => Ok((queued, deferred)),
            Ok((queued, deferred, false)) => {
                self.handoffs.put_back(carried);
                Ok((queued, deferred))
            }
            Err(e) => {
                self.handoffs.put_back(carried);
                Err(e)
            }
        }
    }

    /// The batch's steps in `tx`; also whether `tx` committed (a lone message that failed
    /// rolls it back and is recorded in a transaction of its own).
    async fn batch_steps(
        &self,
        mut tx: Tx<'static>,
        batch: &[Pending],
    ) -> anyhow::Result<(Vec<Queued>, Vec<Option<i64>>, bool)> {
        // A message alone needs no savepoint: should it fail, the whole transaction rolls back
        // and a second one records the failure — two statements fewer on each message of a
        // service that is not busy, the common case.
        let alone = batch.len() == 1;
        let mut queued = Vec::with_capacity(batch.len());
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut deferred = Vec::with_capacity(batch.len());
        for p in batch {
            match self.one_in_batch(&mut tx, &p.work, !alone).await? {
                Step::Done(q, outcome, d) => {
                    queued.push(q);
                    outcomes.push(outcome);
                    deferred.push(d);
                }
                Step::Failed(error) => {
                    tx.rollback().await?;
                    self.snapshot.clear();
                    let queued = self.record_alone(&p.work, &error).await?;
                    self.count(std::iter::once((p, InboundOutcome::Failed)));
                    return Ok((vec![Queued::count(queued)], vec![None], false));
                    // alone: the batch is this message
                }
            }
        }
        tx.commit().await?;
        // Counted once durable: a batch that failed to commit is processed again.
        self.count(batch.iter().zip(outcomes));
        Ok((queued, deferred, true))
    }

    /// Counts committed messages by channel and outcome, with their latency.
    fn count<'a>(&self, done: impl Iterator<Item = (&'a Pending, InboundOutcome)>) {
        let now = std::time::Instant::now();
        for (p, outcome) in done {
            self.metrics.channel(&p.work.msg().chat.channel).inbound(outcome);
            if outcome != InboundOutcome::Duplicate {
                self.metrics.processing.observe(now.saturating_duration_since(p.since));
            }
        }
    }

    /// Stores (when needed) and processes one message of a batch. With `guarded`, a failure is
    /// rolled back to the message's savepoint and recorded here; without, it is returned for
    /// the caller to roll the transaction back.
    async fn one_in_batch(&self, tx: &mut Tx<'static>, work: &Work, guarded: bool) -> anyhow::Result<Step> {
        let msg = work.msg();
        let Some(id) = self.stored_id(tx, work).await? else {
            return Ok(Step::Done(Queued::default(), InboundOutcome::Duplicate, None));
        };
        if guarded {
            db::savepoint(tx).await?;
        }
        let outcome = AssertUnwindSafe(self.process_in(tx, id, msg)).catch_unwind().await;
        let error = match outcome {
            Ok(Ok(done)) => {
                if guarded {
                    db::release_savepoint(tx).await?;
                }
                return Ok(match done {
                    Some(Processed::Queued(queued)) => Step::Done(queued, InboundOutcome::Processed, None),
                    Some(Processed::Deferred) => Step::Done(Queued::default(), InboundOutcome::Processed, Some(id)),
                    None => Step::Done(Queued::default(), InboundOutcome::Duplicate, None),
                });
            }
            Ok(Err(e)) => format!("{e:#}"),
            Err(panic) => format!("panicked: {}", super::panic_message(panic.as_ref())),
        };
        tracing::error!(id, channel = %msg.chat.channel, error = %error, "processing an inbound message failed");
        if !guarded {
            return Ok(Step::Failed(error));
        }
        db::rollback_to_savepoint(tx).await?;
        // What the failed message read may have included its own undone writes.
        self.snapshot.clear();
        Ok(Step::Done(Queued::count(self.record_failure(tx, id, msg, &error).await?), InboundOutcome::Failed, None))
    }

    /// The row id of the message, storing it first when it comes straight from the platform;
    /// `None` for a duplicate delivery of one already processed.
    async fn stored_id(&self, tx: &mut Tx<'static>, work: &Work) -> anyhow::Result<Option<i64>> {
        match work {
            Work::Stored(id, _) => Ok(Some(*id)),
            Work::Deliver(msg) => {
                let platform = self.directory.platform_of(&msg.chat.channel).unwrap_or("unknown");
                match store::inbound::store(tx, platform, msg, self.clock.now()).await? {
                    Stored::Duplicate(id) => {
                        tracing::debug!(id, channel = %msg.chat.channel, "duplicate delivery ignored");
                        Ok(None)
                    }
                    Stored::New(id) | Stored::Pending(id) => Ok(Some(id)),
                }
            }
        }
    }

    /// Records the failure of a message processed alone, in a transaction of its own (the one
    /// it failed in was rolled back, the message's row with it if it was stored there).
    async fn record_alone(&self, work: &Work, error: &str) -> anyhow::Result<usize> {
        let mut tx = db::begin_write(&self.db).await?;
        let queued = match self.stored_id(&mut tx, work).await? {
            Some(id) => self.record_failure(&mut tx, id, work.msg(), error).await?,
            None => 0,
        };
        tx.commit().await?;
        Ok(queued)
    }

    /// Marks a message `failed` and, when the sender was talking to the bot, says so politely.
    async fn record_failure(
        &self,
        tx: &mut Tx<'static>,
        id: i64,
        msg: &InboundMessage,
        error: &str,
    ) -> anyhow::Result<usize> {
        if !store::inbound::mark_failed(tx, id, error).await? {
            // Processed meanwhile (a duplicate delivery raced this one): nothing to report.
            return Ok(0);
        }
        self.apologise(tx, id, msg).await
    }

    /// Tells the sender, when they were talking to the bot, that their message failed.
    pub(super) async fn apologise(&self, tx: &mut Tx<'static>, id: i64, msg: &InboundMessage) -> anyhow::Result<usize> {
        let is_command = std::panic::catch_unwind(|| crate::domain::command::parse(&msg.command_text()).is_some());
        let addressed = msg.to_me || msg.chat.kind == ChatKind::Private || is_command.unwrap_or(false);
        if !addressed {
            return Ok(0);
        }
        let env = Envelope {
            prompted: true,
            ..Envelope::new(
                format!("in:{id}:error"),
                Recipient::Chat(msg.chat.clone()),
                vec![Segment::text("抱歉，处理您的消息时出现问题，已记录，请稍后再试或联系督导室。")],
                format!("inbound:{id}"),
            )
        };
        Ok(crate::outbox::enqueue(tx, &self.directory, self.clock.now(), env).await?)
    }
}
