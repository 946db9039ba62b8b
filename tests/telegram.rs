//! Telegram against a fake Bot API server on loopback (teloxide pointed at it with
//! `set_api_url`): long polling with a redelivered update processed once, a group command
//! answered with a mention after a 429, and webhook mode with the secret-token header.

mod common;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use common::settings_for;
use dudao::service::{self, Running};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TOKEN: &str = "123456789:AAF-test_token";
const BOT_ID: i64 = 4242;
const WAIT: Duration = Duration::from_secs(15);

#[derive(Default)]
struct Seen {
    /// Updates Telegram still holds.
    updates: Vec<Value>,
    /// Answer the next poll as if the last offset had not arrived (a redelivery).
    replay_once: bool,
    replayed: Vec<Value>,
    offsets: Vec<Option<i64>>,
    /// Accepted sendMessage bodies and when they arrived.
    sent: Vec<(Value, Instant)>,
    send_calls: usize,
    /// sendMessage calls to answer with 429 first.
    throttle_first: usize,
    set_webhook: Vec<String>,
    unauthorized: usize,
    /// sendDocument forms (multipart), as parts.
    documents: Vec<Vec<common::FormPart>>,
    /// sendPhoto: (chat id, the photo part).
    photos: Vec<(i64, common::FormPart)>,
}

type Fake = Arc<Mutex<Seen>>;

fn ok(result: Value) -> Json<Value> {
    Json(json!({"ok": true, "result": result}))
}

async fn api(
    State(f): State<Fake>,
    Path((bot, method)): Path<(String, String)>,
    headers: axum::http::HeaderMap,
    raw: Bytes,
) -> Json<Value> {
    let body: Value = serde_json::from_slice(&raw).unwrap_or(json!({}));
    if bot != format!("bot{TOKEN}") {
        f.lock().unwrap().unauthorized += 1;
        return Json(json!({"ok": false, "error_code": 401, "description": "Unauthorized"}));
    }
    // Bot API method names are case-insensitive; teloxide sends "GetUpdates".
    match method.to_ascii_lowercase().as_str() {
        "getme" => ok(json!({
            "id": BOT_ID, "is_bot": true, "first_name": "督导助手", "username": "dudao_bot",
            "can_join_groups": true, "can_read_all_group_messages": false,
            "supports_inline_queries": false, "has_main_web_app": false
        })),
        "getupdates" => {
            let offset = body["offset"].as_i64();
            let batch = {
                let mut s = f.lock().unwrap();
                s.offsets.push(offset);
                if s.replay_once && !s.replayed.is_empty() && offset.is_some() {
                    s.replay_once = false;
                    s.replayed.clone()
                } else {
                    // Telegram forgets updates below the offset.
                    if let Some(o) = offset {
                        s.updates.retain(|u| u["update_id"].as_i64().unwrap_or(0) >= o);
                    }
                    let b = s.updates.clone();
                    if !b.is_empty() {
                        s.replayed = b.clone();
                    }
                    b
                }
            };
            if batch.is_empty() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            ok(Value::Array(batch))
        }
        "sendmessage" => {
            let mut s = f.lock().unwrap();
            s.send_calls += 1;
            if s.send_calls <= s.throttle_first {
                return Json(json!({
                    "ok": false, "error_code": 429, "description": "Too Many Requests: retry after 1",
                    "parameters": {"retry_after": 1}
                }));
            }
            s.sent.push((body.clone(), Instant::now()));
            let chat_id = body["chat_id"].as_i64().unwrap_or(0);
            let chat = if chat_id < 0 {
                json!({"id": chat_id, "type": "supergroup", "title": "督学群"})
            } else {
                json!({"id": chat_id, "type": "private", "first_name": "芳"})
            };
            ok(json!({
                "message_id": 9000 + s.sent.len(), "date": chrono::Utc::now().timestamp(), "chat": chat,
                "from": {"id": BOT_ID, "is_bot": true, "first_name": "督导助手", "username": "dudao_bot"},
                "text": body["text"]
            }))
        }
        "senddocument" => {
            // An upload: multipart/form-data with the file in the part `document`.
            let ct = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
            let parts = common::parse_multipart(ct, &raw);
            let field =
                |n: &str| parts.iter().find(|p| p.name == n).map(|p| String::from_utf8_lossy(&p.bytes).into_owned());
            let chat_id: i64 = field("chat_id").and_then(|c| c.parse().ok()).unwrap_or(0);
            // The file is the part itself, or (as teloxide sends it) `attach://<part name>`.
            let doc = match field("document").as_deref().and_then(|d| d.strip_prefix("attach://")) {
                Some(part) => parts.iter().find(|p| p.name == part).cloned(),
                None => parts.iter().find(|p| p.name == "document").cloned(),
            };
            let Some(doc) = doc else {
                return Json(
                    json!({"ok": false, "error_code": 400, "description": "Bad Request: there is no document in the request"}),
                );
            };
            let mut s = f.lock().unwrap();
            s.documents.push(vec![
                common::FormPart { name: "document".into(), ..doc.clone() },
                common::FormPart { name: "chat_id".into(), file_name: None, bytes: chat_id.to_string().into_bytes() },
            ]);
            let n = s.documents.len();
            ok(json!({
                "message_id": 9500 + n, "date": chrono::Utc::now().timestamp(),
                "chat": {"id": chat_id, "type": "supergroup", "title": "督学群"},
                "from": {"id": BOT_ID, "is_bot": true, "first_name": "督导助手", "username": "dudao_bot"},
                "document": {"file_id": format!("doc-{n}"), "file_unique_id": format!("u{n}"),
                             "file_name": doc.file_name, "file_size": doc.bytes.len()}
            }))
        }
        "sendphoto" => {
            // Like sendDocument, the picture in the part `photo` (or `attach://<part>`).
            let ct = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
            let parts = common::parse_multipart(ct, &raw);
            let field =
                |n: &str| parts.iter().find(|p| p.name == n).map(|p| String::from_utf8_lossy(&p.bytes).into_owned());
            let chat_id: i64 = field("chat_id").and_then(|c| c.parse().ok()).unwrap_or(0);
            let photo = match field("photo").as_deref().and_then(|d| d.strip_prefix("attach://")) {
                Some(part) => parts.iter().find(|p| p.name == part).cloned(),
                None => parts.iter().find(|p| p.name == "photo").cloned(),
            };
            let Some(photo) = photo else {
                return Json(
                    json!({"ok": false, "error_code": 400, "description": "Bad Request: there is no photo in the request"}),
                );
            };
            let mut s = f.lock().unwrap();
            let size = photo.bytes.len();
            s.photos.push((chat_id, photo));
            let n = s.photos.len();
            ok(json!({
                "message_id": 9700 + n, "date": chrono::Utc::now().timestamp(),
                "chat": {"id": chat_id, "type": "supergroup", "title": "督学群"},
                "from": {"id": BOT_ID, "is_bot": true, "first_name": "督导助手", "username": "dudao_bot"},
                "photo": [{"file_id": format!("photo-{n}"), "file_unique_id": format!("p{n}"),
                           "width": 960, "height": 540, "file_size": size}]
            }))
        }
        "setwebhook" => {
            // teloxide sends setWebhook as multipart/form-data (it may carry a certificate).
            f.lock().unwrap().set_webhook.push(String::from_utf8_lossy(&raw).into_owned());
            ok(json!(true))
        }
        "deletewebhook" => ok(json!(true)),
        other => Json(json!({"ok": false, "error_code": 404, "description": format!("Not Found: method {other}")})),
    }
}

async fn fake_telegram(fake: Fake) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new().route("/{bot}/{method}", post(api)).with_state(fake);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

async fn start(base: &str, extra: &str) -> (Running, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let settings = settings_for(
        &dir,
        &format!(
            "[channels.console]\nenabled = false\n[outbox]\nbackoff_base_ms = 50\nbackoff_max_ms = 300\n\
             [channels.telegram]\nenabled = true\ntoken = \"{TOKEN}\"\napi_url = \"{base}\"\npoll_timeout_secs = 1\n\
             retry_initial_ms = 50\nretry_max_ms = 200\n{extra}"
        ),
    );
    let enabled = dudao::chat::registry::from_config(&settings).unwrap();
    assert_eq!(enabled.channels.len(), 1);
    let running = service::start(settings, Arc::new(dudao::clock::SystemClock), enabled.channels).await.unwrap();
    (running, dir)
}

fn private_update(update_id: i64, message_id: i64, text: &str) -> Value {
    json!({
        "update_id": update_id,
        "message": {
            "message_id": message_id, "date": chrono::Utc::now().timestamp(),
            "chat": {"id": 555, "type": "private", "first_name": "芳"},
            "from": {"id": 555, "is_bot": false, "first_name": "芳", "language_code": "zh-hans"},
            "text": text
        }
    })
}

fn group_update(update_id: i64, message_id: i64, text: &str, entities: Value) -> Value {
    json!({
        "update_id": update_id,
        "message": {
            "message_id": message_id, "date": chrono::Utc::now().timestamp(),
            "chat": {"id": -100777, "type": "supergroup", "title": "第一责任区督学群"},
            "from": {"id": 555, "is_bot": false, "first_name": "芳"},
            "text": text, "entities": entities
        }
    })
}

async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn inbound_count(running: &Running, id: &str) -> i64 {
    dudao::sql::query_scalar("SELECT COUNT(*) FROM inbound_messages WHERE channel = 'telegram' AND platform_msg_id = ?")
        .bind(id)
        .fetch_one(&running.app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_polled_update_delivered_twice_is_processed_once_and_answered() {
    let fake: Fake = Arc::new(Mutex::new(Seen { replay_once: true, ..Default::default() }));
    fake.lock().unwrap().updates.push(private_update(1001, 1, "帮助"));
    let base = fake_telegram(fake.clone()).await;
    let (running, _dir) = start(&base, "").await;
    wait_for("the reply", || !fake.lock().unwrap().sent.is_empty()).await;
    // The redelivery and a few more polls.
    wait_for("polling to move on", || {
        let s = fake.lock().unwrap();
        !s.replay_once && s.offsets.iter().filter(|o| **o == Some(1002)).count() >= 3
    })
    .await;
    running.drain(WAIT).await;
    assert_eq!(inbound_count(&running, "555:1").await, 1);
    {
        let s = fake.lock().unwrap();
        assert_eq!(s.sent.len(), 1, "answered once: {:?}", s.sent);
        let body = &s.sent[0].0;
        assert_eq!(body["chat_id"], 555);
        // An unbound account hears how to bind, and nothing else.
        assert!(body["text"].as_str().unwrap().contains("尚未绑定身份"), "{body}");
        // The offset moved past the update once it was stored.
        assert_eq!(s.offsets[0], None);
        assert!(s.offsets[1..].iter().all(|o| *o == Some(1002)), "{:?}", s.offsets);
        assert_eq!(s.unauthorized, 0);
    }
    let sent_id: String = dudao::sql::query_scalar("SELECT platform_msg_id FROM outbox WHERE channel = 'telegram'")
        .fetch_one(&running.app.db)
        .await
        .unwrap();
    assert_eq!(sent_id, "555:9001");
    running.stop().await;
}

#[tokio::test]
async fn a_group_command_is_answered_with_a_mention_after_a_429() {
    let fake: Fake = Arc::new(Mutex::new(Seen { throttle_first: 1, ..Default::default() }));
    let base = fake_telegram(fake.clone()).await;
    let (running, _dir) = start(&base, "").await;
    // The sender is an inspector whose Telegram account is bound.
    dudao::sql::query(
        "INSERT INTO chat_accounts (platform, account_id, person_id, source, bound_at)
         SELECT 'telegram', '555', id, 'code', '2026-11-30T00:00:00.000Z' FROM people WHERE role = 'inspector' ORDER BY code LIMIT 1",
    )
    .execute(&running.app.db)
    .await
    .unwrap();
    let t0 = Instant::now();
    // "@dudao_bot 帮助" in a group, and chatter the bot must leave alone.
    fake.lock().unwrap().updates.push(group_update(
        2001,
        10,
        "@dudao_bot 帮助",
        json!([{"type": "mention", "offset": 0, "length": 10}]),
    ));
    fake.lock().unwrap().updates.push(group_update(2002, 11, "大家辛苦了", json!([])));
    let name: String = dudao::sql::query_scalar(
        "SELECT p.name FROM people p JOIN chat_accounts a ON a.person_id = p.id WHERE a.platform = 'telegram' AND a.account_id = '555'",
    )
    .fetch_one(&running.app.db)
    .await
    .unwrap();
    wait_for("the reply", || !fake.lock().unwrap().sent.is_empty()).await;
    running.drain(WAIT).await;
    {
        let s = fake.lock().unwrap();
        assert_eq!(s.send_calls, 2, "one 429, then the send");
        assert_eq!(s.sent.len(), 1);
        let (body, at) = &s.sent[0];
        assert!(*at - t0 >= Duration::from_millis(900), "retried before retry_after: {:?}", *at - t0);
        assert_eq!(body["chat_id"], -100777);
        let text = body["text"].as_str().unwrap();
        // Addressed by the roster name of the bound person.
        assert!(text.starts_with(&format!("@{name} ")), "{text}");
        assert!(text.contains("可用指令"), "{text}");
        // The mention is an entity pointing at the user's id, over "@<name>" in UTF-16 units.
        let e = &body["entities"][0];
        assert_eq!(e["type"], "text_link");
        assert!(e["url"].as_str().unwrap().contains("id=555"), "{e}");
        let units = 1 + name.encode_utf16().count() as u64;
        assert_eq!((e["offset"].as_u64(), e["length"].as_u64()), (Some(0), Some(units)));
    }
    let (status, attempts): (String, i64) =
        dudao::sql::query_as("SELECT status, attempts FROM outbox WHERE channel = 'telegram'")
            .fetch_one(&running.app.db)
            .await
            .unwrap();
    assert_eq!((status.as_str(), attempts), ("sent", 1), "a 429 is not a failed attempt");
    assert_eq!(inbound_count(&running, "-100777:11").await, 1, "chatter is stored");
    let intent: Option<String> =
        dudao::sql::query_scalar("SELECT intent FROM inbound_messages WHERE platform_msg_id = '-100777:11'")
            .fetch_one(&running.app.db)
            .await
            .unwrap();
    assert_eq!(intent.as_deref(), Some("chatter"));
    running.stop().await;
}

#[tokio::test]
async fn webhook_mode_checks_the_secret_token_and_processes_once() {
    let fake: Fake = Arc::new(Mutex::new(Seen::default()));
    let base = fake_telegram(fake.clone()).await;
    let (running, _dir) = start(
        &base,
        "mode = \"webhook\"\nwebhook_secret = \"hook_s3cret-x\"\nwebhook_url = \"https://dudao.example.org/telegram/webhook\"\n",
    )
    .await;
    wait_for("setWebhook", || !fake.lock().unwrap().set_webhook.is_empty()).await;
    {
        let s = fake.lock().unwrap();
        let form = &s.set_webhook[0];
        assert!(form.contains("name=\"url\"") && form.contains("https://dudao.example.org/telegram/webhook"), "{form}");
        assert!(form.contains("name=\"secret_token\"") && form.contains("hook_s3cret-x"), "{form}");
        assert!(s.offsets.is_empty(), "no polling in webhook mode");
    }
    let url = format!("http://{}/telegram/webhook", running.http_addr);
    let http = reqwest::Client::new();
    let update = private_update(3001, 31, "帮助");
    let r = http.post(&url).json(&update).send().await.unwrap();
    assert_eq!(r.status(), 401, "no secret header");
    let r = http.post(&url).header("X-Telegram-Bot-Api-Secret-Token", "guess").json(&update).send().await.unwrap();
    assert_eq!(r.status(), 401, "wrong secret");
    assert_eq!(inbound_count(&running, "555:31").await, 0);
    for _ in 0..2 {
        let r = http
            .post(&url)
            .header("X-Telegram-Bot-Api-Secret-Token", "hook_s3cret-x")
            .json(&update)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    // Garbage with the right secret is acknowledged (so Telegram does not resend it) and ignored.
    let r = http
        .post(&url)
        .header("X-Telegram-Bot-Api-Secret-Token", "hook_s3cret-x")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(inbound_count(&running, "555:31").await, 1);
    wait_for("the reply", || !fake.lock().unwrap().sent.is_empty()).await;
    running.drain(WAIT).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    {
        let s = fake.lock().unwrap();
        assert_eq!(s.sent.len(), 1);
        assert_eq!(s.sent[0].0["chat_id"], 555);
    }
    running.stop().await;
}

#[test]
fn enabled_telegram_without_a_token_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.sqlite");
    let base = format!("[database]\npath = \"{}\"\n", db.display().to_string().replace('\\', "/"));
    let e = dudao::config::Settings::from_toml_over_default(&format!("{base}[channels.telegram]\nenabled = true\n"))
        .unwrap_err();
    assert_eq!(e.key, "channels.telegram.token");
    let e = dudao::config::Settings::from_toml_over_default(&format!(
        "{base}[channels.telegram]\nenabled = true\ntoken = \"{TOKEN}\"\nmode = \"webhook\"\n"
    ))
    .unwrap_err();
    assert_eq!(e.key, "channels.telegram.webhook_secret");
    assert!(!e.to_string().contains(TOKEN));
}

#[test]
fn webhook_paths_must_not_collide() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.sqlite");
    let e = dudao::config::Settings::from_toml_over_default(&format!(
        "[database]\npath = \"{}\"\n[channels.telegram]\nenabled = true\ntoken = \"{TOKEN}\"\nmode = \"webhook\"\n\
         webhook_secret = \"s\"\nwebhook_path = \"/healthz\"\n",
        db.display().to_string().replace('\\', "/")
    ))
    .unwrap_err();
    assert_eq!(e.key, "channels.telegram.webhook_path");
}

#[tokio::test]
async fn a_file_goes_as_a_document_with_its_name() {
    let fake: Fake = Arc::new(Mutex::new(Seen::default()));
    let base = fake_telegram(fake.clone()).await;
    let (running, _dir) = start(&base, "").await;
    let bytes: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    let app = &running.app;
    let mut tx = dudao::db::begin_write(&app.db).await.unwrap();
    let file = dudao::chat::Attachment::new("第一责任区 督导进度.xlsx", bytes.clone());
    let to = dudao::outbox::Recipient::Chat(dudao::chat::ChatRef::group("telegram", "-100777"));
    let env = dudao::outbox::Envelope::file("d1", to, file, None, "test");
    dudao::outbox::enqueue(&mut tx, &app.directory, app.clock.now(), env).await.unwrap();
    tx.commit().await.unwrap();
    app.outbox_notify.notify_waiters();
    wait_for("the document", || !fake.lock().unwrap().documents.is_empty()).await;
    running.drain(WAIT).await;
    {
        let s = fake.lock().unwrap();
        let parts = &s.documents[0];
        let chat = parts.iter().find(|p| p.name == "chat_id").expect("chat_id");
        assert_eq!(chat.bytes, b"-100777");
        let doc = parts.iter().find(|p| p.name == "document").expect("document");
        assert_eq!(doc.file_name.as_deref(), Some("第一责任区 督导进度.xlsx"));
        assert_eq!(doc.bytes, bytes);
        assert!(s.sent.is_empty(), "no text message for a file without caption");
    }
    let (status, id): (String, Option<String>) =
        dudao::sql::query_as("SELECT status, platform_msg_id FROM outbox WHERE idempotency_key = 'd1'")
            .fetch_one(&running.app.db)
            .await
            .unwrap();
    assert_eq!((status.as_str(), id.as_deref()), ("sent", Some("-100777:9501")));
    running.stop().await;
}

#[tokio::test]
async fn a_chart_goes_as_a_photo() {
    let fake: Fake = Arc::new(Mutex::new(Seen::default()));
    let base = fake_telegram(fake.clone()).await;
    let (running, _dir) = start(&base, "").await;
    let bytes: Vec<u8> = b"\x89PNG\r\n\x1a\n".iter().copied().chain((0..4000u32).map(|i| (i % 249) as u8)).collect();
    let app = &running.app;
    let mut tx = dudao::db::begin_write(&app.db).await.unwrap();
    let to = dudao::outbox::Recipient::Chat(dudao::chat::ChatRef::group("telegram", "-100777"));
    let env = dudao::outbox::Envelope {
        attachment: Some(dudao::chat::Attachment::image("整改统计_全县_2026-11.png", bytes.clone())),
        ..dudao::outbox::Envelope::new("c1", to, Vec::new(), "test")
    };
    dudao::outbox::enqueue(&mut tx, &app.directory, app.clock.now(), env).await.unwrap();
    tx.commit().await.unwrap();
    app.outbox_notify.notify_waiters();
    wait_for("the photo", || !fake.lock().unwrap().photos.is_empty()).await;
    running.drain(WAIT).await;
    {
        let s = fake.lock().unwrap();
        let (chat, photo) = &s.photos[0];
        assert_eq!(*chat, -100777);
        assert_eq!(photo.bytes, bytes);
        assert!(s.documents.is_empty(), "a chart is a photo, not a document");
    }
    let (status, id): (String, Option<String>) =
        dudao::sql::query_as("SELECT status, platform_msg_id FROM outbox WHERE idempotency_key = 'c1'")
            .fetch_one(&running.app.db)
            .await
            .unwrap();
    assert_eq!((status.as_str(), id.as_deref()), ("sent", Some("-100777:9701")));
    running.stop().await;
}
