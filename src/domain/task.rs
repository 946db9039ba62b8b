//! Task assignment (督办): the states of one person's assignment and the legal moves between them,
//! who may do what, the create command's grammar, Chinese deadlines, and when reminders and
//! escalations are due. Pure and total: any input gives an answer, never a panic.
//!
//! Create command (one line or several; labels take `:` or `：`):
//!
//! ```text
//! 布置任务 <标题> [说明…] 对象:<人员、责任区、全体督学、学校、全部学校> 截止:<时间> [需提交材料]
//! 布置任务 秋季开学安全检查 @史芳 @韩伟 下周五前
//! 布置任务 秋季开学安全检查
//! 请对责任区内学校开展开学安全检查。
//! 对象：第一督学责任区、示例县实验小学
//! 截止：9月5日17:00
//! 需提交材料
//! ```

use super::role::Role;
use super::text::{leading_number, normalize};
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc, Weekday};

pub const MAX_TITLE_CHARS: usize = 60;
pub const MAX_DESCRIPTION_CHARS: usize = 2000;
pub const MAX_RESULT_CHARS: usize = 4000;
pub const MAX_REASON_CHARS: usize = 500;
/// A deadline further out than this is almost certainly a typo.
pub const MAX_DEADLINE_DAYS: i64 = 366;

/// The visible id of a task: `T12`.
pub fn task_code(id: i64) -> String {
    format!("T{id}")
}

/// A task as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskStatus {
    Open,
    /// Finished: every assignment approved, or closed by a supervisor (办结).
    Closed,
    Cancelled,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Open => "open",
            TaskStatus::Closed => "closed",
            TaskStatus::Cancelled => "cancelled",
        }
    }
    pub fn parse_db(s: &str) -> Option<Self> {
        [TaskStatus::Open, TaskStatus::Closed, TaskStatus::Cancelled].into_iter().find(|t| t.as_str() == s)
    }
    pub fn label(self) -> &'static str {
        match self {
            TaskStatus::Open => "进行中",
            TaskStatus::Closed => "已办结",
            TaskStatus::Cancelled => "已撤销",
        }
    }
}

/// One assignee's part of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AssignmentState {
    Assigned,
    Acknowledged,
    InProgress,
    Submitted,
    Approved,
    Returned,
    /// The task was cancelled, or the assignment was given to someone else (改派).
    Cancelled,
    /// The task was closed (办结) before this assignment was approved.
    Closed,
}

impl AssignmentState {
    pub const ALL: [AssignmentState; 8] = [
        AssignmentState::Assigned,
        AssignmentState::Acknowledged,
        AssignmentState::InProgress,
        AssignmentState::Submitted,
        AssignmentState::Approved,
        AssignmentState::Returned,
        AssignmentState::Cancelled,
        AssignmentState::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AssignmentState::Assigned => "assigned",
            AssignmentState::Acknowledged => "acknowledged",
            AssignmentState::InProgress => "in_progress",
            AssignmentState::Submitted => "submitted",
            AssignmentState::Approved => "approved",
            AssignmentState::Returned => "returned",
            AssignmentState::Cancelled => "cancelled",
            AssignmentState::Closed => "closed",
        }
    }

    pub fn parse_db(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            AssignmentState::Assigned => "未确认",
            AssignmentState::Acknowledged => "已确认",
            AssignmentState::InProgress => "办理中",
            AssignmentState::Submitted => "已提交，待审核",
            AssignmentState::Approved => "已通过",
            AssignmentState::Returned => "被退回，待重新提交",
            AssignmentState::Cancelled => "已撤销",
            AssignmentState::Closed => "已结束",
        }
    }

    /// Nothing more can happen to it.
    pub fn is_final(self) -> bool {
        matches!(self, AssignmentState::Approved | AssignmentState::Cancelled | AssignmentState::Closed)
    }

    /// The assignee still owes something (a reminder target; overdue after the deadline).
    pub fn awaits_assignee(self) -> bool {
        matches!(
            self,
            AssignmentState::Assigned
                | AssignmentState::Acknowledged
                | AssignmentState::InProgress
                | AssignmentState::Returned
        )
    }
}

/// What someone does to an assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Acknowledge,
    Progress,
    Submit,
    Approve,
    Return,
    Reassign,
    Cancel,
    Close,
}

/// Why a move is not possible from the current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("已经确认过")]
    AlreadyAcknowledged,
    #[error("结果已提交，正在等待督导室审核")]
    AwaitingReview,
    #[error("尚未提交结果")]
    NotSubmitted,
    #[error("已经通过审核")]
    AlreadyApproved,
    #[error("已撤销或已结束")]
    Ended,
}

/// The state after `action`, or why it cannot happen. Acknowledging is implied by reporting
/// progress or submitting (people often skip `收到`).
pub fn next_state(from: AssignmentState, action: Action) -> Result<AssignmentState, TransitionError> {
    use AssignmentState as S;
    use TransitionError as E;
    match (from, action) {
        (S::Cancelled | S::Closed, _) => Err(E::Ended),
        (S::Approved, _) => Err(E::AlreadyApproved),
        (_, Action::Cancel) => Ok(S::Cancelled),
        (_, Action::Close) => Ok(S::Closed),
        (S::Assigned, Action::Acknowledge) => Ok(S::Acknowledged),
        (S::Submitted, Action::Acknowledge | Action::Progress | Action::Submit | Action::Reassign) => {
            Err(E::AwaitingReview)
        }
        (_, Action::Acknowledge) => Err(E::AlreadyAcknowledged),
        (_, Action::Progress) => Ok(S::InProgress),
        (_, Action::Submit) => Ok(S::Submitted),
        (S::Submitted, Action::Approve) => Ok(S::Approved),
        (S::Submitted, Action::Return) => Ok(S::Returned),
        (_, Action::Approve | Action::Return) => Err(E::NotSubmitted),
        (_, Action::Reassign) => Ok(S::Cancelled),
    }
}

/// What a person wants to do with a task, for the permission check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Create,
    /// Acknowledge, progress, submit: the assignee's own moves.
    Work,
    /// Approve or return a submission.
    Review,
    /// Cancel, close, reassign, extend, list all tasks.
    Manage,
    /// See a task.
    View,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PermissionError {
    #[error("只有督导室人员可以这样做")]
    SupervisorsOnly,
    #[error("您不是该任务的承办人")]
    NotAssignee,
}

/// Only supervisors (and admins) create, review and manage; an assignee works only on their own
/// assignment — a supervisor cannot acknowledge or submit for someone else either.
pub fn authorize(role: Role, op: Op, is_assignee: bool) -> Result<(), PermissionError> {
    match op {
        Op::Create | Op::Review | Op::Manage if role.is_supervisor() => Ok(()),
        Op::Create | Op::Review | Op::Manage => Err(PermissionError::SupervisorsOnly),
        Op::Work if is_assignee => Ok(()),
        Op::Work => Err(PermissionError::NotAssignee),
        Op::View if is_assignee || role.is_supervisor() => Ok(()),
        Op::View => Err(PermissionError::NotAssignee),
    }
}

/// A leading task id (`T12`, `t12`, `#T12`, `T 12`) and the rest of the text after it.
pub fn parse_task_ref(s: &str) -> Option<(i64, &str)> {
    let t = s.trim_start().trim_start_matches(['#', '＃']);
    let rest = t.strip_prefix(['T', 't', 'Ｔ', 'ｔ'])?.trim_start();
    let end = rest.char_indices().find(|(_, c)| !c.is_ascii_digit()).map_or(rest.len(), |(i, _)| i);
    if end == 0 || end > 9 {
        return None;
    }
    let id: i64 = rest[..end].parse().ok()?;
    let after = &rest[end..];
    // "T12号" or "T12abc" is not a task id; punctuation and spaces after it are fine.
    if after.chars().next().is_some_and(|c| c.is_alphanumeric()) {
        return None;
    }
    (id > 0).then(|| (id, after.trim_start_matches([':', '：', ',', '，', '、']).trim()))
}

/// Who a task goes to, as typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Every active inspector (全体督学).
    AllInspectors,
    /// The contact of every active school (全部学校).
    AllSchools,
    /// A person (name or 编号), a zone, "<zone>学校", or a school — resolved against the roster.
    Named(String),
}

/// The create command, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateSpec {
    pub title: String,
    pub description: String,
    pub targets: Vec<Target>,
    /// Local time.
    pub deadline: NaiveDateTime,
    pub requires_result: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreateError {
    /// `message` gives the same with examples from the deployment's roster.
    #[error("请写明任务标题。格式：布置任务 <标题> 对象:<对象> 截止:<时间>")]
    MissingTitle,
    #[error("任务标题太长（最多{MAX_TITLE_CHARS}字）。请把标题写短，详细要求写在第二行，或用“说明:”标出。")]
    TitleTooLong,
    #[error("任务说明太长（最多{MAX_DESCRIPTION_CHARS}字）。")]
    DescriptionTooLong,
    #[error("请写明任务对象：姓名、编号、@某人、责任区、全体督学、学校或全部学校。")]
    MissingTargets,
    #[error("请写明截止时间，例如：截止:11月30日17:00，或在标题后写“下周五前”。")]
    MissingDeadline,
    #[error("没有看懂截止时间“{0}”。可以写：11月30日、11月30日17:00、2026-11-30、明天下午5点、下周五。")]
    BadDeadline(String),
    #[error("截止时间{0}已经过去，请重新设置。")]
    DeadlinePassed(String),
    #[error("截止时间{0}太远了（最多一年内），请检查。")]
    DeadlineTooFar(String),
}

impl CreateError {
    /// The reply, with examples taken from the deployment's own roster (never the sample's).
    pub fn message(&self, ex: &super::examples::Examples) -> String {
        match self {
            CreateError::MissingTitle => {
                format!("请写明任务标题，例如：布置任务 秋季开学安全检查 对象:{} 截止:9月5日", ex.zone_name)
            }
            CreateError::MissingTargets => format!(
                "请写明任务对象，例如：对象:{}、{}，或 @某人、{}、全体督学、{}、全部学校。",
                ex.person_name, ex.person_code, ex.zone_name, ex.school
            ),
            other => other.to_string(),
        }
    }
}

const FLAG_NO: &[&str] =
    &["无需提交材料", "不需提交材料", "无需书面结果", "不需书面结果", "无需提交结果", "不需要提交材料"];
const FLAG_YES: &[&str] = &[
    "需提交书面结果",
    "需要提交材料",
    "需提交材料",
    "需书面结果",
    "需提交结果",
    "需报送材料",
    "需上传材料",
    "需书面反馈",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Title,
    Description,
    Targets,
    Deadline,
}

/// Longest first within each group does not matter: the longest match wins overall.
const LABELS: &[(&str, Field)] = &[
    ("标题", Field::Title),
    ("任务名称", Field::Title),
    ("说明", Field::Description),
    ("任务说明", Field::Description),
    ("内容", Field::Description),
    ("任务内容", Field::Description),
    ("要求", Field::Description),
    ("具体要求", Field::Description),
    ("工作要求", Field::Description),
    ("对象", Field::Targets),
    ("督办对象", Field::Targets),
    ("任务对象", Field::Targets),
    ("承办", Field::Targets),
    ("承办人", Field::Targets),
    ("负责人", Field::Targets),
    ("责任人", Field::Targets),
    ("接收人", Field::Targets),
    ("截止", Field::Deadline),
    ("截至", Field::Deadline),
    ("截止时间", Field::Deadline),
    ("截止日期", Field::Deadline),
    ("期限", Field::Deadline),
    ("时限", Field::Deadline),
    ("完成时限", Field::Deadline),
    ("完成时间", Field::Deadline),
];

fn is_word_break(c: char) -> bool {
    c.is_whitespace() || matches!(c, '，' | ',' | '；' | ';' | '。')
}

/// A label found on a line: where it starts, where its content starts, and whether a colon
/// followed it.
struct Hit {
    start: usize,
    content: usize,
    field: Field,
    colon: bool,
}

fn label_hits(line: &str) -> Vec<Hit> {
    let mut hits = Vec::new();
    let mut skip_to = 0;
    for (i, _) in line.char_indices() {
        if i < skip_to {
            continue;
        }
        if !line[..i].chars().next_back().is_none_or(is_word_break) {
            continue;
        }
        let rest = &line[i..];
        let Some((label, field)) =
            LABELS.iter().filter(|(l, _)| rest.starts_with(l)).max_by_key(|(l, _)| l.len()).copied()
        else {
            continue;
        };
        let after = &rest[label.len()..];
        let trimmed = after.trim_start();
        if let Some(content) = trimmed.strip_prefix(':') {
            let content_at = line.len() - content.len();
            hits.push(Hit { start: i, content: content_at, field, colon: true });
            skip_to = content_at;
        } else if field == Field::Deadline && !trimmed.is_empty() {
            // "截止11月30日": a deadline label may run straight into the date; it only counts if a
            // deadline follows (checked by the caller), so prose like "截止目前" stays prose.
            let content_at = line.len() - trimmed.len();
            hits.push(Hit { start: i, content: content_at, field, colon: false });
            skip_to = content_at;
        }
    }
    hits
}

/// The longest run of leading whitespace-separated tokens (at most three) that is a deadline;
/// returns the deadline and the byte length consumed.
fn leading_deadline(s: &str, now: NaiveDateTime, default_time: NaiveTime) -> Option<(NaiveDateTime, usize)> {
    let mut ends = Vec::new();
    let mut in_token = false;
    for (i, c) in s.char_indices() {
        if c.is_whitespace() {
            if in_token {
                ends.push(i);
            }
            in_token = false;
        } else {
            in_token = true;
        }
    }
    if in_token {
        ends.push(s.len());
    }
    ends.truncate(3);
    ends.into_iter().rev().find_map(|end| parse_deadline(&s[..end], now, default_time).map(|d| (d, end)))
}

/// Keyword targets, and the separators between names.
pub fn target_from_item(item: &str) -> Option<Target> {
    let item = item.trim().trim_start_matches(['@', '＠']).trim();
    if item.is_empty() {
        return None;
    }
    Some(match item {
        "全体督学" | "全部督学" | "所有督学" | "全县督学" | "全体责任督学" | "全部责任督学" | "所有责任督学" => {
            Target::AllInspectors
        }
        "全部学校" | "所有学校" | "全体学校" | "各学校" | "各校" | "全县学校" | "全县各校" => {
            Target::AllSchools
        }
        other => Target::Named(other.to_string()),
    })
}

/// Splits a list of names: `史芳、韩伟，D005 第一督学责任区`.
pub fn split_names(s: &str) -> Vec<String> {
    s.split(|c: char| c.is_whitespace() || matches!(c, '、' | '，' | ',' | '；' | ';' | '/' | '|'))
        .map(|p| p.trim().trim_start_matches(['@', '＠']).trim())
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

/// "第一督学责任区学校", "Z01各校": the zone part of a request for a zone's schools.
pub fn zone_schools_prefix(s: &str) -> Option<&str> {
    for suffix in ["全部学校", "所有学校", "各学校", "各校", "学校"] {
        if let Some(p) = s.strip_suffix(suffix) {
            let p = p.trim_end_matches(['的']).trim();
            if !p.is_empty() {
                return Some(p);
            }
        }
    }
    None
}

fn strip_deadline_affixes(token: &str) -> Option<&str> {
    let t = token.trim_start_matches("请于").trim_start_matches('于').trim_start_matches('在');
    for suffix in ["前完成", "前提交", "前报送", "前上报", "前反馈", "之前", "以前", "前"] {
        if let Some(p) = t.strip_suffix(suffix) {
            return (!p.is_empty()).then_some(p);
        }
    }
    None
}

/// Finds "…前" deadline tokens in free text ("下周五前", "11月30日 17:00前"); returns the
/// deadline and the text with them removed.
fn inline_deadline(line: &str, now: NaiveDateTime, default_time: NaiveTime) -> (Option<NaiveDateTime>, String) {
    let tokens: Vec<&str> = line.split_whitespace().collect();
    for k in 0..tokens.len() {
        let Some(core) = strip_deadline_affixes(tokens[k]) else { continue };
        // With the token before it ("11月30日 17:00前"), then alone.
        if k > 0 {
            let joined = format!("{} {core}", tokens[k - 1]);
            if let Some(d) = parse_deadline(&joined, now, default_time) {
                let rest: Vec<&str> =
                    tokens.iter().enumerate().filter(|(i, _)| *i + 1 != k && *i != k).map(|(_, t)| *t).collect();
                return (Some(d), rest.join(" "));
            }
        }
        if let Some(d) = parse_deadline(core, now, default_time) {
            let rest: Vec<&str> = tokens.iter().enumerate().filter(|(i, _)| *i != k).map(|(_, t)| *t).collect();
            return (Some(d), rest.join(" "));
        }
    }
    (None, line.to_string())
}

/// Parses the arguments of the create command. `mentions` is the number of platform mentions
/// in the message (they are assignees too, resolved by the caller). `now` is local time.
pub fn parse_create(
    args: &str,
    mentions: usize,
    now: NaiveDateTime,
    default_time: NaiveTime,
) -> Result<CreateSpec, CreateError> {
    let mut text = normalize(args);
    let mut requires_result = false;
    for f in FLAG_NO {
        text = text.replace(f, " ");
    }
    for f in FLAG_YES {
        if text.contains(f) {
            requires_result = true;
            text = text.replace(f, " ");
        }
    }
    let mut title_field: Option<String> = None;
    let mut description: Vec<String> = Vec::new();
    let mut targets: Vec<Target> = Vec::new();
    let mut deadline: Option<NaiveDateTime> = None;
    let mut deadline_error: Option<CreateError> = None;
    let mut free: Vec<String> = Vec::new();
    // A labelled description continues over the following unlabelled lines.
    let mut in_description = false;

    for line in text.split('\n') {
        let hits: Vec<Hit> = label_hits(line)
            .into_iter()
            .filter(|h| {
                h.colon
                    || h.field != Field::Deadline
                    || leading_deadline(&line[h.content..], now, default_time).is_some()
            })
            .collect();
        if hits.is_empty() {
            if in_description {
                description.push(line.trim().to_string());
            } else {
                free.push(line.to_string());
            }
            continue;
        }
        in_description = false;
        let mut line_free = line[..hits[0].start].to_string();
        for (k, h) in hits.iter().enumerate() {
            let end = hits.get(k + 1).map_or(line.len(), |n| n.start).max(h.content);
            let content = line.get(h.content..end).unwrap_or("").trim();
            match h.field {
                Field::Title => title_field = Some(content.to_string()),
                Field::Description => {
                    if !content.is_empty() {
                        description.push(content.to_string());
                    }
                    in_description = k + 1 == hits.len();
                }
                Field::Targets => {
                    // "对象:史芳 下周五前": a deadline typed at the end of the list.
                    let (d, rest) = inline_deadline(content, now, default_time);
                    if deadline.is_none() {
                        deadline = d;
                    }
                    let list = if d.is_some() { rest.as_str() } else { content };
                    targets.extend(split_names(list).iter().filter_map(|s| target_from_item(s)));
                }
                Field::Deadline => match leading_deadline(content, now, default_time) {
                    Some((d, used)) => {
                        if deadline.is_none() {
                            deadline = Some(d);
                        }
                        line_free.push(' ');
                        line_free.push_str(content.get(used..).unwrap_or(""));
                    }
                    None if deadline.is_none() && deadline_error.is_none() => {
                        deadline_error = Some(CreateError::BadDeadline(content.to_string()))
                    }
                    None => {}
                },
            }
        }
        free.push(line_free);
    }

    // Free text: @names, "…前" deadlines, then the title (first line) and description.
    let mut free_lines: Vec<String> = Vec::new();
    for line in free {
        let mut kept: Vec<&str> = Vec::new();
        for tok in line.split_whitespace() {
            if tok.starts_with(['@', '＠']) {
                targets.extend(target_from_item(tok));
            } else {
                kept.push(tok);
            }
        }
        let mut rest = kept.join(" ");
        if deadline.is_none() {
            let (d, r) = inline_deadline(&rest, now, default_time);
            if d.is_some() {
                deadline = d;
                rest = r;
            }
        }
        let rest = rest.trim().to_string();
        if !rest.is_empty() {
            free_lines.push(rest);
        }
    }
    let title = match title_field {
        Some(t) => {
            description.splice(0..0, free_lines);
            t
        }
        None if !free_lines.is_empty() => {
            let t = free_lines.remove(0);
            description.splice(0..0, free_lines);
            t
        }
        None => String::new(),
    };
    let title = title.trim().trim_matches(['，', ',', '；', ';', ':', '。']).trim().to_string();
    if title.is_empty() {
        return Err(CreateError::MissingTitle);
    }
    let description = description.join("\n");
    let mut spec = CreateSpec { title, description, targets, deadline: deadline.unwrap_or(now), requires_result };
    spec.check_content(mentions)?;
    spec.deadline = match (deadline, deadline_error) {
        (Some(d), _) => d,
        (None, Some(e)) => return Err(e),
        (None, None) => return Err(CreateError::MissingDeadline),
    };
    check_deadline(spec.deadline, now)?;
    Ok(spec)
}

impl CreateSpec {
    /// The rules every new task obeys, however it was written (the chat's command or the
    /// platform's form): a title of at most [`MAX_TITLE_CHARS`], a description of at most
    /// [`MAX_DESCRIPTION_CHARS`] (blank lines dropped), at least one target (or `mentions`),
    /// targets without repeats, and a deadline in the future within a year (`now`: local time).
    pub fn checked(mut self, mentions: usize, now: NaiveDateTime) -> Result<CreateSpec, CreateError> {
        self.check_content(mentions)?;
        check_deadline(self.deadline, now)?;
        Ok(self)
    }

    /// [`CreateSpec::checked`] without the deadline.
    fn check_content(&mut self, mentions: usize) -> Result<(), CreateError> {
        self.title = self.title.trim().to_string();
        if self.title.is_empty() {
            return Err(CreateError::MissingTitle);
        }
        if self.title.chars().count() > MAX_TITLE_CHARS {
            return Err(CreateError::TitleTooLong);
        }
        self.description =
            self.description.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("\n");
        if self.description.chars().count() > MAX_DESCRIPTION_CHARS {
            return Err(CreateError::DescriptionTooLong);
        }
        let mut seen = Vec::new();
        self.targets.retain(|t| {
            let new = !seen.contains(t);
            seen.push(t.clone());
            new
        });
        if self.targets.is_empty() && mentions == 0 {
            return Err(CreateError::MissingTargets);
        }
        Ok(())
    }
}

/// A deadline must be in the future and within a year.
pub fn check_deadline(deadline: NaiveDateTime, now: NaiveDateTime) -> Result<(), CreateError> {
    if deadline <= now {
        return Err(CreateError::DeadlinePassed(fmt_deadline(deadline, now)));
    }
    if deadline - now > Duration::days(MAX_DEADLINE_DAYS) {
        return Err(CreateError::DeadlineTooFar(fmt_deadline(deadline, now)));
    }
    Ok(())
}

/// A time of day: `17:00`, `17点`, `17点半`, `17点30分`, `十七点`, `下午5点`, `上午10:30`, `中午12点`.
pub fn parse_time(s: &str) -> Option<NaiveTime> {
    let s = s.trim();
    let mut rest = s;
    let mut pm = false;
    let mut noon = false;
    for (word, is_pm, is_noon) in [
        ("上午", false, false),
        ("早上", false, false),
        ("早晨", false, false),
        ("凌晨", false, false),
        ("中午", false, true),
        ("下午", true, false),
        ("傍晚", true, false),
        ("晚上", true, false),
    ] {
        if let Some(r) = rest.strip_prefix(word) {
            rest = r.trim_start();
            pm = is_pm;
            noon = is_noon;
            break;
        }
    }
    let (hour, used) = leading_number(rest)?;
    let rest = &rest[used..];
    let minute = if let Some(m) = rest.strip_prefix(':') {
        if m.len() != 2 || !m.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        m.parse::<u32>().ok()?
    } else if let Some(m) = rest.strip_prefix(['点', '时']) {
        let m = m.trim();
        match m {
            "" | "整" => 0,
            "半" => 30,
            _ => {
                let m = m.strip_suffix('分').unwrap_or(m);
                let (v, used) = leading_number(m)?;
                if used != m.len() {
                    return None;
                }
                v
            }
        }
    } else {
        return None;
    };
    let hour = match (pm, noon) {
        (true, _) if hour < 12 => hour + 12,
        (_, true) if hour < 6 => hour + 12,
        _ => hour,
    };
    NaiveTime::from_hms_opt(hour, minute, 0)
}

fn weekday_from(c: char) -> Option<Weekday> {
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

/// A day as typed: a date (see [`super::dates::parse_date`]), `周五`, `本周五`, `下周五`,
/// `下下周一`, `星期三`, `月底`.
pub fn parse_day(s: &str, today: NaiveDate) -> Option<NaiveDate> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if matches!(s, "月底" | "本月底" | "这个月底" | "月末" | "本月末") {
        let first_next = if today.month() == 12 {
            NaiveDate::from_ymd_opt(today.year() + 1, 1, 1)?
        } else {
            NaiveDate::from_ymd_opt(today.year(), today.month() + 1, 1)?
        };
        return first_next.pred_opt();
    }
    let (weeks, rest) = if let Some(r) = s.strip_prefix("下下") {
        (Some(2), r)
    } else if let Some(r) = s.strip_prefix("下个").or_else(|| s.strip_prefix('下')) {
        (Some(1), r)
    } else if let Some(r) = s.strip_prefix("这个").or_else(|| s.strip_prefix('这')).or_else(|| s.strip_prefix('本'))
    {
        (Some(0), r)
    } else {
        (None, s)
    };
    let day = ["星期", "礼拜", "周"].iter().find_map(|p| rest.strip_prefix(p));
    if let Some(day) = day {
        let mut chars = day.chars();
        let wd = weekday_from(chars.next()?)?;
        if chars.next().is_some() {
            return None;
        }
        let monday = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
        let in_week = monday + Duration::days(i64::from(wd.num_days_from_monday()));
        return Some(match weeks {
            Some(w) => in_week + Duration::weeks(w),
            // Plain "周五": the coming one (today counts).
            None if in_week >= today => in_week,
            None => in_week + Duration::weeks(1),
        });
    }
    if weeks.is_some() {
        return None;
    }
    super::dates::parse_date(s, today, None)
}

/// A deadline: a day, a time, or both (`11月30日17:00`, `2026-11-30 17:00`, `下周五下午5点`,
/// `17:00` = today). A day without a time means `default_time`. Affixes like `截止`, `前` are
/// accepted. Whether it is in the future is checked separately ([`check_deadline`]).
pub fn parse_deadline(s: &str, now: NaiveDateTime, default_time: NaiveTime) -> Option<NaiveDateTime> {
    let norm = normalize(s);
    let mut t = norm.trim();
    for p in ["截止到", "截止至", "截止", "截至", "请于", "于", "在"] {
        if let Some(r) = t.strip_prefix(p) {
            t = r.trim_start();
            break;
        }
    }
    t = t.trim_start_matches([':', '：']).trim();
    for suffix in ["之前", "以前", "为止", "前"] {
        if let Some(r) = t.strip_suffix(suffix) {
            t = r.trim_end();
            break;
        }
    }
    // Nothing a person types as a deadline is long; bound the split search below.
    if t.is_empty() || t.chars().count() > 30 {
        return None;
    }
    let today = now.date();
    // The split with the longest time part wins, so "5日17点" is 5th at 17:00, not May 1st at 7.
    let mut cuts: Vec<usize> = t.char_indices().map(|(i, _)| i).collect();
    cuts.push(t.len());
    for i in cuts {
        let (day_part, time_part) = (t[..i].trim(), t[i..].trim());
        let time = if time_part.is_empty() {
            default_time
        } else {
            match parse_time(time_part) {
                Some(tm) => tm,
                None => continue,
            }
        };
        let day = if day_part.is_empty() {
            if time_part.is_empty() {
                continue;
            }
            today
        } else {
            match parse_day(day_part, today) {
                Some(d) => d,
                None => continue,
            }
        };
        return Some(day.and_time(time));
    }
    None
}

fn weekday_label(d: NaiveDate) -> &'static str {
    match d.weekday() {
        Weekday::Mon => "周一",
        Weekday::Tue => "周二",
        Weekday::Wed => "周三",
        Weekday::Thu => "周四",
        Weekday::Fri => "周五",
        Weekday::Sat => "周六",
        Weekday::Sun => "周日",
    }
}

/// `11月30日（周一）18:00`, with the year when it is not this year.
pub fn fmt_deadline(deadline: NaiveDateTime, now: NaiveDateTime) -> String {
    let d = deadline.date();
    let year = if d.year() != now.date().year() { format!("{}年", d.year()) } else { String::new() };
    format!("{year}{}月{}日（{}）{}", d.month(), d.day(), weekday_label(d), deadline.format("%H:%M"))
}

fn fmt_span(d: Duration) -> String {
    let hours = d.num_hours();
    let (days, hours) = (hours / 24, hours % 24);
    match (days, hours) {
        (0, 0) => "不到1小时".to_string(),
        (0, h) => format!("{h}小时"),
        (d, 0) => format!("{d}天"),
        (d, h) => format!("{d}天{h}小时"),
    }
}

/// `还剩2天3小时` / `已逾期5小时`.
pub fn remaining(deadline: DateTime<Utc>, now: DateTime<Utc>) -> String {
    if deadline > now {
        format!("还剩{}", fmt_span(deadline - now))
    } else {
        format!("已逾期{}", fmt_span(now - deadline))
    }
}

/// A reminder an assignee may be due: some hours before the deadline, or the overdue notice at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReminderStage {
    Before(u32),
    Overdue,
}

impl ReminderStage {
    /// Part of the reminder's idempotency key.
    pub fn key(self) -> String {
        match self {
            ReminderStage::Before(h) => format!("h{h}"),
            ReminderStage::Overdue => "overdue".to_string(),
        }
    }
}

/// The reminder due now, if any: the latest stage whose time has come. Earlier stages that were
/// never sent (the service was down, the person was on leave) are superseded, never sent in a
/// burst. Stages that fell before the assignment was made are not due at all (a task given two
/// hours before its deadline gets no "24 hours left" note).
pub fn due_reminder(
    state: AssignmentState,
    assigned_at: DateTime<Utc>,
    deadline: DateTime<Utc>,
    before_hours: &[u32],
    now: DateTime<Utc>,
) -> Option<ReminderStage> {
    if !state.awaits_assignee() {
        return None;
    }
    let mut stages: Vec<(DateTime<Utc>, ReminderStage)> = before_hours
        .iter()
        .filter(|h| **h > 0)
        .map(|h| (deadline - Duration::hours(i64::from(*h)), ReminderStage::Before(*h)))
        .collect();
    stages.push((deadline, ReminderStage::Overdue));
    stages.into_iter().filter(|(at, _)| *at <= now && *at > assigned_at).max_by_key(|(at, _)| *at).map(|(_, s)| s)
}

/// Whether an open task's unfinished assignments are due to be escalated to the office.
pub fn escalation_due(deadline: DateTime<Utc>, escalate_after_hours: u32, now: DateTime<Utc>) -> bool {
    now >= deadline + Duration::hours(i64::from(escalate_after_hours))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d).unwrap().and_hms_opt(h, min, 0).unwrap()
    }
    // Monday 2026-11-23 09:00.
    fn now() -> NaiveDateTime {
        at(2026, 11, 23, 9, 0)
    }
    fn six() -> NaiveTime {
        NaiveTime::from_hms_opt(18, 0, 0).unwrap()
    }
    fn dl(s: &str) -> Option<NaiveDateTime> {
        parse_deadline(s, now(), six())
    }

    /// A spec written as a form writes it (the platform's 布置任务) obeys the parser's rules.
    #[test]
    fn a_spec_from_a_form_is_checked_like_the_command() {
        let spec = |title: &str, targets: Vec<Target>, deadline| CreateSpec {
            title: title.into(),
            description: " 第一行 \n\n 第二行".into(),
            targets,
            deadline,
            requires_result: false,
        };
        let ok = spec(" 核对台账 ", vec![named("张三"), named("张三"), Target::AllSchools], at(2026, 11, 30, 17, 0))
            .checked(0, now())
            .unwrap();
        assert_eq!(ok.title, "核对台账");
        assert_eq!(ok.description, "第一行\n第二行");
        assert_eq!(ok.targets, vec![named("张三"), Target::AllSchools]);
        let later = at(2026, 11, 30, 17, 0);
        assert_eq!(spec("  ", vec![Target::AllSchools], later).checked(0, now()), Err(CreateError::MissingTitle));
        let long = "长".repeat(MAX_TITLE_CHARS + 1);
        assert_eq!(spec(&long, vec![Target::AllSchools], later).checked(0, now()), Err(CreateError::TitleTooLong));
        assert_eq!(spec("标题", vec![], later).checked(0, now()), Err(CreateError::MissingTargets));
        assert!(spec("标题", vec![], later).checked(1, now()).is_ok(), "a mention is a target");
        let past = spec("标题", vec![Target::AllSchools], at(2026, 11, 23, 8, 0)).checked(0, now());
        assert!(matches!(past, Err(CreateError::DeadlinePassed(_))), "{past:?}");
        let far = spec("标题", vec![Target::AllSchools], at(2028, 1, 1, 8, 0)).checked(0, now());
        assert!(matches!(far, Err(CreateError::DeadlineTooFar(_))), "{far:?}");
    }
    fn named(s: &str) -> Target {
        Target::Named(s.into())
    }

    #[test]
    fn state_machine_happy_path_and_return() {
        use AssignmentState as S;
        assert_eq!(next_state(S::Assigned, Action::Acknowledge), Ok(S::Acknowledged));
        assert_eq!(next_state(S::Acknowledged, Action::Progress), Ok(S::InProgress));
        assert_eq!(next_state(S::InProgress, Action::Submit), Ok(S::Submitted));
        assert_eq!(next_state(S::Submitted, Action::Return), Ok(S::Returned));
        assert_eq!(next_state(S::Returned, Action::Submit), Ok(S::Submitted));
        assert_eq!(next_state(S::Submitted, Action::Approve), Ok(S::Approved));
        // Submitting or reporting progress implies acknowledging.
        assert_eq!(next_state(S::Assigned, Action::Submit), Ok(S::Submitted));
        assert_eq!(next_state(S::Assigned, Action::Progress), Ok(S::InProgress));
    }

    #[test]
    fn state_machine_refusals() {
        use AssignmentState as S;
        use TransitionError as E;
        assert_eq!(next_state(S::Acknowledged, Action::Acknowledge), Err(E::AlreadyAcknowledged));
        assert_eq!(next_state(S::Submitted, Action::Acknowledge), Err(E::AwaitingReview));
        assert_eq!(next_state(S::Submitted, Action::Submit), Err(E::AwaitingReview));
        assert_eq!(next_state(S::Submitted, Action::Reassign), Err(E::AwaitingReview));
        assert_eq!(next_state(S::InProgress, Action::Approve), Err(E::NotSubmitted));
        assert_eq!(next_state(S::Returned, Action::Return), Err(E::NotSubmitted));
        assert_eq!(next_state(S::Approved, Action::Submit), Err(E::AlreadyApproved));
        assert_eq!(next_state(S::Approved, Action::Cancel), Err(E::AlreadyApproved));
        for a in [Action::Acknowledge, Action::Submit, Action::Approve, Action::Cancel, Action::Close] {
            assert_eq!(next_state(S::Cancelled, a), Err(E::Ended));
            assert_eq!(next_state(S::Closed, a), Err(E::Ended));
        }
        assert_eq!(next_state(S::Returned, Action::Cancel), Ok(S::Cancelled));
        assert_eq!(next_state(S::Submitted, Action::Close), Ok(S::Closed));
        assert_eq!(next_state(S::InProgress, Action::Reassign), Ok(S::Cancelled));
        // Every state and action gives an answer.
        for s in AssignmentState::ALL {
            assert_eq!(AssignmentState::parse_db(s.as_str()), Some(s));
            assert_eq!(s.is_final(), next_state(s, Action::Cancel).is_err());
        }
    }

    #[test]
    fn permissions() {
        use PermissionError as P;
        assert_eq!(authorize(Role::Inspector, Op::Create, false), Err(P::SupervisorsOnly));
        assert_eq!(authorize(Role::SchoolContact, Op::Review, true), Err(P::SupervisorsOnly));
        assert_eq!(authorize(Role::Inspector, Op::Manage, true), Err(P::SupervisorsOnly));
        assert_eq!(authorize(Role::Supervisor, Op::Create, false), Ok(()));
        assert_eq!(authorize(Role::Admin, Op::Review, false), Ok(()));
        assert_eq!(authorize(Role::Inspector, Op::Work, false), Err(P::NotAssignee));
        assert_eq!(authorize(Role::Supervisor, Op::Work, false), Err(P::NotAssignee));
        assert_eq!(authorize(Role::SchoolContact, Op::Work, true), Ok(()));
        assert_eq!(authorize(Role::Inspector, Op::View, false), Err(P::NotAssignee));
        assert_eq!(authorize(Role::Supervisor, Op::View, false), Ok(()));
    }

    #[test]
    fn task_refs() {
        assert_eq!(parse_task_ref("T12"), Some((12, "")));
        assert_eq!(parse_task_ref(" t3 已完成"), Some((3, "已完成")));
        assert_eq!(parse_task_ref("#T7，张三"), Some((7, "张三")));
        assert_eq!(parse_task_ref("T 8 张三"), Some((8, "张三")));
        assert_eq!(parse_task_ref("T12号"), None);
        assert_eq!(parse_task_ref("T0"), None);
        assert_eq!(parse_task_ref("T"), None);
        assert_eq!(parse_task_ref("T99999999999999"), None);
        assert_eq!(parse_task_ref("谢谢"), None);
        assert_eq!(parse_task_ref(""), None);
        assert_eq!(task_code(12), "T12");
    }

    #[test]
    fn times() {
        let t = |h, m| NaiveTime::from_hms_opt(h, m, 0);
        assert_eq!(parse_time("17:00"), t(17, 0));
        assert_eq!(parse_time("8:30"), t(8, 30));
        assert_eq!(parse_time("17点"), t(17, 0));
        assert_eq!(parse_time("17点半"), t(17, 30));
        assert_eq!(parse_time("17点30分"), t(17, 30));
        assert_eq!(parse_time("十七点"), t(17, 0));
        assert_eq!(parse_time("下午5点"), t(17, 0));
        assert_eq!(parse_time("下午五点半"), t(17, 30));
        assert_eq!(parse_time("上午10:30"), t(10, 30));
        assert_eq!(parse_time("中午12点"), t(12, 0));
        assert_eq!(parse_time("中午1点"), t(13, 0));
        assert_eq!(parse_time("晚上8点"), t(20, 0));
        assert_eq!(parse_time("17"), None);
        assert_eq!(parse_time("25:00"), None);
        assert_eq!(parse_time("17:6"), None);
        assert_eq!(parse_time("下午"), None);
        assert_eq!(parse_time("五"), None);
    }

    #[test]
    fn deadlines_in_chinese() {
        assert_eq!(dl("11月30日"), Some(at(2026, 11, 30, 18, 0)));
        assert_eq!(dl("截止 11月30日"), Some(at(2026, 11, 30, 18, 0)));
        assert_eq!(dl("11月30日17:00前"), Some(at(2026, 11, 30, 17, 0)));
        assert_eq!(dl("11月30日 17:00"), Some(at(2026, 11, 30, 17, 0)));
        assert_eq!(dl("2026-11-30 17:00"), Some(at(2026, 11, 30, 17, 0)));
        assert_eq!(dl("12.5"), Some(at(2026, 12, 5, 18, 0)));
        assert_eq!(dl("5日17点"), Some(at(2026, 11, 5, 17, 0)));
        assert_eq!(dl("明天下午5点"), Some(at(2026, 11, 24, 17, 0)));
        assert_eq!(dl("17:00"), Some(at(2026, 11, 23, 17, 0)));
        // Monday the 23rd: 周五 is this Friday, 下周五 the next, 本周一 today.
        assert_eq!(dl("周五"), Some(at(2026, 11, 27, 18, 0)));
        assert_eq!(dl("下周五"), Some(at(2026, 12, 4, 18, 0)));
        assert_eq!(dl("下星期三上午10点"), Some(at(2026, 12, 2, 10, 0)));
        assert_eq!(dl("本周一"), Some(at(2026, 11, 23, 18, 0)));
        assert_eq!(dl("下下周一"), Some(at(2026, 12, 7, 18, 0)));
        assert_eq!(dl("周日"), Some(at(2026, 11, 29, 18, 0)));
        assert_eq!(dl("月底"), Some(at(2026, 11, 30, 18, 0)));
        assert_eq!(dl("1月5日"), Some(at(2027, 1, 5, 18, 0)));
        assert_eq!(dl("下周"), None);
        assert_eq!(dl("周八"), None);
        assert_eq!(dl("尽快"), None);
        assert_eq!(dl(""), None);
        assert_eq!(dl("2月30日"), None);
        assert_eq!(dl(&"1".repeat(500)), None);
        // On a Saturday, plain 周五 is next week's.
        let sat = at(2026, 11, 28, 9, 0);
        assert_eq!(parse_deadline("周五", sat, six()), Some(at(2026, 12, 4, 18, 0)));
    }

    #[test]
    fn create_one_line_with_labels() {
        let s = parse_create("秋季开学安全检查 对象:史芳、韩伟 D005 截止:11月30日17:00 需提交材料", 0, now(), six())
            .unwrap();
        assert_eq!(s.title, "秋季开学安全检查");
        assert_eq!(s.targets, vec![named("史芳"), named("韩伟"), named("D005")]);
        assert_eq!(s.deadline, at(2026, 11, 30, 17, 0));
        assert!(s.requires_result);
        assert_eq!(s.description, "");
    }

    #[test]
    fn create_one_line_with_mentions_and_inline_deadline() {
        let s = parse_create("报送 对象:史芳、韩伟 下周五前", 0, now(), six()).unwrap();
        assert_eq!(s.targets, vec![named("史芳"), named("韩伟")]);
        assert_eq!(s.deadline, at(2026, 12, 4, 18, 0));
        let s = parse_create("报送安全台账 @史芳 @韩伟 下周五前", 0, now(), six()).unwrap();
        assert_eq!(s.title, "报送安全台账");
        assert_eq!(s.targets, vec![named("史芳"), named("韩伟")]);
        assert_eq!(s.deadline, at(2026, 12, 4, 18, 0));
        assert!(!s.requires_result);
        let s = parse_create("报送台账 截止11月30日 对象：全体督学", 0, now(), six()).unwrap();
        assert_eq!(s.title, "报送台账");
        assert_eq!(s.targets, vec![Target::AllInspectors]);
        assert_eq!(s.deadline, at(2026, 11, 30, 18, 0));
        let s = parse_create("报送台账 11月30日 17:00前 对象:全部学校 无需提交材料", 0, now(), six()).unwrap();
        assert_eq!(s.deadline, at(2026, 11, 30, 17, 0));
        assert_eq!(s.targets, vec![Target::AllSchools]);
        assert!(!s.requires_result);
        // Platform mentions count as targets.
        let s = parse_create("报送台账 截止:明天", 2, now(), six()).unwrap();
        assert!(s.targets.is_empty());
    }

    #[test]
    fn create_multi_line() {
        let text = "秋季开学安全检查\n请对责任区内学校开展开学安全检查，\n重点检查消防通道。\n对象：第一督学责任区、示例县实验小学\n截止：12月5日17:00\n需提交材料";
        let s = parse_create(text, 0, now(), six()).unwrap();
        assert_eq!(s.title, "秋季开学安全检查");
        assert_eq!(s.description, "请对责任区内学校开展开学安全检查，\n重点检查消防通道。");
        assert_eq!(s.targets, vec![named("第一督学责任区"), named("示例县实验小学")]);
        assert_eq!(s.deadline, at(2026, 12, 5, 17, 0));
        assert!(s.requires_result);
        let text = "标题：食堂检查\n要求：\n1. 查看留样\n2. 查看晨检\n对象:Z01学校\n期限:月底";
        let s = parse_create(text, 0, now(), six()).unwrap();
        assert_eq!(s.title, "食堂检查");
        assert_eq!(s.description, "1. 查看留样\n2. 查看晨检");
        assert_eq!(s.targets, vec![named("Z01学校")]);
        // Prose that happens to start with a deadline word stays prose.
        let text = "食堂检查\n截止目前仍有学校未自查\n对象:史芳\n截止:周五";
        let s = parse_create(text, 0, now(), six()).unwrap();
        assert_eq!(s.description, "截止目前仍有学校未自查");
    }

    #[test]
    fn create_errors_are_helpful() {
        let p = |s: &str| parse_create(s, 0, now(), six());
        assert_eq!(p(""), Err(CreateError::MissingTitle));
        assert_eq!(p("对象:史芳 截止:周五"), Err(CreateError::MissingTitle));
        assert_eq!(p("检查 截止:周五"), Err(CreateError::MissingTargets));
        assert_eq!(p("检查 对象:史芳"), Err(CreateError::MissingDeadline));
        assert_eq!(p("检查 对象:史芳 截止:尽快"), Err(CreateError::BadDeadline("尽快".into())));
        assert!(matches!(p("检查 对象:史芳 截止:11月20日"), Err(CreateError::DeadlinePassed(_))));
        assert!(matches!(p("检查 对象:史芳 截止:2028-01-01"), Err(CreateError::DeadlineTooFar(_))));
        assert_eq!(p(&format!("{} 对象:史芳 截止:周五", "检".repeat(61))), Err(CreateError::TitleTooLong));
        assert!(CreateError::BadDeadline("尽快".into()).to_string().contains("“尽快”"));
    }

    #[test]
    fn create_never_panics_on_junk() {
        let junk =
            ["\u{0}", "::::", "对象:", "截止:", "截止", "@", "@@ @", "前", "T1", "🙂截止:🙂", "对象：、、、", "\n\n\n"];
        for j in junk {
            let _ = parse_create(j, 0, now(), six());
            let _ = parse_deadline(j, now(), six());
            let _ = parse_task_ref(j);
        }
        let long = "截止".repeat(10_000);
        let _ = parse_create(&long, 0, now(), six());
        // Random strings over the parser's own vocabulary (a fixed-seed LCG: reproducible).
        let alphabet: Vec<char> =
            "截止至对象说明要求标题需提交材料前周五下午点半时分月日号年上中晚T@、，,:：；\n \t-./0123456789一二十"
                .chars()
                .collect();
        let mut seed: u64 = 0x2026_1122;
        for _ in 0..3000 {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let len = (seed >> 58) as usize;
            let text: String = (0..len)
                .map(|k| {
                    let r = seed.rotate_left(k as u32 * 7) >> 40;
                    alphabet[(r as usize) % alphabet.len()]
                })
                .collect();
            let _ = parse_create(&text, 0, now(), six());
            let _ = parse_deadline(&text, now(), six());
            let _ = parse_task_ref(&text);
            let _ = split_names(&text);
        }
    }

    #[test]
    fn names_and_zone_schools() {
        assert_eq!(split_names("史芳、韩伟，D005  @朱向阳"), vec!["史芳", "韩伟", "D005", "朱向阳"]);
        assert_eq!(zone_schools_prefix("第一督学责任区学校"), Some("第一督学责任区"));
        assert_eq!(zone_schools_prefix("Z01各校"), Some("Z01"));
        assert_eq!(zone_schools_prefix("第一督学责任区的全部学校"), Some("第一督学责任区"));
        assert_eq!(zone_schools_prefix("学校"), None);
        assert_eq!(zone_schools_prefix("史芳"), None);
    }

    #[test]
    fn formatting() {
        assert_eq!(fmt_deadline(at(2026, 11, 30, 17, 0), now()), "11月30日（周一）17:00");
        assert_eq!(fmt_deadline(at(2027, 1, 5, 18, 0), now()), "2027年1月5日（周二）18:00");
        let u = |d, h| Utc.with_ymd_and_hms(2026, 11, d, h, 0, 0).unwrap();
        assert_eq!(remaining(u(25, 12), u(23, 9)), "还剩2天3小时");
        assert_eq!(remaining(u(23, 12), u(23, 9)), "还剩3小时");
        assert_eq!(remaining(u(23, 9), u(24, 9)), "已逾期1天");
    }

    #[test]
    fn reminder_stages() {
        use AssignmentState as S;
        let u = |d, h| Utc.with_ymd_and_hms(2026, 11, d, h, 0, 0).unwrap();
        let deadline = u(30, 10);
        let assigned = u(23, 1);
        let due = |state, now| due_reminder(state, assigned, deadline, &[24, 2], now);
        assert_eq!(due(S::Assigned, u(28, 10)), None);
        assert_eq!(due(S::Assigned, u(29, 10)), Some(ReminderStage::Before(24)));
        assert_eq!(due(S::InProgress, u(30, 8)), Some(ReminderStage::Before(2)));
        assert_eq!(due(S::Returned, u(30, 10)), Some(ReminderStage::Overdue));
        assert_eq!(due(S::Acknowledged, u(30, 23)), Some(ReminderStage::Overdue));
        // Nothing for those who are done or waiting for review.
        assert_eq!(due(S::Submitted, u(30, 9)), None);
        assert_eq!(due(S::Approved, u(30, 11)), None);
        assert_eq!(due(S::Cancelled, u(30, 11)), None);
        // A late assignment skips the stages that were already past.
        let late = due_reminder(S::Assigned, u(30, 9), deadline, &[24, 2], u(30, 9));
        assert_eq!(late, None);
        let late = due_reminder(S::Assigned, u(29, 20), deadline, &[24, 2], u(30, 8));
        assert_eq!(late, Some(ReminderStage::Before(2)));
        assert_eq!(ReminderStage::Before(24).key(), "h24");
        assert_eq!(ReminderStage::Overdue.key(), "overdue");
        assert!(!escalation_due(deadline, 24, u(30, 23)));
        assert!(escalation_due(deadline, 24, Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap()));
        assert!(escalation_due(deadline, 0, deadline));
    }
}
