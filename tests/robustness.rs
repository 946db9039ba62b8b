//! Nothing one message does can stop the service: panics stay contained (also in the recovery
//! at start-up), strangers cannot make the bot talk, and one-time codes redeem exactly once.

mod common;

use common::{first_person, Harness};
use dudao::app::{FAULT_PANIC_MARKER, UNBOUND_HINT};
use dudao::chat::{ChatRef, InboundMessage, Segment, UserRef};
use dudao::db::Db as SqlitePool;

fn message(id: &str, account: &str, group: Option<&str>, to_me: bool, text: &str) -> InboundMessage {
    let chat = match group {
        Some(g) => ChatRef::group("console", g),
        None => ChatRef::private("console", account),
    };
    InboundMessage {
        chat,
        sender: UserRef { id: account.into(), display: Some(account.into()) },
        platform_msg_id: id.into(),
        segments: vec![Segment::text(text)],
        to_me: to_me || group.is_none(),
        sent_at: chrono::Utc::now(),
    }
}

async fn inbound_status(db: &SqlitePool, platform_msg_id: &str) -> (String, Option<String>, String) {
    dudao::sql::query_as(
        "SELECT status, error, text FROM inbound_messages WHERE channel = 'console' AND platform_msg_id = ?",
    )
    .bind(platform_msg_id)
    .fetch_one(db)
    .await
    .expect("the message is stored")
}

async fn replies_to(db: &SqlitePool, platform_msg_id: &str) -> i64 {
    dudao::sql::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE source = 'inbound:' || (SELECT id FROM inbound_messages
             WHERE channel = 'console' AND platform_msg_id = ?)",
    )
    .bind(platform_msg_id)
    .fetch_one(db)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_workflow_that_panics_fails_that_message_only() {
    let mut h = Harness::start().await;
    let inspector = first_person(h.db(), "inspector").await;
    h.bind("liuwei", &inspector).await;

    let text = format!("周报：本周走访城关二小，发现食堂台账不全{FAULT_PANIC_MARKER}");
    h.app().ingest(message("p1", "liuwei", None, true, &text)).await.expect("ingest returns normally");
    let out = h.settle().await;
    assert!(out.contains("抱歉，处理您的消息时出现问题"), "the sender is told politely: {out}");
    let (status, error, stored) = inbound_status(h.db(), "p1").await;
    assert_eq!(status, "failed");
    assert!(error.unwrap_or_default().contains("panicked"), "the reason is recorded");
    assert_eq!(stored, text, "the raw text is kept verbatim");
    // Nothing the panicking workflow wrote survived: its transaction rolled back.
    let parts: i64 =
        dudao::sql::query_scalar("SELECT COUNT(*) FROM weekly_report_parts").fetch_one(h.db()).await.unwrap();
    assert_eq!(parts, 0);

    // The next message from the same person, and from anyone, goes on.
    let out = h.say("liuwei: 我是谁").await;
    assert!(out.contains(&inspector) || out.contains("督学"), "{out}");
    // A duplicate delivery of the failed message is not processed again.
    h.app().ingest(message("p1", "liuwei", None, true, &text)).await.unwrap();
    assert_eq!(replies_to(h.db(), "p1").await, 1);
    h.stop().await;
}

#[tokio::test]
async fn a_poisoned_message_left_from_a_crash_does_not_stop_the_next_start() {
    let h = Harness::start().await;
    let db = h.db().clone();
    // As if the service died between storing a message and acting on it.
    dudao::sql::query(
        "INSERT INTO inbound_messages (channel, platform, platform_msg_id, chat_kind, chat_id, sender_id, sender_name,
             text, segments, to_me, sent_at, received_at, status)
         VALUES ('console', 'console', 'left-1', 'private', 'zhaomin', 'zhaomin', 'zhaomin', ?, ?, 1,
                 '2026-11-30T01:00:00.000Z', '2026-11-30T01:00:00.000Z', 'received')",
    )
    .bind(format!("帮助{FAULT_PANIC_MARKER}"))
    .bind(serde_json::to_string(&vec![Segment::text(format!("帮助{FAULT_PANIC_MARKER}"))]).unwrap())
    .execute(&db)
    .await
    .unwrap();
    let dir = h.stop().await;

    let mut h = Harness::start_in(dir, "", None).await;
    let (status, error, _) = inbound_status(h.db(), "left-1").await;
    assert_eq!(status, "failed", "recovery at start-up records the panic and goes on");
    assert!(error.unwrap_or_default().contains("panicked"));
    let out = h.say("zhaomin: 帮助").await;
    assert!(out.contains(UNBOUND_HINT), "the service answers after the poisoned message: {out}");
    h.stop().await;
}

#[tokio::test]
async fn case_folding_characters_are_processed_not_fatal() {
    let mut h = Harness::start().await;
    let inspector = first_person(h.db(), "inspector").await;
    h.bind("chenjing", &inspector).await;
    // KELVIN SIGN, dotted capital I and capital sharp s change byte length when lowercased.
    let inputs = ["ac\u{212A}", "\u{0130}help", "HELP\u{1E9E}", "Bİnd 12345678", "周报\u{212A}\u{0130}"];
    for (i, text) in inputs.iter().enumerate() {
        for (who, group) in [("chenjing", Some("zone-x")), ("chenjing", None), ("stranger9", Some("zone-x"))] {
            let id = format!("cf-{i}-{who}-{}", group.is_some());
            h.app().ingest(message(&id, who, group, true, text)).await.unwrap();
            let (status, error, stored) = inbound_status(h.db(), &id).await;
            assert_eq!(status, "processed", "{text:?} from {who}: {error:?}");
            assert_eq!(&stored, text);
            assert!(replies_to(h.db(), &id).await <= 1);
        }
    }
    h.stop().await;
}

#[tokio::test]
async fn a_stranger_gets_one_hint_whatever_they_send() {
    let mut h = Harness::start().await;
    let commands = [
        "帮助",
        "我是谁",
        "周报统计",
        "发送队列",
        "布置任务 检查食堂 对象:全体督学 截止:12月5日",
        "绑定",
        "整改台账",
        "help",
        "记问题 城关一小 6 消防通道堵塞",
        "学校 城关一小",
    ];
    let mut n = 0;
    for round in 0..3 {
        for c in commands {
            n += 1;
            let id = format!("s-{round}-{n}");
            h.app().ingest(message(&id, "lurker", Some("teachers-1"), true, c)).await.unwrap();
        }
    }
    let out = h.settle().await;
    assert_eq!(out.matches("尚未绑定身份").count(), 1, "one hint in total: {out}");
    assert!(out.contains("私聊 lurker"), "the hint goes privately, not to the group: {out}");
    assert!(!out.contains("群 teachers-1"), "nothing is posted in the group: {out}");
    let queued: i64 = dudao::sql::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE source IN (SELECT 'inbound:' || id FROM inbound_messages WHERE sender_id = 'lurker')",
    )
    .fetch_one(h.db())
    .await
    .unwrap();
    assert_eq!(queued, 1);
    // A real binding attempt is still answered, in private.
    h.app().ingest(message("s-bind", "lurker", None, true, "绑定 ZZZZ2222")).await.unwrap();
    let out = h.settle().await;
    assert!(out.contains("绑定码不正确"), "{out}");
    h.stop().await;
}

#[tokio::test]
async fn a_code_hammered_after_the_block_is_answered_once() {
    let mut h = Harness::start().await;
    for i in 0..12 {
        h.app()
            .ingest(message(&format!("b{i}"), "guesser", None, true, &format!("绑定 ABCD{:04}", 2345 + i)))
            .await
            .unwrap();
    }
    let out = h.settle().await;
    assert_eq!(out.matches("绑定码不正确").count(), 5, "{out}");
    assert_eq!(out.matches("错误次数过多").count(), 1, "{out}");
    h.stop().await;
}

#[tokio::test]
async fn two_racing_redemptions_of_one_code_bind_one_account() {
    let h = Harness::start().await;
    let inspector = first_person(h.db(), "inspector").await;
    let path = h.dir.path().join("dudao.sqlite");
    // Two separate pools, as two processes would have; each redeems outside any transaction so
    // only the conditional update can keep the code single-use.
    let busy = std::time::Duration::from_secs(5);
    let a = dudao::db::connect_path(&path, dudao::config::Synchronous::Full, busy).await.unwrap();
    let b = dudao::db::connect_path(&path, dudao::config::Synchronous::Full, busy).await.unwrap();
    let now = chrono::Utc::now();
    for round in 0..40 {
        let code = h.code_for(&inspector).await;
        let (ca, cb) = (code.clone(), code.clone());
        let (pa, pb) = (a.clone(), b.clone());
        let ta = tokio::spawn(async move {
            let mut c = pa.acquire().await.unwrap();
            dudao::store::binding::redeem(&mut c, "console", &format!("race-a-{round}"), None, &ca, now).await.unwrap()
        });
        let tb = tokio::spawn(async move {
            let mut c = pb.acquire().await.unwrap();
            dudao::store::binding::redeem(&mut c, "console", &format!("race-b-{round}"), None, &cb, now).await.unwrap()
        });
        let (ra, rb) = (ta.await.unwrap(), tb.await.unwrap());
        let bound = [&ra, &rb].iter().filter(|r| matches!(r, dudao::store::binding::Redeemed::Bound { .. })).count();
        assert_eq!(bound, 1, "round {round}: {ra:?} / {rb:?}");
    }
    let accounts: i64 = dudao::sql::query_scalar("SELECT COUNT(*) FROM chat_accounts WHERE account_id LIKE 'race-%'")
        .fetch_one(&a)
        .await
        .unwrap();
    assert_eq!(accounts, 40);
    h.stop().await;
}
