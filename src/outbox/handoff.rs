//! Answers handed straight to their channel's worker.
//!
//! An answer to an inbound message is normally written 'pending' and claimed by the worker in
//! a transaction of its own. When the channel's worker is running, the transaction that queues
//! the answer claims it too (`store::outbox::hand_off`, one statement), and after the commit the
//! claimed rows go to the worker in memory: no claim transaction, no due-time query, one fsync
//! fewer per answer. Nothing changes for durability: the rows are 'sending' under a lease like
//! any claimed row, so a crash before they are sent resends them at the next start
//! (`Worker::recover`), and a row the worker never takes is taken back when its lease ends.
//!
//! The outcome of a handed answer that went out is written by the next write transaction the
//! service runs anyway — storing or processing the next inbound message — instead of one of its
//! own ([`Handoffs::record_delivered`]); the worker writes it itself when no such transaction
//! comes within [`RECORD_WITHIN`]. Until then the row stays 'sending': a crash in that window
//! sends the answer again at the next start (at-least-once, as for any interrupted send).

use crate::db::ts;
use crate::store::outbox::HeadRow;
use crate::store::Conn;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How long a delivered answer's outcome waits for another transaction to carry it.
pub const RECORD_WITHIN: Duration = Duration::from_millis(20);

/// A handed answer the platform accepted, its outcome not written yet.
pub struct Delivered {
    pub id: i64,
    pub lease: String,
    pub platform_msg_id: Option<String>,
    pub at: DateTime<Utc>,
    /// When the worker put it here (real time, whatever the service's clock says).
    pub since: Instant,
}

/// Rows claimed by the transaction that queued them, for one channel's worker.
pub struct Handoff {
    pub channel: String,
    pub rows: Vec<HeadRow>,
    /// The lease the rows carry.
    pub lease: String,
    pub lease_at: DateTime<Utc>,
}

/// One running worker's intake.
struct Intake {
    tx: mpsc::UnboundedSender<Handoff>,
    /// Rows handed and not yet finished: past `limit` answers wait for an ordinary claim, so a
    /// flood cannot pile up more sends in memory than the worker would claim itself.
    outstanding: Arc<AtomicUsize>,
    limit: usize,
}

/// The running workers that take answers directly, by channel name.
#[derive(Default)]
pub struct Handoffs {
    intakes: RwLock<HashMap<String, Intake>>,
    delivered: Mutex<Vec<Delivered>>,
}

/// A worker's side of its registration.
pub struct Registration {
    pub rx: mpsc::UnboundedReceiver<Handoff>,
    pub outstanding: Arc<AtomicUsize>,
}

impl Handoffs {
    /// Registers the running worker of `channel`, which keeps at most `limit` handed rows.
    pub fn register(&self, channel: &str, limit: usize) -> Registration {
        let (tx, rx) = mpsc::unbounded_channel();
        let outstanding = Arc::new(AtomicUsize::new(0));
        let intake = Intake { tx, outstanding: outstanding.clone(), limit: limit.max(1) };
        self.intakes.write().unwrap_or_else(|e| e.into_inner()).insert(channel.to_string(), intake);
        Registration { rx, outstanding }
    }

    /// The worker of `channel` stopped: answers are claimed the ordinary way again.
    pub fn unregister(&self, channel: &str) {
        self.intakes.write().unwrap_or_else(|e| e.into_inner()).remove(channel);
    }

    /// Whether `channel` has a running worker with room for more handed rows.
    fn open(&self, channel: &str) -> bool {
        let intakes = self.intakes.read().unwrap_or_else(|e| e.into_inner());
        intakes.get(channel).is_some_and(|i| !i.tx.is_closed() && i.outstanding.load(Ordering::Relaxed) < i.limit)
    }

    /// Claims, inside the transaction that queued them, the answers of the inbound message
    /// `inbound_id` on `channel` (every outbox key `in:<id>:…`), when that channel's worker runs.
    /// Hand the result over with [`Handoffs::deliver`] once the transaction has committed.
    pub async fn claim(
        &self,
        conn: &mut Conn,
        channel: &str,
        inbound_id: i64,
        now: DateTime<Utc>,
        lease_seconds: u64,
    ) -> crate::sql::Result<Option<Handoff>> {
        if !self.open(channel) {
            return Ok(None);
        }
        let lease_at = now + ChronoDuration::seconds(lease_seconds.max(1) as i64);
        let lease = ts(lease_at);
        // Every key of the family sorts between "in:<id>:" and "in:<id>;" (';' follows ':').
        let (from, to) = (format!("in:{inbound_id}:"), format!("in:{inbound_id};"));
        let rows = crate::store::outbox::hand_off(conn, channel, &from, &to, &lease).await?;
        Ok((!rows.is_empty()).then(|| Handoff { channel: channel.to_string(), rows, lease, lease_at }))
    }

    /// Gives committed hand-offs to their workers. A worker that stopped meanwhile leaves its
    /// rows 'sending': they are sent again at the next start, like any interrupted send.
    pub fn deliver(&self, handoffs: impl IntoIterator<Item = Handoff>) {
        let intakes = self.intakes.read().unwrap_or_else(|e| e.into_inner());
        for h in handoffs {
            let refused = match intakes.get(&h.channel) {
                None => Some(h),
                Some(intake) => {
                    intake.outstanding.fetch_add(h.rows.len(), Ordering::Relaxed);
                    intake.tx.send(h).err().map(|e| {
                        intake.outstanding.fetch_sub(e.0.rows.len(), Ordering::Relaxed);
                        e.0
                    })
                }
            };
            if let Some(h) = refused {
                tracing::warn!(channel = %h.channel, rows = h.rows.len(), "answers claimed for a worker that stopped; sent at the next start");
            }
        }
    }

    /// Keeps a delivered answer's outcome for the next write transaction.
    pub fn delivered(&self, d: Delivered) {
        self.delivered.lock().unwrap_or_else(|e| e.into_inner()).push(d);
    }

    /// How long the oldest outcome kept has waited.
    pub fn oldest_delivered(&self) -> Option<Duration> {
        let kept = self.delivered.lock().unwrap_or_else(|e| e.into_inner());
        kept.iter().map(|d| d.since.elapsed()).max()
    }

    /// Writes the kept outcomes in `conn`, a write transaction. Returns what it wrote: should the
    /// transaction not commit, give it back with [`Handoffs::put_back`].
    pub async fn record_delivered(&self, conn: &mut Conn) -> crate::sql::Result<Vec<Delivered>> {
        let taken = std::mem::take(&mut *self.delivered.lock().unwrap_or_else(|e| e.into_inner()));
        let mut failed = None;
        for d in &taken {
            let sent = crate::store::outbox::SendOutcome::Sent { platform_msg_id: d.platform_msg_id.as_deref() };
            match crate::store::outbox::record_outcome(conn, d.id, &d.lease, sent, d.at).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(
                        id = d.id,
                        "send outcome not recorded: the lease expired and the message was taken over"
                    )
                }
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        if let Some(e) = failed {
            // The transaction is lost: none of it is written.
            self.put_back(taken);
            return Err(e);
        }
        Ok(taken)
    }

    /// Outcomes taken by a transaction that did not commit.
    pub fn put_back(&self, mut outcomes: Vec<Delivered>) {
        if outcomes.is_empty() {
            return;
        }
        let mut kept = self.delivered.lock().unwrap_or_else(|e| e.into_inner());
        outcomes.append(&mut kept);
        *kept = outcomes;
    }
}
