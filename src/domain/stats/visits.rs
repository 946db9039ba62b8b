//! Visits (督导纪实): count against the quota, schools covered, schools not visited, lessons
//! observed, the method and kind mix, themed visits. The same rules as the month figures
//! (`domain::monthly::month_figures`): a visit counts in the zone of the school visited, an
//! inspector in their own zone, and the quota is inspectors held to it × the monthly quota.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;

use super::{Period, Rate, Scope};
use crate::domain::report_parse::VisitMethod;
use crate::domain::visit_parse::VisitKind;

/// A submitted visit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitRow {
    pub id: i64,
    pub person_id: i64,
    pub school_id: i64,
    /// The zone of the school visited.
    pub zone_id: i64,
    pub date: NaiveDate,
    pub kind: VisitKind,
    pub themed: bool,
    /// Methods as recorded; the count of a lesson observation is the lessons observed.
    pub methods: Vec<(VisitMethod, u32)>,
}

/// An active school and the inspectors responsible for it (recused ones not listed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchoolRow {
    pub id: i64,
    pub zone_id: i64,
    pub inspectors: Vec<i64>,
}

/// An active inspector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InspectorRow {
    pub id: i64,
    pub zone_id: Option<i64>,
    /// Held to the monthly quota (exempt 特约督学 are not, when the settings say so).
    pub counted: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VisitFigures {
    pub visits: u32,
    /// Inspectors held to the quota × the monthly quota × months the period touches.
    pub quota: u32,
    pub schools_assigned: u32,
    pub schools_covered: u32,
    /// Schools in scope without a visit in the period, by id.
    pub not_visited: Vec<i64>,
    pub lessons_observed: u32,
    /// Visits that used each method.
    pub by_method: BTreeMap<VisitMethod, u32>,
    pub by_kind: BTreeMap<VisitKind, u32>,
    pub themed: u32,
}

impl VisitFigures {
    /// Visits out of the quota (may exceed 100%).
    pub fn quota_rate(&self) -> Rate {
        Rate::new(u64::from(self.visits), u64::from(self.quota))
    }

    /// Schools covered out of those in scope.
    pub fn coverage(&self) -> Rate {
        Rate::new(u64::from(self.schools_covered), u64::from(self.schools_assigned))
    }

    /// Themed visits out of all visits.
    pub fn themed_rate(&self) -> Rate {
        Rate::new(u64::from(self.themed), u64::from(self.visits))
    }
}

/// Figures of the visits dated in `period`. For an inspector: their own visits, against the
/// schools they are responsible for; for a zone: every visit to its schools.
pub fn figures(
    visits: &[VisitRow],
    schools: &[SchoolRow],
    inspectors: &[InspectorRow],
    per_inspector_per_month: u32,
    period: Period,
    scope: Scope,
) -> VisitFigures {
    let vs: Vec<&VisitRow> = visits
        .iter()
        .filter(|v| period.contains(v.date))
        .filter(|v| match scope {
            Scope::County => true,
            Scope::Zone(z) => v.zone_id == z,
            Scope::Inspector(p) => v.person_id == p,
        })
        .collect();
    let held = inspectors
        .iter()
        .filter(|i| i.counted)
        .filter(|i| match scope {
            Scope::County => true,
            Scope::Zone(z) => i.zone_id == Some(z),
            Scope::Inspector(p) => i.id == p,
        })
        .count() as u32;
    let in_scope: Vec<i64> = schools
        .iter()
        .filter(|s| match scope {
            Scope::County => true,
            Scope::Zone(z) => s.zone_id == z,
            Scope::Inspector(p) => s.inspectors.contains(&p),
        })
        .map(|s| s.id)
        .collect();
    let visited: BTreeSet<i64> = vs.iter().map(|v| v.school_id).collect();
    let mut f = VisitFigures {
        visits: vs.len() as u32,
        quota: held.saturating_mul(per_inspector_per_month).saturating_mul(period.months_touched()),
        schools_assigned: in_scope.len() as u32,
        ..VisitFigures::default()
    };
    for s in in_scope {
        if visited.contains(&s) {
            f.schools_covered += 1;
        } else {
            f.not_visited.push(s);
        }
    }
    for v in vs {
        f.themed += u32::from(v.themed);
        *f.by_kind.entry(v.kind).or_insert(0) += 1;
        let used: BTreeSet<VisitMethod> = v.methods.iter().map(|(m, _)| *m).collect();
        for m in used {
            *f.by_method.entry(m).or_insert(0) += 1;
        }
        f.lessons_observed = f.lessons_observed.saturating_add(
            v.methods.iter().filter(|(m, _)| *m == VisitMethod::LessonObservation).map(|(_, n)| *n).sum(),
        );
    }
    f
}

/// Per inspector held to the quota (or not) in scope: their own figures.
pub fn per_inspector(
    visits: &[VisitRow],
    schools: &[SchoolRow],
    inspectors: &[InspectorRow],
    per_inspector_per_month: u32,
    period: Period,
    zone: Option<i64>,
) -> BTreeMap<i64, VisitFigures> {
    inspectors
        .iter()
        .filter(|i| zone.is_none() || i.zone_id == zone)
        .map(|i| (i.id, figures(visits, schools, inspectors, per_inspector_per_month, period, Scope::Inspector(i.id))))
        .collect()
}

/// Each inspector's visits in `period` and quota, for those in `zone` (all when `None`): the
/// `visits` and `quota` of [`per_inspector`] in one pass over the visits, for lists over many
/// inspectors (who met the quota) where the per-school figures are not needed.
pub fn quota_by_inspector(
    visits: &[VisitRow],
    inspectors: &[InspectorRow],
    per_inspector_per_month: u32,
    period: Period,
    zone: Option<i64>,
) -> BTreeMap<i64, (u32, u32)> {
    let quota = per_inspector_per_month.saturating_mul(period.months_touched());
    let mut out: BTreeMap<i64, (u32, u32)> = inspectors
        .iter()
        .filter(|i| zone.is_none() || i.zone_id == zone)
        .map(|i| (i.id, (0, if i.counted { quota } else { 0 })))
        .collect();
    for v in visits.iter().filter(|v| period.contains(v.date)) {
        if let Some((n, _)) = out.get_mut(&v.person_id) {
            *n += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use VisitMethod::*;

    fn d(m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, m, day).unwrap()
    }

    #[allow(clippy::too_many_arguments)]
    fn visit(
        id: i64,
        person: i64,
        school: i64,
        zone: i64,
        date: NaiveDate,
        kind: VisitKind,
        themed: bool,
        methods: Vec<(VisitMethod, u32)>,
    ) -> VisitRow {
        VisitRow { id, person_id: person, school_id: school, zone_id: zone, date, kind, themed, methods }
    }

    /// Zone 10: schools 101, 102, 103 (103 has no inspector); zone 20: school 201.
    /// Inspectors 1, 2 in zone 10, 3 (特约, not held to the quota) in zone 20.
    fn fixture() -> (Vec<VisitRow>, Vec<SchoolRow>, Vec<InspectorRow>) {
        let schools = vec![
            SchoolRow { id: 101, zone_id: 10, inspectors: vec![1] },
            SchoolRow { id: 102, zone_id: 10, inspectors: vec![1, 2] },
            SchoolRow { id: 103, zone_id: 10, inspectors: vec![] },
            SchoolRow { id: 201, zone_id: 20, inspectors: vec![3] },
        ];
        let inspectors = vec![
            InspectorRow { id: 1, zone_id: Some(10), counted: true },
            InspectorRow { id: 2, zone_id: Some(10), counted: true },
            InspectorRow { id: 3, zone_id: Some(20), counted: false },
        ];
        let visits = vec![
            visit(1, 1, 101, 10, d(11, 2), VisitKind::Special, true, vec![(LessonObservation, 2), (DocumentReview, 1)]),
            visit(2, 1, 101, 10, d(11, 5), VisitKind::Routine, false, vec![(DocumentReview, 1), (Discussion, 1)]),
            visit(3, 2, 102, 10, d(11, 10), VisitKind::Routine, true, vec![(LessonObservation, 3)]),
            // Inspector 3 visits a school of zone 10: it counts in zone 10.
            visit(4, 3, 102, 10, d(11, 20), VisitKind::Unannounced, false, vec![(CampusWalk, 1)]),
            // October: outside November.
            visit(5, 1, 102, 10, d(10, 30), VisitKind::Routine, false, vec![(LessonObservation, 1)]),
        ];
        (visits, schools, inspectors)
    }

    #[test]
    fn county_month_by_hand() {
        let (v, s, i) = fixture();
        let f = figures(&v, &s, &i, 4, Period::month(2026, 11).unwrap(), Scope::County);
        // Visits 1–4; quota 2 counted inspectors × 4; schools 101, 102 of 4 covered.
        assert_eq!((f.visits, f.quota, f.schools_assigned, f.schools_covered), (4, 8, 4, 2));
        assert_eq!(f.not_visited, vec![103, 201]);
        assert_eq!(f.lessons_observed, 5);
        assert_eq!(f.themed, 2);
        assert_eq!(
            f.by_method,
            BTreeMap::from([(LessonObservation, 2), (DocumentReview, 2), (Discussion, 1), (CampusWalk, 1)])
        );
        assert_eq!(
            f.by_kind,
            BTreeMap::from([(VisitKind::Routine, 2), (VisitKind::Special, 1), (VisitKind::Unannounced, 1)])
        );
        assert_eq!(f.quota_rate().percent_text(), "50.0%");
        assert_eq!(f.coverage().percent_text(), "50.0%");
        assert_eq!(f.themed_rate().percent_text(), "50.0%");
    }

    #[test]
    fn zones_inspectors_and_a_school_with_no_inspector() {
        let (v, s, i) = fixture();
        let nov = Period::month(2026, 11).unwrap();
        let z10 = figures(&v, &s, &i, 4, nov, Scope::Zone(10));
        // All four visits are to zone 10's schools; 103 (no inspector) is still the zone's.
        assert_eq!((z10.visits, z10.quota, z10.schools_assigned, z10.schools_covered), (4, 8, 3, 2));
        assert_eq!(z10.not_visited, vec![103]);
        assert_eq!(z10.coverage().percent_text(), "66.7%");
        let z20 = figures(&v, &s, &i, 4, nov, Scope::Zone(20));
        // No counted inspector: no quota, no rate.
        assert_eq!((z20.visits, z20.quota, z20.schools_assigned, z20.schools_covered), (0, 0, 1, 0));
        assert_eq!(z20.quota_rate().percent_text(), "—");
        assert_eq!(z20.themed_rate().percent_text(), "—");

        let per = per_inspector(&v, &s, &i, 4, nov, None);
        // Inspector 1: visits 1, 2 to school 101; responsible for 101, 102.
        let p1 = &per[&1];
        assert_eq!((p1.visits, p1.quota, p1.schools_assigned, p1.schools_covered), (2, 4, 2, 1));
        assert_eq!(p1.not_visited, vec![102]);
        assert_eq!((p1.lessons_observed, p1.themed), (2, 1));
        // Inspector 2: one visit to 102, which is theirs.
        let p2 = &per[&2];
        assert_eq!((p2.visits, p2.schools_assigned, p2.schools_covered), (1, 1, 1));
        assert_eq!(p2.quota_rate().percent_text(), "25.0%");
        // Inspector 3: a visit outside their own schools covers none of them; no quota.
        let p3 = &per[&3];
        assert_eq!((p3.visits, p3.quota, p3.schools_assigned, p3.schools_covered), (1, 0, 1, 0));
        // 103 is nobody's: no inspector's figures list it.
        assert!(per.values().all(|f| !f.not_visited.contains(&103)));
        assert_eq!(per_inspector(&v, &s, &i, 4, nov, Some(20)).len(), 1);

        // The one-pass figures agree: (visits, quota) per inspector.
        let q = quota_by_inspector(&v, &i, 4, nov, None);
        assert_eq!(q, BTreeMap::from([(1, (2, 4)), (2, (1, 4)), (3, (1, 0))]));
        for (p, f) in &per {
            assert_eq!(q[p], (f.visits, f.quota), "inspector {p}");
        }
        assert_eq!(quota_by_inspector(&v, &i, 4, nov, Some(10)).len(), 2);
        // October and November: two months of quota, visit 5 counts.
        let both = Period::new(d(10, 1), d(11, 30)).unwrap();
        assert_eq!(quota_by_inspector(&v, &i, 4, both, Some(10))[&1], (3, 8));
    }

    #[test]
    fn longer_periods_scale_the_quota() {
        let (v, s, i) = fixture();
        // October and November: 2 months × 2 inspectors × 4; visit 5 now counts.
        let p = Period::new(d(10, 1), d(11, 30)).unwrap();
        let f = figures(&v, &s, &i, 4, p, Scope::County);
        assert_eq!((f.visits, f.quota, f.lessons_observed), (5, 16, 6));
        // A week inside November carries the month's quota.
        let w = Period::week_of(d(11, 4));
        let f = figures(&v, &s, &i, 4, w, Scope::County);
        assert_eq!((f.visits, f.quota), (2, 8));
        // Nothing at all: zero, no rates.
        let f = figures(&[], &[], &[], 4, w, Scope::County);
        assert_eq!(f, VisitFigures::default());
        assert_eq!(f.coverage().permille(), None);
    }
}
