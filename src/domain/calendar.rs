//! Working-day and school calendar: statutory holidays, make-up working days (调休上班) and
//! school terms, so prompts and reminders can skip or move off days nobody works.
//!
//! Pure and synchronous. Data comes from one TOML file per year (`config/calendar/<year>.toml`,
//! format documented in the header of the shipped files); the caller reads the files and passes
//! the text to [`Calendar::from_toml_str`], then [`Calendar::merge`]s them.
//!
//! A year with no file (or a file without holidays) falls back to plain Saturday/Sunday weekends;
//! [`Calendar::covers`] tells callers when to warn about that.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

/// How many days `next_working_day` / `previous_working_day` look before giving up. The longest
/// real run of non-working days is about 10 (Spring Festival), so reaching this means bad data.
pub const SEARCH_LIMIT_DAYS: u32 = 60;

/// The furthest [`adjust`] moves a firing. Moving bridges a holiday; moving a weekly prompt across
/// a whole vacation would pile firings onto the first day of term, so beyond this it skips.
pub const MAX_SHIFT_DAYS: u32 = 14;

/// Sanity limits that catch typos in office-edited files (e.g. a wrong year in an end date).
const MAX_HOLIDAY_SPAN_DAYS: i64 = 31;
const MAX_TERM_SPAN_DAYS: i64 = 366;
const MIN_YEAR: i32 = 1900;
const MAX_YEAR: i32 = 2200;
/// Bounds `add_working_days` so a silly `n` cannot spin for minutes.
const MAX_WORKING_DAYS_OFFSET: u64 = 10_000;

/// What kind of day a date is in the national working calendar (terms not considered).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DayKind {
    Workday,
    Weekend,
    Holiday {
        name: String,
    },
    /// A Saturday or Sunday that is worked to make up for a holiday (调休上班).
    MakeupWorkday {
        name: String,
    },
}

impl DayKind {
    pub fn is_working(&self) -> bool {
        matches!(self, DayKind::Workday | DayKind::MakeupWorkday { .. })
    }
}

/// A school term, both ends inclusive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Term {
    pub name: String,
    pub start: NaiveDate,
    pub end: NaiveDate,
}

impl Term {
    pub fn contains(&self, d: NaiveDate) -> bool {
        self.start <= d && d <= self.end
    }

    fn overlaps(&self, other: &Term) -> bool {
        self.start <= other.end && other.start <= self.end
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CalendarError {
    #[error("calendar file is not valid: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("calendar file, {section}: {message}")]
    Invalid { section: String, message: String },
    #[error("calendar date {date} is defined twice: as {first} and as {second}")]
    ConflictingDay { date: NaiveDate, first: String, second: String },
    #[error(
        "calendar terms conflict (overlapping dates or the same name): \"{}\" {}..{} and \"{}\" {}..{}",
        .first.name, .first.start, .first.end, .second.name, .second.start, .second.end
    )]
    ConflictingTerms { first: Term, second: Term },
}

/// A date's entry in the holiday list; absent dates follow the plain weekday rule.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Special {
    Holiday(String),
    Makeup(String),
}

impl Special {
    fn describe(&self) -> String {
        match self {
            Special::Holiday(name) => format!("holiday \"{name}\""),
            Special::Makeup(name) => format!("make-up working day for \"{name}\""),
        }
    }
}

/// Holidays, make-up days and terms merged from one or more year files.
#[derive(Debug, Clone, Default)]
pub struct Calendar {
    special: BTreeMap<NaiveDate, Special>,
    /// Sorted by start, pairwise disjoint.
    terms: Vec<Term>,
    /// Years whose file lists the statutory holidays.
    covered: BTreeSet<i32>,
    sources: BTreeMap<i32, String>,
}

// ---- file format -------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawYear {
    year: i64,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    holidays: Vec<RawHoliday>,
    #[serde(default)]
    terms: Vec<RawTerm>,
}

// Dates are kept as raw values so both "2026-10-01" and a bare TOML date 2026-10-01 work, and so
// a bad date is reported with its section instead of as a generic type error.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHoliday {
    name: String,
    start: toml::Value,
    end: toml::Value,
    #[serde(default)]
    makeup_workdays: Vec<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTerm {
    name: String,
    start: toml::Value,
    end: toml::Value,
}

fn invalid(section: &str, message: impl Into<String>) -> CalendarError {
    CalendarError::Invalid { section: section.to_string(), message: message.into() }
}

fn parse_date(section: &str, field: &str, v: &toml::Value) -> Result<NaiveDate, CalendarError> {
    let parsed = match v {
        toml::Value::String(s) => NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok(),
        toml::Value::Datetime(dt) => match (dt.date, dt.time, dt.offset) {
            (Some(d), None, None) => NaiveDate::from_ymd_opt(i32::from(d.year), u32::from(d.month), u32::from(d.day)),
            _ => None,
        },
        _ => None,
    };
    parsed.ok_or_else(|| invalid(section, format!("{field} = {v} is not a date; write it as \"YYYY-MM-DD\"")))
}

fn is_weekend(d: NaiveDate) -> bool {
    matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

/// Holiday arrangements occasionally reach into the adjacent December or January (e.g. a
/// make-up day on 30 December for New Year), anything further is almost surely a copy-paste slip.
fn belongs_to_year(d: NaiveDate, year: i32) -> bool {
    d.year() == year || (d.year() == year - 1 && d.month() == 12) || (d.year() == year + 1 && d.month() == 1)
}

#[derive(Clone, Copy)]
enum Direction {
    Forward,
    Backward,
}

fn step(d: NaiveDate, dir: Direction) -> Option<NaiveDate> {
    match dir {
        Direction::Forward => d.succ_opt(),
        Direction::Backward => d.pred_opt(),
    }
}

/// First date from `start` (inclusive) in `dir` within `limit` further days satisfying `ok`.
fn search(start: NaiveDate, dir: Direction, limit: u32, ok: impl Fn(NaiveDate) -> bool) -> Option<NaiveDate> {
    let mut cur = start;
    for _ in 0..limit {
        if ok(cur) {
            return Some(cur);
        }
        cur = step(cur, dir)?;
    }
    ok(cur).then_some(cur)
}

impl Calendar {
    /// Parses one year file. Dates of holidays and make-up days must lie in that year (or the
    /// adjacent December/January); a term goes in the file of the year it starts in.
    pub fn from_toml_str(s: &str) -> Result<Calendar, CalendarError> {
        Self::parse_year_file(s).map(|(_, cal)| cal)
    }

    /// Like [`Calendar::from_toml_str`], also returning the file's `year`, so a year imported
    /// by an office can replace the shipped file of the same year.
    pub fn parse_year_file(s: &str) -> Result<(i32, Calendar), CalendarError> {
        let raw: RawYear = toml::from_str(s)?;
        let year = i32::try_from(raw.year)
            .ok()
            .filter(|y| (MIN_YEAR..=MAX_YEAR).contains(y))
            .ok_or_else(|| invalid("year", format!("{} is not a plausible calendar year", raw.year)))?;

        let mut cal = Calendar::default();
        for (i, h) in raw.holidays.iter().enumerate() {
            let name = h.name.trim();
            let section = format!("[[holidays]] #{} \"{name}\"", i + 1);
            if name.is_empty() {
                return Err(invalid(&section, "name is empty"));
            }
            let start = parse_date(&section, "start", &h.start)?;
            let end = parse_date(&section, "end", &h.end)?;
            if end < start {
                return Err(invalid(&section, format!("end {end} is before start {start}")));
            }
            if end.signed_duration_since(start).num_days() >= MAX_HOLIDAY_SPAN_DAYS {
                return Err(invalid(
                    &section,
                    format!("{start}..{end} is longer than {MAX_HOLIDAY_SPAN_DAYS} days; check the dates"),
                ));
            }
            for d in start.iter_days().take_while(|d| *d <= end) {
                if !belongs_to_year(d, year) {
                    return Err(invalid(&section, format!("{d} is not in this file's year {year}")));
                }
                cal.insert_special(d, Special::Holiday(name.to_string()))?;
            }
            for v in &h.makeup_workdays {
                let d = parse_date(&section, "makeup_workdays", v)?;
                if !belongs_to_year(d, year) {
                    return Err(invalid(&section, format!("make-up day {d} is not in this file's year {year}")));
                }
                if !is_weekend(d) {
                    return Err(invalid(
                        &section,
                        format!("make-up day {d} is a {}; make-up working days are Saturdays or Sundays", d.weekday()),
                    ));
                }
                cal.insert_special(d, Special::Makeup(name.to_string()))?;
            }
        }

        for (i, t) in raw.terms.iter().enumerate() {
            let name = t.name.trim();
            let section = format!("[[terms]] #{} \"{name}\"", i + 1);
            if name.is_empty() {
                return Err(invalid(&section, "name is empty"));
            }
            let start = parse_date(&section, "start", &t.start)?;
            let end = parse_date(&section, "end", &t.end)?;
            if end < start {
                return Err(invalid(&section, format!("end {end} is before start {start}")));
            }
            if end.signed_duration_since(start).num_days() >= MAX_TERM_SPAN_DAYS {
                return Err(invalid(&section, format!("{start}..{end} is longer than a year; check the dates")));
            }
            if start.year() != year {
                return Err(invalid(
                    &section,
                    format!("starts {start}, but a term belongs in the file of the year it starts in ({year})"),
                ));
            }
            cal.add_term(Term { name: name.to_string(), start, end })?;
        }

        // A year without holidays is a terms-only placeholder: leave it uncovered so callers warn.
        if !raw.holidays.is_empty() {
            cal.covered.insert(year);
        }
        if let Some(src) = raw.source.map(|s| s.trim().to_string()) {
            if !src.is_empty() {
                cal.sources.insert(year, src);
            }
        }
        Ok((year, cal))
    }

    /// Adds another calendar's data. Repeating an identical definition is fine; defining a date
    /// or term differently is an error, and then `self` is left unchanged.
    pub fn merge(&mut self, other: Calendar) -> Result<(), CalendarError> {
        let mut merged = self.clone();
        for (d, s) in other.special {
            merged.insert_special(d, s)?;
        }
        for t in other.terms {
            merged.add_term(t)?;
        }
        merged.covered.extend(other.covered);
        for (year, src) in other.sources {
            merged.sources.entry(year).or_insert(src);
        }
        *self = merged;
        Ok(())
    }

    fn insert_special(&mut self, date: NaiveDate, s: Special) -> Result<(), CalendarError> {
        match self.special.get(&date) {
            None => {
                self.special.insert(date, s);
                Ok(())
            }
            Some(existing) if *existing == s => Ok(()),
            Some(existing) => {
                Err(CalendarError::ConflictingDay { date, first: existing.describe(), second: s.describe() })
            }
        }
    }

    fn add_term(&mut self, t: Term) -> Result<(), CalendarError> {
        for existing in &self.terms {
            if *existing == t {
                return Ok(());
            }
            if existing.name == t.name || existing.overlaps(&t) {
                return Err(CalendarError::ConflictingTerms { first: existing.clone(), second: t });
            }
        }
        let at = self.terms.partition_point(|e| e.start < t.start);
        self.terms.insert(at, t);
        Ok(())
    }

    pub fn day_kind(&self, d: NaiveDate) -> DayKind {
        match self.special.get(&d) {
            Some(Special::Holiday(name)) => DayKind::Holiday { name: name.clone() },
            Some(Special::Makeup(name)) => DayKind::MakeupWorkday { name: name.clone() },
            None if is_weekend(d) => DayKind::Weekend,
            None => DayKind::Workday,
        }
    }

    /// A weekday that is not a holiday, or a make-up working day.
    pub fn is_working_day(&self, d: NaiveDate) -> bool {
        match self.special.get(&d) {
            Some(Special::Holiday(_)) => false,
            Some(Special::Makeup(_)) => true,
            None => !is_weekend(d),
        }
    }

    pub fn term_of(&self, d: NaiveDate) -> Option<&Term> {
        self.terms.iter().find(|t| t.contains(d))
    }

    /// A working day inside a term (schools follow make-up days too).
    pub fn is_school_day(&self, d: NaiveDate) -> bool {
        self.is_working_day(d) && self.term_of(d).is_some()
    }

    /// First working day on or after `d`; `None` if there is none within [`SEARCH_LIMIT_DAYS`].
    pub fn next_working_day(&self, d: NaiveDate) -> Option<NaiveDate> {
        search(d, Direction::Forward, SEARCH_LIMIT_DAYS, |x| self.is_working_day(x))
    }

    /// Last working day on or before `d`; `None` if there is none within [`SEARCH_LIMIT_DAYS`].
    pub fn previous_working_day(&self, d: NaiveDate) -> Option<NaiveDate> {
        search(d, Direction::Backward, SEARCH_LIMIT_DAYS, |x| self.is_working_day(x))
    }

    /// The `n`-th working day after `d` (`d` itself not counted; negative `n` counts back;
    /// `n == 0` returns `d`). E.g. a notice sent on a Saturday with 3 working days is due on
    /// Wednesday. `None` when the data has an implausibly long gap or `n` is absurdly large.
    pub fn add_working_days(&self, d: NaiveDate, n: i64) -> Option<NaiveDate> {
        if n.unsigned_abs() > MAX_WORKING_DAYS_OFFSET {
            return None;
        }
        let dir = if n < 0 { Direction::Backward } else { Direction::Forward };
        let mut cur = d;
        for _ in 0..n.unsigned_abs() {
            cur = search(step(cur, dir)?, dir, SEARCH_LIMIT_DAYS, |x| self.is_working_day(x))?;
        }
        Some(cur)
    }

    /// Whether holiday data for `d`'s year was loaded. Without it the calendar only knows
    /// weekends, so callers should warn (e.g. "no holiday data for 2028").
    pub fn covers(&self, d: NaiveDate) -> bool {
        self.covered.contains(&d.year())
    }

    /// The months among `months` (any date in each) whose year has no holiday data, as
    /// first-of-month dates, ascending and without repeats. A year counts as covered only when
    /// its file lists holidays.
    pub fn months_lacking_data(&self, months: impl IntoIterator<Item = NaiveDate>) -> Vec<NaiveDate> {
        let firsts: BTreeSet<NaiveDate> = months.into_iter().filter_map(|d| d.with_day(1)).collect();
        firsts.into_iter().filter(|d| !self.covers(*d)).collect()
    }

    /// What the office must know about `today`: the current and the next month without holiday
    /// data (empty when both are covered).
    pub fn coverage_gap(&self, today: NaiveDate) -> CoverageGap {
        let months = self.months_lacking_data([Some(today), next_month(today)].into_iter().flatten());
        let years: BTreeSet<i32> = months.iter().map(|d| d.year()).collect();
        CoverageGap {
            missing_months: months.iter().map(|d| d.format("%Y-%m").to_string()).collect(),
            missing_years: years.into_iter().collect(),
        }
    }

    /// Holidays touching `year`, by first day, each with the make-up working days listed for it
    /// (those of the same name within a month of it).
    pub fn holidays_of(&self, year: i32) -> Vec<HolidaySpan> {
        let mut out: Vec<HolidaySpan> = Vec::new();
        for (d, s) in &self.special {
            let Special::Holiday(name) = s else { continue };
            match out.last_mut() {
                Some(h) if h.name == *name && h.end.succ_opt() == Some(*d) => h.end = *d,
                _ => out.push(HolidaySpan { name: name.clone(), start: *d, end: *d, makeup_workdays: Vec::new() }),
            }
        }
        out.retain(|h| h.start.year() == year || h.end.year() == year);
        for (d, s) in &self.special {
            let Special::Makeup(name) = s else { continue };
            let near = |h: &HolidaySpan| (h.start - *d).num_days().abs().min((h.end - *d).num_days().abs());
            if let Some(h) =
                out.iter_mut().filter(|h| h.name == *name && near(h) <= MAX_HOLIDAY_SPAN_DAYS).min_by_key(|h| near(h))
            {
                h.makeup_workdays.push(*d);
            }
        }
        out
    }

    /// Years with holiday data, ascending.
    pub fn covered_years(&self) -> impl Iterator<Item = i32> + '_ {
        self.covered.iter().copied()
    }

    /// Terms, ascending by start.
    pub fn terms(&self) -> &[Term] {
        &self.terms
    }

    /// The `source` line of the year file (which official notice the holidays come from).
    pub fn source(&self, year: i32) -> Option<&str> {
        self.sources.get(&year).map(String::as_str)
    }

    /// Why `d` is not a working (or, with `school_days_only`, school) day; `None` if it is one.
    fn why_not(&self, d: NaiveDate, school_days_only: bool) -> Option<String> {
        match self.special.get(&d) {
            Some(Special::Holiday(name)) => return Some(format!("{d} is the {name} holiday")),
            Some(Special::Makeup(_)) => {}
            None if is_weekend(d) => return Some(format!("{d} is a weekend day")),
            None => {}
        }
        (school_days_only && self.term_of(d).is_none()).then(|| format!("{d} is outside every school term (vacation)"))
    }
}

/// The first day of the month after `d`'s.
fn next_month(d: NaiveDate) -> Option<NaiveDate> {
    let (y, m) = if d.month() == 12 { (d.year().checked_add(1)?, 1) } else { (d.year(), d.month() + 1) };
    NaiveDate::from_ymd_opt(y, m, 1)
}

/// Months (and their years) about to be used without holiday data; see [`Calendar::coverage_gap`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CoverageGap {
    /// "YYYY-MM", ascending.
    pub missing_months: Vec<String>,
    pub missing_years: Vec<i32>,
}

impl CoverageGap {
    pub fn is_empty(&self) -> bool {
        self.missing_months.is_empty()
    }
}

/// One holiday as listed in a year file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HolidaySpan {
    pub name: String,
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub makeup_workdays: Vec<NaiveDate>,
}

/// What a schedule that follows working days does with a firing on a non-working day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NonWorkdayPolicy {
    /// Ignore the calendar entirely.
    Fire,
    Skip,
    /// Move forward to the next working day.
    NextWorkingDay,
    /// Move back to the previous working day (e.g. a Friday prompt on the National Day holiday).
    PreviousWorkingDay,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Adjusted {
    On(NaiveDate),
    Skipped { reason: String },
}

impl Adjusted {
    pub fn date(&self) -> Option<NaiveDate> {
        match self {
            Adjusted::On(d) => Some(*d),
            Adjusted::Skipped { .. } => None,
        }
    }
}

/// Applies `policy` to a firing due on `date`. With `school_days_only`, vacation days count as
/// non-working too. Moves go at most [`MAX_SHIFT_DAYS`]; further than that the firing is skipped.
pub fn adjust(cal: &Calendar, date: NaiveDate, policy: NonWorkdayPolicy, school_days_only: bool) -> Adjusted {
    if policy == NonWorkdayPolicy::Fire {
        return Adjusted::On(date);
    }
    let Some(why) = cal.why_not(date, school_days_only) else {
        return Adjusted::On(date);
    };
    let ok = |d: NaiveDate| cal.why_not(d, school_days_only).is_none();
    let wanted = if school_days_only { "school day" } else { "working day" };
    let (dir, word) = match policy {
        NonWorkdayPolicy::Fire => return Adjusted::On(date),
        NonWorkdayPolicy::Skip => return Adjusted::Skipped { reason: why },
        NonWorkdayPolicy::NextWorkingDay => (Direction::Forward, "after"),
        NonWorkdayPolicy::PreviousWorkingDay => (Direction::Backward, "before"),
    };
    match search(date, dir, MAX_SHIFT_DAYS, ok) {
        Some(d) => Adjusted::On(d),
        None => Adjusted::Skipped {
            reason: format!("{why}, and there is no {wanted} within {MAX_SHIFT_DAYS} days {word} it"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const Y2026: &str = include_str!("../../config/calendar/2026.toml");
    const Y2027: &str = include_str!("../../config/calendar/2027.toml");

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("test date")
    }

    fn shipped() -> Calendar {
        let mut cal = Calendar::from_toml_str(Y2026).expect("2026.toml parses");
        cal.merge(Calendar::from_toml_str(Y2027).expect("2027.toml parses")).expect("2026 and 2027 merge");
        cal
    }

    fn holiday(name: &str) -> DayKind {
        DayKind::Holiday { name: name.to_string() }
    }

    fn makeup(name: &str) -> DayKind {
        DayKind::MakeupWorkday { name: name.to_string() }
    }

    fn err(s: &str) -> String {
        match Calendar::from_toml_str(s) {
            Ok(_) => panic!("expected an error for:\n{s}"),
            Err(e) => e.to_string(),
        }
    }

    // Checked against 国务院办公厅关于2026年部分节假日安排的通知 (国办发明电〔2025〕7号, 2025-11-04).
    #[test]
    fn shipped_2026_holidays_match_the_notice() {
        let cal = shipped();
        let ranges = [
            ("元旦", "2026-01-01", "2026-01-03"),
            ("春节", "2026-02-15", "2026-02-23"),
            ("清明节", "2026-04-04", "2026-04-06"),
            ("劳动节", "2026-05-01", "2026-05-05"),
            ("端午节", "2026-06-19", "2026-06-21"),
            ("中秋节", "2026-09-25", "2026-09-27"),
            ("国庆节", "2026-10-01", "2026-10-07"),
        ];
        let mut holidays = 0;
        for (name, start, end) in ranges {
            for day in d(start).iter_days().take_while(|x| *x <= d(end)) {
                assert_eq!(cal.day_kind(day), holiday(name), "{day}");
                assert!(!cal.is_working_day(day), "{day}");
                holidays += 1;
            }
        }
        assert_eq!(holidays, 33);
        let makeups = [
            ("元旦", "2026-01-04"),
            ("春节", "2026-02-14"),
            ("春节", "2026-02-28"),
            ("劳动节", "2026-05-09"),
            ("国庆节", "2026-09-20"),
            ("国庆节", "2026-10-10"),
        ];
        for (name, day) in makeups {
            assert_eq!(cal.day_kind(d(day)), makeup(name), "{day}");
            assert!(cal.is_working_day(d(day)), "{day}");
        }
        let total_special_2026 = cal.special.keys().filter(|x| x.year() == 2026).count();
        assert_eq!(total_special_2026, 33 + 6);

        // Neighbours of the holidays are ordinary.
        assert_eq!(cal.day_kind(d("2026-02-24")), DayKind::Workday); // Tue after 春节
        assert_eq!(cal.day_kind(d("2026-10-08")), DayKind::Workday); // Thu after 国庆
        assert_eq!(cal.day_kind(d("2026-10-11")), DayKind::Weekend); // Sun after the make-up Sat
        assert_eq!(cal.day_kind(d("2026-11-22")), DayKind::Weekend);
        assert!(cal.source(2026).is_some_and(|s| s.contains("国办发明电〔2025〕7号")));
    }

    #[test]
    fn shipped_coverage_and_terms() {
        let cal = shipped();
        assert!(cal.covers(d("2026-06-01")));
        // 2027 ships with terms only until the State Council notice is filled in; update this
        // test (and add date checks like the 2026 ones) when it is.
        assert!(!cal.covers(d("2027-06-01")));
        assert!(!cal.covers(d("2025-12-31")));
        assert_eq!(cal.covered_years().collect::<Vec<_>>(), vec![2026]);

        let names: Vec<&str> = cal.terms().iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            ["2025-2026学年第二学期", "2026-2027学年第一学期", "2026-2027学年第二学期", "2027-2028学年第一学期",]
        );
        assert_eq!(cal.term_of(d("2026-11-23")).map(|t| t.name.as_str()), Some("2026-2027学年第一学期"));
        // Summer and winter vacations: working days, not school days.
        for day in ["2026-07-15", "2026-08-31", "2027-01-25", "2027-08-02"] {
            assert!(cal.is_working_day(d(day)), "{day}");
            assert!(cal.term_of(d(day)).is_none(), "{day}");
            assert!(!cal.is_school_day(d(day)), "{day}");
        }
        // Make-up days inside a term are school days; holidays inside a term are not.
        assert!(cal.is_school_day(d("2026-09-20")));
        assert!(cal.is_school_day(d("2026-10-10")));
        assert!(!cal.is_school_day(d("2026-10-02")));
        assert!(cal.is_school_day(d("2026-09-01")));
    }

    #[test]
    fn working_day_navigation_2026() {
        let cal = shipped();
        assert_eq!(cal.next_working_day(d("2026-10-01")), Some(d("2026-10-08")));
        assert_eq!(cal.next_working_day(d("2026-10-08")), Some(d("2026-10-08")));
        assert_eq!(cal.previous_working_day(d("2026-10-07")), Some(d("2026-09-30")));
        // Previous working day of the Spring Festival is the make-up Saturday 2026-02-14.
        assert_eq!(cal.previous_working_day(d("2026-02-20")), Some(d("2026-02-14")));
        assert_eq!(cal.next_working_day(d("2026-02-15")), Some(d("2026-02-24")));
        // Sunday 2026-09-20 is worked.
        assert_eq!(cal.next_working_day(d("2026-09-20")), Some(d("2026-09-20")));

        assert_eq!(cal.add_working_days(d("2026-09-30"), 1), Some(d("2026-10-08")));
        // Thu 10-08 → Fri 10-09 → make-up Sat 10-10.
        assert_eq!(cal.add_working_days(d("2026-10-08"), 2), Some(d("2026-10-10")));
        assert_eq!(cal.add_working_days(d("2026-10-08"), -1), Some(d("2026-09-30")));
        assert_eq!(cal.add_working_days(d("2026-10-03"), 0), Some(d("2026-10-03")));
        // A notice sent on Saturday 2026-11-21 with 3 working days is due Wednesday.
        assert_eq!(cal.add_working_days(d("2026-11-21"), 3), Some(d("2026-11-25")));
        // Years without data still know weekends.
        assert_eq!(cal.next_working_day(d("2028-05-06")), Some(d("2028-05-08")));
    }

    #[test]
    fn adjust_policies_2026() {
        use NonWorkdayPolicy::*;
        let cal = shipped();
        let national_day_friday = d("2026-10-02");
        assert_eq!(adjust(&cal, national_day_friday, Fire, true), Adjusted::On(national_day_friday));
        match adjust(&cal, national_day_friday, Skip, false) {
            Adjusted::Skipped { reason } => assert!(reason.contains("国庆节"), "{reason}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(adjust(&cal, national_day_friday, PreviousWorkingDay, false), Adjusted::On(d("2026-09-30")));
        assert_eq!(adjust(&cal, national_day_friday, NextWorkingDay, true), Adjusted::On(d("2026-10-08")));
        // 中秋 Friday 2026-09-25 → Thursday.
        assert_eq!(adjust(&cal, d("2026-09-25"), PreviousWorkingDay, true).date(), Some(d("2026-09-24")));
        // Working days pass through whatever the policy.
        for day in ["2026-09-20", "2026-10-10", "2026-11-23"] {
            assert_eq!(adjust(&cal, d(day), Skip, true), Adjusted::On(d(day)));
        }

        // Summer vacation: fine for the office, skipped for schools, too far to move.
        let summer = d("2026-07-15");
        assert_eq!(adjust(&cal, summer, Skip, false), Adjusted::On(summer));
        match adjust(&cal, summer, Skip, true) {
            Adjusted::Skipped { reason } => assert!(reason.contains("vacation"), "{reason}"),
            other => panic!("{other:?}"),
        }
        assert!(adjust(&cal, summer, NextWorkingDay, true).date().is_none());
        assert_eq!(adjust(&cal, d("2026-08-29"), NextWorkingDay, true), Adjusted::On(d("2026-09-01")));
        assert_eq!(adjust(&cal, d("2026-07-11"), PreviousWorkingDay, true), Adjusted::On(d("2026-07-10")));
    }

    #[test]
    fn months_without_holiday_data_are_named() {
        let cal = shipped();
        // Mid-November 2026: this month and next are covered.
        assert!(cal.coverage_gap(d("2026-11-20")).is_empty());
        // December 2026: January 2027 has only terms, no holidays.
        let gap = cal.coverage_gap(d("2026-12-01"));
        assert_eq!(gap.missing_months, ["2027-01"]);
        assert_eq!(gap.missing_years, [2027]);
        // From 2027 on both months lack data, one year named once.
        let gap = cal.coverage_gap(d("2027-01-31"));
        assert_eq!(gap.missing_months, ["2027-01", "2027-02"]);
        assert_eq!(gap.missing_years, [2027]);
        assert_eq!(cal.coverage_gap(d("2027-12-15")).missing_years, [2027, 2028]);
        // The same month twice is reported once; covered months drop out.
        assert_eq!(cal.months_lacking_data([d("2027-03-01"), d("2027-03-31"), d("2026-05-05")]), vec![d("2027-03-01")]);
        // A year counts as covered once a file with holidays is merged in.
        let mut cal = cal;
        cal.merge(
            Calendar::from_toml_str(
                "year = 2027\n[[holidays]]\nname = \"元旦\"\nstart = \"2027-01-01\"\nend = \"2027-01-03\"\n",
            )
            .expect("parses"),
        )
        .expect("merges");
        assert!(cal.coverage_gap(d("2026-12-01")).is_empty());
        // Never panics at the ends of the date range.
        let _ = Calendar::default().coverage_gap(NaiveDate::MAX);
    }

    #[test]
    fn holidays_of_a_year_list_spans_and_their_makeup_days() {
        let cal = shipped();
        let h = cal.holidays_of(2026);
        assert_eq!(h.len(), 7);
        let national = h.iter().find(|x| x.name == "国庆节").expect("国庆节");
        assert_eq!((national.start, national.end), (d("2026-10-01"), d("2026-10-07")));
        assert_eq!(national.makeup_workdays, vec![d("2026-09-20"), d("2026-10-10")]);
        let spring = h.iter().find(|x| x.name == "春节").expect("春节");
        assert_eq!(spring.makeup_workdays, vec![d("2026-02-14"), d("2026-02-28")]);
        assert!(cal.holidays_of(2027).is_empty());
        let (year, _) = Calendar::parse_year_file(Y2027).expect("parses");
        assert_eq!(year, 2027);
    }

    #[test]
    fn policy_deserializes_from_snake_case() {
        #[derive(Deserialize)]
        struct S {
            policy: NonWorkdayPolicy,
        }
        let s: S = toml::from_str("policy = \"previous_working_day\"").expect("parses");
        assert_eq!(s.policy, NonWorkdayPolicy::PreviousWorkingDay);
    }

    const MINI: &str = r#"
year = 2030
[[holidays]]
name = "A"
start = "2030-05-01"
end = "2030-05-03"
makeup_workdays = ["2030-05-04"]
"#;

    #[test]
    fn native_toml_dates_are_accepted() {
        let cal = Calendar::from_toml_str(
            "year = 2030\n[[holidays]]\nname = \"A\"\nstart = 2030-05-01\nend = 2030-05-02\n\
             [[terms]]\nname = \"T\"\nstart = 2030-03-01\nend = 2030-07-01\n",
        )
        .expect("parses");
        assert_eq!(cal.day_kind(d("2030-05-02")), holiday("A"));
        assert!(cal.term_of(d("2030-04-01")).is_some());
    }

    #[test]
    fn file_errors_name_section_and_date() {
        assert!(err("year = ").contains("not valid"));
        assert!(err(&MINI.replace("makeup_workdays", "makeup_workday")).contains("makeup_workday"));
        let e = err(&MINI.replace("2030-05-03", "2030-02-30"));
        assert!(e.contains("#1 \"A\"") && e.contains("2030-02-30"), "{e}");
        let e = err(&MINI.replace("2030-05-03", "2030-04-30"));
        assert!(e.contains("before start"), "{e}");
        let e = err(&MINI.replace("2030-05-04", "2030-05-06"));
        assert!(e.contains("2030-05-06") && e.contains("Mon"), "{e}");
        let e = err(&MINI.replace("2030-05-01", "2029-05-01"));
        assert!(e.contains("longer than 31 days"), "{e}");
        // A date copied from last year's file.
        let e = err(&MINI.replace("2030-05-01", "2029-05-01").replace("2030-05-03", "2029-05-03"));
        assert!(e.contains("2029-05-01") && e.contains("year 2030"), "{e}");
        let e = err(&MINI.replace("2030-05-04\"]", "2030-05-04\", \"2030-05-02\"]"));
        assert!(e.contains("2030-05-02") && e.contains("holiday") && e.contains("make-up"), "{e}");
        let e = err("year = 2030\n[[terms]]\nname = \"T\"\nstart = \"2031-03-01\"\nend = \"2031-07-01\"\n");
        assert!(e.contains("[[terms]] #1") && e.contains("2031-03-01"), "{e}");
        let e = err("year = 2030\n[[terms]]\nname = \"T\"\nstart = \"2030-03-01\"\nend = \"2031-07-01\"\n");
        assert!(e.contains("longer than a year"), "{e}");
        assert!(err("year = 99999999999").contains("year"));
        assert!(err("year = 2030\n[[holidays]]\nname = \" \"\nstart = \"2030-05-01\"\nend = \"2030-05-01\"\n")
            .contains("name is empty"));
        assert!(err("year = 2030\n[[holidays]]\nname = \"A\"\nstart = 5\nend = \"2030-05-01\"\n").contains("start = 5"));
    }

    #[test]
    fn merge_is_idempotent_and_atomic() {
        let mut cal = Calendar::from_toml_str(MINI).expect("parses");
        cal.merge(Calendar::from_toml_str(MINI).expect("parses")).expect("identical data merges");
        assert_eq!(cal.day_kind(d("2030-05-04")), makeup("A"));

        let other = "year = 2030\n[[holidays]]\nname = \"B\"\nstart = \"2030-05-03\"\nend = \"2030-05-03\"\n\
                     [[terms]]\nname = \"T\"\nstart = \"2030-03-01\"\nend = \"2030-07-01\"\n";
        let before = format!("{cal:?}");
        let e = cal.merge(Calendar::from_toml_str(other).expect("parses")).expect_err("conflict");
        assert!(matches!(e, CalendarError::ConflictingDay { .. }), "{e}");
        assert!(e.to_string().contains("2030-05-03"), "{e}");
        assert_eq!(format!("{cal:?}"), before, "failed merge left the calendar unchanged");
    }

    #[test]
    fn overlapping_or_renamed_terms_conflict() {
        let t = |name: &str, s: &str, e: &str| {
            format!("year = 2030\n[[terms]]\nname = \"{name}\"\nstart = \"{s}\"\nend = \"{e}\"\n")
        };
        let mut cal = Calendar::from_toml_str(&t("T1", "2030-03-01", "2030-07-01")).expect("ok");
        let overlap = Calendar::from_toml_str(&t("T2", "2030-06-01", "2030-08-01")).expect("ok");
        assert!(matches!(cal.merge(overlap), Err(CalendarError::ConflictingTerms { .. })));
        let renamed = Calendar::from_toml_str(&t("T1", "2030-09-01", "2030-12-01")).expect("ok");
        assert!(cal.merge(renamed).is_err());
        let later = Calendar::from_toml_str(&t("T3", "2030-09-01", "2030-12-01")).expect("ok");
        cal.merge(later).expect("disjoint terms merge");
        assert_eq!(cal.terms().len(), 2);
        assert!(cal.term_of(d("2030-08-15")).is_none());
        // Terms-only files do not count as holiday coverage.
        assert!(!cal.covers(d("2030-05-01")));
    }

    #[test]
    fn searches_are_bounded_and_never_panic() {
        // Three adjacent month-long "holidays": no working day for ~90 days.
        let s = "year = 2030\n\
            [[holidays]]\nname = \"A\"\nstart = \"2030-03-01\"\nend = \"2030-03-31\"\n\
            [[holidays]]\nname = \"B\"\nstart = \"2030-04-01\"\nend = \"2030-04-30\"\n\
            [[holidays]]\nname = \"C\"\nstart = \"2030-05-01\"\nend = \"2030-05-31\"\n";
        let cal = Calendar::from_toml_str(s).expect("parses");
        assert_eq!(cal.next_working_day(d("2030-03-01")), None);
        assert_eq!(cal.previous_working_day(d("2030-05-31")), None);
        assert_eq!(cal.add_working_days(d("2030-02-28"), 1), None);
        assert!(adjust(&cal, d("2030-04-15"), NonWorkdayPolicy::NextWorkingDay, false).date().is_none());

        let empty = Calendar::default();
        assert_eq!(empty.add_working_days(d("2030-01-01"), i64::MAX), None);
        assert_eq!(empty.add_working_days(d("2030-01-01"), i64::MIN), None);
        assert!(empty.add_working_days(NaiveDate::MAX, 5).is_none());
        assert!(empty.add_working_days(NaiveDate::MIN, -5).is_none());
        let _ = empty.next_working_day(NaiveDate::MAX);
        let _ = empty.previous_working_day(NaiveDate::MIN);
        let _ = adjust(&empty, NaiveDate::MAX, NonWorkdayPolicy::NextWorkingDay, true);
        let _ = adjust(&empty, NaiveDate::MIN, NonWorkdayPolicy::PreviousWorkingDay, true);
        assert!(!empty.covers(d("2026-01-01")));
        assert_eq!(empty.day_kind(d("2026-10-01")), DayKind::Workday);
    }
}
