//! Applying a validated roster to the database (all-or-nothing, updating by stable codes), and
//! reading it back out for export.

use crate::db::{begin_write, ts, Db};
use crate::domain::role::{InspectorType, Role};
use crate::roster::{PersonRow, Roster, SchoolRow, ZoneLevel, ZoneRow};
use crate::store::audit::{self, AuditEntry};
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::Row;
use std::collections::HashMap;

/// The single county a roster describes.
const REGION_CODE: &str = "local";

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    pub zones: usize,
    pub schools: usize,
    pub people: usize,
    pub assignments: usize,
    pub accounts: usize,
    /// People and schools in the database but absent from this roster: marked inactive.
    pub deactivated: usize,
}

/// Writes the roster in one transaction. Records are matched by their codes, so re-importing
/// updates instead of duplicating; anything no longer listed is deactivated, never deleted.
pub async fn apply(db: &Db, roster: &Roster, via: &str, now: DateTime<Utc>) -> anyhow::Result<ImportSummary> {
    let mut tx = begin_write(db).await?;
    let mut sum = ImportSummary::default();
    let region_id: i64 = sqlx::query_scalar(
        "INSERT INTO regions (code, name, level) VALUES (?, '本县', 'county')
         ON CONFLICT (code) DO UPDATE SET name = regions.name RETURNING id",
    )
    .bind(REGION_CODE)
    .fetch_one(&mut *tx)
    .await?;

    let mut zone_ids: HashMap<&str, i64> = HashMap::new();
    for z in &roster.zones {
        let id: i64 = sqlx::query_scalar(
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
        let zone_id = zone_ids.get(s.zone_code.as_str()).copied();
        let id: i64 = sqlx::query_scalar(
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
        .bind(serde_json::to_string(&s.aliases)?)
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
        sqlx::query("UPDATE people SET phone = NULL WHERE code = ?").bind(&p.code).execute(&mut *tx).await?;
    }
    let mut person_ids: HashMap<&str, i64> = HashMap::new();
    for p in &roster.people {
        let id: i64 = sqlx::query_scalar(
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

        // Accounts listed in the roster bind without a code; a roster account moved to
        // another person follows the roster.
        for (platform, account) in [("qq", &p.qq), ("wecom", &p.wecom), ("telegram", &p.telegram)] {
            let Some(account) = account.as_deref().filter(|a| !a.is_empty()) else { continue };
            sqlx::query(
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
    }

    for z in &roster.zones {
        let leader = z.leader_code.as_deref().and_then(|c| person_ids.get(c)).copied();
        sqlx::query("UPDATE zones SET leader_id = ? WHERE code = ?")
            .bind(leader)
            .bind(&z.code)
            .execute(&mut *tx)
            .await?;
    }

    // Assignments are replaced wholesale for the schools in this roster.
    for s in &roster.schools {
        let sid = school_ids[s.code.as_str()];
        sqlx::query("DELETE FROM school_assignments WHERE school_id = ?").bind(sid).execute(&mut *tx).await?;
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
            sqlx::query(
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

    // Deactivate what the roster no longer lists.
    let listed_people: Vec<&str> = roster.people.iter().map(|p| p.code.as_str()).collect();
    for r in sqlx::query("SELECT id, code FROM people WHERE active = 1").fetch_all(&mut *tx).await? {
        if !listed_people.contains(&r.get::<&str, _>("code")) {
            sqlx::query("UPDATE people SET active = 0 WHERE id = ?")
                .bind(r.get::<i64, _>("id"))
                .execute(&mut *tx)
                .await?;
            sum.deactivated += 1;
        }
    }
    let listed_schools: Vec<&str> = roster.schools.iter().map(|s| s.code.as_str()).collect();
    for r in sqlx::query("SELECT id, code FROM schools WHERE active = 1").fetch_all(&mut *tx).await? {
        if !listed_schools.contains(&r.get::<&str, _>("code")) {
            sqlx::query("UPDATE schools SET active = 0 WHERE id = ?")
                .bind(r.get::<i64, _>("id"))
                .execute(&mut *tx)
                .await?;
            sum.deactivated += 1;
        }
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
                "assignments": sum.assignments, "deactivated": sum.deactivated
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(sum)
}

/// Reads the active roster back into the import format.
pub async fn export(db: &Db) -> anyhow::Result<Roster> {
    let mut conn = db.acquire().await?;
    let zones = sqlx::query(
        "SELECT z.code, z.name, z.level, p.code AS leader FROM zones z LEFT JOIN people p ON p.id = z.leader_id
         WHERE z.active = 1 ORDER BY z.code",
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
    for r in sqlx::query(
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
    let schools = sqlx::query(
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
    for r in sqlx::query("SELECT person_id, platform, account_id FROM chat_accounts WHERE source = 'roster'")
        .fetch_all(&mut *conn)
        .await?
    {
        accounts.entry(r.get("person_id")).or_default().insert(r.get("platform"), r.get("account_id"));
    }
    let people = sqlx::query(
        "SELECT p.id, p.code, p.name, p.role, p.title, p.inspector_type, z.code AS zone, s.code AS school, p.phone
         FROM people p LEFT JOIN zones z ON z.id = p.zone_id LEFT JOIN schools s ON s.id = p.school_id
         WHERE p.active = 1 ORDER BY p.code",
    )
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .enumerate()
    .filter_map(|(i, r)| {
        let acc = accounts.remove(&r.get::<i64, _>("id")).unwrap_or_default();
        Some(PersonRow {
            row: i + 2,
            code: r.get("code"),
            name: r.get("name"),
            role: Role::parse_db(r.get("role"))?,
            title: r.get("title"),
            inspector_type: r.get::<Option<&str>, _>("inspector_type").and_then(InspectorType::parse_db),
            zone_code: r.get("zone"),
            school_code: r.get("school"),
            phone: r.get("phone"),
            qq: acc.get("qq").cloned(),
            wecom: acc.get("wecom").cloned(),
            telegram: acc.get("telegram").cloned(),
        })
    })
    .collect();
    Ok(Roster { zones, schools, people })
}
