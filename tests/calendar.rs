//! The calendar as offices read it: a year without holiday data is announced (log, /healthz,
//! chat), an office imports the State Council notice itself with `dudao calendar import`, and
//! rules stated in working days (整改 default periods, the weekly deadline, weekly reminders)
//! follow the holidays.

mod common;
use common::tick_at;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;
use common::Harness;
use dudao::clock::ManualClock;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

fn local(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Shanghai.with_ymd_and_hms(y, m, d, h, min, 0).unwrap().with_timezone(&Utc)
}

/// GET /healthz over a real socket; polls until the listener answers.
async fn healthz(h: &Harness) -> (u16, serde_json::Value) {
    let addr = h.running.as_ref().expect("running").http_addr;
    let url = format!("http://{addr}/healthz");
    let client = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match client.get(&url).send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                return (status, r.json().await.expect("healthz answers JSON"));
            }
            Err(e) => {
                assert!(tokio::time::Instant::now() < deadline, "healthz unreachable: {e}");
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }
    }
}

fn cli(db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dudao"))
        .args(args)
        .env("DUDAO_DATABASE__PATH", db)
        .env("DUDAO_LOG", "warn")
        .output()
        .expect("run dudao")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// Test data in the shipped format (made-up dates, not the real 2027 notice).
const TEST_2027: &str = r#"
year = 2027
source = "测试用：某县督导室录入的2027年节假日安排"

[[holidays]]
name = "元旦"
start = "2027-01-01"
end = "2027-01-03"
makeup_workdays = []

[[holidays]]
name = "春节"
start = "2027-02-05"
end = "2027-02-13"
makeup_workdays = ["2027-02-14"]

[[terms]]
name = "2026-2027学年第二学期"
start = "2027-02-22"
end = "2027-07-09"
"#;

/// The check runs twice a day here, so a second run on the same day is exercised.
const OFFICE: &str = r#"
[calendar]
check_cron = "0 9,15 * * *"

[[groups]]
channel = "console"
id = "office"
purpose = "supervisors"
"#;

#[tokio::test]
async fn healthz_names_the_months_without_holiday_data_and_stays_200() {
    // December 2026: January 2027 has terms only in the shipped files.
    let clock = ManualClock::new(local(2026, 12, 10, 10, 0));
    let h = Harness::start_with("", Some(clock.clone())).await;
    let (status, body) = healthz(&h).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ok", "{body}");
    assert_eq!(body["calendar"]["status"], "missing", "{body}");
    assert_eq!(body["calendar"]["missing_months"], serde_json::json!(["2027-01"]), "{body}");
    assert!(body["calendar"]["hint"].as_str().unwrap_or_default().contains("dudao calendar import"), "{body}");

    // Mid-November both months are covered.
    clock.set(local(2026, 11, 16, 10, 0));
    let (status, body) = healthz(&h).await;
    assert_eq!(status, 200);
    assert_eq!(body["calendar"]["status"], "ok", "{body}");
    h.stop().await;
}

#[tokio::test]
async fn an_office_imports_next_years_holidays_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("dudao.sqlite");

    // Before: nothing known for 2027 but the default terms.
    let out = cli(&db, &["calendar", "show", "2027"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("没有节假日数据"), "{}", stdout(&out));

    // A typo is refused with the place and nothing is stored.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, TEST_2027.replace("2027-02-13", "2027-02-31")).unwrap();
    let out = cli(&db, &["calendar", "import", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("春节") && err.contains("2027-02-31") && err.contains("line 11"), "{err}");
    // A file that is not TOML at all: the line is named.
    std::fs::write(&bad, "year = 2027\n[[holidays]\nname = \"元旦\"\n").unwrap();
    let out = cli(&db, &["calendar", "import", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("line 2"), "{}", stderr(&out));
    // Terms overlapping the shipped 2026 file's autumn term would stop the service: refused.
    std::fs::write(&bad, TEST_2027.replace("2027-02-22", "2027-01-11")).unwrap();
    let out = cli(&db, &["calendar", "import", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("2026-2027学年第一学期"), "{}", stderr(&out));

    let good = dir.path().join("2027.toml");
    std::fs::write(&good, TEST_2027).unwrap();
    let out = cli(&db, &["calendar", "import", good.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("2027") && stdout(&out).contains("2 个节假日"), "{}", stdout(&out));

    let out = cli(&db, &["calendar", "show", "2027"]);
    let shown = stdout(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(shown.contains("春节 2027-02-05 至 2027-02-13") && shown.contains("2027-02-14"), "{shown}");
    assert!(shown.contains("导入"), "says where the data comes from: {shown}");

    // The service uses it: January 2027 counts as covered, and 春节 is not a working day.
    let clock = ManualClock::new(local(2026, 12, 10, 10, 0));
    let h = Harness::start_in(dir, "", Some(clock)).await;
    let (status, body) = healthz(&h).await;
    assert_eq!(status, 200);
    assert_eq!(body["calendar"]["status"], "ok", "{body}");
    let spring = chrono::NaiveDate::from_ymd_opt(2027, 2, 8).unwrap();
    assert!(!h.app().calendar.is_working_day(spring));
    assert!(h.app().calendar.is_working_day(chrono::NaiveDate::from_ymd_opt(2027, 2, 14).unwrap()));
    h.stop().await;
}

#[test]
fn the_service_logs_at_start_up_which_year_lacks_holiday_data() {
    let dir = tempfile::tempdir().unwrap();
    // Only a long-past year is known, so whatever today is, this month lacks data.
    let old = dir.path().join("2020.toml");
    std::fs::write(
        &old,
        "year = 2020\n[[holidays]]\nname = \"国庆节\"\nstart = \"2020-10-01\"\nend = \"2020-10-08\"\n",
    )
    .unwrap();
    let config = dir.path().join("dudao.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\npath = \"{}\"\n[http]\nbind = \"127.0.0.1:0\"\n[calendar]\nfiles = [\"{}\"]\n",
            dir.path().join("dudao.sqlite").display().to_string().replace('\\', "/"),
            old.display().to_string().replace('\\', "/")
        ),
    )
    .unwrap();
    // Standard input is empty: the console ends at once and the service stops.
    let out = Command::new(env!("CARGO_BIN_EXE_dudao"))
        .args(["serve", "--config"])
        .arg(&config)
        .env("DUDAO_LOG", "dudao=warn")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run dudao serve");
    assert!(out.status.success(), "{}", stderr(&out));
    let log = stderr(&out);
    let this_year = chrono::Utc::now().with_timezone(&Shanghai).format("%Y").to_string();
    assert!(log.contains("no holiday data for") && log.contains(&this_year), "{log}");
    assert!(log.contains("dudao calendar import"), "{log}");
}

#[tokio::test]
async fn the_office_is_told_once_a_day_which_year_lacks_holidays() {
    let clock = ManualClock::new(local(2026, 12, 10, 8, 0));
    let mut h = Harness::start_with(OFFICE, Some(clock.clone())).await;
    // No admin has a chat account yet: the supervisors' group hears it.
    tick_at(&h, &clock, local(2026, 12, 10, 9, 0)).await;
    let out = h.settle().await;
    assert!(out.contains("[console → 群 office]") && out.contains("2027年"), "{out}");
    assert!(out.contains("dudao calendar import"), "says how to fix it: {out}");
    let warned: i64 = dudao::sql::query_scalar("SELECT COUNT(*) FROM calendar_warnings WHERE year = 2027")
        .fetch_one(h.db())
        .await
        .unwrap();
    assert_eq!(warned, 1);

    // The check runs again in the afternoon: already told today.
    tick_at(&h, &clock, local(2026, 12, 10, 15, 0)).await;
    assert!(!h.settle().await.contains("2027年"), "already told today");

    // Next day, with the administrator reachable: to the administrator privately.
    h.bind("adm", "A001").await;
    tick_at(&h, &clock, local(2026, 12, 11, 9, 0)).await;
    let out = h.settle().await;
    assert!(out.contains("[console → 私聊 adm]") && out.contains("2027年"), "{out}");
    assert!(!out.contains("群 office"), "{out}");

    // A restart the same day does not repeat it (the record is in the database).
    let sent = |db: dudao::db::Db| async move {
        dudao::sql::query_scalar::<i64>("SELECT COUNT(*) FROM outbox WHERE source = 'calendar'")
            .fetch_one(&db)
            .await
            .unwrap()
    };
    assert_eq!(sent(h.db().clone()).await, 2);
    let dir = h.stop().await;
    let h = Harness::start_in(dir, OFFICE, Some(clock.clone())).await;
    tick_at(&h, &clock, local(2026, 12, 11, 15, 0)).await;
    assert_eq!(sent(h.db().clone()).await, 2, "nothing more after the restart");
    h.stop().await;
}

const RECTIFY: &str = r#"
[rectify]
sweep_cron = ""
"#;

#[tokio::test]
async fn a_rectification_period_counts_working_days_across_national_day() {
    // Tuesday 29 September 2026; 国庆 is 1–7 October and Saturday 10 October is worked.
    let clock = ManualClock::new(local(2026, 9, 29, 9, 0));
    let mut h = Harness::start_with(RECTIFY, Some(clock)).await;
    h.bind("hao", "D008").await;
    let out = h.say("hao: 记问题 实验小学 6 一般 教室灭火器过期未更换").await;
    // 7 working days: 9-30, 10-08, 10-09, 10-10 (make-up Saturday), 10-12, 10-13, 10-14.
    assert!(out.contains("已登记问题") && out.contains("10月14日"), "{out}");
    let deadline: String = dudao::sql::query_scalar("SELECT deadline FROM rectify_items ORDER BY id DESC LIMIT 1")
        .fetch_one(h.db())
        .await
        .unwrap();
    assert_eq!(deadline, "2026-10-14");
    // 严重: 3 working days → 9-30, 10-08, 10-09.
    let out = h.say("hao: 记问题 实验小学 6 严重 楼梯扶手松动").await;
    assert!(out.contains("10月9日"), "{out}");
    h.stop().await;
}

const WEEKLY: &str = r#"
[weekly]
exempt_invited = false
prompt_cron = "0 16 * * Tue"
deadline = "Thu 12:00"
reminders_before_hours = [146, 3]

[[groups]]
channel = "console"
id = "zone5"
purpose = "zone_inspectors"
zone = "Z05"
"#;

#[tokio::test]
async fn a_weekly_deadline_on_a_holiday_moves_and_nobody_is_reminded_during_it() {
    let clock = ManualClock::new(local(2026, 9, 29, 15, 0));
    let mut h = Harness::start_with(WEEKLY, Some(clock.clone())).await;
    // Tuesday 29 September 16:00: the prompt. Thursday 1 October is 国庆: due Thursday 8 October.
    tick_at(&h, &clock, local(2026, 9, 29, 16, 0)).await;
    let out = h.settle().await;
    assert!(out.contains("[console → 群 zone5]") && out.contains("10月08日 12:00"), "{out}");
    let deadline: String =
        dudao::sql::query_scalar("SELECT deadline_at FROM weekly_rounds LIMIT 1").fetch_one(h.db()).await.unwrap();
    assert_eq!(dudao::db::parse_ts(&deadline), Some(local(2026, 10, 8, 12, 0)));

    // 146 h before the deadline is Friday 2 October, a holiday: nothing goes out, no wrap-up.
    for t in [local(2026, 10, 1, 12, 10), local(2026, 10, 2, 10, 0), local(2026, 10, 2, 10, 10)] {
        tick_at(&h, &clock, t).await;
        let out = h.settle().await;
        assert!(out.is_empty(), "{t}: {out}");
    }
    // The held reminder goes out on the first working day at the same time, before the deadline.
    tick_at(&h, &clock, local(2026, 10, 8, 10, 0)).await;
    let out = h.settle().await;
    assert!(out.contains("【周交流提醒】"), "{out}");
    h.stop().await;
}
