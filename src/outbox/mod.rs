//! The durable outbox: every outbound message is a row written in the same transaction as the
//! change that caused it; per-channel workers deliver them within the channel's limits.

pub mod admin;
pub mod handoff;
pub mod ratelimit;
pub mod route;
pub mod worker;

use crate::chat::{Attachment, MediaRef, MentionSupport, Segment};
use crate::store::Conn;
use chrono::{DateTime, Utc};
pub use route::{ChannelInfo, Directory, Recipient};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Resend after an interrupted send (duplicates possible, loss not).
    AtLeastOnce,
    /// Never resend after an interrupted send (reminders: a missed nudge beats a duplicate).
    AtMostOnce,
}

impl Delivery {
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::AtLeastOnce => "at_least_once",
            Delivery::AtMostOnce => "at_most_once",
        }
    }

    pub fn parse(s: &str) -> Option<Delivery> {
        match s {
            "at_least_once" => Some(Delivery::AtLeastOnce),
            "at_most_once" => Some(Delivery::AtMostOnce),
            _ => None,
        }
    }
}

/// A message to enqueue.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// Unique per logical message; enqueueing the same key twice is a no-op.
    pub key: String,
    pub to: Recipient,
    pub segments: Vec<Segment>,
    pub delivery: Delivery,
    /// True for answers to a message the recipient just sent (channels that cannot push may carry them).
    pub prompted: bool,
    /// What caused it, for the admin view.
    pub source: String,
    /// A file delivered after the text (`segments`, the caption, may then be empty). It goes
    /// as a row of its own, so a failed upload is retried without resending the caption.
    pub attachment: Option<Attachment>,
}

impl Envelope {
    pub fn new(key: impl Into<String>, to: Recipient, segments: Vec<Segment>, source: impl Into<String>) -> Self {
        Envelope {
            key: key.into(),
            to,
            segments,
            delivery: Delivery::AtLeastOnce,
            prompted: false,
            source: source.into(),
            attachment: None,
        }
    }

    /// A file with an optional caption sent before it.
    pub fn file(
        key: impl Into<String>,
        to: Recipient,
        file: Attachment,
        caption: Option<String>,
        source: impl Into<String>,
    ) -> Self {
        let segments = caption.filter(|c| !c.trim().is_empty()).map(Segment::text).into_iter().collect();
        Envelope { attachment: Some(file), ..Envelope::new(key, to, segments, source) }
    }
}

/// The key of an envelope's file row: the envelope's own key when it has no text.
fn file_key(key: &str, has_text: bool) -> String {
    if has_text {
        format!("{key}#file")
    } else {
        key.to_string()
    }
}

/// What a file row's segments say: the file's name, for the admin view and for channels that
/// render it as text. An inline image's row holds a `Segment::Image`: that is how the worker
/// knows to show it as a picture, or to leave it out where the channel cannot.
fn file_segments(a: &Attachment) -> String {
    let media = MediaRef { name: Some(a.name.clone()), url: None, file_id: None };
    let seg = if a.inline { Segment::Image { media } } else { Segment::File { media } };
    serde_json::to_string(&[seg]).unwrap_or_else(|_| "[]".into())
}

/// Mentions a channel cannot render become plain `@name` text.
fn render_for(mention: MentionSupport, segments: Vec<Segment>) -> Vec<Segment> {
    if mention != MentionSupport::None {
        return segments;
    }
    segments
        .into_iter()
        .map(|s| match s {
            Segment::Mention { name, .. } => Segment::text(format!("@{name} ")),
            other => other,
        })
        .collect()
}

/// Routes and writes an envelope (split into parts if too long). Returns the rows inserted:
/// 0 when the key was enqueued before.
pub async fn enqueue(conn: &mut Conn, dir: &Directory, now: DateTime<Utc>, env: Envelope) -> crate::sql::Result<usize> {
    // A reply to a chat routes without a query, and a one-part row's insert is its own duplicate
    // check (ON CONFLICT): the hot path of every answer skips the lookup.
    let to_chat = matches!(env.to, Recipient::Chat(_));
    // A file is stored before its row: look first, so a repeated key stores no second copy.
    if (!to_chat || env.attachment.is_some()) && crate::store::outbox::exists(conn, &env.key).await? {
        return Ok(0);
    }
    let person_id = match &env.to {
        Recipient::Person(p) => Some(*p),
        Recipient::Chat(_) => None,
    };
    let routed = route::resolve(conn, dir, &env.to, env.prompted).await?;
    let routed = routed.and_then(|(chat, prefix)| dir.get(&chat.channel).map(|info| (chat, prefix, info)));
    let Some((chat, mention_prefix, info)) = routed else {
        if to_chat && crate::store::outbox::exists(conn, &env.key).await? {
            return Ok(0);
        }
        let parts = if env.segments.is_empty() { Vec::new() } else { vec![env.segments.clone()] };
        return insert(conn, &env, person_id, None, now, parts).await;
    };
    let mut segs = mention_prefix;
    segs.extend(env.segments.iter().cloned());
    let segs = render_for(info.caps.mention, segs);
    // A file without a caption still names its recipient when it reaches them in a group.
    let has_text = segs.iter().any(|s| !matches!(s, Segment::Text { text } if text.trim().is_empty()));
    let parts = if has_text || env.attachment.is_none() {
        crate::chat::split::split_message(&segs, info.caps.max_message_chars)
    } else {
        Vec::new()
    };
    // Parts after the first have keys of their own: an envelope already queued must not gain
    // parts because it splits differently now.
    if to_chat && parts.len() > 1 && crate::store::outbox::exists(conn, &env.key).await? {
        return Ok(0);
    }
    let (status, channel, kind, chat_id) = ("pending", Some(chat.channel), Some(chat.kind.as_str()), Some(chat.id));
    // What every row of this envelope shares; each row sets its key, segments and file.
    let base = crate::store::outbox::NewRow {
        key: &env.key,
        channel: channel.as_deref(),
        chat_kind: kind,
        chat_id: chat_id.as_deref(),
        person_id,
        segments: "[]",
        delivery: env.delivery.as_str(),
        source: &env.source,
        file_id: None,
    };
    let mut n = 0;
    for (i, part) in parts.into_iter().enumerate() {
        let key = if i == 0 { env.key.clone() } else { format!("{}#{}", env.key, i + 1) };
        let segments = serde_json::to_string(&part).unwrap_or_else(|_| "[]".into());
        let row = crate::store::outbox::NewRow { key: &key, segments: &segments, ..base };
        n += crate::store::outbox::insert_routed(conn, &row, status, now).await? as usize;
    }
    if let Some(file) = &env.attachment {
        let file_id = crate::store::files::insert(conn, &file.name, &file.mime, &file.bytes, now).await?;
        let key = file_key(&env.key, n > 0);
        let segments = file_segments(file);
        let row = crate::store::outbox::NewRow { key: &key, segments: &segments, file_id: Some(file_id), ..base };
        n += crate::store::outbox::insert_routed(conn, &row, status, now).await? as usize;
    }
    Ok(n)
}

/// Writes an envelope no channel can deliver: it waits as 'unroutable' for an admin (or a later
/// binding) instead of being dropped.
async fn insert(
    conn: &mut Conn,
    env: &Envelope,
    person_id: Option<i64>,
    _channel: Option<String>,
    now: DateTime<Utc>,
    parts: Vec<Vec<Segment>>,
) -> crate::sql::Result<usize> {
    tracing::warn!(key = %env.key, source = %env.source, "no channel can deliver this message; kept as unroutable");
    const WHY: &str = "no channel can reach the recipient";
    let (chat_kind, chat_id, channel) = match &env.to {
        Recipient::Chat(c) => (Some(c.kind.as_str()), Some(c.id.as_str()), Some(c.channel.as_str())),
        Recipient::Person(_) => (None, None, None),
    };
    let base = crate::store::outbox::NewRow {
        key: &env.key,
        channel,
        chat_kind,
        chat_id,
        person_id,
        segments: "[]",
        delivery: env.delivery.as_str(),
        source: &env.source,
        file_id: None,
    };
    let mut n = 0;
    for part in parts {
        let segments = serde_json::to_string(&part).unwrap_or_else(|_| "[]".into());
        let row = crate::store::outbox::NewRow { segments: &segments, ..base };
        n += crate::store::outbox::insert_unroutable(conn, &row, now, WHY).await? as usize;
    }
    // The file waits too: an admin's reroute (or a later binding) delivers it like the text.
    if let Some(file) = &env.attachment {
        let file_id = crate::store::files::insert(conn, &file.name, &file.mime, &file.bytes, now).await?;
        let key = file_key(&env.key, n > 0);
        let segments = file_segments(file);
        let row = crate::store::outbox::NewRow { key: &key, segments: &segments, file_id: Some(file_id), ..base };
        n += crate::store::outbox::insert_unroutable(conn, &row, now, WHY).await? as usize;
    }
    Ok(n)
}
