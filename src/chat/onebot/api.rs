//! One live OneBot connection and the actions sent over it, matched to their results by `echo`.

use super::wire::ApiResponse;
use crate::chat::SendError;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// What the session's writer puts on the socket.
#[derive(Debug)]
pub enum Outgoing {
    Text(String),
    Ping,
    Close,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("没有已连接的 QQ 账号 (no OneBot connection)")]
    NotConnected,
    #[error("connection closed before the result arrived")]
    Closed,
    #[error("no result within {0:?}")]
    Timeout(Duration),
    #[error("action failed: retcode {retcode}: {message}")]
    Failed { retcode: i64, message: String },
}

impl CallError {
    /// How a failed send is reported to the outbox.
    ///
    /// - 1400 (bad request), 1401/1403 (refused), 1404 (unknown action or target) and 100
    ///   (go-cqhttp: invalid parameter): permanent — resending cannot help.
    /// - 1200 (NapCat: send timed out, often risk control), other retcodes, no connection or a
    ///   closed connection: transient — the outbox retries with backoff,
    ///   so a message queued while the account is offline goes out after it reconnects.
    /// - No result in time: unknown outcome — the action may have been carried out.
    pub fn to_send_error(&self) -> SendError {
        match self {
            CallError::Failed { retcode, message } if is_permanent(*retcode) => {
                SendError::Permanent(format!("OneBot retcode {retcode}: {message}"))
            }
            CallError::Failed { retcode: 1200, message } => SendError::Transient(format!(
                "OneBot retcode 1200 (发送超时，可能被风控 / send timed out, possibly risk control): {message}"
            )),
            CallError::Timeout(_) => SendError::Unknown(self.to_string()),
            other => SendError::Transient(other.to_string()),
        }
    }
}

pub fn is_permanent(retcode: i64) -> bool {
    matches!(retcode, 100 | 1400 | 1401 | 1403 | 1404)
}

pub struct Conn {
    /// Unique per connection within the process.
    pub id: u64,
    /// "reverse" or "forward".
    pub transport: &'static str,
    /// False for reverse connections with role `Event` (they carry no actions).
    pub can_call: bool,
    out: mpsc::Sender<Outgoing>,
    pending: Mutex<HashMap<String, oneshot::Sender<ApiResponse>>>,
    seq: AtomicU64,
    /// From the last heartbeat; an account can be connected but logged out.
    pub online: AtomicBool,
    pub closed: CancellationToken,
}

impl Conn {
    pub fn new(id: u64, transport: &'static str, can_call: bool, out: mpsc::Sender<Outgoing>) -> Self {
        Conn {
            id,
            transport,
            can_call,
            out,
            pending: Mutex::new(HashMap::new()),
            seq: AtomicU64::new(0),
            online: AtomicBool::new(true),
            closed: CancellationToken::new(),
        }
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<String, oneshot::Sender<ApiResponse>>> {
        // A panic while holding this lock cannot leave the map inconsistent.
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends an action and waits for its result (any status; see [`Conn::call_ok`]).
    pub async fn call(&self, action: &str, params: Value, timeout: Duration) -> Result<ApiResponse, CallError> {
        if self.closed.is_cancelled() {
            return Err(CallError::Closed);
        }
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let echo = format!("dudao:{}:{n}", self.id);
        let (tx, rx) = oneshot::channel();
        self.pending().insert(echo.clone(), tx);
        let frame = json!({ "action": action, "params": params, "echo": echo }).to_string();
        // The timeout also covers a writer stuck on a slow socket.
        let exchange = async {
            self.out.send(Outgoing::Text(frame)).await.map_err(|_| CallError::Closed)?;
            rx.await.map_err(|_| CallError::Closed)
        };
        let r = match tokio::time::timeout(timeout, exchange).await {
            Ok(r) => r,
            Err(_) => Err(CallError::Timeout(timeout)),
        };
        if r.is_err() {
            self.pending().remove(&echo);
        }
        r
    }

    /// Like [`Conn::call`], but a `failed` status is an error; returns `data`.
    pub async fn call_ok(&self, action: &str, params: Value, timeout: Duration) -> Result<Value, CallError> {
        let r = self.call(action, params, timeout).await?;
        if r.ok() {
            Ok(r.data)
        } else {
            Err(CallError::Failed { retcode: r.retcode, message: r.message })
        }
    }

    /// Hands a result to the waiting caller. Results nobody waits for (late, or not ours) are dropped.
    pub fn resolve(&self, resp: ApiResponse) {
        let Some(echo) = resp.echo.clone() else {
            tracing::debug!(conn = self.id, retcode = resp.retcode, "OneBot result without echo ignored");
            return;
        };
        match self.pending().remove(&echo) {
            Some(tx) => {
                let _ = tx.send(resp);
            }
            None => tracing::debug!(conn = self.id, %echo, "OneBot result for no pending action ignored"),
        }
    }

    pub fn try_send(&self, o: Outgoing) {
        let _ = self.out.try_send(o);
    }

    /// Fails every action still waiting, and marks the connection unusable.
    pub fn close(&self) {
        self.closed.cancel();
        self.pending().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn results_are_matched_by_echo_and_time_out() {
        let (tx, mut rx) = mpsc::channel(8);
        let conn = std::sync::Arc::new(Conn::new(1, "test", true, tx));
        let c = conn.clone();
        let call = tokio::spawn(async move { c.call_ok("get_login_info", json!({}), Duration::from_secs(5)).await });
        let Some(Outgoing::Text(frame)) = rx.recv().await else { panic!() };
        let v: Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(v["action"], "get_login_info");
        let echo = v["echo"].as_str().unwrap().to_string();
        // A stray result first: ignored.
        conn.resolve(ApiResponse {
            status: "ok".into(),
            retcode: 0,
            data: json!(1),
            message: String::new(),
            echo: Some("other".into()),
        });
        conn.resolve(ApiResponse {
            status: "ok".into(),
            retcode: 0,
            data: json!({"user_id": 42}),
            message: String::new(),
            echo: Some(echo),
        });
        assert_eq!(call.await.unwrap().unwrap(), json!({"user_id": 42}));

        let e = conn.call("x", json!({}), Duration::from_millis(20)).await.unwrap_err();
        assert_eq!(e, CallError::Timeout(Duration::from_millis(20)));
        assert!(conn.pending().is_empty());

        let c = conn.clone();
        let call = tokio::spawn(async move { c.call("y", json!({}), Duration::from_secs(5)).await });
        let _ = rx.recv().await;
        let _ = rx.recv().await;
        conn.close();
        assert_eq!(call.await.unwrap().unwrap_err(), CallError::Closed);
        assert_eq!(conn.call("z", json!({}), Duration::from_secs(1)).await.unwrap_err(), CallError::Closed);
    }

    #[test]
    fn error_mapping() {
        let f = |retcode| CallError::Failed { retcode, message: "m".into() }.to_send_error();
        for r in [100, 1400, 1401, 1403, 1404] {
            assert!(matches!(f(r), SendError::Permanent(_)), "{r}");
        }
        for r in [1200, 102, 103, -1, 200] {
            assert!(matches!(f(r), SendError::Transient(_)), "{r}");
        }
        assert!(matches!(f(1200), SendError::Transient(m) if m.contains("风控")));
        for e in [CallError::NotConnected, CallError::Closed] {
            assert!(matches!(e.to_send_error(), SendError::Transient(_)));
        }
        assert!(matches!(CallError::Timeout(Duration::from_secs(1)).to_send_error(), SendError::Unknown(_)));
    }
}
