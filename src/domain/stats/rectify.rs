//! Rectification (整改): items by category × severity × source, the rectification rate, the
//! on-time rate, days to close, the overdue list, reopened items and escalations by level.
//!
//! An item's state on a given day is rebuilt from its events, so a month's figures stay what
//! they were at the month's end even after the item is reopened (回头看) later. The rules agree
//! with the ledger (`整改台账`): the rate is closed ÷ (closed + open), cancelled items left out;
//! overdue counts only while the school owes the work (`domain::rectify::overdue_days`); a
//! closure is on time when it is on or before the deadline then in force, an on-site closure
//! always.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::NaiveDate;

use super::{mean_tenths, median_tenths, Period, Rate, Scope};
use crate::domain::rectify::{overdue_days, Severity, Source, Status};

/// One event of an item, in the order recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    /// Local date of the event.
    pub date: NaiveDate,
    /// `domain::rectify::Action::as_str`, or "created".
    pub action: String,
    pub to_status: Status,
    /// The deadline after the event.
    pub deadline: Option<NaiveDate>,
}

/// An item with its events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemRow {
    pub id: i64,
    pub school_id: i64,
    pub zone_id: i64,
    /// The school's responsible inspectors (none for a school without one).
    pub inspectors: Vec<i64>,
    pub category: u8,
    pub severity: Severity,
    pub source: Source,
    /// Local date recorded.
    pub created: NaiveDate,
    /// Current status and deadline: used only for an item without events.
    pub status: Status,
    pub deadline: NaiveDate,
    pub events: Vec<EventRow>,
}

/// One escalation step sent for an item (the once-ledger's `L0:…`, `L1`, `L2`, `L3`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscalationRow {
    pub item_id: i64,
    /// 0 reminder, 1 inspector follow-up, 2 督导通报 list, 3 约谈 list.
    pub level: u8,
    pub date: NaiveDate,
}

/// The level of an escalation key ("L0:2026-12-02:1" → 0, "L3" → 3).
pub fn escalation_level(key: &str) -> Option<u8> {
    let rest = key.strip_prefix('L')?;
    rest.split(':').next()?.parse().ok()
}

/// An open item past its deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overdue {
    pub item_id: i64,
    pub school_id: i64,
    /// Days past the deadline on the day the figures are taken.
    pub days: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RectifyFigures {
    /// Items recorded in the period.
    pub recorded: u32,
    /// (category, severity, source) → items recorded in the period.
    pub by_cell: BTreeMap<(u8, Severity, &'static str), u32>,
    /// Of the items recorded in the period, their state on the day the figures are taken.
    pub open: u32,
    pub closed: u32,
    pub cancelled: u32,
    /// Closures (销号) in the period, of items recorded at any time.
    pub closures: u32,
    pub closed_on_time: u32,
    /// Closures in the period verified before the deadline then in force (提前完成), on-site
    /// closures left out: they never had a deadline to beat.
    pub closed_early: u32,
    /// Days from recording to each closure in the period.
    pub days_to_close: Vec<u64>,
    /// Items open and overdue on the day the figures are taken, longest overdue first.
    pub overdue: Vec<Overdue>,
    /// Reopenings (回头看) in the period, and the items reopened.
    pub reopened: u32,
    pub reopened_items: u32,
    /// Escalation level → steps sent in the period.
    pub escalations: BTreeMap<u8, u32>,
}

impl RectifyFigures {
    /// 整改率: closed ÷ (closed + open) of the items recorded in the period.
    pub fn rate(&self) -> Rate {
        Rate::new(u64::from(self.closed), u64::from(self.closed + self.open))
    }

    /// Closures in the period on or before their deadline.
    pub fn on_time_rate(&self) -> Rate {
        Rate::new(u64::from(self.closed_on_time), u64::from(self.closures))
    }

    pub fn mean_days_tenths(&self) -> Option<u64> {
        mean_tenths(&self.days_to_close)
    }

    pub fn median_days_tenths(&self) -> Option<u64> {
        median_tenths(&self.days_to_close)
    }

    /// 约谈 (level 3) in the period.
    pub fn interviews(&self) -> u32 {
        self.escalations.get(&3).copied().unwrap_or(0)
    }

    /// Category → items recorded in the period.
    pub fn by_category(&self) -> BTreeMap<u8, u32> {
        let mut out = BTreeMap::new();
        for ((c, _, _), n) in &self.by_cell {
            *out.entry(*c).or_insert(0) += n;
        }
        out
    }
}

/// The item's status and deadline at the end of `day`; `None` before it was recorded.
pub fn state_on(item: &ItemRow, day: NaiveDate) -> Option<(Status, NaiveDate)> {
    if item.created > day {
        return None;
    }
    if item.events.is_empty() {
        return Some((item.status, item.deadline));
    }
    let mut state: Option<(Status, NaiveDate)> = None;
    for e in item.events.iter().filter(|e| e.date <= day) {
        let deadline = e.deadline.or(state.map(|(_, d)| d)).unwrap_or(item.deadline);
        state = Some((e.to_status, deadline));
    }
    Some(state.unwrap_or((Status::Identified, item.deadline)))
}

/// An item's events as they are read (in the order recorded), with the run of events dated
/// before `cut` that comes ahead of every later one folded into a single event: the last of
/// them, carrying the last deadline any of them set.
///
/// The figures never look at an event before `cut` one by one when `cut` is at most the
/// period's first day and at most the day the figures are taken: they only need the state it
/// leaves (`state_on` on a day on or after `cut`), and that state is the folded event's. So
/// the rows read for a month need not hold an old item's whole history.
#[derive(Debug)]
pub struct Folding {
    cut: NaiveDate,
    head: Option<EventRow>,
    events: Vec<EventRow>,
}

impl Folding {
    pub fn new(cut: NaiveDate) -> Self {
        Folding { cut, head: None, events: Vec::new() }
    }

    /// The next event of the item.
    pub fn push(&mut self, date: NaiveDate, action: &str, to_status: Status, deadline: Option<NaiveDate>) {
        if date < self.cut && self.events.is_empty() {
            match &mut self.head {
                Some(h) => {
                    h.date = date;
                    if h.action != action {
                        action.clone_into(&mut h.action);
                    }
                    h.to_status = to_status;
                    if deadline.is_some() {
                        h.deadline = deadline;
                    }
                }
                None => self.head = Some(EventRow { date, action: action.to_owned(), to_status, deadline }),
            }
            return;
        }
        if let Some(h) = self.head.take() {
            self.events.push(h);
        }
        self.events.push(EventRow { date, action: action.to_owned(), to_status, deadline });
    }

    /// The item's events, folded.
    pub fn finish(mut self) -> Vec<EventRow> {
        if let Some(h) = self.head.take() {
            self.events.push(h);
        }
        self.events
    }

    /// `events` folded before `cut`.
    pub fn fold(events: &[EventRow], cut: NaiveDate) -> Vec<EventRow> {
        let mut f = Folding::new(cut);
        for e in events {
            f.push(e.date, &e.action, e.to_status, e.deadline);
        }
        f.finish()
    }
}

/// The first day whose events the figures of `period` taken on `today` read one by one (see
/// [`Folding`]).
pub fn fold_cut(period: Period, today: NaiveDate) -> NaiveDate {
    period.from.min(today)
}

fn in_scope(item: &ItemRow, scope: Scope) -> bool {
    match scope {
        Scope::County => true,
        Scope::Zone(z) => item.zone_id == z,
        Scope::Inspector(p) => item.inspectors.contains(&p),
    }
}

/// Figures of `period` in `scope`, taken on the period's last day or `today`, whichever is
/// earlier (a month still running is not judged on days to come).
pub fn figures(
    items: &[ItemRow],
    escalations: &[EscalationRow],
    period: Period,
    scope: Scope,
    today: NaiveDate,
) -> RectifyFigures {
    let as_of = period.to.min(today);
    let mut f = RectifyFigures::default();
    let mut reopened = BTreeSet::new();
    let mut ids = HashSet::new();
    for it in items.iter().filter(|it| in_scope(it, scope)) {
        ids.insert(it.id);
        let state = state_on(it, as_of);
        if period.contains(it.created) && it.created <= as_of {
            f.recorded += 1;
            *f.by_cell.entry((it.category, it.severity, it.source.as_str())).or_insert(0) += 1;
            match state.map(|(s, _)| s) {
                Some(Status::Closed) => f.closed += 1,
                Some(Status::Cancelled) => f.cancelled += 1,
                Some(_) => f.open += 1,
                None => {}
            }
        }
        if let Some((status, deadline)) = state {
            let days = overdue_days(status, deadline, as_of);
            if days > 0 {
                f.overdue.push(Overdue { item_id: it.id, school_id: it.school_id, days });
            }
        }
        for e in it.events.iter().filter(|e| period.contains(e.date) && e.date <= as_of) {
            match e.action.as_str() {
                "closed" | "closed_on_site" => {
                    f.closures += 1;
                    let deadline = e.deadline.unwrap_or(it.deadline);
                    if e.action == "closed_on_site" || e.date <= deadline {
                        f.closed_on_time += 1;
                    }
                    if e.action == "closed" && e.date < deadline {
                        f.closed_early += 1;
                    }
                    f.days_to_close.push(u64::try_from((e.date - it.created).num_days()).unwrap_or(0));
                }
                "reopened" => {
                    f.reopened += 1;
                    reopened.insert(it.id);
                }
                _ => {}
            }
        }
    }
    f.reopened_items = reopened.len() as u32;
    f.overdue.sort_by(|a, b| b.days.cmp(&a.days).then(a.item_id.cmp(&b.item_id)));
    for e in escalations.iter().filter(|e| period.contains(e.date) && e.date <= as_of) {
        if ids.contains(&e.item_id) {
            *f.escalations.entry(e.level).or_insert(0) += 1;
        }
    }
    f
}

/// The figures of each calendar month of `period` (cut to it), in order: the trend of the
/// rectification rate, each month's items counted in their state at that month's end.
pub fn monthly(
    items: &[ItemRow],
    escalations: &[EscalationRow],
    period: Period,
    scope: Scope,
    today: NaiveDate,
) -> Vec<(Period, RectifyFigures)> {
    period.months().into_iter().map(|m| (m, figures(items, escalations, m, scope, today))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, m, day).unwrap()
    }

    fn ev(date: NaiveDate, action: &str, to: Status, deadline: NaiveDate) -> EventRow {
        EventRow { date, action: action.into(), to_status: to, deadline: Some(deadline) }
    }

    #[allow(clippy::too_many_arguments)]
    fn item(
        id: i64,
        school: i64,
        zone: i64,
        inspectors: Vec<i64>,
        category: u8,
        severity: Severity,
        source: Source,
        events: Vec<EventRow>,
    ) -> ItemRow {
        let last = events.last().cloned().expect("events");
        ItemRow {
            id,
            school_id: school,
            zone_id: zone,
            inspectors,
            category,
            severity,
            source,
            created: events[0].date,
            status: last.to_status,
            deadline: last.deadline.expect("deadline"),
            events,
        }
    }

    /// Zone 10: school 101 (inspector 1), school 102 (no inspector); zone 20: school 201
    /// (inspector 2).
    fn fixture() -> (Vec<ItemRow>, Vec<EscalationRow>) {
        use Severity::*;
        use Status::*;
        let items = vec![
            // Recorded 12 Oct, closed on time 20 Oct, reopened 3 Nov, extended to 30 Nov, closed
            // late 2 Dec.
            item(
                1,
                101,
                10,
                vec![1],
                6,
                General,
                Source::Visit,
                vec![
                    ev(d(10, 12), "created", Notified, d(10, 21)),
                    ev(d(10, 20), "closed", Closed, d(10, 21)),
                    ev(d(11, 3), "reopened", InProgress, d(10, 21)),
                    ev(d(11, 4), "extended", InProgress, d(11, 30)),
                    ev(d(12, 2), "closed", Closed, d(11, 30)),
                ],
            ),
            // Recorded 2 Nov, acknowledged, never done: overdue since 10 Nov.
            item(
                2,
                101,
                10,
                vec![1],
                7,
                Serious,
                Source::Complaint,
                vec![
                    ev(d(11, 2), "created", Notified, d(11, 10)),
                    ev(d(11, 3), "acknowledged", Acknowledged, d(11, 10)),
                ],
            ),
            // A school with no inspector: fixed on site.
            item(
                3,
                102,
                10,
                vec![],
                1,
                Minor,
                Source::Direct,
                vec![ev(d(11, 5), "created", Closed, d(11, 5)), ev(d(11, 5), "closed_on_site", Closed, d(11, 5))],
            ),
            // Closed two days late.
            item(
                4,
                201,
                20,
                vec![2],
                6,
                General,
                Source::SelfCheck,
                vec![
                    ev(d(11, 6), "created", Notified, d(11, 16)),
                    ev(d(11, 17), "submitted", Submitted, d(11, 16)),
                    ev(d(11, 18), "closed", Closed, d(11, 16)),
                ],
            ),
            // Cancelled.
            item(
                5,
                201,
                20,
                vec![2],
                6,
                General,
                Source::Visit,
                vec![ev(d(11, 20), "created", Notified, d(11, 30)), ev(d(11, 21), "cancelled", Cancelled, d(11, 30))],
            ),
            // Never notified (nobody listed at the school): past its deadline, yet not overdue.
            item(6, 102, 10, vec![], 9, Serious, Source::Visit, vec![ev(d(11, 25), "created", Identified, d(11, 27))]),
        ];
        let esc = vec![
            EscalationRow { item_id: 1, level: 1, date: d(10, 25) },
            EscalationRow { item_id: 2, level: 0, date: d(11, 8) },
            EscalationRow { item_id: 2, level: 1, date: d(11, 13) },
            EscalationRow { item_id: 2, level: 2, date: d(11, 20) },
            EscalationRow { item_id: 2, level: 3, date: d(11, 27) },
        ];
        (items, esc)
    }

    fn month(m: u32) -> Period {
        Period::month(2026, m).unwrap()
    }

    #[test]
    fn county_november_by_hand() {
        let (items, esc) = fixture();
        let f = figures(&items, &esc, month(11), Scope::County, d(12, 10));
        // Recorded in November: items 2–6.
        assert_eq!(f.recorded, 5);
        assert_eq!(
            f.by_cell,
            BTreeMap::from([
                ((1, Severity::Minor, "direct"), 1),
                ((6, Severity::General, "self_check"), 1),
                ((6, Severity::General, "visit"), 1),
                ((7, Severity::Serious, "complaint"), 1),
                ((9, Severity::Serious, "visit"), 1),
            ])
        );
        assert_eq!(f.by_category(), BTreeMap::from([(1, 1), (6, 2), (7, 1), (9, 1)]));
        // On 30 Nov: 2 and 6 open, 3 and 4 closed, 5 cancelled → 2 / 4.
        assert_eq!((f.open, f.closed, f.cancelled), (2, 2, 1));
        assert_eq!(f.rate().percent_text(), "50.0%");
        // Closures in November: item 3 on site (0 days, on time), item 4 (12 days, late).
        assert_eq!((f.closures, f.closed_on_time), (2, 1));
        // Neither beat its deadline: the on-site one had none to beat, item 4 was late.
        assert_eq!(f.closed_early, 0);
        assert_eq!(f.on_time_rate().percent_text(), "50.0%");
        assert_eq!((f.mean_days_tenths(), f.median_days_tenths()), (Some(60), Some(60)));
        // On 30 Nov item 1 is due that very day (not overdue); item 2 is 20 days past 10 Nov;
        // item 6 was never notified.
        assert_eq!(f.overdue, vec![Overdue { item_id: 2, school_id: 101, days: 20 }]);
        assert_eq!((f.reopened, f.reopened_items), (1, 1));
        assert_eq!(f.escalations, BTreeMap::from([(0, 1), (1, 1), (2, 1), (3, 1)]));
        assert_eq!(f.interviews(), 1);
    }

    #[test]
    fn items_reopened_across_months() {
        let (items, esc) = fixture();
        // October: item 1 recorded and closed on time in 8 days; the month stays closed even
        // though the item was reopened in November.
        let oct = figures(&items, &esc, month(10), Scope::County, d(12, 10));
        assert_eq!((oct.recorded, oct.open, oct.closed), (1, 0, 1));
        assert_eq!(oct.rate().percent_text(), "100.0%");
        assert_eq!((oct.closures, oct.closed_on_time, oct.days_to_close.clone()), (1, 1, vec![8]));
        // Closed on 20 Oct, a day before its deadline of the 21st.
        assert_eq!(oct.closed_early, 1);
        assert_eq!(oct.mean_days_tenths(), Some(80));
        assert!(oct.overdue.is_empty());
        assert_eq!((oct.reopened, oct.escalations.clone()), (0, BTreeMap::from([(1, 1)])));
        assert_eq!(oct.interviews(), 0);

        // October and November together: item 1 is open again on 30 Nov.
        let both = Period::new(d(10, 1), d(11, 30)).unwrap();
        let f = figures(&items, &esc, both, Scope::County, d(12, 10));
        assert_eq!((f.recorded, f.open, f.closed, f.cancelled), (6, 3, 2, 1));
        assert_eq!(f.rate().percent_text(), "40.0%");
        // Closures: item 1 (8 days, on time), 3 (0, on time), 4 (12, late).
        assert_eq!((f.closures, f.closed_on_time), (3, 2));
        assert_eq!(f.on_time_rate().percent_text(), "66.7%");
        // (8 + 0 + 12) / 3 = 6.67 → 6.7; median 8.
        assert_eq!((f.mean_days_tenths(), f.median_days_tenths()), (Some(67), Some(80)));

        // December, taken on 10 Dec: item 1 closed again, 51 days after it was recorded and
        // after its extended deadline; item 2 now 30 days overdue; nothing recorded.
        let dec = figures(&items, &esc, month(12), Scope::County, d(12, 10));
        assert_eq!((dec.recorded, dec.open, dec.closed), (0, 0, 0));
        assert_eq!(dec.rate().percent_text(), "—");
        assert_eq!((dec.closures, dec.closed_on_time, dec.days_to_close.clone()), (1, 0, vec![51]));
        assert_eq!(dec.on_time_rate().percent_text(), "0.0%");
        assert_eq!(dec.overdue, vec![Overdue { item_id: 2, school_id: 101, days: 30 }]);
        // Taken on 1 Dec, the closure of 2 Dec has not happened yet.
        let early = figures(&items, &esc, month(12), Scope::County, d(12, 1));
        assert_eq!(early.closures, 0);
        assert_eq!(early.overdue.iter().map(|o| (o.item_id, o.days)).collect::<Vec<_>>(), vec![(2, 21), (1, 1)]);
    }

    #[test]
    fn the_monthly_trend() {
        let (items, esc) = fixture();
        let t = monthly(&items, &esc, Period::new(d(10, 1), d(12, 31)).unwrap(), Scope::County, d(12, 10));
        let months: Vec<NaiveDate> = t.iter().map(|(m, _)| m.from).collect();
        assert_eq!(months, vec![d(10, 1), d(11, 1), d(12, 1)]);
        // October: item 1 recorded and closed by the 31st (its reopening is November's).
        assert_eq!((t[0].1.recorded, t[0].1.closed, t[0].1.open), (1, 1, 0));
        assert_eq!(t[0].1.rate().percent_text(), "100.0%");
        // November: items 2–6; 3 and 4 closed, 2 and 6 open, 5 cancelled → 2 / 4.
        assert_eq!((t[1].1.recorded, t[1].1.closed, t[1].1.open), (5, 2, 2));
        assert_eq!(t[1].1.rate().percent_text(), "50.0%");
        // December: nothing recorded, no rate; item 1's second closure is December's.
        assert_eq!((t[2].1.recorded, t[2].1.closures), (0, 1));
        assert_eq!(t[2].1.rate().percent_text(), "—");
        // A zone's trend: zone 20 had nothing in October.
        let z = monthly(&items, &esc, Period::new(d(10, 1), d(11, 30)).unwrap(), Scope::Zone(20), d(12, 10));
        assert_eq!(z.iter().map(|(_, f)| f.recorded).collect::<Vec<_>>(), vec![0, 2]);
    }

    #[test]
    fn zones_inspectors_and_a_school_with_no_inspector() {
        let (items, esc) = fixture();
        let today = d(12, 10);
        let z10 = figures(&items, &esc, month(11), Scope::Zone(10), today);
        // Recorded in zone 10 in November: 2 (open), 3 (closed), 6 (open).
        assert_eq!((z10.recorded, z10.open, z10.closed), (3, 2, 1));
        assert_eq!(z10.rate().percent_text(), "33.3%");
        assert_eq!((z10.closures, z10.closed_on_time), (1, 1));
        assert_eq!((z10.reopened, z10.escalations.values().sum::<u32>()), (1, 4));
        let z20 = figures(&items, &esc, month(11), Scope::Zone(20), today);
        assert_eq!((z20.recorded, z20.open, z20.closed, z20.cancelled), (2, 0, 1, 1));
        assert_eq!(z20.rate().percent_text(), "100.0%");
        assert_eq!(z20.on_time_rate().percent_text(), "0.0%");
        assert!(z20.escalations.is_empty() && z20.overdue.is_empty());

        let p1 = figures(&items, &esc, month(11), Scope::Inspector(1), today);
        assert_eq!((p1.recorded, p1.open, p1.closed), (1, 1, 0));
        assert_eq!(p1.rate().percent_text(), "0.0%");
        assert_eq!(p1.on_time_rate().percent_text(), "—");
        assert_eq!(p1.overdue.len(), 1);
        assert_eq!((p1.reopened, p1.interviews()), (1, 1));
        let p2 = figures(&items, &esc, month(11), Scope::Inspector(2), today);
        assert_eq!((p2.recorded, p2.closures), (2, 1));
        // School 102 has no inspector: its items 3 and 6 count for the zone and the county only.
        let county = figures(&items, &esc, month(11), Scope::County, today);
        assert_eq!(p1.recorded + p2.recorded + 2, county.recorded);
        assert_eq!(figures(&items, &esc, month(11), Scope::Inspector(99), today), RectifyFigures::default());
    }

    #[test]
    fn states_and_levels() {
        let (items, _) = fixture();
        assert_eq!(state_on(&items[0], d(10, 11)), None);
        assert_eq!(state_on(&items[0], d(10, 12)), Some((Status::Notified, d(10, 21))));
        assert_eq!(state_on(&items[0], d(11, 3)), Some((Status::InProgress, d(10, 21))));
        assert_eq!(state_on(&items[0], d(11, 4)), Some((Status::InProgress, d(11, 30))));
        assert_eq!(state_on(&items[0], d(12, 31)), Some((Status::Closed, d(11, 30))));
        assert_eq!(escalation_level("L0:2026-12-02:1"), Some(0));
        assert_eq!(escalation_level("L3"), Some(3));
        assert_eq!(escalation_level("remind:1"), None);
        assert_eq!(escalation_level("L"), None);
    }
}

/// The folded events give exactly the figures of the whole history (the replay stays the
/// oracle), on generated histories: reopened items, deadline changes, cancelled items, items
/// without events, events recorded out of date order, periods and days at month boundaries.
#[cfg(test)]
mod folding {
    use super::*;
    use proptest::prelude::*;

    const ACTIONS: [&str; 9] = [
        "created",
        "acknowledged",
        "submitted",
        "closed",
        "closed_on_site",
        "reopened",
        "extended",
        "returned",
        "cancelled",
    ];

    fn base() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 8, 25).unwrap()
    }

    fn day(offset: i64) -> NaiveDate {
        base() + chrono::Duration::days(offset)
    }

    type Ev = (i64, usize, usize, Option<i64>);

    fn event((offset, action, status, deadline): Ev, created: i64) -> EventRow {
        EventRow {
            // Mostly after recording, sometimes dated before an earlier row.
            date: day(created + offset),
            action: ACTIONS[action].to_string(),
            to_status: Status::ALL[status],
            deadline: deadline.map(|d| day(created + d)),
        }
    }

    fn items_strategy() -> impl Strategy<Value = Vec<ItemRow>> {
        let ev = (-3i64..80, 0usize..ACTIONS.len(), 0usize..Status::ALL.len(), proptest::option::of(0i64..60));
        let item = (0i64..150, 1i64..4, 0u8..3, 0usize..4, 0usize..8, 0i64..90, proptest::collection::vec(ev, 0..8));
        proptest::collection::vec(item, 0..25).prop_map(|raw| {
            raw.into_iter()
                .enumerate()
                .map(|(n, (created, zone, cat, sev, status, deadline, evs))| ItemRow {
                    id: n as i64 + 1,
                    school_id: zone * 100 + (n as i64 % 3),
                    zone_id: zone,
                    inspectors: if n % 3 == 2 { vec![] } else { vec![zone * 10 + (n as i64 % 2)] },
                    category: cat,
                    severity: Severity::ALL[sev],
                    source: [Source::Visit, Source::SelfCheck, Source::Complaint, Source::Direct][n % 4],
                    created: day(created),
                    status: Status::ALL[status],
                    deadline: day(created + deadline),
                    events: evs.into_iter().map(|e| event(e, created)).collect(),
                })
                .collect()
        })
    }

    fn esc_strategy() -> impl Strategy<Value = Vec<EscalationRow>> {
        proptest::collection::vec((1i64..30, 0u8..4, 0i64..200), 0..15).prop_map(|v| {
            v.into_iter().map(|(item_id, level, d)| EscalationRow { item_id, level, date: day(d) }).collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        #[test]
        fn folded_figures_are_the_replays(
            items in items_strategy(),
            esc in esc_strategy(),
            from in 0i64..200,
            len in 0i64..200,
            today in 0i64..260,
            month_start in any::<bool>(),
        ) {
            // Half the periods start on the 1st and end on a month's last day, as the pages ask.
            let (from, to) = if month_start {
                let m = Period::month_of(day(from));
                (m.from, Period::month_of(day(from + len)).to)
            } else {
                (day(from), day(from + len))
            };
            let period = Period::new(from, to).unwrap();
            let today = day(today);
            let cut = fold_cut(period, today);
            let folded: Vec<ItemRow> =
                items.iter().map(|it| ItemRow { events: Folding::fold(&it.events, cut), ..it.clone() }).collect();
            for scope in [Scope::County, Scope::Zone(1), Scope::Zone(2), Scope::Inspector(10), Scope::Inspector(21)] {
                prop_assert_eq!(
                    figures(&folded, &esc, period, scope, today),
                    figures(&items, &esc, period, scope, today)
                );
                prop_assert_eq!(
                    monthly(&folded, &esc, period, scope, today),
                    monthly(&items, &esc, period, scope, today)
                );
            }
            for (a, b) in folded.iter().zip(&items) {
                for d in [cut, period.to.min(today), today, period.to] {
                    if d >= cut {
                        prop_assert_eq!(state_on(a, d), state_on(b, d));
                    }
                }
            }
        }
    }

    #[test]
    fn folds_only_the_leading_run_before_the_cut() {
        let e = |d: i64, a: &str, s: Status, dl: Option<i64>| EventRow {
            date: day(d),
            action: a.into(),
            to_status: s,
            deadline: dl.map(day),
        };
        let events = vec![
            e(0, "created", Status::Notified, Some(10)),
            e(2, "extended", Status::Notified, Some(20)),
            e(3, "acknowledged", Status::Acknowledged, None),
            e(12, "submitted", Status::Submitted, None),
            // Recorded later with an earlier date: kept as it is, in its place.
            e(4, "returned", Status::InProgress, None),
        ];
        let folded = Folding::fold(&events, day(10));
        assert_eq!(
            folded,
            vec![e(3, "acknowledged", Status::Acknowledged, Some(20)), events[3].clone(), events[4].clone()]
        );
        // Nothing before the cut: unchanged; everything before it: one event.
        assert_eq!(Folding::fold(&events, day(0)), events);
        assert_eq!(Folding::fold(&events, day(30)), vec![e(4, "returned", Status::InProgress, Some(20))]);
        assert!(Folding::fold(&[], day(5)).is_empty());
    }
}
