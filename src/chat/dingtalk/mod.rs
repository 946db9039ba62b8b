//! DingTalk (钉钉): custom group robots (自定义机器人, push-only, one per group, signed) and the
//! enterprise internal app's robot (企业内部应用机器人: group @-messages and private messages
//! received through Stream mode, a WebSocket Dudao opens to DingTalk's gateway, or its HTTP
//! callback; replies through the message's session webhook, unprompted
//! sends through the robot API).
//!
//! Both speak for platform "dingtalk": an account bound there (`绑定` sent to the app robot) is a
//! DingTalk user id (staffId), reached privately through the app and mentioned by id through the
//! custom robots; people with no DingTalk account bound are mentioned by mobile number.
//!
//! One registry entry, `[channels.dingtalk]`, holds both: `[channels.dingtalk.app]` and
//! `[[channels.dingtalk.robots]]`.

pub mod app;
pub mod callback;
pub mod robot;
pub mod stream;

use super::channel::{SendError, MOBILE_MENTION_PREFIX};
use crate::chat::model::Segment;
use crate::chat::registry::{Built, Configured, Factory};
use crate::config::{parse_section, ConfigError, RawSection, Settings};
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;

pub use app::{DingtalkAppChannel, DingtalkAppSettings, ReceiveMode};
pub use robot::{DingtalkRobotChannel, DingtalkRobotSettings};

pub const PLATFORM: &str = "dingtalk";
/// The old API host: custom robots (`/robot/send`) and session webhooks (`/robot/sendBySession`).
pub const DEFAULT_OAPI_BASE: &str = "https://oapi.dingtalk.com";
/// The new API host: access tokens and the robot send API (`/v1.0/...`).
pub const DEFAULT_API_BASE: &str = "https://api.dingtalk.com";

/// The signature DingTalk uses both ways: `base64(HMAC-SHA256(key = secret, "<timestamp>\n<secret>"))`,
/// the timestamp in milliseconds as the decimal text sent with it. Custom robots put it in the
/// query (`&timestamp=…&sign=…`, URL-encoded by the query encoder); the app callback carries it
/// in the `timestamp` and `sign` headers, keyed with the app's AppSecret.
pub fn sign(secret: &str, timestamp_ms: &str) -> String {
    use base64::Engine;
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp_ms.as_bytes());
    mac.update(b"\n");
    mac.update(secret.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Whether `given` is the signature of `timestamp_ms` under `secret`, compared in constant time.
pub fn verify_sign(secret: &str, timestamp_ms: &str, given: &str) -> bool {
    use base64::Engine;
    use hmac::{Hmac, Mac};
    let Ok(given) = base64::engine::general_purpose::STANDARD.decode(given.trim()) else { return false };
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp_ms.as_bytes());
    mac.update(b"\n");
    mac.update(secret.as_bytes());
    mac.verify_slice(&given).is_ok()
}

/// The `{"errcode": …, "errmsg": …}` the oapi host answers with (HTTP 200 even on errors).
#[derive(Debug, Deserialize)]
pub(crate) struct OapiReply {
    #[serde(default)]
    pub errcode: i64,
    #[serde(default)]
    pub errmsg: String,
}

/// Maps an oapi error code (custom robot, session webhook) to what the outbox should do.
///
/// * 0: delivered.
/// * 130101 / 410100 (send too fast): the robot sent more than 20 in a minute and is muted for
///   10 minutes; retry after `ban` (the whole channel pauses, see `SendError::RateLimited`).
/// * -1 (系统繁忙): transient.
/// * everything else (310000 sign/keyword/IP refused, 300001 no such token, …): permanent: the
///   same request cannot succeed, an admin must look.
pub(crate) fn classify(errcode: i64, errmsg: &str, ban: Duration) -> Result<(), SendError> {
    match errcode {
        0 => Ok(()),
        130101 | 410100 => Err(SendError::RateLimited { retry_after: ban }),
        -1 => Err(SendError::Transient(format!("钉钉系统繁忙 (errcode -1: {})", trim_msg(errmsg)))),
        code => Err(SendError::Permanent(format!("钉钉拒绝 (errcode {code}: {})", describe(code, errmsg)))),
    }
}

fn describe(code: i64, errmsg: &str) -> String {
    let hint = match code {
        310000 => "签名、关键词或 IP 白名单校验未通过 (检查 secret 与机器人的安全设置)",
        300001 => "机器人 access_token 无效",
        90030 => "本月 webhook 调用次数已达上限",
        _ => "",
    };
    let msg = trim_msg(errmsg);
    if hint.is_empty() {
        msg
    } else {
        format!("{hint}; {msg}")
    }
}

/// DingTalk's own message text, which carries no credentials; trimmed so logs stay readable.
fn trim_msg(errmsg: &str) -> String {
    errmsg.chars().take(200).collect()
}

/// A reqwest failure as an outbox outcome: no answer (connection, timeout) is transient. The
/// URL is dropped from the text because it carries the robot's access token or the session.
pub(crate) fn transport_error(what: &str, e: reqwest::Error) -> SendError {
    SendError::Transient(format!("{what}: {}", e.without_url()))
}

/// An HTTP status other than 2xx from a DingTalk endpoint.
pub(crate) fn status_error(what: &str, status: reqwest::StatusCode, detail: &str) -> SendError {
    let detail = trim_msg(detail);
    if status.is_server_error() || status == reqwest::StatusCode::REQUEST_TIMEOUT {
        SendError::Transient(format!("{what} answered HTTP {status} {detail}"))
    } else if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        SendError::RateLimited { retry_after: Duration::from_secs(60) }
    } else {
        SendError::Permanent(format!("{what} answered HTTP {status} {detail}"))
    }
}

/// Joins a base URL and a path, tolerating a trailing slash on the base.
pub(crate) fn api_url(base: &str, path: &str) -> String {
    format!("{}{}", base.trim_end_matches('/'), path)
}

/// A mainland mobile number, the only kind `atMobiles` can reach.
fn is_mobile(s: &str) -> bool {
    s.len() == 11 && s.starts_with('1') && s.bytes().all(|b| b.is_ascii_digit())
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MessageFormat {
    /// Plain text.
    #[default]
    Text,
    /// DingTalk markdown (a subset); the first line is also the notification title.
    Markdown,
}

/// The JSON body of one oapi robot message (custom robot and session webhook alike).
///
/// Mentions follow DingTalk's rule: the person is listed in `at.atUserIds` (a DingTalk user id)
/// or `at.atMobiles` (a mobile number, `mobile:` prefixed in the segment) and the content holds
/// `@<id or mobile>` where the mention goes; DingTalk shows it as `@姓名` to group members. A
/// mention with neither is written as `@姓名` text.
pub fn build_body(format: MessageFormat, segments: &[Segment]) -> serde_json::Value {
    let mut content = String::new();
    let mut ids: Vec<String> = Vec::new();
    let mut mobiles: Vec<String> = Vec::new();
    let mut at_all = false;
    let push_unique = |v: &mut Vec<String>, s: &str| {
        if !v.iter().any(|x| x == s) {
            v.push(s.to_string());
        }
    };
    for seg in segments {
        match seg {
            Segment::Text { text } => content.push_str(text),
            Segment::Mention { user_id, name } => match user_id.strip_prefix(MOBILE_MENTION_PREFIX) {
                Some(m) if is_mobile(m) => {
                    content.push_str(&format!("@{m}"));
                    push_unique(&mut mobiles, m);
                }
                Some(_) => content.push_str(&format!("@{name}")),
                None if user_id.trim().is_empty() => content.push_str(&format!("@{name}")),
                None => {
                    content.push_str(&format!("@{user_id}"));
                    push_unique(&mut ids, user_id);
                }
            },
            Segment::MentionAll => {
                content.push_str("@所有人 ");
                at_all = true;
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
    let at = json!({ "atUserIds": ids, "atMobiles": mobiles, "isAtAll": at_all });
    match format {
        MessageFormat::Text => json!({ "msgtype": "text", "text": { "content": content }, "at": at }),
        MessageFormat::Markdown => {
            let title: String =
                content.lines().find(|l| !l.trim().is_empty()).unwrap_or("督导助手").chars().take(30).collect();
            json!({ "msgtype": "markdown", "markdown": { "title": title, "text": content }, "at": at })
        }
    }
}

/// DingTalk's limits on a robot message: the request body at most 20,000 bytes.
pub(crate) const MAX_CONTENT_BYTES: usize = 20_000;

/// `[channels.dingtalk]`: the app robot and the custom robots.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DingtalkSettings {
    #[serde(default)]
    pub app: Option<DingtalkAppSettings>,
    #[serde(default)]
    pub robots: Vec<DingtalkRobotSettings>,
}

/// `[channels.dingtalk]` in the registry.
pub const FACTORY: Factory = Factory { section: "dingtalk", configure };

fn configure(raw: Option<&RawSection>, settings: &Settings) -> Result<Vec<Configured>, ConfigError> {
    let Some(raw) = raw else { return Ok(Vec::new()) };
    let s: DingtalkSettings = parse_section("dingtalk", raw)?;
    let mut out = Vec::new();
    if let Some(app) = s.app.filter(|a| a.enabled) {
        app.validate().map_err(|(key, message)| ConfigError::new(format!("channels.dingtalk.app.{key}"), message))?;
        let http_paths = match app.receive {
            ReceiveMode::Callback => {
                vec![("channels.dingtalk.app.callback_path".to_string(), app.callback_path.clone())]
            }
            ReceiveMode::Stream => Vec::new(),
        };
        out.push(Configured {
            name: app.name.clone(),
            name_key: "channels.dingtalk.app.name".into(),
            http_paths,
            build: Box::new(move || Built::channel(DingtalkAppChannel::new(app.clone())?)),
        });
    }
    for (i, r) in s.robots.iter().enumerate() {
        r.validate()
            .map_err(|(key, message)| ConfigError::new(format!("channels.dingtalk.robots[{i}].{key}"), message))?;
    }
    robot::validate_groups(&s.robots, &settings.groups)?;
    for (i, r) in s.robots.into_iter().enumerate().filter(|(_, r)| r.enabled) {
        out.push(Configured {
            name: r.name.clone(),
            name_key: format!("channels.dingtalk.robots[{i}].name"),
            http_paths: Vec::new(),
            build: Box::new(move || Built::channel(DingtalkRobotChannel::new(r.clone())?)),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Computed by hand with `printf '1700000000000\nSECtestsecret' | openssl dgst -sha256
    /// -hmac SECtestsecret -binary | base64`, the algorithm DingTalk documents.
    #[test]
    fn sign_matches_a_hand_computed_vector() {
        let s = sign("SECtestsecret", "1700000000000");
        assert_eq!(s, "7LVwF0dAF3/+MRRulbpE4y72Ogzykc6bS2nG4I99T4s=");
        assert!(verify_sign("SECtestsecret", "1700000000000", &s));
        assert!(!verify_sign("SECtestsecret", "1700000000001", &s));
        assert!(!verify_sign("SECother", "1700000000000", &s));
        assert!(!verify_sign("SECtestsecret", "1700000000000", "not base64 at all!"));
        assert!(!verify_sign("SECtestsecret", "1700000000000", ""));
    }

    #[test]
    fn error_codes_map_to_outbox_outcomes() {
        let ban = Duration::from_secs(600);
        assert_eq!(classify(0, "ok", ban), Ok(()));
        assert_eq!(
            classify(130101, "send too fast, exceed 20 times per minute", ban),
            Err(SendError::RateLimited { retry_after: ban })
        );
        assert!(matches!(classify(-1, "busy", ban), Err(SendError::Transient(_))));
        assert!(matches!(classify(310000, "sign not match", ban), Err(SendError::Permanent(m)) if m.contains("签名")));
    }

    #[test]
    fn bodies_mention_by_user_id_and_by_mobile() {
        let segs = vec![
            Segment::Mention { user_id: "manager7978".into(), name: "王芳".into() },
            Segment::text(" 和 "),
            Segment::Mention { user_id: "mobile:19900001234".into(), name: "李明".into() },
            Segment::Mention { user_id: "mobile:0571-1234567".into(), name: "座机".into() },
            Segment::text(" 请提交周报"),
        ];
        let b = build_body(MessageFormat::Text, &segs);
        assert_eq!(b["msgtype"], "text");
        assert_eq!(b["text"]["content"], "@manager7978 和 @19900001234@座机 请提交周报");
        assert_eq!(b["at"]["atUserIds"], json!(["manager7978"]));
        assert_eq!(b["at"]["atMobiles"], json!(["19900001234"]));
        assert_eq!(b["at"]["isAtAll"], false);
        let m = build_body(MessageFormat::Markdown, &[Segment::MentionAll, Segment::text("本周督导安排\n- 周三")]);
        assert_eq!(m["markdown"]["title"], "@所有人 本周督导安排");
        assert_eq!(m["at"]["isAtAll"], true);
    }
}

/// The body of a v1.0 API error (HTTP 4xx/5xx), for the app robot's sends and Stream mode's
/// registration.
#[derive(serde::Deserialize, Default)]
struct ApiError {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}
