//! WeCom 智能机器人 (AI bot) in API mode with a callback URL (短连接): group @-messages and
//! private messages to the bot, replies through each message's `response_url`.
//!
//! Receiving: the same signature and AES scheme as the self-built app (`crypto::MsgCrypt`, with
//! an empty receive id), but JSON:
//! * `GET ?msg_signature&timestamp&nonce&echostr`: verify, decrypt, answer the plaintext.
//! * `POST ?msg_signature&timestamp&nonce` with `{"encrypt": "…"}`; the decrypted message is
//!   `{"msgid", "aibotid", "chatid" (groups), "chattype": "single"|"group", "from": {"userid"},
//!   "response_url", "msgtype": "text"|"image"|"mixed"|"voice"|"file", …}`. A group message
//!   reaches the bot only when it @-mentions it; its text starts with that mention, which is
//!   taken out of the command text. Images (private chats, or inside `mixed` messages) come as a
//!   download `url`, valid for five minutes, of the picture AES-encrypted with the bot's key. It
//!   is kept as the picture's `file_id` (not as a plain link, which anything could fetch as the
//!   photo): this channel hands it to the evidence fetcher, which downloads it through its SSRF
//!   guard, and [`Channel::open_media`] decrypts it.
//!
//! Refused with 403: a wrong signature, a timestamp further than `max_clock_skew_secs` from our
//! clock, a nonce seen before with another request (WeCom promises nonces do not repeat within
//! two hours; the same request again is a retry or a replay and is answered 200 without being
//! acted on twice, since its `msgid` is already stored). Malformed requests get 400. The
//! message is stored before the 200 (`callback::store_then_ack`), deduplicated by `msgid`. The
//! answer is an empty body: no passive reply.
//!
//! Sending: `POST <response_url>` with `{"msgtype": "markdown", "markdown": {"content"}}`. WeCom
//! allows **one** call per `response_url`, within **one hour** of the message. Each chat keeps
//! its unused response URLs in memory, oldest first; a send takes one (used only within
//! `reply_window_secs` of its message) and spends it once the request may have reached WeCom (a
//! failed connection puts it back). With none left (a second
//! message for one command, an answer after an hour, a restart) the send goes to the group robot
//! configured for that chat (`[[channels.wecom_aibot.robots]]`), or fails permanently saying
//! why. The bot cannot start a conversation: `can_push` is false, so reminders are never routed
//! to it — register the group's robot as a `wecom_robot` channel for those.

use super::callback::{check_signed, echo_reply, plain, restore_plus, store_then_ack, CallbackQuery};
use super::crypto::{decode_aes_key, MsgCrypt};
use super::robot::{RobotFormat, WecomRobotChannel, WecomRobotSettings};
use super::{classify, status_error, transport_error, ApiReply, DEFAULT_API_BASE, PLATFORM};
use crate::chat::channel::{
    Capabilities, Channel, ChannelContext, InboundSink, MediaError, MediaSource, MentionSupport, SendError, SendReceipt,
};
use crate::chat::model::{plain_text, ChatKind, ChatRef, InboundMessage, MediaRef, OutboundMessage, Segment, UserRef};
use crate::chat::registry::{Built, Configured, Factory};
use crate::config::{parse_section, ConfigError, RawSection, Settings};
use crate::secret::Secret;
use async_trait::async_trait;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Callback bodies are a few kilobytes.
const BODY_LIMIT: usize = 64 * 1024;
/// WeCom's limit on one `response_url`.
const RESPONSE_URL_LIFE_SECS: u64 = 3600;
/// Markdown content of a reply, in UTF-8 bytes.
const MARKDOWN_MAX_BYTES: usize = 20_480;
/// Unused response URLs kept per chat (the oldest are dropped beyond it).
const URLS_PER_CHAT: usize = 32;

/// `[[channels.wecom_aibot.robots]]`: the group robot in a chat the bot is in, for sends that
/// have no response URL left.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FallbackRobot {
    /// The group's `chatid` as the bot's callbacks give it.
    pub chat_id: String,
    /// The group robot's webhook key (or its whole webhook address).
    pub key: Secret,
}

/// `[channels.wecom_aibot]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WecomAibotSettings {
    pub enabled: bool,
    /// The channel instance name (`[[groups]] channel = …` for the bot's groups).
    pub name: String,
    /// API 模式 → Token.
    pub token: Secret,
    /// API 模式 → EncodingAESKey (43 characters).
    pub encoding_aes_key: Secret,
    /// Where the callback is served on the HTTP listener.
    pub callback_path: String,
    /// WeCom's API address: response URLs elsewhere are not used (and the robots post here).
    pub api_base_url: String,
    pub max_clock_skew_secs: u64,
    pub ack_timeout_ms: u64,
    /// A response URL is used only this long after its message (WeCom allows one hour).
    pub reply_window_secs: u64,
    pub max_message_chars: usize,
    pub timeout_ms: u64,
    pub robots: Vec<FallbackRobot>,
}

impl Default for WecomAibotSettings {
    fn default() -> Self {
        WecomAibotSettings {
            enabled: false,
            name: "wecom_aibot".into(),
            token: Secret::default(),
            encoding_aes_key: Secret::default(),
            callback_path: "/wecom/aibot".into(),
            api_base_url: DEFAULT_API_BASE.into(),
            max_clock_skew_secs: 300,
            ack_timeout_ms: 3_000,
            reply_window_secs: 3_300,
            max_message_chars: 2_000,
            timeout_ms: 10_000,
            robots: Vec::new(),
        }
    }
}

impl WecomAibotSettings {
    /// Checks what serde cannot. Returns the offending key (relative to `channels.wecom_aibot`).
    pub fn validate(&self) -> Result<(), (String, String)> {
        let err = |k: &str, m: &str| Err((k.to_string(), m.to_string()));
        if !self.enabled {
            return Ok(());
        }
        if self.name.trim().is_empty() {
            return err("name", "must not be empty");
        }
        if self.token.is_empty() {
            return err("token", "required: 智能机器人 → API 模式 → Token");
        }
        if decode_aes_key(self.encoding_aes_key.expose()).is_err() {
            return err("encoding_aes_key", "required: the 43-character EncodingAESKey (智能机器人 → API 模式)");
        }
        super::callback::check_endpoint_settings(&self.callback_path, &self.api_base_url, self.ack_timeout_ms)?;
        if self.max_clock_skew_secs == 0 || self.max_clock_skew_secs > 7_200 {
            return err("max_clock_skew_secs", "must be between 1 and 7200 (nonces are unique for two hours)");
        }
        if self.reply_window_secs < 60 || self.reply_window_secs > RESPONSE_URL_LIFE_SECS {
            return err("reply_window_secs", "must be between 60 and 3600 (a response_url lives one hour)");
        }
        let cap = MARKDOWN_MAX_BYTES / 3;
        if self.max_message_chars < 16 || self.max_message_chars > cap {
            return Err(("max_message_chars".into(), format!("must be between 16 and {cap}")));
        }
        for (i, r) in self.robots.iter().enumerate() {
            if r.chat_id.trim().is_empty() {
                return Err((format!("robots[{i}].chat_id"), "required: the group's chatid".into()));
            }
            if self.robots[..i].iter().any(|o| o.chat_id.trim() == r.chat_id.trim()) {
                return Err((format!("robots[{i}].chat_id"), "this group already has a robot".into()));
            }
            if self.robot_settings(r).validate().is_err() {
                return Err((format!("robots[{i}].key"), "required: the group robot's webhook key".into()));
            }
        }
        Ok(())
    }

    pub fn capabilities(&self) -> Capabilities {
        Capabilities {
            can_receive: true,
            // Only answers, through the message's response_url (or the group's robot).
            can_push: false,
            // Replies in private chats with the bot.
            can_send_private: true,
            mention: MentionSupport::None,
            mention_all: false,
            max_message_chars: self.max_message_chars,
            global_limits: Vec::new(),
            per_chat_limits: Vec::new(),
            max_concurrent_sends: 4,
            // Markdown only: files go as download links, charts are left out.
            can_send_files: false,
            max_file_bytes: 0,
            can_send_images: false,
            max_image_bytes: 0,
        }
    }

    fn robot_settings(&self, r: &FallbackRobot) -> WecomRobotSettings {
        WecomRobotSettings {
            enabled: true,
            name: format!("{} robot", self.name),
            group: r.chat_id.trim().to_string(),
            key: r.key.clone(),
            format: RobotFormat::Markdown,
            api_base_url: self.api_base_url.clone(),
            max_per_minute: 20,
            rate_limited_retry_secs: 60,
            max_message_chars: 0,
            timeout_ms: self.timeout_ms,
        }
    }
}

/// Unused response URLs per chat key, oldest first.
#[derive(Default)]
struct ResponseUrls(Mutex<HashMap<String, VecDeque<(String, Instant)>>>);

impl ResponseUrls {
    fn remember(&self, chat_key: String, url: String, window: Duration) {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        m.retain(|_, q| {
            q.retain(|(_, at)| at.elapsed() < window);
            !q.is_empty()
        });
        let q = m.entry(chat_key).or_default();
        // A retried callback carries the same URL.
        if q.iter().any(|(u, _)| *u == url) {
            return;
        }
        if q.len() >= URLS_PER_CHAT {
            q.pop_front();
        }
        q.push_back((url, Instant::now()));
    }

    /// The chat's oldest usable URL, taken: each may be used once.
    fn take(&self, chat_key: &str, window: Duration) -> Option<(String, Instant)> {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let q = m.get_mut(chat_key)?;
        while let Some((url, at)) = q.pop_front() {
            if at.elapsed() < window {
                return Some((url, at));
            }
        }
        None
    }

    /// A URL taken but never reached WeCom (no connection): usable again, first in line.
    fn put_back(&self, chat_key: &str, url: String, at: Instant) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).entry(chat_key.to_string()).or_default().push_front((url, at));
    }
}

/// Nonces of verified requests within the skew window, with the signature they came with.
#[derive(Default)]
struct Nonces(Mutex<HashMap<String, (String, Instant)>>);

enum NonceCheck {
    New,
    /// The same request again (WeCom retrying, or a replay): deduplicated by msgid.
    Repeat,
    /// The nonce came with another request: refused.
    Reused,
}

impl Nonces {
    fn check(&self, nonce: &str, signature: &str, keep: Duration) -> NonceCheck {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        m.retain(|_, (_, at)| at.elapsed() < keep);
        match m.get(nonce) {
            Some((sig, _)) if sig.eq_ignore_ascii_case(signature.trim()) => NonceCheck::Repeat,
            Some(_) => NonceCheck::Reused,
            None => {
                m.insert(nonce.to_string(), (signature.trim().to_ascii_lowercase(), Instant::now()));
                NonceCheck::New
            }
        }
    }
}

/// The decrypted callback (the fields Dudao uses).
#[derive(Debug, Deserialize)]
pub struct AibotMessage {
    #[serde(default)]
    pub msgid: String,
    #[serde(default)]
    pub aibotid: String,
    #[serde(default)]
    pub chatid: String,
    #[serde(default)]
    pub chattype: String,
    #[serde(default)]
    pub from: Sender,
    #[serde(default)]
    pub response_url: String,
    #[serde(default)]
    pub msgtype: String,
    #[serde(default)]
    pub create_time: Option<i64>,
    #[serde(default)]
    pub text: Option<Content>,
    #[serde(default)]
    pub voice: Option<Content>,
    #[serde(default)]
    pub image: Option<UrlItem>,
    #[serde(default)]
    pub file: Option<UrlItem>,
    #[serde(default)]
    pub mixed: Option<Mixed>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Sender {
    #[serde(default)]
    pub userid: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct Content {
    #[serde(default)]
    pub content: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct UrlItem {
    #[serde(default)]
    pub url: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct Mixed {
    #[serde(default)]
    pub msg_item: Vec<MixedItem>,
}

#[derive(Debug, Default, Deserialize)]
pub struct MixedItem {
    #[serde(default)]
    pub msgtype: String,
    #[serde(default)]
    pub text: Option<Content>,
    #[serde(default)]
    pub image: Option<UrlItem>,
}

/// What a decrypted callback means for Dudao.
#[derive(Debug, PartialEq)]
pub enum Decoded {
    Message(Box<InboundMessage>),
    /// Events (entering the chat, card clicks), stream refreshes, kinds Dudao does not use.
    Ignored(String),
}

/// The group text without its leading `@机器人` mention, which WeCom keeps in `content`: the
/// mention as a segment, then the rest.
fn strip_leading_mention(text: &str, bot: &str, out: &mut Vec<Segment>) {
    let trimmed = text.trim_start();
    if let Some(rest) = trimmed.strip_prefix('@') {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let (name, after) = rest.split_at(end);
        if !name.is_empty() {
            out.push(Segment::Mention { user_id: bot.to_string(), name: name.to_string() });
            out.push(Segment::text(after.trim_start()));
            return;
        }
    }
    out.push(Segment::text(text));
}

/// A picture: its download link is kept as the file id, not as `url`, since what it serves is
/// encrypted: only this channel (which can decrypt it) may fetch it, never the plain-link path.
fn image(url: &str) -> Segment {
    Segment::Image { media: MediaRef { name: None, url: None, file_id: Some(url.trim().to_string()) } }
}

/// Maps a decrypted callback to the chat model: private chat = the sender's userid, group =
/// `chatid`; always addressed to the bot (groups deliver only @-messages).
pub fn decode(channel: &str, m: &AibotMessage) -> Result<Decoded, &'static str> {
    let group = match m.chattype.as_str() {
        "group" => true,
        "single" => false,
        "" if m.msgtype == "event" => return Ok(Decoded::Ignored("event".into())),
        _ => return Err("chattype is neither single nor group"),
    };
    let mut segments = Vec::new();
    match m.msgtype.as_str() {
        "text" => {
            let t = m.text.as_ref().map(|t| t.content.as_str()).unwrap_or_default();
            if group {
                strip_leading_mention(t, &m.aibotid, &mut segments);
            } else {
                segments.push(Segment::text(t));
            }
        }
        // WeCom transcribes voice messages; the words are what was said.
        "voice" => segments.push(Segment::text(m.voice.as_ref().map(|v| v.content.as_str()).unwrap_or_default())),
        "image" => {
            let url = m.image.as_ref().map(|i| i.url.trim()).filter(|u| !u.is_empty()).ok_or("image without url")?;
            segments.push(image(url));
        }
        "mixed" => {
            let items = m.mixed.as_ref().map(|x| x.msg_item.as_slice()).unwrap_or_default();
            for item in items {
                match (item.msgtype.as_str(), &item.text, &item.image) {
                    ("text", Some(t), _) if group && segments.is_empty() => {
                        strip_leading_mention(&t.content, &m.aibotid, &mut segments)
                    }
                    ("text", Some(t), _) => segments.push(Segment::text(t.content.as_str())),
                    ("image", _, Some(i)) if !i.url.trim().is_empty() => segments.push(image(&i.url)),
                    _ => {}
                }
            }
            if segments.is_empty() {
                return Err("mixed message without text or image");
            }
        }
        "file" => segments.push(Segment::File {
            media: MediaRef { name: None, url: m.file.as_ref().map(|f| f.url.trim().to_string()), file_id: None },
        }),
        other => return Ok(Decoded::Ignored(format!("message type {other}"))),
    }
    let from = m.from.userid.trim();
    if from.is_empty() {
        return Err("from.userid missing");
    }
    if m.msgid.trim().is_empty() {
        return Err("msgid missing");
    }
    let chat = if group {
        let chat_id = m.chatid.trim();
        if chat_id.is_empty() {
            return Err("group message without chatid");
        }
        ChatRef::group(channel, chat_id)
    } else {
        ChatRef::private(channel, from)
    };
    let sent_at = m.create_time.and_then(|t| DateTime::<Utc>::from_timestamp(t, 0)).unwrap_or_else(Utc::now);
    Ok(Decoded::Message(Box::new(InboundMessage {
        chat,
        sender: UserRef { id: from.to_string(), display: None },
        platform_msg_id: m.msgid.trim().to_string(),
        segments,
        to_me: true,
        sent_at,
    })))
}

#[derive(Deserialize)]
struct Encrypted {
    encrypt: String,
}

struct CallbackState {
    channel: String,
    crypt: MsgCrypt,
    sink: Arc<dyn InboundSink>,
    max_clock_skew: Duration,
    ack_timeout: Duration,
    nonces: Nonces,
    urls: Arc<ResponseUrls>,
    reply_window: Duration,
    api_origin: Option<reqwest::Url>,
}

impl CallbackState {
    fn check(&self, q: &CallbackQuery, encrypt: &str) -> Result<NonceCheck, (StatusCode, &'static str)> {
        let (nonce, sig) = check_signed(&self.channel, &self.crypt, self.max_clock_skew, q, encrypt)?;
        match self.nonces.check(nonce, sig, self.max_clock_skew * 2) {
            NonceCheck::Reused => {
                tracing::warn!(channel = %self.channel, "WeCom AI bot callback reusing a nonce refused");
                Err((StatusCode::FORBIDDEN, "nonce already used"))
            }
            other => Ok(other),
        }
    }

    /// A response URL on WeCom's own API address; anything else is not used.
    fn trusted_url(&self, url: &str) -> bool {
        let Ok(u) = reqwest::Url::parse(url.trim()) else { return false };
        self.api_origin.as_ref().is_some_and(|o| o.origin() == u.origin())
    }
}

async fn verify_url(State(st): State<Arc<CallbackState>>, Query(q): Query<CallbackQuery>) -> Response {
    let Some(echo) = q.echostr.as_deref().map(restore_plus) else {
        return plain(StatusCode::BAD_REQUEST, "missing echostr");
    };
    if let Err((status, why)) = st.check(&q, &echo) {
        return plain(status, why);
    }
    echo_reply(&st.channel, &st.crypt, &echo)
}

async fn receive(State(st): State<Arc<CallbackState>>, Query(q): Query<CallbackQuery>, body: String) -> Response {
    let Ok(outer) = serde_json::from_str::<Encrypted>(&body) else {
        return plain(StatusCode::BAD_REQUEST, "expected {\"encrypt\": …}");
    };
    let encrypt = outer.encrypt.trim();
    if encrypt.is_empty() {
        return plain(StatusCode::BAD_REQUEST, "empty encrypt");
    }
    let repeat = match st.check(&q, encrypt) {
        Ok(c) => matches!(c, NonceCheck::Repeat),
        Err((status, why)) => return plain(status, why),
    };
    let inner = match st.crypt.decrypt(encrypt) {
        Ok(x) => x,
        Err(e) => {
            tracing::warn!(channel = %st.channel, error = %e, "WeCom AI bot callback cannot be decrypted; refused");
            return plain(StatusCode::FORBIDDEN, "cannot decrypt");
        }
    };
    let Ok(m) = serde_json::from_str::<AibotMessage>(&inner) else {
        return plain(StatusCode::BAD_REQUEST, "malformed message JSON");
    };
    let msg = match decode(&st.channel, &m) {
        Ok(Decoded::Message(msg)) => *msg,
        Ok(Decoded::Ignored(what)) => {
            tracing::debug!(channel = %st.channel, %what, "WeCom AI bot callback ignored");
            return plain(StatusCode::OK, "");
        }
        Err(why) => {
            tracing::warn!(channel = %st.channel, why, "WeCom AI bot message not understood");
            return plain(StatusCode::BAD_REQUEST, why);
        }
    };
    if !m.response_url.trim().is_empty() {
        if st.trusted_url(&m.response_url) {
            st.urls.remember(msg.chat.key(), m.response_url.trim().to_string(), st.reply_window);
        } else {
            tracing::warn!(channel = %st.channel, "response_url not on the configured api_base_url; not used");
        }
    }
    if repeat {
        tracing::info!(channel = %st.channel, "WeCom AI bot callback repeated; stored once by its msgid");
    }
    store_then_ack(&st.sink, &st.channel, st.ack_timeout, msg).await
}

pub struct WecomAibotChannel {
    settings: WecomAibotSettings,
    caps: Capabilities,
    http: reqwest::Client,
    crypt: MsgCrypt,
    urls: Arc<ResponseUrls>,
    robots: HashMap<String, WecomRobotChannel>,
}

impl WecomAibotChannel {
    pub fn new(settings: WecomAibotSettings) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(Duration::from_millis(settings.timeout_ms.max(1))).build()?;
        let crypt = MsgCrypt::new(settings.token.expose(), settings.encoding_aes_key.expose(), "")?;
        let mut robots = HashMap::new();
        for r in &settings.robots {
            robots.insert(r.chat_id.trim().to_string(), WecomRobotChannel::new(settings.robot_settings(r))?);
        }
        let caps = settings.capabilities();
        Ok(WecomAibotChannel { settings, caps, http, crypt, urls: Default::default(), robots })
    }

    fn window(&self) -> Duration {
        Duration::from_secs(self.settings.reply_window_secs)
    }

    /// One call to a response URL. The URL is spent once the request may have reached WeCom;
    /// when no connection could be made it is put back for the retry.
    async fn respond(&self, chat_key: &str, url: String, at: Instant, content: &str) -> Result<SendReceipt, SendError> {
        let body = json!({ "msgtype": "markdown", "markdown": { "content": content } });
        let what = "企业微信智能机器人回复";
        let resp = match self.http.post(&url).json(&body).send().await {
            Ok(r) => r,
            Err(e) => {
                if e.is_connect() {
                    self.urls.put_back(chat_key, url, at);
                }
                return Err(transport_error("企业微信智能机器人无法连接", e));
            }
        };
        if !resp.status().is_success() {
            return Err(status_error(what, resp.status()));
        }
        let reply: ApiReply = resp
            .json()
            .await
            .map_err(|e| SendError::Transient(format!("{what}的回应无法解析: {}", e.without_url())))?;
        classify(reply.errcode, &reply.errmsg, Duration::from_secs(60))?;
        Ok(SendReceipt { platform_msg_id: None })
    }
}

#[async_trait]
impl Channel for WecomAibotChannel {
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
        let content = plain_text(&msg.segments);
        if content.len() > MARKDOWN_MAX_BYTES {
            return Err(SendError::Permanent(format!(
                "消息超过企业微信智能机器人 {MARKDOWN_MAX_BYTES} 字节的长度限制"
            )));
        }
        let key = msg.chat.key();
        if let Some((url, at)) = self.urls.take(&key, self.window()) {
            return self.respond(&key, url, at, &content).await;
        }
        if msg.chat.kind == ChatKind::Group {
            if let Some(robot) = self.robots.get(msg.chat.id.as_str()) {
                let via_robot = OutboundMessage {
                    chat: ChatRef::group(robot.name(), msg.chat.id.clone()),
                    segments: msg.segments.clone(),
                    attachment: None,
                };
                return robot.send(&via_robot).await;
            }
        }
        Err(SendError::Permanent(format!(
            "企业微信智能机器人只能在收到消息后一小时内回复一次 (response_url)；{} {} 没有未用的回复地址，也没有为它配置群机器人 (channels.wecom_aibot.robots)",
            if msg.chat.kind == ChatKind::Group { "群" } else { "私聊" },
            msg.chat.id
        )))
    }

    async fn run(self: Arc<Self>, _ctx: ChannelContext) -> anyhow::Result<()> {
        Ok(())
    }

    /// A picture's file id is its encrypted download link (valid five minutes), fetched through
    /// the evidence fetcher's SSRF guard; [`Channel::open_media`] then decrypts what it downloaded.
    async fn resolve_media(&self, media: &MediaRef, _max_bytes: u64) -> Result<MediaSource, MediaError> {
        match media.file_id.as_deref().filter(|u| !u.trim().is_empty()) {
            Some(url) => Ok(MediaSource::Link(url.trim().to_string())),
            None => Err(MediaError::Unsupported),
        }
    }

    fn open_media(&self, downloaded: Vec<u8>) -> Result<Vec<u8>, MediaError> {
        self.crypt
            .decrypt_media(&downloaded)
            .map_err(|e| MediaError::Failed(format!("WeCom AI bot image cannot be decrypted: {e}")))
    }

    fn routes(self: Arc<Self>, ctx: ChannelContext) -> Option<Router> {
        let state = Arc::new(CallbackState {
            channel: self.settings.name.clone(),
            crypt: self.crypt.clone(),
            sink: ctx.sink,
            max_clock_skew: Duration::from_secs(self.settings.max_clock_skew_secs),
            ack_timeout: Duration::from_millis(self.settings.ack_timeout_ms.max(1)),
            nonces: Nonces::default(),
            urls: self.urls.clone(),
            reply_window: self.window(),
            api_origin: reqwest::Url::parse(&self.settings.api_base_url).ok(),
        });
        Some(
            Router::new()
                .route(&self.settings.callback_path, get(verify_url).post(receive))
                .layer(DefaultBodyLimit::max(BODY_LIMIT))
                .with_state(state),
        )
    }
}

/// `[channels.wecom_aibot]` in the registry.
pub const FACTORY: Factory = Factory { section: "wecom_aibot", configure };

fn configure(raw: Option<&RawSection>, _settings: &Settings) -> Result<Vec<Configured>, ConfigError> {
    let Some(raw) = raw else { return Ok(Vec::new()) };
    let bot: WecomAibotSettings = parse_section("wecom_aibot", raw)?;
    bot.validate().map_err(|(key, message)| ConfigError::new(format!("channels.wecom_aibot.{key}"), message))?;
    if !bot.enabled {
        return Ok(Vec::new());
    }
    Ok(vec![Configured {
        name: bot.name.clone(),
        name_key: "channels.wecom_aibot.name".into(),
        http_paths: vec![("channels.wecom_aibot.callback_path".into(), bot.callback_path.clone())],
        build: Box::new(move || Built::channel(WecomAibotChannel::new(bot.clone())?)),
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(json: &str) -> AibotMessage {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn group_and_private_messages_map_to_chats() {
        let g = msg(r#"{"msgid":"m1","aibotid":"bot9","chatid":"wrkSFfCgAA","chattype":"group",
            "from":{"userid":"li.hua"},"response_url":"https://x/r","msgtype":"text",
            "text":{"content":"@督导助手  帮助"}}"#);
        let Decoded::Message(m) = decode("aibot", &g).unwrap() else { panic!() };
        assert_eq!(m.chat, ChatRef::group("aibot", "wrkSFfCgAA"));
        assert_eq!(m.sender.id, "li.hua");
        assert_eq!(m.command_text(), "帮助");
        assert_eq!(m.text(), "@督导助手帮助");
        assert!(m.to_me);
        let p = msg(r#"{"msgid":"m2","chattype":"single","from":{"userid":"li.hua"},"msgtype":"image",
            "image":{"url":"https://img.example/e1"}}"#);
        let Decoded::Message(m) = decode("aibot", &p).unwrap() else { panic!() };
        assert_eq!(m.chat, ChatRef::private("aibot", "li.hua"));
        let img = m.images().next().unwrap();
        assert_eq!((img.url.as_deref(), img.file_id.as_deref()), (None, Some("https://img.example/e1")));
        let mixed = msg(r#"{"msgid":"m3","chatid":"g","chattype":"group","from":{"userid":"u"},"msgtype":"mixed",
            "mixed":{"msg_item":[{"msgtype":"text","text":{"content":"@bot 完成 W3 已整改"}},
            {"msgtype":"image","image":{"url":"https://img.example/e2"}}]}}"#);
        let Decoded::Message(m) = decode("aibot", &mixed).unwrap() else { panic!() };
        assert_eq!(m.command_text(), "完成 W3 已整改");
        assert_eq!(m.images().count(), 1);
        let ev = msg(r#"{"msgid":"m4","msgtype":"event","from":{"userid":"u"}}"#);
        assert!(matches!(decode("aibot", &ev), Ok(Decoded::Ignored(_))));
        let bad =
            msg(r#"{"msgid":"m5","chattype":"group","from":{"userid":"u"},"msgtype":"text","text":{"content":"x"}}"#);
        assert!(decode("aibot", &bad).is_err());
    }

    #[test]
    fn response_urls_are_used_once_oldest_first_within_the_window() {
        let urls = ResponseUrls::default();
        let w = Duration::from_secs(60);
        urls.remember("group:g".into(), "u1".into(), w);
        urls.remember("group:g".into(), "u2".into(), w);
        urls.remember("group:g".into(), "u1".into(), w);
        let url = |t: Option<(String, Instant)>| t.map(|(u, _)| u);
        let (u1, at) = urls.take("group:g", w).unwrap();
        assert_eq!(u1, "u1");
        urls.put_back("group:g", u1, at);
        assert_eq!(url(urls.take("group:g", w)).as_deref(), Some("u1"), "put back first in line");
        assert_eq!(url(urls.take("group:g", w)).as_deref(), Some("u2"));
        assert_eq!(url(urls.take("group:g", w)), None);
        urls.remember("private:a".into(), "u3".into(), w);
        assert_eq!(url(urls.take("private:a", Duration::ZERO)), None, "past its window");
    }

    #[test]
    fn a_nonce_with_another_request_is_refused() {
        let n = Nonces::default();
        let keep = Duration::from_secs(600);
        assert!(matches!(n.check("123", "abc", keep), NonceCheck::New));
        assert!(matches!(n.check("123", "ABC", keep), NonceCheck::Repeat));
        assert!(matches!(n.check("123", "def", keep), NonceCheck::Reused));
    }

    #[test]
    fn settings_are_checked() {
        let ok = WecomAibotSettings {
            enabled: true,
            token: Secret::new("t"),
            encoding_aes_key: Secret::new("jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"),
            ..Default::default()
        };
        assert!(ok.validate().is_ok());
        let caps = ok.capabilities();
        assert!(caps.can_receive && !caps.can_push && caps.can_send_private);
        let e = WecomAibotSettings { token: Secret::default(), ..ok.clone() }.validate().unwrap_err();
        assert_eq!(e.0, "token");
        let e = WecomAibotSettings { reply_window_secs: 4000, ..ok.clone() }.validate().unwrap_err();
        assert_eq!(e.0, "reply_window_secs");
        let r = FallbackRobot { chat_id: "g".into(), key: Secret::default() };
        let e = WecomAibotSettings { robots: vec![r], ..ok }.validate().unwrap_err();
        assert_eq!(e.0, "robots[0].key");
    }
}
