//! One connection's life, the same for both transports: read frames, hand results to waiting
//! actions, store messages and pass them on for processing in order, and watch liveness.
//!
//! OneBot v11 has no delivery acknowledgement: a message the implementation has written to the
//! socket is never sent again. So the frame loop stores every message durably (a burst in one
//! transaction) before it reads further, and only then queues it for processing, which runs in
//! a task of its own. A message is thus never held only in memory, and action results keep being
//! read however far processing lags. When the processing queue is full the message (already
//! stored) is not queued; the processing task catches up from the database once its queue is
//! empty, in order (and a restart's recovery pass would do the same).

use super::api::{Conn, Outgoing};
use super::wire::{self, Event, Frame};
use super::OneBotChannel;
use crate::chat::channel::{ChannelContext, InboundSink};
use crate::chat::model::InboundMessage;
use futures::{FutureExt, Stream, StreamExt};
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Our own WebSocket pings, so a silently dead peer is noticed even without heartbeats.
const PING_EVERY: Duration = Duration::from_secs(30);
/// Missing this many heartbeats in a row means the connection is dead.
const MISSED_HEARTBEATS: u32 = 3;
/// Frames already received are taken together, so a burst is stored in few transactions.
const STORE_BATCH: usize = 256;
/// Stored messages waiting for processing, per connection; beyond this the catch-up pass takes over.
const PROCESS_QUEUE: usize = 1024;

/// Why a session ended, for the forward client's backoff.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    Shutdown,
    Closed,
}

/// Runs a connection until it closes or the service stops. `account` is known up front in
/// reverse mode (`X-Self-ID`); in forward mode it comes from the first event or `get_login_info`.
pub async fn run<S>(
    ch: Arc<OneBotChannel>,
    ctx: ChannelContext,
    transport: &'static str,
    account: Option<String>,
    can_call: bool,
    out: mpsc::Sender<Outgoing>,
    mut frames: S,
) -> Ended
where
    S: Stream<Item = Result<String, String>> + Unpin,
{
    let conn = Arc::new(Conn::new(ch.next_conn_id(), transport, can_call, out));
    // One processing task per connection keeps each connection's messages in order.
    let (process_tx, process_rx) = mpsc::channel::<(i64, InboundMessage)>(PROCESS_QUEUE);
    let behind = Arc::new(AtomicBool::new(false));
    tokio::spawn(process_loop(ctx.sink.clone(), process_rx, behind.clone()));
    let mut inbox = Inbox { sink: ctx.sink.clone(), pending: Vec::new(), queue: process_tx, behind, conn: conn.id };

    let mut account = account;
    if let Some(a) = &account {
        ch.register(a, conn.clone());
    }
    let (login_tx, mut login_rx) = mpsc::channel::<String>(1);
    if account.is_none() && can_call {
        let (c, timeout) = (conn.clone(), ch.settings.api_timeout());
        tokio::spawn(async move {
            match c.call_ok("get_login_info", json!({}), timeout).await {
                Ok(data) => {
                    if let Some(id) = data.get("user_id").and_then(wire::qq_id_of) {
                        let _ = login_tx.send(id).await;
                    }
                }
                Err(e) => tracing::debug!(conn = c.id, error = %e, "get_login_info failed; waiting for an event"),
            }
        });
    }

    let mut ping = tokio::time::interval_at(Instant::now() + PING_EVERY, PING_EVERY);
    let mut silence_limit: Option<Duration> = None;
    let mut last_frame = Instant::now();
    let far = Duration::from_secs(86_400 * 365);
    let ended = loop {
        let dead_at = last_frame + silence_limit.unwrap_or(far);
        tokio::select! {
            _ = ctx.shutdown.cancelled() => {
                conn.try_send(Outgoing::Close);
                break Ended::Shutdown;
            }
            f = frames.next() => {
                let mut first = Some(f);
                let mut end = None;
                for _ in 0..STORE_BATCH {
                    let f = match first.take() {
                        Some(f) => f,
                        None => match frames.next().now_or_never() {
                            Some(f) => f,
                            None => break,
                        },
                    };
                    let text = match f {
                        Some(Ok(t)) => t,
                        Some(Err(e)) => {
                            tracing::info!(conn = conn.id, error = %e, "OneBot connection lost");
                            end = Some(Ended::Closed);
                            break;
                        }
                        None => {
                            end = Some(Ended::Closed);
                            break;
                        }
                    };
                    last_frame = Instant::now();
                    let frame = match wire::parse_frame(&text) {
                        Ok(f) => f,
                        Err(e) => {
                            tracing::warn!(conn = conn.id, error = %e, len = text.len(), "unreadable OneBot frame ignored");
                            continue;
                        }
                    };
                    let ev = match frame {
                        Frame::Response(r) => {
                            // Whatever came before a result is durable before anyone acts on it.
                            inbox.flush().await;
                            conn.resolve(r);
                            continue;
                        }
                        Frame::Unknown => continue,
                        Frame::Event(Event::Invalid { post_type, field }) => {
                            tracing::warn!(conn = conn.id, account = ?account, %post_type, field, "OneBot event with an id that is not a QQ number rejected");
                            continue;
                        }
                        Frame::Event(ev) => ev,
                    };
                    if account.is_none() {
                        if let Some(a) = ev.self_id() {
                            account = Some(a.to_string());
                            ch.register(a, conn.clone());
                        }
                    }
                    let Some(acc) = account.as_deref() else {
                        tracing::debug!(conn = conn.id, "event before the account is known ignored");
                        continue;
                    };
                    match ev {
                        Event::Message(m) => {
                            if m.self_id.as_deref().is_some_and(|s| s != acc) {
                                tracing::warn!(conn = conn.id, account = acc, "message for another account on this connection ignored");
                                continue;
                            }
                            if let Some(msg) = ch.inbound(acc, &m) {
                                inbox.pending.push(msg);
                            }
                        }
                        Event::Heartbeat { interval_ms, online, .. } => {
                            if let Some(ms) = interval_ms.filter(|&ms| ms > 0) {
                                silence_limit = Some(Duration::from_millis(ms).saturating_mul(MISSED_HEARTBEATS).max(Duration::from_secs(1)));
                            }
                            if let Some(on) = online {
                                if !on && conn.online.swap(false, Ordering::Relaxed) {
                                    tracing::warn!(account = acc, "OneBot reports the QQ account offline");
                                }
                                conn.online.store(on, Ordering::Relaxed);
                            }
                        }
                        Event::Lifecycle { sub_type, .. } => {
                            tracing::info!(conn = conn.id, account = acc, %sub_type, "OneBot lifecycle event");
                        }
                        Event::Other { post_type, .. } => {
                            tracing::trace!(conn = conn.id, %post_type, "OneBot event ignored");
                        }
                        Event::Invalid { .. } => {}
                    }
                }
                inbox.flush().await;
                if let Some(e) = end {
                    break e;
                }
            }
            Some(id) = login_rx.recv(), if account.is_none() => {
                ch.register(&id, conn.clone());
                account = Some(id);
            }
            _ = ping.tick() => conn.try_send(Outgoing::Ping),
            _ = tokio::time::sleep_until(dead_at) => {
                tracing::warn!(conn = conn.id, account = ?account, "no heartbeat from OneBot; dropping the connection");
                conn.try_send(Outgoing::Close);
                break Ended::Closed;
            }
        }
    };
    // Ends the writer even while a send in flight still holds the connection.
    conn.try_send(Outgoing::Close);
    conn.close();
    if let Some(a) = &account {
        ch.unregister(a, &conn);
    }
    ended
}

/// Messages read but not yet stored, and where stored ones go for processing.
struct Inbox {
    sink: Arc<dyn InboundSink>,
    pending: Vec<InboundMessage>,
    queue: mpsc::Sender<(i64, InboundMessage)>,
    /// Set when the queue was full: stored messages are left to the catch-up pass (queueing
    /// later ones meanwhile would process them before earlier ones).
    behind: Arc<AtomicBool>,
    conn: u64,
}

impl Inbox {
    /// Stores what was read, then queues it for processing. The frame loop waits for this: it
    /// is the backpressure on the implementation. The implementation will not send a message
    /// again, so a failed store is retried a few times before it is given up (and logged).
    async fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let msgs = std::mem::take(&mut self.pending);
        let mut delay = Duration::from_millis(100);
        let mut attempt = 1;
        let ids = loop {
            match self.sink.store(&msgs).await {
                Ok(ids) => break ids,
                Err(e) if attempt == 5 => {
                    let first = msgs.first().map(|m| m.platform_msg_id.as_str()).unwrap_or_default();
                    tracing::error!(conn = self.conn, count = msgs.len(), first, error = %e, "QQ messages could not be stored; dropped");
                    return;
                }
                Err(e) => {
                    tracing::warn!(conn = self.conn, count = msgs.len(), error = %e, "storing QQ messages failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 3;
                    attempt += 1;
                }
            }
        };
        for (id, msg) in ids.into_iter().zip(msgs) {
            let Some(id) = id else { continue };
            if self.behind.load(Ordering::SeqCst) {
                continue;
            }
            match self.queue.try_send((id, msg)) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    self.behind.store(true, Ordering::SeqCst);
                    tracing::warn!(
                        conn = self.conn,
                        queued = PROCESS_QUEUE,
                        "processing is behind; further QQ messages are stored and processed in a catch-up pass"
                    );
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    tracing::error!(
                        conn = self.conn,
                        id,
                        "QQ message stored but the processing task is gone; it is processed at the next start"
                    );
                }
            }
        }
    }
}

/// The most stored messages handed to the pipeline at once.
const PROCESS_BATCH: usize = 64;

/// Processes stored messages in order; when the queue has overflowed, catches up from the
/// database once the queue is empty.
async fn process_loop(
    sink: Arc<dyn InboundSink>,
    mut rx: mpsc::Receiver<(i64, InboundMessage)>,
    behind: Arc<AtomicBool>,
) {
    loop {
        let item = rx.recv().await;
        let done = item.is_none();
        if let Some(first) = item {
            // Whatever else is already queued goes with it: one transaction for the lot.
            let mut items = vec![first];
            while items.len() < PROCESS_BATCH {
                match rx.try_recv() {
                    Ok(next) => items.push(next),
                    Err(_) => break,
                }
            }
            let ids: Vec<i64> = items.iter().map(|(id, _)| *id).collect();
            for (id, r) in ids.into_iter().zip(sink.process_batch(items).await) {
                if let Err(e) = r {
                    tracing::error!(id, error = %e, "processing a stored QQ message failed");
                }
            }
        }
        // Cleared before the pass: a message stored after the pass has read the table is queued.
        if rx.is_empty() && behind.swap(false, Ordering::SeqCst) {
            match sink.process_pending().await {
                Ok(n) => tracing::info!(processed = n, "caught up with stored QQ messages"),
                Err(e) => tracing::error!(error = %e, "catching up with stored QQ messages failed"),
            }
        }
        if done {
            return;
        }
    }
}
