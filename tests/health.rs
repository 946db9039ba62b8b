//! Operations (issue 17): `/readyz` follows the OneBot connection, `/metrics` is valid
//! Prometheus text that counts a conversation end to end, and admins hear about a QQ outage
//! (and its end) once, through another channel. The real service, a fake OneBot implementation
//! over a real WebSocket and a fake webhook platform, all on loopback.

mod common;
#[path = "common/onebot_fake.rs"]
mod onebot_fake;
#[path = "common/webhook_fake.rs"]
mod webhook_fake;

use common::{first_person, settings_for};
use dudao::service::{self, Running};
use onebot_fake::{connect_reverse, Action, Auth, FakeConn, Recorder};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const TOKEN: &str = "health+t0ken/x";
const BOT: &str = "3000000007";
const WAIT: Duration = Duration::from_secs(15);

/// The service with the OneBot channel `qq` (reverse) and a webhook channel `值班` posting to
/// `hook_url`; alerts checked every 50 ms, a channel down for a second is an incident.
async fn start(dir: &tempfile::TempDir, hook_url: &str) -> Running {
    let extra = format!(
        "[roster]\nsample_on_empty = true\n\
         [channels.console]\nenabled = false\n\
         [outbox]\nbackoff_base_ms = 50\nbackoff_max_ms = 300\n\
         [alerts]\ncheck_interval_ms = 50\ndown_after_seconds = 1\n\
         [channels.onebot]\nenabled = true\naccess_token = \"{TOKEN}\"\nmin_interval_ms = 0\nmax_per_minute = 0\n\
         chat_min_interval_ms = 0\nchat_max_per_minute = 0\nsend_jitter_ms = 0\napi_timeout_ms = 2000\n\
         [[channels.webhook]]\nname = \"值班\"\nurl = \"{hook_url}\"\n"
    );
    let settings = settings_for(dir, &extra);
    let enabled = dudao::chat::registry::from_config(&settings).unwrap();
    service::start(settings, Arc::new(dudao::clock::SystemClock), enabled.channels).await.unwrap()
}

async fn connect(running: &Running, rec: &Arc<Recorder>) -> FakeConn {
    let bot = connect_reverse(running.http_addr, BOT, Auth::Bearer(TOKEN), rec.clone()).await.unwrap();
    bot.heartbeat(30_000);
    bot
}

async fn get(running: &Running, path: &str) -> (u16, String) {
    let r = reqwest::get(format!("http://{}{path}", running.http_addr)).await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Polls `/readyz` until it answers `status`; returns its body.
async fn wait_ready(running: &Running, status: u16) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (s, body) = get(running, "/readyz").await;
        let body: Value = serde_json::from_str(&body).expect("readyz answers JSON");
        if s == status {
            return body;
        }
        assert!(tokio::time::Instant::now() < deadline, "/readyz never answered {status}; last {s}: {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn qq_state(body: &Value) -> String {
    body["channels"].as_array().unwrap().iter().find(|c| c["name"] == "qq").unwrap()["state"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn readyz_follows_the_onebot_connection() {
    let (_hook, url) = webhook_fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let running = start(&dir, &url).await;
    let (s, _) = get(&running, "/healthz").await;
    assert_eq!(s, 200, "the process is alive whatever the channels do");

    // No QQ account connected yet: not ready, and the body says why.
    let body = wait_ready(&running, 503).await;
    assert_eq!(body["status"], "not ready");
    assert_eq!(qq_state(&body), "down");
    assert!(body["problems"].as_array().unwrap().iter().any(|p| p == "channel qq is down"), "{body}");

    let rec = Recorder::new();
    let bot = connect(&running, &rec).await;
    let body = wait_ready(&running, 200).await;
    assert_eq!(body["status"], "ready");
    assert_eq!(qq_state(&body), "up");
    assert_eq!(body["database"]["writable"], true);
    assert_eq!(body["outbox"]["dead_letters"], 0);
    assert!(body["scheduler"]["last_tick"].is_string(), "{body}");
    assert!(body["calendar"]["status"].is_string(), "{body}");
    // The webhook channel cannot tell; that is not a failure.
    let hook = body["channels"].as_array().unwrap().iter().find(|c| c["name"] == "值班").unwrap().clone();
    assert_eq!(hook["state"], "unknown");

    // NapCat goes away: 503 again; it comes back: 200.
    bot.close();
    let body = wait_ready(&running, 503).await;
    assert_eq!(qq_state(&body), "down");
    let _bot = connect(&running, &rec).await;
    let body = wait_ready(&running, 200).await;
    assert_eq!(qq_state(&body), "up");
    running.stop().await;
}

/// One sample of the text format: its name and labels.
type Series = (String, BTreeMap<String, String>);

/// A small parser of the Prometheus text format (0.0.4): every sample line is `name{labels}
/// value`, its family declared by a `# TYPE` line before it, label values quoted with `\\`,
/// `\"` and `\n` escapes. Panics on anything else.
fn parse_prometheus(text: &str) -> BTreeMap<Series, f64> {
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = BTreeMap::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE line");
            assert!(
                matches!(kind, "counter" | "gauge" | "histogram" | "summary" | "untyped"),
                "unknown type in {line:?}"
            );
            assert!(types.insert(name.to_string(), kind.to_string()).is_none(), "family declared twice: {name}");
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        assert!(!line.starts_with('#'), "unexpected comment {line:?}");
        let name_end = line.find(['{', ' ']).expect("sample line");
        let name = &line[..name_end];
        assert!(
            !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
                && !name.starts_with(|c: char| c.is_ascii_digit()),
            "bad metric name in {line:?}"
        );
        let mut labels = BTreeMap::new();
        let mut rest = &line[name_end..];
        if let Some(body) = rest.strip_prefix('{') {
            let mut chars = body.char_indices().peekable();
            let end;
            loop {
                // label name
                let start = chars.peek().expect("label").0;
                let mut key_end = start;
                for (i, c) in chars.by_ref() {
                    if c == '=' {
                        key_end = i;
                        break;
                    }
                    assert!(c.is_ascii_alphanumeric() || c == '_', "bad label name in {line:?}");
                }
                let key = body[start..key_end].to_string();
                assert_eq!(chars.next().map(|(_, c)| c), Some('"'), "unquoted label value in {line:?}");
                let mut value = String::new();
                loop {
                    match chars.next().expect("unterminated label value").1 {
                        '\\' => match chars.next().expect("escape").1 {
                            '\\' => value.push('\\'),
                            '"' => value.push('"'),
                            'n' => value.push('\n'),
                            other => panic!("bad escape \\{other} in {line:?}"),
                        },
                        '"' => break,
                        c => value.push(c),
                    }
                }
                assert!(labels.insert(key, value).is_none(), "label repeated in {line:?}");
                match chars.next().expect("label list end") {
                    (_, ',') => continue,
                    (i, '}') => {
                        end = i;
                        break;
                    }
                    (_, c) => panic!("unexpected {c:?} in {line:?}"),
                }
            }
            rest = &body[end + 1..];
        }
        let value = rest.strip_prefix(' ').expect("one space before the value");
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        let family = ["_bucket", "_sum", "_count", "_total"]
            .iter()
            .filter_map(|s| name.strip_suffix(s))
            .find(|f| types.get(*f).is_some_and(|k| k == "histogram"))
            .unwrap_or(name);
        assert!(types.contains_key(family), "sample before its # TYPE line: {line:?}");
        assert!(samples.insert((name.to_string(), labels), value).is_none(), "duplicate series {line:?}");
    }
    samples
}

fn sample(m: &BTreeMap<Series, f64>, name: &str, labels: &[(&str, &str)]) -> f64 {
    let key = (name.to_string(), labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
    *m.get(&key).unwrap_or_else(|| panic!("no sample {name}{labels:?}"))
}

async fn scrape(running: &Running) -> BTreeMap<Series, f64> {
    let r = reqwest::get(format!("http://{}/metrics", running.http_addr)).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    parse_prometheus(&r.text().await.unwrap())
}

fn is_reply_to(user: i64) -> impl Fn(&Action) -> bool {
    move |a| a.action == "send_private_msg" && a.params["user_id"] == user && a.ok
}

#[tokio::test]
async fn metrics_count_a_conversation_end_to_end() {
    let (_hook, url) = webhook_fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let running = start(&dir, &url).await;
    let rec = Recorder::new();
    let bot = connect(&running, &rec).await;
    wait_ready(&running, 200).await;

    let before = scrape(&running).await;
    let processed = [("channel", "qq"), ("outcome", "processed")];
    let sent = [("channel", "qq"), ("outcome", "sent")];
    assert_eq!(sample(&before, "dudao_inbound_messages_total", &processed), 0.0);
    assert_eq!(sample(&before, "dudao_channel_up", &[("channel", "qq"), ("platform", "qq")]), 1.0);
    assert_eq!(sample(&before, "dudao_outbox_dead_letters", &[]), 0.0);

    // An inspector asks three questions privately, then writes two lines of chatter in a group.
    let inspector = common::roster_qq(&running.app.db, "inspector").await;
    for (i, q) in ["帮助", "我是谁", "我的任务"].iter().enumerate() {
        bot.private_msg(inspector, json!(500 + i), json!(q));
    }
    bot.group_msg(700_900, inspector, json!(510), json!("今天去城关小学看了课后服务"));
    bot.group_msg(700_900, inspector, json!(511), json!("下午到第二中学"));
    // The same message delivered twice is stored once and counted as a duplicate.
    bot.private_msg(inspector, json!(500), json!("帮助"));
    let replies = rec.wait_for(3, WAIT, is_reply_to(inspector)).await;
    assert_eq!(replies.len(), 3);

    let deadline = tokio::time::Instant::now() + WAIT;
    let after = loop {
        let m = scrape(&running).await;
        let done = sample(&m, "dudao_inbound_messages_total", &processed) >= 5.0
            && sample(&m, "dudao_outbox_sends_total", &sent) >= 3.0
            && sample(&m, "dudao_outbox_backlog", &[]) == 0.0
            && sample(&m, "dudao_inbound_messages_total", &[("channel", "qq"), ("outcome", "duplicate")]) >= 1.0;
        if done {
            break m;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "counters never reached the messages sent: {:?}",
            m.iter()
                .filter(|((n, _), _)| n.starts_with("dudao_inbound_messages") || n.starts_with("dudao_outbox"))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // Exactly the messages sent and the answers given, nothing more.
    assert_eq!(sample(&after, "dudao_inbound_messages_total", &processed), 5.0);
    assert_eq!(sample(&after, "dudao_inbound_messages_total", &[("channel", "qq"), ("outcome", "failed")]), 0.0);
    assert_eq!(sample(&after, "dudao_inbound_messages_total", &[("channel", "qq"), ("outcome", "duplicate")]), 1.0);
    assert_eq!(sample(&after, "dudao_outbox_sends_total", &sent), 3.0);
    assert_eq!(rec.sends().len(), 3);
    assert_eq!(sample(&after, "dudao_outbox_sends_total", &[("channel", "qq"), ("outcome", "dead")]), 0.0);
    // Nothing went through the other channel.
    assert_eq!(sample(&after, "dudao_inbound_messages_total", &[("channel", "值班"), ("outcome", "processed")]), 0.0);
    // Five processed messages were timed; the histogram's buckets and count agree.
    assert_eq!(sample(&after, "dudao_inbound_processing_seconds_count", &[]), 5.0);
    assert_eq!(sample(&after, "dudao_inbound_processing_seconds_bucket", &[("le", "+Inf")]), 5.0);
    assert!(sample(&after, "dudao_inbound_processing_seconds_sum", &[]) > 0.0);
    assert!(sample(&after, "dudao_db_transaction_seconds_count", &[]) > 0.0);
    assert!(sample(&after, "dudao_scheduler_last_tick_timestamp_seconds", &[]) > 1.7e9);
    assert_eq!(sample(&after, "dudao_outbox_backlog", &[]), 0.0);

    // The shipped dashboard and alert rules ask only for series this service exposes.
    let names: std::collections::BTreeSet<&str> = after.keys().map(|(n, _)| n.as_str()).collect();
    for file in ["deploy/grafana-dashboard.json", "deploy/alerts.yml"] {
        let text = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap();
        let mut used = 0;
        for (i, _) in text.match_indices("dudao_") {
            let name: String = text[i..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            assert!(names.contains(name.as_str()), "{file} uses {name}, which /metrics does not expose");
            used += 1;
        }
        assert!(used > 3, "{file} names the metrics");
    }
    running.stop().await;
}

#[tokio::test]
async fn admins_hear_of_a_qq_outage_once_through_the_other_channel_and_of_its_end() {
    let (hook, url) = webhook_fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let running = start(&dir, &url).await;
    let rec = Recorder::new();
    let bot = connect(&running, &rec).await;
    wait_ready(&running, 200).await;

    // The sample county's admin also has an account on the webhook platform (the duty desk).
    let admin = first_person(&running.app.db, "admin").await;
    let admin_account = "值班-管理员";
    {
        let mut tx = dudao::db::begin_write(&running.app.db).await.unwrap();
        let pid: i64 = dudao::sql::query_scalar("SELECT id FROM people WHERE code = ?")
            .bind(&admin)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        let now = chrono::Utc::now();
        let (code, _) = dudao::store::binding::issue(&mut tx, pid, now, chrono::Duration::hours(1)).await.unwrap();
        let r = dudao::store::binding::redeem(&mut tx, "webhook", admin_account, None, &code, now).await.unwrap();
        assert_eq!(r, dudao::store::binding::Redeemed::Bound { person_id: pid });
        tx.commit().await.unwrap();
    }

    // QQ goes offline: after a second, one alert, privately to the admin on the webhook channel.
    bot.close();
    wait_ready(&running, 503).await;
    let got = hook.wait_for(1, WAIT).await;
    assert_eq!(got[0].chat, admin_account);
    assert!(got[0].text.starts_with("【督导助手告警】QQ通道“qq”"), "{}", got[0].text);
    assert!(got[0].text.contains("无法连接"), "{}", got[0].text);

    // Still down while the monitor keeps looking: ten more checks of the open incident tell
    // nobody anything new.
    let checks = |m: &BTreeMap<Series, f64>| sample(m, "dudao_alert_checks_total", &[]);
    let seen = checks(&scrape(&running).await);
    let deadline = tokio::time::Instant::now() + WAIT;
    while checks(&scrape(&running).await) < seen + 10.0 {
        assert!(tokio::time::Instant::now() < deadline, "the alert monitor stopped checking");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(hook.arrivals().len(), 1, "{:?}", hook.arrivals());
    let open_rows = || async {
        dudao::sql::query_as::<(i64, Option<String>)>(
            "SELECT id, closed_at FROM alert_incidents WHERE kind = 'channel_down' AND subject = 'qq'",
        )
        .fetch_all(&running.app.db)
        .await
        .unwrap()
    };
    let rows = open_rows().await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].1, None);

    // QQ comes back: one recovery message, the same way.
    let _bot = connect(&running, &rec).await;
    wait_ready(&running, 200).await;
    let got = hook.wait_for(2, WAIT).await;
    assert_eq!(got[1].chat, admin_account);
    assert!(got[1].text.starts_with("【督导助手恢复】QQ通道“qq”已恢复"), "{}", got[1].text);
    let rows = open_rows().await;
    assert_eq!(rows.len(), 1, "one incident");
    assert!(rows[0].1.is_some(), "closed");

    // Once per incident: the outbox holds exactly these two alerts, both delivered (recorded
    // as sent just after the platform took them).
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let alerts: Vec<(String, String)> =
            dudao::sql::query_as("SELECT status, channel FROM outbox WHERE source = 'alert' ORDER BY id")
                .fetch_all(&running.app.db)
                .await
                .unwrap();
        assert_eq!(alerts.len(), 2, "{alerts:?}");
        assert!(alerts.iter().all(|(_, ch)| ch == "值班"), "{alerts:?}");
        if alerts.iter().all(|(st, _)| st == "sent") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "alerts not recorded as sent: {alerts:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(hook.arrivals().len(), 2);
    running.stop().await;
}

/// Binds the sample county's admin to `account` on the webhook platform; returns their id.
async fn bind_admin_on_webhook(running: &Running, account: &str) -> i64 {
    let admin = first_person(&running.app.db, "admin").await;
    let mut tx = dudao::db::begin_write(&running.app.db).await.unwrap();
    let pid: i64 = dudao::sql::query_scalar("SELECT id FROM people WHERE code = ?")
        .bind(&admin)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    let now = chrono::Utc::now();
    let (code, _) = dudao::store::binding::issue(&mut tx, pid, now, chrono::Duration::hours(1)).await.unwrap();
    let r = dudao::store::binding::redeem(&mut tx, "webhook", account, None, &code, now).await.unwrap();
    assert_eq!(r, dudao::store::binding::Redeemed::Bound { person_id: pid });
    tx.commit().await.unwrap();
    pid
}

#[tokio::test]
async fn dead_letters_are_told_once_and_their_clearing_too() {
    let (hook, url) = webhook_fake::start().await;
    // A platform that refuses everything: its messages are dead-lettered at the first failure.
    let refused = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let refused_url = format!("http://{}/hook", refused.local_addr().unwrap());
    tokio::spawn(async move {
        let app = axum::Router::new().fallback(|| async { (axum::http::StatusCode::FORBIDDEN, "不接受") });
        axum::serve(refused, app).await.unwrap();
    });
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "[roster]\nsample_on_empty = true\n\
         [channels.console]\nenabled = false\n\
         [outbox]\nmax_attempts = 1\nbackoff_base_ms = 50\nbackoff_max_ms = 300\n\
         [alerts]\ncheck_interval_ms = 50\nchats = [{{ channel = \"值班\", id = \"督导室值班群\" }}]\n\
         [[channels.webhook]]\nname = \"值班\"\nurl = \"{url}\"\n\
         [[channels.webhook]]\nname = \"区县平台\"\nurl = \"{refused_url}\"\n"
    );
    let settings = settings_for(&dir, &extra);
    let enabled = dudao::chat::registry::from_config(&settings).unwrap();
    let running = service::start(settings, Arc::new(dudao::clock::SystemClock), enabled.channels).await.unwrap();
    bind_admin_on_webhook(&running, "值班-管理员").await;

    // Two notices to the refusing platform die.
    {
        let app = &running.app;
        let mut tx = dudao::db::begin_write(&app.db).await.unwrap();
        for (key, text) in [("n1", "关于开展期末督导的通知"), ("n2", "请各校报送课后服务情况")] {
            let to = dudao::outbox::Recipient::Chat(dudao::chat::ChatRef::group("区县平台", "公告栏"));
            let env = dudao::outbox::Envelope::new(key, to, vec![dudao::chat::Segment::text(text)], "test");
            dudao::outbox::enqueue(&mut tx, &app.directory, app.clock.now(), env).await.unwrap();
        }
        tx.commit().await.unwrap();
        app.outbox_notify.notify_waiters();
    }
    // The admin privately and the duty group hear of it, once each.
    let got = hook.wait_for(2, WAIT).await;
    let mut chats: Vec<&str> = got.iter().map(|a| a.chat.as_str()).collect();
    chats.sort_unstable();
    assert_eq!(chats, vec!["值班-管理员", "督导室值班群"]);
    assert!(got.iter().all(|a| a.text.starts_with("【督导助手告警】有") && a.text.contains("发送队列")), "{got:?}");

    // Both letters dead and many checks later, still only those two.
    let deadline = tokio::time::Instant::now() + WAIT;
    let dead: Vec<i64> = loop {
        assert!(tokio::time::Instant::now() < deadline, "the notices were not dead-lettered");
        let ids: Vec<i64> = dudao::sql::query_scalar("SELECT id FROM outbox WHERE status = 'dead' ORDER BY id")
            .fetch_all(&running.app.db)
            .await
            .unwrap();
        if ids.len() == 2 {
            break ids;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let seen = sample(&scrape(&running).await, "dudao_alert_checks_total", &[]);
    let deadline = tokio::time::Instant::now() + WAIT;
    while sample(&scrape(&running).await, "dudao_alert_checks_total", &[]) < seen + 10.0 {
        assert!(tokio::time::Instant::now() < deadline, "the alert monitor stopped checking");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(hook.arrivals().len(), 2, "{:?}", hook.arrivals());

    // The admin cancels both: the clearing is told once, the same way.
    for id in dead {
        let mut conn = running.app.db.acquire().await.unwrap();
        assert_eq!(
            dudao::outbox::admin::cancel(&mut conn, id).await.unwrap(),
            dudao::outbox::admin::AdminOutcome::Done
        );
    }
    let got = hook.wait_for(4, WAIT).await;
    assert!(got[2..].iter().all(|a| a.text == "【督导助手恢复】发送失败的消息已全部处理完毕。"), "{got:?}");
    let rows: Vec<(String, Option<String>)> =
        dudao::sql::query_as("SELECT kind, closed_at FROM alert_incidents").fetch_all(&running.app.db).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, "dead_letters");
    assert!(rows[0].1.is_some());
    running.stop().await;
}
