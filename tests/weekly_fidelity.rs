//! Weekly reports say only what is true (issue 14): what an inspector wrote under one heading
//! is never filed under another, and the bot does not ask for what it was told.

mod common;
use common::shanghai as local;

use common::Harness;
use dudao::clock::ManualClock;
use dudao::domain::report_parse::{ParsedReport, Section};
use dudao::scheduler::Scheduler;

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

/// A harness on Friday 2026-11-27 after the weekly prompt went out, with 张兰英 (D005, whose
/// schools include 红旗中学 and 松林中学) and 武芳 (D022) bound.
async fn open_round() -> (Harness, ManualClock) {
    let clock = ManualClock::new(local(11, 27, 9, 0));
    let mut h = Harness::start_with(CONFIG, Some(clock.clone())).await;
    h.bind("zhang", "D005").await;
    h.bind("wu", "D022").await;
    clock.set(local(11, 27, 16, 0));
    Scheduler::new(h.app().clone(), dudao::service::all_jobs()).tick().await.unwrap();
    let out = h.settle().await;
    assert!(out.contains("本周督导学校："), "prompt sent: {out}");
    clock.set(local(11, 27, 17, 0));
    (h, clock)
}

async fn report(h: &Harness, code: &str) -> (ParsedReport, i64) {
    let (p, _late, version) =
        dudao::app::weekly::report_of(&mut h.db().acquire().await.unwrap(), "2026-W48", code).await.unwrap().unwrap();
    (p, version)
}

fn no_plan_in_problems(p: &ParsedReport) {
    for item in &p.problem_items {
        assert!(!item.contains("下周") && !item.contains("计划"), "a plan filed as a problem: {:?}", p.problem_items);
    }
    if let Some(t) = p.sections.get(&Section::Problems) {
        assert!(!t.contains("下周"), "a plan in the problems text: {t}");
    }
}

#[tokio::test]
async fn next_week_lines_under_a_numbered_problem_list_are_plans_not_problems() {
    let (mut h, _clock) = open_round().await;

    // Labelled problems, numbered 1．2．3．, the last item being next week's plan.
    let out = h
        .say("zhang: 本周督导学校：红旗中学\n督导方式：查阅资料\n发现问题：\n1．午休值班记录缺三天\n2．图书室借阅登记不全\n3．下周去松林中学看课后服务")
        .await;
    assert!(out.contains("已收到本周周报"), "{out}");
    let (p, _) = report(&h, "D005").await;
    assert_eq!(p.problem_items.len(), 2, "{:?}", p.problem_items);
    no_plan_in_problems(&p);
    assert!(p.sections.get(&Section::NextPlan).is_some_and(|t| t.contains("松林中学")), "{:?}", p.sections);

    // Chinese-numbered 一、二、 items with a "下周计划：…" line among the problems.
    let out = h
        .say("wu: 本周督导学校：阳光小学\n发现问题：一、厕所洗手液缺失；二、课间操组织松散；三、下周计划：到刘楼小学推门听课")
        .await;
    assert!(out.contains("已收到本周周报"), "{out}");
    let (p, _) = report(&h, "D022").await;
    no_plan_in_problems(&p);
    assert_eq!(p.problem_items.len(), 2, "{:?}", p.problem_items);
    assert!(p.sections.get(&Section::NextPlan).is_some_and(|t| t.contains("刘楼小学")), "{:?}", p.sections);

    // Free text: one sentence about this week, one about next week, as a correction.
    let out =
        h.say("zhang: 更正周报：本周到红旗中学查阅资料，发现实验室药品台账不清。下周准备再去松林中学看看食堂。").await;
    assert!(out.contains("第2版"), "{out}");
    let (p, version) = report(&h, "D005").await;
    assert_eq!(version, 2);
    no_plan_in_problems(&p);
    assert_eq!(p.problem_items.len(), 1, "{:?}", p.problem_items);
    assert!(p.problem_items[0].contains("药品台账"), "{:?}", p.problem_items);

    // The supervisors' wrap-up never shows a plan as a problem.
    let rows: Vec<String> =
        dudao::sql::query_scalar("SELECT parsed FROM weekly_reports").fetch_all(h.db()).await.unwrap();
    for r in rows {
        let p: ParsedReport = serde_json::from_str(&r).unwrap();
        no_plan_in_problems(&p);
    }
}

#[tokio::test]
async fn a_free_text_correction_keeps_its_problems_and_asks_nothing() {
    let (mut h, _clock) = open_round().await;
    let out = h.say("zhang: 本周督导学校：红旗中学\n发现问题：无").await;
    assert!(out.contains("已收到本周周报"), "{out}");

    let out = h.say("zhang: 更正周报：本周督导红旗中学和松林中学，查阅资料、推门听课，松林中学晚自习超时").await;
    assert!(out.contains("第2版"), "{out}");
    assert!(!out.contains("请补充"), "the correction answered the problems question: {out}");
    let (p, version) = report(&h, "D005").await;
    assert_eq!(version, 2);
    assert_eq!(p.schools.len(), 2, "{p:?}");
    assert!(!p.no_problems, "{p:?}");
    assert_eq!(p.problem_items.len(), 1, "{p:?}");
    assert!(p.problem_items[0].contains("晚自习超时"), "{p:?}");

    // Without the "周报" word, and with the problem sentence first.
    let out = h.say("wu: 阳光小学午餐留样不足48小时，本周督导阳光小学，座谈走访").await;
    assert!(out.contains("已收到本周周报"), "{out}");
    let out =
        h.say("wu: 更正：阳光小学午餐留样不足48小时，刘楼小学课后服务收费未公示，本周督导阳光小学和刘楼小学").await;
    assert!(out.contains("第2版") && !out.contains("请补充"), "{out}");
    let (p, _) = report(&h, "D022").await;
    assert_eq!(p.schools.len(), 2, "{p:?}");
    let problems = p.problem_items.join("；");
    assert!(problems.contains("留样不足") && problems.contains("收费未公示"), "{p:?}");
    assert!(!problems.contains("本周督导"), "a visit statement filed as a problem: {p:?}");

    // A schools label with a space instead of a colon, then the problem in the same sentence.
    let out = h.say("zhang: 更正周报：本周督导 红旗中学和松林中学，查阅资料、推门听课，红旗中学晚自习超时").await;
    assert!(out.contains("第3版"), "{out}");
    assert!(!out.contains("请补充"), "the correction answered the problems question: {out}");
    let (p, version) = report(&h, "D005").await;
    assert_eq!(version, 3);
    assert_eq!(p.schools.len(), 2, "{p:?}");
    assert_eq!(p.problem_items.len(), 1, "{p:?}");
    assert!(p.problem_items[0].contains("晚自习超时"), "{p:?}");
}

#[tokio::test]
async fn a_second_report_message_adds_items_and_never_glues_onto_the_last_one() {
    let (mut h, _clock) = open_round().await;
    let out =
        h.say("zhang: 周报 本周督导学校：红旗中学\n发现问题：\n1．宿舍消防器材过期\n2．教师办公室用电不规范").await;
    assert!(out.contains("已收到本周周报"), "{out}");

    // An unlabelled problem sentence in a later message is an added item.
    let out = h.say("zhang: 周报：松林中学操场围栏破损").await;
    assert!(!out.contains("请补充"), "{out}");
    let (p, _) = report(&h, "D005").await;
    assert_eq!(p.problem_items, vec!["宿舍消防器材过期", "教师办公室用电不规范", "松林中学操场围栏破损"], "{p:?}");

    // A later message repeating the problems heading adds its items too.
    let out = h.say("zhang: 周报：发现问题：食堂消毒柜未通电").await;
    assert!(!out.contains("请补充"), "{out}");
    let (p, _) = report(&h, "D005").await;
    assert_eq!(p.problem_items.len(), 4, "{p:?}");
    assert_eq!(p.problem_items[3], "食堂消毒柜未通电", "{p:?}");
    assert_eq!(p.problem_items[1], "教师办公室用电不规范", "{p:?}");

    // A message that continues the numbered list ("3．…") still continues it.
    let out = h.say("zhang: 周报：3．实验室危化品台账缺签字").await;
    assert!(!out.contains("请补充"), "{out}");
    let (p, _) = report(&h, "D005").await;
    assert_eq!(p.problem_items.len(), 5, "{p:?}");
    assert!(p.problem_items.iter().all(|i| i.chars().count() < 16), "no glued items: {p:?}");
}

#[tokio::test]
async fn questionnaire_copies_are_a_quantity_not_repetitions() {
    let (mut h, _clock) = open_round().await;
    let out = h
        .say("wu: 本周督导学校：阳光小学\n督导方式：问卷调查（发放问卷60份），推门听课2节，座谈走访（教师8人）\n发现问题：无")
        .await;
    assert!(out.contains("问卷调查×1"), "{out}");
    assert!(!out.contains("×61") && !out.contains("×60"), "{out}");
    let (p, _) = report(&h, "D022").await;
    use dudao::domain::report_parse::VisitMethod;
    assert_eq!(
        p.methods,
        vec![(VisitMethod::LessonObservation, 2), (VisitMethod::Discussion, 1), (VisitMethod::Questionnaire, 1)],
        "{p:?}"
    );
}

#[tokio::test]
async fn weekly_command_outside_a_round_gives_the_template_and_the_next_prompt_time() {
    let clock = ManualClock::new(local(11, 25, 10, 30));
    let mut h = Harness::start_with(CONFIG, Some(clock.clone())).await;
    h.bind("zhang", "D005").await;
    let out = h.say("zhang: 周报").await;
    assert!(out.contains("目前没有需要您提交的周报"), "{out}");
    assert!(out.contains("本周督导学校：") && out.contains("发现问题："), "template shown: {out}");
    assert!(out.contains("11月27日 16:00"), "next prompt time from the weekly schedule: {out}");
}

async fn tick(h: &Harness) {
    Scheduler::new(h.app().clone(), dudao::service::all_jobs()).tick().await.unwrap();
}

#[tokio::test]
async fn an_edit_after_the_deadline_is_a_late_addendum_and_the_published_wrap_up_stands() {
    let (mut h, clock) = open_round().await;
    let out = h
        .say("zhang: 本周督导学校：红旗中学、松林中学\n督导方式：推门听课2节\n发现问题：\n1．食堂餐具消毒记录缺失\n2．楼道应急灯损坏")
        .await;
    assert!(out.contains("已收到本周周报"), "{out}");

    // Monday 12:10: the wrap-up goes out with both problems.
    clock.set(local(11, 30, 12, 10));
    tick(&h).await;
    let wrap = h.settle().await;
    assert!(wrap.contains("【周报汇总】") && wrap.contains("按时 1，逾期 0"), "{wrap}");
    assert!(wrap.contains("发现问题 2 条") && wrap.contains("楼道应急灯损坏"), "{wrap}");

    // Monday 15:20: an edit that drops a published problem and adds another.
    clock.set(local(11, 30, 15, 20));
    let out =
        h.say("zhang: 修改 本周督导学校：红旗中学\n发现问题：\n1．食堂餐具消毒记录缺失\n2．宿舍楼消防栓无水").await;
    assert!(out.contains("已在截止后收到您的补充，原按时提交的周报及状态不变，补充内容另行标注"), "{out}");
    assert!(!out.contains("逾期"), "an on-time report is not re-labelled late: {out}");
    let (p, version) = report(&h, "D005").await;
    let (_, late, _) =
        dudao::app::weekly::report_of(&mut h.db().acquire().await.unwrap(), "2026-W48", "D005").await.unwrap().unwrap();
    assert!(!late, "the on-time status stays");
    assert_eq!(version, 1, "the on-time version stays current");
    assert_eq!(p.problem_items, vec!["食堂餐具消毒记录缺失", "楼道应急灯损坏"], "{p:?}");

    // A further 周报 part after the deadline is an addendum too.
    clock.set(local(11, 30, 16, 5));
    let out = h.say("zhang: 周报：松林中学围墙有裂缝").await;
    assert!(out.contains("已在截止后收到您的补充"), "{out}");
    let (p, version) = report(&h, "D005").await;
    assert_eq!((p.problem_items.len(), version), (2, 1), "{p:?}");
    let addenda: Vec<String> =
        dudao::sql::query_scalar("SELECT text FROM weekly_report_addenda ORDER BY id").fetch_all(h.db()).await.unwrap();
    assert_eq!(addenda.len(), 2, "{addenda:?}");
    assert!(addenda[0].contains("宿舍楼消防栓无水") && addenda[1].contains("围墙有裂缝"), "{addenda:?}");

    // The statistics match what was published, and show the addenda marked as such.
    h.bind("sup", "S001").await;
    let out = h.say("sup: 周报统计 第48周").await;
    assert!(out.contains("按时 1，逾期 0") && !out.contains("逾期：张兰英"), "{out}");
    assert!(out.contains("发现问题 2 条") && out.contains("楼道应急灯损坏"), "{out}");
    assert!(out.contains("宿舍楼消防栓无水") && out.contains("（截止后补充，时间11月30日 15:20）"), "{out}");
    assert!(out.contains("围墙有裂缝") && out.contains("（截止后补充，时间11月30日 16:05）"), "{out}");

    // The inspector's own view: still on time, the addenda listed.
    let out = h.say("zhang: 我的周报").await;
    assert!(out.contains("已提交（第1版）") && !out.contains("逾期"), "{out}");
    assert!(out.contains("（截止后补充，时间11月30日 15:20）") && out.contains("宿舍楼消防栓无水"), "{out}");

    // A first report after the deadline is simply late.
    let out = h.say("wu: 本周督导学校：阳光小学\n发现问题：无").await;
    assert!(out.contains("逾期") && !out.contains("截止后收到您的补充"), "{out}");
    let (_, late, _) =
        dudao::app::weekly::report_of(&mut h.db().acquire().await.unwrap(), "2026-W48", "D022").await.unwrap().unwrap();
    assert!(late);
}

async fn school_id(h: &Harness, short: &str) -> i64 {
    dudao::sql::query_scalar("SELECT id FROM schools WHERE short_name = ?").bind(short).fetch_one(h.db()).await.unwrap()
}

#[tokio::test]
async fn a_short_name_shared_across_the_county_is_asked_about_own_schools_first() {
    let (mut h, _clock) = open_round().await;
    let out = h.say("zhang: 本周督导学校：中心小学、红旗中学\n发现问题：教师办公室插线板私拉乱接").await;
    assert!(!out.contains("不在您负责名单中"), "a shared name is not foreign: {out}");
    assert!(out.contains("“中心小学”是指哪所学校？请回复序号"), "{out}");
    let first = out.lines().find(|l| l.trim_start().starts_with("1. ")).unwrap_or_default();
    assert!(first.contains("红旗中心小学"), "the inspector's own school is listed first: {out}");
    assert!(out.contains("2. "), "other schools of the county follow: {out}");
    let (p, _) = report(&h, "D005").await;
    assert_eq!(p.schools, vec![school_id(&h, "红旗中学").await], "{p:?}");
    assert_eq!(p.ambiguous.len(), 1, "{p:?}");
    assert!(p.unknown_schools.is_empty(), "{p:?}");

    // The numbered answer resolves the question and the report's schools are updated.
    let out = h.say("zhang: 1").await;
    assert!(out.contains("已收到本周周报") && out.contains("红旗中心小学"), "{out}");
    assert!(!out.contains("待确认"), "{out}");
    let (p, version) = report(&h, "D005").await;
    assert_eq!(version, 1);
    assert_eq!(p.schools, vec![school_id(&h, "红旗中学").await, school_id(&h, "红旗中心小学").await], "{p:?}");
    assert!(p.ambiguous.is_empty() && p.unknown_schools.is_empty(), "{p:?}");
    assert_eq!(p.problem_items.len(), 1, "{p:?}");

    // An inspector with no 中心小学 of their own is asked too, not told it is not theirs.
    let out = h.say("wu: 本周督导学校：中心小学\n发现问题：无").await;
    assert!(!out.contains("不在您负责名单中"), "{out}");
    assert!(out.contains("“中心小学”是指哪所学校？请回复序号") && out.contains("2. "), "{out}");

    // A school that is someone else's, named unambiguously, is still reported as not theirs.
    h.bind("huang", "D029").await;
    let out = h.say("huang: 本周督导学校：红旗中学\n发现问题：无").await;
    assert!(out.contains("不在您负责名单中的学校：红旗中学"), "{out}");
    let (p, _) = report(&h, "D029").await;
    assert!(p.schools.is_empty() && p.ambiguous.is_empty(), "{p:?}");
}

#[tokio::test]
async fn report_parts_are_kept_exactly_as_received() {
    let (mut h, _clock) = open_round().await;
    // Through the 周报 command: full-width colons and digits, an emoji at the end.
    let first = "本周督导学校：红旗中学\n督导方式：推门听课２节\n发现问题：\n１．消防器材过期\n２．食堂留样不足🙂";
    let out = h.say(&format!("zhang: 周报：{first}")).await;
    assert!(out.contains("已收到本周周报") && out.contains("推门听课×2"), "parsed as before: {out}");
    // An edit through the command, and a free-text part from the other inspector.
    let edit = "本周督导学校：红旗中学、松林中学\n发现问题：１．消防器材过期👍";
    let out = h.say(&format!("zhang: 周报 修改：{edit}")).await;
    assert!(out.contains("第2版"), "{out}");
    let wu = "本周督导学校：阳光小学（共１次）\n发现问题：无😊";
    let out = h.say(&format!("wu: {wu}")).await;
    assert!(out.contains("已收到本周周报"), "{out}");

    let parts: Vec<String> =
        dudao::sql::query_scalar("SELECT text FROM weekly_report_parts ORDER BY id").fetch_all(h.db()).await.unwrap();
    assert_eq!(parts, vec![first.to_string(), edit.to_string(), wu.to_string()]);
    let (p, _) = report(&h, "D005").await;
    assert!(p.problem_items.len() == 1 && p.problem_items[0].starts_with("消防器材过期"), "{p:?}");
}
