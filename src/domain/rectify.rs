//! Problem list and rectification ledger (清单工作法, 整改台账, 对账销号): the problem item, its
//! state machine, who may move it, the escalation ladder and the month-end reconciliation.
//! Pure: the store and the chat layer apply what this module decides.

use crate::domain::calendar::Calendar;
use chrono::{Datelike, NaiveDate};
use std::collections::BTreeMap;

/// The eight items of routine inspection plus 其他 (9).
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

/// Short words people type for a category; checked after a plain number.
const CATEGORY_WORDS: [(&str, u8); 18] = [
    ("校务", 1),
    ("管理", 1),
    ("招生", 2),
    ("收费", 2),
    ("课程", 3),
    ("教学", 3),
    ("负担", 4),
    ("作业", 4),
    ("体育", 4),
    ("师德", 5),
    ("教师", 5),
    ("安全", 6),
    ("食堂", 7),
    ("食品", 7),
    ("卫生", 7),
    ("校风", 8),
    ("学风", 8),
    ("其他", 9),
];

pub fn category_label(c: u8) -> &'static str {
    CATEGORIES.get(usize::from(c.saturating_sub(1))).copied().unwrap_or("其他")
}

/// `6`, `6类`, `安全` → 6. Only whole tokens, so a description word is not taken for a category.
pub fn parse_category(token: &str) -> Option<u8> {
    let t = token.trim().trim_end_matches(['类', '项']);
    if let Ok(n) = t.parse::<u8>() {
        return (1..=9).contains(&n).then_some(n);
    }
    CATEGORY_WORDS
        .iter()
        .find(|(w, _)| *w == t)
        .map(|(_, c)| *c)
        .or_else(|| CATEGORIES.iter().position(|l| *l == t).and_then(|i| u8::try_from(i + 1).ok()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// Fixed on site during the visit: recorded and closed at once.
    Minor,
    General,
    Serious,
    /// Needs a bureau department; the owner is that department.
    Complex,
}

impl Severity {
    pub const ALL: [Severity; 4] = [Severity::Minor, Severity::General, Severity::Serious, Severity::Complex];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Minor => "minor",
            Severity::General => "general",
            Severity::Serious => "serious",
            Severity::Complex => "complex",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            // No brackets inside: replies put the label in brackets ("（轻微，当场整改）").
            Severity::Minor => "轻微，当场整改",
            Severity::General => "一般",
            Severity::Serious => "严重",
            Severity::Complex => "复杂，需部门协调",
        }
    }

    pub fn from_db(s: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|v| v.as_str() == s)
    }

    pub fn parse(token: &str) -> Option<Severity> {
        match token.trim() {
            "轻微" | "轻" | "当场整改" | "minor" => Some(Severity::Minor),
            "一般" | "general" => Some(Severity::General),
            "严重" | "重大" | "serious" => Some(Severity::Serious),
            "复杂" | "complex" => Some(Severity::Complex),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    Visit,
    SelfCheck,
    Complaint,
    Direct,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Visit => "visit",
            Source::SelfCheck => "self_check",
            Source::Complaint => "complaint",
            Source::Direct => "direct",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Source::Visit => "督导发现",
            Source::SelfCheck => "学校自查",
            Source::Complaint => "投诉核查",
            Source::Direct => "直接登记",
        }
    }

    pub fn from_db(s: &str) -> Option<Source> {
        [Source::Visit, Source::SelfCheck, Source::Complaint, Source::Direct].into_iter().find(|v| v.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Identified,
    Notified,
    Acknowledged,
    InProgress,
    Submitted,
    Verifying,
    Closed,
    Cancelled,
}

impl Status {
    pub const ALL: [Status; 8] = [
        Status::Identified,
        Status::Notified,
        Status::Acknowledged,
        Status::InProgress,
        Status::Submitted,
        Status::Verifying,
        Status::Closed,
        Status::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Identified => "identified",
            Status::Notified => "notified",
            Status::Acknowledged => "acknowledged",
            Status::InProgress => "in_progress",
            Status::Submitted => "submitted",
            Status::Verifying => "verifying",
            Status::Closed => "closed",
            Status::Cancelled => "cancelled",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            // Recorded, but nobody at the school has been sent the notice yet.
            Status::Identified => "未通知",
            Status::Notified => "已通知",
            Status::Acknowledged => "已确认",
            Status::InProgress => "整改中",
            Status::Submitted => "已提交待核查",
            Status::Verifying => "核查中",
            Status::Closed => "已销号",
            Status::Cancelled => "已撤销",
        }
    }

    pub fn from_db(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|v| v.as_str() == s)
    }

    pub fn is_open(self) -> bool {
        !matches!(self, Status::Closed | Status::Cancelled)
    }

    /// The school still owes the work: overdue counts only in these states. An item never
    /// notified is not the school's fault, so it is neither reminded nor escalated.
    pub fn awaits_school(self) -> bool {
        matches!(self, Status::Notified | Status::Acknowledged | Status::InProgress)
    }
}

/// Who is acting on an item, relative to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    /// The school's contact or principal.
    School,
    /// The school's own inspector (not recused).
    Inspector,
    Supervisor,
    /// The service itself (sending the notice).
    System,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Notify,
    Acknowledge,
    Progress,
    Submit,
    StartVerify,
    Close,
    Return,
    Extend,
    Reopen,
    Cancel,
    /// A minor problem fixed on site during the visit.
    CloseOnSite,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Notify => "notified",
            Action::Acknowledge => "acknowledged",
            Action::Progress => "progress",
            Action::Submit => "submitted",
            Action::StartVerify => "verifying",
            Action::Close => "closed",
            Action::Return => "returned",
            Action::Extend => "extended",
            Action::Reopen => "reopened",
            Action::Cancel => "cancelled",
            Action::CloseOnSite => "closed_on_site",
        }
    }
}

/// Why a transition is refused; `message` is the reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// This party may never do this (a school closing its own item).
    NotAllowed,
    /// Not in this state.
    WrongState,
}

/// The next status, or why not. Extensions and progress notes keep the status.
pub fn transition(status: Status, action: Action, party: Party) -> Result<Status, Refused> {
    use Action as A;
    use Party as P;
    use Status as S;
    let staff = matches!(party, P::Inspector | P::Supervisor);
    let allowed = match action {
        A::Notify => party == P::System || staff,
        A::Acknowledge | A::Progress | A::Submit => party == P::School,
        A::StartVerify | A::Close | A::Return | A::Extend | A::Reopen | A::CloseOnSite => staff,
        A::Cancel => party == P::Supervisor,
    };
    if !allowed {
        return Err(Refused::NotAllowed);
    }
    let next = match (action, status) {
        (A::Notify, S::Identified) => S::Notified,
        (A::CloseOnSite, S::Identified) => S::Closed,
        (A::Acknowledge, S::Notified) => S::Acknowledged,
        (A::Progress, S::Notified | S::Acknowledged | S::InProgress) => S::InProgress,
        (A::Submit, S::Notified | S::Acknowledged | S::InProgress) => S::Submitted,
        (A::StartVerify, S::Submitted) => S::Verifying,
        (A::Close, S::Verifying) => S::Closed,
        (A::Return, S::Verifying) => S::InProgress,
        (A::Extend, s) if s.is_open() => s,
        (A::Reopen, S::Closed) => S::InProgress,
        (A::Cancel, s) if s.is_open() => S::Cancelled,
        _ => return Err(Refused::WrongState),
    };
    Ok(next)
}

/// Visible id: `W12` (问题). `T` belongs to tasks.
pub fn item_code(id: i64) -> String {
    format!("W{id}")
}

/// `W12`, `w12`, `Ｗ１２` at the start of `args` → (12, rest).
pub fn parse_ref(args: &str) -> Option<(i64, String)> {
    parse_prefixed(args, ['W', 'w'])
}

/// Visible id of a self-check list: `Z3` (自查).
pub fn self_check_code(id: i64) -> String {
    format!("Z{id}")
}

/// How a self-check list's status (`rectify_self_checks.status`) reads.
pub fn self_check_status_label(status: &str) -> &'static str {
    match status {
        "submitted" => "待督学审核",
        "reviewed" => "待督导室确认",
        "returned" => "已退回",
        _ => "已确认",
    }
}

pub fn parse_self_check_ref(args: &str) -> Option<(i64, String)> {
    parse_prefixed(args, ['Z', 'z'])
}

fn parse_prefixed(args: &str, prefix: [char; 2]) -> Option<(i64, String)> {
    let norm = super::text::normalize(args);
    let t = norm.trim();
    let rest = t.strip_prefix(prefix)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    if digits.is_empty() || digits.len() > 12 {
        return None;
    }
    let tail = &rest[digits.len()..];
    if tail.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return None;
    }
    let id = digits.parse().ok()?;
    Some((id, tail.trim_start_matches([':', '：', ',', '，']).trim().to_string()))
}

/// What `记问题` carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProblem {
    pub school: String,
    pub category: u8,
    pub severity: Severity,
    pub description: String,
    pub deadline: Option<NaiveDate>,
    /// For complex items: the bureau department that owns it (`部门:基建科`).
    pub department: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordError {
    Empty,
    NoCategory,
    NoDescription,
    BadDeadline,
}

/// `记问题 <学校> <类别> [严重程度] <描述> [期限:12月5日|期限7天] [部门:基建科]`.
/// The category and severity may come in either order right after the school; the severity
/// defaults to 一般. Deadlines are local dates; a day count is counted from `today`.
pub fn parse_record(args: &str, today: NaiveDate) -> Result<NewProblem, RecordError> {
    let norm = super::text::normalize(args);
    let mut tokens: Vec<&str> = norm.split_whitespace().collect();
    if tokens.is_empty() {
        return Err(RecordError::Empty);
    }
    let school = tokens.remove(0).to_string();
    let mut category = None;
    let mut severity = None;
    while let Some(t) = tokens.first() {
        if category.is_none() {
            if let Some(c) = parse_category(t) {
                category = Some(c);
                tokens.remove(0);
                continue;
            }
        }
        if severity.is_none() {
            if let Some(s) = Severity::parse(t) {
                severity = Some(s);
                tokens.remove(0);
                continue;
            }
        }
        break;
    }
    let category = category.ok_or(RecordError::NoCategory)?;
    let mut deadline = None;
    let mut department = None;
    let mut words = Vec::new();
    for t in tokens {
        if let Some(v) = strip_key(t, &["期限", "截止", "限"]) {
            deadline = Some(parse_deadline(v, today).ok_or(RecordError::BadDeadline)?);
        } else if let Some(v) = strip_key(t, &["部门", "责任部门"]) {
            if !v.is_empty() {
                department = Some(v.to_string());
            }
        } else {
            words.push(t);
        }
    }
    let description = words.join(" ");
    if description.is_empty() {
        return Err(RecordError::NoDescription);
    }
    Ok(NewProblem {
        school,
        category,
        severity: severity.unwrap_or(Severity::General),
        description,
        deadline,
        department,
    })
}

/// One line of a school's self-check list: `1. 6 一般 消防通道堵塞`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckLine {
    pub category: u8,
    pub severity: Severity,
    pub description: String,
}

/// The lines of a self-check list, and the 1-based numbers of lines not understood. Leading
/// numbering (`1.`, `1、`, `(1)`, `①`) is ignored; the category is required, severity optional.
pub fn parse_self_check(text: &str) -> (Vec<CheckLine>, Vec<usize>) {
    let mut lines = Vec::new();
    let mut bad = Vec::new();
    let norm = super::text::normalize(text);
    for (i, raw) in norm.lines().map(str::trim).filter(|l| !l.is_empty()).enumerate() {
        let l = strip_numbering(raw);
        let mut tokens: Vec<&str> = l.split_whitespace().collect();
        let category = tokens.first().and_then(|t| parse_category(t));
        let Some(category) = category else {
            bad.push(i + 1);
            continue;
        };
        tokens.remove(0);
        let severity = match tokens.first().and_then(|t| Severity::parse(t)) {
            Some(s) => {
                tokens.remove(0);
                s
            }
            None => Severity::General,
        };
        let description = tokens.join(" ");
        if description.is_empty() {
            bad.push(i + 1);
            continue;
        }
        lines.push(CheckLine { category, severity, description });
    }
    (lines, bad)
}

/// `1.`, `1、`, `(1)`, `1)`, `①` at the start of a line; a bare `6 …` is a category, not numbering.
fn strip_numbering(line: &str) -> &str {
    if let Some(c) = line.chars().next().filter(|c| ('①'..='⑳').contains(c)) {
        return line[c.len_utf8()..].trim_start();
    }
    let t = line.trim_start_matches(['(', '（']);
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    if digits > 0 {
        if let Some(c) = t[digits..].chars().next().filter(|c| ".、．)）".contains(*c)) {
            return t[digits + c.len_utf8()..].trim_start();
        }
    }
    line
}

/// `删除2,3` / `去掉 2、3` → line numbers an inspector drops from a self-check list.
pub fn parse_line_numbers(s: &str) -> Vec<usize> {
    s.split(|c: char| !c.is_ascii_digit()).filter_map(|n| n.parse().ok()).filter(|n| *n > 0).collect()
}

fn strip_key<'a>(token: &'a str, keys: &[&str]) -> Option<&'a str> {
    keys.iter().find_map(|k| token.strip_prefix(k)).map(|v| v.trim_start_matches([':', '：']))
}

/// `2026-12-05`, `12月5日`, `12-05`, `12/5`, `7天` → a date on or after `today`.
pub fn parse_deadline(s: &str, today: NaiveDate) -> Option<NaiveDate> {
    let s = s.trim().trim_end_matches(['日', '号', '前']);
    if let Some(n) = s.strip_suffix('天').and_then(|n| n.parse::<i64>().ok()) {
        return (1..=365).contains(&n).then(|| today + chrono::Duration::days(n));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return (d >= today).then_some(d);
    }
    let (m, d) = s.split_once(['月', '-', '/', '.'])?;
    let (m, d): (u32, u32) = (m.parse().ok()?, d.parse().ok()?);
    let this_year = NaiveDate::from_ymd_opt(today.year(), m, d)?;
    if this_year >= today {
        Some(this_year)
    } else {
        NaiveDate::from_ymd_opt(today.year() + 1, m, d)
    }
}

/// Days given by default, per severity (configurable; see `[rectify]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadlineDays {
    pub general: u32,
    pub serious: u32,
    pub complex: u32,
}

/// The default deadline counts working days (工作日): offices state rectification periods that
/// way, so a period spanning 国庆 is not eaten by the holiday. Falls back to calendar days only if
/// the calendar has no working day in sight (bad data), rather than failing the registration.
pub fn default_deadline(sev: Severity, today: NaiveDate, days: &DeadlineDays, cal: &Calendar) -> NaiveDate {
    let n = i64::from(match sev {
        Severity::Minor => 0,
        Severity::General => days.general,
        Severity::Serious => days.serious,
        Severity::Complex => days.complex,
    });
    cal.add_working_days(today, n).unwrap_or(today + chrono::Duration::days(n))
}

/// The deadline of an item whose notice goes out late (nobody could receive it when it was
/// recorded): the school gets the same number of working days it would have had, counted
/// from today (calendar days when the calendar cannot count them).
pub fn deadline_when_notified(recorded: NaiveDate, deadline: NaiveDate, today: NaiveDate, cal: &Calendar) -> NaiveDate {
    let span = (deadline - recorded).num_days().max(0);
    let working = recorded.iter_days().skip(1).take(span as usize).filter(|d| cal.is_working_day(*d)).count();
    let from_today = cal.add_working_days(today, working as i64).unwrap_or(today + chrono::Duration::days(span));
    deadline.max(from_today)
}

/// Whom a notice reached, by name, as the recording inspector is told: `学校联络员甲、校长乙`.
/// `None` when nobody could receive it.
pub fn notice_reach(contacts: &[&str], principals: &[&str]) -> Option<String> {
    let part = |label: &str, names: &[&str]| (!names.is_empty()).then(|| format!("{label}{}", names.join("、")));
    match (part("学校联络员", contacts), part("校长", principals)) {
        (None, None) => None,
        (Some(c), None) => Some(c),
        (None, Some(p)) => Some(p),
        (Some(c), Some(p)) => Some(format!("{c}和{p}")),
    }
}

/// Escalation ladder thresholds (configurable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ladder {
    /// L0 reminders to the school this many days before the deadline (0 = on the day).
    pub remind_days_before: Vec<u32>,
    /// L1: the inspector follows up once overdue by this many days.
    pub inspector_after_days: u32,
    /// L2: listed in the 督导通报 once overdue by this many days…
    pub bulletin_after_days: u32,
    /// …or returned this many times.
    pub bulletin_after_returns: u32,
    /// L3: listed for 约谈 once overdue by this many days.
    pub interview_after_days: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stage {
    /// L0: a reminder to the school this many days before the deadline.
    Remind(u32),
    /// L1 inspector follow-up.
    Inspector,
    /// L2 督导通报 list.
    Bulletin,
    /// L3 约谈 list.
    Interview,
}

impl Stage {
    /// The escalation key: reminders are tied to the deadline so an extension re-arms them;
    /// the upper levels fire once per item, ever.
    pub fn key(self, deadline: NaiveDate) -> String {
        match self {
            Stage::Remind(d) => format!("L0:{deadline}:{d}"),
            Stage::Inspector => "L1".into(),
            Stage::Bulletin => "L2".into(),
            Stage::Interview => "L3".into(),
        }
    }

    pub fn level(self) -> u8 {
        match self {
            Stage::Remind(_) => 0,
            Stage::Inspector => 1,
            Stage::Bulletin => 2,
            Stage::Interview => 3,
        }
    }
}

/// Days past the deadline while the school still owes the work; 0 when not overdue.
pub fn overdue_days(status: Status, deadline: NaiveDate, today: NaiveDate) -> i64 {
    if status.awaits_school() && today > deadline {
        (today - deadline).num_days()
    } else {
        0
    }
}

/// Every stage whose condition holds today (the caller sends those not yet sent). Only the
/// nearest reminder before the deadline is due, so a late sweep does not send stale ones.
pub fn due_stages(status: Status, deadline: NaiveDate, returns: u32, today: NaiveDate, ladder: &Ladder) -> Vec<Stage> {
    let mut out = Vec::new();
    if !status.is_open() {
        return out;
    }
    if status.awaits_school() && today <= deadline {
        let left = u32::try_from((deadline - today).num_days()).unwrap_or(u32::MAX);
        if let Some(d) = ladder.remind_days_before.iter().copied().filter(|d| *d >= left).min() {
            out.push(Stage::Remind(d));
        }
    }
    let over = overdue_days(status, deadline, today);
    if over >= i64::from(ladder.inspector_after_days.max(1)) {
        out.push(Stage::Inspector);
    }
    if over >= i64::from(ladder.bulletin_after_days.max(1))
        || (ladder.bulletin_after_returns > 0 && returns >= ladder.bulletin_after_returns)
    {
        out.push(Stage::Bulletin);
    }
    if over >= i64::from(ladder.interview_after_days.max(1)) {
        out.push(Stage::Interview);
    }
    out
}

// ---- Month-end reconciliation (对账) ----

/// A ledger event as reconciliation sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedgerKind {
    New,
    Closed,
    Cancelled,
    Reopened,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEvent {
    pub item: i64,
    /// The grouping key (a zone, a school, or "" for the county).
    pub scope: String,
    /// Local date of the event.
    pub date: NaiveDate,
    pub kind: LedgerKind,
}

/// One month of one scope. `opening + new + reopened − closed − cancelled = closing`; reopened
/// items (回头看 relapses) come back into the open count, so they are shown as their own term.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MonthRow {
    pub opening: i64,
    pub new: i64,
    pub reopened: i64,
    pub closed: i64,
    pub cancelled: i64,
    pub closing: i64,
}

impl MonthRow {
    pub fn balances(&self) -> bool {
        self.opening + self.new + self.reopened - self.closed - self.cancelled == self.closing
    }
}

/// `YYYY-MM` of a date.
pub fn month_of(d: NaiveDate) -> String {
    format!("{:04}-{:02}", d.year(), d.month())
}

/// How reconciliation groups items: the whole county, each zone, or each school.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    County,
    Zone,
    School,
}

/// One scope's ledger events of one month, counted (the store keeps these per school and month).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MonthCount {
    /// The grouping key (a zone, a school, or "" for the county).
    pub scope: String,
    /// `YYYY-MM`.
    pub month: String,
    pub new: i64,
    pub reopened: i64,
    pub closed: i64,
    pub cancelled: i64,
}

/// Per scope and month (from the first event's month through `through`), computed only from
/// the events, in order. The closing figure is the running open count, so a row balances by
/// construction only if the event stream is consistent; tests check it against item states.
pub fn reconcile(events: &[LedgerEvent], through: NaiveDate) -> BTreeMap<(String, String), MonthRow> {
    let mut counts: BTreeMap<(String, String), MonthCount> = BTreeMap::new();
    for e in events.iter().filter(|e| e.date <= through) {
        let key = (e.scope.clone(), month_of(e.date));
        let c = counts.entry(key).or_insert_with_key(|(scope, month)| MonthCount {
            scope: scope.clone(),
            month: month.clone(),
            ..MonthCount::default()
        });
        match e.kind {
            LedgerKind::New => c.new += 1,
            LedgerKind::Closed => c.closed += 1,
            LedgerKind::Cancelled => c.cancelled += 1,
            LedgerKind::Reopened => c.reopened += 1,
        }
    }
    reconcile_counts(&counts.into_values().collect::<Vec<_>>(), through)
}

/// [`reconcile`] from events already counted per scope and month. Months after `through`'s
/// month are left out; a scope appears once it has an event, and every scope has a row for
/// every month from the first event's month on, carrying its open balance.
pub fn reconcile_counts(counts: &[MonthCount], through: NaiveDate) -> BTreeMap<(String, String), MonthRow> {
    let last = month_of(through);
    let mut by_scope: BTreeMap<&str, BTreeMap<&str, &MonthCount>> = BTreeMap::new();
    for c in counts.iter().filter(|c| c.month <= last && (c.new, c.reopened, c.closed, c.cancelled) != (0, 0, 0, 0)) {
        by_scope.entry(c.scope.as_str()).or_default().insert(c.month.as_str(), c);
    }
    let mut out: BTreeMap<(String, String), MonthRow> = BTreeMap::new();
    let Some(first) = by_scope.values().filter_map(|m| m.keys().next()).min().copied() else { return out };
    let Ok(mut m) = NaiveDate::parse_from_str(&format!("{first}-01"), "%Y-%m-%d") else { return out };
    let mut months = Vec::new();
    while m <= through {
        months.push(month_of(m));
        m = m.checked_add_months(chrono::Months::new(1)).unwrap_or(through + chrono::Duration::days(1));
    }
    for (scope, by_month) in by_scope {
        let mut open = 0i64;
        for month in &months {
            let mut row = MonthRow { opening: open, ..MonthRow::default() };
            if let Some(c) = by_month.get(month.as_str()) {
                row.new = c.new;
                row.reopened = c.reopened;
                row.closed = c.closed;
                row.cancelled = c.cancelled;
            }
            open = row.opening + row.new + row.reopened - row.closed - row.cancelled;
            row.closing = open;
            out.insert((scope.to_string(), month.clone()), row);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, m, day).unwrap()
    }

    fn ladder() -> Ladder {
        Ladder {
            remind_days_before: vec![1, 0],
            inspector_after_days: 1,
            bulletin_after_days: 7,
            bulletin_after_returns: 2,
            interview_after_days: 30,
        }
    }

    #[test]
    fn happy_path_and_refusals() {
        use Action::*;
        use Party::*;
        let mut s = Status::Identified;
        for (a, p) in [(Notify, System), (Acknowledge, School), (Progress, School), (Submit, School)] {
            s = transition(s, a, p).unwrap();
        }
        assert_eq!(s, Status::Submitted);
        assert_eq!(transition(s, Close, School), Err(Refused::NotAllowed));
        assert_eq!(transition(s, Close, Inspector), Err(Refused::WrongState));
        s = transition(s, StartVerify, Inspector).unwrap();
        assert_eq!(transition(s, Return, Inspector), Ok(Status::InProgress));
        assert_eq!(transition(s, Close, Supervisor), Ok(Status::Closed));
        assert_eq!(transition(Status::Closed, Reopen, Inspector), Ok(Status::InProgress));
        assert_eq!(transition(Status::Closed, Extend, Inspector), Err(Refused::WrongState));
        assert_eq!(transition(Status::InProgress, Cancel, Inspector), Err(Refused::NotAllowed));
        assert_eq!(transition(Status::InProgress, Cancel, Supervisor), Ok(Status::Cancelled));
        assert_eq!(transition(Status::Cancelled, Reopen, Supervisor), Err(Refused::WrongState));
        assert_eq!(transition(Status::Notified, Extend, School), Err(Refused::NotAllowed));
        assert_eq!(transition(Status::Acknowledged, Acknowledge, School), Err(Refused::WrongState));
    }

    #[test]
    fn refs_and_parsing() {
        assert_eq!(parse_ref("W12 已整改"), Some((12, "已整改".into())));
        assert_eq!(parse_ref("ｗ１２"), Some((12, String::new())));
        assert_eq!(parse_ref("T12"), None);
        assert_eq!(parse_ref("W12a"), None);
        assert_eq!(parse_ref("W"), None);
        assert_eq!(parse_ref("W99999999999999999999"), None);
        let today = d(11, 23);
        let p = parse_record("实验小学 6 严重 消防通道堵塞 期限:12月5日", today).unwrap();
        assert_eq!((p.category, p.severity, p.deadline), (6, Severity::Serious, Some(d(12, 5))));
        assert_eq!(p.description, "消防通道堵塞");
        let p = parse_record("城关一小 一般 食堂 留样记录缺失 限7天", today).unwrap();
        assert_eq!((p.category, p.severity, p.deadline), (7, Severity::General, Some(d(11, 30))));
        assert_eq!(parse_record("实验小学 消防", today), Err(RecordError::NoCategory));
        assert_eq!(parse_record("实验小学 6", today), Err(RecordError::NoDescription));
        assert_eq!(parse_record("", today), Err(RecordError::Empty));
        assert_eq!(parse_record("实验小学 6 x 期限:13月40日", today), Err(RecordError::BadDeadline));
        assert_eq!(parse_deadline("1月5日", today), Some(NaiveDate::from_ymd_opt(2027, 1, 5).unwrap()));
        assert_eq!(parse_deadline("2026-11-01", today), None);
        assert_eq!(parse_category("10"), None);
        assert_eq!(category_label(6), "校园及周边安全、学生交通安全");
        assert_eq!(category_label(0), "校务管理和制度执行");
    }

    #[test]
    fn self_check_lists() {
        let (lines, bad) =
            parse_self_check("1. 6 一般 消防通道堵塞\n2、7 食堂留样不全\n\n3. 看不懂的一行\n6 严重 围墙开裂\n(5) 安全");
        assert_eq!(bad, vec![3, 5]);
        assert_eq!(lines.len(), 3);
        assert_eq!((lines[0].category, lines[0].severity), (6, Severity::General));
        assert_eq!((lines[1].category, lines[1].description.as_str()), (7, "食堂留样不全"));
        assert_eq!((lines[2].category, lines[2].severity), (6, Severity::Serious));
        assert_eq!(parse_line_numbers("删除2,3、10"), vec![2, 3, 10]);
        assert_eq!(parse_self_check_ref("Z3 通过"), Some((3, "通过".into())));
        assert_eq!(parse_self_check("").0, vec![]);
    }

    #[test]
    fn notices_name_who_got_them_and_late_notices_keep_their_days() {
        assert_eq!(notice_reach(&[], &[]), None);
        assert_eq!(notice_reach(&["甲"], &[]).as_deref(), Some("学校联络员甲"));
        assert_eq!(notice_reach(&[], &["乙"]).as_deref(), Some("校长乙"));
        assert_eq!(notice_reach(&["甲", "丙"], &["乙"]).as_deref(), Some("学校联络员甲、丙和校长乙"));
        // Recorded Sunday 11-01, due Sunday 11-08: 5 working days; told Tuesday 11-03, so
        // due Tuesday 11-10. Told on the day: unchanged.
        let cal = Calendar::default();
        assert_eq!(deadline_when_notified(d(11, 1), d(11, 8), d(11, 3), &cal), d(11, 10));
        assert_eq!(deadline_when_notified(d(11, 1), d(11, 8), d(11, 1), &cal), d(11, 8));
        // Told on Friday 11-06: the five working days run to Friday 11-13.
        assert_eq!(deadline_when_notified(d(11, 1), d(11, 8), d(11, 6), &cal), d(11, 13));
        // Never notified: neither overdue nor escalated.
        assert_eq!(overdue_days(Status::Identified, d(11, 8), d(12, 30)), 0);
        assert!(due_stages(Status::Identified, d(11, 8), 0, d(12, 30), &ladder()).is_empty());
    }

    #[test]
    fn ladder_levels() {
        let l = ladder();
        let dl = d(11, 30);
        assert_eq!(due_stages(Status::Notified, dl, 0, d(11, 20), &l), vec![]);
        assert_eq!(due_stages(Status::Notified, dl, 0, d(11, 29), &l), vec![Stage::Remind(1)]);
        assert_eq!(due_stages(Status::Notified, dl, 0, d(11, 30), &l), vec![Stage::Remind(0)]);
        assert_eq!(due_stages(Status::InProgress, dl, 0, d(12, 1), &l), vec![Stage::Inspector]);
        assert_eq!(due_stages(Status::InProgress, dl, 0, d(12, 7), &l), vec![Stage::Inspector, Stage::Bulletin]);
        assert_eq!(
            due_stages(Status::InProgress, dl, 0, d(12, 30), &l),
            vec![Stage::Inspector, Stage::Bulletin, Stage::Interview]
        );
        // Submitted is not overdue, but two returns list it.
        assert_eq!(due_stages(Status::Submitted, dl, 0, d(12, 30), &l), vec![]);
        assert_eq!(due_stages(Status::InProgress, dl, 2, d(11, 20), &l), vec![Stage::Bulletin]);
        assert_eq!(due_stages(Status::Closed, dl, 5, d(12, 30), &l), vec![]);
        assert_eq!(Stage::Remind(1).key(dl), "L0:2026-11-30:1");
    }

    #[test]
    fn reconciliation_balances() {
        let ev = |item, m, day, kind| LedgerEvent { item, scope: "Z01".into(), date: d(m, day), kind };
        let events = vec![
            ev(1, 9, 3, LedgerKind::New),
            ev(2, 9, 10, LedgerKind::New),
            ev(1, 10, 1, LedgerKind::Closed),
            ev(3, 10, 2, LedgerKind::New),
            ev(3, 10, 5, LedgerKind::Cancelled),
            ev(1, 11, 5, LedgerKind::Reopened),
        ];
        let r = reconcile(&events, d(11, 30));
        let sep = &r[&("Z01".to_string(), "2026-09".to_string())];
        assert_eq!((sep.opening, sep.new, sep.closing), (0, 2, 2));
        let oct = &r[&("Z01".to_string(), "2026-10".to_string())];
        assert_eq!((oct.opening, oct.new, oct.closed, oct.cancelled, oct.closing), (2, 1, 1, 1, 1));
        let nov = &r[&("Z01".to_string(), "2026-11".to_string())];
        assert_eq!((nov.opening, nov.reopened, nov.closing), (1, 1, 2));
        assert!(r.values().all(MonthRow::balances));
        assert!(reconcile(&[], d(11, 30)).is_empty());
    }

    #[test]
    fn reconciliation_from_monthly_counts() {
        let c = |scope: &str, month: &str, new, reopened, closed, cancelled| MonthCount {
            scope: scope.into(),
            month: month.into(),
            new,
            reopened,
            closed,
            cancelled,
        };
        let counts = vec![
            c("一区", "2026-08", 3, 0, 1, 0),
            c("一区", "2026-10", 2, 1, 2, 1),
            // A scope whose events were all removed by hand: no rows at all.
            c("二区", "2026-07", 0, 0, 0, 0),
            c("二区", "2026-09", 4, 0, 0, 0),
            // After `through`'s month: left out.
            c("二区", "2026-12", 9, 0, 0, 0),
        ];
        let r = reconcile_counts(&counts, d(11, 15));
        let row = |scope: &str, m: &str| r[&(scope.to_string(), m.to_string())].clone();
        // Months run from the first month with an event (August) through November, per scope.
        assert_eq!(r.len(), 2 * 4);
        assert_eq!((row("一区", "2026-08").opening, row("一区", "2026-08").closing), (0, 2));
        assert_eq!(row("一区", "2026-09"), MonthRow { opening: 2, closing: 2, ..MonthRow::default() });
        let oct = row("一区", "2026-10");
        assert_eq!((oct.opening, oct.new, oct.reopened, oct.closed, oct.cancelled, oct.closing), (2, 2, 1, 2, 1, 2));
        assert_eq!(row("二区", "2026-08").closing, 0);
        assert_eq!(row("二区", "2026-11").closing, 4);
        assert!(!r.contains_key(&("二区".to_string(), "2026-07".to_string())));
        assert!(r.values().all(MonthRow::balances));
    }
}
