//! Feishu app bot (企业自建应用 with the 机器人 capability): receives `im.message.receive_v1`
//! events through the HTTP callback (事件订阅 → 请求地址) and sends through the message API.
//!
//! Receiving: Feishu POSTs JSON to `callback_path`:
//! * the URL verification `{"type":"url_verification","challenge":…,"token":…}`, answered with
//!   `{"challenge":…}` when `token` is the app's verification token (403 otherwise);
//! * events in schema 2.0, `{"schema":"2.0","header":{"event_id","token","event_type",…},
//!   "event":{…}}`. A `header.token` other than the verification token is refused with 403 and
//!   nothing is stored. The message is stored (in a task of its own) and only then answered 200;
//!   a repeated `message_id` (Feishu retries, or a replay) is recognised by the inbound store's
//!   deduplication and acted on once.
//! * with an Encrypt Key configured, each of these arrives as `{"encrypt":"<base64>"}`: the
//!   base64 text is a 16-byte IV and the AES-256-CBC ciphertext (PKCS#7) of the JSON above,
//!   keyed with SHA-256 of the Encrypt Key. Event requests also carry `X-Lark-Request-Timestamp`,
//!   `X-Lark-Request-Nonce` and `X-Lark-Signature` = hex SHA-256 of timestamp + nonce + key +
//!   body, checked when present (403 on mismatch). Plain bodies are then refused (400), as are
//!   encrypted ones when no key is configured.
//!
//! Sending: `POST /open-apis/im/v1/messages?receive_id_type=chat_id` (groups) or
//! `receive_id_type=open_id` (a person, privately), `Authorization: Bearer <tenant_access_token>`
//! from `POST /open-apis/auth/v3/tenant_access_token/internal` (app_id + app_secret, cached until
//! five minutes before it expires, fetched again once when Feishu refuses it).
//!
//! Pictures: an `image` message carries an `image_key`, downloaded (as evidence, through
//! `Channel::resolve_media`) from the message resource API, `GET /open-apis/im/v1/messages/
//! {message_id}/resources/{image_key}?type=image`, with the same token; the picture's file id is
//! kept as `<message_id>/<image_key>` since the API needs both.

use super::MAX_CONTENT_BYTES;
use super::{api_url, classify, status_error, text_content, transport_error, ApiReply, DEFAULT_BASE, PLATFORM};
use crate::chat::channel::{
    read_capped, Capabilities, Channel, ChannelContext, InboundSink, MediaError, MediaSource, MentionSupport, Rate,
    SendError, SendReceipt,
};
use crate::chat::model::{ChatKind, ChatRef, InboundMessage, MediaRef, OutboundMessage, Segment, UserRef};
use crate::chat::token::TokenCache;
use crate::secret::Secret;
use async_trait::async_trait;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// Event bodies are a few kilobytes; anything much larger is not Feishu.
const BODY_LIMIT: usize = 64 * 1024;

/// `[channels.feishu.app]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FeishuAppSettings {
    pub enabled: bool,
    /// The channel instance name.
    pub name: String,
    /// The app's App ID (`cli_…`).
    pub app_id: String,
    /// The app's App Secret: tenant access tokens.
    pub app_secret: Secret,
    /// 事件订阅 → Verification Token: every event and the URL verification carry it.
    pub verification_token: Secret,
    /// 事件订阅 → Encrypt Key. When set, events must arrive encrypted (AES-256-CBC) and their
    /// `X-Lark-Signature` is checked; when empty, encrypted events are refused.
    pub encrypt_key: Secret,
    /// Where the callback is served on the HTTP listener.
    pub callback_path: String,
    /// Open platform host (Lark: `https://open.larksuite.com`).
    pub base_url: String,
    /// The callback answers after storing the message, or after this long at the latest.
    pub ack_timeout_ms: u64,
    /// Sends per minute over the app (0 = no cap).
    pub max_per_minute: u32,
    /// Sends per second into one chat (Feishu: 5 per user or group).
    pub chat_max_per_second: u32,
    /// How long to wait after Feishu says "too many requests".
    pub rate_limited_retry_secs: u64,
    pub max_message_chars: usize,
    pub timeout_ms: u64,
}

impl Default for FeishuAppSettings {
    fn default() -> Self {
        FeishuAppSettings {
            enabled: true,
            name: "feishu".into(),
            app_id: String::new(),
            app_secret: Secret::default(),
            verification_token: Secret::default(),
            encrypt_key: Secret::default(),
            callback_path: "/feishu/callback".into(),
            base_url: DEFAULT_BASE.into(),
            ack_timeout_ms: 3_000,
            max_per_minute: 600,
            chat_max_per_second: 4,
            rate_limited_retry_secs: 60,
            max_message_chars: 1000,
            timeout_ms: 10_000,
        }
    }
}

impl FeishuAppSettings {
    /// Checks what serde cannot. Returns the offending key (relative to `channels.feishu.app`).
    pub fn validate(&self) -> Result<(), (String, String)> {
        let err = |k: &str, m: &str| Err((k.to_string(), m.to_string()));
        if !self.enabled {
            return Ok(());
        }
        if self.name.trim().is_empty() {
            return err("name", "must not be empty");
        }
        if self.app_id.trim().is_empty() {
            return err("app_id", "required: the app's App ID (凭证与基础信息, starts with cli_)");
        }
        if self.app_secret.is_empty() {
            return err("app_secret", "required: the app's App Secret (凭证与基础信息)");
        }
        if self.verification_token.is_empty() {
            return err(
                "verification_token",
                "required: 事件订阅 → Verification Token (events are checked against it)",
            );
        }
        if self.encrypt_key.expose().chars().any(char::is_whitespace) {
            return err("encrypt_key", "must not contain spaces (copy the Encrypt Key from 事件订阅 as shown)");
        }
        if !crate::http::is_plain_path(&self.callback_path) {
            return err("callback_path", "must start with '/' and use only letters, digits, '/', '-', '_' and '.'");
        }
        if reqwest::Url::parse(&self.base_url).is_err() {
            return err("base_url", "not a URL");
        }
        if self.ack_timeout_ms == 0 || self.ack_timeout_ms > 10_000 {
            return err("ack_timeout_ms", "must be between 1 and 10000");
        }
        if self.chat_max_per_second > 5 {
            return err("chat_max_per_second", "must be at most 5 (Feishu's limit per user or group)");
        }
        let cap = MAX_CONTENT_BYTES / 4;
        if self.max_message_chars < 16 || self.max_message_chars > cap {
            return Err(("max_message_chars".into(), format!("must be between 16 and {cap}")));
        }
        Ok(())
    }

    pub fn capabilities(&self) -> Capabilities {
        let mut global_limits = Vec::new();
        if self.max_per_minute > 0 {
            global_limits.push(Rate::per_minute(self.max_per_minute));
        }
        let mut per_chat_limits = Vec::new();
        if self.chat_max_per_second > 0 {
            per_chat_limits.push(Rate::per_second(self.chat_max_per_second));
        }
        Capabilities {
            can_receive: true,
            can_push: true,
            can_send_private: true,
            mention: MentionSupport::ById,
            mention_all: true,
            max_message_chars: self.max_message_chars,
            global_limits,
            per_chat_limits,
            max_concurrent_sends: 4,
            // Files would need the upload API; not done: links instead.
            can_send_files: false,
            max_file_bytes: 0,
            can_send_images: false,
            max_image_bytes: 0,
        }
    }
}

// ---- receiving ----

#[derive(Debug, Default, Deserialize)]
pub struct Envelope {
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub challenge: String,
    #[serde(default)]
    pub token: String,
    #[serde(default)]
    pub encrypt: Option<String>,
    #[serde(default)]
    pub header: Option<EventHeader>,
    #[serde(default)]
    pub event: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
pub struct EventHeader {
    #[serde(default)]
    pub event_id: String,
    #[serde(default)]
    pub token: String,
    #[serde(default)]
    pub event_type: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct MessageEvent {
    #[serde(default)]
    pub sender: Sender,
    #[serde(default)]
    pub message: Message,
}

#[derive(Debug, Default, Deserialize)]
pub struct Sender {
    #[serde(default)]
    pub sender_id: SenderId,
}

#[derive(Debug, Default, Deserialize)]
pub struct SenderId {
    #[serde(default)]
    pub open_id: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct Message {
    #[serde(default)]
    pub message_id: String,
    #[serde(default)]
    pub chat_id: String,
    #[serde(default)]
    pub chat_type: String,
    #[serde(default)]
    pub message_type: String,
    /// A JSON document in a string, its shape depending on `message_type`.
    #[serde(default)]
    pub content: String,
    #[serde(default)]
    pub create_time: String,
    #[serde(default)]
    pub mentions: Vec<Mention>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Mention {
    /// The placeholder in the text, `@_user_1`.
    #[serde(default)]
    pub key: String,
}

/// What an event means for Dudao.
#[derive(Debug, PartialEq)]
pub enum Decoded {
    Message(Box<InboundMessage>),
    Ignored(String),
}

/// A picture's file id: the message and the image key, both needed by the resource API.
pub fn picture_id(message_id: &str, image_key: &str) -> String {
    format!("{message_id}/{image_key}")
}

/// The message id and key of a picture's file id, when both are plain ids (letters, digits,
/// `_` and `-`: they go into the URL's path).
fn parse_picture_id(file_id: &str) -> Option<(&str, &str)> {
    let (message_id, key) = file_id.trim().split_once('/')?;
    let plain = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    (plain(message_id) && plain(key)).then_some((message_id, key))
}

/// Maps a message event to the chat model. A private chat (`p2p`) is keyed by the sender's
/// open id (what `绑定` binds and `receive_id_type=open_id` takes); a group by its `chat_id`. The
/// bot receives private messages and group messages that @-mention it (unless granted reading
/// all group messages): a private message, or a group message mentioning anyone, is `to_me`.
pub fn decode(channel: &str, ev: &MessageEvent) -> Result<Decoded, &'static str> {
    let m = &ev.message;
    if m.message_id.trim().is_empty() {
        return Err("message_id missing");
    }
    let sender = ev.sender.sender_id.open_id.trim();
    if sender.is_empty() {
        return Err("sender open_id missing");
    }
    let chat = match m.chat_type.as_str() {
        "p2p" => ChatRef::private(channel, sender),
        "group" if !m.chat_id.trim().is_empty() => ChatRef::group(channel, m.chat_id.trim()),
        "group" => return Err("chat_id missing"),
        _ => return Err("unknown chat_type"),
    };
    let content: Value = serde_json::from_str(&m.content).unwrap_or(Value::Null);
    let field = |k: &str| content.get(k).and_then(Value::as_str).map(str::to_string);
    let segments = match m.message_type.as_str() {
        "text" => {
            let mut text = field("text").unwrap_or_default();
            // Mentions arrive as placeholders (`@_user_1`); the bot's own is not part of a command.
            for mention in m.mentions.iter().filter(|x| !x.key.is_empty()) {
                text = text.replace(&mention.key, "");
            }
            vec![Segment::text(text.trim())]
        }
        "image" => {
            let key = field("image_key").filter(|k| !k.trim().is_empty());
            let file_id = key.map(|k| picture_id(m.message_id.trim(), k.trim()));
            vec![Segment::Image { media: MediaRef { name: None, url: None, file_id } }]
        }
        "file" => {
            vec![Segment::File { media: MediaRef { name: field("file_name"), url: None, file_id: field("file_key") } }]
        }
        "post" => vec![Segment::text("[富文本]")],
        "audio" => vec![Segment::text("[语音]")],
        "media" => vec![Segment::text("[视频]")],
        other => return Ok(Decoded::Ignored(format!("message type {other}"))),
    };
    let sent_at =
        m.create_time.parse::<i64>().ok().and_then(DateTime::<Utc>::from_timestamp_millis).unwrap_or_else(Utc::now);
    Ok(Decoded::Message(Box::new(InboundMessage {
        chat,
        sender: UserRef { id: sender.to_string(), display: None },
        platform_msg_id: m.message_id.trim().to_string(),
        segments,
        to_me: m.chat_type == "p2p" || !m.mentions.is_empty(),
        sent_at,
    })))
}

/// Decrypts an `encrypt` field: base64 of IV (16 bytes) + AES-256-CBC ciphertext with PKCS#7
/// padding, the key SHA-256 of the Encrypt Key.
pub fn decrypt(encrypt_key: &str, encrypted: &str) -> Option<String> {
    use aes::Aes256;
    use base64::Engine;
    use cbc::cipher::block_padding::Pkcs7;
    use cbc::cipher::{BlockDecryptMut, KeyIvInit};
    use sha2::Digest;
    let key = sha2::Sha256::digest(encrypt_key.as_bytes());
    let buf = base64::engine::general_purpose::STANDARD.decode(encrypted.trim()).ok()?;
    if buf.len() < 32 || buf.len() % 16 != 0 {
        return None;
    }
    let (iv, ct) = buf.split_at(16);
    let mut ct = ct.to_vec();
    let dec = cbc::Decryptor::<Aes256>::new_from_slices(&key, iv).ok()?;
    let plain = dec.decrypt_padded_mut::<Pkcs7>(&mut ct).ok()?;
    String::from_utf8(plain.to_vec()).ok()
}

/// `X-Lark-Signature`: hex SHA-256 of timestamp + nonce + Encrypt Key + the raw body.
pub fn lark_signature(timestamp: &str, nonce: &str, encrypt_key: &str, body: &str) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for part in [timestamp, nonce, encrypt_key, body] {
        h.update(part.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

struct CallbackState {
    channel: String,
    verification_token: Secret,
    encrypt_key: Secret,
    sink: Arc<dyn InboundSink>,
    ack_timeout: Duration,
}

fn plain(status: StatusCode, body: impl Into<String>) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body.into()).into_response()
}

/// Constant-time comparison of a token given by the caller with the configured one.
fn token_ok(expected: &Secret, given: &str) -> bool {
    let e = expected.expose().as_bytes();
    !e.is_empty() && crate::chat::wecom::crypto::constant_time_eq(e, given.as_bytes())
}

async fn receive(State(st): State<Arc<CallbackState>>, headers: HeaderMap, body: String) -> Response {
    let mut env: Envelope = match serde_json::from_str(&body) {
        Ok(e) => e,
        Err(_) => return plain(StatusCode::BAD_REQUEST, "malformed JSON"),
    };
    let key = st.encrypt_key.expose();
    match (env.encrypt.take(), key.is_empty()) {
        (Some(_), true) => {
            tracing::warn!(channel = %st.channel, "encrypted Feishu event refused: channels.feishu.app.encrypt_key is not set");
            return plain(StatusCode::BAD_REQUEST, "encrypted events need encrypt_key");
        }
        (None, false) => {
            tracing::warn!(channel = %st.channel, "plain Feishu event refused: an Encrypt Key is configured");
            return plain(StatusCode::BAD_REQUEST, "expected an encrypted event");
        }
        (None, true) => {}
        (Some(encrypted), false) => {
            let get = |k: &str| headers.get(k).and_then(|v| v.to_str().ok());
            if let Some(sig) = get("x-lark-signature") {
                let (ts, nonce) = (
                    get("x-lark-request-timestamp").unwrap_or_default(),
                    get("x-lark-request-nonce").unwrap_or_default(),
                );
                let expected = lark_signature(ts, nonce, key, &body);
                if !crate::chat::wecom::crypto::constant_time_eq(expected.as_bytes(), sig.trim().as_bytes()) {
                    tracing::warn!(channel = %st.channel, "Feishu event with a wrong X-Lark-Signature refused");
                    return plain(StatusCode::FORBIDDEN, "bad signature");
                }
            }
            let Some(plain_json) = decrypt(key, &encrypted) else {
                tracing::warn!(channel = %st.channel, "Feishu event that does not decrypt with encrypt_key refused");
                return plain(StatusCode::BAD_REQUEST, "cannot decrypt");
            };
            env = match serde_json::from_str::<Envelope>(&plain_json) {
                Ok(e) if e.encrypt.is_none() => e,
                _ => return plain(StatusCode::BAD_REQUEST, "malformed decrypted JSON"),
            };
        }
    }
    if env.kind == "url_verification" {
        if !token_ok(&st.verification_token, &env.token) {
            tracing::warn!(channel = %st.channel, "Feishu URL verification with a wrong token refused");
            return plain(StatusCode::FORBIDDEN, "bad token");
        }
        return axum::Json(json!({ "challenge": env.challenge })).into_response();
    }
    let Some(head) = env.header else { return plain(StatusCode::BAD_REQUEST, "not a schema 2.0 event") };
    if !token_ok(&st.verification_token, &head.token) {
        tracing::warn!(channel = %st.channel, "Feishu event with a wrong token refused");
        return plain(StatusCode::FORBIDDEN, "bad token");
    }
    if head.event_type != "im.message.receive_v1" {
        tracing::debug!(channel = %st.channel, event_type = %head.event_type, "Feishu event ignored");
        return plain(StatusCode::OK, "");
    }
    let ev: MessageEvent = match env.event.map(serde_json::from_value).transpose() {
        Ok(Some(ev)) => ev,
        _ => return plain(StatusCode::BAD_REQUEST, "event missing"),
    };
    let msg = match decode(&st.channel, &ev) {
        Ok(Decoded::Message(m)) => *m,
        Ok(Decoded::Ignored(what)) => {
            tracing::debug!(channel = %st.channel, %what, "Feishu message ignored");
            return plain(StatusCode::OK, "");
        }
        Err(why) => {
            tracing::warn!(channel = %st.channel, why, event_id = %head.event_id, "Feishu event not understood");
            return plain(StatusCode::BAD_REQUEST, why);
        }
    };
    let sink = st.sink.clone();
    let to_store = msg.clone();
    let store = tokio::spawn(async move { sink.store(std::slice::from_ref(&to_store)).await });
    match tokio::time::timeout(st.ack_timeout, store).await {
        Ok(Ok(Ok(ids))) => {
            if let Some(Some(id)) = ids.into_iter().next() {
                let (sink, channel) = (st.sink.clone(), st.channel.clone());
                tokio::spawn(async move {
                    if let Err(e) = sink.process_stored(id, msg).await {
                        tracing::error!(%channel, id, error = %e, "processing a stored Feishu message failed");
                    }
                });
            }
            plain(StatusCode::OK, "")
        }
        Ok(Ok(Err(e))) => {
            tracing::error!(channel = %st.channel, error = %e, "cannot store a Feishu message");
            plain(StatusCode::INTERNAL_SERVER_ERROR, "")
        }
        Ok(Err(e)) => {
            tracing::error!(channel = %st.channel, error = %e, "Feishu message task failed");
            plain(StatusCode::INTERNAL_SERVER_ERROR, "")
        }
        Err(_) => {
            tracing::warn!(channel = %st.channel, "storing a Feishu message is slow; answered 500");
            plain(StatusCode::INTERNAL_SERVER_ERROR, "")
        }
    }
}

// ---- sending ----

#[derive(Deserialize)]
struct TokenReply {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    msg: String,
    #[serde(default)]
    tenant_access_token: String,
    #[serde(default)]
    expire: u64,
}

/// Codes meaning the tenant access token was refused: fetch another and try once more.
fn token_refused(code: i64) -> bool {
    matches!(code, 99991661 | 99991663 | 99991664 | 99991665 | 99991668)
}

pub struct FeishuAppChannel {
    settings: FeishuAppSettings,
    caps: Capabilities,
    http: reqwest::Client,
    token: TokenCache,
}

impl FeishuAppChannel {
    pub fn new(settings: FeishuAppSettings) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(Duration::from_millis(settings.timeout_ms.max(1))).build()?;
        let caps = settings.capabilities();
        Ok(FeishuAppChannel { settings, caps, http, token: TokenCache::default() })
    }

    fn retry(&self) -> Duration {
        Duration::from_secs(self.settings.rate_limited_retry_secs)
    }

    async fn access_token(&self, refresh: bool) -> Result<String, SendError> {
        self.token.get(refresh, || self.request_token()).await
    }

    /// `tenant_access_token/internal`: a new token and its lifetime in seconds.
    async fn request_token(&self) -> Result<(String, u64), SendError> {
        let url = api_url(&self.settings.base_url, "/open-apis/auth/v3/tenant_access_token/internal");
        let body = json!({ "app_id": self.settings.app_id.trim(), "app_secret": self.settings.app_secret.expose() });
        let resp = self
            .http
            .post(url)
            .json(&body)
            .send()
            .await
            .map_err(|e| transport_error("飞书 tenant_access_token 无法连接", e))?;
        let status = resp.status();
        let Ok(r) = resp.json::<TokenReply>().await else {
            return Err(status_error("飞书 tenant_access_token", status, self.retry()));
        };
        if r.code != 0 {
            classify(r.code, &r.msg, self.retry())?;
        }
        if r.tenant_access_token.is_empty() {
            return Err(SendError::Transient("飞书没有返回 tenant_access_token".into()));
        }
        Ok((r.tenant_access_token, r.expire))
    }

    /// One message resource download. `Ok(None)`: the token was refused. Feishu answers errors
    /// as JSON (`{"code", "msg"}`), the picture as its bytes.
    async fn download_picture(
        &self,
        token: &str,
        message_id: &str,
        key: &str,
        max_bytes: u64,
    ) -> Result<Option<Vec<u8>>, MediaError> {
        let what = "Feishu message resource";
        let url = api_url(&self.settings.base_url, &format!("/open-apis/im/v1/messages/{message_id}/resources/{key}"));
        let resp = self
            .http
            .get(url)
            .query(&[("type", "image")])
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| MediaError::Failed(format!("{what}: {}", e.without_url())))?;
        let status = resp.status();
        let json = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("application/json"));
        if status.is_success() && !json {
            return read_capped(resp, max_bytes, what).await.map(Some);
        }
        // An error is a few dozen bytes; the cap keeps a misbehaving server from filling memory.
        let body = read_capped(resp, 64 * 1024, what).await.unwrap_or_default();
        let reply: Option<ApiReply> = serde_json::from_slice(&body).ok();
        match reply {
            Some(r) if token_refused(r.code()) => Ok(None),
            _ if status == reqwest::StatusCode::UNAUTHORIZED => Ok(None),
            Some(r) if r.code() != 0 => {
                let msg: String = r.msg.chars().take(200).collect();
                Err(MediaError::Failed(format!("{what} refused (code {}: {msg})", r.code())))
            }
            _ => Err(MediaError::Failed(format!("{what} answered HTTP {status} without the picture"))),
        }
    }

    /// One message API call. `Ok(None)`: the token was refused.
    async fn post_message(&self, token: &str, id_type: &str, body: &Value) -> Result<Option<ApiReply>, SendError> {
        let what = "飞书消息接口";
        let url = api_url(&self.settings.base_url, "/open-apis/im/v1/messages");
        let resp = self
            .http
            .post(url)
            .query(&[("receive_id_type", id_type)])
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .map_err(|e| transport_error(what, e))?;
        let status = resp.status();
        let reply: Option<ApiReply> = resp.json().await.ok();
        match reply {
            Some(r) if token_refused(r.code()) => Ok(None),
            Some(r) if r.code() != 0 || status.is_success() => {
                classify(r.code(), &r.msg, self.retry())?;
                Ok(Some(r))
            }
            _ if status == reqwest::StatusCode::UNAUTHORIZED => Ok(None),
            _ => Err(status_error(what, status, self.retry())),
        }
    }
}

#[async_trait]
impl Channel for FeishuAppChannel {
    fn name(&self) -> &str {
        &self.settings.name
    }

    fn platform(&self) -> &'static str {
        PLATFORM
    }

    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    async fn send(&self, msg: &OutboundMessage) -> Result<SendReceipt, SendError> {
        if msg.attachment.is_some() {
            return Err(SendError::Permanent("飞书应用机器人不能发送文件".into()));
        }
        let id_type = match msg.chat.kind {
            ChatKind::Group => "chat_id",
            ChatKind::Private => "open_id",
        };
        let content = json!({ "text": text_content(&msg.segments) }).to_string();
        if content.len() > MAX_CONTENT_BYTES {
            return Err(SendError::Permanent(format!("消息超过飞书 {MAX_CONTENT_BYTES} 字节的长度限制")));
        }
        let body = json!({ "receive_id": msg.chat.id, "msg_type": "text", "content": content });
        let token = self.access_token(false).await?;
        let reply = match self.post_message(&token, id_type, &body).await? {
            Some(r) => r,
            None => {
                let token = self.access_token(true).await?;
                self.post_message(&token, id_type, &body).await?.ok_or_else(|| {
                    SendError::Permanent("飞书拒绝了新取得的 tenant_access_token (检查应用权限)".into())
                })?
            }
        };
        let id = reply.data.as_ref().and_then(|d| d["message_id"].as_str()).map(str::to_string);
        Ok(SendReceipt { platform_msg_id: id })
    }

    async fn run(self: Arc<Self>, _ctx: ChannelContext) -> anyhow::Result<()> {
        Ok(())
    }

    /// A picture by its `<message_id>/<image_key>` through the message resource API with the
    /// tenant access token (fetched again once when Feishu refuses it).
    async fn resolve_media(&self, media: &MediaRef, max_bytes: u64) -> Result<MediaSource, MediaError> {
        let Some(file_id) = media.file_id.as_deref().filter(|f| !f.trim().is_empty()) else {
            return match media.url.as_deref().filter(|u| !u.trim().is_empty()) {
                Some(url) => Ok(MediaSource::Link(url.to_string())),
                None => Err(MediaError::Unsupported),
            };
        };
        let Some((message_id, key)) = parse_picture_id(file_id) else {
            return Err(MediaError::Failed("not a Feishu picture id (<message_id>/<image_key>)".into()));
        };
        let token_failed = |e: SendError| MediaError::Failed(format!("Feishu tenant_access_token: {e}"));
        let token = self.access_token(false).await.map_err(token_failed)?;
        if let Some(bytes) = self.download_picture(&token, message_id, key, max_bytes).await? {
            return Ok(MediaSource::Bytes(bytes));
        }
        let token = self.access_token(true).await.map_err(token_failed)?;
        match self.download_picture(&token, message_id, key, max_bytes).await? {
            Some(bytes) => Ok(MediaSource::Bytes(bytes)),
            None => Err(MediaError::Failed(
                "Feishu refused a fresh tenant_access_token (check the app's permissions)".into(),
            )),
        }
    }

    fn routes(self: Arc<Self>, ctx: ChannelContext) -> Option<Router> {
        let state = Arc::new(CallbackState {
            channel: self.settings.name.clone(),
            verification_token: self.settings.verification_token.clone(),
            encrypt_key: self.settings.encrypt_key.clone(),
            sink: ctx.sink,
            ack_timeout: Duration::from_millis(self.settings.ack_timeout_ms.max(1)),
        });
        Some(
            Router::new()
                .route(&self.settings.callback_path, post(receive))
                .layer(DefaultBodyLimit::max(BODY_LIMIT))
                .with_state(state),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(json: &str) -> MessageEvent {
        serde_json::from_str(json).unwrap()
    }

    /// The sample Feishu publishes: Encrypt Key "test key", this text decrypts to "hello world".
    #[test]
    fn decrypts_the_published_sample() {
        assert_eq!(decrypt("test key", "P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=").as_deref(), Some("hello world"));
        assert_eq!(decrypt("other key", "P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk="), None);
        assert_eq!(decrypt("test key", "not base64!"), None);
        assert_eq!(decrypt("test key", "AAAA"), None);
    }

    #[test]
    fn private_and_group_messages_map_to_chats() {
        let ev = event(
            r#"{"sender":{"sender_id":{"open_id":"ou_a1"}},"message":{"message_id":"om_1","chat_id":"oc_p",
                "chat_type":"p2p","message_type":"text","content":"{\"text\":\" 帮助 \"}","create_time":"1774080994334"}}"#,
        );
        let Decoded::Message(m) = decode("feishu", &ev).unwrap() else { panic!() };
        assert_eq!(m.chat, ChatRef::private("feishu", "ou_a1"));
        assert_eq!(m.command_text(), "帮助");
        assert!(m.to_me);
        assert_eq!(m.sent_at.timestamp_millis(), 1774080994334);
        let ev = event(
            r#"{"sender":{"sender_id":{"open_id":"ou_b2"}},"message":{"message_id":"om_2","chat_id":"oc_g",
                "chat_type":"group","message_type":"text","content":"{\"text\":\"@_user_1 本周安排\"}",
                "mentions":[{"key":"@_user_1"}]}}"#,
        );
        let Decoded::Message(m) = decode("feishu", &ev).unwrap() else { panic!() };
        assert_eq!(m.chat, ChatRef::group("feishu", "oc_g"));
        assert_eq!(m.command_text(), "本周安排");
        assert!(m.to_me);
        let no_sender = event(r#"{"message":{"message_id":"om_3","chat_type":"p2p","message_type":"text"}}"#);
        assert!(decode("feishu", &no_sender).is_err());
        let sticker = event(
            r#"{"sender":{"sender_id":{"open_id":"ou_c"}},"message":{"message_id":"om_4","chat_type":"p2p","message_type":"sticker"}}"#,
        );
        assert!(matches!(decode("feishu", &sticker), Ok(Decoded::Ignored(_))));
    }

    #[test]
    fn a_picture_keeps_its_message_and_image_key() {
        let ev = event(
            r#"{"sender":{"sender_id":{"open_id":"ou_d4"}},"message":{"message_id":"om_p5","chat_type":"p2p",
                "message_type":"image","content":"{\"image_key\":\"img_v2_041b\"}"}}"#,
        );
        let Decoded::Message(m) = decode("feishu", &ev).unwrap() else { panic!() };
        let id = m.images().next().unwrap().file_id.clone().unwrap();
        assert_eq!(id, "om_p5/img_v2_041b");
        assert_eq!(parse_picture_id(&id), Some(("om_p5", "img_v2_041b")));
        assert_eq!(parse_picture_id("img_v2_041b"), None);
        assert_eq!(parse_picture_id("om_1/../x"), None);
    }
}
