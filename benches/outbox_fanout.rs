//! Benchmark: fan 10,000 messages out through the outbox to a rate-limited fake platform on
//! loopback. Reports the achieved send rate as a fraction of the configured limit, limit
//! violations seen by the platform, and the database cost per message.
//!
//! Run: `cargo bench --bench outbox_fanout` (env: FANOUT_N, FANOUT_RATE).

use async_trait::async_trait;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use dudao::chat::{
    Capabilities, Channel, ChannelContext, ChatRef, MentionSupport, OutboundMessage, Segment, SendError, SendReceipt,
};
use dudao::clock::SystemClock;
use dudao::config::Settings;
use dudao::outbox::worker::Worker;
use dudao::outbox::{Directory, Envelope, Recipient};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

async fn enqueue_all(db: &sqlx::SqlitePool, dir: &Directory, channel: &str, n: usize, chats: usize) -> Duration {
    let start = Instant::now();
    for batch in 0..n.div_ceil(100) {
        let mut tx = dudao::db::begin_write(db).await.unwrap();
        for i in batch * 100..((batch + 1) * 100).min(n) {
            let chat = ChatRef::group(channel, format!("g{}", i % chats));
            let env = Envelope::new(
                format!("{channel}-{i}"),
                Recipient::Chat(chat),
                vec![Segment::text(format!("第{i}条：请各位责任督学于本周五前提交周报，谢谢配合。"))],
                "bench",
            );
            dudao::outbox::enqueue(&mut tx, dir, chrono::Utc::now(), env).await.unwrap();
        }
        tx.commit().await.unwrap();
    }
    start.elapsed()
}

/// A channel that accepts instantly: isolates the outbox's own database work.
struct Null(Capabilities);

#[async_trait]
impl Channel for Null {
    fn name(&self) -> &str {
        "null"
    }
    fn platform(&self) -> &'static str {
        "null"
    }
    fn capabilities(&self) -> &Capabilities {
        &self.0
    }
    async fn send(&self, _m: &OutboundMessage) -> Result<SendReceipt, SendError> {
        Ok(SendReceipt { platform_msg_id: None })
    }
    async fn run(self: Arc<Self>, _c: ChannelContext) -> anyhow::Result<()> {
        Ok(())
    }
}

async fn db_for(dir: &tempfile::TempDir, name: &str) -> (Settings, sqlx::SqlitePool) {
    let path = dir.path().join(name);
    let s = Settings::from_toml_over_default(&format!(
        "[database]\npath = \"{}\"\n[outbox]\nmax_attempts = 8\nbackoff_base_ms = 50\nbackoff_max_ms = 1000\nlease_seconds = 60\nmax_in_flight = 8",
        path.display()
    ))
    .unwrap();
    let db = dudao::db::open_and_migrate(&s.database).await.unwrap();
    (s, db)
}

fn max_in_window(times: &[Instant], window: Duration) -> usize {
    let mut worst = 0;
    let mut j = 0;
    for i in 0..times.len() {
        while times[j] + window <= times[i] {
            j += 1;
        }
        worst = worst.max(i - j + 1);
    }
    worst
}

#[tokio::main]
async fn main() {
    let n = env("FANOUT_N", 10_000);
    let rate = env("FANOUT_RATE", 2_000) as u32;
    let chats = 50;
    let tmp = tempfile::tempdir().unwrap();

    // 1. Database cost: enqueue, then claim/send/mark through a channel that accepts instantly.
    let (settings, db) = db_for(&tmp, "null.sqlite").await;
    let null: Arc<dyn Channel> = Arc::new(Null(Capabilities {
        can_receive: false,
        can_push: true,
        can_send_private: true,
        mention: MentionSupport::None,
        mention_all: false,
        max_message_chars: 4000,
        global_limits: vec![],
        per_chat_limits: vec![],
        max_concurrent_sends: 8,
    }));
    let dir = Directory::from_channels(std::slice::from_ref(&null));
    let enq = enqueue_all(&db, &dir, "null", n, chats).await;
    let worker = Worker::new(db.clone(), Arc::new(SystemClock), null, settings.outbox.clone(), Default::default());
    let t = Instant::now();
    let delivered = worker.drain_ready().await.unwrap();
    let deliver = t.elapsed();
    let size = std::fs::metadata(tmp.path().join("null.sqlite")).map(|m| m.len()).unwrap_or(0)
        + std::fs::metadata(tmp.path().join("null.sqlite-wal")).map(|m| m.len()).unwrap_or(0);
    db.close().await;

    // 2. Fan-out to a fake platform on loopback that records arrival times.
    let times: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let app = Router::new()
        .route(
            "/hook",
            post(|State(t): State<Arc<Mutex<Vec<Instant>>>>, Json(_b): Json<serde_json::Value>| async move {
                t.lock().unwrap().push(Instant::now());
                Json(serde_json::json!({"id": 1}))
            }),
        )
        .with_state(times.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let (settings, db) = db_for(&tmp, "hook.sqlite").await;
    let hook: Arc<dyn Channel> = Arc::new(
        dudao::chat::webhook::WebhookChannel::new(
            toml::from_str(&format!(
                "name = \"hook\"\nurl = \"{url}\"\nmax_per_second = {rate}\nmax_per_chat_per_minute = 1000000"
            ))
            .unwrap(),
        )
        .unwrap(),
    );
    let dir = Directory::from_channels(std::slice::from_ref(&hook));
    enqueue_all(&db, &dir, "hook", n, chats).await;
    let notify = Arc::new(tokio::sync::Notify::new());
    let worker = Arc::new(Worker::new(db.clone(), Arc::new(SystemClock), hook, settings.outbox.clone(), notify));
    let stop = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(worker.run(stop.clone()));
    let t = Instant::now();
    loop {
        let open: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE status IN ('pending','sending')")
            .fetch_one(&db)
            .await
            .unwrap();
        if open == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let wall = t.elapsed();
    stop.cancel();
    task.await.unwrap();
    let mut arrivals = times.lock().unwrap().clone();
    arrivals.sort();
    let span = arrivals.last().zip(arrivals.first()).map(|(l, f)| *l - *f).unwrap_or_default();
    let achieved = (arrivals.len().saturating_sub(1)) as f64 / span.as_secs_f64().max(1e-9);
    let worst = max_in_window(&arrivals, Duration::from_secs(1));

    println!("outbox fan-out benchmark: {n} messages, {chats} chats");
    println!("  database cost per message:");
    println!("    enqueue (batches of 100)      {:>8.1} µs", enq.as_secs_f64() * 1e6 / n as f64);
    println!(
        "    claim + mark sent             {:>8.1} µs  ({delivered} delivered by a no-op channel)",
        deliver.as_secs_f64() * 1e6 / delivered.max(1) as f64
    );
    println!("    database size                 {:>8.0} bytes", size as f64 / n as f64);
    println!("  rate-limited fake platform (limit {rate}/s):");
    println!("    delivered                     {:>8}", arrivals.len());
    println!("    wall time                     {:>8.2} s", wall.as_secs_f64());
    println!(
        "    achieved rate                 {achieved:>8.0} /s = {:.1}% of the limit",
        achieved * 100.0 / f64::from(rate)
    );
    println!(
        "    busiest 1 s window            {worst:>8} (limit {rate}) {}",
        if worst as u32 <= rate { "ok" } else { "EXCEEDED" }
    );
    db.close().await;
}
