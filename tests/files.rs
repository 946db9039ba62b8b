//! Files through the outbox: OneBot uploads over a real WebSocket (content and name as sent,
//! a failed upload retried and kept across a restart), the console writing the file, and the
//! one-time download link for a channel that cannot carry files (served once, then 410; an
//! expired link 410; only the token's hash stored; no public address → the text says so).

mod common;
#[path = "common/onebot_fake.rs"]
mod onebot_fake;
#[path = "common/webhook_fake.rs"]
mod webhook_fake;

use common::{settings_for, Harness};
use dudao::chat::{Attachment, ChatRef};
use dudao::outbox::{Envelope, Recipient};
use dudao::service::{self, Running};
use onebot_fake::{connect_reverse, Auth, Behaviour, FakeConn, Recorder};
use std::sync::Arc;
use std::time::Duration;

const TOKEN: &str = "files-t0ken";
const BOT: &str = "3000000009";
const GROUP: &str = "700200";
const WAIT: Duration = Duration::from_secs(15);

/// Bytes that are not text, so any re-encoding on the way would show.
fn sample_bytes(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 256) as u8).collect()
}

async fn enqueue_file(running: &Running, key: &str, to: Recipient, name: &str, bytes: &[u8], caption: Option<&str>) {
    let app = &running.app;
    let mut tx = dudao::db::begin_write(&app.db).await.unwrap();
    let env = Envelope::file(key, to, Attachment::new(name, bytes.to_vec()), caption.map(str::to_string), "test");
    dudao::outbox::enqueue(&mut tx, &app.directory, app.clock.now(), env).await.unwrap();
    tx.commit().await.unwrap();
    app.outbox_notify.notify_waiters();
}

async fn status(running: &Running, key: &str) -> (String, i64) {
    dudao::sql::query_as("SELECT status, attempts FROM outbox WHERE idempotency_key = ?")
        .bind(key)
        .fetch_one(&running.app.db)
        .await
        .unwrap()
}

async fn count(running: &Running, sql: &str) -> i64 {
    dudao::sql::query_scalar(sql).fetch_one(&running.app.db).await.unwrap()
}

/// Waits for a condition on the database (sends are recorded after the platform answered).
async fn wait_until(running: &Running, what: &str, sql: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while count(running, sql).await == 0 {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The service with only the OneBot channel (reverse WebSocket), on `dir`'s database.
async fn start_onebot(dir: &tempfile::TempDir) -> Running {
    let extra = format!(
        "[channels.console]\nenabled = false\n[outbox]\nbackoff_base_ms = 50\nbackoff_max_ms = 200\n\
         [channels.onebot]\nenabled = true\naccess_token = \"{TOKEN}\"\nmin_interval_ms = 0\nmax_per_minute = 0\n\
         chat_min_interval_ms = 0\nchat_max_per_minute = 0\nsend_jitter_ms = 0\napi_timeout_ms = 2000\n"
    );
    let settings = settings_for(dir, &extra);
    let enabled = dudao::chat::registry::from_config(&settings).unwrap();
    service::start(settings, Arc::new(dudao::clock::SystemClock), enabled.channels).await.unwrap()
}

/// Connects the fake QQ account. A send queued before the service registers it fails as
/// "not connected" (transient) and is retried, as in production.
async fn connect(running: &Running, rec: &Arc<Recorder>) -> FakeConn {
    connect_reverse(running.http_addr, BOT, Auth::Bearer(TOKEN), rec.clone()).await.unwrap()
}

#[tokio::test]
async fn onebot_uploads_group_and_private_files_with_their_names_and_content() {
    let dir = tempfile::tempdir().unwrap();
    let running = start_onebot(&dir).await;
    let rec = Recorder::new();
    let _conn = connect(&running, &rec).await;
    let xlsx = sample_bytes(5000);
    let docx = sample_bytes(777);
    let group = ChatRef::group("qq", GROUP);
    let person = ChatRef::private("qq", "880000123");
    enqueue_file(&running, "g1", Recipient::Chat(group), "2026年11月 周报统计.xlsx", &xlsx, Some("本月统计表：")).await;
    enqueue_file(&running, "p1", Recipient::Chat(person), "督导通报.docx", &docx, None).await;
    let uploads = rec.wait_for(2, WAIT, |a| a.is_upload() && a.ok).await;
    let group_up = uploads.iter().find(|a| a.action == "upload_group_file").expect("a group upload");
    assert_eq!(group_up.params["group_id"], 700200);
    assert_eq!(group_up.params["name"], "2026年11月 周报统计.xlsx");
    assert_eq!(group_up.file_bytes().as_deref(), Some(&xlsx[..]));
    let private_up = uploads.iter().find(|a| a.action == "upload_private_file").expect("a private upload");
    assert_eq!(private_up.params["user_id"], 880000123);
    assert_eq!(private_up.params["name"], "督导通报.docx");
    assert_eq!(private_up.file_bytes().as_deref(), Some(&docx[..]));
    // The caption went to the group first, as a message of its own.
    let actions = rec.actions();
    let caption = actions.iter().position(|a| a.is_send() && a.text() == "本月统计表：").expect("the caption");
    let upload = actions.iter().position(|a| a.action == "upload_group_file").unwrap();
    assert!(caption < upload, "the caption comes before the file");
    wait_until(
        &running,
        "the uploads recorded",
        "SELECT COUNT(*) = 2 FROM outbox WHERE file_id IS NOT NULL AND status = 'sent'",
    )
    .await;
    assert_eq!(status(&running, "g1").await.0, "sent");
    assert_eq!(status(&running, "g1#file").await.0, "sent");
    assert_eq!(status(&running, "p1").await.0, "sent");

    // Delivered files are deleted by the next retention sweep; the rows stay (by outbox_days).
    assert_eq!(count(&running, "SELECT COUNT(*) FROM outbox_files").await, 2);
    let mut tx = dudao::db::begin_write(&running.app.db).await.unwrap();
    let policy = dudao::store::retention::Policy::from(&running.app.settings.retention);
    let pruned = dudao::store::retention::prune(&mut tx, &policy, running.app.clock.now()).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(pruned.files, 2);
    assert_eq!(count(&running, "SELECT COUNT(*) FROM outbox_files").await, 0);
    assert_eq!(count(&running, "SELECT COUNT(*) FROM outbox WHERE idempotency_key IN ('g1#file', 'p1')").await, 2);
    running.stop().await;
}

#[tokio::test]
async fn a_failed_upload_is_retried_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let running = start_onebot(&dir).await;
    let rec = Recorder::new();
    // 1200: NapCat's "timed out" (often risk control) — transient, so the outbox retries.
    rec.set_behaviour(Behaviour::Fail(1200));
    let conn = connect(&running, &rec).await;
    let bytes = sample_bytes(2048);
    enqueue_file(&running, "r1", Recipient::Chat(ChatRef::group("qq", GROUP)), "整改台账.xlsx", &bytes, None).await;
    rec.wait_for(2, WAIT, |a| a.is_upload() && !a.ok).await;
    let (st, attempts) = status(&running, "r1").await;
    assert!(st == "pending" || st == "sending", "still to be delivered: {st}");
    assert!(attempts >= 1);
    running.stop().await;
    conn.close();

    // A new process on the same database: the file is still there and goes out once QQ takes it.
    rec.set_behaviour(Behaviour::Ok);
    let running = start_onebot(&dir).await;
    let _conn = connect(&running, &rec).await;
    let ok = rec.wait_for(1, WAIT, |a| a.is_upload() && a.ok).await;
    assert_eq!(ok[0].params["name"], "整改台账.xlsx");
    assert_eq!(ok[0].file_bytes().as_deref(), Some(&bytes[..]));
    wait_until(
        &running,
        "the upload recorded",
        "SELECT COUNT(*) FROM outbox WHERE idempotency_key = 'r1' AND status = 'sent'",
    )
    .await;
    let (_, attempts) = status(&running, "r1").await;
    assert!(attempts >= 3, "two failures and the success are counted: {attempts}");
    running.stop().await;
}

#[tokio::test]
async fn the_console_writes_the_file_and_prints_its_path() {
    let mut h = Harness::start().await;
    let bytes = sample_bytes(1500);
    let running = h.running.as_ref().unwrap();
    let chat = ChatRef::group("console", "zone1");
    enqueue_file(running, "c1", Recipient::Chat(chat), "第一责任区/周报.xlsx", &bytes, Some("统计表已生成")).await;
    let out = h.settle().await;
    assert!(out.contains("统计表已生成"), "{out}");
    let line = out.lines().find(|l| l.contains("[文件] 第一责任区/周报.xlsx → ")).unwrap_or_else(|| panic!("{out}"));
    let path = std::path::PathBuf::from(line.split(" → ").nth(1).unwrap().trim());
    // Written inside the files directory, the name's '/' unable to leave it.
    assert!(path.starts_with(h.dir.path().join("files")), "{}", path.display());
    assert!(path.file_name().unwrap().to_string_lossy().ends_with("第一责任区_周报.xlsx"));
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    h.stop().await;
}

/// The service with a generic webhook channel (it cannot carry files).
async fn start_webhook(dir: &tempfile::TempDir, url: &str, public_url: &str) -> Running {
    let settings = settings_for(
        dir,
        &format!("[channels.console]\nenabled = false\n[[channels.webhook]]\nname = \"hook\"\nurl = \"{url}\"\n"),
    );
    // settings_for writes [http] itself: the public address is set on the loaded settings.
    let mut settings = settings;
    settings.http.public_url = public_url.to_string();
    let enabled = dudao::chat::registry::from_config(&settings).unwrap();
    service::start(settings, Arc::new(dudao::clock::SystemClock), enabled.channels).await.unwrap()
}

#[tokio::test]
async fn a_channel_without_files_gets_a_one_time_link() {
    let (hook, url) = webhook_fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let running = start_webhook(&dir, &url, "https://dudao.example.org/").await;
    let bytes = sample_bytes(4096);
    let chat = ChatRef::group("hook", "board");
    enqueue_file(&running, "l1", Recipient::Chat(chat.clone()), "督导通报 2026年11月.docx", &bytes, Some("通报草稿"))
        .await;
    let got = hook.wait_for(2, WAIT).await;
    assert_eq!(got[0].text, "通报草稿");
    let text = &got[1].text;
    assert!(
        text.contains("《督导通报 2026年11月.docx》") && text.contains("4.0 KB") && text.contains("24 小时"),
        "{text}"
    );
    let link = text.lines().last().unwrap().trim();
    let token = link.strip_prefix("https://dudao.example.org/files/").unwrap_or_else(|| panic!("{text}"));
    assert!(token.len() >= 22, "at least 128 bits: {token}");
    // Only the hash is stored: the token is in no row of the database.
    let leaks = count(
        &running,
        &format!(
            "SELECT (SELECT COUNT(*) FROM file_links WHERE token_hash LIKE '%{token}%')
                  + (SELECT COUNT(*) FROM outbox WHERE segments LIKE '%{token}%')"
        ),
    )
    .await;
    assert_eq!(leaks, 0);
    assert_eq!(count(&running, "SELECT COUNT(*) FROM file_links").await, 1);

    let http = reqwest::Client::new();
    let get = format!("http://{}/files/{token}", running.http_addr);
    let r = http.get(&get).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let cd = r.headers()["content-disposition"].to_str().unwrap().to_string();
    assert!(
        cd.contains("filename*=UTF-8''%E7%9D%A3%E5%AF%BC%E9%80%9A%E6%8A%A5%202026%E5%B9%B411%E6%9C%88.docx"),
        "{cd}"
    );
    assert_eq!(r.headers()["content-type"], "application/vnd.openxmlformats-officedocument.wordprocessingml.document");
    assert_eq!(r.bytes().await.unwrap().to_vec(), bytes);
    // Once only.
    let r = http.get(&get).send().await.unwrap();
    assert_eq!(r.status(), 410);
    assert!(r.text().await.unwrap().contains("已使用或已过期"));
    // A token nobody issued.
    let r = http
        .get(format!("http://{}/files/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", running.http_addr))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // An expired link is gone too, though never used.
    enqueue_file(&running, "l2", Recipient::Chat(chat), "整改台账.xlsx", &bytes, None).await;
    let got = hook.wait_for(3, WAIT).await;
    let token2 = got[2].text.lines().last().unwrap().trim().rsplit('/').next().unwrap().to_string();
    dudao::sql::query("UPDATE file_links SET expires_at = '2026-01-01T00:00:00.000Z' WHERE used_at IS NULL")
        .execute(&running.app.db)
        .await
        .unwrap();
    let r = http.get(format!("http://{}/files/{token2}", running.http_addr)).send().await.unwrap();
    assert_eq!(r.status(), 410);

    // Used and expired links free their files at the next sweep.
    let mut tx = dudao::db::begin_write(&running.app.db).await.unwrap();
    let policy = dudao::store::retention::Policy::from(&running.app.settings.retention);
    let pruned = dudao::store::retention::prune(&mut tx, &policy, running.app.clock.now()).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(pruned.files, 2);
    running.stop().await;
}

#[tokio::test]
async fn without_a_public_address_the_text_says_why_no_link_came() {
    let (hook, url) = webhook_fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let running = start_webhook(&dir, &url, "").await;
    let chat = ChatRef::private("hook", "u1");
    enqueue_file(&running, "n1", Recipient::Chat(chat), "周报.xlsx", &sample_bytes(100), None).await;
    let got = hook.wait_for(1, WAIT).await;
    assert!(got[0].text.contains("《周报.xlsx》") && got[0].text.contains("http.public_url"), "{}", got[0].text);
    assert_eq!(count(&running, "SELECT COUNT(*) FROM file_links").await, 0);
    running.stop().await;
}
