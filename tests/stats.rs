//! Statistics over a November driven through chat: visits, problems, a task and a weekly round
//! on the sample roster, with the real service, SQLite and a manual clock; the rows are loaded
//! by `store::stats` and the figures checked against what happened.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use chrono_tz::Asia::Shanghai;
use common::scenario::CONFIG;
use common::{shanghai, Harness};
use dudao::clock::ManualClock;
use dudao::domain::rectify::Severity;
use dudao::domain::report_parse::VisitMethod;
use dudao::domain::stats::{self, Period, Scope};
use dudao::domain::visit_parse::VisitKind;

fn day(m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, m, d).unwrap()
}

async fn id_of(h: &Harness, sql: &str, key: &str) -> i64 {
    dudao::sql::query_scalar(sql).bind(key).fetch_one(h.db()).await.unwrap()
}

async fn person(h: &Harness, code: &str) -> i64 {
    id_of(h, "SELECT id FROM people WHERE code = ?", code).await
}

async fn school(h: &Harness, short: &str) -> i64 {
    id_of(h, "SELECT id FROM schools WHERE short_name = ?1 OR name = ?1", short).await
}

async fn zone(h: &Harness, code: &str) -> i64 {
    id_of(h, "SELECT id FROM zones WHERE code = ?", code).await
}

async fn load(h: &Harness, period: Period) -> stats::Rows {
    let mut conn = h.db().acquire().await.unwrap();
    let exempt = h.app().settings.visits.exempt_invited;
    dudao::store::stats::load(&mut conn, Shanghai, period, exempt).await.unwrap()
}

#[tokio::test]
async fn a_november_of_figures_through_the_pipeline() {
    let clock = ManualClock::new(shanghai(11, 2, 8, 0));
    let mut h = Harness::start_with(CONFIG, Some(clock.clone())).await;
    common::scenario::november(&mut h, &clock).await;

    let hao = person(&h, "D008").await;
    let z01 = zone(&h, "Z01").await;
    let z05 = zone(&h, "Z05").await;
    let nov = Period::month(2026, 11).unwrap();
    let rows = load(&h, nov).await;
    let today = day(12, 1);

    // Weekly reports: W48 (Thursday 26 November) is November's only round.
    let per = stats::weekly::per_person(&rows.weekly, nov, Scope::County);
    let of = |code_id: i64| per.get(&code_id).copied().unwrap_or_default();
    let zhang = of(person(&h, "D005").await);
    assert_eq!((zhang.expected, zhang.on_time, zhang.late, zhang.missing), (1, 1, 0, 0));
    let wu = of(person(&h, "D022").await);
    assert_eq!((wu.expected, wu.on_time), (1, 1));
    let cao = of(person(&h, "D024").await);
    assert_eq!((cao.expected, cao.on_time, cao.late), (1, 0, 1));
    let jiang = of(person(&h, "D023").await);
    assert_eq!((jiang.expected, jiang.missing), (1, 1));
    let huang = of(person(&h, "D029").await);
    assert_eq!((huang.expected, huang.excluded), (0, 1));
    // The zone: everyone of Z05 in the round but 黄雪, three reports of which one late.
    let z5_members: i64 = dudao::sql::query_scalar(
        "SELECT COUNT(DISTINCT m.person_id) FROM weekly_members m JOIN weekly_rounds r ON r.id = m.round_id
           JOIN people p ON p.id = m.person_id WHERE r.week = '2026-W48' AND p.zone_id = ?",
    )
    .bind(z05)
    .fetch_one(h.db())
    .await
    .unwrap();
    let z5 = stats::weekly::figures(&rows.weekly, nov, Scope::Zone(z05));
    let expected = u32::try_from(z5_members).unwrap() - 1;
    assert_eq!(
        (z5.weeks, z5.expected, z5.on_time, z5.late, z5.excluded, z5.missing),
        (1, expected, 2, 1, 1, expected - 3)
    );
    let trend = stats::weekly::trend(&rows.weekly, nov, Scope::Zone(z05));
    let weeks: Vec<(&str, u32)> = trend.iter().map(|(w, f)| (w.as_str(), f.expected)).collect();
    assert_eq!(weeks, vec![("2026-W45", 0), ("2026-W46", 0), ("2026-W47", 0), ("2026-W48", expected)]);

    // Visits: 郝涛's two, 3 lessons observed, against a quota of 4 and his four schools.
    let quota = h.app().settings.visits.per_inspector_per_month;
    let v = stats::visits::figures(&rows.visits, &rows.schools, &rows.inspectors, quota, nov, Scope::Inspector(hao));
    assert_eq!((v.visits, v.quota, v.lessons_observed, v.themed), (2, 4, 3, 0));
    assert_eq!(
        v.by_method,
        BTreeMap::from([
            (VisitMethod::LessonObservation, 1),
            (VisitMethod::DocumentReview, 1),
            (VisitMethod::Discussion, 1)
        ])
    );
    assert_eq!(v.by_kind, BTreeMap::from([(VisitKind::Routine, 2)]));
    assert_eq!((v.schools_assigned, v.schools_covered), (4, 2));
    let not_visited: BTreeSet<i64> = v.not_visited.iter().copied().collect();
    assert_eq!(not_visited, BTreeSet::from([school(&h, "实验小学").await, school(&h, "城郊中心小学").await]));
    assert_eq!(v.quota_rate().percent_text(), "50.0%");
    // Zone Z01 (5 inspectors held to the quota, 22 schools), as `督导进度` counts it.
    let z = stats::visits::figures(&rows.visits, &rows.schools, &rows.inspectors, quota, nov, Scope::Zone(z01));
    assert_eq!((z.visits, z.quota, z.schools_assigned, z.schools_covered), (2, 20, 22, 2));
    assert_eq!(z.coverage().percent_text(), "9.1%");

    // Rectification in November, taken on 30 November: W1 closed (the reopening is in
    // December), W2 closed on site, W3 open and 5 days overdue, one L1 escalation.
    let r = stats::rectify::figures(&rows.items, &rows.escalations, nov, Scope::Inspector(hao), today);
    assert_eq!(r.recorded, 3);
    assert_eq!(r.by_cell, BTreeMap::from([((1, Severity::Minor, "direct"), 1), ((6, Severity::General, "direct"), 2)]));
    assert_eq!((r.open, r.closed, r.cancelled), (1, 2, 0));
    assert_eq!(r.rate().percent_text(), "66.7%");
    assert_eq!((r.closures, r.closed_on_time), (2, 2));
    assert_eq!((r.mean_days_tenths(), r.median_days_tenths()), (Some(0), Some(0)));
    assert_eq!(r.overdue.iter().map(|o| (o.item_id, o.days)).collect::<Vec<_>>(), vec![(3, 5)]);
    assert_eq!((r.reopened, r.escalations.clone()), (0, BTreeMap::from([(1, 1)])));
    let sent: i64 = dudao::sql::query_scalar("SELECT COUNT(*) FROM once_events WHERE subject_kind = 'rectify_item'")
        .fetch_one(h.db())
        .await
        .unwrap();
    assert_eq!(sent, 1, "the loader saw every escalation");
    assert_eq!(stats::rectify::figures(&rows.items, &rows.escalations, nov, Scope::County, today), r);

    // December so far: W1 reopened; W3 now 6 days overdue; nothing recorded.
    let dec = Period::month(2026, 12).unwrap();
    let drows = load(&h, dec).await;
    let d = stats::rectify::figures(&drows.items, &drows.escalations, dec, Scope::County, today);
    assert_eq!((d.recorded, d.reopened, d.reopened_items, d.closures), (0, 1, 1, 0));
    assert_eq!(d.rate().percent_text(), "—");
    assert_eq!(d.overdue.iter().map(|o| (o.item_id, o.days)).collect::<Vec<_>>(), vec![(3, 6)]);

    // Tasks: assigned and acknowledged, overdue since the 26th.
    let now = h.app().clock.now();
    let t = stats::tasks::by_assignee(&rows.assignments, nov, Scope::County, now);
    assert_eq!(t.len(), 1);
    assert_eq!((t[&hao].assigned, t[&hao].acknowledged, t[&hao].done, t[&hao].overdue), (1, 1, 0, 1));
    h.stop().await;
}
