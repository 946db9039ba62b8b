//! Group commit: messages that arrive together share one transaction, yet each stands alone —
//! one that fails is undone and answered politely while the others commit and are answered
//! once; and a process that dies mid-batch loses nothing it had acknowledged.

mod common;

use common::{first_person, Harness};
use dudao::app::pipeline::Work;
use dudao::app::{FAULT_HANGING, FAULT_HANG_ARMED, FAULT_HANG_MARKER, FAULT_PANIC_MARKER};
use dudao::chat::{ChatRef, InboundMessage, Segment, UserRef};
use dudao::db::Db as SqlitePool;
use std::sync::atomic::Ordering;
use std::time::Duration;

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

async fn status(db: &SqlitePool, id: &str) -> Option<String> {
    dudao::sql::query_scalar("SELECT status FROM inbound_messages WHERE channel = 'console' AND platform_msg_id = ?")
        .bind(id)
        .fetch_optional(db)
        .await
        .unwrap()
}

/// Replies to the message (`source = inbound:<row id>`; a long one's later parts not counted).
async fn replies(db: &SqlitePool, id: &str) -> Vec<String> {
    dudao::sql::query_scalar(
        "SELECT o.segments FROM outbox o JOIN inbound_messages i ON o.source = 'inbound:' || i.id
         WHERE i.channel = 'console' AND i.platform_msg_id = ? AND o.idempotency_key NOT LIKE '%#%' ORDER BY o.id",
    )
    .bind(id)
    .fetch_all(db)
    .await
    .unwrap()
}

async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test]
async fn one_failing_message_in_a_batch_leaves_the_others_committed_and_replied_once() {
    let mut h = Harness::start().await;
    let inspector = first_person(h.db(), "inspector").await;
    h.bind("sunli", &inspector).await;

    let batch = vec![
        private("b-1", "sunli", "我是谁"),
        private("b-2", "sunli", format!("帮助 周报{FAULT_PANIC_MARKER}").as_str()),
        private("b-3", "sunli", "帮助 整改"),
        private("b-4", "stranger42", "你好，请问怎么提交本周的督导记录？"),
    ];
    let (batches_before, messages_before) = h.app().pipeline.committed();
    let results = h.app().run_pipeline(batch.iter().cloned().map(Work::Deliver).collect()).await;
    assert!(results.iter().all(Result::is_ok), "every caller hears its message committed: {results:?}");
    let (batches, messages) = h.app().pipeline.committed();
    assert_eq!((batches - batches_before, messages - messages_before), (1, 4), "the four shared one transaction");

    let out = h.settle().await;
    assert_eq!(status(h.db(), "b-2").await.as_deref(), Some("failed"));
    let failed = replies(h.db(), "b-2").await;
    assert_eq!(failed.len(), 1, "the failed message is answered once: {failed:?}");
    assert!(failed[0].contains("抱歉，处理您的消息时出现问题"), "{failed:?}");
    for id in ["b-1", "b-3", "b-4"] {
        assert_eq!(status(h.db(), id).await.as_deref(), Some("processed"), "{id} committed");
        let r = replies(h.db(), id).await;
        assert_eq!(r.len(), 1, "{id} is answered once: {r:?}");
    }
    assert!(out.contains(&inspector) || out.contains("督学"), "我是谁 answered after the failure: {out}");
    assert!(out.contains("尚未绑定"), "the stranger is told to bind: {out}");

    // The platform delivers the whole burst again: nothing is processed or answered twice.
    let again = h.app().run_pipeline(batch.into_iter().map(Work::Deliver).collect()).await;
    assert!(again.iter().all(Result::is_ok));
    h.settle().await;
    for id in ["b-1", "b-2", "b-3", "b-4"] {
        assert_eq!(replies(h.db(), id).await.len(), 1, "{id} still answered once");
    }
    h.stop().await;
}

#[tokio::test]
async fn a_crash_mid_batch_loses_nothing_acknowledged() {
    let mut h = Harness::start().await;
    let inspector = first_person(h.db(), "inspector").await;
    h.bind("zhouqing", &inspector).await;
    let app = h.app().clone();
    FAULT_HANG_ARMED.store(true, Ordering::SeqCst);
    let hung_before = FAULT_HANGING.load(Ordering::SeqCst);

    // A webhook burst (acknowledged only once its transaction commits): the batch dies with the
    // third message still running, the first two done but not committed.
    let webhook = vec![
        private("w-1", "zhouqing", "我是谁"),
        private("w-2", "zhouqing", "帮助 任务"),
        private("w-3", "zhouqing", format!("帮助{FAULT_HANG_MARKER}").as_str()),
        private("w-4", "zhouqing", "帮助 主题"),
    ];
    let work: Vec<Work> = webhook.iter().cloned().map(Work::Deliver).collect();
    let a = app.clone();
    let leader = tokio::spawn(async move { a.run_pipeline(work).await });
    wait_for("the batch to hang", || FAULT_HANGING.load(Ordering::SeqCst) > hung_before).await;
    leader.abort();
    assert!(leader.await.unwrap_err().is_cancelled(), "no caller was told its message was committed");
    for m in &webhook {
        assert_eq!(status(h.db(), &m.platform_msg_id).await, None, "unacknowledged and undone: the platform resends");
    }

    // A OneBot burst: stored first (that is its acknowledgement), processed in a batch that dies.
    let onebot = vec![
        private("q-1", "zhouqing", "帮助 周报"),
        private("q-2", "zhouqing", format!("我是谁{FAULT_HANG_MARKER}").as_str()),
        private("q-3", "zhouqing", "帮助 整改"),
    ];
    let ids = app.store_inbound(&onebot).await.unwrap();
    let work: Vec<Work> = ids.iter().zip(&onebot).map(|(id, m)| Work::Stored(id.unwrap(), m.clone())).collect();
    let a = app.clone();
    let hung_before = FAULT_HANGING.load(Ordering::SeqCst);
    let leader = tokio::spawn(async move { a.run_pipeline(work).await });
    wait_for("the second batch to hang", || FAULT_HANGING.load(Ordering::SeqCst) > hung_before).await;
    leader.abort();
    let _ = leader.await;
    for m in &onebot {
        assert_eq!(status(h.db(), &m.platform_msg_id).await.as_deref(), Some("received"), "stored, not yet acted on");
        assert!(replies(h.db(), &m.platform_msg_id).await.is_empty());
    }
    FAULT_HANG_ARMED.store(false, Ordering::SeqCst);
    drop(app);

    // Restart on the same file: recovery processes what was stored; the webhook platform resends.
    let dir = h.stop().await;
    let mut h = Harness::start_in(dir, "", None).await;
    let resent = h.app().run_pipeline(webhook.iter().cloned().map(Work::Deliver).collect()).await;
    assert!(resent.iter().all(Result::is_ok));
    let out = h.settle().await;
    for m in webhook.iter().chain(&onebot) {
        let id = &m.platform_msg_id;
        assert_eq!(status(h.db(), id).await.as_deref(), Some("processed"), "{id} processed after the restart");
        assert_eq!(replies(h.db(), id).await.len(), 1, "{id} answered exactly once");
    }
    assert!(out.contains(&inspector) || out.contains("督学"), "{out}");
    h.stop().await;
}
