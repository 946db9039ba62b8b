//! Operations through the real binary: one service per database, backups taken under write
//! load and restored, the copy taken before an upgrade, the refusal of a downgrade, and the
//! scheduled backup with its retention.

mod common;

use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// The binary with a database in `dir`, the HTTP listener on any free port, no console.
fn dudao(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dudao"));
    c.env("DUDAO_DATABASE__PATH", dir.join("data/dudao.sqlite"))
        .env("DUDAO_HTTP__BIND", "127.0.0.1:0")
        .env("DUDAO_CHANNELS__CONSOLE__ENABLED", "false")
        .env("DUDAO_ROSTER__SAMPLE_ON_EMPTY", "false")
        .env("DUDAO_LOG", "dudao=info,warn")
        .env_remove("DUDAO_CONFIG")
        .stdin(Stdio::null());
    c
}

fn run(dir: &Path, args: &[&str]) -> Output {
    dudao(dir).args(args).output().expect("the dudao binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A running `dudao serve`; killed when dropped, so a failing assertion leaves nothing behind.
struct Service {
    child: Child,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `serve` and returns once it logged that it runs (its standard error is read line by
/// line; the rest of it keeps draining in the background).
fn start_service(dir: &Path) -> Service {
    let mut child = dudao(dir).arg("serve").stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut seen = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            seen.push_str(&line);
            seen.push('\n');
            if line.contains("Dudao is running") {
                let _ = tx.send(Ok(()));
            }
        }
        let _ = tx.send(Err(seen));
    });
    let service = Service { child };
    match rx.recv_timeout(Duration::from_secs(120)) {
        Ok(Ok(())) => service,
        Ok(Err(log)) => panic!("the service stopped before running:\n{log}"),
        Err(e) => panic!("the service did not report running: {e}"),
    }
}

#[test]
fn a_second_service_on_the_same_database_is_refused_until_the_first_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = start_service(dir.path());
    let pid = first.child.id();

    let second = run(dir.path(), &["serve"]);
    assert!(!second.status.success(), "a second serve must not start");
    let err = text(&second.stderr);
    assert!(err.contains("只能运行一个服务"), "{err}");
    assert!(err.contains(&format!("PID {pid}")), "the refusal names the holder: {err}");
    assert!(err.contains("dudao.sqlite.lock"), "{err}");

    // Neither can the database be migrated or replaced under it.
    let migrate = run(dir.path(), &["migrate"]);
    assert!(!migrate.status.success() && text(&migrate.stderr).contains("只能运行一个服务"));
    let restore = run(dir.path(), &["restore", "whatever.sqlite"]);
    assert!(!restore.status.success() && text(&restore.stderr).contains("只能运行一个服务"));
    // Commands meant to run beside the service still do.
    let check = run(dir.path(), &["migrate", "--check"]);
    assert!(check.status.success(), "{}", text(&check.stderr));
    assert!(text(&check.stdout).contains("已是最新结构"), "{}", text(&check.stdout));

    // A crash leaves no stale lock: the operating system releases it with the process.
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    let _again = start_service(dir.path());
}

/// Inserts inbound messages 1, 2, 3 … one transaction each until told to stop.
fn insert_message(n: u64) -> dudao::sql::Query<'static> {
    dudao::sql::query(
        "INSERT INTO inbound_messages (channel, platform, platform_msg_id, chat_kind, chat_id, sender_id, text, segments,
             to_me, sent_at, received_at, status)
         VALUES ('console', 'console', ?, 'group', 'county', 'li', ?, '[]', 1, '2026-12-01T01:00:00.000Z',
             '2026-12-01T01:00:00.000Z', 'processed')",
    )
    .bind(n.to_string())
    .bind(format!("第{n}条：本周走访了实验小学"))
}

async fn message_ids(db: &dudao::db::Db) -> Vec<i64> {
    dudao::sql::query_scalar("SELECT CAST(platform_msg_id AS INTEGER) FROM inbound_messages ORDER BY 1")
        .fetch_all(db)
        .await
        .unwrap()
}

async fn open(path: &Path) -> dudao::db::Db {
    dudao::db::connect_path(path, dudao::config::Synchronous::Normal, Duration::from_secs(5)).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_write_load_is_consistent_and_restore_brings_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("data/dudao.sqlite");
    let settings = common::settings_for(&dir, "");
    let mut database = settings.database.clone();
    database.path = db_path.clone();
    let db = dudao::db::open_and_migrate(&database).await.unwrap();
    // An evidence photo, stored as the service stores them: under its own hash.
    let photo = "整改完成照片：操场护栏已修复".as_bytes();
    let hash: String = Sha256::digest(photo).iter().map(|b| format!("{b:02x}")).collect();
    let evidence = dir.path().join("data/evidence").join(&hash[..2]);
    std::fs::create_dir_all(&evidence).unwrap();
    std::fs::write(evidence.join(&hash), photo).unwrap();

    let committed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (db, committed, stop) = (db.clone(), committed.clone(), stop.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                insert_message(n).execute(&db).await.unwrap();
                committed.store(n, Ordering::SeqCst);
                tokio::task::yield_now().await;
            }
        })
    };
    while committed.load(Ordering::SeqCst) < 200 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let before = committed.load(Ordering::SeqCst);
    let backup = dir.path().join("备份/dudao-手工.sqlite");
    let out = {
        let (d, b) = (dir.path().to_path_buf(), backup.clone());
        tokio::task::spawn_blocking(move || run(&d, &["backup", b.to_str().unwrap()])).await.unwrap()
    };
    let after = committed.load(Ordering::SeqCst);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(after > before, "writes went on during the backup ({before} → {after})");
    assert!(text(&out.stdout).contains("完整性检查通过"), "{}", text(&out.stdout));

    // The manifest beside it lists the evidence photo with its hash, and the copy itself.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dudao::backup::manifest_path(&backup)).unwrap()).unwrap();
    assert_eq!(manifest["evidence"][0]["path"], format!("{}/{hash}", &hash[..2]));
    assert_eq!(manifest["evidence"][0]["sha256"], hash);
    assert_eq!(manifest["evidence"][0]["size"], photo.len());
    assert_eq!(manifest["database"]["sha256"], dudao::backup::hash_file(&backup).unwrap().0);
    assert_eq!(manifest["schema_version"], dudao::db::newest_known_migration());

    // The copy is sound and is the database at one instant: messages 1..=k, no gap. (Read
    // through a copy of it: opening for writing changes the file's header, hence its hash.)
    assert_eq!(dudao::db::integrity_check(&backup).unwrap(), ["ok"]);
    let inspect = dir.path().join("inspect.sqlite");
    std::fs::copy(&backup, &inspect).unwrap();
    let copy = open(&inspect).await;
    let ids = message_ids(&copy).await;
    copy.close().await;
    let k = ids.len() as u64;
    assert!(k >= before && k <= after, "{before} <= {k} <= {after}");
    assert_eq!(ids, (1..=k as i64).collect::<Vec<_>>(), "a consistent snapshot has no gaps");

    stop.store(true, Ordering::SeqCst);
    writer.await.unwrap();
    let total = committed.load(Ordering::SeqCst);
    db.close().await;

    // A damaged copy is refused before anything is touched.
    let damaged = dir.path().join("备份/损坏.sqlite");
    let mut bytes = std::fs::read(&backup).unwrap();
    bytes.extend_from_slice(b"tail");
    std::fs::write(&damaged, bytes).unwrap();
    std::fs::copy(dudao::backup::manifest_path(&backup), dudao::backup::manifest_path(&damaged)).unwrap();
    let refused = run(dir.path(), &["restore", damaged.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(text(&refused.stderr).contains("sha256 不符"), "{}", text(&refused.stderr));

    // Restore: the copy's rows are back, what came after is not, and the old file is kept aside.
    let out = run(dir.path(), &["restore", backup.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(said.contains("与清单一致（1 个文件）"), "{said}");
    let restored = open(&db_path).await;
    assert_eq!(message_ids(&restored).await.len() as u64, k);
    restored.close().await;
    let aside: Vec<PathBuf> = std::fs::read_dir(dir.path().join("data"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains(".before-restore-") && !p.to_string_lossy().ends_with("-shm"))
        .filter(|p| !p.to_string_lossy().ends_with("-wal"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    let old = open(&aside[0]).await;
    assert_eq!(message_ids(&old).await.len() as u64, total, "the replaced database is intact aside");
    old.close().await;

    // A missing photo is reported by the next restore.
    std::fs::remove_file(evidence.join(&hash)).unwrap();
    let out = run(dir.path(), &["restore", backup.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(&format!("{}/{hash}", &hash[..2])), "{}", text(&out.stdout));
}

/// A database as the build of 8c82da5 left it, through sqlx's own migrator and ledger.
async fn old_database(path: &Path) -> i64 {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let opts = sqlx::sqlite::SqliteConnectOptions::new().filename(path).create_if_missing(true);
    let pool = sqlx::sqlite::SqlitePoolOptions::new().max_connections(1).connect_with(opts).await.unwrap();
    let level = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema_levels/3_themes_visits_8c82da5");
    let migrator = sqlx::migrate::Migrator::new(level).await.unwrap();
    migrator.run(&pool).await.unwrap();
    pool.close().await;
    migrator.iter().map(|m| m.version).max().unwrap()
}

#[tokio::test]
async fn an_upgrade_copies_the_database_first_and_a_downgrade_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("data/dudao.sqlite");
    let old = old_database(&db_path).await;
    let newest = dudao::db::newest_known_migration();

    let check = run(dir.path(), &["migrate", "--check"]);
    assert!(check.status.success(), "{}", text(&check.stderr));
    let listed = text(&check.stdout);
    assert!(listed.contains(&format!("迁移 {old}")), "{listed}");
    assert!(listed.contains(&newest.to_string()), "the newest migration is pending: {listed}");
    assert!(listed.contains("应用前会先把数据库复制到"), "{listed}");
    assert!(!dir.path().join("data/backups").exists(), "--check changes nothing");

    let up = run(dir.path(), &["migrate"]);
    assert!(up.status.success(), "{}", text(&up.stderr));
    let backups: Vec<PathBuf> =
        std::fs::read_dir(dir.path().join("data/backups")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(backups.len(), 1, "{backups:?}");
    let name = backups[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with(&format!("dudao-pre-migrate-{old}-to-{newest}-")), "{name}");
    assert_eq!(dudao::db::integrity_check(&backups[0]).unwrap(), ["ok"]);
    assert_eq!(
        dudao::db::file_schema_status(&backups[0]).unwrap().applied.last(),
        Some(&old),
        "the copy is the old schema"
    );
    assert!(dudao::db::file_schema_status(&db_path).unwrap().pending.is_empty());

    // Nothing pending: no further copy.
    assert!(run(dir.path(), &["migrate"]).status.success());
    assert_eq!(std::fs::read_dir(dir.path().join("data/backups")).unwrap().count(), 1);

    // A newer build's migration in the ledger: this build refuses, naming both versions.
    let db = open(&db_path).await;
    dudao::sql::query(
        "INSERT INTO _sqlx_migrations (version, description, installed_on, success, checksum, execution_time)
         VALUES (20991231000000, 'from the future', CURRENT_TIMESTAMP, 1, x'00', 1)",
    )
    .execute(&db)
    .await
    .unwrap();
    db.close().await;
    for args in [&["migrate"][..], &["serve"], &["migrate", "--check"]] {
        let out = run(dir.path(), args);
        assert!(!out.status.success(), "{args:?} must refuse");
        let err = text(&out.stderr);
        assert!(err.contains("20991231000000") && err.contains(&newest.to_string()), "{args:?}: {err}");
    }
}

#[tokio::test]
async fn the_scheduled_backup_runs_once_a_day_and_keeps_the_newest() {
    use common::{shanghai, tick_at};
    let clock = dudao::clock::ManualClock::new(shanghai(12, 1, 1, 0));
    let h = common::Harness::start_with("[backup]\nschedule = \"30 2 * * *\"\nkeep = 2\n", Some(clock.clone())).await;
    let dir = h.dir.path().join("backups");
    let listing = || -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&dir)
            .map(|r| r.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        v.sort();
        v
    };
    tick_at(&h, &clock, shanghai(12, 1, 2, 31)).await;
    assert_eq!(listing(), ["dudao-20261201-023100.sqlite", "dudao-20261201-023100.sqlite.manifest.json"]);
    let copy = dir.join("dudao-20261201-023100.sqlite");
    assert_eq!(dudao::db::integrity_check(&copy).unwrap(), ["ok"]);
    let people: i64 =
        dudao::sql::query_scalar("SELECT COUNT(*) FROM people").fetch_one(&open(&copy).await).await.unwrap();
    assert!(people > 0, "the copy holds the sample roster");

    // Later the same day: that day's copy exists, none is added.
    tick_at(&h, &clock, shanghai(12, 1, 9, 0)).await;
    assert_eq!(listing().len(), 2);
    for day in [2, 3] {
        tick_at(&h, &clock, shanghai(12, day, 2, 30)).await;
    }
    assert_eq!(
        listing(),
        [
            "dudao-20261202-023000.sqlite",
            "dudao-20261202-023000.sqlite.manifest.json",
            "dudao-20261203-023000.sqlite",
            "dudao-20261203-023000.sqlite.manifest.json",
        ],
        "keep = 2: the oldest went with its manifest"
    );
}

#[test]
fn logs_are_plain_lines_or_json_with_zoned_timestamps_and_no_colours_off_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    // An environment variable that is not a setting is ignored with a warning: one log line.
    let human = dudao(dir.path()).args(["migrate", "--check"]).env("DUDAO_DEPLOY_HOST", "主机一").output().unwrap();
    assert!(human.status.success(), "{}", text(&human.stderr));
    let line = text(&human.stderr).lines().find(|l| l.contains("DUDAO_DEPLOY_HOST")).unwrap_or_default().to_string();
    assert!(line.contains("WARN"), "{line}");
    assert!(!line.contains('\u{1b}'), "no colour codes when standard error is not a terminal: {line:?}");
    let stamp = line.split_whitespace().next().unwrap();
    let t = chrono::DateTime::parse_from_rfc3339(stamp).unwrap_or_else(|e| panic!("{stamp}: {e}"));
    assert_eq!(t.offset().local_minus_utc(), 8 * 3600, "the offset of service.timezone: {stamp}");

    let json = dudao(dir.path())
        .args(["migrate", "--check"])
        .env("DUDAO_DEPLOY_HOST", "主机一")
        .env("DUDAO_LOG__FORMAT", "json")
        .output()
        .unwrap();
    assert!(json.status.success(), "{}", text(&json.stderr));
    let line = text(&json.stderr).lines().find(|l| l.contains("DUDAO_DEPLOY_HOST")).unwrap_or_default().to_string();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
    assert_eq!(v["level"], "WARN");
    assert_eq!(v["variable"], "DUDAO_DEPLOY_HOST", "fields are keys of the object: {line}");
    assert!(v["timestamp"].as_str().unwrap().ends_with("+08:00"), "{line}");
    assert!(!text(&json.stderr).contains("主机一"), "the value is never logged");
}
