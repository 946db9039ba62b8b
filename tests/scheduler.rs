//! Durable schedules with an injected clock: downtime, restarts, racing loops, holidays.

mod common;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;
use common::Harness;
use dudao::clock::ManualClock;
use dudao::scheduler::Scheduler;
use std::sync::Arc;

const DAILY: &str = r#"
[[groups]]
channel = "console"
id = "county"
purpose = "county_inspectors"

[[schedules]]
name = "daily"
cron = "0 9 * * *"
job = "announce"
grace_minutes = 120
params = { text = "每日提醒：请按计划开展督导。", to = "county_inspectors" }
"#;

fn local(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Shanghai.with_ymd_and_hms(y, m, d, h, min, 0).unwrap().with_timezone(&Utc)
}

fn scheduler(h: &Harness) -> Scheduler {
    Scheduler::new(h.app().clone(), dudao::service::all_jobs())
}

async fn firings(h: &Harness, schedule: &str) -> Vec<(String, String, Option<String>)> {
    sqlx::query_as(
        "SELECT f.nominal_at, f.status, f.reason FROM firings f JOIN schedules s ON s.id = f.schedule_id
         WHERE s.name = ? ORDER BY f.nominal_at",
    )
    .bind(schedule)
    .fetch_all(h.db())
    .await
    .unwrap()
}

async fn announcements(h: &Harness) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE source = 'schedule:daily'").fetch_one(h.db()).await.unwrap()
}

#[tokio::test]
async fn downtime_across_two_firings_gives_exactly_one_catch_up() {
    let clock = ManualClock::new(local(2026, 11, 23, 8, 0));
    let mut h = Harness::start_with(DAILY, Some(clock.clone())).await;
    clock.set(local(2026, 11, 23, 9, 30));
    scheduler(&h).tick().await.unwrap();
    assert_eq!(announcements(&h).await, 1);
    let out = h.settle().await;
    assert_eq!(out.matches("每日提醒").count(), 1, "{out}");

    // Down from Monday 09:30 to Wednesday 09:30: Tuesday's and Wednesday's firings were missed.
    let dir = h.stop().await;
    clock.set(local(2026, 11, 25, 9, 30));
    let h = Harness::start_in(dir, DAILY, Some(clock.clone())).await;
    scheduler(&h).tick().await.unwrap();
    assert_eq!(announcements(&h).await, 2, "exactly one catch-up");
    let f = firings(&h, "daily").await;
    let statuses: Vec<&str> = f.iter().map(|(_, s, _)| s.as_str()).collect();
    assert_eq!(statuses, vec!["fired", "skipped", "fired"], "{f:?}");
    assert!(f[1].2.as_deref().unwrap_or_default().contains("superseded"));

    // Down past the grace window: nothing is sent late, the misses are recorded.
    let dir = h.stop().await;
    clock.set(local(2026, 11, 27, 12, 0));
    let h = Harness::start_in(dir, DAILY, Some(clock.clone())).await;
    scheduler(&h).tick().await.unwrap();
    assert_eq!(announcements(&h).await, 2);
    let f = firings(&h, "daily").await;
    assert_eq!(f.len(), 5);
    assert!(f[3..].iter().all(|(_, s, _)| s == "skipped"), "{f:?}");
    assert!(f[4].2.as_deref().unwrap_or_default().contains("grace"));
    h.stop().await;
}

#[tokio::test]
async fn a_restart_right_after_enqueue_does_not_enqueue_again() {
    let clock = ManualClock::new(local(2026, 11, 23, 8, 0));
    let h = Harness::start_with(DAILY, Some(clock.clone())).await;
    clock.set(local(2026, 11, 23, 9, 0));
    scheduler(&h).tick().await.unwrap();
    assert_eq!(announcements(&h).await, 1);
    let dir = h.stop().await;
    let mut h = Harness::start_in(dir, DAILY, Some(clock.clone())).await;
    scheduler(&h).tick().await.unwrap();
    assert_eq!(announcements(&h).await, 1);
    assert_eq!(firings(&h, "daily").await.len(), 1);
    // Delivered in one run or the other, once.
    h.settle().await;
    let sent: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE source = 'schedule:daily' AND status = 'sent'")
            .fetch_one(h.db())
            .await
            .unwrap();
    assert_eq!(sent, 1);
    h.stop().await;
}

#[tokio::test]
async fn two_scheduler_loops_racing_on_one_database_create_one_firing() {
    let clock = ManualClock::new(local(2026, 11, 23, 8, 0));
    let h = Harness::start_with(DAILY, Some(clock.clone())).await;
    // A second process: its own connection pool on the same file.
    let app = h.app();
    let db2 = dudao::db::connect(&app.settings.database).await.unwrap();
    let other = Arc::new(dudao::app::App {
        db: db2,
        clock: Arc::new(clock.clone()),
        settings: app.settings.clone(),
        tz: app.tz,
        calendar: app.calendar.clone(),
        directory: app.directory.clone(),
        outbox_notify: Arc::new(tokio::sync::Notify::new()),
    });
    let a = scheduler(&h);
    let b = Scheduler::new(other, dudao::service::all_jobs());
    clock.set(local(2026, 11, 23, 9, 0));
    for _ in 0..10 {
        let (ra, rb) = tokio::join!(a.tick(), b.tick());
        ra.unwrap();
        rb.unwrap();
    }
    assert_eq!(announcements(&h).await, 1);
    assert_eq!(firings(&h, "daily").await.len(), 1);
    h.stop().await;
}

const HOLIDAYS: &str = r#"
[[groups]]
channel = "console"
id = "county"
purpose = "county_inspectors"

[[schedules]]
name = "friday-previous"
cron = "0 16 * * Fri"
job = "announce"
workdays = "previous"
params = { text = "周五提示", to = "county_inspectors" }

[[schedules]]
name = "friday-skip"
cron = "0 16 * * Fri"
job = "announce"
workdays = "skip"
params = { text = "周五提示", to = "county_inspectors" }

[[schedules]]
name = "workday-morning"
cron = "0 9 * * *"
job = "announce"
workdays = "skip"
params = { text = "早安", to = "county_inspectors" }
"#;

async fn fired_dates(h: &Harness, schedule: &str) -> Vec<NaiveDate> {
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT f.fire_at FROM firings f JOIN schedules s ON s.id = f.schedule_id WHERE s.name = ? AND f.status = 'fired' ORDER BY f.fire_at",
    )
    .bind(schedule)
    .fetch_all(h.db())
    .await
    .unwrap();
    rows.iter().map(|t| dudao::db::parse_ts(t).unwrap().with_timezone(&Shanghai).date_naive()).collect()
}

fn d(m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, m, day).unwrap()
}

#[tokio::test]
async fn national_day_and_make_up_days_move_or_skip_firings() {
    let clock = ManualClock::new(local(2026, 9, 19, 0, 0));
    let h = Harness::start_with(HOLIDAYS, Some(clock.clone())).await;
    let s = scheduler(&h);
    let mut t = local(2026, 9, 19, 0, 0);
    while t <= local(2026, 10, 12, 0, 0) {
        clock.set(t);
        s.tick().await.unwrap();
        t += chrono::Duration::hours(1);
    }
    // 中秋 (Fri 9/25) moves to Thursday; 国庆 (Fri 10/2) moves to Wednesday 9/30.
    assert_eq!(fired_dates(&h, "friday-previous").await, vec![d(9, 24), d(9, 30), d(10, 9)]);
    assert_eq!(fired_dates(&h, "friday-skip").await, vec![d(10, 9)]);
    let skipped = firings(&h, "friday-skip").await;
    let reasons: Vec<String> =
        skipped.iter().filter(|(_, s, _)| s == "skipped").map(|(_, _, r)| r.clone().unwrap_or_default()).collect();
    assert!(reasons.iter().any(|r| r.contains("中秋")) && reasons.iter().any(|r| r.contains("国庆")), "{reasons:?}");
    // Working days only, including the make-up Sunday 9/20 and Saturday 10/10.
    assert_eq!(
        fired_dates(&h, "workday-morning").await,
        vec![
            d(9, 20),
            d(9, 21),
            d(9, 22),
            d(9, 23),
            d(9, 24),
            d(9, 28),
            d(9, 29),
            d(9, 30),
            d(10, 8),
            d(10, 9),
            d(10, 10)
        ]
    );
    h.stop().await;
}
