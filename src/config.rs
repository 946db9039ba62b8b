//! Configuration: the embedded default, an optional TOML file, then `DUDAO_*` environment overrides.

use chrono_tz::Tz;
use figment::providers::{Env, Format, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

pub const EMBEDDED_DEFAULT: &str = include_str!("../config/default.toml");

/// A secret value: never printed by `Debug` or `Display`.
#[derive(Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.trim().is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"***\"" })
    }
}

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
    pub channels: ChannelsSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSettings {
    pub timezone: String,
    pub locale: String,
    pub bot_name: String,
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
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    pub bind: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosterSettings {
    pub sample_on_empty: bool,
    pub binding_code_ttl_hours: u32,
    pub unbound_hint_quiet_hours: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarSettings {
    pub files: Vec<PathBuf>,
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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelsSettings {
    pub console: ConsoleSettings,
    /// Generic outgoing webhooks (`[[channels.webhook]]`).
    #[serde(default)]
    pub webhook: Vec<crate::chat::webhook::WebhookSettings>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleSettings {
    pub enabled: bool,
    pub exit_on_eof: bool,
}

/// A configuration problem, naming the key at fault.
#[derive(Debug, thiserror::Error)]
#[error("配置错误 / invalid configuration: {key}: {message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

impl ConfigError {
    fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError { key: key.into(), message: message.into() }
    }
}

impl Settings {
    /// Loads the embedded default, then `file` if given, then `DUDAO_*` environment variables.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        let mut fig = Figment::from(Toml::string(EMBEDDED_DEFAULT));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::new("--config", format!("file not found: {}", path.display())));
            }
            fig = fig.merge(Toml::file(path));
        }
        // DUDAO_CONFIG (the file) and DUDAO_LOG (the log filter) are not settings keys.
        Self::from_figment(fig.merge(Env::prefixed("DUDAO_").ignore(&["config", "log"]).split("__")))
    }

    /// Loads from TOML text layered over the embedded default (tests, tools).
    pub fn from_toml_over_default(extra: &str) -> Result<Settings, ConfigError> {
        Self::from_figment(Figment::from(Toml::string(EMBEDDED_DEFAULT)).merge(Toml::string(extra)))
    }

    fn from_figment(fig: Figment) -> Result<Settings, ConfigError> {
        let settings: Settings = fig.extract().map_err(|e| {
            let key = if e.path.is_empty() { "(top level)".to_string() } else { e.path.join(".") };
            ConfigError::new(key, e.kind.to_string())
        })?;
        settings.validate()?;
        Ok(settings)
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
        if !matches!(self.service.locale.as_str(), "zh-CN" | "en") {
            return Err(ConfigError::new("service.locale", "expected \"zh-CN\" or \"en\""));
        }
        if self.http.bind.parse::<std::net::SocketAddr>().is_err() {
            return Err(ConfigError::new("http.bind", format!("not a socket address: \"{}\"", self.http.bind)));
        }
        if self.outbox.max_attempts == 0 {
            return Err(ConfigError::new("outbox.max_attempts", "must be at least 1"));
        }
        if self.outbox.max_in_flight == 0 {
            return Err(ConfigError::new("outbox.max_in_flight", "must be at least 1"));
        }
        let mut names = std::collections::HashSet::new();
        for (i, s) in self.schedules.iter().enumerate() {
            let key = |field: &str| format!("schedules[{i}].{field}");
            if !names.insert(s.name.as_str()) {
                return Err(ConfigError::new(key("name"), format!("duplicate schedule name \"{}\"", s.name)));
            }
            if let Err(e) = crate::scheduler::cron::parse(&s.cron) {
                return Err(ConfigError::new(key("cron"), format!("\"{}\": {e}", s.cron)));
            }
            if let Some(w) = &s.workdays {
                if crate::scheduler::cron::parse_workday_policy(w).is_none() {
                    return Err(ConfigError::new(key("workdays"), "expected fire, skip, next or previous"));
                }
            }
        }
        for (i, w) in self.channels.webhook.iter().enumerate() {
            if reqwest::Url::parse(&w.url).is_err() {
                return Err(ConfigError::new(format!("channels.webhook[{i}].url"), format!("not a URL: \"{}\"", w.url)));
            }
            if w.name.trim().is_empty() || w.name == "console" {
                return Err(ConfigError::new(format!("channels.webhook[{i}].name"), "needs a unique name other than \"console\""));
            }
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
        assert!(s.channels.console.enabled);
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
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
