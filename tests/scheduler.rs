//! Durable schedules with an injected clock: downtime, restarts, racing loops, holidays.

mod common;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;
use common::Harness;
use dudao::app::App;
use dudao::clock::ManualClock;
use dudao::config::ScheduleSettings;
use dudao::db::Tx;
use dudao::scheduler::{Firing, Job, JobCtx, Jobs, Scheduler};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

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
    dudao::sql::query_as(
        "SELECT f.nominal_at, f.status, f.reason FROM firings f JOIN schedules s ON s.id = f.schedule_id
         WHERE s.name = ? ORDER BY f.nominal_at",
    )
    .bind(schedule)
    .fetch_all(h.db())
    .await
    .unwrap()
}

async fn announcements(h: &Harness) -> i64 {
    dudao::sql::query_scalar("SELECT COUNT(*) FROM outbox WHERE source = 'schedule:daily'")
        .fetch_one(h.db())
        .await
        .unwrap()
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
    // One summary row stands for both misses (Thursday's and Friday's).
    let f = firings(&h, "daily").await;
    assert_eq!(f.len(), 4, "{f:?}");
    assert_eq!(f[3].1, "skipped", "{f:?}");
    let reason = f[3].2.as_deref().unwrap_or_default();
    assert!(reason.contains("grace") && reason.contains("2026-11-26 09:00"), "{reason}");
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
        dudao::sql::query_scalar("SELECT COUNT(*) FROM outbox WHERE source = 'schedule:daily' AND status = 'sent'")
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
    let other = Arc::new(dudao::app::App::new(
        db2,
        Arc::new(clock.clone()),
        app.settings.clone(),
        app.calendar.clone(),
        app.directory.clone(),
    ));
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
    let rows: Vec<String> = dudao::sql::query_scalar(
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

// ---- Failures, retries and panics -------------------------------------------------------------

/// A job that fails (or panics) on its first `failures` runs, then succeeds. Every run writes an
/// audit row inside the firing's transaction, so only a committed run leaves one.
struct Flaky {
    calls: AtomicUsize,
    failures: usize,
    panics: bool,
}

impl Flaky {
    fn new(failures: usize, panics: bool) -> Arc<Flaky> {
        Arc::new(Flaky { calls: AtomicUsize::new(0), failures, panics })
    }
}

#[async_trait]
impl Job for Flaky {
    async fn run(&self, _ctx: &JobCtx, tx: &mut Tx<'static>, firing: &Firing) -> anyhow::Result<()> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        dudao::sql::query(
            "INSERT INTO audit_log (at, via, entity, entity_id, action, detail) VALUES (?, 'scheduler', 'test', ?, 'run', ?)",
        )
        .bind(dudao::db::ts(firing.nominal_at))
        .bind(&firing.schedule)
        .bind(format!("第{n}次"))
        .execute(&mut **tx)
        .await?;
        if n <= self.failures {
            if self.panics {
                panic!("模拟崩溃：第{n}次运行");
            }
            anyhow::bail!("暂时连不上教育局平台（第{n}次）");
        }
        Ok(())
    }
}

/// The service's App on a fresh SQLite file, without the service's own scheduler loop, so the
/// test's jobs are the only ones known.
async fn bare_app(clock: &ManualClock, extra: &str) -> (tempfile::TempDir, Arc<App>) {
    let dir = tempfile::tempdir().unwrap();
    let settings = common::settings_for(&dir, &format!("[scheduler]\nmax_sleep_seconds = 1\n{extra}"));
    let db = dudao::db::open_and_migrate(&settings.database).await.unwrap();
    let calendar = Arc::new(dudao::service::load_calendar(&settings).unwrap());
    let app = Arc::new(App::new(
        db,
        Arc::new(clock.clone()),
        Arc::new(settings),
        calendar,
        dudao::outbox::Directory::from_channels(&[]),
    ));
    (dir, app)
}

fn schedule(name: &str, job: &str, grace_minutes: u32) -> ScheduleSettings {
    ScheduleSettings {
        name: name.into(),
        cron: "0 9 * * *".into(),
        job: job.into(),
        enabled: Some(true),
        workdays: Some("fire".into()),
        school_days_only: Some(false),
        grace_minutes: Some(grace_minutes),
        params: None,
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Row {
    nominal: String,
    status: String,
    attempts: i64,
    reason: Option<String>,
    retry_at: Option<String>,
}

type RawRow = (String, String, i64, Option<String>, Option<String>);

async fn rows(db: &dudao::db::Db, schedule: &str) -> Vec<Row> {
    let r: Vec<RawRow> = dudao::sql::query_as(
        "SELECT f.nominal_at, f.status, f.attempts, f.reason, f.retry_at FROM firings f
         JOIN schedules s ON s.id = f.schedule_id WHERE s.name = ? ORDER BY f.nominal_at",
    )
    .bind(schedule)
    .fetch_all(db)
    .await
    .unwrap();
    r.into_iter()
        .map(|(nominal, status, attempts, reason, retry_at)| Row { nominal, status, attempts, reason, retry_at })
        .collect()
}

/// Polls the ledger until `ok` holds (the scheduler loop runs in the background).
async fn wait_for(db: &dudao::db::Db, schedule: &str, what: &str, ok: impl Fn(&[Row]) -> bool) -> Vec<Row> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let r = rows(db, schedule).await;
        if ok(&r) {
            return r;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}: {r:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn audit_runs(db: &dudao::db::Db, schedule: &str) -> i64 {
    dudao::sql::query_scalar("SELECT COUNT(*) FROM audit_log WHERE entity = 'test' AND entity_id = ?")
        .bind(schedule)
        .fetch_one(db)
        .await
        .unwrap()
}

/// Waits until the loop has written its schedules (their cursors start at the clock's time).
async fn wait_synced(db: &dudao::db::Db, n: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let got: i64 = dudao::sql::query_scalar("SELECT COUNT(*) FROM schedules").fetch_one(db).await.unwrap();
        if got == n {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "schedules not synced: {got}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn start_loop(
    app: &Arc<App>,
    jobs: Jobs,
    defs: Vec<ScheduleSettings>,
) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let sched = Arc::new(Scheduler::new(app.clone(), jobs));
    let shutdown = CancellationToken::new();
    let sd = shutdown.clone();
    let handle = tokio::spawn(async move {
        sched.sync_config(&defs).await.unwrap();
        sched.run(sd).await;
    });
    (shutdown, handle)
}

#[tokio::test]
async fn a_job_failing_twice_then_succeeding_fires_once_with_three_attempts() {
    let clock = ManualClock::new(local(2026, 11, 23, 8, 0));
    let (_dir, app) = bare_app(&clock, "").await;
    let flaky = Flaky::new(2, false);
    let mut jobs = Jobs::default();
    jobs.register("flaky", flaky.clone());
    let (shutdown, handle) = start_loop(&app, jobs, vec![schedule("weekly-prompt-test", "flaky", 120)]);
    let db = &app.db;
    wait_synced(db, 1).await;

    clock.set(local(2026, 11, 23, 9, 0));
    let r = wait_for(db, "weekly-prompt-test", "the first failure", |r| r.len() == 1 && r[0].attempts == 1).await;
    assert_eq!(r[0].status, "failed");
    assert!(r[0].reason.as_deref().unwrap_or_default().contains("暂时连不上"), "{r:?}");
    assert!(r[0].retry_at.is_some(), "a retry is planned: {r:?}");

    clock.advance(chrono::Duration::seconds(61));
    let r = wait_for(db, "weekly-prompt-test", "the second failure", |r| r[0].attempts == 2).await;
    assert_eq!(r[0].status, "failed");
    assert!(r[0].retry_at.is_some(), "{r:?}");

    clock.advance(chrono::Duration::seconds(121));
    let r = wait_for(db, "weekly-prompt-test", "the retry to succeed", |r| r[0].status == "fired").await;
    assert_eq!(r.len(), 1, "one ledger row for the occurrence: {r:?}");
    assert_eq!(r[0].attempts, 3);
    assert_eq!(r[0].retry_at, None);
    assert_eq!(r[0].reason, None);
    assert_eq!(flaky.calls.load(Ordering::SeqCst), 3);
    // The failed runs' work was rolled back; the successful one committed once.
    assert_eq!(audit_runs(db, "weekly-prompt-test").await, 1);
    shutdown.cancel();
    handle.await.unwrap();
}

#[tokio::test]
async fn a_panicking_job_is_recorded_failed_and_retried_while_other_schedules_go_on() {
    let clock = ManualClock::new(local(2026, 11, 23, 8, 0));
    let (_dir, app) = bare_app(&clock, "").await;
    let crashy = Flaky::new(1, true);
    let steady = Flaky::new(0, false);
    let mut jobs = Jobs::default();
    jobs.register("crashy", crashy.clone());
    jobs.register("steady", steady.clone());
    let (shutdown, handle) =
        start_loop(&app, jobs, vec![schedule("crashy", "crashy", 120), schedule("steady", "steady", 120)]);
    let db = &app.db;
    wait_synced(db, 2).await;

    clock.set(local(2026, 11, 23, 9, 0));
    let r = wait_for(db, "crashy", "the panic to be recorded", |r| r.len() == 1).await;
    assert_eq!(r[0].status, "failed");
    assert!(r[0].reason.as_deref().unwrap_or_default().contains("模拟崩溃"), "{r:?}");
    assert!(r[0].retry_at.is_some(), "{r:?}");
    wait_for(db, "steady", "the other schedule to fire", |r| r.len() == 1 && r[0].status == "fired").await;

    // The loop survived: the retry runs, and so does the next day's firing.
    clock.advance(chrono::Duration::seconds(61));
    let r = wait_for(db, "crashy", "the retry", |r| r[0].status == "fired").await;
    assert_eq!(r[0].attempts, 2);
    clock.set(local(2026, 11, 24, 9, 0));
    wait_for(db, "steady", "the next day's firing", |r| r.len() == 2 && r[1].status == "fired").await;
    wait_for(db, "crashy", "the next day's firing", |r| r.len() == 2 && r[1].status == "fired").await;
    assert_eq!(audit_runs(db, "crashy").await, 2);
    assert!(!handle.is_finished());
    shutdown.cancel();
    handle.await.unwrap();
}

#[tokio::test]
async fn a_job_that_keeps_failing_is_retried_until_its_grace_window_ends() {
    let clock = ManualClock::new(local(2026, 11, 23, 8, 0));
    let (_dir, app) = bare_app(&clock, "retry_base_seconds = 60\nretry_max_seconds = 600\n").await;
    let broken = Flaky::new(usize::MAX, false);
    let mut jobs = Jobs::default();
    jobs.register("broken", broken.clone());
    let (shutdown, handle) = start_loop(&app, jobs, vec![schedule("broken", "broken", 5)]);
    let db = &app.db;
    wait_synced(db, 1).await;

    // Attempts at 09:00, 09:01, 09:03 and (backoff clamped to the window) 09:05.
    clock.set(local(2026, 11, 23, 9, 0));
    wait_for(db, "broken", "attempt 1", |r| r.len() == 1 && r[0].attempts == 1).await;
    for (minute, attempt) in [(1, 2), (3, 3), (5, 4)] {
        clock.set(local(2026, 11, 23, 9, minute));
        wait_for(db, "broken", "the next attempt", |r| r[0].attempts == attempt).await;
    }
    let r = rows(db, "broken").await;
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].status, "failed");
    assert_eq!(r[0].retry_at, None, "no retry past the window: {r:?}");
    let reason = r[0].reason.as_deref().unwrap_or_default();
    assert!(reason.contains("暂时连不上") && reason.contains("grace window"), "{reason}");
    assert_eq!(broken.calls.load(Ordering::SeqCst), 4);
    assert_eq!(audit_runs(db, "broken").await, 0);
    shutdown.cancel();
    handle.await.unwrap();
}

// ---- Catch-up after long downtime ---------------------------------------------------------------

const EVERY_MINUTE: &str = r#"
[[groups]]
channel = "console"
id = "county"
purpose = "county_inspectors"

[[schedules]]
name = "minutely"
cron = "* * * * *"
job = "announce"
grace_minutes = 10
params = { text = "每分钟巡检提示", to = "county_inspectors" }
"#;

#[tokio::test]
async fn an_every_minute_cron_after_thirty_days_down_catches_up_once_and_has_a_next_firing() {
    let clock = ManualClock::new(local(2026, 11, 2, 7, 59));
    let h = Harness::start_with(EVERY_MINUTE, Some(clock.clone())).await;
    clock.set(local(2026, 11, 2, 8, 0) + chrono::Duration::seconds(30));
    scheduler(&h).tick().await.unwrap();
    let dir = h.stop().await;

    clock.set(local(2026, 12, 2, 8, 0) + chrono::Duration::seconds(30));
    let h = Harness::start_in(dir, EVERY_MINUTE, Some(clock.clone())).await;
    scheduler(&h).tick().await.unwrap();
    let f = firings(&h, "minutely").await;
    let fired: Vec<_> = f.iter().filter(|(_, s, _)| s == "fired").collect();
    // Before the outage one firing; after it exactly one catch-up (the 08:00 occurrence).
    assert_eq!(fired.len(), 2, "{f:?}");
    assert_eq!(fired[1].0, dudao::db::ts(local(2026, 12, 2, 8, 0)));
    // 43,000 missed occurrences, one summary row.
    let skipped: Vec<_> = f.iter().filter(|(_, s, _)| s == "skipped").collect();
    assert_eq!(skipped.len(), 1, "{f:?}");
    assert!(skipped[0].2.as_deref().unwrap_or_default().contains("2026-11-02 08:01"), "{skipped:?}");
    let next: Option<String> = dudao::sql::query_scalar("SELECT next_fire_at FROM schedules WHERE name = 'minutely'")
        .fetch_one(h.db())
        .await
        .unwrap();
    assert_eq!(next, Some(dudao::db::ts(local(2026, 12, 2, 8, 1))), "a next firing exists");
    let sent: i64 = dudao::sql::query_scalar("SELECT COUNT(*) FROM outbox WHERE source = 'schedule:minutely'")
        .fetch_one(h.db())
        .await
        .unwrap();
    assert_eq!(sent, 2);
    h.stop().await;
}

// ---- Retention ----------------------------------------------------------------------------------

#[tokio::test]
async fn the_daily_retention_sweep_prunes_only_finished_old_rows() {
    let clock = ManualClock::new(local(2026, 11, 23, 12, 0));
    let h = Harness::start_with(DAILY, Some(clock.clone())).await;
    let db = h.db().clone();
    let old = dudao::db::ts(local(2025, 6, 2, 10, 0)); // older than every default retention
    let new = dudao::db::ts(local(2026, 11, 20, 10, 0));
    let person: i64 = dudao::sql::query_scalar("SELECT id FROM people WHERE role = 'inspector' ORDER BY id LIMIT 1")
        .fetch_one(&db)
        .await
        .unwrap();

    // Outgoing messages: every status, old; and a recent sent one.
    for (key, status, at) in [
        ("old-sent", "sent", &old),
        ("old-cancelled", "cancelled", &old),
        ("old-pending", "pending", &old),
        ("old-sending", "sending", &old),
        ("old-unknown", "unknown", &old),
        ("old-dead", "dead", &old),
        ("old-unroutable", "unroutable", &old),
        ("new-sent", "sent", &new),
    ] {
        dudao::sql::query(
            "INSERT INTO outbox (idempotency_key, channel, chat_kind, chat_id, segments, status, next_attempt_at,
                 created_at, sent_at, source)
             VALUES (?, 'console', 'group', 'county', '[{\"type\":\"text\",\"text\":\"请查收本周督导安排\"}]', ?, ?, ?, ?, 'test')",
        )
        .bind(key)
        .bind(status)
        .bind(at)
        .bind(at)
        .bind((status == "sent").then_some(at))
        .execute(&db)
        .await
        .unwrap();
    }

    // Incoming messages: processed (one referenced by a weekly report part, one by a task),
    // unprocessed and failed, all old; and a recent processed one.
    let mut inbound = std::collections::HashMap::new();
    for (id, status, at) in [
        ("old-processed", "processed", &old),
        ("old-in-report", "processed", &old),
        ("old-in-task", "processed", &old),
        ("old-received", "received", &old),
        ("old-failed", "failed", &old),
        ("new-processed", "processed", &new),
    ] {
        let rowid = dudao::sql::query(
            "INSERT INTO inbound_messages (channel, platform, platform_msg_id, chat_kind, chat_id, sender_id, text,
                 segments, to_me, sent_at, received_at, status)
             VALUES ('console', 'console', ?, 'group', 'county', 'li', '本周到东山小学督导两次', '[]', 0, ?, ?, ?)",
        )
        .bind(id)
        .bind(at)
        .bind(at)
        .bind(status)
        .execute(&db)
        .await
        .unwrap()
        .last_insert_rowid();
        inbound.insert(id, rowid);
    }
    let round = dudao::sql::query(
        "INSERT INTO weekly_rounds (week, scope, opened_at, deadline_at) VALUES ('2025-W23', 'private', ?, ?)",
    )
    .bind(&old)
    .bind(&old)
    .execute(&db)
    .await
    .unwrap()
    .last_insert_rowid();
    let report = dudao::sql::query(
        "INSERT INTO weekly_reports (round_id, person_id, first_at, updated_at, parsed) VALUES (?, ?, ?, ?, '{}')",
    )
    .bind(round)
    .bind(person)
    .bind(&old)
    .bind(&old)
    .execute(&db)
    .await
    .unwrap()
    .last_insert_rowid();
    dudao::sql::query(
        "INSERT INTO weekly_report_parts (report_id, inbound_id, version, kind, text, at)
         VALUES (?, ?, 1, 'text', '本周到东山小学督导两次', ?)",
    )
    .bind(report)
    .bind(inbound["old-in-report"])
    .bind(&old)
    .execute(&db)
    .await
    .unwrap();
    dudao::sql::query(
        "INSERT INTO tasks (title, deadline_at, created_by, created_at, inbound_id) VALUES ('整理春季开学检查材料', ?, ?, ?, ?)",
    )
    .bind(&old)
    .bind(person)
    .bind(&old)
    .bind(inbound["old-in-task"])
    .execute(&db)
    .await
    .unwrap();

    // Firings of another schedule: old and recent; and an old audit entry.
    let sid = dudao::sql::query(
        "INSERT INTO schedules (name, cron, job, grace_minutes, source, cursor_at, updated_at)
         VALUES ('old-sweep', '*/10 * * * *', 'announce', 10, 'db', ?, ?)",
    )
    .bind(&new)
    .bind(&new)
    .execute(&db)
    .await
    .unwrap()
    .last_insert_rowid();
    dudao::sql::query("UPDATE schedules SET enabled = 0 WHERE id = ?").bind(sid).execute(&db).await.unwrap();
    for at in [&old, &new] {
        dudao::sql::query(
            "INSERT INTO firings (schedule_id, nominal_at, fire_at, status, recorded_at) VALUES (?, ?, ?, 'fired', ?)",
        )
        .bind(sid)
        .bind(at)
        .bind(at)
        .bind(at)
        .execute(&db)
        .await
        .unwrap();
    }
    dudao::sql::query("INSERT INTO audit_log (at, via, entity, action) VALUES (?, 'cli', 'roster', 'import')")
        .bind(&old)
        .execute(&db)
        .await
        .unwrap();

    // The built-in daily sweep at 03:30.
    clock.set(local(2026, 11, 24, 3, 30));
    scheduler(&h).tick().await.unwrap();
    let fired: Vec<String> = dudao::sql::query_scalar(
        "SELECT f.status FROM firings f JOIN schedules s ON s.id = f.schedule_id WHERE s.name = 'retention'",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    assert_eq!(fired, vec!["fired".to_string()]);

    let keys: Vec<String> =
        dudao::sql::query_scalar("SELECT idempotency_key FROM outbox WHERE source = 'test' ORDER BY idempotency_key")
            .fetch_all(&db)
            .await
            .unwrap();
    assert_eq!(keys, ["new-sent", "old-dead", "old-pending", "old-sending", "old-unknown", "old-unroutable"]);
    let ids: Vec<String> =
        dudao::sql::query_scalar("SELECT platform_msg_id FROM inbound_messages ORDER BY platform_msg_id")
            .fetch_all(&db)
            .await
            .unwrap();
    assert_eq!(ids, ["new-processed", "old-failed", "old-in-report", "old-in-task", "old-received"]);
    let kept: Vec<String> = dudao::sql::query_scalar("SELECT nominal_at FROM firings WHERE schedule_id = ?")
        .bind(sid)
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(kept, vec![new.clone()]);
    let audit: i64 = dudao::sql::query_scalar("SELECT COUNT(*) FROM audit_log WHERE at = ?")
        .bind(&old)
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(audit, 1, "the audit log is kept");
    h.stop().await;
}

const WEEKDAYS: &str = r#"
[[groups]]
channel = "console"
id = "county"
purpose = "county_inspectors"

[[schedules]]
name = "weekday-morning"
cron = "0 9 * * 1-5"
job = "announce"
workdays = "fire"
params = { text = "工作日早上好，请查看今日督导安排。", to = "county_inspectors" }
"#;

#[tokio::test]
async fn a_crontab_weekday_range_fires_monday_to_friday_only() {
    // Sunday 2026-11-29 to Monday 2026-12-07, an ordinary fortnight with no holidays.
    let clock = ManualClock::new(local(2026, 11, 29, 0, 0));
    let h = Harness::start_with(WEEKDAYS, Some(clock.clone())).await;
    let s = scheduler(&h);
    let mut t = local(2026, 11, 29, 0, 0);
    while t <= local(2026, 12, 7, 12, 0) {
        clock.set(t);
        s.tick().await.unwrap();
        t += chrono::Duration::hours(1);
    }
    assert_eq!(
        fired_dates(&h, "weekday-morning").await,
        vec![d(11, 30), d(12, 1), d(12, 2), d(12, 3), d(12, 4), d(12, 7)]
    );
}

#[tokio::test]
async fn dudao_schedules_shows_the_true_next_monthly_report() {
    // Early November: the month-end report's next firing (1 December 08:00) is four weeks away.
    let clock = ManualClock::new(local(2026, 11, 2, 10, 0));
    let h = Harness::start_with("", Some(clock.clone())).await;
    scheduler(&h).tick().await.unwrap();
    let dir = h.stop().await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dudao"))
        .arg("schedules")
        .env("DUDAO_DATABASE__PATH", dir.path().join("dudao.sqlite"))
        .env("DUDAO_LOG", "warn")
        .output()
        .expect("run dudao schedules");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    let line = text.lines().find(|l| l.starts_with("monthly-report\t")).unwrap_or_else(|| panic!("{text}"));
    assert!(line.ends_with("next=2026-12-01 08:00"), "{line}");
}
