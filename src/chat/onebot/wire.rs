//! OneBot v11 on the wire: frames, events, message segments in both the array and the
//! string (CQ code) form, and the translation to and from the platform-neutral model.
//!
//! Everything here is lenient on purpose: implementations disagree on types (ids as numbers
//! or strings, negative ids), add fields and segment types, and a frame we cannot use must
//! never take the connection down.

use crate::chat::model::{ChatKind, ChatRef, InboundMessage, MediaRef, Segment, UserRef};
use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;
use serde_json::{json, Map, Value};

/// One message segment as OneBot carries it: `{"type": ..., "data": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WireSegment {
    #[serde(rename = "type")]
    pub kind: String,
    pub data: Map<String, Value>,
}

impl WireSegment {
    pub fn new(kind: &str, data: &[(&str, &str)]) -> Self {
        WireSegment {
            kind: kind.to_string(),
            data: data.iter().map(|(k, v)| (k.to_string(), Value::String(v.to_string()))).collect(),
        }
    }

    pub fn text(t: impl Into<String>) -> Self {
        let mut data = Map::new();
        data.insert("text".into(), Value::String(t.into()));
        WireSegment { kind: "text".into(), data }
    }

    /// A data field as a trimmed id-like string; numbers are accepted because implementations differ.
    pub fn get(&self, key: &str) -> Option<String> {
        self.data.get(key).and_then(id_of)
    }

    /// A data field verbatim (text keeps its spaces).
    pub fn raw(&self, key: &str) -> Option<String> {
        match self.data.get(key)? {
            Value::String(s) => Some(s.clone()),
            other => id_of(other),
        }
    }
}

/// An id or string field: numbers (including negative ones) and strings both become strings.
pub fn id_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => {
            let s = s.trim();
            (!s.is_empty()).then(|| s.to_string())
        }
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Some(i.to_string())
            } else if let Some(u) = n.as_u64() {
                Some(u.to_string())
            } else {
                n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15).map(|f| (f as i64).to_string())
            }
        }
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A QQ number (account, user or group id): a non-negative JSON integer, or a string of 1–20
/// ASCII digits. `None` for anything else ("abc", "1e5", 1.5, CQ text, full-width digits).
pub fn qq_id_of(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => n.as_u64().map(|u| u.to_string()),
        Value::String(s) => Some(s.trim()).filter(|s| is_qq_number(s)).map(str::to_string),
        _ => None,
    }
}

/// An optional id field: absent or null is `Ok(None)`; present but not a QQ number is an error.
fn optional_qq_id(o: &Map<String, Value>, key: &'static str) -> Result<Option<String>, &'static str> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => qq_id_of(v).map(Some).ok_or(key),
    }
}

// ---------------------------------------------------------------------------------------------
// CQ codes

/// Escapes plain text for the string form: `&`, `[`, `]`.
pub fn cq_escape(s: &str, in_param: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '[' => out.push_str("&#91;"),
            ']' => out.push_str("&#93;"),
            ',' if in_param => out.push_str("&#44;"),
            c => out.push(c),
        }
    }
    out
}

/// Reverses CQ escaping in one pass, so `&amp;#91;` stays the literal text `&#91;`.
pub fn cq_unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('&') {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        let (rep, len) = if tail.starts_with("&amp;") {
            ('&', 5)
        } else if tail.starts_with("&#91;") {
            ('[', 5)
        } else if tail.starts_with("&#93;") {
            (']', 5)
        } else if tail.starts_with("&#44;") {
            (',', 5)
        } else {
            ('&', 1)
        };
        out.push(rep);
        rest = &tail[len..];
    }
    out.push_str(rest);
    out
}

/// Parses the string form: text with `[CQ:type,key=value,...]` codes. Malformed codes are
/// kept as text rather than rejected.
pub fn parse_cq(s: &str) -> Vec<WireSegment> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("[CQ:") {
        let after = &rest[start + 4..];
        let Some(end) = after.find(']') else { break };
        text.push_str(&rest[..start]);
        let body = &after[..end];
        let mut parts = body.split(',');
        let kind = parts.next().unwrap_or_default().trim();
        if kind.is_empty() {
            // "[CQ:]" is not a code; keep it verbatim.
            text.push_str(&rest[start..start + 4 + end + 1]);
        } else {
            if !text.is_empty() {
                out.push(WireSegment::text(cq_unescape(&std::mem::take(&mut text))));
            }
            let mut data = Map::new();
            for p in parts {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                data.insert(k.trim().to_string(), Value::String(cq_unescape(v)));
            }
            out.push(WireSegment { kind: kind.to_string(), data });
        }
        rest = &after[end + 1..];
    }
    text.push_str(rest);
    if !text.is_empty() {
        out.push(WireSegment::text(cq_unescape(&text)));
    }
    out
}

/// Renders segments in the string form (used for logs and tests; we always send arrays).
pub fn to_cq(segments: &[WireSegment]) -> String {
    let mut out = String::new();
    for s in segments {
        if s.kind == "text" {
            out.push_str(&cq_escape(&s.raw("text").unwrap_or_default(), false));
            continue;
        }
        out.push_str("[CQ:");
        out.push_str(&s.kind);
        for (k, v) in &s.data {
            out.push(',');
            out.push_str(k);
            out.push('=');
            out.push_str(&cq_escape(
                &match v {
                    Value::String(s) => s.clone(),
                    other => id_of(other).unwrap_or_default(),
                },
                true,
            ));
        }
        out.push(']');
    }
    out
}

/// The `message` field in either form. Array elements that are not segments are skipped.
pub fn parse_message(v: &Value) -> Vec<WireSegment> {
    match v {
        Value::String(s) => parse_cq(s),
        Value::Array(items) => items.iter().filter_map(segment_of).collect(),
        Value::Object(_) => segment_of(v).into_iter().collect(),
        _ => Vec::new(),
    }
}

fn segment_of(v: &Value) -> Option<WireSegment> {
    let o = v.as_object()?;
    let kind = o.get("type")?.as_str()?.to_string();
    let data = match o.get("data") {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    Some(WireSegment { kind, data })
}

// ---------------------------------------------------------------------------------------------
// Frames

/// The answer to an action we sent.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiResponse {
    pub status: String,
    pub retcode: i64,
    pub data: Value,
    /// `message` or `wording` (NapCat), or `msg` (older implementations).
    pub message: String,
    pub echo: Option<String>,
}

impl ApiResponse {
    pub fn ok(&self) -> bool {
        matches!(self.status.as_str(), "ok" | "async") || (self.status.is_empty() && self.retcode == 0)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct MessageEvent {
    pub self_id: Option<String>,
    pub kind: ChatKind,
    pub sub_type: String,
    pub message_id: String,
    pub group_id: Option<String>,
    pub user_id: String,
    pub sender_name: Option<String>,
    pub time: Option<i64>,
    pub segments: Vec<WireSegment>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Message(MessageEvent),
    Lifecycle {
        self_id: Option<String>,
        sub_type: String,
    },
    Heartbeat {
        self_id: Option<String>,
        interval_ms: Option<u64>,
        online: Option<bool>,
    },
    /// Notices, requests, our own messages echoed back, unknown types: not used.
    Other {
        self_id: Option<String>,
        post_type: String,
    },
    /// An event whose account, user or group id is not a QQ number: rejected whole, since
    /// storing it would create a chat nobody can answer.
    Invalid {
        post_type: String,
        /// The offending field, e.g. `user_id`.
        field: &'static str,
    },
}

impl Event {
    pub fn self_id(&self) -> Option<&str> {
        match self {
            Event::Message(m) => m.self_id.as_deref(),
            Event::Lifecycle { self_id, .. } | Event::Heartbeat { self_id, .. } | Event::Other { self_id, .. } => {
                self_id.as_deref()
            }
            Event::Invalid { .. } => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Event(Event),
    Response(ApiResponse),
    /// Valid JSON we have no use for.
    Unknown,
}

fn str_field(o: &Map<String, Value>, key: &str) -> String {
    o.get(key).and_then(Value::as_str).unwrap_or_default().to_string()
}

/// Parses one text frame. Only invalid JSON is an error; anything else is classified.
pub fn parse_frame(text: &str) -> Result<Frame, serde_json::Error> {
    let v: Value = serde_json::from_str(text)?;
    let Value::Object(o) = v else { return Ok(Frame::Unknown) };
    if let Some(post_type) = o.get("post_type").and_then(Value::as_str) {
        return Ok(Frame::Event(parse_event(post_type, &o)));
    }
    // Like NoneBot: a frame without post_type is an action's result.
    if o.contains_key("echo") || o.contains_key("retcode") || o.contains_key("status") {
        let message = ["message", "wording", "msg"]
            .iter()
            .filter_map(|k| o.get(*k).and_then(Value::as_str))
            .find(|s| !s.is_empty())
            .unwrap_or_default()
            .to_string();
        return Ok(Frame::Response(ApiResponse {
            status: str_field(&o, "status"),
            retcode: o.get("retcode").and_then(id_of).and_then(|s| s.parse().ok()).unwrap_or(0),
            data: o.get("data").cloned().unwrap_or(Value::Null),
            message,
            echo: o.get("echo").and_then(|e| match e {
                Value::String(s) => Some(s.clone()),
                Value::Null => None,
                other => Some(other.to_string()),
            }),
        }));
    }
    Ok(Frame::Unknown)
}

fn parse_event(post_type: &str, o: &Map<String, Value>) -> Event {
    let invalid = |field| Event::Invalid { post_type: post_type.to_string(), field };
    let self_id = match optional_qq_id(o, "self_id") {
        Ok(id) => id,
        Err(field) => return invalid(field),
    };
    match post_type {
        "message" => match parse_message_event(self_id.clone(), o) {
            Ok(Some(m)) => Event::Message(m),
            Ok(None) => Event::Other { self_id, post_type: post_type.to_string() },
            Err(field) => invalid(field),
        },
        "meta_event" => match o.get("meta_event_type").and_then(Value::as_str) {
            Some("lifecycle") => Event::Lifecycle { self_id, sub_type: str_field(o, "sub_type") },
            Some("heartbeat") => Event::Heartbeat {
                self_id,
                interval_ms: o.get("interval").and_then(Value::as_u64),
                online: o.get("status").and_then(|s| s.get("online")).and_then(Value::as_bool),
            },
            _ => Event::Other { self_id, post_type: post_type.to_string() },
        },
        _ => Event::Other { self_id, post_type: post_type.to_string() },
    }
}

/// `Ok(None)` for messages that are not ours to read; an error names an id field that is
/// present but not a QQ number.
fn parse_message_event(self_id: Option<String>, o: &Map<String, Value>) -> Result<Option<MessageEvent>, &'static str> {
    let kind = match o.get("message_type").and_then(Value::as_str) {
        Some("group") => ChatKind::Group,
        Some("private") => ChatKind::Private,
        // Guild/channel messages and whatever comes next: not ours.
        _ => return Ok(None),
    };
    let Some(message_id) = o.get("message_id").and_then(id_of) else { return Ok(None) };
    let user_id = match optional_qq_id(o, "user_id")? {
        Some(u) => Some(u),
        None => match o.get("sender").and_then(Value::as_object) {
            Some(sender) => optional_qq_id(sender, "user_id").map_err(|_| "sender.user_id")?,
            None => None,
        },
    };
    let Some(user_id) = user_id else { return Ok(None) };
    let group_id = optional_qq_id(o, "group_id")?;
    if kind == ChatKind::Group && group_id.is_none() {
        return Ok(None);
    }
    let sender = o.get("sender");
    let name_of = |k: &str| {
        sender
            .and_then(|s| s.get(k))
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let sender_name = name_of("card").or_else(|| name_of("nickname"));
    let segments = match o.get("message") {
        Some(m) if !m.is_null() => parse_message(m),
        _ => o.get("raw_message").and_then(Value::as_str).map(parse_cq).unwrap_or_default(),
    };
    Ok(Some(MessageEvent {
        self_id,
        kind,
        sub_type: str_field(o, "sub_type"),
        message_id,
        group_id,
        user_id,
        sender_name,
        time: o.get("time").and_then(Value::as_i64),
        segments,
    }))
}

// ---------------------------------------------------------------------------------------------
// Model translation

/// The deduplication key: message ids are only unique per account.
pub fn platform_msg_id(self_id: &str, message_id: &str) -> String {
    format!("{self_id}:{message_id}")
}

fn is_at(seg: &WireSegment, self_id: &str) -> bool {
    seg.kind == "at" && seg.get("qq").as_deref() == Some(self_id)
}

fn is_blank_text(seg: &WireSegment) -> bool {
    seg.kind == "text" && seg.raw("text").is_none_or(|t| t.trim().is_empty())
}

/// Strips a leading (after any quote) or trailing mention of the bot, as NoneBot does, and
/// reports whether the message was addressed to it that way.
pub fn strip_at_me(segments: &mut Vec<WireSegment>, self_id: &str) -> bool {
    let first = segments.iter().position(|s| s.kind != "reply").unwrap_or(segments.len());
    if segments.get(first).is_some_and(|s| is_at(s, self_id)) {
        segments.remove(first);
        // "@bot @bot 帮助" happens when people tap the name twice.
        loop {
            match segments.get_mut(first) {
                Some(s) if is_at(s, self_id) => {
                    segments.remove(first);
                }
                Some(s) if s.kind == "text" => {
                    let t = s.raw("text").unwrap_or_default();
                    let trimmed = t.trim_start();
                    if trimmed.is_empty() {
                        segments.remove(first);
                        continue;
                    }
                    s.data.insert("text".into(), Value::String(trimmed.to_string()));
                    break;
                }
                _ => break,
            }
        }
        return true;
    }
    let mut last = segments.len().checked_sub(1);
    if let Some(i) = last {
        if i >= 1 && is_blank_text(&segments[i]) {
            last = Some(i - 1);
        }
    }
    if let Some(i) = last.filter(|&i| i >= first && is_at(&segments[i], self_id)) {
        segments.truncate(i);
        if let Some(s) = segments.last_mut().filter(|s| s.kind == "text") {
            let t = s.raw("text").unwrap_or_default().trim_end().to_string();
            s.data.insert("text".into(), Value::String(t));
        }
        return true;
    }
    false
}

fn media_of(seg: &WireSegment) -> MediaRef {
    let file = seg.get("file");
    let url = seg.get("url").or_else(|| file.clone().filter(|f| f.starts_with("http://") || f.starts_with("https://")));
    MediaRef {
        name: seg.get("name").or_else(|| seg.get("file_name")).or_else(|| file.clone()),
        url,
        file_id: seg.get("file_id").or(file),
    }
}

/// Converts a message event to the model. `is_ours` tells whether a quoted message id
/// (`self_id:message_id`) is one the bot sent, which addresses the bot.
pub fn to_inbound(
    channel: &str,
    self_id: &str,
    ev: &MessageEvent,
    is_ours: impl Fn(&str) -> bool,
    now: DateTime<Utc>,
) -> InboundMessage {
    let mut wire = ev.segments.clone();
    let mut to_me = ev.kind == ChatKind::Private;
    if strip_at_me(&mut wire, self_id) {
        to_me = true;
    }
    let mut segments = Vec::with_capacity(wire.len());
    for s in &wire {
        match s.kind.as_str() {
            "text" => {
                let t = s.raw("text").unwrap_or_default();
                if !t.is_empty() {
                    segments.push(Segment::Text { text: t });
                }
            }
            "at" => match s.get("qq") {
                Some(q) if q == "all" => segments.push(Segment::MentionAll),
                Some(q) => {
                    let name = s.get("name").map(|n| n.trim_start_matches('@').to_string()).unwrap_or(q.clone());
                    segments.push(Segment::Mention { user_id: q, name });
                }
                None => {}
            },
            "reply" => {
                if let Some(id) = s.get("id") {
                    let key = platform_msg_id(self_id, &id);
                    to_me |= is_ours(&key);
                    segments.push(Segment::Reply { message_id: key });
                }
            }
            "image" => segments.push(Segment::Image { media: media_of(s) }),
            "file" => segments.push(Segment::File { media: media_of(s) }),
            // face, record, video, json, forward, poke, ...: nothing the workflows read.
            _ => {}
        }
    }
    let chat = match ev.kind {
        ChatKind::Group => ChatRef::group(channel, ev.group_id.clone().unwrap_or_default()),
        ChatKind::Private => ChatRef::private(channel, ev.user_id.clone()),
    };
    let sent_at = ev.time.and_then(|t| Utc.timestamp_opt(t, 0).single()).unwrap_or(now);
    InboundMessage {
        chat,
        sender: UserRef { id: ev.user_id.clone(), display: ev.sender_name.clone() },
        platform_msg_id: platform_msg_id(self_id, &ev.message_id),
        segments,
        to_me,
        sent_at,
    }
}

fn is_qq_number(s: &str) -> bool {
    !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Splits a `self_id:message_id` key; ids from elsewhere have no account.
pub fn split_msg_key(key: &str) -> (Option<&str>, &str) {
    match key.split_once(':') {
        Some((a, m)) if is_qq_number(a) => (Some(a), m),
        _ => (None, key),
    }
}

/// Renders model segments as an array message for `sender` (the account that sends it).
/// Quotes of messages another account saw cannot be sent from this one and are dropped;
/// without `mention_all`, @全体成员 is written as text.
pub fn to_wire(segments: &[Segment], sender: &str, mention_all: bool) -> Vec<WireSegment> {
    let mut out: Vec<WireSegment> = Vec::with_capacity(segments.len());
    let push_text = |out: &mut Vec<WireSegment>, t: &str| {
        if t.is_empty() {
            return;
        }
        if let Some(last) = out.last_mut().filter(|s| s.kind == "text") {
            let joined = last.raw("text").unwrap_or_default() + t;
            last.data.insert("text".into(), Value::String(joined));
        } else {
            out.push(WireSegment::text(t));
        }
    };
    for s in segments {
        match s {
            Segment::Text { text } => push_text(&mut out, text),
            // `qq` as a string: Lagrange rejects numbers.
            Segment::Mention { user_id, .. } if is_qq_number(user_id) => {
                out.push(WireSegment::new("at", &[("qq", user_id)]))
            }
            Segment::Mention { name, .. } => push_text(&mut out, &format!("@{name}")),
            Segment::MentionAll if mention_all => out.push(WireSegment::new("at", &[("qq", "all")])),
            Segment::MentionAll => push_text(&mut out, "@全体成员 "),
            Segment::Reply { message_id } => {
                let (account, id) = split_msg_key(message_id);
                if account.is_none_or(|a| a == sender) && !id.is_empty() {
                    // The quote must come first.
                    out.insert(0, WireSegment::new("reply", &[("id", id)]));
                }
            }
            Segment::Image { media } => match media.url.as_deref().or(media.file_id.as_deref()) {
                Some(f) => out.push(WireSegment::new("image", &[("file", f)])),
                None => push_text(&mut out, "[图片]"),
            },
            Segment::File { media } => push_text(
                &mut out,
                &format!("[文件{}]", media.name.as_deref().map(|n| format!(":{n}")).unwrap_or_default()),
            ),
        }
    }
    out
}

/// The action frame for sending `message` to a chat.
pub fn send_action(kind: ChatKind, target: i64, message: &[WireSegment]) -> (&'static str, Value) {
    match kind {
        ChatKind::Group => ("send_group_msg", json!({ "group_id": target, "message": message })),
        ChatKind::Private => ("send_private_msg", json!({ "user_id": target, "message": message })),
    }
}

/// An `image` segment carrying the picture itself as `base64://…` (OneBot v11's `file` field
/// takes it; every implementation in use supports it), so nothing has to serve it by URL.
pub fn inline_image(bytes: &[u8]) -> WireSegment {
    use base64::Engine;
    let file = format!("base64://{}", base64::engine::general_purpose::STANDARD.encode(bytes));
    WireSegment::new("image", &[("file", &file)])
}

/// The action uploading a file (NapCat, LLBot and Lagrange extensions): into the group's files,
/// or to a person privately. The content goes inline as `base64://…`, so the implementation
/// needs no access to our disk.
pub fn upload_action(kind: ChatKind, target: i64, name: &str, bytes: &[u8]) -> (&'static str, Value) {
    use base64::Engine;
    let file = format!("base64://{}", base64::engine::general_purpose::STANDARD.encode(bytes));
    match kind {
        ChatKind::Group => ("upload_group_file", json!({ "group_id": target, "file": file, "name": name })),
        ChatKind::Private => ("upload_private_file", json!({ "user_id": target, "file": file, "name": name })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg_event(message: Value) -> MessageEvent {
        let frame = json!({
            "time": 1_767_225_600, "self_id": 10001000, "post_type": "message", "message_type": "group",
            "sub_type": "normal", "message_id": -1757556009, "group_id": 123456, "user_id": 12345678,
            "message": message, "raw_message": "", "font": 0,
            "sender": {"user_id": 12345678, "nickname": "张三", "card": "城区督学-张三", "role": "member"},
            "message_style": {"bubble_id": 0}, "extra_field": [1, 2, 3]
        });
        match parse_frame(&frame.to_string()).unwrap() {
            Frame::Event(Event::Message(m)) => m,
            other => panic!("not a message: {other:?}"),
        }
    }

    #[test]
    fn escaping_round_trips_and_is_single_pass() {
        let raw = "a&b [x] c,d &#91;";
        assert_eq!(cq_escape(raw, false), "a&amp;b &#91;x&#93; c,d &amp;#91;");
        assert_eq!(cq_escape(raw, true), "a&amp;b &#91;x&#93; c&#44;d &amp;#91;");
        assert_eq!(cq_unescape(&cq_escape(raw, false)), raw);
        assert_eq!(cq_unescape(&cq_escape(raw, true)), raw);
        assert_eq!(cq_unescape("&amp;#44; &#44; & &x;"), "&#44; , & &x;");
    }

    #[test]
    fn string_format_is_parsed_with_unescaping() {
        let segs = parse_cq("[CQ:reply,id=-42][CQ:at,qq=10001000] 周报&#91;第3周&#93;：A&amp;B[CQ:image,file=a&#44;b.jpg,url=https://x/y?a=1&amp;b=2]尾");
        assert_eq!(segs.len(), 5, "{segs:?}");
        assert_eq!(segs[0].kind, "reply");
        assert_eq!(segs[0].get("id").as_deref(), Some("-42"));
        assert_eq!(segs[1].get("qq").as_deref(), Some("10001000"));
        assert_eq!(segs[2].raw("text").as_deref(), Some(" 周报[第3周]：A&B"));
        assert_eq!(segs[3].get("file").as_deref(), Some("a,b.jpg"));
        assert_eq!(segs[3].get("url").as_deref(), Some("https://x/y?a=1&b=2"));
        assert_eq!(segs[4].raw("text").as_deref(), Some("尾"));
        // And back.
        assert_eq!(parse_cq(&to_cq(&segs)), segs);
    }

    #[test]
    fn malformed_codes_stay_text() {
        let segs = parse_cq("看 [CQ:at,qq=1 没有结尾");
        assert_eq!(segs, vec![WireSegment::text("看 [CQ:at,qq=1 没有结尾")]);
        let segs = parse_cq("[CQ:]x");
        assert_eq!(segs, vec![WireSegment::text("[CQ:]x")]);
        assert!(parse_cq("").is_empty());
    }

    #[test]
    fn array_and_string_forms_give_the_same_message() {
        let array = msg_event(json!([
            {"type": "at", "data": {"qq": "10001000", "name": "督导助手"}},
            {"type": "text", "data": {"text": " 帮助"}}
        ]));
        let string = msg_event(json!("[CQ:at,qq=10001000] 帮助"));
        let now = Utc::now();
        let a = to_inbound("qq", "10001000", &array, |_| false, now);
        let b = to_inbound("qq", "10001000", &string, |_| false, now);
        assert_eq!(a, b);
        assert!(a.to_me);
        assert_eq!(a.command_text(), "帮助");
        assert_eq!(a.platform_msg_id, "10001000:-1757556009");
        assert_eq!(a.chat, ChatRef::group("qq", "123456"));
        assert_eq!(a.sender, UserRef { id: "12345678".into(), display: Some("城区督学-张三".into()) });
        assert_eq!(a.sent_at.timestamp(), 1_767_225_600);
    }

    #[test]
    fn ids_as_strings_numbers_and_negative() {
        for (v, want) in [
            (json!(12), "12"),
            (json!("12"), "12"),
            (json!(-7), "-7"),
            (json!(" 9 "), "9"),
            (json!(18446744073709551615u64), "18446744073709551615"),
            (json!(3.0), "3"),
        ] {
            assert_eq!(id_of(&v).as_deref(), Some(want), "{v}");
        }
        assert_eq!(id_of(&json!(null)), None);
        assert_eq!(id_of(&json!("")), None);
        let frame = r#"{"post_type":"message","message_type":"private","sub_type":"friend","message_id":"abc-1",
            "user_id":"555","self_id":"42","message":"hi","time":1}"#;
        let Frame::Event(Event::Message(m)) = parse_frame(frame).unwrap() else { panic!() };
        assert_eq!((m.message_id.as_str(), m.user_id.as_str(), m.self_id.as_deref()), ("abc-1", "555", Some("42")));
        let msg = to_inbound("qq", "42", &m, |_| false, Utc::now());
        assert!(msg.to_me, "private messages are addressed to the bot");
        assert_eq!(msg.chat, ChatRef::private("qq", "555"));
    }

    #[test]
    fn unknown_things_are_ignored_not_errors() {
        let cases = [
            r#"{"post_type":"notice","notice_type":"group_increase","self_id":1}"#,
            r#"{"post_type":"request","request_type":"friend","self_id":1}"#,
            r#"{"post_type":"message_sent","message_type":"group","self_id":1}"#,
            r#"{"post_type":"message","message_type":"guild","self_id":1,"message_id":1,"user_id":2}"#,
            r#"{"post_type":"message","message_type":"group","self_id":1,"user_id":2}"#,
            r#"{"post_type":"meta_event","meta_event_type":"something_new","self_id":1}"#,
            r#"{"post_type":"brand_new","self_id":1}"#,
        ];
        for c in cases {
            assert!(matches!(parse_frame(c).unwrap(), Frame::Event(Event::Other { .. })), "{c}");
        }
        assert_eq!(parse_frame("[1,2]").unwrap(), Frame::Unknown);
        assert_eq!(parse_frame(r#"{"hello":"world"}"#).unwrap(), Frame::Unknown);
        assert!(parse_frame("not json").is_err());
        // Unknown segment types and malformed segments are skipped.
        let m = msg_event(json!([
            {"type": "face", "data": {"id": "178"}},
            {"type": "mface", "data": {"summary": "[动画表情]"}},
            "garbage", 7, {"data": {}},
            {"type": "text"},
            {"type": "text", "data": {"text": "周报"}}
        ]));
        let msg = to_inbound("qq", "10001000", &m, |_| false, Utc::now());
        assert_eq!(msg.segments, vec![Segment::text("周报")]);
        assert!(!msg.to_me);
    }

    #[test]
    fn ids_that_are_not_qq_numbers_reject_the_event() {
        let frame = |self_id: Value, user: Value, group: Value| {
            json!({"post_type": "message", "message_type": "group", "sub_type": "normal", "message_id": -5,
                   "self_id": self_id, "user_id": user, "group_id": group, "message": "在吗",
                   "sender": {"user_id": user}})
            .to_string()
        };
        let rejected = |f: String| match parse_frame(&f).unwrap() {
            Frame::Event(Event::Invalid { post_type, field }) => (post_type, field),
            other => panic!("accepted: {other:?}"),
        };
        for (user, field) in [
            (json!("abc"), "user_id"),
            (json!("1e5"), "user_id"),
            (json!(1e5), "user_id"),
            (json!(1.5), "user_id"),
            (json!(-7), "user_id"),
            (json!("-7"), "user_id"),
            (json!("[CQ:at,qq=1]"), "user_id"),
            (json!("１２３"), "user_id"),
            (json!(""), "user_id"),
            (json!(true), "user_id"),
            (json!({"id": 1}), "user_id"),
        ] {
            assert_eq!(rejected(frame(json!(42), user.clone(), json!(9))), ("message".into(), field), "{user}");
        }
        assert_eq!(rejected(frame(json!(42), json!(7), json!("9x"))).1, "group_id");
        assert_eq!(rejected(frame(json!("abc"), json!(7), json!(9))).1, "self_id");
        let no_user = r#"{"post_type":"message","message_type":"private","message_id":1,"self_id":42,
            "sender":{"user_id":"x1"},"message":"hi"}"#;
        assert_eq!(rejected(no_user.into()).1, "sender.user_id");
        let hb = r#"{"post_type":"meta_event","meta_event_type":"heartbeat","self_id":"1e5","interval":5000}"#;
        assert_eq!(rejected(hb.into()), ("meta_event".into(), "self_id"));
        // Numbers and digit strings, with surrounding spaces, are fine; null means absent.
        let ok = frame(json!(" 42 "), json!("12345678"), json!(987654321));
        assert!(matches!(parse_frame(&ok).unwrap(), Frame::Event(Event::Message(_))));
        let null_self = frame(json!(null), json!(7), json!(9));
        assert!(matches!(parse_frame(&null_self).unwrap(), Frame::Event(Event::Message(m)) if m.self_id.is_none()));
    }

    #[test]
    fn meta_events() {
        let hb = r#"{"time":1,"self_id":10001000,"post_type":"meta_event","meta_event_type":"heartbeat",
            "status":{"online":true,"good":true},"interval":30000}"#;
        assert_eq!(
            parse_frame(hb).unwrap(),
            Frame::Event(Event::Heartbeat {
                self_id: Some("10001000".into()),
                interval_ms: Some(30000),
                online: Some(true)
            })
        );
        let lc =
            r#"{"time":1,"self_id":1,"post_type":"meta_event","meta_event_type":"lifecycle","sub_type":"connect"}"#;
        assert_eq!(
            parse_frame(lc).unwrap(),
            Frame::Event(Event::Lifecycle { self_id: Some("1".into()), sub_type: "connect".into() })
        );
    }

    #[test]
    fn responses_with_any_echo_type() {
        let r = r#"{"status":"ok","retcode":0,"data":{"message_id":1494647657},"message":"","wording":"","echo":"7"}"#;
        let Frame::Response(r) = parse_frame(r).unwrap() else { panic!() };
        assert!(r.ok());
        assert_eq!(r.echo.as_deref(), Some("7"));
        assert_eq!(id_of(&r.data["message_id"]).as_deref(), Some("1494647657"));
        let r = r#"{"status":"failed","retcode":1404,"data":null,"wording":"群不存在","echo":12}"#;
        let Frame::Response(r) = parse_frame(r).unwrap() else { panic!() };
        assert!(!r.ok());
        assert_eq!((r.retcode, r.message.as_str(), r.echo.as_deref()), (1404, "群不存在", Some("12")));
    }

    #[test]
    fn mentions_of_the_bot_are_stripped_like_nonebot() {
        let me = "10001000";
        let at = |q: &str| WireSegment::new("at", &[("qq", q)]);
        let t = WireSegment::text;
        // Leading, with a quote before it and a doubled mention.
        let mut s = vec![WireSegment::new("reply", &[("id", "5")]), at(me), t(" "), at(me), t("  帮助 ")];
        assert!(strip_at_me(&mut s, me));
        assert_eq!(s, vec![WireSegment::new("reply", &[("id", "5")]), t("帮助 ")]);
        // Trailing, followed by blank text.
        let mut s = vec![t("帮助 "), at(me), t(" ")];
        assert!(strip_at_me(&mut s, me));
        assert_eq!(s, vec![t("帮助")]);
        // Someone else, or the bot in the middle: not addressed.
        let mut s = vec![at("999"), t(" 帮助")];
        assert!(!strip_at_me(&mut s, me));
        assert_eq!(s.len(), 2);
        let mut s = vec![t("问下"), at(me), t("在吗")];
        assert!(!strip_at_me(&mut s, me));
        // @all is not a mention of the bot.
        let mut s = vec![at("all"), t(" 开会")];
        assert!(!strip_at_me(&mut s, me));
        let mut empty = Vec::new();
        assert!(!strip_at_me(&mut empty, me));
    }

    #[test]
    fn replies_images_and_quotes_of_the_bot() {
        let m = msg_event(json!([
            {"type": "reply", "data": {"id": -99, "text": "", "qq": 10001000}},
            {"type": "image", "data": {"file": "ABC.jpg", "url": "https://multimedia.nt.qq.com.cn/download?appid=1407&fileid=x", "file_size": "1234"}},
            {"type": "text", "data": {"text": "已检查"}}
        ]));
        let ours = |k: &str| k == "10001000:-99";
        let msg = to_inbound("qq", "10001000", &m, ours, Utc::now());
        assert!(msg.to_me, "a quote of the bot's message is addressed to it");
        assert_eq!(msg.reply_to(), Some("10001000:-99"));
        let img: Vec<_> = msg.images().collect();
        assert_eq!(img.len(), 1);
        assert_eq!(img[0].url.as_deref(), Some("https://multimedia.nt.qq.com.cn/download?appid=1407&fileid=x"));
        assert_eq!(img[0].file_id.as_deref(), Some("ABC.jpg"));
        let msg = to_inbound("qq", "10001000", &m, |_| false, Utc::now());
        assert!(!msg.to_me);
    }

    #[test]
    fn outbound_uses_arrays_with_string_qq_and_quote_first() {
        let segs = vec![
            Segment::Mention { user_id: "12345678".into(), name: "张三".into() },
            Segment::text(" 收到"),
            Segment::text("，谢谢"),
            Segment::Reply { message_id: "10001000:-99".into() },
            Segment::Mention { user_id: "console-user".into(), name: "李四".into() },
            Segment::MentionAll,
        ];
        let w = to_wire(&segs, "10001000", true);
        let v = serde_json::to_value(&w).unwrap();
        assert_eq!(
            v,
            json!([
                {"type": "reply", "data": {"id": "-99"}},
                {"type": "at", "data": {"qq": "12345678"}},
                {"type": "text", "data": {"text": " 收到，谢谢@李四"}},
                {"type": "at", "data": {"qq": "all"}}
            ])
        );
        // A quote seen by another account is dropped.
        let w = to_wire(&[Segment::Reply { message_id: "222:5".into() }, Segment::text("x")], "10001000", true);
        assert_eq!(w, vec![WireSegment::text("x")]);
        let all = to_wire(&[Segment::MentionAll, Segment::text("开会")], "10001000", false);
        assert_eq!(all, vec![WireSegment::text("@全体成员 开会")]);
        let (action, params) = send_action(ChatKind::Group, 123, &w);
        assert_eq!(action, "send_group_msg");
        assert_eq!(params, json!({"group_id": 123, "message": [{"type": "text", "data": {"text": "x"}}]}));
    }

    #[test]
    fn uploads_carry_the_file_inline_with_its_name() {
        let (action, p) = upload_action(ChatKind::Group, 700_100, "周报统计.xlsx", b"\x00\xffPK");
        assert_eq!(action, "upload_group_file");
        assert_eq!(p, json!({"group_id": 700_100, "file": "base64://AP9QSw==", "name": "周报统计.xlsx"}));
        let (action, p) = upload_action(ChatKind::Private, 12345, "a.docx", b"");
        assert_eq!(action, "upload_private_file");
        assert_eq!(p, json!({"user_id": 12345, "file": "base64://", "name": "a.docx"}));
    }
}
