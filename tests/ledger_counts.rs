//! The ledger's kept figures (per-school counts maintained by triggers, migration
//! 20261216000100, and the overdue count on the deadline index) equal counting the items
//! themselves — the computation the 整改台账 page used before and the chat still uses — for
//! every scope, after every kind of change a ledger sees, at deadline boundaries, and after the
//! sample county is purged by the first real roster import.

mod common;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use common::Harness;
use dudao::app::rectify::{counted_ledger, counted_stats, offset_days, stats};
use dudao::domain::rectify::{overdue_days, Severity, Source, Status};
use dudao::store::rectify::{self as rs, Scope};
use dudao::store::Conn;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Every scope a ledger is asked for: the county, each zone, each school, and school sets as an
/// inspector's own schools.
async fn scopes(conn: &mut Conn) -> Vec<Scope> {
    let schools: Vec<(i64, i64)> =
        dudao::sql::query_as("SELECT id, zone_id FROM schools ORDER BY id").fetch_all(&mut *conn).await.unwrap();
    let mut zones: Vec<i64> = schools.iter().map(|(_, z)| *z).collect();
    zones.sort_unstable();
    zones.dedup();
    let mut out = vec![Scope::County];
    out.extend(zones.iter().map(|z| Scope::Zone(*z)));
    out.extend(schools.iter().map(|(s, _)| Scope::Schools(vec![*s])));
    let ids: Vec<i64> = schools.iter().map(|(s, _)| *s).collect();
    out.push(Scope::Schools(ids.iter().step_by(2).copied().collect()));
    out.push(Scope::Schools(Vec::new()));
    out
}

/// The kept figures against the items counted one by one, for `scope` on `today`.
async fn check(conn: &mut Conn, scope: &Scope, today: NaiveDate, when: &str) {
    let tz = chrono_tz::Asia::Shanghai;
    let open = rs::open_items_in(conn, scope).await.unwrap();
    let finished = rs::finished_summary(conn, scope, offset_days(tz, today)).await.unwrap();
    let slow = stats(&open, &finished, tz, today);
    let counts = rs::ledger_counts(conn, scope, today).await.unwrap();
    let fast = counted_stats(&counts);
    let ctx = format!("{when}: {scope:?} on {today}");
    assert_eq!(
        (fast.total, fast.open, fast.overdue, fast.unnotified),
        (slow.total, slow.open, slow.overdue, slow.unnotified),
        "{ctx}"
    );
    assert_eq!(
        (fast.closed_on_time, fast.closed_late, fast.cancelled),
        (slow.closed_on_time, slow.closed_late, slow.cancelled),
        "{ctx}"
    );
    assert_eq!(fast.rate, slow.rate, "{ctx}");
    // The chat's figures: the page's, plus the open items' ages and the average days to close.
    let chat = counted_ledger(conn, scope, tz, today).await.unwrap();
    assert_eq!(chat, slow, "{ctx}: the chat's figures");
    for s in Status::ALL {
        let n = rs::items_with_status(conn, scope, &[s], None).await.unwrap().len();
        assert_eq!(counts.count(s), n, "{ctx}: {s:?}");
    }
    // The page's list: the most overdue first, as when every open item is sorted in Rust.
    let open_statuses: Vec<Status> = Status::ALL.into_iter().filter(|s| s.is_open()).collect();
    let mut all = rs::items_with_status(conn, scope, &open_statuses, None).await.unwrap();
    all.sort_by_key(|i| (std::cmp::Reverse(overdue_days(i.status, i.deadline, today)), i.deadline, i.id));
    let ids = |v: &[rs::Item]| v.iter().map(|i| i.id).collect::<Vec<_>>();
    for limit in [1usize, 7, 500] {
        let page = rs::most_overdue(conn, scope, &open_statuses, today, false, limit as u32).await.unwrap();
        assert_eq!(ids(&page), ids(&all[..all.len().min(limit)]), "{ctx}: first {limit}");
        let overdue: Vec<rs::Item> =
            all.iter().filter(|i| overdue_days(i.status, i.deadline, today) > 0).take(limit).cloned().collect();
        let page = rs::most_overdue(conn, scope, &open_statuses, today, true, limit as u32).await.unwrap();
        assert_eq!(ids(&page), ids(&overdue), "{ctx}: overdue, first {limit}");
    }
    let verify = [Status::Submitted, Status::Verifying];
    let mut waiting = rs::items_with_status(conn, scope, &verify, None).await.unwrap();
    waiting.sort_by_key(|i| (i.deadline, i.id));
    let page = rs::most_overdue(conn, scope, &verify, today, false, 500).await.unwrap();
    assert_eq!(ids(&page), ids(&waiting), "{ctx}: awaiting verification");
}

/// Every scope on the days around the deadlines in use (a deadline is overdue from the next
/// day), the first of the month, and a day with no deadline near.
async fn check_all(conn: &mut Conn, base: NaiveDate, when: &str) {
    let days = [base - Duration::days(1), base, base + Duration::days(1), base + Duration::days(40)];
    for scope in scopes(conn).await {
        for today in days {
            check(conn, &scope, today, when).await;
        }
    }
}

/// A ledger item as the workflows leave it after one more change.
#[derive(Clone, Copy, Debug)]
enum Change {
    Notify,
    Acknowledge,
    Start,
    Submit,
    Return,
    Verify,
    CloseOnTime,
    CloseLate,
    CloseOnSite,
    CloseUnrecorded,
    Reopen,
    Cancel,
    Extend,
    Shorten,
    Delete,
    MoveSchool,
}

const CHANGES: [Change; 16] = [
    Change::Notify,
    Change::Acknowledge,
    Change::Start,
    Change::Submit,
    Change::Return,
    Change::Verify,
    Change::CloseOnTime,
    Change::CloseLate,
    Change::CloseOnSite,
    Change::CloseUnrecorded,
    Change::Reopen,
    Change::Cancel,
    Change::Extend,
    Change::Shorten,
    Change::Delete,
    Change::MoveSchool,
];

const PROBLEMS: [&str; 5] =
    ["食堂留样记录不全", "消防通道堆放杂物", "教室照明亮度不足", "午休床铺间距过小", "课后服务收费未公示"];

/// When an item is recorded: any hour of the 40 days before `now`, or just either side of a
/// local midnight that separates the ledger's ages (7 and 30 days before `base` and the day
/// after it, 00:00 in Shanghai is 16:00 UTC the day before).
fn recorded_at(rng: &mut StdRng, base: NaiveDate, now: DateTime<Utc>) -> DateTime<Utc> {
    let day = [7, 8, 30, 31, -1][rng.random_range(0..5)];
    let midnight = (base - Duration::days(day + 1)).and_hms_opt(16, 0, 0).unwrap().and_utc();
    match rng.random_range(0..4) {
        0 => midnight,
        1 => midnight - Duration::milliseconds(1),
        _ => now - Duration::hours(rng.random_range(0..24 * 40)),
    }
}

async fn create(conn: &mut Conn, rng: &mut StdRng, schools: &[i64], base: NaiveDate, now: DateTime<Utc>) -> i64 {
    let created = recorded_at(rng, base, now);
    let n = rs::NewItem {
        school_id: schools[rng.random_range(0..schools.len())],
        category: rng.random_range(1..=9),
        severity: Severity::ALL[rng.random_range(0..4)],
        source: Source::Direct,
        source_ref: None,
        description: PROBLEMS[rng.random_range(0..PROBLEMS.len())],
        owner: "school",
        deadline: base + Duration::days(rng.random_range(-3..=3)),
        created_by: None,
    };
    rs::insert(conn, &n, created).await.unwrap()
}

/// Applies `change` to item `id` the way the workflows write it (`store::rectify::save`), or by
/// hand for what only an administrator or the purge does (delete, move to another school).
async fn apply(conn: &mut Conn, id: i64, change: Change, schools: &[i64], now: DateTime<Utc>) {
    let Some(mut it) = rs::get(conn, id).await.unwrap() else { return };
    match change {
        Change::Notify => it.status = Status::Notified,
        Change::Acknowledge => it.status = Status::Acknowledged,
        Change::Start => it.status = Status::InProgress,
        Change::Submit => it.status = Status::Submitted,
        Change::Return => {
            it.status = Status::InProgress;
            it.returns += 1;
        }
        Change::Verify => it.status = Status::Verifying,
        Change::CloseOnTime | Change::CloseLate | Change::CloseOnSite | Change::CloseUnrecorded => {
            it.status = Status::Closed;
            it.closed_at = Some(now);
            it.closed_late = match change {
                Change::CloseLate => Some(true),
                // Rows closed before closing times were recorded.
                Change::CloseUnrecorded => None,
                _ => Some(false),
            };
            if matches!(change, Change::CloseUnrecorded) {
                it.closed_at = None;
            }
        }
        Change::Reopen => {
            if it.status != Status::Closed {
                return;
            }
            it.status = Status::InProgress;
            it.closed_at = None;
            it.closed_late = None;
            it.relapses += 1;
        }
        Change::Cancel => it.status = Status::Cancelled,
        Change::Extend => {
            it.deadline += Duration::days(2);
            it.extensions += 1;
        }
        Change::Shorten => it.deadline -= Duration::days(1),
        Change::Delete => {
            dudao::sql::query("DELETE FROM rectify_items WHERE id = ?").bind(id).execute(&mut *conn).await.unwrap();
            return;
        }
        Change::MoveSchool => {
            let to = schools[(schools.iter().position(|s| *s == it.school_id).unwrap_or(0) + 1) % schools.len()];
            dudao::sql::query("UPDATE rectify_items SET school_id = ? WHERE id = ?")
                .bind(to)
                .bind(id)
                .execute(&mut *conn)
                .await
                .unwrap();
            return;
        }
    }
    rs::save(conn, &it, now).await.unwrap();
}

async fn school_ids(conn: &mut Conn) -> Vec<i64> {
    dudao::sql::query_scalar("SELECT id FROM schools ORDER BY id").fetch_all(&mut *conn).await.unwrap()
}

/// Random changes over a generated ledger, checked after each round; then the ledger of the
/// sample county is purged by the first real roster import and a new one starts.
#[tokio::test]
async fn kept_ledger_figures_equal_counting_the_items() {
    let h = Harness::start().await;
    let mut rng = StdRng::seed_from_u64(18);
    let base = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
    let now = Utc.with_ymd_and_hms(2026, 11, 20, 2, 0, 0).unwrap();
    let mut conn = h.db().acquire().await.unwrap();
    let schools = school_ids(&mut conn).await;
    assert!(schools.len() >= 3, "the sample county has schools");
    check_all(&mut conn, base, "empty ledger").await;
    let mut ids = Vec::new();
    for round in 0..4 {
        for _ in 0..30 {
            ids.push(create(&mut conn, &mut rng, &schools, base, now).await);
        }
        for _ in 0..120 {
            let id = ids[rng.random_range(0..ids.len())];
            let change = CHANGES[rng.random_range(0..CHANGES.len())];
            // Deletions and moves are rare hand edits; keep most items.
            if matches!(change, Change::Delete | Change::MoveSchool) && rng.random_range(0..4) != 0 {
                continue;
            }
            apply(&mut conn, id, change, &schools, now).await;
        }
        check_all(&mut conn, base, &format!("round {round}")).await;
    }
    // The generated ledger exercises every figure: items of each age, overdue ones, finished ones.
    let tz = chrono_tz::Asia::Shanghai;
    let open = rs::open_items_in(&mut conn, &Scope::County).await.unwrap();
    let finished = rs::finished_summary(&mut conn, &Scope::County, offset_days(tz, base)).await.unwrap();
    let s = stats(&open, &finished, tz, base);
    assert!(s.by_age.iter().all(|n| *n > 0) && s.overdue > 0 && s.unnotified > 0, "{s:?}");
    assert!(s.closed_on_time > 0 && s.closed_late > 0 && s.cancelled > 0 && finished.timed > 0, "{s:?}");
    // Every kind of change happened at least once in some item's life: the counts were moved
    // by all of them (a fixed sweep, so the test does not rest on the seed alone).
    for (i, change) in CHANGES.iter().enumerate() {
        let id = ids[i % ids.len()];
        apply(&mut conn, id, *change, &schools, now).await;
        check(&mut conn, &Scope::County, base, &format!("after {change:?}")).await;
    }
    let counted: i64 =
        dudao::sql::query_scalar("SELECT SUM(identified + notified + acknowledged + in_progress + submitted + verifying + closed_on_time + closed_late + closed_other + cancelled) FROM rectify_school_counts")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
    assert!(counted > 0);
    drop(conn);

    // The office's real roster replaces the sample county: its items go, and so do their counts.
    let roster = real_roster();
    dudao::store::roster::apply(h.db(), &roster, "cli", now).await.unwrap();
    let mut conn = h.db().acquire().await.unwrap();
    let left: i64 =
        dudao::sql::query_scalar("SELECT COUNT(*) FROM rectify_school_counts").fetch_one(&mut *conn).await.unwrap();
    assert_eq!(left, 0, "no count survives the sample purge");
    check_all(&mut conn, base, "after the purge").await;
    let schools = school_ids(&mut conn).await;
    let mut ids = Vec::new();
    for _ in 0..20 {
        ids.push(create(&mut conn, &mut rng, &schools, base, now).await);
    }
    for _ in 0..60 {
        let id = ids[rng.random_range(0..ids.len())];
        apply(&mut conn, id, CHANGES[rng.random_range(0..CHANGES.len())], &schools, now).await;
    }
    check_all(&mut conn, base, "the office's own ledger").await;
    drop(conn);
    h.stop().await;
}

/// A small real county, written for this test.
fn real_roster() -> dudao::roster::Roster {
    let zones = "编号,名称,级别,组长\nLS1,柳溪东片,县级,\nLS2,柳溪西片,县级,\n";
    let schools = "学校代码,学校名称,简称,别名,责任区,学段,办学性质,市直,寄宿,主责督学,协同督学,回避督学\n\
4300000001,柳溪县第二小学,柳溪二小,,LS1,小学,公办,否,否,D101,,\n\
4300000002,柳溪县石桥镇中学,石桥中学,,LS1,初中,公办,否,否,D101,,\n\
4300000003,柳溪县枫林小学,枫林小学,,LS2,小学,公办,否,否,D102,,\n";
    let people = "编号,姓名,角色,督学类型,责任区,学校,职务,手机,QQ,企业微信,Telegram,备注\n\
D101,许文澜,责任督学,专职,LS1,,,13900000101,,,,\n\
D102,董一鸣,责任督学,专职,LS2,,,13900000102,,,,\n\
S101,韩素琴,督导室,,,,督导室主任,13900000103,,,,\n";
    let mut tables = dudao::roster::RawTables::default();
    for (file, text) in [("zones.csv", zones), ("schools.csv", schools), ("people.csv", people)] {
        tables.insert(dudao::roster::parse_csv(std::path::Path::new(file), text.as_bytes()).unwrap()).unwrap();
    }
    dudao::roster::validate(tables).unwrap_or_else(|e| panic!("roster: {:?}", e.iter().take(3).collect::<Vec<_>>()))
}
