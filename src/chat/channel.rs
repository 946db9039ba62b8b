//! The interface a chat platform adapter implements, and what each platform can do.

use super::model::{InboundMessage, MediaRef, OutboundMessage};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A platform family; accounts (people's chat ids) are per platform, not per channel instance.
pub type Platform = &'static str;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MentionSupport {
    /// Mentions by the platform's user id.
    ById,
    /// Mentions only by the person's mobile number.
    ByMobile,
    /// By the platform's user id when the person has an account bound on the platform, else by
    /// mobile number, written `mobile:<number>` in `Segment::Mention::user_id` (WeCom robots,
    /// which take both `mentioned_list` and `mentioned_mobile_list`).
    ByIdOrMobile,
    /// No mentions: names are written as text.
    None,
}

/// Prefix of a `Segment::Mention::user_id` that is a mobile number rather than an account id
/// (see [`MentionSupport::ByIdOrMobile`]). WeCom user ids cannot contain ':'.
pub const MOBILE_MENTION_PREFIX: &str = "mobile:";

/// A sliding-window limit: at most `count` sends within `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub window: Duration,
}

impl Rate {
    pub const fn per_second(count: u32) -> Rate {
        Rate { count, window: Duration::from_secs(1) }
    }
    pub const fn per_minute(count: u32) -> Rate {
        Rate { count, window: Duration::from_secs(60) }
    }
}

/// What a channel can do; routing and the outbox obey it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    pub can_receive: bool,
    /// Can start a conversation (reminders) rather than only answer one.
    pub can_push: bool,
    pub can_send_private: bool,
    pub mention: MentionSupport,
    pub mention_all: bool,
    /// Longest text one message may carry, in characters.
    pub max_message_chars: usize,
    /// Limits over all chats of this channel.
    pub global_limits: Vec<Rate>,
    /// Limits for each chat.
    pub per_chat_limits: Vec<Rate>,
    /// Sends that may be in flight at once (to different chats); 1 keeps a global order.
    pub max_concurrent_sends: usize,
    /// Can deliver a file itself (`OutboundMessage::attachment`). Otherwise the outbox sends a
    /// one-time download link served by the HTTP listener instead.
    pub can_send_files: bool,
    /// The largest file the platform takes; larger ones go as a link too.
    pub max_file_bytes: u64,
    /// Can show an image in the conversation itself (an attachment whose segments hold a
    /// `Segment::Image`: charts). Where it cannot, the outbox leaves such images out — the
    /// text that comes with them carries the figures — rather than send a link.
    pub can_send_images: bool,
    /// The largest image the platform shows inline; larger ones are left out too.
    pub max_image_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendReceipt {
    pub platform_msg_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("rate limited by the platform; retry after {retry_after:?}")]
    RateLimited { retry_after: Duration },
    #[error("transient failure: {0}")]
    Transient(String),
    #[error("permanent failure: {0}")]
    Permanent(String),
    /// The request may have reached the platform but no answer came in time: the message may
    /// or may not have been delivered (at-most-once messages are then not resent).
    #[error("outcome unknown: {0}")]
    Unknown(String),
}

/// Whether a channel can deliver right now, as far as the adapter knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthState {
    Up,
    /// Not connected, or the platform refuses our credentials: sends will wait or fail.
    Down,
    /// The adapter has no way to tell (a plain webhook) or has not talked to the platform yet.
    Unknown,
}

impl HealthState {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthState::Up => "up",
            HealthState::Down => "down",
            HealthState::Unknown => "unknown",
        }
    }
}

/// A channel's health as its adapter sees it; `detail` is for operators (English, no secrets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelHealth {
    pub state: HealthState,
    pub detail: String,
}

impl ChannelHealth {
    pub fn up(detail: impl Into<String>) -> Self {
        ChannelHealth { state: HealthState::Up, detail: detail.into() }
    }
    pub fn down(detail: impl Into<String>) -> Self {
        ChannelHealth { state: HealthState::Down, detail: detail.into() }
    }
    pub fn unknown(detail: impl Into<String>) -> Self {
        ChannelHealth { state: HealthState::Unknown, detail: detail.into() }
    }
}

/// The last health an adapter observed (a call that worked or failed), for adapters whose
/// health is the outcome of their own platform calls rather than a connection they hold.
#[derive(Debug, Default)]
pub struct HealthCell(std::sync::Mutex<Option<(ChannelHealth, std::time::Instant)>>);

impl HealthCell {
    pub fn set(&self, h: ChannelHealth) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some((h, std::time::Instant::now()));
    }

    /// The last observation. A failure older than `stale_after` with nothing observed since is
    /// no longer evidence of an outage (no call was made since: nothing to send), so it reads as
    /// unknown rather than keeping `/readyz` failing and an incident open forever.
    pub fn get(&self, stale_after: Duration) -> Option<ChannelHealth> {
        let (h, at) = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()?;
        if h.state == HealthState::Down && at.elapsed() >= stale_after {
            let minutes = at.elapsed().as_secs() / 60;
            return Some(ChannelHealth::unknown(format!("{} ({minutes} min ago, not tried since)", h.detail)));
        }
        Some(h)
    }
}

/// How long a failed platform call counts as an outage when no call follows it: longer than the
/// outbox's longest backoff by default (10 min), so a platform still being retried stays down.
pub const FAILURE_EVIDENCE: Duration = Duration::from_secs(15 * 60);

/// Where a photo a message carried can be had, as the channel that received it knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaSource {
    /// A link to fetch. It came from a chat message or a relay (QQ's image URLs through NapCat),
    /// so the evidence fetcher treats it as untrusted: SSRF guard, vetted redirects.
    Link(String),
    /// The content itself, downloaded by the adapter from its own configured platform API
    /// (Telegram `getFile`, WeCom `media/get`) with its own credentials and proxy, within the
    /// size cap it was given. That base URL is set by the administrator in the channel's
    /// section, like the one every send goes to, so it is trusted as the platform: no SSRF
    /// check (a local `telegram-bot-api` server or a test fake may well be on loopback).
    Bytes(Vec<u8>),
}

/// Why a channel could not hand over a photo. Texts are stored on the evidence row and logged:
/// never a token, a secret or a URL carrying one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    #[error("this channel cannot download a photo by its file id")]
    Unsupported,
    #[error("larger than {0} bytes")]
    TooLarge(u64),
    #[error("{0}")]
    Failed(String),
}

/// Reads a response body of at most `max` bytes: refused early when the declared length is
/// larger, and as soon as the bytes read pass it otherwise.
pub async fn read_capped(mut resp: reqwest::Response, max: u64, what: &str) -> Result<Vec<u8>, MediaError> {
    if resp.content_length().is_some_and(|n| n > max) {
        return Err(MediaError::TooLarge(max));
    }
    let mut body = Vec::new();
    while let Some(chunk) =
        resp.chunk().await.map_err(|e| MediaError::Failed(format!("{what}: {}", e.without_url())))?
    {
        body.extend_from_slice(&chunk);
        if body.len() as u64 > max {
            return Err(MediaError::TooLarge(max));
        }
    }
    if body.is_empty() {
        return Err(MediaError::Failed(format!("{what}: empty body")));
    }
    Ok(body)
}

/// Inbound messages go here; the pipeline stores them before acting.
#[async_trait]
pub trait InboundSink: Send + Sync {
    /// Returns once the message is durably stored (and processed, or queued for processing).
    async fn deliver(&self, msg: InboundMessage) -> anyhow::Result<()>;

    /// Stores messages durably (deduplicated) without acting on them, for transports with no
    /// delivery acknowledgement that must not hold messages in memory. Per message: the id to
    /// pass to [`InboundSink::process_stored`], or `None` when nothing is left to do. The
    /// default stores and processes each at once.
    async fn store(&self, msgs: &[InboundMessage]) -> anyhow::Result<Vec<Option<i64>>> {
        for m in msgs {
            self.deliver(m.clone()).await?;
        }
        Ok(vec![None; msgs.len()])
    }

    /// Acts on a message [`InboundSink::store`] returned an id for; a no-op if already done.
    async fn process_stored(&self, _id: i64, _msg: InboundMessage) -> anyhow::Result<()> {
        Ok(())
    }

    /// Acts on several stored messages, in order (together, where the sink can); one result
    /// per message.
    async fn process_batch(&self, items: Vec<(i64, InboundMessage)>) -> Vec<anyhow::Result<()>> {
        let mut out = Vec::with_capacity(items.len());
        for (id, msg) in items {
            out.push(self.process_stored(id, msg).await);
        }
        out
    }

    /// Acts on every stored message not yet processed (those a full queue left behind).
    async fn process_pending(&self) -> anyhow::Result<usize> {
        Ok(0)
    }
}

/// What a channel's receive loop gets from the service.
#[derive(Clone)]
pub struct ChannelContext {
    pub sink: Arc<dyn InboundSink>,
    pub shutdown: CancellationToken,
}

#[async_trait]
pub trait Channel: Send + Sync + 'static {
    /// The configured instance name, e.g. "console", "qq".
    fn name(&self) -> &str;
    /// The platform whose accounts this channel speaks for: "console", "qq", "wecom", "telegram".
    fn platform(&self) -> Platform;
    fn capabilities(&self) -> &Capabilities;
    /// Sends one message. Never called inside a database transaction.
    async fn send(&self, msg: &OutboundMessage) -> Result<SendReceipt, SendError>;
    /// Runs the receive side until shutdown. Channels that cannot receive return at once.
    async fn run(self: Arc<Self>, ctx: ChannelContext) -> anyhow::Result<()>;
    /// Whether the channel can deliver now (`/readyz`, `/metrics`, admin alerts). Cheap and
    /// synchronous: adapters report state they already keep, never call the platform here.
    fn health(&self) -> ChannelHealth {
        ChannelHealth::unknown("no health check for this channel")
    }
    /// Where to get a photo this channel received (evidence for the rectification ledger), at
    /// most `max_bytes` of it. Platforms that hand out file ids instead of links resolve them
    /// through their own API; the default can only pass on a link the message carried.
    async fn resolve_media(&self, media: &MediaRef, _max_bytes: u64) -> Result<MediaSource, MediaError> {
        match media.url.as_deref().filter(|u| !u.trim().is_empty()) {
            Some(url) => Ok(MediaSource::Link(url.to_string())),
            None => Err(MediaError::Unsupported),
        }
    }
    /// The photo itself from what was downloaded from a [`MediaSource::Link`] this channel
    /// handed out. Platforms serve photos as they are; WeCom's 智能机器人 serves them encrypted
    /// with the bot's key, and decrypts them here.
    fn open_media(&self, downloaded: Vec<u8>) -> Result<Vec<u8>, MediaError> {
        Ok(downloaded)
    }
    /// HTTP routes this channel mounts on the service's listener (webhooks, WebSocket endpoints).
    fn routes(self: Arc<Self>, _ctx: ChannelContext) -> Option<axum::Router> {
        None
    }
}

/// A group robot posts to its one group only; any other destination is a permanent failure
/// naming the robot (`what`, e.g. "钉钉自定义机器人 <name>") and both chats.
pub fn robot_group_only(what: &str, group: &str, msg: &OutboundMessage) -> Result<(), SendError> {
    if msg.chat.kind == super::ChatKind::Group && msg.chat.id == group {
        return Ok(());
    }
    Err(SendError::Permanent(format!("{what} 只能发到群 {group}，不能发到 {} {}", msg.chat.kind.as_str(), msg.chat.id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_old_failure_with_nothing_since_is_no_longer_an_outage() {
        let cell = HealthCell::default();
        assert_eq!(cell.get(FAILURE_EVIDENCE), None);
        cell.set(ChannelHealth::down("gettoken failed: 40001"));
        assert_eq!(cell.get(FAILURE_EVIDENCE), Some(ChannelHealth::down("gettoken failed: 40001")));
        let stale = cell.get(Duration::ZERO).unwrap();
        assert_eq!(stale.state, HealthState::Unknown);
        assert!(stale.detail.starts_with("gettoken failed: 40001 (0 min ago"), "{}", stale.detail);
        // Success does not go stale.
        cell.set(ChannelHealth::up("access token fresh"));
        assert_eq!(cell.get(Duration::ZERO), Some(ChannelHealth::up("access token fresh")));
    }
}
