//! Benchmark: the outbox's CPU while 2,000 messages over 50 chats wait on a platform that is
//! down. The worker runs with the shipped [outbox] settings on a real SQLite file; once every
//! chat's first message has failed twice (the queue has settled into backoff), the process
//! CPU time is measured over a wall-clock window and reported as a share of one core.
//!
//! Two outages: nothing listening (connection refused), and a loopback server answering 500
//! (its own CPU is counted too, as it runs in this process).
//!
//! Run: `cargo bench --bench outbox_outage` (env: OUTAGE_N, OUTAGE_CHATS, OUTAGE_SECS).

use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use dudao::chat::{Channel, ChatRef, Segment};
use dudao::clock::SystemClock;
use dudao::config::Settings;
use dudao::outbox::worker::Worker;
use dudao::outbox::{Directory, Envelope, Recipient};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const LIMIT_PERCENT: f64 = 1.0;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// User plus system CPU time of the whole process (every thread, including exited ones).
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat (Linux only)");
    // The command name may contain spaces; fields are counted after its closing parenthesis.
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat(5), i.e. 12 and 13 after the name.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // USER_HZ is 100 on every Linux this runs on.
    Duration::from_millis(ticks * 10)
}

async fn open(dir: &tempfile::TempDir, name: &str) -> (Settings, dudao::db::Db) {
    let path = dir.path().join(name);
    // The shipped [outbox] settings (config/default.toml): only the database is ours.
    let s = Settings::from_toml_over_default(&format!("[database]\npath = \"{}\"\n", path.display())).unwrap();
    let db = dudao::db::open_and_migrate(&s.database).await.unwrap();
    (s, db)
}

async fn enqueue_all(db: &dudao::db::Db, channel: &Arc<dyn Channel>, n: usize, chats: usize) {
    let dir = Directory::from_channels(std::slice::from_ref(channel));
    for batch in 0..n.div_ceil(100) {
        let mut tx = dudao::db::begin_write(db).await.unwrap();
        for i in batch * 100..((batch + 1) * 100).min(n) {
            let chat = ChatRef::group(channel.name(), format!("g{}", i % chats));
            let env = Envelope::new(
                format!("outage-{i}"),
                Recipient::Chat(chat),
                vec![Segment::text(format!("第{i}条：请各校于本周五前上报责任督学挂牌督导记录。"))],
                "bench",
            );
            dudao::outbox::enqueue(&mut tx, &dir, chrono::Utc::now(), env).await.unwrap();
        }
        tx.commit().await.unwrap();
    }
}

struct Report {
    cpu_percent: f64,
    claims: u64,
    wakeups: u64,
    attempts: i64,
    window: Duration,
    settle: Duration,
}

async fn measure(label: &str, url: &str, tmp: &tempfile::TempDir, n: usize, chats: usize, secs: u64) -> Report {
    let (settings, db) = open(tmp, &format!("{label}.sqlite")).await;
    let hook: Arc<dyn Channel> = Arc::new(
        dudao::chat::webhook::WebhookChannel::new(
            toml::from_str(&format!("name = \"hook\"\nurl = \"{url}\"")).unwrap(),
        )
        .unwrap(),
    );
    enqueue_all(&db, &hook, n, chats).await;
    let worker =
        Arc::new(Worker::new(db.clone(), Arc::new(SystemClock), hook, settings.outbox.clone(), Default::default()));
    let stop = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(worker.clone().run(stop.clone()));
    // Settled: the head of every chat has failed twice and waits in backoff.
    let t0 = Instant::now();
    loop {
        let settled: i64 = dudao::sql::query_scalar(
            "SELECT COUNT(*) FROM (SELECT MIN(id) AS id FROM outbox GROUP BY chat_id) h JOIN outbox o ON o.id = h.id
             WHERE o.attempts >= 2",
        )
        .fetch_one(&db)
        .await
        .unwrap();
        if settled as usize >= chats {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(120), "{label}: the queue did not settle into backoff");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let settle = t0.elapsed();
    let attempts_before: i64 =
        dudao::sql::query_scalar("SELECT SUM(attempts) FROM outbox").fetch_one(&db).await.unwrap();
    let (claims0, wakeups0) = (worker.claims(), worker.wakeups());
    let (cpu0, wall0) = (process_cpu(), Instant::now());
    // Measuring: this task sleeps; only the worker (and the fake platform) run.
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let (cpu1, wall1) = (process_cpu(), Instant::now());
    let (claims, wakeups) = (worker.claims() - claims0, worker.wakeups() - wakeups0);
    let attempts_after: i64 =
        dudao::sql::query_scalar("SELECT SUM(attempts) FROM outbox").fetch_one(&db).await.unwrap();
    let open: i64 = dudao::sql::query_scalar("SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'sending')")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(open as usize, n, "{label}: every message still waits");
    stop.cancel();
    task.await.unwrap();
    db.close().await;
    let window = wall1 - wall0;
    Report {
        cpu_percent: (cpu1 - cpu0).as_secs_f64() * 100.0 / window.as_secs_f64(),
        claims,
        wakeups,
        attempts: attempts_after - attempts_before,
        window,
        settle,
    }
}

#[tokio::main]
async fn main() {
    let n = env("OUTAGE_N", 2_000);
    let chats = env("OUTAGE_CHATS", 50);
    let secs = env("OUTAGE_SECS", 20) as u64;
    let tmp = tempfile::tempdir().unwrap();

    // 1. Nothing listening: every attempt is refused.
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let refused = format!("http://{}/hook", probe.local_addr().unwrap());
    drop(probe);

    // 2. A platform that answers 500 to everything.
    let answered = Arc::new(AtomicU64::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let failing = format!("http://{}/hook", listener.local_addr().unwrap());
    let count = answered.clone();
    let app = Router::new().route(
        "/hook",
        post(move || {
            let count = count.clone();
            async move {
                count.fetch_add(1, Ordering::Relaxed);
                (StatusCode::INTERNAL_SERVER_ERROR, "down")
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    println!("outbox outage benchmark: {n} messages over {chats} chats, shipped [outbox] settings");
    let mut all_pass = true;
    for (label, url) in [("refused", refused.as_str()), ("http-500", failing.as_str())] {
        let r = measure(label, url, &tmp, n, chats, secs).await;
        let pass = r.cpu_percent < LIMIT_PERCENT;
        all_pass &= pass;
        println!("  platform {label}:");
        println!("    settled into backoff after    {:>8.1} s", r.settle.as_secs_f64());
        println!("    measured over                 {:>8.1} s wall", r.window.as_secs_f64());
        println!("    send attempts in the window   {:>8}", r.attempts);
        println!("    claims / loop wake-ups        {:>8} / {}", r.claims, r.wakeups);
        println!(
            "    process CPU                   {:>8.2} % of one core  {} (limit {LIMIT_PERCENT}%)",
            r.cpu_percent,
            if pass { "PASS" } else { "FAIL" }
        );
    }
    println!("  requests answered 500 in all    {:>8}", answered.load(Ordering::Relaxed));
    println!("overall: {}", if all_pass { "PASS" } else { "FAIL" });
}
