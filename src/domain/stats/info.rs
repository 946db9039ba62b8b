//! 信息报送 figures: information items submitted upward in a period, how many were accepted (采用),
//! and how far the count falls short of the monthly rule (`[info] per_month`).

use chrono::NaiveDate;

use super::{Period, Scope};

/// One information item as the statistics read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InfoRow {
    pub id: i64,
    pub person_id: Option<i64>,
    /// The submitter's zone; `None` for the county office itself.
    pub zone_id: Option<i64>,
    /// The local day it was submitted.
    pub submitted: NaiveDate,
    /// `None` until the receiver decides; `Some(true)` 采用, `Some(false)` 未采用.
    pub accepted: Option<bool>,
}

/// The items of a period and scope.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InfoFigures {
    pub submitted: u64,
    pub accepted: u64,
    pub rejected: u64,
    /// Not decided yet.
    pub pending: u64,
}

impl InfoFigures {
    /// How many more items the rule asks for (0 once it is met).
    pub fn short_of(&self, required: u64) -> u64 {
        required.saturating_sub(self.submitted)
    }
}

/// Whether a row belongs to `scope`: a zone counts its own items; an inspector, the items they
/// submitted; the county, every item.
fn in_scope(r: &InfoRow, scope: Scope) -> bool {
    match scope {
        Scope::County => true,
        Scope::Zone(z) => r.zone_id == Some(z),
        Scope::Inspector(p) => r.person_id == Some(p),
    }
}

/// The figures of the items submitted in `period` within `scope`.
pub fn info_figures(rows: &[InfoRow], period: Period, scope: Scope) -> InfoFigures {
    let mut f = InfoFigures::default();
    for r in rows.iter().filter(|r| period.contains(r.submitted) && in_scope(r, scope)) {
        f.submitted += 1;
        match r.accepted {
            Some(true) => f.accepted += 1,
            Some(false) => f.rejected += 1,
            None => f.pending += 1,
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, zone: Option<i64>, day: NaiveDate, accepted: Option<bool>) -> InfoRow {
        InfoRow { id, person_id: Some(id * 10), zone_id: zone, submitted: day, accepted }
    }

    fn d(m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, m, day).unwrap()
    }

    #[test]
    fn a_month_with_none() {
        let nov = Period::month(2026, 11).unwrap();
        let f = info_figures(&[], nov, Scope::County);
        assert_eq!((f.submitted, f.accepted, f.rejected, f.pending), (0, 0, 0, 0));
        assert_eq!(f.short_of(2), 2);
        // Items of other months do not count.
        let f = info_figures(&[row(1, None, d(10, 31), Some(true)), row(2, None, d(12, 1), None)], nov, Scope::County);
        assert_eq!(f, InfoFigures::default());
    }

    #[test]
    fn counts_per_county_zone_and_person() {
        let nov = Period::month(2026, 11).unwrap();
        // Zone 5: items 1 (accepted, 1 Nov), 2 (rejected, 30 Nov); zone 6: item 3 (pending);
        // the county office: item 4 (accepted).
        let rows = [
            row(1, Some(5), d(11, 1), Some(true)),
            row(2, Some(5), d(11, 30), Some(false)),
            row(3, Some(6), d(11, 15), None),
            row(4, None, d(11, 20), Some(true)),
        ];
        let county = info_figures(&rows, nov, Scope::County);
        assert_eq!((county.submitted, county.accepted, county.rejected, county.pending), (4, 2, 1, 1));
        assert_eq!(county.short_of(2), 0);
        let z5 = info_figures(&rows, nov, Scope::Zone(5));
        assert_eq!((z5.submitted, z5.accepted, z5.rejected), (2, 1, 1));
        let z6 = info_figures(&rows, nov, Scope::Zone(6));
        assert_eq!((z6.submitted, z6.short_of(2)), (1, 1));
        assert_eq!(info_figures(&rows, nov, Scope::Inspector(30)).submitted, 1);
    }
}
