//! Pipelined OneBot sends: with several sends allowed in flight, the adapter puts the next action
//! on the WebSocket before earlier results are back (the fake holds its answers until it has seen
//! k requests), and sends to one group still keep their order.

mod common;
#[path = "common/onebot_fake.rs"]
mod onebot_fake;

use common::settings_for;
use dudao::chat::onebot::{OneBotChannel, OneBotSettings};
use dudao::chat::{ChatRef, Segment};
use dudao::outbox::{Envelope, Recipient};
use dudao::service;
use dudao::Channel;
use onebot_fake::{connect_reverse, Auth, Recorder};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

const TOKEN: &str = "pipe-t0ken";
const BOT: &str = "3000000009";
const WAIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn several_sends_are_in_flight_and_each_group_keeps_its_order() {
    const IN_FLIGHT: usize = 4;
    let extra = format!(
        "[channels.console]\nenabled = false\n[outbox]\nmax_in_flight = 8\n[channels.onebot]\nenabled = true\n\
         access_token = \"{TOKEN}\"\nmin_interval_ms = 0\nmax_per_minute = 0\nchat_min_interval_ms = 0\n\
         chat_max_per_minute = 0\nsend_jitter_ms = 0\napi_timeout_ms = 10000\nmax_in_flight = {IN_FLIGHT}\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let settings = settings_for(&dir, &extra);
    let ob = OneBotSettings::from_settings(&settings).unwrap().unwrap();
    let ch = Arc::new(OneBotChannel::new(ob));
    assert_eq!(ch.capabilities().max_concurrent_sends, IN_FLIGHT);
    let channels: Vec<Arc<dyn Channel>> = vec![ch.clone()];
    let running = service::start(settings, Arc::new(dudao::clock::SystemClock), channels).await.unwrap();

    let rec = Recorder::new();
    rec.hold_answers(IN_FLIGHT);
    let _bot = connect_reverse(running.http_addr, BOT, Auth::Bearer(TOKEN), rec.clone()).await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while ch.connected_accounts().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "the fake never connected");
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // Queued in rounds over the groups, so the heads of several groups are ready at once.
    let (groups, per_group) = (8, 4);
    let app = &running.app;
    let mut tx = dudao::db::begin_write(&app.db).await.unwrap();
    for i in 0..per_group {
        for g in 0..groups {
            let env = Envelope::new(
                format!("pipe-{g}-{i}"),
                Recipient::Chat(ChatRef::group("qq", (700_200 + g).to_string())),
                vec![Segment::text(format!("流水线测试：第{g}群第{i}条"))],
                "test",
            );
            dudao::outbox::enqueue(&mut tx, &app.directory, chrono::Utc::now(), env).await.unwrap();
        }
    }
    tx.commit().await.unwrap();
    app.outbox_notify.notify_waiters();

    // Half the messages go out while every answer waits for IN_FLIGHT outstanding requests:
    // only possible with that many actions on the socket at once.
    rec.wait_for(groups * per_group / 2, WAIT, |a| a.is_send()).await;
    assert!(rec.most_outstanding() >= IN_FLIGHT, "at most {} sends outstanding", rec.most_outstanding());
    rec.hold_answers(0);
    let sends = rec.wait_for(groups * per_group, WAIT, |a| a.is_send() && a.ok).await;
    running.drain(WAIT).await;

    assert_eq!(sends.len(), groups * per_group, "each message sent once");
    let mut by_group: HashMap<i64, Vec<String>> = HashMap::new();
    for a in &sends {
        by_group.entry(a.params["group_id"].as_i64().unwrap()).or_default().push(a.text());
    }
    for g in 0..groups {
        let expected: Vec<String> = (0..per_group).map(|i| format!("流水线测试：第{g}群第{i}条")).collect();
        assert_eq!(by_group[&(700_200 + g as i64)], expected, "group {g} in order");
    }
    let sent: i64 =
        dudao::sql::query_scalar("SELECT COUNT(*) FROM outbox WHERE idempotency_key LIKE 'pipe-%' AND status = 'sent'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(sent, (groups * per_group) as i64);
    running.stop().await;
}
