//! Dates as people type them in chat: 2026-11-23, 11月23日, 11.23, 11/23, 23日, 今天, 明天.

use chrono::{Datelike, Duration, NaiveDate};

/// Parses one date relative to `today` (the year defaults to this year, or next year when the
/// date would otherwise be long past, so "1月5日" typed in December means next January).
pub fn parse_date(s: &str, today: NaiveDate, month_hint: Option<u32>) -> Option<NaiveDate> {
    let s = crate::domain::text::normalize(s);
    let s = s.trim().trim_end_matches(['号', '日']).trim();
    match s {
        // Checked: `today` is the start of a range for its end, and a typed start can be the
        // last date chrono represents ("+262142-12-31 至 明天" panicked).
        "今天" | "今日" => return Some(today),
        "明天" | "明日" => return today.checked_add_signed(Duration::days(1)),
        "后天" => return today.checked_add_signed(Duration::days(2)),
        "昨天" => return today.checked_sub_signed(Duration::days(1)),
        _ => {}
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(d);
    }
    for fmt in ["%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d"] {
        if let Ok(d) = NaiveDate::parse_from_str(s, fmt) {
            return Some(d);
        }
    }
    let nums: Vec<u32> = s
        .split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty())
        .map(|p| p.parse().ok())
        .collect::<Option<Vec<u32>>>()?;
    let (month, day) = match nums.as_slice() {
        [m, d] => (*m, *d),
        [d] => (month_hint.unwrap_or(today.month()), *d),
        _ => return None,
    };
    let this_year = NaiveDate::from_ymd_opt(today.year(), month, day)?;
    // More than ~half a year in the past: the person means next year.
    if (today - this_year).num_days() > 180 {
        return NaiveDate::from_ymd_opt(today.year() + 1, month, day);
    }
    Some(this_year)
}

/// Parses "A 至 B" (also 到, ~, -, —) or a single date into an inclusive range.
pub fn parse_range(s: &str, today: NaiveDate) -> Option<(NaiveDate, NaiveDate)> {
    let s = crate::domain::text::normalize(s);
    let s = s.trim();
    for sep in ["至", "到", "~", "～", "—", "--"] {
        if let Some((a, b)) = s.split_once(sep) {
            return range(a, b, today);
        }
    }
    // A single '-' separates a range only when neither side is an ISO date on its own.
    if s.matches('-').count() == 1 {
        if let Some((a, b)) = s.split_once('-') {
            return range(a, b, today);
        }
    }
    if s.matches('-').count() == 5 {
        let idx = s.match_indices('-').nth(2).map(|(i, _)| i)?;
        return range(&s[..idx], &s[idx + 1..], today);
    }
    let d = parse_date(s, today, None)?;
    Some((d, d))
}

fn range(a: &str, b: &str, today: NaiveDate) -> Option<(NaiveDate, NaiveDate)> {
    let start = parse_date(a, today, None)?;
    let mut end = parse_date(b, start, Some(start.month()))?;
    if end < start {
        end = NaiveDate::from_ymd_opt(end.year() + 1, end.month(), end.day())?;
    }
    // An end a year on is still before the start when the end was typed with its own, earlier
    // year ("2026-11-23 至 2020-01-01"): that is no range.
    (end >= start).then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn dates_and_ranges() {
        let today = d(2026, 11, 22);
        assert_eq!(parse_date("2026-11-23", today, None), Some(d(2026, 11, 23)));
        assert_eq!(parse_date("11月23日", today, None), Some(d(2026, 11, 23)));
        assert_eq!(parse_date("明天", today, None), Some(d(2026, 11, 23)));
        assert_eq!(parse_date("1月5日", today, None), Some(d(2027, 1, 5)));
        assert_eq!(parse_range("2026-11-23 至 2026-11-25", today), Some((d(2026, 11, 23), d(2026, 11, 25))));
        assert_eq!(parse_range("11月23日到25日", today), Some((d(2026, 11, 23), d(2026, 11, 25))));
        assert_eq!(parse_range("12.30-1.2", today), Some((d(2026, 12, 30), d(2027, 1, 2))));
        assert_eq!(parse_range("11/24", today), Some((d(2026, 11, 24), d(2026, 11, 24))));
        assert_eq!(parse_range("下周吧", today), None);
        assert_eq!(parse_range("2月30日", today), None);
        assert_eq!(parse_range("", today), None);
    }
}

#[cfg(test)]
mod hostile_dates {
    use super::*;

    /// A range that starts at the last (or first) date chrono can represent and ends "明天"
    /// ("昨天") relative to it: no date, not an arithmetic panic.
    #[test]
    fn ranges_at_the_ends_of_the_calendar() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
        let max = NaiveDate::MAX.format("%Y-%m-%d").to_string();
        let min = NaiveDate::MIN.format("%Y-%m-%d").to_string();
        for s in [format!("{max}至明天"), format!("{max}到后天"), format!("{min}至昨天"), format!("{max} 至 1日")]
        {
            assert_eq!(parse_range(&s, today), None, "{s}");
        }
        assert_eq!(parse_date("明天", NaiveDate::MAX, None), None);
        assert_eq!(parse_date("昨天", NaiveDate::MIN, None), None);
        assert_eq!(parse_range("\u{212A}至\u{0130}", today), None);
    }

    /// An end typed with an earlier year is no range, never one that ends before it starts.
    #[test]
    fn an_end_before_the_start_is_no_range() {
        let today = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
        assert_eq!(parse_range("帮助 T12 至-262143-01-01", today), None);
        assert_eq!(parse_range("2026-11-23 至 2020-01-01", today), None);
    }
}
