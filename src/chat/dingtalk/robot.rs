//! DingTalk custom group robot (自定义机器人): official, push-only, one robot per group.
//!
//! `POST {oapi_base_url}/robot/send?access_token=TOKEN&timestamp=<ms>&sign=<sig>` with
//! `{"msgtype":"text","text":{"content"},"at":{"atUserIds","atMobiles","isAtAll"}}` (or
//! `markdown`). The signature is `base64(HMAC-SHA256(secret, "<ms>\n<secret>"))` (see
//! [`super::sign`]) and must be fresh: it is computed for each attempt, never stored.
//!
//! DingTalk allows 20 messages a minute per robot and mutes a robot that sends more for 10
//! minutes, so the channel declares a per-minute budget below that (`max_per_minute`, default 19,
//! at most 20) and the outbox paces every send to it; if DingTalk still answers "send too fast"
//! (another program posting through the same robot), the channel pauses for the ban.
//!
//! Each robot is its own channel instance whose single chat is the group it was added to;
//! `[[groups]] channel = "<robot name>"` registers that group.

use super::{
    api_url, build_body, classify, status_error, transport_error, MessageFormat, OapiReply, DEFAULT_OAPI_BASE,
    MAX_CONTENT_BYTES, PLATFORM,
};
use crate::chat::channel::{Capabilities, Channel, ChannelContext, MentionSupport, Rate, SendError, SendReceipt};
use crate::chat::model::OutboundMessage;
use crate::secret::Secret;
use async_trait::async_trait;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

/// DingTalk's own limit per robot; more within a minute mutes the robot for 10 minutes.
pub const PLATFORM_PER_MINUTE: u32 = 20;

/// `[[channels.dingtalk.robots]]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DingtalkRobotSettings {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The channel instance name, used in `[[groups]] channel = ...`.
    pub name: String,
    /// The chat id of the group this robot posts to (`[[groups]] id = ...`); defaults to `name`.
    #[serde(default)]
    pub group: String,
    /// The robot's access token (the `access_token=` part of its webhook address; the whole
    /// address is accepted too). Whoever has it can post into the group.
    #[serde(default)]
    pub access_token: Secret,
    /// The robot's signing secret (安全设置 → 加签, starts with `SEC`). Empty only when the robot
    /// is secured by keywords or an IP allowlist instead.
    #[serde(default)]
    pub secret: Secret,
    #[serde(default)]
    pub format: MessageFormat,
    #[serde(default = "default_oapi_base")]
    pub oapi_base_url: String,
    /// Sends per minute (1 to 20): DingTalk mutes a robot for 10 minutes past 20.
    #[serde(default = "default_per_minute")]
    pub max_per_minute: u32,
    /// How long to wait after DingTalk answers "send too fast" (its ban lasts 10 minutes).
    #[serde(default = "default_ban")]
    pub rate_limited_retry_secs: u64,
    #[serde(default = "default_chars")]
    pub max_message_chars: usize,
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
}

fn yes() -> bool {
    true
}
fn default_oapi_base() -> String {
    DEFAULT_OAPI_BASE.to_string()
}
fn default_per_minute() -> u32 {
    PLATFORM_PER_MINUTE - 1
}
fn default_ban() -> u64 {
    600
}
fn default_chars() -> usize {
    1000
}
fn default_timeout() -> u64 {
    10_000
}

impl DingtalkRobotSettings {
    pub fn group_id(&self) -> &str {
        if self.group.trim().is_empty() {
            self.name.trim()
        } else {
            self.group.trim()
        }
    }

    /// The access token alone, also when the whole webhook address was pasted.
    pub fn token(&self) -> String {
        let t = self.access_token.expose().trim();
        match t.split_once("access_token=") {
            Some((_, rest)) => rest.split('&').next().unwrap_or_default().to_string(),
            None => t.to_string(),
        }
    }

    /// Checks what serde cannot. Returns the offending key (relative to the entry) and why.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let err = |k: &str, m: &str| Err((k.to_string(), m.to_string()));
        if self.name.trim().is_empty() {
            return err("name", "must not be empty");
        }
        if !self.enabled {
            return Ok(());
        }
        let token = self.token();
        if token.is_empty() {
            return err("access_token", "required: the robot's access token (Webhook 地址中 access_token= 之后的部分)");
        }
        if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return err("access_token", "must not contain spaces");
        }
        let secret = self.secret.expose().trim();
        if !secret.is_empty() && !secret.starts_with("SEC") {
            return err("secret", "must be the signing secret shown under 安全设置 → 加签 (it starts with SEC)");
        }
        if reqwest::Url::parse(&self.oapi_base_url).is_err() {
            return err("oapi_base_url", "not a URL");
        }
        if self.max_per_minute == 0 || self.max_per_minute > PLATFORM_PER_MINUTE {
            return err(
                "max_per_minute",
                "must be between 1 and 20 (DingTalk mutes a robot for 10 minutes past 20 a minute)",
            );
        }
        let cap = MAX_CONTENT_BYTES / 4;
        if self.max_message_chars < 16 || self.max_message_chars > cap {
            return Err(("max_message_chars".into(), format!("must be between 16 and {cap}")));
        }
        Ok(())
    }

    /// What the robot can do: push into its one group, mentions by id or mobile, no files.
    pub fn capabilities(&self) -> Capabilities {
        Capabilities {
            can_receive: false,
            can_push: true,
            can_send_private: false,
            mention: MentionSupport::ByIdOrMobile,
            mention_all: true,
            max_message_chars: self.max_message_chars,
            // One robot is one group: its per-minute budget is the channel's.
            global_limits: vec![Rate::per_minute(self.max_per_minute.clamp(1, PLATFORM_PER_MINUTE))],
            per_chat_limits: Vec::new(),
            max_concurrent_sends: 1,
            // Custom robots cannot upload: files go as one-time download links, charts are
            // left out (their text carries the figures).
            can_send_files: false,
            max_file_bytes: 0,
            can_send_images: false,
            max_image_bytes: 0,
        }
    }
}

/// Robots and `[[groups]]` must agree: a group registered on a robot channel is the robot's group.
pub fn validate_groups(
    robots: &[DingtalkRobotSettings],
    groups: &[crate::config::GroupSettings],
) -> Result<(), crate::config::ConfigError> {
    let enabled = robots.iter().filter(|r| r.enabled).map(|r| (r.name.as_str(), r.group_id()));
    crate::chat::registry::check_robot_groups("DingTalk", enabled, groups)
}

pub struct DingtalkRobotChannel {
    settings: DingtalkRobotSettings,
    caps: Capabilities,
    http: reqwest::Client,
    url: String,
}

impl DingtalkRobotChannel {
    pub fn new(settings: DingtalkRobotSettings) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(Duration::from_millis(settings.timeout_ms.max(1))).build()?;
        let caps = settings.capabilities();
        let url = api_url(&settings.oapi_base_url, "/robot/send");
        Ok(DingtalkRobotChannel { settings, caps, http, url })
    }

    pub fn settings(&self) -> &DingtalkRobotSettings {
        &self.settings
    }

    /// Posts one body, signed now when a secret is set.
    async fn post(&self, body: &serde_json::Value) -> Result<SendReceipt, SendError> {
        let token = self.settings.token();
        let mut query: Vec<(&str, String)> = vec![("access_token", token)];
        let secret = self.settings.secret.expose().trim();
        if !secret.is_empty() {
            let ts = chrono::Utc::now().timestamp_millis().to_string();
            query.push(("sign", super::sign(secret, &ts)));
            query.push(("timestamp", ts));
        }
        let resp = self
            .http
            .post(&self.url)
            .query(&query)
            .json(body)
            .send()
            .await
            .map_err(|e| transport_error("钉钉自定义机器人无法连接", e))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(status_error("钉钉自定义机器人", status, ""));
        }
        let reply: OapiReply = resp
            .json()
            .await
            .map_err(|e| SendError::Transient(format!("钉钉自定义机器人的回应无法解析: {}", e.without_url())))?;
        classify(reply.errcode, &reply.errmsg, Duration::from_secs(self.settings.rate_limited_retry_secs))?;
        Ok(SendReceipt { platform_msg_id: None })
    }
}

#[async_trait]
impl Channel for DingtalkRobotChannel {
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
        let what = format!("钉钉自定义机器人 {}", self.settings.name);
        crate::chat::channel::robot_group_only(&what, self.settings.group_id(), msg)?;
        if msg.attachment.is_some() {
            return Err(SendError::Permanent("钉钉自定义机器人不能发送文件".into()));
        }
        let body = build_body(self.settings.format, &msg.segments);
        if body.to_string().len() > MAX_CONTENT_BYTES {
            return Err(SendError::Permanent(format!(
                "消息超过钉钉 {MAX_CONTENT_BYTES} 字节的长度限制 (max_message_chars 设得过大)"
            )));
        }
        self.post(&body).await
    }

    async fn run(self: Arc<Self>, _ctx: ChannelContext) -> anyhow::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::ratelimit::RateLimiter;
    use tokio::time::Instant;

    fn settings(toml: &str) -> DingtalkRobotSettings {
        toml::from_str(toml).unwrap()
    }

    #[test]
    fn token_may_be_the_whole_webhook_address() {
        let s = settings(
            "name = \"r\"\naccess_token = \"https://oapi.dingtalk.com/robot/send?access_token=a1b2c3d4&x=1\"\n\
             secret = \"SEC0123\"",
        );
        assert_eq!(s.token(), "a1b2c3d4");
        assert_eq!(s.group_id(), "r");
        assert!(s.validate().is_ok());
        assert_eq!(settings("name = \"r\"").validate().unwrap_err().0, "access_token");
        assert_eq!(settings("name = \"r\"\naccess_token = \"t\"\nsecret = \"x1\"").validate().unwrap_err().0, "secret");
        let over = settings("name = \"r\"\naccess_token = \"t\"\nmax_per_minute = 21");
        assert_eq!(over.validate().unwrap_err().0, "max_per_minute");
        assert!(settings("name = \"r\"\nenabled = false").validate().is_ok());
    }

    /// The outbox paces every channel with a [`RateLimiter`] built from its declared limits.
    /// With the robot's, 21 sends asked for at once and then every 100 ms never put more than
    /// 20 (here the default 19) into any minute, and the 21st waits for the first to age out.
    #[test]
    fn twenty_one_sends_never_exceed_twenty_a_minute() {
        for per_minute in [19, 20] {
            let s = settings(&format!("name = \"r\"\naccess_token = \"t\"\nmax_per_minute = {per_minute}"));
            let caps = s.capabilities();
            let mut rl = RateLimiter::new(&caps.global_limits, &caps.per_chat_limits);
            let t0 = Instant::now();
            let mut sent: Vec<Instant> = Vec::new();
            let mut now = t0;
            while sent.len() < 21 {
                if rl.try_take("group:z01", now).is_ok() {
                    sent.push(now);
                }
                now += Duration::from_millis(100);
            }
            for (i, t) in sent.iter().enumerate() {
                let in_minute = sent[i..].iter().take_while(|u| **u < *t + Duration::from_secs(60)).count();
                assert!(in_minute <= per_minute as usize, "{in_minute} sends in a minute");
            }
            let first_over = sent[per_minute as usize];
            assert!(first_over >= t0 + Duration::from_secs(60), "{:?}", first_over - t0);
            // The budget is used at once, not spread thinly: reminders go out without delay.
            assert!(sent[per_minute as usize - 1] < t0 + Duration::from_secs(3));
        }
    }
}
