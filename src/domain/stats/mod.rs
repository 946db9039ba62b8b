//! Statistics (统计) for every output — chat, files and the web platform: pure functions over
//! rows a loader (`store::stats`) reads once, per inspector / zone / county and per period.
//!
//! Counts are exact integers; shares are [`Rate`]s (a numerator and a denominator) and are
//! rounded for display in one place ([`round_div`]), half up, to one decimal.

pub mod args;
pub mod info;
pub mod records;
pub mod rectify;
pub mod tasks;
pub mod visits;
pub mod weekly;

use chrono::{Datelike, Days, NaiveDate, Weekday};

use crate::domain::calendar::Calendar;

/// An inclusive range of local dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Period {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

/// `d + n` days, or the last representable date (no arithmetic panic at the calendar's ends).
fn plus(d: NaiveDate, n: u64) -> NaiveDate {
    d.checked_add_days(Days::new(n)).unwrap_or(NaiveDate::MAX)
}

/// `d − n` days, or the first representable date.
fn minus(d: NaiveDate, n: u64) -> NaiveDate {
    d.checked_sub_days(Days::new(n)).unwrap_or(NaiveDate::MIN)
}

impl Period {
    /// `None` when `to` is before `from`.
    pub fn new(from: NaiveDate, to: NaiveDate) -> Option<Period> {
        (from <= to).then_some(Period { from, to })
    }

    pub fn contains(&self, d: NaiveDate) -> bool {
        self.from <= d && d <= self.to
    }

    /// The Monday-to-Sunday week containing `d`.
    pub fn week_of(d: NaiveDate) -> Period {
        let from = minus(d, u64::from(d.weekday().num_days_from_monday()));
        Period { from, to: plus(from, 6) }
    }

    /// A calendar month.
    pub fn month(year: i32, month: u32) -> Option<Period> {
        let from = NaiveDate::from_ymd_opt(year, month, 1)?;
        let next = from.checked_add_months(chrono::Months::new(1))?;
        Some(Period { from, to: next.pred_opt()? })
    }

    /// The calendar month containing `d`.
    pub fn month_of(d: NaiveDate) -> Period {
        Period::month(d.year(), d.month()).unwrap_or(Period { from: d, to: d })
    }

    /// A calendar year.
    pub fn year(year: i32) -> Option<Period> {
        Some(Period { from: NaiveDate::from_ymd_opt(year, 1, 1)?, to: NaiveDate::from_ymd_opt(year, 12, 31)? })
    }

    /// The school year (September to August) containing `d`, as the quota rules count it.
    pub fn school_year_of(d: NaiveDate) -> Period {
        let (from, to) = crate::domain::monthly::school_year(d);
        Period { from, to }
    }

    /// The term (学期) of the school calendar containing `d`; `None` in holidays.
    pub fn term_of(cal: &Calendar, d: NaiveDate) -> Option<Period> {
        cal.term_of(d).and_then(|t| Period::new(t.start, t.end))
    }

    /// The ISO weeks (Monday to Sunday) whose Thursday falls in the period — the ISO rule that
    /// gives every week to exactly one month and one year.
    pub fn weeks(&self) -> Vec<Period> {
        let mut out = Vec::new();
        // The Thursday of the week containing `from`, then the next Thursdays.
        let mut thu = plus(Period::week_of(self.from).from, 3);
        if thu < self.from {
            thu = plus(thu, 7);
        }
        while thu <= self.to {
            out.push(Period::week_of(thu));
            if thu == NaiveDate::MAX {
                break;
            }
            thu = plus(thu, 7);
        }
        out
    }

    /// The calendar months the period touches, each cut to the period (the first and last may
    /// be partial).
    pub fn months(&self) -> Vec<Period> {
        let mut out = Vec::new();
        let mut m = Period::month_of(self.from);
        loop {
            out.push(Period { from: m.from.max(self.from), to: m.to.min(self.to) });
            match m.to.succ_opt() {
                Some(next) if next <= self.to => m = Period::month_of(next),
                _ => break,
            }
        }
        out
    }

    /// Number of calendar months the period touches (a quota is per month).
    pub fn months_touched(&self) -> u32 {
        let a = i64::from(self.from.year()) * 12 + i64::from(self.from.month0());
        let b = i64::from(self.to.year()) * 12 + i64::from(self.to.month0());
        u32::try_from(b - a + 1).unwrap_or(u32::MAX)
    }
}

/// The Thursday of an ISO week: the day that decides which period the week belongs to.
pub(crate) fn iso_week_thursday(year: i32, week: u32) -> Option<NaiveDate> {
    NaiveDate::from_isoywd_opt(year, week, Weekday::Thu)
}

/// Who the figures are about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    County,
    Zone(i64),
    Inspector(i64),
}

/// A share: `num` out of `den`. No value when `den` is 0 (shown "—"), never a division by zero.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Rate {
    pub num: u64,
    pub den: u64,
}

/// `n / d` rounded half up; `None` when `d` is 0. The one rounding rule of the statistics.
pub fn round_div(n: u128, d: u128) -> Option<u128> {
    (d > 0).then(|| (2 * n + d) / (2 * d))
}

impl Rate {
    pub fn new(num: u64, den: u64) -> Rate {
        Rate { num, den }
    }

    /// The share in per mille, rounded half up (so 1/3 is 333 and 2/3 is 667).
    pub fn permille(self) -> Option<u64> {
        round_div(u128::from(self.num) * 1000, u128::from(self.den)).map(|v| v as u64)
    }

    /// The share as a float, for charts; `None` when there is nothing to divide by.
    pub fn value(self) -> Option<f64> {
        (self.den > 0).then(|| self.num as f64 / self.den as f64)
    }

    /// "66.7%", or "—" when there is nothing to divide by.
    pub fn percent_text(self) -> String {
        tenths_text(self.permille(), "%")
    }
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.percent_text())
    }
}

/// A value held in tenths as text with one decimal and a unit ("12.5天"), or "—".
pub fn tenths_text(tenths: Option<u64>, unit: &str) -> String {
    match tenths {
        Some(t) => format!("{}.{}{unit}", t / 10, t % 10),
        None => "—".to_string(),
    }
}

/// The mean of day counts in tenths of a day, rounded half up.
pub fn mean_tenths(days: &[u64]) -> Option<u64> {
    let total: u128 = days.iter().map(|d| u128::from(*d)).sum();
    round_div(total * 10, days.len() as u128).map(|v| v as u64)
}

/// The median of day counts in tenths of a day (exact: the middle two average to a half).
pub fn median_tenths(days: &[u64]) -> Option<u64> {
    let mut v = days.to_vec();
    v.sort_unstable();
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2] * 10),
        _ => Some((v[n / 2 - 1] + v[n / 2]) * 5),
    }
}

/// Everything the statistics read, loaded once per request by `store::stats::load_on` (`load`,
/// the full replay, is what tests compare it with).
#[derive(Debug, Clone, Default)]
pub struct Rows {
    pub weekly: Vec<weekly::WeeklyRow>,
    pub visits: Vec<visits::VisitRow>,
    pub schools: Vec<visits::SchoolRow>,
    pub inspectors: Vec<visits::InspectorRow>,
    pub items: Vec<rectify::ItemRow>,
    pub escalations: Vec<rectify::EscalationRow>,
    pub assignments: Vec<tasks::AssignmentRow>,
    /// 信息报送 items submitted in the period.
    pub info: Vec<info::InfoRow>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn periods() {
        // 2026-11-25 is a Wednesday.
        assert_eq!(Period::week_of(d(2026, 11, 25)), Period { from: d(2026, 11, 23), to: d(2026, 11, 29) });
        assert_eq!(Period::month(2026, 2), Some(Period { from: d(2026, 2, 1), to: d(2026, 2, 28) }));
        assert_eq!(Period::month(2026, 12), Some(Period { from: d(2026, 12, 1), to: d(2026, 12, 31) }));
        assert_eq!(Period::month(2026, 13), None);
        assert_eq!(Period::year(2026), Some(Period { from: d(2026, 1, 1), to: d(2026, 12, 31) }));
        assert_eq!(Period::school_year_of(d(2026, 11, 2)), Period { from: d(2026, 9, 1), to: d(2027, 8, 31) });
        assert_eq!(Period::new(d(2026, 11, 2), d(2026, 11, 1)), None);
        // November 2026: Thursdays 5, 12, 19, 26 — the week of 2 Nov (Mon) to 8 Nov is the first;
        // the week of 30 Nov has its Thursday on 3 Dec and belongs to December.
        let nov = Period::month(2026, 11).unwrap();
        let weeks = nov.weeks();
        assert_eq!(weeks.len(), 4);
        assert_eq!(weeks[0], Period { from: d(2026, 11, 2), to: d(2026, 11, 8) });
        assert_eq!(weeks[3], Period { from: d(2026, 11, 23), to: d(2026, 11, 29) });
        // October 2026 starts on a Thursday: the week of 28 Sept belongs to October.
        assert_eq!(Period::month(2026, 10).unwrap().weeks()[0].from, d(2026, 9, 28));
        assert_eq!(nov.months_touched(), 1);
        assert_eq!(nov.months(), vec![nov]);
        // 15 October to 2 December: three months, the first and last cut to the period.
        let odd = Period::new(d(2026, 10, 15), d(2026, 12, 2)).unwrap();
        assert_eq!(
            odd.months(),
            vec![
                Period { from: d(2026, 10, 15), to: d(2026, 10, 31) },
                nov,
                Period { from: d(2026, 12, 1), to: d(2026, 12, 2) }
            ]
        );
        assert_eq!(Period::year(2026).unwrap().months().len(), 12);
        assert_eq!(Period::new(d(2026, 11, 30), d(2027, 1, 1)).unwrap().months_touched(), 3);
        assert_eq!(Period::week_of(NaiveDate::MAX).to, NaiveDate::MAX, "no panic at the end of time");
        assert!(Period { from: NaiveDate::MAX, to: NaiveDate::MAX }.weeks().len() <= 1);
    }

    #[test]
    fn rates_round_half_up_once() {
        assert_eq!(Rate::new(1, 3).permille(), Some(333));
        assert_eq!(Rate::new(2, 3).permille(), Some(667));
        assert_eq!(Rate::new(1, 8).permille(), Some(125));
        assert_eq!(Rate::new(1, 16).permille(), Some(63), "62.5‰ rounds up");
        assert_eq!(Rate::new(2, 3).percent_text(), "66.7%");
        assert_eq!(Rate::new(3, 3).to_string(), "100.0%");
        assert_eq!(Rate::new(0, 0).permille(), None);
        assert_eq!(Rate::new(0, 0).to_string(), "—");
        assert_eq!(Rate::new(0, 0).value(), None);
        assert_eq!(Rate::new(1, 4).value(), Some(0.25));
        assert_eq!(Rate::new(u64::MAX, u64::MAX).permille(), Some(1000), "no overflow");
    }

    #[test]
    fn means_and_medians_in_tenths() {
        assert_eq!(mean_tenths(&[]), None);
        assert_eq!(median_tenths(&[]), None);
        // (2 + 3 + 10) / 3 = 5.0; median 3.
        assert_eq!(mean_tenths(&[10, 2, 3]), Some(50));
        assert_eq!(median_tenths(&[10, 2, 3]), Some(30));
        // (1 + 2) / 2 = 1.5 both ways; (1 + 1 + 2) / 3 = 1.333… → 1.3.
        assert_eq!(mean_tenths(&[2, 1]), Some(15));
        assert_eq!(median_tenths(&[2, 1]), Some(15));
        assert_eq!(mean_tenths(&[1, 1, 2]), Some(13));
        assert_eq!(tenths_text(Some(15), "天"), "1.5天");
        assert_eq!(tenths_text(None, "天"), "—");
    }
}
