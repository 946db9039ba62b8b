//! WeCom group robot (群机器人): official, push-only, one robot per group.
//!
//! `POST {api_base_url}/cgi-bin/webhook/send?key=KEY` with `{"msgtype":"text","text":{"content",
//! "mentioned_list","mentioned_mobile_list"}}` or `{"msgtype":"markdown","markdown":{"content"}}`.
//! At most 20 messages a minute per robot. Each robot is its own channel instance whose single
//! chat is the group it was added to; `[[groups]] channel = "<robot name>"` registers that group.
//!
//! Mentions: a roster person with a WeCom account bound (the 企业微信 column) is mentioned by
//! user id (`mentioned_list`, or `<@userid>` inline in markdown), otherwise by mobile number
//! (`mentioned_mobile_list`; text format only). The name is also written inline as `@姓名`.

use super::{
    api_url, classify, status_error, transport_error, upload_media, ApiReply, DEFAULT_API_BASE, MAX_FILE_BYTES,
    MAX_IMAGE_BYTES, PLATFORM,
};
use crate::chat::channel::{
    Capabilities, Channel, ChannelContext, MentionSupport, Rate, SendError, SendReceipt, MOBILE_MENTION_PREFIX,
};
use crate::chat::model::{OutboundMessage, Segment};
use crate::chat::registry::{Built, Configured, Factory};
use crate::config::{parse_section, ConfigError, RawSection, Settings};
use crate::secret::Secret;
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// WeCom's limits on `content`, in UTF-8 bytes.
const TEXT_MAX_BYTES: usize = 2048;
const MARKDOWN_MAX_BYTES: usize = 4096;

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RobotFormat {
    /// Plain text; mentions by user id and by mobile number.
    #[default]
    Text,
    /// WeCom markdown; mentions by user id only (`<@userid>`), mobiles are written as text.
    Markdown,
}

/// `[[channels.wecom_robot]]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WecomRobotSettings {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The channel instance name, used in `[[groups]] channel = ...`.
    pub name: String,
    /// The chat id of the group this robot posts to (`[[groups]] id = ...`); defaults to `name`.
    #[serde(default)]
    pub group: String,
    /// The robot's webhook key (the `key=` part of its webhook address; the whole address is
    /// accepted too). Whoever has it can post into the group.
    #[serde(default)]
    pub key: Secret,
    #[serde(default)]
    pub format: RobotFormat,
    #[serde(default = "default_api_base")]
    pub api_base_url: String,
    #[serde(default = "default_per_minute")]
    pub max_per_minute: u32,
    /// How long to wait after WeCom answers 45009 (too many calls).
    #[serde(default = "default_rate_limited_retry")]
    pub rate_limited_retry_secs: u64,
    /// 0 = the format's default (500 for text, 1000 for markdown).
    #[serde(default)]
    pub max_message_chars: usize,
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
}

fn yes() -> bool {
    true
}
fn default_api_base() -> String {
    DEFAULT_API_BASE.to_string()
}
fn default_per_minute() -> u32 {
    20
}
fn default_rate_limited_retry() -> u64 {
    60
}
fn default_timeout() -> u64 {
    10_000
}

impl WecomRobotSettings {
    pub fn group_id(&self) -> &str {
        if self.group.trim().is_empty() {
            self.name.trim()
        } else {
            self.group.trim()
        }
    }

    /// The key alone, also when the whole webhook address was pasted.
    pub fn webhook_key(&self) -> String {
        let k = self.key.expose().trim();
        match k.split_once("key=") {
            Some((_, rest)) => rest.split('&').next().unwrap_or_default().to_string(),
            None => k.to_string(),
        }
    }

    pub fn max_chars(&self) -> usize {
        match (self.max_message_chars, self.format) {
            (0, RobotFormat::Text) => 500,
            (0, RobotFormat::Markdown) => 1000,
            (n, _) => n,
        }
    }

    fn max_bytes(&self) -> usize {
        match self.format {
            RobotFormat::Text => TEXT_MAX_BYTES,
            RobotFormat::Markdown => MARKDOWN_MAX_BYTES,
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
        let key = self.webhook_key();
        if key.is_empty() {
            return err("key", "required: the robot's webhook key (群机器人 → Webhook 地址中 key= 之后的部分)");
        }
        if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return err("key", "must not contain spaces");
        }
        if reqwest::Url::parse(&self.api_base_url).is_err() {
            return err("api_base_url", "not a URL");
        }
        if self.max_per_minute == 0 {
            return err("max_per_minute", "must be at least 1 (WeCom allows 20)");
        }
        // Chinese text takes 3 bytes a character in UTF-8.
        let cap = self.max_bytes() / 3;
        if self.max_chars() < 16 || self.max_chars() > cap {
            return Err(("max_message_chars".into(), format!("must be between 16 and {cap} for this format")));
        }
        Ok(())
    }
}

/// Robots and `[[groups]]` must agree: a group registered on a robot channel is the robot's group.
pub fn validate_groups(
    robots: &[WecomRobotSettings],
    groups: &[crate::config::GroupSettings],
) -> Result<(), crate::config::ConfigError> {
    let enabled = robots.iter().filter(|r| r.enabled).map(|r| (r.name.as_str(), r.group_id()));
    crate::chat::registry::check_robot_groups("WeCom", enabled, groups)
}

pub struct WecomRobotChannel {
    settings: WecomRobotSettings,
    caps: Capabilities,
    http: reqwest::Client,
    url: String,
}

impl WecomRobotChannel {
    pub fn new(settings: WecomRobotSettings) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(Duration::from_millis(settings.timeout_ms.max(1))).build()?;
        let caps = Capabilities {
            can_receive: false,
            can_push: true,
            can_send_private: false,
            mention: MentionSupport::ByIdOrMobile,
            mention_all: true,
            max_message_chars: settings.max_chars(),
            // One robot is one group: its per-minute budget is the channel's.
            global_limits: vec![Rate::per_minute(settings.max_per_minute.max(1))],
            per_chat_limits: Vec::new(),
            max_concurrent_sends: 1,
            // upload_media, then a `file` message naming the media id.
            can_send_files: true,
            max_file_bytes: MAX_FILE_BYTES,
            // An `image` message with the picture inline (base64 and its MD5), up to 2 MB.
            can_send_images: true,
            max_image_bytes: MAX_IMAGE_BYTES,
        };
        let url = api_url(&settings.api_base_url, "/cgi-bin/webhook/send");
        Ok(WecomRobotChannel { settings, caps, http, url })
    }

    pub fn settings(&self) -> &WecomRobotSettings {
        &self.settings
    }
}

/// A mainland mobile number, the only kind `mentioned_mobile_list` can reach.
fn is_mobile(s: &str) -> bool {
    s.len() == 11 && s.starts_with('1') && s.bytes().all(|b| b.is_ascii_digit())
}

/// The JSON body for one message.
pub fn build_body(format: RobotFormat, segments: &[Segment]) -> serde_json::Value {
    let mut content = String::new();
    let mut ids: Vec<String> = Vec::new();
    let mut mobiles: Vec<String> = Vec::new();
    let push_unique = |v: &mut Vec<String>, s: &str| {
        if !v.iter().any(|x| x == s) {
            v.push(s.to_string());
        }
    };
    for seg in segments {
        match seg {
            Segment::Text { text } => content.push_str(text),
            Segment::Mention { user_id, name } => {
                let mobile = user_id.strip_prefix(MOBILE_MENTION_PREFIX);
                match (format, mobile) {
                    (RobotFormat::Markdown, None) if !user_id.is_empty() => {
                        content.push_str(&format!("<@{user_id}>"));
                    }
                    (RobotFormat::Markdown, _) => content.push_str(&format!("@{name}")),
                    (RobotFormat::Text, Some(m)) => {
                        content.push_str(&format!("@{name}"));
                        if is_mobile(m) {
                            push_unique(&mut mobiles, m);
                        }
                    }
                    (RobotFormat::Text, None) => {
                        content.push_str(&format!("@{name}"));
                        if !user_id.is_empty() {
                            push_unique(&mut ids, user_id);
                        }
                    }
                }
            }
            Segment::MentionAll => {
                content.push_str("@所有人 ");
                push_unique(&mut ids, "@all");
            }
            Segment::Reply { .. } => {}
            Segment::Image { .. } => content.push_str("[图片]"),
            Segment::File { media } => {
                content.push_str("[文件");
                if let Some(n) = &media.name {
                    content.push(':');
                    content.push_str(n);
                }
                content.push(']');
            }
        }
    }
    match format {
        RobotFormat::Text => {
            let mut text = json!({ "content": content });
            if !ids.is_empty() {
                text["mentioned_list"] = json!(ids);
            }
            if !mobiles.is_empty() {
                text["mentioned_mobile_list"] = json!(mobiles);
            }
            json!({ "msgtype": "text", "text": text })
        }
        RobotFormat::Markdown => json!({ "msgtype": "markdown", "markdown": { "content": content } }),
    }
}

impl WecomRobotChannel {
    /// Posts one message body to the robot's webhook.
    async fn post(&self, body: &serde_json::Value) -> Result<SendReceipt, SendError> {
        let key = self.settings.webhook_key();
        let resp = self
            .http
            .post(&self.url)
            .query(&[("key", key.as_str())])
            .json(body)
            .send()
            .await
            .map_err(|e| transport_error("企业微信群机器人无法连接", e))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(status_error("企业微信群机器人", status));
        }
        let reply: ApiReply = resp
            .json()
            .await
            .map_err(|e| SendError::Transient(format!("企业微信群机器人的回应无法解析: {}", e.without_url())))?;
        classify(reply.errcode, &reply.errmsg, Duration::from_secs(self.settings.rate_limited_retry_secs))?;
        Ok(SendReceipt { platform_msg_id: None })
    }

    /// `upload_media?key=…&type=file`, then a `file` message with the media id. A retry uploads
    /// again: a media id lives three days, but keeping it would need a write per attempt.
    async fn send_file(&self, file: &crate::chat::Attachment) -> Result<SendReceipt, SendError> {
        let key = self.settings.webhook_key();
        let url = api_url(&self.settings.api_base_url, "/cgi-bin/webhook/upload_media");
        let reply = upload_media(&self.http, &url, &[("key", key.as_str())], file, "企业微信群机器人上传文件").await?;
        classify(reply.errcode, &reply.errmsg, Duration::from_secs(self.settings.rate_limited_retry_secs))?;
        if reply.media_id.is_empty() {
            return Err(SendError::Transient("企业微信群机器人上传文件没有返回 media_id".into()));
        }
        self.post(&json!({ "msgtype": "file", "file": { "media_id": reply.media_id } })).await
    }
}

/// A robot `image` message: the picture inline as base64 with the MD5 of its bytes (the
/// robot API's rule; at most 2 MB before encoding, which the capabilities declare).
fn image_body(bytes: &[u8]) -> serde_json::Value {
    use base64::Engine;
    use md5::{Digest, Md5};
    let md5: String = Md5::digest(bytes).iter().map(|b| format!("{b:02x}")).collect();
    json!({ "msgtype": "image", "image": { "base64": base64::engine::general_purpose::STANDARD.encode(bytes), "md5": md5 } })
}

#[async_trait]
impl Channel for WecomRobotChannel {
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
        let what = format!("企业微信群机器人 {}", self.settings.name);
        crate::chat::channel::robot_group_only(&what, self.settings.group_id(), msg)?;
        if let Some(file) = &msg.attachment {
            if file.inline {
                return self.post(&image_body(&file.bytes)).await;
            }
            return self.send_file(file).await;
        }
        let body = build_body(self.settings.format, &msg.segments);
        let content_bytes = body.pointer("/text/content").or(body.pointer("/markdown/content"));
        if content_bytes.and_then(|c| c.as_str()).is_some_and(|c| c.len() > self.settings.max_bytes()) {
            return Err(SendError::Permanent(format!(
                "消息超过企业微信 {} 字节的长度限制 (max_message_chars 设得过大)",
                self.settings.max_bytes()
            )));
        }
        self.post(&body).await
    }

    async fn run(self: Arc<Self>, _ctx: ChannelContext) -> anyhow::Result<()> {
        Ok(())
    }
}

/// `[[channels.wecom_robot]]` in the registry.
pub const FACTORY: Factory = Factory { section: "wecom_robot", configure };

fn configure(raw: Option<&RawSection>, settings: &Settings) -> Result<Vec<Configured>, ConfigError> {
    let Some(raw) = raw else { return Ok(Vec::new()) };
    let robots: Vec<WecomRobotSettings> = parse_section("wecom_robot", raw)?;
    for (i, r) in robots.iter().enumerate() {
        r.validate().map_err(|(key, message)| ConfigError::new(format!("channels.wecom_robot[{i}].{key}"), message))?;
    }
    validate_groups(&robots, &settings.groups)?;
    Ok(robots
        .into_iter()
        .enumerate()
        .filter(|(_, r)| r.enabled)
        .map(|(i, r)| Configured {
            name: r.name.clone(),
            name_key: format!("channels.wecom_robot[{i}].name"),
            http_paths: Vec::new(),
            build: Box::new(move || Built::channel(WecomRobotChannel::new(r.clone())?)),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(toml: &str) -> WecomRobotSettings {
        toml::from_str(toml).unwrap()
    }

    #[test]
    fn key_may_be_the_whole_webhook_address() {
        let s = settings(
            "name = \"r\"\nkey = \"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa\"",
        );
        assert_eq!(s.webhook_key(), "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa");
        assert_eq!(s.group_id(), "r");
        assert!(s.validate().is_ok());
        let missing = settings("name = \"r\"");
        assert_eq!(missing.validate().unwrap_err().0, "key");
        let disabled = settings("name = \"r\"\nenabled = false");
        assert!(disabled.validate().is_ok());
    }

    #[test]
    fn text_body_mentions_by_id_and_mobile() {
        let segs = vec![
            Segment::Mention { user_id: "wang.fang".into(), name: "王芳".into() },
            Segment::text(" 和 "),
            Segment::Mention { user_id: "mobile:19900001234".into(), name: "李明".into() },
            Segment::Mention { user_id: "mobile:0571-1234567".into(), name: "座机".into() },
            Segment::text(" 请提交周报"),
        ];
        let b = build_body(RobotFormat::Text, &segs);
        assert_eq!(b["msgtype"], "text");
        assert_eq!(b["text"]["content"], "@王芳 和 @李明@座机 请提交周报");
        assert_eq!(b["text"]["mentioned_list"], json!(["wang.fang"]));
        assert_eq!(b["text"]["mentioned_mobile_list"], json!(["19900001234"]));
        let m = build_body(RobotFormat::Markdown, &segs);
        assert_eq!(m["markdown"]["content"], "<@wang.fang> 和 @李明@座机 请提交周报");
        assert!(m.get("text").is_none());
    }
}
