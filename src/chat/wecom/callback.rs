//! The self-built app's callback (接收消息服务器): URL verification and encrypted message push.
//!
//! * `GET ?msg_signature&timestamp&nonce&echostr`: verify, decrypt `echostr`, answer the plaintext
//!   exactly (WeCom checks it byte for byte).
//! * `POST ?msg_signature&timestamp&nonce` with `<xml><ToUserName/><AgentID/><Encrypt/></xml>`:
//!   verify, decrypt, check the CorpID, parse the inner XML, hand the message to the pipeline.
//!
//! Refused with 403: a wrong signature, a CorpID that is not ours, a timestamp further than
//! `max_clock_skew_secs` from our clock (a replayed request). Malformed requests get 400.
//!
//! Answering: WeCom waits 5 seconds and then retries (three tries in all). The message is
//! stored (one short SQLite transaction, in a task of its own so a dropped connection cannot
//! cancel it halfway) and only then answered with 200; acting on it runs afterwards in another
//! task. If storing fails, or has not finished within `ack_timeout_ms`, the answer is 500 so
//! WeCom tries again: a 200 always means the message is durable. A retry of a message already
//! stored is recognised by (channel, MsgId): it is acted on if it still waits, never twice.

use super::crypto::MsgCrypt;
use crate::chat::channel::InboundSink;
use crate::chat::model::{ChatRef, InboundMessage, MediaRef, Segment, UserRef};
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use quick_xml::events::Event;
use quick_xml::Reader;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Callback bodies are a few kilobytes; anything much larger is not WeCom.
const BODY_LIMIT: usize = 64 * 1024;

/// Reads the flat documents WeCom sends, `<xml><Tag>value</Tag>…</xml>`, into the root's
/// children. Values may be CDATA or escaped text; nested elements are skipped. Documents with a
/// DOCTYPE are refused (no entity tricks). `None` when the XML is malformed.
pub fn parse_flat_xml(s: &str) -> Option<HashMap<String, String>> {
    let mut reader = Reader::from_str(s);
    let mut out = HashMap::new();
    let mut depth = 0usize;
    let mut current: Option<(String, String)> = None;
    let mut saw_root = false;
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) => {
                depth += 1;
                saw_root = true;
                if depth == 2 {
                    let name = e.name().as_ref().to_string();
                    current = Some((name, String::new()));
                }
            }
            Event::Empty(e) if depth == 1 => {
                out.insert(e.name().as_ref().to_string(), String::new());
            }
            Event::End(_) => {
                if depth == 2 {
                    if let Some((k, v)) = current.take() {
                        out.insert(k, v);
                    }
                }
                depth = depth.checked_sub(1)?;
            }
            Event::Text(t) if depth == 2 => {
                if let Some((_, v)) = current.as_mut() {
                    v.push_str(&t.xml10_content());
                }
            }
            Event::CData(t) if depth == 2 => {
                if let Some((_, v)) = current.as_mut() {
                    v.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) if depth == 2 => {
                let ch = match r.resolve_char_ref().ok()? {
                    Some(c) => c,
                    None => match r.xml10_content().as_ref() {
                        "lt" => '<',
                        "gt" => '>',
                        "amp" => '&',
                        "quot" => '"',
                        "apos" => '\'',
                        _ => return None,
                    },
                };
                if let Some((_, v)) = current.as_mut() {
                    v.push(ch);
                }
            }
            Event::DocType(_) => return None,
            Event::Eof => break,
            _ => {}
        }
    }
    (depth == 0 && saw_root).then_some(out)
}

/// What the inner (decrypted) message means for Dudao.
#[derive(Debug, PartialEq)]
pub enum Decoded {
    Message(Box<InboundMessage>),
    /// Events (entering the app, menu clicks…) and message kinds Dudao does not use.
    Ignored(String),
}

/// Maps a decrypted app message to the chat model. App messages are always one-to-one, so the
/// chat is the sender's private chat and the message is addressed to the bot.
pub fn decode_app_message(channel: &str, fields: &HashMap<String, String>) -> Result<Decoded, &'static str> {
    let get = |k: &str| fields.get(k).map(|s| s.trim()).filter(|s| !s.is_empty());
    let msg_type = get("MsgType").ok_or("MsgType missing")?;
    if msg_type == "event" {
        return Ok(Decoded::Ignored(format!("event {}", get("Event").unwrap_or("?"))));
    }
    let from = get("FromUserName").ok_or("FromUserName missing")?;
    let created = get("CreateTime").and_then(|t| t.parse::<i64>().ok());
    let sent_at = created.and_then(|t| DateTime::<Utc>::from_timestamp(t, 0)).unwrap_or_else(Utc::now);
    // Retries carry the same MsgId; without one, sender + time identify the message (the rule
    // WeCom gives for events).
    let id = match get("MsgId") {
        Some(id) => id.to_string(),
        None => format!("{from}:{}", created.ok_or("neither MsgId nor CreateTime")?),
    };
    let segments = match msg_type {
        "text" => vec![Segment::text(fields.get("Content").map(String::as_str).unwrap_or_default())],
        "image" => vec![Segment::Image {
            media: MediaRef {
                name: None,
                url: get("PicUrl").map(str::to_string),
                file_id: get("MediaId").map(str::to_string),
            },
        }],
        "voice" => vec![Segment::text("[语音]")],
        "video" => vec![Segment::text("[视频]")],
        "location" => vec![Segment::text(format!("[位置] {}", get("Label").unwrap_or_default()))],
        "link" => vec![Segment::text(format!(
            "[链接] {} {}",
            get("Title").unwrap_or_default(),
            get("Url").unwrap_or_default()
        ))],
        other => return Ok(Decoded::Ignored(format!("message type {other}"))),
    };
    Ok(Decoded::Message(Box::new(InboundMessage {
        chat: ChatRef::private(channel, from),
        sender: UserRef { id: from.to_string(), display: None },
        platform_msg_id: id,
        segments,
        to_me: true,
        sent_at,
    })))
}

/// Everything the callback handlers need.
pub struct CallbackState {
    pub channel: String,
    pub crypt: MsgCrypt,
    pub agent_id: i64,
    pub sink: Arc<dyn InboundSink>,
    pub max_clock_skew: Duration,
    pub ack_timeout: Duration,
}

#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    msg_signature: Option<String>,
    timestamp: Option<String>,
    nonce: Option<String>,
    pub(crate) echostr: Option<String>,
}

/// The settings every WeCom callback has: its path on the listener, the API base URL and how long
/// WeCom's request may wait for the message to be stored. `Err` names the key (relative to the
/// channel's section) and what is wrong.
pub(crate) fn check_endpoint_settings(
    callback_path: &str,
    api_base_url: &str,
    ack_timeout_ms: u64,
) -> Result<(), (String, String)> {
    let err = |k: &str, m: &str| Err((k.to_string(), m.to_string()));
    if !crate::http::is_plain_path(callback_path) {
        return err("callback_path", "must start with '/' and use only letters, digits, '/', '-', '_' and '.'");
    }
    if reqwest::Url::parse(api_base_url).is_err() {
        return err("api_base_url", "not a URL");
    }
    if ack_timeout_ms == 0 || ack_timeout_ms > 4_500 {
        return err("ack_timeout_ms", "must be between 1 and 4500 (WeCom waits 5 seconds)");
    }
    Ok(())
}

pub(crate) fn plain(status: StatusCode, body: impl Into<String>) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body.into()).into_response()
}

/// Base64 in a query string: a '+' sent unencoded arrives as a space after form decoding.
pub(crate) fn restore_plus(s: &str) -> String {
    s.replace(' ', "+")
}

impl CallbackState {
    /// Signature and freshness. `Err` is the status and text to answer with.
    fn check(&self, q: &CallbackQuery, encrypt: &str) -> Result<(), (StatusCode, &'static str)> {
        check_signed(&self.channel, &self.crypt, self.max_clock_skew, q, encrypt).map(|_| ())
    }
}

/// A callback's signature over `encrypt` and the freshness of its timestamp (within `max_skew`
/// of now). `Ok` carries the nonce and signature, for callbacks that also refuse reused nonces;
/// `Err` is the status and text to answer with.
pub(crate) fn check_signed<'q>(
    channel: &str,
    crypt: &MsgCrypt,
    max_skew: Duration,
    q: &'q CallbackQuery,
    encrypt: &str,
) -> Result<(&'q str, &'q str), (StatusCode, &'static str)> {
    let (Some(sig), Some(ts), Some(nonce)) = (&q.msg_signature, &q.timestamp, &q.nonce) else {
        return Err((StatusCode::BAD_REQUEST, "missing msg_signature, timestamp or nonce"));
    };
    if !crypt.verify(sig, ts, nonce, encrypt) {
        tracing::warn!(channel = %channel, "WeCom callback with a wrong signature refused");
        return Err((StatusCode::FORBIDDEN, "bad signature"));
    }
    let Ok(t) = ts.trim().parse::<i64>() else {
        return Err((StatusCode::BAD_REQUEST, "bad timestamp"));
    };
    let skew = (Utc::now().timestamp() - t).unsigned_abs();
    if skew > max_skew.as_secs() {
        tracing::warn!(channel = %channel, skew_secs = skew, "WeCom callback with a stale timestamp refused");
        return Err((StatusCode::FORBIDDEN, "stale timestamp"));
    }
    Ok((nonce, sig))
}

async fn verify_url(State(st): State<Arc<CallbackState>>, Query(q): Query<CallbackQuery>) -> Response {
    let Some(echo) = q.echostr.as_deref().map(restore_plus) else {
        return plain(StatusCode::BAD_REQUEST, "missing echostr");
    };
    if let Err((status, why)) = st.check(&q, &echo) {
        return plain(status, why);
    }
    echo_reply(&st.channel, &st.crypt, &echo)
}

/// The answer to a verified URL check: the decrypted `echostr`, as WeCom expects.
pub(crate) fn echo_reply(channel: &str, crypt: &MsgCrypt, echo: &str) -> Response {
    match crypt.decrypt(echo) {
        Ok(plaintext) => {
            tracing::info!(channel = %channel, "WeCom callback URL verified");
            plain(StatusCode::OK, plaintext)
        }
        Err(e) => {
            tracing::warn!(channel = %channel, error = %e, "WeCom URL verification failed");
            plain(StatusCode::FORBIDDEN, "cannot decrypt echostr")
        }
    }
}

async fn receive(State(st): State<Arc<CallbackState>>, Query(q): Query<CallbackQuery>, body: String) -> Response {
    let Some(outer) = parse_flat_xml(&body) else {
        return plain(StatusCode::BAD_REQUEST, "malformed XML");
    };
    let Some(encrypt) = outer.get("Encrypt").map(|s| s.trim().to_string()).filter(|s| !s.is_empty()) else {
        return plain(StatusCode::BAD_REQUEST, "no Encrypt element");
    };
    if let Err((status, why)) = st.check(&q, &encrypt) {
        return plain(status, why);
    }
    let inner = match st.crypt.decrypt(&encrypt) {
        Ok(x) => x,
        Err(e) => {
            tracing::warn!(channel = %st.channel, error = %e, "WeCom callback cannot be decrypted; refused");
            return plain(StatusCode::FORBIDDEN, "cannot decrypt");
        }
    };
    let Some(fields) = parse_flat_xml(&inner) else {
        return plain(StatusCode::BAD_REQUEST, "malformed inner XML");
    };
    if let Some(agent) = fields.get("AgentID").and_then(|a| a.trim().parse::<i64>().ok()) {
        if st.agent_id != 0 && agent != st.agent_id {
            tracing::warn!(channel = %st.channel, agent, "WeCom callback for another app ignored");
            return plain(StatusCode::OK, "");
        }
    }
    let msg = match decode_app_message(&st.channel, &fields) {
        Ok(Decoded::Message(m)) => *m,
        Ok(Decoded::Ignored(what)) => {
            tracing::debug!(channel = %st.channel, %what, "WeCom callback ignored");
            return plain(StatusCode::OK, "");
        }
        Err(why) => {
            tracing::warn!(channel = %st.channel, why, "WeCom callback message not understood");
            return plain(StatusCode::OK, "");
        }
    };
    store_then_ack(&st.sink, &st.channel, st.ack_timeout, msg).await
}

/// Stores a verified message (in a task of its own, so a dropped connection cannot cancel it
/// halfway), answers 200 once it is durable and then acts on it in another task; 500 when
/// storing fails or takes longer than `ack_timeout`, so WeCom tries again. Shared by the app
/// callback and the 智能机器人 callback.
pub(crate) async fn store_then_ack(
    sink: &Arc<dyn InboundSink>,
    channel: &str,
    ack_timeout: Duration,
    msg: InboundMessage,
) -> Response {
    let store_sink = sink.clone();
    let to_store = msg.clone();
    let store = tokio::spawn(async move { store_sink.store(std::slice::from_ref(&to_store)).await });
    match tokio::time::timeout(ack_timeout, store).await {
        Ok(Ok(Ok(ids))) => {
            if let Some(Some(id)) = ids.into_iter().next() {
                let (sink, channel) = (sink.clone(), channel.to_string());
                tokio::spawn(async move {
                    if let Err(e) = sink.process_stored(id, msg).await {
                        tracing::error!(%channel, id, error = %e, "processing a stored WeCom message failed");
                    }
                });
            }
            plain(StatusCode::OK, "")
        }
        Ok(Ok(Err(e))) => {
            tracing::error!(channel = %channel, error = %e, "cannot store a WeCom message; WeCom will retry");
            plain(StatusCode::INTERNAL_SERVER_ERROR, "")
        }
        Ok(Err(e)) => {
            tracing::error!(channel = %channel, error = %e, "WeCom message task failed; WeCom will retry");
            plain(StatusCode::INTERNAL_SERVER_ERROR, "")
        }
        // Not yet durable: no 200 for it. The store finishes on its own and WeCom's retry
        // finds the row (deduplicated) and acts on it.
        Err(_) => {
            tracing::warn!(channel = %channel, "storing a WeCom message is slow; asking WeCom to retry");
            plain(StatusCode::INTERNAL_SERVER_ERROR, "")
        }
    }
}

/// The callback routes at `path` (GET verification, POST messages).
pub fn router(path: &str, state: Arc<CallbackState>) -> Router {
    Router::new().route(path, get(verify_url).post(receive)).layer(DefaultBodyLimit::max(BODY_LIMIT)).with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_xml_reads_cdata_text_and_entities() {
        let x = "<?xml version=\"1.0\"?><xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>\
                 <FromUserName><![CDATA[mycreate]]></FromUserName><CreateTime>1409659813</CreateTime>\
                 <MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hello <b> & 你好]]></Content>\
                 <Title>a &amp; b &#x4F60;</Title><Nested><A>1</A></Nested><Empty/>\
                 <MsgId>4561255354251345929</MsgId><AgentID>218</AgentID></xml>";
        let f = parse_flat_xml(x).unwrap();
        assert_eq!(f["Content"], "hello <b> & 你好");
        assert_eq!(f["Title"], "a & b 你");
        assert_eq!(f["MsgId"], "4561255354251345929");
        assert_eq!(f["Empty"], "");
        assert!(!f.contains_key("A"));
    }

    #[test]
    fn malformed_or_hostile_xml_is_refused_without_panicking() {
        for bad in [
            "",
            "<xml>",
            "<xml><a></b></xml>",
            "<!DOCTYPE xml [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><xml><a>&x;</a></xml>",
            "<xml><a>&unknown;</a></xml>",
            "not xml at all <<<",
        ] {
            assert!(parse_flat_xml(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn app_messages_map_to_private_chats_addressed_to_the_bot() {
        let f = parse_flat_xml(
            "<xml><FromUserName><![CDATA[wang.fang]]></FromUserName><CreateTime>1700000000</CreateTime>\
             <MsgType><![CDATA[text]]></MsgType><Content><![CDATA[帮助]]></Content><MsgId>42</MsgId></xml>",
        )
        .unwrap();
        let Decoded::Message(m) = decode_app_message("wecom", &f).unwrap() else { panic!() };
        assert_eq!(m.chat, ChatRef::private("wecom", "wang.fang"));
        assert_eq!(m.platform_msg_id, "42");
        assert!(m.to_me);
        assert_eq!(m.command_text(), "帮助");
        let ev = parse_flat_xml(
            "<xml><FromUserName>u</FromUserName><MsgType>event</MsgType><Event>enter_agent</Event></xml>",
        )
        .unwrap();
        assert!(matches!(decode_app_message("wecom", &ev), Ok(Decoded::Ignored(_))));
        let bad = parse_flat_xml("<xml><MsgType>text</MsgType></xml>").unwrap();
        assert!(decode_app_message("wecom", &bad).is_err());
    }
}
