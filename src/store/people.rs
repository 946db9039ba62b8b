//! Looking people and schools up: identity resolution for chat accounts, and name matching.

use super::Conn;
use crate::domain::actor::Actor;
use crate::domain::role::Role;
use crate::domain::text::normalize_key;

#[derive(Debug, Clone)]
pub struct PersonBrief {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub role: Role,
    pub title: Option<String>,
    pub phone: Option<String>,
}

fn brief(r: &crate::sql::Row) -> Option<PersonBrief> {
    Some(PersonBrief {
        id: r.get("id"),
        code: r.get("code"),
        name: r.get("name"),
        role: Role::parse_db(r.get::<&str, _>("role"))?,
        title: r.get("title"),
        phone: r.get("phone"),
    })
}

/// The active person bound to a chat account, with their scope.
pub async fn actor_for_account(conn: &mut Conn, platform: &str, account: &str) -> crate::sql::Result<Option<Actor>> {
    let pid: Option<i64> = crate::sql::query_scalar(
        "SELECT p.id FROM chat_accounts a JOIN people p ON p.id = a.person_id
         WHERE a.platform = ? AND a.account_id = ? AND p.active = 1",
    )
    .bind(platform)
    .bind(account)
    .fetch_optional(&mut *conn)
    .await?;
    match pid {
        Some(id) => actor(conn, id).await,
        None => Ok(None),
    }
}

pub async fn actor(conn: &mut Conn, person_id: i64) -> crate::sql::Result<Option<Actor>> {
    let Some(r) =
        crate::sql::query("SELECT id, code, name, role, zone_id, school_id FROM people WHERE id = ? AND active = 1")
            .bind(person_id)
            .fetch_optional(&mut *conn)
            .await?
    else {
        return Ok(None);
    };
    let Some(role) = Role::parse_db(r.get::<&str, _>("role")) else { return Ok(None) };
    let rows = crate::sql::query("SELECT school_id, conflict_of_interest FROM school_assignments WHERE person_id = ?")
        .bind(person_id)
        .fetch_all(&mut *conn)
        .await?;
    // Every active school a contact serves, the primary first.
    let contact_schools: Vec<i64> = crate::sql::query_scalar(
        "SELECT c.school_id FROM school_contacts c JOIN schools s ON s.id = c.school_id JOIN people p ON p.id = c.person_id
         WHERE c.person_id = ? AND s.active = 1 ORDER BY (c.school_id = p.school_id) DESC, s.code",
    )
    .bind(person_id)
    .fetch_all(&mut *conn)
    .await?;
    let (mut schools, mut recused) = (Vec::new(), Vec::new());
    for a in rows {
        let sid: i64 = a.get(0);
        if a.get::<i64, _>(1) != 0 {
            recused.push(sid);
        } else {
            schools.push(sid);
        }
    }
    Ok(Some(Actor {
        person_id,
        code: r.get("code"),
        name: r.get("name"),
        role,
        zone_id: r.get("zone_id"),
        school_id: r.get("school_id"),
        contact_schools,
        schools,
        recused,
    }))
}

/// Finds active people by roster code or by name, both compared by
/// [`normalize_key`] ("王芳" finds "王　芳", "d001" finds "Ｄ001"). Several people may share a name.
pub async fn find_people(conn: &mut Conn, query: &str) -> crate::sql::Result<Vec<PersonBrief>> {
    let k = normalize_key(query);
    if k.is_empty() {
        return Ok(Vec::new());
    }
    // Rows whose keys are not computed yet (NULL) are compared in Rust.
    let rows = crate::sql::query(
        "SELECT id, code, name, role, title, phone FROM people
         WHERE active = 1 AND (code_key = ?1 OR name_key = ?1 OR code_key IS NULL OR name_key IS NULL)
         ORDER BY code",
    )
    .bind(&k)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .iter()
        .filter(|r| normalize_key(r.get::<&str, _>("code")) == k || normalize_key(r.get::<&str, _>("name")) == k)
        .filter_map(brief)
        .collect())
}

#[derive(Debug, Clone)]
pub struct SchoolRow {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub short_name: Option<String>,
    pub aliases: Vec<String>,
    pub zone_id: i64,
    pub zone_name: String,
    pub stage: String,
}

impl SchoolRow {
    /// What report and visit texts are matched against.
    pub fn match_ref(&self) -> crate::domain::school_match::SchoolRef {
        crate::domain::school_match::SchoolRef {
            id: self.id,
            name: self.name.clone(),
            short_name: self.short_name.clone(),
            aliases: self.aliases.clone(),
        }
    }
}

fn school_row(r: &crate::sql::Row) -> SchoolRow {
    SchoolRow {
        id: r.get("id"),
        code: r.get("code"),
        name: r.get("name"),
        short_name: r.get("short_name"),
        aliases: serde_json::from_str(r.get::<&str, _>("aliases")).unwrap_or_default(),
        zone_id: r.get("zone_id"),
        zone_name: r.get("zone_name"),
        stage: r.get("stage"),
    }
}

const SCHOOL_SELECT: &str =
    "SELECT s.id, s.code, s.name, s.short_name, s.aliases, s.zone_id, z.name AS zone_name, s.stage
     FROM schools s JOIN zones z ON z.id = s.zone_id WHERE s.active = 1";

pub async fn all_schools(conn: &mut Conn) -> crate::sql::Result<Vec<SchoolRow>> {
    let rows = crate::sql::query(&format!("{SCHOOL_SELECT} ORDER BY s.code")).fetch_all(conn).await?;
    Ok(rows.iter().map(school_row).collect())
}

pub async fn school_by_id(conn: &mut Conn, id: i64) -> crate::sql::Result<Option<SchoolRow>> {
    let r = crate::sql::query(&format!("{SCHOOL_SELECT} AND s.id = ?")).bind(id).fetch_optional(conn).await?;
    Ok(r.as_ref().map(school_row))
}

/// Finds schools whose code, name, short name or an alias equals `query`, falling back to
/// names containing it; all compared by [`normalize_key`]. Callers decide what to do with
/// several matches.
pub async fn find_schools(conn: &mut Conn, query: &str) -> crate::sql::Result<Vec<SchoolRow>> {
    let q = normalize_key(query);
    if q.is_empty() {
        return Ok(Vec::new());
    }
    let all = all_schools(conn).await?;
    let exact: Vec<SchoolRow> = all
        .iter()
        .filter(|s| {
            normalize_key(&s.code) == q
                || normalize_key(&s.name) == q
                || s.short_name.as_deref().is_some_and(|n| normalize_key(n) == q)
                || s.aliases.iter().any(|a| normalize_key(a) == q)
        })
        .cloned()
        .collect();
    if !exact.is_empty() {
        return Ok(exact);
    }
    Ok(all.into_iter().filter(|s| normalize_key(&s.name).contains(&q)).collect())
}

/// The one active school whose name is clearly the closest to a misspelt `query`, among
/// those `visible` lets through (so a suggestion never reveals a school the asker may not see).
pub async fn suggest_school(
    conn: &mut Conn,
    query: &str,
    visible: impl Fn(&SchoolRow) -> bool,
) -> crate::sql::Result<Option<String>> {
    let all = all_schools(conn).await?;
    let names: Vec<&str> = all.iter().filter(|s| visible(s)).map(|s| s.name.as_str()).collect();
    Ok(crate::domain::text::closest_name(query, &names).map(str::to_string))
}

#[derive(Debug, Clone)]
pub struct ZoneRow {
    pub id: i64,
    pub code: String,
    pub name: String,
}

/// The active zone with this code or name (compared by [`normalize_key`]), or the one zone
/// whose name contains it. An ambiguous partial name matches nothing rather than the wrong zone.
pub async fn find_zone(conn: &mut Conn, query: &str) -> crate::sql::Result<Option<ZoneRow>> {
    let q = normalize_key(query);
    if q.is_empty() {
        return Ok(None);
    }
    let zones: Vec<(i64, String, String)> =
        crate::sql::query_as("SELECT id, code, name FROM zones WHERE active = 1 ORDER BY code").fetch_all(conn).await?;
    let row = |(id, code, name): &(i64, String, String)| ZoneRow { id: *id, code: code.clone(), name: name.clone() };
    if let Some(z) = zones.iter().find(|(_, code, _)| normalize_key(code) == q) {
        return Ok(Some(row(z)));
    }
    if let Some(z) = zones.iter().find(|(_, _, name)| normalize_key(name) == q) {
        return Ok(Some(row(z)));
    }
    let partial: Vec<_> = zones.iter().filter(|(_, _, name)| normalize_key(name).contains(&q)).collect();
    Ok(match partial.as_slice() {
        [one] => Some(row(one)),
        _ => None,
    })
}

pub async fn zone_name(conn: &mut Conn, id: i64) -> crate::sql::Result<Option<String>> {
    crate::sql::query_scalar("SELECT name FROM zones WHERE id = ?").bind(id).fetch_optional(conn).await
}

/// People at a school: its inspectors (with assignment role) and contacts.
pub async fn school_people(conn: &mut Conn, school_id: i64) -> crate::sql::Result<Vec<(PersonBrief, String)>> {
    let rows = crate::sql::query(
        "SELECT p.id, p.code, p.name, p.role, p.title, p.phone,
                CASE WHEN a.conflict_of_interest = 1 THEN 'recused' ELSE a.role END AS relation
           FROM school_assignments a JOIN people p ON p.id = a.person_id
          WHERE a.school_id = ? AND p.active = 1
         UNION ALL
         SELECT p.id, p.code, p.name, p.role, p.title, p.phone, 'contact' AS relation
           FROM school_contacts c JOIN people p ON p.id = c.person_id WHERE c.school_id = ? AND p.active = 1
         ORDER BY relation, code",
    )
    .bind(school_id)
    .bind(school_id)
    .fetch_all(conn)
    .await?;
    Ok(rows.iter().filter_map(|r| Some((brief(r)?, r.get::<String, _>("relation")))).collect())
}

pub async fn person_count(conn: &mut Conn) -> crate::sql::Result<i64> {
    crate::sql::query_scalar("SELECT COUNT(*) FROM people").fetch_one(conn).await
}

/// A person's chat accounts as (platform, account_id), oldest binding first.
pub async fn accounts_of(conn: &mut Conn, person_id: i64) -> crate::sql::Result<Vec<(String, String)>> {
    Ok(crate::sql::query("SELECT platform, account_id FROM chat_accounts WHERE person_id = ? ORDER BY bound_at")
        .bind(person_id)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| (r.get("platform"), r.get("account_id")))
        .collect())
}

/// What routing a message to a person needs to know about them (active or not).
#[derive(Debug, Clone)]
pub struct RouteInfo {
    pub name: String,
    /// None when the stored role is not one we know.
    pub role: Option<Role>,
    pub phone: Option<String>,
    pub zone_id: Option<i64>,
    pub school_id: Option<i64>,
    /// The zone of the person's school.
    pub school_zone: Option<i64>,
}

pub async fn route_info(conn: &mut Conn, person_id: i64) -> crate::sql::Result<Option<RouteInfo>> {
    let Some(p) = crate::sql::query(
        "SELECT p.name, p.role, p.phone, p.zone_id, p.school_id, s.zone_id AS school_zone
         FROM people p LEFT JOIN schools s ON s.id = p.school_id WHERE p.id = ?",
    )
    .bind(person_id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    Ok(Some(RouteInfo {
        name: p.get("name"),
        role: Role::parse_db(p.get::<&str, _>("role")),
        phone: p.get("phone"),
        zone_id: p.get("zone_id"),
        school_id: p.get("school_id"),
        school_zone: p.get("school_zone"),
    }))
}

/// Active people with no chat account bound: (id, code, name), by code.
pub async fn active_without_account(conn: &mut Conn) -> crate::sql::Result<Vec<(i64, String, String)>> {
    crate::sql::query_as(
        "SELECT id, code, name FROM people p WHERE active = 1
                     AND NOT EXISTS (SELECT 1 FROM chat_accounts a WHERE a.person_id = p.id) ORDER BY code",
    )
    .fetch_all(&mut *conn)
    .await
}

/// Up to two active inspectors as (name, code), by code (for usage examples).
pub async fn first_inspectors(conn: &mut Conn) -> crate::sql::Result<Vec<(String, String)>> {
    crate::sql::query_as("SELECT name, code FROM people WHERE role = 'inspector' AND active = 1 ORDER BY code LIMIT 2")
        .fetch_all(&mut *conn)
        .await
}

/// The first active zone as (name, code), by code (for usage examples).
pub async fn first_zone(conn: &mut Conn) -> crate::sql::Result<Option<(String, String)>> {
    crate::sql::query_as("SELECT name, code FROM zones WHERE active = 1 ORDER BY code LIMIT 1")
        .fetch_optional(&mut *conn)
        .await
}

/// The first active school as (name, short_name), by code (for usage examples).
pub async fn first_school(conn: &mut Conn) -> crate::sql::Result<Option<(String, Option<String>)>> {
    crate::sql::query_as("SELECT name, short_name FROM schools WHERE active = 1 ORDER BY code LIMIT 1")
        .fetch_optional(&mut *conn)
        .await
}

/// Active supervisors and admins, by code.
pub async fn supervisor_ids(conn: &mut Conn) -> crate::sql::Result<Vec<i64>> {
    crate::sql::query_scalar("SELECT id FROM people WHERE role IN ('supervisor', 'admin') AND active = 1 ORDER BY code")
        .fetch_all(&mut *conn)
        .await
}

/// Active admins who have a chat account bound, by code.
pub async fn reachable_admin_ids(conn: &mut Conn) -> crate::sql::Result<Vec<i64>> {
    crate::sql::query_scalar(
        "SELECT p.id FROM people p WHERE p.role = 'admin' AND p.active = 1
             AND EXISTS (SELECT 1 FROM chat_accounts a WHERE a.person_id = p.id) ORDER BY p.code",
    )
    .fetch_all(&mut *conn)
    .await
}

/// A person's account on one platform, if any.
pub async fn account_on(conn: &mut Conn, person_id: i64, platform: &str) -> crate::sql::Result<Option<String>> {
    crate::sql::query_scalar("SELECT account_id FROM chat_accounts WHERE person_id = ? AND platform = ? LIMIT 1")
        .bind(person_id)
        .bind(platform)
        .fetch_optional(&mut *conn)
        .await
}

/// Active inspectors, by code: (id, name, zone_id, inspector_type).
pub async fn active_inspectors(conn: &mut Conn) -> crate::sql::Result<Vec<(i64, String, Option<i64>, Option<String>)>> {
    crate::sql::query_as(
        "SELECT id, name, zone_id, inspector_type FROM people WHERE role = 'inspector' AND active = 1 ORDER BY code",
    )
    .fetch_all(&mut *conn)
    .await
}

/// Ids of the active inspectors, by code.
pub async fn active_inspector_ids(conn: &mut Conn) -> crate::sql::Result<Vec<i64>> {
    crate::sql::query_scalar("SELECT id FROM people WHERE role = 'inspector' AND active = 1 ORDER BY code")
        .fetch_all(&mut *conn)
        .await
}

/// The inspector type of a person ('invited' …), if set.
pub async fn inspector_type(conn: &mut Conn, person_id: i64) -> crate::sql::Result<Option<String>> {
    Ok(crate::sql::query_scalar::<Option<String>>("SELECT inspector_type FROM people WHERE id = ?")
        .bind(person_id)
        .fetch_optional(&mut *conn)
        .await?
        .flatten())
}

/// Active zones, by code: (id, name).
pub async fn active_zones(conn: &mut Conn) -> crate::sql::Result<Vec<(i64, String)>> {
    crate::sql::query_as("SELECT id, name FROM zones WHERE active = 1 ORDER BY code").fetch_all(&mut *conn).await
}

/// Active schools, by code: (id, name, short_name, zone_id, city_direct).
pub async fn active_schools(conn: &mut Conn) -> crate::sql::Result<Vec<(i64, String, Option<String>, i64, bool)>> {
    crate::sql::query_as(
        "SELECT id, name, short_name, zone_id, city_direct FROM schools WHERE active = 1 ORDER BY code",
    )
    .fetch_all(&mut *conn)
    .await
}

/// Active schools of a zone, by code: (id, short name or name).
pub async fn zone_school_names(conn: &mut Conn, zone_id: i64) -> crate::sql::Result<Vec<(i64, String)>> {
    crate::sql::query_as(
        "SELECT id, COALESCE(short_name, name) FROM schools WHERE active = 1 AND zone_id = ? ORDER BY code",
    )
    .bind(zone_id)
    .fetch_all(&mut *conn)
    .await
}

/// The directory's change counter: bumped by triggers on every write to the roster, bindings
/// and groups (migration `directory_version`), from any process.
pub async fn directory_version(conn: &mut Conn) -> crate::sql::Result<i64> {
    crate::sql::query_scalar("SELECT version FROM directory_version WHERE id = 1").fetch_one(conn).await
}
