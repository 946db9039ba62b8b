//! Crontab(5) expressions and the non-working-day policy names, as written in configuration.
//! A leaf module (it uses only the pure domain), so configuration checks them without depending
//! on the scheduler, which runs them.

use crate::domain::calendar::NonWorkdayPolicy;
use cron::Schedule;
use std::str::FromStr;

/// Parses a crontab(5) expression: five fields (minute hour day-of-month month day-of-week), or six
/// with a leading seconds field. Weekdays mean what crontab(5) says (0 and 7 are Sunday); see
/// [`to_cron_crate`] for the translation and what is refused.
pub fn parse(expr: &str) -> Result<Schedule, String> {
    let full = to_cron_crate(expr)?;
    Schedule::from_str(&full).map_err(|e| format!("invalid cron \"{}\": {e}", expr.trim()))
}

const DOW_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// The one translation from crontab(5) syntax into the `cron` crate's (which puts seconds first and
/// counts Sunday as 1). Pure: no I/O. Only the weekday field needs rewriting; it is expanded to an
/// explicit list of weekday names, which mean the same in both syntaxes. Refused clearly:
/// - any field count other than 5 or 6 (six = seconds first, then the five crontab fields);
/// - day-of-month and day-of-week both restricted: crontab(5) fires when *either* matches, the
///   `cron` crate only when both do, so such an expression cannot be run faithfully.
pub fn to_cron_crate(expr: &str) -> Result<String, String> {
    let fields: Vec<&str> = expr.split_whitespace().collect();
    let (seconds, unix) = match fields.len() {
        5 => ("0", &fields[..]),
        6 => (fields[0], &fields[1..]),
        n => {
            return Err(format!(
                "cron \"{}\" has {n} fields: expected 5 (minute hour day month weekday) or 6 with seconds first",
                expr.trim()
            ))
        }
    };
    let (dom, dow) = (unix[2], unix[4]);
    // crontab(5): a field starting with '*' is unrestricted; when both are restricted, either matches.
    if !dom.starts_with('*') && !dow.starts_with('*') {
        return Err(format!(
            "cron \"{}\" restricts both day-of-month ({dom}) and day-of-week ({dow}); crontab(5) fires when either \
             matches, which is not supported: use two schedules, or '*' in one of the two fields",
            expr.trim()
        ));
    }
    let days = weekdays(dow).map_err(|e| format!("cron \"{}\": day-of-week \"{dow}\": {e}", expr.trim()))?;
    let dow_out = if dow == "*" {
        "*".to_string()
    } else {
        days.iter().enumerate().filter(|(_, on)| **on).map(|(i, _)| DOW_NAMES[i]).collect::<Vec<_>>().join(",")
    };
    Ok(format!("{seconds} {} {} {} {} {dow_out}", unix[0], unix[1], dom, unix[3]))
}

/// Expands a crontab(5) day-of-week field into the set of days it matches (index 0 = Sunday).
fn weekdays(field: &str) -> Result<[bool; 7], String> {
    let mut days = [false; 7];
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s.parse().ok().filter(|n| *n > 0).ok_or_else(|| format!("bad step \"{s}\""))?;
                (r, step)
            }
            None => (item, 1),
        };
        let (lo, hi) = if range == "*" {
            (0, 7)
        } else if let Some((a, b)) = range.split_once('-') {
            (weekday(a)?, weekday(b)?)
        } else {
            let d = weekday(range)?;
            // crontab(5): "N/step" runs from N to the end of the range.
            (d, if item.contains('/') { 7 } else { d })
        };
        if lo > hi {
            return Err(format!("range \"{range}\" runs backwards"));
        }
        let mut d = lo;
        while d <= hi {
            days[(d % 7) as usize] = true;
            d += step;
        }
    }
    Ok(days)
}

/// One weekday: 0–7 (0 and 7 are Sunday) or a three-letter English name, any case.
fn weekday(s: &str) -> Result<u32, String> {
    if let Ok(n) = s.parse::<u32>() {
        return if n <= 7 { Ok(n) } else { Err(format!("{n} is not a weekday (0–7, 0 and 7 are Sunday)")) };
    }
    DOW_NAMES
        .iter()
        .position(|n| n.eq_ignore_ascii_case(s))
        .map(|i| i as u32)
        .ok_or_else(|| format!("\"{s}\" is not a weekday (0–7 or sun…sat)"))
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
