//! Configuration: the embedded default, an optional TOML file, then `DUDAO_*` environment overrides.
//!
//! This module knows no chat adapter: `[channels.<section>]` stays raw here ([`ChannelSections`]),
//! and each chat adapter parses and checks its own section. `Settings::load` and
//! `Settings::from_toml_over_default`, which add those checks, are therefore defined beside the
//! adapter list in `chat::registry`; this module offers the parts ([`figment`], [`Settings::extract`]).

use chrono_tz::Tz;
use figment::providers::{Env, Format, Toml};
use figment::Figment;
use serde::Deserialize;
use std::path::{Path, PathBuf};

pub const EMBEDDED_DEFAULT: &str = include_str!("../config/default.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub service: ServiceSettings,
    pub database: DatabaseSettings,
    pub http: HttpSettings,
    pub roster: RosterSettings,
    pub calendar: CalendarSettings,
    pub outbox: OutboxSettings,
    pub scheduler: SchedulerSettings,
    #[serde(default)]
    pub schedules: Vec<ScheduleSettings>,
    #[serde(default)]
    pub groups: Vec<GroupSettings>,
    /// `[channels.<section>]`, raw: each adapter reads its own (see `chat::registry`).
    pub channels: ChannelSections,
    #[serde(default)]
    pub weekly: WeeklySettings,
    #[serde(default)]
    pub tasks: TaskSettings,
    #[serde(default)]
    pub themes: ThemeSettings,
    #[serde(default)]
    pub visits: VisitSettings,
    #[serde(default)]
    pub rectify: RectifySettings,
    #[serde(default)]
    pub retention: RetentionSettings,
    #[serde(default)]
    pub bulletin: BulletinSettings,
    #[serde(default)]
    pub info: InfoSettings,
    #[serde(default)]
    pub charts: ChartSettings,
    #[serde(default)]
    pub health: HealthSettings,
    #[serde(default)]
    pub alerts: AlertSettings,
    #[serde(default)]
    pub backup: BackupSettings,
    #[serde(default)]
    pub log: LogSettings,
    #[serde(default)]
    pub web: WebSettings,
}

/// The supervision platform (督导信息平台): pages on the HTTP listener, opened with a one-time
/// link that `登录` sends in a private chat.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebSettings {
    /// The address people open the platform at (usually a reverse proxy in front of
    /// `http.bind`), e.g. `https://dudao.example.org` or `https://edu.example.org/dudao`. Login
    /// links start with it; cookies are `Secure` when it is https. Empty: `登录` says the
    /// platform is not set up.
    pub base_url: String,
    /// How long a login link may be used (once).
    pub link_minutes: u32,
    /// A session ends after this long without a request…
    pub session_idle_minutes: u32,
    /// …and this long after the login, whatever happens.
    pub session_hours: u32,
    /// Login links one client address may open per minute.
    pub login_attempts_per_minute: u32,
    /// Take the client address from the last `X-Forwarded-For` entry (only behind a reverse
    /// proxy that sets it); otherwise the peer address is used.
    pub trust_forwarded_for: bool,
}

impl Default for WebSettings {
    fn default() -> Self {
        WebSettings {
            base_url: String::new(),
            link_minutes: 10,
            session_idle_minutes: 120,
            session_hours: 12,
            login_attempts_per_minute: 10,
            trust_forwarded_for: false,
        }
    }
}

/// Charts (统计图) sent with `统计`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChartSettings {
    /// A font file (.ttf/.otf/.ttc) with Chinese glyphs; empty: the usual install paths are
    /// searched (fonts-noto-cjk, wqy-microhei, Source Han Sans). With none, `统计` answers in
    /// text only.
    pub font: String,
}

/// `/readyz`: when the service stops calling itself ready.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthSettings {
    /// The oldest message still waiting to go out may be this old (seconds) before `/readyz`
    /// answers 503.
    pub max_backlog_age_seconds: u64,
    /// The scheduler's last tick may be this old (seconds) before `/readyz` answers 503; it
    /// ticks at least every `scheduler.max_sleep_seconds`.
    pub max_tick_age_seconds: u64,
}

impl Default for HealthSettings {
    fn default() -> Self {
        HealthSettings { max_backlog_age_seconds: 900, max_tick_age_seconds: 300 }
    }
}

/// Admin alerts: a channel down or messages dead-lettered are told to the admins through
/// another channel that still works, once per incident, and the recovery too.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertSettings {
    pub enabled: bool,
    /// How often channel health and dead letters are looked at.
    pub check_interval_ms: u64,
    /// A channel must be down this long (seconds) before it is an incident: a NapCat restart
    /// or a reconnect is not.
    pub down_after_seconds: u64,
    /// Alert on dead letters (messages given up after `outbox.max_attempts`).
    pub dead_letters: bool,
    /// Chats that get every alert besides the admins' private chats (e.g. the office's WeCom
    /// robot group, `kind = "group"`, `id` as in `[[groups]]`).
    pub chats: Vec<AlertChat>,
}

impl Default for AlertSettings {
    fn default() -> Self {
        AlertSettings {
            enabled: true,
            check_interval_ms: 5_000,
            down_after_seconds: 120,
            dead_letters: true,
            chats: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertChat {
    /// A channel's name, as in `[[groups]] channel`.
    pub channel: String,
    /// "group" (default) or "private".
    #[serde(default = "default_alert_chat_kind")]
    pub kind: String,
    pub id: String,
}

fn default_alert_chat_kind() -> String {
    "group".into()
}

/// Backups: `dudao backup`, the scheduled job `backup`, and the copy taken before migrations.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackupSettings {
    /// Where backups are written; empty: `backups/` next to the database file.
    pub dir: Option<PathBuf>,
    /// When the scheduled backup runs (cron, local time). Empty: no scheduled backup.
    pub schedule: String,
    /// Scheduled backups kept (the newest); older ones are deleted after each new one. 0: all.
    pub keep: u32,
    /// Copy the database into `dir` before applying migrations to a database that has some.
    pub before_migrate: bool,
}

impl Default for BackupSettings {
    fn default() -> Self {
        BackupSettings { dir: None, schedule: "30 2 * * *".into(), keep: 14, before_migrate: true }
    }
}

/// How log lines are written (to standard error).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One readable line per event; colours only when standard error is a terminal.
    #[default]
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    pub format: LogFormat,
    /// The filter (`tracing` directives); `DUDAO_LOG`, then `RUST_LOG`, override it.
    pub level: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings { format: LogFormat::Human, level: "dudao=info,warn".into() }
    }
}

/// 信息报送: the monthly rule and its reminder.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InfoSettings {
    /// Items the office must submit upward each month.
    pub per_month: u32,
    /// Day of the month (1–28) the supervisors are reminded when the month is short; 0: never.
    pub remind_day: u32,
    /// Local time of the reminder, "HH:MM".
    pub remind_time: String,
}

impl Default for InfoSettings {
    fn default() -> Self {
        InfoSettings { per_month: 2, remind_day: 20, remind_time: "09:00".into() }
    }
}

/// 督导通报 (bulletins): how the office writes them and where `通报 发布` sends them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BulletinSettings {
    /// The county's name in the title and the issuer ("示例县" → "示例县教育督导室").
    pub county: String,
    /// Whether 存在问题 and 通报名单 may name schools (the office's rule); otherwise counts only.
    pub name_schools: bool,
    /// Purposes of the registered groups a bulletin is published to (`登记群` / `[[groups]]`):
    /// county_inspectors, zone_inspectors, zone_schools, school, supervisors. A zone's bulletin
    /// goes only to the zone's own groups of the zone and school purposes.
    pub groups: Vec<String>,
}

impl Default for BulletinSettings {
    fn default() -> Self {
        BulletinSettings { county: "本县".into(), name_schools: false, groups: vec!["county_inspectors".into()] }
    }
}

/// How long finished rows are kept (job `retention`). The audit log is always kept.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionSettings {
    /// Days sent or cancelled outbox rows are kept; 0 keeps them forever.
    pub outbox_days: u32,
    /// Days processed inbound messages are kept (those a workflow refers to are always kept).
    pub inbound_days: u32,
    /// Days the scheduler's firing ledger rows are kept.
    pub firings_days: u32,
    /// When the sweep runs (cron, local time). Empty: no built-in schedule.
    pub sweep_cron: String,
    /// Rows deleted per statement, and statements per table per run.
    pub batch_size: u32,
    pub max_batches: u32,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        RetentionSettings {
            outbox_days: 180,
            inbound_days: 365,
            firings_days: 90,
            sweep_cron: "30 3 * * *".into(),
            batch_size: 500,
            max_batches: 200,
        }
    }
}

/// Problem list and rectification ledger (整改台账): default deadlines, the escalation ladder and
/// evidence photo downloads.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RectifySettings {
    /// Days a school gets by default, per severity (minor problems are fixed on site).
    pub general_days: u32,
    pub serious_days: u32,
    pub complex_days: u32,
    /// L0: reminders to the school this many days before the deadline (0 = on the day), each once.
    pub remind_days_before: Vec<u32>,
    /// L1: the responsible inspector follows up once overdue by this many days.
    pub inspector_after_days: u32,
    /// L2: listed for the 督导通报 once overdue by this many days, or returned this many times.
    pub bulletin_after_days: u32,
    pub bulletin_after_returns: u32,
    /// L3: listed for 约谈 (interview of the principal) once overdue by this many days.
    pub interview_after_days: u32,
    /// When the sweep (job `rectify_sweep`) runs (cron, local time). Empty: no built-in schedule.
    pub sweep_cron: String,
    pub sweep_workdays: String,
    /// Where evidence photos are stored; empty: `evidence/` next to the database file.
    pub evidence_dir: Option<PathBuf>,
    pub evidence_max_bytes: u64,
    pub evidence_timeout_secs: u64,
    /// How often the background fetcher looks for photos to download.
    pub evidence_poll_secs: u64,
    pub evidence_max_attempts: u32,
    /// Hosts (by name), addresses or networks (CIDR) photos may be fetched from although they
    /// are not public, e.g. an intranet image server. Everything else non-public is refused.
    pub evidence_allow_hosts: Vec<String>,
}

impl Default for RectifySettings {
    fn default() -> Self {
        RectifySettings {
            general_days: 7,
            serious_days: 3,
            complex_days: 30,
            remind_days_before: vec![1, 0],
            inspector_after_days: 1,
            bulletin_after_days: 7,
            bulletin_after_returns: 2,
            interview_after_days: 30,
            sweep_cron: "0 9 * * *".into(),
            sweep_workdays: "fire".into(),
            evidence_dir: None,
            evidence_max_bytes: 10 * 1024 * 1024,
            evidence_timeout_secs: 20,
            evidence_poll_secs: 10,
            evidence_max_attempts: 3,
            evidence_allow_hosts: Vec::new(),
        }
    }
}

/// Monthly themes (一月一主题).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThemeSettings {
    /// A theme calendar file; empty: the shipped config/themes/default.toml.
    pub file: Option<PathBuf>,
    /// On the first reminder day, publish the calendar's theme when no supervisor has.
    pub auto_publish: bool,
    pub reminder_days: Vec<u32>,
    pub reminder_time: String,
    /// From this day of the month on, reminders say the month is ending.
    pub last_call_day: u32,
}

impl Default for ThemeSettings {
    fn default() -> Self {
        ThemeSettings {
            file: None,
            auto_publish: true,
            reminder_days: vec![1, 15, 25],
            reminder_time: "09:00".into(),
            last_call_day: 25,
        }
    }
}

/// Visit records (督导纪实), quotas and the month-end report (月汇报).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VisitSettings {
    pub per_inspector_per_month: u32,
    pub per_school_per_year: u32,
    pub per_school_per_semester: u32,
    pub city_direct_per_month: u32,
    /// Invited inspectors (特约督学) are not held to the monthly quota nor reminded.
    pub exempt_invited: bool,
    /// An unfinished visit draft is dropped after this many hours.
    pub draft_hours: u32,
    /// When the month-end report runs; it covers the month before the firing's date.
    pub report_cron: String,
    pub report_enabled: bool,
}

impl Default for VisitSettings {
    fn default() -> Self {
        VisitSettings {
            per_inspector_per_month: 4,
            per_school_per_year: 1,
            per_school_per_semester: 2,
            city_direct_per_month: 2,
            exempt_invited: true,
            draft_hours: 6,
            report_cron: "0 8 1 * *".into(),
            report_enabled: true,
        }
    }
}

impl VisitSettings {
    pub fn quotas(&self) -> crate::domain::monthly::Quotas {
        crate::domain::monthly::Quotas {
            per_inspector_per_month: self.per_inspector_per_month,
            per_school_per_year: self.per_school_per_year,
            per_school_per_semester: self.per_school_per_semester,
            city_direct_per_month: self.city_direct_per_month,
        }
    }
}

/// Task assignment (督办): reminders, escalation and deadline defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TaskSettings {
    /// Reminders to assignees who have not finished, this many hours before the deadline (each once).
    pub remind_before_hours: Vec<u32>,
    /// Unfinished assignments are reported to the supervisors' group this many hours after the deadline.
    pub escalate_after_hours: u32,
    /// A deadline typed without a time of day ("截止 11月30日") means this time (HH:MM).
    pub default_deadline_time: String,
    /// When the reminder sweep runs (cron, local time). Empty: no built-in schedule; declare a
    /// `[[schedules]]` entry with `job = "task_reminders"` instead.
    pub sweep_cron: String,
    /// The sweep on a non-working day: fire, skip, next or previous.
    pub sweep_workdays: String,
}

impl Default for TaskSettings {
    fn default() -> Self {
        TaskSettings {
            remind_before_hours: vec![24, 2],
            escalate_after_hours: 24,
            default_deadline_time: "18:00".into(),
            sweep_cron: "*/15 8-20 * * *".into(),
            sweep_workdays: "skip".into(),
        }
    }
}

impl TaskSettings {
    pub fn default_time(&self) -> chrono::NaiveTime {
        // validate() guarantees it parses.
        chrono::NaiveTime::parse_from_str(&self.default_deadline_time, "%H:%M")
            .unwrap_or_else(|_| chrono::NaiveTime::from_hms_opt(18, 0, 0).unwrap_or_default())
    }
}

/// Weekly reports (周交流).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WeeklySettings {
    pub enabled: bool,
    /// When rounds open and the prompt goes out.
    pub prompt_cron: String,
    /// A prompt due on a non-working day: fire, skip, next or previous.
    pub prompt_workdays: String,
    /// The deadline, as the next "<weekday> HH:MM" after the prompt.
    pub deadline: String,
    /// Reminders to those who have not reported, this many hours before the deadline. The first
    /// is a gentle note in the group; later ones mention each person.
    pub reminders_before_hours: Vec<u32>,
    /// Remind privately only, never in the group.
    pub remind_private_only: bool,
    /// Where the prompt goes: "group", "private" or "both".
    pub prompt_mode: String,
    /// 特约 (invited) inspectors are not expected to report.
    pub exempt_invited: bool,
    /// Reports are still accepted (flagged late) this many days after the deadline.
    pub late_days: u32,
}

impl Default for WeeklySettings {
    fn default() -> Self {
        WeeklySettings {
            enabled: true,
            prompt_cron: "0 16 * * Fri".into(),
            prompt_workdays: "previous".into(),
            deadline: "Mon 12:00".into(),
            reminders_before_hours: vec![20, 3],
            remind_private_only: false,
            prompt_mode: "group".into(),
            exempt_invited: true,
            late_days: 4,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSettings {
    pub timezone: String,
    pub locale: String,
    pub bot_name: String,
    /// Read-only commands (statistics, reports, exports) answered at once, each on its own
    /// read snapshot outside the write path; more wait their turn.
    pub reads_in_flight: usize,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    Full,
    Normal,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub path: PathBuf,
    pub synchronous: Synchronous,
    pub busy_timeout_ms: u64,
    /// Where a copy of the database goes before migrations are applied to it: filled from
    /// `[backup]` (`before_migrate`, `dir`) when the settings are read, so every entry point
    /// that opens the database with these settings takes that copy.
    #[serde(skip)]
    pub backup_before_migrate: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    pub bind: String,
    /// The address people reach this listener at (through a reverse proxy, usually), e.g.
    /// `https://dudao.example.org`: download links for files sent over channels that cannot
    /// carry files start with it. Empty: no links; such messages say a link is unavailable.
    #[serde(default)]
    pub public_url: String,
    /// How long a one-time download link may be used.
    #[serde(default = "default_file_link_hours")]
    pub file_link_hours: u32,
}

fn default_file_link_hours() -> u32 {
    24
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosterSettings {
    pub sample_on_empty: bool,
    /// An import deactivating more than this share of the active people needs --allow-deactivate.
    pub max_deactivate_share: f64,
    pub binding_code_ttl_hours: u32,
    pub unbound_hint_quiet_hours: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarSettings {
    pub files: Vec<PathBuf>,
    /// When the administrators are told in chat that the current or next month has no holiday
    /// data (job "calendar_check"); "" disables the chat warning (the log and /healthz remain).
    pub check_cron: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxSettings {
    pub max_attempts: u32,
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
    pub lease_seconds: u64,
    pub max_in_flight: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulerSettings {
    pub max_sleep_seconds: u64,
    pub default_grace_minutes: u32,
    /// A failed job is retried after this delay, doubling each time up to `retry_max_seconds`,
    /// while the occurrence's grace window lasts.
    pub retry_base_seconds: u64,
    pub retry_max_seconds: u64,
}

/// A schedule declared in configuration (`[[schedules]]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSettings {
    pub name: String,
    /// Five fields (minute hour day month weekday) or six with seconds first.
    pub cron: String,
    pub job: String,
    #[serde(default)]
    pub enabled: Option<bool>,
    /// What to do when a firing lands on a non-working day: fire, skip, next, previous.
    #[serde(default)]
    pub workdays: Option<String>,
    /// Treat school vacations as non-working days too.
    #[serde(default)]
    pub school_days_only: Option<bool>,
    #[serde(default)]
    pub grace_minutes: Option<u32>,
    /// Job parameters, passed to the job as JSON.
    #[serde(default)]
    pub params: Option<toml::Table>,
}

/// A chat group registered in configuration (`[[groups]]`), as an alternative to `登记群` in chat.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSettings {
    /// The channel instance that reaches the group (e.g. "console", "qq").
    pub channel: String,
    pub id: String,
    pub purpose: String,
    #[serde(default)]
    pub zone: Option<String>,
    #[serde(default)]
    pub school: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

/// The `[channels]` table: section name (e.g. "onebot", "wecom_robot") → its raw value, in the
/// shape written (a table, or an array of tables for `[[channels.<section>]]`). Figment's own
/// value type, so an adapter deserializes its section exactly as the whole file is read.
#[derive(Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct ChannelSections(std::collections::BTreeMap<String, RawSection>);

impl ChannelSections {
    pub fn get(&self, section: &str) -> Option<&RawSection> {
        self.0.get(section)
    }

    /// The section names present, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

/// Names only: raw sections hold tokens, which only the adapters' `Secret`s know to hide.
impl std::fmt::Debug for ChannelSections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

/// One raw `[channels.<section>]` value.
pub type RawSection = figment::value::Value;

/// Deserializes one channel section into the adapter's settings type; an error names the key
/// in full (`channels.<section>.<key>`), as when the file is read.
pub fn parse_section<T: serde::de::DeserializeOwned>(section: &str, raw: &RawSection) -> Result<T, ConfigError> {
    T::deserialize(raw).map_err(|e| {
        let key = std::iter::once("channels").chain(std::iter::once(section)).chain(e.path.iter().map(String::as_str));
        ConfigError::new(key.collect::<Vec<_>>().join("."), e.kind.to_string())
    })
}

/// A configuration problem, naming the key at fault.
#[derive(Debug, thiserror::Error)]
#[error("配置错误 / invalid configuration: {key}: {message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError { key: key.into(), message: message.into() }
    }
}

/// Top-level sections of [`Settings`]; the first `__`-separated part of a `DUDAO_` variable
/// must be one of them for the variable to be read as a setting.
const SECTIONS: &[&str] = &[
    "service",
    "database",
    "http",
    "roster",
    "calendar",
    "outbox",
    "scheduler",
    "schedules",
    "groups",
    "channels",
    "weekly",
    "tasks",
    "themes",
    "visits",
    "rectify",
    "retention",
    "bulletin",
    "info",
    "charts",
    "health",
    "alerts",
    "backup",
    "log",
    "web",
];

/// Whether `key` (a `DUDAO_` variable without its prefix) addresses a settings section.
pub fn is_settings_env_key(key: &str) -> bool {
    let section = key.split("__").next().unwrap_or_default();
    key.contains("__") && SECTIONS.iter().any(|s| s.eq_ignore_ascii_case(section))
}

/// The embedded default, then `file` if given, then `DUDAO_*` environment variables.
pub fn figment(file: Option<&Path>) -> Result<Figment, ConfigError> {
    let mut fig = Figment::from(Toml::string(EMBEDDED_DEFAULT));
    if let Some(path) = file {
        if !path.exists() {
            return Err(ConfigError::new("--config", format!("file not found: {}", path.display())));
        }
        fig = fig.merge(Toml::file(path));
    }
    // DUDAO_CONFIG (the file) and DUDAO_LOG (the log filter) are not settings keys. Only
    // variables naming a known section (DUDAO_<SECTION>__<KEY>) are read as settings, so an
    // unrelated DUDAO_BIN does not stop start-up; a typo inside a known section still fails.
    for name in std::env::vars_os().filter_map(|(k, _)| k.into_string().ok()) {
        if let Some(rest) = name.strip_prefix("DUDAO_") {
            if !is_settings_env_key(rest) && !["CONFIG", "LOG"].contains(&rest.to_ascii_uppercase().as_str()) {
                // The name only: values may be secrets.
                tracing::warn!(variable = %name, "ignoring environment variable: not a DUDAO_<SECTION>__<KEY> setting");
            }
        }
    }
    let env =
        Env::prefixed("DUDAO_").ignore(&["config", "log"]).filter(|k| is_settings_env_key(k.as_str())).split("__");
    Ok(fig.merge(env))
}

/// TOML text layered over the embedded default (tests, tools).
pub fn figment_over_default(extra: &str) -> Figment {
    Figment::from(Toml::string(EMBEDDED_DEFAULT)).merge(Toml::string(extra))
}

impl Settings {
    /// Reads and checks everything but the channel sections, which their adapters check
    /// (`Settings::load` in `chat::registry` does both).
    pub fn extract(fig: Figment) -> Result<Settings, ConfigError> {
        let mut settings: Settings = fig.extract().map_err(|e| {
            let key = if e.path.is_empty() { "(top level)".to_string() } else { e.path.join(".") };
            ConfigError::new(key, e.kind.to_string())
        })?;
        settings.validate()?;
        settings.database.backup_before_migrate = settings.backup.before_migrate.then(|| settings.backup_dir());
        Ok(settings)
    }

    /// Where backups go: `[backup] dir`, or `backups/` next to the database file.
    pub fn backup_dir(&self) -> PathBuf {
        match &self.backup.dir {
            Some(d) if !d.as_os_str().is_empty() => d.clone(),
            _ => self.database.path.parent().map(|p| p.join("backups")).unwrap_or_else(|| PathBuf::from("backups")),
        }
    }

    pub fn timezone(&self) -> Tz {
        // validate() guarantees it parses.
        self.service.timezone.parse().unwrap_or(chrono_tz::Asia::Shanghai)
    }

    /// Checks what serde cannot: parsable cron strings, a known timezone, sane numbers.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.service.timezone.parse::<Tz>().is_err() {
            return Err(ConfigError::new(
                "service.timezone",
                format!("unknown timezone \"{}\" (expected an IANA name such as Asia/Shanghai)", self.service.timezone),
            ));
        }
        for (i, c) in self.alerts.chats.iter().enumerate() {
            if !matches!(c.kind.as_str(), "group" | "private") {
                return Err(ConfigError::new(format!("alerts.chats[{i}].kind"), "expected \"group\" or \"private\""));
            }
            if c.id.trim().is_empty() {
                return Err(ConfigError::new(format!("alerts.chats[{i}].id"), "must not be empty"));
            }
        }
        if self.alerts.check_interval_ms == 0 {
            return Err(ConfigError::new("alerts.check_interval_ms", "must be at least 1"));
        }
        if !(1..=crate::db::MAX_READERS).contains(&self.service.reads_in_flight) {
            return Err(ConfigError::new(
                "service.reads_in_flight",
                format!("must be between 1 and {} (database connections are kept for writers)", crate::db::MAX_READERS),
            ));
        }
        if !matches!(self.service.locale.as_str(), "zh-CN" | "en") {
            return Err(ConfigError::new("service.locale", "expected \"zh-CN\" or \"en\""));
        }
        if self.http.bind.parse::<std::net::SocketAddr>().is_err() {
            return Err(ConfigError::new("http.bind", format!("not a socket address: \"{}\"", self.http.bind)));
        }
        let web = self.web.base_url.trim();
        if !(web.is_empty() || web.starts_with("http://") || web.starts_with("https://")) {
            return Err(ConfigError::new(
                "web.base_url",
                format!("expected an http:// or https:// address, e.g. \"https://dudao.example.org\": \"{web}\""),
            ));
        }
        for (key, v) in [
            ("web.link_minutes", self.web.link_minutes),
            ("web.session_idle_minutes", self.web.session_idle_minutes),
            ("web.session_hours", self.web.session_hours),
            ("web.login_attempts_per_minute", self.web.login_attempts_per_minute),
        ] {
            if v == 0 {
                return Err(ConfigError::new(key, "must be at least 1"));
            }
        }
        let public = self.http.public_url.trim();
        if !(public.is_empty() || public.starts_with("http://") || public.starts_with("https://")) {
            return Err(ConfigError::new(
                "http.public_url",
                format!("expected an http:// or https:// address, e.g. \"https://dudao.example.org\": \"{public}\""),
            ));
        }
        if self.http.file_link_hours == 0 {
            return Err(ConfigError::new("http.file_link_hours", "must be at least 1"));
        }
        let share = self.roster.max_deactivate_share;
        if !(0.0..=1.0).contains(&share) {
            return Err(ConfigError::new(
                "roster.max_deactivate_share",
                format!("must be a share between 0.0 and 1.0 (0.2 = 20 %), not {share}"),
            ));
        }
        if self.outbox.max_attempts == 0 {
            return Err(ConfigError::new("outbox.max_attempts", "must be at least 1"));
        }
        if self.outbox.max_in_flight == 0 {
            return Err(ConfigError::new("outbox.max_in_flight", "must be at least 1"));
        }
        let sc = &self.scheduler;
        if sc.retry_base_seconds == 0 {
            return Err(ConfigError::new("scheduler.retry_base_seconds", "must be at least 1 second"));
        }
        if sc.retry_max_seconds < sc.retry_base_seconds {
            return Err(ConfigError::new(
                "scheduler.retry_max_seconds",
                format!("must be at least scheduler.retry_base_seconds ({})", sc.retry_base_seconds),
            ));
        }
        let rt = &self.retention;
        let cc = &self.calendar.check_cron;
        if !cc.trim().is_empty() {
            if let Err(e) = crate::cron::parse(cc) {
                return Err(ConfigError::new("calendar.check_cron", format!("\"{cc}\": {e}")));
            }
        }
        if !rt.sweep_cron.trim().is_empty() {
            if let Err(e) = crate::cron::parse(&rt.sweep_cron) {
                return Err(ConfigError::new("retention.sweep_cron", format!("\"{}\": {e}", rt.sweep_cron)));
            }
        }
        let bs = &self.backup.schedule;
        if !bs.trim().is_empty() {
            if let Err(e) = crate::cron::parse(bs) {
                return Err(ConfigError::new("backup.schedule", format!("\"{bs}\": {e}")));
            }
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            return Err(ConfigError::new("log.level", format!("not a log filter: \"{}\"", self.log.level)));
        }
        for (key, days) in
            [("outbox_days", rt.outbox_days), ("inbound_days", rt.inbound_days), ("firings_days", rt.firings_days)]
        {
            if days > 36_500 {
                return Err(ConfigError::new(
                    format!("retention.{key}"),
                    "must be at most 36500 days (0 keeps forever)",
                ));
            }
        }
        if rt.batch_size == 0 || rt.batch_size > 100_000 {
            return Err(ConfigError::new("retention.batch_size", "must be between 1 and 100000"));
        }
        if rt.max_batches == 0 {
            return Err(ConfigError::new("retention.max_batches", "must be at least 1"));
        }
        if self.outbox.lease_seconds == 0 {
            return Err(ConfigError::new("outbox.lease_seconds", "must be at least 1"));
        }
        let mut names = std::collections::HashSet::new();
        for (i, s) in self.schedules.iter().enumerate() {
            let key = |field: &str| format!("schedules[{i}].{field}");
            if !names.insert(s.name.as_str()) {
                return Err(ConfigError::new(key("name"), format!("duplicate schedule name \"{}\"", s.name)));
            }
            if let Err(e) = crate::cron::parse(&s.cron) {
                return Err(ConfigError::new(key("cron"), format!("\"{}\": {e}", s.cron)));
            }
            if let Some(w) = &s.workdays {
                if crate::cron::parse_workday_policy(w).is_none() {
                    return Err(ConfigError::new(key("workdays"), "expected fire, skip, next or previous"));
                }
            }
        }
        let w = &self.weekly;
        if let Err(e) = crate::cron::parse(&w.prompt_cron) {
            return Err(ConfigError::new("weekly.prompt_cron", format!("\"{}\": {e}", w.prompt_cron)));
        }
        if crate::cron::parse_workday_policy(&w.prompt_workdays).is_none() {
            return Err(ConfigError::new("weekly.prompt_workdays", "expected fire, skip, next or previous"));
        }
        if crate::domain::weekly::parse_deadline_spec(&w.deadline).is_none() {
            return Err(ConfigError::new("weekly.deadline", "expected \"<weekday> HH:MM\", e.g. \"Mon 12:00\""));
        }
        if !matches!(w.prompt_mode.as_str(), "group" | "private" | "both") {
            return Err(ConfigError::new("weekly.prompt_mode", "expected group, private or both"));
        }
        if self.schedules.iter().any(|s| s.name.starts_with("weekly-")) {
            return Err(ConfigError::new("schedules", "names starting with \"weekly-\" are reserved"));
        }
        let t = &self.tasks;
        if !t.sweep_cron.trim().is_empty() {
            if let Err(e) = crate::cron::parse(&t.sweep_cron) {
                return Err(ConfigError::new("tasks.sweep_cron", format!("\"{}\": {e}", t.sweep_cron)));
            }
        }
        if crate::cron::parse_workday_policy(&t.sweep_workdays).is_none() {
            return Err(ConfigError::new("tasks.sweep_workdays", "expected fire, skip, next or previous"));
        }
        if chrono::NaiveTime::parse_from_str(&t.default_deadline_time, "%H:%M").is_err() {
            return Err(ConfigError::new("tasks.default_deadline_time", "expected HH:MM, e.g. \"18:00\""));
        }
        if t.remind_before_hours.iter().any(|h| *h == 0 || *h > 24 * 30) {
            return Err(ConfigError::new("tasks.remind_before_hours", "each value must be between 1 and 720 hours"));
        }
        if t.escalate_after_hours > 24 * 30 {
            return Err(ConfigError::new("tasks.escalate_after_hours", "must be at most 720 hours"));
        }
        let r = &self.rectify;
        if !r.sweep_cron.trim().is_empty() {
            if let Err(e) = crate::cron::parse(&r.sweep_cron) {
                return Err(ConfigError::new("rectify.sweep_cron", format!("\"{}\": {e}", r.sweep_cron)));
            }
        }
        if crate::cron::parse_workday_policy(&r.sweep_workdays).is_none() {
            return Err(ConfigError::new("rectify.sweep_workdays", "expected fire, skip, next or previous"));
        }
        if [r.general_days, r.serious_days, r.complex_days].iter().any(|d| *d == 0 || *d > 365) {
            return Err(ConfigError::new("rectify.general_days", "deadline days must be between 1 and 365"));
        }
        if r.evidence_poll_secs == 0 || r.evidence_timeout_secs == 0 {
            return Err(ConfigError::new("rectify.evidence_poll_secs", "must be at least 1 second"));
        }
        for (i, e) in r.evidence_allow_hosts.iter().enumerate() {
            crate::app::evidence::AllowEntry::parse(e)
                .map_err(|m| ConfigError::new(format!("rectify.evidence_allow_hosts[{i}]"), m))?;
        }
        let th = &self.themes;
        if crate::domain::monthly::reminder_cron(&th.reminder_days, &th.reminder_time).is_none() {
            return Err(ConfigError::new(
                "themes.reminder_days",
                "expected days 1..31 (at least one) and reminder_time \"HH:MM\"",
            ));
        }
        if let Err(e) = crate::cron::parse(&self.visits.report_cron) {
            return Err(ConfigError::new("visits.report_cron", format!("\"{}\": {e}", self.visits.report_cron)));
        }
        if self.schedules.iter().any(|s| s.name.starts_with("monthly-")) {
            return Err(ConfigError::new("schedules", "names starting with \"monthly-\" are reserved"));
        }
        for (i, g) in self.groups.iter().enumerate() {
            if crate::domain::group::GroupPurpose::parse(&g.purpose).is_none() {
                return Err(ConfigError::new(
                    format!("groups[{i}].purpose"),
                    format!("unknown purpose \"{}\"", g.purpose),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_is_valid() {
        let s = Settings::from_toml_over_default("").expect("default config");
        assert_eq!(s.timezone(), chrono_tz::Asia::Shanghai);
        let console = s.channels.get("console").and_then(|c| c.find_ref("enabled")).and_then(|v| v.to_bool());
        assert_eq!(console, Some(true));
    }

    #[test]
    fn crontab_weekdays_are_validated_with_the_scheduler_translation() {
        let sched = |cron: &str| format!("[[schedules]]\nname = \"x\"\ncron = \"{cron}\"\njob = \"announce\"");
        assert!(Settings::from_toml_over_default(&sched("0 9 * * 0")).is_ok());
        assert!(Settings::from_toml_over_default(&sched("0 9 * * 7")).is_ok());
        let e = Settings::from_toml_over_default(&sched("0 9 1 * 1")).unwrap_err();
        assert_eq!(e.key, "schedules[0].cron");
        assert!(e.to_string().contains("either"), "{e}");
        let e = Settings::from_toml_over_default("[visits]\nreport_cron = \"0 0 8 1 * * 2027\"").unwrap_err();
        assert_eq!(e.key, "visits.report_cron");
    }

    #[test]
    fn web_settings_are_checked_and_reachable_from_the_environment() {
        let s = Settings::from_toml_over_default("[web]\nbase_url = \"https://d.example.org/dudao\"").unwrap();
        assert_eq!(s.web.base_url, "https://d.example.org/dudao");
        assert_eq!((s.web.link_minutes, s.web.session_idle_minutes, s.web.session_hours), (10, 120, 12));
        let e = Settings::from_toml_over_default("[web]\nbase_url = \"d.example.org\"").unwrap_err();
        assert_eq!(e.key, "web.base_url");
        let e = Settings::from_toml_over_default("[web]\nlink_minutes = 0").unwrap_err();
        assert_eq!(e.key, "web.link_minutes");
        // DUDAO_WEB__BASE_URL is read as the setting (the section is known).
        assert!(is_settings_env_key("WEB__BASE_URL"));
    }

    #[test]
    fn bad_values_name_their_key() {
        let e = Settings::from_toml_over_default("[service]\ntimezone = \"Mars/Olympus\"").unwrap_err();
        assert_eq!(e.key, "service.timezone");
        let e =
            Settings::from_toml_over_default("[[schedules]]\nname = \"x\"\ncron = \"not a cron\"\njob = \"announce\"")
                .unwrap_err();
        assert_eq!(e.key, "schedules[0].cron");
        let e = Settings::from_toml_over_default("[http]\nbind = 8080").unwrap_err();
        assert!(e.key.contains("bind"), "{e}");
        let e =
            Settings::from_toml_over_default("[http]\nbind = \"127.0.0.1:8080\"\npublic_url = \"dudao.example.org\"")
                .unwrap_err();
        assert_eq!(e.key, "http.public_url");
        let ok = Settings::from_toml_over_default(
            "[http]\nbind = \"127.0.0.1:8080\"\npublic_url = \"https://d.example.org\"",
        );
        assert_eq!(ok.expect("a public address").http.file_link_hours, 24);
    }

    #[test]
    fn health_and_alert_settings() {
        let s = Settings::extract(figment_over_default("")).unwrap();
        assert_eq!((s.health.max_backlog_age_seconds, s.health.max_tick_age_seconds), (900, 300));
        assert!(s.alerts.enabled && s.alerts.dead_letters && s.alerts.chats.is_empty());
        assert_eq!((s.alerts.check_interval_ms, s.alerts.down_after_seconds), (5000, 120));
        let s = Settings::extract(figment_over_default(
            "[alerts]\nchats = [{ channel = \"督导室机器人\", id = \"督导室机器人\" }]\n",
        ))
        .unwrap();
        assert_eq!(s.alerts.chats[0].kind, "group");
        let e = Settings::extract(figment_over_default(
            "[alerts]\nchats = [{ channel = \"qq\", kind = \"群\", id = \"1\" }]\n",
        ))
        .unwrap_err();
        assert_eq!(e.key, "alerts.chats[0].kind");
        let e = Settings::extract(figment_over_default("[alerts]\ncheck_interval_ms = 0\n")).unwrap_err();
        assert_eq!(e.key, "alerts.check_interval_ms");
        // Both sections can be set from the environment.
        assert!(is_settings_env_key("ALERTS__DOWN_AFTER_SECONDS"));
        assert!(is_settings_env_key("HEALTH__MAX_BACKLOG_AGE_SECONDS"));
    }

    /// Adapters own their settings: configuration names none of them, so `chat` may depend on
    /// `config` and not the other way round.
    #[test]
    fn config_does_not_import_the_chat_adapters() {
        let source = include_str!("config.rs");
        assert!(!source.contains(concat!("crate::", "chat")));
        assert!(!source.contains(concat!("super::", "chat")));
    }
}
