//! The real `dudao` binary killed with SIGKILL at random points — under load and in the middle
//! of a scheduled fan-out — and restarted, against a Telegram Bot API stand-in on loopback that
//! redelivers every update whose offset was not confirmed. Then a platform outage with messages
//! piling up. Nothing may be lost, processed twice, or sent twice when sent at most once, and no
//! chat may stay blocked after a restart.
//!
//! `CRASH_CYCLES` (default 6) and `CRASH_OUTAGE_SECS` (default 15) set the budget; the long run
//! in the README uses `CRASH_CYCLES=40 CRASH_OUTAGE_SECS=300`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use chrono::{Timelike, Utc};
use dudao::db::Db as SqlitePool;
use rand::Rng;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TOKEN: &str = "5550001:crash-test-token";
const USERS: i64 = 10;
const GROUPS: i64 = 30;
const FANOUT_TEXT: &str = "【提醒】本周五前请完成本学期第二轮挂牌督导，并上传督导纪实。";

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[derive(Default)]
struct Platform {
    /// Updates not yet confirmed by an offset; Telegram hands them out again until confirmed.
    pending: Vec<Value>,
    next_update_id: i64,
    /// Delivered sendMessage calls: (chat id, text).
    delivered: Vec<(i64, String)>,
    send_calls: usize,
    down: bool,
}

type Fake = Arc<Mutex<Platform>>;

fn ok(result: Value) -> Json<Value> {
    Json(json!({"ok": true, "result": result}))
}

async fn api(State(f): State<Fake>, Path((_bot, method)): Path<(String, String)>, raw: Bytes) -> Json<Value> {
    let body: Value = serde_json::from_slice(&raw).unwrap_or(json!({}));
    match method.to_ascii_lowercase().as_str() {
        "getme" => ok(json!({
            "id": 5550001, "is_bot": true, "first_name": "督导助手", "username": "dudao_crash_bot",
            "can_join_groups": true, "can_read_all_group_messages": false,
            "supports_inline_queries": false, "has_main_web_app": false
        })),
        "getupdates" => {
            let batch: Vec<Value> = {
                let mut p = f.lock().unwrap();
                if let Some(o) = body["offset"].as_i64() {
                    p.pending.retain(|u| u["update_id"].as_i64().unwrap_or(0) >= o);
                }
                p.pending.iter().take(50).cloned().collect()
            };
            if batch.is_empty() {
                // A long poll with nothing to say, shortened.
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            ok(Value::Array(batch))
        }
        "sendmessage" => {
            let mut p = f.lock().unwrap();
            p.send_calls += 1;
            if p.down {
                return Json(json!({"ok": false, "error_code": 502, "description": "Bad Gateway"}));
            }
            let chat_id = body["chat_id"].as_i64().unwrap_or(0);
            let text = body["text"].as_str().unwrap_or_default().to_string();
            p.delivered.push((chat_id, text.clone()));
            let n = p.delivered.len();
            let kind = if chat_id < 0 { "supergroup" } else { "private" };
            ok(json!({
                "message_id": 100000 + n, "date": Utc::now().timestamp(),
                "chat": {"id": chat_id, "type": kind, "title": "督学群", "first_name": "督学"},
                "from": {"id": 5550001, "is_bot": true, "first_name": "督导助手", "username": "dudao_crash_bot"},
                "text": text
            }))
        }
        "deletewebhook" => ok(json!(true)),
        other => Json(json!({"ok": false, "error_code": 404, "description": format!("Not Found: method {other}")})),
    }
}

async fn start_platform(fake: Fake) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new().route("/{bot}/{method}", post(api)).with_state(fake);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

/// An inspector writing privately to the bot from Telegram, asking about one school.
struct User {
    tg_id: i64,
    schools: Vec<String>,
    asked: Vec<String>,
}

fn push_update(fake: &Fake, user: &mut User, message_id: i64) {
    let school = user.schools[user.asked.len() % user.schools.len()].clone();
    let mut p = fake.lock().unwrap();
    p.next_update_id += 1;
    let uid = p.next_update_id;
    p.pending.push(json!({
        "update_id": uid,
        "message": {
            "message_id": message_id, "date": Utc::now().timestamp(),
            "chat": {"id": user.tg_id, "type": "private", "first_name": "督学"},
            "from": {"id": user.tg_id, "is_bot": false, "first_name": "督学"},
            "text": format!("学校 {school}")
        }
    }));
    user.asked.push(school);
}

fn config(dir: &std::path::Path, base: &str, fanout_cron: &str) -> std::path::PathBuf {
    let mut groups = String::new();
    for g in 1..=GROUPS {
        groups.push_str(&format!(
            "[[groups]]\nchannel = \"telegram\"\nid = \"-100{g:04}\"\npurpose = \"county_inspectors\"\nname = \"督学群{g}\"\n"
        ));
    }
    let text = format!(
        "[database]\npath = \"{db}\"\nsynchronous = \"full\"\n\
         [http]\nbind = \"127.0.0.1:0\"\n\
         [roster]\nsample_on_empty = false\n\
         [weekly]\nenabled = false\n\
         [outbox]\nbackoff_base_ms = 200\nbackoff_max_ms = 2000\nmax_attempts = 1000\n\
         [channels.console]\nenabled = false\n\
         [channels.telegram]\nenabled = true\ntoken = \"{TOKEN}\"\napi_url = \"{base}\"\npoll_timeout_secs = 1\n\
         retry_initial_ms = 50\nretry_max_ms = 200\nmax_per_second = 100\nchat_max_per_minute = 0\nchat_min_interval_ms = 0\n\
         {groups}\
         [[schedules]]\nname = \"crash_fanout\"\njob = \"announce\"\ncron = \"{fanout_cron}\"\nworkdays = \"fire\"\n\
         params = {{ text = \"{FANOUT_TEXT}\", to = \"county_inspectors\" }}\n",
        db = dir.join("dudao.sqlite").display(),
    );
    let path = dir.join("dudao.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The running binary; killed when dropped, so a failing assertion leaves no process behind.
struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(config: &std::path::Path, log: &std::path::Path) -> Service {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_dudao"))
        .args(["serve", "--config"])
        .arg(config)
        .env("DUDAO_LOG", "dudao=info,warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("the dudao binary starts");
    Service(child)
}

fn kill9(service: &mut Service) {
    service.0.kill().expect("SIGKILL");
    service.0.wait().unwrap();
}

/// CPU seconds a process has used (user + system), from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of stat; `after` starts at field 3.
    let ticks: f64 =
        f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0) + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

async fn wait_until<F, Fut>(what: &str, limit: Duration, db: &SqlitePool, fake: &Fake, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !cond().await {
        if Instant::now() >= deadline {
            panic!("timed out waiting for {what}; {}", snapshot(db, fake).await);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What the platform and the database hold, for a timeout's message.
async fn snapshot(db: &SqlitePool, fake: &Fake) -> String {
    let outbox: Vec<(String, String, i64)> = dudao::sql::query_as(
        "SELECT CASE WHEN source LIKE 'inbound:%' THEN 'reply' ELSE source END, status, COUNT(*) FROM outbox GROUP BY 1, 2",
    )
    .fetch_all(db)
    .await
    .unwrap_or_default();
    let inbound: Vec<(String, i64)> = dudao::sql::query_as("SELECT status, COUNT(*) FROM inbound_messages GROUP BY 1")
        .fetch_all(db)
        .await
        .unwrap_or_default();
    let p = fake.lock().unwrap();
    format!(
        "platform: {} updates unconfirmed, {} delivered; inbound {inbound:?}; outbox {outbox:?}",
        p.pending.len(),
        p.delivered.len()
    )
}

async fn scalar(db: &SqlitePool, sql: &str) -> i64 {
    dudao::sql::query_scalar(sql).fetch_one(db).await.unwrap_or(-1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_nine_under_load_and_during_a_fan_out_loses_nothing() {
    let cycles = env_num("CRASH_CYCLES", 6);
    let outage = Duration::from_secs(env_num("CRASH_OUTAGE_SECS", 15));
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("dudao.log");

    // The roster: the sample county, with ten inspectors on Telegram.
    let settings = dudao::config::Settings::from_toml_over_default(&format!(
        "[database]\npath = \"{}\"\n",
        dir.path().join("dudao.sqlite").display()
    ))
    .unwrap();
    let db = dudao::db::open_and_migrate(&settings.database).await.unwrap();
    dudao::service::seed_sample_roster(&db, &settings, Utc::now()).await.unwrap();
    let inspectors: Vec<(i64, i64)> = dudao::sql::query_as(
        "SELECT id, zone_id FROM people WHERE role = 'inspector' AND active = 1 ORDER BY code LIMIT ?",
    )
    .bind(USERS)
    .fetch_all(&db)
    .await
    .unwrap();
    let mut users = Vec::new();
    for (i, (pid, zone)) in inspectors.into_iter().enumerate() {
        let tg_id = 880_000 + i as i64;
        dudao::sql::query(
            "INSERT INTO chat_accounts (platform, account_id, person_id, source, bound_at) VALUES ('telegram', ?, ?, 'code', ?)",
        )
        .bind(tg_id.to_string())
        .bind(pid)
        .bind(dudao::db::ts(Utc::now()))
        .execute(&db)
        .await
        .unwrap();
        let schools: Vec<String> = dudao::sql::query_scalar("SELECT name FROM schools WHERE zone_id = ? ORDER BY id")
            .bind(zone)
            .fetch_all(&db)
            .await
            .unwrap();
        assert!(schools.len() >= 3);
        users.push(User { tg_id, schools, asked: Vec::new() });
    }

    let fake: Fake = Arc::new(Mutex::new(Platform::default()));
    let base = start_platform(fake.clone()).await;
    let mut rng = rand::rng();
    let mut message_id = 0;
    let mut kills = 0;
    let no_fanout = "0 0 0 1 1 *";
    let mut cfg = config(dir.path(), &base, no_fanout);

    for cycle in 0..cycles {
        for _ in 0..3 {
            for u in users.iter_mut() {
                message_id += 1;
                push_update(&fake, u, message_id);
            }
        }
        let fanout_cycle = cycle == cycles / 2;
        if fanout_cycle {
            // Fire the announcement a few seconds after this start, once (it is a daily cron).
            let at = Utc::now().with_timezone(&chrono_tz::Asia::Shanghai) + chrono::Duration::seconds(3);
            cfg = config(dir.path(), &base, &format!("{} {} {} * * *", at.second(), at.minute(), at.hour()));
        }
        let sends_before = fake.lock().unwrap().send_calls;
        let mut child = spawn(&cfg, &log);
        if fanout_cycle {
            wait_until("the fan-out to start", Duration::from_secs(30), &db, &fake, || async {
                fake.lock().unwrap().delivered.iter().filter(|(_, t)| t == FANOUT_TEXT).count() >= 5
            })
            .await;
        } else {
            // A random point under load: after some number of sends, or once quiet.
            let k = rng.random_range(1..=25);
            wait_until("a kill point", Duration::from_secs(30), &db, &fake, || async {
                let p = fake.lock().unwrap();
                p.send_calls >= sends_before + k || (p.pending.is_empty() && p.send_calls >= sends_before + 30)
            })
            .await;
        }
        kill9(&mut child);
        kills += 1;
    }

    // The last start runs to completion; nothing may stay blocked, whatever was in flight.
    let mut child = spawn(&cfg, &log);
    let total = message_id;
    wait_until("every update confirmed, processed and answered", Duration::from_secs(60), &db, &fake, || async {
        fake.lock().unwrap().pending.is_empty()
            && scalar(&db, "SELECT COUNT(*) FROM inbound_messages WHERE status = 'processed'").await == total
            && scalar(&db, "SELECT COUNT(*) FROM outbox WHERE source LIKE 'inbound:%' AND status = 'sent'").await
                == total
            && scalar(&db, "SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'sending')").await == 0
    })
    .await;

    // An outage: the platform refuses every send while inspectors keep writing.
    fake.lock().unwrap().down = true;
    for u in users.iter_mut() {
        for _ in 0..4 {
            message_id += 1;
            push_update(&fake, u, message_id);
        }
    }
    let total = message_id;
    wait_until(
        "the messages written during the outage to be stored and tried",
        Duration::from_secs(30),
        &db,
        &fake,
        || async {
            scalar(&db, "SELECT COUNT(*) FROM inbound_messages WHERE status = 'processed'").await == total
                && scalar(&db, "SELECT COUNT(*) FROM outbox WHERE status = 'pending' AND attempts > 0").await >= USERS
        },
    )
    .await;
    let pid = child.0.id();
    let (cpu0, wall0) = (cpu_seconds(pid), Instant::now());
    // The outage is the scenario, not a synchronisation: the platform stays down this long.
    tokio::time::sleep(outage).await;
    let cpu_share = (cpu_seconds(pid) - cpu0) / wall0.elapsed().as_secs_f64();
    println!("dudao used {:.2}% of a core during a {}-second outage", cpu_share * 100.0, outage.as_secs());
    fake.lock().unwrap().down = false;
    wait_until("the backlog to drain after the outage", Duration::from_secs(60), &db, &fake, || async {
        scalar(&db, "SELECT COUNT(*) FROM outbox WHERE source LIKE 'inbound:%' AND status = 'sent'").await == total
    })
    .await;
    kill9(&mut child);

    // Exactly-once storage and processing.
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM inbound_messages").await, total, "one row per update");
    assert_eq!(scalar(&db, "SELECT COUNT(DISTINCT platform_msg_id) FROM inbound_messages").await, total);
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM inbound_messages WHERE status <> 'processed'").await, 0);
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM outbox WHERE source LIKE 'inbound:%'").await, total, "one reply each");

    let delivered = fake.lock().unwrap().delivered.clone();
    // Replies: each chat saw its answers in the order asked; a resend after a kill repeats
    // the message it interrupted (at-least-once) and nothing else.
    let mut by_chat: HashMap<i64, Vec<String>> = HashMap::new();
    for (chat, text) in delivered.iter().filter(|(c, _)| *c > 0) {
        // Only the answers to "学校 …" (other workflows may write to inspectors too).
        let first = text.lines().next().unwrap_or_default();
        let Some((name, _)) = first.split_once('（') else { continue };
        if users.iter().any(|u| u.tg_id == *chat && u.schools.iter().any(|s| s == name)) {
            by_chat.entry(*chat).or_default().push(name.to_string());
        }
    }
    let mut duplicates = 0;
    for u in &users {
        let mut got = by_chat.remove(&u.tg_id).unwrap_or_default();
        let before = got.len();
        got.dedup();
        duplicates += before - got.len();
        assert_eq!(got, u.asked, "answers to {} arrive once each, in order", u.tg_id);
    }
    // A kill can repeat only what was delivered but not yet recorded: the sends in flight
    // (outbox.max_in_flight = 4) and as many finished ones waiting for their shared commit.
    assert!(duplicates <= kills * 8, "{duplicates} repeated answers after {kills} kills");

    // The fan-out is sent at most once per group; what a kill interrupted is marked unknown.
    let mut per_group: BTreeMap<i64, usize> = BTreeMap::new();
    for (chat, text) in delivered.iter() {
        if text == FANOUT_TEXT {
            *per_group.entry(*chat).or_default() += 1;
        }
    }
    assert!(per_group.values().all(|n| *n == 1), "at most once per group: {per_group:?}");
    let sent =
        scalar(&db, "SELECT COUNT(*) FROM outbox WHERE source = 'schedule:crash_fanout' AND status = 'sent'").await;
    let unknown =
        scalar(&db, "SELECT COUNT(*) FROM outbox WHERE source = 'schedule:crash_fanout' AND status = 'unknown'").await;
    assert_eq!(sent + unknown, GROUPS, "every announcement accounted for");
    assert!(per_group.len() as i64 >= sent, "every row marked sent was delivered");
    let fired = scalar(
        &db,
        "SELECT COUNT(*) FROM firings f JOIN schedules s ON s.id = f.schedule_id WHERE s.name = 'crash_fanout' AND f.status = 'fired'",
    )
    .await;
    assert_eq!(fired, 1, "the announcement fired once across the kills");
    println!(
        "{total} messages over {kills} kills: {duplicates} repeated answers, fan-out {sent} sent + {unknown} unknown"
    );
    assert!(cpu_share < 0.10, "idle while the platform is down: {:.2}% of a core", cpu_share * 100.0);
}
