//! Read-only commands (statistics, reports, exports) are answered beside the write path: while
//! one is being built on its read snapshot, everyone else's messages are processed and
//! answered; it is answered once; and an answer lost to a crash is given at start-up, once.
//! The real service on a temporary SQLite file, through the console channel.

mod common;
#[path = "common/onebot_fake.rs"]
mod onebot_fake;

use common::{first_person, settings_for, Harness};
use dudao::app::{FAULT_SLOW_READ, FAULT_SLOW_READING, FAULT_SLOW_READ_MARKER};
use dudao::chat::onebot::{OneBotChannel, OneBotSettings};
use dudao::chat::{ChatRef, InboundMessage, Segment, UserRef};
use dudao::Channel;
use onebot_fake::{connect_reverse, Auth, Recorder};
use serde_json::json;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// The fault hook is process-wide: these tests take turns.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn private(id: &str, account: &str, text: &str) -> InboundMessage {
    InboundMessage {
        chat: ChatRef::private("console", account),
        sender: UserRef { id: account.into(), display: Some(account.into()) },
        platform_msg_id: id.into(),
        segments: vec![Segment::text(text)],
        to_me: true,
        sent_at: chrono::Utc::now(),
    }
}

/// The replies queued for the console message `id`.
async fn replies(h: &Harness, id: &str) -> Vec<String> {
    dudao::sql::query_scalar(
        "SELECT o.segments FROM outbox o JOIN inbound_messages i ON o.source = 'inbound:' || i.id
         WHERE i.channel = 'console' AND i.platform_msg_id = ? ORDER BY o.id",
    )
    .bind(id)
    .fetch_all(h.db())
    .await
    .unwrap()
}

async fn deferred_rows(h: &Harness) -> i64 {
    dudao::sql::query_scalar("SELECT COUNT(*) FROM deferred_reads").fetch_one(h.db()).await.unwrap()
}

async fn wait_for(what: &str, cond: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test]
async fn a_slow_statistic_holds_up_no_one_else() {
    let _turn = SERIAL.lock().await;
    let mut h = Harness::start().await;
    let supervisor = first_person(h.db(), "supervisor").await;
    let inspector = first_person(h.db(), "inspector").await;
    h.bind("zhoumin", &supervisor).await;
    h.bind("qianfang", &inspector).await;

    // The supervisor's statistic takes its time (its read snapshot stays open) …
    let app = h.app().clone();
    let slow = private("slow-1", "zhoumin", &format!("周报统计 {FAULT_SLOW_READ_MARKER}"));
    let asking = tokio::spawn(async move { app.ingest(slow).await });
    wait_for("the statistic to be read", || FAULT_SLOW_READING.load(Ordering::SeqCst) == 1).await;
    assert_eq!(deferred_rows(&h).await, 1, "the processing transaction recorded the deferral");

    // … while the inspector is answered, and a change of theirs is committed.
    let out = h.say("qianfang: 我是谁").await;
    assert!(out.contains("督学"), "{out}");
    let out = h.say("qianfang: 请假 明天 至 后天").await;
    assert!(out.contains("请假"), "{out}");
    let leaves: i64 = dudao::sql::query_scalar("SELECT COUNT(*) FROM leaves").fetch_one(h.db()).await.unwrap();
    assert_eq!(leaves, 1, "the leave was committed while the statistic was being read");
    assert!(replies(&h, "slow-1").await.is_empty(), "not answered before it was built");
    assert!(!asking.is_finished());

    FAULT_SLOW_READ.notify_one();
    asking.await.unwrap().unwrap();
    let answer = replies(&h, "slow-1").await;
    assert_eq!(answer.len(), 1, "answered once: {answer:?}");
    assert!(answer[0].contains("请写明周次"), "{answer:?}");
    assert_eq!(deferred_rows(&h).await, 0);
    let (status, intent): (String, String) =
        dudao::sql::query_as("SELECT status, intent FROM inbound_messages WHERE platform_msg_id = 'slow-1'")
            .fetch_one(h.db())
            .await
            .unwrap();
    assert_eq!((status.as_str(), intent.as_str()), ("processed", "weekly_stats"));

    // The same delivery again is a duplicate: nothing more is said.
    let again = private("slow-1", "zhoumin", &format!("周报统计 {FAULT_SLOW_READ_MARKER}"));
    h.app().ingest(again).await.unwrap();
    assert_eq!(replies(&h, "slow-1").await.len(), 1);
    h.stop().await;
}

#[tokio::test]
async fn an_answer_lost_to_a_crash_is_given_at_start_up_once() {
    let _turn = SERIAL.lock().await;
    let mut h = Harness::start().await;
    let supervisor = first_person(h.db(), "supervisor").await;
    h.bind("zhoumin", &supervisor).await;

    let app = h.app().clone();
    let slow = private("slow-2", "zhoumin", &format!("整改台账 {FAULT_SLOW_READ_MARKER}"));
    let asking = tokio::spawn(async move { app.ingest(slow).await });
    wait_for("the ledger to be read", || FAULT_SLOW_READING.load(Ordering::SeqCst) == 1).await;
    // The process dies while the answer is being built.
    asking.abort();
    wait_for("the reader to be gone", || FAULT_SLOW_READING.load(Ordering::SeqCst) == 0).await;
    assert_eq!(deferred_rows(&h).await, 1);
    assert!(replies(&h, "slow-2").await.is_empty());
    let dir = h.stop().await;

    // At start-up the deferral is found and answered (this time the read is not held).
    FAULT_SLOW_READ.notify_one();
    let h = Harness::start_in(dir, "", None).await;
    assert_eq!(deferred_rows(&h).await, 0);
    let answer = replies(&h, "slow-2").await;
    assert_eq!(answer.len(), 1, "answered once: {answer:?}");
    // Recovery again finds nothing to answer.
    h.app().recover_inbound().await.unwrap();
    assert_eq!(replies(&h, "slow-2").await.len(), 1);
    h.stop().await;
}

/// QQ messages are processed in one loop per connection: a statistic being read must not keep
/// the next people's messages on that connection waiting.
#[tokio::test]
async fn over_qq_the_next_messages_are_answered_while_a_statistic_is_read() {
    let _turn = SERIAL.lock().await;
    const TOKEN: &str = "read-path-t0ken";
    const BOT: &str = "3000000077";
    let wait = Duration::from_secs(20);
    let extra = format!(
        "[channels.console]\nenabled = false\n[channels.onebot]\nenabled = true\naccess_token = \"{TOKEN}\"\n\
         min_interval_ms = 0\nmax_per_minute = 0\nchat_min_interval_ms = 0\nchat_max_per_minute = 0\n\
         send_jitter_ms = 0\napi_timeout_ms = 10000\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let settings = settings_for(&dir, &extra);
    let ob = OneBotSettings::from_settings(&settings).unwrap().unwrap();
    let ch = Arc::new(OneBotChannel::new(ob));
    let channels: Vec<Arc<dyn Channel>> = vec![ch.clone()];
    let running = dudao::service::start(settings, Arc::new(dudao::clock::SystemClock), channels).await.unwrap();
    let db = running.app.db.clone();
    let (_, supervisor_qq) = common::roster_qq_named(&db, "supervisor").await;
    let (_, inspector_qq) = common::roster_qq_named(&db, "inspector").await;
    let rec = Recorder::new();
    let bot = connect_reverse(running.http_addr, BOT, Auth::Bearer(TOKEN), rec.clone()).await.unwrap();
    let deadline = tokio::time::Instant::now() + wait;
    while ch.connected_accounts().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "the fake never connected");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let to =
        |qq: i64| move |a: &onebot_fake::Action| a.action == "send_private_msg" && a.params["user_id"] == qq && a.ok;

    bot.private_msg(supervisor_qq, json!(1), json!(format!("整改对账 {FAULT_SLOW_READ_MARKER}")));
    wait_for("the reconciliation to be read", || FAULT_SLOW_READING.load(Ordering::SeqCst) == 1).await;
    bot.private_msg(inspector_qq, json!(2), json!("我是谁"));
    let answer = rec.wait_for(1, wait, to(inspector_qq)).await;
    assert!(answer[0].text().contains("督学"), "{}", answer[0].text());
    assert!(rec.sends().iter().all(|a| a.params["user_id"] != supervisor_qq), "the statistic is not ready yet");

    FAULT_SLOW_READ.notify_one();
    let answer = rec.wait_for(1, wait, to(supervisor_qq)).await;
    assert_eq!(answer.len(), 1);
    running.stop().await;
}
