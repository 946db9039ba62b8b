//! Migrations are append-only once released, and databases created by every earlier build
//! upgrade to the current schema when the current build starts on them.

mod common;

use common::Harness;
use sha2::{Digest, Sha384};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn version_of(file_name: &str) -> i64 {
    file_name.split('_').next().and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("bad name {file_name}"))
}

/// `tests/fixtures/released_migrations.sha384` lists every released migration in `sha384sum`
/// format. A released file must never change (sqlx refuses to start on a database that applied
/// the old text). When a release ships a new migration, append its line from the repository root:
///     sha384sum migrations/<version>_<name>.sql >> tests/fixtures/released_migrations.sha384
/// A schema change after that goes into yet another new file.
#[test]
fn released_migrations_are_never_edited() {
    let list = std::fs::read_to_string(root().join("tests/fixtures/released_migrations.sha384")).unwrap();
    let mut released = Vec::new();
    for line in list.lines().filter(|l| !l.trim().is_empty()) {
        let (sum, path) = line.split_once("  ").unwrap_or_else(|| panic!("not sha384sum format: {line}"));
        let text = std::fs::read(root().join(path))
            .unwrap_or_else(|e| panic!("released migration {path} is gone ({e}); released files are never removed"));
        assert_eq!(
            hex(&Sha384::digest(&text)),
            sum,
            "released migration {path} was edited; add a new migration instead"
        );
        let name = Path::new(path).file_name().unwrap().to_str().unwrap().to_string();
        let version = version_of(&name);
        // What sqlx stores in _sqlx_migrations is the same digest.
        let m = dudao::db::MIGRATOR.iter().find(|m| m.version == version).expect("embedded migration");
        assert_eq!(hex(&m.checksum), sum, "{path}");
        released.push(version);
    }
    assert!(!released.is_empty());
    let last_released = *released.iter().max().unwrap();
    for m in dudao::db::MIGRATOR.iter() {
        assert!(
            released.contains(&m.version) || m.version > last_released,
            "migration {} is not released yet but sorts before the released {last_released}: migrations are append-only",
            m.version
        );
    }
}

/// Earlier builds' migration sets, copied verbatim from their commits.
const LEVELS: &[&str] =
    &["1_foundation_306fda4", "2_weekly_11614aa", "3_themes_visits_8c82da5", "4_once_events_758e0ee"];

/// Builds a database exactly as an earlier build left it (sqlx's own ledger included) and puts
/// a little data in it.
async fn database_at_level(dir: &tempfile::TempDir, level: &str) {
    let path = dir.path().join("dudao.sqlite");
    // The earlier build ran its migrations through sqlx, which wrote sqlx's own ledger.
    let opts = sqlx::sqlite::SqliteConnectOptions::new().filename(&path).create_if_missing(true);
    let pool = sqlx::sqlite::SqlitePoolOptions::new().max_connections(1).connect_with(opts).await.unwrap();
    let migrator = sqlx::migrate::Migrator::new(root().join("tests/fixtures/schema_levels").join(level)).await.unwrap();
    migrator.run(&pool).await.unwrap();
    pool.close().await;
    let db = dudao::db::connect_path(&path, dudao::config::Synchronous::Normal, std::time::Duration::from_secs(5))
        .await
        .unwrap();
    let t = "2026-11-20T01:00:00.000Z";
    for sql in [
        "INSERT INTO regions (id, code, name, level) VALUES (1, 'R1', '青山县', 'county')",
        "INSERT INTO zones (id, region_id, code, name, level) VALUES (1, 1, 'Z1', '东片区', 'county')",
        "INSERT INTO schools (id, region_id, zone_id, code, name, stage) VALUES (1, 1, 1, 'S1', '青山县实验小学', '小学')",
        "INSERT INTO people (id, code, name, role, inspector_type, zone_id) VALUES (1, 'P1', '李督学', 'inspector', 'full_time', 1)",
        "INSERT INTO people (id, code, name, role, school_id) VALUES (2, 'P2', '王校长', 'school_contact', 1)",
    ] {
        dudao::sql::query(sql).execute(&db).await.unwrap();
    }
    dudao::sql::query(
        "INSERT INTO inbound_messages (channel, platform, platform_msg_id, chat_kind, chat_id, sender_id, text, segments,
             to_me, sent_at, received_at, status)
         VALUES ('console', 'console', 'm1', 'group', 'county', 'li', '本周走访了实验小学', '[]', 1, ?, ?, 'processed')",
    )
    .bind(t)
    .bind(t)
    .execute(&db)
    .await
    .unwrap();
    dudao::sql::query(
        "INSERT INTO outbox (idempotency_key, channel, chat_kind, chat_id, segments, status, next_attempt_at, created_at, source)
         VALUES ('k1', 'console', 'group', 'county', '[{\"type\":\"text\",\"text\":\"请按时提交周报\"}]', 'pending', ?, ?, 'test')",
    )
    .bind(t)
    .bind(t)
    .execute(&db)
    .await
    .unwrap();
    db.close().await;
}

#[tokio::test]
async fn databases_from_every_earlier_build_upgrade() {
    for level in LEVELS {
        let dir = tempfile::tempdir().unwrap();
        database_at_level(&dir, level).await;

        // The current build starts on it.
        let h = Harness::start_in(dir, "[roster]\nsample_on_empty = false\n", None).await;
        let db = h.db();
        let applied: Vec<(i64, Vec<u8>, bool)> =
            dudao::sql::query_as("SELECT version, checksum, success FROM _sqlx_migrations ORDER BY version")
                .fetch_all(db)
                .await
                .unwrap();
        let expected: Vec<(i64, Vec<u8>, bool)> =
            dudao::db::MIGRATOR.iter().map(|m| (m.version, m.checksum.to_vec(), true)).collect();
        assert_eq!(applied, expected, "level {level}: every migration applied with the current checksums");

        // Data intact.
        let name: String =
            dudao::sql::query_scalar("SELECT name FROM people WHERE code = 'P1'").fetch_one(db).await.unwrap();
        assert_eq!(name, "李督学", "level {level}");
        let text: String = dudao::sql::query_scalar("SELECT text FROM inbound_messages WHERE platform_msg_id = 'm1'")
            .fetch_one(db)
            .await
            .unwrap();
        assert_eq!(text, "本周走访了实验小学", "level {level}");
        let n: i64 = dudao::sql::query_scalar("SELECT COUNT(*) FROM outbox WHERE idempotency_key = 'k1'")
            .fetch_one(db)
            .await
            .unwrap();
        assert_eq!(n, 1, "level {level}");

        // The schema is the current one: the renamed index, and the self-check tables usable.
        let indexes: Vec<String> = dudao::sql::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'outbox' ORDER BY name",
        )
        .fetch_all(db)
        .await
        .unwrap();
        assert!(indexes.contains(&"outbox_queue".to_string()), "level {level}: {indexes:?}");
        assert!(!indexes.contains(&"outbox_ready".to_string()), "level {level}: {indexes:?}");
        let escalations: Vec<String> =
            dudao::sql::query_scalar("SELECT name FROM pragma_index_info('once_events_kind_at') ORDER BY seqno")
                .fetch_all(db)
                .await
                .unwrap();
        assert_eq!(escalations, ["subject_kind", "at", "subject_id", "event"], "level {level}");
        let finished: i64 =
            dudao::sql::query_scalar("SELECT COUNT(*) FROM sqlite_master WHERE name = 'rectify_items_finished'")
                .fetch_one(db)
                .await
                .unwrap();
        assert_eq!(finished, 0, "level {level}");
        let t = "2026-11-21T02:00:00.000Z";
        let sc = dudao::sql::query(
            "INSERT INTO rectify_self_checks (school_id, submitted_by, status, created_at, updated_at)
             VALUES (1, 2, 'submitted', ?, ?)",
        )
        .bind(t)
        .bind(t)
        .execute(db)
        .await
        .unwrap()
        .last_insert_rowid();
        dudao::sql::query(
            "INSERT INTO rectify_self_check_lines (self_check_id, line_no, category, severity, description)
             VALUES (?, 1, 3, 'general', '食堂留样记录不全')",
        )
        .bind(sc)
        .execute(db)
        .await
        .unwrap();
        let row = dudao::sql::query(
            "SELECT l.description FROM rectify_self_check_lines l JOIN rectify_self_checks s ON s.id = l.self_check_id",
        )
        .fetch_one(db)
        .await
        .unwrap();
        assert_eq!(row.get::<String, _>(0), "食堂留样记录不全");
        let fk: Vec<(String,)> =
            dudao::sql::query_as("SELECT \"table\" FROM pragma_foreign_key_check").fetch_all(db).await.unwrap();
        assert!(fk.is_empty(), "level {level}: {fk:?}");

        // And starts again (the repair is idempotent).
        let dir = h.stop().await;
        let h = Harness::start_in(dir, "[roster]\nsample_on_empty = false\n", None).await;
        h.stop().await;
    }
}

/// A database with rectification history from before the monthly counts existed: the upgrade
/// counts every recorded event, and `整改对账` then reads the same figures as the events say.
#[tokio::test]
async fn monthly_counts_are_backfilled_from_earlier_events() {
    let dir = tempfile::tempdir().unwrap();
    let before = dir.path().join("before");
    std::fs::create_dir(&before).unwrap();
    for entry in std::fs::read_dir(root().join("migrations")).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().to_string();
        if version_of(&name) < 20261212000400 {
            std::fs::copy(entry.path(), before.join(&name)).unwrap();
        }
    }
    let path = dir.path().join("dudao.sqlite");
    let opts = sqlx::sqlite::SqliteConnectOptions::new().filename(&path).create_if_missing(true);
    let pool = sqlx::sqlite::SqlitePoolOptions::new().max_connections(1).connect_with(opts).await.unwrap();
    sqlx::migrate::Migrator::new(before.as_path()).await.unwrap().run(&pool).await.unwrap();
    pool.close().await;
    let db = dudao::db::connect_path(&path, dudao::config::Synchronous::Normal, std::time::Duration::from_secs(5))
        .await
        .unwrap();
    for sql in [
        "INSERT INTO regions (id, code, name, level) VALUES (1, 'R1', '青山县', 'county')",
        "INSERT INTO zones (id, region_id, code, name, level) VALUES (1, 1, 'Z1', '东片区', 'county')",
        "INSERT INTO zones (id, region_id, code, name, level) VALUES (2, 1, 'Z2', '西片区', 'county')",
        "INSERT INTO schools (id, region_id, zone_id, code, name, stage) VALUES (1, 1, 1, 'S1', '青山县实验小学', '小学')",
        "INSERT INTO schools (id, region_id, zone_id, code, name, stage) VALUES (2, 1, 2, 'S2', '青山县第二中学', '初中')",
    ] {
        dudao::sql::query(sql).execute(&db).await.unwrap();
    }
    // (item, school, events as (local date, action))
    type Events = &'static [(&'static str, &'static str)];
    let history: [(i64, i64, Events); 4] = [
        (1, 1, &[("2026-09-03", "created"), ("2026-09-03", "notified"), ("2026-10-08", "closed")]),
        (2, 1, &[("2026-09-20", "created"), ("2026-10-02", "closed_on_site"), ("2026-11-04", "reopened")]),
        (3, 2, &[("2026-10-11", "created"), ("2026-10-12", "cancelled")]),
        (4, 2, &[("2026-11-02", "created"), ("2026-11-03", "acknowledged")]),
    ];
    for (item, school, events) in history {
        dudao::sql::query(
            "INSERT INTO rectify_items (id, school_id, category, severity, source, description, deadline, status,
                                        created_at, updated_at)
             VALUES (?, ?, 6, 'general', 'visit', '消防器材过期未更换', '2026-12-01', 'in_progress', ?, ?)",
        )
        .bind(item)
        .bind(school)
        .bind(format!("{}T02:00:00.000Z", events[0].0))
        .bind(format!("{}T02:00:00.000Z", events[0].0))
        .execute(&db)
        .await
        .unwrap();
        for (date, action) in events {
            dudao::sql::query(
                "INSERT INTO rectify_events (item_id, action, to_status, at, local_date) VALUES (?, ?, 'x', ?, ?)",
            )
            .bind(item)
            .bind(action)
            .bind(format!("{date}T02:00:00.000Z"))
            .bind(date)
            .execute(&db)
            .await
            .unwrap();
        }
    }
    db.close().await;

    let h = Harness::start_in(dir, "[roster]\nsample_on_empty = false\n", None).await;
    let rows: Vec<(i64, String, i64, i64, i64, i64)> = dudao::sql::query_as(
        "SELECT school_id, month, new, reopened, closed, cancelled FROM rectify_month_counts ORDER BY school_id, month",
    )
    .fetch_all(h.db())
    .await
    .unwrap();
    let row = |s: i64, m: &str, n, r, c, x| (s, m.to_string(), n, r, c, x);
    assert_eq!(
        rows,
        vec![
            row(1, "2026-09", 2, 0, 0, 0),
            row(1, "2026-10", 0, 0, 2, 0),
            row(1, "2026-11", 0, 1, 0, 0),
            row(2, "2026-10", 1, 0, 0, 1),
            row(2, "2026-11", 1, 0, 0, 0),
        ]
    );
    // New events keep counting, in the same transaction as the event.
    dudao::sql::query(
        "INSERT INTO rectify_events (item_id, action, to_status, at, local_date)
         VALUES (4, 'closed', 'closed', '2026-11-20T02:00:00.000Z', '2026-11-20')",
    )
    .execute(h.db())
    .await
    .unwrap();
    let mut conn = h.db().acquire().await.unwrap();
    let through = chrono::NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
    use dudao::domain::rectify::{reconcile_counts, Grouping};
    let zones = reconcile_counts(
        &dudao::store::rectify::month_counts(&mut conn, Grouping::Zone, "2026-11").await.unwrap(),
        through,
    );
    let nov = |zone: &str| zones[&(zone.to_string(), "2026-11".to_string())].clone();
    // 东片区: two items recorded in September, both closed in October, one reopened in November.
    assert_eq!((nov("东片区").opening, nov("东片区").reopened, nov("东片区").closing), (0, 1, 1));
    // 西片区: one cancelled in October; one recorded and closed in November.
    assert_eq!((nov("西片区").opening, nov("西片区").new, nov("西片区").closed, nov("西片区").closing), (0, 1, 1, 0));
    drop(conn);
    h.stop().await;
}
