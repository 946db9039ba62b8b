//! Log output: to standard error, human-readable or JSON (`[log] format`), timestamps in RFC 3339
//! with the offset of the service's time zone, colours only when standard error is a terminal
//! (never in a file or the journal). The filter is `DUDAO_LOG`, else `RUST_LOG`, else
//! `[log] level`.

use crate::config::{LogFormat, LogSettings};
use chrono::SecondsFormat;
use std::io::IsTerminal;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::EnvFilter;

/// `2026-12-02T16:30:05.123+08:00`: local to the configured zone, and unambiguous.
#[derive(Debug, Clone, Copy)]
pub struct ZonedTime(pub chrono_tz::Tz);

impl FormatTime for ZonedTime {
    fn format_time(&self, w: &mut Writer<'_>) -> std::fmt::Result {
        let now = chrono::Utc::now().with_timezone(&self.0);
        w.write_str(&now.to_rfc3339_opts(SecondsFormat::Millis, false))
    }
}

/// The filter: the first of `DUDAO_LOG` and `RUST_LOG` that is set and valid, else `level`.
pub fn filter(level: &str) -> EnvFilter {
    for var in ["DUDAO_LOG", "RUST_LOG"] {
        if let Ok(f) = EnvFilter::try_from_env(var) {
            return f;
        }
    }
    EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new(LogSettings::default().level))
}

/// Installs the global subscriber. Called once, first thing; a second call does nothing.
pub fn init(settings: &LogSettings, tz: chrono_tz::Tz) {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter(&settings.level))
        .with_timer(ZonedTime(tz))
        .with_writer(std::io::stderr);
    let result = match settings.format {
        LogFormat::Human => {
            let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            builder.with_ansi(ansi).try_init()
        }
        LogFormat::Json => builder.json().with_ansi(false).flatten_event(true).try_init(),
    };
    // Already installed (a test harness, a second call): keep the first.
    let _ = result;
}
