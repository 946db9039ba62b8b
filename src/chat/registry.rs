//! The channel adapters and how configuration becomes channels. [`FACTORIES`] is the one place
//! naming every adapter: a new channel is its module under `src/chat/` plus one line there.

use super::Channel;
use crate::config::{figment, figment_over_default, ConfigError, RawSection, Settings};
use std::path::Path;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// What an adapter gives the registry: its `[channels.<section>]` and how to read it.
pub struct Factory {
    pub section: &'static str,
    /// Parses and checks the section (`None` when absent) against the rest of the settings
    /// (`http.bind`, `[[groups]]`, …) and returns its enabled instances. Error keys are full
    /// (`channels.<section>.<key>`).
    pub configure: fn(Option<&RawSection>, &Settings) -> Result<Vec<Configured>, ConfigError>,
}

/// Every adapter, in the order channels are checked and built.
pub const FACTORIES: &[Factory] = &[
    super::console::FACTORY,
    super::webhook::FACTORY,
    super::onebot::FACTORY,
    super::wecom::app::FACTORY,
    super::wecom::robot::FACTORY,
    super::wecom::aibot::FACTORY,
    super::telegram::FACTORY,
    super::dingtalk::FACTORY,
    super::feishu::FACTORY,
];

/// Push-only group robots post to exactly one group each, so a `[[groups]]` entry registered on a
/// robot channel must name that robot's group. `robots` are the enabled robots' (name, group id);
/// `platform` names the robot kind in the error.
pub fn check_robot_groups<'a>(
    platform: &str,
    robots: impl IntoIterator<Item = (&'a str, &'a str)>,
    groups: &[crate::config::GroupSettings],
) -> Result<(), ConfigError> {
    let robots: Vec<(&str, &str)> = robots.into_iter().collect();
    for (i, g) in groups.iter().enumerate() {
        if let Some((name, group)) = robots.iter().find(|(name, _)| *name == g.channel) {
            if g.id != *group {
                return Err(ConfigError::new(
                    format!("groups[{i}].id"),
                    format!("channel \"{name}\" is a {platform} robot that posts only to group \"{group}\""),
                ));
            }
        }
    }
    Ok(())
}

/// One enabled channel instance, configured and checked, not yet built.
pub struct Configured {
    /// The channel's name and the key that sets it: groups and the outbox look channels up by
    /// name, so names must be unique.
    pub name: String,
    pub name_key: String,
    /// Routes it mounts on the shared HTTP listener, each with the key that asks for it.
    pub http_paths: Vec<(String, String)>,
    pub build: Box<dyn Fn() -> anyhow::Result<Built> + Send + Sync>,
}

pub struct Built {
    pub channel: Arc<dyn Channel>,
    /// Cancelled when the channel's input ends and the service should stop after draining.
    pub input_closed: Option<CancellationToken>,
}

impl Built {
    pub fn channel(channel: impl Channel + 'static) -> anyhow::Result<Built> {
        Ok(Built { channel: Arc::new(channel), input_closed: None })
    }
}

impl Settings {
    /// Loads the embedded default, then `file` if given, then `DUDAO_*` environment variables,
    /// and checks everything, each channel section by its adapter.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        let settings = Settings::extract(figment(file)?)?;
        configure(&settings)?;
        Ok(settings)
    }

    /// Loads from TOML text layered over the embedded default (tests, tools), checked as `load`.
    pub fn from_toml_over_default(extra: &str) -> Result<Settings, ConfigError> {
        let settings = Settings::extract(figment_over_default(extra))?;
        configure(&settings)?;
        Ok(settings)
    }
}

/// Parses and checks every channel section, then what spans channels: unique names and
/// non-overlapping HTTP routes.
pub fn configure(settings: &Settings) -> Result<Vec<Configured>, ConfigError> {
    if let Some(unknown) = settings.channels.names().find(|k| !FACTORIES.iter().any(|f| f.section == *k)) {
        let known: Vec<String> = FACTORIES.iter().map(|f| format!("`{}`", f.section)).collect();
        return Err(ConfigError::new(
            format!("channels.{unknown}"),
            format!("unknown channel section `{unknown}`, expected one of {}", known.join(", ")),
        ));
    }
    let mut all = Vec::new();
    for f in FACTORIES {
        all.extend((f.configure)(settings.channels.get(f.section), settings)?);
    }
    for (i, c) in all.iter().enumerate() {
        if all[..i].iter().any(|o| o.name == c.name) {
            return Err(ConfigError::new(
                c.name_key.clone(),
                format!("another channel is already named \"{}\"", c.name),
            ));
        }
    }
    // Routes on the one HTTP listener must not collide (axum refuses overlapping routes).
    let mut paths: Vec<(String, &str)> =
        ["/healthz", "/readyz", "/metrics"].into_iter().map(|p| ("(built in)".to_string(), p)).collect();
    paths.extend(all.iter().flat_map(|c| c.http_paths.iter().map(|(k, p)| (k.clone(), p.as_str()))));
    for (i, (key, path)) in paths.iter().enumerate() {
        if path.starts_with("/files/") {
            return Err(ConfigError::new(key.clone(), "paths under \"/files/\" are the download links' own"));
        }
        if paths[..i].iter().any(|(k, p)| k != key && p.trim_end_matches('/') == path.trim_end_matches('/')) {
            return Err(ConfigError::new(key.clone(), format!("the HTTP path \"{path}\" is already in use")));
        }
    }
    Ok(all)
}

pub struct Enabled {
    pub channels: Vec<Arc<dyn Channel>>,
    /// Cancelled when the console's input ends and the service should stop after draining.
    pub console_eof: Option<CancellationToken>,
}

pub fn from_config(settings: &Settings) -> anyhow::Result<Enabled> {
    let mut channels: Vec<Arc<dyn Channel>> = Vec::new();
    let mut console_eof = None;
    for c in configure(settings)? {
        let built = (c.build)()?;
        console_eof = console_eof.or(built.input_closed);
        channels.push(built.channel);
    }
    Ok(Enabled { channels, console_eof })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::onebot::OneBotSettings;

    #[test]
    fn unknown_sections_and_keys_are_refused_by_name() {
        let e = Settings::from_toml_over_default("[channels.qq]\nenabled = true\n").unwrap_err();
        assert_eq!(e.key, "channels.qq");
        for known in ["console", "webhook", "onebot", "wecom_app", "wecom_robot", "telegram"] {
            assert!(e.message.contains(&format!("`{known}`")), "{e}");
        }
        let e =
            Settings::from_toml_over_default("[channels.console]\nenabled = true\nexit_on_eof = true\ncolour = 1\n")
                .unwrap_err();
        assert_eq!(e.key, "channels.console.colour");
        let e = Settings::from_toml_over_default(
            "[[channels.wecom_robot]]\nname = \"督导室机器人\"\nkey = \"k\"\nformat = 3\n",
        )
        .unwrap_err();
        assert_eq!(e.key, "channels.wecom_robot.0.format");
    }

    /// The channel sections are raw values, but printing the settings must not print a token.
    #[test]
    fn settings_debug_shows_no_channel_secret() {
        let s = Settings::from_toml_over_default(
            "[channels.onebot]\nenabled = true\naccess_token = \"县局令牌-x91\"\n\
             [channels.telegram]\nenabled = true\ntoken = \"123:督导tok\"\n",
        )
        .unwrap();
        let printed = format!("{s:?}");
        assert!(!printed.contains("县局令牌-x91") && !printed.contains("督导tok"), "{printed}");
        assert!(printed.contains("onebot") && printed.contains("telegram"), "{printed}");
    }

    #[test]
    fn every_factory_has_its_own_section() {
        for (i, f) in FACTORIES.iter().enumerate() {
            assert!(FACTORIES[..i].iter().all(|o| o.section != f.section), "{}", f.section);
        }
    }

    /// Environment variables are process-wide, so the test binary runs itself for
    /// [`env_child`] with them set, and reads what that child loaded from its output.
    #[test]
    fn environment_overrides_reach_a_channel_section() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("dudao.toml");
        std::fs::write(&file, "[channels.onebot]\nenabled = true\nname = \"县督导QQ\"\n").unwrap();
        let run = |vars: &[(&str, &str)]| {
            let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
            cmd.args(["--exact", "chat::registry::tests::env_child", "--nocapture", "--test-threads=1"]);
            cmd.env("ENV_CHILD_CONFIG", &file);
            for (k, v) in vars {
                cmd.env(k, v);
            }
            let out = cmd.output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout).to_string();
            assert!(out.status.success(), "{stdout}");
            stdout.lines().find_map(|l| l.split_once("LOADED ")).map(|(_, r)| r.to_string()).expect("child ran")
        };
        let token = ("DUDAO_CHANNELS__ONEBOT__ACCESS_TOKEN", "env-t0ken");
        let chars = ("DUDAO_CHANNELS__ONEBOT__MAX_MESSAGE_CHARS", "900");
        assert_eq!(run(&[token, chars]), "name=县督导QQ token=env-t0ken chars=900");
        // A typo inside a channel section is refused, naming the key; so is a missing token.
        assert_eq!(run(&[token, ("DUDAO_CHANNELS__ONEBOT__BOGUS", "1")]), "error channels.onebot.bogus");
        assert_eq!(run(&[]), "error channels.onebot.access_token");
    }

    /// Runs only as the child of the test above.
    #[test]
    fn env_child() {
        let Some(file) = std::env::var_os("ENV_CHILD_CONFIG") else { return };
        match Settings::load(Some(Path::new(&file))) {
            Ok(s) => {
                let ob = OneBotSettings::from_settings(&s).unwrap().unwrap();
                let (name, token, chars) = (ob.name, ob.access_token.expose().to_string(), ob.max_message_chars);
                println!("LOADED name={name} token={token} chars={chars}");
            }
            Err(e) => println!("LOADED error {}", e.key),
        }
    }
}
