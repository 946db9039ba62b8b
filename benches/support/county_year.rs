//! A county-year of generated activity, shared by the export and province benchmarks: visits
//! with their problems and indicator scores, a weekly round every week, rectification items with
//! their events (closures, reopenings, cancellations), evidence and escalations, and tasks.
//! Rows are written straight into the tables, as the workflows would have left them.

use std::collections::HashMap;

use chrono::{Duration as Days, NaiveDate, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;
use dudao::db::{self, ts, Db};
use dudao::domain::stats::Period;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Noon (Shanghai) of a local day, as stored.
fn at(d: NaiveDate, hour: u32) -> String {
    ts(Shanghai.from_local_datetime(&d.and_hms_opt(hour, 0, 0).unwrap()).unwrap().with_timezone(&Utc))
}

fn day(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

const METHODS: [&str; 6] =
    ["lesson_observation", "document_review", "meeting", "discussion", "questionnaire", "campus_walk"];
const KINDS: [&str; 6] = ["routine", "special", "comprehensive", "unannounced", "recheck", "complaint"];
const SEVERITIES: [&str; 4] = ["minor", "general", "serious", "complex"];
const SOURCES: [&str; 4] = ["visit", "self_check", "complaint", "direct"];
const PROBLEMS: [&str; 6] = [
    "消防通道堆放杂物",
    "食堂留样记录不全",
    "课表未按规定开齐体育课",
    "作业公示制度未落实",
    "校门口护栏破损",
    "教师培训档案缺失",
];

pub struct County {
    /// (id, zone)
    pub inspectors: Vec<(i64, Option<i64>)>,
    /// school → its inspectors
    pub schools: Vec<(i64, Vec<i64>)>,
    pub supervisor: i64,
}

/// The active roster as the generator needs it.
pub async fn county(db: &Db) -> County {
    let inspectors: Vec<(i64, Option<i64>)> =
        dudao::sql::query_as("SELECT id, zone_id FROM people WHERE role = 'inspector' AND active = 1 ORDER BY id")
            .fetch_all(db)
            .await
            .unwrap();
    let schools: Vec<(i64,)> =
        dudao::sql::query_as("SELECT id FROM schools WHERE active = 1 ORDER BY id").fetch_all(db).await.unwrap();
    let assigned: Vec<(i64, i64)> =
        dudao::sql::query_as("SELECT school_id, person_id FROM school_assignments").fetch_all(db).await.unwrap();
    let mut by_school: HashMap<i64, Vec<i64>> = HashMap::new();
    for (s, p) in assigned {
        by_school.entry(s).or_default().push(p);
    }
    let supervisor: i64 =
        dudao::sql::query_scalar("SELECT id FROM people WHERE role IN ('supervisor', 'admin') ORDER BY id LIMIT 1")
            .fetch_one(db)
            .await
            .unwrap();
    County {
        inspectors,
        schools: schools.into_iter().map(|(s,)| (s, by_school.remove(&s).unwrap_or_default())).collect(),
        supervisor,
    }
}

/// Generates the year into the database; returns what was made, for the report.
pub async fn generate(db: &Db, c: &County, year: i32, items: u64, seed: u64) -> Vec<(&'static str, u64)> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut tx = db::begin_write(db).await.unwrap();
    let first = NaiveDate::from_ymd_opt(year, 1, 1).unwrap();
    let last = NaiveDate::from_ymd_opt(year, 12, 31).unwrap();
    let mut counts: Vec<(&'static str, u64)> = Vec::new();

    // Visits: 3–6 a month per inspector to their schools, with problems and some scores.
    let mine: HashMap<i64, Vec<i64>> = c.inspectors.iter().map(|(p, _)| (*p, Vec::new())).collect();
    let mut mine = mine;
    for (s, ps) in &c.schools {
        for p in ps {
            mine.entry(*p).or_default().push(*s);
        }
    }
    let (mut visits, mut problems) = (0u64, 0u64);
    for month in 1..=12u32 {
        let m = Period::month(year, month).unwrap();
        for (p, _) in &c.inspectors {
            let schools = &mine[p];
            for _ in 0..rng.random_range(3..=6) {
                let school = if schools.is_empty() {
                    c.schools[rng.random_range(0..c.schools.len())].0
                } else {
                    schools[rng.random_range(0..schools.len())]
                };
                let date = m.from + Days::days(rng.random_range(0..=(m.to - m.from).num_days()));
                let mut methods = vec![(METHODS[rng.random_range(1..6)], 1)];
                if rng.random_bool(0.6) {
                    methods.insert(0, ("lesson_observation", rng.random_range(1..=4)));
                }
                let parsed =
                    serde_json::json!({ "methods": methods, "narrative": "听取学校汇报，查看校园，与师生座谈。" });
                let id = dudao::sql::query(
                    "INSERT INTO visits (person_id, school_id, visit_date, kind, themed, status, parsed, created_at, updated_at)
                     VALUES (?, ?, ?, ?, ?, 'submitted', ?, ?, ?)",
                )
                .bind(p)
                .bind(school)
                .bind(day(date))
                .bind(KINDS[rng.random_range(0..KINDS.len())])
                .bind(rng.random_bool(0.3))
                .bind(parsed.to_string())
                .bind(at(date, 16))
                .bind(at(date, 16))
                .execute(&mut *tx)
                .await
                .unwrap()
                .last_insert_rowid();
                visits += 1;
                for _ in 0..rng.random_range(0..=2) {
                    dudao::sql::query(
                        "INSERT INTO visit_problems (visit_id, school_id, person_id, description, category, status, created_at)
                         VALUES (?, ?, ?, ?, ?, 'taken', ?)",
                    )
                    .bind(id)
                    .bind(school)
                    .bind(p)
                    .bind(PROBLEMS[rng.random_range(0..PROBLEMS.len())])
                    .bind(rng.random_range(1..=9i64))
                    .bind(at(date, 16))
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                    problems += 1;
                }
                if rng.random_bool(0.3) {
                    for (i, r) in ["met", "basically_met", "not_met"].iter().enumerate() {
                        dudao::sql::query(
                            "INSERT INTO visit_indicator_scores (visit_id, indicator, indicator_no, result) VALUES (?, ?, ?, ?)",
                        )
                        .bind(id)
                        .bind(format!("{}", i + 1))
                        .bind(i as i64 + 1)
                        .bind(r)
                        .execute(&mut *tx)
                        .await
                        .unwrap();
                    }
                }
            }
        }
    }
    counts.push(("visits", visits));
    counts.push(("visit problems", problems));

    // A weekly round every ISO week of the year: 5 % on leave, 85 % of the others report, a
    // tenth of them late.
    let mut members = 0u64;
    for week in Period::year(year).unwrap().weeks() {
        let label = dudao::domain::weekly::week_label(week.from);
        let thu = week.from + Days::days(3);
        let round = dudao::sql::query(
            "INSERT INTO weekly_rounds (week, scope, opened_at, deadline_at, closed_at) VALUES (?, 'private', ?, ?, ?)",
        )
        .bind(&label)
        .bind(at(thu, 16))
        .bind(at(week.to, 12))
        .bind(at(week.to + Days::days(1), 9))
        .execute(&mut *tx)
        .await
        .unwrap()
        .last_insert_rowid();
        for (p, _) in &c.inspectors {
            let leave = rng.random_bool(0.05);
            dudao::sql::query("INSERT INTO weekly_members (round_id, person_id, excluded) VALUES (?, ?, ?)")
                .bind(round)
                .bind(p)
                .bind(leave.then_some("leave"))
                .execute(&mut *tx)
                .await
                .unwrap();
            members += 1;
            if !leave && rng.random_bool(0.85) {
                let late = rng.random_bool(0.1);
                dudao::sql::query(
                    "INSERT INTO weekly_reports (round_id, person_id, first_at, updated_at, late, parsed)
                     VALUES (?, ?, ?, ?, ?, '{}')",
                )
                .bind(round)
                .bind(p)
                .bind(at(thu, 17))
                .bind(at(thu, 17))
                .bind(late)
                .execute(&mut *tx)
                .await
                .unwrap();
            }
        }
    }
    counts.push(("weekly member-weeks", members));

    // Rectification items: created through the year, notified, most closed (some late), some
    // reopened by 回头看 and closed again, some cancelled, the rest open; evidence on closures;
    // escalations on the overdue.
    let mut events = 0u64;
    let mut evidence = 0u64;
    for _ in 0..items {
        let school = c.schools[rng.random_range(0..c.schools.len())].0;
        let created = first + Days::days(rng.random_range(0..355));
        let deadline = created + Days::days(rng.random_range(3..=30));
        let mut ev: Vec<(NaiveDate, &str, &str, &str)> =
            vec![(created, "created", "identified", "notified"), (created, "notified", "notified", "acknowledged")];
        let roll: f64 = rng.random();
        let mut status = "in_progress";
        let mut closed: Option<NaiveDate> = None;
        if roll < 0.03 {
            let d = created + Days::days(rng.random_range(1..10));
            if d <= last {
                ev.push((d, "cancelled", "notified", "cancelled"));
                status = "cancelled";
            }
        } else if roll < 0.88 {
            let d = created + Days::days(rng.random_range(1..45));
            if d <= last {
                ev.push((d, "submitted", "in_progress", "submitted"));
                ev.push((d, "closed", "verifying", "closed"));
                status = "closed";
                closed = Some(d);
                if rng.random_bool(0.05) {
                    let r = d + Days::days(rng.random_range(10..40));
                    if r <= last {
                        ev.push((r, "reopened", "closed", "in_progress"));
                        status = "in_progress";
                        closed = None;
                        let again = r + Days::days(rng.random_range(3..20));
                        if again <= last {
                            ev.push((again, "closed", "verifying", "closed"));
                            status = "closed";
                            closed = Some(again);
                        }
                    }
                }
            }
        }
        let updated = ev.last().map(|e| e.0).unwrap_or(created);
        let item = dudao::sql::query(
            "INSERT INTO rectify_items (school_id, category, severity, source, description, deadline, status,
                                        relapses, created_at, closed_at, closed_late, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(school)
        .bind(rng.random_range(1..=9i64))
        .bind(SEVERITIES[rng.random_range(0..4)])
        .bind(SOURCES[rng.random_range(0..4)])
        .bind(PROBLEMS[rng.random_range(0..PROBLEMS.len())])
        .bind(day(deadline))
        .bind(status)
        .bind(ev.iter().filter(|e| e.1 == "reopened").count() as i64)
        .bind(at(created, 10))
        .bind(closed.map(|d| at(d, 15)))
        .bind(closed.map(|d| d > deadline))
        .bind(at(updated, 15))
        .execute(&mut *tx)
        .await
        .unwrap()
        .last_insert_rowid();
        for (d, action, from, to) in &ev {
            let e = dudao::sql::query(
                "INSERT INTO rectify_events (item_id, action, from_status, to_status, deadline, at, local_date)
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(item)
            .bind(action)
            .bind(from)
            .bind(to)
            .bind(day(deadline))
            .bind(at(*d, 15))
            .bind(day(*d))
            .execute(&mut *tx)
            .await
            .unwrap()
            .last_insert_rowid();
            events += 1;
            if *action == "submitted" && rng.random_bool(0.7) {
                dudao::sql::query(
                    "INSERT INTO rectify_evidence (item_id, event_id, url, status, sha256, size, path, created_at, fetched_at)
                     VALUES (?, ?, 'https://example.invalid/p.jpg', 'stored', ?, 120000, ?, ?, ?)",
                )
                .bind(item)
                .bind(e)
                .bind(format!("{item:08x}"))
                .bind(format!("{:02x}/{item:08x}.jpg", item % 256))
                .bind(at(*d, 15))
                .bind(at(*d, 16))
                .execute(&mut *tx)
                .await
                .unwrap();
                evidence += 1;
            }
        }
        let end = closed.unwrap_or(last);
        for (level, after) in [(1, 1), (2, 7), (3, 30)] {
            let d = deadline + Days::days(after);
            if d < end && status != "cancelled" {
                dudao::sql::query(
                    "INSERT INTO once_events (subject_kind, subject_id, event, at) VALUES ('rectify_item', ?, ?, ?)",
                )
                .bind(item)
                .bind(format!("L{level}"))
                .bind(at(d, 9))
                .execute(&mut *tx)
                .await
                .unwrap();
            }
        }
    }
    counts.push(("rectification items", items));
    counts.push(("rectification events", events));
    counts.push(("evidence", evidence));

    // Tasks: 4 a month, each to 8 inspectors.
    let mut assignments = 0u64;
    for month in 1..=12u32 {
        for k in 0..4 {
            let d = NaiveDate::from_ymd_opt(year, month, 3 + 7 * k).unwrap();
            let task = dudao::sql::query(
                "INSERT INTO tasks (title, deadline_at, status, created_by, created_at) VALUES (?, ?, ?, ?, ?)",
            )
            .bind(format!("{month}月第{}项督办：安全隐患排查", k + 1))
            .bind(at(d + Days::days(10), 17))
            .bind(if month < 12 { "closed" } else { "open" })
            .bind(c.supervisor)
            .bind(at(d, 9))
            .execute(&mut *tx)
            .await
            .unwrap()
            .last_insert_rowid();
            for _ in 0..8 {
                let (p, _) = c.inspectors[rng.random_range(0..c.inspectors.len())];
                let state = ["assigned", "acknowledged", "submitted", "approved", "approved"][rng.random_range(0..5)];
                let r = dudao::sql::query(
                    "INSERT INTO task_assignments (task_id, person_id, state, assigned_at, acknowledged_at, updated_at)
                     SELECT ?, ?, ?, ?, ?, ? WHERE NOT EXISTS
                       (SELECT 1 FROM task_assignments WHERE task_id = ? AND person_id = ?)",
                )
                .bind(task)
                .bind(p)
                .bind(state)
                .bind(at(d, 9))
                .bind((state != "assigned").then(|| at(d, 11)))
                .bind(at(d, 11))
                .bind(task)
                .bind(p)
                .execute(&mut *tx)
                .await
                .unwrap();
                assignments += r.rows_affected();
            }
        }
    }
    counts.push(("task assignments", assignments));
    tx.commit().await.unwrap();
    counts
}
