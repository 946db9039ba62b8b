//! Parses a visit record (督导纪实) an inspector sends from a school visit.
//!
//! A record holds the school, the date, the kind of visit, method counts, theme-indicator
//! results, a narrative, good practice, problems found and a follow-up decision (the severity
//! triage of the deployed "kwz" system: none / minor / general / serious / complex). Inspectors
//! send it as a labelled template ("学校：… 方式：… 发现问题：…") or as free text; both are read
//! here. Nothing is guessed: a school named ambiguously is left for the inspector to confirm.

use chrono::{Datelike, Duration, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

use super::report_parse::{find_methods, is_no_problem_statement, VisitMethod, PROBLEM_KEYWORDS};
use super::school_match::{confirm_question, SchoolFindings, SchoolMatch, SchoolMatcher, SchoolRef};
use super::text::{
    circled_number, cjk_colons, classify_clauses, contains_unnegated, is_cjk, is_none_answer, is_sentence_break,
    leading_number, normalize, split_items, split_labelled, strip_list_marker, trim_item, truncate_chars,
};

/// Kind of visit (督导类型).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum VisitKind {
    /// 经常性督导 / 常规 / 随访
    #[default]
    Routine,
    /// 专项督导
    Special,
    /// 综合督导
    Comprehensive,
    /// 暗访 / 随机督导 / 不打招呼
    Unannounced,
    /// 回访复查 / 回头看
    Recheck,
    /// 投诉核查
    Complaint,
}

impl VisitKind {
    pub const ALL: [VisitKind; 6] = [
        VisitKind::Routine,
        VisitKind::Special,
        VisitKind::Comprehensive,
        VisitKind::Unannounced,
        VisitKind::Recheck,
        VisitKind::Complaint,
    ];

    pub fn label(self) -> &'static str {
        match self {
            VisitKind::Routine => "经常性督导",
            VisitKind::Special => "专项督导",
            VisitKind::Comprehensive => "综合督导",
            VisitKind::Unannounced => "随机暗访",
            VisitKind::Recheck => "回访复查",
            VisitKind::Complaint => "投诉核查",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            VisitKind::Routine => "routine",
            VisitKind::Special => "special",
            VisitKind::Comprehensive => "comprehensive",
            VisitKind::Unannounced => "unannounced",
            VisitKind::Recheck => "recheck",
            VisitKind::Complaint => "complaint",
        }
    }

    pub fn parse(s: &str) -> Option<VisitKind> {
        VisitKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Kind keywords, most specific first: a complaint check that re-visits is still a complaint
/// check, and "专项督导回头看" is a re-check.
const KIND_KEYWORDS: &[(VisitKind, &[&str])] = &[
    (VisitKind::Complaint, &["投诉", "举报", "信访"]),
    (VisitKind::Recheck, &["回访", "复查", "回头看", "复核"]),
    (VisitKind::Unannounced, &["暗访", "随机督导", "随机检查", "不打招呼", "四不两直", "突击检查"]),
    (VisitKind::Special, &["专项"]),
    (VisitKind::Comprehensive, &["综合督导", "综合评估", "综合检查"]),
    (VisitKind::Routine, &["经常性", "常规", "日常督导", "随访", "例行"]),
];

/// Clause markers of something planned, not done ("一周后复查" does not make this a re-check).
const FUTURE_MARKERS: &[&str] = &[
    "下周",
    "下次",
    "下月",
    "择期",
    "届时",
    "计划",
    "拟",
    "将于",
    "将对",
    "后复查",
    "后回访",
    "后再",
    "再次",
    "跟踪复查",
    "限期",
    "前完成",
];

/// A theme-indicator result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IndicatorResult {
    Met,
    BasicallyMet,
    NotMet,
    NotApplicable,
}

impl IndicatorResult {
    pub const ALL: [IndicatorResult; 4] =
        [IndicatorResult::Met, IndicatorResult::BasicallyMet, IndicatorResult::NotMet, IndicatorResult::NotApplicable];

    pub fn label(self) -> &'static str {
        match self {
            IndicatorResult::Met => "达标",
            IndicatorResult::BasicallyMet => "基本达标",
            IndicatorResult::NotMet => "不达标",
            IndicatorResult::NotApplicable => "不适用",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            IndicatorResult::Met => "met",
            IndicatorResult::BasicallyMet => "basically_met",
            IndicatorResult::NotMet => "not_met",
            IndicatorResult::NotApplicable => "not_applicable",
        }
    }

    pub fn parse(s: &str) -> Option<IndicatorResult> {
        IndicatorResult::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// Result words; at one position the longest wins ("不达标" over "达标").
const RESULT_WORDS: &[(&str, IndicatorResult)] = &[
    ("基本达标", IndicatorResult::BasicallyMet),
    ("部分达标", IndicatorResult::BasicallyMet),
    ("基本合格", IndicatorResult::BasicallyMet),
    ("不达标", IndicatorResult::NotMet),
    ("未达标", IndicatorResult::NotMet),
    ("不合格", IndicatorResult::NotMet),
    ("达标", IndicatorResult::Met),
    ("合格", IndicatorResult::Met),
    ("不适用", IndicatorResult::NotApplicable),
    ("无此项", IndicatorResult::NotApplicable),
];

/// One scored theme indicator: "指标2：基本达标" → indicator "指标2".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndicatorScore {
    /// The reference as written, markers removed: "1", "指标2", "第3项", "防溺水宣传".
    /// Circled numbers become digits ("③" → "3"). The caller maps it to the theme's checklist.
    pub indicator: String,
    pub result: IndicatorResult,
    /// Text after the result, e.g. the reason in "3 不达标（宣传栏未更新）".
    pub remark: Option<String>,
}

/// The follow-up decision (后续处理意见), a severity triage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FollowUp {
    /// 无意见 / 无需整改: nothing to follow up.
    #[serde(rename = "none")]
    NoIssue,
    /// 小问题: fixed on site (现场整改).
    Minor,
    /// 一般问题: a rectification notice with a deadline (下发整改通知 / 限期整改).
    General,
    /// 严重问题: reported to the office the same day (上报).
    Serious,
    /// 复杂问题: needs a bureau department (需部门协调).
    Complex,
}

impl FollowUp {
    pub const ALL: [FollowUp; 5] =
        [FollowUp::NoIssue, FollowUp::Minor, FollowUp::General, FollowUp::Serious, FollowUp::Complex];

    pub fn label(self) -> &'static str {
        match self {
            FollowUp::NoIssue => "无需整改",
            FollowUp::Minor => "小问题（现场整改）",
            FollowUp::General => "一般问题（下发整改通知）",
            FollowUp::Serious => "严重问题（上报督导室）",
            FollowUp::Complex => "复杂问题（需部门协调）",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FollowUp::NoIssue => "none",
            FollowUp::Minor => "minor",
            FollowUp::General => "general",
            FollowUp::Serious => "serious",
            FollowUp::Complex => "complex",
        }
    }

    pub fn parse(s: &str) -> Option<FollowUp> {
        FollowUp::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

/// Decision phrases, most severe first. `strict` phrases count anywhere in the record; the
/// loose ones only inside a labelled follow-up part ("严重" in a problem description such as
/// "作业负担严重" is not a decision to report the school).
const FOLLOW_UP_PHRASES: &[(FollowUp, &[&str], &[&str])] = &[
    (
        FollowUp::Complex,
        &["需部门协调", "部门协调", "协调解决", "协商意见", "需相关科室", "需教育局", "需局里", "提请局"],
        &["复杂", "协调"],
    ),
    (
        FollowUp::Serious,
        &["上报督导室", "报督导室", "已上报", "需上报", "上报教育局", "严重问题", "重大隐患", "重大安全隐患"],
        &["严重", "上报"],
    ),
    (FollowUp::General, &["下发整改通知", "整改通知书", "整改通知", "限期整改"], &["整改", "限期"]),
    (
        FollowUp::Minor,
        &["现场整改", "当场整改", "立行立改", "即知即改", "当场纠正", "现场纠正", "口头提醒", "现场指导"],
        &["小问题", "提醒"],
    ),
    (FollowUp::NoIssue, &["无需整改", "无须整改", "不需整改", "无需跟进", "无意见"], &["无需", "没有", "无"]),
];

/// Parts of a visit-record template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    School,
    Date,
    Kind,
    Methods,
    Narrative,
    Indicators,
    GoodPractice,
    Problems,
    FollowUp,
}

const VISIT_LABELS: &[(&str, Part)] = &[
    ("督导学校", Part::School),
    ("被督导学校", Part::School),
    ("学校名称", Part::School),
    ("督导对象", Part::School),
    ("学校", Part::School),
    ("督导时间", Part::Date),
    ("督导日期", Part::Date),
    ("时间", Part::Date),
    ("日期", Part::Date),
    ("督导类型", Part::Kind),
    ("督导类别", Part::Kind),
    ("督导性质", Part::Kind),
    ("类型", Part::Kind),
    ("督导方式", Part::Methods),
    ("督导形式", Part::Methods),
    ("方式", Part::Methods),
    ("督导内容", Part::Narrative),
    ("督导纪实", Part::Narrative),
    ("督导过程", Part::Narrative),
    ("督导情况", Part::Narrative),
    ("督导记录", Part::Narrative),
    ("基本情况", Part::Narrative),
    ("工作情况", Part::Narrative),
    ("内容", Part::Narrative),
    ("纪实", Part::Narrative),
    ("过程", Part::Narrative),
    ("情况", Part::Narrative),
    ("指标评价", Part::Indicators),
    ("主题指标", Part::Indicators),
    ("规定任务评价", Part::Indicators),
    ("评估指标", Part::Indicators),
    ("指标情况", Part::Indicators),
    ("达标情况", Part::Indicators),
    ("指标", Part::Indicators),
    ("评价", Part::Indicators),
    ("工作亮点", Part::GoodPractice),
    ("典型经验", Part::GoodPractice),
    ("经验做法", Part::GoodPractice),
    ("典型做法", Part::GoodPractice),
    ("典型经验做法", Part::GoodPractice),
    ("好的做法", Part::GoodPractice),
    ("特色亮点", Part::GoodPractice),
    ("亮点", Part::GoodPractice),
    ("经验", Part::GoodPractice),
    ("做法", Part::GoodPractice),
    ("发现问题", Part::Problems),
    ("存在问题", Part::Problems),
    ("存在的问题", Part::Problems),
    ("发现的问题", Part::Problems),
    ("主要问题", Part::Problems),
    ("问题", Part::Problems),
    ("后续处理意见", Part::FollowUp),
    ("后续处理", Part::FollowUp),
    ("处理意见", Part::FollowUp),
    ("整改意见", Part::FollowUp),
    ("整改要求", Part::FollowUp),
    ("整改措施", Part::FollowUp),
    ("督导意见", Part::FollowUp),
    ("意见建议", Part::FollowUp),
    ("处理", Part::FollowUp),
    ("意见", Part::FollowUp),
    ("跟进", Part::FollowUp),
];

/// Sorting of unlabelled clauses: a stated decision first; clearly positive remarks before
/// problem words ("亮点是…"); weak words last ("做法不规范" is a problem).
const VISIT_FREE_RULES: &[(Part, &[&str])] = &[
    // Results of a re-check are narrative, not new problems ("上次的留样问题已整改到位").
    (Part::Narrative, &["已整改", "整改到位", "完成整改", "整改完成", "已落实", "已销号"]),
    (
        Part::FollowUp,
        &[
            "下发整改通知",
            "整改通知",
            "限期整改",
            "现场整改",
            "当场整改",
            "立行立改",
            "即知即改",
            "上报",
            "部门协调",
            "协调解决",
            "无需整改",
            "协商意见",
            "要求整改",
            "责令",
            "督促整改",
        ],
    ),
    (
        Part::GoodPractice,
        &[
            "亮点",
            "值得推广",
            "典型经验",
            "经验做法",
            "好的做法",
            "特色做法",
            "值得肯定",
            "值得借鉴",
            "有特色",
            "成效明显",
        ],
    ),
    (Part::Problems, PROBLEM_KEYWORDS),
    (Part::GoodPractice, &["经验", "做法", "特色"]),
];

/// A narrative counts as "what was done" from this many Chinese characters on (emoji, digits
/// and spaces do not count). The deployed kwz client nudges below 50; we only need enough to
/// tell a record from a bare school name.
pub const MIN_NARRATIVE_CJK: usize = 15;

/// Which part of a record is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VisitField {
    /// The school visited.
    School,
    /// What was done: at least one method or a narrative.
    Activity,
}

/// What was understood from a visit-record message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParsedVisit {
    /// The school visited, when it is certain.
    pub school: Option<i64>,
    /// School fragments to confirm (shared or partial names, or several schools named).
    pub ambiguous: Vec<SchoolMatch>,
    /// School-like names that are not the inspector's.
    pub unknown_schools: Vec<String>,
    /// Visit date; `today` unless the text says otherwise.
    pub date: NaiveDate,
    /// Whether the date was written in the text (else it is the default).
    pub date_stated: bool,
    pub kind: VisitKind,
    /// Whether the kind was written (else it is the default, routine).
    pub kind_stated: bool,
    pub methods: Vec<(VisitMethod, u32)>,
    pub indicators: Vec<IndicatorScore>,
    pub narrative: Option<String>,
    pub good_practice: Option<String>,
    /// Problems, one item per line / numbered item, text kept as written.
    pub problems: Vec<String>,
    /// The record says no problems were found.
    pub no_problems: bool,
    pub follow_up: Option<FollowUp>,
}

impl ParsedVisit {
    /// What one follow-up question should ask for: the school (also when it is ambiguous), then
    /// the activity (a method, a narrative of [`MIN_NARRATIVE_CJK`] Chinese characters, problems,
    /// good practice or indicator results).
    pub fn missing_required(&self) -> Option<VisitField> {
        if self.school.is_none() {
            return Some(VisitField::School);
        }
        let narrative_ok =
            self.narrative.as_deref().is_some_and(|n| n.chars().filter(|c| is_cjk(*c)).count() >= MIN_NARRATIVE_CJK);
        if self.methods.is_empty()
            && !narrative_ok
            && self.problems.is_empty()
            && self.indicators.is_empty()
            && self.good_practice.is_none()
        {
            return Some(VisitField::Activity);
        }
        None
    }

    /// The next question to send, if any: confirming an ambiguous school comes first, then the
    /// missing field.
    pub fn next_question(&self, names: &dyn Fn(i64) -> String) -> Option<String> {
        if self.school.is_none() {
            if let Some(m) = self.ambiguous.first() {
                return Some(confirm_question(m, names));
            }
        }
        self.missing_required().map(|f| visit_follow_up_question(f).to_string())
    }
}

/// The follow-up question for a missing field.
pub fn visit_follow_up_question(field: VisitField) -> &'static str {
    match field {
        VisitField::School => "请补充：本次督导的是哪所学校？（请写学校全称或简称）",
        VisitField::Activity => {
            "请补充：本次督导做了哪些工作？（如推门听课2节、查阅资料、座谈走访、校园巡视，或简要描述督导过程）"
        }
    }
}

/// Parses a visit record written against `my_schools`; `today` is the default date and the
/// reference for "昨天", "周三", "11月20日".
pub fn parse_visit(text: &str, my_schools: &[SchoolRef], today: NaiveDate) -> ParsedVisit {
    let norm = normalize(text);
    let labelled = split_labelled(&norm, VISIT_LABELS);
    let matcher = SchoolMatcher::new(my_schools);

    let mut parts: Vec<(Part, String)> = labelled.parts;
    let mut indicators: Vec<IndicatorScore> = Vec::new();
    // Unlabelled text: indicator lines first ("1 达标"), the rest sorted by keyword.
    let mut free_lines = Vec::new();
    for line in labelled.free.lines() {
        match indicator_line(line) {
            Some(mut scores) => indicators.append(&mut scores),
            None => free_lines.push(line),
        }
    }
    let mut narrative_free: Vec<String> = Vec::new();
    for (class, piece) in classify_clauses(&free_lines.join("\n"), VISIT_FREE_RULES) {
        match class {
            Some(part) => parts.push((part, piece)),
            None => narrative_free.push(piece),
        }
    }
    let joined = |p: Part| -> String {
        parts
            .iter()
            .filter(|(q, _)| *q == p)
            .map(|(_, t)| t.trim())
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let has = |p: Part| parts.iter().any(|(q, t)| *q == p && !t.trim().is_empty());

    // Indicators inside a labelled part are read leniently, line by line.
    for (_, body) in parts.iter().filter(|(p, _)| *p == Part::Indicators) {
        for line in body.lines() {
            for seg in line.split(['，', ',', '；', ';']) {
                indicators.extend(indicator_segment(seg, false).unwrap_or_default());
            }
        }
    }
    // Indicator lines inside other labelled parts ("发现问题：…\n3 不达标") still count.
    for (p, body) in &parts {
        if *p != Part::Indicators && *p != Part::Problems {
            for line in body.lines() {
                if let Some(mut scores) = indicator_line(line) {
                    indicators.append(&mut scores);
                }
            }
        }
    }

    let mut narrative_parts: Vec<String> = Vec::new();
    let narrative_section = joined(Part::Narrative);
    if !narrative_section.is_empty() {
        narrative_parts.push(narrative_section);
    }
    narrative_parts.extend(narrative_free);
    let narrative = narrative_parts.join("\n");

    // School.
    let school_text = joined(Part::School);
    let (school, findings) = pick_school(&matcher, &school_text, &norm);

    // Date: the date part, else the first date anywhere.
    let date_text = joined(Part::Date);
    let found_date = find_date(&date_text, today).or_else(|| find_date(&norm, today));

    // Kind: the kind part, else clauses of what was done (not plans, problems or decisions).
    let kind_text = joined(Part::Kind);
    // Kind: the kind part, else any clause except decisions and good practice; clauses about
    // plans are skipped inside `find_kind`.
    let mut kind = find_kind(&kind_text);
    if kind.is_none() {
        let scope: Vec<&str> = parts
            .iter()
            .filter(|(p, _)| !matches!(p, Part::FollowUp | Part::GoodPractice))
            .map(|(_, t)| t.as_str())
            .chain(std::iter::once(narrative.as_str()))
            .collect();
        kind = find_kind(&scope.join("\n"));
    }

    // Methods: the methods part, else the narrative and the other "what happened" parts.
    let mut methods = find_methods(&joined(Part::Methods));
    if methods.is_empty() {
        methods = find_methods(&[school_text.as_str(), narrative.as_str()].join("\n"));
    }

    // Problems.
    let problems_text = joined(Part::Problems);
    let problems: Vec<String> = split_items(&problems_text)
        .into_iter()
        .filter(|p| !is_no_problem_statement(p) && indicator_line(p).is_none())
        .collect();
    let no_problems = !problems_text.is_empty() && problems.is_empty();

    // Follow-up decision: a labelled part read loosely, else strict phrases anywhere.
    let follow_text = joined(Part::FollowUp);
    let follow_up = find_follow_up(&follow_text, true).or_else(|| find_follow_up(&norm, false));

    let good = joined(Part::GoodPractice);
    ParsedVisit {
        school,
        ambiguous: findings.ambiguous,
        unknown_schools: findings.unknown,
        date: found_date.unwrap_or(today),
        date_stated: found_date.is_some(),
        kind: kind.unwrap_or_default(),
        kind_stated: kind.is_some(),
        methods,
        indicators,
        narrative: (!narrative.trim().is_empty()).then(|| cjk_colons(narrative.trim())),
        good_practice: (!good.is_empty()).then(|| cjk_colons(&good)),
        problems,
        no_problems: no_problems || (has(Part::Problems) && is_none_answer(&problems_text)),
        follow_up,
    }
}

/// Parses the reply to a follow-up question about `field`: a school name, or a description
/// of the activity. Combine it with the first parse using [`merge_visit`].
pub fn parse_visit_answer(field: VisitField, text: &str, my_schools: &[SchoolRef], today: NaiveDate) -> ParsedVisit {
    match field {
        VisitField::School if split_labelled(&normalize(text), VISIT_LABELS).parts.is_empty() => {
            parse_visit(&format!("学校:{}", normalize(text).trim()), my_schools, today)
        }
        _ => parse_visit(text, my_schools, today),
    }
}

/// Combines a record with a later message about the same visit (an answer to a follow-up
/// question, or a continuation). Stated values in `later` win; lists are appended without
/// duplicates; method counts add up; texts are joined with a newline.
pub fn merge_visit(earlier: &ParsedVisit, later: &ParsedVisit) -> ParsedVisit {
    let join = |a: &Option<String>, b: &Option<String>| match (a, b) {
        (Some(a), Some(b)) if a != b => Some(format!("{a}\n{b}")),
        (a, b) => b.clone().or_else(|| a.clone()),
    };
    let school = later.school.or(earlier.school);
    let mut ambiguous = Vec::new();
    if school.is_none() {
        ambiguous = later.ambiguous.clone();
        if ambiguous.is_empty() {
            ambiguous = earlier.ambiguous.clone();
        }
    }
    let mut unknown = earlier.unknown_schools.clone();
    unknown.extend(later.unknown_schools.iter().filter(|u| !earlier.unknown_schools.contains(u)).cloned());
    let mut methods = earlier.methods.clone();
    for (m, n) in &later.methods {
        match methods.iter_mut().find(|(x, _)| x == m) {
            Some((_, t)) => *t = t.saturating_add(*n),
            None => methods.push((*m, *n)),
        }
    }
    methods.sort_by_key(|(m, _)| *m);
    let mut indicators: Vec<IndicatorScore> = earlier
        .indicators
        .iter()
        .filter(|i| !later.indicators.iter().any(|l| l.indicator == i.indicator))
        .cloned()
        .collect();
    indicators.extend(later.indicators.iter().cloned());
    let mut problems = earlier.problems.clone();
    problems.extend(later.problems.iter().filter(|p| !earlier.problems.contains(p)).cloned());
    let (date, date_stated) = if later.date_stated { (later.date, true) } else { (earlier.date, earlier.date_stated) };
    let (kind, kind_stated) = if later.kind_stated { (later.kind, true) } else { (earlier.kind, earlier.kind_stated) };
    ParsedVisit {
        school,
        ambiguous,
        unknown_schools: unknown,
        date,
        date_stated,
        kind,
        kind_stated,
        methods,
        indicators,
        narrative: join(&earlier.narrative, &later.narrative),
        good_practice: join(&earlier.good_practice, &later.good_practice),
        no_problems: (earlier.no_problems || later.no_problems) && problems.is_empty(),
        problems,
        follow_up: later.follow_up.or(earlier.follow_up),
    }
}

/// A short Chinese confirmation of what was understood.
pub fn visit_summary(v: &ParsedVisit, names: &dyn Fn(i64) -> String) -> String {
    let mut lines = vec!["已收到督导纪实，识别如下：".to_string()];
    match v.school {
        Some(id) => lines.push(format!("· 学校：{}", names(id))),
        None => lines.push("· 学校：待确认".to_string()),
    }
    let weekday = ["一", "二", "三", "四", "五", "六", "日"][v.date.weekday().num_days_from_monday() as usize];
    lines.push(format!("· 日期：{}（星期{weekday}）", v.date.format("%Y-%m-%d")));
    lines.push(format!("· 类型：{}", v.kind.label()));
    if !v.methods.is_empty() {
        let list: Vec<String> = v.methods.iter().map(|(m, n)| format!("{}×{n}", m.label())).collect();
        lines.push(format!("· 方式：{}", list.join("、")));
    }
    if !v.indicators.is_empty() {
        let list: Vec<String> = IndicatorResult::ALL
            .into_iter()
            .filter_map(|r| {
                let n = v.indicators.iter().filter(|i| i.result == r).count();
                (n > 0).then(|| format!("{}{n}项", r.label()))
            })
            .collect();
        lines.push(format!("· 指标：{}", list.join("、")));
    }
    if let Some(g) = &v.good_practice {
        lines.push(format!("· 亮点：{}", truncate_chars(&g.replace('\n', "；"), 24)));
    }
    if v.no_problems {
        lines.push("· 发现问题：无".to_string());
    } else if !v.problems.is_empty() {
        let first = truncate_chars(&v.problems[0], 20);
        if v.problems.len() == 1 {
            lines.push(format!("· 发现问题：{first}"));
        } else {
            lines.push(format!("· 发现问题{}条：{first}等", v.problems.len()));
        }
    }
    if let Some(f) = v.follow_up {
        lines.push(format!("· 处理意见：{}", f.label()));
    }
    for m in &v.ambiguous {
        let list: Vec<String> = m.candidates.iter().map(|id| names(*id)).collect();
        if !list.is_empty() {
            lines.push(format!("· 待确认：“{}”是指{}？", m.fragment, list.join("还是")));
        }
    }
    if !v.unknown_schools.is_empty() {
        lines.push(format!("· 不在您负责名单中的学校：{}", v.unknown_schools.join("、")));
    }
    lines.join("\n")
}

/// The school of the visit: the labelled school part if any; else the first sentence when it
/// names exactly one of the inspector's schools ("今天到实验小学…"); else the whole text when it
/// names exactly one. Several schools, or only partial names, are left to confirm.
fn pick_school(matcher: &SchoolMatcher, school_text: &str, all: &str) -> (Option<i64>, SchoolFindings) {
    let decide = |f: SchoolFindings, text: &str| -> (Option<i64>, SchoolFindings) {
        match f.matched.as_slice() {
            [one] if f.ambiguous.is_empty() => (Some(*one), f),
            [] => (None, f),
            _ => {
                // Several of the inspector's schools named: ask which one was visited.
                let mut f = f;
                let fragments: Vec<String> =
                    matcher.scan(text).into_iter().filter(|m| m.is_certain()).map(|m| m.fragment).fold(
                        Vec::new(),
                        |mut acc, s| {
                            if !acc.contains(&s) {
                                acc.push(s);
                            }
                            acc
                        },
                    );
                let pick = SchoolMatch { fragment: fragments.join("、"), candidates: f.matched.clone(), exact: true };
                f.ambiguous.insert(0, pick);
                (None, f)
            }
        }
    };
    if !school_text.trim().is_empty() {
        let f = matcher.find(school_text);
        if !f.is_empty() {
            return decide(f, school_text);
        }
    }
    let first_sentence = all.split(is_sentence_break).find(|s| !s.trim().is_empty()).unwrap_or("");
    let f = matcher.find(first_sentence);
    if f.matched.len() == 1 && f.ambiguous.is_empty() {
        return (Some(f.matched[0]), f);
    }
    decide(matcher.find(all), all)
}

fn find_kind(text: &str) -> Option<VisitKind> {
    for clause in text.split(|c: char| is_sentence_break(c) || c == '，' || c == ',') {
        if FUTURE_MARKERS.iter().any(|m| clause.contains(m)) {
            continue;
        }
        // "推门听课" is a method, not an unannounced visit; nothing to strip for the others.
        for (kind, kws) in KIND_KEYWORDS {
            if kws.iter().any(|k| contains_unnegated(clause, k)) {
                return Some(*kind);
            }
        }
    }
    None
}

fn find_follow_up(text: &str, loose: bool) -> Option<FollowUp> {
    if text.trim().is_empty() {
        return None;
    }
    // Phrases first, most severe first; then (in a labelled part) single words, because a loose
    // "整改" must not beat the phrase "现场整改".
    for (decision, strict, _) in FOLLOW_UP_PHRASES {
        let hit = if *decision == FollowUp::NoIssue {
            strict.iter().any(|p| text.contains(p))
        } else {
            strict.iter().any(|p| contains_unnegated(text, p))
        };
        if hit {
            return Some(*decision);
        }
    }
    if !loose {
        return None;
    }
    if is_none_answer(text) {
        return Some(FollowUp::NoIssue);
    }
    for (decision, _, words) in FOLLOW_UP_PHRASES {
        let hit = if *decision == FollowUp::NoIssue {
            words.iter().any(|w| text.trim().starts_with(w))
        } else {
            words.iter().any(|w| contains_unnegated(text, w))
        };
        if hit {
            return Some(*decision);
        }
    }
    None
}

/// A whole line of indicator results ("1 达标", "指标2：基本达标", "1、2达标，3不达标"), or `None`
/// when any segment of the line is something else (prose that happens to say "达标").
fn indicator_line(line: &str) -> Option<Vec<IndicatorScore>> {
    let line = line.trim();
    if line.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    for seg in line.split(['，', ',', '；', ';']) {
        if trim_item(seg).is_empty() {
            continue;
        }
        out.extend(indicator_segment(seg, true)?);
    }
    (!out.is_empty()).then_some(out)
}

/// One segment of "reference result (remark)" groups; several groups may follow each other
/// ("1达标 2达标 3基本达标"). `strict`: every reference must be short, remarks parenthesised, and
/// nothing may be left over. Lenient (inside an indicator part): trailing text is a remark.
fn indicator_segment(seg: &str, strict: bool) -> Option<Vec<IndicatorScore>> {
    let mut out = Vec::new();
    let mut rest = seg.trim();
    while !rest.is_empty() {
        // Earliest result word; at one position the longest.
        let Some((pos, word, result)) = first_result(rest) else {
            // Text after the last result: a remark when lenient, a reason to reject when strict.
            if strict {
                return None;
            }
            if let Some(last) = out.last_mut() {
                let last: &mut IndicatorScore = last;
                if last.remark.is_none() {
                    last.remark = Some(trim_item(rest).to_string()).filter(|r| !r.is_empty());
                }
            }
            break;
        };
        let reference = rest[..pos].trim_matches(|c: char| {
            c.is_whitespace() || matches!(c, ':' | '：' | '-' | '—' | '、' | '.' | '。' | '=' | '→' | '>')
        });
        if reference.is_empty() || (strict && (reference.chars().count() > 20 || reference.contains(['。', '，']))) {
            // Strict: the line is not an indicator line. Lenient: keep what was read so far.
            return if out.is_empty() || strict { None } else { Some(out) };
        }
        let mut after = rest[pos + word.len()..].trim_start();
        let mut remark = None;
        if let Some(inner) = after.strip_prefix(['(', '（']) {
            match inner.char_indices().find(|(_, c)| matches!(c, ')' | '）')) {
                Some((end, c)) => {
                    remark = Some(inner[..end].trim().to_string());
                    after = inner[end + c.len_utf8()..].trim_start();
                }
                None => {
                    remark = Some(inner.trim().to_string());
                    after = "";
                }
            }
        }
        // "1、2、3 达标": one score per listed number.
        let pieces: Vec<&str> = reference.split(['、', '/']).map(str::trim).filter(|p| !p.is_empty()).collect();
        let refs: Vec<String> = if pieces.len() > 1 && pieces.iter().all(|p| is_numeric_ref(p)) {
            pieces.iter().map(|p| clean_ref(p)).collect()
        } else {
            vec![clean_ref(reference)]
        };
        out.extend(refs.into_iter().map(|indicator| IndicatorScore { indicator, result, remark: remark.clone() }));
        rest = after;
    }
    (!out.is_empty()).then_some(out)
}

/// The earliest result word in `s` (the longest at that position). Scans forward only as far
/// as the match, so a long line of results is read in linear time.
fn first_result(s: &str) -> Option<(usize, &'static str, IndicatorResult)> {
    s.char_indices().find_map(|(i, _)| {
        RESULT_WORDS
            .iter()
            .filter(|(w, _)| s[i..].starts_with(w))
            .max_by_key(|(w, _)| w.len())
            .map(|(w, r)| (i, *w, *r))
    })
}

fn is_numeric_ref(p: &str) -> bool {
    let p = p.trim_start_matches("指标").trim_start_matches('第');
    let p = p.trim_end_matches(['项', '条', '号']);
    p.chars().count() == 1 && circled_number(p.chars().next().unwrap_or(' ')).is_some()
        || leading_number(p).is_some_and(|(_, used)| used == p.len())
}

/// "③" → "3"; list markers like "(2)" → "2"; other text as written.
fn clean_ref(r: &str) -> String {
    let r = r.trim();
    let mut chars = r.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        if let Some(n) = circled_number(c) {
            return n.to_string();
        }
    }
    let stripped = strip_list_marker(r);
    if stripped.is_empty() {
        // The whole reference was a marker, e.g. "(2)".
        let digits: String = r.chars().filter(|c| !matches!(c, '(' | ')' | '（' | '）' | '[' | ']')).collect();
        return digits;
    }
    r.to_string()
}

/// The first date written in `text`, relative to `today`: "2026-11-20", "2026年11月20日",
/// "11月20日", "十一月二十日", "11.20", "11/20", "今天", "昨天", "前天", "周三", "星期三",
/// "上周五". Weekdays mean the most recent such day not after today; a month and day without a
/// year means the most recent such date not after today. "下周三" (a plan) is ignored.
pub fn find_date(text: &str, today: NaiveDate) -> Option<NaiveDate> {
    let mut best: Option<(usize, NaiveDate)> = None;
    let mut offer = |pos: usize, d: Option<NaiveDate>| {
        if let Some(d) = d {
            if best.is_none_or(|(p, _)| pos < p) {
                best = Some((pos, d));
            }
        }
    };
    // Relative days; only the first mention of each can be the earliest date.
    for (word, back) in [("今天", 0i64), ("今日", 0), ("昨天", 1), ("昨日", 1), ("前天", 2)] {
        if let Some(pos) = text.find(word) {
            offer(pos, today.checked_sub_signed(Duration::days(back)));
        }
    }
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    for (ci, &(pos, c)) in chars.iter().enumerate() {
        let prev = if ci > 0 { Some(chars[ci - 1].1) } else { None };
        let rest = &text[pos..];
        // Numbers: full dates, month-day in Chinese, M.D / M/D.
        if super::text::is_numeral_char(c) && !prev.is_some_and(super::text::is_numeral_char) {
            if let Some(d) = date_at(rest, prev, today) {
                offer(pos, Some(d));
            }
        }
        // Weekdays.
        for w in ["星期", "礼拜", "周"] {
            if let Some(after) = rest.strip_prefix(w) {
                let Some(day) = after.chars().next().and_then(weekday_of) else {
                    continue;
                };
                let before: String = chars[..ci].iter().rev().take(1).map(|(_, c)| *c).collect();
                if before.chars().any(|b| super::text::is_numeral_char(b) || matches!(b, '每' | '下' | '隔' | '个'))
                {
                    continue;
                }
                let last_week = before == "上";
                let start = if last_week { pos - '上'.len_utf8() } else { pos };
                offer(start, weekday_date(today, day, last_week));
            }
        }
    }
    best.map(|(_, d)| d)
}

fn weekday_of(c: char) -> Option<Weekday> {
    Some(match c {
        '一' | '1' => Weekday::Mon,
        '二' | '2' => Weekday::Tue,
        '三' | '3' => Weekday::Wed,
        '四' | '4' => Weekday::Thu,
        '五' | '5' => Weekday::Fri,
        '六' | '6' => Weekday::Sat,
        '日' | '天' | '7' => Weekday::Sun,
        _ => return None,
    })
}

fn weekday_date(today: NaiveDate, day: Weekday, last_week: bool) -> Option<NaiveDate> {
    let t = i64::from(today.weekday().num_days_from_monday());
    let d = i64::from(day.num_days_from_monday());
    let back = if last_week { t + 7 - d } else { (t - d).rem_euclid(7) };
    today.checked_sub_signed(Duration::days(back))
}

/// A date starting at a number.
fn date_at(s: &str, prev: Option<char>, today: NaiveDate) -> Option<NaiveDate> {
    let (a, used) = leading_number(s)?;
    let rest = &s[used..];
    let ascii_a = s[..used].chars().all(|c| c.is_ascii_digit());
    // Full date: 2026-11-20, 2026/11/20, 2026.11.20, 2026年11月20日.
    if ascii_a && used == 4 {
        let sep = rest.chars().next()?;
        if matches!(sep, '-' | '/' | '.' | '年') {
            let r = &rest[sep.len_utf8()..];
            let (m, mu) = leading_number(r)?;
            let r = &r[mu..];
            let sep2 = r.chars().next()?;
            if matches!(sep2, '-' | '/' | '.' | '月') {
                let (d, _) = leading_number(&r[sep2.len_utf8()..])?;
                return NaiveDate::from_ymd_opt(a as i32, m, d);
            }
        }
        return None;
    }
    // 11月20日 / 十一月二十日 / 11月20号.
    if let Some(r) = rest.strip_prefix('月') {
        let (d, du) = leading_number(r)?;
        let r = &r[du..];
        if r.starts_with('日') || r.starts_with('号') || ascii_a {
            return month_day(today, a, d);
        }
        return None;
    }
    // 11.20 / 11/20: ASCII only, not part of a longer number, not a decimal with a unit.
    if ascii_a && used <= 2 && !prev.is_some_and(|p| p == '.' || p == '/' || p.is_ascii_digit()) {
        let sep = rest.chars().next()?;
        if matches!(sep, '.' | '/') {
            let r = &rest[1..];
            let du = r.chars().take_while(char::is_ascii_digit).count();
            if du == 0 || du > 2 {
                return None;
            }
            let d: u32 = r[..du].parse().ok()?;
            let next = r[du..].chars().next();
            let unit_follows = next.is_some_and(|c| {
                c.is_ascii_digit()
                    || matches!(c, '.' | '/' | '%')
                    || "米元万亿倍分小个人名平公千斤度岁年节次克吨秒份".contains(c)
            });
            if unit_follows {
                return None;
            }
            return month_day(today, a, d);
        }
    }
    None
}

/// Month and day without a year: the most recent such date not after today.
fn month_day(today: NaiveDate, m: u32, d: u32) -> Option<NaiveDate> {
    let this_year = NaiveDate::from_ymd_opt(today.year(), m, d);
    match this_year {
        Some(x) if x <= today => Some(x),
        _ => NaiveDate::from_ymd_opt(today.year() - 1, m, d),
    }
}

/// A visit record filled in on the platform's form (督导纪实 H5): the same record a chat text
/// is parsed into, from fields instead of words.
#[derive(Debug, Clone, Default)]
pub struct VisitForm {
    pub school: Option<i64>,
    pub date: Option<NaiveDate>,
    pub kind: VisitKind,
    /// Methods ticked; lessons observed count as `lessons` (at least 1 when ticked).
    pub methods: Vec<VisitMethod>,
    pub lessons: u32,
    /// (1-based item of the month's checklist, result) for the items given a result.
    pub indicators: Vec<(usize, IndicatorResult)>,
    pub narrative: String,
    pub good_practice: String,
    /// Problems, one per line (or numbered, as in chat).
    pub problems: String,
    pub follow_up: Option<FollowUp>,
}

impl VisitForm {
    /// The record as [`parse_visit`] would hold it; `today` when no date was given.
    pub fn to_parsed(&self, today: NaiveDate) -> ParsedVisit {
        let some = |t: &str| Some(t.trim().to_string()).filter(|t| !t.is_empty());
        let problems: Vec<String> = split_items(self.problems.trim())
            .into_iter()
            .map(|p| trim_item(&p).to_string())
            .filter(|p| !p.is_empty())
            .collect();
        let no_problems = problems.is_empty() || is_none_answer(self.problems.trim());
        ParsedVisit {
            school: self.school,
            ambiguous: Vec::new(),
            unknown_schools: Vec::new(),
            date: self.date.unwrap_or(today),
            date_stated: self.date.is_some(),
            kind: self.kind,
            kind_stated: true,
            methods: VisitMethod::ALL
                .into_iter()
                .filter(|m| self.methods.contains(m))
                .map(|m| (m, if m == VisitMethod::LessonObservation { self.lessons.max(1) } else { 1 }))
                .collect(),
            indicators: self
                .indicators
                .iter()
                .map(|(no, result)| IndicatorScore { indicator: no.to_string(), result: *result, remark: None })
                .collect(),
            narrative: some(&self.narrative),
            good_practice: some(&self.good_practice),
            problems: if no_problems { Vec::new() } else { problems },
            no_problems,
            follow_up: self.follow_up,
        }
    }

    /// The record as a labelled text, the chat template's words (kept as the visit's verbatim
    /// part, so the record reads the same whichever way it came). `school` and `checklist`
    /// name what the ids point to.
    pub fn text(&self, school: &str, checklist: &[String]) -> String {
        let mut lines = vec![format!("学校：{school}")];
        if let Some(d) = self.date {
            lines.push(format!("日期：{}", d.format("%Y-%m-%d")));
        }
        lines.push(format!("类型：{}", self.kind.label()));
        let methods: Vec<String> = VisitMethod::ALL
            .into_iter()
            .filter(|m| self.methods.contains(m))
            .map(|m| match m {
                VisitMethod::LessonObservation => format!("{}{}节", m.label(), self.lessons.max(1)),
                _ => m.label().to_string(),
            })
            .collect();
        if !methods.is_empty() {
            lines.push(format!("方式：{}", methods.join("、")));
        }
        if !self.indicators.is_empty() {
            let list: Vec<String> = self
                .indicators
                .iter()
                .map(|(no, r)| match checklist.get(no.wrapping_sub(1)) {
                    Some(name) => format!("{no}{}（{name}）", r.label()),
                    None => format!("{no}{}", r.label()),
                })
                .collect();
            lines.push(format!("指标：{}", list.join(" ")));
        }
        for (label, text) in [("督导过程", &self.narrative), ("亮点", &self.good_practice)] {
            if !text.trim().is_empty() {
                lines.push(format!("{label}：{}", text.trim()));
            }
        }
        let problems = self.problems.trim();
        lines.push(format!("发现问题：{}", if problems.is_empty() { "无" } else { problems }));
        if let Some(f) = self.follow_up {
            lines.push(format!("处理意见：{}", f.label()));
        }
        lines.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn school(id: i64, name: &str, short: Option<&str>, aliases: &[&str]) -> SchoolRef {
        SchoolRef {
            id,
            name: name.to_string(),
            short_name: short.map(str::to_string),
            aliases: aliases.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn my_schools() -> Vec<SchoolRef> {
        vec![
            school(1, "示例县实验小学", Some("县实小"), &[]),
            school(2, "示例县青石镇中心小学", None, &[]),
            school(3, "示例县白沙镇中心小学", None, &["白小"]),
            school(4, "示例县第一中学", Some("一中"), &["县一中"]),
        ]
    }

    fn names(id: i64) -> String {
        my_schools().into_iter().find(|s| s.id == id).map(|s| s.name).unwrap_or_default()
    }

    /// Friday 2026-11-20.
    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 20).unwrap()
    }

    fn d(m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, m, day).unwrap()
    }

    #[test]
    fn dates() {
        let t = today();
        assert_eq!(find_date("今天", t), Some(t));
        assert_eq!(find_date("昨天下午到校", t), Some(d(11, 19)));
        assert_eq!(find_date("11月18日", t), Some(d(11, 18)));
        assert_eq!(find_date("十一月十八日", t), Some(d(11, 18)));
        assert_eq!(find_date("11.18上午", t), Some(d(11, 18)));
        assert_eq!(find_date("2026-11-02", t), Some(d(11, 2)));
        assert_eq!(find_date("2026年11月2日", t), Some(d(11, 2)));
        // Wednesday before Friday the 20th.
        assert_eq!(find_date("周三", t), Some(d(11, 18)));
        assert_eq!(find_date("星期五", t), Some(t));
        assert_eq!(find_date("星期六", t), Some(d(11, 14)));
        assert_eq!(find_date("上周三", t), Some(d(11, 11)));
        // A date later in the year than today is last year's.
        assert_eq!(find_date("12月30日", t), NaiveDate::from_ymd_opt(2025, 12, 30));
        // Not dates.
        assert_eq!(find_date("听课1.5小时", t), None);
        assert_eq!(find_date("一周一次", t), None);
        assert_eq!(find_date("下周三回访", t), None);
        assert_eq!(find_date("2月30日", t), None);
        assert_eq!(find_date("1.实验小学", t), None);
        // The first date written wins.
        assert_eq!(find_date("今天检查了11月2日的值班记录", t), Some(t));
    }

    #[test]
    fn labelled_record() {
        let t = "学校：青石中心小学\n时间：11月18日\n类型：专项督导（防溺水）\n督导方式：推门听课2节、查阅资料、座谈3人\n指标评价：\n1 达标\n指标2：基本达标\n防溺水宣传 不达标\n亮点：学校建立了家校联系卡制度\n发现问题：\n1. 防溺水宣传栏内容未更新\n2. 安全巡查记录不全\n处理意见：下发整改通知，限期一周整改";
        let v = parse_visit(t, &my_schools(), today());
        assert_eq!(v.school, Some(2));
        assert_eq!(v.date, d(11, 18));
        assert!(v.date_stated);
        assert_eq!(v.kind, VisitKind::Special);
        assert_eq!(
            v.methods,
            vec![(VisitMethod::LessonObservation, 2), (VisitMethod::DocumentReview, 1), (VisitMethod::Discussion, 1)]
        );
        let scores: Vec<(&str, IndicatorResult)> =
            v.indicators.iter().map(|i| (i.indicator.as_str(), i.result)).collect();
        assert_eq!(
            scores,
            vec![
                ("1", IndicatorResult::Met),
                ("指标2", IndicatorResult::BasicallyMet),
                ("防溺水宣传", IndicatorResult::NotMet)
            ]
        );
        assert_eq!(v.good_practice.as_deref(), Some("学校建立了家校联系卡制度"));
        assert_eq!(v.problems, vec!["防溺水宣传栏内容未更新", "安全巡查记录不全"]);
        assert_eq!(v.follow_up, Some(FollowUp::General));
        assert_eq!(v.missing_required(), None);
        let s = visit_summary(&v, &names);
        assert!(s.contains("学校：示例县青石镇中心小学"), "{s}");
        assert!(s.contains("日期：2026-11-18（星期三）"), "{s}");
        assert!(s.contains("指标：达标1项、基本达标1项、不达标1项"), "{s}");
        assert!(s.contains("处理意见：一般问题（下发整改通知）"), "{s}");
    }

    #[test]
    fn free_text_record() {
        let t = "昨天到实验小学暗访，推门听课两节，巡视校园。亮点：课后服务开展得很有特色👍。发现二楼消防通道有杂物堆放，已要求学校现场整改。";
        let v = parse_visit(t, &my_schools(), today());
        assert_eq!(v.school, Some(1));
        assert_eq!(v.date, d(11, 19));
        assert_eq!(v.kind, VisitKind::Unannounced);
        assert_eq!(v.methods, vec![(VisitMethod::LessonObservation, 2), (VisitMethod::CampusWalk, 1)]);
        assert_eq!(v.problems, vec!["发现二楼消防通道有杂物堆放"]);
        assert!(v.good_practice.as_deref().is_some_and(|g| g.contains("课后服务")), "{v:?}");
        assert_eq!(v.follow_up, Some(FollowUp::Minor));
        assert_eq!(v.missing_required(), None);
    }

    #[test]
    fn kinds() {
        let k = |t: &str| parse_visit(t, &my_schools(), today()).kind;
        assert_eq!(k("实验小学 常规督导 听课"), VisitKind::Routine);
        assert_eq!(k("实验小学听课"), VisitKind::Routine);
        assert_eq!(k("到实验小学核查家长投诉的有偿补课问题"), VisitKind::Complaint);
        assert_eq!(k("对实验小学上月问题进行回头看"), VisitKind::Recheck);
        assert_eq!(k("实验小学综合督导"), VisitKind::Comprehensive);
        assert_eq!(k("四不两直到实验小学检查食堂"), VisitKind::Unannounced);
        // A planned re-check does not make this visit a re-check; 推门听课 is not 暗访.
        assert_eq!(k("实验小学推门听课2节，发现作业偏多，下发整改通知，一周后复查"), VisitKind::Routine);
        let v = parse_visit("实验小学听课", &my_schools(), today());
        assert!(!v.kind_stated);
    }

    #[test]
    fn follow_up_decisions() {
        let f = |t: &str| parse_visit(t, &my_schools(), today()).follow_up;
        assert_eq!(f("实验小学 处理意见：无需整改"), Some(FollowUp::NoIssue));
        assert_eq!(f("实验小学 处理意见：现场整改"), Some(FollowUp::Minor));
        assert_eq!(f("实验小学 发现食堂无健康证人员上岗，已上报督导室"), Some(FollowUp::Serious));
        assert_eq!(f("实验小学 处理意见：严重，需上报"), Some(FollowUp::Serious));
        assert_eq!(f("实验小学 校门口道路无减速带，需部门协调解决"), Some(FollowUp::Complex));
        assert_eq!(f("实验小学 处理意见：复杂问题"), Some(FollowUp::Complex));
        // "严重" in a problem description is not a decision.
        assert_eq!(f("实验小学 发现作业负担严重"), None);
        assert_eq!(f("实验小学 处理意见：无严重问题，无需整改"), Some(FollowUp::NoIssue));
    }

    #[test]
    fn indicator_lines() {
        let v = parse_visit(
            "县实小 防溺水专项\n①达标\n②基本达标\n3.不达标（宣传栏未更新）\n4 不适用\n1、2达标，5未达标\n经检查总体达标，亮点突出\n6达标 7不达标(无台账) 8基本达标",
            &my_schools(),
            today(),
        );
        let scores: Vec<(&str, IndicatorResult)> =
            v.indicators.iter().map(|i| (i.indicator.as_str(), i.result)).collect();
        assert_eq!(
            scores,
            vec![
                ("1", IndicatorResult::Met),
                ("2", IndicatorResult::BasicallyMet),
                ("3", IndicatorResult::NotMet),
                ("4", IndicatorResult::NotApplicable),
                ("1", IndicatorResult::Met),
                ("2", IndicatorResult::Met),
                ("5", IndicatorResult::NotMet),
                ("6", IndicatorResult::Met),
                ("7", IndicatorResult::NotMet),
                ("8", IndicatorResult::BasicallyMet),
            ]
        );
        assert_eq!(v.indicators[2].remark.as_deref(), Some("宣传栏未更新"));
        assert_eq!(v.indicators[8].remark.as_deref(), Some("无台账"));
        assert_eq!(v.school, Some(1));
        assert_eq!(v.kind, VisitKind::Special);
        // Inside an indicator part, trailing prose is a remark.
        let v = parse_visit("学校：县实小\n【指标】1达标 2达标 3基本达标 4不达标 5不适用", &my_schools(), today());
        assert_eq!(v.indicators.len(), 5);
        let v = parse_visit("学校：县实小\n指标评价：3 不达标 宣传栏未更新", &my_schools(), today());
        assert_eq!(v.indicators[0].remark.as_deref(), Some("宣传栏未更新"));
    }

    #[test]
    fn missing_school_and_activity() {
        let v = parse_visit("推门听课2节，查阅资料", &my_schools(), today());
        assert_eq!(v.missing_required(), Some(VisitField::School));
        assert_eq!(v.next_question(&names).as_deref(), Some(visit_follow_up_question(VisitField::School)));
        let a = parse_visit_answer(VisitField::School, "白小", &my_schools(), today());
        let v = merge_visit(&v, &a);
        assert_eq!(v.school, Some(3));
        assert_eq!(v.missing_required(), None);

        let v = parse_visit("实验小学", &my_schools(), today());
        assert_eq!(v.missing_required(), Some(VisitField::Activity));
        let a = parse_visit_answer(VisitField::Activity, "听课3节，与校长座谈", &my_schools(), today());
        let v = merge_visit(&v, &a);
        assert_eq!(v.school, Some(1));
        assert_eq!(v.methods, vec![(VisitMethod::LessonObservation, 3), (VisitMethod::Discussion, 1)]);
        assert_eq!(v.missing_required(), None);
    }

    #[test]
    fn ambiguous_and_several_schools() {
        let v = parse_visit("今天到中心小学听课", &my_schools(), today());
        assert_eq!(v.school, None);
        assert_eq!(v.missing_required(), Some(VisitField::School));
        let q = v.next_question(&names).unwrap();
        assert!(q.contains("1. 示例县青石镇中心小学") && q.contains("2. 示例县白沙镇中心小学"), "{q}");

        // Two schools in the first sentence: never guess.
        let v = parse_visit("实验小学和县一中联合教研，听课2节", &my_schools(), today());
        assert_eq!(v.school, None);
        assert_eq!(v.ambiguous[0].candidates, vec![1, 4]);
        // But one school first and another mentioned later: the first sentence decides.
        let v = parse_visit("今天到实验小学听课。该校借鉴了县一中的作业公示做法。", &my_schools(), today());
        assert_eq!(v.school, Some(1));

        let v = parse_visit("学校：城东小学\n听课2节", &my_schools(), today());
        assert_eq!(v.school, None);
        assert_eq!(v.unknown_schools, vec!["城东小学"]);
        assert!(v.next_question(&names).unwrap().contains("不在您负责的学校名单中") || v.ambiguous.is_empty());
    }

    #[test]
    fn no_problems_statement() {
        let v = parse_visit("学校：实验小学\n方式：听课1节\n存在问题：无", &my_schools(), today());
        assert!(v.no_problems);
        assert!(v.problems.is_empty());
        let v = parse_visit("实验小学听课，未发现问题", &my_schools(), today());
        assert!(v.no_problems || v.problems.is_empty());
    }

    #[test]
    fn junk_and_empty() {
        let v = parse_visit("", &my_schools(), today());
        assert_eq!(v.date, today());
        assert_eq!(v.missing_required(), Some(VisitField::School));
        let junk: String = (0u32..8000).filter_map(|i| char::from_u32((i * 104_729) % 0x11000)).collect();
        let _ = parse_visit(&junk, &my_schools(), today());
        let big = "2026-11-20 实验小学 推门听课2节 1 达标 ①②③ 星期三 11.20 十一月二十日\n".repeat(1500);
        assert!(big.len() > 100 * 1024);
        let v = parse_visit(&big, &my_schools(), today());
        assert_eq!(v.school, Some(1));
        for s in ["月", "2026-", "2026-13-45", "11.", "12/", "周", "上周", "达标", "学校:", "【学校】"] {
            let _ = parse_visit(s, &my_schools(), today());
        }
        let _ = find_date("0月0日 99.99 2026年2月29日", today());
        let _ = parse_visit("昨天", &my_schools(), NaiveDate::MIN);
        let _ = parse_visit("上周日", &my_schools(), NaiveDate::MIN);
    }

    /// Token soup from everything the parsers key on: no input may panic.
    #[test]
    fn fuzz_token_soup() {
        const TOKENS: &[&str] = &[
            "本周督导学校",
            "督导方式",
            "发现问题",
            "整改跟进",
            "下周计划",
            "学校",
            "问题",
            "时间",
            "亮点",
            "处理意见",
            "指标",
            "：",
            ":",
            "（",
            "）",
            "(",
            ")",
            "【",
            "】",
            "[",
            "]",
            "、",
            "，",
            "。",
            "；",
            "\n",
            "\r\n",
            " ",
            "\u{3000}",
            "\u{200B}",
            "1.",
            "2、",
            "一、",
            "（二）",
            "①",
            "⑳",
            "- ",
            "• ",
            "👍",
            "🏫",
            "\u{FE0F}",
            "实验小学",
            "示例县",
            "青石",
            "镇",
            "中心小学",
            "中心校",
            "小学",
            "中学",
            "幼儿园",
            "白小",
            "县一中",
            "城东",
            "听课",
            "推门听课",
            "查阅资料",
            "座谈",
            "走访",
            "问卷",
            "巡视",
            "两",
            "十",
            "百",
            "万",
            "零",
            "〇",
            "3",
            "99999999999",
            "节",
            "次",
            "所",
            "人",
            "月",
            "日",
            "号",
            "周",
            "星期",
            "上",
            "下",
            "今天",
            "昨天",
            "2026",
            "-",
            "/",
            ".",
            "年",
            "达标",
            "不达标",
            "基本达标",
            "不适用",
            "无",
            "未下校",
            "未发现问题",
            "上报",
            "严重",
            "现场整改",
            "限期整改",
            "部门协调",
            "专项",
            "暗访",
            "回访",
            "投诉",
            "\u{0}",
            "\u{7F}",
            "\u{FFFD}",
            "\u{10FFFF}",
            "é",
            "ｅ",
            "１",
            "＃",
        ];
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let schools = my_schools();
        for _ in 0..3000 {
            let n = (next() % 40) as usize;
            let text: String = (0..n).map(|_| TOKENS[(next() % TOKENS.len() as u64) as usize]).collect();
            let v = parse_visit(&text, &schools, today());
            let _ = visit_summary(&v, &names);
            let _ = v.next_question(&names);
            let w = super::super::report_parse::parse_weekly(&text, &schools);
            let _ = super::super::report_parse::summary(&w, &names);
            let _ = super::super::report_parse::merge(&w, &w);
            let _ = super::super::text::split_items(&text);
            let _ = super::super::text::parse_chinese_number(&text);
            let _ = super::super::text::strip_list_marker(&text);
        }
    }

    /// Adversarial 100 KB inputs must stay fast (linear-ish), not just panic-free.
    #[test]
    fn adversarial_inputs_are_fast() {
        let schools = my_schools();
        let inputs = [
            "1达标 ".repeat(20_000),
            "小学".repeat(20_000),
            "中心小学".repeat(10_000),
            "1.".repeat(50_000),
            "一".repeat(40_000),
            "【".repeat(40_000),
            "发现问题:".repeat(10_000),
            "听了".repeat(30_000),
            "周三".repeat(30_000),
            "实验小学、".repeat(8_000),
            "\n".repeat(100_000),
            "①".repeat(40_000),
            "甲乙丙丁小学，".repeat(5_000),
        ];
        for text in &inputs {
            let start = std::time::Instant::now();
            let v = parse_visit(text, &schools, today());
            let _ = visit_summary(&v, &names);
            let w = super::super::report_parse::parse_weekly(text, &schools);
            let _ = super::super::report_parse::summary(&w, &names);
            let took = start.elapsed();
            assert!(took.as_secs() < 10, "{took:?} for {}", truncate_chars(text, 10));
        }
    }

    #[test]
    fn enums_round_trip() {
        for k in VisitKind::ALL {
            assert_eq!(VisitKind::parse(k.as_str()), Some(k));
        }
        for r in IndicatorResult::ALL {
            assert_eq!(IndicatorResult::parse(r.as_str()), Some(r));
        }
        for f in FollowUp::ALL {
            assert_eq!(FollowUp::parse(f.as_str()), Some(f));
        }
    }

    #[test]
    fn a_form_becomes_the_record_a_text_would() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
        let form = VisitForm {
            school: Some(7),
            date: None,
            kind: VisitKind::Special,
            methods: vec![VisitMethod::CampusWalk, VisitMethod::LessonObservation],
            lessons: 2,
            indicators: vec![(1, IndicatorResult::Met), (3, IndicatorResult::NotMet)],
            narrative: String::new(),
            good_practice: "  ".into(),
            problems: "1.消防通道堆放杂物\n2.食堂留样不全".into(),
            follow_up: Some(FollowUp::General),
        };
        let v = form.to_parsed(today);
        assert_eq!(v.school, Some(7));
        assert_eq!(v.date, today);
        assert!(!v.date_stated);
        assert_eq!(v.methods, vec![(VisitMethod::LessonObservation, 2), (VisitMethod::CampusWalk, 1)]);
        assert_eq!(v.indicators[1].indicator, "3");
        assert_eq!(v.problems, vec!["消防通道堆放杂物".to_string(), "食堂留样不全".to_string()]);
        assert!(!v.no_problems && v.good_practice.is_none());
        assert_eq!(v.missing_required(), None);
        let text = form.text("实验小学", &["消防".into(), "食堂".into(), "宿舍".into()]);
        assert!(text.starts_with("学校：实验小学\n"), "{text}");
        assert!(text.contains("方式：推门听课2节、校园巡视") && text.contains("3不达标（宿舍）"), "{text}");

        // Nothing done: the activity is missing, as in chat; no problems written means none.
        let empty = VisitForm { school: Some(7), problems: "无".into(), ..VisitForm::default() }.to_parsed(today);
        assert_eq!(empty.missing_required(), Some(VisitField::Activity));
        assert!(empty.no_problems && empty.problems.is_empty());
        assert_eq!(VisitForm::default().to_parsed(today).missing_required(), Some(VisitField::School));
    }
}
