//! State changes in `store/` name the state they expect and say whether they applied, so a
//! second writer (or a stale read) cannot overwrite a row that has moved on.

mod common;

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use common::{first_person, Harness};
use dudao::store;

async fn person_id(db: &dudao::db::Db, role: &str) -> i64 {
    let code = first_person(db, role).await;
    let mut conn = db.acquire().await.unwrap();
    store::people::find_people(&mut conn, &code).await.unwrap()[0].id
}

#[tokio::test]
async fn a_leave_is_cancelled_once() {
    let h = Harness::start().await;
    let pid = person_id(h.db(), "inspector").await;
    let now = Utc::now();
    let mut conn = h.db().acquire().await.unwrap();
    let start = NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
    let id = store::leave::add(&mut conn, pid, start, start + Duration::days(2), Some("外出培训"), now).await.unwrap();
    assert!(store::leave::cancel(&mut conn, id, now).await.unwrap());
    assert!(!store::leave::cancel(&mut conn, id, now + Duration::minutes(1)).await.unwrap(), "already cancelled");
    drop(conn);
    h.stop().await;
}

#[tokio::test]
async fn only_a_draft_visit_is_saved() {
    let h = Harness::start().await;
    let pid = person_id(h.db(), "inspector").await;
    let now = Utc::now();
    let today = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
    let v = dudao::domain::visit_parse::parse_visit("今天到校查看了课后服务，发现午休场地不足。", &[], today);
    let mut conn = h.db().acquire().await.unwrap();
    let draft = store::monthly::create_visit(&mut conn, pid, &v, now).await.unwrap();
    assert!(store::monthly::save_visit(&mut conn, draft, &v, "draft", Some("school"), None, false, now).await.unwrap());
    // The inspector started over: the old draft is abandoned and must stay so.
    store::monthly::abandon_drafts(&mut conn, pid, now).await.unwrap();
    assert!(!store::monthly::save_visit(&mut conn, draft, &v, "draft", Some("school"), None, false, now)
        .await
        .unwrap());
    let status: String = dudao::sql::query_scalar("SELECT status FROM visits WHERE id = ?")
        .bind(draft)
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(status, "abandoned");
    drop(conn);
    h.stop().await;
}

#[tokio::test]
async fn a_retry_is_recorded_only_on_a_failed_firing() {
    let h = Harness::start().await;
    let now = Utc.with_ymd_and_hms(2026, 12, 1, 1, 0, 0).unwrap();
    let mut conn = h.db().acquire().await.unwrap();
    let def = store::schedules::ConfigSchedule {
        name: "测试提醒",
        cron: "0 9 * * 1",
        job: "weekly_prompt",
        params: "{}",
        workdays: "fire",
        school_days_only: false,
        grace_minutes: 60,
        enabled: false,
    };
    store::schedules::upsert_config(&mut conn, &def, now).await.unwrap();
    let (id, ..) = store::schedules::by_name(&mut conn, "测试提醒").await.unwrap().unwrap();
    let failed = now - Duration::days(7);
    store::schedules::record_failed(&mut conn, id, failed, failed, "出错", now, Some(now)).await.unwrap();
    let nominal = dudao::db::ts(failed);
    assert!(store::schedules::retry_fired(&mut conn, id, &nominal, 2, now).await.unwrap());
    // Fired now: a second, stale retry does not rewrite it.
    assert!(!store::schedules::retry_fired(&mut conn, id, &nominal, 3, now).await.unwrap());
    let attempts: i64 =
        dudao::sql::query_scalar("SELECT attempts FROM firings WHERE schedule_id = ? AND nominal_at = ?")
            .bind(id)
            .bind(&nominal)
            .fetch_one(&mut *conn)
            .await
            .unwrap();
    assert_eq!(attempts, 2);
    drop(conn);
    h.stop().await;
}

/// The ledger page reads one page of open items in SQL, most overdue first (only what awaits the
/// school counts as overdue), then by deadline: the same order as sorting them all in Rust.
#[tokio::test]
async fn the_most_overdue_items_come_first_as_when_sorted_in_full() {
    use dudao::domain::rectify::{overdue_days, Severity, Source, Status};
    use store::rectify::{self as rs, Scope};
    let h = Harness::start().await;
    let now = Utc.with_ymd_and_hms(2026, 12, 3, 2, 0, 0).unwrap();
    let today = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
    let mut conn = h.db().acquire().await.unwrap();
    let schools: Vec<i64> =
        dudao::sql::query_scalar("SELECT id FROM schools ORDER BY id LIMIT 3").fetch_all(&mut *conn).await.unwrap();
    // (days from today to the deadline, status): overdue and not, waiting on the school or not.
    let cases = [
        (-3, Status::Notified),
        (5, Status::InProgress),
        (-10, Status::Submitted),
        (-10, Status::Acknowledged),
        (0, Status::Identified),
        (-1, Status::InProgress),
        (-3, Status::Acknowledged),
        (2, Status::Verifying),
        (-20, Status::Closed),
        (-7, Status::Notified),
    ];
    for (i, (days, status)) in cases.iter().enumerate() {
        let n = rs::NewItem {
            school_id: schools[i % schools.len()],
            category: 1,
            severity: Severity::General,
            source: Source::Direct,
            source_ref: None,
            description: "操场围栏松动",
            owner: "总务处",
            deadline: today + Duration::days(*days),
            created_by: None,
        };
        let id = rs::insert(&mut conn, &n, now).await.unwrap();
        let mut it = rs::get(&mut conn, id).await.unwrap().unwrap();
        it.status = *status;
        rs::save(&mut conn, &it, now).await.unwrap();
    }
    let open: Vec<Status> = Status::ALL.into_iter().filter(|s| s.is_open()).collect();
    let zone: i64 = dudao::sql::query_scalar("SELECT zone_id FROM schools WHERE id = ?")
        .bind(schools[1])
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    for scope in [Scope::County, Scope::Schools(vec![schools[0], schools[2]]), Scope::Zone(zone)] {
        let mut all = rs::items_with_status(&mut conn, &scope, &open, None).await.unwrap();
        all.sort_by_key(|i| (std::cmp::Reverse(overdue_days(i.status, i.deadline, today)), i.deadline, i.id));
        let ids = |v: &[rs::Item]| v.iter().map(|i| i.id).collect::<Vec<_>>();
        for limit in [1, 4, 20] {
            let page = rs::most_overdue(&mut conn, &scope, &open, today, false, limit).await.unwrap();
            assert_eq!(ids(&page), ids(&all[..all.len().min(limit as usize)]), "{scope:?} first {limit}");
        }
        let overdue: Vec<_> = all.iter().filter(|i| overdue_days(i.status, i.deadline, today) > 0).cloned().collect();
        let page = rs::most_overdue(&mut conn, &scope, &open, today, true, 20).await.unwrap();
        assert_eq!(ids(&page), ids(&overdue), "{scope:?} overdue only");
        assert!(!overdue.is_empty());
    }
    drop(conn);
    h.stop().await;
}
