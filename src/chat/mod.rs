//! Chat: the platform-neutral model, the channel interface, text splitting and the adapters.

pub mod channel;
pub mod console;
pub mod dingtalk;
pub mod feishu;
pub mod model;
pub mod onebot;
pub mod registry;
pub mod split;
pub mod telegram;
pub mod token;
pub mod webhook;
pub mod wecom;

pub use channel::{
    Capabilities, Channel, ChannelContext, ChannelHealth, HealthCell, HealthState, InboundSink, MediaError,
    MediaSource, MentionSupport, Rate, SendError, SendReceipt,
};
pub use model::{
    plain_text, Attachment, ChatKind, ChatRef, InboundMessage, MediaRef, OutboundMessage, Segment, UserRef,
};
