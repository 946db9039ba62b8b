//! The platform-neutral chat model every channel adapter translates to and from.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatKind {
    Group,
    Private,
}

impl ChatKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChatKind::Group => "group",
            ChatKind::Private => "private",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "group" => Some(ChatKind::Group),
            "private" => Some(ChatKind::Private),
            _ => None,
        }
    }
}

/// A conversation on one channel instance: a group, or a private chat with one account.
/// Ids are strings everywhere (QQ numbers, negative ids, WeCom user ids, Telegram i64s).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChatRef {
    pub channel: String,
    pub kind: ChatKind,
    pub id: String,
}

impl ChatRef {
    pub fn group(channel: impl Into<String>, id: impl Into<String>) -> Self {
        ChatRef { channel: channel.into(), kind: ChatKind::Group, id: id.into() }
    }
    pub fn private(channel: impl Into<String>, id: impl Into<String>) -> Self {
        ChatRef { channel: channel.into(), kind: ChatKind::Private, id: id.into() }
    }
    /// Per-chat key for ordering and rate limits.
    pub fn key(&self) -> String {
        format!("{}:{}", self.kind.as_str(), self.id)
    }
}

/// A person's account as a platform knows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UserRef {
    pub id: String,
    /// Best-effort display name (group card, nickname); never trusted for identity.
    pub display: Option<String>,
}

/// Media carried by a message. `url` is where the platform serves it, if anywhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaRef {
    pub name: Option<String>,
    pub url: Option<String>,
    /// The platform's own file id, for platforms that fetch by id.
    pub file_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Segment {
    Text {
        text: String,
    },
    /// Mention of a platform account; `name` renders it where mentions are unsupported.
    Mention {
        user_id: String,
        name: String,
    },
    MentionAll,
    /// Quote of an earlier message, by its platform id.
    Reply {
        message_id: String,
    },
    Image {
        media: MediaRef,
    },
    File {
        media: MediaRef,
    },
}

impl Segment {
    pub fn text(s: impl Into<String>) -> Self {
        Segment::Text { text: s.into() }
    }
}

/// Renders segments as plain text, the way a person would read them.
pub fn plain_text(segments: &[Segment]) -> String {
    let mut out = String::new();
    for s in segments {
        match s {
            Segment::Text { text } => out.push_str(text),
            Segment::Mention { name, .. } => {
                out.push('@');
                out.push_str(name);
            }
            Segment::MentionAll => out.push_str("@全体成员 "),
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

/// A message a channel received, normalised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboundMessage {
    pub chat: ChatRef,
    pub sender: UserRef,
    /// Unique within the channel instance; the deduplication key.
    pub platform_msg_id: String,
    pub segments: Vec<Segment>,
    /// Addressed to the bot: private chat, a mention of the bot, or a reply to the bot.
    pub to_me: bool,
    pub sent_at: DateTime<Utc>,
}

impl InboundMessage {
    pub fn text(&self) -> String {
        plain_text(&self.segments)
    }
    /// Text without mentions, which is what commands are parsed from.
    pub fn command_text(&self) -> String {
        let mut out = String::new();
        for s in &self.segments {
            if let Segment::Text { text } = s {
                out.push_str(text);
            }
        }
        out
    }
    pub fn reply_to(&self) -> Option<&str> {
        self.segments.iter().find_map(|s| match s {
            Segment::Reply { message_id } => Some(message_id.as_str()),
            _ => None,
        })
    }
    pub fn images(&self) -> impl Iterator<Item = &MediaRef> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Image { media } => Some(media),
            _ => None,
        })
    }
}

/// A file a message carries (an export, a bulletin): its name as the reader sees it, its MIME
/// type and its bytes. Shared, so handing it to a channel copies nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct Attachment {
    pub name: String,
    pub mime: String,
    pub bytes: std::sync::Arc<[u8]>,
    /// To be shown in the conversation as a picture (a chart), not offered as a file to
    /// download. Only channels with `Capabilities::can_send_images` get such attachments.
    pub inline: bool,
}

impl Attachment {
    /// The MIME type is guessed from the name's extension (`application/octet-stream` if unknown).
    pub fn new(name: impl Into<String>, bytes: impl Into<std::sync::Arc<[u8]>>) -> Self {
        let name = name.into();
        let mime = mime_guess::from_path(&name).first_or_octet_stream().essence_str().to_string();
        Attachment { name, mime, bytes: bytes.into(), inline: false }
    }

    /// A picture shown in the conversation (see [`Attachment::inline`]).
    pub fn image(name: impl Into<String>, bytes: impl Into<std::sync::Arc<[u8]>>) -> Self {
        Attachment { inline: true, ..Attachment::new(name, bytes) }
    }
}

impl std::fmt::Debug for Attachment {
    // The bytes would flood logs and test failures; their length is what helps.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attachment")
            .field("name", &self.name)
            .field("mime", &self.mime)
            .field("len", &self.bytes.len())
            .field("inline", &self.inline)
            .finish()
    }
}

/// A message to send to one chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundMessage {
    pub chat: ChatRef,
    pub segments: Vec<Segment>,
    /// A file to deliver instead of text (the outbox only hands one to channels whose
    /// capabilities say they can send files); `segments` then hold a `Segment::File` naming it.
    #[serde(skip)]
    pub attachment: Option<Attachment>,
}

impl OutboundMessage {
    pub fn text(chat: ChatRef, segments: Vec<Segment>) -> Self {
        OutboundMessage { chat, segments, attachment: None }
    }
}
