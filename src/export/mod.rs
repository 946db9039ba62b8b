//! XLSX exports (导出): one workbook per request — a 说明 sheet (kind, period, scope, when,
//! how the figures are defined), a sheet per table with Chinese headers, and native Excel
//! charts over the tables' cells.
//!
//! [`build`] loads what a kind needs (`store::stats`, `store::export`, and for 月汇报 / 对账
//! the very functions the chat commands use), then [`sheets::render`] turns the loaded rows
//! into workbook bytes: synchronous, no I/O. The chat command `导出` and the CLI
//! `dudao export` both go through [`build`].

pub mod book;
pub mod sheets;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

use crate::config::Settings;
use crate::domain::calendar::Calendar;
use crate::domain::monthly::{month_label, MonthFigures};
use crate::domain::rectify::MonthRow;
use crate::domain::stats::args::{self, Named};
use crate::domain::stats::records::{LedgerItem, NameRow, TaskHead, VisitRecord};
use crate::domain::stats::{Period, Rows, Scope};
use crate::store::Conn;

/// What can be exported, each with the Chinese name users type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// 周报: weekly-report figures per inspector, per zone and per week.
    Weekly,
    /// 纪实: one row per visit.
    Visits,
    /// 覆盖: visits against the quota, schools covered and not visited.
    Coverage,
    /// 整改台账: one row per problem item, by category, rate by month.
    Ledger,
    /// 督办: tasks per task and per assignee.
    Tasks,
    /// 月汇报: the month-end report's figures.
    Monthly,
    /// 对账: opened / closed / open per month and scope.
    Reconcile,
}

impl Kind {
    pub const ALL: [Kind; 7] =
        [Kind::Weekly, Kind::Visits, Kind::Coverage, Kind::Ledger, Kind::Tasks, Kind::Monthly, Kind::Reconcile];

    /// The name users type and the file is named with.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Weekly => "周报",
            Kind::Visits => "纪实",
            Kind::Coverage => "覆盖",
            Kind::Ledger => "整改台账",
            Kind::Tasks => "督办",
            Kind::Monthly => "月汇报",
            Kind::Reconcile => "对账",
        }
    }

    /// The workbook's title.
    pub fn title(self) -> &'static str {
        match self {
            Kind::Weekly => "周报统计",
            Kind::Visits => "督导纪实",
            Kind::Coverage => "督导覆盖与定额",
            Kind::Ledger => "整改台账",
            Kind::Tasks => "督办任务",
            Kind::Monthly => "月汇报",
            Kind::Reconcile => "整改对账",
        }
    }

    /// A kind by its Chinese name, a common synonym or its English word.
    pub fn parse(s: &str) -> Option<Kind> {
        let t = crate::domain::text::normalize_key(s);
        Some(match t.as_str() {
            "周报" | "周报统计" | "周交流" | "weekly" => Kind::Weekly,
            "纪实" | "督导纪实" | "visits" => Kind::Visits,
            "覆盖" | "定额" | "督导覆盖" | "coverage" => Kind::Coverage,
            "整改台账" | "台账" | "整改" | "ledger" => Kind::Ledger,
            "督办" | "任务" | "督办任务" | "tasks" => Kind::Tasks,
            "月汇报" | "月报" | "monthly" => Kind::Monthly,
            "对账" | "整改对账" | "reconcile" => Kind::Reconcile,
            _ => return None,
        })
    }

    /// The period when none is given: the month-end report is last month's (as the chat
    /// command's), everything else this month so far.
    pub fn default_period(self, today: NaiveDate) -> Period {
        match self {
            Kind::Monthly => Period::month_of(Period::month_of(today).from.pred_opt().unwrap_or(today)),
            _ => Period::month_of(today),
        }
    }

    /// Kinds that have figures per inspector (the others are per zone at most).
    fn by_inspector(self) -> bool {
        !matches!(self, Kind::Monthly | Kind::Reconcile)
    }
}

/// The kinds as users may type them, for help and error replies.
pub fn kinds_text() -> String {
    Kind::ALL.iter().map(|k| k.name()).collect::<Vec<_>>().join("、")
}

/// A finished workbook.
#[derive(Debug, Clone)]
pub struct ExportFile {
    pub file_name: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Bad input: a polite Chinese sentence to send back as it is.
    #[error("{0}")]
    Input(String),
    #[error("读取数据失败：{0}")]
    Db(#[from] crate::sql::Error),
    #[error("统计失败：{0:#}")]
    Figures(anyhow::Error),
    #[error("生成表格失败：{0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
}

/// Months one 月汇报 / 对账 export may span (each month is a full computation).
pub const MAX_MONTHS: usize = 36;

/// Everything a workbook is built from, loaded once.
#[derive(Debug, Clone)]
pub struct Data {
    pub kind: Kind,
    pub period: Period,
    pub scope: Scope,
    pub scope_name: String,
    pub tz: Tz,
    pub now: DateTime<Utc>,
    /// Figures are taken as of this day: the period's end, or today when it has not ended.
    pub as_of: NaiveDate,
    pub today: NaiveDate,
    pub quota: u32,
    pub exempt_invited: bool,
    pub rows: Rows,
    pub zones: Vec<NameRow>,
    pub people: Vec<NameRow>,
    pub schools: Vec<NameRow>,
    pub visits: Vec<VisitRecord>,
    pub items: Vec<LedgerItem>,
    pub tasks: Vec<TaskHead>,
    /// 月汇报: each month's figures, in order.
    pub months: Vec<MonthFigures>,
    /// 对账: (month "YYYY-MM", zone name or "" for the county, row), in order.
    pub reconciliation: Vec<(String, String, MonthRow)>,
}

/// Zones and active inspectors as a scope may name them.
async fn scope_names(conn: &mut Conn) -> crate::sql::Result<(Vec<Named>, Vec<Named>)> {
    let zones = crate::store::export::zones(conn).await?;
    let people = crate::store::export::people(conn).await?;
    let named = |r: &NameRow| Named { id: r.id, code: r.code.clone(), name: r.name.clone() };
    Ok((
        zones.iter().filter(|z| z.active).map(named).collect(),
        people.iter().filter(|p| p.active && p.kind == "inspector").map(named).collect(),
    ))
}

/// A scope as typed (`全县`, a zone, an inspector), resolved against the roster.
pub async fn resolve_scope(conn: &mut Conn, text: &str) -> Result<(Scope, String), ExportError> {
    let (zones, inspectors) = scope_names(conn).await?;
    args::resolve_scope(text, &zones, &inspectors).map_err(ExportError::Input)
}

/// A period as typed, or the kind's default when `text` is empty.
pub fn resolve_period(kind: Kind, text: &str, today: NaiveDate, cal: Option<&Calendar>) -> Result<Period, ExportError> {
    if text.trim().is_empty() {
        return Ok(kind.default_period(today));
    }
    args::parse_period(text, today, cal).map_err(ExportError::Input)
}

/// Characters file systems and chat platforms refuse in a file name.
fn file_safe(s: &str) -> String {
    s.chars()
        .map(
            |c| {
                if matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|') || c.is_control() {
                    '_'
                } else {
                    c
                }
            },
        )
        .collect()
}

/// Loads what `kind` needs for `period` and `scope` and builds the workbook.
pub async fn build(
    conn: &mut Conn,
    tz: Tz,
    settings: &Settings,
    kind: Kind,
    period: Period,
    scope: Scope,
    now: DateTime<Utc>,
) -> Result<ExportFile, ExportError> {
    let data = load_rows(conn, tz, settings, kind, period, scope, now, Reading::Workbook).await?;
    let bytes = sheets::render(&data)?;
    let file_name = file_safe(&format!("{}_{}_{}.xlsx", kind.title(), data.scope_name, args::period_slug(period)));
    Ok(ExportFile { file_name, bytes })
}

/// The rows the figures of `统计` read for `kind` (see `charts::figures::summary`): the
/// statistics rows only, not the workbook's detail sheets (at province scale the ledger's detail
/// rows over six months cost more than the figures themselves).
pub async fn load_figures(
    conn: &mut Conn,
    tz: Tz,
    settings: &Settings,
    kind: Kind,
    period: Period,
    scope: Scope,
    now: DateTime<Utc>,
) -> Result<Data, ExportError> {
    load_rows(conn, tz, settings, kind, period, scope, now, Reading::Figures).await
}

/// How much of an export [`load_rows`] reads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// The statistics rows the figures are computed from.
    Figures,
    /// Those and the detail sheets' rows.
    Workbook,
}

/// The rows of one export (see [`build`]).
#[allow(clippy::too_many_arguments)]
async fn load_rows(
    conn: &mut Conn,
    tz: Tz,
    settings: &Settings,
    kind: Kind,
    period: Period,
    scope: Scope,
    now: DateTime<Utc>,
    reading: Reading,
) -> Result<Data, ExportError> {
    let detail = reading == Reading::Workbook;
    use crate::store::{export as ex, stats as st};
    let today = now.with_timezone(&tz).date_naive();
    if period.from > today {
        return Err(ExportError::Input(format!("{}还没有开始，无法导出。", args::period_label(period))));
    }
    let zones = ex::zones(conn).await?;
    let people = ex::people(conn).await?;
    let schools = ex::schools(conn).await?;
    let scope_name = match scope {
        Scope::County => "全县".to_string(),
        Scope::Zone(z) => zones
            .iter()
            .find(|r| r.id == z)
            .map(|r| r.name.clone())
            .ok_or_else(|| ExportError::Input("没有这个责任区。".into()))?,
        Scope::Inspector(p) => {
            if !kind.by_inspector() {
                return Err(ExportError::Input(format!("{}按全县或责任区导出，不能按督学导出。", kind.name())));
            }
            people
                .iter()
                .find(|r| r.id == p)
                .map(|r| r.name.clone())
                .ok_or_else(|| ExportError::Input("没有这位督学。".into()))?
        }
    };
    let exempt = settings.visits.exempt_invited;
    let mut data = Data {
        kind,
        period,
        scope,
        scope_name,
        tz,
        now,
        as_of: period.to.min(today),
        today,
        quota: settings.visits.per_inspector_per_month,
        exempt_invited: exempt,
        rows: Rows::default(),
        zones,
        people,
        schools,
        visits: Vec::new(),
        items: Vec::new(),
        tasks: Vec::new(),
        months: Vec::new(),
        reconciliation: Vec::new(),
    };
    // A zone's export reads only that zone's detail rows (a province holds a hundred).
    let zone = match scope {
        Scope::Zone(z) => Some(z),
        _ => None,
    };
    match kind {
        Kind::Weekly => data.rows.weekly = st::weekly_rows(conn, period, zone).await?,
        Kind::Visits => {
            if detail {
                data.visits = ex::visit_records(conn, period, zone).await?;
            }
            data.rows.visits = st::visit_rows(conn, period, zone).await?;
            data.rows.schools = st::school_rows(conn).await?;
            data.rows.inspectors = st::inspector_rows(conn, exempt).await?;
        }
        Kind::Coverage => {
            data.rows.visits = st::visit_rows(conn, period, None).await?;
            data.rows.schools = st::school_rows(conn).await?;
            data.rows.inspectors = st::inspector_rows(conn, exempt).await?;
        }
        Kind::Ledger | Kind::Reconcile => {
            data.rows.schools = st::school_rows(conn).await?;
            let (items, esc) = st::rectify_rows_on(conn, tz, period, &data.rows.schools, zone, today).await?;
            data.rows.items = items;
            data.rows.escalations = esc;
            if kind == Kind::Ledger {
                if detail {
                    data.items = ex::ledger_items(conn, tz, period, zone).await?;
                }
            } else if detail {
                data.reconciliation = reconciliation(conn, period, data.as_of).await?;
            }
        }
        Kind::Tasks => {
            data.rows.assignments = st::task_rows(conn, tz, period).await?;
            if detail {
                data.tasks = ex::tasks(conn, tz, period).await?;
            }
        }
        Kind::Monthly => {
            let months: Vec<Period> = period.months().into_iter().filter(|m| m.from <= today).collect();
            if months.len() > MAX_MONTHS {
                return Err(ExportError::Input(format!("月汇报一次最多导出 {MAX_MONTHS} 个月，请缩短期间。")));
            }
            for m in months {
                let label = month_label(m.from);
                let i = crate::store::monthly::month_inputs(conn, &label, settings.visits.exempt_invited)
                    .await?
                    .ok_or_else(|| ExportError::Input(format!("月份“{label}”无法识别。")))?;
                let f = i.figures(&label, settings.visits.quotas());
                data.months.push(f);
            }
        }
    }
    Ok(data)
}

/// The months of `period` from `整改对账`'s reconciliation, county and per zone.
async fn reconciliation(
    conn: &mut Conn,
    period: Period,
    as_of: NaiveDate,
) -> Result<Vec<(String, String, MonthRow)>, ExportError> {
    use crate::domain::rectify::{reconcile_counts, Grouping};
    let first = month_label(period.from);
    let last = month_label(as_of);
    let mut out = Vec::new();
    for g in [Grouping::County, Grouping::Zone] {
        let counts = crate::store::rectify::month_counts(conn, g, &last).await?;
        for ((scope, month), row) in reconcile_counts(&counts, as_of) {
            if month >= first && month <= last {
                out.push((month, scope, row));
            }
        }
    }
    // Month by month, the county first, then the zones by name.
    out.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    Ok(out)
}
