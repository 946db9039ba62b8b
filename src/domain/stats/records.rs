//! Detail rows the exports list next to the figures (one row per visit, problem item, task), and
//! the names they are shown with. Loaded by `store::export`; plain data.

use chrono::{DateTime, NaiveDate, Utc};

use crate::domain::rectify::{Severity, Source, Status};
use crate::domain::report_parse::VisitMethod;
use crate::domain::task::TaskStatus;
use crate::domain::visit_parse::VisitKind;

/// A zone, a person or a school as it is named on a sheet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameRow {
    pub id: i64,
    pub code: String,
    pub name: String,
    /// The zone of a person or a school; `None` for zones and people without one.
    pub zone_id: Option<i64>,
    /// People: the role (`inspector`, `supervisor`, …); schools: the stage; zones: empty.
    pub kind: String,
    pub active: bool,
}

/// A submitted visit with what it recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitRecord {
    pub id: i64,
    pub date: NaiveDate,
    pub person_id: i64,
    pub school_id: i64,
    pub kind: VisitKind,
    pub themed: bool,
    /// The month's theme, when the visit was linked to it.
    pub theme: Option<String>,
    pub methods: Vec<(VisitMethod, u32)>,
    pub narrative: Option<String>,
    /// Problems found: (category 1..=9, description).
    pub problems: Vec<(u8, String)>,
}

impl VisitRecord {
    /// The methods as a sheet or a page lists them: "推门听课3节", "查阅资料".
    pub fn methods_text(&self) -> Vec<String> {
        self.methods
            .iter()
            .map(|(m, c)| match m {
                VisitMethod::LessonObservation => format!("{}{c}节", m.label()),
                _ => m.label().to_string(),
            })
            .collect()
    }

    /// Lessons observed (the count of the lesson-observation method).
    pub fn lessons(&self) -> u32 {
        self.methods.iter().filter(|(m, _)| *m == VisitMethod::LessonObservation).map(|(_, n)| *n).sum()
    }
}

/// Evidence attached to a problem item, as a reference (never the chat platform's URL, which
/// carries a download token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceRef {
    pub id: i64,
    /// `pending`, `stored`, `duplicate`, `failed`.
    pub status: String,
    /// Path under the evidence directory, once stored.
    pub path: Option<String>,
}

impl EvidenceRef {
    /// "E12 2c/2c41….jpg", "E13 待下载", "E14 下载失败".
    pub fn text(&self) -> String {
        match (self.status.as_str(), &self.path) {
            (_, Some(p)) => format!("E{} {p}", self.id),
            ("pending", None) => format!("E{} 待下载", self.id),
            ("duplicate", None) => format!("E{} 重复", self.id),
            _ => format!("E{} 下载失败", self.id),
        }
    }
}

/// A problem item of the ledger in its current state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerItem {
    pub id: i64,
    pub school_id: i64,
    pub category: u8,
    pub severity: Severity,
    pub source: Source,
    pub source_ref: Option<String>,
    pub description: String,
    pub owner: String,
    pub status: Status,
    /// Local dates.
    pub created: NaiveDate,
    pub deadline: NaiveDate,
    pub closed: Option<NaiveDate>,
    pub closed_late: Option<bool>,
    pub returns: u32,
    pub relapses: u32,
    pub extensions: u32,
    pub evidence: Vec<EvidenceRef>,
}

/// A task with assignments in the period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskHead {
    pub id: i64,
    pub title: String,
    pub deadline: DateTime<Utc>,
    pub status: TaskStatus,
    pub created_by: i64,
}
