//! Everyday office moves (issue 14 items 18–20): short help by topic, supervisor notices with
//! receipts, and starting a round now. All through the real pipeline on the console channel.

mod common;
use common::shanghai as local;

use chrono::Utc;
use common::{first_person, Harness};
use dudao::app::UNBOUND_HINT;
use dudao::chat::{ChatRef, InboundMessage, Segment, UserRef};
use dudao::clock::ManualClock;

async fn scalar(h: &Harness, sql: &str) -> i64 {
    dudao::sql::query_scalar(sql).fetch_one(h.db()).await.unwrap()
}

/// The console message id of the first message to `target` ("私聊 han") whose text contains `needle`.
fn message_id(out: &str, target: &str, needle: &str) -> String {
    let head = format!("[console → {target}] (");
    let mut current: Option<String> = None;
    for line in out.lines() {
        if let Some(rest) = line.strip_prefix(&head) {
            current = rest.strip_suffix(')').map(str::to_string);
        } else if line.starts_with("[console") {
            current = None;
        } else if line.contains(needle) {
            if let Some(id) = &current {
                return id.clone();
            }
        }
    }
    panic!("no message to {target} containing {needle} in:\n{out}")
}

/// A private console message quoting the bot message `quoted`.
fn quoting(id: &str, account: &str, quoted: &str, text: &str) -> InboundMessage {
    InboundMessage {
        chat: ChatRef::private("console", account),
        sender: UserRef { id: account.into(), display: Some(account.into()) },
        platform_msg_id: id.into(),
        segments: vec![Segment::Reply { message_id: quoted.into() }, Segment::text(text)],
        to_me: true,
        sent_at: Utc::now(),
    }
}

// ---- item 20: short help ----

#[tokio::test]
async fn short_help_lists_topics_and_details_on_request() {
    let mut h = Harness::start().await;
    let inspector = first_person(h.db(), "inspector").await;
    let supervisor = first_person(h.db(), "supervisor").await;
    h.bind("lihua", &inspector).await;
    h.bind("zhouchen", &supervisor).await;

    // The short list: one line per topic, names only, one WeCom message.
    let out = h.say("zhouchen: 帮助").await;
    let body = out.split_once('\n').map_or(out.as_str(), |(_, b)| b);
    assert!(body.chars().count() <= 600, "{} chars: {out}", body.chars().count());
    assert!(out.contains("督办：") && out.contains("布置任务"), "{out}");
    assert!(out.contains("整改：") && out.contains("周报："), "{out}");
    assert!(!out.contains("<标题>"), "usage only on request: {out}");
    assert!(!out.contains("发送队列"), "admin-only command hidden: {out}");

    // A topic: usage and summary of the commands the role may use.
    let out = h.say("lihua: 帮助 任务").await;
    assert!(out.contains("收到 T编号") && out.contains("我的任务"), "{out}");
    assert!(!out.contains("布置任务 <标题>"), "supervisor command hidden from an inspector: {out}");
    let out = h.say("zhouchen: help task").await;
    assert!(out.contains("布置任务 <标题>") && out.contains("办结 T编号"), "{out}");

    // One command.
    let out = h.say("zhouchen: 帮助 布置任务").await;
    assert!(out.contains("布置任务 <标题>") && out.contains("布置督办任务"), "{out}");
    let out = h.say("lihua: 帮助 布置任务").await;
    assert!(out.contains("不能使用“布置任务”"), "{out}");

    // Something unknown: a polite answer naming the topics.
    let out = h.say("lihua: 帮助 天气预报").await;
    assert!(out.contains("没有找到") && out.contains("周报") && out.contains("督办"), "{out}");

    // Unbound accounts still hear only how to bind.
    let out = h.say("xinlaide: 帮助 任务").await;
    assert!(out.contains(UNBOUND_HINT) && !out.contains("收到 T编号"), "{out}");
    h.stop().await;
}

// ---- item 18: supervisor notices ----

/// Supervisor 卢浩 (S001, "sup"); inspectors 史芳 (D001, "shi"), 韩伟 (D002, "han"), 朱向阳 (D003, "zhu").
async fn office(clock: &ManualClock) -> Harness {
    let mut h = Harness::start_with("", Some(clock.clone())).await;
    for (acct, code) in [("sup", "S001"), ("shi", "D001"), ("han", "D002"), ("zhu", "D003")] {
        h.bind(acct, code).await;
    }
    h
}

#[tokio::test]
async fn notices_go_out_through_the_outbox_and_count_receipts() {
    let clock = ManualClock::new(local(11, 24, 9, 0));
    let mut h = office(&clock).await;

    // Inspectors may not send notices: the catalogue's role rule, checked on the server.
    let out = h.say("shi: 发通知 全体督学 周五前把听课记录交到办公室").await;
    assert!(out.contains("不能使用“发通知”"), "{out}");
    assert_eq!(scalar(&h, "SELECT COUNT(*) FROM notices").await, 0);

    // A task for 韩伟 first, so that a bare 收到 has two things it could mean.
    let out = h.say("sup: 布置任务 整理秋季听课笔记 对象:韩伟 截止:11月30日17:00").await;
    assert!(out.contains("已布置任务 T1"), "{out}");

    let out = h.say("sup: 发通知 史芳、韩伟 周四下午两点在教育局三楼小会议室开督学例会，请带好笔记本 需回执").await;
    assert!(out.contains("已发送通知 N1") && out.contains("史芳") && out.contains("韩伟"), "{out}");
    for acct in ["shi", "han"] {
        let id = message_id(&out, &format!("私聊 {acct}"), "【督导室通知 N1】");
        assert!(!id.is_empty());
    }
    assert!(out.contains("周四下午两点在教育局三楼小会议室开督学例会，请带好笔记本"), "body verbatim: {out}");
    assert!(!out.contains("需回执\n"), "the flag is not part of the body: {out}");
    assert!(out.contains("收到 N1"), "recipients are told how to acknowledge: {out}");
    assert_eq!(scalar(&h, "SELECT COUNT(*) FROM notice_recipients WHERE notice_id = 1").await, 2);
    assert_eq!(
        scalar(&h, "SELECT COUNT(*) FROM outbox WHERE idempotency_key LIKE 'notice:N1:%' AND status = 'sent'").await,
        2
    );
    assert_eq!(scalar(&h, "SELECT COUNT(*) FROM audit_log WHERE entity = 'notice' AND action = 'sent'").await, 1);

    // 史芳 quotes the notice and says 收到.
    let notice_to_shi = message_id(&out, "私聊 shi", "【督导室通知 N1】");
    h.app().ingest(quoting("q-shi-1", "shi", &notice_to_shi, "收到")).await.unwrap();
    let out = h.settle().await;
    assert!(out.contains("已确认收到通知 N1"), "{out}");

    // 韩伟 has a task and a notice waiting: a bare 收到 asks which rather than guessing.
    let out = h.say("han: 收到").await;
    assert!(out.contains("T1") && out.contains("N1") && out.contains("请写明编号"), "{out}");
    assert_eq!(scalar(&h, "SELECT COUNT(*) FROM notice_recipients WHERE acked_at IS NOT NULL").await, 1);
    let out = h.say("han: 收到 T1").await;
    assert!(out.contains("已确认收到任务 T1"), "the task still works with its code: {out}");

    // Someone the notice did not go to.
    let out = h.say("zhu: 收到 N1").await;
    assert!(out.contains("不在通知N1的接收人中"), "{out}");

    // Who has and has not acknowledged.
    let out = h.say("sup: 通知情况 N1").await;
    assert!(out.contains("已确认（1）：史芳") && out.contains("未确认（1）：韩伟"), "{out}");

    // With only the notice left, a bare 收到 acknowledges it.
    let out = h.say("han: 收到").await;
    assert!(out.contains("已确认收到通知 N1"), "{out}");
    let out = h.say("sup: 通知情况 1").await;
    assert!(out.contains("已确认（2）") && !out.contains("未确认（1）"), "{out}");
    h.stop().await;
}

#[tokio::test]
async fn notices_reach_a_zone_and_a_school_and_refuse_what_they_cannot_resolve() {
    let clock = ManualClock::new(local(11, 24, 9, 0));
    let mut h = office(&clock).await;

    let out = h.say("sup: 发通知 第三督学责任区 本周五上午暂停学校走访，改为集中学习").await;
    assert!(out.contains("已发送通知 N1"), "{out}");
    let zone: i64 = scalar(
        &h,
        "SELECT COUNT(*) FROM people p JOIN zones z ON z.id = p.zone_id
          WHERE z.code = 'Z03' AND p.role = 'inspector' AND p.active = 1",
    )
    .await;
    assert!(zone >= 1);
    assert_eq!(scalar(&h, "SELECT COUNT(*) FROM notice_recipients WHERE notice_id = 1").await, zone);
    assert_eq!(scalar(&h, "SELECT COUNT(*) FROM outbox WHERE idempotency_key LIKE 'notice:N1:%'").await, zone);
    assert!(out.contains("【督导室通知 N1】"), "zhu is bound and gets it privately: {out}");
    let out = h.say("sup: 通知情况 N1").await;
    assert!(out.contains("未要求回执"), "{out}");

    // A school: its contact is the recipient.
    let out = h.say("sup: 发通知 对象:城关二小 内容:下周一迎接市级督导检查，请提前准备校园安全台账").await;
    assert!(out.contains("已发送通知 N2"), "{out}");
    assert_eq!(scalar(&h, "SELECT COUNT(*) FROM notice_recipients WHERE notice_id = 2").await, 1);

    // A zone's schools: the contact of each of them.
    let out = h.say("sup: 发通知 第一督学责任区学校 请各校周三前上报冬季取暖安全自查表 回执").await;
    assert!(out.contains("已发送通知 N3") && out.contains("已要求回执"), "{out}");
    let to_schools = scalar(&h, "SELECT COUNT(*) FROM notice_recipients WHERE notice_id = 3").await;
    let contacts = scalar(
        &h,
        "SELECT COUNT(DISTINCT c.person_id) FROM school_contacts c JOIN schools s ON s.id = c.school_id
           JOIN zones z ON z.id = s.zone_id JOIN people p ON p.id = c.person_id
          WHERE z.code = 'Z01' AND s.active = 1 AND p.active = 1 AND p.role = 'school_contact'",
    )
    .await;
    assert!(to_schools >= 1 && to_schools <= contacts, "{to_schools} of {contacts}: {out}");
    assert_eq!(scalar(&h, "SELECT COUNT(*) FROM outbox WHERE idempotency_key LIKE 'notice:N3:%'").await, to_schools);

    // Nothing is sent when a target is unknown or the text is missing.
    let out = h.say("sup: 发通知 火星督学责任区 明天开会").await;
    assert!(out.contains("通知未发送") && out.contains("火星督学责任区"), "{out}");
    let out = h.say("sup: 发通知 全体督学").await;
    assert!(out.contains("通知未发送") && out.contains("通知内容"), "{out}");
    assert_eq!(scalar(&h, "SELECT COUNT(*) FROM notices").await, 3);
    let out = h.say("sup: 通知情况 N9").await;
    assert!(out.contains("没有找到通知N9"), "{out}");
    h.stop().await;
}

// ---- item 19: start a round now ----

const ZONE_GROUPS: &str = r#"
[[groups]]
channel = "console"
id = "zone5"
purpose = "zone_inspectors"
zone = "Z05"

[[groups]]
channel = "console"
id = "office"
purpose = "supervisors"
"#;

async fn tick(h: &Harness) {
    dudao::scheduler::Scheduler::new(h.app().clone(), dudao::service::all_jobs()).tick().await.unwrap();
}

#[tokio::test]
async fn a_supervisor_opens_the_weekly_round_now_and_friday_does_not_repeat_it() {
    // Wednesday 2026-11-25; the weekly prompt is scheduled for Friday 16:00.
    let clock = ManualClock::new(local(11, 25, 10, 0));
    let mut h = Harness::start_with(ZONE_GROUPS, Some(clock.clone())).await;
    h.bind("sup", "S001").await;
    h.bind("zhang", "D005").await;

    let out = h.say("zhang: 发起周报").await;
    assert!(out.contains("不能使用“发起周报”"), "{out}");
    assert_eq!(scalar(&h, "SELECT COUNT(*) FROM weekly_rounds").await, 0);

    let out = h.say("sup: 发起周报").await;
    assert!(out.contains("已发起2026年第48周周报收集"), "{out}");
    assert!(out.contains("[console → 群 zone5]") && out.contains("周报开始收集"), "prompt in the zone group: {out}");
    let rounds = scalar(&h, "SELECT COUNT(*) FROM weekly_rounds WHERE week = '2026-W48'").await;
    let prompts = scalar(&h, "SELECT COUNT(*) FROM outbox WHERE idempotency_key LIKE 'weekly:r%:prompt%'").await;
    assert!(rounds >= 1 && prompts >= 1);
    assert_eq!(
        scalar(
            &h,
            "SELECT COUNT(*) FROM firings f JOIN schedules s ON s.id = f.schedule_id
              WHERE s.name = 'weekly-prompt' AND f.status = 'fired' AND f.manual_by = 'chat:S001'"
        )
        .await,
        1
    );

    // Asking again the same week does nothing.
    let out = h.say("sup: 发起周报").await;
    assert!(out.contains("不再重复发起"), "{out}");

    // Friday's scheduled prompt finds this week's occurrence recorded: no second round, no prompt.
    clock.set(local(11, 27, 16, 1));
    tick(&h).await;
    let out = h.settle().await;
    assert!(!out.contains("周报开始收集"), "prompted twice: {out}");
    assert_eq!(scalar(&h, "SELECT COUNT(*) FROM weekly_rounds").await, rounds);
    assert_eq!(scalar(&h, "SELECT COUNT(*) FROM outbox WHERE idempotency_key LIKE 'weekly:r%:prompt%'").await, prompts);
    assert_eq!(
        scalar(
            &h,
            "SELECT COUNT(*) FROM firings f JOIN schedules s ON s.id = f.schedule_id
              WHERE s.name = 'weekly-prompt' AND f.status = 'fired'"
        )
        .await,
        1
    );
    // The next week's prompt goes out as usual.
    clock.set(local(12, 4, 16, 1));
    tick(&h).await;
    let out = h.settle().await;
    assert!(out.contains("2026年第49周周报开始收集"), "{out}");
    h.stop().await;
}

#[tokio::test]
async fn a_theme_published_on_demand_is_not_published_again_by_the_schedule() {
    let clock = ManualClock::new(local(11, 30, 10, 0));
    let mut h = Harness::start_with(ZONE_GROUPS, Some(clock.clone())).await;
    h.bind("sup", "S001").await;

    // Only a month: the theme calendar's theme for it, now.
    let out = h.say("sup: 发布主题 12月").await;
    assert!(out.contains("已发布2026年12月督导主题"), "{out}");
    let notices = out.matches("【2026年12月督导主题】").count();
    assert!(notices >= 1, "{out}");

    // December 1st, the day the schedule would publish it from the calendar: it is there already.
    clock.set(local(12, 1, 9, 1));
    tick(&h).await;
    let out = h.settle().await;
    assert!(!out.contains("【2026年12月督导主题】"), "published twice: {out}");
    assert_eq!(scalar(&h, "SELECT COUNT(*) FROM monthly_themes WHERE month = '2026-12'").await, 1);
    h.stop().await;
}

// ---- item 19: `dudao schedules run NAME` ----

fn cli(db: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_dudao"))
        .args(args)
        .env("DUDAO_DATABASE__PATH", db)
        .env("DUDAO_HTTP__BIND", "127.0.0.1:0")
        .env("DUDAO_LOG", "warn")
        .output()
        .expect("run dudao")
}

#[tokio::test]
async fn schedules_run_runs_a_job_once_for_its_period_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("dudao.sqlite");

    let out = cli(&db, &["schedules", "run", "weekly-prompt"]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("已运行"), "{stdout}");

    // Run again the same period: recorded once, nothing repeated.
    let out = cli(&db, &["schedules", "run", "weekly-prompt"]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success() && stdout.contains("未重复运行"), "{stdout}");

    // An unknown name: an error naming the schedules there are.
    let out = cli(&db, &["schedules", "run", "weekly-promt"]);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success() && stderr.contains("weekly-promt") && stderr.contains("weekly-prompt"), "{stderr}");

    let pool = dudao::db::open_and_migrate(&common::settings_for(&dir, "").database).await.unwrap();
    let (nominal, manual_by): (String, String) = dudao::sql::query_as(
        "SELECT f.nominal_at, f.manual_by FROM firings f JOIN schedules s ON s.id = f.schedule_id
          WHERE s.name = 'weekly-prompt' AND f.status = 'fired'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(manual_by, "cli");
    let rounds: i64 = dudao::sql::query_scalar("SELECT COUNT(*) FROM weekly_rounds").fetch_one(&pool).await.unwrap();
    assert!(rounds >= 1, "the job ran against the configured database");
    let prompts: i64 =
        dudao::sql::query_scalar("SELECT COUNT(*) FROM outbox WHERE idempotency_key LIKE 'weekly:r%:prompt%'")
            .fetch_one(&pool)
            .await
            .unwrap();
    pool.close().await;

    // The service, at the regular time of that occurrence, does not fire it again.
    let nominal = dudao::db::parse_ts(&nominal).unwrap();
    let clock = ManualClock::new(nominal + chrono::Duration::minutes(1));
    let h = Harness::start_in(dir, "", Some(clock)).await;
    tick(&h).await;
    assert_eq!(scalar(&h, "SELECT COUNT(*) FROM weekly_rounds").await, rounds);
    assert_eq!(scalar(&h, "SELECT COUNT(*) FROM outbox WHERE idempotency_key LIKE 'weekly:r%:prompt%'").await, prompts);
    assert_eq!(
        scalar(
            &h,
            "SELECT COUNT(*) FROM firings f JOIN schedules s ON s.id = f.schedule_id
              WHERE s.name = 'weekly-prompt' AND f.status = 'fired'"
        )
        .await,
        1
    );
    h.stop().await;
}
