//! The one "record this event once" ledger (`store::once`): each event happens once per
//! subject, the migration carries the four old ledgers over, and the sample purge forgets the
//! events of the sample's rounds, themes and items so real ones that reuse their ids are
//! reminded normally.

mod common;

use chrono::{DateTime, Utc};
use common::{shanghai, Harness};
use dudao::clock::ManualClock;
use dudao::scheduler::{Firing, Job};
use dudao::store::once::{self, Subject, SubjectKind};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[tokio::test]
async fn an_event_is_recorded_once_per_subject() {
    let dir = tempfile::tempdir().unwrap();
    let db = dudao::db::connect_path(
        &dir.path().join("dudao.sqlite"),
        dudao::config::Synchronous::Normal,
        std::time::Duration::from_secs(5),
    )
    .await
    .unwrap();
    dudao::db::migrate(&db).await.unwrap();
    let t = shanghai(11, 20, 9, 0);
    let mut tx = dudao::db::begin_write(&db).await.unwrap();
    assert!(once::record_once(&mut tx, Subject::RectifyItem(7), "L1", t).await.unwrap());
    assert!(!once::record_once(&mut tx, Subject::RectifyItem(7), "L1", t).await.unwrap(), "second call");
    // Same id and event under other kinds, another id, another event: all independent.
    assert!(once::record_once(&mut tx, Subject::Theme(7), "L1", t).await.unwrap());
    assert!(once::record_once(&mut tx, Subject::WeeklyRound(7), "L1", t).await.unwrap());
    assert!(once::record_once(&mut tx, Subject::RectifyItem(8), "L1", t).await.unwrap());
    assert!(once::record_once(&mut tx, Subject::RectifyItem(7), "L2", t).await.unwrap());
    assert!(once::record_once(&mut tx, Subject::CalendarYear(2027), "2026-11-20", t).await.unwrap());
    assert!(!once::record_once(&mut tx, Subject::CalendarYear(2027), "2026-11-20", t).await.unwrap());
    tx.commit().await.unwrap();

    let mut conn = db.acquire().await.unwrap();
    assert!(once::has_happened(&mut conn, Subject::RectifyItem(7), "L2").await.unwrap());
    assert!(!once::has_happened(&mut conn, Subject::RectifyItem(9), "L1").await.unwrap());
    assert!(!once::has_happened(&mut conn, Subject::CalendarYear(2028), "2026-11-20").await.unwrap());
    let events = once::events_of(&mut conn, Subject::RectifyItem(7)).await.unwrap();
    assert_eq!(events, [("L1".to_string(), t), ("L2".to_string(), t)]);
    // The old names still read, for the two ledgers that reports and tests query.
    let levels: Vec<String> =
        dudao::sql::query_scalar("SELECT level FROM rectify_escalations WHERE item_id = 7 ORDER BY rowid")
            .fetch_all(&mut *conn)
            .await
            .unwrap();
    assert_eq!(levels, ["L1", "L2"]);
    let warned: i64 = dudao::sql::query_scalar("SELECT COUNT(*) FROM calendar_warnings WHERE year = 2027")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(warned, 1);
    drop(conn);

    let mut tx = dudao::db::begin_write(&db).await.unwrap();
    assert_eq!(once::forget_kind(&mut tx, SubjectKind::RectifyItem).await.unwrap(), 3);
    assert!(once::record_once(&mut tx, Subject::RectifyItem(7), "L1", t).await.unwrap(), "forgotten");
    assert!(!once::record_once(&mut tx, Subject::Theme(7), "L1", t).await.unwrap(), "other kinds kept");
    tx.commit().await.unwrap();
    db.close().await;
}

#[tokio::test]
async fn the_migration_carries_the_four_ledgers_over() {
    // The schema just before the once-ledger, with a row in each old ledger.
    let dir = tempfile::tempdir().unwrap();
    let before = dir.path().join("before");
    std::fs::create_dir_all(&before).unwrap();
    for e in std::fs::read_dir(root().join("migrations")).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_str().unwrap().to_string();
        if name.as_str() < "20261204000060" {
            std::fs::copy(&p, before.join(&name)).unwrap();
        }
    }
    let path = dir.path().join("dudao.sqlite");
    {
        use sqlx::{ConnectOptions, Connection};
        // Without foreign keys: the ledger rows are what is carried over, not their subjects.
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .foreign_keys(false)
            .connect()
            .await
            .unwrap();
        sqlx::migrate::Migrator::new(before.as_path()).await.unwrap().run(&mut conn).await.unwrap();
        for sql in [
            "INSERT INTO weekly_round_events (round_id, event, at) VALUES (3, 'remind:0', 'a'), (3, 'wrapup', 'b')",
            "INSERT INTO theme_events (theme_id, event, at) VALUES (4, 'remind:15', 'c')",
            "INSERT INTO rectify_escalations (item_id, level, at) VALUES (5, 'L2', 'd'), (5, 'L1', 'e')",
            "INSERT INTO calendar_warnings (year, period, warned_at) VALUES (2027, '2026-12-10', 'f')",
        ] {
            sqlx::query(sql).execute(&mut conn).await.unwrap();
        }
        conn.close().await.unwrap();
    }
    let db = dudao::db::connect_path(&path, dudao::config::Synchronous::Normal, std::time::Duration::from_secs(5))
        .await
        .unwrap();
    dudao::db::migrate(&db).await.unwrap();
    let rows: Vec<(String, i64, String, String)> =
        dudao::sql::query_as("SELECT subject_kind, subject_id, event, at FROM once_events ORDER BY rowid")
            .fetch_all(&db)
            .await
            .unwrap();
    let expected = [
        ("weekly_round", 3, "remind:0", "a"),
        ("weekly_round", 3, "wrapup", "b"),
        ("theme", 4, "remind:15", "c"),
        ("rectify_item", 5, "L2", "d"),
        ("rectify_item", 5, "L1", "e"),
        ("calendar_year", 2027, "2026-12-10", "f"),
    ];
    let expected: Vec<(String, i64, String, String)> =
        expected.iter().map(|(k, i, e, a)| (k.to_string(), *i, e.to_string(), a.to_string())).collect();
    assert_eq!(rows, expected);
    let old_tables: i64 = dudao::sql::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'
           AND name IN ('weekly_round_events', 'theme_events', 'rectify_escalations', 'calendar_warnings')",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(old_tables, 0, "the four tables are replaced");
    let levels: Vec<String> =
        dudao::sql::query_scalar("SELECT level FROM rectify_escalations WHERE item_id = 5 ORDER BY rowid")
            .fetch_all(&db)
            .await
            .unwrap();
    assert_eq!(levels, ["L2", "L1"]);
    // Carried-over events still count as happened.
    let mut tx = dudao::db::begin_write(&db).await.unwrap();
    assert!(!once::record_once(&mut tx, Subject::WeeklyRound(3), "wrapup", Utc::now()).await.unwrap());
    assert!(!once::record_once(&mut tx, Subject::Theme(4), "remind:15", Utc::now()).await.unwrap());
    assert!(!once::record_once(&mut tx, Subject::RectifyItem(5), "L1", Utc::now()).await.unwrap());
    assert!(!once::record_once(&mut tx, Subject::CalendarYear(2027), "2026-12-10", Utc::now()).await.unwrap());
    tx.commit().await.unwrap();
    db.close().await;
}

// ---------------------------------------------------------------------------------------------
// The sample purge

/// Weekly reports privately (no groups), the sweeps driven by hand.
const CONFIG: &str = r#"
[tasks]
sweep_cron = ""

[rectify]
sweep_cron = ""
evidence_poll_secs = 3600
"#;

const ZONES: &str = "编号,名称,级别,组长\n\
QH1,清河县第一责任区,县级,D001\n\
QH2,清河县第二责任区,县级,D002\n";

const SCHOOLS: &str = "学校代码,学校名称,简称,别名,责任区,学段,办学性质,市直,寄宿,主责督学,协同督学,回避督学\n\
4100000001,清河县实验小学,实验小学,,QH1,小学,公办,否,否,D001,,\n\
4100000003,清河县柳林乡中心小学,柳林中心小学,,QH2,小学,公办,否,否,D002,,\n";

const PEOPLE: &str = "编号,姓名,角色,督学类型,责任区,学校,职务,手机,QQ,企业微信,Telegram,备注\n\
D001,赵明远,责任督学,专职,QH1,,,13800000001,,,,\n\
D002,钱秀兰,责任督学,专职,QH2,,,13800000002,,,,\n\
S001,孙立新,督导室,,,,督导室主任,13800000003,,,,\n\
C0001,周春梅,学校联络员,,,4100000001,,13800000005,,,,\n";

fn import_real_roster(dir: &Path) {
    let d = dir.join("real");
    std::fs::create_dir_all(&d).unwrap();
    let mut args = vec!["roster".to_string(), "import".to_string()];
    for (file, text) in [("zones.csv", ZONES), ("schools.csv", SCHOOLS), ("people.csv", PEOPLE)] {
        std::fs::write(d.join(file), text).unwrap();
        args.push(d.join(file).to_str().unwrap().to_string());
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dudao"))
        .args(&args)
        .env("DUDAO_DATABASE__PATH", dir.join("dudao.sqlite"))
        .env("DUDAO_LOG", "warn")
        .output()
        .expect("run dudao");
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{printed}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(printed.contains("移除示例县数据"), "{printed}");
}

/// Runs one job directly, as its schedule would at `nominal`.
async fn run_job(h: &Harness, job: &dyn Job, schedule: &str, nominal: DateTime<Utc>) {
    let app = h.app().clone();
    let firing =
        Firing { schedule: schedule.into(), nominal_at: nominal, fire_at: nominal, params: serde_json::json!({}) };
    let mut tx = dudao::db::begin_write(&app.db).await.unwrap();
    job.run(&app.job_ctx, &mut tx, &firing).await.unwrap();
    tx.commit().await.unwrap();
}

async fn rectify_sweep(h: &Harness) -> dudao::app::rectify::SweepReport {
    let app = h.app().clone();
    let mut tx = dudao::db::begin_write(&app.db).await.unwrap();
    let r = dudao::app::rectify::sweep(&app.job_ctx, &mut tx, app.clock.now()).await.unwrap();
    tx.commit().await.unwrap();
    r
}

async fn count(h: &Harness, sql: &str) -> i64 {
    dudao::sql::query_scalar(sql).fetch_one(h.db()).await.unwrap()
}

/// The week's round, reminded (privately), the theme's reminder on the 15th, and an item's
/// first escalation step: run once on the sample, then on the real roster after the purge.
async fn use_the_county(h: &mut Harness, clock: &ManualClock, inspector: &str) -> (i64, i64, i64) {
    clock.set(shanghai(11, 13, 16, 0));
    run_job(h, &dudao::app::weekly::Prompt, "weekly_prompt", shanghai(11, 13, 16, 0)).await;
    let round: i64 = count(h, "SELECT id FROM weekly_rounds WHERE week = '2026-W46'").await;
    clock.set(shanghai(11, 16, 9, 30));
    run_job(h, &dudao::app::weekly::Sweep, "weekly_sweep", shanghai(11, 16, 9, 30)).await;
    run_job(h, &dudao::app::monthly::ThemeRemind, "theme_remind", shanghai(11, 1, 9, 0)).await;
    run_job(h, &dudao::app::monthly::ThemeRemind, "theme_remind", shanghai(11, 15, 9, 0)).await;
    let theme: i64 = count(h, "SELECT id FROM monthly_themes WHERE month = '2026-11'").await;
    let out = h.say(&format!("[{inspector}-1] {inspector}: 记问题 实验小学 6 围墙破损 期限:11月17日")).await;
    assert!(out.contains("已登记问题"), "{out}");
    let item: i64 = count(h, "SELECT MAX(id) FROM rectify_items").await;
    assert_eq!(rectify_sweep(h).await.reminders, 1, "the day-before reminder of W{item}");
    h.settle().await;
    (round, theme, item)
}

/// Outbox rows (this phase's: the purge empties the queue) with a key pattern, to one person.
async fn sent_to(h: &Harness, key_like: &str, code: &str) -> i64 {
    dudao::sql::query_scalar(
        "SELECT COUNT(*) FROM outbox o JOIN people p ON p.id = o.person_id WHERE o.idempotency_key LIKE ? AND p.code = ?",
    )
    .bind(key_like)
    .bind(code)
    .fetch_one(h.db())
    .await
    .unwrap()
}

#[tokio::test]
async fn real_rounds_themes_and_items_reusing_sample_ids_are_reminded() {
    let clock = ManualClock::new(shanghai(11, 13, 9, 0));
    // The trial on the sample county: 郝涛 (D008) is 实验小学's inspector there.
    let mut h = Harness::start_with(CONFIG, Some(clock.clone())).await;
    h.bind("hao", "D008").await;
    let (round, theme, item) = use_the_county(&mut h, &clock, "hao").await;
    assert!(sent_to(&h, &format!("weekly:r{round}:remind%"), "D008").await > 0, "the sample round was reminded");
    assert_eq!(sent_to(&h, "theme:2026-11:remind15:%", "D008").await, 1, "the sample theme was reminded");
    for kind in ["weekly_round", "theme", "rectify_item"] {
        let n = count(&h, &format!("SELECT COUNT(*) FROM once_events WHERE subject_kind = '{kind}'")).await;
        assert!(n > 0, "{kind}");
    }
    let dir = h.stop().await;

    // The office's first real import removes the sample and the ledger rows of its subjects.
    import_real_roster(dir.path());

    let mut h = Harness::start_in(dir, CONFIG, Some(clock.clone())).await;
    assert_eq!(count(&h, "SELECT COUNT(*) FROM weekly_rounds").await, 0, "the trial's rounds went");
    assert_eq!(count(&h, "SELECT COUNT(*) FROM rectify_items").await, 0);
    assert_eq!(count(&h, "SELECT COUNT(*) FROM once_events WHERE subject_kind <> 'calendar_year'").await, 0);
    // (Explicit message ids: the restarted harness numbers its messages from 0 again.)
    for (acct, code) in [("zhao", "D001"), ("zhou", "C0001")] {
        let out = h.say(&format!("[real-bind-{acct}] {acct}: 绑定 {}", h.code_for(code).await)).await;
        assert!(out.contains("绑定成功"), "{out}");
    }

    // The same week, the same month, the same dates on the real roster: the new round and item
    // reuse the sample's ids, the theme is the one kept, and every reminder goes out again.
    let (round2, theme2, item2) = use_the_county(&mut h, &clock, "zhao").await;
    assert_eq!((round2, theme2, item2), (round, theme, item), "ids reused");
    assert!(sent_to(&h, &format!("weekly:r{round}:remind%"), "D001").await > 0, "the real round was reminded");
    assert_eq!(sent_to(&h, "theme:2026-11:remind15:%", "D001").await, 1, "the theme's reminder round again");
    assert_eq!(sent_to(&h, &format!("rectify:W{item}:L0:%"), "C0001").await, 1, "the real contact told of W{item}");
    h.stop().await;
}
