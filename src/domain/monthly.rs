//! Monthly themes (一月一主题), visit quotas and the month-end report (月汇报). Pure: the
//! workflow in `app::monthly` feeds it rows and posts what it returns.

use super::text::{leading_number, normalize, parse_chinese_number, split_items, strip_list_marker};
use super::visit_parse::IndicatorResult;
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The eight items of routine inspection plus 其他, numbered 1..=9 (the standard problem categories).
pub const CATEGORIES: [&str; 9] = [
    "校务管理和制度执行",
    "招生、收费、择校",
    "课程开设和课堂教学",
    "学生学习、体育锻炼和课业负担",
    "教师师德和专业发展",
    "校园及周边安全、学生交通安全",
    "食堂、食品、饮水及宿舍卫生",
    "校风、教风、学风",
    "其他",
];

pub const OTHER_CATEGORY: u8 = 9;

pub fn category_label(c: u8) -> &'static str {
    CATEGORIES.get(usize::from(c).wrapping_sub(1)).copied().unwrap_or("其他")
}

/// Short words inspectors use for each category, for reading "问题类别：安全、校风" and for
/// sorting problems found on visits. Earlier categories win only on the same keyword length.
const CATEGORY_KEYWORDS: &[(u8, &[&str])] = &[
    (7, &["食堂", "食品", "饮水", "宿舍", "卫生", "餐", "厨", "留样", "台账不全的食"]),
    (
        6,
        &[
            "安全", "消防", "灭火", "疏散", "通道", "交通", "校车", "溺水", "监控", "围墙", "护栏", "门卫", "隐患",
            "电线", "燃气",
        ],
    ),
    (2, &["招生", "收费", "择校", "乱收费", "学籍", "补课费"]),
    (4, &["作业", "课业", "负担", "体育锻炼", "大课间", "睡眠", "手机", "体质", "近视", "双减"]),
    (3, &["课程", "课表", "课堂", "教学", "听课", "教案", "备课", "开齐开足"]),
    (5, &["师德", "体罚", "有偿补课", "教师培训", "教研", "专业发展"]),
    (8, &["校风", "教风", "学风", "校园文化"]),
    (1, &["校务", "制度", "管理", "档案", "台账", "会议记录", "计划", "公示"]),
];

/// The category a problem text most likely belongs to (9 其他 when no keyword matches).
pub fn classify_problem(text: &str) -> u8 {
    let t = normalize(text);
    let mut best: Option<(usize, u8)> = None;
    for (cat, words) in CATEGORY_KEYWORDS {
        for w in *words {
            if t.contains(w) && best.is_none_or(|(len, _)| w.chars().count() > len) {
                best = Some((w.chars().count(), *cat));
            }
        }
    }
    best.map_or(OTHER_CATEGORY, |(_, c)| c)
}

/// Reads a list of categories: numbers ("6、8") or words ("安全、校风").
pub fn parse_categories(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in normalize(text).split(['、', ',', '，', ' ', ';', '；', '/']) {
        let piece = piece.trim();
        if piece.is_empty() {
            continue;
        }
        let c =
            match piece.parse::<u8>().ok().or_else(|| parse_chinese_number(piece).and_then(|n| u8::try_from(n).ok())) {
                Some(n) if (1..=9).contains(&n) => Some(n),
                Some(_) => None,
                None if piece == "其他" => Some(OTHER_CATEGORY),
                None => CATEGORIES
                    .iter()
                    .position(|l| l.contains(piece))
                    .and_then(|i| u8::try_from(i + 1).ok())
                    .or_else(|| Some(classify_problem(piece)).filter(|c| *c != OTHER_CATEGORY)),
            };
        if let Some(c) = c {
            if !out.contains(&c) {
                out.push(c);
            }
        }
    }
    out
}

/// One month's theme, as published or as in the yearly calendar file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThemeDef {
    /// Month of the year, 1..=12.
    pub month: u32,
    #[serde(default)]
    pub code: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub categories: Vec<u8>,
    pub indicators: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ThemeCalendar {
    #[serde(default)]
    pub themes: Vec<ThemeDef>,
}

impl ThemeCalendar {
    /// Parses and checks a theme calendar file (months unique, 1–20 non-empty indicators,
    /// categories 1..=9).
    pub fn from_toml_str(s: &str) -> Result<ThemeCalendar, String> {
        let cal: ThemeCalendar = toml::from_str(s).map_err(|e| e.to_string())?;
        let mut seen = Vec::new();
        for t in &cal.themes {
            let at = format!("theme for month {}", t.month);
            if !(1..=12).contains(&t.month) {
                return Err(format!("{at}: month must be 1..12"));
            }
            if seen.contains(&t.month) {
                return Err(format!("{at}: month listed twice"));
            }
            seen.push(t.month);
            if t.title.trim().is_empty() {
                return Err(format!("{at}: empty title"));
            }
            if t.indicators.is_empty() || t.indicators.len() > 20 || t.indicators.iter().any(|i| i.trim().is_empty()) {
                return Err(format!("{at}: needs 1 to 20 non-empty indicators"));
            }
            if t.categories.iter().any(|c| !(1..=9).contains(c)) {
                return Err(format!("{at}: categories must be 1..9"));
            }
        }
        Ok(cal)
    }

    pub fn for_month(&self, month: u32) -> Option<&ThemeDef> {
        self.themes.iter().find(|t| t.month == month)
    }
}

/// "2026-11" for a date.
pub fn month_label(d: NaiveDate) -> String {
    format!("{:04}-{:02}", d.year(), d.month())
}

/// "2026年11月".
pub fn month_title(month: &str) -> String {
    match parse_month_label(month) {
        Some((y, m)) => format!("{y}年{m}月"),
        None => month.to_string(),
    }
}

pub fn parse_month_label(s: &str) -> Option<(i32, u32)> {
    let (y, m) = s.split_once('-')?;
    let (y, m): (i32, u32) = (y.trim().parse().ok()?, m.trim().parse().ok()?);
    ((1..=12).contains(&m) && (2000..=2200).contains(&y)).then_some((y, m))
}

/// First and last day of a month label.
pub fn month_bounds(month: &str) -> Option<(NaiveDate, NaiveDate)> {
    let (y, m) = parse_month_label(month)?;
    let first = NaiveDate::from_ymd_opt(y, m, 1)?;
    let next = if m == 12 { NaiveDate::from_ymd_opt(y + 1, 1, 1)? } else { NaiveDate::from_ymd_opt(y, m + 1, 1)? };
    Some((first, next.pred_opt()?))
}

pub fn previous_month(d: NaiveDate) -> String {
    let first = d.with_day(1).and_then(|f| f.pred_opt()).unwrap_or(d);
    month_label(first)
}

/// A month written by a person: "2026-11", "2026年11月", "11月", "十一月", "本月", "上月", "下月".
/// A bare month is the nearest one: in this year, unless that is more than six months away.
pub fn parse_month(s: &str, today: NaiveDate) -> Option<String> {
    let t = normalize(s);
    let t = t.trim();
    match t {
        "本月" | "这个月" | "当月" => return Some(month_label(today)),
        "上月" | "上个月" => return Some(previous_month(today)),
        "下月" | "下个月" => {
            let last = month_bounds(&month_label(today))?.1;
            return last.succ_opt().map(month_label);
        }
        _ => {}
    }
    let t = t.replace(['年', '/', '.'], "-");
    let t = t.trim_end_matches("份").trim_end_matches('月');
    if let Some((y, m)) = t.split_once('-') {
        let (y, m): (i32, u32) = (y.parse().ok()?, m.parse().ok()?);
        return parse_month_label(&format!("{y}-{m}")).map(|(y, m)| format!("{y:04}-{m:02}"));
    }
    let m: u32 = t.parse().ok().or_else(|| parse_chinese_number(t))?;
    if !(1..=12).contains(&m) {
        return None;
    }
    let cur = i64::from(today.month());
    let mut year = today.year();
    let diff = i64::from(m) - cur;
    if diff > 6 {
        year -= 1;
    } else if diff < -6 {
        year += 1;
    }
    Some(format!("{year:04}-{m:02}"))
}

/// A theme a supervisor typed in chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThemeDraft {
    pub month: String,
    /// Empty: take the month's theme from the yearly calendar.
    pub title: String,
    pub description: String,
    pub indicators: Vec<String>,
    pub categories: Vec<u8>,
}

pub const PUBLISH_USAGE: &str = "发布主题 11月 消防安全与校风建设\n说明：……\n指标：1.消防通道畅通 2.灭火器在有效期内 …\n问题类别：6、8\n（只发“发布主题 11月”：按主题日历发布该月默认主题）";

const LABEL_DESC: &[&str] = &["说明", "主题说明", "要求", "内容"];
const LABEL_IND: &[&str] = &["指标", "检查指标", "督导指标", "清单", "检查清单"];
const LABEL_CAT: &[&str] = &["问题类别", "类别", "关联类别", "关联问题"];

/// Parses the arguments of `发布主题`: the first line holds an optional month and the title;
/// labelled lines follow. Unlabelled lines after an indicator label are more indicators.
pub fn parse_publish(args: &str, today: NaiveDate) -> Result<ThemeDraft, String> {
    let text = normalize(args).replace("\r\n", "\n");
    let mut lines = text.lines();
    let first = lines.next().unwrap_or("").trim();
    // The first word may be a month.
    let (month, title) = match first.split_once(char::is_whitespace) {
        Some((w, rest)) if parse_month(w, today).is_some() => (parse_month(w, today), rest.trim()),
        _ if parse_month(first, today).is_some() => (parse_month(first, today), ""),
        _ => (None, first),
    };
    let month = month.unwrap_or_else(|| month_label(today));
    let (mut description, mut ind_text, mut cat_text) = (Vec::new(), Vec::new(), String::new());
    let mut current = 0u8; // 0 none, 1 description, 2 indicators
    let mut title = title.to_string();
    let take = |line: &str, labels: &[&str]| -> Option<String> {
        labels.iter().find_map(|l| {
            line.strip_prefix(l)
                .and_then(|r| r.strip_prefix([':', '：']).or_else(|| r.strip_prefix(' ')))
                .map(|r| r.trim().to_string())
        })
    };
    // A single-line message may carry labels inline: "消防安全 说明：… 指标：…".
    let rest: Vec<String> = lines.map(str::to_string).collect();
    let mut all: Vec<String> = Vec::new();
    for l in std::iter::once(title.clone()).chain(rest) {
        // Split before every label that is not at the start of the line; a label found inside a
        // longer one ("类别" in "问题类别") does not count.
        let labels: Vec<String> = LABEL_DESC
            .iter()
            .chain(LABEL_IND)
            .chain(LABEL_CAT)
            .flat_map(|lab| [format!("{lab}:"), format!("{lab}：")])
            .collect();
        let mut cuts = vec![0usize];
        let mut covered = 0usize;
        for (i, _) in l.char_indices() {
            if i < covered {
                continue;
            }
            if let Some(len) = labels.iter().filter(|lab| l[i..].starts_with(lab.as_str())).map(String::len).max() {
                if i > 0 {
                    cuts.push(i);
                }
                covered = i + len;
            }
        }
        cuts.push(l.len());
        for w in cuts.windows(2) {
            all.push(l[w[0]..w[1]].to_string());
        }
    }
    title = all.first().cloned().unwrap_or_default().trim().to_string();
    // A first line that starts with a label carries no title.
    let labelled_first = [LABEL_DESC, LABEL_IND, LABEL_CAT].iter().any(|labels| take(&title, labels).is_some());
    if labelled_first {
        title.clear();
    }
    for line in all.iter().skip(usize::from(!labelled_first)) {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(r) = take(line, LABEL_DESC) {
            description.push(r);
            current = 1;
        } else if let Some(r) = take(line, LABEL_IND) {
            ind_text.push(r);
            current = 2;
        } else if let Some(r) = take(line, LABEL_CAT) {
            cat_text = r;
            current = 0;
        } else if current == 2 {
            ind_text.push(line.to_string());
        } else {
            description.push(line.to_string());
        }
    }
    let indicators: Vec<String> = split_items(&ind_text.join("\n"))
        .into_iter()
        .map(|i| strip_list_marker(&i).trim().to_string())
        .filter(|i| !i.is_empty())
        .collect();
    if title.is_empty() && indicators.is_empty() && description.is_empty() {
        return Ok(ThemeDraft { month, title, description: String::new(), indicators, categories: Vec::new() });
    }
    ThemeDraft {
        month,
        title,
        description: description.join("\n"),
        indicators,
        categories: parse_categories(&cat_text),
    }
    .checked()
}

/// Most checklist items a theme has.
pub const MAX_INDICATORS: usize = 20;
/// Longest theme title kept (characters; a longer one is cut and ends with "…").
pub const MAX_THEME_TITLE_CHARS: usize = 40;

impl ThemeDraft {
    /// The rules of a written theme, however it was written (`发布主题` in chat or the
    /// platform's form): a title, one to [`MAX_INDICATORS`] checklist items, the title cut to
    /// [`MAX_THEME_TITLE_CHARS`]. The month is checked against today by the caller.
    pub fn checked(mut self) -> Result<ThemeDraft, String> {
        self.title = self.title.trim().to_string();
        self.indicators.retain(|i| !i.trim().is_empty());
        if self.title.is_empty() {
            return Err(format!("请在第一行写明主题名称，例如：\n{PUBLISH_USAGE}"));
        }
        if self.indicators.is_empty() {
            return Err(format!("请列出本月主题的检查指标（至少1项），例如：\n{PUBLISH_USAGE}"));
        }
        if self.indicators.len() > MAX_INDICATORS {
            return Err(format!("检查指标最多{MAX_INDICATORS}项，请精简后再发布。"));
        }
        self.title = super::text::truncate_chars(&self.title, MAX_THEME_TITLE_CHARS);
        Ok(self)
    }
}

/// Checklist items written one per line (the platform's form): list markers ("1.", "①") and
/// blank lines dropped.
pub fn indicator_lines(text: &str) -> Vec<String> {
    text.lines().map(|l| strip_list_marker(l.trim()).trim().to_string()).filter(|l| !l.is_empty()).collect()
}

/// The broadcast announcing a theme.
pub fn theme_notice(month: &str, t: &ThemeDef) -> String {
    let mut s = format!("【{}督导主题】{}", month_title(month), t.title);
    if !t.description.trim().is_empty() {
        s.push_str(&format!("\n{}", t.description.trim()));
    }
    s.push_str("\n检查指标：");
    for (i, ind) in t.indicators.iter().enumerate() {
        s.push_str(&format!("\n{}. {ind}", i + 1));
    }
    if !t.categories.is_empty() {
        let cats: Vec<String> = t.categories.iter().map(|c| format!("{c}{}", category_label(*c))).collect();
        s.push_str(&format!("\n关联问题类别：{}", cats.join("；")));
    }
    s.push_str(
        "\n督导后请发送“督导纪实 学校 … 指标：1达标 2基本达标 …”记录，按序号逐项填写达标/基本达标/不达标/不适用。",
    );
    s
}

/// Maps an indicator reference as written ("3", "指标2", "第3项", "消防通道") to a 1-based item
/// of the checklist.
pub fn match_indicator(reference: &str, checklist: &[String]) -> Option<usize> {
    let r = normalize(reference);
    let r = r.trim().trim_start_matches("指标").trim_start_matches('第').trim();
    if let Some((n, _)) = leading_number(r) {
        let n = usize::try_from(n).ok()?;
        return (1..=checklist.len()).contains(&n).then_some(n);
    }
    let r = r.trim_end_matches(['项', '条']).trim();
    if r.chars().count() < 2 {
        return None;
    }
    let hits: Vec<usize> = checklist
        .iter()
        .enumerate()
        .filter(|(_, c)| c.contains(r) || r.contains(c.as_str()))
        .map(|(i, _)| i + 1)
        .collect();
    match hits.as_slice() {
        [one] => Some(*one),
        _ => None,
    }
}

/// Whether visit text declares the month's theme: it names the theme (or a distinctive part of
/// its title), or says it was the month's themed inspection.
pub fn declares_theme(text: &str, title: &str) -> bool {
    let t = normalize(text);
    if ["本月主题", "主题督导", "月主题"].iter().any(|w| t.contains(w)) {
        return true;
    }
    let title = normalize(title);
    if title.chars().count() >= 2 && t.contains(title.as_str()) {
        return true;
    }
    title
        .split(['/', '、', '+', '＋', ' ', '与', '和', '（', '）', '(', ')', '：', ':'])
        .map(str::trim)
        .filter(|p| p.chars().count() >= 3)
        .any(|p| t.contains(p))
}

/// Days of the month for theme reminders as a cron expression at `time` ("HH:MM").
pub fn reminder_cron(days: &[u32], time: &str) -> Option<String> {
    let (h, m) = time.trim().split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    if h > 23 || m > 59 || days.is_empty() || days.iter().any(|d| !(1..=31).contains(d)) {
        return None;
    }
    let mut ds: Vec<u32> = days.to_vec();
    ds.sort_unstable();
    ds.dedup();
    let list: Vec<String> = ds.iter().map(u32::to_string).collect();
    Some(format!("{m} {h} {} * *", list.join(",")))
}

/// The school year (Sept–Aug) containing a date, as its first and last day.
pub fn school_year(d: NaiveDate) -> (NaiveDate, NaiveDate) {
    let start_year = if d.month() >= 9 { d.year() } else { d.year() - 1 };
    let start = NaiveDate::from_ymd_opt(start_year, 9, 1).unwrap_or(d);
    let end = NaiveDate::from_ymd_opt(start_year + 1, 8, 31).unwrap_or(d);
    (start, end)
}

/// The quota rules, from `[visits]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quotas {
    pub per_inspector_per_month: u32,
    pub per_school_per_year: u32,
    pub per_school_per_semester: u32,
    pub city_direct_per_month: u32,
}

/// An inspector counted against the monthly quota.
#[derive(Debug, Clone)]
pub struct InspectorFact {
    pub person_id: i64,
    pub name: String,
    pub zone_id: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct SchoolFact {
    pub school_id: i64,
    pub name: String,
    pub zone_id: i64,
    pub city_direct: bool,
}

/// A submitted visit of the month.
#[derive(Debug, Clone)]
pub struct VisitFact {
    pub person_id: i64,
    pub school_id: i64,
    pub themed: bool,
    pub indicators: Vec<IndicatorResult>,
    /// Categories of the problems found, one per problem.
    pub problems: Vec<u8>,
}

/// Figures for one zone, or the county.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AreaFigures {
    pub name: String,
    pub inspectors: u32,
    pub visits: u32,
    /// Inspectors × per-inspector monthly quota.
    pub quota: u32,
    pub schools: u32,
    pub schools_covered: u32,
    pub themed_visits: u32,
    /// Indicator results scored (不适用 excluded).
    pub indicators_scored: u32,
    pub indicators_met: u32,
    pub indicators_basically_met: u32,
    pub indicators_not_met: u32,
    pub problems: u32,
    /// Category (1..=9) → problems found.
    pub problems_by_category: BTreeMap<u8, u32>,
    /// "name visits/quota", for inspectors below the monthly quota.
    pub below_quota: Vec<String>,
}

impl AreaFigures {
    /// The 达标 share of scored indicators, in per mille (no floats in the stored figures).
    pub fn pass_rate_permille(&self) -> Option<u32> {
        (self.indicators_scored > 0).then(|| self.indicators_met * 1000 / self.indicators_scored)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthFigures {
    pub month: String,
    pub theme: Option<String>,
    pub quotas: Option<Quotas>,
    pub county: AreaFigures,
    pub zones: Vec<AreaFigures>,
    /// City-direct schools visited fewer times than `city_direct_per_month`: "name n".
    pub city_direct_short: Vec<String>,
}

/// Month figures per zone and for the county. Visits count in the zone of the school visited;
/// inspectors count in their own zone. One pass over each input (a province's month is tens of
/// thousands of visits across thousands of schools).
pub fn month_figures(
    month: &str,
    theme: Option<&str>,
    quotas: Quotas,
    zones: &[(i64, String)],
    inspectors: &[InspectorFact],
    schools: &[SchoolFact],
    visits: &[VisitFact],
) -> MonthFigures {
    use std::collections::{HashMap, HashSet};
    // Area 0 is the county; area k + 1 is `zones[k]`.
    let mut areas: Vec<AreaFigures> = std::iter::once("全县")
        .chain(zones.iter().map(|(_, name)| name.as_str()))
        .map(|name| AreaFigures { name: name.to_string(), ..Default::default() })
        .collect();
    let zone_area: HashMap<i64, usize> = zones.iter().enumerate().map(|(k, (id, _))| (*id, k + 1)).collect();
    let school_zone: HashMap<i64, i64> = schools.iter().map(|s| (s.school_id, s.zone_id)).collect();
    let mut visited: HashSet<i64> = HashSet::new();
    let mut by_person: HashMap<i64, u32> = HashMap::new();
    for v in visits {
        visited.insert(v.school_id);
        *by_person.entry(v.person_id).or_insert(0) += 1;
        let zone_idx = school_zone.get(&v.school_id).and_then(|z| zone_area.get(z)).copied();
        for idx in std::iter::once(0).chain(zone_idx) {
            let f = &mut areas[idx];
            f.visits += 1;
            f.themed_visits += u32::from(v.themed);
            for r in &v.indicators {
                match r {
                    IndicatorResult::Met => f.indicators_met += 1,
                    IndicatorResult::BasicallyMet => f.indicators_basically_met += 1,
                    IndicatorResult::NotMet => f.indicators_not_met += 1,
                    IndicatorResult::NotApplicable => continue,
                }
                f.indicators_scored += 1;
            }
            for c in &v.problems {
                f.problems += 1;
                *f.problems_by_category.entry(*c).or_insert(0) += 1;
            }
        }
    }
    for s in schools {
        let zone_idx = zone_area.get(&s.zone_id).copied();
        let covered = visited.contains(&s.school_id);
        for idx in std::iter::once(0).chain(zone_idx) {
            areas[idx].schools += 1;
            areas[idx].schools_covered += u32::from(covered);
        }
    }
    for i in inspectors {
        let zone_idx = i.zone_id.and_then(|z| zone_area.get(&z)).copied();
        let n = by_person.get(&i.person_id).copied().unwrap_or(0);
        for idx in std::iter::once(0).chain(zone_idx) {
            areas[idx].inspectors += 1;
            if n < quotas.per_inspector_per_month {
                areas[idx].below_quota.push(format!("{} {n}/{}", i.name, quotas.per_inspector_per_month));
            }
        }
    }
    for f in &mut areas {
        f.quota = f.inspectors.saturating_mul(quotas.per_inspector_per_month);
    }
    let county = areas.remove(0);
    let mut out = MonthFigures {
        month: month.to_string(),
        theme: theme.map(str::to_string),
        quotas: Some(quotas),
        county,
        zones: areas,
        city_direct_short: Vec::new(),
    };
    if quotas.city_direct_per_month > 0 {
        let mut by_school: HashMap<i64, u32> = HashMap::new();
        for v in visits {
            *by_school.entry(v.school_id).or_insert(0) += 1;
        }
        for s in schools.iter().filter(|s| s.city_direct) {
            let n = by_school.get(&s.school_id).copied().unwrap_or(0);
            if n < quotas.city_direct_per_month {
                out.city_direct_short.push(format!("{} {n}/{}", s.name, quotas.city_direct_per_month));
            }
        }
    }
    out
}

fn percent(permille: Option<u32>) -> String {
    match permille {
        Some(p) => format!("{}.{}%", p / 10, p % 10),
        None => "—".to_string(),
    }
}

/// Names listed in a chat answer before "…等N人"; the export has the whole list.
pub const LIST_NAMES: usize = 30;

/// `items` joined with 、, the first [`LIST_NAMES`] of them and a count of the rest.
pub fn capped_list(items: &[String], unit: &str) -> String {
    if items.len() <= LIST_NAMES {
        return items.join("、");
    }
    format!("{}……等{}{unit}（完整名单见“导出 月汇报”）", items[..LIST_NAMES].join("、"), items.len())
}

fn area_lines(f: &AreaFigures, detail: bool) -> Vec<String> {
    let mut lines = vec![format!(
        "督导 {}/{} 次（{} 名督学），覆盖学校 {}/{} 所，主题督导 {} 次，指标达标率 {}（评价 {} 项：达标 {}、基本达标 {}、不达标 {}），发现问题 {} 个",
        f.visits,
        f.quota,
        f.inspectors,
        f.schools_covered,
        f.schools,
        f.themed_visits,
        percent(f.pass_rate_permille()),
        f.indicators_scored,
        f.indicators_met,
        f.indicators_basically_met,
        f.indicators_not_met,
        f.problems
    )];
    if detail && !f.problems_by_category.is_empty() {
        let cats: Vec<String> =
            f.problems_by_category.iter().map(|(c, n)| format!("{}{n}", category_label(*c))).collect();
        lines.push(format!("问题分类：{}", cats.join("；")));
    }
    if !f.below_quota.is_empty() {
        lines.push(format!("未达定额：{}", capped_list(&f.below_quota, "人")));
    }
    lines
}

/// The month-end report text.
pub fn report_text(f: &MonthFigures) -> String {
    let mut s = format!("【月汇报】{}", month_title(&f.month));
    match &f.theme {
        Some(t) => s.push_str(&format!("（主题：{t}）")),
        None => s.push_str("（本月未发布主题）"),
    }
    s.push_str("\n全县：");
    s.push_str(&area_lines(&f.county, true).join("\n"));
    for z in &f.zones {
        let mut zl = area_lines(z, false);
        zl.retain(|l| !l.starts_with("未达定额"));
        s.push_str(&format!("\n· {}：{}", z.name, zl.join("；")));
    }
    if !f.city_direct_short.is_empty() {
        s.push_str(&format!("\n市直学校未达月督导次数：{}", capped_list(&f.city_direct_short, "所")));
    }
    s
}

/// Per-zone lines for `督导进度`.
pub fn progress_text(f: &MonthFigures) -> String {
    let mut s = format!("【督导进度】{}", month_title(&f.month));
    if let Some(t) = &f.theme {
        s.push_str(&format!("（主题：{t}）"));
    }
    for z in std::iter::once(&f.county).chain(f.zones.iter()) {
        s.push_str(&format!("\n· {}：{}", z.name, area_lines(z, false).join("；")));
    }
    s
}

/// How a reminder about the theme reads.
pub fn theme_reminder_text(month: &str, title: &str, last_days: bool) -> String {
    if last_days {
        format!(
            "【主题督导提醒】{}主题“{title}”即将结束，您本月尚未记录主题督导，请尽快安排并发送“督导纪实 …”记录。",
            month_title(month)
        )
    } else {
        format!("【主题督导提醒】{}主题为“{title}”，您本月尚未记录主题督导。督导后发送“督导纪实 学校 … 指标：1达标 2不达标 …”即可。", month_title(month))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    /// A theme written as a form writes it (the platform's 发布主题) obeys the parser's rules.
    #[test]
    fn a_draft_from_a_form_is_checked_like_the_command() {
        assert_eq!(indicator_lines("1. 消防通道\r\n\r\n  2、灭火器 \n③ 疏散图\n"), ["消防通道", "灭火器", "疏散图"]);
        let draft = |title: &str, indicators: Vec<String>| ThemeDraft {
            month: "2026-12".into(),
            title: title.into(),
            description: String::new(),
            indicators,
            categories: vec![6],
        };
        let ok = draft(&format!(" {} ", "题".repeat(50)), vec!["一".into(), " ".into()]).checked().unwrap();
        assert_eq!(ok.title, format!("{}…", "题".repeat(MAX_THEME_TITLE_CHARS)), "cut as the command cuts it");
        assert_eq!(ok.indicators, ["一"]);
        assert!(draft("", vec!["一".into()]).checked().unwrap_err().contains("主题名称"));
        assert!(draft("消防", vec![]).checked().unwrap_err().contains("检查指标"));
        let many = (0..=MAX_INDICATORS).map(|i| i.to_string()).collect();
        assert!(draft("消防", many).checked().unwrap_err().contains("最多20项"));
        // The command reads the same way.
        let parsed = parse_publish("12月 消防\n指标：1. 一 2. 二", d(2026, 12, 1)).unwrap();
        assert_eq!(parsed.clone().checked(), Ok(parsed));
    }

    #[test]
    fn shipped_theme_calendar_is_valid() {
        let cal = ThemeCalendar::from_toml_str(include_str!("../../config/themes/default.toml")).unwrap();
        assert_eq!(cal.themes.len(), 12);
        for m in 1..=12 {
            let t = cal.for_month(m).unwrap();
            assert!((5..=10).contains(&t.indicators.len()), "month {m}: {}", t.indicators.len());
            assert!(!t.categories.is_empty());
        }
        assert!(cal.for_month(6).unwrap().title.contains("溺水"));
        assert!(ThemeCalendar::from_toml_str("[[themes]]\nmonth = 13\ntitle = \"x\"\nindicators = [\"a\"]").is_err());
        assert!(ThemeCalendar::from_toml_str("[[themes]]\nmonth = 1\ntitle = \"x\"\nindicators = []").is_err());
        assert!(ThemeCalendar::from_toml_str("not toml [").is_err());
    }

    #[test]
    fn months() {
        let today = d(2026, 11, 22);
        assert_eq!(parse_month("11月", today).as_deref(), Some("2026-11"));
        assert_eq!(parse_month("十二月", today).as_deref(), Some("2026-12"));
        assert_eq!(parse_month("2月", today).as_deref(), Some("2027-02"));
        assert_eq!(parse_month("2026-10", today).as_deref(), Some("2026-10"));
        assert_eq!(parse_month("2026年9月", today).as_deref(), Some("2026-09"));
        assert_eq!(parse_month("上月", today).as_deref(), Some("2026-10"));
        assert_eq!(parse_month("下月", today).as_deref(), Some("2026-12"));
        assert_eq!(parse_month("13月", today), None);
        assert_eq!(parse_month("消防", today), None);
        assert_eq!(previous_month(d(2027, 1, 1)), "2026-12");
        assert_eq!(month_bounds("2026-02"), Some((d(2026, 2, 1), d(2026, 2, 28))));
        assert_eq!(month_bounds("2026-13"), None);
        assert_eq!(school_year(d(2026, 11, 1)), (d(2026, 9, 1), d(2027, 8, 31)));
        assert_eq!(school_year(d(2027, 3, 1)), (d(2026, 9, 1), d(2027, 8, 31)));
    }

    #[test]
    fn publish_syntax() {
        let today = d(2026, 11, 2);
        let t = parse_publish(
            "11月 消防安全与校风建设\n说明：结合11·9消防日开展\n指标：1.消防通道畅通 2.灭火器在有效期内\n3、每月一次疏散演练\n问题类别：6、校风",
            today,
        )
        .unwrap();
        assert_eq!(t.month, "2026-11");
        assert_eq!(t.title, "消防安全与校风建设");
        assert_eq!(t.description, "结合11·9消防日开展");
        assert_eq!(t.indicators, vec!["消防通道畅通", "灭火器在有效期内", "每月一次疏散演练"]);
        assert_eq!(t.categories, vec![6, 8]);
        // One line, month omitted.
        let t = parse_publish("防溺水 指标：1.签订安全责任书；2.开展警示教育", today).unwrap();
        assert_eq!((t.month.as_str(), t.title.as_str(), t.indicators.len()), ("2026-11", "防溺水", 2));
        // Only a month: from the calendar.
        let t = parse_publish("12月", today).unwrap();
        assert!(t.title.is_empty() && t.month == "2026-12");
        assert!(parse_publish("消防安全", today).unwrap_err().contains("检查指标"));
        assert!(parse_publish("", today).unwrap().title.is_empty());
    }

    #[test]
    fn indicators_and_themes() {
        let list: Vec<String> =
            ["消防通道畅通", "灭火器在有效期内", "疏散演练"].iter().map(|s| s.to_string()).collect();
        assert_eq!(match_indicator("2", &list), Some(2));
        assert_eq!(match_indicator("指标3", &list), Some(3));
        assert_eq!(match_indicator("第1项", &list), Some(1));
        assert_eq!(match_indicator("4", &list), None);
        assert_eq!(match_indicator("灭火器", &list), Some(2));
        assert_eq!(match_indicator("安全", &list), None);
        assert!(declares_theme("今天到实小开展消防安全专项检查", "消防安全与校风建设"));
        assert!(declares_theme("本月主题督导", "防溺水"));
        assert!(!declares_theme("推门听课2节", "消防安全与校风建设"));
    }

    #[test]
    fn categories() {
        assert_eq!(classify_problem("食堂留样记录不全"), 7);
        assert_eq!(classify_problem("消防通道堆放杂物"), 6);
        assert_eq!(classify_problem("作业量偏大"), 4);
        assert_eq!(classify_problem("天气不好"), 9);
        assert_eq!(parse_categories("6、8 其他"), vec![6, 8, 9]);
        assert_eq!(parse_categories("安全，食堂"), vec![6, 7]);
        assert_eq!(category_label(0), "其他");
        assert_eq!(category_label(3), "课程开设和课堂教学");
    }

    #[test]
    fn figures_per_zone_and_county() {
        let q = Quotas {
            per_inspector_per_month: 2,
            per_school_per_year: 1,
            per_school_per_semester: 2,
            city_direct_per_month: 2,
        };
        let zones = vec![(1, "一区".to_string()), (2, "二区".to_string())];
        let insp = vec![
            InspectorFact { person_id: 10, name: "甲".into(), zone_id: Some(1) },
            InspectorFact { person_id: 11, name: "乙".into(), zone_id: Some(1) },
            InspectorFact { person_id: 20, name: "丙".into(), zone_id: Some(2) },
        ];
        let schools = vec![
            SchoolFact { school_id: 100, name: "A".into(), zone_id: 1, city_direct: false },
            SchoolFact { school_id: 101, name: "B".into(), zone_id: 1, city_direct: true },
            SchoolFact { school_id: 200, name: "C".into(), zone_id: 2, city_direct: false },
        ];
        use IndicatorResult::*;
        let v = |p, s, themed, ind: Vec<IndicatorResult>, pr: Vec<u8>| VisitFact {
            person_id: p,
            school_id: s,
            themed,
            indicators: ind,
            problems: pr,
        };
        let visits = vec![
            v(10, 100, true, vec![Met, Met, NotMet, NotApplicable], vec![6]),
            v(10, 100, false, vec![], vec![7, 6]),
            v(11, 101, true, vec![BasicallyMet, Met], vec![]),
            v(20, 200, false, vec![], vec![]),
        ];
        let f = month_figures("2026-11", Some("消防"), q, &zones, &insp, &schools, &visits);
        assert_eq!(f.county.visits, 4);
        assert_eq!(f.county.quota, 6);
        assert_eq!(f.county.schools_covered, 3);
        assert_eq!(f.county.themed_visits, 2);
        assert_eq!(f.county.indicators_scored, 5);
        assert_eq!(f.county.indicators_met, 3);
        assert_eq!(f.county.pass_rate_permille(), Some(600));
        assert_eq!(f.county.problems, 3);
        assert_eq!(f.county.problems_by_category.get(&6), Some(&2));
        assert_eq!(f.county.below_quota, vec!["乙 1/2", "丙 1/2"]);
        assert_eq!(f.zones[0].visits, 3);
        assert_eq!(f.zones[0].below_quota, vec!["乙 1/2"]);
        assert_eq!(f.zones[1].schools_covered, 1);
        assert_eq!(f.city_direct_short, vec!["B 1/2"]);
        let text = report_text(&f);
        assert!(text.contains("督导 4/6 次（3 名督学），覆盖学校 3/3 所，主题督导 2 次，指标达标率 60.0%"), "{text}");
        assert!(text.contains("校园及周边安全、学生交通安全2"), "{text}");
        assert!(text.contains("未达定额：乙 1/2、丙 1/2"), "{text}");
        // Round trip through the stored JSON.
        let back: MonthFigures = serde_json::from_str(&serde_json::to_string(&f).unwrap()).unwrap();
        assert_eq!(back, f);
        let empty = month_figures("2026-11", None, q, &[], &[], &[], &[]);
        assert!(report_text(&empty).contains("达标率 —"));
    }

    #[test]
    fn odd_input_never_panics() {
        let today = d(2026, 11, 2);
        let odd = [
            "",
            " ",
            "指标：",
            "说明：指标：问题类别：",
            "11月\n指标：\n",
            "🙂🙂 指标：🙂",
            "2026-",
            "-11",
            "99999999999-11",
            "十万月",
            "指标：1.",
            "问题类别：0、10、-1",
            "说明：a\r\nb",
            "类别：",
            "11月 说明：x 指标：一、甲 二、乙",
        ];
        for s in odd {
            let _ = parse_publish(s, today);
            let _ = parse_month(s, today);
            let _ = parse_categories(s);
            let _ = classify_problem(s);
            let _ = match_indicator(s, &["甲".to_string()]);
            let _ = declares_theme(s, s);
        }
        assert_eq!(parse_categories("0、10、-1"), Vec::<u8>::new());
        let t = parse_publish("11月 说明：x 指标：一、甲 二、乙", today).unwrap_err();
        assert!(t.contains("主题名称"), "{t}");
    }

    #[test]
    fn reminder_schedule() {
        assert_eq!(reminder_cron(&[25, 1, 15], "09:00").as_deref(), Some("0 9 1,15,25 * *"));
        assert_eq!(reminder_cron(&[], "09:00"), None);
        assert_eq!(reminder_cron(&[32], "09:00"), None);
        assert_eq!(reminder_cron(&[1], "25:00"), None);
    }
}
