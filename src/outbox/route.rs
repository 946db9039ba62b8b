//! Routing: which channel and chat reach a recipient, given what each channel can do.

use crate::chat::{Capabilities, ChatRef, MentionSupport, Segment};
use crate::domain::group::GroupPurpose;
use crate::domain::role::Role;
use crate::store::Conn;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    /// A specific chat (a group, or a private chat already known).
    Chat(ChatRef),
    /// A roster person: privately where a channel can push to them, else by mention in one of
    /// their groups.
    Person(i64),
}

#[derive(Debug, Clone)]
pub struct ChannelInfo {
    pub name: String,
    pub platform: &'static str,
    pub caps: Capabilities,
}

/// The channels this service runs, in configuration order (earlier ones are preferred).
#[derive(Debug, Clone, Default)]
pub struct Directory(Arc<Vec<ChannelInfo>>);

impl Directory {
    pub fn new(channels: Vec<ChannelInfo>) -> Self {
        Directory(Arc::new(channels))
    }
    pub fn from_channels(channels: &[Arc<dyn crate::chat::Channel>]) -> Self {
        Directory::new(
            channels
                .iter()
                .map(|c| ChannelInfo {
                    name: c.name().to_string(),
                    platform: c.platform(),
                    caps: c.capabilities().clone(),
                })
                .collect(),
        )
    }
    pub fn get(&self, name: &str) -> Option<&ChannelInfo> {
        self.0.iter().find(|c| c.name == name)
    }
    pub fn iter(&self) -> impl Iterator<Item = &ChannelInfo> {
        self.0.iter()
    }
    pub fn platform_of(&self, channel: &str) -> Option<&'static str> {
        self.get(channel).map(|c| c.platform)
    }
}

/// Resolves a recipient to a chat, plus segments to put first (a mention when reaching a
/// person through a group). `None`: nothing can deliver it now.
pub async fn resolve(
    conn: &mut Conn,
    dir: &Directory,
    to: &Recipient,
    prompted: bool,
) -> crate::sql::Result<Option<(ChatRef, Vec<Segment>)>> {
    match to {
        Recipient::Chat(chat) => {
            let Some(info) = dir.get(&chat.channel) else { return Ok(None) };
            let reachable = (prompted || info.caps.can_push)
                && (chat.kind == crate::chat::ChatKind::Group || info.caps.can_send_private);
            Ok(reachable.then(|| (chat.clone(), Vec::new())))
        }
        Recipient::Person(pid) => resolve_person(conn, dir, *pid).await,
    }
}

async fn resolve_person(
    conn: &mut Conn,
    dir: &Directory,
    pid: i64,
) -> crate::sql::Result<Option<(ChatRef, Vec<Segment>)>> {
    let accounts = crate::store::people::accounts_of(conn, pid).await?;
    for ch in dir.iter().filter(|c| c.caps.can_push && c.caps.can_send_private) {
        if let Some((_, acc)) = accounts.iter().find(|(p, _)| p == ch.platform) {
            return Ok(Some((ChatRef::private(ch.name.clone(), acc.clone()), Vec::new())));
        }
    }
    // No private route: mention them in one of their groups.
    let Some(p) = crate::store::people::route_info(conn, pid).await? else {
        return Ok(None);
    };
    let crate::store::people::RouteInfo { name, role, phone, zone_id: zone, school_id: school, school_zone } = p;
    let candidates: Vec<(GroupPurpose, Option<i64>, Option<i64>)> = match role {
        Some(Role::Inspector) => {
            vec![(GroupPurpose::ZoneInspectors, zone, None), (GroupPurpose::CountyInspectors, None, None)]
        }
        Some(Role::SchoolContact) => {
            vec![(GroupPurpose::School, None, school), (GroupPurpose::ZoneSchools, school_zone, None)]
        }
        Some(Role::Admin | Role::Supervisor) => vec![(GroupPurpose::Supervisors, None, None)],
        None => Vec::new(),
    };
    for (purpose, z, s) in candidates {
        if purpose.needs_zone() && z.is_none() || purpose.needs_school() && s.is_none() {
            continue;
        }
        for g in crate::store::groups::with_purpose(conn, purpose, z, s).await? {
            let Some(ch) = dir.get(&g.channel).filter(|c| c.caps.can_push) else { continue };
            let mention_id = match ch.caps.mention {
                MentionSupport::ById => accounts.iter().find(|(pl, _)| pl == ch.platform).map(|(_, a)| a.clone()),
                MentionSupport::ByMobile => phone.clone(),
                MentionSupport::ByIdOrMobile => {
                    accounts.iter().find(|(pl, _)| pl == ch.platform).map(|(_, a)| a.clone()).or_else(|| {
                        phone.as_ref().map(|p| format!("{}{p}", crate::chat::channel::MOBILE_MENTION_PREFIX))
                    })
                }
                MentionSupport::None => None,
            };
            let prefix = match mention_id {
                Some(user_id) => vec![Segment::Mention { user_id, name: name.clone() }, Segment::text(" ")],
                None => vec![Segment::text(format!("@{name} "))],
            };
            return Ok(Some((g.chat(), prefix)));
        }
    }
    Ok(None)
}
