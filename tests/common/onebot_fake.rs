//! A fake OneBot v11 implementation (what NapCat does for a QQ account), speaking the real
//! protocol over a real WebSocket on loopback: it connects to Dudao (reverse mode) or accepts
//! Dudao's connection (forward mode), pushes events, and answers actions.
#![allow(dead_code)]

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, Notify};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// How the fake answers send actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    Ok,
    /// `{"status":"failed","retcode":N}`.
    Fail(i64),
    /// No answer at all (the implementation hangs).
    Silent,
}

/// An action the fake received.
#[derive(Debug, Clone)]
pub struct Action {
    pub action: String,
    pub params: Value,
    /// The account (connection) it arrived on.
    pub self_id: String,
    pub conn: u64,
    pub at: Instant,
    /// Whether the fake answered `ok`.
    pub ok: bool,
}

impl Action {
    /// The message's text segments joined.
    pub fn text(&self) -> String {
        segments(&self.params["message"])
            .iter()
            .filter(|s| s["type"] == "text")
            .filter_map(|s| s["data"]["text"].as_str())
            .collect()
    }
    pub fn segments(&self) -> Vec<Value> {
        segments(&self.params["message"])
    }
    pub fn is_send(&self) -> bool {
        self.action == "send_group_msg" || self.action == "send_private_msg"
    }
    pub fn is_upload(&self) -> bool {
        self.action == "upload_group_file" || self.action == "upload_private_file"
    }
    /// An upload's content, decoded from its `base64://` form.
    pub fn file_bytes(&self) -> Option<Vec<u8>> {
        use base64::Engine;
        let b64 = self.params["file"].as_str()?.strip_prefix("base64://")?;
        base64::engine::general_purpose::STANDARD.decode(b64).ok()
    }
}

fn segments(v: &Value) -> Vec<Value> {
    v.as_array().cloned().unwrap_or_default()
}

/// What every connection of a test shares: the actions received and how to answer them.
pub struct Recorder {
    actions: Mutex<Vec<Action>>,
    changed: Notify,
    behaviour: Mutex<Behaviour>,
    next_msg_id: AtomicI64,
    pub members: Mutex<Value>,
    /// `get_image` answers by the `file` asked for (its `data`); others fail with 1404.
    pub images: Mutex<std::collections::HashMap<String, Value>>,
    /// Also streams every action here (benchmarks: no polling).
    tap: Mutex<Option<mpsc::UnboundedSender<Action>>>,
    /// Keep actions in memory (off for long benchmark runs).
    keep: AtomicBool,
    /// Frames pushed right before the answer to the next action (a burst of traffic arriving
    /// while an action is in flight).
    flood: Mutex<Vec<Value>>,
    /// Answers to sends held back until this many are outstanding (see [`Recorder::hold_answers`]).
    held: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    batch: usize,
    replies: Vec<(mpsc::UnboundedSender<Message>, Value)>,
    /// The most sends seen outstanding at once.
    most: usize,
}

impl Recorder {
    pub fn new() -> Arc<Recorder> {
        Arc::new(Recorder {
            actions: Mutex::new(Vec::new()),
            changed: Notify::new(),
            behaviour: Mutex::new(Behaviour::Ok),
            // Negative ids occur in the wild (Lagrange).
            next_msg_id: AtomicI64::new(-1_000_000),
            members: Mutex::new(json!([])),
            images: Mutex::new(std::collections::HashMap::new()),
            tap: Mutex::new(None),
            keep: AtomicBool::new(true),
            flood: Mutex::new(Vec::new()),
            held: Mutex::new(Held::default()),
        })
    }

    /// From now on, answers to send actions are held until `k` sends are waiting for theirs, then
    /// all given at once (pipelining shows as several outstanding actions). 0 or 1: answer at once.
    pub fn hold_answers(&self, k: usize) {
        let mut h = self.held.lock().unwrap();
        h.batch = k;
        if k <= 1 {
            for (out, r) in h.replies.drain(..) {
                let _ = out.send(Message::text(r.to_string()));
            }
        }
    }

    /// The most send actions that were outstanding at once while answers were held.
    pub fn most_outstanding(&self) -> usize {
        self.held.lock().unwrap().most
    }

    /// Streams actions as they arrive, and stops keeping them in memory.
    pub fn subscribe(&self) -> mpsc::UnboundedReceiver<Action> {
        let (tx, rx) = mpsc::unbounded_channel();
        *self.tap.lock().unwrap() = Some(tx);
        self.keep.store(false, Ordering::SeqCst);
        rx
    }

    /// The next action's answer is preceded on the wire by these frames.
    pub fn flood_before_next_answer(&self, frames: Vec<Value>) {
        *self.flood.lock().unwrap() = frames;
    }

    pub fn set_behaviour(&self, b: Behaviour) {
        *self.behaviour.lock().unwrap() = b;
    }

    pub fn actions(&self) -> Vec<Action> {
        self.actions.lock().unwrap().clone()
    }

    pub fn sends(&self) -> Vec<Action> {
        self.actions().into_iter().filter(|a| a.is_send() && a.ok).collect()
    }

    /// Waits until `n` actions match `pred`; returns them. Panics (failing the test) on timeout.
    pub async fn wait_for(&self, n: usize, timeout: Duration, pred: impl Fn(&Action) -> bool) -> Vec<Action> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            let found: Vec<Action> = self.actions().into_iter().filter(|a| pred(a)).collect();
            if found.len() >= n {
                return found;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!("timed out waiting for {n} matching actions; got {}: {:#?}", found.len(), self.actions());
            }
        }
    }

    fn record(&self, a: Action) {
        if let Some(tap) = self.tap.lock().unwrap().as_ref() {
            let _ = tap.send(a.clone());
        }
        if self.keep.load(Ordering::SeqCst) {
            self.actions.lock().unwrap().push(a);
        }
        self.changed.notify_waiters();
    }
}

static CONN_IDS: AtomicU64 = AtomicU64::new(1);

/// One connection of the fake, as one QQ account.
#[derive(Clone)]
pub struct FakeConn {
    pub self_id: String,
    pub id: u64,
    out: mpsc::UnboundedSender<Message>,
    dead: Arc<AtomicBool>,
    closed: Arc<Notify>,
    closed_flag: Arc<AtomicBool>,
    pub rec: Arc<Recorder>,
}

impl FakeConn {
    fn spawn<S>(ws: WebSocketStream<S>, self_id: &str, rec: Arc<Recorder>) -> FakeConn
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (mut sink, mut stream) = ws.split();
        let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
        let conn = FakeConn {
            self_id: self_id.to_string(),
            id: CONN_IDS.fetch_add(1, Ordering::SeqCst),
            out: tx,
            dead: Arc::new(AtomicBool::new(false)),
            closed: Arc::new(Notify::new()),
            closed_flag: Arc::new(AtomicBool::new(false)),
            rec,
        };
        tokio::spawn(async move {
            while let Some(m) = rx.recv().await {
                let last = matches!(m, Message::Close(_));
                if sink.send(m).await.is_err() || last {
                    break;
                }
            }
            let _ = sink.close().await;
        });
        let me = conn.clone();
        tokio::spawn(async move {
            while let Some(Ok(m)) = stream.next().await {
                match m {
                    Message::Text(t) => me.on_frame(t.as_str()),
                    Message::Close(_) => break,
                    _ => {}
                }
            }
            me.dead.store(true, Ordering::SeqCst);
            me.closed_flag.store(true, Ordering::SeqCst);
            me.closed.notify_waiters();
        });
        conn.send(json!({
            "time": now(), "self_id": conn.self_id.parse::<i64>().unwrap(), "post_type": "meta_event",
            "meta_event_type": "lifecycle", "sub_type": "connect"
        }));
        conn
    }

    fn on_frame(&self, text: &str) {
        if self.dead.load(Ordering::SeqCst) {
            return;
        }
        let Ok(v) = serde_json::from_str::<Value>(text) else { return };
        let Some(action) = v["action"].as_str() else { return };
        let echo = v["echo"].clone();
        let params = v["params"].clone();
        let behaviour = *self.rec.behaviour.lock().unwrap();
        let (reply, ok) = match action {
            // NapCat answers an upload once QQ has the file, with its file id.
            "upload_group_file" | "upload_private_file" => match behaviour {
                Behaviour::Ok => {
                    let id = self.rec.next_msg_id.fetch_sub(1, Ordering::SeqCst);
                    (
                        Some(
                            json!({"status": "ok", "retcode": 0, "data": {"file_id": format!("/f{id}")}, "message": "", "wording": ""}),
                        ),
                        true,
                    )
                }
                Behaviour::Fail(code) => (
                    Some(
                        json!({"status": "failed", "retcode": code, "data": null, "message": "fake failure", "wording": "上传失败"}),
                    ),
                    false,
                ),
                Behaviour::Silent => (None, false),
            },
            "send_group_msg" | "send_private_msg" | "send_msg" => match behaviour {
                Behaviour::Ok => {
                    let id = self.rec.next_msg_id.fetch_sub(1, Ordering::SeqCst);
                    (
                        Some(
                            json!({"status": "ok", "retcode": 0, "data": {"message_id": id}, "message": "", "wording": ""}),
                        ),
                        true,
                    )
                }
                Behaviour::Fail(code) => (
                    Some(
                        json!({"status": "failed", "retcode": code, "data": null, "message": "fake failure", "wording": "发送失败"}),
                    ),
                    false,
                ),
                Behaviour::Silent => (None, false),
            },
            "get_login_info" => (
                Some(
                    json!({"status": "ok", "retcode": 0, "data": {"user_id": self.self_id.parse::<i64>().unwrap(), "nickname": "督导助手"}}),
                ),
                true,
            ),
            "get_image" => match self.rec.images.lock().unwrap().get(params["file"].as_str().unwrap_or_default()) {
                Some(data) => (Some(json!({"status": "ok", "retcode": 0, "data": data})), true),
                None => (
                    Some(json!({"status": "failed", "retcode": 1404, "data": null, "message": "image not found"})),
                    false,
                ),
            },
            "get_group_member_list" => {
                let m = self.rec.members.lock().unwrap().clone();
                (Some(json!({"status": "ok", "retcode": 0, "data": m})), true)
            }
            _ => (Some(json!({"status": "failed", "retcode": 1404, "data": null, "message": "unsupported"})), false),
        };
        self.rec.record(Action {
            action: action.to_string(),
            params,
            self_id: self.self_id.clone(),
            conn: self.id,
            at: Instant::now(),
            ok,
        });
        if let Some(mut r) = reply {
            let flood = std::mem::take(&mut *self.rec.flood.lock().unwrap());
            for f in flood {
                self.send(f);
            }
            r["echo"] = echo;
            let mut h = self.rec.held.lock().unwrap();
            if h.batch > 1 && action.starts_with("send_") {
                h.replies.push((self.out.clone(), r));
                h.most = h.most.max(h.replies.len());
                if h.replies.len() >= h.batch {
                    for (out, r) in h.replies.drain(..) {
                        let _ = out.send(Message::text(r.to_string()));
                    }
                }
            } else {
                drop(h);
                self.send(r);
            }
        }
    }

    pub fn send(&self, v: Value) {
        let _ = self.out.send(Message::text(v.to_string()));
    }

    pub fn send_raw(&self, m: Message) {
        let _ = self.out.send(m);
    }

    pub fn heartbeat(&self, interval_ms: u64) {
        self.send(json!({
            "time": now(), "self_id": self.self_id.parse::<i64>().unwrap(), "post_type": "meta_event",
            "meta_event_type": "heartbeat", "status": {"online": true, "good": true}, "interval": interval_ms
        }));
    }

    /// A group message; `message` is an array or a CQ-code string; `message_id` any JSON id.
    pub fn group_msg(&self, group: i64, user: i64, message_id: Value, message: Value) {
        self.send(self.group_msg_frame(group, user, message_id, message));
    }

    /// The frame [`FakeConn::group_msg`] sends.
    pub fn group_msg_frame(&self, group: i64, user: i64, message_id: Value, message: Value) -> Value {
        json!({
            "time": now(), "self_id": self.self_id.parse::<i64>().unwrap(), "post_type": "message",
            "message_type": "group", "sub_type": "normal", "message_id": message_id, "group_id": group,
            "user_id": user, "anonymous": null, "message": message,
            "raw_message": "", "font": 0, "message_format": if message.is_string() { "string" } else { "array" },
            "sender": {"user_id": user, "nickname": format!("昵称{user}"), "card": format!("群名片{user}"), "role": "member"}
        })
    }

    pub fn private_msg(&self, user: i64, message_id: Value, message: Value) {
        self.send(json!({
            "time": now(), "self_id": self.self_id.parse::<i64>().unwrap(), "post_type": "message",
            "message_type": "private", "sub_type": "friend", "message_id": message_id, "user_id": user,
            "message": message, "raw_message": "", "font": 0, "target_id": self.self_id,
            "sender": {"user_id": user, "nickname": format!("昵称{user}")}
        }));
    }

    /// Closes the connection; nothing arriving afterwards is answered.
    pub fn close(&self) {
        self.dead.store(true, Ordering::SeqCst);
        let _ = self.out.send(Message::Close(None));
    }

    pub fn is_closed(&self) -> bool {
        self.closed_flag.load(Ordering::SeqCst)
    }

    /// Waits until the other side closed the connection.
    pub async fn wait_closed(&self, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        while !self.is_closed() {
            let n = self.closed.notified();
            if self.is_closed() {
                break;
            }
            if tokio::time::timeout_at(deadline, n).await.is_err() {
                panic!("connection {} was not closed within {timeout:?}", self.id);
            }
        }
    }
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// How the fake presents its access token in reverse mode.
#[derive(Debug, Clone, Copy)]
pub enum Auth<'a> {
    None,
    Bearer(&'a str),
    /// `Authorization: Token <t>`.
    Token(&'a str),
    /// `?access_token=<t>`.
    Query(&'a str),
}

/// Reverse mode: connects to Dudao's `/onebot/v11/ws` as account `self_id`, like NapCat's
/// `websocketClients` entry does.
pub async fn connect_reverse(
    addr: SocketAddr,
    self_id: &str,
    auth: Auth<'_>,
    rec: Arc<Recorder>,
) -> Result<FakeConn, tokio_tungstenite::tungstenite::Error> {
    connect_reverse_with(addr, self_id, auth, &[], rec).await
}

/// [`connect_reverse`] with extra request headers (e.g. what a reverse proxy adds).
pub async fn connect_reverse_with(
    addr: SocketAddr,
    self_id: &str,
    auth: Auth<'_>,
    extra: &[(&'static str, &str)],
    rec: Arc<Recorder>,
) -> Result<FakeConn, tokio_tungstenite::tungstenite::Error> {
    let url = match auth {
        Auth::Query(t) => format!("ws://{addr}/onebot/v11/ws?access_token={t}"),
        _ => format!("ws://{addr}/onebot/v11/ws"),
    };
    let mut req = url.into_client_request()?;
    let h = req.headers_mut();
    h.insert("x-self-id", HeaderValue::from_str(self_id).unwrap());
    h.insert("x-client-role", HeaderValue::from_static("Universal"));
    h.insert("user-agent", HeaderValue::from_static("OneBot/11"));
    match auth {
        Auth::Bearer(t) => {
            h.insert("authorization", HeaderValue::from_str(&format!("Bearer {t}")).unwrap());
        }
        Auth::Token(t) => {
            h.insert("authorization", HeaderValue::from_str(&format!("Token {t}")).unwrap());
        }
        Auth::None | Auth::Query(_) => {}
    }
    for (k, v) in extra {
        h.insert(*k, HeaderValue::from_str(v).unwrap());
    }
    // Like NapCat (Node's `ws` sets TCP_NODELAY): events and results are not held back by Nagle.
    let (ws, _) = tokio_tungstenite::connect_async_with_config(req, None, true).await?;
    Ok(FakeConn::spawn(ws, self_id, rec))
}

/// Forward mode: a OneBot WebSocket server (NapCat's `websocketServers`) that Dudao connects to.
pub struct FakeServer {
    pub addr: SocketAddr,
    conns: tokio::sync::Mutex<mpsc::UnboundedReceiver<FakeConn>>,
    accepting: Arc<AtomicBool>,
    /// Handshakes refused (wrong token, or not accepting).
    pub refused: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeServer {
    pub async fn start(self_id: &str, token: Option<&str>, rec: Arc<Recorder>) -> FakeServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        let accepting = Arc::new(AtomicBool::new(true));
        let refused = Arc::new(AtomicUsize::new(0));
        let (acc, refd, self_id, token) =
            (accepting.clone(), refused.clone(), self_id.to_string(), token.map(str::to_string));
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acc, refd, self_id, token, tx, rec) =
                    (acc.clone(), refd.clone(), self_id.clone(), token.clone(), tx.clone(), rec.clone());
                let _ = tcp.set_nodelay(true);
                tokio::spawn(async move {
                    // The signature is tungstenite's handshake callback.
                    #[allow(clippy::result_large_err)]
                    let check = |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
                        let deny = |code: StatusCode| {
                            let mut r = ErrorResponse::new(Some("refused".into()));
                            *r.status_mut() = code;
                            r
                        };
                        if !acc.load(Ordering::SeqCst) {
                            return Err(deny(StatusCode::SERVICE_UNAVAILABLE));
                        }
                        if let Some(t) = &token {
                            let got = req.headers().get("authorization").and_then(|v| v.to_str().ok());
                            match got {
                                None => return Err(deny(StatusCode::UNAUTHORIZED)),
                                Some(g) if g != format!("Bearer {t}") => return Err(deny(StatusCode::FORBIDDEN)),
                                _ => {}
                            }
                        }
                        Ok(resp)
                    };
                    match tokio_tungstenite::accept_hdr_async(tcp, check).await {
                        Ok(ws) => {
                            let _ = tx.send(FakeConn::spawn(ws, &self_id, rec));
                        }
                        Err(_) => {
                            refd.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                });
            }
        });
        FakeServer { addr, conns: tokio::sync::Mutex::new(rx), accepting, refused, task }
    }

    pub fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// While false, handshakes are refused (the implementation is "down").
    pub fn set_accepting(&self, on: bool) {
        self.accepting.store(on, Ordering::SeqCst);
    }

    /// The next connection Dudao makes.
    pub async fn next_conn(&self, timeout: Duration) -> FakeConn {
        tokio::time::timeout(timeout, async { self.conns.lock().await.recv().await })
            .await
            .expect("Dudao did not connect in time")
            .expect("server stopped")
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
