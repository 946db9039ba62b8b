//! The outbox worker under adversity, against real SQLite files and a fake platform on
//! loopback: panicking adapters, sends interrupted by a crash, leases that expire while
//! running, outages, answers that arrive after the timeout, and two workers racing.

use async_trait::async_trait;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use dudao::chat::{
    Capabilities, Channel, ChannelContext, ChatRef, MentionSupport, OutboundMessage, Segment, SendError, SendReceipt,
};
use dudao::config::Settings;
use dudao::outbox::worker::Worker;
use dudao::outbox::{Delivery, Directory, Envelope, Recipient};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

// ---------------------------------------------------------------------------------------------
// Harness

fn settings(dir: &tempfile::TempDir, outbox: &str) -> Settings {
    let path = dir.path().join("outbox.sqlite");
    Settings::from_toml_over_default(&format!(
        "[database]\npath = \"{}\"\nsynchronous = \"normal\"\n[outbox]\n{outbox}",
        path.display().to_string().replace('\\', "/")
    ))
    .expect("test settings")
}

async fn open(settings: &Settings) -> dudao::db::Db {
    dudao::db::open_and_migrate(&settings.database).await.expect("database opens")
}

fn webhook(url: &str, timeout_ms: u64) -> Arc<dyn Channel> {
    Arc::new(
        dudao::chat::webhook::WebhookChannel::new(
            toml::from_str(&format!(
                "name = \"hook\"\nurl = \"{url}\"\nmax_per_second = 1000\nmax_per_chat_per_minute = 100000\ntimeout_ms = {timeout_ms}"
            ))
            .unwrap(),
        )
        .unwrap(),
    )
}

async fn enqueue(
    db: &dudao::db::Db,
    channel: &Arc<dyn Channel>,
    key: &str,
    chat: &str,
    text: &str,
    delivery: Delivery,
) {
    let dir = Directory::from_channels(std::slice::from_ref(channel));
    let mut tx = dudao::db::begin_write(db).await.unwrap();
    let env = Envelope {
        delivery,
        ..Envelope::new(key, Recipient::Chat(ChatRef::group(channel.name(), chat)), vec![Segment::text(text)], "test")
    };
    dudao::outbox::enqueue(&mut tx, &dir, chrono::Utc::now(), env).await.unwrap();
    tx.commit().await.unwrap();
}

struct Started {
    worker: Arc<Worker>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    notify: Arc<Notify>,
}

impl Started {
    /// Stops the worker and waits until its in-flight sends are recorded.
    async fn stop(self) {
        self.stop.cancel();
        self.task.await.unwrap();
    }
}

fn start(db: &dudao::db::Db, settings: &Settings, channel: Arc<dyn Channel>) -> Started {
    let notify = Arc::new(Notify::new());
    let worker = Arc::new(Worker::new(
        db.clone(),
        Arc::new(dudao::clock::SystemClock),
        channel,
        settings.outbox.clone(),
        notify.clone(),
    ));
    let stop = CancellationToken::new();
    let task = tokio::spawn(worker.clone().run(stop.clone()));
    Started { worker, stop, task, notify }
}

/// Polls `cond` until it holds; fails the test after `timeout`.
async fn wait_for<F, Fut>(what: &str, timeout: Duration, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if cond().await {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn row(db: &dudao::db::Db, key: &str) -> (String, i64, Option<String>) {
    dudao::sql::query_as("SELECT status, attempts, last_error FROM outbox WHERE idempotency_key = ?")
        .bind(key)
        .fetch_one(db)
        .await
        .unwrap()
}

async fn status(db: &dudao::db::Db, key: &str) -> String {
    row(db, key).await.0
}

// ---------------------------------------------------------------------------------------------
// A fake platform speaking the generic webhook's protocol

#[derive(Default)]
struct Platform {
    /// Every request: chat and text.
    requests: Vec<(String, String)>,
    /// Messages the platform delivered: chat and text.
    accepted: Vec<(String, String)>,
    /// Answer 500 to everything.
    down: bool,
    /// The first request of each chat is delivered but answered only this late.
    slow_first: Option<Duration>,
    /// The first request with this text hangs until released, then fails with 500.
    hold: Option<String>,
}

struct Fake {
    state: Mutex<Platform>,
    release: Semaphore,
}

impl Fake {
    fn requests_for(&self, chat: &str) -> usize {
        self.state.lock().unwrap().requests.iter().filter(|(c, _)| c == chat).count()
    }
    fn accepted_in(&self, chat: &str) -> Vec<String> {
        self.state.lock().unwrap().accepted.iter().filter(|(c, _)| c == chat).map(|(_, t)| t.clone()).collect()
    }
    fn accepted_texts(&self) -> Vec<String> {
        self.state.lock().unwrap().accepted.iter().map(|(_, t)| t.clone()).collect()
    }
    fn request_count(&self) -> usize {
        self.state.lock().unwrap().requests.len()
    }
}

async fn hook(State(fake): State<Arc<Fake>>, Json(body): Json<serde_json::Value>) -> Response {
    let chat = body["chat"]["id"].as_str().unwrap_or_default().to_string();
    let text = body["text"].as_str().unwrap_or_default().to_string();
    let (delay, hold, down) = {
        let mut s = fake.state.lock().unwrap();
        let first_of_chat = !s.requests.iter().any(|(c, _)| *c == chat);
        let first_of_text = !s.requests.iter().any(|(_, t)| *t == text);
        s.requests.push((chat.clone(), text.clone()));
        (s.slow_first.filter(|_| first_of_chat), s.hold.as_deref() == Some(text.as_str()) && first_of_text, s.down)
    };
    if hold {
        fake.release.acquire().await.unwrap().forget();
        return (StatusCode::INTERNAL_SERVER_ERROR, "held, then failed").into_response();
    }
    if down {
        return (StatusCode::INTERNAL_SERVER_ERROR, "down").into_response();
    }
    // Delivered on arrival; only the answer is late.
    let id = {
        let mut s = fake.state.lock().unwrap();
        s.accepted.push((chat, text));
        s.accepted.len()
    };
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    Json(serde_json::json!({ "id": id })).into_response()
}

async fn fake_platform(platform: Platform) -> (Arc<Fake>, String) {
    let fake = Arc::new(Fake { state: Mutex::new(platform), release: Semaphore::new(0) });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let app = Router::new().route("/hook", post(hook)).with_state(fake.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (fake, url)
}

// ---------------------------------------------------------------------------------------------
// A channel whose adapter has a bug: it panics on some messages

struct Buggy {
    caps: Capabilities,
    sent: Mutex<Vec<(String, String)>>,
}

impl Buggy {
    fn new() -> Arc<Buggy> {
        Arc::new(Buggy {
            caps: Capabilities {
                can_receive: false,
                can_push: true,
                can_send_private: true,
                mention: MentionSupport::None,
                mention_all: false,
                max_message_chars: 4000,
                global_limits: vec![],
                per_chat_limits: vec![],
                max_concurrent_sends: 4,
                can_send_files: false,
                max_file_bytes: 0,
                can_send_images: false,
                max_image_bytes: 0,
            },
            sent: Mutex::new(Vec::new()),
        })
    }
    fn sent_in(&self, chat: &str) -> Vec<String> {
        self.sent.lock().unwrap().iter().filter(|(c, _)| c == chat).map(|(_, t)| t.clone()).collect()
    }
}

#[async_trait]
impl Channel for Buggy {
    fn name(&self) -> &str {
        "buggy"
    }
    fn platform(&self) -> &'static str {
        "buggy"
    }
    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }
    async fn send(&self, msg: &OutboundMessage) -> Result<SendReceipt, SendError> {
        let text = dudao::chat::plain_text(&msg.segments);
        if text.contains("崩溃") {
            panic!("adapter bug triggered by {text}");
        }
        self.sent.lock().unwrap().push((msg.chat.id.clone(), text));
        Ok(SendReceipt { platform_msg_id: None })
    }
    async fn run(self: Arc<Self>, _ctx: ChannelContext) -> anyhow::Result<()> {
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Tests

/// Defect 2: a panic inside one send is recorded like any failure and the chat goes on.
#[tokio::test]
async fn a_panicking_send_is_recorded_and_later_messages_to_the_chat_still_go_out() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&dir, "max_attempts = 2\nbackoff_base_ms = 20\nbackoff_max_ms = 40\nlease_seconds = 60");
    let db = open(&s).await;
    let buggy = Buggy::new();
    let ch: Arc<dyn Channel> = buggy.clone();
    enqueue(&db, &ch, "n1", "g1", "第一条通知：周五前提交自评报告", Delivery::AtLeastOnce).await;
    enqueue(&db, &ch, "n2", "g1", "崩溃的通知：督导检查安排", Delivery::AtLeastOnce).await;
    enqueue(&db, &ch, "n3", "g1", "第三条通知：请核对学校名单", Delivery::AtLeastOnce).await;
    enqueue(&db, &ch, "r1", "g2", "崩溃的提醒：明天上午督导到校", Delivery::AtMostOnce).await;
    enqueue(&db, &ch, "r2", "g2", "第二条提醒：请准备课堂观察记录", Delivery::AtLeastOnce).await;
    let w = start(&db, &s, ch);
    wait_for("the messages after the panicking ones are delivered", Duration::from_secs(15), || async {
        buggy.sent_in("g1").len() == 2 && buggy.sent_in("g2").len() == 1
    })
    .await;
    assert_eq!(buggy.sent_in("g1"), vec!["第一条通知：周五前提交自评报告", "第三条通知：请核对学校名单"]);
    assert_eq!(buggy.sent_in("g2"), vec!["第二条提醒：请准备课堂观察记录"]);
    // At least once: retried with backoff, then dead-lettered, saying why.
    let (st, attempts, err) = row(&db, "n2").await;
    assert_eq!((st.as_str(), attempts), ("dead", 2));
    assert!(err.as_deref().unwrap_or_default().contains("panicked"), "{err:?}");
    // At most once: never resent, left for an admin as 'unknown'.
    let (st, _, err) = row(&db, "r1").await;
    assert_eq!(st, "unknown");
    assert!(err.as_deref().unwrap_or_default().contains("panicked"), "{err:?}");
    w.stop().await;
}

/// Defect 3: rows left 'sending' by a crashed process block nothing after a restart, even
/// when their lease has not expired yet.
#[tokio::test]
async fn a_send_interrupted_by_a_crash_does_not_block_its_chat_after_a_quick_restart() {
    let (fake, url) = fake_platform(Platform::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&dir, "lease_seconds = 120\nbackoff_base_ms = 20\nbackoff_max_ms = 40");
    let db = open(&s).await;
    let lease = dudao::db::ts(chrono::Utc::now() + chrono::Duration::hours(1));
    let now = dudao::db::ts(chrono::Utc::now());
    for (key, chat, text, delivery) in [
        ("answer", "g1", "中断的回复：材料已收到", "at_least_once"),
        ("nudge", "g2", "中断的提醒：请今天提交周报", "at_most_once"),
    ] {
        dudao::sql::query(
            "INSERT INTO outbox (idempotency_key, channel, chat_kind, chat_id, segments, delivery, status, next_attempt_at,
                 lease_until, created_at, source)
             VALUES (?, 'hook', 'group', ?, ?, ?, 'sending', ?, ?, ?, 'test')",
        )
        .bind(key)
        .bind(chat)
        .bind(serde_json::to_string(&vec![Segment::text(text)]).unwrap())
        .bind(delivery)
        .bind(&now)
        .bind(&lease)
        .bind(&now)
        .execute(&db)
        .await
        .unwrap();
    }
    let ch = webhook(&url, 5_000);
    enqueue(&db, &ch, "after-answer", "g1", "之后的通知：下周一例会", Delivery::AtLeastOnce).await;
    enqueue(&db, &ch, "after-nudge", "g2", "之后的提醒：带好听课本", Delivery::AtLeastOnce).await;
    let w = start(&db, &s, ch);
    wait_for("later messages of both chats are delivered", Duration::from_secs(10), || async {
        fake.accepted_in("g1").len() == 2 && fake.accepted_in("g2").len() == 1
    })
    .await;
    assert_eq!(fake.accepted_in("g1"), vec!["中断的回复：材料已收到", "之后的通知：下周一例会"]);
    assert_eq!(fake.accepted_in("g2"), vec!["之后的提醒：带好听课本"]);
    assert_eq!(status(&db, "nudge").await, "unknown");
    w.stop().await;
}

/// Defect 3: a lease that expires while the worker runs is reclaimed without a restart.
#[tokio::test]
async fn a_lease_that_expires_while_running_is_reclaimed() {
    let (fake, url) = fake_platform(Platform::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&dir, "lease_seconds = 120\nbackoff_base_ms = 20\nbackoff_max_ms = 40");
    let db = open(&s).await;
    let ch = webhook(&url, 5_000);
    let w = start(&db, &s, ch.clone());
    // The worker is past its start-up recovery once it has delivered something.
    enqueue(&db, &ch, "probe", "g0", "测试消息", Delivery::AtLeastOnce).await;
    w.notify.notify_waiters();
    wait_for("the probe is delivered", Duration::from_secs(10), || async { fake.accepted_in("g0").len() == 1 }).await;
    // Another process claimed a row with a short lease, then died.
    let now = chrono::Utc::now();
    dudao::sql::query(
        "INSERT INTO outbox (idempotency_key, channel, chat_kind, chat_id, segments, delivery, status, next_attempt_at,
             lease_until, created_at, source)
         VALUES ('orphan', 'hook', 'group', 'g1', ?, 'at_least_once', 'sending', ?, ?, ?, 'test')",
    )
    .bind(serde_json::to_string(&vec![Segment::text("孤儿消息：检查结果通报")]).unwrap())
    .bind(dudao::db::ts(now))
    .bind(dudao::db::ts(now + chrono::Duration::milliseconds(800)))
    .bind(dudao::db::ts(now))
    .execute(&db)
    .await
    .unwrap();
    enqueue(&db, &ch, "behind", "g1", "排在后面的消息：整改回执", Delivery::AtLeastOnce).await;
    w.notify.notify_waiters();
    wait_for("the chat is unblocked once the lease expires", Duration::from_secs(10), || async {
        fake.accepted_in("g1").len() == 2
    })
    .await;
    assert_eq!(fake.accepted_in("g1"), vec!["孤儿消息：检查结果通报", "排在后面的消息：整改回执"]);
    w.stop().await;
}

/// Defect 4: during an outage the worker sleeps until a backed-off message is due instead of
/// re-running its claim every few milliseconds for the messages queued behind it.
#[tokio::test]
async fn an_outage_does_not_make_the_worker_poll() {
    let (fake, url) = fake_platform(Platform { down: true, ..Default::default() }).await;
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&dir, "max_attempts = 1000\nbackoff_base_ms = 100\nbackoff_max_ms = 400\nlease_seconds = 60");
    let db = open(&s).await;
    let ch = webhook(&url, 5_000);
    for chat in 0..5 {
        for i in 0..20 {
            enqueue(
                &db,
                &ch,
                &format!("c{chat}-{i}"),
                &format!("g{chat}"),
                &format!("停电期间的第{i}条通知"),
                Delivery::AtLeastOnce,
            )
            .await;
        }
    }
    let w = start(&db, &s, ch);
    // A logical window: the heads of the five chats have been retried a few times each.
    wait_for("forty attempts reached the platform", Duration::from_secs(20), || async { fake.request_count() >= 40 })
        .await;
    let (claims, wakeups) = (w.worker.claims(), w.worker.wakeups());
    let requests = fake.request_count() as u64;
    println!("{claims} claims and {wakeups} wake-ups for {requests} attempts");
    // Each attempt needs one claim when it falls due and one wake-up when it completes.
    assert!(claims <= 2 * requests + 10, "{claims} claims for {requests} attempts");
    assert!(wakeups <= 3 * requests + 10, "{wakeups} wake-ups for {requests} attempts");
    w.stop().await;
}

/// Defect 5: an answer that arrives after the timeout leaves the outcome unknown: an
/// at-most-once message is not sent again, an at-least-once one is.
#[tokio::test]
async fn a_late_answer_is_not_resent_for_at_most_once_messages() {
    let (fake, url) =
        fake_platform(Platform { slow_first: Some(Duration::from_millis(1_500)), ..Default::default() }).await;
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&dir, "max_attempts = 3\nbackoff_base_ms = 20\nbackoff_max_ms = 40\nlease_seconds = 60");
    let db = open(&s).await;
    let ch = webhook(&url, 300);
    enqueue(&db, &ch, "nudge", "g-nudge", "提醒：请各校今天下班前提交周报", Delivery::AtMostOnce).await;
    enqueue(&db, &ch, "answer", "g-answer", "回复：您的材料已收到", Delivery::AtLeastOnce).await;
    let w = start(&db, &s, ch);
    wait_for("both messages reach an outcome", Duration::from_secs(15), || async {
        !matches!(status(&db, "nudge").await.as_str(), "pending" | "sending") && status(&db, "answer").await == "sent"
    })
    .await;
    let (st, _, err) = row(&db, "nudge").await;
    assert_eq!(st, "unknown", "{err:?}");
    assert_eq!(fake.requests_for("g-nudge"), 1, "an at-most-once message was sent twice");
    assert_eq!(fake.requests_for("g-answer"), 2, "an at-least-once message is retried");
    // `dudao outbox list` shows it by default.
    let mut conn = db.acquire().await.unwrap();
    let listed = dudao::outbox::admin::list(&mut conn, &["dead", "unroutable", "unknown"], 50).await.unwrap();
    assert!(
        listed.iter().any(|i| i.status == "unknown" && i.preview.contains("请各校今天下班前提交周报")),
        "{listed:?}"
    );
    drop(conn);
    w.stop().await;
}

/// Defect 13: a worker whose lease was taken over cannot overwrite the new owner's outcome.
#[tokio::test]
async fn a_worker_that_lost_its_lease_cannot_overwrite_the_outcome() {
    let (fake, url) = fake_platform(Platform { hold: Some("慢消息：督导报告".into()), ..Default::default() }).await;
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&dir, "lease_seconds = 1\nbackoff_base_ms = 20\nbackoff_max_ms = 40");
    let db_a = open(&s).await;
    let ch_a = webhook(&url, 20_000);
    enqueue(&db_a, &ch_a, "slow", "g1", "慢消息：督导报告", Delivery::AtLeastOnce).await;
    let a = start(&db_a, &s, ch_a);
    wait_for("the first send is in flight", Duration::from_secs(10), || async { fake.request_count() == 1 }).await;
    wait_for("its lease expires", Duration::from_secs(10), || async {
        let lease: Option<String> =
            dudao::sql::query_scalar("SELECT lease_until FROM outbox WHERE idempotency_key = 'slow'")
                .fetch_one(&db_a)
                .await
                .unwrap();
        lease.is_some_and(|l| l < dudao::db::ts(chrono::Utc::now()))
    })
    .await;
    // A second worker on its own pool takes the row over and delivers it.
    let db_b = open(&s).await;
    let b = start(&db_b, &s, webhook(&url, 20_000));
    wait_for("the second worker delivers it", Duration::from_secs(10), || async {
        status(&db_b, "slow").await == "sent"
    })
    .await;
    // The first send now fails; its worker records that outcome on shutdown.
    fake.release.add_permits(1);
    a.stop().await;
    assert_eq!(status(&db_b, "slow").await, "sent");
    b.notify.notify_waiters();
    b.stop().await;
    assert_eq!(fake.accepted_texts(), vec!["慢消息：督导报告"]);
    assert_eq!(status(&db_b, "slow").await, "sent");
}

/// Defect 13: two workers (two pools on one file) racing never send a row twice.
#[tokio::test]
async fn two_workers_racing_never_send_a_row_twice() {
    let (fake, url) = fake_platform(Platform::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&dir, "lease_seconds = 60\nmax_in_flight = 4");
    let db_a = open(&s).await;
    let db_b = open(&s).await;
    let ch = webhook(&url, 5_000);
    let a = start(&db_a, &s, ch.clone());
    let b = start(&db_b, &s, webhook(&url, 5_000));
    // Both are past their start-up recovery.
    wait_for("both workers run", Duration::from_secs(10), || async {
        a.worker.wakeups() > 0 && b.worker.wakeups() > 0
    })
    .await;
    let (chats, per_chat) = (20, 10);
    for i in 0..per_chat {
        for c in 0..chats {
            enqueue(
                &db_a,
                &ch,
                &format!("m{c}-{i}"),
                &format!("g{c}"),
                &format!("第{c}组第{i:02}条"),
                Delivery::AtLeastOnce,
            )
            .await;
        }
        a.notify.notify_waiters();
        b.notify.notify_waiters();
    }
    wait_for("everything is sent", Duration::from_secs(20), || async {
        let n: i64 = dudao::sql::query_scalar("SELECT COUNT(*) FROM outbox WHERE status = 'sent'")
            .fetch_one(&db_a)
            .await
            .unwrap();
        n == chats * per_chat
    })
    .await;
    a.stop().await;
    b.stop().await;
    let texts = fake.accepted_texts();
    let mut unique = texts.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), texts.len(), "a row was sent twice");
    assert_eq!(texts.len() as i64, chats * per_chat);
    for c in 0..chats {
        let seq = fake.accepted_in(&format!("g{c}"));
        let mut sorted = seq.clone();
        sorted.sort();
        assert_eq!(seq, sorted, "out of order in g{c}");
    }
}
