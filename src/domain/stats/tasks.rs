//! Tasks (督办): assigned, acknowledged, submitted, done and overdue, per assignee. The same
//! rules as the task workflow: done is approved (已通过); overdue is past the deadline while
//! the assignee still owes something (`AssignmentState::awaits_assignee`) on an open task.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};

use super::{Period, Rate, Scope};
use crate::domain::task::AssignmentState;

/// A live (not cancelled) assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignmentRow {
    pub task_id: i64,
    pub person_id: i64,
    /// The assignee's zone.
    pub zone_id: Option<i64>,
    pub state: AssignmentState,
    /// Local date assigned.
    pub assigned: NaiveDate,
    pub acknowledged: bool,
    pub deadline: DateTime<Utc>,
    /// The task is still open (not closed or cancelled).
    pub task_open: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TaskFigures {
    pub assigned: u32,
    pub acknowledged: u32,
    /// Submitted and awaiting review.
    pub submitted: u32,
    /// Approved.
    pub done: u32,
    pub overdue: u32,
}

impl TaskFigures {
    pub fn acknowledged_rate(&self) -> Rate {
        Rate::new(u64::from(self.acknowledged), u64::from(self.assigned))
    }

    pub fn done_rate(&self) -> Rate {
        Rate::new(u64::from(self.done), u64::from(self.assigned))
    }
}

fn in_scope(a: &AssignmentRow, scope: Scope) -> bool {
    match scope {
        Scope::County => true,
        Scope::Zone(z) => a.zone_id == Some(z),
        Scope::Inspector(p) => a.person_id == p,
    }
}

fn add(f: &mut TaskFigures, a: &AssignmentRow, now: DateTime<Utc>) {
    f.assigned += 1;
    f.acknowledged += u32::from(a.acknowledged);
    f.submitted += u32::from(a.state == AssignmentState::Submitted);
    f.done += u32::from(a.state == AssignmentState::Approved);
    f.overdue += u32::from(a.task_open && a.state.awaits_assignee() && now > a.deadline);
}

/// Figures of the assignments made in `period`, in their state at `now`.
pub fn figures(rows: &[AssignmentRow], period: Period, scope: Scope, now: DateTime<Utc>) -> TaskFigures {
    let mut f = TaskFigures::default();
    for a in rows.iter().filter(|a| period.contains(a.assigned) && in_scope(a, scope)) {
        add(&mut f, a, now);
    }
    f
}

/// Figures per assignee of the assignments made in `period`.
pub fn by_assignee(
    rows: &[AssignmentRow],
    period: Period,
    scope: Scope,
    now: DateTime<Utc>,
) -> BTreeMap<i64, TaskFigures> {
    let mut out: BTreeMap<i64, TaskFigures> = BTreeMap::new();
    for a in rows.iter().filter(|a| period.contains(a.assigned) && in_scope(a, scope)) {
        add(out.entry(a.person_id).or_default(), a, now);
    }
    out
}

/// Figures per task of the assignments made in `period`.
pub fn by_task(rows: &[AssignmentRow], period: Period, scope: Scope, now: DateTime<Utc>) -> BTreeMap<i64, TaskFigures> {
    let mut out: BTreeMap<i64, TaskFigures> = BTreeMap::new();
    for a in rows.iter().filter(|a| period.contains(a.assigned) && in_scope(a, scope)) {
        add(out.entry(a.task_id).or_default(), a, now);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use AssignmentState::*;

    fn d(m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, m, day).unwrap()
    }

    fn at(m: u32, day: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, m, day, h, 0, 0).unwrap()
    }

    fn row(task: i64, person: i64, zone: i64, state: AssignmentState, assigned: NaiveDate, ack: bool) -> AssignmentRow {
        AssignmentRow {
            task_id: task,
            person_id: person,
            zone_id: Some(zone),
            state,
            assigned,
            acknowledged: ack,
            deadline: at(11, 20, 9),
            task_open: true,
        }
    }

    /// Task 1 (deadline 20 Nov 09:00 UTC) to persons 1, 2, 3; task 2 to person 1, closed early;
    /// task 3 assigned in October.
    fn rows() -> Vec<AssignmentRow> {
        vec![
            row(1, 1, 10, Approved, d(11, 2), true),
            row(1, 2, 10, Acknowledged, d(11, 2), true),
            row(1, 3, 20, Assigned, d(11, 2), false),
            AssignmentRow { task_open: false, ..row(2, 1, 10, Closed, d(11, 9), true) },
            row(3, 2, 10, Submitted, d(10, 28), true),
        ]
    }

    #[test]
    fn by_hand() {
        let nov = Period::month(2026, 11).unwrap();
        // Before the deadline nobody is overdue.
        let f = figures(&rows(), nov, Scope::County, at(11, 20, 8));
        assert_eq!(f, TaskFigures { assigned: 4, acknowledged: 3, submitted: 0, done: 1, overdue: 0 });
        assert_eq!(f.acknowledged_rate().percent_text(), "75.0%");
        assert_eq!(f.done_rate().percent_text(), "25.0%");
        // After it: persons 2 and 3 owe task 1; task 2 was closed, so person 1 owes nothing.
        let now = at(11, 20, 10);
        assert_eq!(figures(&rows(), nov, Scope::County, now).overdue, 2);
        let per = by_assignee(&rows(), nov, Scope::County, now);
        assert_eq!(per[&1], TaskFigures { assigned: 2, acknowledged: 2, submitted: 0, done: 1, overdue: 0 });
        assert_eq!(per[&2], TaskFigures { assigned: 1, acknowledged: 1, submitted: 0, done: 0, overdue: 1 });
        assert_eq!(per[&3], TaskFigures { assigned: 1, acknowledged: 0, submitted: 0, done: 0, overdue: 1 });
        assert_eq!(per[&3].acknowledged_rate().percent_text(), "0.0%");
        let z10 = figures(&rows(), nov, Scope::Zone(10), now);
        assert_eq!((z10.assigned, z10.overdue), (3, 1));
        // Per task: task 1 to three people, two of them overdue; task 2 closed, nothing owed;
        // task 3 is October's.
        let tasks = by_task(&rows(), nov, Scope::County, now);
        assert_eq!(tasks.keys().copied().collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(tasks[&1], TaskFigures { assigned: 3, acknowledged: 2, submitted: 0, done: 1, overdue: 2 });
        assert_eq!(tasks[&1].done_rate().percent_text(), "33.3%");
        assert_eq!(tasks[&2], TaskFigures { assigned: 1, acknowledged: 1, submitted: 0, done: 0, overdue: 0 });
        assert_eq!(by_task(&rows(), nov, Scope::Zone(20), now)[&1].assigned, 1);
        // October: task 3's submission awaits review; it is not overdue (nothing owed).
        let oct = figures(&rows(), Period::month(2026, 10).unwrap(), Scope::Inspector(2), now);
        assert_eq!(oct, TaskFigures { assigned: 1, acknowledged: 1, submitted: 1, done: 0, overdue: 0 });
        // Nothing assigned: zero, no rate.
        let dec = figures(&rows(), Period::month(2026, 12).unwrap(), Scope::County, now);
        assert_eq!(dec, TaskFigures::default());
        assert_eq!(dec.done_rate().percent_text(), "—");
    }
}
