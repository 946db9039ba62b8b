//! Feishu custom group robot (自定义机器人): official, push-only, one robot per group.
//!
//! `POST {base_url}/open-apis/bot/v2/hook/<token>` with
//! `{"timestamp":"<seconds>","sign":"<sign>","msg_type":"text","content":{"text":"…"}}`; the
//! signature ([`super::sign`]) is computed for each attempt, never stored. Feishu answers
//! `{"code":0}` when delivered.
//!
//! Feishu allows 100 messages a minute and 5 a second per robot; the channel declares budgets
//! below both (`max_per_minute`, default 90; `max_per_second`, default 4) and the outbox paces
//! every send to them. If Feishu still answers "too many requests" (9499, 11232, HTTP 429:
//! another program posting through the same robot), the channel pauses and resends.

use super::{
    api_url, classify, status_error, text_content, transport_error, ApiReply, DEFAULT_BASE, MAX_CONTENT_BYTES, PLATFORM,
};
use crate::chat::channel::{Capabilities, Channel, ChannelContext, MentionSupport, Rate, SendError, SendReceipt};
use crate::chat::model::OutboundMessage;
use crate::secret::Secret;
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// Feishu's own limits per robot.
pub const PLATFORM_PER_MINUTE: u32 = 100;
pub const PLATFORM_PER_SECOND: u32 = 5;

/// `[[channels.feishu.robots]]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FeishuRobotSettings {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The channel instance name, used in `[[groups]] channel = ...`.
    pub name: String,
    /// The chat id of the group this robot posts to (`[[groups]] id = ...`); defaults to `name`.
    #[serde(default)]
    pub group: String,
    /// The robot's webhook token (the part after `/bot/v2/hook/`; the whole address is accepted
    /// too). Whoever has it can post into the group.
    #[serde(default)]
    pub webhook: Secret,
    /// The signing secret (安全设置 → 签名校验). Empty only when the robot is secured by
    /// keywords or an IP allowlist instead.
    #[serde(default)]
    pub secret: Secret,
    #[serde(default = "default_base")]
    pub base_url: String,
    /// Sends per minute (1 to 100).
    #[serde(default = "default_per_minute")]
    pub max_per_minute: u32,
    /// Sends per second (1 to 5).
    #[serde(default = "default_per_second")]
    pub max_per_second: u32,
    /// How long to wait after Feishu answers "too many requests".
    #[serde(default = "default_retry")]
    pub rate_limited_retry_secs: u64,
    #[serde(default = "default_chars")]
    pub max_message_chars: usize,
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
}

fn yes() -> bool {
    true
}
fn default_base() -> String {
    DEFAULT_BASE.to_string()
}
fn default_per_minute() -> u32 {
    90
}
fn default_per_second() -> u32 {
    PLATFORM_PER_SECOND - 1
}
fn default_retry() -> u64 {
    60
}
fn default_chars() -> usize {
    1000
}
fn default_timeout() -> u64 {
    10_000
}

impl FeishuRobotSettings {
    pub fn group_id(&self) -> &str {
        if self.group.trim().is_empty() {
            self.name.trim()
        } else {
            self.group.trim()
        }
    }

    /// The webhook token alone, also when the whole address was pasted.
    pub fn token(&self) -> String {
        let t = self.webhook.expose().trim();
        match t.rsplit_once("/hook/") {
            Some((_, rest)) => rest.split(['?', '/']).next().unwrap_or_default().to_string(),
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
            return err("webhook", "required: the robot's webhook address (or the token after /bot/v2/hook/)");
        }
        if !token.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return err("webhook", "the token may hold only letters, digits, '-' and '_'");
        }
        if self.secret.expose().trim().chars().any(char::is_whitespace) {
            return err("secret", "must not contain spaces");
        }
        if reqwest::Url::parse(&self.base_url).is_err() {
            return err("base_url", "not a URL");
        }
        if self.max_per_minute == 0 || self.max_per_minute > PLATFORM_PER_MINUTE {
            return err("max_per_minute", "must be between 1 and 100 (Feishu's limit per robot)");
        }
        if self.max_per_second == 0 || self.max_per_second > PLATFORM_PER_SECOND {
            return err("max_per_second", "must be between 1 and 5 (Feishu's limit per robot)");
        }
        let cap = MAX_CONTENT_BYTES / 4;
        if self.max_message_chars < 16 || self.max_message_chars > cap {
            return Err(("max_message_chars".into(), format!("must be between 16 and {cap}")));
        }
        Ok(())
    }

    /// Push into its one group, mentions by open id, no files.
    pub fn capabilities(&self) -> Capabilities {
        Capabilities {
            can_receive: false,
            can_push: true,
            can_send_private: false,
            mention: MentionSupport::ById,
            mention_all: true,
            max_message_chars: self.max_message_chars,
            global_limits: vec![
                Rate::per_minute(self.max_per_minute.clamp(1, PLATFORM_PER_MINUTE)),
                Rate::per_second(self.max_per_second.clamp(1, PLATFORM_PER_SECOND)),
            ],
            per_chat_limits: Vec::new(),
            max_concurrent_sends: 1,
            can_send_files: false,
            max_file_bytes: 0,
            can_send_images: false,
            max_image_bytes: 0,
        }
    }
}

/// Robots and `[[groups]]` must agree: a group registered on a robot channel is the robot's group.
pub fn validate_groups(
    robots: &[FeishuRobotSettings],
    groups: &[crate::config::GroupSettings],
) -> Result<(), crate::config::ConfigError> {
    let enabled = robots.iter().filter(|r| r.enabled).map(|r| (r.name.as_str(), r.group_id()));
    crate::chat::registry::check_robot_groups("Feishu", enabled, groups)
}

pub struct FeishuRobotChannel {
    settings: FeishuRobotSettings,
    caps: Capabilities,
    http: reqwest::Client,
    url: String,
}

impl FeishuRobotChannel {
    pub fn new(settings: FeishuRobotSettings) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(Duration::from_millis(settings.timeout_ms.max(1))).build()?;
        let caps = settings.capabilities();
        let url = api_url(&settings.base_url, &format!("/open-apis/bot/v2/hook/{}", settings.token()));
        Ok(FeishuRobotChannel { settings, caps, http, url })
    }

    /// The request body, signed now when a secret is set.
    pub fn body(&self, text: &str, now_secs: i64) -> serde_json::Value {
        let mut body = json!({ "msg_type": "text", "content": { "text": text } });
        let secret = self.settings.secret.expose().trim();
        if !secret.is_empty() {
            let ts = now_secs.to_string();
            body["sign"] = json!(super::sign(secret, &ts));
            body["timestamp"] = json!(ts);
        }
        body
    }
}

#[async_trait]
impl Channel for FeishuRobotChannel {
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
        let what = format!("飞书自定义机器人 {}", self.settings.name);
        crate::chat::channel::robot_group_only(&what, self.settings.group_id(), msg)?;
        if msg.attachment.is_some() {
            return Err(SendError::Permanent("飞书自定义机器人不能发送文件".into()));
        }
        let body = self.body(&text_content(&msg.segments), chrono::Utc::now().timestamp());
        if body.to_string().len() > MAX_CONTENT_BYTES {
            return Err(SendError::Permanent(format!(
                "消息超过飞书 {MAX_CONTENT_BYTES} 字节的长度限制 (max_message_chars 设得过大)"
            )));
        }
        let retry = Duration::from_secs(self.settings.rate_limited_retry_secs);
        let resp = self
            .http
            .post(&self.url)
            .json(&body)
            .send()
            .await
            .map_err(|e| transport_error("飞书自定义机器人无法连接", e))?;
        let status = resp.status();
        let reply: Option<ApiReply> = resp.json().await.ok();
        match reply {
            // Feishu puts its code in the body, also with some 4xx statuses.
            Some(r) if r.code() != 0 || status.is_success() => classify(r.code(), &r.msg, retry)?,
            _ if !status.is_success() => return Err(status_error("飞书自定义机器人", status, retry)),
            _ => return Err(SendError::Transient("飞书自定义机器人的回应无法解析".into())),
        }
        Ok(SendReceipt { platform_msg_id: None })
    }

    async fn run(self: Arc<Self>, _ctx: ChannelContext) -> anyhow::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(toml: &str) -> FeishuRobotSettings {
        toml::from_str(toml).unwrap()
    }

    #[test]
    fn webhook_may_be_the_whole_address_and_bodies_are_signed() {
        let s = settings(
            "name = \"r\"\nwebhook = \"https://open.feishu.cn/open-apis/bot/v2/hook/0b1c-2d3e_4f\"\n\
             secret = \"fs-test-secret\"",
        );
        assert_eq!(s.token(), "0b1c-2d3e_4f");
        assert!(s.validate().is_ok());
        let ch = FeishuRobotChannel::new(s).unwrap();
        assert_eq!(ch.url, "https://open.feishu.cn/open-apis/bot/v2/hook/0b1c-2d3e_4f");
        let b = ch.body("例会通知", 1700000000);
        assert_eq!(b["timestamp"], "1700000000");
        assert_eq!(b["sign"], "3HqDa4HUcXCZBXJyyDBeD0kNnJQT43b9Vtdmi0Rogbk=");
        assert_eq!(b["msg_type"], "text");
        assert_eq!(b["content"]["text"], "例会通知");
        let unsigned = FeishuRobotChannel::new(settings("name = \"r\"\nwebhook = \"abc\"")).unwrap();
        assert!(unsigned.body("x", 1).get("sign").is_none());
        assert_eq!(settings("name = \"r\"").validate().unwrap_err().0, "webhook");
        assert_eq!(
            settings("name = \"r\"\nwebhook = \"t\"\nmax_per_second = 6").validate().unwrap_err().0,
            "max_per_second"
        );
        assert_eq!(
            settings("name = \"r\"\nwebhook = \"t\"\nmax_per_minute = 101").validate().unwrap_err().0,
            "max_per_minute"
        );
    }
}
