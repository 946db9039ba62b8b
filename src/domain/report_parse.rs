//! Parses an inspector's weekly report (周交流) from chat text.
//!
//! The office's template has five sections: 本周督导学校 / 督导方式 / 发现问题 / 整改跟进 / 下周计划.
//! Inspectors follow it loosely: labels with or without colons, `【】` labels, numbered lists, all
//! on one line, or no labels at all. Labelled parts are taken as written; unlabelled text is split
//! into clauses and sorted by keywords (发现/存在/问题/隐患 → problems, 整改/复查/跟进 → follow-up,
//! 下周/计划 → next week's plan).
//!
//! The parse never fails: whatever could not be understood is simply absent, and
//! [`missing_required`] says what one follow-up question should ask for. The raw text is stored
//! elsewhere verbatim; this module only reads it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use super::school_match::{confirm_question, SchoolFindings, SchoolMatch, SchoolMatcher, SchoolRef};
use super::text::{
    cjk_colons, classify_clauses, is_none_answer, leading_number, normalize, split_items, split_labelled,
    strip_list_marker, truncate_chars,
};

/// A section of the weekly-report template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    Schools,
    Methods,
    Problems,
    Followup,
    NextPlan,
}

impl Section {
    pub const ALL: [Section; 5] =
        [Section::Schools, Section::Methods, Section::Problems, Section::Followup, Section::NextPlan];

    /// The template label shown to inspectors.
    pub fn label(self) -> &'static str {
        match self {
            Section::Schools => "本周督导学校",
            Section::Methods => "督导方式",
            Section::Problems => "发现问题",
            Section::Followup => "整改跟进",
            Section::NextPlan => "下周计划",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Section::Schools => "schools",
            Section::Methods => "methods",
            Section::Problems => "problems",
            Section::Followup => "followup",
            Section::NextPlan => "next_plan",
        }
    }

    pub fn parse(s: &str) -> Option<Section> {
        Section::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// Label texts accepted for each section (the longest match wins).
const SECTION_LABELS: &[(&str, Section)] = &[
    ("本周督导学校", Section::Schools),
    ("本周督导的学校", Section::Schools),
    ("本周走访学校", Section::Schools),
    ("本周下校情况", Section::Schools),
    ("本周督导情况", Section::Schools),
    ("督导学校", Section::Schools),
    ("督导的学校", Section::Schools),
    ("走访学校", Section::Schools),
    ("下校情况", Section::Schools),
    ("督导对象", Section::Schools),
    ("本周督导", Section::Schools),
    ("学校", Section::Schools),
    ("督导方式", Section::Methods),
    ("督导形式", Section::Methods),
    ("督导方法", Section::Methods),
    ("工作方式", Section::Methods),
    ("方式", Section::Methods),
    ("发现问题", Section::Problems),
    ("发现的问题", Section::Problems),
    ("存在问题", Section::Problems),
    ("存在的问题", Section::Problems),
    ("主要问题", Section::Problems),
    ("督导发现", Section::Problems),
    ("发现问题及建议", Section::Problems),
    ("问题", Section::Problems),
    ("整改跟进", Section::Followup),
    ("整改跟进情况", Section::Followup),
    ("整改情况", Section::Followup),
    ("整改落实情况", Section::Followup),
    ("整改落实", Section::Followup),
    ("跟进情况", Section::Followup),
    ("整改跟踪", Section::Followup),
    ("问题整改", Section::Followup),
    ("上周问题整改情况", Section::Followup),
    ("整改", Section::Followup),
    ("跟进", Section::Followup),
    ("下周计划", Section::NextPlan),
    ("下周工作计划", Section::NextPlan),
    ("下周督导计划", Section::NextPlan),
    ("下周安排", Section::NextPlan),
    ("下周打算", Section::NextPlan),
    ("下周工作", Section::NextPlan),
    ("计划", Section::NextPlan),
    ("下周", Section::NextPlan),
];

/// Keywords that sort unlabelled clauses, in priority order: an explicit "next week" beats
/// everything; an explicit re-check beats the problem words it usually contains ("复查上周发现
/// 的问题"); weak plan/follow-up words come last ("教学计划不规范" is a problem, not a plan).
const FREE_TEXT_RULES: &[(Section, &[&str])] = &[
    (Section::NextPlan, &["下周", "下一周", "下阶段", "下一步", "下步", "下次"]),
    (
        Section::Followup,
        &[
            "复查",
            "回访",
            "回头看",
            "跟进",
            "整改情况",
            "整改进展",
            "已整改",
            "整改完成",
            "整改到位",
            "完成整改",
            "已落实",
            "销号",
            "整改中",
        ],
    ),
    (Section::Problems, PROBLEM_KEYWORDS),
    (Section::NextPlan, &["计划", "打算", "拟于", "拟对", "拟到", "准备去", "将于"]),
    (Section::Followup, &["整改", "督促", "限期"]),
];

/// Words that mark a problem clause in free text.
pub(crate) const PROBLEM_KEYWORDS: &[&str] = &[
    "发现",
    "存在",
    "问题",
    "隐患",
    "不足",
    "不到位",
    "不规范",
    "不完善",
    "不健全",
    "不全",
    "不够",
    "缺少",
    "缺乏",
    "缺失",
    "未按",
    "未落实",
    "未建立",
    "未开展",
    "未及时",
    "没有按",
    "超标",
    "超时",
    "违规",
    "堵塞",
    "过期",
    "偏多",
    "偏重",
    "较重",
    "薄弱",
    "滞后",
    "不达标",
    "无人",
    "未公示",
    "未留样",
    "不及时",
    "不合格",
    "不严",
    "混乱",
    "脏乱",
    "破损",
    "老化",
    "私自",
    "擅自",
    "体罚",
    "有偿补课",
    "乱收费",
    "没有",
    "没做",
    "未做",
    "倾向",
    "现象",
    "不当",
    "不力",
    "不按",
];

/// Phrases that answer "which schools" with "none this week".
const NO_VISIT_PHRASES: &[&str] = &[
    "未下校",
    "没有下校",
    "没下校",
    "未到校",
    "没有到校",
    "未督导",
    "没有督导",
    "未开展督导",
    "没有开展督导",
    "无督导",
    "未走访",
    "没有走访",
    "未入校",
    "未深入学校",
    "本周请假",
    "本周休假",
    "请假一周",
    "休假一周",
];

/// A 督导方式 (visit method), as counted in the visit record (CYZL, LXHY, ZTZF, WJDC, XYXS and
/// lesson observations).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VisitMethod {
    /// 推门听课 / 听课
    LessonObservation,
    /// 查阅资料 / 查看台账
    DocumentReview,
    /// 列席会议
    Meeting,
    /// 座谈走访 / 访谈 / 家访
    Discussion,
    /// 问卷调查
    Questionnaire,
    /// 校园巡视
    CampusWalk,
}

impl VisitMethod {
    pub const ALL: [VisitMethod; 6] = [
        VisitMethod::LessonObservation,
        VisitMethod::DocumentReview,
        VisitMethod::Meeting,
        VisitMethod::Discussion,
        VisitMethod::Questionnaire,
        VisitMethod::CampusWalk,
    ];

    pub fn label(self) -> &'static str {
        match self {
            VisitMethod::LessonObservation => "推门听课",
            VisitMethod::DocumentReview => "查阅资料",
            VisitMethod::Meeting => "列席会议",
            VisitMethod::Discussion => "座谈走访",
            VisitMethod::Questionnaire => "问卷调查",
            VisitMethod::CampusWalk => "校园巡视",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            VisitMethod::LessonObservation => "lesson_observation",
            VisitMethod::DocumentReview => "document_review",
            VisitMethod::Meeting => "meeting",
            VisitMethod::Discussion => "discussion",
            VisitMethod::Questionnaire => "questionnaire",
            VisitMethod::CampusWalk => "campus_walk",
        }
    }

    pub fn parse(s: &str) -> Option<VisitMethod> {
        VisitMethod::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// Method keywords; the longest match at a position wins and matches never overlap.
const METHOD_KEYWORDS: &[(&str, VisitMethod)] = &[
    ("推门听课", VisitMethod::LessonObservation),
    ("随堂听课", VisitMethod::LessonObservation),
    ("听评课", VisitMethod::LessonObservation),
    ("听课", VisitMethod::LessonObservation),
    ("观课", VisitMethod::LessonObservation),
    ("巡课", VisitMethod::LessonObservation),
    ("查阅资料", VisitMethod::DocumentReview),
    ("查阅台账", VisitMethod::DocumentReview),
    ("查看台账", VisitMethod::DocumentReview),
    ("查看资料", VisitMethod::DocumentReview),
    ("查阅档案", VisitMethod::DocumentReview),
    ("翻阅资料", VisitMethod::DocumentReview),
    ("资料查阅", VisitMethod::DocumentReview),
    ("检查台账", VisitMethod::DocumentReview),
    ("台账检查", VisitMethod::DocumentReview),
    ("查资料", VisitMethod::DocumentReview),
    ("查台账", VisitMethod::DocumentReview),
    ("查阅", VisitMethod::DocumentReview),
    ("列席会议", VisitMethod::Meeting),
    ("列席", VisitMethod::Meeting),
    ("参加会议", VisitMethod::Meeting),
    ("参加例会", VisitMethod::Meeting),
    ("座谈走访", VisitMethod::Discussion),
    ("走访座谈", VisitMethod::Discussion),
    ("交流座谈", VisitMethod::Discussion),
    ("座谈", VisitMethod::Discussion),
    ("访谈", VisitMethod::Discussion),
    ("家访", VisitMethod::Discussion),
    ("谈话", VisitMethod::Discussion),
    ("走访", VisitMethod::Discussion), // only with people after it, see `walk_visit_is_discussion`
    ("问卷调查", VisitMethod::Questionnaire),
    ("调查问卷", VisitMethod::Questionnaire),
    ("问卷", VisitMethod::Questionnaire),
    ("校园巡视", VisitMethod::CampusWalk),
    ("巡视校园", VisitMethod::CampusWalk),
    ("巡查校园", VisitMethod::CampusWalk),
    ("校园巡查", VisitMethod::CampusWalk),
    ("实地查看", VisitMethod::CampusWalk),
    ("查看校园", VisitMethod::CampusWalk),
    ("巡视", VisitMethod::CampusWalk),
    ("巡查", VisitMethod::CampusWalk),
];

/// Counted things after a method ("听课2节", "查阅资料5份").
const COUNT_WORDS: &[&str] =
    &["人次", "课时", "节", "次", "场", "份", "项", "处", "个", "本", "册", "户", "堂", "类", "盒", "人", "名", "位"];

/// Finds visit methods and their counts in `text` (normalised). Each mention counts the number
/// written next to it ("推门听课2节", "听课两节", "2次听课", "听了3节课"), or 1 without a number.
/// For discussions and meetings a head count ("座谈3人") is the size of one session, so it counts
/// 1; for other methods the number given is the count. Mentions of one method add up. Returned
/// in [`VisitMethod::ALL`] order, only methods that occur.
///
/// "走访" alone means visiting a school in weekly reports ("本周走访3所学校"), so it counts as a
/// discussion only when people follow it ("走访家长5户", "走访学生").
pub fn find_methods(text: &str) -> Vec<(VisitMethod, u32)> {
    let mut occupied = vec![false; text.len()];
    // (start, end, method) of each keyword mention, longest keyword first, no overlaps.
    let mut mentions: Vec<(usize, usize, VisitMethod)> = Vec::new();
    let mut keywords: Vec<&(&str, VisitMethod)> = METHOD_KEYWORDS.iter().collect();
    keywords.sort_by_key(|(k, _)| std::cmp::Reverse(k.len()));
    for (kw, method) in keywords {
        for (start, _) in text.match_indices(kw) {
            let end = start + kw.len();
            if occupied[start..end].iter().any(|o| *o) {
                continue;
            }
            occupied[start..end].iter_mut().for_each(|o| *o = true);
            if *kw == "走访" && !walk_visit_is_discussion(&text[end..]) {
                continue;
            }
            mentions.push((start, end, *method));
        }
    }
    // "听了3节课" / "听3节课": the verb split from its object.
    for (start, _) in text.match_indices('听') {
        if occupied[start] {
            continue;
        }
        let verb_end = start + '听'.len_utf8();
        let after = &text[verb_end..];
        let skip = if after.starts_with('了') { '了'.len_utf8() } else { 0 };
        if let Some((_, used)) = leading_number(&after[skip..]) {
            if after[skip + used..].starts_with('节') || after[skip + used..].starts_with('堂') {
                mentions.push((start, verb_end + skip, VisitMethod::LessonObservation));
            }
        }
    }
    mentions.sort_by_key(|m| m.0);
    let mut totals: BTreeMap<VisitMethod, u32> = BTreeMap::new();
    // Text before this position already belongs to an earlier mention and its count, so a
    // count is never read twice ("听课2节查阅资料" is not 2 document reviews).
    let mut consumed = 0usize;
    let mut prev: Option<(usize, VisitMethod)> = None;
    for (start, end, method) in mentions {
        // "问卷调查（发放问卷60份）": a mention of the same method inside a bracket right after
        // it details that use; it is not another one.
        if let Some((prev_end, prev_method)) = prev {
            let between = text.get(prev_end.max(consumed).min(start)..start).unwrap_or("");
            let between_all = text.get(prev_end.min(start)..start).unwrap_or("");
            let in_bracket = between_all.contains(['(', '（']) && !between_all.contains([')', '）']);
            if prev_method == method && in_bracket && !between.contains(['，', ',', '、', ';', '；']) {
                consumed = consumed.max(end + count_after(&text[end..], method).map_or(0, |(_, used)| used));
                continue;
            }
        }
        prev = Some((end, method));
        let count = match count_after(&text[end..], method) {
            Some((n, used)) => {
                consumed = end + used;
                n
            }
            None => {
                let n = count_before(&text[consumed.min(start)..start]).unwrap_or(1);
                consumed = end;
                n
            }
        };
        let t = totals.entry(method).or_insert(0);
        *t = t.saturating_add(count);
    }
    VisitMethod::ALL.into_iter().filter_map(|m| totals.get(&m).map(|n| (m, *n))).filter(|(_, n)| *n > 0).collect()
}

fn walk_visit_is_discussion(after: &str) -> bool {
    let a = after.strip_prefix('了').unwrap_or(after);
    const PEOPLE: &[&str] = &[
        "学生", "家长", "教师", "老师", "师生", "家庭", "群众", "村民", "住户", "商户", "周边", "留守", "贫困", "农户",
        "校长",
    ];
    if PEOPLE.iter().any(|p| a.starts_with(p)) {
        return true;
    }
    match leading_number(a) {
        Some((_, used)) => ["户", "名", "人", "位", "家"].iter().any(|w| a[used..].starts_with(w)),
        None => false,
    }
}

/// "2节", ":3次", "了两节", "（5份）" right after a method keyword: the count and the bytes it
/// took.
fn count_after(after: &str, method: VisitMethod) -> Option<(u32, usize)> {
    let mut a = after;
    // Skip filler between the method and its count: "听课共3节", "查阅资料(5份)", "座谈：3次".
    for _ in 0..4 {
        let t = a.trim_start();
        let t = [
            "了", "共", "计", "约", ":", "(", "（", "课", "资料", "材料", "台账", "档案", "教案", "作业", "记录",
            "文件", "学生", "教师", "老师", "家长", "师生", "班级", "会",
        ]
        .iter()
        .find_map(|p| t.strip_prefix(p))
        .unwrap_or(t);
        if t.len() == a.len() {
            break;
        }
        a = t;
    }
    let (n, used) = leading_number(a)?;
    let rest = &a[used..];
    let word = COUNT_WORDS.iter().find(|w| rest.starts_with(*w))?;
    let used = after.len() - rest.len() + word.len();
    let people = matches!(*word, "人" | "名" | "位");
    if people && matches!(method, VisitMethod::Discussion | VisitMethod::Meeting) {
        return Some((1, used));
    }
    // Copies handed out or people surveyed ("问卷60份", "问卷调查学生45人") are the size of
    // one survey; only "次"/"场" repeat it.
    if method == VisitMethod::Questionnaire && !matches!(*word, "次" | "场") {
        return Some((1, used));
    }
    Some((n, used))
}

/// "2次听课", "3节推门听课": a count right before a method keyword.
fn count_before(before: &str) -> Option<u32> {
    let b = before.trim_end();
    let word = ["次", "节", "场"].iter().find(|w| b.ends_with(*w))?;
    let b = &b[..b.len() - word.len()];
    let start = b.char_indices().rev().take_while(|(_, c)| super::text::is_numeral_char(*c)).last()?.0;
    leading_number(&b[start..]).filter(|(_, used)| start + used == b.len()).map(|(n, _)| n)
}

/// Verbs after which a number is a count of visits ("督导3次", "走访学校共3所").
const VISIT_VERBS: &[&str] = &[
    "督导",
    "下校",
    "走访",
    "到校",
    "入校",
    "进校",
    "视导",
    "随访",
    "督查",
    "深入学校",
    "深入基层",
    "督导学校",
    "走访学校",
    "下校督导",
    "共",
    "共计",
    "合计",
    "累计",
    "总计",
];

/// Finds the number of visits: "本周走访3所学校", "督导2次", "共下校4次", "督导学校(3所)",
/// "累计5校次". The first one found wins.
pub fn find_visit_count(text: &str) -> Option<u32> {
    let mut prev_numeral = false;
    for (i, c) in text.char_indices() {
        let is_num = super::text::is_numeral_char(c);
        if !is_num || prev_numeral {
            prev_numeral = is_num;
            continue;
        }
        prev_numeral = true;
        let Some((n, used)) = leading_number(&text[i..]) else {
            continue;
        };
        let rest = &text[i + used..];
        let raw_before = text[..i].trim_end();
        let before = ["了", "共", "计", "共计", "合计", "累计"]
            .iter()
            .find_map(|p| raw_before.strip_suffix(p))
            .unwrap_or(raw_before);
        let after_verb = VISIT_VERBS.iter().any(|v| before.ends_with(v) || raw_before.ends_with(v));
        if rest.starts_with("校次") || rest.starts_with("所") {
            // "3所" counts schools; after a verb, in a schools section, or followed by a school
            // word it is the week's visits.
            let r = rest.strip_prefix("所").unwrap_or(rest);
            let school_word = ["学校", "小学", "中学", "幼儿园", "校", "中小学"].iter().any(|w| r.starts_with(w));
            if rest.starts_with("校次") || after_verb || school_word || r.trim().is_empty() || r.starts_with(')') {
                return Some(n);
            }
        } else if (rest.starts_with('次') || rest.starts_with('趟')) && after_verb {
            return Some(n);
        }
    }
    None
}

/// What was understood from one or more weekly-report messages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParsedReport {
    /// Text per section as written (labels and markers removed). Unlabelled clauses sorted by
    /// keyword are added to Problems / Followup / NextPlan too.
    pub sections: BTreeMap<Section, String>,
    /// Schools visited, matched for certain: unique ids in order of first mention.
    pub schools: Vec<i64>,
    /// School fragments the inspector must confirm (shared names, partial names). See
    /// [`SchoolFindings::ambiguous`].
    pub ambiguous: Vec<SchoolMatch>,
    /// School-like names that are not among the inspector's schools.
    pub unknown_schools: Vec<String>,
    /// Visit methods with counts, in [`VisitMethod::ALL`] order.
    pub methods: Vec<(VisitMethod, u32)>,
    /// The number of visits the inspector stated ("本周走访3所学校", "督导2次").
    pub visit_count: Option<u32>,
    /// The problems section split into items (one per line or numbered item), "无" removed.
    pub problem_items: Vec<String>,
    /// The inspector said no school was visited this week ("本周未下校", or "无" as the schools).
    pub no_visits: bool,
    /// The inspector said no problems were found ("无", "未发现问题").
    pub no_problems: bool,
}

impl ParsedReport {
    /// Whether the report says anything at all about the schools visited.
    pub fn has_school_answer(&self) -> bool {
        self.no_visits || !self.schools.is_empty() || !self.ambiguous.is_empty() || !self.unknown_schools.is_empty()
    }

    /// Whether the report says anything about problems (including "none").
    pub fn has_problem_answer(&self) -> bool {
        self.no_problems || !self.problem_items.is_empty()
    }
}

/// The schools a report is read against.
#[derive(Debug, Clone, Copy)]
pub struct ReportSchools<'a> {
    /// The inspector's own schools: only these become visited schools.
    pub mine: &'a [SchoolRef],
    /// Every school of the county, so that a name shared across the county is asked about
    /// (the inspector's own candidates first) and another inspector's school, named
    /// unambiguously, is recognised as not theirs. The inspector's own need not be repeated.
    pub county: &'a [SchoolRef],
}

impl<'a> ReportSchools<'a> {
    /// Only the inspector's own schools (no county list at hand).
    pub fn own(mine: &'a [SchoolRef]) -> Self {
        ReportSchools { mine, county: mine }
    }
}

/// The county matcher and the ids of the inspector's own schools.
struct ReportMatcher {
    county: SchoolMatcher,
    mine: Vec<i64>,
}

impl ReportMatcher {
    fn new(schools: ReportSchools<'_>) -> Self {
        let mut all: Vec<SchoolRef> = schools.county.to_vec();
        for s in schools.mine {
            if !all.iter().any(|c| c.id == s.id) {
                all.push(s.clone());
            }
        }
        ReportMatcher { county: SchoolMatcher::new(&all), mine: schools.mine.iter().map(|s| s.id).collect() }
    }

    fn find(&self, text: &str) -> SchoolFindings {
        self.county.find_for(text, &self.mine)
    }
}

/// Parses a weekly report written against `my_schools` (the inspector's own schools) alone.
pub fn parse_weekly(text: &str, my_schools: &[SchoolRef]) -> ParsedReport {
    parse_weekly_in(text, ReportSchools::own(my_schools))
}

/// Parses a weekly report against the inspector's own schools and the county's.
pub fn parse_weekly_in(text: &str, schools: ReportSchools<'_>) -> ParsedReport {
    parse_with(text, &ReportMatcher::new(schools))
}

/// Building the county matcher is the costly part: one per parse of several messages.
fn parse_with(text: &str, matcher: &ReportMatcher) -> ParsedReport {
    let norm = normalize(text);
    let labelled = split_labelled(&norm, SECTION_LABELS);
    let mut parts: Vec<(Section, String)> = Vec::new();
    let mut other = String::new();
    let push_other = |other: &mut String, piece: &str| {
        if !other.is_empty() {
            other.push('\n');
        }
        other.push_str(piece);
    };
    for (section, body) in labelled.parts {
        // "本周督导 红旗中学和松林中学，查阅资料，松林中学晚自习超时": a schools or methods label
        // runs to the end of the sentence, but problem and plan sentences after it are still
        // problems and plans, as they would be without the label.
        if matches!(section, Section::Schools | Section::Methods) {
            let (kept, moved) = split_off_problems_and_plans(&body);
            parts.push((section, kept));
            parts.extend(moved);
        } else {
            parts.push((section, body));
        }
    }
    for (class, piece) in classify_clauses(&labelled.free, FREE_TEXT_RULES) {
        // "本周没有下校" says no visits; it must not become a problem because of "没有".
        let class = if NO_VISIT_PHRASES.iter().any(|p| piece.contains(p)) { None } else { class };
        match class {
            Some(Section::Problems) => {
                // A visit statement after a problem sentence ("…未公示，本周督导阳光小学") has no
                // problem word of its own; it says where the inspector went, not what was wrong.
                let (problem, visits) = split_off_visit_clauses(&piece);
                if !problem.is_empty() {
                    parts.push((Section::Problems, problem));
                }
                if !visits.is_empty() {
                    push_other(&mut other, &visits);
                }
            }
            Some(section) => parts.push((section, piece)),
            None => push_other(&mut other, &piece),
        }
    }
    build_report(parts, &other, matcher)
}

/// Clauses that open by saying where the inspector went this week.
const VISIT_OPENERS: &[&str] = &[
    "本周督导",
    "本周走访",
    "本周到",
    "本周去",
    "本周下校",
    "本周深入",
    "本周对",
    "督导了",
    "走访了",
    "今天到",
    "今日到",
];

fn is_visit_clause(clause: &str) -> bool {
    let c = clause.trim();
    VISIT_OPENERS.iter().any(|o| c.starts_with(o)) && !PROBLEM_KEYWORDS.iter().any(|k| c.contains(k))
}

/// Splits a free-text problem piece into its problem clauses and the visit clauses among them.
fn split_off_visit_clauses(piece: &str) -> (String, String) {
    let mut problem: Vec<&str> = Vec::new();
    let mut visits: Vec<&str> = Vec::new();
    for clause in piece.split(['，', ',']) {
        if is_visit_clause(clause) {
            visits.push(clause.trim());
        } else if !clause.trim().is_empty() {
            problem.push(clause.trim());
        }
    }
    (problem.join("，"), visits.join("，"))
}

/// Splits the body of a schools or methods label into what stays there and the problem or
/// next-week sentences in it. Only problem words and explicit next-week words move a clause;
/// weak plan words ("按计划听课") do not.
fn split_off_problems_and_plans(body: &str) -> (String, Vec<(Section, String)>) {
    let mut kept = String::new();
    let mut moved = Vec::new();
    let (_, next_week) = FREE_TEXT_RULES[0];
    for (class, piece) in classify_clauses(body, FREE_TEXT_RULES) {
        let no_visit = NO_VISIT_PHRASES.iter().any(|p| piece.contains(p));
        let section = match class {
            Some(Section::Problems) if !no_visit && !is_no_problem_statement(&piece) => Some(Section::Problems),
            Some(Section::NextPlan) if next_week.iter().any(|w| piece.contains(w)) => Some(Section::NextPlan),
            _ => None,
        };
        match section {
            Some(section) => moved.push((section, piece)),
            None => {
                if !kept.is_empty() {
                    kept.push('，');
                }
                kept.push_str(&piece);
            }
        }
    }
    if moved.is_empty() {
        // Nothing moved: keep the body exactly as written.
        return (body.to_string(), moved);
    }
    (kept, moved)
}

/// Parses a report sent as several consecutive messages. A message that starts with a list
/// marker ("2.…") is read together with the message before it, continuing its list. Prefer
/// this over [`merge`] whenever the raw messages are at hand.
///
/// A message that does not open with a list marker starts afresh: its text is parsed on its own
/// and merged, so it adds items or sections and never glues onto the last item of the message
/// before it.
pub fn parse_weekly_messages(messages: &[&str], my_schools: &[SchoolRef]) -> ParsedReport {
    parse_weekly_messages_in(messages, ReportSchools::own(my_schools))
}

/// [`parse_weekly_messages`] against the inspector's own schools and the county's.
pub fn parse_weekly_messages_in(messages: &[&str], schools: ReportSchools<'_>) -> ParsedReport {
    let mut groups: Vec<String> = Vec::new();
    for m in messages {
        match groups.last_mut() {
            Some(g) if continues_list(m) => {
                g.push('\n');
                g.push_str(m);
            }
            _ => groups.push((*m).to_string()),
        }
    }
    let matcher = ReportMatcher::new(schools);
    let mut parsed = groups.iter().map(|g| parse_with(g, &matcher));
    let first = parsed.next().unwrap_or_default();
    parsed.fold(first, |acc, p| merge(&acc, &p))
}

/// Above this many bytes, a continuation ("2.…") no longer joins the open group of
/// [`WeeklyParts`]: the group is closed and the continuation starts one of its own.
pub const OPEN_GROUP_CAP: usize = 4 * 1024;

/// One stored part of a weekly report, as [`WeeklyParts`] folds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartKind {
    /// A message of the report itself.
    Text,
    /// The reply to the one follow-up question about a section.
    Answer(Section),
    /// The reply to the question which school a fragment is.
    SchoolChoice,
}

/// An answer part kept by [`WeeklyParts`], applied after every text part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "to", content = "text", rename_all = "snake_case")]
pub enum Answer {
    Section(Section, String),
    SchoolChoice(String),
}

/// [`parse_weekly_messages_in`] over a report's text parts, one part at a time, plus the answers
/// applied after them, so that a new part costs the same whatever came before it.
///
/// It keeps the merged parse of the closed groups, the raw text (and parse) of the open group, and
/// the answers. A part that continues a list re-parses only the open group; any other part closes
/// it. The text parts give exactly [`parse_weekly_messages_in`]'s result, with one deliberate
/// divergence: an open group is never grown past [`OPEN_GROUP_CAP`] bytes (a continuation that
/// would is read as a group of its own), so that an endless list costs no more per part than
/// short ones. Answers are kept apart and applied after all text, in order, as the full re-parse
/// does: a text part that arrives after an answer still comes before it.
///
/// The result depends on the schools the text was read against; [`WeeklyParts::read_against`]
/// says whether the state was built against the same ones (else rebuild it from the parts).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeeklyParts {
    /// Fingerprint of the schools (see [`schools_key`]).
    schools: String,
    /// The merged parse of the closed groups, `None` before the second group.
    closed: Option<ParsedReport>,
    /// The open (last) group's raw text and its parse.
    open: Option<(String, ParsedReport)>,
    answers: Vec<Answer>,
}

impl WeeklyParts {
    /// An empty state for a report read against `schools`.
    pub fn new(schools: ReportSchools<'_>) -> Self {
        WeeklyParts { schools: schools_key(schools), ..WeeklyParts::default() }
    }

    /// The state of a whole version's parts, oldest first (the fallback when none was kept).
    pub fn from_parts<'t>(parts: impl IntoIterator<Item = (PartKind, &'t str)>, schools: ReportSchools<'_>) -> Self {
        let matcher = ReportMatcher::new(schools);
        let mut state = WeeklyParts::new(schools);
        for (kind, text) in parts {
            state.push_with(kind, text, &matcher);
        }
        state
    }

    /// Whether this state was built against these schools.
    pub fn read_against(&self, schools: ReportSchools<'_>) -> bool {
        self.schools == schools_key(schools)
    }

    /// Folds in the next part.
    pub fn push(&mut self, kind: PartKind, text: &str, schools: ReportSchools<'_>) {
        match kind {
            // Building the county matcher is the costly part; only text needs it.
            PartKind::Text => self.push_text(text, &ReportMatcher::new(schools)),
            _ => self.keep_answer(kind, text),
        }
    }

    fn push_with(&mut self, kind: PartKind, text: &str, matcher: &ReportMatcher) {
        match kind {
            PartKind::Text => self.push_text(text, matcher),
            _ => self.keep_answer(kind, text),
        }
    }

    fn keep_answer(&mut self, kind: PartKind, text: &str) {
        match kind {
            PartKind::Text => {}
            PartKind::Answer(section) => self.answers.push(Answer::Section(section, text.to_string())),
            PartKind::SchoolChoice => self.answers.push(Answer::SchoolChoice(text.to_string())),
        }
    }

    fn push_text(&mut self, m: &str, matcher: &ReportMatcher) {
        match self.open.take() {
            Some((mut group, _)) if continues_list(m) && group.len() + 1 + m.len() <= OPEN_GROUP_CAP => {
                group.push('\n');
                group.push_str(m);
                let parsed = parse_with(&group, matcher);
                self.open = Some((group, parsed));
            }
            open => {
                if let Some((_, parsed)) = open {
                    match &mut self.closed {
                        Some(closed) => merge_into(closed, &parsed),
                        None => self.closed = Some(parsed),
                    }
                }
                self.open = Some((m.to_string(), parse_with(m, matcher)));
            }
        }
    }

    /// What the text parts say: [`parse_weekly_messages_in`] of them.
    pub fn text_report(&self) -> ParsedReport {
        match (&self.closed, &self.open) {
            (Some(closed), Some((_, open))) => merge(closed, open),
            (Some(closed), None) => closed.clone(),
            (None, Some((_, open))) => open.clone(),
            (None, None) => ParsedReport::default(),
        }
    }

    /// The answers, in the order they came.
    pub fn answers(&self) -> &[Answer] {
        &self.answers
    }

    /// The report: the text parts' parse with every answer applied in order. `names` gives a
    /// school's display name (for a confirmed school fragment).
    pub fn report(&self, schools: ReportSchools<'_>, names: &dyn Fn(i64) -> String) -> ParsedReport {
        apply_answers(self.text_report(), &self.answers, schools, names)
    }

    /// [`WeeklyParts::report`], consuming the state: the closed groups' parse is not copied.
    pub fn into_report(self, schools: ReportSchools<'_>, names: &dyn Fn(i64) -> String) -> ParsedReport {
        let text = match (self.closed, self.open) {
            (Some(mut closed), Some((_, open))) => {
                merge_into(&mut closed, &open);
                closed
            }
            (Some(closed), None) => closed,
            (None, Some((_, open))) => open,
            (None, None) => ParsedReport::default(),
        };
        apply_answers(text, &self.answers, schools, names)
    }
}

/// Applies the answers, in order, to the parse of the text parts.
fn apply_answers(
    mut parsed: ParsedReport,
    answers: &[Answer],
    schools: ReportSchools<'_>,
    names: &dyn Fn(i64) -> String,
) -> ParsedReport {
    if answers.is_empty() {
        return parsed;
    }
    let mine: Vec<i64> = schools.mine.iter().map(|s| s.id).collect();
    for answer in answers {
        match answer {
            Answer::SchoolChoice(t) => {
                // The question was about the first fragment to confirm; the parse is the same
                // every time, so it still is.
                if let Some(m) = parsed.ambiguous.first().cloned() {
                    if let Some(id) = school_choice(t, &m, schools.county) {
                        parsed = resolve_school(&parsed, &m.fragment, id, &mine, &names(id));
                    }
                }
            }
            Answer::Section(section, t) => merge_into(&mut parsed, &parse_answer_in(*section, t, schools)),
        }
    }
    parsed
}

/// Whether a message opens with a list marker, so continues the list of the message before it.
fn continues_list(m: &str) -> bool {
    let first = normalize(m);
    let first = first.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
    strip_list_marker(first).len() != first.len()
}

/// A fingerprint of the schools a report is read against (FNV-1a, 64 bits, in hex): a state
/// kept across a roster change is rebuilt rather than trusted. Stable across builds.
pub fn schools_key(schools: ReportSchools<'_>) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        // A separator no UTF-8 text contains, so ("ab","c") differs from ("a","bc").
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    };
    for (list, tag) in [(schools.mine, b"mine"), (schools.county, b"cnty")] {
        eat(tag);
        for s in list {
            eat(&s.id.to_le_bytes());
            eat(s.name.as_bytes());
            eat(s.short_name.as_deref().unwrap_or("\u{0}").as_bytes());
            for a in &s.aliases {
                eat(a.as_bytes());
            }
            eat(b"end");
        }
    }
    format!("{h:016x}")
}

/// Parses the reply to a follow-up question about `section`. A reply with its own labels is
/// parsed as a report; a plain reply ("无", "实验小学和青石小学") is taken as that section.
pub fn parse_answer(section: Section, text: &str, my_schools: &[SchoolRef]) -> ParsedReport {
    parse_answer_in(section, text, ReportSchools::own(my_schools))
}

/// [`parse_answer`] against the inspector's own schools and the county's.
pub fn parse_answer_in(section: Section, text: &str, schools: ReportSchools<'_>) -> ParsedReport {
    let norm = normalize(text);
    let labelled = split_labelled(&norm, SECTION_LABELS);
    if !labelled.parts.is_empty() {
        return parse_weekly_in(text, schools);
    }
    build_report(vec![(section, norm.trim().to_string())], "", &ReportMatcher::new(schools))
}

/// Words that accept the one school a confirmation question proposed.
const YES_WORDS: &[&str] = &["是", "是的", "对", "对的", "嗯", "好", "确认", "没错", "正确", "是这所", "是这个"];

/// The school an answer to a confirmation question about `m` picks: a number from the list
/// ("2", "第2个", "２。"), a yes when one school was proposed, or a name that is exactly one
/// school of `county` (the list may not show every candidate). `None` when it is none of these.
pub fn school_choice(answer: &str, m: &SchoolMatch, county: &[SchoolRef]) -> Option<i64> {
    let norm = normalize(answer);
    let t = norm.trim().trim_end_matches(|c: char| c.is_whitespace() || "。.，,！!~、".contains(c)).trim();
    if t.is_empty() {
        return None;
    }
    let bare = t.strip_prefix('第').unwrap_or(t);
    let bare = ["个", "所", "号", "项"].iter().find_map(|w| bare.strip_suffix(w)).unwrap_or(bare);
    if let Some((n, used)) = leading_number(bare) {
        if used == bare.len() {
            return (n as usize).checked_sub(1).and_then(|i| m.candidates.get(i)).copied();
        }
    }
    if m.candidates.len() == 1 && YES_WORDS.contains(&t) {
        return m.candidates.first().copied();
    }
    let named: Vec<i64> =
        SchoolMatcher::new(county).scan(t).into_iter().filter(|s| s.is_certain()).map(|s| s.candidates[0]).fold(
            Vec::new(),
            |mut acc, id| {
                if !acc.contains(&id) {
                    acc.push(id);
                }
                acc
            },
        );
    match named.as_slice() {
        [one] => Some(*one),
        _ => None,
    }
}

/// The report with the fragment `fragment` resolved to `choice`: the fragment leaves the list
/// to confirm, and the school joins the visited schools when it is the inspector's (`mine`),
/// else the schools not theirs (as `name`).
pub fn resolve_school(p: &ParsedReport, fragment: &str, choice: i64, mine: &[i64], name: &str) -> ParsedReport {
    let mut p = p.clone();
    p.ambiguous.retain(|m| m.fragment != fragment);
    if mine.contains(&choice) {
        if !p.schools.contains(&choice) {
            p.schools.push(choice);
        }
        p.no_visits = false;
    } else if !p.unknown_schools.iter().any(|u| u == name) {
        p.unknown_schools.push(name.to_string());
    }
    p
}

/// Whether a schools answer says "no visits this week".
fn is_no_visit(s: &str) -> bool {
    is_none_answer(s) || NO_VISIT_PHRASES.iter().any(|p| s.contains(p))
}

/// Whether a problems answer says "none found" ("无", "未发现问题", "未发现明显问题，…").
pub(crate) fn is_no_problem_statement(s: &str) -> bool {
    let t = s.trim();
    is_none_answer(t)
        || [
            "未发现",
            "没有发现",
            "没发现",
            "暂未发现",
            "无明显问题",
            "未见明显问题",
            "未见异常",
            "无问题",
            "没有问题",
            "暂无问题",
        ]
        .iter()
        .any(|p| t.starts_with(p))
}

fn build_report(parts: Vec<(Section, String)>, other: &str, matcher: &ReportMatcher) -> ParsedReport {
    let mut sections: BTreeMap<Section, String> = BTreeMap::new();
    for (section, body) in parts {
        if body.trim().is_empty() {
            continue;
        }
        let entry = sections.entry(section).or_default();
        if !entry.is_empty() {
            entry.push('\n');
        }
        entry.push_str(&cjk_colons(body.trim()));
    }
    // Sort the problems list first: a plan listed there must not count as a visited school.
    let problems_text = sections.get(&Section::Problems).cloned().unwrap_or_default();
    let (problem_items, moved) = sort_problem_items(&problems_text);
    let no_problems = !problems_text.is_empty() && problem_items.is_empty() && moved.is_empty();
    if !moved.is_empty() {
        // Items that belong to another section leave the problems text too, so the wrap-up
        // and the stored sections agree.
        if problem_items.is_empty() {
            sections.remove(&Section::Problems);
        } else {
            sections.insert(Section::Problems, problem_items.join("\n"));
        }
        for (section, item) in moved {
            let entry = sections.entry(section).or_default();
            if !entry.is_empty() {
                entry.push('\n');
            }
            entry.push_str(&item);
        }
    }

    let get = |s: Section| sections.get(&s).map(String::as_str).unwrap_or("");

    // Schools visited: where visits are described (the schools and methods sections and
    // unlabelled text: "实验小学：听课2节"); only when those name none, the problems and follow-up
    // sections too. Never next week's plan: a school planned for next week was not visited.
    let schools_text = get(Section::Schools);
    let no_visits = (!schools_text.is_empty() && is_no_visit(schools_text))
        || other.split('\n').any(|l| NO_VISIT_PHRASES.iter().any(|p| l.contains(p)));
    let visit_text = [schools_text, get(Section::Methods), other].join("\n");
    let mut findings = matcher.find(&visit_text);
    if findings.is_empty() && !no_visits {
        findings = matcher.find(&[get(Section::Problems), get(Section::Followup)].join("\n"));
    }
    if no_visits && findings.matched.is_empty() {
        // "本周未下校" wins over school names mentioned in passing (e.g. a phone follow-up).
        findings = SchoolFindings::default();
    }

    // Methods: the methods section if it names any, else everything but next week's plan.
    let mut methods = find_methods(get(Section::Methods));
    if methods.is_empty() {
        let all = [other, schools_text, get(Section::Problems), get(Section::Followup)].join("\n");
        methods = find_methods(&all);
    }

    let count_text = [schools_text, get(Section::Methods), other].join("\n");
    let visit_count = find_visit_count(&count_text);

    ParsedReport {
        schools: findings.matched,
        ambiguous: findings.ambiguous,
        unknown_schools: findings.unknown,
        methods,
        visit_count,
        problem_items,
        no_visits,
        no_problems,
        sections,
    }
}

/// Follow-up words that, opening an item, make it a follow-up rather than a new problem
/// ("复查上周食堂问题，已整改").
const FOLLOWUP_OPENERS: &[&str] =
    &["复查", "回访", "回头看", "跟进", "已整改", "整改完成", "整改到位", "完成整改", "已落实", "销号", "已督促"];

/// Splits the problems text into problem items and items that belong to another section:
/// next week's plan ("下周去…", "下周计划：…"), follow-up ("复查…", "整改跟进：…") or bare
/// methods ("查阅资料、推门听课"). Inspectors list these under the problems heading; filing
/// them as problems would put plans into the supervisors' wrap-up. "None" statements are
/// dropped. Returns (problem items, (section, item) moved elsewhere).
fn sort_problem_items(problems_text: &str) -> (Vec<String>, Vec<(Section, String)>) {
    let mut kept = Vec::new();
    let mut moved = Vec::new();
    for item in split_items(problems_text) {
        if is_no_problem_statement(&item) {
            continue;
        }
        match foreign_section(&item) {
            Some((section, body)) => moved.push((section, body)),
            None => kept.push(item),
        }
    }
    (kept, moved)
}

/// The section other than Problems that a listed item belongs to, with the item's text (its
/// label removed), or `None` for a problem.
fn foreign_section(item: &str) -> Option<(Section, String)> {
    let t = item.trim();
    // An explicit label: "下周计划：…", "整改跟进:…", "督导方式：…".
    let label = SECTION_LABELS
        .iter()
        .filter(|(l, s)| *s != Section::Problems && t.starts_with(l))
        .max_by_key(|(l, _)| l.len())
        .and_then(|(l, s)| t[l.len()..].trim_start().strip_prefix([':', '：']).map(|rest| (*s, rest.trim())));
    if let Some((section, rest)) = label {
        return (!rest.is_empty()).then(|| (section, rest.to_string()));
    }
    let (_, plan_words) = FREE_TEXT_RULES[0];
    if plan_words.iter().any(|w| t.contains(w)) {
        return Some((Section::NextPlan, t.to_string()));
    }
    if FOLLOWUP_OPENERS.iter().any(|w| t.starts_with(w)) {
        return Some((Section::Followup, t.to_string()));
    }
    if !find_methods(t).is_empty() && !PROBLEM_KEYWORDS.iter().any(|k| t.contains(k)) && !has_problem_hint(t) {
        return Some((Section::Methods, t.to_string()));
    }
    None
}

/// Words that make a short item a problem even without the keywords above ("听课时学生睡觉").
fn has_problem_hint(t: &str) -> bool {
    ["差", "乱", "少", "缺", "未", "无", "不", "低", "弱", "慢"].iter().any(|w| t.contains(w))
}

/// Combines a report sent over several messages. `later` continues `earlier`:
/// - sections are appended (earlier text, newline, later text); a "无" on one side gives way to
///   real content on the other;
/// - schools, fragments, unknown names and problem items are unioned in order;
/// - method counts add up;
/// - a stated visit count in the later message replaces the earlier one (people restate totals).
///
/// A resent, corrected report should replace the earlier parse instead of being merged.
pub fn merge(earlier: &ParsedReport, later: &ParsedReport) -> ParsedReport {
    let mut merged = earlier.clone();
    merge_into(&mut merged, later);
    merged
}

/// [`merge`] in place, so that folding many parts does not copy the result each time.
fn merge_into(acc: &mut ParsedReport, later: &ParsedReport) {
    for (s, text) in &later.sections {
        match acc.sections.get_mut(s) {
            None => {
                acc.sections.insert(*s, text.clone());
            }
            Some(old) if is_none_answer(old) || (*s == Section::Schools && is_no_visit(old)) => *old = text.clone(),
            Some(_) if is_none_answer(text) => {}
            Some(old) => {
                old.push('\n');
                old.push_str(text);
            }
        }
    }
    let mut findings = SchoolFindings {
        matched: std::mem::take(&mut acc.schools),
        ambiguous: std::mem::take(&mut acc.ambiguous),
        unknown: std::mem::take(&mut acc.unknown_schools),
    };
    findings.extend(&SchoolFindings {
        matched: later.schools.clone(),
        ambiguous: later.ambiguous.clone(),
        unknown: later.unknown_schools.clone(),
    });
    let mut totals: BTreeMap<VisitMethod, u32> = BTreeMap::new();
    for (m, n) in acc.methods.iter().chain(later.methods.iter()) {
        let t = totals.entry(*m).or_insert(0);
        *t = t.saturating_add(*n);
    }
    for p in &later.problem_items {
        if !acc.problem_items.contains(p) {
            acc.problem_items.push(p.clone());
        }
    }
    let any_school = !findings.is_empty();
    acc.schools = findings.matched;
    acc.ambiguous = findings.ambiguous;
    acc.unknown_schools = findings.unknown;
    acc.methods = VisitMethod::ALL.into_iter().filter_map(|m| totals.get(&m).map(|n| (m, *n))).collect();
    acc.visit_count = later.visit_count.or(acc.visit_count);
    acc.no_visits = (acc.no_visits || later.no_visits) && !any_school;
    acc.no_problems = (acc.no_problems || later.no_problems) && acc.problem_items.is_empty();
}

/// The one thing a follow-up question should ask for, or `None` when the report is complete
/// enough: the schools visited (or an explicit "本周未下校"), then the problems found (or "无").
/// A week without visits needs no problems section. Ambiguous school fragments are not
/// "missing": ask about them with [`super::school_match::confirm_question`].
pub fn missing_required(p: &ParsedReport) -> Option<Section> {
    if !p.has_school_answer() {
        return Some(Section::Schools);
    }
    if !p.no_visits && !p.has_problem_answer() {
        return Some(Section::Problems);
    }
    None
}

/// The next question to send about a report, if any: first a school fragment to confirm
/// (a shared or partial name), then the missing required section.
pub fn next_question(p: &ParsedReport, names: &dyn Fn(i64) -> String) -> Option<String> {
    if let Some(m) = p.ambiguous.first() {
        let q = confirm_question(m, names);
        // The list may be capped: the full name is always an answer.
        return Some(if m.candidates.len() > 1 { format!("{q}\n如都不是，请写出学校全称。") } else { q });
    }
    missing_required(p).map(|s| follow_up_question(s).to_string())
}

/// The follow-up question for a missing section, in the inspector's language.
pub fn follow_up_question(section: Section) -> &'static str {
    match section {
        Section::Schools => "请补充：本周督导了哪些学校？（如本周未下校，请回复“本周未下校”）",
        Section::Methods => "请补充：本周采用了哪些督导方式？（如推门听课2节、查阅资料、座谈走访、校园巡视）",
        Section::Problems => "请补充：本周督导发现了哪些问题？（可分条列出；如未发现问题，请回复“无”）",
        Section::Followup => "请补充：此前发现问题的整改跟进情况如何？（如无，请回复“无”）",
        Section::NextPlan => "请补充：下周的督导计划是什么？",
    }
}

/// A short Chinese confirmation of what was understood, for the bot to send back.
/// `names` turns a school id into a display name.
pub fn summary(p: &ParsedReport, names: &dyn Fn(i64) -> String) -> String {
    let mut lines = vec!["已收到本周周报，识别如下：".to_string()];
    if p.no_visits && p.schools.is_empty() {
        lines.push("· 本周未下校".to_string());
    } else if !p.schools.is_empty() {
        let list: Vec<String> = p.schools.iter().map(|id| names(*id)).collect();
        let count = p.visit_count.map(|n| format!("（共{n}次）")).unwrap_or_default();
        lines.push(format!("· 督导学校：{}{count}", list.join("、")));
    } else if let Some(n) = p.visit_count {
        lines.push(format!("· 督导{n}次（未识别出学校名称）"));
    }
    if !p.methods.is_empty() {
        let list: Vec<String> = p.methods.iter().map(|(m, n)| format!("{}×{n}", m.label())).collect();
        lines.push(format!("· 督导方式：{}", list.join("、")));
    }
    if p.no_problems {
        lines.push("· 发现问题：无".to_string());
    } else if !p.problem_items.is_empty() {
        let first = truncate_chars(&p.problem_items[0], 20);
        if p.problem_items.len() == 1 {
            lines.push(format!("· 发现问题：{first}"));
        } else {
            lines.push(format!("· 发现问题{}条：{first}等", p.problem_items.len()));
        }
    }
    for (s, name) in [(Section::Followup, "整改跟进"), (Section::NextPlan, "下周计划")] {
        if let Some(t) = p.sections.get(&s) {
            lines.push(format!("· {name}：{}", truncate_chars(&t.replace('\n', "；"), 24)));
        }
    }
    for m in &p.ambiguous {
        let list: Vec<String> = m.candidates.iter().map(|id| names(*id)).collect();
        lines.push(format!("· 待确认：“{}”是指{}？", m.fragment, list.join("还是")));
    }
    if !p.unknown_schools.is_empty() {
        lines.push(format!("· 不在您负责名单中的学校：{}", p.unknown_schools.join("、")));
    }
    if lines.len() == 1 {
        lines.push("· （未识别出具体内容）".to_string());
    }
    lines.join("\n")
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
            school(5, "示例县城关幼儿园", None, &[]),
        ]
    }

    fn names(id: i64) -> String {
        my_schools().into_iter().find(|s| s.id == id).map(|s| s.name).unwrap_or_default()
    }

    #[test]
    fn full_template_with_colons() {
        let t = "本周督导学校：实验小学、青石中心小学\n督导方式：推门听课3节，查阅资料，座谈走访\n发现问题：\n1. 食堂留样记录不全\n2. 消防通道有杂物堆放\n整改跟进：上周白沙镇中心小学作业公示问题已整改到位\n下周计划：回访青石中心小学";
        let p = parse_weekly(t, &my_schools());
        assert_eq!(p.schools, vec![1, 2]);
        assert_eq!(
            p.methods,
            vec![(VisitMethod::LessonObservation, 3), (VisitMethod::DocumentReview, 1), (VisitMethod::Discussion, 1)]
        );
        assert_eq!(p.problem_items, vec!["食堂留样记录不全", "消防通道有杂物堆放"]);
        assert!(p.sections[&Section::Followup].contains("整改到位"));
        assert_eq!(p.sections[&Section::NextPlan], "回访青石中心小学");
        assert_eq!(missing_required(&p), None);
        assert!(p.unknown_schools.is_empty() && p.ambiguous.is_empty(), "{p:?}");
    }

    #[test]
    fn chinese_numbered_headings_without_colons() {
        let t = "一、本周督导学校\n示例县白沙镇中心小学\n二、督导方式\n听课两节、校园巡视\n三、发现问题\n（一）课后服务未做到5+2\n（二）部分班级作业量偏大\n四、整改跟进\n无\n五、下周计划\n走访县一中";
        let p = parse_weekly(t, &my_schools());
        assert_eq!(p.schools, vec![3]);
        assert_eq!(p.methods, vec![(VisitMethod::LessonObservation, 2), (VisitMethod::CampusWalk, 1)]);
        assert_eq!(p.problem_items, vec!["课后服务未做到5+2", "部分班级作业量偏大"]);
        // The school in next week's plan is not a visit.
        assert!(!p.schools.contains(&4));
        assert_eq!(p.sections[&Section::Followup], "无");
    }

    #[test]
    fn bracket_labels_full_width_and_emoji() {
        let t = "【本周督导学校】🏫实验小学\r\n【督导方式】推门听课２节👍\r\n【发现问题】①晨检记录不全②楼梯间无人值守\r\n【下周计划】白沙镇中心小学";
        let p = parse_weekly(t, &my_schools());
        assert_eq!(p.schools, vec![1]);
        assert_eq!(p.methods, vec![(VisitMethod::LessonObservation, 2)]);
        assert_eq!(p.problem_items, vec!["晨检记录不全", "楼梯间无人值守"]);
        assert_eq!(missing_required(&p), None);
    }

    #[test]
    fn numbered_labels_with_half_width_colons() {
        let t = "1. 督导学校: 县实小\n2. 督导方式: 查阅台账、问卷调查50份\n3. 发现问题: 无\n4. 下周计划: 继续走访";
        let p = parse_weekly(t, &my_schools());
        assert_eq!(p.schools, vec![1]);
        assert_eq!(p.methods, vec![(VisitMethod::DocumentReview, 1), (VisitMethod::Questionnaire, 1)]);
        assert!(p.no_problems);
        assert!(p.problem_items.is_empty());
        assert_eq!(missing_required(&p), None);
    }

    #[test]
    fn whole_report_on_one_line() {
        let t = "本周督导学校：青石中心小学；督导方式：听课2节 查阅资料；发现问题：食堂留样不规范；整改跟进：无；下周计划：回访";
        let p = parse_weekly(t, &my_schools());
        assert_eq!(p.schools, vec![2]);
        assert_eq!(p.methods, vec![(VisitMethod::LessonObservation, 2), (VisitMethod::DocumentReview, 1)]);
        assert_eq!(p.problem_items, vec!["食堂留样不规范"]);
        assert_eq!(p.sections[&Section::NextPlan], "回访");
    }

    #[test]
    fn free_text_without_labels() {
        let t = "本周走访了实验小学和白沙镇中心小学，推门听课3节，查阅资料。发现实验小学食堂留样记录不全，晨检记录未及时填写。上周青石中心小学的问题已整改到位。下周计划到县一中开展防溺水专项督导。";
        let p = parse_weekly(t, &my_schools());
        // Visited: the schools in the narrative; not the one whose old problem was closed, nor
        // the one planned for next week.
        assert_eq!(p.schools, vec![1, 3]);
        assert_eq!(p.methods, vec![(VisitMethod::LessonObservation, 3), (VisitMethod::DocumentReview, 1)]);
        assert_eq!(p.problem_items, vec!["发现实验小学食堂留样记录不全，晨检记录未及时填写"]);
        assert!(p.sections[&Section::Followup].contains("已整改到位"));
        assert!(p.sections[&Section::NextPlan].contains("县一中"));
        assert_eq!(missing_required(&p), None);
    }

    #[test]
    fn visit_counts() {
        assert_eq!(find_visit_count("本周走访3所学校"), Some(3));
        assert_eq!(find_visit_count("督导2次"), Some(2));
        assert_eq!(find_visit_count("本周共下校三次"), Some(3));
        assert_eq!(find_visit_count("累计5校次"), Some(5));
        assert_eq!(find_visit_count("听课3次"), None);
        assert_eq!(find_visit_count("11月20日"), None);
        let p = parse_weekly("本周走访3所学校，推门听课4节，未发现问题", &my_schools());
        assert_eq!(p.visit_count, Some(3));
        assert!(p.no_problems);
        // A count without names: still ask which schools.
        assert_eq!(missing_required(&p), Some(Section::Schools));
    }

    #[test]
    fn method_counts() {
        assert_eq!(find_methods("推门听课2节"), vec![(VisitMethod::LessonObservation, 2)]);
        assert_eq!(find_methods("听了两节课"), vec![(VisitMethod::LessonObservation, 2)]);
        assert_eq!(find_methods("2次听课"), vec![(VisitMethod::LessonObservation, 2)]);
        assert_eq!(find_methods("座谈3人"), vec![(VisitMethod::Discussion, 1)]);
        assert_eq!(find_methods("座谈走访"), vec![(VisitMethod::Discussion, 1)]);
        assert_eq!(find_methods("走访家长5户"), vec![(VisitMethod::Discussion, 5)]);
        assert!(find_methods("本周走访3所学校").is_empty());
        assert_eq!(
            find_methods("列席会议1次，巡视校园"),
            vec![(VisitMethod::Meeting, 1), (VisitMethod::CampusWalk, 1)]
        );
    }

    #[test]
    fn no_visits_this_week() {
        let p = parse_weekly("本周未下校，参加县里培训。", &my_schools());
        assert!(p.no_visits);
        assert_eq!(missing_required(&p), None);
        let p = parse_weekly("各位领导好！本周因参加市里培训没有下校，特此说明🙏", &my_schools());
        assert!(p.no_visits);
        assert!(p.problem_items.is_empty(), "{p:?}");
        assert_eq!(missing_required(&p), None);
        let p = parse_weekly("本周督导学校：无\n下周计划：走访实验小学", &my_schools());
        assert!(p.no_visits);
        assert!(p.schools.is_empty());
        assert_eq!(missing_required(&p), None);
        let p = parse_answer(Section::Schools, "无", &my_schools());
        assert!(p.no_visits);
    }

    #[test]
    fn missing_sections_and_answers() {
        let p = parse_weekly("督导方式：听课", &my_schools());
        assert_eq!(missing_required(&p), Some(Section::Schools));
        assert!(follow_up_question(Section::Schools).contains("本周未下校"));
        let a = parse_answer(Section::Schools, "实验小学", &my_schools());
        let p = merge(&p, &a);
        assert_eq!(p.schools, vec![1]);
        assert_eq!(missing_required(&p), Some(Section::Problems));
        let a = parse_answer(Section::Problems, "1.食堂卫生差\n2.宿舍无人管理", &my_schools());
        let p = merge(&p, &a);
        assert_eq!(p.problem_items.len(), 2);
        assert_eq!(missing_required(&p), None);
        let a = parse_answer(Section::Problems, "无", &my_schools());
        assert!(a.no_problems);
    }

    #[test]
    fn report_split_over_three_messages() {
        let msgs = [
            "本周督导学校：实验小学\n督导方式：推门听课2节",
            "白沙镇中心小学也去了，听课1节\n发现问题：\n1.白沙镇中心小学作业公示不到位",
            "2.实验小学课间楼梯无人值守\n下周计划：回访白沙",
        ];
        let m: Vec<ParsedReport> = msgs.iter().map(|t| parse_weekly(t, &my_schools())).collect();
        let p = merge(&merge(&m[0], &m[1]), &m[2]);
        assert_eq!(p.schools, vec![1, 3]);
        assert_eq!(p.methods, vec![(VisitMethod::LessonObservation, 3)]);
        assert_eq!(p.problem_items.len(), 2, "{p:?}");
        assert!(p.sections[&Section::NextPlan].contains("回访"));
        assert_eq!(missing_required(&p), None);
        // Read as one text, the second message's first line stays with the schools section
        // and "2." continues the problem list.
        let joined = parse_weekly_messages(&msgs, &my_schools());
        assert_eq!(joined.schools, vec![1, 3]);
        assert_eq!(joined.methods, vec![(VisitMethod::LessonObservation, 3)]);
        assert_eq!(joined.problem_items, vec!["白沙镇中心小学作业公示不到位", "实验小学课间楼梯无人值守"]);
    }

    #[test]
    fn plans_followup_and_methods_listed_under_problems_leave_the_problems() {
        let p = parse_weekly(
            "发现问题：\n1．宿舍夜间巡查记录缺页\n2．下周去实验小学看作业公示\n3．复查上周的食堂问题，已整改\n4．查阅资料、推门听课",
            &my_schools(),
        );
        assert_eq!(p.problem_items, vec!["宿舍夜间巡查记录缺页"]);
        assert_eq!(p.sections[&Section::Problems], "宿舍夜间巡查记录缺页");
        assert!(p.sections[&Section::NextPlan].contains("作业公示"), "{p:?}");
        assert!(p.sections[&Section::Followup].contains("食堂"), "{p:?}");
        assert!(p.sections[&Section::Methods].contains("推门听课"), "{p:?}");
        let p = parse_weekly("存在问题：一、厕所无人保洁；二、下周计划：回访实验小学", &my_schools());
        assert_eq!(p.problem_items, vec!["厕所无人保洁"]);
        assert!(p.sections[&Section::NextPlan].contains("回访实验小学"), "{p:?}");
        // Only a plan under the problems heading: no problems, and not "no problems" either.
        let p = parse_weekly("发现问题：下周到实验小学推门听课", &my_schools());
        assert!(p.problem_items.is_empty() && !p.no_problems, "{p:?}");
        assert_eq!(missing_required(&p), Some(Section::Schools));
        // A problem seen while listening to a lesson stays a problem.
        let p = parse_weekly("发现问题：听课时部分学生不带课本", &my_schools());
        assert_eq!(p.problem_items.len(), 1, "{p:?}");
    }

    #[test]
    fn problem_sentences_after_a_schools_label_are_problems() {
        let p =
            parse_weekly("本周督导 实验小学和青石中心小学，查阅资料、推门听课，实验小学午休无人值守", &my_schools());
        assert_eq!(p.schools, vec![1, 2]);
        assert_eq!(p.problem_items, vec!["实验小学午休无人值守"]);
        assert!(!p.sections[&Section::Schools].contains("午休"), "{p:?}");
        assert_eq!(missing_required(&p), None);
        let p = parse_weekly("督导学校：实验小学，下周去青石中心小学", &my_schools());
        assert_eq!(p.schools, vec![1]);
        assert!(p.sections[&Section::NextPlan].contains("青石"), "{p:?}");
        // Weak plan words and "no problems" stay where they were written.
        let p = parse_weekly("督导方式：按计划推门听课，未发现问题", &my_schools());
        assert_eq!(p.sections[&Section::Methods], "按计划推门听课，未发现问题");
        assert!(p.problem_items.is_empty());
    }

    #[test]
    fn a_visit_clause_after_a_problem_is_not_part_of_it() {
        let p = parse_weekly("实验小学食堂留样不足，本周督导实验小学", &my_schools());
        assert_eq!(p.problem_items, vec!["实验小学食堂留样不足"]);
        assert_eq!(p.schools, vec![1]);
    }

    #[test]
    fn a_later_message_adds_items_instead_of_gluing() {
        let msgs = ["发现问题：\n1.操场跑道开裂\n2.校门口护栏缺失", "实验小学图书室书架破损", "发现问题：宿舍床铺老化"];
        let p = parse_weekly_messages(&msgs, &my_schools());
        assert_eq!(p.problem_items, vec!["操场跑道开裂", "校门口护栏缺失", "实验小学图书室书架破损", "宿舍床铺老化"]);
        // A message opening with the next number continues the list.
        let p =
            parse_weekly_messages(&["发现问题：\n1.操场跑道开裂", "2.校门口护栏缺失\n这是上周就发现的"], &my_schools());
        assert_eq!(p.problem_items, vec!["操场跑道开裂", "校门口护栏缺失这是上周就发现的"]);
    }

    #[test]
    fn questionnaire_quantities_are_not_uses() {
        let m = find_methods("问卷调查(发放问卷60份)");
        assert_eq!(m, vec![(VisitMethod::Questionnaire, 1)]);
        assert_eq!(find_methods("问卷调查学生45人"), vec![(VisitMethod::Questionnaire, 1)]);
        assert_eq!(find_methods("问卷调查2次"), vec![(VisitMethod::Questionnaire, 2)]);
        // Two separate mentions are two uses.
        assert_eq!(find_methods("问卷调查，家长问卷"), vec![(VisitMethod::Questionnaire, 2)]);
        assert_eq!(find_methods("推门听课3节(听课记录齐全)"), vec![(VisitMethod::LessonObservation, 3)]);
    }

    #[test]
    fn ambiguous_school_between_two_of_mine() {
        let p = parse_weekly("本周督导学校：中心小学\n发现问题：无", &my_schools());
        assert!(p.schools.is_empty());
        assert_eq!(p.ambiguous.len(), 1);
        assert_eq!(p.ambiguous[0].candidates, vec![2, 3]);
        // Ambiguity answers the schools question; the bot asks to pick, not to re-state.
        assert_eq!(missing_required(&p), None);
        let s = summary(&p, &names);
        assert!(s.contains("“中心小学”是指示例县青石镇中心小学还是示例县白沙镇中心小学？"), "{s}");
    }

    #[test]
    fn a_name_shared_across_the_county_is_asked_about_and_the_answer_resolves_it() {
        let mine = my_schools();
        let mut county = mine.clone();
        county.push(school(6, "示例县东河镇中心小学", None, &[]));
        county.push(school(7, "示例县桃源镇阳光小学", Some("阳光小学"), &[]));
        let only_mine = vec![mine[0].clone()];
        let schools = ReportSchools { mine: &only_mine, county: &county };
        let p = parse_weekly_in("本周督导学校：中心小学、县实小\n发现问题：无", schools);
        assert_eq!(p.schools, vec![1]);
        assert!(p.unknown_schools.is_empty(), "{p:?}");
        assert_eq!(p.ambiguous.len(), 1, "{p:?}");
        assert_eq!(p.ambiguous[0].candidates, vec![2, 3, 6]);
        let q = next_question(&p, &names).unwrap();
        assert!(q.contains("请回复序号") && q.contains("写出学校全称"), "{q}");
        let m = p.ambiguous[0].clone();
        // By number (full-width, with 第…个), by full name; nonsense picks nothing.
        assert_eq!(school_choice("２", &m, &county), Some(3));
        assert_eq!(school_choice("第3个。", &m, &county), Some(6));
        assert_eq!(school_choice("9", &m, &county), None);
        assert_eq!(school_choice("示例县青石镇中心小学", &m, &county), Some(2));
        assert_eq!(school_choice("谢谢", &m, &county), None);
        let single = SchoolMatch { fragment: "青石小学".into(), candidates: vec![2], exact: false };
        assert_eq!(school_choice("是的", &single, &county), Some(2));
        // Another's school stays "not theirs"; the inspector's own joins the visited schools.
        let r = resolve_school(&p, &m.fragment, 6, &[1], "东河中心小学");
        assert!(r.ambiguous.is_empty() && r.unknown_schools == vec!["东河中心小学"] && r.schools == vec![1], "{r:?}");
        let r = resolve_school(&p, &m.fragment, 1, &[1], "县实小");
        assert_eq!(r.schools, vec![1]);
        // A school of the county that is someone else's, named unambiguously.
        let p = parse_weekly_in("本周督导学校：阳光小学\n发现问题：无", schools);
        assert_eq!(p.unknown_schools, vec!["阳光小学"]);
        assert!(p.ambiguous.is_empty() && p.schools.is_empty());
    }

    #[test]
    fn school_not_in_my_list() {
        let p = parse_weekly("本周督导学校：城东小学、实验小学\n发现问题：无", &my_schools());
        assert_eq!(p.schools, vec![1]);
        assert_eq!(p.unknown_schools, vec!["城东小学"]);
        let s = summary(&p, &names);
        assert!(s.contains("不在您负责名单中的学校：城东小学"), "{s}");
    }

    #[test]
    fn summary_text() {
        let t = "本周督导学校：实验小学、青石中心小学（共3次）\n督导方式：推门听课3节\n发现问题：1.食堂留样记录不全 2.消防通道堵塞\n下周计划：回访";
        let p = parse_weekly(t, &my_schools());
        assert_eq!(p.visit_count, Some(3));
        let s = summary(&p, &names);
        assert!(s.contains("督导学校：示例县实验小学、示例县青石镇中心小学（共3次）"), "{s}");
        assert!(s.contains("推门听课×3"), "{s}");
        assert!(s.contains("发现问题2条：食堂留样记录不全等"), "{s}");
        assert!(s.contains("下周计划：回访"), "{s}");
    }

    #[test]
    fn empty_and_junk_do_not_panic() {
        let p = parse_weekly("", &my_schools());
        assert_eq!(missing_required(&p), Some(Section::Schools));
        assert!(summary(&p, &names).contains("未识别"));
        let junk: String = (0u32..5000).filter_map(|i| char::from_u32((i * 7919) % 0x11000)).collect();
        let _ = parse_weekly(&junk, &my_schools());
        let bytes: Vec<u8> = (0..20000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
        let _ = parse_weekly(&String::from_utf8_lossy(&bytes), &my_schools());
        let _ = parse_weekly("：：：【【】】（（（1.、、①①", &my_schools());
        let _ = parse_weekly("【", &my_schools());
        let _ = parse_weekly("本周督导学校(", &my_schools());
    }

    #[test]
    fn huge_input() {
        let chunk = "本周督导学校：实验小学👍，推门听课2节，发现食堂留样记录不全；下周计划：回访青石中心小学。\n";
        let big = chunk.repeat(100 * 1024 / chunk.len() + 1);
        assert!(big.len() > 100 * 1024);
        let start = std::time::Instant::now();
        let p = parse_weekly(&big, &my_schools());
        assert_eq!(p.schools, vec![1]);
        assert!(start.elapsed().as_secs() < 10);
        let one_line = "实验小学听课".repeat(10_000);
        let p = parse_weekly(&one_line, &my_schools());
        assert_eq!(p.schools, vec![1]);
    }

    #[test]
    fn enums_round_trip() {
        for s in Section::ALL {
            assert_eq!(Section::parse(s.as_str()), Some(s));
        }
        for m in VisitMethod::ALL {
            assert_eq!(VisitMethod::parse(m.as_str()), Some(m));
        }
    }

    fn folded(parts: &[&str]) -> WeeklyParts {
        let mine = my_schools();
        let within = ReportSchools::own(&mine);
        let mut state = WeeklyParts::new(within);
        for p in parts {
            state.push(PartKind::Text, p, within);
        }
        state
    }

    #[test]
    fn incremental_fold_equals_full_reparse() {
        let parts = [
            "本周督导学校：实验小学",
            "督导方式：推门听课2节",
            "发现问题：",
            "1. 食堂留样记录不全",
            "2. 消防通道有杂物堆放",
            "整改跟进：上周问题已整改",
            "3. 楼梯间无人值守",
            "下周计划：回访白沙镇中心小学",
            "本周还去了县一中，查阅资料",
        ];
        for n in 0..=parts.len() {
            let state = folded(&parts[..n]);
            assert_eq!(state.text_report(), parse_weekly_messages(&parts[..n], &my_schools()), "after {n} parts");
        }
    }

    #[test]
    fn fold_from_parts_equals_part_by_part_and_survives_json() {
        let mine = my_schools();
        let within = ReportSchools::own(&mine);
        let parts = [
            (PartKind::Text, "本周督导：实验小学"),
            (PartKind::Text, "1. 晨检记录不全"),
            (PartKind::Text, "2. 作业量偏大"),
        ];
        let whole = WeeklyParts::from_parts(parts, within);
        let one_by_one = folded(&["本周督导：实验小学", "1. 晨检记录不全", "2. 作业量偏大"]);
        assert_eq!(whole, one_by_one);
        let json = serde_json::to_string(&whole).unwrap();
        let back: WeeklyParts = serde_json::from_str(&json).unwrap();
        assert_eq!(back, whole);
        assert!(back.read_against(within));
        let other = [school(9, "示例县新区小学", None, &[])];
        assert!(!back.read_against(ReportSchools::own(&other)));
    }

    #[test]
    fn answers_apply_after_all_text_in_order() {
        let mine = my_schools();
        let within = ReportSchools::own(&mine);
        // The answer arrives before the last text part; it is still applied after it.
        let parts = [
            (PartKind::Text, "本周督导学校：实验小学"),
            (PartKind::Answer(Section::Problems), "无"),
            (PartKind::Text, "发现问题：厕所卫生差"),
        ];
        let state = WeeklyParts::from_parts(parts, within);
        let texts = parse_weekly_messages(&["本周督导学校：实验小学", "发现问题：厕所卫生差"], &mine);
        let expected = merge(&texts, &parse_answer(Section::Problems, "无", &mine));
        assert_eq!(state.report(within, &names), expected);
        assert_eq!(state.answers(), &[Answer::Section(Section::Problems, "无".to_string())]);
    }

    #[test]
    fn school_choice_answer_resolves_the_first_fragment() {
        let mine = vec![school(1, "示例县白沙镇中心小学", None, &[]), school(2, "示例县白沙镇第二小学", None, &[])];
        let within = ReportSchools::own(&mine);
        let mut state = WeeklyParts::new(within);
        state.push(PartKind::Text, "本周督导学校：白沙小学", within);
        let before = state.text_report();
        let Some(m) = before.ambiguous.first().cloned() else {
            // Nothing to confirm with these names: the answer must change nothing.
            state.push(PartKind::SchoolChoice, "1", within);
            assert_eq!(state.report(within, &names), before);
            return;
        };
        state.push(PartKind::SchoolChoice, "1", within);
        let expected = match school_choice("1", &m, &mine) {
            Some(id) => resolve_school(&before, &m.fragment, id, &[1, 2], &names(id)),
            None => before.clone(),
        };
        assert_eq!(state.report(within, &names), expected);
    }

    #[test]
    fn an_endless_list_is_cut_into_groups_at_the_cap() {
        let item = "1. 食堂留样记录不全，消防通道有杂物堆放，楼梯间无人值守";
        let mut state = folded(&["发现问题："]);
        let mine = my_schools();
        for _ in 0..200 {
            state.push(PartKind::Text, item, ReportSchools::own(&mine));
        }
        let (open, _) = state.open.as_ref().unwrap();
        assert!(open.len() <= OPEN_GROUP_CAP, "{}", open.len());
        assert!(state.closed.is_some());
        // Under the cap the fold is exact; past it only the grouping differs.
        let short = vec!["发现问题：", item, item];
        assert_eq!(folded(&short).text_report(), parse_weekly_messages(&short, &mine));
    }

    #[test]
    fn a_long_first_message_stays_whole() {
        let long = "发现问题：".to_string() + &"食堂留样记录不全。".repeat(300);
        assert!(long.len() > OPEN_GROUP_CAP);
        let state = folded(&[&long]);
        assert_eq!(state.text_report(), parse_weekly_messages(&[&long], &my_schools()));
    }

    #[test]
    fn merge_in_place_equals_merge() {
        let mine = my_schools();
        let a = parse_weekly("本周督导学校：无\n发现问题：1. 作业量大", &mine);
        let b = parse_weekly("本周督导学校：实验小学\n督导方式：听课2节\n发现问题：1. 作业量大 2. 晨检不全", &mine);
        let mut acc = a.clone();
        merge_into(&mut acc, &b);
        assert_eq!(acc, merge(&a, &b));
    }
}
