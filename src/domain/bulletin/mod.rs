//! 督导通报 (supervision bulletins): the monthly bulletin in the form offices publish — a title
//! with its issue number, 基本情况 (figures), 工作亮点, 存在问题 (by category), 整改要求 and the
//! 通报名单 (the items the escalation ladder put on the bulletin list) — built from the rows the
//! statistics load (`domain::stats`), with a supervisor's per-section corrections laid over it.
//! Rendered as chat text here and as a Word document in [`docx`].

pub mod docx;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{Datelike, NaiveDate};

use super::rectify::{category_label, item_code};
use super::stats::rectify::{state_on, RectifyFigures};
use super::stats::visits::VisitFigures;
use super::stats::weekly::WeeklyFigures;
use super::stats::{self, Period, Rows, Scope};

/// The only kind of bulletin so far: the monthly one (also drafted on demand).
pub const MONTHLY: &str = "monthly";

/// The longest correction a supervisor may give for one section, in characters.
pub const MAX_OVERRIDE_CHARS: usize = 3000;

/// The sections, in the order a bulletin has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Section {
    Basics,
    Highlights,
    Problems,
    Requirements,
    List,
}

impl Section {
    pub const ALL: [Section; 5] =
        [Section::Basics, Section::Highlights, Section::Problems, Section::Requirements, Section::List];

    pub fn title(self) -> &'static str {
        match self {
            Section::Basics => "基本情况",
            Section::Highlights => "工作亮点",
            Section::Problems => "存在问题",
            Section::Requirements => "整改要求",
            Section::List => "通报名单",
        }
    }

    /// "一、基本情况": the heading as printed.
    pub fn heading(self) -> String {
        const NUM: [&str; 5] = ["一", "二", "三", "四", "五"];
        let i = Section::ALL.iter().position(|s| *s == self).unwrap_or(0);
        format!("{}、{}", NUM[i], self.title())
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Section::Basics => "basics",
            Section::Highlights => "highlights",
            Section::Problems => "problems",
            Section::Requirements => "requirements",
            Section::List => "list",
        }
    }

    pub fn from_db(s: &str) -> Option<Section> {
        Section::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// What a supervisor types after `通报 修改`.
    pub fn parse(word: &str) -> Option<Section> {
        match word.trim() {
            "基本情况" | "情况" | "基本" => Some(Section::Basics),
            "工作亮点" | "亮点" => Some(Section::Highlights),
            "存在问题" | "问题" => Some(Section::Problems),
            "整改要求" | "要求" => Some(Section::Requirements),
            "通报名单" | "名单" => Some(Section::List),
            _ => None,
        }
    }
}

/// The calendar month a bulletin covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Month {
    pub year: i32,
    pub month: u32,
}

impl Month {
    pub fn new(year: i32, month: u32) -> Option<Month> {
        Period::month(year, month).map(|_| Month { year, month })
    }

    pub fn of(d: NaiveDate) -> Month {
        Month { year: d.year(), month: d.month() }
    }

    pub fn previous(self) -> Month {
        if self.month == 1 {
            Month { year: self.year - 1, month: 12 }
        } else {
            Month { year: self.year, month: self.month - 1 }
        }
    }

    pub fn period(self) -> Period {
        Period::month(self.year, self.month).unwrap_or_else(|| Period::month_of(NaiveDate::MIN))
    }

    /// "2026-11": how the period is stored.
    pub fn key(self) -> String {
        format!("{}-{:02}", self.year, self.month)
    }

    /// "2026年11月".
    pub fn label(self) -> String {
        format!("{}年{}月", self.year, self.month)
    }

    /// `本月`, `上月`, `2026-11` (or `2026-1`, `2026/11`, `2026.11`), `2026年11月`. Kept minimal and
    /// private to bulletins; the export periods have their own parser.
    pub fn parse(token: &str, today: NaiveDate) -> Option<Month> {
        let t = token.trim();
        match t {
            "本月" | "当月" => return Some(Month::of(today)),
            "上月" | "上个月" => return Some(Month::of(today).previous()),
            _ => {}
        }
        let (y, m) = if let Some(rest) = t.strip_suffix('月') {
            rest.split_once('年')?
        } else {
            t.split_once(['-', '/', '.'])?
        };
        let year = y.trim().parse::<i32>().ok().filter(|y| (2000..=2100).contains(y))?;
        let month = m.trim().parse::<u32>().ok()?;
        Month::new(year, month)
    }
}

/// The names the text shows, by id (zones in their roster order).
#[derive(Debug, Clone, Default)]
pub struct Names {
    pub zones: Vec<(i64, String)>,
    pub schools: HashMap<i64, String>,
    pub inspectors: HashMap<i64, String>,
}

impl Names {
    fn zone(&self, id: i64) -> String {
        self.zones.iter().find(|(z, _)| *z == id).map_or_else(|| format!("责任区{id}"), |(_, n)| n.clone())
    }

    fn school(&self, id: i64) -> String {
        self.schools.get(&id).cloned().unwrap_or_else(|| format!("学校{id}"))
    }

    fn inspector(&self, id: i64) -> String {
        self.inspectors.get(&id).cloned().unwrap_or_else(|| format!("督学{id}"))
    }
}

/// How the office writes its bulletins.
#[derive(Debug, Clone)]
pub struct Options {
    /// The county's name as the title says it ("示例县").
    pub county: String,
    /// Whether 存在问题 and 通报名单 may name schools (the office's rule); otherwise counts.
    pub name_schools: bool,
    pub per_inspector_per_month: u32,
    /// 第N期 of the year.
    pub issue_no: u32,
    /// The day the draft is made: figures are taken on the month's last day or this day,
    /// whichever is earlier.
    pub today: NaiveDate,
}

/// Who the bulletin is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub scope: Scope,
    /// "全县" or the zone's name.
    pub label: String,
}

impl Target {
    pub fn county() -> Target {
        Target { scope: Scope::County, label: "全县".into() }
    }

    /// "county" or "zone:<id>": how the scope is stored.
    pub fn key(&self) -> String {
        match self.scope {
            Scope::County => "county".into(),
            Scope::Zone(z) => format!("zone:{z}"),
            Scope::Inspector(p) => format!("inspector:{p}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionText {
    pub section: Section,
    pub paragraphs: Vec<String>,
    /// A supervisor's correction replaced the generated text.
    pub overridden: bool,
}

/// The figures table: a header and rows of cells.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    pub caption: String,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bulletin {
    pub month: Month,
    pub target: Target,
    pub issue_no: u32,
    pub title: String,
    /// "示例县教育督导室".
    pub issuer: String,
    /// The date of the draft, "2026年12月2日".
    pub date_line: String,
    pub sections: Vec<SectionText>,
    pub table: Table,
}

fn cn_date(d: NaiveDate) -> String {
    format!("{}年{}月{}日", d.year(), d.month(), d.day())
}

fn md(d: NaiveDate) -> String {
    format!("{}月{}日", d.month(), d.day())
}

/// "甲、乙、丙等5名" style lists: at most `max` names, then "等".
fn join_names(names: &[String], max: usize) -> String {
    if names.len() <= max {
        names.join("、")
    } else {
        format!("{}等", names[..max].join("、"))
    }
}

fn item_in_scope(zone_id: i64, inspectors: &[i64], scope: Scope) -> bool {
    match scope {
        Scope::County => true,
        Scope::Zone(z) => zone_id == z,
        Scope::Inspector(p) => inspectors.contains(&p),
    }
}

/// The figures one scope's bulletin reads.
struct Figures {
    weekly: WeeklyFigures,
    visits: VisitFigures,
    rectify: RectifyFigures,
}

fn figures(rows: &Rows, period: Period, scope: Scope, opts: &Options) -> Figures {
    Figures {
        weekly: stats::weekly::figures(&rows.weekly, period, scope),
        visits: stats::visits::figures(
            &rows.visits,
            &rows.schools,
            &rows.inspectors,
            opts.per_inspector_per_month,
            period,
            scope,
        ),
        rectify: stats::rectify::figures(&rows.items, &rows.escalations, period, scope, opts.today),
    }
}

/// One line of the 通报名单: an item the ladder listed (L2) in the period.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Listed {
    item_id: i64,
    school_id: i64,
    zone_id: i64,
    category: u8,
    /// Days overdue on the day the figures are taken; 0 when no longer overdue.
    overdue_days: i64,
    closed: bool,
}

/// Builds the bulletin of `month` for `target` from the loaded rows.
pub fn build(rows: &Rows, names: &Names, month: Month, target: &Target, opts: &Options) -> Bulletin {
    let period = month.period();
    let as_of = period.to.min(opts.today);
    let scope = target.scope;
    let f = figures(rows, period, scope, opts);
    let zones: Vec<(i64, String)> = match scope {
        Scope::Zone(z) => names.zones.iter().filter(|(id, _)| *id == z).cloned().collect(),
        _ => names.zones.clone(),
    };
    let listed = listed(rows, &f.rectify, period, scope, as_of);
    // Each zone's figures, once: the county's table rows and its highlights read them.
    let per_zone: Vec<(String, Figures)> = match scope {
        Scope::County => {
            zones.iter().map(|(z, name)| (name.clone(), figures(rows, period, Scope::Zone(*z), opts))).collect()
        }
        _ => Vec::new(),
    };
    // Each inspector's visits and quota, once (a county may have thousands of inspectors).
    let zone_of = match scope {
        Scope::Zone(z) => Some(z),
        _ => None,
    };
    let quotas = stats::visits::quota_by_inspector(
        &rows.visits,
        &rows.inspectors,
        opts.per_inspector_per_month,
        period,
        zone_of,
    );
    let sections = vec![
        SectionText { section: Section::Basics, paragraphs: basics(rows, &f, month, target, as_of), overridden: false },
        SectionText {
            section: Section::Highlights,
            paragraphs: highlights(rows, names, &f, &per_zone, &quotas, period, target),
            overridden: false,
        },
        SectionText {
            section: Section::Problems,
            paragraphs: problems(rows, names, &f, &quotas, period, scope, as_of, opts),
            overridden: false,
        },
        SectionText { section: Section::Requirements, paragraphs: requirements(&f, as_of), overridden: false },
        SectionText { section: Section::List, paragraphs: list_text(&listed, names, opts), overridden: false },
    ];
    let scope_in_title = match scope {
        Scope::County => String::new(),
        _ => target.label.clone(),
    };
    Bulletin {
        month,
        target: target.clone(),
        issue_no: opts.issue_no,
        title: format!(
            "{}{}责任督学挂牌督导工作通报（{}年第{}期）",
            opts.county, scope_in_title, month.year, opts.issue_no
        ),
        issuer: format!("{}教育督导室", opts.county),
        date_line: cn_date(opts.today),
        sections,
        table: table(&zones, &per_zone, scope, &f),
    }
}

fn basics(rows: &Rows, f: &Figures, month: Month, target: &Target, as_of: NaiveDate) -> Vec<String> {
    let scope = target.scope;
    let inspectors = rows
        .inspectors
        .iter()
        .filter(|i| match scope {
            Scope::County => true,
            Scope::Zone(z) => i.zone_id == Some(z),
            Scope::Inspector(p) => i.id == p,
        })
        .count();
    let (w, v, r) = (&f.weekly, &f.visits, &f.rectify);
    let mut out = vec![format!(
        "{}，{}共有责任督学{}名，挂牌督导学校{}所。",
        month.label(),
        target.label,
        inspectors,
        v.schools_assigned
    )];
    out.push(if w.expected == 0 {
        "周报：本月无应报周报。".to_string()
    } else {
        format!(
            "周报：应报{}份，按时提交{}份，逾期提交{}份，未提交{}份，按时报送率{}。",
            w.expected,
            w.on_time,
            w.late,
            w.missing,
            w.on_time_rate()
        )
    });
    out.push(format!(
        "督导：开展督导{}次，定额{}次，完成率{}；覆盖学校{}所，占挂牌学校{}所的{}。",
        v.visits,
        v.quota,
        v.quota_rate(),
        v.schools_covered,
        v.schools_assigned,
        v.coverage()
    ));
    out.push(format!(
        "整改：本月新发现问题{}个，已整改{}个，整改中{}个，撤销{}个，整改率{}；本月销号{}个，其中按期{}个，按期整改率{}。截至{}，逾期未整改问题{}个。",
        r.recorded,
        r.closed,
        r.open,
        r.cancelled,
        r.rate(),
        r.closures,
        r.closed_on_time,
        r.on_time_rate(),
        md(as_of),
        r.overdue.len()
    ));
    out
}

fn highlights(
    rows: &Rows,
    names: &Names,
    f: &Figures,
    per_zone: &[(String, Figures)],
    quotas: &BTreeMap<i64, (u32, u32)>,
    period: Period,
    target: &Target,
) -> Vec<String> {
    let mut out = Vec::new();
    let zone_scope = match target.scope {
        Scope::Zone(z) => Some(z),
        _ => None,
    };
    if zone_scope.is_none() {
        // Whole zones: the county bulletin praises zones, not people one by one.
        let full_weekly: Vec<&str> = per_zone
            .iter()
            .filter(|(_, z)| z.weekly.expected > 0 && z.weekly.on_time == z.weekly.expected)
            .map(|(n, _)| n.as_str())
            .collect();
        if !full_weekly.is_empty() {
            out.push(format!("{}周报全部按时报送。", full_weekly.join("、")));
        }
        let full_cover: Vec<&str> = per_zone
            .iter()
            .filter(|(_, z)| z.visits.schools_assigned > 0 && z.visits.schools_covered == z.visits.schools_assigned)
            .map(|(n, _)| n.as_str())
            .collect();
        if !full_cover.is_empty() {
            out.push(format!("{}实现挂牌学校督导全覆盖。", full_cover.join("、")));
        }
    } else {
        let people = stats::weekly::per_person(&rows.weekly, period, target.scope);
        let full: Vec<String> = people
            .iter()
            .filter(|(_, w)| w.expected > 0 && w.on_time == w.expected)
            .map(|(p, _)| names.inspector(*p))
            .collect();
        if !full.is_empty() {
            out.push(format!("{}周报全部按时报送。", join_names(&full, 10)));
        }
        if f.visits.schools_assigned > 0 && f.visits.schools_covered == f.visits.schools_assigned {
            out.push(format!("{}实现挂牌学校督导全覆盖。", target.label));
        }
    }
    let mut met: Vec<(i64, String)> = quotas
        .iter()
        .filter(|(_, (visits, quota))| *quota > 0 && visits >= quota)
        .map(|(p, _)| (*p, names.inspector(*p)))
        .collect();
    // Roster order is the inspectors' order in `rows`, not their ids.
    let order: HashMap<i64, usize> = rows.inspectors.iter().enumerate().map(|(i, r)| (r.id, i)).collect();
    met.sort_by_key(|(p, _)| order.get(p).copied().unwrap_or(usize::MAX));
    if !met.is_empty() {
        let names: Vec<String> = met.into_iter().map(|(_, n)| n).collect();
        out.push(format!("{}名督学完成本月督导定额：{}。", names.len(), join_names(&names, 10)));
    }
    if f.rectify.closed_early > 0 {
        out.push(format!("{}个问题在整改期限前完成整改并核查销号。", f.rectify.closed_early));
    }
    if out.is_empty() {
        out.push("本月暂无。".into());
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn problems(
    rows: &Rows,
    names: &Names,
    f: &Figures,
    quotas: &BTreeMap<i64, (u32, u32)>,
    period: Period,
    scope: Scope,
    as_of: NaiveDate,
    opts: &Options,
) -> Vec<String> {
    let mut out = Vec::new();
    let r = &f.rectify;
    if r.recorded == 0 {
        out.push("本月未发现新问题。".into());
    } else {
        // Category → schools with items recorded in the period (in scope, as the figures count).
        let mut schools: BTreeMap<u8, BTreeSet<i64>> = BTreeMap::new();
        for it in rows.items.iter().filter(|it| item_in_scope(it.zone_id, &it.inspectors, scope)) {
            if period.contains(it.created) && it.created <= as_of {
                schools.entry(it.category).or_default().insert(it.school_id);
            }
        }
        let mut cats: Vec<(u8, u32)> = r.by_category().into_iter().collect();
        cats.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        out.push(format!("本月新发现问题{}个，按类别：", r.recorded));
        for (i, (c, n)) in cats.iter().enumerate() {
            let set = schools.get(c).cloned().unwrap_or_default();
            let where_ = if opts.name_schools {
                let mut ns: Vec<String> = set.iter().map(|s| names.school(*s)).collect();
                ns.sort();
                format!("涉及{}", join_names(&ns, 8))
            } else {
                format!("涉及{}所学校", set.len())
            };
            out.push(format!("（{}）{}：{}个，{}。", i + 1, category_label(*c), n, where_));
        }
    }
    let w = &f.weekly;
    if w.late > 0 || w.missing > 0 {
        out.push(format!("周报逾期提交{}份、未提交{}份。", w.late, w.missing));
    }
    let under = quotas.values().filter(|(visits, quota)| *quota > 0 && visits < quota).count();
    if under > 0 {
        out.push(format!("{under}名督学未完成本月督导定额。"));
    }
    let missed = &f.visits.not_visited;
    if !missed.is_empty() {
        if opts.name_schools {
            let ns: Vec<String> = missed.iter().map(|s| names.school(*s)).collect();
            out.push(format!("{}所学校本月未接受督导：{}。", missed.len(), join_names(&ns, 10)));
        } else {
            out.push(format!("{}所学校本月未接受督导。", missed.len()));
        }
    }
    if let Some(longest) = r.overdue.first() {
        out.push(format!("截至{}，逾期未整改问题{}个，最长逾期{}天。", md(as_of), r.overdue.len(), longest.days));
    }
    out
}

fn requirements(f: &Figures, as_of: NaiveDate) -> Vec<String> {
    let over = &f.rectify.overdue;
    let schools: BTreeSet<i64> = over.iter().map(|o| o.school_id).collect();
    let overdue = match over.first() {
        Some(longest) => format!(
            "截至{}，仍有{}个问题逾期未整改（涉及{}所学校，最长逾期{}天），相关学校须在5个工作日内完成整改，并书面说明逾期原因；责任督学要跟踪督办。",
            md(as_of),
            over.len(),
            schools.len(),
            longest.days
        ),
        None => format!("截至{}，无逾期未整改问题，请继续保持。", md(as_of)),
    };
    vec![
        "1. 各学校要对照问题清单逐项整改，在整改期限内完成并上传整改佐证材料；责任督学要及时核查，按期销号。".into(),
        format!("2. {overdue}"),
        "3. 各责任督学要按月完成督导定额，按时报送周报，做到挂牌学校督导全覆盖。".into(),
    ]
}

/// Items that reached the 督导通报 level (L2) in the period, in scope, by item.
fn listed(rows: &Rows, r: &RectifyFigures, period: Period, scope: Scope, as_of: NaiveDate) -> Vec<Listed> {
    let ids: BTreeSet<i64> = rows
        .escalations
        .iter()
        .filter(|e| e.level == 2 && period.contains(e.date) && e.date <= as_of)
        .map(|e| e.item_id)
        .collect();
    let overdue: HashMap<i64, i64> = r.overdue.iter().map(|o| (o.item_id, o.days)).collect();
    rows.items
        .iter()
        .filter(|it| ids.contains(&it.id) && item_in_scope(it.zone_id, &it.inspectors, scope))
        .map(|it| Listed {
            item_id: it.id,
            school_id: it.school_id,
            zone_id: it.zone_id,
            category: it.category,
            overdue_days: overdue.get(&it.id).copied().unwrap_or(0),
            closed: matches!(state_on(it, as_of), Some((super::rectify::Status::Closed, _))),
        })
        .collect()
}

fn list_text(listed: &[Listed], names: &Names, opts: &Options) -> Vec<String> {
    if listed.is_empty() {
        return vec!["本月无列入通报的问题。".into()];
    }
    let schools: BTreeSet<i64> = listed.iter().map(|l| l.school_id).collect();
    let mut out = vec![format!(
        "以下{}个问题逾期未整改或多次整改未通过，列入本期通报（涉及{}所学校）：",
        listed.len(),
        schools.len()
    )];
    for (i, l) in listed.iter().enumerate() {
        let who = if opts.name_schools { names.school(l.school_id) } else { names.zone(l.zone_id) };
        let state = if l.closed {
            "已整改销号".to_string()
        } else if l.overdue_days > 0 {
            format!("逾期{}天", l.overdue_days)
        } else {
            "整改中".to_string()
        };
        out.push(format!("{}. {} {} {}，{}。", i + 1, item_code(l.item_id), who, category_label(l.category), state));
    }
    out
}

fn table_row(label: &str, f: &Figures) -> Vec<String> {
    vec![
        label.to_string(),
        f.weekly.on_time_rate().to_string(),
        format!("{}/{}", f.visits.visits, f.visits.quota),
        f.visits.coverage().to_string(),
        f.rectify.recorded.to_string(),
        f.rectify.rate().to_string(),
        f.rectify.overdue.len().to_string(),
    ]
}

fn table(zones: &[(i64, String)], per_zone: &[(String, Figures)], scope: Scope, all: &Figures) -> Table {
    let header = ["责任区", "周报按时率", "督导次数/定额", "学校覆盖率", "新发现问题", "整改率", "逾期问题"];
    let mut out =
        Table {
            caption: "主要指标".into(), header: header.iter().map(|s| s.to_string()).collect(), rows: Vec::new()
        };
    match scope {
        Scope::County => {
            for (name, f) in per_zone {
                out.rows.push(table_row(name, f));
            }
            out.rows.push(table_row("全县合计", all));
        }
        _ => {
            let label = zones.first().map_or("合计", |(_, n)| n.as_str());
            out.rows.push(table_row(label, all));
        }
    }
    out
}

impl Bulletin {
    /// Replaces sections with a supervisor's corrections (one text each; lines become
    /// paragraphs).
    pub fn apply_overrides(&mut self, overrides: &[(Section, String)]) {
        for (section, body) in overrides {
            if let Some(s) = self.sections.iter_mut().find(|s| s.section == *section) {
                s.paragraphs = body.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect();
                s.overridden = true;
            }
        }
    }

    pub fn section(&self, section: Section) -> Option<&SectionText> {
        self.sections.iter().find(|s| s.section == section)
    }

    /// The whole bulletin as chat text.
    pub fn full_text(&self) -> String {
        let mut out = format!("{}\n{} {}\n", self.title, self.issuer, self.date_line);
        for s in &self.sections {
            out.push('\n');
            out.push_str(&s.heading_line());
            for p in &s.paragraphs {
                out.push('\n');
                out.push_str(p);
            }
        }
        out
    }

    /// The chat text in at most `max_chars` characters: the whole bulletin when it fits, else
    /// the title, 基本情况 and a line of counts, then `more` (where the full text is).
    pub fn chat_text(&self, max_chars: usize, more: &str) -> String {
        let full = self.full_text();
        if full.chars().count() <= max_chars {
            return full;
        }
        let mut summary = format!("{}\n{} {}\n", self.title, self.issuer, self.date_line);
        if let Some(b) = self.section(Section::Basics) {
            summary.push('\n');
            summary.push_str(&b.heading_line());
            for p in &b.paragraphs {
                summary.push('\n');
                summary.push_str(p);
            }
        }
        let count = |s: Section| self.section(s).map_or(0, |t| t.paragraphs.len());
        summary.push_str(&format!(
            "\n（另有工作亮点{}条、存在问题{}条、整改要求{}条、通报名单{}条。）",
            count(Section::Highlights),
            count(Section::Problems),
            count(Section::Requirements),
            self.section(Section::List).map_or(0, |t| t.paragraphs.len().saturating_sub(1))
        ));
        let tail = format!("\n{more}");
        let room = max_chars.saturating_sub(tail.chars().count());
        if summary.chars().count() > room {
            // Cut on a character boundary of the summary itself, leaving room for the ellipsis.
            let keep = room.saturating_sub(1);
            summary = summary.chars().take(keep).collect::<String>();
            summary.push('…');
        }
        summary.push_str(&tail);
        summary.chars().take(max_chars).collect()
    }
}

impl SectionText {
    fn heading_line(&self) -> String {
        if self.overridden {
            // Marked so a reviewer sees which parts are hand-written; the .docx has no mark.
            format!("{}（已修改）", self.section.heading())
        } else {
            self.section.heading()
        }
    }
}

/// The text after `通报 修改`: `[期间] [范围] <节> <文字>`. The words before the section name
/// (period and scope, still to be resolved) and the text, cut from `args` itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit<'a> {
    pub before: Vec<&'a str>,
    pub section: Section,
    pub text: &'a str,
}

/// Splits `args` into whitespace-separated words with their byte ranges in `args`.
pub fn words(args: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in args.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                out.push((s, &args[s..i]));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, &args[s..]));
    }
    out
}

/// Parses `[期间] [范围] <节> <文字>`; the error is the reply.
pub fn parse_edit(args: &str) -> Result<Edit<'_>, String> {
    let ws = words(args);
    let Some(pos) = ws.iter().position(|(_, w)| Section::parse(w).is_some()) else {
        return Err(EDIT_USAGE.into());
    };
    let (at, word) = ws[pos];
    let section = Section::parse(word).unwrap_or(Section::Highlights);
    let text = args[at + word.len()..].trim();
    if text.is_empty() {
        return Err(format!("请写出“{}”的新内容。{EDIT_USAGE}", section.title()));
    }
    if text.chars().count() > MAX_OVERRIDE_CHARS {
        return Err(format!("内容过长（超过{MAX_OVERRIDE_CHARS}字），请精简后再发。"));
    }
    Ok(Edit { before: ws[..pos].iter().map(|(_, w)| *w).collect(), section, text })
}

pub const EDIT_USAGE: &str =
    "用法：通报 修改 [期间] [责任区] <基本情况|亮点|问题|要求|名单> <文字>；文字写“恢复”则恢复自动生成的内容。";

/// Words that restore a section's generated text.
pub fn is_restore(text: &str) -> bool {
    matches!(text.trim(), "恢复" | "默认" | "清除" | "恢复默认")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::rectify::{Severity, Source, Status};
    use crate::domain::report_parse::VisitMethod;
    use crate::domain::stats::rectify::{EscalationRow, EventRow, ItemRow};
    use crate::domain::stats::visits::{InspectorRow, SchoolRow, VisitRow};
    use crate::domain::stats::weekly::WeeklyRow;
    use crate::domain::visit_parse::VisitKind;

    fn d(m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, m, day).unwrap()
    }

    fn ev(date: NaiveDate, action: &str, to: Status, deadline: NaiveDate) -> EventRow {
        EventRow { date, action: action.into(), to_status: to, deadline: Some(deadline) }
    }

    fn item(id: i64, school: i64, zone: i64, insp: i64, category: u8, events: Vec<EventRow>) -> ItemRow {
        let last = events.last().cloned().unwrap();
        ItemRow {
            id,
            school_id: school,
            zone_id: zone,
            inspectors: vec![insp],
            category,
            severity: Severity::General,
            source: Source::Visit,
            created: events[0].date,
            status: last.to_status,
            deadline: last.deadline.unwrap(),
            events,
        }
    }

    fn visit(id: i64, person: i64, school: i64, zone: i64, date: NaiveDate) -> VisitRow {
        VisitRow {
            id,
            person_id: person,
            school_id: school,
            zone_id: zone,
            date,
            kind: VisitKind::default(),
            themed: false,
            methods: vec![(VisitMethod::LessonObservation, 1)],
        }
    }

    fn weekly(week: &str, person: i64, zone: i64, submitted: bool, late: bool) -> WeeklyRow {
        WeeklyRow { week: week.into(), person_id: person, zone_id: Some(zone), excluded: false, submitted, late }
    }

    /// November 2026. Zone 10 (第一责任区): inspector 1 (张督学) with schools 101 (一小), 102
    /// (二小). Zone 20 (第二责任区): inspector 2 (李督学) with school 201 (三中). Quota 2 a month.
    fn fixture() -> (Rows, Names) {
        use Status::*;
        let rows = Rows {
            weekly: vec![
                weekly("2026-W45", 1, 10, true, false),
                weekly("2026-W46", 1, 10, true, false),
                weekly("2026-W45", 2, 20, true, true),
                weekly("2026-W46", 2, 20, false, false),
            ],
            visits: vec![
                visit(1, 1, 101, 10, d(11, 3)),
                visit(2, 1, 102, 10, d(11, 10)),
                visit(3, 2, 201, 20, d(11, 12)),
            ],
            schools: vec![
                SchoolRow { id: 101, zone_id: 10, inspectors: vec![1] },
                SchoolRow { id: 102, zone_id: 10, inspectors: vec![1] },
                SchoolRow { id: 201, zone_id: 20, inspectors: vec![2] },
            ],
            inspectors: vec![
                InspectorRow { id: 1, zone_id: Some(10), counted: true },
                InspectorRow { id: 2, zone_id: Some(20), counted: true },
            ],
            items: vec![
                // Closed early: deadline 20 Nov, closed 15 Nov.
                item(
                    1,
                    101,
                    10,
                    1,
                    6,
                    vec![ev(d(11, 3), "created", Notified, d(11, 20)), ev(d(11, 15), "closed", Closed, d(11, 20))],
                ),
                // Open, overdue since 10 Nov (20 days on 30 Nov), listed on the bulletin on 20 Nov.
                item(2, 201, 20, 2, 6, vec![ev(d(11, 2), "created", Notified, d(11, 10))]),
                // Open, not yet due.
                item(3, 201, 20, 2, 7, vec![ev(d(11, 25), "created", Notified, d(12, 10))]),
            ],
            escalations: vec![
                EscalationRow { item_id: 2, level: 1, date: d(11, 13) },
                EscalationRow { item_id: 2, level: 2, date: d(11, 20) },
            ],
            assignments: vec![],
            info: vec![],
        };
        let names = Names {
            zones: vec![(10, "第一责任区".into()), (20, "第二责任区".into())],
            schools: HashMap::from([(101, "一小".into()), (102, "二小".into()), (201, "三中".into())]),
            inspectors: HashMap::from([(1, "张督学".into()), (2, "李督学".into())]),
        };
        (rows, names)
    }

    fn opts(name_schools: bool) -> Options {
        Options { county: "示例县".into(), name_schools, per_inspector_per_month: 2, issue_no: 11, today: d(12, 2) }
    }

    fn nov() -> Month {
        Month::new(2026, 11).unwrap()
    }

    #[test]
    fn county_bulletin_by_hand() {
        let (rows, names) = fixture();
        let b = build(&rows, &names, nov(), &Target::county(), &opts(false));
        assert_eq!(b.title, "示例县责任督学挂牌督导工作通报（2026年第11期）");
        assert_eq!(b.issuer, "示例县教育督导室");
        assert_eq!(b.date_line, "2026年12月2日");
        let basics = &b.section(Section::Basics).unwrap().paragraphs;
        assert_eq!(basics[0], "2026年11月，全县共有责任督学2名，挂牌督导学校3所。");
        // 4 expected: 3 in (one late), 1 missing → 2 / 4 on time.
        assert_eq!(basics[1], "周报：应报4份，按时提交2份，逾期提交1份，未提交1份，按时报送率50.0%。");
        // 3 visits against 2 × 2; all 3 schools covered.
        assert_eq!(basics[2], "督导：开展督导3次，定额4次，完成率75.0%；覆盖学校3所，占挂牌学校3所的100.0%。");
        // Items 1–3 recorded; 1 closed, 2 open → 1 / 3; one closure, on time.
        assert_eq!(
            basics[3],
            "整改：本月新发现问题3个，已整改1个，整改中2个，撤销0个，整改率33.3%；本月销号1个，其中按期1个，按期整改率100.0%。截至11月30日，逾期未整改问题1个。"
        );
        let hl = &b.section(Section::Highlights).unwrap().paragraphs;
        assert_eq!(
            hl,
            &vec![
                "第一责任区周报全部按时报送。".to_string(),
                "第一责任区、第二责任区实现挂牌学校督导全覆盖。".into(),
                "1名督学完成本月督导定额：张督学。".into(),
                "1个问题在整改期限前完成整改并核查销号。".into(),
            ]
        );
        let pr = &b.section(Section::Problems).unwrap().paragraphs;
        assert_eq!(pr[0], "本月新发现问题3个，按类别：");
        assert_eq!(pr[1], "（1）校园及周边安全、学生交通安全：2个，涉及2所学校。");
        assert_eq!(pr[2], "（2）食堂、食品、饮水及宿舍卫生：1个，涉及1所学校。");
        assert_eq!(pr[3], "周报逾期提交1份、未提交1份。");
        assert_eq!(pr[4], "1名督学未完成本月督导定额。");
        assert_eq!(pr[5], "截至11月30日，逾期未整改问题1个，最长逾期20天。");
        assert_eq!(pr.len(), 6, "every school was visited");
        assert!(!b.full_text().contains("三中"), "schools are not named by default");
        let rq = &b.section(Section::Requirements).unwrap().paragraphs;
        assert!(rq[1].contains("仍有1个问题逾期未整改（涉及1所学校，最长逾期20天）"), "{}", rq[1]);
        let list = &b.section(Section::List).unwrap().paragraphs;
        assert_eq!(list[0], "以下1个问题逾期未整改或多次整改未通过，列入本期通报（涉及1所学校）：");
        assert_eq!(list[1], "1. W2 第二责任区 校园及周边安全、学生交通安全，逾期20天。");
        assert_eq!(b.table.header[0], "责任区");
        assert_eq!(
            b.table.rows,
            vec![
                vec!["第一责任区", "100.0%", "2/2", "100.0%", "1", "100.0%", "0"],
                vec!["第二责任区", "0.0%", "1/2", "100.0%", "2", "0.0%", "1"],
                vec!["全县合计", "50.0%", "3/4", "100.0%", "3", "33.3%", "1"],
            ]
        );
    }

    #[test]
    fn schools_named_when_the_office_allows() {
        let (rows, names) = fixture();
        let b = build(&rows, &names, nov(), &Target::county(), &opts(true));
        let pr = &b.section(Section::Problems).unwrap().paragraphs;
        assert_eq!(pr[1], "（1）校园及周边安全、学生交通安全：2个，涉及一小、三中。");
        let list = &b.section(Section::List).unwrap().paragraphs;
        assert_eq!(list[1], "1. W2 三中 校园及周边安全、学生交通安全，逾期20天。");
    }

    #[test]
    fn zone_bulletin_and_a_quiet_month() {
        let (rows, names) = fixture();
        let zone = Target { scope: Scope::Zone(10), label: "第一责任区".into() };
        let b = build(&rows, &names, nov(), &zone, &opts(false));
        assert_eq!(b.title, "示例县第一责任区责任督学挂牌督导工作通报（2026年第11期）");
        let hl = &b.section(Section::Highlights).unwrap().paragraphs;
        assert_eq!(hl[0], "张督学周报全部按时报送。");
        assert_eq!(hl[1], "第一责任区实现挂牌学校督导全覆盖。");
        assert_eq!(b.section(Section::List).unwrap().paragraphs, vec!["本月无列入通报的问题。".to_string()]);
        assert!(b.section(Section::Requirements).unwrap().paragraphs[1].contains("无逾期未整改问题"));
        assert_eq!(b.table.rows, vec![vec!["第一责任区", "100.0%", "2/2", "100.0%", "1", "100.0%", "0"]]);

        // October: nothing happened — no division by zero, "—" rates, polite empty sections.
        let oct = build(&rows, &names, Month::new(2026, 10).unwrap(), &Target::county(), &opts(false));
        let basics = &oct.section(Section::Basics).unwrap().paragraphs;
        assert_eq!(basics[1], "周报：本月无应报周报。");
        assert!(basics[3].contains("整改率—"), "{}", basics[3]);
        assert_eq!(oct.section(Section::Highlights).unwrap().paragraphs, vec!["本月暂无。".to_string()]);
        assert_eq!(oct.section(Section::Problems).unwrap().paragraphs[0], "本月未发现新问题。");
        let pr = &oct.section(Section::Problems).unwrap().paragraphs;
        assert_eq!(pr[1], "2名督学未完成本月督导定额。");
        assert_eq!(pr[2], "3所学校本月未接受督导。");
    }

    #[test]
    fn overrides_replace_a_section() {
        let (rows, names) = fixture();
        let mut b = build(&rows, &names, nov(), &Target::county(), &opts(false));
        b.apply_overrides(&[(Section::Highlights, "第一责任区开展食品安全专项督导。\n\n家长满意度提升。".into())]);
        let hl = b.section(Section::Highlights).unwrap();
        assert!(hl.overridden);
        assert_eq!(hl.paragraphs, vec!["第一责任区开展食品安全专项督导。".to_string(), "家长满意度提升。".into()]);
        let text = b.full_text();
        assert!(text.contains("二、工作亮点（已修改）\n第一责任区开展食品安全专项督导。"), "{text}");
        assert!(!text.contains("完成本月督导定额："));
    }

    #[test]
    fn chat_text_fits_the_channel() {
        let (rows, names) = fixture();
        let b = build(&rows, &names, nov(), &Target::county(), &opts(false));
        let full = b.full_text();
        let n = full.chars().count();
        assert_eq!(b.chat_text(n, "完整内容见 .docx"), full);
        for max in [n - 1, 400, 120, 20] {
            let t = b.chat_text(max, "完整内容见 .docx");
            assert!(t.chars().count() <= max, "{max}: {t}");
            if max >= 120 {
                assert!(t.ends_with("完整内容见 .docx") && t.starts_with("示例县责任督学"), "{t}");
            }
        }
        let short = b.chat_text(400, "完整内容见 .docx");
        assert!(short.contains("一、基本情况") && short.contains("通报名单1条"), "{short}");
    }

    #[test]
    fn months_and_sections() {
        let today = d(1, 15);
        assert_eq!(Month::parse("本月", today), Month::new(2026, 1));
        assert_eq!(Month::parse("上月", today), Month::new(2025, 12));
        assert_eq!(Month::parse("2026-11", today), Month::new(2026, 11));
        assert_eq!(Month::parse("2026/3", today), Month::new(2026, 3));
        assert_eq!(Month::parse("2026年11月", today), Month::new(2026, 11));
        assert_eq!(Month::parse("2026-13", today), None);
        assert_eq!(Month::parse("11月", today), None);
        assert_eq!(Month::parse("第一责任区", today), None);
        assert_eq!(Month::parse("99999-1", today), None);
        assert_eq!(nov().key(), "2026-11");
        assert_eq!(nov().label(), "2026年11月");
        assert_eq!(Section::parse("亮点"), Some(Section::Highlights));
        assert_eq!(Section::List.heading(), "五、通报名单");
        for s in Section::ALL {
            assert_eq!(Section::from_db(s.as_str()), Some(s));
            assert_eq!(Section::parse(s.title()), Some(s));
        }
    }

    #[test]
    fn edits_are_cut_from_the_text_itself() {
        let e = parse_edit("2026-11 亮点 第一行\n第二行  ").unwrap();
        assert_eq!(e.before, vec!["2026-11"]);
        assert_eq!(e.section, Section::Highlights);
        assert_eq!(e.text, "第一行\n第二行");
        let e = parse_edit("问题\u{3000}全角空格之后").unwrap();
        assert_eq!((e.section, e.text), (Section::Problems, "全角空格之后"));
        assert!(parse_edit("亮点").unwrap_err().contains("请写出“工作亮点”的新内容"));
        assert!(parse_edit("随便写写").unwrap_err().starts_with("用法"));
        assert!(parse_edit(&format!("亮点 {}", "字".repeat(MAX_OVERRIDE_CHARS + 1))).is_err());
        assert!(is_restore("恢复"));
    }
}
