//! Foundation: storage, roster import, binding, permissions, deduplication, hostile input.

mod common;

use common::{first_person, settings_for, Harness};
use dudao::chat::console::parse_line;
use std::process::Command;

#[tokio::test]
async fn migrations_apply_to_an_empty_file_and_are_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let settings = settings_for(&dir, "");
    let db = dudao::db::open_and_migrate(&settings.database).await.unwrap();
    let tables: Vec<String> =
        dudao::sql::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .fetch_all(&db)
            .await
            .unwrap();
    for t in [
        "people",
        "schools",
        "zones",
        "school_assignments",
        "chat_accounts",
        "chat_groups",
        "inbound_messages",
        "audit_log",
        "outbox",
        "schedules",
        "firings",
    ] {
        assert!(tables.iter().any(|x| x == t), "missing table {t}: {tables:?}");
    }
    let mode: String = dudao::sql::query_scalar("PRAGMA journal_mode").fetch_one(&db).await.unwrap();
    assert_eq!(mode, "wal");
    let fk: i64 = dudao::sql::query_scalar("PRAGMA foreign_keys").fetch_one(&db).await.unwrap();
    assert_eq!(fk, 1);
    db.close().await;
    // A second start finds nothing to do.
    let db = dudao::db::open_and_migrate(&settings.database).await.unwrap();
    db.close().await;
}

#[tokio::test]
async fn sample_roster_loads_on_first_start_and_binds_roster_accounts() {
    let h = Harness::start().await;
    let db = h.db();
    let people: i64 = dudao::sql::query_scalar("SELECT COUNT(*) FROM people").fetch_one(db).await.unwrap();
    let schools: i64 = dudao::sql::query_scalar("SELECT COUNT(*) FROM schools").fetch_one(db).await.unwrap();
    assert_eq!(schools, 120);
    assert!(people >= 270, "{people}");
    // Roster QQ numbers bind without a code.
    let qq: i64 =
        dudao::sql::query_scalar("SELECT COUNT(*) FROM chat_accounts WHERE platform = 'qq' AND source = 'roster'")
            .fetch_one(db)
            .await
            .unwrap();
    assert!(qq > 0);
    h.stop().await;
}

fn run_cli(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    let db = dir.join("cli.sqlite");
    Command::new(env!("CARGO_BIN_EXE_dudao"))
        .args(args)
        .env("DUDAO_DATABASE__PATH", &db)
        .env("DUDAO_LOG", "warn")
        .output()
        .expect("run dudao")
}

fn sample(name: &str) -> String {
    format!("{}/config/sample-roster/{name}", env!("CARGO_MANIFEST_DIR"))
}

async fn count(dir: &std::path::Path, table: &str) -> i64 {
    let settings = settings_for_path(&dir.join("cli.sqlite"));
    let db = dudao::db::open_and_migrate(&settings.database).await.unwrap();
    let n = dudao::sql::query_scalar(&format!("SELECT COUNT(*) FROM {table}")).fetch_one(&db).await.unwrap();
    db.close().await;
    n
}

fn settings_for_path(p: &std::path::Path) -> dudao::config::Settings {
    dudao::config::Settings::from_toml_over_default(&format!("[database]\npath = \"{}\"", p.display())).unwrap()
}

#[tokio::test]
async fn roster_import_csv_then_xlsx_round_trip_updates_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let out =
        run_cli(dir.path(), &["roster", "import", &sample("zones.csv"), &sample("schools.csv"), &sample("people.csv")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let people = count(dir.path(), "people").await;
    let assignments = count(dir.path(), "school_assignments").await;
    assert_eq!(count(dir.path(), "schools").await, 120);

    // Export to Excel and import the workbook again: same records, nothing duplicated.
    let xlsx = dir.path().join("roster.xlsx");
    let out = run_cli(dir.path(), &["roster", "export", xlsx.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run_cli(dir.path(), &["roster", "import", xlsx.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(count(dir.path(), "people").await, people);
    assert_eq!(count(dir.path(), "schools").await, 120);
    assert_eq!(count(dir.path(), "school_assignments").await, assignments);

    // A fresh database from the workbook alone has the same content.
    let other = tempfile::tempdir().unwrap();
    let out = run_cli(other.path(), &["roster", "import", xlsx.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(count(other.path(), "people").await, people);
    assert_eq!(count(other.path(), "school_assignments").await, assignments);
}

#[tokio::test]
async fn a_bad_roster_is_rejected_with_row_numbers_and_nothing_written() {
    let dir = tempfile::tempdir().unwrap();
    let zones = std::fs::read_to_string(sample("zones.csv")).unwrap();
    let mut schools = std::fs::read_to_string(sample("schools.csv")).unwrap();
    let mut people = std::fs::read_to_string(sample("people.csv")).unwrap();
    // Duplicate the second school line (row 3) as the last row.
    let dup = schools.lines().nth(2).unwrap().to_string();
    let school_rows = schools.lines().count();
    schools.push_str(&format!("{dup}\n"));
    // A school in a zone that does not exist.
    let bogus = dup.replacen(dup.split(',').next().unwrap(), "9999999999", 1);
    let bogus = bogus.replace("第一督学责任区", "第九督学责任区").replace(",Z01,", ",Z99,");
    schools.push_str(&format!("{}\n", bogus.replace(dup.split(',').nth(1).unwrap(), "示例县不存在学校")));
    // A malformed phone on the first person (row 2).
    let first_phone = people.lines().nth(1).unwrap().split(',').find(|f| f.starts_with("1990000")).unwrap().to_string();
    people = people.replacen(&first_phone, "12345", 1);
    let d = dir.path();
    std::fs::write(d.join("zones.csv"), zones).unwrap();
    std::fs::write(d.join("schools.csv"), schools).unwrap();
    std::fs::write(d.join("people.csv"), people).unwrap();
    let out = run_cli(
        d,
        &[
            "roster",
            "import",
            d.join("zones.csv").to_str().unwrap(),
            d.join("schools.csv").to_str().unwrap(),
            d.join("people.csv").to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("第{}行", school_rows + 1)), "duplicate school row missing: {err}");
    assert!(err.contains(&format!("第{}行", school_rows + 2)), "unknown zone row missing: {err}");
    assert!(err.contains("第2行"), "malformed phone row missing: {err}");
    assert!(err.contains("重复"), "{err}");
    assert_eq!(count(d, "people").await, 0);
    assert_eq!(count(d, "schools").await, 0);
}

#[tokio::test]
async fn binding_with_valid_expired_and_reused_codes() {
    let mut h = Harness::start().await;
    let inspector = first_person(h.db(), "inspector").await;
    // Unbound: one short hint, nothing private.
    let out = h.say("stranger: 你好").await;
    assert!(out.contains("尚未绑定"), "{out}");
    let out = h.say("stranger: 在吗").await;
    assert!(out.is_empty(), "the hint is given once per quiet period: {out}");
    // Commands from an unbound account are not answered either until the quiet period ends.
    let out = h.say("stranger: 我是谁").await;
    assert!(out.is_empty(), "{out}");

    let code = h.code_for(&inspector).await;
    let out = h.say(&format!("stranger: 绑定 {}", code.to_lowercase())).await;
    assert!(out.contains("绑定成功"), "{out}");
    let out = h.say("stranger: 我是谁").await;
    assert!(out.contains(&inspector) && out.contains("挂牌督导学校"), "{out}");

    // Reused by someone else.
    let out = h.say(&format!("other: 绑定 {code}")).await;
    assert!(out.contains("已被使用"), "{out}");
    // Expired.
    let code2 = h.code_for(&inspector).await;
    dudao::sql::query("UPDATE binding_codes SET expires_at = '2000-01-01T00:00:00.000Z' WHERE used_at IS NULL")
        .execute(h.db())
        .await
        .unwrap();
    let out = h.say(&format!("other: 绑定 {code2}")).await;
    assert!(out.contains("已过期"), "{out}");
    let out = h.say("other: 绑定 ZZZZZZZZ").await;
    assert!(out.contains("不正确"), "{out}");
    // Guessing is cut off, and the account is told so once, not at every further try.
    let mut out = String::new();
    for _ in 0..3 {
        out += &h.say("other: 绑定 YYYYYYYY").await;
    }
    out += &h.say(&format!("other: 绑定 {}", h.code_for(&inspector).await)).await;
    assert_eq!(out.matches("次数过多").count(), 1, "{out}");
    let bound: i64 = dudao::sql::query_scalar("SELECT COUNT(*) FROM chat_accounts WHERE account_id = 'other'")
        .fetch_one(h.db())
        .await
        .unwrap();
    assert_eq!(bound, 0);
    let audit: i64 = dudao::sql::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'bound'")
        .fetch_one(h.db())
        .await
        .unwrap();
    assert_eq!(audit, 1);
    h.stop().await;
}

#[tokio::test]
async fn help_and_permissions_per_role() {
    let mut h = Harness::start().await;
    let inspector = first_person(h.db(), "inspector").await;
    let contact = first_person(h.db(), "school_contact").await;
    let supervisor = first_person(h.db(), "supervisor").await;
    let admin = first_person(h.db(), "admin").await;
    h.bind("insp", &inspector).await;
    h.bind("contact", &contact).await;
    h.bind("sup", &supervisor).await;
    h.bind("adm", &admin).await;

    let help = h.say("insp: 帮助").await;
    assert!(help.contains("请假") && !help.contains("登记群") && !help.contains("发送队列"), "{help}");
    let help = h.say("contact: help").await;
    assert!(help.contains("学校") && !help.contains("请假"), "{help}");
    let help = h.say("sup: 帮助").await;
    assert!(help.contains("登记群") && !help.contains("发送队列"), "{help}");
    let help = h.say("adm: 帮助").await;
    assert!(help.contains("发送队列"), "{help}");

    // Role denials.
    let out = h.say("insp@g1: 登记群 督导室群").await;
    assert!(out.contains("不能使用"), "{out}");
    let out = h.say("contact: 请假 明天").await;
    assert!(out.contains("不能使用"), "{out}");
    let out = h.say("sup: 发送队列").await;
    assert!(out.contains("不能使用"), "{out}");
    let out = h.say("adm: 发送队列").await;
    assert!(out.contains("发送队列：待发送"), "{out}");
    // Place rules.
    let out = h.say("sup@g1: 绑定码 D001").await;
    assert!(out.contains("请私聊"), "{out}");
    let out = h.say("sup: 登记群 督导室群").await;
    assert!(out.contains("需要在群里"), "{out}");

    // Scope: an inspector sees schools of their zone only; a contact only their own school.
    let (own_zone_school, other_zone_school): (String, String) = {
        let z: i64 = dudao::sql::query_scalar("SELECT zone_id FROM people WHERE code = ?")
            .bind(&inspector)
            .fetch_one(h.db())
            .await
            .unwrap();
        let a = dudao::sql::query_scalar("SELECT name FROM schools WHERE zone_id = ? LIMIT 1")
            .bind(z)
            .fetch_one(h.db())
            .await
            .unwrap();
        let b = dudao::sql::query_scalar("SELECT name FROM schools WHERE zone_id <> ? LIMIT 1")
            .bind(z)
            .fetch_one(h.db())
            .await
            .unwrap();
        (a, b)
    };
    let out = h.say(&format!("insp: 学校 {own_zone_school}")).await;
    assert!(out.contains("责任督学"), "{out}");
    let out = h.say(&format!("insp: 学校 {other_zone_school}")).await;
    assert!(out.contains("没有找到"), "{out}");
    let contact_school: String =
        dudao::sql::query_scalar("SELECT s.name FROM people p JOIN schools s ON s.id = p.school_id WHERE p.code = ?")
            .bind(&contact)
            .fetch_one(h.db())
            .await
            .unwrap();
    let out = h.say("contact: 学校").await;
    assert!(out.contains(&contact_school), "{out}");
    let out = h.say(&format!("contact: 学校 {other_zone_school}")).await;
    assert!(out.contains("没有找到"), "{out}");
    // Phones are masked in groups, shown in private.
    let out = h.say(&format!("sup@g1: 学校 {own_zone_school}")).await;
    assert!(out.contains("****"), "{out}");

    // A supervisor registers a group; an admin issues a code privately.
    let out = h.say("sup@zone1: 登记群 责任区督学群 第一督学责任区").await;
    assert!(out.contains("已将本群登记为：责任区督学群"), "{out}");
    let purpose: String = dudao::sql::query_scalar("SELECT purpose FROM chat_groups WHERE external_id = 'zone1'")
        .fetch_one(h.db())
        .await
        .unwrap();
    assert_eq!(purpose, "zone_inspectors");
    let out = h.say(&format!("adm: 绑定码 {inspector}")).await;
    assert!(out.contains("的绑定码："), "{out}");
    h.stop().await;
}

#[tokio::test]
async fn the_same_message_delivered_twice_is_processed_once() {
    let mut h = Harness::start().await;
    let line = parse_line("[dup-1] someone: 帮助").unwrap();
    let msg = h.console.to_message(line, 1, 1);
    h.app().ingest(msg.clone()).await.unwrap();
    h.app().ingest(msg.clone()).await.unwrap();
    let first = h.settle().await;
    assert_eq!(first.matches("尚未绑定身份").count(), 1, "{first}");
    let rows: i64 = dudao::sql::query_scalar("SELECT COUNT(*) FROM inbound_messages WHERE platform_msg_id = 'dup-1'")
        .fetch_one(h.db())
        .await
        .unwrap();
    assert_eq!(rows, 1);
    // Concurrent duplicate deliveries.
    let line = parse_line("[dup-2] someone-else: 帮助").unwrap();
    let msg = h.console.to_message(line, 2, 1);
    let app = h.app().clone();
    let (a, b) = tokio::join!(app.ingest(msg.clone()), app.ingest(msg.clone()));
    a.unwrap();
    b.unwrap();
    let out = h.settle().await;
    assert_eq!(out.matches("尚未绑定身份").count(), 1, "{out}");
    let replies: i64 = dudao::sql::query_scalar("SELECT COUNT(*) FROM outbox WHERE source = (SELECT 'inbound:' || id FROM inbound_messages WHERE platform_msg_id = 'dup-2')")
        .fetch_one(h.db())
        .await
        .unwrap();
    assert_eq!(replies, 1);
    h.stop().await;
}

#[tokio::test]
async fn hostile_input_is_stored_verbatim_and_never_panics() {
    let mut h = Harness::start().await;
    let huge = "督".repeat(100_000);
    let inputs = [
        String::new(),
        "   ".into(),
        huge.clone(),
        "\u{0}\u{1}\u{7f}binary\u{fffd}".into(),
        "🙂🏫👍".into(),
        "ｈｅｌｐ".into(),
        "'; DROP TABLE people; --".into(),
        "绑定 ' OR 1=1 --".into(),
        "学校 %".into(),
        "请假 2026-02-30 至 2026-13-01".into(),
    ];
    for (i, text) in inputs.iter().enumerate() {
        let msg = dudao::chat::InboundMessage {
            chat: dudao::chat::ChatRef::private("console", "fuzzer"),
            sender: dudao::chat::UserRef { id: "fuzzer".into(), display: None },
            platform_msg_id: format!("fuzz-{i}"),
            segments: vec![dudao::chat::Segment::text(text.clone())],
            to_me: true,
            sent_at: chrono::Utc::now(),
        };
        h.app().ingest(msg).await.unwrap();
        let stored: String = dudao::sql::query_scalar("SELECT text FROM inbound_messages WHERE platform_msg_id = ?")
            .bind(format!("fuzz-{i}"))
            .fetch_one(h.db())
            .await
            .unwrap();
        assert_eq!(&stored, text);
    }
    h.settle().await;
    let people: i64 = dudao::sql::query_scalar("SELECT COUNT(*) FROM people").fetch_one(h.db()).await.unwrap();
    assert!(people > 0);
    let failed: i64 = dudao::sql::query_scalar("SELECT COUNT(*) FROM inbound_messages WHERE status <> 'processed'")
        .fetch_one(h.db())
        .await
        .unwrap();
    assert_eq!(failed, 0);
    // A bound person gets polite answers to the same garbage.
    let inspector = first_person(h.db(), "inspector").await;
    h.bind("fuzzer2", &inspector).await;
    let out = h.say("fuzzer2: 请假 2026-02-30 至 2026-13-01").await;
    assert!(out.contains("请写明请假日期"), "{out}");
    let out = h.say(&format!("fuzzer2: 学校 {}", "校".repeat(5000))).await;
    assert!(out.contains("没有找到"), "{out}");
    h.stop().await;
}

#[tokio::test]
async fn leave_can_be_taken_and_cancelled() {
    let mut h = Harness::start().await;
    let inspector = first_person(h.db(), "inspector").await;
    h.bind("i1", &inspector).await;
    let out = h.say("i1: 请假 明天 至 后天").await;
    assert!(out.contains("已登记请假"), "{out}");
    let out = h.say("i1: 取消请假").await;
    assert!(out.contains("已取消请假"), "{out}");
    let out = h.say("i1: 取消请假").await;
    assert!(out.contains("没有未结束的请假"), "{out}");
    h.stop().await;
}
