//! One connection's life, the same for both transports: read frames, hand results to waiting
//! actions, pass messages to the pipeline in order, and watch liveness.

use super::api::{Conn, Outgoing};
use super::wire::{self, Event, Frame};
use super::OneBotChannel;
use crate::chat::channel::{ChannelContext, InboundSink};
use crate::chat::model::InboundMessage;
use futures::{Stream, StreamExt};
use serde_json::json;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Our own WebSocket pings, so a silently dead peer is noticed even without heartbeats.
const PING_EVERY: Duration = Duration::from_secs(30);
/// Missing this many heartbeats in a row means the connection is dead.
const MISSED_HEARTBEATS: u32 = 3;
const DELIVERY_QUEUE: usize = 1024;

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
    // Messages are stored by a separate task so action results keep flowing while the database
    // is busy; one task per connection keeps each connection's messages in order.
    let (deliver_tx, deliver_rx) = mpsc::channel::<InboundMessage>(DELIVERY_QUEUE);
    tokio::spawn(deliver_loop(ctx.sink.clone(), deliver_rx));

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
                    if let Some(id) = data.get("user_id").and_then(wire::id_of) {
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
                let text = match f {
                    Some(Ok(t)) => t,
                    Some(Err(e)) => {
                        tracing::info!(conn = conn.id, error = %e, "OneBot connection lost");
                        break Ended::Closed;
                    }
                    None => break Ended::Closed,
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
                        conn.resolve(r);
                        continue;
                    }
                    Frame::Unknown => continue,
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
                            if deliver_tx.send(msg).await.is_err() {
                                break Ended::Closed;
                            }
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

/// Stores messages one by one. The implementation will not send a message again, so a failed
/// store is retried a few times before it is given up (and logged).
async fn deliver_loop(sink: Arc<dyn InboundSink>, mut rx: mpsc::Receiver<InboundMessage>) {
    while let Some(msg) = rx.recv().await {
        let mut delay = Duration::from_millis(100);
        for attempt in 1..=5 {
            match sink.deliver(msg.clone()).await {
                Ok(()) => break,
                Err(e) if attempt == 5 => {
                    tracing::error!(id = %msg.platform_msg_id, error = %e, "QQ message could not be stored; dropped");
                }
                Err(e) => {
                    tracing::warn!(id = %msg.platform_msg_id, error = %e, "storing a QQ message failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 3;
                }
            }
        }
    }
}
