//! The chat command catalogue and parser: Chinese names with English aliases, who may use
//! each command, and where (group or private chat).

use super::role::Role;
use super::text::normalize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CommandId {
    Help,
    More,
    Bind,
    WhoAmI,
    RegisterGroup,
    IssueCode,
    School,
    Leave,
    CancelLeave,
    Queue,
    WeeklyReport,
    MyWeekly,
    WeeklyStats,
    TaskCreate,
    TaskAck,
    TaskProgress,
    TaskDone,
    TaskApprove,
    TaskReturn,
    TaskShow,
    TaskMine,
    TaskList,
    TaskCancel,
    TaskReassign,
    TaskClose,
    TaskExtend,
    ThemePublish,
    ThemeShow,
    VisitLog,
    MyProgress,
    VisitProgress,
    MonthlyReport,
    Bulletin,
    InfoSubmit,
    InfoAccept,
    InfoReject,
    InfoStatus,
    Export,
    Stats,
    ProblemRecord,
    ProblemAck,
    ProblemProgress,
    ProblemSubmit,
    ProblemClose,
    ProblemReturn,
    ProblemExtend,
    ProblemReopen,
    ProblemCancel,
    ProblemShow,
    ProblemEvidence,
    ProblemLedger,
    ProblemReconcile,
    SelfCheckSubmit,
    SelfCheckReview,
    SelfCheckConfirm,
    NoticeSend,
    NoticeStatus,
    NoticeAck,
    WeeklyStart,
    WebLogin,
    WebLogout,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Anywhere,
    GroupOnly,
    /// Replies carry private data (codes, phone numbers): refuse in groups.
    PrivateOnly,
}

/// Topics of the short help, in the order it lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    Account,
    Weekly,
    Task,
    Theme,
    Rectify,
    Notice,
    Admin,
}

impl Topic {
    pub const ALL: [Topic; 7] =
        [Topic::Account, Topic::Weekly, Topic::Task, Topic::Theme, Topic::Rectify, Topic::Notice, Topic::Admin];

    pub fn label(self) -> &'static str {
        match self {
            Topic::Account => "账号",
            Topic::Weekly => "周报",
            Topic::Task => "督办",
            Topic::Theme => "主题督导",
            Topic::Rectify => "整改",
            Topic::Notice => "通知",
            Topic::Admin => "管理",
        }
    }

    /// What people type after `帮助` to mean the topic (its label first). A topic word wins over
    /// a command of the same name: `帮助 任务` shows all task commands, not just `任务 T编号`.
    fn words(self) -> &'static [&'static str] {
        match self {
            Topic::Account => &["账号", "帐号", "身份", "绑定身份", "account"],
            Topic::Weekly => &["周报", "weekly", "report"],
            Topic::Task => &["督办", "任务", "督办任务", "task", "tasks"],
            Topic::Theme => &["主题督导", "主题", "督导", "纪实", "theme", "visit"],
            Topic::Rectify => &["整改", "问题", "台账", "自查", "rectify", "problem"],
            Topic::Notice => &["通知", "notice"],
            Topic::Admin => &["管理", "admin"],
        }
    }

    fn find(word: &str) -> Option<Topic> {
        Topic::ALL.into_iter().find(|t| t.words().iter().any(|w| w.eq_ignore_ascii_case(word)))
    }
}

#[derive(Debug)]
pub struct CommandSpec {
    pub id: CommandId,
    /// Recorded on the inbound message when the command ran (unique across the catalog).
    pub intent: &'static str,
    /// The group the short help lists the command under.
    pub topic: Topic,
    /// The first name is the one shown in help.
    pub names: &'static [&'static str],
    pub english: &'static [&'static str],
    /// Empty: anyone, bound or not.
    pub roles: &'static [Role],
    pub place: Place,
    pub usage: &'static str,
    pub summary: &'static str,
}

const SUPERVISORS: &[Role] = &[Role::Admin, Role::Supervisor];
const ALL_BOUND: &[Role] = &[Role::Admin, Role::Supervisor, Role::Inspector, Role::SchoolContact];
const STAFF: &[Role] = &[Role::Admin, Role::Supervisor, Role::Inspector];
/// The school side of a rectification item (supervisors act for department-owned items).
const SCHOOL_SIDE: &[Role] = &[Role::Admin, Role::Supervisor, Role::SchoolContact];

pub static CATALOG: &[CommandSpec] = &[
    CommandSpec {
        id: CommandId::Help,
        intent: "help",
        topic: Topic::Account,
        names: &["帮助", "菜单"],
        english: &["help", "menu"],
        roles: &[],
        place: Place::Anywhere,
        usage: "帮助",
        summary: "列出您可以使用的指令",
    },
    // Long answers go out a page at a time (app::paging); this sends the next page.
    CommandSpec {
        id: CommandId::More,
        intent: "more",
        topic: Topic::Account,
        names: &["更多", "下一页"],
        english: &["more", "next"],
        roles: &[],
        place: Place::Anywhere,
        usage: "更多",
        summary: "较长的回复分页发送时，查看下一页",
    },
    CommandSpec {
        id: CommandId::Bind,
        intent: "bind",
        topic: Topic::Account,
        names: &["绑定"],
        english: &["bind"],
        roles: &[],
        place: Place::Anywhere,
        usage: "绑定 <绑定码>",
        summary: "用督导室发放的绑定码关联您的花名册身份",
    },
    CommandSpec {
        id: CommandId::WhoAmI,
        intent: "whoami",
        topic: Topic::Account,
        names: &["我是谁", "我的信息"],
        english: &["whoami"],
        roles: ALL_BOUND,
        place: Place::Anywhere,
        usage: "我是谁",
        summary: "查看您绑定的身份和负责范围",
    },
    CommandSpec {
        id: CommandId::School,
        intent: "school",
        topic: Topic::Account,
        names: &["学校", "查学校"],
        english: &["school"],
        roles: ALL_BOUND,
        place: Place::Anywhere,
        usage: "学校 <学校名称或简称>",
        summary: "查看学校的责任区、责任督学和学校联络员",
    },
    CommandSpec {
        id: CommandId::Leave,
        intent: "leave",
        topic: Topic::Account,
        names: &["请假"],
        english: &["leave"],
        roles: STAFF,
        place: Place::Anywhere,
        usage: "请假 <开始日期> 至 <结束日期>",
        summary: "登记请假，期间不催报、不计缺报",
    },
    CommandSpec {
        id: CommandId::CancelLeave,
        intent: "cancel_leave",
        topic: Topic::Account,
        names: &["取消请假", "销假"],
        english: &["cancel-leave"],
        roles: STAFF,
        place: Place::Anywhere,
        usage: "取消请假",
        summary: "取消尚未结束的请假",
    },
    // The supervision platform (督导信息平台): a one-time login link, only in a private chat.
    CommandSpec {
        id: CommandId::WebLogin,
        intent: "web_login",
        topic: Topic::Account,
        names: &["登录", "登陆"],
        english: &["web", "login"],
        roles: ALL_BOUND,
        place: Place::PrivateOnly,
        usage: "登录",
        summary: "获取督导信息平台的一次性登录链接（10分钟内有效）",
    },
    CommandSpec {
        id: CommandId::WebLogout,
        intent: "web_logout",
        topic: Topic::Account,
        names: &["退出登录", "退出登陆"],
        english: &["logout"],
        roles: ALL_BOUND,
        place: Place::Anywhere,
        usage: "退出登录",
        summary: "结束您在督导信息平台的所有登录会话",
    },
    CommandSpec {
        id: CommandId::RegisterGroup,
        intent: "register_group",
        topic: Topic::Admin,
        names: &["登记群", "设置群"],
        english: &["register-group"],
        roles: SUPERVISORS,
        place: Place::GroupOnly,
        usage: "登记群 <督导室群|全县督学群|责任区督学群 责任区|责任区学校群 责任区|学校群 学校>",
        summary: "在本群发送，登记本群的用途",
    },
    CommandSpec {
        id: CommandId::IssueCode,
        intent: "issue_code",
        topic: Topic::Admin,
        names: &["绑定码", "发绑定码"],
        english: &["code"],
        roles: SUPERVISORS,
        place: Place::PrivateOnly,
        usage: "绑定码 <编号或姓名>",
        summary: "为花名册中的人员生成一次性绑定码",
    },
    CommandSpec {
        id: CommandId::WeeklyReport,
        intent: "weekly_command",
        topic: Topic::Weekly,
        names: &["周报", "交周报"],
        english: &["report"],
        roles: &[Role::Inspector],
        place: Place::Anywhere,
        usage: "周报 [内容]",
        summary: "提交本周周报（也可直接回复周报提示或私聊我）；只发“周报”查看格式",
    },
    CommandSpec {
        id: CommandId::MyWeekly,
        intent: "weekly_mine",
        topic: Topic::Weekly,
        names: &["我的周报"],
        english: &["my-report"],
        roles: &[Role::Inspector],
        place: Place::Anywhere,
        usage: "我的周报",
        summary: "查看本周周报的提交情况和识别结果",
    },
    CommandSpec {
        id: CommandId::WeeklyStart,
        intent: "weekly_start",
        topic: Topic::Weekly,
        names: &["发起周报", "开始周报"],
        english: &["start-report"],
        roles: SUPERVISORS,
        place: Place::Anywhere,
        usage: "发起周报",
        summary: "立即发起本周周报收集（与定时提示相同，本周定时提示不再重复）",
    },
    CommandSpec {
        id: CommandId::WeeklyStats,
        intent: "weekly_stats",
        topic: Topic::Weekly,
        names: &["周报统计"],
        english: &["report-stats"],
        roles: SUPERVISORS,
        place: Place::Anywhere,
        usage: "周报统计 [第N周]",
        summary: "查看某周周报的应报、已报、逾期、未报和问题汇总",
    },
    // Task assignment (督办); see domain::task for the create grammar.
    CommandSpec {
        id: CommandId::TaskCreate,
        intent: "task_create",
        topic: Topic::Task,
        names: &["布置任务", "新任务", "发布任务"],
        english: &["assign"],
        roles: SUPERVISORS,
        place: Place::Anywhere,
        usage: "布置任务 <标题> 对象:<姓名/编号/责任区/全体督学/学校/全部学校> 截止:<11月30日17:00> [需提交材料]",
        summary: "布置督办任务；对象也可 @某人，截止也可写“下周五前”，第二行起可写说明",
    },
    CommandSpec {
        id: CommandId::TaskAck,
        intent: "task_ack",
        topic: Topic::Task,
        names: &["收到", "已收到", "收到了", "确认收到"],
        english: &["ack"],
        roles: ALL_BOUND,
        place: Place::Anywhere,
        usage: "收到 T编号",
        summary: "确认收到任务（也可引用任务通知直接回复“收到”）",
    },
    CommandSpec {
        id: CommandId::TaskProgress,
        intent: "task_progress",
        topic: Topic::Task,
        names: &["进展", "汇报进展"],
        english: &["progress"],
        roles: ALL_BOUND,
        place: Place::Anywhere,
        usage: "进展 T编号 <办理情况>",
        summary: "报告任务办理进展",
    },
    CommandSpec {
        id: CommandId::TaskDone,
        intent: "task_done",
        topic: Topic::Task,
        names: &["完成", "已完成", "提交"],
        english: &["done", "submit"],
        roles: ALL_BOUND,
        place: Place::Anywhere,
        usage: "完成 T编号 <结果说明>",
        summary: "提交任务结果，可在同一条消息里附图片或文件",
    },
    CommandSpec {
        id: CommandId::TaskShow,
        intent: "task_show",
        topic: Topic::Task,
        names: &["任务", "查看任务", "任务详情"],
        english: &["task"],
        roles: ALL_BOUND,
        place: Place::Anywhere,
        usage: "任务 T编号",
        summary: "查看任务详情和办理进度",
    },
    CommandSpec {
        id: CommandId::TaskMine,
        intent: "task_mine",
        topic: Topic::Task,
        names: &["我的任务", "待办任务"],
        english: &["mytasks"],
        roles: ALL_BOUND,
        place: Place::Anywhere,
        usage: "我的任务",
        summary: "查看您尚未办结的任务",
    },
    CommandSpec {
        id: CommandId::TaskApprove,
        intent: "task_approve",
        topic: Topic::Task,
        names: &["通过", "审核通过", "验收通过"],
        english: &["approve"],
        roles: SUPERVISORS,
        place: Place::Anywhere,
        usage: "通过 T编号 [姓名]",
        summary: "审核通过提交的结果（不写姓名：通过全部待审核的）",
    },
    CommandSpec {
        id: CommandId::TaskReturn,
        intent: "task_return",
        topic: Topic::Task,
        names: &["退回", "驳回"],
        english: &["return", "reject"],
        roles: SUPERVISORS,
        place: Place::Anywhere,
        usage: "退回 T编号 <姓名> <原因>",
        summary: "退回提交的结果并说明原因",
    },
    CommandSpec {
        id: CommandId::TaskList,
        intent: "task_list",
        topic: Topic::Task,
        names: &["任务列表", "督办列表"],
        english: &["tasks"],
        roles: SUPERVISORS,
        place: Place::Anywhere,
        usage: "任务列表 [全部]",
        summary: "查看进行中的督办任务（加“全部”含已办结、已撤销）",
    },
    CommandSpec {
        id: CommandId::TaskReassign,
        intent: "task_reassign",
        topic: Topic::Task,
        names: &["改派", "转派"],
        english: &["reassign"],
        roles: SUPERVISORS,
        place: Place::Anywhere,
        usage: "改派 T编号 <原承办人> <新承办人>",
        summary: "把一位承办人的任务改派给他人",
    },
    CommandSpec {
        id: CommandId::TaskExtend,
        intent: "task_extend",
        topic: Topic::Task,
        names: &["延期", "任务延期"],
        english: &["extend"],
        roles: SUPERVISORS,
        place: Place::Anywhere,
        usage: "延期 T编号 <新截止时间>",
        summary: "修改截止时间并通知承办人",
    },
    CommandSpec {
        id: CommandId::TaskClose,
        intent: "task_close",
        topic: Topic::Task,
        names: &["办结", "办结任务", "结束任务"],
        english: &["close-task"],
        roles: SUPERVISORS,
        place: Place::Anywhere,
        usage: "办结 T编号",
        summary: "办结任务，未完成的不再催办",
    },
    CommandSpec {
        id: CommandId::TaskCancel,
        intent: "task_cancel",
        topic: Topic::Task,
        names: &["撤销", "撤销任务", "取消任务"],
        english: &["cancel-task"],
        roles: SUPERVISORS,
        place: Place::Anywhere,
        usage: "撤销 T编号 <原因>",
        summary: "撤销任务并通知承办人",
    },
    // Monthly themes, visit records, quotas and the month-end report; see domain::monthly.
    CommandSpec {
        id: CommandId::ThemePublish,
        intent: "theme_publish",
        topic: Topic::Theme,
        names: &["发布主题"],
        english: &["publish-theme"],
        roles: SUPERVISORS,
        place: Place::Anywhere,
        usage: "发布主题 [11月] <主题>（换行写 说明：… 指标：1.… 2.… 问题类别：6、8）",
        summary: "发布本月督导主题并通知各督学群；只写月份则按主题日历发布",
    },
    CommandSpec {
        id: CommandId::ThemeShow,
        intent: "theme_show",
        topic: Topic::Theme,
        names: &["本月主题", "督导主题"],
        english: &["theme"],
        roles: STAFF,
        place: Place::Anywhere,
        usage: "本月主题",
        summary: "查看本月督导主题和检查指标",
    },
    CommandSpec {
        id: CommandId::VisitLog,
        intent: "visit",
        topic: Topic::Theme,
        names: &["督导纪实", "记录督导"],
        english: &["visit"],
        roles: &[Role::Inspector],
        place: Place::Anywhere,
        usage: "督导纪实 <学校、日期、方式、指标、亮点、问题、处理意见>",
        summary: "记录一次学校督导（可用一段话描述）；只发“督导纪实”查看格式",
    },
    CommandSpec {
        id: CommandId::MyProgress,
        intent: "my_progress",
        topic: Topic::Theme,
        names: &["我的进度"],
        english: &["my-progress"],
        roles: &[Role::Inspector],
        place: Place::Anywhere,
        usage: "我的进度",
        summary: "查看本月督导次数与定额、各校督导次数和未督导学校",
    },
    CommandSpec {
        id: CommandId::VisitProgress,
        intent: "visit_progress",
        topic: Topic::Theme,
        names: &["督导进度"],
        english: &["visit-stats"],
        roles: SUPERVISORS,
        place: Place::Anywhere,
        usage: "督导进度 [责任区]",
        summary: "查看本月各责任区督导次数与定额、覆盖学校和主题督导",
    },
    CommandSpec {
        id: CommandId::MonthlyReport,
        intent: "monthly_report",
        topic: Topic::Theme,
        names: &["月汇报"],
        english: &["monthly"],
        roles: SUPERVISORS,
        place: Place::Anywhere,
        usage: "月汇报 [2026-11]",
        summary: "查看某月的督导月汇报（默认上月）",
    },
    // 督导通报 drafts and publication; see domain::bulletin. One command, four actions.
    CommandSpec {
        id: CommandId::Bulletin,
        intent: "bulletin",
        topic: Topic::Theme,
        names: &["通报", "督导通报"],
        english: &["bulletin"],
        roles: SUPERVISORS,
        place: Place::Anywhere,
        usage: "通报 预览|发布|重新发布 [2026-11|本月|上月] [责任区]；通报 修改 [期间] <基本情况|亮点|问题|要求|名单> <文字|恢复>",
        summary: "督导通报草稿（默认上月、全县）：预览、按节修改、发布到配置的群（每期只发一次）",
    },
    // 信息报送: items submitted upward, ≥ [info] per_month a month; see domain::info.
    CommandSpec {
        id: CommandId::InfoSubmit,
        intent: "info_submit",
        topic: Topic::Theme,
        names: &["报送", "信息报送"],
        english: &["info"],
        roles: STAFF,
        place: Place::Anywhere,
        usage: "报送 <标题> [链接] [报送至 单位]",
        summary: "登记一条向上级报送的信息（回复编号，如 X3）",
    },
    CommandSpec {
        id: CommandId::InfoAccept,
        intent: "info_accept",
        topic: Topic::Theme,
        names: &["报送采用"],
        english: &["info-accept"],
        roles: SUPERVISORS,
        place: Place::Anywhere,
        usage: "报送采用 X3 [备注]",
        summary: "记下报送的信息已被采用",
    },
    CommandSpec {
        id: CommandId::InfoReject,
        intent: "info_reject",
        topic: Topic::Theme,
        names: &["报送未采用"],
        english: &["info-reject"],
        roles: SUPERVISORS,
        place: Place::Anywhere,
        usage: "报送未采用 X3 [备注]",
        summary: "记下报送的信息未被采用",
    },
    CommandSpec {
        id: CommandId::InfoStatus,
        intent: "info_status",
        topic: Topic::Theme,
        names: &["报送情况"],
        english: &["info-status"],
        roles: SUPERVISORS,
        place: Place::Anywhere,
        usage: "报送情况 [2026-11|本月|上月]",
        summary: "查看某月信息报送条数与每月要求、各条信息及采用情况（默认本月）",
    },
    // Workbooks (.xlsx) of the statistics, sent as a file; see crate::export. Private: a
    // workbook names people and schools.
    CommandSpec {
        id: CommandId::Export,
        intent: "export",
        topic: Topic::Admin,
        names: &["导出"],
        english: &["export"],
        roles: SUPERVISORS,
        place: Place::PrivateOnly,
        usage: "导出 <周报|纪实|覆盖|整改台账|督办|月汇报|对账> [期间] [全县|责任区|督学]",
        summary: "生成统计表格（.xlsx）并以文件发给你（默认本月、全县；月汇报默认上月）",
    },
    // Figures as text plus a chart image where the channel shows images; see crate::charts.
    // By zone at most, so it may be asked in a group.
    CommandSpec {
        id: CommandId::Stats,
        intent: "stats_chart",
        topic: Topic::Admin,
        names: &["统计"],
        english: &["stats"],
        roles: SUPERVISORS,
        place: Place::Anywhere,
        usage: "统计 <周报|纪实|整改|督办> [期间] [全县|责任区|督学]",
        summary: "查看统计数字并附统计图（能发图片的渠道）；默认本月、全县，整改默认近六个月",
    },
    // Problem list and rectification ledger (整改台账); see domain::rectify. "收到/进展/完成/退回/
    // 延期/撤销/任务" followed by a W-id are routed to these too.
    CommandSpec {
        id: CommandId::ProblemRecord,
        intent: "problem_record",
        topic: Topic::Rectify,
        names: &["记问题", "登记问题"],
        english: &["problem"],
        roles: STAFF,
        place: Place::Anywhere,
        usage: "记问题 <学校> <类别> [程度] <问题> [期限:12月5日]",
        summary: "登记问题并通知学校整改",
    },
    CommandSpec {
        id: CommandId::ProblemAck,
        intent: "problem_ack",
        topic: Topic::Rectify,
        names: &["收到整改"],
        english: &["rectify-ack"],
        roles: SCHOOL_SIDE,
        place: Place::Anywhere,
        usage: "收到 W编号",
        summary: "学校确认整改通知",
    },
    CommandSpec {
        id: CommandId::ProblemProgress,
        intent: "problem_progress",
        topic: Topic::Rectify,
        names: &["整改进展"],
        english: &["rectify-progress"],
        roles: SCHOOL_SIDE,
        place: Place::Anywhere,
        usage: "进展 W编号 <情况>",
        summary: "学校报告整改进展",
    },
    CommandSpec {
        id: CommandId::ProblemSubmit,
        intent: "problem_submit",
        topic: Topic::Rectify,
        names: &["整改完成", "提交整改"],
        english: &["rectify-done"],
        roles: SCHOOL_SIDE,
        place: Place::Anywhere,
        usage: "完成 W编号 <情况>（附照片）",
        summary: "学校提交整改结果",
    },
    CommandSpec {
        id: CommandId::ProblemClose,
        intent: "problem_close",
        topic: Topic::Rectify,
        names: &["销号", "核查销号"],
        english: &["verify"],
        roles: STAFF,
        place: Place::Anywhere,
        usage: "销号 W编号",
        summary: "核查通过，销号",
    },
    CommandSpec {
        id: CommandId::ProblemReturn,
        intent: "problem_return",
        topic: Topic::Rectify,
        names: &["退回整改"],
        english: &["rectify-return"],
        roles: STAFF,
        place: Place::Anywhere,
        usage: "退回 W编号 <原因>",
        summary: "核查未通过，退回",
    },
    CommandSpec {
        id: CommandId::ProblemExtend,
        intent: "problem_extend",
        topic: Topic::Rectify,
        names: &["整改延期"],
        english: &["rectify-extend"],
        roles: STAFF,
        place: Place::Anywhere,
        usage: "延期 W编号 <新期限> <原因>",
        summary: "延长整改期限",
    },
    CommandSpec {
        id: CommandId::ProblemReopen,
        intent: "problem_reopen",
        topic: Topic::Rectify,
        names: &["回头看"],
        english: &["reopen"],
        roles: STAFF,
        place: Place::Anywhere,
        usage: "回头看 W编号",
        summary: "复查反弹，重开问题",
    },
    CommandSpec {
        id: CommandId::ProblemCancel,
        intent: "problem_cancel",
        topic: Topic::Rectify,
        names: &["撤销问题"],
        english: &["cancel-problem"],
        roles: SUPERVISORS,
        place: Place::Anywhere,
        usage: "撤销问题 W编号 <原因>",
        summary: "撤销误登问题",
    },
    CommandSpec {
        id: CommandId::ProblemShow,
        intent: "problem_show",
        topic: Topic::Rectify,
        names: &["查问题", "问题详情"],
        english: &["show-problem"],
        roles: ALL_BOUND,
        place: Place::Anywhere,
        usage: "查问题 W编号",
        summary: "问题详情和办理记录",
    },
    // Evidence photos go back only privately, and only to the office and the school's own
    // inspector (Actor::check_see_evidence): they show pupils and premises.
    CommandSpec {
        id: CommandId::ProblemEvidence,
        intent: "problem_evidence",
        topic: Topic::Rectify,
        names: &["查看证据", "证据", "整改照片"],
        english: &["evidence"],
        roles: STAFF,
        place: Place::PrivateOnly,
        usage: "证据 W编号 [第2页]",
        summary: "把问题的整改照片以文件发给你（督导室和该校责任督学）",
    },
    CommandSpec {
        id: CommandId::ProblemLedger,
        intent: "problem_ledger",
        topic: Topic::Rectify,
        names: &["整改台账"],
        english: &["ledger"],
        roles: ALL_BOUND,
        place: Place::Anywhere,
        usage: "整改台账 [学校/责任区]",
        summary: "在办、逾期、销号、整改率",
    },
    CommandSpec {
        id: CommandId::ProblemReconcile,
        intent: "problem_reconcile",
        topic: Topic::Rectify,
        names: &["整改对账"],
        english: &["reconcile"],
        roles: SUPERVISORS,
        place: Place::Anywhere,
        usage: "整改对账 [2026-11]",
        summary: "月末对账",
    },
    CommandSpec {
        id: CommandId::SelfCheckSubmit,
        intent: "self_check_submit",
        topic: Topic::Rectify,
        names: &["自查清单", "提交自查"],
        english: &["self-check"],
        roles: &[Role::SchoolContact],
        place: Place::Anywhere,
        usage: "自查清单 ↵1. <类别> [程度] <问题> ↵2. …",
        summary: "提交自查问题清单",
    },
    CommandSpec {
        id: CommandId::SelfCheckReview,
        intent: "self_check_review",
        topic: Topic::Rectify,
        names: &["审核自查"],
        english: &["review-self-check"],
        roles: STAFF,
        place: Place::Anywhere,
        usage: "审核自查 Z编号 通过 [删除2,3] 或 退回 <原因>",
        summary: "审核学校自查清单",
    },
    CommandSpec {
        id: CommandId::SelfCheckConfirm,
        intent: "self_check_confirm",
        topic: Topic::Rectify,
        names: &["确认自查"],
        english: &["confirm-self-check"],
        roles: SUPERVISORS,
        place: Place::Anywhere,
        usage: "确认自查 Z编号 [退回 <原因>]",
        summary: "确认自查清单，列入台账",
    },
    // Supervisor notices; see domain::notice. "收到 N编号" is routed to NoticeAck.
    CommandSpec {
        id: CommandId::NoticeSend,
        intent: "notice_send",
        topic: Topic::Notice,
        names: &["发通知", "发布通知"],
        english: &["notify"],
        roles: SUPERVISORS,
        place: Place::Anywhere,
        usage: "发通知 <对象> <内容> [需回执]",
        summary: "向人员、责任区、学校、全体督学或全部学校发通知；加“需回执”请对方回复“收到 N编号”",
    },
    CommandSpec {
        id: CommandId::NoticeStatus,
        intent: "notice_status",
        topic: Topic::Notice,
        names: &["通知情况"],
        english: &["notice"],
        roles: SUPERVISORS,
        place: Place::Anywhere,
        usage: "通知情况 N编号",
        summary: "查看通知的送达情况和回执（谁已确认、谁未确认）",
    },
    CommandSpec {
        id: CommandId::NoticeAck,
        intent: "notice_ack",
        topic: Topic::Notice,
        names: &["收到通知"],
        english: &["notice-ack"],
        roles: ALL_BOUND,
        place: Place::Anywhere,
        usage: "收到 N编号",
        summary: "确认收到需回执的通知（也可引用通知直接回复“收到”）",
    },
    CommandSpec {
        id: CommandId::Queue,
        intent: "queue",
        topic: Topic::Admin,
        names: &["发送队列", "队列"],
        english: &["queue"],
        roles: &[Role::Admin],
        place: Place::Anywhere,
        usage: "发送队列",
        summary: "查看待发送、失败和无法送达的消息数量",
    },
];

impl CommandSpec {
    pub fn get(id: CommandId) -> &'static CommandSpec {
        // Every id has exactly one catalogue entry (checked by a test).
        CATALOG.iter().find(|c| c.id == id).unwrap_or(&CATALOG[0])
    }

    pub fn allowed(&self, role: Option<Role>) -> bool {
        self.roles.is_empty() || role.is_some_and(|r| self.roles.contains(&r))
    }

    /// Commands that only read — statistics, reports, exports, charts — and may read a great
    /// deal: they are answered on a read snapshot outside the write transaction, so a
    /// province's 导出 never holds up anyone's 绑定 (see `App::answer_deferred`).
    pub fn reads_only(&self) -> bool {
        matches!(
            self.id,
            CommandId::WeeklyStats
                | CommandId::MyProgress
                | CommandId::VisitProgress
                | CommandId::MonthlyReport
                | CommandId::InfoStatus
                | CommandId::Export
                | CommandId::Stats
                | CommandId::ProblemLedger
                | CommandId::ProblemReconcile
        )
    }
}

/// A recognised command and the rest of the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedCommand {
    pub id: CommandId,
    pub args: String,
}

/// A command name must be followed by the end, a space, punctuation, or an ASCII
/// letter/digit (so `收到T12` works) — never by more Chinese text, so chatter like
/// "帮助一下" is not taken for a command.
fn boundary_ok(rest: &str) -> bool {
    match rest.chars().next() {
        None => true,
        Some(c) => c.is_whitespace() || c.is_ascii_alphanumeric() || ":：,，、.。!！?？#<([【".contains(c),
    }
}

/// Parses a command at the start of a message. Leading `/` or `#` is accepted.
pub fn parse(text: &str) -> Option<ParsedCommand> {
    let norm = normalize(text);
    let t = norm.trim().trim_start_matches(['/', '#', '＃']).trim_start();
    // (name length, id, the text after the name) of the longest name found.
    let mut best: Option<(usize, CommandId, &str)> = None;
    for spec in CATALOG {
        for (name, ascii) in spec.names.iter().map(|n| (*n, false)).chain(spec.english.iter().map(|n| (*n, true))) {
            let Some(rest) = strip_name(t, name, ascii) else { continue };
            // An English alias must not run into more letters: "helpme" is not "help".
            let ascii_ok = !ascii || !rest.starts_with(|c: char| c.is_ascii_alphabetic());
            if boundary_ok(rest) && ascii_ok && best.is_none_or(|(len, _, _)| name.len() > len) {
                best = Some((name.len(), spec.id, rest));
            }
        }
    }
    best.map(|(_, id, rest)| ParsedCommand {
        id,
        args: rest.trim_start_matches([':', '：', ',', '，']).trim().to_string(),
    })
}

/// The text after `name` when `t` starts with it; English aliases (ASCII) in any ASCII case.
///
/// The comparison runs on `t` itself, never on a case-mapped copy: lowercasing can change byte
/// lengths (U+212A KELVIN SIGN → "k", 3 bytes → 1), so an offset found in a copy may fall inside
/// a character of the original. `get` returns `None` off a char boundary.
fn strip_name<'a>(t: &'a str, name: &str, ascii: bool) -> Option<&'a str> {
    if !ascii {
        return t.strip_prefix(name);
    }
    let head = t.get(..name.len())?;
    head.eq_ignore_ascii_case(name).then(|| &t[name.len()..])
}

/// The short help for a role: per topic, one line of the command names it may use. It must fit
/// one WeCom message (600 characters), so usage and summaries come only on request.
pub fn help_text(role: Option<Role>, bot_name: &str) -> String {
    let mut out = format!("{bot_name}可用指令（发送“帮助 主题”或“帮助 指令”查看用法）：\n");
    for topic in Topic::ALL {
        let names: Vec<&str> = CATALOG
            .iter()
            .filter(|s| s.topic == topic && s.id != CommandId::Help && s.allowed(role))
            .map(|s| s.names[0])
            .collect();
        if !names.is_empty() {
            out.push_str(&format!("{}：{}\n", topic.label(), names.join("、")));
        }
    }
    if role.is_none() {
        out.push_str("您尚未绑定身份，请向督导室索取绑定码后发送“绑定 绑定码”。");
    } else {
        out.push_str("指令也可用英文，如 help task。");
    }
    out
}

fn detail_line(spec: &CommandSpec) -> String {
    let place = match spec.place {
        Place::GroupOnly => "（群内）",
        Place::PrivateOnly => "（私聊）",
        Place::Anywhere => "",
    };
    format!("· {}{} — {}", spec.usage, place, spec.summary)
}

/// `帮助 <主题或指令>`: the usage and summary of a topic's commands the role may use, or of one
/// command; anything else gets the list of topics.
pub fn help_detail(role: Option<Role>, query: &str) -> String {
    let q = normalize(query);
    let q = q.trim().trim_start_matches(['/', '#', '＃']).trim();
    let topics_hint = || {
        let labels: Vec<&str> = Topic::ALL
            .into_iter()
            .filter(|t| CATALOG.iter().any(|s| s.topic == *t && s.id != CommandId::Help && s.allowed(role)))
            .map(Topic::label)
            .collect();
        format!("可查看的主题：{}。也可以写指令名，例如“帮助 我的任务”；只发“帮助”查看全部指令。", labels.join("、"))
    };
    if let Some(topic) = Topic::find(q) {
        let lines: Vec<String> =
            CATALOG.iter().filter(|s| s.topic == topic && s.allowed(role)).map(detail_line).collect();
        if lines.is_empty() {
            return format!("您的身份没有“{}”方面的指令。{}", topic.label(), topics_hint());
        }
        return format!("{}指令：\n{}", topic.label(), lines.join("\n"));
    }
    let spec = CATALOG
        .iter()
        .find(|s| s.names.contains(&q) || s.english.iter().any(|e| e.eq_ignore_ascii_case(q)))
        .or_else(|| parse(q).map(|c| CommandSpec::get(c.id)));
    match spec {
        Some(spec) if spec.allowed(role) => {
            let mut out = detail_line(spec);
            let others: Vec<&str> = spec.names[1..].iter().chain(spec.english.iter()).copied().collect();
            if !others.is_empty() {
                out.push_str(&format!("\n也可以写：{}", others.join("、")));
            }
            out
        }
        Some(spec) => {
            let who = role.map_or("未绑定的账号".to_string(), |r| format!("{}身份", r.label()));
            format!("抱歉，{who}不能使用“{}”。{}", spec.names[0], topics_hint())
        }
        None => format!("没有找到“{q}”对应的指令或主题。{}", topics_hint()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Option<(CommandId, String)> {
        parse(s).map(|c| (c.id, c.args))
    }

    #[test]
    fn every_id_has_one_entry() {
        for spec in CATALOG {
            assert_eq!(CATALOG.iter().filter(|c| c.id == spec.id).count(), 1);
        }
    }

    #[test]
    fn chinese_and_english_names() {
        assert_eq!(p("帮助"), Some((CommandId::Help, String::new())));
        assert_eq!(p(" HELP "), Some((CommandId::Help, String::new())));
        assert_eq!(p("/bind 123456"), Some((CommandId::Bind, "123456".into())));
        assert_eq!(p("绑定：１２３４５６"), Some((CommandId::Bind, "123456".into())));
        assert_eq!(p("绑定123456"), Some((CommandId::Bind, "123456".into())));
        assert_eq!(p("绑定码 D001"), Some((CommandId::IssueCode, "D001".into())));
        assert_eq!(p("取消请假"), Some((CommandId::CancelLeave, String::new())));
    }

    #[test]
    fn evidence_commands() {
        assert_eq!(p("证据 W12"), Some((CommandId::ProblemEvidence, "W12".into())));
        assert_eq!(p("查看证据 W12 第2页"), Some((CommandId::ProblemEvidence, "W12 第2页".into())));
        assert_eq!(p("evidence W3"), Some((CommandId::ProblemEvidence, "W3".into())));
        assert_eq!(p("证据确凿"), None);
    }

    #[test]
    fn task_commands() {
        assert_eq!(p("收到T12"), Some((CommandId::TaskAck, "T12".into())));
        assert_eq!(p("收到了"), Some((CommandId::TaskAck, String::new())));
        assert_eq!(p("完成 T3 已检查"), Some((CommandId::TaskDone, "T3 已检查".into())));
        assert_eq!(p("任务 T1"), Some((CommandId::TaskShow, "T1".into())));
        assert_eq!(p("任务列表"), Some((CommandId::TaskList, String::new())));
        assert_eq!(p("撤销任务 T1"), Some((CommandId::TaskCancel, "T1".into())));
        assert_eq!(p("tasks"), Some((CommandId::TaskList, String::new())));
        assert_eq!(p("task T2"), Some((CommandId::TaskShow, "T2".into())));
        // Everyday phrases stay chatter.
        assert_eq!(p("收到谢谢"), None);
        assert_eq!(p("完成了"), None);
        assert_eq!(p("任务很重"), None);
        assert_eq!(p("督办事项已完成"), None);
    }

    #[test]
    fn monthly_commands() {
        assert_eq!(p("督导纪实 实验小学 推门听课"), Some((CommandId::VisitLog, "实验小学 推门听课".into())));
        assert_eq!(p("记录督导：今天去了一小"), Some((CommandId::VisitLog, "今天去了一小".into())));
        assert_eq!(p("发布主题 11月 消防"), Some((CommandId::ThemePublish, "11月 消防".into())));
        assert_eq!(p("月汇报 2026-11"), Some((CommandId::MonthlyReport, "2026-11".into())));
        assert_eq!(p("督导进度 Z01"), Some((CommandId::VisitProgress, "Z01".into())));
        assert_eq!(p("我的进度"), Some((CommandId::MyProgress, String::new())));
        assert_eq!(p("督导纪实很重要"), None);
        assert_eq!(p("通报 预览 2026-11"), Some((CommandId::Bulletin, "预览 2026-11".into())));
        assert_eq!(p("bulletin publish"), Some((CommandId::Bulletin, "publish".into())));
        assert_eq!(p("通报一下情况"), None);
        assert_eq!(p("导出 整改台账 上月"), Some((CommandId::Export, "整改台账 上月".into())));
        assert_eq!(p("统计 整改 上月"), Some((CommandId::Stats, "整改 上月".into())));
        assert_eq!(p("周报统计"), Some((CommandId::WeeklyStats, String::new())));
        assert_eq!(p("统计了本周的情况"), None);
    }

    #[test]
    fn information_commands() {
        let p = |t: &str| parse(t).map(|c| (c.id, c.args));
        assert_eq!(p("报送 简讯 报送至 省督导网"), Some((CommandId::InfoSubmit, "简讯 报送至 省督导网".into())));
        assert_eq!(p("报送采用 X3"), Some((CommandId::InfoAccept, "X3".into())));
        assert_eq!(p("报送采用X3"), Some((CommandId::InfoAccept, "X3".into())));
        assert_eq!(p("报送未采用 X3 不符合要求"), Some((CommandId::InfoReject, "X3 不符合要求".into())));
        assert_eq!(p("报送情况 2026-11"), Some((CommandId::InfoStatus, "2026-11".into())));
        assert_eq!(p("info-status"), Some((CommandId::InfoStatus, String::new())));
        assert_eq!(p("报送了吗"), None);
    }

    #[test]
    fn notice_commands() {
        assert_eq!(p("发通知 全体督学 周五开会"), Some((CommandId::NoticeSend, "全体督学 周五开会".into())));
        assert_eq!(p("通知情况 N2"), Some((CommandId::NoticeStatus, "N2".into())));
        assert_eq!(p("收到N2"), Some((CommandId::TaskAck, "N2".into())));
        assert_eq!(p("收到通知 N2"), Some((CommandId::NoticeAck, "N2".into())));
        assert_eq!(p("通知大家明天开会"), None);
        assert_eq!(p("发起周报"), Some((CommandId::WeeklyStart, String::new())));
        assert_eq!(p("周报 发起周报"), Some((CommandId::WeeklyReport, "发起周报".into())));
    }

    #[test]
    fn rectify_commands() {
        assert_eq!(p("记问题 实验小学 6 消防通道"), Some((CommandId::ProblemRecord, "实验小学 6 消防通道".into())));
        assert_eq!(p("销号W12"), Some((CommandId::ProblemClose, "W12".into())));
        assert_eq!(p("回头看 W3"), Some((CommandId::ProblemReopen, "W3".into())));
        assert_eq!(p("整改台账"), Some((CommandId::ProblemLedger, String::new())));
        assert_eq!(p("退回整改 W1 照片不清"), Some((CommandId::ProblemReturn, "W1 照片不清".into())));
        assert_eq!(p("整改完成 W1 已整改"), Some((CommandId::ProblemSubmit, "W1 已整改".into())));
        assert_eq!(p("销号工作很重要"), None);
    }

    #[test]
    fn chatter_is_not_a_command() {
        assert_eq!(p("帮助一下大家"), None);
        assert_eq!(p("helpful"), None);
        assert_eq!(p(""), None);
        assert_eq!(p("'; DROP TABLE people; --"), None);
        assert_eq!(p("🙂🙂"), None);
    }

    #[test]
    fn help_detail_by_topic_and_command() {
        let insp = help_detail(Some(Role::Inspector), "任务");
        assert!(insp.contains("收到 T编号") && !insp.contains("布置任务 <"), "{insp}");
        let sup = help_detail(Some(Role::Supervisor), "TASK");
        assert!(sup.contains("布置任务 <标题>"), "{sup}");
        let one = help_detail(Some(Role::Supervisor), "布置任务");
        assert!(one.starts_with("· 布置任务 <标题>") && one.contains("assign"), "{one}");
        let denied = help_detail(Some(Role::Inspector), "布置任务");
        assert!(denied.contains("不能使用“布置任务”"), "{denied}");
        let unknown = help_detail(Some(Role::SchoolContact), "天气");
        assert!(
            unknown.contains("没有找到“天气”") && unknown.contains("整改") && !unknown.contains("周报"),
            "{unknown}"
        );
    }

    #[test]
    fn help_lists_only_what_the_role_may_use() {
        let insp = help_text(Some(Role::Inspector), "助手");
        assert!(insp.contains("请假"));
        assert!(!insp.contains("登记群"));
        assert!(!insp.contains("发送队列"));
        let admin = help_text(Some(Role::Admin), "助手");
        assert!(admin.contains("发送队列") && admin.contains("登记群"));
        let none = help_text(None, "助手");
        assert!(none.contains("绑定") && !none.contains("学校 <"));
        let contact = help_text(Some(Role::SchoolContact), "助手");
        assert!(!contact.contains("请假"));
    }
}

#[cfg(test)]
mod help_length {
    use super::*;

    /// The short help must fit one WeCom message (600 characters); a split help reads badly.
    #[test]
    fn help_fits_one_wecom_message_for_every_role() {
        for role in Role::ALL.into_iter().map(Some).chain([None]) {
            let text = help_text(role, "督导助手");
            let n = text.chars().count();
            assert!(n <= 600, "{role:?}: {n} characters");
            // A few lines per role: one per topic, a header and a footer.
            assert!(text.lines().count() <= Topic::ALL.len() + 2, "{role:?}: {text}");
        }
    }

    /// Every command the role may use is named in its short help.
    #[test]
    fn short_help_names_every_allowed_command() {
        for role in Role::ALL.into_iter().map(Some).chain([None]) {
            let text = help_text(role, "督导助手");
            for spec in CATALOG.iter().filter(|s| s.allowed(role) && s.id != CommandId::Help) {
                assert!(text.contains(spec.names[0]), "{role:?} misses {}", spec.names[0]);
            }
        }
    }
}

/// Input whose case mapping changes byte length, and other hostile Unicode: the parser must
/// answer (usually "not a command") without panicking, and args must come from the text itself.
#[cfg(test)]
mod unicode_input {
    use super::*;

    fn p(s: &str) -> Option<(CommandId, String)> {
        parse(s).map(|c| (c.id, c.args))
    }

    #[test]
    fn kelvin_sign_is_not_the_letter_k() {
        // U+212A lowercases to ASCII "k" (3 bytes → 1): "ac\u{212A}" once crashed the service.
        assert_eq!(p("ac\u{212A}"), None);
        assert_eq!(p("ac\u{212A} T12"), None);
        assert_eq!(p("tas\u{212A} T1"), None);
        assert_eq!(p("/tas\u{212A}s"), None);
        assert_eq!(p("\u{212A}"), None);
        // The real letters, in any ASCII case, still work.
        assert_eq!(p("ACK T12"), Some((CommandId::TaskAck, "T12".into())));
        assert_eq!(p("Task T2 督导"), Some((CommandId::TaskShow, "T2 督导".into())));
    }

    #[test]
    fn case_mappings_that_change_length() {
        assert_eq!(p("\u{0130}help"), None);
        assert_eq!(p("HELP\u{1E9E}"), None);
        assert_eq!(p("HELP \u{1E9E}"), Some((CommandId::Help, "\u{1E9E}".into())));
        assert_eq!(p("bind \u{0130}\u{212A}ß"), Some((CommandId::Bind, "\u{0130}\u{212A}ß".into())));
        assert_eq!(p("帮助\u{212A}"), None);
        assert_eq!(p("帮助 \u{212A}"), Some((CommandId::Help, "\u{212A}".into())));
        assert_eq!(p("ǅ"), None);
        assert_eq!(p("ΣΊΣΥΦΟΣ"), None);
    }

    #[test]
    fn combining_marks_rtl_nul_and_replacement_char() {
        // A combining mark glued to a name makes it another word.
        assert_eq!(p("help\u{0301}"), None);
        assert_eq!(p("帮助\u{0301}"), None);
        assert_eq!(p("\u{0301}帮助"), None);
        // RTL override: not whitespace, so it is not skipped before a name.
        assert_eq!(p("\u{202E}help"), None);
        assert_eq!(p("help\u{202E}"), None);
        assert_eq!(p("绑定 \u{202E}654321"), Some((CommandId::Bind, "\u{202E}654321".into())));
        assert_eq!(p("帮助\u{200F}"), None);
        // NUL is a control character: normalised to a space.
        assert_eq!(p("help\0"), Some((CommandId::Help, String::new())));
        assert_eq!(p("\0帮助\0"), Some((CommandId::Help, String::new())));
        assert_eq!(p("绑定\0\u{FFFD}"), Some((CommandId::Bind, "\u{FFFD}".into())));
        assert_eq!(p("\u{FFFD}help"), None);
        assert_eq!(p("绑定\u{FFFD}"), None);
    }

    #[test]
    fn very_long_inputs() {
        let body = "实验小学食堂留样不全".repeat(10_000); // ~300 kB
        assert_eq!(p(&format!("周报 {body}")), Some((CommandId::WeeklyReport, body.clone())));
        assert_eq!(p(&"\u{212A}".repeat(40_000)), None);
        assert_eq!(p(&format!("ac{}", "\u{212A}".repeat(40_000))), None);
        assert_eq!(p(&"a".repeat(100_000)), None);
        assert_eq!(p(&"\u{0301}".repeat(50_000)), None);
    }
}
