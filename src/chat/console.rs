//! The built-in console channel: a person at the terminal (or a piped script) speaks as any
//! chat account, in any group or privately. Outgoing messages are printed with their target.
//!
//! Line format (full-width `：` also accepted):
//!   `<account>: <text>`            a private message from <account>
//!   `<account>@<group>: <text>`    a message from <account> in group <group>
//!   `[<id>] <account>...`          the same with an explicit message id (to replay a delivery)
//! In a group, text starting with `@<bot name>` is addressed to the bot; text starting with
//! `>><message id> ` quotes an earlier message. Blank lines and lines starting with `#` are skipped.

use super::channel::{Capabilities, Channel, ChannelContext, MentionSupport, SendError, SendReceipt};
use super::model::{plain_text, Attachment, ChatKind, ChatRef, InboundMessage, OutboundMessage, Segment, UserRef};
use super::registry::{Built, Configured, Factory};
use crate::config::{parse_section, ConfigError, RawSection, Settings};
use crate::domain::files::safe_file_name;
use async_trait::async_trait;
use chrono::Utc;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

pub const PLATFORM: &str = "console";

/// The console writes files to a local directory: the bound only keeps a runaway export from
/// filling the disk.
const CONSOLE_MAX_FILE_BYTES: u64 = 100 * 1024 * 1024;

type Reader = Box<dyn AsyncBufRead + Send + Unpin>;
type Writer = Box<dyn AsyncWrite + Send + Unpin>;

pub struct ConsoleChannel {
    name: String,
    bot_name: String,
    caps: Capabilities,
    input: Mutex<Option<Reader>>,
    output: Mutex<Writer>,
    sent: AtomicU64,
    /// Where files sent to the console are written.
    files_dir: Option<PathBuf>,
    /// Cancelled when the input ends.
    pub input_closed: CancellationToken,
}

/// A parsed console line.
#[derive(Debug, PartialEq, Eq)]
pub struct ConsoleLine {
    pub id: Option<String>,
    pub account: String,
    pub group: Option<String>,
    pub text: String,
}

/// Parses one input line; `None` for blanks, comments and lines without `account:`.
pub fn parse_line(line: &str) -> Option<ConsoleLine> {
    let line = line.trim_end_matches(['\r', '\n']);
    let trimmed = line.trim_start();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return None;
    }
    let (id, rest) = match trimmed.strip_prefix('[').and_then(|r| r.split_once(']')) {
        Some((id, rest)) if !id.trim().is_empty() => (Some(id.trim().to_string()), rest.trim_start()),
        _ => (None, trimmed),
    };
    let colon = rest.find([':', '：'])?;
    let (who, text) = rest.split_at(colon);
    let text = &text[text.chars().next().map_or(0, char::len_utf8)..];
    let (account, group) = match who.split_once('@') {
        Some((a, g)) => (a.trim(), Some(g.trim().to_string())),
        None => (who.trim(), None),
    };
    if account.is_empty() || group.as_deref() == Some("") {
        return None;
    }
    Some(ConsoleLine { id, account: account.to_string(), group, text: text.trim().to_string() })
}

impl ConsoleChannel {
    pub fn new(name: impl Into<String>, bot_name: impl Into<String>, input: Reader, output: Writer) -> Self {
        ConsoleChannel {
            name: name.into(),
            bot_name: bot_name.into(),
            caps: Capabilities {
                can_receive: true,
                can_push: true,
                can_send_private: true,
                mention: MentionSupport::ById,
                mention_all: true,
                max_message_chars: 2000,
                global_limits: Vec::new(),
                per_chat_limits: Vec::new(),
                // One at a time, so a transcript reads in the order things happened.
                max_concurrent_sends: 1,
                // Until a directory is given (`with_files_dir`): then files are written there.
                can_send_files: false,
                max_file_bytes: 0,
                can_send_images: false,
                max_image_bytes: 0,
            },
            input: Mutex::new(Some(input)),
            output: Mutex::new(output),
            sent: AtomicU64::new(0),
            files_dir: None,
            input_closed: CancellationToken::new(),
        }
    }

    /// Files sent to the console are written to `dir` (created when needed) and their path printed.
    pub fn with_files_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.files_dir = Some(dir.into());
        self.caps.can_send_files = true;
        self.caps.max_file_bytes = CONSOLE_MAX_FILE_BYTES;
        // Images are written there too, and their path printed.
        self.caps.can_send_images = true;
        self.caps.max_image_bytes = CONSOLE_MAX_FILE_BYTES;
        self
    }

    /// Writes a file to the files directory under a name no other send uses; returns its path.
    async fn write_file(&self, id: &str, file: &Attachment) -> Result<PathBuf, SendError> {
        let Some(dir) = &self.files_dir else {
            return Err(SendError::Permanent("控制台没有配置文件目录 (channels.console.files_dir)".into()));
        };
        let path = dir.join(format!("{id}-{}", safe_file_name(&file.name)));
        let write = async {
            tokio::fs::create_dir_all(dir).await?;
            tokio::fs::write(&path, &file.bytes[..]).await
        };
        write.await.map_err(|e| SendError::Transient(format!("无法写入文件 {}: {e}", path.display())))?;
        Ok(path)
    }

    /// The standard terminal.
    pub fn stdio(name: impl Into<String>, bot_name: impl Into<String>) -> Self {
        Self::new(
            name,
            bot_name,
            Box::new(tokio::io::BufReader::new(tokio::io::stdin())),
            Box::new(tokio::io::stdout()),
        )
    }

    /// Builds the message a console line stands for.
    pub fn to_message(&self, l: ConsoleLine, seq: u64, run: i64) -> InboundMessage {
        let mut text = l.text.as_str();
        let mut segments = Vec::new();
        let mut to_me = l.group.is_none();
        if let Some(rest) = text.strip_prefix(">>") {
            let (id, rest) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            segments.push(Segment::Reply { message_id: id.to_string() });
            // Quoting one of the bot's messages addresses the bot.
            to_me |= id.starts_with('o');
            text = rest.trim_start();
        }
        let at_bot = format!("@{}", self.bot_name);
        if let Some(rest) = text.strip_prefix(&at_bot).or_else(|| text.strip_prefix("@bot")) {
            segments.push(Segment::Mention { user_id: "bot".into(), name: self.bot_name.clone() });
            to_me = true;
            text = rest.trim_start();
        }
        segments.push(Segment::text(text));
        let chat = match &l.group {
            Some(g) => ChatRef::group(self.name.clone(), g.clone()),
            None => ChatRef::private(self.name.clone(), l.account.clone()),
        };
        InboundMessage {
            chat,
            sender: UserRef { id: l.account.clone(), display: Some(l.account.clone()) },
            platform_msg_id: l.id.unwrap_or_else(|| format!("{run}-{seq}")),
            segments,
            to_me,
            sent_at: Utc::now(),
        }
    }

    async fn print(&self, line: &str) {
        let mut out = self.output.lock().await;
        // A closed terminal is not worth crashing for; the outbox already recorded the send.
        let _ = out.write_all(line.as_bytes()).await;
        let _ = out.flush().await;
    }
}

#[async_trait]
impl Channel for ConsoleChannel {
    fn name(&self) -> &str {
        &self.name
    }

    fn platform(&self) -> &'static str {
        PLATFORM
    }

    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    async fn send(&self, msg: &OutboundMessage) -> Result<SendReceipt, SendError> {
        let n = self.sent.fetch_add(1, Ordering::SeqCst) + 1;
        let id = format!("o{}-{n}", Utc::now().timestamp_millis());
        let target = match msg.chat.kind {
            ChatKind::Group => format!("群 {}", msg.chat.id),
            ChatKind::Private => format!("私聊 {}", msg.chat.id),
        };
        let body = match &msg.attachment {
            Some(file) => {
                let path = self.write_file(&id, file).await?;
                let what = if file.inline { "图片" } else { "文件" };
                format!("[{what}] {} → {}", file.name, path.display())
            }
            None => plain_text(&msg.segments),
        };
        let body = body.trim_end().replace('\n', "\n    ");
        self.print(&format!("[{} → {target}] ({id})\n    {body}\n", self.name)).await;
        Ok(SendReceipt { platform_msg_id: Some(id) })
    }

    async fn run(self: Arc<Self>, ctx: ChannelContext) -> anyhow::Result<()> {
        let Some(mut input) = self.input.lock().await.take() else { return Ok(()) };
        let run = Utc::now().timestamp_millis();
        let mut seq = 0u64;
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let read = tokio::select! {
                r = input.read_until(b'\n', &mut buf) => r,
                _ = ctx.shutdown.cancelled() => break,
            };
            match read {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "console input failed");
                    break;
                }
            }
            seq += 1;
            // Invalid UTF-8 is kept (lossily) rather than dropped.
            let line = String::from_utf8_lossy(&buf).into_owned();
            let Some(parsed) = parse_line(&line) else {
                let t = line.trim();
                if !t.is_empty() && !t.starts_with('#') {
                    self.print("    （格式：账号: 消息内容，或 账号@群: 消息内容）\n").await;
                }
                continue;
            };
            let msg = self.to_message(parsed, seq, run);
            if let Err(e) = ctx.sink.deliver(msg).await {
                tracing::error!(error = %e, "console message could not be stored");
                self.print("    （消息未能保存，请重试）\n").await;
            }
        }
        self.input_closed.cancel();
        Ok(())
    }
}

/// `[channels.console]`.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleSettings {
    pub enabled: bool,
    pub exit_on_eof: bool,
    /// Where files sent to the console are written; empty: `files/` beside the database.
    #[serde(default)]
    pub files_dir: PathBuf,
}

/// `[channels.console]` in the registry.
pub const FACTORY: Factory = Factory { section: "console", configure };

fn configure(raw: Option<&RawSection>, settings: &Settings) -> Result<Vec<Configured>, ConfigError> {
    let Some(raw) = raw else { return Ok(Vec::new()) };
    let c: ConsoleSettings = parse_section("console", raw)?;
    if !c.enabled {
        return Ok(Vec::new());
    }
    let bot_name = settings.service.bot_name.clone();
    let files_dir = if c.files_dir.as_os_str().is_empty() {
        settings.database.path.parent().map(|p| p.join("files")).unwrap_or_else(|| PathBuf::from("files"))
    } else {
        c.files_dir.clone()
    };
    Ok(vec![Configured {
        name: "console".into(),
        name_key: "channels.console".into(),
        http_paths: Vec::new(),
        build: Box::new(move || {
            let console =
                Arc::new(ConsoleChannel::stdio("console", bot_name.clone()).with_files_dir(files_dir.clone()));
            let input_closed = c.exit_on_eof.then(|| console.input_closed.clone());
            Ok(Built { channel: console, input_closed })
        }),
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lines() {
        assert_eq!(
            parse_line("u1: 帮助"),
            Some(ConsoleLine { id: None, account: "u1".into(), group: None, text: "帮助".into() })
        );
        assert_eq!(
            parse_line("[m7] 张三@一区群：@督导助手 周报"),
            Some(ConsoleLine {
                id: Some("m7".into()),
                account: "张三".into(),
                group: Some("一区群".into()),
                text: "@督导助手 周报".into()
            })
        );
        assert_eq!(parse_line("# comment"), None);
        assert_eq!(parse_line("no colon here"), None);
        assert_eq!(parse_line(": empty account"), None);
        assert_eq!(parse_line("u@: empty group"), None);
        assert_eq!(parse_line("u: ").map(|l| l.text), Some(String::new()));
    }
}
