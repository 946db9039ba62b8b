//! The app robot's HTTP callback (消息接收模式: HTTP): DingTalk POSTs each message a member sends
//! to the robot (privately, or @-mentioning it in a group) as JSON, with headers `timestamp`
//! (milliseconds) and `sign` = `base64(HMAC-SHA256(AppSecret, "<timestamp>\n<AppSecret>"))`.
//!
//! Refused with 403: a missing or wrong signature, a timestamp further than
//! `max_clock_skew_secs` from our clock (DingTalk's window is one hour). Malformed bodies get 400. The signature covers only the timestamp, so within that
//! window a captured request could be replayed: a repeated `msgId` is recognised by the inbound
//! store's deduplication (channel, msgId) and acted on once.
//!
//! The message is stored (in a task of its own, so a dropped connection cannot cancel it
//! halfway) and only then answered with 200; acting on it runs afterwards. If storing fails or
//! takes longer than `ack_timeout_ms` the answer is 500. The session webhook of a verified
//! message is remembered for replies into its conversation. Everything after the signature
//! check is `CallbackState::accept`, which Stream mode (`stream.rs`) uses for its frames too.

use crate::chat::channel::InboundSink;
use crate::chat::model::{ChatRef, InboundMessage, MediaRef, Segment, UserRef};
use crate::secret::Secret;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Callback bodies are a few kilobytes; anything much larger is not DingTalk.
const BODY_LIMIT: usize = 64 * 1024;

/// A session webhook is not used in its last minute (a send may take that long to arrive).
const SESSION_MARGIN_MS: i64 = 60_000;

/// A session webhook URL and the moment it expires.
type Session = (String, DateTime<Utc>);

/// Session webhooks per chat key (`ChatRef::key`).
#[derive(Clone, Default)]
pub struct Sessions(Arc<Mutex<HashMap<String, Session>>>);

impl Sessions {
    pub fn remember(&self, chat_key: String, url: String, expires: DateTime<Utc>, now: DateTime<Utc>) {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        // Drop expired entries so the map stays the size of the live conversations.
        m.retain(|_, (_, exp)| *exp > now);
        m.insert(chat_key, (url, expires));
    }

    /// The chat's session webhook if it is still valid a minute from `now`.
    pub fn get(&self, chat_key: &str, now: DateTime<Utc>) -> Option<String> {
        let m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let (url, exp) = m.get(chat_key)?;
        (*exp > now + chrono::Duration::milliseconds(SESSION_MARGIN_MS)).then(|| url.clone())
    }

    pub fn forget(&self, chat_key: &str) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(chat_key);
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    #[serde(default)]
    pub msg_id: String,
    #[serde(default)]
    pub msgtype: String,
    /// "1" private, "2" group.
    #[serde(default)]
    pub conversation_type: String,
    #[serde(default)]
    pub conversation_id: String,
    #[serde(default)]
    pub sender_staff_id: String,
    #[serde(default)]
    pub sender_id: String,
    #[serde(default)]
    pub sender_nick: String,
    #[serde(default)]
    pub robot_code: String,
    #[serde(default)]
    pub create_at: i64,
    #[serde(default)]
    pub session_webhook: String,
    #[serde(default)]
    pub session_webhook_expired_time: i64,
    #[serde(default)]
    pub text: Option<TextContent>,
    #[serde(default)]
    pub content: Option<serde_json::Value>,
}

#[derive(Debug, Default, Deserialize)]
pub struct TextContent {
    #[serde(default)]
    pub content: String,
}

/// What a callback means for Dudao.
#[derive(Debug, PartialEq)]
pub enum Decoded {
    Message(Box<InboundMessage>),
    Ignored(String),
}

/// Maps a callback event to the chat model. A private chat is keyed by the sender's user id
/// (staffId, what `绑定` binds and `oToMessages/batchSend` takes); a group by its
/// `conversationId` (the `openConversationId` of `groupMessages/send`). The robot receives only
/// messages addressed to it, so every one is `to_me`.
pub fn decode(channel: &str, ev: &Event) -> Result<Decoded, &'static str> {
    if ev.msg_id.trim().is_empty() {
        return Err("msgId missing");
    }
    // Members of other organisations have no staffId; their DingTalk id stands in.
    let sender = [ev.sender_staff_id.trim(), ev.sender_id.trim()].into_iter().find(|s| !s.is_empty());
    let sender = sender.ok_or("neither senderStaffId nor senderId")?;
    let chat = match ev.conversation_type.trim() {
        "1" => ChatRef::private(channel, sender),
        "2" if !ev.conversation_id.trim().is_empty() => ChatRef::group(channel, ev.conversation_id.trim()),
        "2" => return Err("conversationId missing"),
        _ => return Err("unknown conversationType"),
    };
    let content_str = |k: &str| ev.content.as_ref().and_then(|c| c.get(k)).and_then(|v| v.as_str()).map(str::to_string);
    let segments = match ev.msgtype.as_str() {
        // In a group the robot's own @name is not in the text; the leading space it leaves is.
        "text" => vec![Segment::text(ev.text.as_ref().map(|t| t.content.trim()).unwrap_or_default())],
        "picture" => {
            vec![Segment::Image { media: MediaRef { name: None, url: None, file_id: content_str("downloadCode") } }]
        }
        "file" => vec![Segment::File {
            media: MediaRef { name: content_str("fileName"), url: None, file_id: content_str("downloadCode") },
        }],
        "richText" => vec![Segment::text("[富文本]")],
        "audio" => vec![Segment::text(content_str("recognition").unwrap_or_else(|| "[语音]".into()))],
        "video" => vec![Segment::text("[视频]")],
        other => return Ok(Decoded::Ignored(format!("message type {other}"))),
    };
    let sent_at =
        DateTime::<Utc>::from_timestamp_millis(ev.create_at).filter(|_| ev.create_at > 0).unwrap_or_else(Utc::now);
    let display = Some(ev.sender_nick.trim().to_string()).filter(|s| !s.is_empty());
    Ok(Decoded::Message(Box::new(InboundMessage {
        chat,
        sender: UserRef { id: sender.to_string(), display },
        platform_msg_id: ev.msg_id.trim().to_string(),
        segments,
        to_me: true,
        sent_at,
    })))
}

/// Everything the callback handler needs.
pub struct CallbackState {
    pub channel: String,
    pub app_secret: Secret,
    pub robot_code: String,
    /// Session webhooks must start with this (`<oapi_base_url>/robot/sendBySession`).
    pub session_prefix: String,
    pub sessions: Sessions,
    pub sink: Arc<dyn InboundSink>,
    pub max_clock_skew: Duration,
    pub ack_timeout: Duration,
}

fn plain(status: StatusCode, body: impl Into<String>) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body.into()).into_response()
}

impl CallbackState {
    /// Signature and freshness. `Err` is the status and text to answer with.
    fn check(&self, headers: &HeaderMap, now: DateTime<Utc>) -> Result<(), (StatusCode, &'static str)> {
        let get = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).map(str::trim);
        let (Some(ts), Some(sig)) = (get("timestamp"), get("sign")) else {
            tracing::warn!(channel = %self.channel, "DingTalk callback without timestamp or sign refused");
            return Err((StatusCode::FORBIDDEN, "missing timestamp or sign"));
        };
        if !super::verify_sign(self.app_secret.expose(), ts, sig) {
            tracing::warn!(channel = %self.channel, "DingTalk callback with a wrong signature refused");
            return Err((StatusCode::FORBIDDEN, "bad signature"));
        }
        let Ok(t) = ts.parse::<i64>() else {
            return Err((StatusCode::FORBIDDEN, "bad timestamp"));
        };
        let skew_ms = (now.timestamp_millis() - t).unsigned_abs();
        if skew_ms > self.max_clock_skew.as_millis() as u64 {
            tracing::warn!(channel = %self.channel, skew_secs = skew_ms / 1000, "DingTalk callback with a stale timestamp refused");
            return Err((StatusCode::FORBIDDEN, "stale timestamp"));
        }
        Ok(())
    }
}

/// What became of one robot message, whichever way it arrived (HTTP callback or Stream mode).
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Durably stored (or already stored before: a redelivery); acting on it runs afterwards.
    Stored,
    /// A message type Dudao does not act on; nothing to store.
    Ignored,
    /// Not a robot message Dudao understands (the reason, for logs).
    Malformed(&'static str),
    /// Storing failed or was too slow: the platform should deliver it again.
    NotStored,
}

impl CallbackState {
    /// Decodes a robot message's JSON, remembers its session webhook, stores it and only then
    /// returns; acting on it is spawned after the store. Shared by the HTTP callback and Stream
    /// mode, so both decode, deduplicate (by `msgId`, in the inbound store) and store alike.
    pub async fn accept(&self, body: &str, now: DateTime<Utc>) -> Outcome {
        let ev: Event = match serde_json::from_str(body) {
            Ok(ev) => ev,
            Err(_) => return Outcome::Malformed("malformed JSON"),
        };
        // The signature (or the Stream connection) proves the message is DingTalk's for this app;
        // a different robotCode means `robot_code` is misconfigured, which only the robot API
        // sends suffer from.
        if !ev.robot_code.trim().is_empty() && ev.robot_code.trim() != self.robot_code {
            tracing::warn!(channel = %self.channel, "DingTalk message names another robotCode than channels.dingtalk.app.robot_code");
        }
        let msg = match decode(&self.channel, &ev) {
            Ok(Decoded::Message(m)) => *m,
            Ok(Decoded::Ignored(what)) => {
                tracing::debug!(channel = %self.channel, %what, "DingTalk message ignored");
                return Outcome::Ignored;
            }
            Err(why) => {
                tracing::warn!(channel = %self.channel, why, "DingTalk message not understood");
                return Outcome::Malformed(why);
            }
        };
        let webhook = ev.session_webhook.trim();
        if webhook.starts_with(&format!("{}?", self.session_prefix)) {
            if let Some(exp) = DateTime::<Utc>::from_timestamp_millis(ev.session_webhook_expired_time) {
                self.sessions.remember(msg.chat.key(), webhook.to_string(), exp, now);
            }
        } else if !webhook.is_empty() {
            tracing::warn!(channel = %self.channel, "DingTalk session webhook on an unexpected host not used");
        }
        // Stored in a task of its own, so a dropped connection cannot cancel it halfway.
        let sink = self.sink.clone();
        let to_store = msg.clone();
        let store = tokio::spawn(async move { sink.store(std::slice::from_ref(&to_store)).await });
        match tokio::time::timeout(self.ack_timeout, store).await {
            Ok(Ok(Ok(ids))) => {
                if let Some(Some(id)) = ids.into_iter().next() {
                    let (sink, channel) = (self.sink.clone(), self.channel.clone());
                    tokio::spawn(async move {
                        if let Err(e) = sink.process_stored(id, msg).await {
                            tracing::error!(%channel, id, error = %e, "processing a stored DingTalk message failed");
                        }
                    });
                }
                Outcome::Stored
            }
            Ok(Ok(Err(e))) => {
                tracing::error!(channel = %self.channel, error = %e, "cannot store a DingTalk message");
                Outcome::NotStored
            }
            Ok(Err(e)) => {
                tracing::error!(channel = %self.channel, error = %e, "DingTalk message task failed");
                Outcome::NotStored
            }
            Err(_) => {
                tracing::warn!(channel = %self.channel, "storing a DingTalk message is slow; not acknowledged");
                Outcome::NotStored
            }
        }
    }
}

async fn receive(State(st): State<Arc<CallbackState>>, headers: HeaderMap, body: String) -> Response {
    let now = Utc::now();
    if let Err((status, why)) = st.check(&headers, now) {
        return plain(status, why);
    }
    match st.accept(&body, now).await {
        Outcome::Stored | Outcome::Ignored => plain(StatusCode::OK, ""),
        Outcome::Malformed(why) => plain(StatusCode::BAD_REQUEST, why),
        Outcome::NotStored => plain(StatusCode::INTERNAL_SERVER_ERROR, ""),
    }
}

/// The callback route at `path` (POST messages).
pub fn router(path: &str, state: Arc<CallbackState>) -> Router {
    Router::new().route(path, post(receive)).layer(DefaultBodyLimit::max(BODY_LIMIT)).with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(json: &str) -> Event {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn private_and_group_messages_map_to_chats() {
        let ev = event(
            r#"{"msgId":"msgA1","msgtype":"text","conversationType":"1","conversationId":"cidP",
                "senderStaffId":"0326150155","senderId":"$:LWCP_v1:$x","senderNick":"赵老师",
                "createAt":1774080994334,"text":{"content":" 帮助 "}}"#,
        );
        let Decoded::Message(m) = decode("dingtalk", &ev).unwrap() else { panic!() };
        assert_eq!(m.chat, ChatRef::private("dingtalk", "0326150155"));
        assert_eq!(m.command_text(), "帮助");
        assert_eq!(m.sender.display.as_deref(), Some("赵老师"));
        assert_eq!(m.sent_at.timestamp_millis(), 1774080994334);
        let ev = event(
            r#"{"msgId":"msgA2","msgtype":"picture","conversationType":"2","conversationId":"cidG==",
                "senderId":"$:LWCP_v1:$y","content":{"downloadCode":"dc-1"}}"#,
        );
        let Decoded::Message(m) = decode("dingtalk", &ev).unwrap() else { panic!() };
        assert_eq!(m.chat, ChatRef::group("dingtalk", "cidG=="));
        assert_eq!(m.sender.id, "$:LWCP_v1:$y");
        assert_eq!(m.images().next().and_then(|i| i.file_id.as_deref()), Some("dc-1"));
        assert!(decode("dingtalk", &event(r#"{"msgtype":"text","conversationType":"1","senderId":"u"}"#)).is_err());
        assert!(decode("dingtalk", &event(r#"{"msgId":"m","conversationType":"3","senderId":"u"}"#)).is_err());
        let other = event(r#"{"msgId":"m","msgtype":"interactiveCard","conversationType":"1","senderId":"u"}"#);
        assert!(matches!(decode("dingtalk", &other), Ok(Decoded::Ignored(_))));
    }

    #[test]
    fn session_webhooks_are_not_used_in_their_last_minute() {
        let s = Sessions::default();
        let now = Utc::now();
        s.remember(
            "group:c".into(),
            "https://x/robot/sendBySession?session=1".into(),
            now + chrono::Duration::minutes(5),
            now,
        );
        assert!(s.get("group:c", now).is_some());
        assert!(s.get("group:c", now + chrono::Duration::seconds(250)).is_none());
        assert!(s.get("group:d", now).is_none());
        s.forget("group:c");
        assert!(s.get("group:c", now).is_none());
    }
}
