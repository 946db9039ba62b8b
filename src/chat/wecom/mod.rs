//! WeCom (企业微信): group robots (群机器人, push-only, one per group) and the self-built app
//! (自建应用: private messages both ways, receiving through an encrypted callback).
//!
//! Both speak for platform "wecom": the roster's 企业微信 column binds WeCom user ids there, so a
//! person bound once is reached privately through the app and mentioned by user id through the
//! robots.

pub mod aibot;
pub mod app;
pub mod callback;
pub mod crypto;
pub mod robot;

use super::channel::SendError;
use std::time::Duration;

pub use app::{WecomAppChannel, WecomAppSettings};
pub use robot::{WecomRobotChannel, WecomRobotSettings};

pub const PLATFORM: &str = "wecom";
pub const DEFAULT_API_BASE: &str = "https://qyapi.weixin.qq.com";

/// The `{"errcode": …, "errmsg": …}` every WeCom API answers with (HTTP 200 even on errors).
#[derive(Debug, serde::Deserialize)]
pub(crate) struct ApiReply {
    #[serde(default)]
    pub errcode: i64,
    #[serde(default)]
    pub errmsg: String,
}

/// Maps a WeCom error code to what the outbox should do with the message.
///
/// * 0: delivered.
/// * 45009 (接口调用超过限制), 45011 (调用太频繁), 45033 (并发调用超过限制): rate limited; retry
///   after `rate_limited_retry` (WeCom does not say how long; the robot window is a minute).
/// * -1 (系统繁忙): transient.
/// * everything else (93000 invalid robot key, 40008 bad message type, 44004 empty text,
///   45002 too long, 60020 IP not allowed, 81013 no such user …): permanent: retrying the
///   same request cannot succeed, an admin must look.
pub(crate) fn classify(errcode: i64, errmsg: &str, rate_limited_retry: Duration) -> Result<(), SendError> {
    match errcode {
        0 => Ok(()),
        45009 | 45011 | 45033 => Err(SendError::RateLimited { retry_after: rate_limited_retry }),
        -1 => Err(SendError::Transient(format!("企业微信系统繁忙 (errcode -1: {errmsg})"))),
        code => Err(SendError::Permanent(format!("企业微信拒绝 (errcode {code}: {})", describe(code, errmsg)))),
    }
}

fn describe(code: i64, errmsg: &str) -> String {
    let hint = match code {
        93000 => "机器人 webhook key 无效",
        93004 => "机器人已被停用",
        93008 => "机器人不在该群",
        40014 | 42001 | 40001 => "access_token 无效或已过期",
        60020 => "服务器 IP 不在应用的可信 IP 列表中",
        81013 => "接收人无效或不在应用可见范围",
        45002 => "消息过长",
        44004 => "消息为空",
        _ => "",
    };
    // errmsg is WeCom's text and carries no credentials; trim it so logs stay readable.
    let msg: String = errmsg.chars().take(200).collect();
    if hint.is_empty() {
        msg
    } else {
        format!("{hint}; {msg}")
    }
}

/// A reqwest failure as an outbox outcome: no answer (connection, timeout) is transient.
/// The URL is dropped from the text because it carries the robot key or the access token.
pub(crate) fn transport_error(what: &str, e: reqwest::Error) -> SendError {
    SendError::Transient(format!("{what}: {}", e.without_url()))
}

/// An HTTP status other than 200 from a WeCom endpoint.
pub(crate) fn status_error(what: &str, status: reqwest::StatusCode) -> SendError {
    if status.is_server_error() || status == reqwest::StatusCode::REQUEST_TIMEOUT {
        SendError::Transient(format!("{what} answered HTTP {status}"))
    } else if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        SendError::RateLimited { retry_after: Duration::from_secs(60) }
    } else {
        SendError::Permanent(format!("{what} answered HTTP {status}"))
    }
}

/// WeCom takes files of at most 20 MB (group robot `upload_media` and app `media/upload`).
pub const MAX_FILE_BYTES: u64 = 20 * 1024 * 1024;
/// WeCom shows images of at most 2 MB (robot `image` messages; app media of type image).
pub const MAX_IMAGE_BYTES: u64 = 2 * 1024 * 1024;

/// What `upload_media` / `media/upload` answer.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct UploadReply {
    #[serde(default)]
    pub errcode: i64,
    #[serde(default)]
    pub errmsg: String,
    #[serde(default)]
    pub media_id: String,
}

/// Posts a file as `multipart/form-data` in the part `media` (WeCom's temporary media upload,
/// `type=file`) and returns WeCom's answer. `query` carries the credential (robot key or access
/// token). The file name goes as raw UTF-8, as browsers send it: WeCom shows it to readers.
pub(crate) async fn upload_media(
    http: &reqwest::Client,
    url: &str,
    query: &[(&str, &str)],
    file: &crate::chat::Attachment,
    what: &str,
) -> Result<UploadReply, SendError> {
    let name: String = file.name.chars().map(|c| if matches!(c, '"' | '\r' | '\n' | '\\') { '_' } else { c }).collect();
    let part = reqwest::multipart::Part::bytes(file.bytes.to_vec())
        .file_name(name)
        .mime_str(&file.mime)
        .map_err(|e| SendError::Permanent(format!("{what}: 文件类型无效 ({}): {e}", file.mime)))?;
    let form = reqwest::multipart::Form::new().percent_encode_noop().part("media", part);
    let resp = http
        .post(url)
        .query(query)
        // An image to show (a chart) is uploaded as such; `file` media cannot be shown inline.
        .query(&[("type", if file.inline { "image" } else { "file" })])
        .multipart(form)
        .send()
        .await
        .map_err(|e| transport_error(what, e))?;
    if !resp.status().is_success() {
        return Err(status_error(what, resp.status()));
    }
    resp.json().await.map_err(|e| SendError::Transient(format!("{what} 回应无法解析: {}", e.without_url())))
}

/// Joins an API base URL and a path, tolerating a trailing slash on the base.
pub(crate) fn api_url(base: &str, path: &str) -> String {
    format!("{}{}", base.trim_end_matches('/'), path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_map_to_outbox_outcomes() {
        let r = Duration::from_secs(60);
        assert_eq!(classify(0, "ok", r), Ok(()));
        assert_eq!(classify(45009, "api freq out of limit", r), Err(SendError::RateLimited { retry_after: r }));
        assert!(matches!(classify(-1, "system busy", r), Err(SendError::Transient(_))));
        assert!(
            matches!(classify(93000, "invalid webhook url", r), Err(SendError::Permanent(m)) if m.contains("key 无效"))
        );
        assert!(matches!(classify(40008, "invalid message type", r), Err(SendError::Permanent(_))));
    }
}
