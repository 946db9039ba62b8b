//! Weekly reports (周交流): expected, on time, late, missing, the on-time rate and the trend.
//! The same rules as the wrap-up (`domain::weekly::stats`): a member on leave or exempt is not
//! expected; a report is late when it came after the round's deadline.

use std::collections::BTreeMap;

use super::{iso_week_thursday, Period, Rate, Scope};

/// One member of one weekly round (a `weekly_members` row with its report, if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeeklyRow {
    /// ISO week label, "2026-W48".
    pub week: String,
    pub person_id: i64,
    /// The person's own zone.
    pub zone_id: Option<i64>,
    /// On leave or exempt that week.
    pub excluded: bool,
    pub submitted: bool,
    pub late: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WeeklyFigures {
    /// Weeks that had a round in scope.
    pub weeks: u32,
    /// Member-weeks expected to report (excluded ones not counted).
    pub expected: u32,
    pub submitted: u32,
    pub on_time: u32,
    pub late: u32,
    pub missing: u32,
    pub excluded: u32,
}

impl WeeklyFigures {
    /// On-time reports out of those expected.
    pub fn on_time_rate(&self) -> Rate {
        Rate::new(u64::from(self.on_time), u64::from(self.expected))
    }

    /// Reports in (on time or late) out of those expected.
    pub fn submit_rate(&self) -> Rate {
        Rate::new(u64::from(self.submitted), u64::from(self.expected))
    }
}

/// The Thursday of a "2026-W48" label; `None` for anything else.
fn week_thursday(label: &str) -> Option<chrono::NaiveDate> {
    let (y, w) = label.split_once("-W")?;
    iso_week_thursday(y.parse().ok()?, w.parse().ok()?)
}

fn in_scope(r: &WeeklyRow, scope: Scope) -> bool {
    match scope {
        Scope::County => true,
        Scope::Zone(z) => r.zone_id == Some(z),
        Scope::Inspector(p) => r.person_id == p,
    }
}

/// One status per person and week: someone in two rounds of a week (two groups) counts once —
/// a report anywhere counts, on time if any was on time; excluded only without a report.
fn merged(rows: &[WeeklyRow], period: Period, scope: Scope) -> BTreeMap<(&str, i64), WeeklyRow> {
    let mut out: BTreeMap<(&str, i64), WeeklyRow> = BTreeMap::new();
    for r in rows.iter().filter(|r| in_scope(r, scope)) {
        if !week_thursday(&r.week).is_some_and(|t| period.contains(t)) {
            continue;
        }
        out.entry((r.week.as_str(), r.person_id))
            .and_modify(|m| {
                if r.submitted && (!m.submitted || (m.late && !r.late)) {
                    m.submitted = true;
                    m.late = r.late;
                }
                m.excluded = m.excluded || r.excluded;
            })
            .or_insert_with(|| r.clone());
    }
    out
}

fn tally<'a>(rows: impl Iterator<Item = &'a WeeklyRow>) -> WeeklyFigures {
    let mut f = WeeklyFigures::default();
    let mut weeks = std::collections::BTreeSet::new();
    for r in rows {
        weeks.insert(r.week.as_str());
        if r.excluded && !r.submitted {
            f.excluded += 1;
            continue;
        }
        f.expected += 1;
        if !r.submitted {
            f.missing += 1;
        } else if r.late {
            f.submitted += 1;
            f.late += 1;
        } else {
            f.submitted += 1;
            f.on_time += 1;
        }
    }
    f.weeks = weeks.len() as u32;
    f
}

/// Figures of the weeks whose Thursday falls in `period`.
pub fn figures(rows: &[WeeklyRow], period: Period, scope: Scope) -> WeeklyFigures {
    tally(merged(rows, period, scope).values())
}

/// One entry per ISO week of the period, weeks without a round included (all zero, rates "—").
pub fn trend(rows: &[WeeklyRow], period: Period, scope: Scope) -> Vec<(String, WeeklyFigures)> {
    let merged = merged(rows, period, scope);
    period
        .weeks()
        .into_iter()
        .map(|w| {
            let label = crate::domain::weekly::week_label(w.from);
            let f = tally(merged.values().filter(|r| r.week == label));
            (label, f)
        })
        .collect()
}

/// Figures per person of the rows in scope.
pub fn per_person(rows: &[WeeklyRow], period: Period, scope: Scope) -> BTreeMap<i64, WeeklyFigures> {
    let merged = merged(rows, period, scope);
    let mut people: BTreeMap<i64, Vec<&WeeklyRow>> = BTreeMap::new();
    for r in merged.values() {
        people.entry(r.person_id).or_default().push(r);
    }
    people.into_iter().map(|(p, rs)| (p, tally(rs.into_iter()))).collect()
}

/// Figures per zone (the person's own zone; `None` for people without one) of the rows in
/// scope — the reporting rate by zone.
pub fn per_zone(rows: &[WeeklyRow], period: Period, scope: Scope) -> BTreeMap<Option<i64>, WeeklyFigures> {
    let merged = merged(rows, period, scope);
    let mut zones: BTreeMap<Option<i64>, Vec<&WeeklyRow>> = BTreeMap::new();
    for r in merged.values() {
        zones.entry(r.zone_id).or_default().push(r);
    }
    zones.into_iter().map(|(z, rs)| (z, tally(rs.into_iter()))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(week: &str, person: i64, zone: i64, excluded: bool, submitted: bool, late: bool) -> WeeklyRow {
        WeeklyRow { week: week.into(), person_id: person, zone_id: Some(zone), excluded, submitted, late }
    }

    fn nov() -> Period {
        Period::month(2026, 11).unwrap()
    }

    /// November 2026 has weeks W45..W48 (Thursdays 5, 12, 19, 26). People 1, 2 in zone 10,
    /// person 3 in zone 20.
    fn rows() -> Vec<WeeklyRow> {
        vec![
            // W45: 1 on time, 2 late, 3 missing.
            row("2026-W45", 1, 10, false, true, false),
            row("2026-W45", 2, 10, false, true, true),
            row("2026-W45", 3, 20, false, false, false),
            // W46: 1 on time, 2 on leave, 3 on time.
            row("2026-W46", 1, 10, false, true, false),
            row("2026-W46", 2, 10, true, false, false),
            row("2026-W46", 3, 20, false, true, false),
            // W47: no round at all.
            // W48: 1 missing in the zone round but on time in a second round; 2 missing, 3 late.
            row("2026-W48", 1, 10, false, false, false),
            row("2026-W48", 1, 10, false, true, false),
            row("2026-W48", 2, 10, false, false, false),
            row("2026-W48", 3, 20, false, true, true),
            // W49 (Thursday 3 December) belongs to December.
            row("2026-W49", 1, 10, false, false, false),
            // W44 (Thursday 29 October) belongs to October.
            row("2026-W44", 1, 10, false, true, false),
        ]
    }

    #[test]
    fn county_month_by_hand() {
        let f = figures(&rows(), nov(), Scope::County);
        // Expected: W45 3, W46 2 (2 on leave), W48 3 (person 1 once) = 8.
        // On time: W45 1, W46 1 + 3, W48 1 = 4. Late: W45 2, W48 3 = 2. Missing: W45 3, W48 2 = 2.
        assert_eq!(
            f,
            WeeklyFigures { weeks: 3, expected: 8, submitted: 6, on_time: 4, late: 2, missing: 2, excluded: 1 }
        );
        assert_eq!(f.on_time_rate().percent_text(), "50.0%");
        assert_eq!(f.submit_rate().percent_text(), "75.0%");
    }

    #[test]
    fn zone_and_inspector_by_hand() {
        let z = figures(&rows(), nov(), Scope::Zone(10));
        // Zone 10: W45 1 on time, 2 late; W46 1 on time, 2 excluded; W48 1 on time, 2 missing.
        assert_eq!((z.expected, z.on_time, z.late, z.missing, z.excluded), (5, 3, 1, 1, 1));
        assert_eq!(z.on_time_rate().percent_text(), "60.0%");
        let p = figures(&rows(), nov(), Scope::Inspector(3));
        assert_eq!((p.expected, p.on_time, p.late, p.missing), (3, 1, 1, 1));
        assert_eq!(p.on_time_rate().percent_text(), "33.3%");
        let per = per_person(&rows(), nov(), Scope::Zone(10));
        assert_eq!(per.keys().copied().collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!((per[&1].expected, per[&1].on_time), (3, 3));
        assert_eq!((per[&2].expected, per[&2].late, per[&2].missing, per[&2].excluded), (2, 1, 1, 1));
    }

    #[test]
    fn per_zone_by_hand() {
        let z = per_zone(&rows(), nov(), Scope::County);
        assert_eq!(z.keys().copied().collect::<Vec<_>>(), vec![Some(10), Some(20)]);
        // Zone 10 as in `zone_and_inspector_by_hand`; zone 20: person 3's W45 missing, W46 on
        // time, W48 late.
        assert_eq!((z[&Some(10)].expected, z[&Some(10)].on_time), (5, 3));
        assert_eq!(z[&Some(10)].on_time_rate().percent_text(), "60.0%");
        assert_eq!(
            (z[&Some(20)].expected, z[&Some(20)].on_time, z[&Some(20)].late, z[&Some(20)].missing),
            (3, 1, 1, 1)
        );
        // The zones add up to the county.
        let county = figures(&rows(), nov(), Scope::County);
        assert_eq!(z.values().map(|f| f.expected).sum::<u32>(), county.expected);
        // Someone without a zone is grouped under `None`.
        let mut r = rows();
        r.push(WeeklyRow { zone_id: None, ..row("2026-W46", 4, 0, false, true, false) });
        assert_eq!(per_zone(&r, nov(), Scope::County)[&None].on_time, 1);
    }

    #[test]
    fn trend_has_every_week_of_the_period() {
        let t = trend(&rows(), nov(), Scope::County);
        let labels: Vec<&str> = t.iter().map(|(w, _)| w.as_str()).collect();
        assert_eq!(labels, vec!["2026-W45", "2026-W46", "2026-W47", "2026-W48"]);
        assert_eq!((t[0].1.expected, t[0].1.on_time), (3, 1));
        assert_eq!((t[1].1.expected, t[1].1.on_time), (2, 2));
        assert_eq!(t[1].1.on_time_rate().percent_text(), "100.0%");
        // The week without a round: nothing expected, no rate.
        assert_eq!(t[2].1, WeeklyFigures::default());
        assert_eq!(t[2].1.on_time_rate().percent_text(), "—");
        assert_eq!((t[3].1.expected, t[3].1.on_time, t[3].1.late, t[3].1.missing), (3, 1, 1, 1));
    }

    #[test]
    fn a_month_with_no_reports() {
        // December: only W49, where person 1 did not report.
        let dec = Period::month(2026, 12).unwrap();
        let f = figures(&rows(), dec, Scope::County);
        assert_eq!((f.weeks, f.expected, f.submitted, f.missing), (1, 1, 0, 1));
        assert_eq!(f.on_time_rate().percent_text(), "0.0%");
        // A month without any round: all zero, no division by zero.
        let jan = Period::month(2027, 1).unwrap();
        let f = figures(&rows(), jan, Scope::County);
        assert_eq!(f, WeeklyFigures::default());
        assert_eq!(f.on_time_rate().permille(), None);
        assert!(trend(&rows(), jan, Scope::County).iter().all(|(_, f)| f.expected == 0));
        // A bad label is no week.
        let bad = vec![row("第48周", 1, 10, false, true, false)];
        assert_eq!(figures(&bad, nov(), Scope::County), WeeklyFigures::default());
    }
}
