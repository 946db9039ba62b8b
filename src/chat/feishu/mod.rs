//! Feishu / Lark (飞书): custom group robots (自定义机器人, push-only, one per group, signed) and
//! an app bot (企业自建应用的机器人) receiving `im.message.receive_v1` events through its HTTP
//! callback and answering through the message API with a tenant access token.
//!
//! Both speak for platform "feishu": an account bound there (`绑定` sent to the app bot) is the
//! person's `open_id` (`ou_…`) under that app, reached privately through the app and mentioned by
//! it (`<at user_id="ou_…">name</at>`) through the custom robots.
//!
//! One registry entry, `[channels.feishu]`, holds both: `[channels.feishu.app]` and
//! `[[channels.feishu.robots]]`.

pub mod app;
pub mod robot;

use super::channel::{SendError, MOBILE_MENTION_PREFIX};
use crate::chat::model::Segment;
use crate::chat::registry::{Built, Configured, Factory};
use crate::config::{parse_section, ConfigError, RawSection, Settings};
use serde::Deserialize;
use std::time::Duration;

pub use app::{FeishuAppChannel, FeishuAppSettings};
pub use robot::{FeishuRobotChannel, FeishuRobotSettings};

pub const PLATFORM: &str = "feishu";
/// Feishu's open platform host (Lark: `https://open.larksuite.com`).
pub const DEFAULT_BASE: &str = "https://open.feishu.cn";

/// The custom robot signature: `base64(HMAC-SHA256(key = "<timestamp>\n<secret>", message =
/// empty))`, the timestamp in seconds as the decimal text sent with it. Note the order: the
/// timestamp and secret form the *key* (DingTalk uses them as the message, keyed by the secret).
pub fn sign(secret: &str, timestamp_secs: &str) -> String {
    use base64::Engine;
    use hmac::{Hmac, Mac};
    let key = format!("{timestamp_secs}\n{secret}");
    let mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes keys of any length");
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The `{"code": …, "msg": …}` every Feishu open API answers with.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ApiReply {
    #[serde(default)]
    pub code: i64,
    #[serde(default)]
    pub msg: String,
    #[serde(default)]
    pub data: Option<serde_json::Value>,
    // Custom robots answered with `StatusCode` in older versions.
    #[serde(default, rename = "StatusCode")]
    pub status_code: Option<i64>,
}

impl ApiReply {
    pub fn code(&self) -> i64 {
        if self.code != 0 {
            self.code
        } else {
            self.status_code.unwrap_or(0)
        }
    }
}

/// Maps a Feishu error code to what the outbox should do.
///
/// * 0: delivered.
/// * 9499 (too many requests), 11232 (robot send frequency), 230020 / 99991400 (rate limit of the
///   message API): retry after `retry` (the whole channel pauses).
/// * 19021 (signature failed), 19024 (keyword), 19022 (IP not allowed), 19001 (bad webhook) and
///   everything else: permanent; an admin must look.
pub(crate) fn classify(code: i64, msg: &str, retry: Duration) -> Result<(), SendError> {
    match code {
        0 => Ok(()),
        9499 | 11232 | 230020 | 99991400 => Err(SendError::RateLimited { retry_after: retry }),
        code => Err(SendError::Permanent(format!("飞书拒绝 (code {code}: {})", describe(code, msg)))),
    }
}

fn describe(code: i64, msg: &str) -> String {
    let hint = match code {
        19021 => "签名校验失败 (检查 secret 与服务器时钟)",
        19022 => "IP 不在机器人的白名单内",
        19024 => "消息不含机器人设置的关键词",
        19001 => "webhook 地址无效",
        230002 => "机器人不在该群中",
        _ => "",
    };
    let msg = trim_msg(msg);
    if hint.is_empty() {
        msg
    } else {
        format!("{hint}; {msg}")
    }
}

/// Feishu's own message text, which carries no credentials; trimmed so logs stay readable.
fn trim_msg(msg: &str) -> String {
    msg.chars().take(200).collect()
}

/// A reqwest failure as an outbox outcome; the URL is dropped (it carries the robot's token).
pub(crate) fn transport_error(what: &str, e: reqwest::Error) -> SendError {
    SendError::Transient(format!("{what}: {}", e.without_url()))
}

/// An HTTP status other than 2xx whose body said nothing more useful.
pub(crate) fn status_error(what: &str, status: reqwest::StatusCode, retry: Duration) -> SendError {
    if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        SendError::RateLimited { retry_after: retry }
    } else if status.is_server_error() || status == reqwest::StatusCode::REQUEST_TIMEOUT {
        SendError::Transient(format!("{what} answered HTTP {status}"))
    } else {
        SendError::Permanent(format!("{what} answered HTTP {status}"))
    }
}

/// Joins a base URL and a path, tolerating a trailing slash on the base.
pub(crate) fn api_url(base: &str, path: &str) -> String {
    format!("{}{}", base.trim_end_matches('/'), path)
}

/// Keeps `<`, `>` and `"` out of what goes inside an `<at>` tag.
fn tag_safe(s: &str) -> String {
    s.chars().filter(|c| !matches!(c, '<' | '>' | '"')).collect()
}

/// The text of a Feishu `text` message. A mention by open id is written
/// `<at user_id="ou_…">name</at>` (Feishu shows `@name` and notifies); a mention with no id (or a
/// mobile number, which text messages cannot mention by) is written `@name`; everyone is
/// `<at user_id="all">所有人</at>`.
pub fn text_content(segments: &[Segment]) -> String {
    let mut out = String::new();
    for seg in segments {
        match seg {
            Segment::Text { text } => out.push_str(text),
            Segment::Mention { user_id, name } => {
                let id = user_id.trim();
                if id.is_empty() || id.starts_with(MOBILE_MENTION_PREFIX) {
                    out.push('@');
                    out.push_str(name);
                } else {
                    out.push_str(&format!("<at user_id=\"{}\">{}</at>", tag_safe(id), tag_safe(name)));
                }
            }
            Segment::MentionAll => out.push_str("<at user_id=\"all\">所有人</at> "),
            Segment::Reply { .. } => {}
            Segment::Image { .. } => out.push_str("[图片]"),
            Segment::File { media } => {
                out.push_str("[文件");
                if let Some(n) = &media.name {
                    out.push(':');
                    out.push_str(n);
                }
                out.push(']');
            }
        }
    }
    out
}

/// Feishu's limit on a text message request body: 20 KB (robots) / 150 KB (API); the smaller.
pub(crate) const MAX_CONTENT_BYTES: usize = 20_000;

/// `[channels.feishu]`: the app bot and the custom robots.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FeishuSettings {
    #[serde(default)]
    pub app: Option<FeishuAppSettings>,
    #[serde(default)]
    pub robots: Vec<FeishuRobotSettings>,
}

/// `[channels.feishu]` in the registry.
pub const FACTORY: Factory = Factory { section: "feishu", configure };

fn configure(raw: Option<&RawSection>, settings: &Settings) -> Result<Vec<Configured>, ConfigError> {
    let Some(raw) = raw else { return Ok(Vec::new()) };
    let s: FeishuSettings = parse_section("feishu", raw)?;
    let mut out = Vec::new();
    if let Some(app) = s.app.filter(|a| a.enabled) {
        app.validate().map_err(|(key, message)| ConfigError::new(format!("channels.feishu.app.{key}"), message))?;
        let http_paths = vec![("channels.feishu.app.callback_path".to_string(), app.callback_path.clone())];
        out.push(Configured {
            name: app.name.clone(),
            name_key: "channels.feishu.app.name".into(),
            http_paths,
            build: Box::new(move || Built::channel(FeishuAppChannel::new(app.clone())?)),
        });
    }
    for (i, r) in s.robots.iter().enumerate() {
        r.validate()
            .map_err(|(key, message)| ConfigError::new(format!("channels.feishu.robots[{i}].{key}"), message))?;
    }
    robot::validate_groups(&s.robots, &settings.groups)?;
    for (i, r) in s.robots.into_iter().enumerate().filter(|(_, r)| r.enabled) {
        out.push(Configured {
            name: r.name.clone(),
            name_key: format!("channels.feishu.robots[{i}].name"),
            http_paths: Vec::new(),
            build: Box::new(move || Built::channel(FeishuRobotChannel::new(r.clone())?)),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Computed by hand with python3: `base64.b64encode(hmac.new(b"1700000000\nfs-test-secret",
    /// b"", hashlib.sha256).digest())`, the algorithm Feishu documents.
    #[test]
    fn sign_matches_a_hand_computed_vector() {
        assert_eq!(sign("fs-test-secret", "1700000000"), "3HqDa4HUcXCZBXJyyDBeD0kNnJQT43b9Vtdmi0Rogbk=");
        assert_ne!(sign("fs-test-secret", "1700000001"), sign("fs-test-secret", "1700000000"));
    }

    #[test]
    fn error_codes_map_to_outbox_outcomes() {
        let r = Duration::from_secs(60);
        assert_eq!(classify(0, "success", r), Ok(()));
        for code in [9499, 11232] {
            assert_eq!(classify(code, "too many request", r), Err(SendError::RateLimited { retry_after: r }));
        }
        assert!(matches!(classify(19021, "sign match fail", r), Err(SendError::Permanent(m)) if m.contains("签名")));
    }

    #[test]
    fn text_mentions_by_open_id() {
        let segs = vec![
            Segment::Mention { user_id: "ou_7d8a6e6df7621556ce0d21922b676706ccs".into(), name: "王<芳>".into() },
            Segment::text(" 和 "),
            Segment::Mention { user_id: "mobile:19900001234".into(), name: "李明".into() },
            Segment::text(" 请提交周报"),
        ];
        assert_eq!(
            text_content(&segs),
            "<at user_id=\"ou_7d8a6e6df7621556ce0d21922b676706ccs\">王芳</at> 和 @李明 请提交周报"
        );
        assert_eq!(text_content(&[Segment::MentionAll, Segment::text("开会")]), "<at user_id=\"all\">所有人</at> 开会");
    }
}
