//! Arbitrary messages through the whole inbound pipeline on a real SQLite file: whoever sends
//! them and whatever they contain (case-folding letters, combining marks, RTL marks, NUL, CQ
//! fragments, half-typed commands), the service never panics, keeps the raw text verbatim,
//! and answers at most once.
//!
//! Budget: `PIPELINE_CASES` (default 300). The long run in the README sets 100000.

mod common;

use common::{first_person, Harness};
use dudao::chat::{ChatRef, InboundMessage, Segment, UserRef};
use dudao::domain::command::CATALOG;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::sync::atomic::{AtomicU64, Ordering};

/// Pieces that make messages look like what people send, so the generator reaches the
/// workflows' parsers rather than only the "not understood" branch.
fn pieces() -> Vec<String> {
    let mut v: Vec<String> =
        CATALOG.iter().flat_map(|c| c.names.iter().chain(c.english.iter())).map(|s| s.to_string()).collect();
    for s in [
        " ",
        "：",
        ":",
        "\n",
        "，",
        "、",
        "T1",
        "T99",
        "W1",
        "W3",
        "Z1",
        "第2周",
        "12月5日",
        "下周五前",
        "截止:",
        "对象:",
        "全体督学",
        "城关一小",
        "实验小学",
        "一、",
        "二、",
        "１．",
        "本周督导",
        "发现问题",
        "下周计划",
        "推门听课",
        "查阅资料",
        "消防通道",
        "食堂",
        "6",
        "严重",
        "期限:12月9日",
        "\u{212A}",
        "\u{0130}",
        "\u{1E9E}",
        "ß",
        "ǅ",
        "ς",
        "e\u{0301}",
        "\u{202E}",
        "\u{200F}",
        "\u{0}",
        "\u{FFFD}",
        "🙂",
        "[CQ:at,qq=",
        "&#91;",
        "]",
        "@督导助手",
        "周报：",
        "更正周报：",
        "修改 ",
        "2026-12-01",
        "至",
    ] {
        v.push(s.to_string());
    }
    v
}

/// English aliases spelt with letters whose lower case has another length in UTF-8 (KELVIN
/// SIGN, dotted capital I, capital sharp s): the classic trap for case-insensitive matching.
fn case_traps() -> Vec<String> {
    CATALOG
        .iter()
        .flat_map(|c| c.english.iter())
        .filter(|e| e.contains(['k', 'i', 's']))
        .map(|e| e.replace('k', "\u{212A}").replace('i', "\u{0130}").replacen("ss", "\u{1E9E}", 1))
        .collect()
}

fn text_strategy() -> impl Strategy<Value = String> {
    let vocab = pieces();
    prop_oneof![
        2 => any::<String>(),
        1 => (
            proptest::sample::select(case_traps()),
            prop_oneof![Just(String::new()), any::<String>().prop_map(|t| format!(" {t}"))]
        )
            .prop_map(|(head, tail)| head + &tail),
        // Starting with a known word, as commands do.
        3 => (
            proptest::sample::select(vocab.clone()),
            proptest::collection::vec(prop_oneof![proptest::sample::select(vocab), any::<String>()], 0..6)
        )
            .prop_map(|(head, rest)| head + &rest.concat()),
    ]
}

#[derive(Debug, Clone, Copy)]
enum Sender {
    Inspector,
    Supervisor,
    SchoolContact,
    Stranger,
}

fn sender_strategy() -> impl Strategy<Value = Sender> {
    prop_oneof![Just(Sender::Inspector), Just(Sender::Supervisor), Just(Sender::SchoolContact), Just(Sender::Stranger)]
}

#[test]
fn arbitrary_messages_never_panic_are_kept_verbatim_and_answered_at_most_once() {
    let cases: u32 = std::env::var("PIPELINE_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let mut h = rt.block_on(Harness::start());
    rt.block_on(async {
        let inspector = first_person(h.db(), "inspector").await;
        let supervisor = first_person(h.db(), "supervisor").await;
        let contact = first_person(h.db(), "school_contact").await;
        h.bind("prop-insp", &inspector).await;
        h.bind("prop-sup", &supervisor).await;
        h.bind("prop-school", &contact).await;
    });
    let seq = AtomicU64::new(0);
    // Fixed seed unless PROPTEST_RNG_SEED names one: the default run is the same everywhere.
    let mut config = Config { cases, failure_persistence: None, ..Config::default() };
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        config.rng_seed = proptest::test_runner::RngSeed::Fixed(0x6475_6461_6f21);
    }
    let mut runner = TestRunner::new(config);
    let strategy = (sender_strategy(), text_strategy(), any::<bool>(), any::<bool>());
    let result = runner.run(&strategy, |(sender, text, in_group, to_me)| {
        let n = seq.fetch_add(1, Ordering::SeqCst);
        let account = match sender {
            Sender::Inspector => "prop-insp".to_string(),
            Sender::Supervisor => "prop-sup".to_string(),
            Sender::SchoolContact => "prop-school".to_string(),
            Sender::Stranger => format!("prop-stranger-{}", n % 7),
        };
        let chat = if in_group { ChatRef::group("console", "prop-group") } else { ChatRef::private("console", &account) };
        let msg = InboundMessage {
            chat,
            sender: UserRef { id: account.clone(), display: Some(account.clone()) },
            platform_msg_id: format!("prop-{n}"),
            segments: vec![Segment::text(text.clone())],
            to_me: to_me || !in_group,
            sent_at: chrono::Utc::now(),
        };
        let expected_text = msg.text();
        rt.block_on(async {
            h.app().ingest(msg).await.map_err(|e| TestCaseError::fail(format!("ingest failed: {e:#}")))?;
            let (id, status, error, stored): (i64, String, Option<String>, String) = dudao::sql::query_as(
                "SELECT id, status, error, text FROM inbound_messages WHERE channel = 'console' AND platform_msg_id = ?",
            )
            .bind(format!("prop-{n}"))
            .fetch_one(h.db())
            .await
            .map_err(|e| TestCaseError::fail(format!("not stored: {e}")))?;
            prop_assert_eq!(&stored, &expected_text, "stored verbatim");
            prop_assert!(
                status == "processed" || (status == "failed" && !error.as_deref().unwrap_or("").contains("panicked")),
                "status {} error {:?} for {:?}",
                status,
                error,
                text
            );
            // A long answer split into parts is still one answer ("…#2" keys are its parts).
            let replies: i64 = dudao::sql::query_scalar(
                "SELECT COUNT(*) FROM outbox WHERE idempotency_key LIKE ? AND idempotency_key NOT LIKE '%#%'")
                .bind(format!("in:{id}:%"))
                .fetch_one(h.db())
                .await
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(replies <= 1, "{} replies to {:?} from {:?}", replies, text, sender);
            Ok(())
        })
    });
    rt.block_on(async { h.stop().await });
    if let Err(e) = result {
        panic!("{e}");
    }
    println!("{cases} arbitrary messages through the pipeline");
}
