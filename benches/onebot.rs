//! Benchmark (issue 15): inbound QQ group messages through the real OneBot adapter (a fake
//! NapCat connected in reverse mode over a loopback WebSocket) to committed rows and the replies
//! the fake receives.
//!
//!     cargo bench --bench onebot                     # both modes, defaults
//!     BENCH_MODE=full cargo bench --bench onebot     # full | floor | both (default)
//!     BENCH_SEQ=2000 BENCH_N=10000 BENCH_INFLIGHT=32 cargo bench --bench onebot
//!     BENCH_SYNC=normal cargo bench --bench onebot   # database.synchronous (default: full)
//!     BENCH_ROUNDS=3 cargo bench --bench onebot      # floor/full interleaved 3 times, best of each
//!     BENCH_TEXT=whoami cargo bench --bench onebot   # "我是谁" instead of weekly reports
//!     BENCH_LOG=dudao::sql=debug BENCH_MODE=full cargo bench --bench onebot   # every statement, on stderr
//!     BENCH_FLOOR=dudao cargo bench --bench onebot    # the floor on the crate's SQL layer, not sqlx
//!
//! Modes, each run in a fresh child process of this binary (so idle RSS is a start-up figure):
//! - `full`: the real service. Inspectors of the sample county bind their QQ accounts with
//!   binding codes (`绑定 …`), this week's weekly round is opened (the `weekly_prompt` job), and
//!   each inspector then @-mentions the bot in their zone group with a free-text weekly report
//!   (schools, methods and problems vary per message). Each report after an inspector's first
//!   starts with "修改" (a whole new version), so the cost per message does not depend on how
//!   many parts came before (that growth is a separate point of issue 15).
//! - `floor`: the same adapter, socket, HTTP server and SQLite file settings (WAL, the same
//!   `synchronous`), but each inbound message is inserted as one row in its own transaction and
//!   one reply is sent back through the adapter: the in-project floor. By default it runs its
//!   statements through sqlx (a pool, a write mutex, `BEGIN IMMEDIATE`), the "bare tokio + axum +
//!   sqlx loop" issue 15 measured against; `BENCH_FLOOR=dudao` runs them through `dudao::sql`.
//!
//! Phases: sequential (one message in flight: send, wait for the reply, send the next) and
//! BENCH_INFLIGHT (default 32) outstanding. Latency is event sent → reply received by the fake.
//! Pacing is off: this measures the adapter and the pipeline, not QQ's rate limits. The fake
//! runs on its own runtime threads so CPU time and context switches are split by thread name.

#[path = "../tests/common/onebot_fake.rs"]
mod onebot_fake;

use async_trait::async_trait;
use dudao::chat::onebot::OneBotChannel;
use dudao::chat::{ChannelContext, InboundMessage, InboundSink, OutboundMessage, Segment};
use dudao::config::Settings;
use dudao::scheduler::Job;
use dudao::Channel;
use onebot_fake::{connect_reverse, Action, Auth, FakeConn, Recorder};
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::io::BufRead;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedReceiver;

const BOT: &str = "3000000001";
const TOKEN: &str = "bench-token";
/// /proc reports CPU time in USER_HZ ticks, which Linux fixes at 100 per second.
const TICK: f64 = 0.01;
/// The line a child prints its figures on, for the parent.
const RESULT: &str = "BENCH_RESULT ";
/// Zone groups: Z01..Z06 are registered as QQ groups 810001..810006.
const GROUP_BASE: i64 = 810_000;
/// The inspectors' QQ numbers: 900000000 + index.
const QQ_BASE: i64 = 900_000_000;

// Issue 15's targets.
const TARGET_SHARE_INFLIGHT: f64 = 50.0;
const TARGET_SHARE_SEQ: f64 = 30.0;
const TARGET_CTXSW: f64 = 10.0;
const TARGET_CPU_MS: f64 = 0.15;
const TARGET_IDLE_RSS_MB: f64 = 15.0;

fn env_usize(k: &str, d: usize) -> usize {
    std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d)
}

// ---------------------------------------------------------------------------------------------
// /proc sampling

/// Which threads are Dudao's: its runtime (also the blocking pool) and sqlx's SQLite workers.
fn is_dudao(comm: &str) -> bool {
    comm.starts_with("dudao") || comm.starts_with("sqlx-sqlite")
}

#[derive(Debug, Clone, Default)]
struct Sample {
    /// Per Dudao thread id: (CPU seconds, context switches).
    dudao: HashMap<String, (f64, u64)>,
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

fn ctx_switches(status: &str) -> u64 {
    status
        .lines()
        .filter(|l| l.starts_with("voluntary_ctxt_switches:") || l.starts_with("nonvoluntary_ctxt_switches:"))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum()
}

fn sample() -> Sample {
    let mut s = Sample {
        total: std::fs::read_to_string("/proc/self/stat").ok().and_then(|s| stat_times(&s)).unwrap_or(0.0),
        ..Sample::default()
    };
    if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
        for t in dir.flatten() {
            let p = t.path();
            let comm = std::fs::read_to_string(p.join("comm")).unwrap_or_default();
            let Some(secs) = std::fs::read_to_string(p.join("stat")).ok().and_then(|s| stat_times(&s)) else {
                continue;
            };
            let comm = comm.trim();
            if is_dudao(comm) {
                let cs = std::fs::read_to_string(p.join("status")).map(|s| ctx_switches(&s)).unwrap_or(0);
                s.dudao.insert(t.file_name().to_string_lossy().into_owned(), (secs, cs));
            } else if comm.starts_with("fake") {
                s.fake += secs;
            }
        }
    }
    s
}

/// Dudao's CPU seconds and context switches between two samples. A thread that started in
/// between counts from zero; one that ended in between is lost (tokio's idle blocking threads).
fn dudao_delta(a: &Sample, b: &Sample) -> (f64, u64) {
    let mut cpu = 0.0;
    let mut cs = 0;
    for (tid, (c1, s1)) in &b.dudao {
        let (c0, s0) = a.dudao.get(tid).copied().unwrap_or((0.0, 0));
        cpu += (c1 - c0).max(0.0);
        cs += s1.saturating_sub(s0);
    }
    (cpu, cs)
}

/// A `kB` line of /proc/self/status, in MB.
fn status_mb(key: &str) -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

// ---------------------------------------------------------------------------------------------
// The workload

/// An inspector of the sample county, as the bench drives them.
#[derive(Debug, Clone)]
struct Author {
    code: String,
    zone: String,
    qq: i64,
    group: i64,
    /// Short names of the schools the inspector is primarily responsible for (else the zone's).
    schools: Vec<String>,
}

/// Reads the shipped sample roster (config/sample-roster): the non-invited inspectors with a
/// zone, and their schools. Both modes use the same authors, groups and texts.
fn authors() -> Vec<Author> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/sample-roster");
    let rows = |f: &str| -> Vec<Vec<String>> {
        let text = std::fs::read_to_string(dir.join(f)).expect("sample roster readable");
        text.trim_start_matches('\u{feff}')
            .lines()
            .skip(1)
            .map(|l| l.split(',').map(str::to_string).collect())
            .collect()
    };
    let schools = rows("schools.csv");
    let mut out = Vec::new();
    for p in rows("people.csv") {
        // 编号,姓名,角色,督学类型,责任区,…
        if p.get(2).map(String::as_str) != Some("责任督学") || p[3] == "特约" || p[4].is_empty() {
            continue;
        }
        // 学校代码,学校名称,简称,别名,责任区,…,主责督学 (column 10)
        let mine: Vec<String> = schools.iter().filter(|s| s.get(9) == Some(&p[0])).map(|s| s[2].clone()).collect();
        let zone: Vec<String> = schools.iter().filter(|s| s.get(4) == Some(&p[4])).map(|s| s[2].clone()).collect();
        let zone_no: i64 = p[4].trim_start_matches('Z').parse().expect("zone Znn");
        let i = out.len() as i64;
        out.push(Author {
            code: p[0].clone(),
            zone: p[4].clone(),
            qq: QQ_BASE + i,
            group: GROUP_BASE + zone_no,
            schools: if mine.is_empty() { zone } else { mine },
        });
    }
    assert!(!out.is_empty(), "no inspectors in the sample roster");
    out
}

const METHODS: &[&str] =
    &["推门听课{n}节，查阅资料", "查阅台账，座谈{n}人次", "随堂听课{n}节，走访家长", "实地查看，访谈师生{n}人"];
const PROBLEMS: &[&str] = &[
    "食堂台账不全",
    "消防通道堆放杂物",
    "课后服务签到表缺失",
    "部分教室灯光照度不足",
    "作业公示未按周更新",
    "心理辅导室未按时开放",
    "校车接送记录不完整",
    "图书室借阅登记缺漏",
    "体育器材存在安全隐患",
    "晨检记录填写不规范",
];
const FOLLOW_UPS: &[&str] =
    &["已督促学校限期整改", "已现场反馈校长，约定下周复查", "学校已制定整改方案", "已上报督导室备案"];

/// The weekly report author `a` sends as the bench's message number `i`; `again`: not the
/// author's first, so it replaces the report on file ("修改 …").
fn report_text(a: &Author, i: usize, again: bool) -> String {
    let s = &a.schools;
    let (s1, s2, s3) = (&s[i % s.len()], &s[(i + 1) % s.len()], &s[(i + 2) % s.len()]);
    let visited = if s1 == s2 { s1.clone() } else { format!("{s1}、{s2}") };
    let n = i % 5 + 1;
    let method = METHODS[i % METHODS.len()].replace("{n}", &n.to_string());
    let p1 = PROBLEMS[i % PROBLEMS.len()];
    let p2 = PROBLEMS[(i * 7 + 3) % PROBLEMS.len()];
    let problems = if p1 == p2 { format!("1．{p1}") } else { format!("1．{p1}；2．{p2}") };
    let follow = FOLLOW_UPS[i % FOLLOW_UPS.len()];
    format!(
        "{}本周督导学校：{visited}\n督导方式：{method}\n发现问题：{problems}\n整改跟进：{follow}\n下周计划：回访{s3}",
        if again { "修改 " } else { "" }
    )
}

struct Driver {
    bot: FakeConn,
    replies: UnboundedReceiver<Action>,
    authors: Vec<Author>,
    /// Messages each author has sent so far.
    sent_by: HashMap<i64, usize>,
    next_id: i64,
    /// Per (group, author): when each message still waiting for its reply was sent. Replies
    /// mention their author and come in order per chat.
    waiting: HashMap<(i64, i64), VecDeque<Instant>>,
    /// Sends the fake got that answer no bench message.
    strays: usize,
    /// Reply texts seen, a few of each kind, to show what the pipeline answered.
    seen: Vec<String>,
    /// BENCH_TEXT=whoami: the command 我是谁 instead of reports (the pipeline without the intake).
    whoami: bool,
}

impl Driver {
    fn send(&mut self, i: usize) {
        let a = &self.authors[i % self.authors.len()];
        let count = self.sent_by.entry(a.qq).or_default();
        let text = if self.whoami { "我是谁".to_string() } else { report_text(a, i, *count > 0) };
        *count += 1;
        self.next_id += 1;
        self.waiting.entry((a.group, a.qq)).or_default().push_back(Instant::now());
        self.bot.group_msg(
            a.group,
            a.qq,
            json!(self.next_id),
            json!([{"type": "at", "data": {"qq": BOT}}, {"type": "text", "data": {"text": format!(" {text}")}}]),
        );
    }

    /// The next reply to a bench message; returns its latency.
    async fn reply(&mut self) -> Duration {
        loop {
            let a = tokio::time::timeout(Duration::from_secs(60), self.replies.recv())
                .await
                .expect("no reply within 60 s")
                .expect("fake stopped");
            if a.action != "send_group_msg" {
                self.strays += 1;
                continue;
            }
            let g = a.params["group_id"].as_i64().unwrap_or_default();
            let user = a
                .segments()
                .iter()
                .find(|s| s["type"] == "at")
                .and_then(|s| s["data"]["qq"].as_str().and_then(|q| q.parse::<i64>().ok()));
            let Some(sent) = user.and_then(|u| self.waiting.get_mut(&(g, u))).and_then(VecDeque::pop_front) else {
                self.strays += 1;
                continue;
            };
            if self.seen.len() < 3 {
                self.seen.push(a.text());
            }
            return a.at.duration_since(sent);
        }
    }

    /// Waits for a private reply to `user` (binding) and returns its text.
    async fn private_reply(&mut self, user: i64) -> String {
        loop {
            let a = tokio::time::timeout(Duration::from_secs(30), self.replies.recv())
                .await
                .expect("no private reply within 30 s")
                .expect("fake stopped");
            if a.action == "send_private_msg" && a.params["user_id"].as_i64() == Some(user) {
                return a.text();
            }
        }
    }

    /// Sequential: one message in flight at a time.
    async fn sequential(&mut self, from: usize, n: usize) -> Vec<Duration> {
        let mut v = Vec::with_capacity(n);
        for i in from..from + n {
            self.send(i);
            v.push(self.reply().await);
        }
        v
    }

    /// Keeps `inflight` messages outstanding until `n` are answered.
    async fn in_flight(&mut self, from: usize, n: usize, inflight: usize) -> Vec<Duration> {
        let mut v = Vec::with_capacity(n);
        let mut next = from;
        while next < from + n.min(inflight) {
            self.send(next);
            next += 1;
        }
        for _ in 0..n {
            v.push(self.reply().await);
            if next < from + n {
                self.send(next);
                next += 1;
            }
        }
        v
    }
}

// ---------------------------------------------------------------------------------------------
// The floor: store a row, reply

/// The in-project floor: what any bot on this adapter must do at least. Each message is one
/// row in its own write transaction (durable before the reply), then one reply goes back
/// through the adapter.
struct Floor {
    db: FloorDb,
    ch: Arc<OneBotChannel>,
}

/// The floor's database: sqlx (the default) or the crate's own layer.
#[derive(Clone)]
enum FloorDb {
    Sqlx { pool: sqlx::SqlitePool, gate: Arc<tokio::sync::Mutex<()>> },
    Dudao(dudao::db::Db),
}

const FLOOR_TABLE: &str =
    "CREATE TABLE floor_inbound (id INTEGER PRIMARY KEY, channel TEXT NOT NULL, chat_id TEXT NOT NULL,
     sender_id TEXT NOT NULL, platform_msg_id TEXT NOT NULL, body TEXT NOT NULL, received_at TEXT NOT NULL)";
const FLOOR_INSERT: &str = "INSERT INTO floor_inbound (channel, chat_id, sender_id, platform_msg_id, body, received_at)
     VALUES (?, ?, ?, ?, ?, ?)";

impl FloorDb {
    async fn open(settings: &Settings) -> FloorDb {
        let db = dudao::db::connect(&settings.database).await.expect("floor database");
        dudao::sql::query(FLOOR_TABLE).execute(&db).await.unwrap();
        if std::env::var("BENCH_FLOOR").as_deref() == Ok("dudao") {
            return FloorDb::Dudao(db);
        }
        db.close().await;
        let d = &settings.database;
        let opts = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&d.path)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .synchronous(match d.synchronous {
                dudao::config::Synchronous::Full => sqlx::sqlite::SqliteSynchronous::Full,
                dudao::config::Synchronous::Normal => sqlx::sqlite::SqliteSynchronous::Normal,
            })
            .busy_timeout(Duration::from_millis(d.busy_timeout_ms));
        let pool = sqlx::sqlite::SqlitePoolOptions::new().connect_with(opts).await.expect("floor pool");
        FloorDb::Sqlx { pool, gate: Arc::default() }
    }

    async fn insert(&self, m: &InboundMessage) -> anyhow::Result<i64> {
        let at = dudao::db::ts(chrono::Utc::now());
        Ok(match self {
            FloorDb::Sqlx { pool, gate } => {
                let _gate = gate.lock().await;
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let id = sqlx::query(FLOOR_INSERT)
                    .bind(&m.chat.channel)
                    .bind(&m.chat.id)
                    .bind(&m.sender.id)
                    .bind(&m.platform_msg_id)
                    .bind(m.text())
                    .bind(at)
                    .execute(&mut *tx)
                    .await?
                    .last_insert_rowid();
                tx.commit().await?;
                id
            }
            FloorDb::Dudao(db) => {
                let mut tx = dudao::db::begin_write(db).await?;
                let id = dudao::sql::query(FLOOR_INSERT)
                    .bind(&m.chat.channel)
                    .bind(&m.chat.id)
                    .bind(&m.sender.id)
                    .bind(&m.platform_msg_id)
                    .bind(m.text())
                    .bind(at)
                    .execute(&mut *tx)
                    .await?
                    .last_insert_rowid();
                tx.commit().await?;
                id
            }
        })
    }

    async fn count(&self) -> i64 {
        const COUNT: &str = "SELECT COUNT(*) FROM floor_inbound";
        match self {
            FloorDb::Sqlx { pool, .. } => sqlx::query_scalar(COUNT).fetch_one(pool).await.unwrap_or(-1),
            FloorDb::Dudao(db) => dudao::sql::query_scalar(COUNT).fetch_one(db).await.unwrap_or(-1),
        }
    }

    async fn close(&self) {
        match self {
            FloorDb::Sqlx { pool, .. } => pool.close().await,
            FloorDb::Dudao(db) => db.close().await,
        }
    }
}

impl Floor {
    async fn insert(&self, m: &InboundMessage) -> anyhow::Result<i64> {
        self.db.insert(m).await
    }

    async fn answer(&self, m: &InboundMessage) -> anyhow::Result<()> {
        let out = OutboundMessage {
            chat: m.chat.clone(),
            segments: vec![
                Segment::Mention { user_id: m.sender.id.clone(), name: m.sender.display.clone().unwrap_or_default() },
                Segment::text(" 已收到。"),
            ],
            attachment: None,
        };
        self.ch.send(&out).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(())
    }
}

#[async_trait]
impl InboundSink for Floor {
    async fn deliver(&self, msg: InboundMessage) -> anyhow::Result<()> {
        self.insert(&msg).await?;
        self.answer(&msg).await
    }

    async fn store(&self, msgs: &[InboundMessage]) -> anyhow::Result<Vec<Option<i64>>> {
        let mut ids = Vec::with_capacity(msgs.len());
        for m in msgs {
            ids.push(Some(self.insert(m).await?));
        }
        Ok(ids)
    }

    async fn process_stored(&self, _id: i64, msg: InboundMessage) -> anyhow::Result<()> {
        self.answer(&msg).await
    }
}

// ---------------------------------------------------------------------------------------------
// One mode, in this process

fn settings_toml(db: &std::path::Path, sync: &str) -> String {
    let mut t = format!(
        "[database]\npath = \"{}\"\nsynchronous = \"{sync}\"\n[http]\nbind = \"127.0.0.1:0\"\n\
         [channels.console]\nenabled = false\n\
         [channels.onebot]\nenabled = true\naccess_token = \"{TOKEN}\"\nmin_interval_ms = 0\nmax_per_minute = 0\n\
         chat_min_interval_ms = 0\nchat_max_per_minute = 0\nsend_jitter_ms = 0\n",
        db.display()
    );
    for z in 1..=6 {
        t.push_str(&format!(
            "[[groups]]\nchannel = \"qq\"\nid = \"{}\"\npurpose = \"zone_inspectors\"\nzone = \"Z{z:02}\"\n",
            GROUP_BASE + z
        ));
    }
    t
}

/// What is running for a mode: how to check the work was done and how to stop.
enum Service {
    Full(dudao::service::Running),
    Floor { db: FloorDb, shutdown: tokio_util::sync::CancellationToken },
}

fn run_mode(mode: &str) {
    let seq = env_usize("BENCH_SEQ", 1000);
    let n = env_usize("BENCH_N", 3000);
    let inflight = env_usize("BENCH_INFLIGHT", 32).max(1);
    let warm = env_usize("BENCH_WARMUP", 100);
    let sync = std::env::var("BENCH_SYNC").unwrap_or_else(|_| "full".into());
    let whoami = match std::env::var("BENCH_TEXT").as_deref() {
        Err(_) | Ok("report") => false,
        Ok("whoami") => true,
        Ok(other) => panic!("BENCH_TEXT must be report or whoami, not {other:?}"),
    };
    let intent = if whoami { "whoami" } else { "weekly_report" };

    let dudao_rt = tokio::runtime::Builder::new_multi_thread().thread_name("dudao-rt").enable_all().build().unwrap();
    let fake_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("fake-rt")
        .enable_all()
        .build()
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("bench.sqlite");
    let settings = Settings::from_toml_over_default(&settings_toml(&db_path, &sync)).expect("bench settings");
    let ch =
        Arc::new(OneBotChannel::new(dudao::chat::onebot::OneBotSettings::from_settings(&settings).unwrap().unwrap()));
    let authors = authors();

    let (service, addr) = match mode {
        "full" => {
            let channels: Vec<Arc<dyn Channel>> = vec![ch.clone()];
            let running = dudao_rt
                .block_on(dudao::service::start(settings, Arc::new(dudao::clock::SystemClock), channels))
                .expect("service starts");
            let addr = running.http_addr;
            (Service::Full(running), addr)
        }
        _ => dudao_rt.block_on(async {
            let db = FloorDb::open(&settings).await;
            let shutdown = tokio_util::sync::CancellationToken::new();
            let sink = Arc::new(Floor { db: db.clone(), ch: ch.clone() });
            let ctx = ChannelContext { sink, shutdown: shutdown.clone() };
            let routes: Vec<axum::Router> = ch.clone().routes(ctx.clone()).into_iter().collect();
            let run = ch.clone();
            tokio::spawn(async move {
                let _ = run.run(ctx).await;
            });
            let (listener, addr) = dudao::http::bind("127.0.0.1:0").await.expect("bind");
            // The floor serves only the adapter's routes (no health check, no App behind it).
            let router = routes.into_iter().fold(axum::Router::new(), |r, e| r.merge(e));
            let sd = shutdown.clone();
            tokio::spawn(async move {
                let _ = dudao::http::serve(listener, router, sd).await;
            });
            (Service::Floor { db, shutdown }, addr)
        }),
    };

    let rec = Recorder::new();
    let replies = rec.subscribe();
    let bot = fake_rt
        .block_on(async { connect_reverse(addr, BOT, Auth::Bearer(TOKEN), rec.clone()).await.expect("connect") });
    // Idle: started and connected, nothing received yet.
    let idle_rss = status_mb("VmRSS:");
    let mut d = Driver {
        bot,
        replies,
        authors: authors.clone(),
        sent_by: HashMap::new(),
        next_id: 0,
        waiting: HashMap::new(),
        strays: 0,
        seen: Vec::new(),
        whoami,
    };

    if let Service::Full(running) = &service {
        // Each inspector binds a QQ account of their own with a binding code, as people do.
        let app = running.app.clone();
        for a in &authors {
            let code = dudao_rt.block_on(async {
                let mut tx = dudao::db::begin_write(&app.db).await.unwrap();
                let pid: i64 = dudao::sql::query_scalar("SELECT id FROM people WHERE code = ?")
                    .bind(&a.code)
                    .fetch_one(&mut *tx)
                    .await
                    .unwrap();
                let (code, _) =
                    dudao::store::binding::issue(&mut tx, pid, chrono::Utc::now(), chrono::Duration::hours(72))
                        .await
                        .unwrap();
                tx.commit().await.unwrap();
                code
            });
            let text = fake_rt.block_on(async {
                d.bot.private_msg(a.qq, json!(a.qq), json!(format!("绑定 {code}")));
                d.private_reply(a.qq).await
            });
            assert!(text.contains("绑定成功"), "{} ({}) could not bind: {text}", a.code, a.zone);
        }
        // This week's round opens (the weekly_prompt job, run now); the prompts go out first.
        dudao_rt.block_on(async {
            let now = app.clock.now();
            let firing = dudao::scheduler::Firing {
                schedule: "weekly_prompt".into(),
                nominal_at: now,
                fire_at: now,
                params: json!({}),
            };
            let mut tx = dudao::db::begin_write(&app.db).await.unwrap();
            dudao::app::weekly::Prompt.run(&app.job_ctx, &mut tx, &firing).await.expect("weekly round opens");
            tx.commit().await.unwrap();
            app.outbox_notify.notify_one();
        });
        let groups: std::collections::HashSet<i64> = authors.iter().map(|a| a.group).collect();
        fake_rt.block_on(async {
            let mut prompted = std::collections::HashSet::new();
            while prompted.len() < groups.len() {
                let a = tokio::time::timeout(Duration::from_secs(30), d.replies.recv())
                    .await
                    .expect("weekly prompts within 30 s")
                    .expect("fake stopped");
                if a.action == "send_group_msg" && a.text().contains("周报开始收集") {
                    prompted.insert(a.params["group_id"].as_i64().unwrap_or_default());
                }
            }
        });
    }

    // Warm-up: every author's first report (so all later ones are "修改" versions), and more.
    let warm = warm.max(authors.len());
    fake_rt.block_on(d.sequential(0, warm));
    let strays_before = d.strays;

    // Group commit: how many messages shared each processing transaction, per phase.
    let commits = || match &service {
        Service::Full(r) => r.app.pipeline.committed(),
        Service::Floor { .. } => (0, 0),
    };
    let batch_mean = |a: (u64, u64), b: (u64, u64)| (b.1 - a.1) as f64 / (b.0 - a.0).max(1) as f64;
    let c0 = commits();
    let s0 = sample();
    let t0 = Instant::now();
    let mut lat_seq = fake_rt.block_on(d.sequential(warm, seq));
    let seq_wall = t0.elapsed();
    let s1 = sample();
    let c1 = commits();
    let t1 = Instant::now();
    let mut lat_fl = fake_rt.block_on(d.in_flight(warm + seq, n, inflight));
    let fl_wall = t1.elapsed();
    let s2 = sample();
    let c2 = commits();
    if let Service::Full(_) = &service {
        println!(
            "[full] messages per processing transaction: {:.2} at 1 in flight, {:.2} at {inflight} in flight",
            batch_mean(c0, c1),
            batch_mean(c1, c2)
        );
    }
    lat_seq.sort();
    lat_fl.sort();
    let peak_rss = status_mb("VmHWM:");
    let total = (warm + seq + n) as i64;

    // Everything stored (and, for the full pipeline, processed and recorded as sent).
    let (stored, replied) = dudao_rt.block_on(async {
        match &service {
            Service::Full(r) => {
                let db = r.app.db.clone();
                // The fake sees a reply a moment before the outbox records it as sent.
                let deadline = Instant::now() + Duration::from_secs(10);
                loop {
                    let open: i64 =
                        dudao::sql::query_scalar("SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'sending')")
                            .fetch_one(&db)
                            .await
                            .unwrap();
                    if open == 0 || Instant::now() > deadline {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                let stored: i64 = dudao::sql::query_scalar(
                    "SELECT COUNT(*) FROM inbound_messages WHERE status = 'processed' AND chat_kind = 'group'",
                )
                .fetch_one(&db)
                .await
                .unwrap_or(-1);
                // What the pipeline made of each group message (the intent it recorded).
                let intents: Vec<(Option<String>, i64)> = dudao::sql::query_as(
                    "SELECT intent, COUNT(*) FROM inbound_messages WHERE chat_kind = 'group' GROUP BY intent",
                )
                .fetch_all(&db)
                .await
                .unwrap_or_default();
                println!("[full] intents recorded for the group messages: {intents:?}");
                let reports = intents.iter().filter(|(i, _)| i.as_deref() == Some(intent)).map(|(_, n)| n).sum();
                (stored, reports)
            }
            Service::Floor { db, .. } => (db.count().await, total),
        }
    });

    let phase = |lat: &[Duration], wall: Duration, a: &Sample, b: &Sample, k: usize| {
        let (cpu, cs) = dudao_delta(a, b);
        json!({
            "messages": k,
            "msg_per_s": k as f64 / wall.as_secs_f64(),
            "p50_ms": pct(lat, 0.5),
            "p99_ms": pct(lat, 0.99),
            "max_ms": pct(lat, 1.0),
            "cpu_ms_per_msg": cpu * 1000.0 / k as f64,
            "fake_cpu_ms_per_msg": (b.fake - a.fake) * 1000.0 / k as f64,
            "process_cpu_ms_per_msg": (b.total - a.total) * 1000.0 / k as f64,
            "ctxsw_per_msg": cs as f64 / k as f64,
        })
    };
    let result = json!({
        "mode": mode,
        "sync": sync,
        "inflight": inflight,
        "sequential": phase(&lat_seq, seq_wall, &s0, &s1, seq),
        "concurrent": phase(&lat_fl, fl_wall, &s1, &s2, n),
        "idle_rss_mb": idle_rss,
        "peak_rss_mb": peak_rss,
        "stored": stored,
        "replied": replied,
        "expected": total,
        "strays": d.strays - strays_before,
        "authors": authors.len(),
    });

    println!(
        "[{mode}] database.synchronous = {sync}; {} inspectors in 6 zone groups; {warm} warm-up, {seq} sequential, {n} at {inflight} in flight",
        authors.len()
    );
    if mode == "full" {
        println!("[{mode}] first reply, e.g.: {}", d.seen.first().cloned().unwrap_or_default().replace('\n', " ⏎ "));
    }
    print_mode(&result);
    println!("{RESULT}{result}");
    assert_eq!(stored, total, "{mode}: every message stored and processed");
    assert_eq!(replied, total, "{mode}: every message handled (full: with the intent {intent})");

    d.bot.close();
    match service {
        Service::Full(r) => dudao_rt.block_on(r.stop()),
        Service::Floor { db, shutdown } => {
            shutdown.cancel();
            dudao_rt.block_on(db.close());
        }
    }
}

fn print_mode(r: &Value) {
    let mode = r["mode"].as_str().unwrap_or("?");
    for (key, label) in
        [("sequential", "1 in flight".to_string()), ("concurrent", format!("{} in flight", r["inflight"]))]
    {
        let p = &r[key];
        println!(
            "[{mode}] {label:>12}: {:>7.0} msg/s  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms  CPU {:.3} ms/msg (fake {:.3}, process {:.3})  ctx switches {:.1}/msg",
            p["msg_per_s"].as_f64().unwrap_or(0.0),
            p["p50_ms"].as_f64().unwrap_or(0.0),
            p["p99_ms"].as_f64().unwrap_or(0.0),
            p["max_ms"].as_f64().unwrap_or(0.0),
            p["cpu_ms_per_msg"].as_f64().unwrap_or(0.0),
            p["fake_cpu_ms_per_msg"].as_f64().unwrap_or(0.0),
            p["process_cpu_ms_per_msg"].as_f64().unwrap_or(0.0),
            p["ctxsw_per_msg"].as_f64().unwrap_or(0.0),
        );
    }
    println!(
        "[{mode}] RSS idle {:.1} MB, peak (VmHWM) {:.1} MB; stored {}, handled {}, expected {}; stray sends {}",
        r["idle_rss_mb"].as_f64().unwrap_or(0.0),
        r["peak_rss_mb"].as_f64().unwrap_or(0.0),
        r["stored"],
        r["replied"],
        r["expected"],
        r["strays"],
    );
}

// ---------------------------------------------------------------------------------------------
// The parent: each mode in a child process, then the comparison

fn run_child(mode: &str) -> Value {
    let exe = std::env::current_exe().expect("own path");
    let mut child = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env("BENCH_MODE", mode)
        .env("BENCH_CHILD", "1")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("child starts");
    let mut result = None;
    for line in std::io::BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.expect("child output");
        match line.strip_prefix(RESULT) {
            Some(j) => result = serde_json::from_str(j).ok(),
            None => println!("{line}"),
        }
    }
    let status = child.wait().expect("child ends");
    assert!(status.success(), "the {mode} run failed: {status}");
    result.expect("the child printed its figures")
}

fn f(v: &Value, path: &[&str]) -> f64 {
    path.iter().fold(v, |v, k| &v[*k]).as_f64().unwrap_or(0.0)
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "PASS"
    } else {
        "MISS"
    }
}

/// The best run of a mode: highest in-flight throughput.
fn best(runs: &[Value]) -> Value {
    runs.iter()
        .max_by(|a, b| f(a, &["concurrent", "msg_per_s"]).total_cmp(&f(b, &["concurrent", "msg_per_s"])))
        .cloned()
        .unwrap_or(Value::Null)
}

fn main() {
    let mode = std::env::var("BENCH_MODE").unwrap_or_else(|_| "both".into());
    match mode.as_str() {
        "full" | "floor" if std::env::var_os("BENCH_CHILD").is_some() => {
            // BENCH_LOG=dudao::sql=debug lists every statement the pipeline runs (on stderr).
            if let Ok(filter) = std::env::var("BENCH_LOG") {
                tracing_subscriber::fmt()
                    .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                    .with_writer(std::io::stderr)
                    .init();
            }
            return run_mode(&mode);
        }
        "full" | "floor" | "both" => {}
        other => panic!("BENCH_MODE must be full, floor or both, not {other:?}"),
    }
    let rounds = env_usize("BENCH_ROUNDS", 1).max(1);
    let modes: &[&str] = match mode.as_str() {
        "both" => &["floor", "full"],
        "full" => &["full"],
        _ => &["floor"],
    };
    println!("OneBot pipeline benchmark (issue 15): reverse WebSocket on loopback, pacing off, {} CPUs", cpus());
    let mut runs: HashMap<&str, Vec<Value>> = HashMap::new();
    for r in 0..rounds {
        for m in modes {
            if rounds > 1 {
                println!("--- round {} of {rounds}: {m}", r + 1);
            }
            runs.entry(m).or_default().push(run_child(m));
        }
    }
    let full = runs.get("full").map(|v| best(v));
    let floor = runs.get("floor").map(|v| best(v));
    println!();
    println!(
        "Summary{}:",
        if rounds > 1 { format!(" (best of {rounds} rounds by in-flight msg/s)") } else { String::new() }
    );
    for r in [&floor, &full].into_iter().flatten() {
        print_mode(r);
    }
    let Some(full) = full else { return };
    println!();
    println!("Issue 15 targets (full pipeline):");
    let inflight = full["inflight"].clone();
    if let Some(floor) = &floor {
        for (key, label, target) in [
            ("concurrent", format!("{inflight} in flight"), TARGET_SHARE_INFLIGHT),
            ("sequential", "1 in flight".to_string(), TARGET_SHARE_SEQ),
        ] {
            let share = 100.0 * f(&full, &[key, "msg_per_s"]) / f(floor, &[key, "msg_per_s"]).max(1e-9);
            println!(
                "  full / floor msg/s at {label:<12} {share:>7.1} %   target >= {target:.0} %   {}",
                verdict(share >= target)
            );
        }
    }
    for (key, label) in [("sequential", "1 in flight".to_string()), ("concurrent", format!("{inflight} in flight"))] {
        let cs = f(&full, &[key, "ctxsw_per_msg"]);
        println!(
            "  context switches/msg at {label:<12} {cs:>7.1}     target <= {TARGET_CTXSW:.0}      {}",
            verdict(cs <= TARGET_CTXSW)
        );
    }
    for (key, label) in [("sequential", "1 in flight".to_string()), ("concurrent", format!("{inflight} in flight"))] {
        let cpu = f(&full, &[key, "cpu_ms_per_msg"]);
        println!(
            "  CPU ms/msg at {label:<12}           {cpu:>7.3}     target <= {TARGET_CPU_MS:.2}    {}",
            verdict(cpu <= TARGET_CPU_MS)
        );
    }
    let rss = f(&full, &["idle_rss_mb"]);
    println!(
        "  idle RSS (MB)                          {rss:>7.1}     target <= {TARGET_IDLE_RSS_MB:.0}      {}",
        verdict(rss <= TARGET_IDLE_RSS_MB)
    );
    println!("  (CPU: /proc/self/task/*/stat, 10 ms ticks; CPU and context switches are Dudao's threads only:");
    println!("   its runtime and SQLite workers, not the fake's; RSS is the whole bench process, fake included.)");
}

fn cpus() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}
