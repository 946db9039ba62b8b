//! Wiring the running service: database, calendar, roster seed, channels, outbox workers,
//! scheduler and HTTP listener, with graceful shutdown.

use crate::app::registry::Registry;
use crate::app::App;
use crate::chat::{Channel, ChannelContext};
use crate::clock::SharedClock;
use crate::config::Settings;
use crate::domain::calendar::Calendar;
use crate::domain::group::GroupPurpose;
use crate::outbox::worker::Worker;
use crate::outbox::Directory;
use crate::scheduler::{Jobs, Scheduler};
use crate::{db, store};
use anyhow::Context;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// The calendar from the shipped or configured files only (no imported years; see
/// [`crate::app::calendar::build`]).
pub fn load_calendar(settings: &Settings) -> anyhow::Result<Calendar> {
    crate::app::calendar::build(settings, &[])
}

/// The jobs every workflow contributes (see [`crate::app::registry`]).
pub fn all_jobs() -> Jobs {
    Registry::builtin().jobs().clone()
}

/// Configured schedules plus those the workflows derive from their own sections.
pub fn all_schedules(settings: &Settings) -> Vec<crate::config::ScheduleSettings> {
    Registry::builtin().schedules(settings)
}

pub struct Running {
    pub app: Arc<App>,
    pub http_addr: SocketAddr,
    pub shutdown: CancellationToken,
    tasks: JoinSet<()>,
}

impl Running {
    /// Waits until nothing is ready to send (or `timeout` passes).
    pub async fn drain(&self, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let now = self.app.clock.now();
            let n = match self.app.db.acquire().await {
                Ok(mut c) => crate::store::outbox::in_flight_count(&mut c, now).await.unwrap_or(0),
                Err(_) => 0,
            };
            if n == 0 || tokio::time::Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops every task, letting in-flight work finish.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        while self.tasks.join_next().await.is_some() {}
        self.app.db.close().await;
    }
}

/// Applies `[[groups]]` from configuration.
async fn register_config_groups(app: &App) -> anyhow::Result<()> {
    let now = app.clock.now();
    let mut tx = db::begin_write(&app.db).await?;
    for (i, g) in app.settings.groups.iter().enumerate() {
        let key = format!("groups[{i}]");
        let platform = app
            .directory
            .platform_of(&g.channel)
            .with_context(|| format!("{key}.channel: no channel named \"{}\" is enabled", g.channel))?;
        let purpose = GroupPurpose::parse(&g.purpose).with_context(|| format!("{key}.purpose"))?;
        let mut zone_id = None;
        let mut school_id = None;
        if purpose.needs_zone() {
            let z = g.zone.as_deref().with_context(|| format!("{key}.zone is required for {}", purpose.as_str()))?;
            zone_id = Some(
                store::people::find_zone(&mut tx, z)
                    .await?
                    .with_context(|| format!("{key}.zone: unknown zone \"{z}\""))?
                    .id,
            );
        }
        if purpose.needs_school() {
            let s = g.school.as_deref().with_context(|| format!("{key}.school is required for school groups"))?;
            let found = store::people::find_schools(&mut tx, s).await?;
            anyhow::ensure!(found.len() == 1, "{key}.school: \"{s}\" matches {} schools", found.len());
            school_id = Some(found[0].id);
            zone_id = Some(found[0].zone_id);
        }
        let chat = crate::chat::ChatRef::group(g.channel.clone(), g.id.clone());
        store::groups::register(&mut tx, platform, &chat, g.name.as_deref(), purpose, zone_id, school_id, None, now)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Loads the embedded sample roster into an empty database, when configured to.
pub async fn seed_sample_roster(
    db: &crate::db::Db,
    settings: &Settings,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    if !settings.roster.sample_on_empty {
        return Ok(());
    }
    let mut conn = db.acquire().await?;
    if store::people::person_count(&mut conn).await? > 0 {
        return Ok(());
    }
    drop(conn);
    let raw = crate::roster::sample::raw_tables()?;
    let roster = crate::roster::validate(raw).map_err(|errs| {
        anyhow::anyhow!(
            "the shipped sample roster is invalid: {}",
            errs.first().map(|e| e.to_string()).unwrap_or_default()
        )
    })?;
    // Marked as the sample, so the first real import removes it whole.
    let opts = crate::app::roster_load::ImportOptions {
        sample: true,
        ..crate::app::roster_load::ImportOptions::new("system", now)
    };
    let sum = crate::app::roster_load::apply_with(db, &roster, &opts).await?;
    tracing::info!(
        schools = sum.schools,
        people = sum.people,
        "loaded the fictional sample roster (roster.sample_on_empty)"
    );
    Ok(())
}

/// The application over a migrated database: calendar (shipped files plus imported years),
/// theme calendar checked, routing for `channels`, the sample roster seeded when configured.
/// Shared by the service and CLI commands that run workflow code (`dudao schedules run`).
pub async fn build_app(
    settings: Arc<Settings>,
    clock: SharedClock,
    channels: &[Arc<dyn Channel>],
) -> anyhow::Result<Arc<App>> {
    let pool = db::open_and_migrate(&settings.database).await?;
    // Years the office imported replace the shipped files of the same year.
    let imported = crate::app::calendar::imported(&pool).await?;
    let calendar = Arc::new(crate::app::calendar::build(&settings, &imported)?);
    crate::app::calendar::log_gap(&calendar, clock.now().with_timezone(&settings.timezone()).date_naive());
    Registry::builtin().check_config(&settings)?;
    let app = Arc::new(App::new(pool, clock.clone(), settings.clone(), calendar, Directory::from_channels(channels)));
    seed_sample_roster(&app.db, &settings, app.clock.now()).await?;
    Ok(app)
}

/// Starts everything. `channels` are the enabled channel instances.
pub async fn start(settings: Settings, clock: SharedClock, channels: Vec<Arc<dyn Channel>>) -> anyhow::Result<Running> {
    let settings = Arc::new(settings);
    let app = build_app(settings.clone(), clock.clone(), &channels).await?;
    let _ = app.channels.set(channels.clone());
    for (i, c) in settings.alerts.chats.iter().enumerate() {
        anyhow::ensure!(
            app.directory.get(&c.channel).is_some(),
            "alerts.chats[{i}].channel: no channel named \"{}\" is enabled",
            c.channel
        );
    }
    register_config_groups(&app).await?;
    let recovered = app.recover_inbound().await?;
    if recovered > 0 {
        tracing::info!(recovered, "processed messages left over from the last run");
    }
    let scheduler = Arc::new(Scheduler::new(app.clone(), all_jobs()));
    scheduler.sync_config(&all_schedules(&settings)).await?;
    // Whether 统计 can draw charts, said once now rather than at the first request. Off the
    // runtime's threads: it reads the font file.
    let font = settings.charts.font.clone();
    tokio::task::spawn_blocking(move || crate::charts::font::check_at_startup(&font));

    let shutdown = CancellationToken::new();
    let mut tasks = JoinSet::new();
    // Before any channel receives: their processing loops hand read-only commands here.
    tasks.spawn(app.deferred_answers(shutdown.clone()));
    let ctx = ChannelContext { sink: app.clone(), shutdown: shutdown.clone() };
    let mut routes = Vec::new();
    for ch in &channels {
        if let Some(r) = ch.clone().routes(ctx.clone()) {
            routes.push(r);
        }
        let worker = Arc::new(
            Worker::new(app.db.clone(), clock.clone(), ch.clone(), settings.outbox.clone(), app.outbox_notify.clone())
                .with_metrics(app.metrics.channel(ch.name()).clone())
                .with_handoffs(app.handoffs.clone())
                .with_file_links(crate::outbox::worker::FileLinks {
                    public_url: settings.http.public_url.clone(),
                    valid_for: chrono::Duration::hours(i64::from(settings.http.file_link_hours.max(1))),
                }),
        );
        tasks.spawn(worker.run(shutdown.clone()));
        let (ch, ctx) = (ch.clone(), ctx.clone());
        tasks.spawn(async move {
            let name = ch.name().to_string();
            if let Err(e) = ch.run(ctx).await {
                tracing::error!(channel = %name, error = %e, "channel stopped with an error");
            }
        });
    }
    tasks.spawn(scheduler.run(shutdown.clone()));
    tasks.spawn(crate::app::rectify::evidence_loop(app.clone(), shutdown.clone()));
    if settings.alerts.enabled {
        tasks.spawn(crate::app::alerts::monitor(app.clone(), shutdown.clone()));
    }
    let (listener, http_addr) = crate::http::bind(&settings.http.bind).await?;
    let router = crate::http::router(app.clone(), routes);
    let sd = shutdown.clone();
    tasks.spawn(async move {
        if let Err(e) = crate::http::serve(listener, router, sd).await {
            tracing::error!(error = %e, "HTTP server stopped");
        }
    });
    tracing::info!(%http_addr, channels = channels.len(), "Dudao is running");
    Ok(Running { app, http_addr, shutdown, tasks })
}
