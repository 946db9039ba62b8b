//! Builds the channels enabled in configuration. A new adapter adds one block here.

use super::console::ConsoleChannel;
use super::Channel;
use crate::config::Settings;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

pub struct Enabled {
    pub channels: Vec<Arc<dyn Channel>>,
    /// Cancelled when the console's input ends and the service should stop after draining.
    pub console_eof: Option<CancellationToken>,
}

pub fn from_config(settings: &Settings) -> anyhow::Result<Enabled> {
    let mut channels: Vec<Arc<dyn Channel>> = Vec::new();
    let mut console_eof = None;
    if settings.channels.console.enabled {
        let console = Arc::new(ConsoleChannel::stdio("console", settings.service.bot_name.clone()));
        if settings.channels.console.exit_on_eof {
            console_eof = Some(console.input_closed.clone());
        }
        channels.push(console);
    }
    for w in &settings.channels.webhook {
        channels.push(Arc::new(super::webhook::WebhookChannel::new(w.clone())?));
    }
    if let Some(ob) = settings.channels.onebot.as_ref().filter(|o| o.enabled) {
        channels.push(Arc::new(super::onebot::OneBotChannel::new(ob.clone())));
    }
    if let Some(app) = settings.channels.wecom_app.as_ref().filter(|a| a.enabled) {
        channels.push(Arc::new(super::wecom::WecomAppChannel::new(app.clone())?));
    }
    for r in settings.channels.wecom_robot.iter().filter(|r| r.enabled) {
        channels.push(Arc::new(super::wecom::WecomRobotChannel::new(r.clone())?));
    }
    if let Some(tg) = settings.channels.telegram.as_ref().filter(|t| t.enabled) {
        channels.push(Arc::new(super::telegram::TelegramChannel::new(tg.clone())?));
    }
    Ok(Enabled { channels, console_eof })
}
