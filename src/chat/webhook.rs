//! A generic outgoing webhook channel: each message is POSTed as JSON to a configured URL.
//! Push-only. It lets an office forward Dudao's messages into a system of its own (an intranet
//! notice board, another bot) and follows plain HTTP semantics: 2xx delivered, 429 with
//! `Retry-After` slows down, other 5xx retry with backoff, other 4xx are permanent.
//!
//! Body: `{"chat": {"kind": "group"|"private", "id": "..."}, "text": "...", "segments": [...]}`.

use super::channel::{Capabilities, Channel, ChannelContext, MentionSupport, Rate, SendError, SendReceipt};
use super::model::{plain_text, OutboundMessage};
use super::registry::{Built, Configured, Factory};
use crate::config::{parse_section, ConfigError, RawSection, Settings};
use crate::secret::Secret;
use async_trait::async_trait;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

pub const PLATFORM: &str = "webhook";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    pub name: String,
    pub url: String,
    /// Sent as `Authorization: Bearer <token>` when set.
    #[serde(default)]
    pub token: Secret,
    #[serde(default = "default_per_second")]
    pub max_per_second: u32,
    #[serde(default = "default_per_chat_per_minute")]
    pub max_per_chat_per_minute: u32,
    #[serde(default = "default_max_chars")]
    pub max_message_chars: usize,
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
}

fn default_per_second() -> u32 {
    10
}
fn default_per_chat_per_minute() -> u32 {
    20
}
fn default_max_chars() -> usize {
    4000
}
fn default_timeout() -> u64 {
    10_000
}

pub struct WebhookChannel {
    settings: WebhookSettings,
    caps: Capabilities,
    http: reqwest::Client,
}

impl WebhookChannel {
    pub fn new(settings: WebhookSettings) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(Duration::from_millis(settings.timeout_ms)).build()?;
        let caps = Capabilities {
            can_receive: false,
            can_push: true,
            can_send_private: true,
            mention: MentionSupport::None,
            mention_all: false,
            max_message_chars: settings.max_message_chars,
            global_limits: vec![Rate::per_second(settings.max_per_second.max(1))],
            per_chat_limits: vec![Rate::per_minute(settings.max_per_chat_per_minute.max(1))],
            max_concurrent_sends: 4,
            // Plain JSON posts: files go as one-time download links (see `outbox::worker`).
            can_send_files: false,
            max_file_bytes: 0,
            can_send_images: false,
            max_image_bytes: 0,
        };
        Ok(WebhookChannel { settings, caps, http })
    }
}

/// `Retry-After` in seconds (the HTTP-date form is rare for APIs; treated as absent).
fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    let v = resp.headers().get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    v.trim().parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0).map(|s| Duration::from_secs_f64(s.min(3600.0)))
}

#[async_trait]
impl Channel for WebhookChannel {
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
        let body = serde_json::json!({
            "chat": { "kind": msg.chat.kind.as_str(), "id": msg.chat.id },
            "text": plain_text(&msg.segments),
            "segments": msg.segments,
        });
        let mut req = self.http.post(&self.settings.url).json(&body);
        if !self.settings.token.is_empty() {
            req = req.bearer_auth(self.settings.token.expose());
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                // A timeout once connected: the request may have arrived, only the answer is
                // missing. Connection refused and the like: nothing arrived, try again later.
                let maybe_delivered = e.is_timeout() && !e.is_connect();
                let e = e.without_url();
                return Err(if maybe_delivered {
                    SendError::Unknown(format!("webhook did not answer in time: {e}"))
                } else {
                    SendError::Transient(format!("webhook unreachable: {e}"))
                });
            }
        };
        let status = resp.status();
        if status.is_success() {
            #[derive(Deserialize)]
            struct Ack {
                id: Option<serde_json::Value>,
            }
            let id = resp.json::<Ack>().await.ok().and_then(|a| a.id).map(|v| match v {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            });
            return Ok(SendReceipt { platform_msg_id: id });
        }
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(SendError::RateLimited { retry_after: retry_after(&resp).unwrap_or(Duration::from_secs(5)) });
        }
        if status.is_server_error() || status == reqwest::StatusCode::REQUEST_TIMEOUT {
            return Err(SendError::Transient(format!("webhook answered {status}")));
        }
        Err(SendError::Permanent(format!("webhook answered {status}")))
    }

    async fn run(self: Arc<Self>, _ctx: ChannelContext) -> anyhow::Result<()> {
        Ok(())
    }
}

/// `[[channels.webhook]]` in the registry.
pub const FACTORY: Factory = Factory { section: "webhook", configure };

fn configure(raw: Option<&RawSection>, _settings: &Settings) -> Result<Vec<Configured>, ConfigError> {
    let Some(raw) = raw else { return Ok(Vec::new()) };
    let hooks: Vec<WebhookSettings> = parse_section("webhook", raw)?;
    let mut out = Vec::new();
    for (i, w) in hooks.into_iter().enumerate() {
        if reqwest::Url::parse(&w.url).is_err() {
            return Err(ConfigError::new(format!("channels.webhook[{i}].url"), format!("not a URL: \"{}\"", w.url)));
        }
        if w.name.trim().is_empty() || w.name == "console" {
            return Err(ConfigError::new(
                format!("channels.webhook[{i}].name"),
                "needs a unique name other than \"console\"",
            ));
        }
        out.push(Configured {
            name: w.name.clone(),
            name_key: format!("channels.webhook[{i}].name"),
            http_paths: Vec::new(),
            build: Box::new(move || Built::channel(WebhookChannel::new(w.clone())?)),
        });
    }
    Ok(out)
}
