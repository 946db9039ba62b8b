//! The sheets of each kind, from loaded rows to workbook bytes. Synchronous, no I/O: every
//! figure comes from `domain::stats` (or, for 月汇报 and 对账, the loaded figures the chat
//! commands show).

use std::collections::{BTreeMap, HashMap};

use rust_xlsxwriter::{ChartType, XlsxError};

use super::book::{chart, Book, Cell, Col};
use super::{Data, Kind};
use crate::domain::monthly::{category_label, AreaFigures, CATEGORIES};
use crate::domain::rectify::{item_code, overdue_days, Severity, Status};
use crate::domain::stats::records::NameRow;
use crate::domain::stats::{self, args, Rate, Scope};
use crate::domain::task::task_code;

/// The workbook of `d.kind`.
pub fn render(d: &Data) -> Result<Vec<u8>, XlsxError> {
    let mut b = Book::new();
    let names = Names::new(d);
    b.notes("说明", &format!("{}（{}，{}）", d.kind.title(), args::period_label(d.period), d.scope_name), &notes(d))?;
    match d.kind {
        Kind::Weekly => weekly(&mut b, d, &names)?,
        Kind::Visits => visits(&mut b, d, &names)?,
        Kind::Coverage => coverage(&mut b, d, &names)?,
        Kind::Ledger => ledger(&mut b, d, &names)?,
        Kind::Tasks => tasks(&mut b, d, &names)?,
        Kind::Monthly => monthly(&mut b, d)?,
        Kind::Reconcile => reconcile(&mut b, d)?,
    }
    b.save()
}

/// Names by id.
struct Names<'a> {
    zones: HashMap<i64, &'a NameRow>,
    people: HashMap<i64, &'a NameRow>,
    schools: HashMap<i64, &'a NameRow>,
}

impl<'a> Names<'a> {
    fn new(d: &'a Data) -> Names<'a> {
        let by_id = |v: &'a [NameRow]| v.iter().map(|r| (r.id, r)).collect::<HashMap<_, _>>();
        Names { zones: by_id(&d.zones), people: by_id(&d.people), schools: by_id(&d.schools) }
    }

    fn zone(&self, id: Option<i64>) -> String {
        id.and_then(|z| self.zones.get(&z)).map_or_else(|| "未分区".to_string(), |z| z.name.clone())
    }

    fn person(&self, id: i64) -> String {
        self.people.get(&id).map_or_else(|| format!("#{id}"), |p| p.name.clone())
    }

    fn code(&self, id: i64) -> String {
        self.people.get(&id).map_or_else(String::new, |p| p.code.clone())
    }

    fn school(&self, id: i64) -> String {
        self.schools.get(&id).map_or_else(|| format!("#{id}"), |s| s.name.clone())
    }

    fn school_zone(&self, id: i64) -> Option<i64> {
        self.schools.get(&id).and_then(|s| s.zone_id)
    }

    /// Zone order: by code (the order `d.zones` is loaded in).
    fn zone_rank(&self, d: &Data, id: Option<i64>) -> usize {
        id.and_then(|z| d.zones.iter().position(|r| r.id == z)).unwrap_or(usize::MAX)
    }
}

fn notes(d: &Data) -> Vec<(String, String)> {
    let generated = d.now.with_timezone(&d.tz);
    let mut v = vec![
        ("导出种类".to_string(), d.kind.title().to_string()),
        ("期间".to_string(), args::period_label(d.period)),
        ("范围".to_string(), d.scope_name.clone()),
        ("生成时间".to_string(), format!("{}（{}）", generated.format("%Y-%m-%d %H:%M"), d.tz.name())),
        ("统计截至".to_string(), d.as_of.format("%Y-%m-%d").to_string()),
    ];
    let quota = format!(
        "定额 = 计入定额的督学人数 × 每人每月 {} 次 × 期间涉及的月数{}。",
        d.quota,
        if d.exempt_invited { "（特约督学不计入定额）" } else { "" }
    );
    let defs: Vec<String> = match d.kind {
        Kind::Weekly => vec![
            "应报：期间内各周周报轮次的成员，请假或免报者不计；同一人同一周在多个群的轮次只计一次。".into(),
            "按期：截止前提交；迟报：截止后提交；未报：没有提交。按期报送率 = 按期 ÷ 应报；报送率 = （按期 + 迟报）÷ 应报。".into(),
            "一周按其周四所在的月份归属（ISO 周），所以月初、月末的周可能属于相邻月份。责任区按督学本人所在责任区计。".into(),
        ],
        Kind::Visits => vec![
            "期间内已提交的督导纪实，一次一行；责任区为被督导学校所在的责任区。".into(),
            "听课节数为“推门听课”记录的节数；发现问题为纪实中登记的问题及其类别。".into(),
        ],
        Kind::Coverage => vec![
            "督导次数：期间内已提交的督导纪实。督学的次数为本人的纪实；责任区的次数按被督导学校所在责任区计。".into(),
            quota,
            "负责学校：督学挂牌且无回避的在册学校；覆盖：期间内至少督导过一次。覆盖率 = 已覆盖 ÷ 学校数。".into(),
        ],
        Kind::Ledger => vec![
            "列入台账：期间结束前登记、且期间开始时仍在办或期间内有变动的问题。状态、销号日期为导出时的当前情况。".into(),
            "用时天数：登记至销号的天数（未销号的计至导出日）；逾期天数：在办问题超过整改期限的天数（计至导出日）。".into(),
            "整改率 = 已销号 ÷（已销号 + 在办），按登记月份统计、以该月末（或统计截至日）的状态计，撤销的不计。按期销号率 = 按期销号 ÷ 销号次数（当场整改计为按期）。".into(),
            "问题分类：期间内登记的问题按类别、严重程度、来源计数。证据列出附件编号及其存储位置（相对证据目录），不含聊天平台的原始链接。".into(),
        ],
        Kind::Tasks => vec![
            "期间内布置的任务分派（已撤销的不计），按导出时的状态统计。".into(),
            "已完成 = 审核通过；待审核 = 已提交未审核；逾期 = 任务未结束、承办人仍需办理且已过截止时间。完成率 = 已完成 ÷ 分派。".into(),
        ],
        Kind::Monthly => vec![
            "与聊天命令“月汇报”相同的口径：督导次数按被督导学校所在责任区计，督学按本人所在责任区计。".into(),
            format!("定额 = 督学人数 × 每人每月 {} 次{}。指标达标率 = 达标 ÷ 已评价指标（不适用不计）。", d.quota, if d.exempt_invited { "（特约督学不计入）" } else { "" }),
            "本月尚未结束时，为截至导出时的数字。".into(),
        ],
        Kind::Reconcile => vec![
            "与聊天命令“整改对账”相同：期初 + 新增 + 重开 − 销号 − 撤销 = 期末，按事件发生日期所在月份统计；不平的行标为“否”。".into(),
            "月度整改率 = 当月登记问题中已销号 ÷（已销号 + 在办），以该月末（或统计截至日）的状态计，撤销的不计。".into(),
        ],
    };
    for (i, t) in defs.into_iter().enumerate() {
        v.push((if i == 0 { "口径".to_string() } else { String::new() }, t));
    }
    v
}

fn rate(n: u32, den: u32) -> Cell {
    Cell::Rate(Rate::new(u64::from(n), u64::from(den)))
}

// ---- 周报 ----

fn weekly_cells(f: &stats::weekly::WeeklyFigures) -> Vec<Cell> {
    vec![
        Cell::int(f.expected),
        Cell::int(f.on_time),
        Cell::int(f.late),
        Cell::int(f.missing),
        Cell::int(f.excluded),
        Cell::Rate(f.on_time_rate()),
        Cell::Rate(f.submit_rate()),
    ]
}

const WEEKLY_COLS: [Col; 7] = [
    ("应报", 8.0),
    ("按期", 8.0),
    ("迟报", 8.0),
    ("未报", 8.0),
    ("请假/免报", 10.0),
    ("按期报送率", 12.0),
    ("报送率", 10.0),
];

fn weekly(b: &mut Book, d: &Data, n: &Names) -> Result<(), XlsxError> {
    use stats::weekly as w;
    let rows = &d.rows.weekly;
    // By zone, in zone order, then the total (left out of the chart).
    let mut zones: Vec<(Option<i64>, w::WeeklyFigures)> = w::per_zone(rows, d.period, d.scope).into_iter().collect();
    zones.sort_by_key(|(z, _)| n.zone_rank(d, *z));
    let mut table: Vec<Vec<Cell>> =
        zones.iter().map(|(z, f)| [vec![Cell::text(n.zone(*z))], weekly_cells(f)].concat()).collect();
    let total = w::figures(rows, d.period, d.scope);
    table.push([vec![Cell::text("合计")], weekly_cells(&total)].concat());
    let cols: Vec<Col> = [vec![("责任区", 18.0)], WEEKLY_COLS.to_vec()].concat();
    let t = b.table("按责任区", &cols, &table)?;
    if !zones.is_empty() {
        let last = zones.len() as u32 - 1;
        b.chart(&t, &chart(ChartType::Column, "各责任区按期报送率", &t, 0, &[6], (0, last), true))?;
    }

    let mut people: Vec<(i64, w::WeeklyFigures)> = w::per_person(rows, d.period, d.scope).into_iter().collect();
    people.sort_by_key(|(p, _)| n.code(*p));
    let table: Vec<Vec<Cell>> = people
        .iter()
        .map(|(p, f)| {
            let zone = n.people.get(p).and_then(|r| r.zone_id);
            [vec![Cell::text(n.code(*p)), Cell::text(n.person(*p)), Cell::text(n.zone(zone))], weekly_cells(f)].concat()
        })
        .collect();
    let cols: Vec<Col> = [vec![("编号", 10.0), ("督学", 12.0), ("责任区", 18.0)], WEEKLY_COLS.to_vec()].concat();
    b.table("按督学", &cols, &table)?;

    let trend = w::trend(rows, d.period, d.scope);
    let table: Vec<Vec<Cell>> = trend
        .iter()
        .zip(d.period.weeks())
        .map(|((label, f), wk)| {
            [vec![Cell::text(label), Cell::Date(wk.from), Cell::Date(wk.to)], weekly_cells(f)].concat()
        })
        .collect();
    let cols: Vec<Col> = [vec![("周次", 11.0), ("开始", 11.0), ("结束", 11.0)], WEEKLY_COLS.to_vec()].concat();
    let t = b.table("按周", &cols, &table)?;
    if !trend.is_empty() {
        let last = trend.len() as u32 - 1;
        b.chart(&t, &chart(ChartType::Line, "按期报送率趋势", &t, 0, &[8], (0, last), true))?;
    }
    Ok(())
}

// ---- 纪实 ----

fn in_scope_visit(d: &Data, n: &Names, person: i64, school: i64) -> bool {
    match d.scope {
        Scope::County => true,
        Scope::Zone(z) => n.school_zone(school) == Some(z),
        Scope::Inspector(p) => person == p,
    }
}

fn visits(b: &mut Book, d: &Data, n: &Names) -> Result<(), XlsxError> {
    let table = d.visits.iter().filter(|v| in_scope_visit(d, n, v.person_id, v.school_id)).map(|v| {
        let methods = v.methods_text();
        let problems: Vec<String> = v
            .problems
            .iter()
            .enumerate()
            .map(|(i, (c, t))| format!("{}. [{}] {t}", i + 1, category_label(*c)))
            .collect();
        vec![
            Cell::Date(v.date),
            Cell::text(n.code(v.person_id)),
            Cell::text(n.person(v.person_id)),
            Cell::text(n.zone(n.school_zone(v.school_id))),
            Cell::text(n.school(v.school_id)),
            Cell::text(v.kind.label()),
            Cell::text(methods.join("、")),
            Cell::int(v.lessons()),
            Cell::text(if v.themed { "是" } else { "否" }),
            Cell::text(v.theme.clone().unwrap_or_default()),
            Cell::int(v.problems.len() as i64),
            Cell::text(problems.join("\n")),
            Cell::text(v.narrative.clone().unwrap_or_default()),
        ]
    });
    let cols: [Col; 13] = [
        ("日期", 11.0),
        ("编号", 9.0),
        ("督学", 10.0),
        ("责任区", 16.0),
        ("学校", 16.0),
        ("督导类型", 11.0),
        ("督导方式", 24.0),
        ("听课节数", 9.0),
        ("主题督导", 9.0),
        ("主题", 20.0),
        ("问题数", 8.0),
        ("发现问题", 40.0),
        ("督导情况", 40.0),
    ];
    b.stream("督导纪实", &cols, table)?;

    let f = stats::visits::figures(&d.rows.visits, &d.rows.schools, &d.rows.inspectors, d.quota, d.period, d.scope);
    let mut mix = vec![vec![Cell::text("合计"), Cell::text("督导次数"), Cell::int(f.visits)]];
    for (k, c) in &f.by_kind {
        mix.push(vec![Cell::text("督导类型"), Cell::text(k.label()), Cell::int(*c)]);
    }
    for (m, c) in &f.by_method {
        mix.push(vec![Cell::text("督导方式"), Cell::text(m.label()), Cell::int(*c)]);
    }
    mix.push(vec![Cell::text("合计"), Cell::text("听课节数"), Cell::int(f.lessons_observed)]);
    mix.push(vec![Cell::text("合计"), Cell::text("主题督导"), Cell::int(f.themed)]);
    b.table("方式与类型", &[("项目", 10.0), ("内容", 14.0), ("次数", 8.0)], &mix)?;
    Ok(())
}

// ---- 覆盖 ----

fn coverage_cells(f: &stats::visits::VisitFigures) -> Vec<Cell> {
    vec![
        Cell::int(f.visits),
        Cell::int(f.quota),
        Cell::Rate(f.quota_rate()),
        Cell::int(f.schools_assigned),
        Cell::int(f.schools_covered),
        Cell::Rate(f.coverage()),
        Cell::int(f.lessons_observed),
        Cell::int(f.themed),
    ]
}

const COVERAGE_COLS: [Col; 8] = [
    ("督导次数", 9.0),
    ("定额", 8.0),
    ("定额完成率", 11.0),
    ("学校数", 8.0),
    ("已覆盖", 8.0),
    ("覆盖率", 9.0),
    ("听课节数", 9.0),
    ("主题督导", 9.0),
];

fn coverage(b: &mut Book, d: &Data, n: &Names) -> Result<(), XlsxError> {
    use stats::visits as v;
    let r = &d.rows;
    let zone = match d.scope {
        Scope::Zone(z) => Some(z),
        _ => None,
    };
    let mut per: Vec<(i64, v::VisitFigures)> =
        v::per_inspector(&r.visits, &r.schools, &r.inspectors, d.quota, d.period, zone)
            .into_iter()
            .filter(|(p, _)| !matches!(d.scope, Scope::Inspector(q) if q != *p))
            .collect();
    per.sort_by_key(|(p, _)| n.code(*p));
    let table: Vec<Vec<Cell>> = per
        .iter()
        .map(|(p, f)| {
            let zone = n.people.get(p).and_then(|r| r.zone_id);
            [vec![Cell::text(n.code(*p)), Cell::text(n.person(*p)), Cell::text(n.zone(zone))], coverage_cells(f)]
                .concat()
        })
        .collect();
    let cols: Vec<Col> = [vec![("编号", 9.0), ("督学", 10.0), ("责任区", 16.0)], COVERAGE_COLS.to_vec()].concat();
    let t = b.table("按督学", &cols, &table)?;
    if !per.is_empty() {
        let last = per.len() as u32 - 1;
        b.chart(&t, &chart(ChartType::Column, "督导次数与定额（按督学）", &t, 1, &[3, 4], (0, last), false))?;
    }

    let zones: Vec<&NameRow> = d
        .zones
        .iter()
        .filter(|z| z.active)
        .filter(|z| match d.scope {
            Scope::County => true,
            Scope::Zone(id) => z.id == id,
            Scope::Inspector(p) => n.people.get(&p).and_then(|r| r.zone_id) == Some(z.id),
        })
        .collect();
    let mut table: Vec<Vec<Cell>> = zones
        .iter()
        .map(|z| {
            let f = v::figures(&r.visits, &r.schools, &r.inspectors, d.quota, d.period, Scope::Zone(z.id));
            [vec![Cell::text(&z.name)], coverage_cells(&f)].concat()
        })
        .collect();
    if d.scope == Scope::County {
        let f = v::figures(&r.visits, &r.schools, &r.inspectors, d.quota, d.period, Scope::County);
        table.push([vec![Cell::text("全县")], coverage_cells(&f)].concat());
    }
    let cols: Vec<Col> = [vec![("责任区", 18.0)], COVERAGE_COLS.to_vec()].concat();
    let t = b.table("按责任区", &cols, &table)?;
    if !zones.is_empty() {
        let last = zones.len() as u32 - 1;
        b.chart(&t, &chart(ChartType::Column, "督导次数与定额（按责任区）", &t, 0, &[1, 2], (0, last), false))?;
    }

    let f = v::figures(&r.visits, &r.schools, &r.inspectors, d.quota, d.period, d.scope);
    let inspectors: HashMap<i64, &Vec<i64>> = r.schools.iter().map(|s| (s.id, &s.inspectors)).collect();
    let table: Vec<Vec<Cell>> = f
        .not_visited
        .iter()
        .map(|s| {
            let who: Vec<String> =
                inspectors.get(s).map(|v| v.iter().map(|p| n.person(*p)).collect()).unwrap_or_default();
            vec![
                Cell::text(n.schools.get(s).map_or_else(String::new, |r| r.code.clone())),
                Cell::text(n.school(*s)),
                Cell::text(n.zone(n.school_zone(*s))),
                Cell::text(if who.is_empty() { "（无挂牌督学）".to_string() } else { who.join("、") }),
            ]
        })
        .collect();
    b.table("未督导学校", &[("学校编号", 12.0), ("学校", 20.0), ("责任区", 18.0), ("负责督学", 24.0)], &table)?;
    Ok(())
}

// ---- 整改台账 ----

const SEVERITIES: [Severity; 4] = [Severity::Minor, Severity::General, Severity::Serious, Severity::Complex];

fn ledger(b: &mut Book, d: &Data, n: &Names) -> Result<(), XlsxError> {
    let inspectors: HashMap<i64, &Vec<i64>> = d.rows.schools.iter().map(|s| (s.id, &s.inspectors)).collect();
    let in_scope = |school: i64| match d.scope {
        Scope::County => true,
        Scope::Zone(z) => n.school_zone(school) == Some(z),
        Scope::Inspector(p) => inspectors.get(&school).is_some_and(|v| v.contains(&p)),
    };
    let table = d.items.iter().filter(|it| in_scope(it.school_id)).map(|it| {
        let end = it.closed.filter(|_| it.status == Status::Closed).unwrap_or(d.today);
        let over = if it.status.is_open() { overdue_days(it.status, it.deadline, d.today) } else { 0 };
        let late = match (it.status, it.closed_late) {
            (Status::Closed, Some(true)) => "逾期销号",
            (Status::Closed, _) => "按期销号",
            (Status::Cancelled, _) => "",
            _ if over > 0 => "逾期",
            _ => "未逾期",
        };
        vec![
            Cell::text(item_code(it.id)),
            Cell::text(n.school(it.school_id)),
            Cell::text(n.zone(n.school_zone(it.school_id))),
            Cell::text(category_label(it.category)),
            Cell::text(it.severity.label()),
            Cell::text(it.source.label()),
            Cell::text(&it.description),
            Cell::text(if it.owner == "school" { "学校".to_string() } else { it.owner.clone() }),
            Cell::Date(it.created),
            Cell::Date(it.deadline),
            Cell::text(it.status.label()),
            Cell::opt_date(it.closed.filter(|_| it.status == Status::Closed)),
            Cell::int((end - it.created).num_days().max(0)),
            Cell::int(over),
            Cell::text(late),
            Cell::int(it.returns),
            Cell::int(it.relapses),
            Cell::int(it.extensions),
            Cell::int(it.evidence.len() as i64),
            Cell::text(it.evidence.iter().map(|e| e.text()).collect::<Vec<_>>().join("\n")),
        ]
    });
    let cols: [Col; 20] = [
        ("编号", 8.0),
        ("学校", 16.0),
        ("责任区", 16.0),
        ("问题类别", 20.0),
        ("严重程度", 10.0),
        ("来源", 10.0),
        ("问题描述", 36.0),
        ("责任方", 10.0),
        ("登记日期", 11.0),
        ("整改期限", 11.0),
        ("状态", 11.0),
        ("销号日期", 11.0),
        ("用时天数", 9.0),
        ("逾期天数", 9.0),
        ("是否逾期", 10.0),
        ("退回次数", 9.0),
        ("重开次数", 9.0),
        ("延期次数", 9.0),
        ("证据数", 8.0),
        ("证据", 30.0),
    ];
    b.stream("台账", &cols, table)?;

    // Problems recorded in the period, by category (every category listed, for a stable chart).
    let f = stats::rectify::figures(&d.rows.items, &d.rows.escalations, d.period, d.scope, d.today);
    let mut by_cat: BTreeMap<u8, [u32; 4]> = BTreeMap::new();
    for ((c, s, _), k) in &f.by_cell {
        let i = SEVERITIES.iter().position(|x| x == s).unwrap_or(1);
        by_cat.entry(*c).or_default()[i] += k;
    }
    let table: Vec<Vec<Cell>> = (1..=CATEGORIES.len() as u8)
        .map(|c| {
            let s = by_cat.get(&c).copied().unwrap_or_default();
            let total: u32 = s.iter().sum();
            let mut row = vec![Cell::text(category_label(c)), Cell::int(total)];
            row.extend(s.iter().map(|k| Cell::int(*k)));
            row.push(rate(total, f.recorded));
            row
        })
        .collect();
    let cols: [Col; 7] = [
        ("问题类别", 30.0),
        ("问题数", 8.0),
        ("轻微", 8.0),
        ("一般", 8.0),
        ("严重", 8.0),
        ("复杂", 8.0),
        ("占比", 9.0),
    ];
    let t = b.table("问题分类", &cols, &table)?;
    b.chart(&t, &chart(ChartType::Bar, "问题按类别分布", &t, 0, &[1], (0, CATEGORIES.len() as u32 - 1), false))?;

    let table: Vec<Vec<Cell>> = f
        .by_cell
        .iter()
        .map(|((c, s, src), k)| {
            let src = crate::domain::rectify::Source::from_db(src).map_or(*src, |x| x.label());
            vec![Cell::text(category_label(*c)), Cell::text(s.label()), Cell::text(src), Cell::int(*k)]
        })
        .collect();
    b.table("分类明细", &[("问题类别", 30.0), ("严重程度", 16.0), ("来源", 10.0), ("问题数", 8.0)], &table)?;

    rate_by_month(b, d, &f)?;
    Ok(())
}

/// 月度整改率: the rectification figures of each month of the period, then the whole period;
/// a line chart of the rate.
fn rate_by_month(b: &mut Book, d: &Data, total: &stats::rectify::RectifyFigures) -> Result<(), XlsxError> {
    let months = stats::rectify::monthly(&d.rows.items, &d.rows.escalations, d.period, d.scope, d.today);
    let months: Vec<_> = months.into_iter().filter(|(m, _)| m.from <= d.today).collect();
    let cells = |label: String, f: &stats::rectify::RectifyFigures| {
        vec![
            Cell::text(label),
            Cell::int(f.recorded),
            Cell::int(f.closed),
            Cell::int(f.open),
            Cell::int(f.cancelled),
            Cell::Rate(f.rate()),
            Cell::int(f.closures),
            Cell::Rate(f.on_time_rate()),
            Cell::Tenths(f.mean_days_tenths()),
            Cell::Tenths(f.median_days_tenths()),
            Cell::int(f.overdue.len() as i64),
            Cell::int(f.reopened),
            Cell::int(f.escalations.values().sum::<u32>()),
            Cell::int(f.interviews()),
        ]
    };
    let mut table: Vec<Vec<Cell>> = months.iter().map(|(m, f)| cells(m.from.format("%Y-%m").to_string(), f)).collect();
    table.push(cells("合计".into(), total));
    let cols: [Col; 14] = [
        ("月份", 10.0),
        ("登记", 8.0),
        ("已销号", 8.0),
        ("在办", 8.0),
        ("撤销", 8.0),
        ("整改率", 9.0),
        ("销号次数", 9.0),
        ("按期销号率", 11.0),
        ("平均用时(天)", 12.0),
        ("用时中位数(天)", 14.0),
        ("逾期在办", 9.0),
        ("重开", 8.0),
        ("督办升级", 9.0),
        ("约谈", 8.0),
    ];
    let t = b.table("月度整改率", &cols, &table)?;
    if !months.is_empty() {
        let last = months.len() as u32 - 1;
        b.chart(&t, &chart(ChartType::Line, "整改率趋势（按月）", &t, 0, &[5], (0, last), true))?;
    }
    Ok(())
}

// ---- 督办 ----

fn task_cells(f: &stats::tasks::TaskFigures) -> Vec<Cell> {
    vec![
        Cell::int(f.assigned),
        Cell::int(f.acknowledged),
        Cell::int(f.submitted),
        Cell::int(f.done),
        Cell::int(f.overdue),
        Cell::Rate(f.acknowledged_rate()),
        Cell::Rate(f.done_rate()),
    ]
}

const TASK_COLS: [Col; 7] =
    [("分派", 8.0), ("已确认", 8.0), ("待审核", 8.0), ("已完成", 8.0), ("逾期", 8.0), ("确认率", 9.0), ("完成率", 9.0)];

fn tasks(b: &mut Book, d: &Data, n: &Names) -> Result<(), XlsxError> {
    use stats::tasks as t;
    let rows = &d.rows.assignments;
    let per_task = t::by_task(rows, d.period, d.scope, d.now);
    let heads: HashMap<i64, &crate::domain::stats::records::TaskHead> = d.tasks.iter().map(|h| (h.id, h)).collect();
    let table: Vec<Vec<Cell>> = per_task
        .iter()
        .map(|(id, f)| {
            let h = heads.get(id);
            [
                vec![
                    Cell::text(task_code(*id)),
                    Cell::text(h.map_or_else(String::new, |h| h.title.clone())),
                    Cell::text(h.map_or_else(String::new, |h| n.person(h.created_by))),
                    Cell::text(h.map_or_else(String::new, |h| {
                        h.deadline.with_timezone(&d.tz).format("%Y-%m-%d %H:%M").to_string()
                    })),
                    Cell::text(h.map_or("", |h| h.status.label())),
                ],
                task_cells(f),
            ]
            .concat()
        })
        .collect();
    let cols: Vec<Col> =
        [vec![("任务", 8.0), ("标题", 30.0), ("布置人", 10.0), ("截止时间", 17.0), ("状态", 9.0)], TASK_COLS.to_vec()]
            .concat();
    b.table("按任务", &cols, &table)?;

    let mut per: Vec<(i64, t::TaskFigures)> = t::by_assignee(rows, d.period, d.scope, d.now).into_iter().collect();
    per.sort_by_key(|(p, _)| n.code(*p));
    let table: Vec<Vec<Cell>> = per
        .iter()
        .map(|(p, f)| {
            let zone = n.people.get(p).and_then(|r| r.zone_id);
            [vec![Cell::text(n.code(*p)), Cell::text(n.person(*p)), Cell::text(n.zone(zone))], task_cells(f)].concat()
        })
        .collect();
    let cols: Vec<Col> = [vec![("编号", 9.0), ("承办人", 10.0), ("责任区", 16.0)], TASK_COLS.to_vec()].concat();
    let tb = b.table("按承办人", &cols, &table)?;
    if !per.is_empty() {
        let last = per.len() as u32 - 1;
        b.chart(&tb, &chart(ChartType::Column, "任务完成情况（按承办人）", &tb, 1, &[3, 6, 7], (0, last), false))?;
    }

    let table: Vec<Vec<Cell>> = rows
        .iter()
        .filter(|a| d.period.contains(a.assigned))
        .filter(|a| match d.scope {
            Scope::County => true,
            Scope::Zone(z) => a.zone_id == Some(z),
            Scope::Inspector(p) => a.person_id == p,
        })
        .map(|a| {
            let overdue = a.task_open && a.state.awaits_assignee() && d.now > a.deadline;
            vec![
                Cell::text(task_code(a.task_id)),
                Cell::text(heads.get(&a.task_id).map_or_else(String::new, |h| h.title.clone())),
                Cell::text(n.person(a.person_id)),
                Cell::Date(a.assigned),
                Cell::text(a.state.label()),
                Cell::text(if a.acknowledged { "是" } else { "否" }),
                Cell::text(if overdue { "是" } else { "否" }),
            ]
        })
        .collect();
    b.table(
        "分派明细",
        &[
            ("任务", 8.0),
            ("标题", 30.0),
            ("承办人", 10.0),
            ("分派日期", 11.0),
            ("状态", 18.0),
            ("已确认", 8.0),
            ("逾期", 8.0),
        ],
        &table,
    )?;
    Ok(())
}

// ---- 月汇报 ----

fn area_cells(a: &AreaFigures) -> Vec<Cell> {
    vec![
        Cell::int(a.inspectors),
        Cell::int(a.visits),
        Cell::int(a.quota),
        rate(a.visits, a.quota),
        Cell::int(a.schools),
        Cell::int(a.schools_covered),
        rate(a.schools_covered, a.schools),
        Cell::int(a.themed_visits),
        Cell::int(a.indicators_scored),
        Cell::int(a.indicators_met),
        Cell::int(a.indicators_basically_met),
        Cell::int(a.indicators_not_met),
        rate(a.indicators_met, a.indicators_scored),
        Cell::int(a.problems),
    ]
}

const AREA_COLS: [Col; 14] = [
    ("督学人数", 9.0),
    ("督导次数", 9.0),
    ("定额", 8.0),
    ("定额完成率", 11.0),
    ("学校数", 8.0),
    ("已覆盖", 8.0),
    ("覆盖率", 9.0),
    ("主题督导", 9.0),
    ("评价指标", 9.0),
    ("达标", 8.0),
    ("基本达标", 9.0),
    ("不达标", 8.0),
    ("指标达标率", 11.0),
    ("发现问题", 9.0),
];

fn monthly(b: &mut Book, d: &Data) -> Result<(), XlsxError> {
    let zone_name = match d.scope {
        Scope::Zone(_) => Some(d.scope_name.as_str()),
        _ => None,
    };
    let areas = |m: &crate::domain::monthly::MonthFigures| -> Vec<AreaFigures> {
        m.zones.iter().filter(|z| zone_name.is_none_or(|n| z.name == n)).cloned().collect()
    };
    if zone_name.is_none() {
        let table: Vec<Vec<Cell>> = d
            .months
            .iter()
            .map(|m| {
                [
                    vec![Cell::text(&m.month), Cell::text(m.theme.clone().unwrap_or_else(|| "未发布".into()))],
                    area_cells(&m.county),
                ]
                .concat()
            })
            .collect();
        let cols: Vec<Col> = [vec![("月份", 10.0), ("主题", 24.0)], AREA_COLS.to_vec()].concat();
        b.table("全县", &cols, &table)?;
    }
    let mut table = Vec::new();
    let mut last_month_rows = (0u32, 0u32);
    for m in &d.months {
        let zs = areas(m);
        let first = table.len() as u32;
        for z in &zs {
            table.push([vec![Cell::text(&m.month), Cell::text(&z.name)], area_cells(z)].concat());
        }
        if !zs.is_empty() {
            last_month_rows = (first, table.len() as u32 - 1);
        }
    }
    let cols: Vec<Col> = [vec![("月份", 10.0), ("责任区", 18.0)], AREA_COLS.to_vec()].concat();
    let t = b.table("责任区", &cols, &table)?;
    if !table.is_empty() {
        // The county: the last month's zones side by side; one zone: its months.
        let c = if zone_name.is_none() {
            chart(ChartType::Column, "督导次数与定额（最近一月，按责任区）", &t, 1, &[3, 4], last_month_rows, false)
        } else {
            chart(ChartType::Column, "督导次数与定额（按月）", &t, 0, &[3, 4], (0, table.len() as u32 - 1), false)
        };
        b.chart(&t, &c)?;
    }

    let mut table = Vec::new();
    let mut short = Vec::new();
    for m in &d.months {
        // The county and its zones, or the one zone.
        let list: Vec<&AreaFigures> = match zone_name {
            None => std::iter::once(&m.county).chain(m.zones.iter()).collect(),
            Some(n) => m.zones.iter().filter(|z| z.name == n).collect(),
        };
        for a in &list {
            for (c, k) in &a.problems_by_category {
                table.push(vec![
                    Cell::text(&m.month),
                    Cell::text(&a.name),
                    Cell::text(category_label(*c)),
                    Cell::int(*k),
                ]);
            }
        }
        // Inspectors below the quota: the county's list covers every zone's.
        if let Some(a) = list.first() {
            for s in &a.below_quota {
                short.push(vec![Cell::text(&m.month), Cell::text(s)]);
            }
        }
        if zone_name.is_none() {
            for s in &m.city_direct_short {
                short.push(vec![Cell::text(&m.month), Cell::text(format!("市直学校 {s}"))]);
            }
        }
    }
    b.table("问题分类", &[("月份", 10.0), ("范围", 18.0), ("问题类别", 30.0), ("问题数", 8.0)], &table)?;
    b.table("未达定额", &[("月份", 10.0), ("督学（次数/定额）", 30.0)], &short)?;
    Ok(())
}

// ---- 对账 ----

fn reconcile(b: &mut Book, d: &Data) -> Result<(), XlsxError> {
    let only = match d.scope {
        Scope::Zone(_) => Some(d.scope_name.as_str()),
        _ => None,
    };
    let table: Vec<Vec<Cell>> = d
        .reconciliation
        .iter()
        .filter(|(_, s, _)| only.is_none_or(|z| s == z))
        .map(|(m, s, r)| {
            vec![
                Cell::text(m),
                Cell::text(if s.is_empty() { "全县" } else { s }),
                Cell::int(r.opening),
                Cell::int(r.new),
                Cell::int(r.reopened),
                Cell::int(r.closed),
                Cell::int(r.cancelled),
                Cell::int(r.closing),
                Cell::text(if r.balances() { "是" } else { "否" }),
            ]
        })
        .collect();
    let cols: [Col; 9] = [
        ("月份", 10.0),
        ("范围", 18.0),
        ("期初", 8.0),
        ("新增", 8.0),
        ("重开", 8.0),
        ("销号", 8.0),
        ("撤销", 8.0),
        ("期末", 8.0),
        ("是否平衡", 9.0),
    ];
    b.table("对账", &cols, &table)?;
    let f = stats::rectify::figures(&d.rows.items, &d.rows.escalations, d.period, d.scope, d.today);
    rate_by_month(b, d, &f)
}
