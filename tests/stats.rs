//! Statistics over a November driven through chat: visits, problems, a task and a weekly round
//! on the sample roster, with the real service, SQLite and a manual clock; the rows are loaded
//! by `store::stats` and the figures checked against what happened.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Asia::Shanghai;
use common::{shanghai, Harness};
use dudao::clock::ManualClock;
use dudao::domain::rectify::Severity;
use dudao::domain::report_parse::VisitMethod;
use dudao::domain::stats::{self, Period, Scope};
use dudao::domain::visit_parse::VisitKind;
use dudao::scheduler::Scheduler;

/// Weekly collection on (as in tests/weekly.rs); the sweeps and the theme calendar are left out
/// so that only what the test says happens.
const CONFIG: &str = r#"
[weekly]
exempt_invited = false

[themes]
auto_publish = false

[tasks]
sweep_cron = ""

[rectify]
sweep_cron = ""

[[groups]]
channel = "console"
id = "zone5"
purpose = "zone_inspectors"
zone = "Z05"

[[groups]]
channel = "console"
id = "office"
purpose = "supervisors"
"#;

fn day(m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, m, d).unwrap()
}

async fn tick_at(h: &Harness, clock: &ManualClock, t: DateTime<Utc>) {
    clock.set(t);
    Scheduler::new(h.app().clone(), dudao::service::all_jobs()).tick().await.unwrap();
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
    for (acct, code) in [
        ("sup", "S001"),
        ("hao", "D008"),
        ("peng", "C0001"),
        ("zhang", "D005"),
        ("wu", "D022"),
        ("cao", "D024"),
        ("huang", "D029"),
    ] {
        h.bind(acct, code).await;
    }

    // Two visits by 郝涛 (D008) to his own schools.
    clock.set(shanghai(11, 5, 15, 0));
    let out = h.say("hao: 督导纪实 11月5日 城关三小 查阅资料，座谈走访，未发现问题").await;
    assert!(out.contains("已收到督导纪实") && out.contains("城关三小"), "{out}");
    clock.set(shanghai(11, 10, 15, 0));
    let out = h.say("hao: 督导纪实 城关四小 推门听课3节，未发现问题").await;
    assert!(out.contains("已收到督导纪实") && out.contains("城关四小"), "{out}");

    // Monday 23rd: three problems at 实验小学 — one closed through the school, one fixed on
    // site, one due on the 25th and left undone.
    clock.set(shanghai(11, 23, 9, 0));
    let out = h.say("hao: 记问题 实验小学 安全 消防通道堵塞").await;
    assert!(out.contains("已登记问题 W1"), "{out}");
    h.say("peng: 收到 W1").await;
    let out = h.say("peng: 完成 W1 已清理通道").await;
    assert!(out.contains("已提交 W1"), "{out}");
    let out = h.say("hao: 销号 W1").await;
    assert!(out.contains("已销号 W1") && out.contains("按期完成"), "{out}");
    let out = h.say("hao: 记问题 实验小学 1 轻微 值班记录缺页").await;
    assert!(out.contains("已登记并销号 W2"), "{out}");
    let out = h.say("hao: 记问题 实验小学 6 围墙破损 期限:11月25日").await;
    assert!(out.contains("已登记问题 W3"), "{out}");

    // A task for 郝涛, acknowledged, due on the 26th and never done.
    let out = h.say("sup: 布置任务 安全检查 对象:郝涛 截止:11月26日17:00").await;
    assert!(out.contains("已布置任务 T1"), "{out}");
    let out = h.say("hao: 收到 T1").await;
    assert!(out.contains("已确认收到任务 T1"), "{out}");

    // Week 48: 黄雪 on leave, 张兰英 and 武芳 on time, 曹秀英 late, 江颖 (D023) never.
    clock.set(shanghai(11, 27, 9, 0));
    let out = h.say("huang: 请假 11月27日 至 11月30日").await;
    assert!(out.contains("已登记请假"), "{out}");
    tick_at(&h, &clock, shanghai(11, 27, 16, 0)).await;
    h.settle().await;
    clock.set(shanghai(11, 27, 17, 0));
    h.say("zhang: 本周督导学校：红旗中学\n督导方式：推门听课2节\n发现问题：无").await;
    h.say("wu: 本周督导学校：阳光小学、刘楼小学\n督导方式：座谈走访，校园巡视\n发现问题：无").await;
    tick_at(&h, &clock, shanghai(11, 30, 12, 10)).await;
    h.settle().await;
    clock.set(shanghai(11, 30, 13, 0));
    let out = h.say("cao: 本周督导学校：南沟小学、新庄教学点\n发现问题：教学点饮水设备老化").await;
    assert!(out.contains("逾期"), "{out}");

    // The sweep on the 30th: W3 is 5 days overdue and goes to its inspector (L1).
    {
        let app = h.app().clone();
        let mut tx = dudao::db::begin_write(&app.db).await.unwrap();
        dudao::app::rectify::sweep(&app.job_ctx, &mut tx, app.clock.now()).await.unwrap();
        tx.commit().await.unwrap();
        app.outbox_notify.notify_waiters();
        h.settle().await;
    }

    // 1 December: 回头看 reopens W1.
    clock.set(shanghai(12, 1, 10, 0));
    let out = h.say("hao: 回头看 W1 通道又被杂物堵塞").await;
    assert!(out.contains("已重开 W1"), "{out}");

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
