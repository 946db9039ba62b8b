//! Cron expressions in the deployment's timezone, and the calendar adjustment of occurrences.

use crate::domain::calendar::{adjust, Adjusted, Calendar, NonWorkdayPolicy, MAX_SHIFT_DAYS};
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use cron::Schedule;

// Parsing lives in the leaf module `crate::cron`, so configuration can check cron strings
// without depending on the scheduler.
pub use crate::cron::{parse, parse_workday_policy, policy_name, to_cron_crate};

/// Nominal occurrences strictly after `after`, in `tz`, at most `limit` of them, none later than `until`.
pub fn occurrences(
    schedule: &Schedule,
    tz: Tz,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: usize,
) -> Vec<DateTime<Utc>> {
    schedule
        .after(&after.with_timezone(&tz))
        .take(limit)
        .map(|t| t.with_timezone(&Utc))
        .take_while(|t| *t <= until)
        .collect()
}

/// When a nominal occurrence actually fires: on the adjusted local date, at the same local time.
pub fn fire_time(
    nominal: DateTime<Utc>,
    tz: Tz,
    cal: &Calendar,
    policy: NonWorkdayPolicy,
    school_days_only: bool,
) -> Result<DateTime<Utc>, String> {
    let local = nominal.with_timezone(&tz);
    match adjust(cal, local.date_naive(), policy, school_days_only) {
        Adjusted::On(d) if d == local.date_naive() => Ok(nominal),
        Adjusted::On(d) => Ok(at_local(tz, d, local.time()).unwrap_or(nominal)),
        Adjusted::Skipped { reason } => Err(reason),
    }
}

fn at_local(tz: Tz, d: chrono::NaiveDate, t: NaiveTime) -> Option<DateTime<Utc>> {
    tz.from_local_datetime(&d.and_time(t)).earliest().map(|x| x.with_timezone(&Utc))
}

/// The first occurrence strictly after `t`.
pub fn next_after(s: &Schedule, tz: Tz, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    s.after(&t.with_timezone(&tz)).next().map(|x| x.with_timezone(&Utc))
}

/// The last occurrence strictly before `t`.
pub fn last_before(s: &Schedule, tz: Tz, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    s.after(&t.with_timezone(&tz)).next_back().map(|x| x.with_timezone(&Utc))
}

/// The last occurrence at or before `t` (occurrences fall on whole seconds).
pub fn last_at_or_before(s: &Schedule, tz: Tz, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let whole = t.with_nanosecond(0).unwrap_or(t);
    last_before(s, tz, whole + Duration::seconds(1))
}

/// How far ahead a next firing is looked for: four years (a 29 February cron) beyond the longest
/// calendar move, so monthly and yearly schedules show their true next firing. The walk stops at
/// the first date not yet due, so this costs nothing for schedules that fire often.
const LOOKAHEAD_DAYS: i64 = 4 * 366 + MAX_SHIFT_DAYS as i64 + 1;
/// Safety bound on the dates one plan examines.
const MAX_DATES: usize = 1000;

/// What one tick does with a schedule, computed without I/O.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// The latest due occurrence, fired now because it is still within its grace window:
    /// (nominal, fire time).
    pub fire: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// One summary row standing for every due occurrence that will not run:
    /// (nominal, fire time when known, reason).
    pub missed: Option<(DateTime<Utc>, Option<DateTime<Utc>>, String)>,
    /// Dates the calendar skips: one row per date, at its last occurrence.
    pub calendar_skips: Vec<(DateTime<Utc>, String)>,
    /// The nominal time of the last occurrence now dealt with, when it moves.
    pub cursor: Option<DateTime<Utc>>,
    /// When the next firing is due, if within the look-ahead.
    pub next_fire: Option<DateTime<Utc>>,
}

/// One local date's due occurrences (their fire times are the nominal ones moved by whole days).
struct DayDue {
    first: DateTime<Utc>,
    latest: DateTime<Utc>,
    shift: Duration,
}

fn start_of_day(tz: Tz, d: NaiveDate) -> DateTime<Utc> {
    at_local(tz, d, NaiveTime::MIN).unwrap_or_else(|| Utc.from_utc_datetime(&d.and_time(NaiveTime::MIN)))
}

fn local_text(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()
}

/// Decides which occurrences after `cursor` are due at `now`, stepping a local date at a time
/// (never one occurrence at a time), so a per-minute cron after a month of downtime costs as
/// little as a daily one. Occurrences so old that even the longest calendar move cannot bring
/// them into the grace window are jumped over without being enumerated.
#[allow(clippy::too_many_arguments)]
pub fn plan(
    s: &Schedule,
    tz: Tz,
    cal: &Calendar,
    policy: NonWorkdayPolicy,
    school_days_only: bool,
    cursor: DateTime<Utc>,
    now: DateTime<Utc>,
    grace: Duration,
) -> Plan {
    let mut p = Plan::default();
    let horizon = now + Duration::days(LOOKAHEAD_DAYS);
    let floor = now - grace - Duration::days(MAX_SHIFT_DAYS as i64 + 1);
    let mut pos = cursor;
    let mut earliest_missed: Option<DateTime<Utc>> = None;
    let mut long_missed: Option<DateTime<Utc>> = None;
    if cursor < floor {
        if let Some(first) = next_after(s, tz, cursor).filter(|f| *f <= floor) {
            earliest_missed = Some(first);
            long_missed = last_at_or_before(s, tz, floor).map(|l| l.max(first));
        }
        pos = floor;
    }
    let mut due: Vec<DayDue> = Vec::new();
    let mut skips: Vec<(DateTime<Utc>, String)> = Vec::new();
    for _ in 0..MAX_DATES {
        let Some(first) = next_after(s, tz, pos) else { break };
        if first > horizon {
            break;
        }
        let date = first.with_timezone(&tz).date_naive();
        let day_end = start_of_day(tz, date.succ_opt().unwrap_or(date));
        let last = last_before(s, tz, day_end).unwrap_or(first).max(first);
        let target = match adjust(cal, date, policy, school_days_only) {
            Adjusted::Skipped { reason } => {
                skips.push((last, reason));
                pos = last;
                continue;
            }
            Adjusted::On(d) => d,
        };
        let moved = |t: DateTime<Utc>| {
            if target == date {
                t
            } else {
                at_local(tz, target, t.with_timezone(&tz).time()).unwrap_or(t)
            }
        };
        let shift = moved(first) - first;
        // Within a date every occurrence moves by the same amount: due ⟺ nominal ≤ now − shift.
        let threshold = now - shift;
        if first > threshold {
            p.next_fire = Some(moved(first));
            break;
        }
        let latest =
            if last <= threshold { last } else { last_at_or_before(s, tz, threshold).unwrap_or(first).max(first) };
        due.push(DayDue { first, latest, shift });
        if latest < last {
            p.next_fire = next_after(s, tz, latest).map(moved);
            break;
        }
        pos = last;
    }

    let cursor_to = due
        .last()
        .map(|d| d.latest)
        .into_iter()
        .chain(long_missed)
        .chain(skips.iter().map(|(n, _)| *n).filter(|n| *n <= now))
        .max();
    p.cursor = cursor_to;
    p.calendar_skips = skips.into_iter().filter(|(n, _)| Some(*n) <= cursor_to).collect();
    let earliest_missed = earliest_missed.or(due.first().map(|d| d.first));

    let missed = match due.last() {
        Some(last) if now - (last.latest + last.shift) <= grace => {
            p.fire = Some((last.latest, last.latest + last.shift));
            // The occurrence just before the fired one, on its date or an earlier due date.
            let before = if last.first < last.latest {
                last_before(s, tz, last.latest).map(|n| (n.max(last.first), Some(n.max(last.first) + last.shift)))
            } else if due.len() >= 2 {
                let d = &due[due.len() - 2];
                Some((d.latest, Some(d.latest + d.shift)))
            } else {
                long_missed.map(|n| (n, fire_time(n, tz, cal, policy, school_days_only).ok()))
            };
            before.map(|(n, at)| (n, at, "missed: superseded by a later occurrence".to_string()))
        }
        Some(last) => Some((
            last.latest,
            Some(last.latest + last.shift),
            "missed: the service was down past the grace window".to_string(),
        )),
        None => long_missed.map(|n| {
            (
                n,
                fire_time(n, tz, cal, policy, school_days_only).ok(),
                "missed: the service was down past the grace window".to_string(),
            )
        }),
    };
    p.missed = missed.map(|(n, at, mut reason)| {
        if let Some(e) = earliest_missed.filter(|e| *e < n) {
            reason.push_str(&format!(
                "; this row stands for every missed occurrence from {} to {}",
                local_text(e, tz),
                local_text(n, tz)
            ));
        }
        (n, at, reason)
    });
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_and_six_fields() {
        assert!(parse("0 16 * * Fri").is_ok());
        assert!(parse("0 0 16 * * Fri").is_ok());
        assert!(parse("every friday").is_err());
        assert!(parse("").is_err());
        assert!(parse("99 16 * * Fri").is_err());
    }

    #[test]
    fn evaluated_in_local_time() {
        let s = parse("0 16 * * Fri").unwrap();
        let tz: Tz = "Asia/Shanghai".parse().unwrap();
        let after = Utc.with_ymd_and_hms(2026, 11, 22, 0, 0, 0).unwrap();
        let until = after + chrono::Duration::days(14);
        let occ = occurrences(&s, tz, after, until, 10);
        // Friday 2026-11-27 16:00 in Shanghai is 08:00 UTC.
        assert_eq!(occ[0], Utc.with_ymd_and_hms(2026, 11, 27, 8, 0, 0).unwrap());
        assert_eq!(occ.len(), 2);
    }

    #[test]
    fn plan_after_a_month_down_jumps_to_now_with_one_summary() {
        let s = parse("* * * * *").unwrap();
        let tz: Tz = "Asia/Shanghai".parse().unwrap();
        let cal = Calendar::default();
        let cursor = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 30).unwrap();
        let p = plan(&s, tz, &cal, NonWorkdayPolicy::Fire, false, cursor, now, Duration::minutes(10));
        let latest = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
        assert_eq!(p.fire, Some((latest, latest)));
        assert_eq!(p.cursor, Some(latest));
        assert_eq!(p.next_fire, Some(latest + Duration::minutes(1)));
        let (n, _, reason) = p.missed.expect("one summary row");
        assert_eq!(n, latest - Duration::minutes(1));
        assert!(reason.contains("superseded") && reason.contains("2026-11-01 08:01"), "{reason}");
        assert!(p.calendar_skips.is_empty());
    }

    #[test]
    fn plan_past_grace_fires_nothing_and_still_finds_the_next_firing() {
        let s = parse("0 9 * * *").unwrap();
        let tz: Tz = "Asia/Shanghai".parse().unwrap();
        let cal = Calendar::default();
        let cursor = Utc.with_ymd_and_hms(2026, 1, 1, 1, 0, 0).unwrap();
        let now = Utc.with_ymd_and_hms(2026, 11, 30, 6, 0, 0).unwrap(); // 14:00 local
        let p = plan(&s, tz, &cal, NonWorkdayPolicy::Fire, false, cursor, now, Duration::minutes(120));
        assert_eq!(p.fire, None);
        let today = Utc.with_ymd_and_hms(2026, 11, 30, 1, 0, 0).unwrap();
        assert_eq!(p.missed.as_ref().map(|m| m.0), Some(today));
        assert!(p.missed.unwrap().2.contains("grace"));
        assert_eq!(p.next_fire, Some(today + Duration::days(1)));
        assert_eq!(p.cursor, Some(today));
    }

    use chrono::{Datelike, Weekday};

    /// Weekdays (and local times) of the occurrences in the two weeks from Monday 2026-11-30 00:00 local.
    fn fires(expr: &str) -> Vec<(Weekday, String)> {
        let s = parse(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
        let tz: Tz = "Asia/Shanghai".parse().unwrap();
        let after = Utc.with_ymd_and_hms(2026, 11, 29, 15, 59, 59).unwrap();
        occurrences(&s, tz, after, after + Duration::days(14), 2000)
            .into_iter()
            .map(|t| {
                let l = t.with_timezone(&tz);
                (l.weekday(), l.format("%m-%d %H:%M").to_string())
            })
            .collect()
    }

    fn days(expr: &str) -> Vec<Weekday> {
        let mut d: Vec<Weekday> = fires(expr).into_iter().map(|(w, _)| w).collect();
        d.dedup();
        d.truncate(7);
        d.sort_by_key(|w| w.num_days_from_sunday());
        d.dedup();
        d
    }

    use Weekday::*;

    #[test]
    fn crontab5_numeric_weekdays() {
        assert_eq!(days("0 9 * * 1-5"), vec![Mon, Tue, Wed, Thu, Fri]);
        assert_eq!(days("0 16 * * 5"), vec![Fri]);
        assert_eq!(days("0 9 * * 0"), vec![Sun]);
        assert_eq!(days("0 9 * * 7"), vec![Sun]);
        assert_eq!(days("0 9 * * 1,3,5"), vec![Mon, Wed, Fri]);
        assert_eq!(days("0 9 * * 1-5/2"), vec![Mon, Wed, Fri]);
        assert_eq!(days("0 9 * * */2"), vec![Sun, Tue, Thu, Sat]);
        assert_eq!(days("0 9 * * 5-7"), vec![Sun, Fri, Sat]);
        assert_eq!(days("0 9 * * 6,0"), vec![Sun, Sat]);
    }

    #[test]
    fn crontab5_weekday_names() {
        assert_eq!(days("0 9 * * MON-FRI"), vec![Mon, Tue, Wed, Thu, Fri]);
        assert_eq!(days("0 9 * * sun"), vec![Sun]);
        assert_eq!(days("0 16 * * Fri"), vec![Fri]);
        assert_eq!(days("0 9 * * mon,wed"), vec![Mon, Wed]);
    }

    #[test]
    fn crontab5_other_fields() {
        // Every 15 minutes from 08:00 to 20:45, Monday to Friday: 13 hours × 4 a day.
        let f = fires("*/15 8-20 * * 1-5");
        assert_eq!(f.len(), 2 * 5 * 13 * 4);
        assert_eq!(f[0], (Mon, "11-30 08:00".to_string()));
        assert_eq!(f[f.len() - 1], (Fri, "12-11 20:45".to_string()));
        // Midnight on the 1st of each month.
        let s = parse("0 0 1 * *").unwrap();
        let tz: Tz = "Asia/Shanghai".parse().unwrap();
        let next = next_after(&s, tz, Utc.with_ymd_and_hms(2026, 12, 5, 0, 0, 0).unwrap()).unwrap();
        assert_eq!(next.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string(), "2027-01-01 00:00");
    }

    #[test]
    fn six_fields_are_seconds_first_with_crontab_weekdays() {
        assert_eq!(fires("30 0 9 * * 5"), vec![(Fri, "12-04 09:00".to_string()), (Fri, "12-11 09:00".to_string())]);
        let s = parse("30 0 9 * * 5").unwrap();
        let t = next_after(&s, "Asia/Shanghai".parse().unwrap(), Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap());
        assert_eq!(t, Some(Utc.with_ymd_and_hms(2026, 12, 4, 1, 0, 30).unwrap()));
    }

    #[test]
    fn refused_with_a_clear_message() {
        let both = parse("0 9 1 * 1").unwrap_err();
        assert!(both.contains("either"), "{both}");
        let seven = parse("0 0 9 * * 1 2027").unwrap_err();
        assert!(seven.contains("7 fields"), "{seven}");
        assert!(parse("0 9 * * 8").unwrap_err().contains("weekday"));
        assert!(parse("0 9 * * 5-1").is_err());
        assert!(parse("0 9 * * 1/0").is_err());
        assert!(parse("0 9 * * funday").is_err());
    }

    #[test]
    fn plan_finds_a_monthly_next_firing_weeks_ahead() {
        let s = parse("0 8 1 * *").unwrap();
        let tz: Tz = "Asia/Shanghai".parse().unwrap();
        let cal = Calendar::default();
        let now = Utc.with_ymd_and_hms(2026, 11, 2, 2, 0, 0).unwrap();
        let p = plan(&s, tz, &cal, NonWorkdayPolicy::Fire, false, now, now, Duration::minutes(60));
        assert_eq!(p.next_fire, Some(Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap()));
    }
}
