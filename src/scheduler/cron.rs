//! Cron expressions in the deployment's timezone, and the calendar adjustment of occurrences.

use crate::domain::calendar::{adjust, Adjusted, Calendar, NonWorkdayPolicy};
use chrono::{DateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use cron::Schedule;
use std::str::FromStr;

/// Parses five-field cron (minute hour day month weekday) or six/seven fields with seconds.
pub fn parse(expr: &str) -> Result<Schedule, String> {
    let fields = expr.split_whitespace().count();
    let full = match fields {
        5 => format!("0 {}", expr.trim()),
        6 | 7 => expr.trim().to_string(),
        _ => return Err(format!("expected 5 fields (minute hour day month weekday), found {fields}")),
    };
    Schedule::from_str(&full).map_err(|e| e.to_string())
}

pub fn parse_workday_policy(s: &str) -> Option<NonWorkdayPolicy> {
    match s.trim() {
        "fire" => Some(NonWorkdayPolicy::Fire),
        "skip" => Some(NonWorkdayPolicy::Skip),
        "next" => Some(NonWorkdayPolicy::NextWorkingDay),
        "previous" => Some(NonWorkdayPolicy::PreviousWorkingDay),
        _ => None,
    }
}

pub fn policy_name(p: NonWorkdayPolicy) -> &'static str {
    match p {
        NonWorkdayPolicy::Fire => "fire",
        NonWorkdayPolicy::Skip => "skip",
        NonWorkdayPolicy::NextWorkingDay => "next",
        NonWorkdayPolicy::PreviousWorkingDay => "previous",
    }
}

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
}
