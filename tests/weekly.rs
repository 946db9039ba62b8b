//! Weekly reports over a simulated week on the sample roster: prompt, messy replies, edits,
//! leave, reminders to the right people, late and missing reports, and the wrap-up.

mod common;
use common::{shanghai as local, tick_at};

use common::Harness;
use dudao::clock::ManualClock;
use dudao::domain::report_parse::VisitMethod;

const CONFIG: &str = r#"
[weekly]
exempt_invited = false

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

async fn school_id(h: &Harness, short: &str) -> i64 {
    dudao::sql::query_scalar("SELECT id FROM schools WHERE short_name = ?").bind(short).fetch_one(h.db()).await.unwrap()
}

#[tokio::test]
async fn a_week_of_reports_on_time_late_missing_and_on_leave() {
    let clock = ManualClock::new(local(11, 27, 9, 0));
    let mut h = Harness::start_with(CONFIG, Some(clock.clone())).await;
    for (acct, code) in [("zhang", "D005"), ("wu", "D022"), ("jiang", "D023"), ("cao", "D024"), ("huang", "D029")] {
        h.bind(acct, code).await;
    }
    let out = h.say("huang: 请假 11月27日 至 11月30日").await;
    assert!(out.contains("已登记请假"), "{out}");

    // Friday 16:00: the prompt, with mentions of those expected (not the one on leave).
    tick_at(&h, &clock, local(11, 27, 16, 0)).await;
    let out = h.settle().await;
    assert!(out.contains("[console → 群 zone5]") && out.contains("本周督导学校："), "{out}");
    for name in ["@张兰英", "@武芳", "@江颖", "@曹秀英"] {
        assert!(out.contains(name), "{name} not mentioned: {out}");
    }
    assert!(!out.contains("@黄雪"), "on leave, not prompted: {out}");
    let prompt_id: String = dudao::sql::query_scalar(
        "SELECT platform_msg_id FROM outbox WHERE source LIKE 'weekly:prompt:%' AND chat_id = 'zone5'",
    )
    .fetch_one(h.db())
    .await
    .unwrap();

    // 张兰英 quotes the prompt: numbered 一、二、三, full-width colons, an abbreviation.
    clock.set(local(11, 27, 17, 0));
    let report = "一、本周督导学校：红旗中学、松林中学\n二、督导方式：推门听课2节，查阅资料\n三、发现问题：1．食堂台账不全；2．消防通道堆放杂物\n四、整改跟进：已督促学校限期整改\n五、下周计划：回访上河学校";
    let out = h.say(&format!("zhang@zone5: >>{prompt_id} {}", report.replace('\n', "  "))).await;
    assert!(out.contains("已收到本周周报"), "{out}");
    let (p, late, version) =
        dudao::app::weekly::report_of(&mut h.db().acquire().await.unwrap(), "2026-W48", "D005").await.unwrap().unwrap();
    assert!(!late);
    assert_eq!(version, 1);
    assert_eq!(p.schools, vec![school_id(&h, "红旗中学").await, school_id(&h, "松林中学").await]);
    assert!(p.methods.iter().any(|(m, n)| *m == VisitMethod::LessonObservation && *n == 2), "{:?}", p.methods);
    assert_eq!(p.problem_items.len(), 2, "{:?}", p.problem_items);

    // 武芳 privately, split over three messages with emoji.
    let out = h.say("wu: 本周督导学校：阳光小学、刘楼小学👍").await;
    assert!(out.contains("请补充"), "one follow-up question: {out}");
    let out = h.say("wu: 督导方式：座谈走访，校园巡视").await;
    let _ = out;
    let out = h.say("wu: 发现问题：无").await;
    assert!(out.contains("已收到本周周报") || out.contains("识别"), "{out}");
    let (p, _, _) =
        dudao::app::weekly::report_of(&mut h.db().acquire().await.unwrap(), "2026-W48", "D022").await.unwrap().unwrap();
    assert_eq!(p.schools, vec![school_id(&h, "阳光小学").await, school_id(&h, "刘楼小学").await]);
    assert!(p.no_problems);
    let parts: i64 = dudao::sql::query_scalar(
        "SELECT COUNT(*) FROM weekly_report_parts wp JOIN weekly_reports w ON w.id = wp.report_id JOIN people p ON p.id = w.person_id WHERE p.code = 'D022'",
    )
    .fetch_one(h.db())
    .await
    .unwrap();
    assert_eq!(parts, 3, "every raw message kept");

    // 张兰英 edits before the deadline: the latest wins, history kept.
    let out = h.say("zhang: 修改 本周督导学校：红旗中学\n发现问题：无").await;
    assert!(out.contains("第2版"), "{out}");
    let (p, _, version) =
        dudao::app::weekly::report_of(&mut h.db().acquire().await.unwrap(), "2026-W48", "D005").await.unwrap().unwrap();
    assert_eq!(version, 2);
    assert_eq!(p.schools, vec![school_id(&h, "红旗中学").await]);
    let v1: String =
        dudao::sql::query_scalar("SELECT text FROM weekly_report_parts WHERE version = 1 AND text LIKE '%松林中学%'")
            .fetch_one(h.db())
            .await
            .unwrap();
    assert!(v1.contains("消防通道"));

    // An unbound account quoting the prompt, and a report in the wrong group.
    let out = h.say(&format!("stranger@zone5: >>{prompt_id} 本周督导学校：红旗中学")).await;
    assert!(out.contains("尚未绑定") && !out.contains("已收到"), "{out}");
    let out = h.say("jiang@chitchat: @督导助手 本周督导学校：枣林小学").await;
    assert!(out.contains("不计入周报"), "{out}");
    let jiang: Option<_> =
        dudao::app::weekly::report_of(&mut h.db().acquire().await.unwrap(), "2026-W48", "D023").await.unwrap();
    assert!(jiang.is_none());

    // Sunday 16:00 (20 h before): a gentle note in the group, no mentions.
    tick_at(&h, &clock, local(11, 29, 16, 0)).await;
    let out = h.settle().await;
    assert!(out.contains("已收到 2/4 份"), "{out}");
    assert!(!out.contains('@'), "gentle reminder mentions nobody: {out}");
    // Monday 09:00 (3 h before): mentions of exactly those missing.
    tick_at(&h, &clock, local(11, 30, 9, 0)).await;
    let out = h.settle().await;
    assert!(out.contains("@江颖") && out.contains("@曹秀英"), "{out}");
    for not_missing in ["@张兰英", "@武芳", "@黄雪"] {
        assert!(!out.contains(not_missing), "{not_missing} reminded wrongly: {out}");
    }
    // A restart does not repeat reminders.
    tick_at(&h, &clock, local(11, 30, 9, 10)).await;
    assert!(h.settle().await.is_empty());

    // Monday 12:10: the wrap-up to the supervisors' group matches the database.
    tick_at(&h, &clock, local(11, 30, 12, 10)).await;
    let out = h.settle().await;
    // The wrap-up covers the county: every inspector's round of the week.
    let expected: i64 = dudao::sql::query_scalar(
        "SELECT COUNT(*) FROM weekly_members m JOIN weekly_rounds r ON r.id = m.round_id WHERE r.week = '2026-W48' AND m.excluded IS NULL",
    )
    .fetch_one(h.db())
    .await
    .unwrap();
    let reports: i64 = dudao::sql::query_scalar(
        "SELECT COUNT(*) FROM weekly_reports w JOIN weekly_rounds r ON r.id = w.round_id WHERE r.week = '2026-W48'",
    )
    .fetch_one(h.db())
    .await
    .unwrap();
    assert_eq!(reports, 2);
    let line = format!("应报 {expected} 人，已报 2 人（按时 2，逾期 0），未报 {} 人", expected - 2);
    assert!(out.contains("[console → 群 office]") && out.contains(&line), "{line}\n{out}");
    assert!(out.contains("江颖、曹秀英") && out.contains("请假/免报：黄雪"), "{out}");
    assert!(out.contains("督导次数 3，覆盖学校 3 所"), "{out}");

    // 曹秀英 reports after the deadline: stored and flagged late.
    clock.set(local(11, 30, 13, 0));
    let out = h.say("cao: 本周督导学校：南沟小学、新庄教学点\n发现问题：教学点饮水设备老化").await;
    assert!(out.contains("逾期"), "{out}");
    let (_, late, _) =
        dudao::app::weekly::report_of(&mut h.db().acquire().await.unwrap(), "2026-W48", "D024").await.unwrap().unwrap();
    assert!(late);
    h.bind("sup", "S001").await;
    let out = h.say("sup: 周报统计 第48周").await;
    assert!(
        out.contains(&format!("已报 3 人（按时 2，逾期 1），未报 {} 人", expected - 3)) && out.contains("逾期：曹秀英"),
        "{out}"
    );
    let out = h.say("zhang: 我的周报").await;
    assert!(out.contains("已提交（第2版）"), "{out}");
    let out = h.say("zhang: 周报统计").await;
    assert!(out.contains("不能使用"), "{out}");
    h.stop().await;
}

#[tokio::test]
async fn small_talk_during_a_round_is_not_taken_for_a_report() {
    let clock = ManualClock::new(local(11, 27, 15, 0));
    let mut h = Harness::start_with(CONFIG, Some(clock.clone())).await;
    h.bind("zhang", "D005").await;
    tick_at(&h, &clock, local(11, 27, 16, 0)).await;
    h.settle().await;
    let out = h.say("zhang: 谢谢").await;
    assert!(out.contains("没有看懂"), "{out}");
    assert!(dudao::app::weekly::report_of(&mut h.db().acquire().await.unwrap(), "2026-W48", "D005")
        .await
        .unwrap()
        .is_none());
    let out = h.say("zhang: 本周未下校").await;
    assert!(out.contains("已收到本周周报") || out.contains("请补充"), "{out}");
    h.stop().await;
}
