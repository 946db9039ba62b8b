//! WeCom self-built app (自建应用): private messages both ways.
//!
//! Sending: `POST {api_base_url}/cgi-bin/message/send?access_token=…` with a text message to one
//! member (`touser`); the access token comes from `cgi-bin/gettoken` (CorpID + the app's Secret),
//! is cached until shortly before it expires, and is fetched again once when WeCom calls it
//! invalid (40014, 42001, 40001). An app cannot post into ordinary group chats (groups are the
//! robots' job), only into group chats it created itself (群聊会话, `appchat`): a group chat of
//! this channel (`[[groups]] channel = "<app name>"`, id = the appchat's `chatid`) is sent to with
//! `POST /cgi-bin/appchat/send` (text, file, image), with the same token and error handling.
//! [`WecomAppChannel::create_appchat`] (`dudao wecom create-appchat`) creates one.
//!
//! Receiving: the encrypted callback (see `callback.rs`) on Dudao's HTTP listener, when `token`
//! and `encoding_aes_key` are set. Members write to the app one to one, so every message is
//! addressed to the bot; its chat is the sender's private chat, keyed by WeCom user id.

use super::callback::{self, CallbackState};
use super::crypto::{decode_aes_key, MsgCrypt};
use super::{
    api_url, classify, status_error, transport_error, upload_media, ApiReply, UploadReply, DEFAULT_API_BASE,
    MAX_FILE_BYTES, MAX_IMAGE_BYTES, PLATFORM,
};
use crate::chat::channel::{
    read_capped, Capabilities, Channel, ChannelContext, MediaError, MediaSource, MentionSupport, Rate, SendError,
    SendReceipt,
};
use crate::chat::model::{plain_text, ChatKind, MediaRef, OutboundMessage};
use crate::chat::registry::{Built, Configured, Factory};
use crate::chat::token::TokenCache;
use crate::config::{parse_section, ConfigError, RawSection, Settings};
use crate::secret::Secret;
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// `[channels.wecom_app]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WecomAppSettings {
    pub enabled: bool,
    /// The channel instance name.
    pub name: String,
    /// 企业ID (CorpID), `ww…`.
    pub corp_id: String,
    /// The app's AgentId.
    pub agent_id: i64,
    /// The app's Secret, for access tokens (sending).
    pub secret: Secret,
    /// Callback Token (接收消息 → Token). With `encoding_aes_key`, enables receiving.
    pub token: Secret,
    /// Callback EncodingAESKey (43 characters).
    pub encoding_aes_key: Secret,
    /// Where the callback is served on the HTTP listener; the URL configured in WeCom is
    /// `https://<public host><callback_path>`.
    pub callback_path: String,
    pub api_base_url: String,
    /// Callbacks whose timestamp is further than this from our clock are refused (replays).
    pub max_clock_skew_secs: u64,
    /// The callback answers after storing the message, or after this long at the latest
    /// (WeCom gives up after 5 s and retries).
    pub ack_timeout_ms: u64,
    /// Sends per minute over the app (0 = no cap).
    pub max_per_minute: u32,
    /// Sends per minute to one member (WeCom drops more than 30 a minute).
    pub chat_max_per_minute: u32,
    pub rate_limited_retry_secs: u64,
    /// Text messages carry at most 2048 bytes.
    pub max_message_chars: usize,
    pub timeout_ms: u64,
}

impl Default for WecomAppSettings {
    fn default() -> Self {
        WecomAppSettings {
            enabled: false,
            name: "wecom".into(),
            corp_id: String::new(),
            agent_id: 0,
            secret: Secret::default(),
            token: Secret::default(),
            encoding_aes_key: Secret::default(),
            callback_path: "/wecom/callback".into(),
            api_base_url: DEFAULT_API_BASE.into(),
            max_clock_skew_secs: 300,
            ack_timeout_ms: 3_000,
            max_per_minute: 600,
            chat_max_per_minute: 20,
            rate_limited_retry_secs: 60,
            max_message_chars: 600,
            timeout_ms: 10_000,
        }
    }
}

impl WecomAppSettings {
    /// `[channels.wecom_app]` from the settings, checked; `None` when absent or disabled.
    pub fn from_settings(settings: &Settings) -> Result<Option<Self>, ConfigError> {
        let Some(raw) = settings.channels.get("wecom_app") else { return Ok(None) };
        let app: WecomAppSettings = parse_section("wecom_app", raw)?;
        app.validate().map_err(|(key, message)| ConfigError::new(format!("channels.wecom_app.{key}"), message))?;
        Ok(app.enabled.then_some(app))
    }

    pub fn receives(&self) -> bool {
        !self.token.is_empty() && !self.encoding_aes_key.is_empty()
    }

    /// Checks what serde cannot. Returns the offending key (relative to `channels.wecom_app`).
    pub fn validate(&self) -> Result<(), (String, String)> {
        let err = |k: &str, m: &str| Err((k.to_string(), m.to_string()));
        if !self.enabled {
            return Ok(());
        }
        if self.name.trim().is_empty() {
            return err("name", "must not be empty");
        }
        if self.corp_id.trim().is_empty() {
            return err("corp_id", "required: 企业ID (我的企业 → 企业信息)");
        }
        if self.agent_id <= 0 {
            return err("agent_id", "required: the app's AgentId (应用管理 → 自建应用)");
        }
        if self.secret.is_empty() {
            return err("secret", "required: the app's Secret (应用管理 → 自建应用 → Secret)");
        }
        match (self.token.is_empty(), self.encoding_aes_key.is_empty()) {
            (true, false) => return err("token", "required with encoding_aes_key (接收消息 → Token)"),
            (false, true) => return err("encoding_aes_key", "required with token (接收消息 → EncodingAESKey)"),
            _ => {}
        }
        if self.receives() && decode_aes_key(self.encoding_aes_key.expose()).is_err() {
            return err("encoding_aes_key", "must be the 43-character EncodingAESKey shown by WeCom");
        }
        super::callback::check_endpoint_settings(&self.callback_path, &self.api_base_url, self.ack_timeout_ms)?;
        if self.max_message_chars < 16 || self.max_message_chars > 2048 / 3 {
            return err("max_message_chars", "must be between 16 and 682 (2048 bytes of Chinese text)");
        }
        Ok(())
    }

    /// The route this channel mounts on the HTTP listener, if any.
    pub fn http_path(&self) -> Option<&str> {
        (self.enabled && self.receives()).then_some(self.callback_path.as_str())
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
            can_receive: self.receives(),
            can_push: true,
            can_send_private: true,
            // Private chats: a mention would address the reader; appchat texts have no mentions.
            mention: MentionSupport::None,
            mention_all: false,
            max_message_chars: self.max_message_chars,
            global_limits,
            per_chat_limits,
            max_concurrent_sends: 4,
            // media/upload, then a `file` message to the member.
            can_send_files: true,
            max_file_bytes: MAX_FILE_BYTES,
            // media/upload?type=image, then an `image` message.
            can_send_images: true,
            max_image_bytes: MAX_IMAGE_BYTES,
        }
    }
}

pub struct WecomAppChannel {
    settings: WecomAppSettings,
    caps: Capabilities,
    http: reqwest::Client,
    token: TokenCache,
    /// The outcome of the last gettoken.
    health: crate::chat::channel::HealthCell,
}

#[derive(Deserialize)]
struct TokenReply {
    #[serde(default)]
    errcode: i64,
    #[serde(default)]
    errmsg: String,
    #[serde(default)]
    access_token: String,
    #[serde(default)]
    expires_in: u64,
}

#[derive(Deserialize)]
struct SendReply {
    #[serde(default)]
    errcode: i64,
    #[serde(default)]
    errmsg: String,
    #[serde(default)]
    invaliduser: String,
    #[serde(default)]
    msgid: String,
}

/// What `media/get` answered: the file, or an error reply.
enum Media {
    File(Vec<u8>),
    Refused(ApiReply),
}

/// A chat id `appchat` takes: 1 to 32 ASCII letters and digits.
pub fn is_appchat_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Codes meaning "the access token is no good": fetch a new one and try once more.
fn token_rejected(errcode: i64) -> bool {
    matches!(errcode, 40014 | 42001 | 40001)
}

impl WecomAppChannel {
    pub fn new(settings: WecomAppSettings) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(Duration::from_millis(settings.timeout_ms.max(1))).build()?;
        let caps = settings.capabilities();
        Ok(WecomAppChannel { settings, caps, http, token: TokenCache::default(), health: Default::default() })
    }

    pub fn settings(&self) -> &WecomAppSettings {
        &self.settings
    }

    fn rate_limited_retry(&self) -> Duration {
        Duration::from_secs(self.settings.rate_limited_retry_secs)
    }

    /// A valid access token, from the cache unless `refresh`; the fetch's outcome is the
    /// channel's health.
    async fn access_token(&self, refresh: bool) -> Result<String, SendError> {
        let r = self.fetch_token(refresh).await;
        match &r {
            Ok(_) => self.health.set(crate::chat::ChannelHealth::up("access token fresh")),
            Err(e) => self.health.set(crate::chat::ChannelHealth::down(format!("gettoken failed: {e}"))),
        }
        r
    }

    async fn fetch_token(&self, refresh: bool) -> Result<String, SendError> {
        self.token.get(refresh, || self.request_token()).await
    }

    /// `gettoken`: a new access token and its lifetime in seconds.
    async fn request_token(&self) -> Result<(String, u64), SendError> {
        let url = api_url(&self.settings.api_base_url, "/cgi-bin/gettoken");
        let resp = self
            .http
            .get(url)
            .query(&[("corpid", self.settings.corp_id.as_str()), ("corpsecret", self.settings.secret.expose())])
            .send()
            .await
            .map_err(|e| transport_error("企业微信 gettoken 无法连接", e))?;
        if !resp.status().is_success() {
            return Err(status_error("企业微信 gettoken", resp.status()));
        }
        let r: TokenReply = resp
            .json()
            .await
            .map_err(|e| SendError::Transient(format!("企业微信 gettoken 回应无法解析: {}", e.without_url())))?;
        classify(r.errcode, &r.errmsg, self.rate_limited_retry())?;
        if r.access_token.is_empty() {
            return Err(SendError::Transient("企业微信 gettoken 没有返回 access_token".into()));
        }
        Ok((r.access_token, r.expires_in))
    }

    /// `media/upload?access_token=…&type=file`; returns the media id. A token WeCom calls
    /// invalid is fetched again once, as for messages.
    async fn upload(&self, file: &crate::chat::Attachment) -> Result<String, SendError> {
        let url = api_url(&self.settings.api_base_url, "/cgi-bin/media/upload");
        let what = "企业微信应用上传文件";
        let token = self.access_token(false).await?;
        let mut reply: UploadReply = upload_media(&self.http, &url, &[("access_token", &token)], file, what).await?;
        if token_rejected(reply.errcode) {
            let token = self.access_token(true).await?;
            reply = upload_media(&self.http, &url, &[("access_token", &token)], file, what).await?;
        }
        classify(reply.errcode, &reply.errmsg, self.rate_limited_retry())?;
        if reply.media_id.is_empty() {
            return Err(SendError::Transient("企业微信应用上传文件没有返回 media_id".into()));
        }
        Ok(reply.media_id)
    }

    /// `media/get?access_token=…&media_id=…`: the file itself, or WeCom's JSON error (HTTP 200
    /// with `errcode`, e.g. 40007 for an unknown or expired media id — temporary media live
    /// three days).
    async fn get_media(&self, token: &str, media_id: &str, max_bytes: u64) -> Result<Media, MediaError> {
        let url = api_url(&self.settings.api_base_url, "/cgi-bin/media/get");
        let what = "WeCom media/get";
        let resp = self
            .http
            .get(url)
            .query(&[("access_token", token), ("media_id", media_id)])
            .send()
            .await
            .map_err(|e| MediaError::Failed(format!("{what}: {}", e.without_url())))?;
        if !resp.status().is_success() {
            return Err(MediaError::Failed(format!("{what} answered HTTP {}", resp.status())));
        }
        let json = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("application/json") || t.starts_with("text/plain"));
        if json {
            // An error is a few dozen bytes; a cap keeps a misbehaving server from filling memory.
            let body = read_capped(resp, 64 * 1024, what).await?;
            let reply: ApiReply = serde_json::from_slice(&body)
                .map_err(|_| MediaError::Failed(format!("{what}: an unreadable JSON answer")))?;
            return Ok(Media::Refused(reply));
        }
        Ok(Media::File(read_capped(resp, max_bytes, what).await?))
    }

    /// Posts a message body to `path` (`message/send`, `appchat/send`).
    async fn post_message(&self, token: &str, path: &str, body: &serde_json::Value) -> Result<SendReply, SendError> {
        let url = api_url(&self.settings.api_base_url, path);
        let resp = self
            .http
            .post(url)
            .query(&[("access_token", token)])
            .json(body)
            .send()
            .await
            .map_err(|e| transport_error("企业微信应用消息无法发送", e))?;
        if !resp.status().is_success() {
            return Err(status_error(&format!("企业微信 {path}"), resp.status()));
        }
        resp.json()
            .await
            .map_err(|e| SendError::Transient(format!("企业微信 {path} 回应无法解析: {}", e.without_url())))
    }

    /// `appchat/create`: a group chat of `users` (2 to 2000 member user ids), owned by `owner`
    /// (else one of them), with `chat_id` if given (at most 32 letters and digits; WeCom makes one
    /// up otherwise). Returns the chat id. WeCom shows the group only once a message is sent to it.
    pub async fn create_appchat(
        &self,
        name: &str,
        owner: Option<&str>,
        users: &[String],
        chat_id: Option<&str>,
    ) -> Result<String, SendError> {
        if users.len() < 2 || users.len() > 2000 {
            return Err(SendError::Permanent("群聊成员须为 2 到 2000 人".into()));
        }
        if let Some(id) = chat_id.filter(|id| !is_appchat_id(id)) {
            return Err(SendError::Permanent(format!("群聊 ID {id} 无效：最多 32 个字母或数字")));
        }
        let mut body = json!({ "name": name, "userlist": users });
        if let Some(o) = owner {
            body["owner"] = json!(o);
        }
        if let Some(id) = chat_id {
            body["chatid"] = json!(id);
        }
        #[derive(Deserialize)]
        struct Created {
            #[serde(default)]
            errcode: i64,
            #[serde(default)]
            errmsg: String,
            #[serde(default)]
            chatid: String,
        }
        let url = api_url(&self.settings.api_base_url, "/cgi-bin/appchat/create");
        let mut refresh = false;
        loop {
            let token = self.access_token(refresh).await?;
            let resp = self
                .http
                .post(&url)
                .query(&[("access_token", &token)])
                .json(&body)
                .send()
                .await
                .map_err(|e| transport_error("企业微信 appchat/create 无法连接", e))?;
            if !resp.status().is_success() {
                return Err(status_error("企业微信 appchat/create", resp.status()));
            }
            let r: Created = resp.json().await.map_err(|e| {
                SendError::Transient(format!("企业微信 appchat/create 回应无法解析: {}", e.without_url()))
            })?;
            if token_rejected(r.errcode) && !refresh {
                refresh = true;
                continue;
            }
            classify(r.errcode, &r.errmsg, self.rate_limited_retry())?;
            return match chat_id {
                Some(id) if r.chatid.is_empty() => Ok(id.to_string()),
                _ if r.chatid.is_empty() => Err(SendError::Transient("企业微信 appchat/create 没有返回 chatid".into())),
                _ => Ok(r.chatid),
            };
        }
    }
}

#[async_trait]
impl Channel for WecomAppChannel {
    fn name(&self) -> &str {
        &self.settings.name
    }

    /// From the last gettoken; a cached token past its life is fetched again at the next send,
    /// so until then the state is unknown rather than up.
    fn health(&self) -> crate::chat::ChannelHealth {
        let expired = self.token.expired();
        match self.health.get(crate::chat::channel::FAILURE_EVIDENCE) {
            None => crate::chat::ChannelHealth::unknown("no access token fetched yet"),
            Some(h) if h.state == crate::chat::HealthState::Up && expired == Some(true) => {
                crate::chat::ChannelHealth::unknown("access token expired; fetched again at the next send")
            }
            Some(h) => h,
        }
    }

    fn platform(&self) -> &'static str {
        PLATFORM
    }

    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    async fn send(&self, msg: &OutboundMessage) -> Result<SendReceipt, SendError> {
        let group = msg.chat.kind == ChatKind::Group;
        if group && !is_appchat_id(&msg.chat.id) {
            return Err(SendError::Permanent(format!(
                "企业微信自建应用只能发到它创建的群聊 (appchat)，{} 不是群聊 ID；普通群请配置群机器人 (channels.wecom_robot)",
                msg.chat.id
            )));
        }
        // Private: `message/send` to the member; group: `appchat/send` to the app's group chat.
        let (path, mut body) = if group {
            ("/cgi-bin/appchat/send", json!({ "chatid": msg.chat.id, "safe": 0 }))
        } else {
            ("/cgi-bin/message/send", json!({ "touser": msg.chat.id, "agentid": self.settings.agent_id }))
        };
        match &msg.attachment {
            Some(file) => {
                let media_id = self.upload(file).await?;
                let kind = if file.inline { "image" } else { "file" };
                body["msgtype"] = json!(kind);
                body[kind] = json!({ "media_id": media_id });
            }
            None => {
                let content = plain_text(&msg.segments);
                if content.len() > 2048 {
                    return Err(SendError::Permanent("消息超过企业微信 2048 字节的长度限制".into()));
                }
                body["msgtype"] = json!("text");
                body["text"] = json!({ "content": content });
            }
        }
        let mut token = self.access_token(false).await?;
        let mut reply = self.post_message(&token, path, &body).await?;
        if token_rejected(reply.errcode) {
            token = self.access_token(true).await?;
            reply = self.post_message(&token, path, &body).await?;
        }
        classify(reply.errcode, &reply.errmsg, self.rate_limited_retry())?;
        if !reply.invaliduser.trim().is_empty() {
            return Err(SendError::Permanent(format!(
                "企业微信接收人无效或不在应用可见范围: {}",
                reply.invaliduser.trim()
            )));
        }
        Ok(SendReceipt { platform_msg_id: Some(reply.msgid).filter(|m| !m.is_empty()) })
    }

    async fn run(self: Arc<Self>, _ctx: ChannelContext) -> anyhow::Result<()> {
        Ok(())
    }

    /// A photo by its MediaId through `media/get` with the app's access token (fetched again
    /// once when WeCom calls it invalid). Without a MediaId, the message's PicUrl (a link, so
    /// fetched through the SSRF guard).
    async fn resolve_media(&self, media: &MediaRef, max_bytes: u64) -> Result<MediaSource, MediaError> {
        let Some(id) = media.file_id.as_deref().map(str::trim).filter(|i| !i.is_empty()) else {
            return match media.url.as_deref().filter(|u| !u.trim().is_empty()) {
                Some(url) => Ok(MediaSource::Link(url.to_string())),
                None => Err(MediaError::Unsupported),
            };
        };
        let token_failed = |e: SendError| MediaError::Failed(format!("WeCom gettoken: {e}"));
        let token = self.access_token(false).await.map_err(token_failed)?;
        let mut got = self.get_media(&token, id, max_bytes).await?;
        if matches!(&got, Media::Refused(r) if token_rejected(r.errcode)) {
            let token = self.access_token(true).await.map_err(token_failed)?;
            got = self.get_media(&token, id, max_bytes).await?;
        }
        match got {
            Media::File(bytes) => Ok(MediaSource::Bytes(bytes)),
            Media::Refused(r) => {
                let msg: String = r.errmsg.chars().take(200).collect();
                Err(MediaError::Failed(format!("WeCom media/get refused (errcode {}: {msg})", r.errcode)))
            }
        }
    }

    fn routes(self: Arc<Self>, ctx: ChannelContext) -> Option<axum::Router> {
        if !self.settings.receives() {
            return None;
        }
        let crypt = match MsgCrypt::new(
            self.settings.token.expose(),
            self.settings.encoding_aes_key.expose(),
            self.settings.corp_id.trim(),
        ) {
            Ok(c) => c,
            Err(e) => {
                // validate() rejects a bad key before we get here.
                tracing::error!(channel = %self.settings.name, error = %e, "WeCom callback disabled");
                return None;
            }
        };
        let state = Arc::new(CallbackState {
            channel: self.settings.name.clone(),
            crypt,
            agent_id: self.settings.agent_id,
            sink: ctx.sink,
            max_clock_skew: Duration::from_secs(self.settings.max_clock_skew_secs),
            ack_timeout: Duration::from_millis(self.settings.ack_timeout_ms.max(1)),
        });
        Some(callback::router(&self.settings.callback_path, state))
    }
}

/// `[channels.wecom_app]` in the registry.
pub const FACTORY: Factory = Factory { section: "wecom_app", configure };

fn configure(raw: Option<&RawSection>, settings: &Settings) -> Result<Vec<Configured>, ConfigError> {
    let Some(raw) = raw else { return Ok(Vec::new()) };
    let app: WecomAppSettings = parse_section("wecom_app", raw)?;
    app.validate().map_err(|(key, message)| ConfigError::new(format!("channels.wecom_app.{key}"), message))?;
    if !app.enabled {
        return Ok(Vec::new());
    }
    // The app's groups are the group chats it created (appchat), named by their chatid.
    for (i, g) in settings.groups.iter().enumerate() {
        if g.channel == app.name && !is_appchat_id(&g.id) {
            return Err(ConfigError::new(
                format!("groups[{i}].id"),
                format!(
                    "channel \"{}\" is the WeCom app: its groups are app group chats (appchat), whose chatid is 1 to 32 letters and digits",
                    app.name
                ),
            ));
        }
    }
    let http_paths =
        app.http_path().map(|p| ("channels.wecom_app.callback_path".to_string(), p.to_string())).into_iter().collect();
    Ok(vec![Configured {
        name: app.name.clone(),
        name_key: "channels.wecom_app.name".into(),
        http_paths,
        build: Box::new(move || Built::channel(WecomAppChannel::new(app.clone())?)),
    }])
}
