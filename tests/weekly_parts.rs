//! Weekly reports sent in many parts (issue 15): each part folds into the kept parse state of
//! the report version, and a report stored before states were kept is read afresh once.

mod common;

use common::{shanghai, Harness};
use dudao::clock::ManualClock;
use dudao::domain::report_parse::VisitMethod;
use dudao::scheduler::Scheduler;

const CONFIG: &str = r#"
[weekly]
exempt_invited = false

[[groups]]
channel = "console"
id = "zone5"
purpose = "zone_inspectors"
zone = "Z05"
"#;

/// A harness with 武芳 (D022) bound as `wu` and this week's round open.
async fn week_open() -> (Harness, ManualClock) {
    let clock = ManualClock::new(shanghai(11, 27, 9, 0));
    let mut h = Harness::start_with(CONFIG, Some(clock.clone())).await;
    h.bind("wu", "D022").await;
    clock.set(shanghai(11, 27, 16, 0));
    Scheduler::new(h.app().clone(), dudao::service::all_jobs()).tick().await.unwrap();
    h.settle().await;
    clock.set(shanghai(11, 27, 17, 0));
    (h, clock)
}

async fn school_id(h: &Harness, short: &str) -> i64 {
    dudao::sql::query_scalar("SELECT id FROM schools WHERE short_name = ?").bind(short).fetch_one(h.db()).await.unwrap()
}

async fn report(h: &Harness) -> (dudao::domain::report_parse::ParsedReport, i64) {
    let (p, _, version) =
        dudao::app::weekly::report_of(&mut h.db().acquire().await.unwrap(), "2026-W48", "D022").await.unwrap().unwrap();
    (p, version)
}

fn item(k: usize) -> String {
    format!("第{k}号教室灯管损坏存在安全隐患")
}

#[tokio::test]
async fn a_report_in_three_hundred_parts_ends_with_the_right_summary() {
    let (mut h, _clock) = week_open().await;
    let out = h
        .say(&format!("wu: 本周督导学校：阳光小学、刘楼小学\n督导方式：推门听课1节\n发现问题：\n1. {}", item(1)))
        .await;
    assert!(out.contains("已收到本周周报"), "{out}");
    let mut last = String::new();
    for k in 2..=300 {
        // Every tenth part opens a new group; the others continue its list.
        let part = if k % 10 == 0 {
            format!("督导方式：推门听课1节\n发现问题：\n{k}. {}", item(k))
        } else {
            format!("{k}. {}", item(k))
        };
        last = h.say(&format!("wu: {part}")).await;
    }
    assert!(last.contains("已收到本周周报"), "{last}");
    let (p, version) = report(&h).await;
    assert_eq!(version, 1);
    assert_eq!(p.schools, vec![school_id(&h, "阳光小学").await, school_id(&h, "刘楼小学").await]);
    assert_eq!(p.methods, vec![(VisitMethod::LessonObservation, 31)]);
    let expected: Vec<String> = (1..=300).map(item).collect();
    assert_eq!(p.problem_items, expected);
    let parts: i64 =
        dudao::sql::query_scalar("SELECT COUNT(*) FROM weekly_report_parts").fetch_one(h.db()).await.unwrap();
    assert_eq!(parts, 300);
    let kept: Option<i64> =
        dudao::sql::query_scalar("SELECT parse_state_version FROM weekly_reports").fetch_one(h.db()).await.unwrap();
    assert_eq!(kept, Some(1));
}

#[tokio::test]
async fn a_report_from_before_kept_states_is_read_afresh_on_its_next_part() {
    let (mut h, _clock) = week_open().await;
    let out = h.say(&format!("wu: 本周督导学校：阳光小学\n发现问题：\n1. {}", item(1))).await;
    assert!(out.contains("已收到本周周报"), "{out}");
    // As written by a build from before the migration: parts and parse, no state.
    dudao::sql::query("UPDATE weekly_reports SET parse_state = NULL, parse_state_version = NULL")
        .execute(h.db())
        .await
        .unwrap();
    // A continuation: read together with the first part, which only the stored parts still have.
    let out = h.say(&format!("wu: 2. {}", item(2))).await;
    assert!(out.contains("已收到本周周报"), "{out}");
    let (p, _) = report(&h).await;
    assert_eq!(p.schools, vec![school_id(&h, "阳光小学").await]);
    assert_eq!(p.problem_items, vec![item(1), item(2)]);
    let kept: Option<String> =
        dudao::sql::query_scalar("SELECT parse_state FROM weekly_reports").fetch_one(h.db()).await.unwrap();
    assert!(kept.is_some(), "the state is kept again");
    // And the next part folds into the state kept then.
    h.say(&format!("wu: 3. {}", item(3))).await;
    assert_eq!(report(&h).await.0.problem_items, vec![item(1), item(2), item(3)]);

    // A state of another version is not used: an edit starts afresh.
    let out = h.say(&format!("wu: 修改 本周督导学校：刘楼小学\n发现问题：\n1. {}", item(9))).await;
    assert!(out.contains("第2版"), "{out}");
    let (p, version) = report(&h).await;
    assert_eq!(version, 2);
    assert_eq!(p.schools, vec![school_id(&h, "刘楼小学").await]);
    assert_eq!(p.problem_items, vec![item(9)]);
    h.say(&format!("wu: 2. {}", item(10))).await;
    assert_eq!(report(&h).await.0.problem_items, vec![item(9), item(10)]);
}
