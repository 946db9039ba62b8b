//! Applying a validated roster to the database (all-or-nothing, updating by stable codes), and
//! reading it back out for export. The diff against the stored roster is computed here, inside
//! the import's transaction, from rows read under the write lock.

use crate::db::{begin_write, ts, Db};
use crate::domain::role::{InspectorType, Role};
use crate::roster::{PersonRow, Roster, SchoolRow, ZoneLevel, ZoneRow};
use crate::store::audit::{self, AuditEntry};
use crate::store::once::SubjectKind;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use std::collections::{BTreeSet, HashMap, HashSet};

/// The single county a roster describes.
const REGION_CODE: &str = "local";

/// The `roster_meta` key that marks the database as holding only the fictional sample county.
pub const SAMPLE_MARKER: &str = "sample_loaded";

/// How an import is carried out.
#[derive(Debug, Clone)]
pub struct ImportOptions<'a> {
    /// Channel name for the audit log ('cli', 'system').
    pub via: &'a str,
    pub now: DateTime<Utc>,
    /// Compute the diff and roll everything back (`roster import --check`).
    pub dry_run: bool,
    /// Accept deactivating more than `max_deactivate_share` of the active people.
    pub allow_deactivate: bool,
    pub max_deactivate_share: f64,
    /// This is the shipped sample county: mark the database so the first real import removes it.
    pub sample: bool,
}

impl<'a> ImportOptions<'a> {
    pub fn new(via: &'a str, now: DateTime<Utc>) -> Self {
        ImportOptions { via, now, dry_run: false, allow_deactivate: true, max_deactivate_share: 1.0, sample: false }
    }
}

/// A record named in the diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Named {
    /// 人员, 学校 or 责任区.
    pub kind: &'static str,
    pub code: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Changed {
    pub what: Named,
    /// Labels of the fields that changed (姓名, 手机 …).
    pub fields: Vec<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnboundAccount {
    pub platform: String,
    pub account: String,
    pub person: Named,
    /// 'roster' or 'code'.
    pub source: String,
}

/// What an import changes, for review before (`--check`) and after.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct RosterDiff {
    pub added: Vec<Named>,
    pub changed: Vec<Changed>,
    /// People and schools no longer listed (marked inactive, never deleted).
    pub deactivated: Vec<Named>,
    pub accounts_unbound: Vec<UnboundAccount>,
    pub zones_retired: Vec<Named>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    pub zones: usize,
    pub schools: usize,
    pub people: usize,
    pub assignments: usize,
    pub accounts: usize,
    /// People and schools in the database but absent from this roster: marked inactive.
    pub deactivated: usize,
    pub diff: RosterDiff,
    /// People of the sample county removed before this (first real) import.
    pub sample_people_removed: usize,
    /// Active people before the import (sample excluded) and how many it deactivates.
    pub active_people_before: usize,
    pub people_deactivated: usize,
    /// The deactivation share is above the limit (only reported on a dry run; a real import
    /// is refused instead).
    pub needs_allow_deactivate: bool,
    pub dry_run: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(
        "此次导入将停用 {would} 名在册人员（共 {active} 名，超过上限 {limit_pct}%），已拒绝，未写入任何数据。\
         如确属人员调整，请核对后加上 --allow-deactivate 重新导入。\n\
         This import would deactivate {would} of {active} active people (more than {limit_pct}%); refused, nothing written. \
         Re-run with --allow-deactivate if that is intended."
    )]
    TooManyDeactivated { would: usize, active: usize, limit_pct: String },
    #[error("database: {0}")]
    Db(#[from] crate::sql::Error),
    #[error("encoding: {0}")]
    Json(#[from] serde_json::Error),
}

fn share_exceeded(would: usize, active: usize, limit: f64) -> bool {
    active > 0 && (would as f64) > limit * active as f64
}

/// Writes the roster in one transaction. Records are matched by their codes, so re-importing
/// updates instead of duplicating; anything no longer listed is deactivated, never deleted.
pub async fn apply(db: &Db, roster: &Roster, via: &str, now: DateTime<Utc>) -> anyhow::Result<ImportSummary> {
    Ok(apply_with(db, roster, &ImportOptions::new(via, now)).await?)
}

/// Removes the sample county whole: every person, school and zone, and what hangs off them
/// (accounts, binding codes, assignments, groups registered for sample zones or schools,
/// reports, tasks …), found through the schema's foreign keys so tables added later are
/// covered too. A row that needs a sample record (NOT NULL reference) goes; an optional
/// reference is cleared (the audit log and stored inbound messages keep their rows, so ids
/// are never reused). The demo's delivery queue is emptied: its rows are addressed to sample
/// people and groups. Only called while the sample marker is present, i.e. when every person,
/// school and zone in the database came from the sample.
///
/// The trial's weekly rounds go too (their members were sample people, and a leftover round
/// would block the office's own round of the same week). The once-ledger (`store::once`) has no
/// foreign keys to follow, so the events of every round, theme and item are forgotten here:
/// they were sent to sample people, and a real round or item that reuses a deleted id must not
/// find its reminders "already sent". Themes themselves stay (office-wide, often from the
/// calendar); their reminders then reach the real inspectors. The trial's 督导通报 corrections
/// and publications go as well.
async fn purge_sample(conn: &mut crate::store::Conn) -> Result<usize, crate::sql::Error> {
    // Checked at commit, so the order of deletions does not matter.
    crate::sql::query("PRAGMA defer_foreign_keys = ON").execute(&mut *conn).await?;
    let people: i64 = crate::sql::query_scalar("SELECT COUNT(*) FROM people").fetch_one(&mut *conn).await?;
    let tables: Vec<String> = crate::sql::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%'",
    )
    .fetch_all(&mut *conn)
    .await?;
    // (child, column, parent, parent column, column is NOT NULL)
    let mut edges: Vec<(String, String, String, String, bool)> = Vec::new();
    for t in &tables {
        let rows = crate::sql::query(
            "SELECT f.\"table\", f.\"from\", f.\"to\", COALESCE(c.\"notnull\", 0)
               FROM pragma_foreign_key_list(?1) f LEFT JOIN pragma_table_info(?1) c ON c.name = f.\"from\"",
        )
        .bind(t)
        .fetch_all(&mut *conn)
        .await?;
        for r in rows {
            let to: Option<String> = r.get(2);
            edges.push((t.clone(), r.get(1), r.get(0), to.unwrap_or_else(|| "rowid".into()), r.get::<i64, _>(3) != 0));
        }
    }
    crate::sql::query("DELETE FROM outbox").execute(&mut *conn).await?;
    // A group registered for a sample zone or school cannot exist without it.
    crate::sql::query("DELETE FROM chat_groups WHERE zone_id IS NOT NULL OR school_id IS NOT NULL")
        .execute(&mut *conn)
        .await?;
    crate::sql::query("UPDATE zones SET leader_id = NULL").execute(&mut *conn).await?;
    for t in ["people", "schools", "zones", "weekly_rounds"] {
        crate::sql::query(&format!("DELETE FROM {t}")).execute(&mut *conn).await?;
    }
    for kind in [SubjectKind::WeeklyRound, SubjectKind::Theme, SubjectKind::RectifyItem] {
        crate::store::once::forget_kind(&mut *conn, kind).await?;
    }
    // Until no dangling reference is left (a deleted task orphans its assignments, and so on).
    loop {
        let mut changed = 0;
        for (child, from, parent, to, not_null) in &edges {
            let orphan = format!(
                "\"{from}\" IS NOT NULL AND \"{from}\" NOT IN (SELECT \"{to}\" FROM \"{parent}\" WHERE \"{to}\" IS NOT NULL)"
            );
            let sql = if *not_null {
                format!("DELETE FROM \"{child}\" WHERE {orphan}")
            } else {
                format!("UPDATE \"{child}\" SET \"{from}\" = NULL WHERE {orphan}")
            };
            changed += crate::sql::query(&sql).execute(&mut *conn).await?.rows_affected();
        }
        if changed == 0 {
            break;
        }
    }
    crate::sql::query("DELETE FROM unbound_hints").execute(&mut *conn).await?;
    // The trial's bulletins were about the sample county: a publication left behind would make
    // the office's own first `通报 发布` of that month answer "already published" and shift its
    // issue numbers; corrections would land in the office's drafts.
    for t in ["bulletin_overrides", "bulletin_publications"] {
        crate::sql::query(&format!("DELETE FROM {t}")).execute(&mut *conn).await?;
    }
    crate::sql::query("DELETE FROM roster_meta WHERE key = ?").bind(SAMPLE_MARKER).execute(&mut *conn).await?;
    Ok(people as usize)
}

pub async fn sample_loaded(conn: &mut crate::store::Conn) -> Result<bool, crate::sql::Error> {
    let n: i64 = crate::sql::query_scalar("SELECT COUNT(*) FROM roster_meta WHERE key = ?")
        .bind(SAMPLE_MARKER)
        .fetch_one(conn)
        .await?;
    Ok(n > 0)
}

struct OldPerson {
    id: i64,
    name: String,
    role: String,
    title: Option<String>,
    inspector_type: Option<String>,
    zone: Option<String>,
    schools: BTreeSet<String>,
    phone: Option<String>,
    accounts: BTreeSet<(String, String)>,
    active: bool,
}

fn person_named(code: &str, name: &str) -> Named {
    Named { kind: "人员", code: code.to_string(), name: name.to_string() }
}

/// Imports with review: computes the diff, enforces the deactivation limit, and commits only
/// when that passes and this is not a dry run. All or nothing.
pub async fn apply_with(db: &Db, roster: &Roster, opts: &ImportOptions<'_>) -> Result<ImportSummary, ImportError> {
    let now = opts.now;
    let via = opts.via;
    let mut tx = begin_write(db).await?;
    let mut sum = ImportSummary { dry_run: opts.dry_run, ..Default::default() };
    if !opts.sample && sample_loaded(&mut tx).await? {
        sum.sample_people_removed = purge_sample(&mut tx).await?;
    }
    let region_id: i64 = crate::sql::query_scalar(
        "INSERT INTO regions (code, name, level) VALUES (?, '本县', 'county')
         ON CONFLICT (code) DO UPDATE SET name = regions.name RETURNING id",
    )
    .bind(REGION_CODE)
    .fetch_one(&mut *tx)
    .await?;

    // The database as it was, for the diff.
    let mut old_zones: HashMap<String, (String, String, bool)> = HashMap::new();
    for r in crate::sql::query("SELECT code, name, level, active FROM zones").fetch_all(&mut *tx).await? {
        old_zones.insert(r.get("code"), (r.get("name"), r.get("level"), r.get("active")));
    }
    type OldSchool = (String, Option<String>, String, Option<String>, String, bool, bool, bool, bool);
    let mut old_schools: HashMap<String, OldSchool> = HashMap::new();
    for r in crate::sql::query(
        "SELECT s.code, s.name, s.short_name, s.aliases, z.code AS zone, s.stage, s.private, s.city_direct, s.boarding, s.active
         FROM schools s LEFT JOIN zones z ON z.id = s.zone_id",
    )
    .fetch_all(&mut *tx)
    .await?
    {
        old_schools.insert(
            r.get("code"),
            (
                r.get("name"),
                r.get("short_name"),
                r.get("aliases"),
                r.get("zone"),
                r.get("stage"),
                r.get("private"),
                r.get("city_direct"),
                r.get("boarding"),
                r.get("active"),
            ),
        );
    }
    let mut old_people: HashMap<String, OldPerson> = HashMap::new();
    for r in crate::sql::query(
        "SELECT p.id, p.code, p.name, p.role, p.title, p.inspector_type, z.code AS zone, p.phone, p.active
         FROM people p LEFT JOIN zones z ON z.id = p.zone_id",
    )
    .fetch_all(&mut *tx)
    .await?
    {
        old_people.insert(
            r.get("code"),
            OldPerson {
                id: r.get("id"),
                name: r.get("name"),
                role: r.get("role"),
                title: r.get("title"),
                inspector_type: r.get("inspector_type"),
                zone: r.get("zone"),
                schools: BTreeSet::new(),
                phone: r.get("phone"),
                accounts: BTreeSet::new(),
                active: r.get("active"),
            },
        );
    }
    let by_id: HashMap<i64, String> = old_people.iter().map(|(c, p)| (p.id, c.clone())).collect();
    for r in crate::sql::query("SELECT c.person_id, s.code FROM school_contacts c JOIN schools s ON s.id = c.school_id")
        .fetch_all(&mut *tx)
        .await?
    {
        if let Some(p) = by_id.get(&r.get::<i64, _>(0)).and_then(|c| old_people.get_mut(c)) {
            p.schools.insert(r.get(1));
        }
    }
    for r in crate::sql::query("SELECT person_id, platform, account_id FROM chat_accounts WHERE source = 'roster'")
        .fetch_all(&mut *tx)
        .await?
    {
        if let Some(p) = by_id.get(&r.get::<i64, _>(0)).and_then(|c| old_people.get_mut(c)) {
            p.accounts.insert((r.get(1), r.get(2)));
        }
    }
    sum.active_people_before = old_people.values().filter(|p| p.active).count();

    // Names are unique; a record no longer listed gives up its name to a listed one with a
    // new code (an office correcting codes), instead of failing the import.
    for z in &roster.zones {
        crate::sql::query("UPDATE zones SET name = name || '（已撤销 ' || code || '）' WHERE name = ? AND code <> ?")
            .bind(&z.name)
            .bind(&z.code)
            .execute(&mut *tx)
            .await?;
    }
    for s in &roster.schools {
        crate::sql::query("UPDATE schools SET name = name || '（已停用 ' || code || '）' WHERE name = ? AND code <> ?")
            .bind(&s.name)
            .bind(&s.code)
            .execute(&mut *tx)
            .await?;
    }

    let mut zone_ids: HashMap<&str, i64> = HashMap::new();
    for z in &roster.zones {
        let named = Named { kind: "责任区", code: z.code.clone(), name: z.name.clone() };
        match old_zones.get(&z.code) {
            None => sum.diff.added.push(named),
            Some((name, level, active)) => {
                let mut fields = Vec::new();
                if *name != z.name {
                    fields.push("名称");
                }
                if level != z.level.as_str() {
                    fields.push("级别");
                }
                if !active {
                    fields.push("重新启用");
                }
                if !fields.is_empty() {
                    sum.diff.changed.push(Changed { what: named, fields });
                }
            }
        }
        let id: i64 = crate::sql::query_scalar(
            "INSERT INTO zones (region_id, code, name, level, active) VALUES (?, ?, ?, ?, 1)
             ON CONFLICT (code) DO UPDATE SET name = excluded.name, level = excluded.level, active = 1 RETURNING id",
        )
        .bind(region_id)
        .bind(&z.code)
        .bind(&z.name)
        .bind(z.level.as_str())
        .fetch_one(&mut *tx)
        .await?;
        zone_ids.insert(z.code.as_str(), id);
        sum.zones += 1;
    }

    let mut school_ids: HashMap<&str, i64> = HashMap::new();
    for s in &roster.schools {
        let aliases = serde_json::to_string(&s.aliases)?;
        let named = Named { kind: "学校", code: s.code.clone(), name: s.name.clone() };
        match old_schools.get(&s.code) {
            None => sum.diff.added.push(named),
            Some((name, short, old_aliases, zone, stage, private, city_direct, boarding, active)) => {
                let mut fields = Vec::new();
                for (differs, label) in [
                    (*name != s.name, "学校名称"),
                    (*short != s.short_name, "简称"),
                    (*old_aliases != aliases, "别名"),
                    (zone.as_deref() != Some(s.zone_code.as_str()), "责任区"),
                    (*stage != s.stage, "学段"),
                    (*private != s.private, "办学性质"),
                    (*city_direct != s.city_direct, "市直"),
                    (*boarding != s.boarding, "寄宿"),
                    (!active, "重新启用"),
                ] {
                    if differs {
                        fields.push(label);
                    }
                }
                if !fields.is_empty() {
                    sum.diff.changed.push(Changed { what: named, fields });
                }
            }
        }
        let zone_id = zone_ids.get(s.zone_code.as_str()).copied();
        let id: i64 = crate::sql::query_scalar(
            "INSERT INTO schools (region_id, zone_id, code, name, short_name, aliases, stage, private, city_direct, boarding, active)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)
             ON CONFLICT (code) DO UPDATE SET zone_id = excluded.zone_id, name = excluded.name,
                 short_name = excluded.short_name, aliases = excluded.aliases, stage = excluded.stage,
                 private = excluded.private, city_direct = excluded.city_direct, boarding = excluded.boarding, active = 1
             RETURNING id",
        )
        .bind(region_id)
        .bind(zone_id)
        .bind(&s.code)
        .bind(&s.name)
        .bind(&s.short_name)
        .bind(&aliases)
        .bind(&s.stage)
        .bind(s.private)
        .bind(s.city_direct)
        .bind(s.boarding)
        .fetch_one(&mut *tx)
        .await?;
        school_ids.insert(s.code.as_str(), id);
        sum.schools += 1;
    }

    // Phones are unique; clear the phones of people being re-imported first so two people can
    // swap numbers within one import.
    for p in &roster.people {
        crate::sql::query("UPDATE people SET phone = NULL WHERE code = ?").bind(&p.code).execute(&mut *tx).await?;
    }
    let mut person_ids: HashMap<&str, i64> = HashMap::new();
    // Each listed person's roster accounts, to unbind the ones no longer listed afterwards.
    let mut listed_accounts: HashMap<i64, HashSet<(&str, &str)>> = HashMap::new();
    for p in &roster.people {
        let accounts: Vec<(&str, &str)> = [("qq", &p.qq), ("wecom", &p.wecom), ("telegram", &p.telegram)]
            .into_iter()
            .filter_map(|(pl, a)| a.as_deref().filter(|a| !a.is_empty()).map(|a| (pl, a)))
            .collect();
        let schools: BTreeSet<String> = p.school_code.iter().chain(&p.other_school_codes).cloned().collect();
        let named = person_named(&p.code, &p.name);
        match old_people.get(&p.code) {
            None => sum.diff.added.push(named),
            Some(o) => {
                let new_accounts: BTreeSet<(String, String)> =
                    accounts.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
                let mut fields = Vec::new();
                for (differs, label) in [
                    (o.name != p.name, "姓名"),
                    (o.role != p.role.as_str(), "角色"),
                    (o.title != p.title, "职务"),
                    (o.inspector_type.as_deref() != p.inspector_type.map(InspectorType::as_str), "督学类型"),
                    (o.zone != p.zone_code, "责任区"),
                    (o.schools != schools, "学校"),
                    (o.phone != p.phone, "手机"),
                    (o.accounts != new_accounts, "聊天账号"),
                    (!o.active, "重新启用"),
                ] {
                    if differs {
                        fields.push(label);
                    }
                }
                if !fields.is_empty() {
                    sum.diff.changed.push(Changed { what: named, fields });
                }
            }
        }
        let id: i64 = crate::sql::query_scalar(
            "INSERT INTO people (code, name, role, title, inspector_type, zone_id, school_id, phone, active)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)
             ON CONFLICT (code) DO UPDATE SET name = excluded.name, role = excluded.role, title = excluded.title,
                 inspector_type = excluded.inspector_type, zone_id = excluded.zone_id, school_id = excluded.school_id,
                 phone = excluded.phone, active = 1
             RETURNING id",
        )
        .bind(&p.code)
        .bind(&p.name)
        .bind(p.role.as_str())
        .bind(&p.title)
        .bind(p.inspector_type.map(InspectorType::as_str))
        .bind(p.zone_code.as_deref().and_then(|z| zone_ids.get(z)).copied())
        .bind(p.school_code.as_deref().and_then(|s| school_ids.get(s)).copied())
        .bind(&p.phone)
        .fetch_one(&mut *tx)
        .await?;
        person_ids.insert(p.code.as_str(), id);
        sum.people += 1;

        // Every school the contact serves, the primary included.
        crate::sql::query("DELETE FROM school_contacts WHERE person_id = ?").bind(id).execute(&mut *tx).await?;
        if p.role == Role::SchoolContact {
            for code in &schools {
                let Some(sid) = school_ids.get(code.as_str()) else { continue };
                crate::sql::query("INSERT OR IGNORE INTO school_contacts (person_id, school_id) VALUES (?, ?)")
                    .bind(id)
                    .bind(sid)
                    .execute(&mut *tx)
                    .await?;
            }
        }

        // Accounts listed in the roster bind without a code; a roster account moved to
        // another person follows the roster.
        for (platform, account) in &accounts {
            crate::sql::query(
                "INSERT INTO chat_accounts (platform, account_id, person_id, source, bound_at) VALUES (?, ?, ?, 'roster', ?)
                 ON CONFLICT (platform, account_id) DO UPDATE SET person_id = excluded.person_id",
            )
            .bind(platform)
            .bind(account)
            .bind(id)
            .bind(ts(now))
            .execute(&mut *tx)
            .await?;
            sum.accounts += 1;
        }
        listed_accounts.insert(id, accounts.into_iter().collect());
    }

    // Roster-sourced accounts a listed person no longer has are unbound (a changed QQ loses
    // the old number's access); accounts bound by code stay.
    for p in &roster.people {
        let id = person_ids[p.code.as_str()];
        let rows = crate::sql::query(
            "SELECT platform, account_id FROM chat_accounts WHERE person_id = ? AND source = 'roster' ORDER BY platform, account_id",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        for r in rows {
            let (platform, account): (String, String) = (r.get(0), r.get(1));
            if listed_accounts.get(&id).is_some_and(|l| l.contains(&(platform.as_str(), account.as_str()))) {
                continue;
            }
            crate::sql::query("DELETE FROM chat_accounts WHERE platform = ? AND account_id = ?")
                .bind(&platform)
                .bind(&account)
                .execute(&mut *tx)
                .await?;
            sum.diff.accounts_unbound.push(UnboundAccount {
                platform,
                account,
                person: person_named(&p.code, &p.name),
                source: "roster".into(),
            });
        }
    }

    for z in &roster.zones {
        let leader = z.leader_code.as_deref().and_then(|c| person_ids.get(c)).copied();
        crate::sql::query("UPDATE zones SET leader_id = ? WHERE code = ?")
            .bind(leader)
            .bind(&z.code)
            .execute(&mut *tx)
            .await?;
    }

    // Assignments are replaced wholesale for the schools in this roster.
    for s in &roster.schools {
        let sid = school_ids[s.code.as_str()];
        crate::sql::query("DELETE FROM school_assignments WHERE school_id = ?").bind(sid).execute(&mut *tx).await?;
        let mut rows: Vec<(&str, &str, bool)> = Vec::new();
        if let Some(p) = &s.primary_inspector {
            rows.push((p, "primary", false));
        }
        for p in &s.secondary_inspectors {
            rows.push((p, "secondary", false));
        }
        for p in &s.recused_inspectors {
            rows.push((p, "secondary", true));
        }
        for (code, role, conflict) in rows {
            let Some(pid) = person_ids.get(code) else { continue };
            crate::sql::query(
                "INSERT INTO school_assignments (school_id, person_id, role, conflict_of_interest) VALUES (?, ?, ?, ?)
                 ON CONFLICT (school_id, person_id) DO UPDATE SET conflict_of_interest = MAX(conflict_of_interest, excluded.conflict_of_interest)",
            )
            .bind(sid)
            .bind(pid)
            .bind(role)
            .bind(conflict)
            .execute(&mut *tx)
            .await?;
            sum.assignments += 1;
        }
    }

    // Deactivate what the roster no longer lists. A deactivated person loses every chat
    // account, however it was bound.
    let listed_people: HashSet<&str> = roster.people.iter().map(|p| p.code.as_str()).collect();
    for r in crate::sql::query("SELECT id, code, name FROM people WHERE active = 1 ORDER BY code")
        .fetch_all(&mut *tx)
        .await?
    {
        let (id, code, name): (i64, String, String) = (r.get(0), r.get(1), r.get(2));
        if listed_people.contains(code.as_str()) {
            continue;
        }
        crate::sql::query("UPDATE people SET active = 0 WHERE id = ?").bind(id).execute(&mut *tx).await?;
        let accounts = crate::sql::query(
            "SELECT platform, account_id, source FROM chat_accounts WHERE person_id = ? ORDER BY platform, account_id",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        crate::sql::query("DELETE FROM chat_accounts WHERE person_id = ?").bind(id).execute(&mut *tx).await?;
        for a in accounts {
            sum.diff.accounts_unbound.push(UnboundAccount {
                platform: a.get(0),
                account: a.get(1),
                person: person_named(&code, &name),
                source: a.get(2),
            });
        }
        sum.diff.deactivated.push(person_named(&code, &name));
        sum.people_deactivated += 1;
        sum.deactivated += 1;
    }
    let listed_schools: HashSet<&str> = roster.schools.iter().map(|s| s.code.as_str()).collect();
    for r in crate::sql::query("SELECT id, code, name FROM schools WHERE active = 1 ORDER BY code")
        .fetch_all(&mut *tx)
        .await?
    {
        let (id, code, name): (i64, String, String) = (r.get(0), r.get(1), r.get(2));
        if !listed_schools.contains(code.as_str()) {
            crate::sql::query("UPDATE schools SET active = 0 WHERE id = ?").bind(id).execute(&mut *tx).await?;
            sum.diff.deactivated.push(Named { kind: "学校", code, name });
            sum.deactivated += 1;
        }
    }
    let listed_zones: HashSet<&str> = roster.zones.iter().map(|z| z.code.as_str()).collect();
    for r in
        crate::sql::query("SELECT id, code, name FROM zones WHERE active = 1 ORDER BY code").fetch_all(&mut *tx).await?
    {
        let (id, code, name): (i64, String, String) = (r.get(0), r.get(1), r.get(2));
        if !listed_zones.contains(code.as_str()) {
            crate::sql::query("UPDATE zones SET active = 0 WHERE id = ?").bind(id).execute(&mut *tx).await?;
            sum.diff.zones_retired.push(Named { kind: "责任区", code, name });
        }
    }

    let too_many = share_exceeded(sum.people_deactivated, sum.active_people_before, opts.max_deactivate_share);
    if opts.dry_run {
        sum.needs_allow_deactivate = too_many && !opts.allow_deactivate;
        tx.rollback().await?;
        return Ok(sum);
    }
    if too_many && !opts.allow_deactivate {
        tx.rollback().await?;
        return Err(ImportError::TooManyDeactivated {
            would: sum.people_deactivated,
            active: sum.active_people_before,
            limit_pct: format!("{}", (opts.max_deactivate_share * 100.0).round()),
        });
    }

    if sum.sample_people_removed > 0 {
        audit::record(
            &mut tx,
            now,
            AuditEntry {
                actor_id: None,
                via,
                entity: "roster",
                entity_id: None,
                action: "sample_removed",
                detail: json!({ "people": sum.sample_people_removed }),
            },
        )
        .await?;
    }
    for u in &sum.diff.accounts_unbound {
        audit::record(
            &mut tx,
            now,
            AuditEntry {
                actor_id: None,
                via,
                entity: "chat_account",
                entity_id: Some(format!("{}:{}", u.platform, u.account)),
                action: "unbound",
                detail: json!({ "person": u.person.code, "source": u.source, "reason": "roster_import" }),
            },
        )
        .await?;
    }
    for d in &sum.diff.deactivated {
        audit::record(
            &mut tx,
            now,
            AuditEntry {
                actor_id: None,
                via,
                entity: if d.kind == "学校" { "school" } else { "person" },
                entity_id: Some(d.code.clone()),
                action: "deactivated",
                detail: json!({ "reason": "roster_import" }),
            },
        )
        .await?;
    }
    for z in &sum.diff.zones_retired {
        audit::record(
            &mut tx,
            now,
            AuditEntry {
                actor_id: None,
                via,
                entity: "zone",
                entity_id: Some(z.code.clone()),
                action: "retired",
                detail: json!({ "reason": "roster_import" }),
            },
        )
        .await?;
    }
    audit::record(
        &mut tx,
        now,
        AuditEntry {
            actor_id: None,
            via,
            entity: "roster",
            entity_id: None,
            action: "imported",
            detail: json!({
                "zones": sum.zones, "schools": sum.schools, "people": sum.people,
                "assignments": sum.assignments, "deactivated": sum.deactivated,
                "sample": opts.sample, "diff": &sum.diff,
            }),
        },
    )
    .await?;
    if opts.sample {
        crate::sql::query(
            "INSERT INTO roster_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(SAMPLE_MARKER)
        .bind(ts(now))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(sum)
}

/// Reads the active roster back into the import format.
pub async fn export(db: &Db) -> anyhow::Result<Roster> {
    let mut conn = db.acquire().await?;
    let zones = crate::sql::query(
        // Active zones, plus any retired zone an active school or inspector still names, so the
        // file always re-imports. A leader no longer active is left out.
        "SELECT z.code, z.name, z.level, p.code AS leader FROM zones z LEFT JOIN people p ON p.id = z.leader_id AND p.active = 1
         WHERE z.active = 1 OR z.id IN (SELECT zone_id FROM schools WHERE active = 1)
            OR z.id IN (SELECT zone_id FROM people WHERE active = 1 AND zone_id IS NOT NULL)
         ORDER BY z.code",
    )
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .enumerate()
    .map(|(i, r)| ZoneRow {
        row: i + 2,
        code: r.get("code"),
        name: r.get("name"),
        level: if r.get::<&str, _>("level") == "city" { ZoneLevel::City } else { ZoneLevel::County },
        leader_code: r.get("leader"),
    })
    .collect();
    let mut assignments: HashMap<i64, Vec<(String, String, bool)>> = HashMap::new();
    for r in crate::sql::query(
        "SELECT a.school_id, p.code, a.role, a.conflict_of_interest FROM school_assignments a JOIN people p ON p.id = a.person_id
         WHERE p.active = 1 ORDER BY p.code",
    )
    .fetch_all(&mut *conn)
    .await?
    {
        assignments.entry(r.get("school_id")).or_default().push((
            r.get("code"),
            r.get("role"),
            r.get::<bool, _>("conflict_of_interest"),
        ));
    }
    let schools = crate::sql::query(
        "SELECT s.id, s.code, s.name, s.short_name, s.aliases, z.code AS zone, s.stage, s.private, s.city_direct, s.boarding
         FROM schools s JOIN zones z ON z.id = s.zone_id WHERE s.active = 1 ORDER BY s.code",
    )
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .enumerate()
    .map(|(i, r)| {
        let a = assignments.remove(&r.get::<i64, _>("id")).unwrap_or_default();
        SchoolRow {
            row: i + 2,
            code: r.get("code"),
            name: r.get("name"),
            short_name: r.get("short_name"),
            aliases: serde_json::from_str(r.get::<&str, _>("aliases")).unwrap_or_default(),
            zone_code: r.get("zone"),
            stage: r.get("stage"),
            private: r.get("private"),
            city_direct: r.get("city_direct"),
            boarding: r.get("boarding"),
            primary_inspector: a.iter().find(|(_, role, c)| role == "primary" && !c).map(|(p, _, _)| p.clone()),
            secondary_inspectors: a.iter().filter(|(_, role, c)| role == "secondary" && !c).map(|(p, _, _)| p.clone()).collect(),
            recused_inspectors: a.iter().filter(|(_, _, c)| *c).map(|(p, _, _)| p.clone()).collect(),
        }
    })
    .collect();
    let mut accounts: HashMap<i64, HashMap<String, String>> = HashMap::new();
    for r in crate::sql::query("SELECT person_id, platform, account_id FROM chat_accounts WHERE source = 'roster'")
        .fetch_all(&mut *conn)
        .await?
    {
        accounts.entry(r.get("person_id")).or_default().insert(r.get("platform"), r.get("account_id"));
    }
    // A contact's schools: the primary first, then the others, active ones only.
    let mut contact_schools: HashMap<i64, Vec<String>> = HashMap::new();
    for r in crate::sql::query(
        "SELECT c.person_id, s.code FROM school_contacts c JOIN schools s ON s.id = c.school_id
         JOIN people p ON p.id = c.person_id WHERE s.active = 1
         ORDER BY c.person_id, (s.id = p.school_id) DESC, s.code",
    )
    .fetch_all(&mut *conn)
    .await?
    {
        contact_schools.entry(r.get(0)).or_default().push(r.get(1));
    }
    let people = crate::sql::query(
        "SELECT p.id, p.code, p.name, p.role, p.title, p.inspector_type, z.code AS zone, p.phone
         FROM people p LEFT JOIN zones z ON z.id = p.zone_id
         WHERE p.active = 1 ORDER BY p.code",
    )
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .enumerate()
    .filter_map(|(i, r)| {
        let acc = accounts.remove(&r.get::<i64, _>("id")).unwrap_or_default();
        let role = Role::parse_db(r.get("role"))?;
        let mut schools = contact_schools.remove(&r.get::<i64, _>("id")).unwrap_or_default().into_iter();
        let (school_code, other_school_codes) =
            if role == Role::SchoolContact { (schools.next(), schools.collect()) } else { (None, Vec::new()) };
        Some(PersonRow {
            row: i + 2,
            code: r.get("code"),
            name: r.get("name"),
            role,
            title: r.get("title"),
            inspector_type: r.get::<Option<&str>, _>("inspector_type").and_then(InspectorType::parse_db),
            zone_code: r.get("zone"),
            school_code,
            other_school_codes,
            phone: r.get("phone"),
            qq: acc.get("qq").cloned(),
            wecom: acc.get("wecom").cloned(),
            telegram: acc.get("telegram").cloned(),
        })
    })
    .collect();
    Ok(Roster { zones, schools, people })
}
