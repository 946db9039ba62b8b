//! QQ through OneBot v11 implementations (NapCat, LLBot, Lagrange.OneBot).
//!
//! Transports: reverse WebSocket (the implementation connects to `/onebot/v11/ws` on our HTTP
//! listener; several QQ accounts at once) and forward WebSocket (we connect to the
//! implementation and reconnect with backoff). One channel instance serves every account;
//! chats are keyed by group id / user id, and each send goes out through an account that has
//! seen that chat.

pub mod api;
mod forward;
mod reverse;
mod session;
pub mod wire;

use self::api::{CallError, Conn};
use crate::chat::channel::{
    Capabilities, Channel, ChannelContext, ChannelHealth, MediaError, MediaSource, MentionSupport, Rate, SendError,
    SendReceipt,
};
use crate::chat::model::{ChatKind, InboundMessage, MediaRef, OutboundMessage, Segment};
use crate::chat::registry::{Built, Configured, Factory};
use crate::config::{parse_section, ConfigError, RawSection, Settings};
use crate::secret::Secret;
use async_trait::async_trait;
use rand::Rng;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub const PLATFORM: &str = "qq";
/// The largest file uploaded over the socket: it travels base64-encoded (4/3 larger) in one
/// WebSocket frame, and 16 MiB is a common frame limit (tungstenite's default). Larger files go
/// as download links.
pub const MAX_UPLOAD_BYTES: u64 = 10 * 1024 * 1024;
/// The largest image sent inline as an `image` segment: same frame limit; QQ itself
/// downscales or refuses pictures much larger than this.
pub const MAX_IMAGE_BYTES: u64 = 10 * 1024 * 1024;

/// Paths the reverse WebSocket is served on (NoneBot's, so existing NapCat configs work).
pub const REVERSE_PATHS: &[&str] = &["/onebot/v11/ws", "/onebot/v11/ws/", "/onebot/v11/", "/onebot/v11"];

/// `[channels.onebot]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OneBotSettings {
    pub enabled: bool,
    /// The channel instance name, used in `[[groups]] channel = ...`.
    pub name: String,
    /// Shared with the implementation (NapCat `token`). Required whenever `reverse` is on.
    pub access_token: Secret,
    /// Accept reverse WebSocket connections on the HTTP listener.
    pub reverse: bool,
    /// Forward WebSocket: implementations to connect to, e.g. `ws://127.0.0.1:3001`.
    pub forward_urls: Vec<String>,
    /// How long to wait for an action's result.
    pub api_timeout_ms: u64,
    /// Minimum spacing between two sends of the channel (0 = none). Sends are serialised, so
    /// with one account this is the per-account pace; with several it caps their total.
    pub min_interval_ms: u64,
    /// At most this many sends per minute over the channel (0 = no cap).
    pub max_per_minute: u32,
    /// Minimum spacing between two sends to the same group or person (0 = none).
    pub chat_min_interval_ms: u64,
    /// At most this many sends per minute to one group or person (0 = no cap).
    pub chat_max_per_minute: u32,
    /// A random extra delay of up to this much before each send, so timing looks less mechanical.
    pub send_jitter_ms: u64,
    /// Sends whose result is still awaited, at most, over the channel (pipelining: the next
    /// action goes out before the previous result is back). Applies when `min_interval_ms` is 0;
    /// with a minimum spacing sends stay serialised, one at a time. Sends to one chat always
    /// wait for the previous one's result, so they keep their order.
    pub max_in_flight: usize,
    pub max_message_chars: usize,
    /// Send @全体成员 as a real mention. QQ allows it only to group admins, a few times a day;
    /// off, it is written as text.
    pub mention_all: bool,
    /// Forward mode: first reconnect delay, doubled after each failure up to the maximum.
    pub reconnect_initial_ms: u64,
    pub reconnect_max_ms: u64,
    /// How long to wait for a file upload's result (`upload_group_file`): the implementation
    /// answers only once QQ has the file.
    pub upload_timeout_ms: u64,
}

impl Default for OneBotSettings {
    fn default() -> Self {
        OneBotSettings {
            enabled: false,
            name: "qq".into(),
            access_token: Secret::default(),
            reverse: true,
            forward_urls: Vec::new(),
            api_timeout_ms: 15_000,
            min_interval_ms: 1_000,
            max_per_minute: 30,
            chat_min_interval_ms: 3_000,
            chat_max_per_minute: 12,
            send_jitter_ms: 500,
            max_in_flight: 8,
            max_message_chars: 1_500,
            mention_all: false,
            reconnect_initial_ms: 1_000,
            reconnect_max_ms: 60_000,
            upload_timeout_ms: 120_000,
        }
    }
}

impl OneBotSettings {
    /// Checks what serde cannot. Returns the offending key (relative to `channels.onebot`) and why.
    pub fn validate(&self, http_bind: &str) -> Result<(), (String, String)> {
        let err = |k: &str, m: String| Err((k.to_string(), m));
        if !self.enabled {
            return Ok(());
        }
        if self.name.trim().is_empty() {
            return err("name", "must not be empty".into());
        }
        // Required even on a loopback bind: a reverse proxy on the same host makes every caller
        // look local, and whoever connects speaks as a QQ account.
        if self.reverse && self.access_token.is_empty() {
            return err(
                "access_token",
                format!(
                    "required while the reverse WebSocket endpoint is on (http.bind {http_bind}): anyone who can reach \
                     it, also through a reverse proxy, could otherwise speak as a QQ account. Set a long random string \
                     here or in the environment variable DUDAO_CHANNELS__ONEBOT__ACCESS_TOKEN, and the same value as \
                     `token` in NapCat's websocketClients entry (or set reverse = false when only forward_urls are used)"
                ),
            );
        }
        for (i, u) in self.forward_urls.iter().enumerate() {
            if let Err(m) = forward::check_url(u) {
                return err(&format!("forward_urls[{i}]"), format!("\"{u}\": {m}"));
            }
        }
        if !self.reverse && self.forward_urls.is_empty() {
            return err("forward_urls", "reverse is off and no forward URL is given: nothing would connect".into());
        }
        if self.api_timeout_ms == 0 {
            return err("api_timeout_ms", "must be at least 1".into());
        }
        if self.max_in_flight == 0 {
            return err("max_in_flight", "must be at least 1".into());
        }
        if self.max_message_chars < 16 {
            return err("max_message_chars", "must be at least 16".into());
        }
        if self.reconnect_initial_ms == 0 || self.reconnect_max_ms < self.reconnect_initial_ms {
            return err("reconnect_max_ms", "need 0 < reconnect_initial_ms <= reconnect_max_ms".into());
        }
        Ok(())
    }

    pub fn capabilities(&self) -> Capabilities {
        let mut global_limits = Vec::new();
        if self.min_interval_ms > 0 {
            global_limits.push(Rate { count: 1, window: Duration::from_millis(self.min_interval_ms) });
        }
        if self.max_per_minute > 0 {
            global_limits.push(Rate::per_minute(self.max_per_minute));
        }
        let mut per_chat_limits = Vec::new();
        if self.chat_min_interval_ms > 0 {
            per_chat_limits.push(Rate { count: 1, window: Duration::from_millis(self.chat_min_interval_ms) });
        }
        if self.chat_max_per_minute > 0 {
            per_chat_limits.push(Rate::per_minute(self.chat_max_per_minute));
        }
        Capabilities {
            can_receive: true,
            can_push: true,
            can_send_private: true,
            mention: MentionSupport::ById,
            mention_all: self.mention_all,
            max_message_chars: self.max_message_chars,
            global_limits,
            per_chat_limits,
            // With a minimum spacing, one send at a time: bursts are what gets QQ accounts
            // restricted. Without one, the operator opted into pipelined sends.
            max_concurrent_sends: if self.min_interval_ms > 0 { 1 } else { self.max_in_flight.max(1) },
            // upload_group_file / upload_private_file (NapCat, LLBot, Lagrange extensions).
            can_send_files: true,
            max_file_bytes: MAX_UPLOAD_BYTES,
            // An `image` segment with the picture inline as `base64://…`, group or private.
            can_send_images: true,
            max_image_bytes: MAX_IMAGE_BYTES,
        }
    }

    fn api_timeout(&self) -> Duration {
        Duration::from_millis(self.api_timeout_ms.max(1))
    }
}

/// A group member, for matching group cards to roster names when helping people bind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    pub user_id: String,
    pub card: Option<String>,
    pub nickname: Option<String>,
    /// owner, admin or member.
    pub role: Option<String>,
}

impl GroupMember {
    /// The name people see in the group: the card, else the nickname.
    pub fn display(&self) -> Option<&str> {
        self.card.as_deref().or(self.nickname.as_deref())
    }
}

type ChatKey = (ChatKind, String);
const REMEMBERED_SENDS: usize = 4096;

#[derive(Default)]
struct State {
    /// Live connections per account, oldest first.
    conns: HashMap<String, Vec<Arc<Conn>>>,
    /// Accounts that have seen each chat. Groups: first seen first (that account answers);
    /// private chats: most recent first (answer from the account the person wrote to).
    seen: HashMap<ChatKey, Vec<String>>,
    /// Our recent messages as `self_id:message_id`, so quoting one addresses the bot.
    sent: VecDeque<String>,
    sent_set: HashSet<String>,
}

impl State {
    fn live(&self, account: &str) -> Option<&Arc<Conn>> {
        self.conns.get(account)?.iter().rev().find(|c| c.can_call && !c.closed.is_cancelled())
    }
    fn connected(&self, account: &str) -> bool {
        self.conns.get(account).is_some_and(|v| v.iter().any(|c| !c.closed.is_cancelled()))
    }
}

pub struct OneBotChannel {
    settings: OneBotSettings,
    caps: Capabilities,
    state: Mutex<State>,
    next_conn: AtomicU64,
    /// Sends awaiting their result (`max_concurrent_sends` permits), whoever calls `send`.
    in_flight: tokio::sync::Semaphore,
}

impl OneBotChannel {
    pub fn new(settings: OneBotSettings) -> Self {
        let caps = settings.capabilities();
        let in_flight = tokio::sync::Semaphore::new(caps.max_concurrent_sends.max(1));
        OneBotChannel { settings, caps, state: Mutex::new(State::default()), next_conn: AtomicU64::new(1), in_flight }
    }

    pub fn settings(&self) -> &OneBotSettings {
        &self.settings
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn next_conn_id(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    fn register(&self, account: &str, conn: Arc<Conn>) {
        let mut st = self.state();
        let v = st.conns.entry(account.to_string()).or_default();
        v.retain(|c| !c.closed.is_cancelled());
        v.push(conn.clone());
        let n = v.len();
        drop(st);
        tracing::info!(channel = %self.settings.name, account, conn = conn.id, transport = conn.transport, connections = n, "QQ account connected");
    }

    fn unregister(&self, account: &str, conn: &Conn) {
        let mut st = self.state();
        if let Some(v) = st.conns.get_mut(account) {
            v.retain(|c| c.id != conn.id);
            if v.is_empty() {
                st.conns.remove(account);
            }
        }
        drop(st);
        tracing::info!(channel = %self.settings.name, account, conn = conn.id, "QQ account connection closed");
    }

    /// Accounts with at least one live connection.
    pub fn connected_accounts(&self) -> Vec<String> {
        let st = self.state();
        let mut v: Vec<String> = st.conns.keys().filter(|a| st.connected(a)).cloned().collect();
        v.sort();
        v
    }

    /// Up while at least one QQ account has a live connection whose last heartbeat did not
    /// report it logged out; the detail names the accounts either way.
    fn health_now(&self) -> ChannelHealth {
        let st = self.state();
        let mut online = Vec::new();
        let mut offline = Vec::new();
        for (account, conns) in &st.conns {
            let live: Vec<&Arc<Conn>> = conns.iter().filter(|c| !c.closed.is_cancelled()).collect();
            if live.is_empty() {
                continue;
            }
            if live.iter().any(|c| c.online.load(Ordering::Relaxed)) {
                online.push(account.as_str());
            } else {
                offline.push(account.as_str());
            }
        }
        online.sort_unstable();
        offline.sort_unstable();
        match (online.is_empty(), offline.is_empty()) {
            (false, true) => ChannelHealth::up(format!("QQ accounts online: {}", online.join(", "))),
            (false, false) => ChannelHealth::up(format!(
                "QQ accounts online: {}; connected but logged out: {}",
                online.join(", "),
                offline.join(", ")
            )),
            (true, false) => {
                ChannelHealth::down(format!("QQ accounts connected but logged out: {}", offline.join(", ")))
            }
            (true, true) => ChannelHealth::down("no QQ account is connected"),
        }
    }

    /// Records that `account` saw `chat`; false when another connected account already
    /// answers in that group (two bot accounts in one group see each message once each).
    fn observe(&self, kind: ChatKind, chat_id: &str, account: &str) -> bool {
        let mut st = self.state();
        let key = (kind, chat_id.to_string());
        let mut list = st.seen.remove(&key).unwrap_or_default();
        let handle = match kind {
            ChatKind::Group => {
                if !list.iter().any(|a| a == account) {
                    list.push(account.to_string());
                }
                let owner = list.iter().find(|a| st.connected(a)).map(String::as_str).unwrap_or(account);
                owner == account
            }
            ChatKind::Private => {
                list.retain(|a| a != account);
                list.insert(0, account.to_string());
                true
            }
        };
        st.seen.insert(key, list);
        handle
    }

    fn remember_sent(&self, key: String) {
        let mut st = self.state();
        if st.sent_set.insert(key.clone()) {
            st.sent.push_back(key);
            while st.sent.len() > REMEMBERED_SENDS {
                if let Some(old) = st.sent.pop_front() {
                    st.sent_set.remove(&old);
                }
            }
        }
    }

    fn is_ours(&self, key: &str) -> bool {
        self.state().sent_set.contains(key)
    }

    /// Which account sends to `chat`: the one a quoted message came through, else one that saw
    /// the chat, else any connected account.
    fn pick(&self, kind: ChatKind, chat_id: &str, segments: &[Segment]) -> Option<(String, Arc<Conn>)> {
        let st = self.state();
        let quoted = segments.iter().find_map(|s| match s {
            Segment::Reply { message_id } => wire::split_msg_key(message_id).0.map(str::to_string),
            _ => None,
        });
        let seen = st.seen.get(&(kind, chat_id.to_string()));
        let candidates = quoted.iter().chain(seen.into_iter().flatten());
        for a in candidates {
            if let Some(c) = st.live(a) {
                return Some((a.clone(), c.clone()));
            }
        }
        // Prefer an account whose last heartbeat said it is online; then the newest connection.
        let mut any: Vec<(&String, &Arc<Conn>)> = st.conns.keys().filter_map(|a| st.live(a).map(|c| (a, c))).collect();
        any.sort_by_key(|(_, c)| (c.online.load(Ordering::Relaxed), c.id));
        any.last().map(|(a, c)| ((*a).clone(), (*c).clone()))
    }

    /// Converts an event from `account` into a message for the pipeline, or `None` for what
    /// the bot ignores (its own messages, anonymous senders, a group another account answers).
    fn inbound(&self, account: &str, ev: &wire::MessageEvent) -> Option<InboundMessage> {
        if ev.user_id == account {
            return None;
        }
        if ev.kind == ChatKind::Group && matches!(ev.sub_type.as_str(), "anonymous" | "notice") {
            tracing::debug!(account, sub_type = %ev.sub_type, "group message without a real sender ignored");
            return None;
        }
        let chat_id = match ev.kind {
            ChatKind::Group => ev.group_id.as_deref().unwrap_or_default(),
            ChatKind::Private => ev.user_id.as_str(),
        };
        if !self.observe(ev.kind, chat_id, account) {
            tracing::debug!(account, group = chat_id, "message also seen by the account that answers in this group");
            return None;
        }
        Some(wire::to_inbound(&self.settings.name, account, ev, |k| self.is_ours(k), chrono::Utc::now()))
    }

    /// Uploads a file into a group's files or a private chat. Its status is read like any
    /// action's (failed → permanent or transient by retcode, no answer → unknown).
    async fn upload(
        &self,
        account: &str,
        conn: &Conn,
        kind: ChatKind,
        target: i64,
        file: &crate::chat::Attachment,
    ) -> Result<SendReceipt, SendError> {
        let (action, params) = wire::upload_action(kind, target, &file.name, &file.bytes);
        let _permit = self.in_flight.acquire().await.map_err(|_| CallError::Closed.to_send_error())?;
        let timeout = Duration::from_millis(self.settings.upload_timeout_ms.max(self.settings.api_timeout_ms).max(1));
        match conn.call_ok(action, params, timeout).await {
            Ok(_) => {
                tracing::info!(channel = %self.settings.name, account, action, file = %file.name, bytes = file.bytes.len(), "file uploaded");
                // An uploaded file is not a message that can be quoted: no message id.
                Ok(SendReceipt { platform_msg_id: None })
            }
            Err(e) => {
                tracing::warn!(channel = %self.settings.name, account, action, error = %e, "OneBot file upload failed");
                Err(e.to_send_error())
            }
        }
    }

    /// Calls an action on `account` (or any connected account).
    pub async fn call(&self, account: Option<&str>, action: &str, params: Value) -> Result<Value, CallError> {
        let conn = {
            let st = self.state();
            match account {
                Some(a) => st.live(a).cloned(),
                None => st.conns.keys().find_map(|a| st.live(a).cloned()),
            }
        };
        let conn = conn.ok_or(CallError::NotConnected)?;
        conn.call_ok(action, params, self.settings.api_timeout()).await
    }

    /// The members of a group, through an account that has seen it (binding help: match group
    /// cards to roster names, then ask the person to confirm).
    pub async fn group_members(&self, group_id: &str) -> Result<Vec<GroupMember>, CallError> {
        let gid: i64 = group_id
            .parse()
            .map_err(|_| CallError::Failed { retcode: 1400, message: format!("not a group number: {group_id}") })?;
        let (account, _) = self.pick(ChatKind::Group, group_id, &[]).ok_or(CallError::NotConnected)?;
        let data = self.call(Some(&account), "get_group_member_list", json!({ "group_id": gid })).await?;
        let text = |m: &Value, k: &str| {
            m.get(k).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
        };
        Ok(data
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(|m| {
                Some(GroupMember {
                    user_id: m.get("user_id").and_then(wire::qq_id_of)?,
                    card: text(m, "card"),
                    nickname: text(m, "nickname"),
                    role: text(m, "role"),
                })
            })
            .collect())
    }
}

#[async_trait]
impl Channel for OneBotChannel {
    fn name(&self) -> &str {
        &self.settings.name
    }

    fn platform(&self) -> &'static str {
        PLATFORM
    }

    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    fn health(&self) -> ChannelHealth {
        self.health_now()
    }

    async fn send(&self, msg: &OutboundMessage) -> Result<SendReceipt, SendError> {
        let target: i64 =
            msg.chat.id.parse().map_err(|_| SendError::Permanent(format!("not a QQ number: {}", msg.chat.id)))?;
        let Some((account, conn)) = self.pick(msg.chat.kind, &msg.chat.id, &msg.segments) else {
            return Err(CallError::NotConnected.to_send_error());
        };
        let message = match &msg.attachment {
            // A chart: one message holding the picture, like a photo someone posts.
            Some(file) if file.inline => vec![wire::inline_image(&file.bytes)],
            Some(file) => return self.upload(&account, &conn, msg.chat.kind, target, file).await,
            None => wire::to_wire(&msg.segments, &account, self.settings.mention_all),
        };
        if message.is_empty() {
            return Err(SendError::Permanent("nothing to send".into()));
        }
        if self.settings.send_jitter_ms > 0 {
            let ms = rand::rng().random_range(0..=self.settings.send_jitter_ms);
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        let (action, params) = wire::send_action(msg.chat.kind, target, &message);
        // Frames leave in the order their calls reach the connection's writer queue; each caller
        // (the outbox: one send per chat at a time) awaits its own result matched by echo.
        let _permit = self.in_flight.acquire().await.map_err(|_| CallError::Closed.to_send_error())?;
        match conn.call_ok(action, params, self.settings.api_timeout()).await {
            Ok(data) => {
                let id = data.get("message_id").and_then(wire::id_of).map(|m| wire::platform_msg_id(&account, &m));
                if let Some(id) = &id {
                    self.remember_sent(id.clone());
                }
                Ok(SendReceipt { platform_msg_id: id })
            }
            Err(e) => {
                tracing::warn!(channel = %self.settings.name, account, chat = %msg.chat.key(), error = %e, "OneBot send failed");
                Err(e.to_send_error())
            }
        }
    }

    async fn run(self: Arc<Self>, ctx: ChannelContext) -> anyhow::Result<()> {
        let mut tasks = tokio::task::JoinSet::new();
        for url in self.settings.forward_urls.clone() {
            tasks.spawn(forward::run(self.clone(), ctx.clone(), url));
        }
        while tasks.join_next().await.is_some() {}
        Ok(())
    }

    fn routes(self: Arc<Self>, ctx: ChannelContext) -> Option<axum::Router> {
        self.settings.reverse.then(|| reverse::router(self.clone(), ctx))
    }

    /// A photo: the segment's URL when it has one (as before); otherwise `get_image` with the
    /// segment's file name, whose answer's `url` (NapCat, Lagrange) or `base64` is used. A
    /// `file` path alone is on the OneBot implementation's machine, not ours: refused with
    /// that reason. The URL is a link like any from chat, so it goes through the SSRF guard.
    async fn resolve_media(&self, media: &MediaRef, max_bytes: u64) -> Result<MediaSource, MediaError> {
        if let Some(url) = media.url.as_deref().filter(|u| !u.trim().is_empty()) {
            return Ok(MediaSource::Link(url.to_string()));
        }
        let Some(file) = media.file_id.as_deref().map(str::trim).filter(|f| !f.is_empty()) else {
            return Err(MediaError::Unsupported);
        };
        let data = self
            .call(None, "get_image", json!({ "file": file }))
            .await
            .map_err(|e| MediaError::Failed(format!("OneBot get_image: {e}")))?;
        let text = |k: &str| data.get(k).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty());
        if let Some(url) = text("url").filter(|u| u.starts_with("http://") || u.starts_with("https://")) {
            return Ok(MediaSource::Link(url.to_string()));
        }
        if let Some(b64) = text("base64") {
            use base64::Engine as _;
            // Base64 is 4/3 of the size: refuse before decoding what would be over the cap.
            if (b64.len() as u64).saturating_mul(3) / 4 > max_bytes.saturating_add(3) {
                return Err(MediaError::TooLarge(max_bytes));
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| MediaError::Failed("OneBot get_image: base64 that does not decode".into()))?;
            return Ok(MediaSource::Bytes(bytes));
        }
        Err(MediaError::Failed(
            "OneBot get_image gave only a file path on the OneBot implementation's machine, no url".into(),
        ))
    }
}

impl OneBotSettings {
    /// `[channels.onebot]` of `settings`, parsed (`None` when absent).
    pub fn from_settings(settings: &Settings) -> Result<Option<OneBotSettings>, ConfigError> {
        settings.channels.get("onebot").map(|raw| parse_section("onebot", raw)).transpose()
    }
}

/// `[channels.onebot]` in the registry.
pub const FACTORY: Factory = Factory { section: "onebot", configure };

fn configure(raw: Option<&RawSection>, settings: &Settings) -> Result<Vec<Configured>, ConfigError> {
    let Some(raw) = raw else { return Ok(Vec::new()) };
    let ob: OneBotSettings = parse_section("onebot", raw)?;
    ob.validate(&settings.http.bind)
        .map_err(|(key, message)| ConfigError::new(format!("channels.onebot.{key}"), message))?;
    if !ob.enabled {
        return Ok(Vec::new());
    }
    let http_paths = match ob.reverse {
        true => REVERSE_PATHS.iter().map(|p| ("channels.onebot.reverse".to_string(), p.to_string())).collect(),
        false => Vec::new(),
    };
    Ok(vec![Configured {
        name: ob.name.clone(),
        name_key: "channels.onebot.name".into(),
        http_paths,
        build: Box::new(move || Built::channel(OneBotChannel::new(ob.clone()))),
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_load_and_validate() {
        let s =
            Settings::from_toml_over_default("[channels.onebot]\nenabled = true\naccess_token = \"t0ken\"\n").unwrap();
        let ob = OneBotSettings::from_settings(&s).unwrap().unwrap();
        assert_eq!(ob.name, "qq");
        assert!(ob.reverse);

        // The reverse endpoint without a token is refused, naming the key, on any bind.
        for bind in ["0.0.0.0:8080", "127.0.0.1:8080"] {
            let e = Settings::from_toml_over_default(&format!(
                "[http]\nbind = \"{bind}\"\n[channels.onebot]\nenabled = true\n"
            ))
            .unwrap_err();
            assert_eq!(e.key, "channels.onebot.access_token");
        }
        Settings::from_toml_over_default(
            "[http]\nbind = \"0.0.0.0:8080\"\n[channels.onebot]\nenabled = true\naccess_token = \"s3cret\"\n",
        )
        .unwrap();
        // Disabled: nothing is checked.
        Settings::from_toml_over_default("[http]\nbind = \"0.0.0.0:8080\"\n[channels.onebot]\nenabled = false\n")
            .unwrap();

        for bad in ["not a url", "http://127.0.0.1:3001", "ws://", "wss://example.com/"] {
            let e = Settings::from_toml_over_default(&format!(
                "[channels.onebot]\nenabled = true\naccess_token = \"t\"\nforward_urls = [\"ws://127.0.0.1:3001\", \"{bad}\"]\n"
            ))
            .unwrap_err();
            assert_eq!(e.key, "channels.onebot.forward_urls[1]", "{bad}: {e}");
        }
        let e =
            Settings::from_toml_over_default("[channels.onebot]\nenabled = true\naccess_token = \"t\"\nbogus = 1\n")
                .unwrap_err();
        assert!(e.key.contains("onebot"), "{e}");
        let e = Settings::from_toml_over_default("[channels.onebot]\nenabled = true\nreverse = false\n").unwrap_err();
        assert_eq!(e.key, "channels.onebot.forward_urls");
    }

    #[test]
    fn sends_in_flight_are_configurable() {
        let s = Settings::from_toml_over_default(
            "[channels.onebot]\nenabled = true\naccess_token = \"t\"\nmin_interval_ms = 0\nmax_in_flight = 5\n",
        )
        .unwrap();
        let ob = OneBotSettings::from_settings(&s).unwrap().unwrap();
        assert_eq!(ob.capabilities().max_concurrent_sends, 5);
        assert_eq!(OneBotSettings::default().max_in_flight, 8);
        // With a minimum spacing sends stay one at a time.
        assert_eq!(OneBotSettings { max_in_flight: 5, ..ob.clone() }.capabilities().max_concurrent_sends, 5);
        assert_eq!(OneBotSettings { min_interval_ms: 100, ..ob }.capabilities().max_concurrent_sends, 1);
        let e = Settings::from_toml_over_default(
            "[channels.onebot]\nenabled = true\naccess_token = \"t\"\nmax_in_flight = 0\n",
        )
        .unwrap_err();
        assert_eq!(e.key, "channels.onebot.max_in_flight");
    }

    #[test]
    fn the_token_never_prints() {
        let s = OneBotSettings { access_token: Secret::new("hunter2"), ..OneBotSettings::default() };
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn default_pacing_is_conservative() {
        let c = OneBotSettings::default().capabilities();
        assert_eq!(c.max_concurrent_sends, 1);
        assert_eq!(c.global_limits[0], Rate { count: 1, window: Duration::from_secs(1) });
        assert_eq!(c.per_chat_limits[0], Rate { count: 1, window: Duration::from_secs(3) });
        assert_eq!(c.max_message_chars, 1500);
        assert!(c.can_push && c.can_send_private && c.mention == MentionSupport::ById);
        let off = OneBotSettings {
            min_interval_ms: 0,
            max_per_minute: 0,
            chat_min_interval_ms: 0,
            chat_max_per_minute: 0,
            ..OneBotSettings::default()
        };
        let c = off.capabilities();
        assert!(c.global_limits.is_empty() && c.per_chat_limits.is_empty());
    }

    #[test]
    fn two_accounts_in_one_group_answer_once() {
        let ch = OneBotChannel::new(OneBotSettings::default());
        let (tx, _rx) = tokio::sync::mpsc::channel(1);
        let a = Arc::new(Conn::new(1, "test", true, tx.clone()));
        let b = Arc::new(Conn::new(2, "test", true, tx));
        ch.register("111", a.clone());
        ch.register("222", b.clone());
        assert!(ch.observe(ChatKind::Group, "9", "222"));
        assert!(!ch.observe(ChatKind::Group, "9", "111"));
        assert_eq!(ch.pick(ChatKind::Group, "9", &[]).unwrap().0, "222");
        // The answering account goes away: the other takes over.
        b.close();
        ch.unregister("222", &b);
        assert!(ch.observe(ChatKind::Group, "9", "111"));
        assert_eq!(ch.pick(ChatKind::Group, "9", &[]).unwrap().0, "111");
        // Private chats answer from the account last written to.
        ch.register("222", Arc::new(Conn::new(3, "test", true, tokio::sync::mpsc::channel(1).0)));
        assert!(ch.observe(ChatKind::Private, "5", "111"));
        assert!(ch.observe(ChatKind::Private, "5", "222"));
        assert_eq!(ch.pick(ChatKind::Private, "5", &[]).unwrap().0, "222");
        // A quote pins the account that saw the quoted message.
        let quote = [Segment::Reply { message_id: "111:77".into() }];
        assert_eq!(ch.pick(ChatKind::Private, "5", &quote).unwrap().0, "111");
        assert_eq!(ch.connected_accounts(), vec!["111".to_string(), "222".to_string()]);
    }
}
