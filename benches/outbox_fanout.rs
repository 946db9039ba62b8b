//! Benchmark: fan messages out through the outbox to a rate-limited fake platform on loopback,
//! at each configured global limit (issue 15: 30/s and 2,000/s). Reports the achieved send rate
//! as a share of the limit, violations of the global limit (any sliding 1 s window) and of the
//! per-chat limit (any sliding 60 s window per chat) as the platform saw them, and the database
//! cost per message.
//!
//! Each run sends FANOUT_SECS (default 8) seconds' worth of messages at the limit over
//! FANOUT_CHATS (default 50) chats. The per-chat limit is set to exactly each chat's share of
//! the run, so the run sits on that limit too without having to wait a minute.
//!
//! Run: `cargo bench --bench outbox_fanout`
//! (env: FANOUT_RATES=30,2000, FANOUT_SECS, FANOUT_CHATS, FANOUT_N for the database-cost part).

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

async fn enqueue_all(db: &dudao::db::Db, dir: &Directory, channel: &str, n: usize, chats: usize) -> Duration {
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

async fn db_for(dir: &tempfile::TempDir, name: &str) -> (Settings, dudao::db::Db) {
    let path = dir.path().join(name);
    let s = Settings::from_toml_over_default(&format!(
        "[database]\npath = \"{}\"\n[outbox]\nmax_attempts = 8\nbackoff_base_ms = 50\nbackoff_max_ms = 1000\nlease_seconds = 60\nmax_in_flight = 8",
        path.display()
    ))
    .unwrap();
    let db = dudao::db::open_and_migrate(&s.database).await.unwrap();
    (s, db)
}

#[tokio::main]
async fn main() {
    let n = env("FANOUT_N", 10_000);
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
        can_send_files: false,
        max_file_bytes: 0,
        can_send_images: false,
        max_image_bytes: 0,
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

    println!("outbox fan-out benchmark");
    println!("  database cost per message ({n} messages, {chats} chats):");
    println!("    enqueue (batches of 100)      {:>8.1} µs", enq.as_secs_f64() * 1e6 / n as f64);
    println!(
        "    claim + mark sent             {:>8.1} µs  ({delivered} delivered by a no-op channel)",
        deliver.as_secs_f64() * 1e6 / delivered.max(1) as f64
    );
    println!("    database size                 {:>8.0} bytes", size as f64 / n as f64);
    // FANOUT_RATE (one rate) is still understood.
    let rates: Vec<u32> = std::env::var("FANOUT_RATES")
        .or_else(|_| std::env::var("FANOUT_RATE"))
        .unwrap_or_else(|_| "30,2000".into())
        .split(',')
        .filter_map(|r| r.trim().parse().ok())
        .collect();
    let secs = env("FANOUT_SECS", 8);
    let fan_chats = env("FANOUT_CHATS", 50);
    let mut all_ok = true;
    for rate in rates {
        all_ok &= fan_out(&tmp, rate, secs, fan_chats).await;
    }
    println!(
        "  issue 15 target (>= 95 % of the limit, no violation) at every rate: {}",
        if all_ok { "PASS" } else { "MISS" }
    );
}

/// Arrivals at the fake platform: when, and to which chat.
type Arrivals = Arc<Mutex<Vec<(Instant, String)>>>;

/// Sends `secs` seconds' worth of messages at global limit `rate` over `chats` chats; prints
/// the figures and returns whether the issue-15 target was met.
async fn fan_out(tmp: &tempfile::TempDir, rate: u32, secs: usize, chats: usize) -> bool {
    let n = (rate as usize * secs).max(chats);
    // Each chat's share of the run, all allowed within one minute: a real limit, not binding.
    let per_chat = n.div_ceil(chats) as u32;
    let times: Arrivals = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let app = Router::new()
        .route(
            "/hook",
            post(|State(t): State<Arrivals>, Json(b): Json<serde_json::Value>| async move {
                let chat = b["chat"]["id"].as_str().unwrap_or_default().to_string();
                t.lock().unwrap().push((Instant::now(), chat));
                Json(serde_json::json!({"id": 1}))
            }),
        )
        .with_state(times.clone());
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let (settings, db) = db_for(tmp, &format!("hook-{rate}.sqlite")).await;
    let hook: Arc<dyn Channel> = Arc::new(
        dudao::chat::webhook::WebhookChannel::new(
            toml::from_str(&format!(
                "name = \"hook\"\nurl = \"{url}\"\nmax_per_second = {rate}\nmax_per_chat_per_minute = {per_chat}"
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
        let open: i64 = dudao::sql::query_scalar("SELECT COUNT(*) FROM outbox WHERE status IN ('pending','sending')")
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
    server.abort();
    let mut arrivals = times.lock().unwrap().clone();
    arrivals.sort();
    let all: Vec<Instant> = arrivals.iter().map(|(t, _)| *t).collect();
    let span = all.last().zip(all.first()).map(|(l, f)| *l - *f).unwrap_or_default();
    // Sends per second over the whole seconds since the first send: a sender at the limit scores
    // 100 % whether it sends in bursts (what a sliding window allows) or evenly.
    let whole = span.as_secs();
    let achieved = match all.first() {
        Some(first) if whole > 0 => {
            all.iter().filter(|t| **t < *first + Duration::from_secs(whole)).count() as f64 / whole as f64
        }
        _ => (all.len().saturating_sub(1)) as f64 / span.as_secs_f64().max(1e-9),
    };
    let share = achieved * 100.0 / f64::from(rate);
    let (worst, global_violations) = window_check(&all, Duration::from_secs(1), rate as usize);
    let mut by_chat: std::collections::HashMap<&str, Vec<Instant>> = std::collections::HashMap::new();
    for (t, c) in &arrivals {
        by_chat.entry(c.as_str()).or_default().push(*t);
    }
    let (mut worst_chat, mut chat_violations) = (0, 0);
    for times in by_chat.values() {
        let (w, v) = window_check(times, Duration::from_secs(60), per_chat as usize);
        worst_chat = worst_chat.max(w);
        chat_violations += v;
    }
    let ok = share >= 95.0 && global_violations == 0 && chat_violations == 0 && all.len() == n;
    println!("  fake platform, limit {rate}/s globally and {per_chat}/min per chat ({n} messages, {chats} chats):");
    println!("    delivered                     {:>8}", all.len());
    println!("    wall time                     {:>8.2} s", wall.as_secs_f64());
    println!("    achieved rate                 {achieved:>8.0} /s = {share:.1}% of the limit");
    println!("    busiest 1 s window            {worst:>8} (limit {rate}); sends over the limit: {global_violations}");
    println!(
        "    busiest chat, 60 s window     {worst_chat:>8} (limit {per_chat}); sends over the limit: {chat_violations}"
    );
    println!("    target >= 95 % of the limit, no violation: {}", if ok { "PASS" } else { "MISS" });
    db.close().await;
    ok
}

/// The busiest sliding window and how many arrivals found more than `limit` in the window
/// ending at them (each one a send the platform would have refused).
fn window_check(times: &[Instant], window: Duration, limit: usize) -> (usize, usize) {
    let mut worst = 0;
    let mut over = 0;
    let mut j = 0;
    for i in 0..times.len() {
        while times[j] + window <= times[i] {
            j += 1;
        }
        let in_window = i - j + 1;
        worst = worst.max(in_window);
        if in_window > limit {
            over += 1;
        }
    }
    (worst, over)
}
