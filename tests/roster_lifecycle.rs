//! The roster's lifecycle from the office's side: the sample county never survives the first
//! real import, imports are reviewed changes, a contact may serve several schools, and
//! unrelated DUDAO_ variables do not stop start-up.

mod common;
#[path = "common/onebot_fake.rs"]
mod onebot_fake;

use common::{settings_for, Harness};
use onebot_fake::{connect_reverse, Auth, Recorder};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

const ZONES: &str = "编号,名称,级别,组长\n\
QH1,清河县第一责任区,县级,D001\n\
QH2,清河县第二责任区,县级,D002\n\
QH3,清河县第三责任区,县级,\n";

const SCHOOLS: &str = "学校代码,学校名称,简称,别名,责任区,学段,办学性质,市直,寄宿,主责督学,协同督学,回避督学\n\
4100000001,清河县实验小学,实验小学,,QH1,小学,公办,否,否,D001,,\n\
4100000002,清河县城关镇中心小学,城关中心小学,,QH1,小学,公办,否,否,D001,,\n\
4100000003,清河县柳林乡中心小学,柳林中心小学,,QH2,小学,公办,否,否,D002,,\n\
4100000004,清河县第一中学,清河一中,,QH2,初中,公办,否,否,D002,,\n";

/// The codes D001, S001 and A001 are the sample county's codes too, as in a real office.
const PEOPLE: &str = "编号,姓名,角色,督学类型,责任区,学校,职务,手机,QQ,企业微信,Telegram,备注\n\
D001,赵明远,责任督学,专职,QH1,,,13800000001,200000001,,,\n\
D002,钱秀兰,责任督学,专职,QH2,,,13800000002,200000002,,,\n\
S001,孙立新,督导室,,,,督导室主任,13800000003,200000003,,,\n\
A001,李卫东,管理员,,,,,13800000004,,,,\n\
C0001,周春梅,学校联络员,,,4100000001,,13800000005,,,,\n\
C0002,吴海燕,学校联络员,,,城关中心小学、柳林中心小学,,13800000006,,,,\n\
C0003,郑国强,学校联络员,,,4100000004,,13800000007,,,,\n";

/// Writes the three CSV files into `dir/name/` and returns their paths.
fn write_roster(dir: &Path, name: &str, zones: &str, schools: &str, people: &str) -> Vec<PathBuf> {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    let mut out = Vec::new();
    for (file, text) in [("zones.csv", zones), ("schools.csv", schools), ("people.csv", people)] {
        std::fs::write(d.join(file), text).unwrap();
        out.push(d.join(file));
    }
    out
}

fn cli(db: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dudao"));
    c.args(args).env("DUDAO_DATABASE__PATH", db).env("DUDAO_LOG", "warn");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run dudao")
}

fn import(db: &Path, files: &[PathBuf], extra: &[&str]) -> Output {
    let mut args = vec!["roster", "import"];
    args.extend_from_slice(extra);
    let files: Vec<&str> = files.iter().map(|p| p.to_str().unwrap()).collect();
    args.extend(files);
    cli(db, &args, &[])
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

async fn open(db: &Path) -> dudao::db::Db {
    let settings = dudao::config::Settings::from_toml_over_default(&format!(
        "[database]\npath = \"{}\"",
        db.display().to_string().replace('\\', "/")
    ))
    .unwrap();
    dudao::db::open_and_migrate(&settings.database).await.unwrap()
}

async fn scalar(db: &dudao::db::Db, sql: &str) -> i64 {
    dudao::sql::query_scalar(sql).fetch_one(db).await.unwrap()
}

/// Every row of the roster's tables, as text, to compare a database before and after.
async fn snapshot(db: &Path) -> Vec<String> {
    let pool = open(db).await;
    let mut out = Vec::new();
    for t in [
        "zones",
        "schools",
        "people",
        "school_assignments",
        "school_contacts",
        "chat_accounts",
        "audit_log",
        "roster_meta",
    ] {
        let cols: Vec<String> = dudao::sql::query_scalar("SELECT name FROM pragma_table_info(?) ORDER BY cid")
            .bind(t)
            .fetch_all(&pool)
            .await
            .unwrap();
        let rows: Vec<String> =
            dudao::sql::query_scalar(&format!("SELECT json_array({}) AS r FROM {t} ORDER BY r", cols.join(", ")))
                .fetch_all(&pool)
                .await
                .unwrap();
        out.push(format!("{t}: {}", rows.join(";")));
        out.push(format!("{t} count: {}", scalar(&pool, &format!("SELECT COUNT(*) FROM {t}")).await));
    }
    pool.close().await;
    out
}

#[tokio::test]
async fn quick_start_then_real_import_leaves_nothing_of_the_sample() {
    // Quick start: the service starts on an empty database and loads the sample county.
    let mut h = Harness::start().await;
    let db_path = h.dir.path().join("dudao.sqlite");
    // During the trial the admin binds a chat account to the sample's A001 and registers a group.
    h.bind("trial-admin", "A001").await;
    h.bind("trial-sup", "S001").await;
    let out = h.say("trial-sup@demo-zone: 登记群 责任区督学群 第一督学责任区").await;
    assert!(out.contains("已将本群登记为"), "{out}");
    let out = h.say("trial-admin: 发送队列").await;
    assert!(out.contains("发送队列：待发送"), "{out}");
    // The trial publishes a bulletin of the sample county, with a correction.
    let out = h.say("trial-sup@demo-county: 登记群 全县督学群").await;
    assert!(out.contains("已将本群登记为"), "{out}");
    let out = h.say("trial-sup: 通报 修改 上月 亮点 试用期间的亮点").await;
    assert!(out.contains("已修改"), "{out}");
    let out = h.say("trial-sup: 通报 发布 上月").await;
    assert!(out.contains("督导通报（第1期）到1个群"), "{out}");
    let sample_qq = scalar(h.db(), "SELECT COUNT(*) FROM chat_accounts WHERE account_id LIKE 'demo-%'").await;
    assert!(sample_qq > 0);
    let dir = h.stop().await;

    // The office imports its real roster, which reuses the codes D001, S001, A001.
    let files = write_roster(dir.path(), "real", ZONES, SCHOOLS, PEOPLE);
    let printed = ok(&import(&db_path, &files, &[]));
    assert!(printed.contains("移除示例县数据"), "{printed}");

    let pool = open(&db_path).await;
    assert_eq!(scalar(&pool, "SELECT COUNT(*) FROM people").await, 7);
    assert_eq!(scalar(&pool, "SELECT COUNT(*) FROM zones WHERE code NOT LIKE 'QH%'").await, 0);
    assert_eq!(scalar(&pool, "SELECT COUNT(*) FROM schools WHERE code NOT LIKE '41%'").await, 0);
    assert_eq!(scalar(&pool, "SELECT COUNT(*) FROM people WHERE name = '史芳'").await, 0);
    // Only the real roster's QQ numbers are bound; no sample or trial account survives.
    let accounts: Vec<String> = dudao::sql::query_scalar("SELECT account_id FROM chat_accounts ORDER BY account_id")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(accounts, ["200000001", "200000002", "200000003"]);
    assert_eq!(scalar(&pool, "SELECT COUNT(*) FROM chat_groups WHERE zone_id IS NOT NULL").await, 0);
    assert_eq!(scalar(&pool, "SELECT COUNT(*) FROM outbox").await, 0);
    assert_eq!(scalar(&pool, "SELECT COUNT(*) FROM inbound_messages WHERE person_id IS NOT NULL").await, 0);
    assert_eq!(scalar(&pool, "SELECT COUNT(*) FROM binding_codes").await, 0);
    assert_eq!(scalar(&pool, "SELECT COUNT(*) FROM roster_meta").await, 0);
    assert_eq!(scalar(&pool, "SELECT COUNT(*) FROM audit_log WHERE action = 'sample_removed'").await, 1);
    assert_eq!(scalar(&pool, "SELECT COUNT(*) FROM bulletin_publications").await, 0, "the office publishes anew");
    assert_eq!(scalar(&pool, "SELECT COUNT(*) FROM bulletin_overrides").await, 0);
    pool.close().await;

    // The account bound to the sample's admin is a stranger now.
    let mut h = Harness::start_in(dir, "", None).await;
    // (An explicit message id: the restarted harness numbers its messages from 0 again.)
    let out = h.say("[after-import-1] trial-admin: 发送队列").await;
    assert!(out.contains("尚未绑定"), "{out}");
    assert!(!out.contains("待发送"), "{out}");
    assert_eq!(scalar(h.db(), "SELECT COUNT(*) FROM people").await, 7, "the sample is not seeded again");
    h.stop().await;
}

/// The service on `dir`'s database with only a OneBot channel (no sample).
async fn onebot_service(dir: &tempfile::TempDir) -> dudao::service::Running {
    let extra = "[roster]\nsample_on_empty = false\n[channels.console]\nenabled = false\n\
                 [channels.onebot]\nenabled = true\naccess_token = \"tok-qinghe\"\nmin_interval_ms = 0\nmax_per_minute = 0\n\
                 chat_min_interval_ms = 0\nchat_max_per_minute = 0\nsend_jitter_ms = 0\n";
    let settings = settings_for(dir, extra);
    let enabled = dudao::chat::registry::from_config(&settings).unwrap();
    dudao::service::start(settings, std::sync::Arc::new(dudao::clock::SystemClock), enabled.channels).await.unwrap()
}

#[tokio::test]
async fn reimport_after_a_qq_change_unbinds_the_old_number() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("dudao.sqlite");
    ok(&import(&db_path, &write_roster(dir.path(), "v1", ZONES, SCHOOLS, PEOPLE), &[]));
    // 赵明远 changed his QQ number.
    let people = PEOPLE.replace("200000001", "200000011");
    let printed = ok(&import(&db_path, &write_roster(dir.path(), "v2", ZONES, SCHOOLS, &people), &[]));
    assert!(printed.contains("解除绑定的聊天账号：1（qq 200000001（赵明远））"), "{printed}");
    assert!(printed.contains("赵明远（D001）：聊天账号"), "{printed}");

    let running = onebot_service(&dir).await;
    let rec = Recorder::new();
    let bot = connect_reverse(running.http_addr, "3000000009", Auth::Bearer("tok-qinghe"), rec.clone()).await.unwrap();
    bot.private_msg(200000001, json!(1), json!("我是谁"));
    let a = rec.wait_for(1, Duration::from_secs(10), |a| a.is_send()).await;
    assert!(a[0].text().contains("尚未绑定"), "{}", a[0].text());
    bot.private_msg(200000011, json!(2), json!("我是谁"));
    let a = rec.wait_for(2, Duration::from_secs(10), |a| a.is_send()).await;
    assert!(a[1].text().contains("赵明远"), "{}", a[1].text());
    let audit = scalar(
        &running.app.db,
        "SELECT COUNT(*) FROM audit_log WHERE entity = 'chat_account' AND entity_id = 'qq:200000001' AND action = 'unbound'",
    )
    .await;
    assert_eq!(audit, 1);
    running.stop().await;
}

fn people_v2() -> String {
    // 周春梅 left, 郑国强 has a new phone, 王建华 joined.
    PEOPLE.replace("C0001,周春梅,学校联络员,,,4100000001,,13800000005,,,,\n", "").replace("13800000007", "13900000007")
        + "C0004,王建华,校长,,,4100000001,,13800000008,,,,\n"
}

#[tokio::test]
async fn check_prints_the_diff_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("dudao.sqlite");
    ok(&import(&db_path, &write_roster(dir.path(), "v1", ZONES, SCHOOLS, PEOPLE), &[]));
    let zones = ZONES.replace("QH3,清河县第三责任区,县级,\n", "");
    let files = write_roster(dir.path(), "v2", &zones, SCHOOLS, &people_v2());

    let before = snapshot(&db_path).await;
    let printed = ok(&import(&db_path, &files, &["--check"]));
    assert_eq!(snapshot(&db_path).await, before, "--check wrote to the database");
    assert!(printed.contains("未写入任何数据"), "{printed}");
    assert!(printed.contains("新增：1（人员王建华（C0004））"), "{printed}");
    assert!(printed.contains("变更：1（人员郑国强（C0003）：手机）"), "{printed}");
    assert!(printed.contains("停用：1（人员周春梅（C0001））"), "{printed}");
    assert!(printed.contains("撤销的责任区：1（责任区清河县第三责任区（QH3））"), "{printed}");

    // The real import prints the same review and does it.
    let done = ok(&import(&db_path, &files, &[]));
    assert!(done.contains("已导入"), "{done}");
    for line in ["新增：1", "变更：1", "停用：1", "撤销的责任区：1"] {
        assert!(done.contains(line), "{line}: {done}");
    }
    let pool = open(&db_path).await;
    assert_eq!(scalar(&pool, "SELECT active FROM zones WHERE code = 'QH3'").await, 0);
    assert_eq!(scalar(&pool, "SELECT active FROM people WHERE code = 'C0001'").await, 0);
    assert_eq!(scalar(&pool, "SELECT COUNT(*) FROM audit_log WHERE action = 'retired'").await, 1);
    pool.close().await;
}

#[tokio::test]
async fn a_partial_roster_is_refused_without_the_flag_and_accepted_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("dudao.sqlite");
    ok(&import(&db_path, &write_roster(dir.path(), "v1", ZONES, SCHOOLS, PEOPLE), &[]));
    // Someone exported only part of the people sheet: two of seven (29 %) would be deactivated.
    let partial: String = PEOPLE.lines().filter(|l| !l.starts_with("C0001") && !l.starts_with("C0003")).fold(
        String::new(),
        |mut s, l| {
            s.push_str(l);
            s.push('\n');
            s
        },
    );
    let files = write_roster(dir.path(), "partial", ZONES, SCHOOLS, &partial);
    let before = snapshot(&db_path).await;
    let out = import(&db_path, &files, &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("将停用 2 名在册人员（共 7 名"), "{err}");
    assert!(err.contains("--allow-deactivate") && err.contains("would deactivate 2 of 7"), "{err}");
    assert_eq!(snapshot(&db_path).await, before, "a refused import wrote to the database");

    let printed = ok(&import(&db_path, &files, &["--allow-deactivate"]));
    assert!(printed.contains("停用：2"), "{printed}");
    let pool = open(&db_path).await;
    assert_eq!(scalar(&pool, "SELECT COUNT(*) FROM people WHERE active = 0").await, 2);
    pool.close().await;
}

#[tokio::test]
async fn an_export_reimports_cleanly_with_no_changes() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("dudao.sqlite");
    ok(&import(&db_path, &write_roster(dir.path(), "v1", ZONES, SCHOOLS, PEOPLE), &[]));
    let zones = ZONES.replace("QH3,清河县第三责任区,县级,\n", "");
    ok(&import(&db_path, &write_roster(dir.path(), "v2", &zones, SCHOOLS, &people_v2()), &[]));

    let xlsx = dir.path().join("导出.xlsx");
    ok(&cli(&db_path, &["roster", "export", xlsx.to_str().unwrap()], &[]));
    let again = ok(&import(&db_path, std::slice::from_ref(&xlsx), &["--check"]));
    for line in ["新增：0", "变更：0", "停用：0", "解除绑定的聊天账号：0", "撤销的责任区：0"]
    {
        assert!(again.contains(line), "{line}: {again}");
    }
    // A fresh database from the exported file alone has the same roster, both schools included.
    let other = dir.path().join("other.sqlite");
    ok(&import(&other, &[xlsx], &[]));
    let pool = open(&other).await;
    assert_eq!(scalar(&pool, "SELECT COUNT(*) FROM people").await, 7);
    assert_eq!(
        scalar(
            &pool,
            "SELECT COUNT(*) FROM school_contacts c JOIN people p ON p.id = c.person_id WHERE p.code = 'C0002'"
        )
        .await,
        2
    );
    pool.close().await;
}

#[tokio::test]
async fn a_contact_of_two_schools_hears_and_acts_for_both_and_not_a_third() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("dudao.sqlite");
    ok(&import(&db_path, &write_roster(dir.path(), "v1", ZONES, SCHOOLS, PEOPLE), &[]));
    let mut h = Harness::start_in(dir, "[roster]\nsample_on_empty = false\n", None).await;
    h.bind("sun", "S001").await;
    h.bind("wu", "C0002").await;
    h.bind("zheng", "C0003").await;

    let out = h.say("wu: 我是谁").await;
    assert!(out.contains("清河县城关镇中心小学") && out.contains("清河县柳林乡中心小学"), "{out}");
    let out = h.say("wu: 学校").await;
    assert!(out.contains("您负责的学校"), "{out}");
    let out = h.say("wu: 学校 柳林中心小学").await;
    assert!(out.contains("钱秀兰"), "{out}");
    let out = h.say("wu: 学校 清河一中").await;
    assert!(out.contains("没有找到"), "{out}");

    for school in ["城关中心小学", "柳林中心小学", "清河一中"] {
        let out = h.say(&format!("sun: 记问题 {school} 6 一般 消防通道堵塞")).await;
        assert!(out.contains("已登记问题"), "{out}");
    }
    let to_wu = h.db();
    let wu_notices: i64 = dudao::sql::query_scalar(
        "SELECT COUNT(*) FROM outbox o JOIN people p ON p.id = o.person_id WHERE p.code = 'C0002' AND o.status = 'sent'",
    )
    .fetch_one(to_wu)
    .await
    .unwrap();
    assert_eq!(wu_notices, 2, "one rectification notice per school she serves");
    // She acknowledges both of her schools' items and cannot act on the third school's.
    let out = h.say("wu: 收到 W1").await;
    assert!(out.contains("已确认收到 W1"), "{out}");
    let out = h.say("wu: 收到 W2").await;
    assert!(out.contains("已确认收到 W2"), "{out}");
    let out = h.say("wu: 收到 W3").await;
    assert!(!out.contains("已确认收到"), "{out}");
    let out = h.say("zheng: 收到 W3").await;
    assert!(out.contains("已确认收到 W3"), "{out}");
    h.stop().await;
}

#[test]
fn unknown_dudao_variables_warn_and_typos_in_known_sections_fail() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("env.sqlite");
    let out = cli(&db, &["migrate"], &[("DUDAO_BIN", "/opt/秘密/dudao-bin-value")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("DUDAO_BIN"), "the variable is named: {err}");
    assert!(!err.contains("dudao-bin-value"), "its value is never logged: {err}");

    let out = cli(&db, &["migrate"], &[("DUDAO_ROSTER__SAMPLE_ON_EMPTI", "false")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("sample_on_empti"), "{err}");
}

/// The service keeps who each account is in memory between messages; an import run from the
/// command line while it runs is still seen on the very next message.
#[tokio::test]
async fn an_import_while_the_service_runs_is_seen_on_the_next_message() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("dudao.sqlite");
    ok(&import(&db_path, &write_roster(dir.path(), "v1", ZONES, SCHOOLS, PEOPLE), &[]));
    let running = onebot_service(&dir).await;
    let rec = Recorder::new();
    let bot = connect_reverse(running.http_addr, "3000000009", Auth::Bearer("tok-qinghe"), rec.clone()).await.unwrap();
    bot.private_msg(200000001, json!(1), json!("我是谁"));
    let a = rec.wait_for(1, Duration::from_secs(10), |a| a.is_send()).await;
    assert!(a[0].text().contains("赵明远"), "{}", a[0].text());

    // 赵明远 moved to a new QQ number; the office re-imports with the service running.
    let people = PEOPLE.replace("200000001", "200000011");
    let files = write_roster(dir.path(), "v2", ZONES, SCHOOLS, &people);
    // The command runs beside the service, which keeps working meanwhile (not blocked by the test).
    let out = tokio::task::spawn_blocking(move || import(&db_path, &files, &[])).await.unwrap();
    ok(&out);
    bot.private_msg(200000001, json!(2), json!("我是谁"));
    let a = rec.wait_for(2, Duration::from_secs(10), |a| a.is_send()).await;
    assert!(a[1].text().contains("尚未绑定"), "the old number is no longer 赵明远: {}", a[1].text());
    bot.private_msg(200000011, json!(3), json!("我是谁"));
    let a = rec.wait_for(3, Duration::from_secs(10), |a| a.is_send()).await;
    assert!(a[2].text().contains("赵明远"), "{}", a[2].text());
    running.stop().await;
}
