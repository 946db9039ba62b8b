//! Benchmark: inbound QQ group messages through the real OneBot adapter (a fake NapCat
//! connected in reverse mode over a loopback WebSocket) to committed database rows and the
//! replies the fake receives.
//!
//!     cargo bench --bench onebot                      # defaults
//!     BENCH_N=5000 BENCH_GROUPS=50 cargo bench --bench onebot
//!     BENCH_SYNC=normal cargo bench --bench onebot    # database.synchronous (default: full)
//!
//! Pacing is switched off: this measures the adapter and the pipeline, not QQ's rate limits.
//! The fake runs on its own runtime threads so CPU time can be split between Dudao and it.

#[path = "../tests/common/onebot_fake.rs"]
mod onebot_fake;

use dudao::chat::onebot::OneBotChannel;
use dudao::config::Settings;
use dudao::Channel;
use onebot_fake::{connect_reverse, Action, Auth, FakeConn, Recorder};
use serde_json::json;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedReceiver;

const BOT: &str = "3000000001";
const TOKEN: &str = "bench-token";
/// /proc reports CPU time in USER_HZ ticks, which Linux fixes at 100 per second.
const TICK: f64 = 0.01;

fn env_usize(k: &str, d: usize) -> usize {
    std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d)
}

/// CPU seconds per thread group: (dudao runtime + sqlite workers, fake, everything else).
#[derive(Debug, Clone, Copy, Default)]
struct Cpu {
    dudao: f64,
    fake: f64,
    total: f64,
}

fn stat_times(stat: &str) -> Option<f64> {
    // Fields after the command name (which may contain spaces) start at field 3 (state).
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ut: f64 = f.get(11)?.parse().ok()?;
    let st: f64 = f.get(12)?.parse().ok()?;
    Some((ut + st) * TICK)
}

fn cpu() -> Cpu {
    let mut c = Cpu {
        total: std::fs::read_to_string("/proc/self/stat").ok().and_then(|s| stat_times(&s)).unwrap_or(0.0),
        ..Cpu::default()
    };
    if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
        for t in dir.flatten() {
            let p = t.path();
            let comm = std::fs::read_to_string(p.join("comm")).unwrap_or_default();
            let Some(secs) = std::fs::read_to_string(p.join("stat")).ok().and_then(|s| stat_times(&s)) else {
                continue;
            };
            let comm = comm.trim();
            if comm.starts_with("dudao") || comm.starts_with("sqlx-sqlite") {
                c.dudao += secs;
            } else if comm.starts_with("fake") {
                c.fake += secs;
            }
        }
    }
    c
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

struct Driver {
    bot: FakeConn,
    replies: UnboundedReceiver<Action>,
    senders: Vec<i64>,
    groups: Vec<i64>,
    next_id: i64,
    /// Per group: when each message still waiting for its reply was sent (replies per group come in order).
    waiting: HashMap<i64, VecDeque<Instant>>,
}

impl Driver {
    fn send(&mut self, i: usize) {
        let g = self.groups[i % self.groups.len()];
        let user = self.senders[i % self.senders.len()];
        self.next_id += 1;
        self.waiting.entry(g).or_default().push_back(Instant::now());
        self.bot.group_msg(
            g,
            user,
            json!(self.next_id),
            json!([{"type": "at", "data": {"qq": BOT}}, {"type": "text", "data": {"text": " 我是谁"}}]),
        );
    }

    async fn reply(&mut self) -> Duration {
        loop {
            let a = tokio::time::timeout(Duration::from_secs(60), self.replies.recv())
                .await
                .expect("no reply within 60 s")
                .expect("fake stopped");
            if a.action != "send_group_msg" {
                continue;
            }
            let g = a.params["group_id"].as_i64().unwrap();
            let sent = self.waiting.get_mut(&g).and_then(VecDeque::pop_front).expect("a reply nobody waits for");
            return a.at.duration_since(sent);
        }
    }
}

fn main() {
    let n = env_usize("BENCH_N", 3000);
    let seq = env_usize("BENCH_SEQ", 300);
    let n_groups = env_usize("BENCH_GROUPS", 20);
    let sync = std::env::var("BENCH_SYNC").unwrap_or_else(|_| "full".into());

    let dudao_rt = tokio::runtime::Builder::new_multi_thread().thread_name("dudao-rt").enable_all().build().unwrap();
    let fake_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("fake-rt")
        .enable_all()
        .build()
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bench.sqlite");
    let toml = format!(
        "[database]\npath = \"{}\"\nsynchronous = \"{sync}\"\n[http]\nbind = \"127.0.0.1:0\"\n\
         [channels.console]\nenabled = false\n\
         [channels.onebot]\nenabled = true\naccess_token = \"{TOKEN}\"\nmin_interval_ms = 0\nmax_per_minute = 0\n\
         chat_min_interval_ms = 0\nchat_max_per_minute = 0\nsend_jitter_ms = 0\n",
        db.display()
    );
    let settings = Settings::from_toml_over_default(&toml).expect("bench settings");
    let ch =
        Arc::new(OneBotChannel::new(dudao::chat::onebot::OneBotSettings::from_settings(&settings).unwrap().unwrap()));
    let channels: Vec<Arc<dyn Channel>> = vec![ch.clone()];
    let running = dudao_rt
        .block_on(dudao::service::start(settings, Arc::new(dudao::clock::SystemClock), channels))
        .expect("service starts");
    let pool = running.app.db.clone();
    let addr = running.http_addr;

    // Roster QQ numbers bind automatically, so every sender gets the full help text back.
    let senders: Vec<i64> = dudao_rt.block_on(async {
        sqlx::query_scalar::<_, String>(
            "SELECT account_id FROM chat_accounts WHERE platform = 'qq' AND source = 'roster' ORDER BY account_id LIMIT 50",
        )
        .fetch_all(&pool)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.parse().unwrap())
        .collect()
    });

    let rec = Recorder::new();
    let replies = rec.subscribe();
    let bot = fake_rt
        .block_on(async { connect_reverse(addr, BOT, Auth::Bearer(TOKEN), rec.clone()).await.expect("connect") });
    let mut d = Driver {
        bot,
        replies,
        senders,
        groups: (0..n_groups as i64).map(|g| 800_000 + g).collect(),
        next_id: 0,
        waiting: HashMap::new(),
    };
    let count_rows = |pool: &sqlx::SqlitePool| {
        let pool = pool.clone();
        dudao_rt.block_on(async move {
            // The fake sees a reply a moment before the outbox records it as sent.
            for _ in 0..200 {
                let open: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'sending')")
                        .fetch_one(&pool)
                        .await
                        .unwrap();
                if open == 0 {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            let inbound: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM inbound_messages WHERE status = 'processed'")
                .fetch_one(&pool)
                .await
                .unwrap();
            let sent: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE status = 'sent'").fetch_one(&pool).await.unwrap();
            (inbound, sent)
        })
    };

    fake_rt.block_on(async {
        // Warm-up.
        for i in 0..50 {
            d.send(i);
            d.reply().await;
        }
    });

    // Unloaded latency: one message at a time.
    let c0 = cpu();
    let t0 = Instant::now();
    let mut lat: Vec<Duration> = fake_rt.block_on(async {
        let mut v = Vec::with_capacity(seq);
        for i in 0..seq {
            d.send(i);
            v.push(d.reply().await);
        }
        v
    });
    let seq_wall = t0.elapsed();
    let c1 = cpu();
    lat.sort();

    // Throughput: everything at once, spread over the groups. A watcher notes when the last
    // inbound message is committed and processed (ingest), separately from the last reply.
    let target = (50 + seq + n) as i64;
    let watcher = {
        let pool = pool.clone();
        dudao_rt.spawn(async move {
            loop {
                let done: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM inbound_messages WHERE status = 'processed'")
                    .fetch_one(&pool)
                    .await
                    .unwrap_or(0);
                if done >= target {
                    return Instant::now();
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let t1 = Instant::now();
    let mut lat_load: Vec<Duration> = fake_rt.block_on(async {
        for i in 0..n {
            d.send(i);
        }
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(d.reply().await);
        }
        v
    });
    let load_wall = t1.elapsed();
    let ingested = dudao_rt.block_on(watcher).unwrap().duration_since(t1);
    let c2 = cpu();
    lat_load.sort();
    let (inbound, sent) = count_rows(&pool);
    let expected = (50 + seq + n) as i64;

    println!("OneBot adapter benchmark (reverse WebSocket, loopback; database.synchronous = {sync}; pacing off)");
    println!("  database file: {}", db.display());
    println!("  committed rows: {inbound} processed inbound messages, {sent} sent replies (expected {expected} each)");
    println!(
        "  sequential ({seq} messages, one in flight): {:.0} msg/s; latency event→reply p50 {} p99 {} max {}",
        seq as f64 / seq_wall.as_secs_f64(),
        ms(pct(&lat, 0.5)),
        ms(pct(&lat, 0.99)),
        ms(pct(&lat, 1.0)),
    );
    println!(
        "  burst ({n} messages over {n_groups} groups): {:.0} msg/s; latency event→reply p50 {} p99 {} max {}",
        n as f64 / load_wall.as_secs_f64(),
        ms(pct(&lat_load, 0.5)),
        ms(pct(&lat_load, 0.99)),
        ms(pct(&lat_load, 1.0)),
    );
    let per = |a: f64, b: f64, k: usize| format!("{:.0} µs", (b - a) / k as f64 * 1e6);
    println!(
        "  burst ingest (all {n} stored and processed, replies queued): {:.0} msg/s",
        n as f64 / ingested.as_secs_f64()
    );
    println!(
        "  CPU per message (sequential): Dudao {} | fake {} | whole process {}",
        per(c0.dudao, c1.dudao, seq),
        per(c0.fake, c1.fake, seq),
        per(c0.total, c1.total, seq)
    );
    println!(
        "  CPU per message (burst):      Dudao {} | fake {} | whole process {}",
        per(c1.dudao, c2.dudao, n),
        per(c1.fake, c2.fake, n),
        per(c1.total, c2.total, n)
    );
    println!("  (CPU from /proc/self/task/*/stat at 10 ms resolution; Dudao = its runtime and SQLite worker threads)");
    assert_eq!(inbound, expected, "every message committed");
    assert_eq!(sent, expected, "every reply sent");

    d.bot.close();
    dudao_rt.block_on(running.stop());
}
