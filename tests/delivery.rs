//! The outbox against a fake platform server on loopback: rate limits, 429/500, outages,
//! dead letters, ordering, splitting, routing and recovery.

mod common;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use common::settings_for;
use dudao::chat::{ChatRef, Segment};
use dudao::outbox::{Delivery, Envelope, Recipient};
use dudao::service::{self, Running};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the fake platform saw.
#[derive(Default, Clone)]
struct Seen {
    /// Every request: arrival time and chat.
    requests: Vec<(Instant, String)>,
    /// Accepted messages: chat and text.
    accepted: Vec<(String, String)>,
    fail_first: usize,
    throttle_every: usize,
    permanent: bool,
}

type Fake = Arc<Mutex<Seen>>;

async fn hook(State(fake): State<Fake>, Json(body): Json<serde_json::Value>) -> impl IntoResponse {
    let chat = body["chat"]["id"].as_str().unwrap_or_default().to_string();
    let text = body["text"].as_str().unwrap_or_default().to_string();
    let mut s = fake.lock().unwrap();
    s.requests.push((Instant::now(), chat.clone()));
    let n = s.requests.len();
    if s.permanent {
        return (StatusCode::BAD_REQUEST, [("retry-after", "0")], "bad").into_response();
    }
    if n <= s.fail_first {
        return (StatusCode::INTERNAL_SERVER_ERROR, [("retry-after", "0")], "down").into_response();
    }
    if s.throttle_every > 0 && n % s.throttle_every == 0 {
        return (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")], "slow down").into_response();
    }
    s.accepted.push((chat, text));
    let id = s.accepted.len();
    (StatusCode::OK, [("retry-after", "0")], Json(serde_json::json!({ "id": id }))).into_response()
}

async fn fake_server(fake: Fake, listener: tokio::net::TcpListener) {
    let app = Router::new().route("/hook", post(hook)).with_state(fake);
    axum::serve(listener, app).await.unwrap();
}

async fn start(dir: &tempfile::TempDir, url: &str, per_second: u32, max_attempts: u32) -> Running {
    let settings = settings_for(
        dir,
        &format!(
            "[outbox]\nmax_attempts = {max_attempts}\nbackoff_base_ms = 40\nbackoff_max_ms = 400\nlease_seconds = 30\nmax_in_flight = 4\n\
             [roster]\nsample_on_empty = true\n\
             [channels.console]\nenabled = false\nexit_on_eof = false\n\
             [[channels.webhook]]\nname = \"hook\"\nurl = \"{url}\"\nmax_per_second = {per_second}\nmax_per_chat_per_minute = 6000\nmax_message_chars = 120\n"
        ),
    );
    let enabled = dudao::chat::registry::from_config(&settings).unwrap();
    service::start(settings, Arc::new(dudao::clock::SystemClock), enabled.channels).await.unwrap()
}

async fn enqueue(running: &Running, key: &str, chat: &str, text: &str, delivery: Delivery) {
    let app = &running.app;
    let mut tx = dudao::db::begin_write(&app.db).await.unwrap();
    let env = Envelope {
        delivery,
        ..Envelope::new(key, Recipient::Chat(ChatRef::group("hook", chat)), vec![Segment::text(text)], "test")
    };
    dudao::outbox::enqueue(&mut tx, &app.directory, app.clock.now(), env).await.unwrap();
    tx.commit().await.unwrap();
    app.outbox_notify.notify_waiters();
}

async fn wait_until_settled(running: &Running, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let open: i64 = dudao::sql::query_scalar("SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'sending')")
            .fetch_one(&running.app.db)
            .await
            .unwrap();
        if open == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "outbox did not settle: {open} open");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn max_in_window(times: &[Instant], window: Duration) -> usize {
    let mut worst = 0;
    for (i, t) in times.iter().enumerate() {
        worst = worst.max(times[i..].iter().take_while(|u| **u < *t + window).count());
    }
    worst
}

#[tokio::test]
async fn every_message_arrives_once_in_order_within_limits_despite_429_and_500() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let fake: Fake = Arc::new(Mutex::new(Seen { fail_first: 6, throttle_every: 9, ..Default::default() }));
    tokio::spawn(fake_server(fake.clone(), listener));
    let dir = tempfile::tempdir().unwrap();
    let running = start(&dir, &url, 40, 4).await;
    let chats = ["g1", "g2", "g3", "g4"];
    for i in 0..120 {
        let chat = chats[i % chats.len()];
        enqueue(&running, &format!("k{i}"), chat, &format!("msg-{i:03}"), Delivery::AtLeastOnce).await;
    }
    wait_until_settled(&running, Duration::from_secs(60)).await;
    let s = fake.lock().unwrap().clone();
    // Exactly once each.
    let mut texts: Vec<&str> = s.accepted.iter().map(|(_, t)| t.as_str()).collect();
    texts.sort();
    texts.dedup();
    assert_eq!(texts.len(), 120);
    assert_eq!(s.accepted.len(), 120, "duplicates delivered");
    // In order within each chat.
    for chat in chats {
        let seq: Vec<&str> = s.accepted.iter().filter(|(c, _)| c == chat).map(|(_, t)| t.as_str()).collect();
        let mut sorted = seq.clone();
        sorted.sort();
        assert_eq!(seq, sorted, "out of order in {chat}");
    }
    // Never above the configured 40 per second, counting every request the server saw.
    let times: Vec<Instant> = s.requests.iter().map(|(t, _)| *t).collect();
    assert!(max_in_window(&times, Duration::from_secs(1)) <= 40, "rate limit exceeded");
    assert!(s.requests.len() > 120, "the server's failures were exercised");
    drop(s);
    let sent: i64 =
        dudao::sql::query_scalar("SELECT COUNT(*) FROM outbox WHERE status = 'sent' AND platform_msg_id IS NOT NULL")
            .fetch_one(&running.app.db)
            .await
            .unwrap();
    assert_eq!(sent, 120);
    running.stop().await;
}

#[tokio::test]
async fn messages_queued_during_an_outage_are_delivered_when_the_platform_returns() {
    // Reserve a port, then leave it closed for a while.
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = probe.local_addr().unwrap();
    drop(probe);
    let url = format!("http://{addr}/hook");
    let dir = tempfile::tempdir().unwrap();
    let running = start(&dir, &url, 50, 20).await;
    for i in 0..5 {
        enqueue(&running, &format!("o{i}"), "g1", &format!("outage-{i}"), Delivery::AtLeastOnce).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let attempts: i64 =
        dudao::sql::query_scalar("SELECT MAX(attempts) FROM outbox").fetch_one(&running.app.db).await.unwrap();
    assert!(attempts >= 1, "sends were attempted during the outage");
    let fake: Fake = Arc::new(Mutex::new(Seen::default()));
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    tokio::spawn(fake_server(fake.clone(), listener));
    wait_until_settled(&running, Duration::from_secs(30)).await;
    let s = fake.lock().unwrap().clone();
    let texts: Vec<&str> = s.accepted.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(texts, vec!["outage-0", "outage-1", "outage-2", "outage-3", "outage-4"]);
    drop(s);
    running.stop().await;
}

#[tokio::test]
async fn failures_end_in_dead_letters_that_an_admin_can_retry() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let fake: Fake = Arc::new(Mutex::new(Seen { fail_first: 1000, ..Default::default() }));
    tokio::spawn(fake_server(fake.clone(), listener));
    let dir = tempfile::tempdir().unwrap();
    let running = start(&dir, &url, 50, 4).await;
    enqueue(&running, "d1", "g1", "doomed", Delivery::AtLeastOnce).await;
    wait_until_settled(&running, Duration::from_secs(30)).await;
    let (status, attempts): (String, i64) =
        dudao::sql::query_as("SELECT status, attempts FROM outbox WHERE idempotency_key = 'd1'")
            .fetch_one(&running.app.db)
            .await
            .unwrap();
    assert_eq!((status.as_str(), attempts), ("dead", 4));
    // A permanent error is not retried.
    fake.lock().unwrap().permanent = true;
    enqueue(&running, "p1", "g2", "rejected", Delivery::AtLeastOnce).await;
    wait_until_settled(&running, Duration::from_secs(30)).await;
    let (status, attempts): (String, i64) =
        dudao::sql::query_as("SELECT status, attempts FROM outbox WHERE idempotency_key = 'p1'")
            .fetch_one(&running.app.db)
            .await
            .unwrap();
    assert_eq!((status.as_str(), attempts), ("dead", 1));
    // The platform recovers; the admin retries the dead letter.
    {
        let mut s = fake.lock().unwrap();
        s.permanent = false;
        s.fail_first = 0;
    }
    let id: i64 = dudao::sql::query_scalar("SELECT id FROM outbox WHERE idempotency_key = 'd1'")
        .fetch_one(&running.app.db)
        .await
        .unwrap();
    let mut tx = dudao::db::begin_write(&running.app.db).await.unwrap();
    let r = dudao::outbox::admin::retry(&mut tx, &running.app.directory, id, running.app.clock.now()).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(r, dudao::outbox::admin::AdminOutcome::Done);
    running.app.outbox_notify.notify_waiters();
    wait_until_settled(&running, Duration::from_secs(30)).await;
    assert!(fake.lock().unwrap().accepted.iter().any(|(_, t)| t == "doomed"));
    running.stop().await;
}

#[tokio::test]
async fn long_texts_are_split_and_reassemble_in_order() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let fake: Fake = Arc::new(Mutex::new(Seen::default()));
    tokio::spawn(fake_server(fake.clone(), listener));
    let dir = tempfile::tempdir().unwrap();
    let running = start(&dir, &url, 50, 4).await;
    let text: String = (0..40).map(|i| format!("第{i:02}条：责任督学周报提交情况良好\n")).collect();
    enqueue(&running, "long", "g1", &text, Delivery::AtLeastOnce).await;
    wait_until_settled(&running, Duration::from_secs(30)).await;
    let s = fake.lock().unwrap().clone();
    assert!(s.accepted.len() > 1);
    assert!(s.accepted.iter().all(|(_, t)| t.chars().count() <= 120));
    let joined: String = s.accepted.iter().map(|(_, t)| format!("{t}\n")).collect();
    assert_eq!(joined, text);
    drop(s);
    running.stop().await;
}

#[tokio::test]
async fn interrupted_sends_are_resent_or_marked_unknown_by_delivery_kind() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let fake: Fake = Arc::new(Mutex::new(Seen::default()));
    tokio::spawn(fake_server(fake.clone(), listener));
    let dir = tempfile::tempdir().unwrap();
    // First run: enqueue, then simulate a crash mid-send by marking rows 'sending' with an expired lease.
    let running = start(&dir, "http://127.0.0.1:9/unused", 50, 4).await;
    running.stop().await;
    let settings = settings_for(&dir, "");
    let db = dudao::db::open_and_migrate(&settings.database).await.unwrap();
    for (key, delivery) in [("answer", "at_least_once"), ("nudge", "at_most_once")] {
        dudao::sql::query(
            "INSERT INTO outbox (idempotency_key, channel, chat_kind, chat_id, segments, delivery, status, next_attempt_at,
                 lease_until, created_at, source)
             VALUES (?, 'hook', 'group', 'g1', ?, ?, 'sending', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z',
                 '2026-01-01T00:00:00.000Z', 'test')",
        )
        .bind(key)
        .bind(serde_json::to_string(&vec![Segment::text(key)]).unwrap())
        .bind(delivery)
        .execute(&db)
        .await
        .unwrap();
    }
    db.close().await;
    let running = start(&dir, &url, 50, 4).await;
    wait_until_settled(&running, Duration::from_secs(30)).await;
    let texts: Vec<String> = fake.lock().unwrap().accepted.iter().map(|(_, t)| t.clone()).collect();
    assert_eq!(texts, vec!["answer".to_string()]);
    let st: String = dudao::sql::query_scalar("SELECT status FROM outbox WHERE idempotency_key = 'nudge'")
        .fetch_one(&running.app.db)
        .await
        .unwrap();
    assert_eq!(st, "unknown");
    running.stop().await;
}

#[tokio::test]
async fn a_person_nobody_can_reach_waits_as_unroutable_until_they_bind() {
    let mut h = common::Harness::start().await;
    // An inspector with no chat account at all (the sample leaves a few without QQ).
    let pid: i64 = dudao::sql::query_scalar(
        "SELECT id FROM people p WHERE role = 'inspector' AND NOT EXISTS (SELECT 1 FROM chat_accounts a WHERE a.person_id = p.id) LIMIT 1",
    )
    .fetch_one(h.db())
    .await
    .unwrap();
    let code: String =
        dudao::sql::query_scalar("SELECT code FROM people WHERE id = ?").bind(pid).fetch_one(h.db()).await.unwrap();
    {
        let app = h.app().clone();
        let mut tx = dudao::db::begin_write(&app.db).await.unwrap();
        let env = Envelope::new("to-person", Recipient::Person(pid), vec![Segment::text("请查收本周任务")], "test");
        dudao::outbox::enqueue(&mut tx, &app.directory, app.clock.now(), env).await.unwrap();
        tx.commit().await.unwrap();
    }
    let st: String = dudao::sql::query_scalar("SELECT status FROM outbox WHERE idempotency_key = 'to-person'")
        .fetch_one(h.db())
        .await
        .unwrap();
    assert_eq!(st, "unroutable");
    let list = {
        let mut conn = h.db().acquire().await.unwrap();
        dudao::outbox::admin::list(&mut conn, &["unroutable"], 10).await.unwrap()
    };
    assert_eq!(list.len(), 1);
    // They bind on the console; the next re-route delivers privately.
    let code = h.code_for(&code).await;
    let mut out = h.say(&format!("newcomer: 绑定 {code}")).await;
    assert!(out.contains("绑定成功"), "{out}");
    {
        let app = h.app().clone();
        let mut tx = dudao::db::begin_write(&app.db).await.unwrap();
        // The service's own scheduler loop re-routes too; either may get there first.
        dudao::outbox::admin::reroute_all(&mut tx, &app.directory, app.clock.now()).await.unwrap();
        tx.commit().await.unwrap();
        let st: String = dudao::sql::query_scalar("SELECT status FROM outbox WHERE idempotency_key = 'to-person'")
            .fetch_one(&app.db)
            .await
            .unwrap();
        assert_ne!(st, "unroutable");
        app.outbox_notify.notify_waiters();
    }
    out.push_str(&h.settle().await);
    assert!(out.contains("[console → 私聊 newcomer]") && out.contains("请查收本周任务"), "{out}");
    h.stop().await;
}
