//! 信息报送 through the console: items recorded, 采用 decided, the month's figures, and the
//! reminder on remind_day when the month is short — once, across restarts; none when the rule is
//! met. Real service, SQLite file and a manual clock.

mod common;
use common::{shanghai as local, tick_at};

use chrono_tz::Asia::Shanghai;
use common::Harness;
use dudao::clock::ManualClock;

const CONFIG: &str = r#"
[weekly]
enabled = false

[tasks]
sweep_cron = ""

[info]
per_month = 2
remind_day = 20

[[groups]]
channel = "console"
id = "office"
purpose = "supervisors"
"#;

/// Outbox rows of a month's information reminder.
async fn reminders(h: &Harness, month: &str) -> i64 {
    dudao::sql::query_scalar::<i64>("SELECT COUNT(*) FROM outbox WHERE idempotency_key LIKE ?")
        .bind(format!("info:{month}:remind:%"))
        .fetch_one(h.db())
        .await
        .unwrap()
}

#[tokio::test]
async fn items_acceptance_and_the_months_figures() {
    let clock = ManualClock::new(local(11, 2, 9, 0));
    let mut h = Harness::start_with(CONFIG, Some(clock.clone())).await;
    h.bind("sup", "S001").await;
    h.bind("hao", "D008").await;

    let out = h.say("hao: 报送 东山小学开展防溺水专题教育 https://example.cn/n/1 报送至 省督导网").await;
    assert!(out.contains("已登记信息 X1：《东山小学开展防溺水专题教育》（报送至省督导网）"), "{out}");
    assert!(out.contains("2026年11月已报送1条（要求每月不少于2条，还差1条）"), "{out}");
    let (link, zone): (Option<String>, Option<i64>) =
        dudao::sql::query_as("SELECT link, zone_id FROM info_items WHERE id = 1").fetch_one(h.db()).await.unwrap();
    assert_eq!(link.as_deref(), Some("https://example.cn/n/1"));
    assert!(zone.is_some(), "an inspector's item counts for their zone");

    let out = h.say("hao: 报送").await;
    assert!(out.contains("请写明信息的标题"), "{out}");

    // Sunday 29 November 23:50 local: still November's item.
    clock.set(local(11, 29, 23, 50));
    let out = h.say("sup: 报送 我县召开责任督学工作推进会").await;
    assert!(out.contains("已登记信息 X2") && out.contains("已报送2条（要求每月不少于2条，已达标）"), "{out}");

    let out = h.say("hao: 报送采用 X1").await;
    assert!(out.contains("身份不能使用“报送采用”"), "inspectors cannot decide: {out}");
    let out = h.say("sup: 报送采用 X1 省网首页").await;
    assert!(out.contains("已记下信息 X1《东山小学开展防溺水专题教育》已采用"), "{out}");
    let out = h.say("sup: 报送未采用 X2").await;
    assert!(out.contains("X2《我县召开责任督学工作推进会》未采用"), "{out}");
    let out = h.say("sup: 报送采用 X9").await;
    assert!(out.contains("没有找到信息 X9"), "{out}");
    let out = h.say("sup: 报送采用 甲").await;
    assert!(out.contains("不是信息编号"), "{out}");

    // 1 December 00:10 local (30 November 16:10 UTC): December's.
    clock.set(local(12, 1, 0, 10));
    let out = h.say("hao: 报送 西岭中学校园安全排查简讯").await;
    assert!(out.contains("已登记信息 X3") && out.contains("2026年12月已报送1条"), "{out}");

    let out = h.say("sup: 报送情况 2026-11").await;
    assert!(
        out.contains("2026年11月信息报送：已报送2条（要求每月不少于2条，已达标），采用1条，未采用1条，待定0条。"),
        "{out}"
    );
    assert!(out.contains("1. X1 11月2日《东山小学开展防溺水专题教育》"), "{out}");
    assert!(out.contains("，报送至省督导网，已采用"), "{out}");
    assert!(out.contains("2. X2 11月29日《我县召开责任督学工作推进会》"), "{out}");
    assert!(out.contains("督导室1条"), "the supervisor's item is the office's: {out}");
    assert!(!out.contains("X3"), "December's item is not November's: {out}");

    let out = h.say("sup: 报送情况").await;
    assert!(
        out.contains("2026年12月信息报送：已报送1条（要求每月不少于2条，还差1条），采用0条，未采用0条，待定1条。"),
        "{out}"
    );
    let out = h.say("sup: 报送情况 2026-13").await;
    assert!(out.contains("无法识别"), "{out}");
    let out = h.say("hao: 报送情况").await;
    assert!(out.contains("身份不能使用“报送情况”"), "inspectors do not see the office's figures: {out}");

    // The statistics loader carries the items for other outputs.
    let mut conn = h.db().acquire().await.unwrap();
    let nov = dudao::domain::stats::Period::month(2026, 11).unwrap();
    let rows = dudao::store::stats::load(&mut conn, Shanghai, nov, false).await.unwrap();
    let f = dudao::domain::stats::info::info_figures(&rows.info, nov, dudao::domain::stats::Scope::County);
    assert_eq!((f.submitted, f.accepted, f.rejected, f.pending), (2, 1, 1, 0));
}

#[tokio::test]
async fn the_reminder_fires_once_when_short_and_not_when_met() {
    let clock = ManualClock::new(local(10, 12, 9, 0));
    let mut h = Harness::start_with(CONFIG, Some(clock.clone())).await;
    h.bind("sup", "S001").await;

    // October: two items by the 20th, the rule is met, no reminder.
    h.say("sup: 报送 秋季开学督导简报").await;
    h.say("sup: 报送 国庆假期安全检查情况").await;
    tick_at(&h, &clock, local(10, 20, 9, 5)).await;
    h.settle().await;
    assert_eq!(reminders(&h, "2026-10").await, 0);

    // November: one item by the 20th, short by one: the supervisors' group hears it once.
    clock.set(local(11, 3, 10, 0));
    h.say("sup: 报送 冬季防火专项督导").await;
    tick_at(&h, &clock, local(11, 20, 9, 5)).await;
    let out = h.settle().await;
    assert!(out.contains("[console → 群 office]"), "{out}");
    assert!(out.contains("信息报送提醒：2026年11月已报送1条信息，按要求每月不少于2条，还差1条"), "{out}");
    assert_eq!(reminders(&h, "2026-11").await, 1);
    tick_at(&h, &clock, local(11, 20, 15, 0)).await;
    h.settle().await;
    assert_eq!(reminders(&h, "2026-11").await, 1);

    // After a restart, the same day's ticks send nothing more.
    let dir = h.stop().await;
    let h = Harness::start_in(dir, CONFIG, Some(clock.clone())).await;
    tick_at(&h, &clock, local(11, 20, 18, 0)).await;
    assert_eq!(reminders(&h, "2026-11").await, 1);
    let done: i64 = dudao::sql::query_scalar(
        "SELECT COUNT(*) FROM once_events WHERE subject_kind = 'info_month' AND subject_id = 202611",
    )
    .fetch_one(h.db())
    .await
    .unwrap();
    assert_eq!(done, 1);
}
