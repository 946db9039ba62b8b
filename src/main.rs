//! The `dudao` command line: run the service, migrate, manage the roster and the outbox.

use anyhow::Context;
use clap::{Parser, Subcommand};
use dudao::clock::{Clock, SystemClock};
use dudao::config::Settings;
use dudao::{db, outbox, roster, service, store};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "dudao", version, about = "督导助手: education supervision routine over group chats")]
struct Cli {
    /// Configuration file layered over the embedded default.
    #[arg(long, global = true, env = "DUDAO_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// WeCom self-built app tools.
    Wecom {
        #[command(subcommand)]
        cmd: WecomCmd,
    },
    /// Run the service (the console channel reads standard input when enabled). One service per
    /// database: a second one on the same database refuses to start.
    Serve,
    /// Apply database migrations and exit (copying the database first when it already has some;
    /// `[backup] before_migrate`). Refused while the service runs.
    Migrate {
        /// List the migrations this build would apply, and change nothing.
        #[arg(long)]
        check: bool,
    },
    /// Copy the database, consistently, while the service runs; the evidence folder's manifest
    /// (path, size, sha256) is written beside it as FILE.manifest.json.
    Backup {
        /// The copy to write (must not exist); default: `[backup] dir`/dudao-<date>-<time>.sqlite.
        file: Option<PathBuf>,
    },
    /// Put a backup in place of the database (the service must be stopped). The database in
    /// place is moved aside, not deleted; the evidence folder is checked against the manifest.
    Restore {
        /// A file written by `dudao backup` or the scheduled backup.
        file: PathBuf,
    },
    /// Roster: import, export, binding codes.
    Roster {
        #[command(subcommand)]
        cmd: RosterCmd,
    },
    /// Schedules: cron, next firing, and the latest occurrences recorded; `run NAME` runs one now.
    Schedules {
        #[command(subcommand)]
        cmd: Option<SchedulesCmd>,
    },
    /// Holiday calendar: import a year from the State Council notice, show what is known.
    Calendar {
        #[command(subcommand)]
        cmd: CalendarCmd,
    },
    /// The delivery queue: list, retry, cancel.
    Outbox {
        #[command(subcommand)]
        cmd: Option<OutboxCmd>,
    },
    /// Write a month's 督导通报 (bulletin) as a Word document, with the corrections made in chat.
    Bulletin {
        /// The month: 2026-11, 2026年11月, 本月 or 上月.
        #[arg(long, default_value = "上月")]
        period: String,
        /// 全县, or a zone's code or name.
        #[arg(long, default_value = "全县")]
        scope: String,
        /// The .docx file to write.
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
    },
    /// Export a workbook (.xlsx): 周报, 纪实, 覆盖, 整改台账, 督办, 月汇报 or 对账.
    Export {
        /// What to export: 周报, 纪实, 覆盖, 整改台账, 督办, 月汇报, 对账.
        kind: String,
        /// 2026-11, 2026年11月, 本月, 上月, 本周, 上周, 本学期, 2026, 2026-09-01..2026-11-30
        /// (default: this month; 月汇报: last month).
        #[arg(long, default_value = "")]
        period: String,
        /// 全县 (default), a zone or an inspector, by name or code.
        #[arg(long, default_value = "全县")]
        scope: String,
        /// Output file (default: the workbook's own name in the current directory).
        #[arg(short = 'o', long)]
        output: Option<PathBuf>,
        /// Take the figures as at this instant (RFC 3339) instead of now: reproducible exports.
        #[arg(long)]
        now: Option<chrono::DateTime<chrono::FixedOffset>>,
    },
}

#[derive(Subcommand)]
enum RosterCmd {
    /// Import a roster: one .xlsx workbook, or .csv files (one per table). All or nothing.
    Import {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Validate and print what the import would change (added, changed, deactivated,
        /// accounts unbound, zones retired); write nothing.
        #[arg(long)]
        check: bool,
        /// Accept deactivating more than `roster.max_deactivate_share` of the active people.
        #[arg(long)]
        allow_deactivate: bool,
    },
    /// Write an empty roster workbook to fill in: headers, one example row, instructions.
    Template {
        /// office: one sheet of inspectors with their 挂牌学校; full: the three tables.
        #[arg(long, value_enum, default_value = "office")]
        kind: TemplateKindArg,
        file: PathBuf,
    },
    /// Export the roster: to an .xlsx file, or to a directory of .csv files.
    Export { target: PathBuf },
    /// Issue one-time binding codes (printed here; hand them to the people concerned).
    Codes {
        /// Person codes (编号); default: every active person without a bound chat account.
        people: Vec<String>,
    },
}

#[derive(Subcommand)]
enum CalendarCmd {
    /// Check a year file (format of config/calendar/2026.toml) and store it; it replaces the
    /// shipped file of that year from the next start of the service.
    Import { file: PathBuf },
    /// Holidays, make-up working days and terms known for YEAR (default: every year).
    Show { year: Option<i32> },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum TemplateKindArg {
    Office,
    Full,
}

#[derive(Subcommand)]
enum SchedulesCmd {
    /// Run a schedule's job now, recorded as this period's occurrence so its regular firing does
    /// not repeat it (the running service sends what it queued).
    Run { name: String },
}

#[derive(Subcommand)]
enum OutboxCmd {
    /// Messages needing attention (dead, unroutable, unknown) or of a given status.
    List {
        #[arg(long)]
        status: Vec<String>,
    },
    /// Put a dead, unknown or unroutable message back in the queue.
    Retry { id: i64 },
    /// Cancel a message that has not been sent.
    Cancel { id: i64 },
}

#[derive(Subcommand)]
enum WecomCmd {
    /// Creates a group chat of the app (appchat/create) and posts a first message to it, so that
    /// WeCom shows it; prints the `[[groups]]` entry to add.
    CreateAppchat {
        /// The group's name (at most 50 characters).
        #[arg(long)]
        name: String,
        /// Member user ids, comma-separated (2 to 2000).
        #[arg(long, value_delimiter = ',')]
        users: Vec<String>,
        /// The owner's user id (else WeCom picks a member).
        #[arg(long)]
        owner: Option<String>,
        /// The chat id to use (at most 32 letters and digits; else WeCom makes one up).
        #[arg(long)]
        chatid: Option<String>,
    },
}

async fn wecom_cmd(settings: Settings, cmd: WecomCmd) -> anyhow::Result<()> {
    use dudao::chat::wecom::{WecomAppChannel, WecomAppSettings};
    use dudao::chat::{Channel, ChatRef, OutboundMessage, Segment};
    let WecomCmd::CreateAppchat { name, users, owner, chatid } = cmd;
    let Some(app) = WecomAppSettings::from_settings(&settings)? else {
        anyhow::bail!("没有启用企业微信自建应用 ([channels.wecom_app] enabled = true)");
    };
    let channel = WecomAppChannel::new(app)?;
    let users: Vec<String> = users.into_iter().map(|u| u.trim().to_string()).filter(|u| !u.is_empty()).collect();
    let chat_id = channel.create_appchat(&name, owner.as_deref(), &users, chatid.as_deref()).await?;
    let hello = format!("本群“{name}”由督导助手创建，督导通知和提醒将发到这里。");
    let chat = ChatRef::group(channel.name().to_string(), chat_id.clone());
    channel.send(&OutboundMessage::text(chat, vec![Segment::text(hello)])).await?;
    println!("已创建群聊 {chat_id}。在配置中加入：");
    println!("[[groups]]\nchannel = \"{}\"\nid = \"{chat_id}\"\npurpose = \"…\"", channel.name());
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // Logging is set up from the configuration, so the configuration is read first (when it
    // cannot be, with the defaults' logging), then read again so that what reading it warns
    // about (an ignored DUDAO_ variable) reaches the log.
    match Settings::load(cli.config.as_deref()) {
        Ok(s) => dudao::logging::init(&s.log, s.timezone()),
        Err(_) => dudao::logging::init(&Default::default(), chrono_tz::Asia::Shanghai),
    }
    let settings = Settings::load(cli.config.as_deref());
    let result = match settings {
        Ok(settings) => run(cli.command, settings).await,
        Err(e) => Err(e.into()),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("错误 / error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Serve => serve(settings).await,
        Command::Wecom { cmd } => wecom_cmd(settings, cmd).await,
        Command::Migrate { check: true } => migrate_check(&settings).await,
        Command::Migrate { check: false } => {
            let _lock = dudao::lock::InstanceLock::acquire(&settings.database.path)?;
            let pool = db::open_and_migrate(&settings.database).await?;
            pool.close().await;
            println!("数据库已是最新结构：{}", settings.database.path.display());
            Ok(())
        }
        Command::Backup { file } => backup_cmd(&settings, file).await,
        Command::Restore { file } => restore_cmd(&settings, &file),
        Command::Roster { cmd } => roster_cmd(settings, cmd).await,
        Command::Outbox { cmd } => outbox_cmd(settings, cmd).await,
        Command::Schedules { cmd: None } => schedules_cmd(settings).await,
        Command::Schedules { cmd: Some(SchedulesCmd::Run { name }) } => schedule_run(settings, &name).await,
        Command::Calendar { cmd } => calendar_cmd(settings, cmd).await,
        Command::Bulletin { period, scope, output } => bulletin_cmd(settings, &period, &scope, &output).await,
        Command::Export { kind, period, scope, output, now } => {
            let now = now.map_or_else(|| SystemClock.now(), |t| t.with_timezone(&chrono::Utc));
            export_cmd(settings, &kind, &period, &scope, output, now).await
        }
    }
}

async fn bulletin_cmd(settings: Settings, period: &str, scope: &str, output: &std::path::Path) -> anyhow::Result<()> {
    use dudao::domain::bulletin::{docx, Month};
    let tz = settings.timezone();
    let today = SystemClock.now().with_timezone(&tz).date_naive();
    let Some(month) = Month::parse(period, today) else {
        anyhow::bail!("期间“{period}”无法识别：请写 2026-11、2026年11月、本月或上月");
    };
    let pool = db::open_and_migrate(&settings.database).await?;
    let mut conn = pool.acquire().await?;
    let words: Vec<&str> = scope.split_whitespace().collect();
    let target = match dudao::app::bulletin::resolve_target(&mut conn, &words).await? {
        Ok(t) => t,
        Err(e) => anyhow::bail!("{e}"),
    };
    let bulletin = dudao::app::bulletin::draft(&mut conn, &settings, tz, month, &target, today).await?;
    drop(conn);
    pool.close().await;
    let bytes = docx::to_docx(&bulletin)?;
    std::fs::write(output, bytes).with_context(|| format!("cannot write {}", output.display()))?;
    println!("已写入 {}：{}", output.display(), bulletin.title);
    Ok(())
}

/// `dudao export KIND`: the same workbook the chat's `导出` sends.
async fn export_cmd(
    settings: Settings,
    kind: &str,
    period: &str,
    scope: &str,
    output: Option<PathBuf>,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    use dudao::export;
    let Some(kind) = export::Kind::parse(kind) else {
        anyhow::bail!("没有“{kind}”这种导出，可选：{}", export::kinds_text());
    };
    let pool = db::open_and_migrate(&settings.database).await?;
    let imported = dudao::app::calendar::imported(&pool).await?;
    let cal = dudao::app::calendar::build(&settings, &imported)?;
    let tz = settings.timezone();
    let today = now.with_timezone(&tz).date_naive();
    let mut conn = pool.acquire().await?;
    let result = async {
        let period = export::resolve_period(kind, period, today, Some(&cal))?;
        let (scope, _) = export::resolve_scope(&mut conn, scope).await?;
        export::build(&mut conn, tz, &settings, kind, period, scope, now).await
    }
    .await;
    drop(conn);
    pool.close().await;
    let file = result?;
    let path = output.unwrap_or_else(|| PathBuf::from(&file.file_name));
    std::fs::write(&path, &file.bytes).with_context(|| format!("无法写入 / cannot write {}", path.display()))?;
    println!("已导出 {}（{} 字节）", path.display(), file.bytes.len());
    Ok(())
}

/// `dudao migrate --check`: the migrations this build would apply; nothing is changed.
async fn migrate_check(settings: &Settings) -> anyhow::Result<()> {
    let path = &settings.database.path;
    if !path.exists() {
        println!(
            "数据库 {} 还不存在：首次启动时创建，并应用全部 {} 个迁移。",
            path.display(),
            db::MIGRATOR.iter().count()
        );
        return Ok(());
    }
    let status = db::file_schema_status(path)?;
    let known = db::newest_known_migration();
    if let Some(found) = status.unknown.last() {
        anyhow::bail!(
            "数据库 {} 由更新版本的 Dudao 迁移过（迁移 {found}），本程序认识的最新迁移是 {known}：本程序会拒绝启动",
            path.display()
        );
    }
    let current = status.applied.last().map_or_else(|| "无".to_string(), i64::to_string);
    if status.pending.is_empty() {
        println!("数据库 {} 已是最新结构（迁移 {current}）。", path.display());
    } else {
        println!("数据库 {}（迁移 {current}）有 {} 个待应用的迁移：", path.display(), status.pending.len());
        for (version, description) in &status.pending {
            println!("  {version}  {description}");
        }
        if settings.backup.before_migrate && !status.applied.is_empty() {
            println!("应用前会先把数据库复制到 {}。", settings.backup_dir().display());
        }
    }
    Ok(())
}

/// `dudao backup [FILE]`.
async fn backup_cmd(settings: &Settings, file: Option<PathBuf>) -> anyhow::Result<()> {
    let now = SystemClock.now();
    let dest = file.unwrap_or_else(|| dudao::backup::default_target(settings, now));
    let (db, evidence) = (settings.database.path.clone(), dudao::app::evidence::evidence_dir(settings));
    let busy = Duration::from_millis(settings.database.busy_timeout_ms);
    let local = now.with_timezone(&settings.timezone());
    let taken = tokio::task::spawn_blocking(move || dudao::backup::take(&db, &dest, &evidence, busy, local)).await??;
    println!(
        "已备份到 {}（{} 字节，完整性检查通过，迁移 {}）",
        taken.path.display(),
        taken.size,
        taken.schema_version.map_or_else(|| "无".to_string(), |v| v.to_string())
    );
    println!(
        "证据文件清单：{}（{} 个文件，{} 字节）。证据文件夹 {} 请另行复制（例如 rsync -a）。",
        taken.manifest.display(),
        taken.evidence_files,
        taken.evidence_bytes,
        dudao::app::evidence::evidence_dir(settings).display()
    );
    Ok(())
}

/// `dudao restore FILE`: refused while a service holds the database.
fn restore_cmd(settings: &Settings, file: &std::path::Path) -> anyhow::Result<()> {
    let db = &settings.database.path;
    let _lock = dudao::lock::InstanceLock::acquire(db)?;
    let evidence = dudao::app::evidence::evidence_dir(settings);
    let r = dudao::backup::restore(db, file, &evidence, SystemClock.now())?;
    println!(
        "已从 {} 恢复数据库 {}（迁移 {}）。",
        file.display(),
        db.display(),
        r.schema_version.map_or_else(|| "无".to_string(), |v| v.to_string())
    );
    if let Some(prev) = &r.previous {
        println!("原来的数据库已移到 {}（确认无误后可删除）。", prev.display());
    }
    if r.pending > 0 {
        println!("下次启动时将应用 {} 个较新的迁移。", r.pending);
    }
    if !r.manifest {
        println!("备份旁没有证据文件清单（.manifest.json），未核对证据文件夹 {}。", evidence.display());
    } else if r.evidence_missing.is_empty() {
        println!("证据文件夹 {} 与清单一致（{} 个文件）。", evidence.display(), r.evidence_listed);
    } else {
        println!(
            "注意：清单中的 {} 个证据文件在 {} 中缺失或大小不符，请从证据文件夹的备份复制回来，例如：",
            r.evidence_missing.len(),
            evidence.display()
        );
        for p in r.evidence_missing.iter().take(10) {
            println!("  {p}");
        }
    }
    Ok(())
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    // Held until the service stops; the operating system releases it if the process dies.
    let _lock = dudao::lock::InstanceLock::acquire(&settings.database.path)?;
    let enabled = dudao::chat::registry::from_config(&settings)?;
    let console_closed = enabled.console_eof;
    let running = service::start(settings, Arc::new(SystemClock), enabled.channels).await?;
    let eof = async {
        match &console_closed {
            Some(t) => t.cancelled().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = shutdown_signal() => tracing::info!("shutting down"),
        _ = eof => {
            // A piped script ended: deliver what it caused, then stop.
            running.drain(Duration::from_secs(30)).await;
        }
    }
    running.stop().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

async fn roster_cmd(settings: Settings, cmd: RosterCmd) -> anyhow::Result<()> {
    match cmd {
        RosterCmd::Import { files, check, allow_deactivate } => {
            let mut raw = roster::read_files(&files)?;
            for notice in raw.notices() {
                println!("{notice}");
            }
            if raw.office.is_some() && settings.database.path.exists() {
                // An office sheet is matched against the schools and zones already imported,
                // and keeps existing inspectors' codes.
                let pool = db::open_and_migrate(&settings.database).await?;
                let existing = dudao::app::roster_load::export(&pool).await?;
                pool.close().await;
                let has_any = !existing.schools.is_empty() || !existing.people.is_empty();
                raw = roster::office::expand(raw, has_any.then_some(&existing));
            }
            let parsed = match roster::validate(raw) {
                Ok(r) => r,
                Err(errors) => {
                    eprintln!("花名册有 {} 处错误，未导入任何数据：", errors.len());
                    for e in &errors {
                        eprintln!("  {e}");
                    }
                    anyhow::bail!("roster rejected");
                }
            };
            let pool = db::open_and_migrate(&settings.database).await?;
            let opts = dudao::app::roster_load::ImportOptions {
                dry_run: check,
                allow_deactivate,
                max_deactivate_share: settings.roster.max_deactivate_share,
                ..dudao::app::roster_load::ImportOptions::new("cli", SystemClock.now())
            };
            let result = dudao::app::roster_load::apply_with(&pool, &parsed, &opts).await;
            if result.is_ok() && !check {
                // Lookup keys of new and renamed rows (see migrations/20261202000010_name_keys.sql).
                db::fill_name_keys(&pool).await?;
            }
            pool.close().await;
            let sum = result?;
            println!("{}", dudao::app::roster_load::render_summary(&sum));
            Ok(())
        }
        RosterCmd::Template { kind, file } => {
            let kind = match kind {
                TemplateKindArg::Office => roster::template::TemplateKind::Office,
                TemplateKindArg::Full => roster::template::TemplateKind::Full,
            };
            roster::template::write_template(kind, &file)?;
            println!("已写入模板 {}：填好后运行 dudao roster import --check {} 检查", file.display(), file.display());
            Ok(())
        }
        RosterCmd::Export { target } => {
            let pool = db::open_and_migrate(&settings.database).await?;
            let r = dudao::app::roster_load::export(&pool).await?;
            pool.close().await;
            if target.extension().is_some_and(|e| e.eq_ignore_ascii_case("xlsx")) {
                roster::write_xlsx(&r, &target)?;
                println!("已导出到 {}", target.display());
            } else {
                std::fs::create_dir_all(&target).with_context(|| format!("cannot create {}", target.display()))?;
                for p in roster::write_csv_dir(&r, &target)? {
                    println!("已导出 {}", p.display());
                }
            }
            Ok(())
        }
        RosterCmd::Codes { people } => {
            let pool = db::open_and_migrate(&settings.database).await?;
            let now = SystemClock.now();
            // Same first-run behaviour as `serve`, so codes can be issued before the first start.
            service::seed_sample_roster(&pool, &settings, now).await?;
            let ttl = chrono::Duration::hours(i64::from(settings.roster.binding_code_ttl_hours));
            let mut tx = db::begin_write(&pool).await?;
            let targets: Vec<(i64, String, String)> = if people.is_empty() {
                store::people::active_without_account(&mut tx).await?
            } else {
                let mut v = Vec::new();
                for q in &people {
                    let found = store::people::find_people(&mut tx, q).await?;
                    match found.as_slice() {
                        [one] => v.push((one.id, one.code.clone(), one.name.clone())),
                        [] => anyhow::bail!("花名册中没有“{q}”"),
                        _ => anyhow::bail!("“{q}”对应多人，请改用编号"),
                    }
                }
                v
            };
            println!("编号\t姓名\t绑定码\t有效期至");
            for (id, code, name) in targets {
                let (c, exp) = store::binding::issue(&mut tx, id, now, ttl).await?;
                let exp = exp.with_timezone(&settings.timezone()).format("%Y-%m-%d %H:%M");
                println!("{code}\t{name}\t{c}\t{exp}");
            }
            tx.commit().await?;
            pool.close().await;
            Ok(())
        }
    }
}

async fn outbox_cmd(settings: Settings, cmd: Option<OutboxCmd>) -> anyhow::Result<()> {
    let pool = db::open_and_migrate(&settings.database).await?;
    let now = SystemClock.now();
    // The CLI routes with the configured channels' capabilities, as the service would.
    let enabled = dudao::chat::registry::from_config(&settings)?;
    let dir = outbox::Directory::from_channels(&enabled.channels);
    let mut conn = pool.acquire().await?;
    match cmd {
        None => {
            let s = outbox::admin::stats(&mut conn, now).await?;
            println!(
                "pending {}  sending {}  sent {}  dead {}  unroutable {}  unknown {}  cancelled {}",
                s.pending, s.sending, s.sent, s.dead, s.unroutable, s.unknown, s.cancelled
            );
            if let Some(age) = s.oldest_pending_secs {
                println!("oldest waiting message: {age} s");
            }
        }
        Some(OutboxCmd::List { status }) => {
            let st: Vec<&str> = if status.is_empty() {
                vec!["dead", "unroutable", "unknown"]
            } else {
                status.iter().map(String::as_str).collect()
            };
            for i in outbox::admin::list(&mut conn, &st, 200).await? {
                println!(
                    "#{}\t{}\t{}\t{}\tattempts={}\t{}\t{}\t{}",
                    i.id,
                    i.status,
                    i.channel.unwrap_or_else(|| "-".into()),
                    i.person.or(i.chat).unwrap_or_else(|| "-".into()),
                    i.attempts,
                    i.created_at,
                    i.last_error.unwrap_or_default(),
                    i.preview
                );
            }
        }
        Some(OutboxCmd::Retry { id }) => {
            drop(conn);
            let mut tx = db::begin_write(&pool).await?;
            let r = outbox::admin::retry(&mut tx, &dir, id, now).await?;
            tx.commit().await?;
            println!("#{id}: {r:?}");
            return Ok(());
        }
        Some(OutboxCmd::Cancel { id }) => {
            let r = outbox::admin::cancel(&mut conn, id).await?;
            println!("#{id}: {r:?}");
        }
    }
    Ok(())
}

async fn calendar_cmd(settings: Settings, cmd: CalendarCmd) -> anyhow::Result<()> {
    let pool = db::open_and_migrate(&settings.database).await?;
    let result = match cmd {
        CalendarCmd::Import { file } => {
            let text =
                std::fs::read_to_string(&file).with_context(|| format!("无法读取 / cannot read {}", file.display()))?;
            dudao::app::calendar::import(&pool, &settings, &text, "cli", SystemClock.now()).await.map(|s| {
                println!(
                    "已{}{} 年日历：{} 个节假日、{} 个调休上班日、{} 个学期。重启服务后生效；用 dudao calendar show {} 核对。",
                    if s.replaced { "更新" } else { "导入" },
                    s.year,
                    s.holidays,
                    s.makeup_days,
                    s.terms,
                    s.year
                );
            })
        }
        CalendarCmd::Show { year } => dudao::app::calendar::show(&pool, &settings, year).await.map(|t| println!("{t}")),
    };
    pool.close().await;
    result
}

/// `dudao schedules run NAME`: the job runs here against the configured database, with the
/// configured channels' capabilities for routing; the service's outbox workers send the result.
async fn schedule_run(settings: Settings, name: &str) -> anyhow::Result<()> {
    let settings = Arc::new(settings);
    let enabled = dudao::chat::registry::from_config(&settings)?;
    let app = service::build_app(settings.clone(), Arc::new(SystemClock), &enabled.channels).await?;
    let pool = app.db.clone();
    let scheduler = dudao::scheduler::Scheduler::new(app.clone(), service::all_jobs());
    // The schedules as configured now, as the service would have them at start.
    scheduler.sync_config(&service::all_schedules(&settings)).await?;
    let result = scheduler.run_now(name, "cli").await;
    pool.close().await;
    let tz = settings.timezone();
    let local = |t: chrono::DateTime<chrono::Utc>| t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string();
    match result? {
        dudao::scheduler::ManualRun::Ran { nominal, for_period: true } => {
            println!("{name}: 已运行，记为 {} 这一期（到时不再重复运行）", local(nominal))
        }
        dudao::scheduler::ManualRun::Ran { nominal, for_period: false } => {
            println!("{name}: 已运行（本期没有定时运行，记为 {}）", local(nominal))
        }
        dudao::scheduler::ManualRun::AlreadyRan { nominal, at } => {
            println!("{name}: {} 这一期已于 {} 运行过，未重复运行", local(nominal), local(at))
        }
    }
    Ok(())
}

async fn schedules_cmd(settings: Settings) -> anyhow::Result<()> {
    let pool = db::open_and_migrate(&settings.database).await?;
    let tz = settings.timezone();
    let local = |t: Option<String>| {
        t.and_then(|t| db::parse_ts(&t))
            .map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_else(|| "-".into())
    };
    type Row = (i64, String, String, String, String, bool, Option<String>);
    let mut conn = pool.acquire().await?;
    let rows: Vec<Row> = store::schedules::list(&mut conn).await?;
    if rows.is_empty() {
        println!("（还没有计划任务：服务首次启动时根据配置创建）");
    }
    for (id, name, cron, job, workdays, enabled, next) in rows {
        println!(
            "{name}\t{cron}\tjob={job}\tworkdays={workdays}\t{}\tnext={}",
            if enabled { "enabled" } else { "disabled" },
            local(next)
        );
        let recent = store::schedules::recent_firings(&mut conn, id).await?;
        for (nominal, status, reason) in recent {
            println!("    {} {status} {}", local(Some(nominal)), reason.unwrap_or_default());
        }
    }
    drop(conn);
    pool.close().await;
    Ok(())
}
