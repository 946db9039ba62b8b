//! 督导通报 (issue 16, part 3): a November driven through chat on the sample roster, then the
//! supervisor's preview and corrections, the .docx (opened again with `zip`) from the library
//! and from the CLI, and publication over the OneBot stand-in — each configured group reached
//! once, a second 发布 refused, a 重新发布 sent once more.

mod common;
#[path = "common/onebot_fake.rs"]
mod onebot_fake;

use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::DateTime;
use chrono_tz::Asia::Shanghai;
use common::{roster_qq, settings_for, shanghai, Harness};
use dudao::chat::onebot::{OneBotChannel, OneBotSettings};
use dudao::clock::ManualClock;
use dudao::domain::bulletin::{docx, Month, Target};
use dudao::Channel;
use onebot_fake::{connect_reverse, Action, Auth, Recorder};
use serde_json::{json, Value};

const CONFIG: &str = r#"
[themes]
auto_publish = false

[tasks]
sweep_cron = ""

[rectify]
sweep_cron = ""
bulletin_after_days = 3

[bulletin]
county = "示例县"
"#;

/// The text of word/document.xml in a .docx.
fn document_xml(bytes: Vec<u8>) -> String {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a .docx is a zip");
    let mut xml = String::new();
    zip.by_name("word/document.xml").expect("word/document.xml").read_to_string(&mut xml).unwrap();
    xml
}

async fn sweep(h: &mut Harness, clock: &ManualClock, at: DateTime<chrono::Utc>) {
    clock.set(at);
    let app = h.app().clone();
    let mut tx = dudao::db::begin_write(&app.db).await.unwrap();
    dudao::app::rectify::sweep(&app.job_ctx, &mut tx, app.clock.now()).await.unwrap();
    tx.commit().await.unwrap();
    app.outbox_notify.notify_waiters();
    h.settle().await;
}

/// November: one visit; W1 closed through the school before its deadline; W2 due on the 25th,
/// never done, listed on the 督导通报 by the sweep of the 30th (5 days overdue, threshold 3).
async fn november(h: &mut Harness, clock: &ManualClock) {
    for (acct, code) in [("sup", "S001"), ("hao", "D008"), ("peng", "C0001")] {
        h.bind(acct, code).await;
    }
    clock.set(shanghai(11, 5, 15, 0));
    let out = h.say("hao: 督导纪实 11月5日 城关三小 查阅资料，座谈走访，未发现问题").await;
    assert!(out.contains("已收到督导纪实"), "{out}");
    clock.set(shanghai(11, 23, 9, 0));
    let out = h.say("hao: 记问题 实验小学 安全 消防通道堵塞").await;
    assert!(out.contains("已登记问题 W1"), "{out}");
    h.say("peng: 收到 W1").await;
    h.say("peng: 完成 W1 已清理通道").await;
    let out = h.say("hao: 销号 W1").await;
    assert!(out.contains("已销号 W1"), "{out}");
    let out = h.say("hao: 记问题 实验小学 6 围墙破损 期限:11月25日").await;
    assert!(out.contains("已登记问题 W2"), "{out}");
    sweep(h, clock, shanghai(11, 30, 12, 0)).await;
    let listed: i64 = dudao::sql::query_scalar(
        "SELECT COUNT(*) FROM once_events WHERE subject_kind = 'rectify_item' AND subject_id = 2 AND event = 'L2'",
    )
    .fetch_one(h.db())
    .await
    .unwrap();
    assert_eq!(listed, 1, "the ladder put W2 on the bulletin list");
}

#[tokio::test]
async fn preview_corrections_docx_and_cli() {
    let clock = ManualClock::new(shanghai(11, 2, 8, 0));
    let mut h = Harness::start_with(CONFIG, Some(clock.clone())).await;
    november(&mut h, &clock).await;
    clock.set(shanghai(12, 2, 9, 0));

    // The draft of last month, county-wide, in one console message.
    let out = h.say("sup: 通报 预览").await;
    assert!(out.contains("示例县责任督学挂牌督导工作通报（2026年第1期）"), "{out}");
    for heading in ["一、基本情况", "二、工作亮点", "三、存在问题", "四、整改要求", "五、通报名单"]
    {
        assert!(out.contains(heading), "{heading}: {out}");
    }
    assert!(out.contains("周报：本月无应报周报。"), "{out}");
    assert!(out.contains("开展督导1次"), "{out}");
    assert!(out.contains("本月新发现问题2个，已整改1个，整改中1个，撤销0个，整改率50.0%"), "{out}");
    assert!(out.contains("本月销号1个，其中按期1个，按期整改率100.0%。截至11月30日，逾期未整改问题1个。"), "{out}");
    assert!(out.contains("1个问题在整改期限前完成整改并核查销号。"), "{out}");
    assert!(out.contains("（1）校园及周边安全、学生交通安全：2个，涉及1所学校。"), "{out}");
    assert!(out.contains("1. W2 ") && out.contains("逾期5天"), "{out}");
    assert!(!out.contains("实验小学"), "schools are not named by default: {out}");
    assert!(out.contains("通报 发布 2026-11"), "{out}");

    // One zone's bulletin: its own title, issue count and list (实验小学 is in Z01).
    let out = h.say("sup: 通报 预览 上月 Z01").await;
    assert!(out.contains("示例县第一督学责任区责任督学挂牌督导工作通报（2026年第1期）"), "{out}");
    assert!(out.contains("2026年11月，第一督学责任区共有责任督学") && out.contains("1. W2 "), "{out}");
    assert!(out.contains("通报 发布 2026-11 第一督学责任区"), "{out}");

    // A correction, seen in the next preview, then restored.
    let out = h.say("sup: 通报 修改 2026-11 亮点 城关三小食堂管理规范，值得推广。").await;
    assert!(out.contains("已修改2026年11月通报草稿的“工作亮点”"), "{out}");
    let out = h.say("sup: 通报 预览 2026-11").await;
    // The console indents the lines of a message.
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    let at = lines.iter().position(|l| *l == "二、工作亮点（已修改）").expect("the corrected heading");
    assert_eq!(lines[at + 1], "城关三小食堂管理规范，值得推广。", "{out}");
    assert!(!out.contains("在整改期限前完成整改"), "{out}");

    // Polite answers to bad input; nothing else changes.
    let out = h.say("sup: 通报 预览 2026-13").await;
    assert!(out.contains("期间“2026-13”无法识别"), "{out}");
    let out = h.say("sup: 通报 预览 第九十九责任区").await;
    assert!(out.contains("没有找到责任区“第九十九责任区”"), "{out}");
    let out = h.say("sup: 通报 预览 2027-01").await;
    assert!(out.contains("2027年1月还没有到"), "{out}");
    let out = h.say("sup: 通报 修改 亮点").await;
    assert!(out.contains("请写出“工作亮点”的新内容"), "{out}");
    let out = h.say("sup: 通报 打印").await;
    assert!(out.contains("不认识“打印”") && out.contains("用法"), "{out}");
    // Not a supervisor: refused before anything is drafted.
    let out = h.say("hao: 通报 预览").await;
    assert!(out.contains("不能使用“通报”"), "{out}");
    let out = h.say("hao: 通报 修改 亮点 我来改").await;
    assert!(out.contains("不能使用“通报”"), "{out}");

    // The .docx of the draft: headings, figures, the correction and the table.
    let app = h.app().clone();
    let nov = Month::new(2026, 11).unwrap();
    let mut conn = app.db.acquire().await.unwrap();
    let draft =
        dudao::app::bulletin::draft(&mut conn, &app.settings, Shanghai, nov, &Target::county(), clock_today(&clock))
            .await
            .unwrap();
    drop(conn);
    let xml = document_xml(docx::to_docx(&draft).unwrap());
    for needle in [
        "示例县责任督学挂牌督导工作通报（2026年第1期）",
        "一、基本情况",
        "二、工作亮点",
        "三、存在问题",
        "四、整改要求",
        "五、通报名单",
        "整改率50.0%",
        "城关三小食堂管理规范，值得推广。",
        "表1 主要指标",
        "全县合计",
        "<w:tbl>",
    ] {
        assert!(xml.contains(needle), "{needle} not in document.xml");
    }

    // Restoring the section brings the generated highlights back.
    let out = h.say("sup: 通报 修改 2026-11 亮点 恢复").await;
    assert!(out.contains("已恢复2026年11月通报“工作亮点”的自动生成内容"), "{out}");
    let out = h.say("sup: 通报 预览 上月").await;
    assert!(out.contains("1个问题在整改期限前完成整改并核查销号。") && !out.contains("（已修改）"), "{out}");
    let out = h.say("sup: 通报 修改 2026-11 问题 本月问题集中在校园安全。").await;
    assert!(out.contains("“存在问题”"), "{out}");

    // The CLI writes the same draft, with the correction kept in the database.
    let dir = h.stop().await;
    let db = dir.path().join("dudao.sqlite");
    let file = dir.path().join("通报.docx");
    let run = cli(&db, &["bulletin", "--period", "2026-11", "--scope", "全县", "-o", file.to_str().unwrap()]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert!(String::from_utf8_lossy(&run.stdout).contains("示例县责任督学挂牌督导工作通报"));
    let xml = document_xml(std::fs::read(&file).unwrap());
    assert!(xml.contains("本月问题集中在校园安全。") && xml.contains("四、整改要求"), "the CLI's document");
    let bad = cli(&db, &["bulletin", "--period", "十一月", "-o", file.to_str().unwrap()]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("期间“十一月”无法识别"));
    let bad = cli(&db, &["bulletin", "--period", "2026-11", "--scope", "第九十九责任区", "-o", file.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("没有找到责任区"));
}

fn clock_today(clock: &ManualClock) -> chrono::NaiveDate {
    use dudao::clock::Clock;
    clock.now().with_timezone(&Shanghai).date_naive()
}

fn cli(db: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_dudao"))
        .args(args)
        .env("DUDAO_DATABASE__PATH", db)
        .env("DUDAO_BULLETIN__COUNTY", "示例县")
        .env("DUDAO_LOG", "warn")
        .output()
        .expect("run dudao")
}

// ---- Publication over OneBot ----

const TOKEN: &str = "bulletin-t0ken";
const BOT: &str = "3000000016";
const WAIT: Duration = Duration::from_secs(20);
const COUNTY_GROUP: i64 = 700_301;
const ZONE_GROUP: i64 = 700_302;
const OFFICE_GROUP: i64 = 700_303;

fn text(t: &str) -> Value {
    json!({"type": "text", "data": {"text": t}})
}

fn to_user(user: i64) -> impl Fn(&Action) -> bool {
    move |a| a.action == "send_private_msg" && a.params["user_id"] == user && a.ok
}

fn group_sends(rec: &Recorder) -> Vec<Action> {
    rec.sends().into_iter().filter(|a| a.action == "send_group_msg" && a.ok).collect()
}

#[tokio::test]
async fn publish_reaches_each_configured_group_once_over_onebot() {
    let extra = format!(
        "[channels.console]\nenabled = false\n[outbox]\nbackoff_base_ms = 50\nbackoff_max_ms = 300\n\
         [channels.onebot]\nenabled = true\naccess_token = \"{TOKEN}\"\nmin_interval_ms = 0\nmax_per_minute = 0\n\
         chat_min_interval_ms = 0\nchat_max_per_minute = 0\nsend_jitter_ms = 0\napi_timeout_ms = 5000\n\
         max_message_chars = 300\n\
         [bulletin]\ncounty = \"示例县\"\ngroups = [\"county_inspectors\", \"zone_inspectors\"]\n\
         [[groups]]\nchannel = \"qq\"\nid = \"{COUNTY_GROUP}\"\npurpose = \"county_inspectors\"\n\
         [[groups]]\nchannel = \"qq\"\nid = \"{ZONE_GROUP}\"\npurpose = \"zone_inspectors\"\nzone = \"Z01\"\n\
         [[groups]]\nchannel = \"qq\"\nid = \"{OFFICE_GROUP}\"\npurpose = \"supervisors\"\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let settings = settings_for(&dir, &extra);
    let ch = Arc::new(OneBotChannel::new(OneBotSettings::from_settings(&settings).unwrap().unwrap()));
    let channels: Vec<Arc<dyn Channel>> = vec![ch.clone()];
    let clock = ManualClock::new(shanghai(12, 2, 9, 0));
    let running = dudao::service::start(settings, Arc::new(clock.clone()), channels).await.unwrap();
    let db = running.app.db.clone();
    let sup = roster_qq(&db, "supervisor").await;
    let insp = roster_qq(&db, "inspector").await;

    let rec = Recorder::new();
    let bot = connect_reverse(running.http_addr, BOT, Auth::Bearer(TOKEN), rec.clone()).await.unwrap();

    // Not a supervisor: refused, nothing sent to any group.
    bot.private_msg(insp, json!(1), json!([text("通报 发布 2026-11")]));
    let a = rec.wait_for(1, WAIT, to_user(insp)).await;
    assert!(a[0].text().contains("不能使用“通报”"), "{}", a[0].text());

    bot.private_msg(sup, json!(2), json!([text("通报 发布 2026-11")]));
    let a = rec.wait_for(1, WAIT, to_user(sup)).await;
    assert!(a[0].text().contains("已发布2026年11月全县督导通报（第1期）到2个群"), "{}", a[0].text());
    let sends = rec.wait_for(2, WAIT, |a| a.action == "send_group_msg" && a.ok).await;
    let mut groups: Vec<i64> = sends.iter().map(|a| a.params["group_id"].as_i64().unwrap()).collect();
    groups.sort();
    assert_eq!(groups, vec![COUNTY_GROUP, ZONE_GROUP], "each configured group, not the office's");
    for s in &sends {
        let t = s.text();
        assert!(t.starts_with("示例县责任督学挂牌督导工作通报（2026年第1期）"), "{t}");
        assert!(t.chars().count() <= 300 && t.contains("完整内容见所附 .docx"), "one message within the limit: {t}");
    }

    // Each group also gets the .docx, uploaded as a group file named after the title.
    let uploads = rec.wait_for(2, WAIT, |a| a.action == "upload_group_file" && a.ok).await;
    let mut to: Vec<i64> = uploads.iter().map(|a| a.params["group_id"].as_i64().unwrap()).collect();
    to.sort();
    assert_eq!(to, vec![COUNTY_GROUP, ZONE_GROUP]);
    for u in &uploads {
        assert_eq!(u.params["name"], "示例县责任督学挂牌督导工作通报（2026年第1期）.docx");
        let b64 = u.params["file"].as_str().unwrap().strip_prefix("base64://").expect("sent inline");
        let bytes = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64).unwrap();
        assert!(document_xml(bytes).contains("一、基本情况"), "a Word document of the bulletin");
    }

    // A second 发布: refused politely, nothing resent.
    bot.private_msg(sup, json!(3), json!([text("通报 发布 2026-11")]));
    let a = rec.wait_for(2, WAIT, to_user(sup)).await;
    assert!(a[1].text().contains("已于12月02日 09:00发布到2个群，不再重复发送"), "{}", a[1].text());
    assert!(a[1].text().contains("通报 重新发布 2026-11"), "{}", a[1].text());
    running.drain(WAIT).await;
    assert_eq!(group_sends(&rec).len(), 2, "no group got it twice");
    assert_eq!(rec.actions().iter().filter(|a| a.action == "upload_group_file" && a.ok).count(), 2);
    // The preview says so too, within the channel's 300 characters.
    bot.private_msg(sup, json!(5), json!([text("通报 预览 2026-11")]));
    let a = rec.wait_for(3, WAIT, to_user(sup)).await;
    let t = a[2].text();
    assert!(t.contains("此期已于12月02日 09:00发布") && t.contains("完整内容见所附 .docx"), "{t}");
    assert!(t.chars().count() <= 300, "{} characters", t.chars().count());
    // With the draft as a file for review.
    let files = rec.wait_for(1, WAIT, |a| a.action == "upload_private_file" && a.params["user_id"] == sup).await;
    assert!(files[0].params["name"].as_str().unwrap().ends_with(".docx"));

    // 重新发布 sends once more, to each group once, recorded as revision 2.
    bot.private_msg(sup, json!(4), json!([text("通报 重新发布 2026-11")]));
    let a = rec.wait_for(4, WAIT, to_user(sup)).await;
    assert!(a[3].text().contains("已重新发布2026年11月全县督导通报（第1期）到2个群"), "{}", a[3].text());
    rec.wait_for(4, WAIT, |a| a.action == "send_group_msg" && a.ok).await;
    rec.wait_for(4, WAIT, |a| a.action == "upload_group_file" && a.ok).await;
    running.drain(WAIT).await;
    let all = group_sends(&rec);
    assert_eq!(all.len(), 4);
    for g in [COUNTY_GROUP, ZONE_GROUP] {
        assert_eq!(all.iter().filter(|a| a.params["group_id"] == g).count(), 2, "group {g}");
    }
    assert!(all.iter().all(|a| a.params["group_id"] != OFFICE_GROUP));

    let rows: Vec<(i64, i64, String, String, String)> = dudao::sql::query_as(
        "SELECT revision, issue_no, period, scope, channels FROM bulletin_publications ORDER BY revision",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!((rows[0].0, rows[0].1, rows[0].2.as_str(), rows[0].3.as_str()), (1, 1, "2026-11", "county"));
    assert_eq!(rows[1].0, 2);
    let reached: Vec<Value> = serde_json::from_str(&rows[0].4).unwrap();
    let ids: Vec<&str> = reached.iter().map(|g| g["chat_id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&COUNTY_GROUP.to_string().as_str()) && ids.contains(&ZONE_GROUP.to_string().as_str()));
    let body: String = dudao::sql::query_scalar("SELECT body FROM bulletin_publications WHERE revision = 1")
        .fetch_one(&db)
        .await
        .unwrap();
    assert!(body.contains("五、通报名单"), "the full text is recorded");
    running.stop().await;
}
