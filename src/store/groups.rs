//! Chat groups and their registered purpose.

use super::Conn;
use crate::chat::ChatRef;
use crate::db::ts;
use crate::domain::group::GroupPurpose;
use chrono::{DateTime, Utc};

#[derive(Debug, Clone)]
pub struct Group {
    pub id: i64,
    pub platform: String,
    pub external_id: String,
    pub channel: String,
    pub name: Option<String>,
    pub purpose: Option<GroupPurpose>,
    pub zone_id: Option<i64>,
    pub school_id: Option<i64>,
}

impl Group {
    pub fn chat(&self) -> ChatRef {
        ChatRef::group(self.channel.clone(), self.external_id.clone())
    }
}

fn row(r: &crate::sql::Row) -> Group {
    Group {
        id: r.get("id"),
        platform: r.get("platform"),
        external_id: r.get("external_id"),
        channel: r.get("channel"),
        name: r.get("name"),
        purpose: r.get::<Option<&str>, _>("purpose").and_then(GroupPurpose::parse),
        zone_id: r.get("zone_id"),
        school_id: r.get("school_id"),
    }
}

const SELECT: &str = "SELECT id, platform, external_id, channel, name, purpose, zone_id, school_id FROM chat_groups";

pub async fn get(conn: &mut Conn, platform: &str, external_id: &str) -> crate::sql::Result<Option<Group>> {
    let r = crate::sql::query(&format!("{SELECT} WHERE platform = ? AND external_id = ?"))
        .bind(platform)
        .bind(external_id)
        .fetch_optional(conn)
        .await?;
    Ok(r.as_ref().map(row))
}

/// Notes that a group exists (first message seen), keeping the channel that reaches it current.
pub async fn touch(conn: &mut Conn, platform: &str, chat: &ChatRef) -> crate::sql::Result<()> {
    crate::sql::query(
        "INSERT INTO chat_groups (platform, external_id, channel) VALUES (?, ?, ?)
         ON CONFLICT (platform, external_id) DO UPDATE SET channel = excluded.channel
         WHERE chat_groups.channel <> excluded.channel",
    )
    .bind(platform)
    .bind(&chat.id)
    .bind(&chat.channel)
    .execute(conn)
    .await?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub async fn register(
    conn: &mut Conn,
    platform: &str,
    chat: &ChatRef,
    name: Option<&str>,
    purpose: GroupPurpose,
    zone_id: Option<i64>,
    school_id: Option<i64>,
    by: Option<i64>,
    now: DateTime<Utc>,
) -> crate::sql::Result<()> {
    crate::sql::query(
        "INSERT INTO chat_groups (platform, external_id, channel, name, purpose, zone_id, school_id, registered_by, registered_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (platform, external_id) DO UPDATE SET channel = excluded.channel,
             name = COALESCE(excluded.name, chat_groups.name), purpose = excluded.purpose, zone_id = excluded.zone_id,
             school_id = excluded.school_id, registered_by = excluded.registered_by, registered_at = excluded.registered_at",
    )
    .bind(platform)
    .bind(&chat.id)
    .bind(&chat.channel)
    .bind(name)
    .bind(purpose.as_str())
    .bind(zone_id)
    .bind(school_id)
    .bind(by)
    .bind(ts(now))
    .execute(conn)
    .await?;
    Ok(())
}

/// Registered groups with a purpose, optionally limited to one zone or school.
pub async fn with_purpose(
    conn: &mut Conn,
    purpose: GroupPurpose,
    zone_id: Option<i64>,
    school_id: Option<i64>,
) -> crate::sql::Result<Vec<Group>> {
    let rows = crate::sql::query(&format!(
        "{SELECT} WHERE purpose = ? AND (? IS NULL OR zone_id = ?) AND (? IS NULL OR school_id = ?) ORDER BY id"
    ))
    .bind(purpose.as_str())
    .bind(zone_id)
    .bind(zone_id)
    .bind(school_id)
    .bind(school_id)
    .fetch_all(conn)
    .await?;
    Ok(rows.iter().map(row).collect())
}

/// (platform, external_id) of a group by id.
pub async fn key_of(conn: &mut Conn, id: i64) -> crate::sql::Result<Option<(String, String)>> {
    let r = crate::sql::query("SELECT platform, external_id FROM chat_groups WHERE id = ?")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(r.map(|r| (r.get("platform"), r.get("external_id"))))
}
