//! Helpers for the chat-platform tests (WeCom, DingTalk, Feishu, …): the real service started on a
//! temporary SQLite file with only the configured channels, roster lookups, binding codes, outbox
//! rows queued directly, and waits on conditions.

use super::settings_for;
use dudao::outbox::{Envelope, Recipient};
use dudao::service::{self, Running};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a platform test waits for a condition before failing.
pub const WAIT: Duration = Duration::from_secs(15);

/// The service with the console off, quick outbox retries, and `extra` TOML (the channels).
pub async fn start(extra: &str) -> (Running, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let settings = settings_for(
        &dir,
        &format!("[channels.console]\nenabled = false\n[outbox]\nbackoff_base_ms = 50\nbackoff_max_ms = 300\n{extra}"),
    );
    let enabled = dudao::chat::registry::from_config(&settings).unwrap();
    let running = service::start(settings, Arc::new(dudao::clock::SystemClock), enabled.channels).await.unwrap();
    (running, dir)
}

pub async fn person_id(running: &Running, code: &str) -> i64 {
    dudao::sql::query_scalar("SELECT id FROM people WHERE code = ?")
        .bind(code)
        .fetch_one(&running.app.db)
        .await
        .unwrap()
}

/// A fresh binding code for the roster person `person` (their code in the roster).
pub async fn binding_code(running: &Running, person: &str) -> String {
    let pid = person_id(running, person).await;
    let mut tx = dudao::db::begin_write(&running.app.db).await.unwrap();
    let now = running.app.clock.now();
    let (code, _) = dudao::store::binding::issue(&mut tx, pid, now, chrono::Duration::hours(72)).await.unwrap();
    tx.commit().await.unwrap();
    code
}

/// Queues one text message as a workflow would, and wakes the outbox worker.
pub async fn enqueue(running: &Running, key: &str, to: Recipient, text: &str) {
    let app = &running.app;
    let mut tx = dudao::db::begin_write(&app.db).await.unwrap();
    let env = Envelope::new(key, to, vec![dudao::chat::Segment::text(text)], "test");
    dudao::outbox::enqueue(&mut tx, &app.directory, app.clock.now(), env).await.unwrap();
    tx.commit().await.unwrap();
    app.outbox_notify.notify_waiters();
}

pub async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The outbox row's (status, attempts, last error) once its send has finished: a fake platform
/// records a message before it answers, so the outcome is recorded a moment after the fake has
/// seen it.
pub async fn settled_outcome(running: &Running, key: &str) -> (String, i64, Option<String>) {
    let deadline = Instant::now() + WAIT;
    loop {
        let row: (String, i64, Option<String>) =
            dudao::sql::query_as("SELECT status, attempts, last_error FROM outbox WHERE idempotency_key = ?")
                .bind(key)
                .fetch_one(&running.app.db)
                .await
                .unwrap();
        if !matches!(row.0.as_str(), "pending" | "sending") || Instant::now() >= deadline {
            return row;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// [`settled_outcome`]'s (status, attempts).
pub async fn settled_status(running: &Running, key: &str) -> (String, i64) {
    let (status, attempts, _) = settled_outcome(running, key).await;
    (status, attempts)
}

/// (status, attempts) of the outbox row with this idempotency key.
pub async fn outbox_status(running: &Running, key: &str) -> (String, i64) {
    dudao::sql::query_as("SELECT status, attempts FROM outbox WHERE idempotency_key = ?")
        .bind(key)
        .fetch_one(&running.app.db)
        .await
        .unwrap()
}

/// How many inbound rows `channel` stored for the platform's message id.
pub async fn inbound_count(running: &Running, channel: &str, msg_id: &str) -> i64 {
    dudao::sql::query_scalar("SELECT COUNT(*) FROM inbound_messages WHERE channel = ? AND platform_msg_id = ?")
        .bind(channel)
        .bind(msg_id)
        .fetch_one(&running.app.db)
        .await
        .unwrap()
}

/// Fetches the evidence waiting to be downloaded and answers the first evidence row's status and
/// channel, the stored file's bytes (when stored) and the fetch report for messages.
pub async fn first_evidence(running: &Running) -> (String, String, Option<Vec<u8>>, String) {
    let report = dudao::app::rectify::fetch_evidence(&running.app).await.unwrap();
    let (status, channel, path): (String, String, Option<String>) =
        dudao::sql::query_as("SELECT status, channel, path FROM rectify_evidence ORDER BY id")
            .fetch_one(&running.app.db)
            .await
            .unwrap();
    let dir = dudao::app::evidence::evidence_dir(&running.app.settings);
    let bytes = path.map(|p| std::fs::read(dir.join(p)).unwrap());
    (status, channel, bytes, format!("{report:?}"))
}
