//! DingTalk enterprise internal app robot (企业内部应用机器人): receives group @-messages and
//! private messages, answers them and sends unprompted.
//!
//! Receiving (`receive`): Stream mode (消息接收模式: Stream, the default: a WebSocket Dudao
//! opens to DingTalk's gateway, see `stream.rs`) or the HTTP callback (消息接收模式: HTTP) on
//! Dudao's HTTP listener, see `callback.rs`; both decode and store through
//! `CallbackState::accept`. Each message carries a `sessionWebhook`, a URL valid until
//! `sessionWebhookExpiredTime` that posts into the same conversation with no token; it is kept
//! in memory per chat.
//!
//! Sending: into a chat with a session webhook still valid (a reply), through that webhook
//! (text, mentions by user id). Otherwise (reminders, or after a restart) through the robot API
//! with an access token from `POST /v1.0/oauth2/accessToken` (AppKey + AppSecret, cached until
//! shortly before it expires, fetched again once when DingTalk refuses it):
//! `POST /v1.0/robot/groupMessages/send` for a group (its `openConversationId`, the
//! `conversationId` of its messages; the robot must be in the group) and
//! `POST /v1.0/robot/oToMessages/batchSend` to one member by user id. The robot API's text
//! template (`sampleText`) cannot mention anyone, so names are written as text there.

use super::callback::{self, CallbackState, Sessions};
use super::{api_url, build_body, classify, status_error, transport_error, MessageFormat, OapiReply, PLATFORM};
use super::{ApiError, DEFAULT_API_BASE, DEFAULT_OAPI_BASE, MAX_CONTENT_BYTES};
use crate::chat::channel::{Capabilities, Channel, ChannelContext, MentionSupport, Rate, SendError, SendReceipt};
use crate::chat::channel::{MediaError, MediaSource};
use crate::chat::model::{plain_text, ChatKind, MediaRef, OutboundMessage};
use crate::chat::token::TokenCache;
use crate::secret::Secret;
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// `[channels.dingtalk.app]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DingtalkAppSettings {
    pub enabled: bool,
    /// The channel instance name.
    pub name: String,
    /// The app's AppKey (Client ID).
    pub app_key: String,
    /// The app's AppSecret (Client Secret): access tokens, and the key of the callback signature.
    pub app_secret: Secret,
    /// The robot's code (robotCode); for an internal app's robot it is the AppKey (the default).
    pub robot_code: String,
    /// How messages reach Dudao: `stream` (default; Dudao opens a WebSocket to DingTalk's gateway,
    /// no public address needed) or `callback` (DingTalk POSTs to `callback_path`).
    pub receive: ReceiveMode,
    /// Stream mode: first delay before reconnecting after a failure, doubled up to the maximum.
    pub reconnect_initial_ms: u64,
    pub reconnect_max_ms: u64,
    /// Where the callback is served on the HTTP listener; the 消息接收地址 configured in DingTalk
    /// is `https://<public host><callback_path>`.
    pub callback_path: String,
    /// `/v1.0/...` API host.
    pub api_base_url: String,
    /// Host of session webhooks: a callback's `sessionWebhook` elsewhere is not used.
    pub oapi_base_url: String,
    /// Callbacks whose `timestamp` header is further than this from our clock are refused
    /// (DingTalk's own rule is one hour).
    pub max_clock_skew_secs: u64,
    /// A message is acknowledged (callback: 200; Stream mode: the ACK frame) after it is
    /// stored; storing that takes longer than this counts as failed (callback: 500; Stream
    /// mode: no ACK, so DingTalk delivers it again).
    pub ack_timeout_ms: u64,
    /// Sends per minute over the app (0 = no cap).
    pub max_per_minute: u32,
    /// Sends per minute into one chat (DingTalk robots: 20).
    pub chat_max_per_minute: u32,
    /// How long to wait after DingTalk says "too many calls".
    pub rate_limited_retry_secs: u64,
    pub max_message_chars: usize,
    pub timeout_ms: u64,
}

impl Default for DingtalkAppSettings {
    fn default() -> Self {
        DingtalkAppSettings {
            enabled: true,
            name: "dingtalk".into(),
            app_key: String::new(),
            app_secret: Secret::default(),
            robot_code: String::new(),
            receive: ReceiveMode::Stream,
            reconnect_initial_ms: 1_000,
            reconnect_max_ms: 60_000,
            callback_path: "/dingtalk/callback".into(),
            api_base_url: DEFAULT_API_BASE.into(),
            oapi_base_url: DEFAULT_OAPI_BASE.into(),
            max_clock_skew_secs: 3600,
            ack_timeout_ms: 3_000,
            max_per_minute: 600,
            chat_max_per_minute: 19,
            rate_limited_retry_secs: 60,
            max_message_chars: 1000,
            timeout_ms: 10_000,
        }
    }
}

/// How the app robot receives messages (消息接收模式).
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ReceiveMode {
    /// Stream 模式: an outgoing WebSocket to DingTalk's gateway (see `stream.rs`).
    #[default]
    Stream,
    /// HTTP 模式: DingTalk POSTs to the callback on Dudao's HTTP listener (see `callback.rs`).
    Callback,
}

impl DingtalkAppSettings {
    pub fn robot_code(&self) -> &str {
        if self.robot_code.trim().is_empty() {
            self.app_key.trim()
        } else {
            self.robot_code.trim()
        }
    }

    /// Checks what serde cannot. Returns the offending key (relative to `channels.dingtalk.app`).
    pub fn validate(&self) -> Result<(), (String, String)> {
        let err = |k: &str, m: &str| Err((k.to_string(), m.to_string()));
        if !self.enabled {
            return Ok(());
        }
        if self.name.trim().is_empty() {
            return err("name", "must not be empty");
        }
        if self.app_key.trim().is_empty() {
            return err("app_key", "required: the app's AppKey / Client ID (应用开发 → 凭证与基础信息)");
        }
        if self.app_secret.is_empty() {
            return err("app_secret", "required: the app's AppSecret / Client Secret (凭证与基础信息)");
        }
        if !crate::http::is_plain_path(&self.callback_path) {
            return err("callback_path", "must start with '/' and use only letters, digits, '/', '-', '_' and '.'");
        }
        for (key, url) in [("api_base_url", &self.api_base_url), ("oapi_base_url", &self.oapi_base_url)] {
            if reqwest::Url::parse(url).is_err() {
                return err(key, "not a URL");
            }
        }
        if self.max_clock_skew_secs == 0 || self.max_clock_skew_secs > 3600 {
            return err("max_clock_skew_secs", "must be between 1 and 3600 (DingTalk signs with a one-hour window)");
        }
        if self.reconnect_initial_ms == 0 || self.reconnect_max_ms < self.reconnect_initial_ms {
            return err("reconnect_max_ms", "must be at least reconnect_initial_ms, which must not be 0");
        }
        if self.ack_timeout_ms == 0 || self.ack_timeout_ms > 10_000 {
            return err("ack_timeout_ms", "must be between 1 and 10000");
        }
        if self.chat_max_per_minute > super::robot::PLATFORM_PER_MINUTE {
            return err("chat_max_per_minute", "must be at most 20 (DingTalk's limit for a robot in one chat)");
        }
        let cap = MAX_CONTENT_BYTES / 4;
        if self.max_message_chars < 16 || self.max_message_chars > cap {
            return Err(("max_message_chars".into(), format!("must be between 16 and {cap}")));
        }
        Ok(())
    }

    pub fn capabilities(&self) -> Capabilities {
        let mut global_limits = Vec::new();
        if self.max_per_minute > 0 {
            global_limits.push(Rate::per_minute(self.max_per_minute));
        }
        let mut per_chat_limits = Vec::new();
        if self.chat_max_per_minute > 0 {
            per_chat_limits.push(Rate::per_minute(self.chat_max_per_minute));
        }
        Capabilities {
            can_receive: true,
            can_push: true,
            can_send_private: true,
            // Unprompted group sends go through the robot API's text template, which cannot
            // mention: routing writes names as text. (Replies through a session webhook do
            // mention by user id when the reply holds a mention.)
            mention: MentionSupport::None,
            mention_all: false,
            max_message_chars: self.max_message_chars,
            global_limits,
            per_chat_limits,
            max_concurrent_sends: 4,
            // Files would need the media upload and a file template; not done: links instead.
            can_send_files: false,
            max_file_bytes: 0,
            can_send_images: false,
            max_image_bytes: 0,
        }
    }
}

pub struct DingtalkAppChannel {
    settings: DingtalkAppSettings,
    caps: Capabilities,
    http: reqwest::Client,
    token: TokenCache,
    sessions: Sessions,
    health: crate::chat::channel::HealthCell,
    /// Stream mode: the gateway connection's state (`None` until the first attempt).
    pub(super) stream_health: std::sync::Mutex<Option<crate::chat::ChannelHealth>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenReply {
    #[serde(default)]
    access_token: String,
    #[serde(default)]
    expire_in: u64,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct BatchSendReply {
    #[serde(default)]
    invalid_staff_id_list: Vec<String>,
    #[serde(default)]
    flow_controlled_staff_id_list: Vec<String>,
}

/// What one v1.0 API call came to.
enum ApiOutcome {
    Ok(serde_json::Value),
    /// The access token was refused: fetch another and try once more.
    TokenRefused,
}

impl DingtalkAppChannel {
    pub fn new(settings: DingtalkAppSettings) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(Duration::from_millis(settings.timeout_ms.max(1))).build()?;
        let caps = settings.capabilities();
        Ok(DingtalkAppChannel {
            settings,
            caps,
            http,
            token: TokenCache::default(),
            sessions: Sessions::default(),
            health: Default::default(),
            stream_health: Default::default(),
        })
    }

    pub fn settings(&self) -> &DingtalkAppSettings {
        &self.settings
    }

    pub(super) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub(super) fn set_stream_health(&self, h: crate::chat::ChannelHealth) {
        *self.stream_health.lock().unwrap_or_else(|e| e.into_inner()) = Some(h);
    }

    /// What receiving needs, the same for the HTTP callback and Stream mode.
    fn inbound_state(&self, ctx: ChannelContext) -> Arc<CallbackState> {
        Arc::new(CallbackState {
            channel: self.settings.name.clone(),
            app_secret: self.settings.app_secret.clone(),
            robot_code: self.settings.robot_code().to_string(),
            session_prefix: api_url(&self.settings.oapi_base_url, "/robot/sendBySession"),
            sessions: self.sessions.clone(),
            sink: ctx.sink,
            max_clock_skew: Duration::from_secs(self.settings.max_clock_skew_secs),
            ack_timeout: Duration::from_millis(self.settings.ack_timeout_ms.max(1)),
        })
    }

    fn rate_limited_retry(&self) -> Duration {
        Duration::from_secs(self.settings.rate_limited_retry_secs)
    }

    async fn access_token(&self, refresh: bool) -> Result<String, SendError> {
        let r = self.fetch_token(refresh).await;
        match &r {
            Ok(_) => self.health.set(crate::chat::ChannelHealth::up("access token fresh")),
            Err(e) => self.health.set(crate::chat::ChannelHealth::down(format!("accessToken failed: {e}"))),
        }
        r
    }

    async fn fetch_token(&self, refresh: bool) -> Result<String, SendError> {
        self.token.get(refresh, || self.request_token()).await
    }

    /// `oauth2/accessToken`: a new access token and its lifetime in seconds.
    async fn request_token(&self) -> Result<(String, u64), SendError> {
        let url = api_url(&self.settings.api_base_url, "/v1.0/oauth2/accessToken");
        let body = json!({ "appKey": self.settings.app_key.trim(), "appSecret": self.settings.app_secret.expose() });
        let resp = self
            .http
            .post(url)
            .json(&body)
            .send()
            .await
            .map_err(|e| transport_error("钉钉 accessToken 无法连接", e))?;
        let status = resp.status();
        if !status.is_success() {
            let e: ApiError = resp.json().await.unwrap_or_default();
            return Err(status_error("钉钉 accessToken", status, &format!("{} {}", e.code, e.message)));
        }
        let r: TokenReply = resp
            .json()
            .await
            .map_err(|e| SendError::Transient(format!("钉钉 accessToken 回应无法解析: {}", e.without_url())))?;
        if r.access_token.is_empty() {
            return Err(SendError::Transient("钉钉 accessToken 没有返回 accessToken".into()));
        }
        Ok((r.access_token, r.expire_in))
    }

    /// One call to the v1.0 robot API.
    async fn call(&self, path: &str, token: &str, body: &serde_json::Value) -> Result<ApiOutcome, SendError> {
        let what = "钉钉机器人消息接口";
        let resp = self
            .http
            .post(api_url(&self.settings.api_base_url, path))
            .header("x-acs-dingtalk-access-token", token)
            .json(body)
            .send()
            .await
            .map_err(|e| transport_error(what, e))?;
        let status = resp.status();
        if status.is_success() {
            let v = resp.json().await.unwrap_or(serde_json::Value::Null);
            return Ok(ApiOutcome::Ok(v));
        }
        let e: ApiError = resp.json().await.unwrap_or_default();
        let code = e.code.to_ascii_lowercase();
        if status == reqwest::StatusCode::UNAUTHORIZED
            || code.contains("invalidauthentication")
            || code.contains("token")
        {
            return Ok(ApiOutcome::TokenRefused);
        }
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS || code.contains("qpslimit") || code.contains("throttl") {
            return Err(SendError::RateLimited { retry_after: self.rate_limited_retry() });
        }
        Err(status_error(what, status, &format!("{} {}", e.code, e.message)))
    }

    /// A robot API call with the cached token, and once more with a fresh one if it is refused.
    async fn call_with_token(&self, path: &str, body: &serde_json::Value) -> Result<serde_json::Value, SendError> {
        let token = self.access_token(false).await?;
        if let ApiOutcome::Ok(v) = self.call(path, &token, body).await? {
            return Ok(v);
        }
        let token = self.access_token(true).await?;
        match self.call(path, &token, body).await? {
            ApiOutcome::Ok(v) => Ok(v),
            ApiOutcome::TokenRefused => {
                Err(SendError::Permanent("钉钉拒绝了新取得的 access token (检查应用权限)".into()))
            }
        }
    }

    /// Posts into a conversation through its session webhook. `None`: the webhook is no longer
    /// usable (DingTalk refused it), so the robot API should be used instead.
    async fn post_session(&self, url: &str, body: &serde_json::Value) -> Option<Result<SendReceipt, SendError>> {
        let resp = match self.http.post(url).json(body).send().await {
            Ok(r) => r,
            Err(e) => return Some(Err(transport_error("钉钉会话 webhook 无法连接", e))),
        };
        let status = resp.status();
        if status.is_server_error() {
            return Some(Err(status_error("钉钉会话 webhook", status, "")));
        }
        let reply: Option<OapiReply> = if status.is_success() { resp.json().await.ok() } else { None };
        match reply.map(|r| classify(r.errcode, &r.errmsg, self.rate_limited_retry())) {
            Some(Ok(())) => Some(Ok(SendReceipt { platform_msg_id: None })),
            Some(Err(e @ (SendError::RateLimited { .. } | SendError::Transient(_)))) => Some(Err(e)),
            // Expired, or refused for another reason: the robot API can still reach the chat.
            _ => None,
        }
    }

    async fn send_api(&self, msg: &OutboundMessage) -> Result<SendReceipt, SendError> {
        let content = plain_text(&msg.segments);
        let msg_param = json!({ "content": content }).to_string();
        let robot_code = self.settings.robot_code();
        match msg.chat.kind {
            ChatKind::Group => {
                let body = json!({
                    "robotCode": robot_code,
                    "openConversationId": msg.chat.id,
                    "msgKey": "sampleText",
                    "msgParam": msg_param,
                });
                let v = self.call_with_token("/v1.0/robot/groupMessages/send", &body).await?;
                Ok(SendReceipt { platform_msg_id: v["processQueryKey"].as_str().map(str::to_string) })
            }
            ChatKind::Private => {
                let body = json!({
                    "robotCode": robot_code,
                    "userIds": [msg.chat.id],
                    "msgKey": "sampleText",
                    "msgParam": msg_param,
                });
                let v = self.call_with_token("/v1.0/robot/oToMessages/batchSend", &body).await?;
                let r: BatchSendReply = serde_json::from_value(v.clone()).unwrap_or_default();
                if !r.flow_controlled_staff_id_list.is_empty() {
                    return Err(SendError::RateLimited { retry_after: self.rate_limited_retry() });
                }
                if !r.invalid_staff_id_list.is_empty() {
                    return Err(SendError::Permanent(format!(
                        "钉钉接收人无效或不在应用可见范围: {}",
                        r.invalid_staff_id_list.join(",")
                    )));
                }
                Ok(SendReceipt { platform_msg_id: v["processQueryKey"].as_str().map(str::to_string) })
            }
        }
    }
}

#[async_trait]
impl Channel for DingtalkAppChannel {
    fn name(&self) -> &str {
        &self.settings.name
    }

    fn platform(&self) -> &'static str {
        PLATFORM
    }

    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    /// Stream mode: down while the gateway connection is not up (with why), else the last
    /// accessToken call's outcome. Callback mode: the last accessToken call; unknown until one
    /// was made (replies through session webhooks need none).
    fn health(&self) -> crate::chat::ChannelHealth {
        let token = self.health.get(crate::chat::channel::FAILURE_EVIDENCE);
        if self.settings.receive == ReceiveMode::Stream {
            let stream = self.stream_health.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let stream = stream.unwrap_or_else(|| crate::chat::ChannelHealth::unknown("Stream mode connecting"));
            return match token {
                Some(t)
                    if stream.state == crate::chat::HealthState::Up && t.state == crate::chat::HealthState::Down =>
                {
                    t
                }
                _ => stream,
            };
        }
        token.unwrap_or_else(|| crate::chat::ChannelHealth::unknown("no access token fetched yet"))
    }

    /// A picture or file sent to the robot carries a `downloadCode`: the robot API
    /// (`messageFiles/download`, with the app's token) answers a short-lived download address
    /// on DingTalk's storage. That address is not the configured API base, so it is handed to the
    /// evidence fetcher as a link: SSRF guard, size cap and redirects vetted as for any link.
    async fn resolve_media(&self, media: &MediaRef, _max_bytes: u64) -> Result<MediaSource, MediaError> {
        let Some(code) = media.file_id.as_deref().map(str::trim).filter(|c| !c.is_empty()) else {
            return match media.url.as_deref().filter(|u| !u.trim().is_empty()) {
                Some(url) => Ok(MediaSource::Link(url.to_string())),
                None => Err(MediaError::Unsupported),
            };
        };
        let body = json!({ "downloadCode": code, "robotCode": self.settings.robot_code() });
        let answer = self
            .call_with_token("/v1.0/robot/messageFiles/download", &body)
            .await
            .map_err(|e| MediaError::Failed(format!("钉钉 messageFiles/download: {e}")))?;
        match answer.get("downloadUrl").and_then(|u| u.as_str()).filter(|u| !u.trim().is_empty()) {
            Some(url) => Ok(MediaSource::Link(url.to_string())),
            None => Err(MediaError::Failed("钉钉 messageFiles/download 没有返回 downloadUrl".into())),
        }
    }

    async fn send(&self, msg: &OutboundMessage) -> Result<SendReceipt, SendError> {
        if msg.attachment.is_some() {
            return Err(SendError::Permanent("钉钉应用机器人不能发送文件".into()));
        }
        let body = build_body(MessageFormat::Text, &msg.segments);
        if body.to_string().len() > MAX_CONTENT_BYTES {
            return Err(SendError::Permanent(format!("消息超过钉钉 {MAX_CONTENT_BYTES} 字节的长度限制")));
        }
        if let Some(url) = self.sessions.get(&msg.chat.key(), chrono::Utc::now()) {
            match self.post_session(&url, &body).await {
                Some(r) => return r,
                None => self.sessions.forget(&msg.chat.key()),
            }
        }
        self.send_api(msg).await
    }

    async fn run(self: Arc<Self>, ctx: ChannelContext) -> anyhow::Result<()> {
        if self.settings.receive == ReceiveMode::Stream {
            let state = self.inbound_state(ctx.clone());
            super::stream::run(self, state, ctx.shutdown).await;
        }
        Ok(())
    }

    fn routes(self: Arc<Self>, ctx: ChannelContext) -> Option<axum::Router> {
        if self.settings.receive != ReceiveMode::Callback {
            return None;
        }
        let state = self.inbound_state(ctx);
        Some(callback::router(&self.settings.callback_path, state))
    }
}
