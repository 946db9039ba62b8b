//! The rectification rows the pages read (`store::stats::rectify_rows_on`: old events folded,
//! rows read borrowed) against the full replay (`store::stats::rectify_rows`), on a real SQLite
//! file holding a generated half-year of ledger history: every figure and every month of the
//! trend must be the same, for the county, each zone and inspectors, on days at month
//! boundaries, with reopened items, deadline changes, cancellations, items without events and
//! events recorded out of date order.

mod common;

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;
use common::{shanghai, Harness};
use dudao::clock::ManualClock;
use dudao::domain::stats::rectify::{figures, fold_cut, monthly, Folding};
use dudao::domain::stats::{Period, Scope};
use dudao::store::stats as st;

fn day(m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, m, d).unwrap()
}

/// A small deterministic generator (the history must be the same on every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// Stored text of local day `d` at `hour` in Shanghai.
fn at(d: NaiveDate, hour: u32) -> String {
    let local = Shanghai.from_local_datetime(&d.and_hms_opt(hour, 0, 0).unwrap()).unwrap();
    dudao::db::ts(local.with_timezone(&Utc))
}

/// One item's generated history: (date, action, to_status, deadline after).
type Step = (NaiveDate, &'static str, &'static str, Option<NaiveDate>);

fn history(rng: &mut Lcg, created: NaiveDate) -> (Vec<Step>, &'static str, NaiveDate) {
    let mut deadline = created + Duration::days(5 + rng.next(20) as i64);
    let first = if rng.next(6) == 0 { "identified" } else { "notified" };
    let mut steps: Vec<Step> = vec![(created, "created", first, Some(deadline))];
    let mut date = created;
    let mut status = first;
    for _ in 0..rng.next(7) {
        // Mostly a few days later; now and then a row dated the day before the previous one.
        date = if rng.next(10) == 0 { date - Duration::days(1) } else { date + Duration::days(rng.next(25) as i64) };
        let (action, to, dl): (&str, &str, Option<NaiveDate>) = match (status, rng.next(8)) {
            ("closed", 0..=4) => ("reopened", "in_progress", None),
            ("closed", _) | ("cancelled", _) => break,
            (_, 0) => ("acknowledged", "acknowledged", Some(deadline)),
            (_, 1) => {
                deadline += Duration::days(10);
                ("extended", status, Some(deadline))
            }
            (_, 2) => ("submitted", "submitted", Some(deadline)),
            (_, 3) => ("returned", "in_progress", None),
            (_, 4) => ("cancelled", "cancelled", Some(deadline)),
            (_, 5) => ("closed_on_site", "closed", Some(deadline)),
            _ => ("closed", "closed", Some(deadline)),
        };
        status = to;
        steps.push((date, action, to, dl));
    }
    (steps, status, deadline)
}

#[tokio::test]
async fn folded_rows_give_the_replays_figures() {
    // The clock stands before the history, so no job touches the generated items.
    let clock = ManualClock::new(shanghai(1, 2, 8, 0));
    let h = Harness::start_with("", Some(clock)).await;
    let mut conn = h.db().acquire().await.unwrap();
    let schools = st::school_rows(&mut conn).await.unwrap();
    assert!(schools.len() > 5, "the sample roster has schools");
    let mut rng = Lcg(18);
    let start = day(5, 20);
    for n in 0..400i64 {
        let school = &schools[rng.next(schools.len() as u64) as usize];
        let created = start + Duration::days(rng.next(210) as i64);
        let (steps, status, deadline) = history(&mut rng, created);
        // A tenth of the items have no events at all (rows from before the ledger kept them).
        let with_events = n % 10 != 0;
        let last = steps.iter().map(|s| s.0).max().unwrap();
        let updated = if with_events { at(last, 18) } else { at(created, 9) };
        let severity = ["minor", "general", "serious", "complex"][rng.next(4) as usize];
        let source = ["visit", "self_check", "complaint", "direct"][rng.next(4) as usize];
        let item: i64 = dudao::sql::query_scalar(
            "INSERT INTO rectify_items (school_id, category, severity, source, description, deadline, status,
                                        created_at, updated_at)
             VALUES (?, ?, ?, ?, '操场护栏松动需加固', ?, ?, ?, ?) RETURNING id",
        )
        .bind(school.id)
        .bind(1 + rng.next(9) as i64)
        .bind(severity)
        .bind(source)
        .bind(deadline.format("%Y-%m-%d").to_string())
        .bind(status)
        .bind(at(created, 9))
        .bind(&updated)
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        if with_events {
            for (i, (date, action, to, dl)) in steps.iter().enumerate() {
                dudao::sql::query(
                    "INSERT INTO rectify_events (item_id, action, to_status, deadline, at, local_date)
                     VALUES (?, ?, ?, ?, ?, ?)",
                )
                .bind(item)
                .bind(*action)
                .bind(*to)
                .bind(dl.map(|d| d.format("%Y-%m-%d").to_string()))
                .bind(at(*date, 9 + i as u32))
                .bind(date.format("%Y-%m-%d").to_string())
                .execute(&mut *conn)
                .await
                .unwrap();
            }
        }
        // Escalation steps on some items, some of them after a month's end.
        for (level, key) in ["L0:x:1", "L1", "L2", "L3"].iter().enumerate() {
            if rng.next(4) == 0 {
                let when = created + Duration::days(3 + 7 * level as i64 + rng.next(5) as i64);
                dudao::sql::query(
                    "INSERT INTO once_events (subject_kind, subject_id, event, at) VALUES ('rectify_item', ?, ?, ?)",
                )
                .bind(item)
                .bind(*key)
                .bind(at(when, 23))
                .execute(&mut *conn)
                .await
                .unwrap();
            }
        }
    }

    let zones: Vec<i64> = {
        let mut z: Vec<i64> = schools.iter().map(|s| s.zone_id).collect();
        z.sort_unstable();
        z.dedup();
        z
    };
    let inspectors: Vec<i64> = schools.iter().flat_map(|s| s.inspectors.iter().copied()).take(6).collect();
    let mut scopes = vec![Scope::County];
    scopes.extend(zones.iter().map(|z| Scope::Zone(*z)));
    scopes.extend(inspectors.iter().map(|p| Scope::Inspector(*p)));

    let mut periods: Vec<Period> = (6..=12).map(|m| Period::month(2026, m).unwrap()).collect();
    periods.push(Period::new(day(7, 1), day(12, 31)).unwrap());
    periods.push(Period::new(day(11, 1), day(11, 15)).unwrap());
    periods.push(Period::new(day(11, 30), day(12, 1)).unwrap());
    periods.push(Period::year(2026).unwrap());
    let todays = [day(10, 31), day(11, 1), day(11, 30), day(12, 1), day(12, 20), day(12, 31), day(3, 1)];
    let mut compared = 0;
    for &period in &periods {
        for &today in &todays {
            for zone in [None, zones.first().copied()] {
                let (full, full_esc) = st::rectify_rows(&mut conn, Shanghai, period, &schools, zone).await.unwrap();
                let (fast, fast_esc) =
                    st::rectify_rows_on(&mut conn, Shanghai, period, &schools, zone, today).await.unwrap();
                assert_eq!(fast_esc, full_esc);
                assert_eq!(fast.len(), full.len(), "{period:?} on {today}");
                let cut = fold_cut(period, today);
                for (a, b) in fast.iter().zip(&full) {
                    assert_eq!(a.events, Folding::fold(&b.events, cut), "item {} of {period:?} on {today}", b.id);
                    assert_eq!((a.id, a.created, a.status, a.deadline), (b.id, b.created, b.status, b.deadline));
                    assert_eq!((a.zone_id, &a.inspectors, a.category), (b.zone_id, &b.inspectors, b.category));
                }
                for &scope in &scopes {
                    assert_eq!(
                        figures(&fast, &fast_esc, period, scope, today),
                        figures(&full, &full_esc, period, scope, today),
                        "{period:?} {scope:?} on {today}"
                    );
                    assert_eq!(
                        monthly(&fast, &fast_esc, period, scope, today),
                        monthly(&full, &full_esc, period, scope, today),
                        "{period:?} {scope:?} on {today}"
                    );
                    compared += 1;
                }
            }
        }
    }
    assert!(compared > 500);

    // The whole statistics load of a month, as the bulletin draft reads it.
    let nov = Period::month(2026, 11).unwrap();
    let full = st::load(&mut conn, Shanghai, nov, false).await.unwrap();
    let fast = st::load_on(&mut conn, Shanghai, nov, false, day(12, 3)).await.unwrap();
    assert_eq!(
        figures(&fast.items, &fast.escalations, nov, Scope::County, day(12, 3)),
        figures(&full.items, &full.escalations, nov, Scope::County, day(12, 3))
    );
    assert_eq!(
        (fast.weekly.len(), fast.visits.len(), fast.schools.len()),
        (full.weekly.len(), full.visits.len(), full.schools.len())
    );
    // Some items were reopened and some closed in November, or the comparison proves little.
    let nov_figures = figures(&full.items, &full.escalations, nov, Scope::County, day(12, 3));
    assert!(nov_figures.closures > 0 && nov_figures.reopened > 0 && nov_figures.recorded > 10, "{nov_figures:?}");
}
