//! Fan-out through the outbox at the channel's limits: many queued sends to many chats reach a
//! fake webhook platform on loopback exactly once each, in order per chat, and no global or
//! per-chat window is ever exceeded as the platform saw the requests arrive.

#[path = "common/webhook_fake.rs"]
mod webhook_fake;

use async_trait::async_trait;
use dudao::chat::webhook::WebhookChannel;
use dudao::chat::{
    Capabilities, Channel, ChannelContext, ChatRef, OutboundMessage, Rate, Segment, SendError, SendReceipt,
};
use dudao::config::Settings;
use dudao::outbox::worker::Worker;
use dudao::outbox::{Delivery, Directory, Envelope, Recipient};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use webhook_fake::window_check;

const GLOBAL: Rate = Rate { count: 20, window: Duration::from_millis(200) };
const PER_CHAT: Rate = Rate { count: 3, window: Duration::from_millis(300) };

/// The real webhook channel, declaring windows short enough for a test to sit on them.
struct ShortWindows {
    inner: WebhookChannel,
    caps: Capabilities,
}

#[async_trait]
impl Channel for ShortWindows {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn platform(&self) -> &'static str {
        self.inner.platform()
    }
    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }
    async fn send(&self, m: &OutboundMessage) -> Result<SendReceipt, SendError> {
        self.inner.send(m).await
    }
    async fn run(self: Arc<Self>, _c: ChannelContext) -> anyhow::Result<()> {
        Ok(())
    }
}

/// The outbox worker for `ch`, running until the token is cancelled.
fn run_worker(
    db: &dudao::db::Db,
    ch: Arc<dyn Channel>,
    s: &Settings,
) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let worker = Arc::new(Worker::new(
        db.clone(),
        Arc::new(dudao::clock::SystemClock),
        ch,
        s.outbox.clone(),
        Arc::new(Notify::new()),
    ));
    let stop = CancellationToken::new();
    let task = tokio::spawn(worker.run(stop.clone()));
    (stop, task)
}

/// A migrated database with `[outbox]` settings from `outbox_toml`, and the real webhook channel
/// posting to `url` with limits high enough that the test's own windows decide.
async fn webhook_setup(
    dir: &tempfile::TempDir,
    outbox_toml: &str,
    url: &str,
) -> (Settings, dudao::db::Db, WebhookChannel) {
    let s = Settings::from_toml_over_default(&format!(
        "[database]\npath = \"{}\"\nsynchronous = \"normal\"\n[outbox]\n{outbox_toml}",
        dir.path().join("outbox.sqlite").display()
    ))
    .unwrap();
    let db = dudao::db::open_and_migrate(&s.database).await.unwrap();
    let inner = WebhookChannel::new(
        toml::from_str(&format!(
            "name = \"hook\"\nurl = \"{url}\"\nmax_per_second = 1000\nmax_per_chat_per_minute = 1000"
        ))
        .unwrap(),
    )
    .unwrap();
    (s, db, inner)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fan_out_sits_on_the_limits_without_breaking_them() {
    let (hook, url) = webhook_fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (s, db, inner) = webhook_setup(&dir, "lease_seconds = 60\nmax_in_flight = 4", &url).await;
    let caps =
        Capabilities { global_limits: vec![GLOBAL], per_chat_limits: vec![PER_CHAT], ..inner.capabilities().clone() };
    let ch: Arc<dyn Channel> = Arc::new(ShortWindows { inner, caps });
    let directory = Directory::from_channels(std::slice::from_ref(&ch));

    // Queued in rounds across the chats, every fifth at most once.
    let (chats, per_chat) = (12, 15);
    let mut tx = dudao::db::begin_write(&db).await.unwrap();
    for i in 0..per_chat {
        for c in 0..chats {
            let env = Envelope {
                delivery: if (i + c) % 5 == 0 { Delivery::AtMostOnce } else { Delivery::AtLeastOnce },
                ..Envelope::new(
                    format!("m{c}-{i}"),
                    Recipient::Chat(ChatRef::group("hook", format!("g{c}"))),
                    vec![Segment::text(format!("第{c}组第{i:02}条：请于周五前提交本周督导记录"))],
                    "test",
                )
            };
            dudao::outbox::enqueue(&mut tx, &directory, chrono::Utc::now(), env).await.unwrap();
        }
    }
    tx.commit().await.unwrap();

    let (stop, task) = run_worker(&db, ch, &s);
    let total = chats * per_chat;
    hook.wait_for(total, Duration::from_secs(60)).await;
    // Every outcome recorded.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let open: i64 = dudao::sql::query_scalar("SELECT COUNT(*) FROM outbox WHERE status <> 'sent'")
            .fetch_one(&db)
            .await
            .unwrap();
        if open == 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{open} rows not recorded as sent");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.cancel();
    task.await.unwrap();

    // Exactly once, in order per chat.
    let arrivals = hook.arrivals();
    assert_eq!(arrivals.len(), total, "a message was sent twice");
    let mut by_chat: HashMap<String, Vec<(Instant, String)>> = HashMap::new();
    for a in &arrivals {
        by_chat.entry(a.chat.clone()).or_default().push((a.at, a.text.clone()));
    }
    assert_eq!(by_chat.len(), chats);
    for (chat, got) in &by_chat {
        let c: usize = chat.trim_start_matches('g').parse().unwrap();
        let expected: Vec<String> =
            (0..per_chat).map(|i| format!("第{c}组第{i:02}条：请于周五前提交本周督导记录")).collect();
        let texts: Vec<String> = got.iter().map(|(_, t)| t.clone()).collect();
        assert_eq!(texts, expected, "chat {chat} in order, once each");
    }

    // No window over its limit, as the platform saw the arrivals.
    let mut all: Vec<Instant> = arrivals.iter().map(|a| a.at).collect();
    all.sort();
    let (busiest, over) = window_check(&all, GLOBAL.window, GLOBAL.count as usize);
    assert_eq!(over, 0, "global limit broken (busiest window {busiest})");
    for (chat, got) in &by_chat {
        let mut t: Vec<Instant> = got.iter().map(|(t, _)| *t).collect();
        t.sort();
        let (busiest, over) = window_check(&t, PER_CHAT.window, PER_CHAT.count as usize);
        assert_eq!(over, 0, "limit of chat {chat} broken (busiest window {busiest})");
    }
    // And it sat on them: the global limit was reached (a full window somewhere).
    assert_eq!(busiest, GLOBAL.count as usize, "the fan-out never filled a window");
    println!(
        "{total} sends in {:?}; busiest {}-ms window {busiest}",
        *all.last().unwrap() - all[0],
        GLOBAL.window.as_millis()
    );
}

/// The webhook channel, but the first attempt at each message whose text holds `FLAKY` fails.
struct FirstTryFails {
    inner: WebhookChannel,
    failed: std::sync::Mutex<std::collections::HashSet<String>>,
}

const FLAKY: &str = "（线路抖动）";

#[async_trait]
impl Channel for FirstTryFails {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn platform(&self) -> &'static str {
        self.inner.platform()
    }
    fn capabilities(&self) -> &Capabilities {
        self.inner.capabilities()
    }
    async fn send(&self, m: &OutboundMessage) -> Result<SendReceipt, SendError> {
        let text = dudao::chat::plain_text(&m.segments);
        if text.contains(FLAKY) && self.failed.lock().unwrap().insert(text.clone()) {
            return Err(SendError::Transient("502 from the platform's gateway".into()));
        }
        self.inner.send(m).await
    }
    async fn run(self: Arc<Self>, _c: ChannelContext) -> anyhow::Result<()> {
        Ok(())
    }
}

/// A chat's backlog is claimed as a run and sent in order; when one message of the run fails,
/// the ones after it wait for its retry instead of overtaking it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_send_holds_back_the_rest_of_its_chat() {
    let (hook, url) = webhook_fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (s, db, inner) = webhook_setup(&dir, "backoff_base_ms = 30\nbackoff_max_ms = 60", &url).await;
    let ch: Arc<dyn Channel> = Arc::new(FirstTryFails { inner, failed: Default::default() });
    let directory = Directory::from_channels(std::slice::from_ref(&ch));
    let text = |c: usize, i: usize| {
        let flaky = if i == 2 || (c == 1 && i == 0) { FLAKY } else { "" };
        format!("{c}号群第{i}条：明早八点到校检查晨检记录{flaky}")
    };
    let mut tx = dudao::db::begin_write(&db).await.unwrap();
    for c in 0..2 {
        for i in 0..6 {
            let env = Envelope::new(
                format!("run{c}-{i}"),
                Recipient::Chat(ChatRef::group("hook", format!("q{c}"))),
                vec![Segment::text(text(c, i))],
                "test",
            );
            dudao::outbox::enqueue(&mut tx, &directory, chrono::Utc::now(), env).await.unwrap();
        }
    }
    tx.commit().await.unwrap();

    let (stop, task) = run_worker(&db, ch, &s);
    hook.wait_for(12, Duration::from_secs(30)).await;
    stop.cancel();
    task.await.unwrap();

    let arrivals = hook.arrivals();
    assert_eq!(arrivals.len(), 12, "each message delivered once");
    for c in 0..2 {
        let got: Vec<String> = arrivals.iter().filter(|a| a.chat == format!("q{c}")).map(|a| a.text.clone()).collect();
        let expected: Vec<String> = (0..6).map(|i| text(c, i)).collect();
        assert_eq!(got, expected, "chat q{c} in order despite its failed first tries");
    }
    let retried: i64 =
        dudao::sql::query_scalar("SELECT COUNT(*) FROM outbox WHERE attempts > 1").fetch_one(&db).await.unwrap();
    assert_eq!(retried, 3, "the three flaky messages took a second attempt, the others one");
}
