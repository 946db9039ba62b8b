//! Telegram through the Bot API, with the `teloxide` crate's client (its re-exported requests and types).
//!
//! Receiving: long polling by default (`getUpdates`; the offset only moves past an update once
//! the pipeline has stored it, so a crash re-reads rather than loses, and the duplicate is
//! dropped by its `"{chat_id}:{message_id}"` id). Webhook mode mounts a route on Dudao's HTTP
//! listener and checks the `X-Telegram-Bot-Api-Secret-Token` header.
//!
//! Group privacy mode (Telegram's default) lets the bot see only commands, mentions of it and
//! replies to its messages; that is all Dudao needs. Such messages are `to_me`, as is every
//! private message.
//!
//! Sending: `sendMessage`, one request per outbox row. Telegram's limits (about one message a
//! second per chat, 20 a minute per group, 30 a second overall) are the channel's capabilities,
//! enforced by the outbox; teloxide's in-memory `Throttle` is not used, so the outbox stays the
//! record of what is still to send. A 429 (`retry_after`) pauses the channel.
//!
//! Photos (rectification evidence) arrive as file ids; `resolve_media` downloads one through
//! `getFile` and the Bot API's file endpoint when the evidence fetcher asks.

use super::channel::{
    Capabilities, Channel, ChannelContext, InboundSink, MediaError, MediaSource, MentionSupport, Rate, SendError,
    SendReceipt,
};
use super::model::{ChatRef, InboundMessage, MediaRef, OutboundMessage, Segment, UserRef};
use crate::chat::registry::{Built, Configured, Factory};
use crate::config::{parse_section, ConfigError, RawSection, Settings};
use crate::secret::Secret;
use async_trait::async_trait;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use futures::StreamExt;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use teloxide::net::Download;
use teloxide::payloads::{GetUpdatesSetters, SendMessageSetters, SetWebhookSetters};
use teloxide::requests::Requester;
use teloxide::types::{
    AllowedUpdate, ChatId, FileId, InputFile, Message, MessageEntity, MessageEntityKind, MessageId, ReplyParameters,
    Update, UpdateKind, UserId,
};
use teloxide::{ApiError, Bot, RequestError};
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;

pub const PLATFORM: &str = "telegram";
pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TelegramMode {
    #[default]
    Polling,
    Webhook,
}

/// `[channels.telegram]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TelegramSettings {
    pub enabled: bool,
    /// The channel instance name.
    pub name: String,
    /// The bot token from @BotFather.
    pub token: Secret,
    /// The Bot API server (a local `telegram-bot-api` server, or a test fake).
    pub api_url: String,
    /// Outgoing HTTP(S) proxy for the Bot API, e.g. `http://127.0.0.1:7890` (empty = the
    /// `HTTPS_PROXY` environment variable, if set). May carry credentials, so kept secret.
    pub proxy: Secret,
    pub mode: TelegramMode,
    /// Long-polling wait per `getUpdates`.
    pub poll_timeout_secs: u32,
    /// Webhook mode: the route on Dudao's HTTP listener.
    pub webhook_path: String,
    /// Webhook mode: the public HTTPS address Telegram posts to (it reaches `webhook_path`
    /// through your reverse proxy). When set, Dudao registers it with `setWebhook` at start;
    /// when empty, register it yourself.
    pub webhook_url: String,
    /// Webhook mode: the secret Telegram sends in `X-Telegram-Bot-Api-Secret-Token`
    /// (1–256 characters of A–Z, a–z, 0–9, `_`, `-`).
    pub webhook_secret: Secret,
    /// Messages per second over the bot (Telegram: about 30).
    pub max_per_second: u32,
    /// Messages per minute to one chat (Telegram: 20 for a group).
    pub chat_max_per_minute: u32,
    /// Minimum spacing between two messages to one chat (Telegram: about one a second).
    pub chat_min_interval_ms: u64,
    pub max_message_chars: usize,
    /// Timeout of a send request.
    pub timeout_ms: u64,
    /// After a failed poll: first wait, doubled up to the maximum.
    pub retry_initial_ms: u64,
    pub retry_max_ms: u64,
}

impl Default for TelegramSettings {
    fn default() -> Self {
        TelegramSettings {
            enabled: false,
            name: "telegram".into(),
            token: Secret::default(),
            api_url: "https://api.telegram.org".into(),
            proxy: Secret::default(),
            mode: TelegramMode::Polling,
            poll_timeout_secs: 25,
            webhook_path: "/telegram/webhook".into(),
            webhook_url: String::new(),
            webhook_secret: Secret::default(),
            max_per_second: 30,
            chat_max_per_minute: 20,
            chat_min_interval_ms: 1_000,
            max_message_chars: 4096,
            timeout_ms: 15_000,
            retry_initial_ms: 1_000,
            retry_max_ms: 60_000,
        }
    }
}

fn valid_secret_token(s: &str) -> bool {
    (1..=256).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl TelegramSettings {
    /// Checks what serde cannot. Returns the offending key (relative to `channels.telegram`).
    pub fn validate(&self) -> Result<(), (String, String)> {
        let err = |k: &str, m: &str| Err((k.to_string(), m.to_string()));
        if !self.enabled {
            return Ok(());
        }
        if self.name.trim().is_empty() {
            return err("name", "must not be empty");
        }
        if self.token.is_empty() {
            return err("token", "required: the bot token from @BotFather (123456789:AA…)");
        }
        if !self.token.expose().contains(':') || self.token.expose().chars().any(char::is_whitespace) {
            return err("token", "does not look like a bot token (123456789:AA…)");
        }
        if reqwest::Url::parse(&self.api_url).is_err() {
            return err("api_url", "not a URL");
        }
        if !self.proxy.is_empty() && reqwest::Proxy::all(self.proxy.expose()).is_err() {
            return err("proxy", "not a proxy URL (http://host:port)");
        }
        if !(1..=50).contains(&self.poll_timeout_secs) {
            return err("poll_timeout_secs", "must be between 1 and 50");
        }
        if self.mode == TelegramMode::Webhook {
            if !crate::http::is_plain_path(&self.webhook_path) {
                return err("webhook_path", "must start with '/' and use only letters, digits, '/', '-', '_' and '.'");
            }
            if self.webhook_secret.is_empty() {
                return err(
                    "webhook_secret",
                    "required in webhook mode: without it anyone could post fake updates to the webhook",
                );
            }
            if !valid_secret_token(self.webhook_secret.expose()) {
                return err("webhook_secret", "1–256 characters of A–Z, a–z, 0–9, _ and - (Telegram's rule)");
            }
            if !self.webhook_url.is_empty() && reqwest::Url::parse(&self.webhook_url).is_err() {
                return err("webhook_url", "not a URL");
            }
        }
        if self.max_message_chars < 16 || self.max_message_chars > 4096 {
            return err("max_message_chars", "must be between 16 and 4096");
        }
        if self.retry_initial_ms == 0 || self.retry_max_ms < self.retry_initial_ms {
            return err("retry_max_ms", "need 0 < retry_initial_ms <= retry_max_ms");
        }
        Ok(())
    }

    /// The route this channel mounts on the HTTP listener, if any.
    pub fn http_path(&self) -> Option<&str> {
        (self.enabled && self.mode == TelegramMode::Webhook).then_some(self.webhook_path.as_str())
    }

    pub fn capabilities(&self) -> Capabilities {
        let mut global_limits = Vec::new();
        if self.max_per_second > 0 {
            global_limits.push(Rate::per_second(self.max_per_second));
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
            // Only to people who have started a chat with the bot; others fail permanently.
            can_send_private: true,
            mention: MentionSupport::ById,
            mention_all: false,
            max_message_chars: self.max_message_chars,
            global_limits,
            per_chat_limits,
            max_concurrent_sends: 4,
            // sendDocument; the Bot API takes uploads of up to 50 MB.
            can_send_files: true,
            max_file_bytes: 50 * 1024 * 1024,
            // sendPhoto: the Bot API takes photos of up to 10 MB.
            can_send_images: true,
            max_image_bytes: 10 * 1024 * 1024,
        }
    }
}

/// Who the bot is, for recognising mentions of it and replies to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotIdentity {
    pub id: u64,
    pub username: String,
}

pub struct TelegramChannel {
    settings: TelegramSettings,
    caps: Capabilities,
    /// Sends and short calls.
    bot: Bot,
    /// Long polls: its client waits longer than the poll.
    poll_bot: Bot,
    me: OnceCell<BotIdentity>,
    /// The outcome of the last getMe / getUpdates.
    health: super::channel::HealthCell,
}

fn client(settings: &TelegramSettings, timeout: Duration) -> anyhow::Result<reqwest::Client> {
    let mut b = reqwest::Client::builder().connect_timeout(Duration::from_secs(5)).timeout(timeout).tcp_nodelay(true);
    if !settings.proxy.is_empty() {
        b = b.proxy(reqwest::Proxy::all(settings.proxy.expose())?);
    }
    Ok(b.build()?)
}

impl TelegramChannel {
    pub fn new(settings: TelegramSettings) -> anyhow::Result<Self> {
        let url = reqwest::Url::parse(settings.api_url.trim_end_matches('/'))?;
        let send_client = client(&settings, Duration::from_millis(settings.timeout_ms.max(1)))?;
        let poll_client = client(&settings, Duration::from_secs(u64::from(settings.poll_timeout_secs) + 15))?;
        let bot = Bot::with_client(settings.token.expose(), send_client).set_api_url(url.clone());
        let poll_bot = Bot::with_client(settings.token.expose(), poll_client).set_api_url(url);
        let caps = settings.capabilities();
        Ok(TelegramChannel { settings, caps, bot, poll_bot, me: OnceCell::new(), health: Default::default() })
    }

    pub fn settings(&self) -> &TelegramSettings {
        &self.settings
    }

    /// An error's text without the bot token (request URLs carry it).
    fn redact(&self, e: &dyn std::fmt::Display) -> String {
        let s = e.to_string();
        let token = self.settings.token.expose();
        if token.is_empty() {
            s
        } else {
            s.replace(token, "***")
        }
    }

    /// `getMe`, once.
    pub async fn identity(&self) -> Result<&BotIdentity, String> {
        self.me
            .get_or_try_init(|| async {
                let me = self.bot.get_me().await.map_err(|e| {
                    let why = self.redact(&e);
                    self.health.set(super::channel::ChannelHealth::down(format!("getMe failed: {why}")));
                    why
                })?;
                self.health.set(super::channel::ChannelHealth::up("getMe answered"));
                let id = BotIdentity { id: me.user.id.0, username: me.user.username.clone().unwrap_or_default() };
                tracing::info!(channel = %self.settings.name, bot = %id.username, "Telegram bot identified");
                Ok(id)
            })
            .await
    }

    /// What the outbox should do after a failed Bot API call.
    fn classify(&self, e: RequestError) -> SendError {
        match e {
            RequestError::RetryAfter(s) => {
                SendError::RateLimited { retry_after: s.duration().max(Duration::from_secs(1)) }
            }
            RequestError::MigrateToChatId(to) => SendError::Permanent(format!(
                "该群已升级为超级群，新的群 ID 为 {}，请重新登记群 (旧 ID 不再可用)",
                to.0
            )),
            RequestError::Network(_) | RequestError::Io(_) => {
                SendError::Transient(format!("Telegram 无法连接: {}", self.redact(&e)))
            }
            // A proxy or gateway answering with a page instead of the API's JSON.
            RequestError::InvalidJson { .. } => SendError::Transient("Telegram 的回应无法解析".into()),
            RequestError::Api(api) => match api {
                ApiError::Unknown(ref text)
                    if !(text.starts_with("Bad Request")
                        || text.starts_with("Forbidden")
                        || text.starts_with("Unauthorized")) =>
                {
                    // "Internal Server Error", "Bad Gateway", "Too Many Requests" without a delay…
                    SendError::Transient(format!("Telegram: {}", self.redact(&api)))
                }
                other => SendError::Permanent(format!("Telegram 拒绝: {}", self.redact(&other))),
            },
        }
    }

    /// Hands one update to the pipeline. `Ok(false)`: not a message Dudao keeps.
    async fn deliver_update(&self, sink: &Arc<dyn InboundSink>, update: &Update) -> anyhow::Result<bool> {
        let me = self.identity().await.map_err(|e| anyhow::anyhow!("getMe failed: {e}"))?;
        let UpdateKind::Message(m) = &update.kind else { return Ok(false) };
        let Some(msg) = map_message(&self.settings.name, me, m) else { return Ok(false) };
        let sink = sink.clone();
        // A task of its own: a caller that goes away (a dropped webhook connection) must not
        // cancel the store-then-act sequence halfway.
        tokio::spawn(async move { sink.deliver(msg).await }).await??;
        Ok(true)
    }

    async fn poll(self: Arc<Self>, ctx: ChannelContext) {
        let initial = Duration::from_millis(self.settings.retry_initial_ms.max(1));
        let max = Duration::from_millis(self.settings.retry_max_ms.max(self.settings.retry_initial_ms.max(1)));
        let mut delay = initial;
        let mut offset: Option<i32> = None;
        let pause = |d: Duration, sd: CancellationToken| async move {
            tokio::select! { _ = tokio::time::sleep(d) => false, _ = sd.cancelled() => true }
        };
        'outer: while !ctx.shutdown.is_cancelled() {
            let mut req = self
                .poll_bot
                .get_updates()
                .timeout(self.settings.poll_timeout_secs)
                .allowed_updates([AllowedUpdate::Message]);
            if let Some(o) = offset {
                req = req.offset(o);
            }
            let res = tokio::select! {
                r = req => r,
                _ = ctx.shutdown.cancelled() => break,
            };
            let updates = match res {
                Ok(u) => {
                    self.health.set(super::channel::ChannelHealth::up("getUpdates answered"));
                    u
                }
                Err(RequestError::Api(ApiError::CantGetUpdates)) => {
                    tracing::warn!(channel = %self.settings.name, "a webhook is set; removing it to use long polling");
                    if let Err(e) = self.bot.delete_webhook().await {
                        tracing::warn!(channel = %self.settings.name, error = %self.redact(&e), "deleteWebhook failed");
                    }
                    if pause(delay, ctx.shutdown.clone()).await {
                        break;
                    }
                    continue;
                }
                Err(e) => {
                    let why = match &e {
                        RequestError::Api(ApiError::TerminatedByOtherGetUpdates) => {
                            "another process polls with the same bot token".to_string()
                        }
                        other => self.redact(other),
                    };
                    tracing::warn!(channel = %self.settings.name, error = %why, retry_in_ms = delay.as_millis() as u64, "Telegram getUpdates failed");
                    self.health.set(super::channel::ChannelHealth::down(format!("getUpdates failed: {why}")));
                    if pause(delay, ctx.shutdown.clone()).await {
                        break;
                    }
                    delay = (delay * 2).min(max);
                    continue;
                }
            };
            delay = initial;
            for u in updates {
                // Stored before the offset moves past it; on failure, the same update again.
                let mut d = initial;
                loop {
                    match self.deliver_update(&ctx.sink, &u).await {
                        Ok(_) => break,
                        Err(e) => {
                            tracing::error!(channel = %self.settings.name, update = u.id.0, error = %self.redact(&e), "cannot store a Telegram update; retrying");
                            if pause(d, ctx.shutdown.clone()).await {
                                break 'outer;
                            }
                            d = (d * 2).min(max);
                        }
                    }
                }
                offset = Some(u.id.0 as i32 + 1);
            }
        }
        // Tell Telegram what we have, so a restart does not fetch it again.
        if let Some(o) = offset {
            let confirm = self.bot.get_updates().offset(o).limit(1).timeout(0);
            let _ = tokio::time::timeout(Duration::from_secs(2), confirm).await;
        }
    }

    async fn register_webhook(&self, shutdown: &CancellationToken) {
        let Ok(url) = reqwest::Url::parse(&self.settings.webhook_url) else { return };
        let mut delay = Duration::from_millis(self.settings.retry_initial_ms.max(1));
        loop {
            let req = self
                .bot
                .set_webhook(url.clone())
                .secret_token(self.settings.webhook_secret.expose().to_string())
                .allowed_updates([AllowedUpdate::Message]);
            match req.await {
                Ok(_) => {
                    tracing::info!(channel = %self.settings.name, url = %self.settings.webhook_url, "Telegram webhook registered");
                    return;
                }
                Err(e) => {
                    tracing::warn!(channel = %self.settings.name, error = %self.redact(&e), "setWebhook failed; retrying");
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = shutdown.cancelled() => return,
            }
            delay = (delay * 2).min(Duration::from_millis(self.settings.retry_max_ms.max(1)));
        }
    }
}

/// Renders segments as Telegram text with `text_mention`-style entities (offsets in UTF-16).
/// Returns the text, the entities and the message to reply to, if any.
pub fn render(chat_id: &str, segments: &[Segment]) -> (String, Vec<MessageEntity>, Option<MessageId>) {
    let mut text = String::new();
    let mut utf16 = 0usize;
    let mut entities = Vec::new();
    let mut reply = None;
    let mut push = |text: &mut String, s: &str| -> (usize, usize) {
        let start = utf16;
        let len = s.encode_utf16().count();
        text.push_str(s);
        utf16 += len;
        (start, len)
    };
    for seg in segments {
        match seg {
            Segment::Text { text: t } => {
                push(&mut text, t);
            }
            Segment::Mention { user_id, name } => {
                let shown = format!("@{name}");
                let (start, len) = push(&mut text, &shown);
                if let Ok(id) = user_id.parse::<u64>() {
                    entities.push(MessageEntity::text_mention_id(UserId(id), start, len));
                }
            }
            Segment::MentionAll => {
                push(&mut text, "@全体成员 ");
            }
            Segment::Reply { message_id } => {
                // Our ids are "{chat_id}:{message_id}"; quote only within the same chat.
                if let Some((c, m)) = message_id.rsplit_once(':') {
                    if c == chat_id {
                        reply = m.parse::<i32>().ok().map(MessageId);
                    }
                }
            }
            Segment::Image { .. } => {
                push(&mut text, "[图片]");
            }
            Segment::File { media } => {
                let s = match &media.name {
                    Some(n) => format!("[文件:{n}]"),
                    None => "[文件]".to_string(),
                };
                push(&mut text, &s);
            }
        }
    }
    (text, entities, reply)
}

/// The byte index of a UTF-16 offset into `text`; `None` inside a character or past the end.
fn utf16_to_byte(text: &str, offset: usize) -> Option<usize> {
    let mut units = 0usize;
    for (i, c) in text.char_indices() {
        if units == offset {
            return Some(i);
        }
        if units > offset {
            return None;
        }
        units += c.len_utf16();
    }
    (units == offset).then_some(text.len())
}

/// Maps a Telegram message to the chat model. `None` for messages Dudao does not keep
/// (channel posts, service messages, stickers).
pub fn map_message(channel: &str, me: &BotIdentity, m: &Message) -> Option<InboundMessage> {
    if m.chat.is_channel() {
        return None;
    }
    let from = m.from.as_ref()?;
    let chat_id = m.chat.id.0.to_string();
    let private = m.chat.is_private();
    let mut to_me = private;
    let mut segments = Vec::new();
    if let Some(r) = m.reply_to_message() {
        segments.push(Segment::Reply { message_id: format!("{chat_id}:{}", r.id.0) });
        to_me |= r.from.as_ref().is_some_and(|u| u.id.0 == me.id);
    }
    let (text, raw_entities) = match m.text() {
        Some(t) => (t, m.entities().unwrap_or_default()),
        None => (m.caption().unwrap_or_default(), m.caption_entities().unwrap_or_default()),
    };
    // Our own UTF-16 → UTF-8 conversion: teloxide's `parse_entities` asserts on offsets that
    // fall inside a character, and wire input must never panic.
    let mut entities: Vec<(usize, usize, &MessageEntityKind)> = raw_entities
        .iter()
        .filter_map(|e| {
            let start = utf16_to_byte(text, e.offset)?;
            let end = utf16_to_byte(text, e.offset.checked_add(e.length)?)?;
            (start < end).then_some((start, end, &e.kind))
        })
        .collect();
    entities.sort_by_key(|(start, _, _)| *start);
    let mut cursor = 0usize;
    let mut pending = String::new();
    let flush = |pending: &mut String, segments: &mut Vec<Segment>| {
        if !pending.is_empty() {
            segments.push(Segment::text(std::mem::take(pending)));
        }
    };
    for (start, end, kind) in entities {
        if start < cursor {
            continue; // nested inside one already taken: leave it in the text
        }
        let raw = &text[start..end];
        match kind {
            MessageEntityKind::Mention if raw.trim_start_matches('@').eq_ignore_ascii_case(&me.username) => {
                pending.push_str(&text[cursor..start]);
                flush(&mut pending, &mut segments);
                segments.push(Segment::Mention { user_id: me.id.to_string(), name: me.username.clone() });
                to_me = true;
            }
            MessageEntityKind::TextMention { user } => {
                pending.push_str(&text[cursor..start]);
                flush(&mut pending, &mut segments);
                segments.push(Segment::Mention {
                    user_id: user.id.0.to_string(),
                    name: raw.trim_start_matches('@').to_string(),
                });
                to_me |= user.id.0 == me.id;
            }
            MessageEntityKind::BotCommand => {
                pending.push_str(&text[cursor..start]);
                match raw.split_once('@') {
                    Some((cmd, target)) if target.eq_ignore_ascii_case(&me.username) => {
                        pending.push_str(cmd);
                        to_me = true;
                    }
                    // Another bot's command: not for us.
                    Some(_) => pending.push_str(raw),
                    None => {
                        pending.push_str(raw);
                        to_me |= start == 0;
                    }
                }
            }
            _ => continue,
        }
        cursor = end;
    }
    pending.push_str(&text[cursor..]);
    flush(&mut pending, &mut segments);
    if let Some(p) = m.photo().and_then(|p| p.iter().max_by_key(|s| u64::from(s.width) * u64::from(s.height))) {
        segments
            .push(Segment::Image { media: MediaRef { name: None, url: None, file_id: Some(p.file.id.to_string()) } });
    }
    if let Some(d) = m.document() {
        segments.push(Segment::File {
            media: MediaRef { name: d.file_name.clone(), url: None, file_id: Some(d.file.id.to_string()) },
        });
    }
    if !segments.iter().any(|s| !matches!(s, Segment::Reply { .. })) {
        return None;
    }
    let display = match (&from.username, from.full_name()) {
        (_, n) if !n.trim().is_empty() => Some(n),
        (Some(u), _) => Some(u.clone()),
        _ => None,
    };
    Some(InboundMessage {
        chat: if private {
            ChatRef::private(channel, chat_id.clone())
        } else {
            ChatRef::group(channel, chat_id.clone())
        },
        sender: UserRef { id: from.id.0.to_string(), display },
        platform_msg_id: format!("{chat_id}:{}", m.id.0),
        segments,
        to_me,
        sent_at: m.date,
    })
}

struct WebhookState {
    channel: Arc<TelegramChannel>,
    sink: Arc<dyn InboundSink>,
}

async fn webhook(State(st): State<Arc<WebhookState>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let given = headers.get(SECRET_HEADER).map(|v| v.as_bytes()).unwrap_or_default();
    // Compared through digests: an early exit on a length mismatch would reveal the length.
    if !st.channel.settings.webhook_secret.matches(given) {
        tracing::warn!(channel = %st.channel.settings.name, "Telegram webhook call with a wrong secret token refused");
        return StatusCode::UNAUTHORIZED;
    }
    let update: Update = match serde_json::from_slice(&body) {
        Ok(u) => u,
        Err(e) => {
            // Answer 200: Telegram would otherwise resend the same unreadable update.
            tracing::warn!(channel = %st.channel.settings.name, error = %e, "unreadable Telegram update ignored");
            return StatusCode::OK;
        }
    };
    match st.channel.deliver_update(&st.sink, &update).await {
        Ok(_) => StatusCode::OK,
        Err(e) => {
            // Not stored: a non-2xx answer makes Telegram deliver it again later.
            tracing::error!(channel = %st.channel.settings.name, error = %st.channel.redact(&e), "cannot store a Telegram update");
            StatusCode::SERVICE_UNAVAILABLE
        }
    }
}

#[async_trait]
impl Channel for TelegramChannel {
    fn name(&self) -> &str {
        &self.settings.name
    }

    /// From the last getMe / getUpdates (polling mode); before either, unknown.
    fn health(&self) -> super::channel::ChannelHealth {
        self.health
            .get(super::channel::FAILURE_EVIDENCE)
            .unwrap_or_else(|| super::channel::ChannelHealth::unknown("getMe not called yet"))
    }

    fn platform(&self) -> &'static str {
        PLATFORM
    }

    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    async fn send(&self, msg: &OutboundMessage) -> Result<SendReceipt, SendError> {
        let Ok(chat) = msg.chat.id.parse::<i64>() else {
            return Err(SendError::Permanent(format!("不是 Telegram 的聊天 ID: {}", msg.chat.id)));
        };
        if let Some(file) = &msg.attachment {
            let input = InputFile::memory(file.bytes.to_vec()).file_name(file.name.clone());
            // A chart is shown as a photo; other files go as documents to download.
            let sent = if file.inline {
                self.bot.send_photo(ChatId(chat), input).await
            } else {
                self.bot.send_document(ChatId(chat), input).await
            };
            return match sent {
                Ok(sent) => Ok(SendReceipt { platform_msg_id: Some(format!("{}:{}", sent.chat.id.0, sent.id.0)) }),
                Err(e) => Err(self.classify(e)),
            };
        }
        let (text, entities, reply) = render(&msg.chat.id, &msg.segments);
        if text.trim().is_empty() {
            return Err(SendError::Permanent("消息为空".into()));
        }
        let mut req = self.bot.send_message(ChatId(chat), text);
        if !entities.is_empty() {
            req = req.entities(entities);
        }
        if let Some(r) = reply {
            let mut p = ReplyParameters::new(r);
            p.allow_sending_without_reply = Some(true);
            req = req.reply_parameters(p);
        }
        match req.await {
            Ok(sent) => Ok(SendReceipt { platform_msg_id: Some(format!("{}:{}", sent.chat.id.0, sent.id.0)) }),
            Err(e) => Err(self.classify(e)),
        }
    }

    async fn run(self: Arc<Self>, ctx: ChannelContext) -> anyhow::Result<()> {
        match self.settings.mode {
            TelegramMode::Polling => self.poll(ctx).await,
            TelegramMode::Webhook => {
                if !self.settings.webhook_url.is_empty() {
                    self.register_webhook(&ctx.shutdown).await;
                }
                ctx.shutdown.cancelled().await;
            }
        }
        Ok(())
    }

    /// A photo by its file id: `getFile` for its path on the Bot API server, then the file from
    /// `<api_url>/file/bot<token>/<path>` through the bot's own client (its proxy and timeout).
    /// The token is in that URL only: errors are passed through [`TelegramChannel::redact`]
    /// (teloxide also hides it) and the evidence row keeps the file id, never the URL.
    async fn resolve_media(&self, media: &MediaRef, max_bytes: u64) -> Result<MediaSource, MediaError> {
        let Some(id) = media.file_id.as_deref().map(str::trim).filter(|i| !i.is_empty()) else {
            return Err(MediaError::Unsupported);
        };
        let file = self
            .bot
            .get_file(FileId(id.to_string()))
            .await
            .map_err(|e| MediaError::Failed(format!("Telegram getFile: {}", self.redact(&e))))?;
        // u32::MAX: the server did not say how large the file is.
        if file.size != u32::MAX && u64::from(file.size) > max_bytes {
            return Err(MediaError::TooLarge(max_bytes));
        }
        if file.path.is_empty() {
            // The Bot API gives no path for files over its 20 MB download limit.
            return Err(MediaError::Failed("Telegram getFile returned no file_path".into()));
        }
        let mut stream = self.bot.download_file_stream(&file.path);
        let mut body = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk =
                chunk.map_err(|e| MediaError::Failed(format!("Telegram file download: {}", self.redact(&e))))?;
            body.extend_from_slice(&chunk);
            if body.len() as u64 > max_bytes {
                return Err(MediaError::TooLarge(max_bytes));
            }
        }
        if body.is_empty() {
            return Err(MediaError::Failed("Telegram file download: empty body".into()));
        }
        Ok(MediaSource::Bytes(body))
    }

    fn routes(self: Arc<Self>, ctx: ChannelContext) -> Option<Router> {
        if self.settings.mode != TelegramMode::Webhook {
            return None;
        }
        let path = self.settings.webhook_path.clone();
        let state = Arc::new(WebhookState { channel: self, sink: ctx.sink });
        Some(Router::new().route(&path, post(webhook)).with_state(state))
    }
}

/// `[channels.telegram]` in the registry.
pub const FACTORY: Factory = Factory { section: "telegram", configure };

fn configure(raw: Option<&RawSection>, _settings: &Settings) -> Result<Vec<Configured>, ConfigError> {
    let Some(raw) = raw else { return Ok(Vec::new()) };
    let tg: TelegramSettings = parse_section("telegram", raw)?;
    tg.validate().map_err(|(key, message)| ConfigError::new(format!("channels.telegram.{key}"), message))?;
    if !tg.enabled {
        return Ok(Vec::new());
    }
    let http_paths =
        tg.http_path().map(|p| ("channels.telegram.webhook_path".to_string(), p.to_string())).into_iter().collect();
    Ok(vec![Configured {
        name: tg.name.clone(),
        name_key: "channels.telegram.name".into(),
        http_paths,
        build: Box::new(move || Built::channel(TelegramChannel::new(tg.clone())?)),
    }])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn me() -> BotIdentity {
        BotIdentity { id: 4242, username: "dudao_bot".into() }
    }

    fn message(v: serde_json::Value) -> Message {
        serde_json::from_value(v).expect("a Telegram message")
    }

    fn group_msg(text: &str, entities: serde_json::Value) -> serde_json::Value {
        json!({
            "message_id": 77, "date": 1_700_000_000,
            "chat": {"id": -100123, "type": "supergroup", "title": "督学群"},
            "from": {"id": 555, "is_bot": false, "first_name": "芳", "last_name": "王"},
            "text": text, "entities": entities
        })
    }

    #[test]
    fn private_messages_are_addressed_to_the_bot() {
        let m = message(json!({
            "message_id": 5, "date": 1_700_000_000,
            "chat": {"id": 555, "type": "private", "first_name": "芳"},
            "from": {"id": 555, "is_bot": false, "first_name": "芳"},
            "text": "帮助"
        }));
        let i = map_message("telegram", &me(), &m).unwrap();
        assert_eq!(i.chat, ChatRef::private("telegram", "555"));
        assert_eq!(i.platform_msg_id, "555:5");
        assert!(i.to_me);
        assert_eq!(i.command_text(), "帮助");
    }

    #[test]
    fn group_mentions_commands_and_replies() {
        // "@dudao_bot 我是谁": a mention of the bot.
        let m = message(group_msg("@dudao_bot 我是谁", json!([{"type": "mention", "offset": 0, "length": 10}])));
        let i = map_message("telegram", &me(), &m).unwrap();
        assert!(i.to_me);
        assert_eq!(i.chat, ChatRef::group("telegram", "-100123"));
        assert_eq!(i.command_text().trim(), "我是谁");
        assert_eq!(i.sender.display.as_deref(), Some("芳 王"));
        // "/help@dudao_bot": our command; "/help@other_bot": not ours.
        let m = message(group_msg("/help@dudao_bot", json!([{"type": "bot_command", "offset": 0, "length": 15}])));
        let i = map_message("telegram", &me(), &m).unwrap();
        assert!(i.to_me);
        assert_eq!(i.command_text(), "/help");
        let m = message(group_msg("/help@other_bot", json!([{"type": "bot_command", "offset": 0, "length": 15}])));
        assert!(!map_message("telegram", &me(), &m).unwrap().to_me);
        // Chatter.
        let m = message(group_msg("今天天气不错", json!([])));
        assert!(!map_message("telegram", &me(), &m).unwrap().to_me);
        // A reply to the bot.
        let mut v = group_msg("收到", json!([]));
        v["reply_to_message"] = json!({
            "message_id": 70, "date": 1_699_999_000,
            "chat": {"id": -100123, "type": "supergroup", "title": "督学群"},
            "from": {"id": 4242, "is_bot": true, "first_name": "督导助手", "username": "dudao_bot"},
            "text": "请提交周报"
        });
        let i = map_message("telegram", &me(), &message(v)).unwrap();
        assert!(i.to_me);
        assert_eq!(i.reply_to(), Some("-100123:70"));
    }

    #[test]
    fn text_mentions_keep_the_user_id_with_utf16_offsets() {
        // "你好 😀 @张三" with a text_mention over "@张三" (emoji = 2 UTF-16 units).
        let m = message(group_msg(
            "你好 😀 @张三 请回复",
            json!([{"type": "text_mention", "offset": 6, "length": 3, "user": {"id": 999, "is_bot": false, "first_name": "三"}}]),
        ));
        let i = map_message("telegram", &me(), &m).unwrap();
        assert!(i.segments.contains(&Segment::Mention { user_id: "999".into(), name: "张三".into() }));
        assert_eq!(i.command_text(), "你好 😀  请回复");
    }

    #[test]
    fn hostile_entity_offsets_never_panic() {
        for (offset, length) in [(1, 1), (3, 100), (usize::MAX, 2), (2, usize::MAX), (0, 0), (40, 2)] {
            // "😀" is two UTF-16 units: offset 1 falls inside it.
            let m = message(group_msg(
                "😀@dudao_bot 帮助",
                json!([{"type": "mention", "offset": offset, "length": length}]),
            ));
            let i = map_message("telegram", &me(), &m).unwrap();
            assert!(!i.to_me, "{offset} {length}");
        }
        let m = message(group_msg("😀@dudao_bot 帮助", json!([{"type": "mention", "offset": 2, "length": 10}])));
        assert!(map_message("telegram", &me(), &m).unwrap().to_me);
    }

    #[test]
    fn rendering_places_mention_entities_in_utf16_units() {
        let segs = vec![
            Segment::Reply { message_id: "-100123:70".into() },
            Segment::text("😀 "),
            Segment::Mention { user_id: "999".into(), name: "张三".into() },
            Segment::text(" 请提交"),
            Segment::Mention { user_id: "not-a-number".into(), name: "李四".into() },
        ];
        let (text, entities, reply) = render("-100123", &segs);
        assert_eq!(text, "😀 @张三 请提交@李四");
        assert_eq!(entities.len(), 1);
        assert_eq!((entities[0].offset, entities[0].length), (3, 3));
        assert_eq!(reply, Some(MessageId(70)));
        let (_, _, other_chat) = render("-1", &segs);
        assert_eq!(other_chat, None);
    }

    #[test]
    fn settings_name_missing_secrets() {
        let s = TelegramSettings { enabled: true, ..Default::default() };
        assert_eq!(s.validate().unwrap_err().0, "token");
        let s = TelegramSettings {
            enabled: true,
            token: Secret::new("1:abc"),
            mode: TelegramMode::Webhook,
            ..Default::default()
        };
        assert_eq!(s.validate().unwrap_err().0, "webhook_secret");
        let s = TelegramSettings { webhook_secret: Secret::new("bad secret!"), ..s };
        assert_eq!(s.validate().unwrap_err().0, "webhook_secret");
        let s = TelegramSettings { webhook_secret: Secret::new("good_secret-1"), ..s };
        assert!(s.validate().is_ok());
    }

    #[test]
    fn errors_map_to_outbox_outcomes() {
        let ch = TelegramChannel::new(TelegramSettings { token: Secret::new("1:tok"), ..Default::default() }).unwrap();
        let parse = |s: &str| -> RequestError {
            // The same path teloxide takes for a Bot API error body.
            let v: serde_json::Value = serde_json::from_str(s).unwrap();
            if let Some(ra) = v["parameters"]["retry_after"].as_u64() {
                return RequestError::RetryAfter(teloxide::types::Seconds::from_seconds(ra as u32));
            }
            RequestError::Api(serde_json::from_value(v["description"].clone()).unwrap())
        };
        assert_eq!(
            ch.classify(parse(r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}}"#)),
            SendError::RateLimited { retry_after: Duration::from_secs(7) }
        );
        assert!(matches!(
            ch.classify(parse(r#"{"ok":false,"description":"Bad Request: chat not found"}"#)),
            SendError::Permanent(_)
        ));
        assert!(matches!(
            ch.classify(parse(r#"{"ok":false,"description":"Forbidden: bot was blocked by the user"}"#)),
            SendError::Permanent(_)
        ));
        assert!(matches!(
            ch.classify(parse(r#"{"ok":false,"description":"Internal Server Error"}"#)),
            SendError::Transient(_)
        ));
    }
}
