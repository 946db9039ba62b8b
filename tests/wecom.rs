//! WeCom against a fake WeCom API on loopback: group robots (mentions by user id and mobile,
//! 45009 retried), the self-built app's encrypted callback (URL verification, a message
//! delivered three times and processed once, forged and stale requests refused) and private
//! replies through `message/send`, and routing between the two; files and chart images through
//! both.

mod common;

use axum::extract::{Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use common::platform::{self, enqueue, outbox_status, person_id, start, wait_for, WAIT};
use dudao::chat::wecom::crypto::MsgCrypt;
use dudao::outbox::{Envelope, Recipient};
use dudao::service::Running;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

// The official sample's CorpID, Token and EncodingAESKey.
const CORP_ID: &str = "wx5823bf96d3bd56c7";
const TOKEN: &str = "QDG6eK";
const AES_KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
const ROBOT_KEY: &str = "0b1e6f3c-robot-z01";
const APP_SECRET: &str = "app-secret-value";

#[derive(Default)]
struct Seen {
    /// Robot calls: (key, body, when).
    robot: Vec<(String, Value, Instant)>,
    /// Robot calls to answer with 45009 first.
    robot_throttle_first: usize,
    /// App messages: (access token used, body).
    app: Vec<(String, Value)>,
    /// App sends to answer 42001 (token expired) first.
    app_expire_first: usize,
    gettoken: Vec<(String, String)>,
    /// Media uploads: (endpoint, credential, type, parts).
    uploads: Vec<(String, String, String, Vec<common::FormPart>)>,
}

type Fake = Arc<Mutex<Seen>>;

async fn robot_send(
    State(f): State<Fake>,
    Query(q): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    let mut s = f.lock().unwrap();
    let key = q.get("key").cloned().unwrap_or_default();
    s.robot.push((key.clone(), body, Instant::now()));
    if key != ROBOT_KEY {
        return Json(json!({"errcode": 93000, "errmsg": "invalid webhook url"}));
    }
    if s.robot.len() <= s.robot_throttle_first {
        return Json(json!({"errcode": 45009, "errmsg": "api freq out of limit"}));
    }
    Json(json!({"errcode": 0, "errmsg": "ok"}))
}

async fn gettoken(State(f): State<Fake>, Query(q): Query<HashMap<String, String>>) -> Json<Value> {
    let mut s = f.lock().unwrap();
    let (corp, secret) =
        (q.get("corpid").cloned().unwrap_or_default(), q.get("corpsecret").cloned().unwrap_or_default());
    s.gettoken.push((corp.clone(), secret.clone()));
    if corp != CORP_ID || secret != APP_SECRET {
        return Json(json!({"errcode": 40001, "errmsg": "invalid credential"}));
    }
    let n = s.gettoken.len();
    Json(json!({"errcode": 0, "errmsg": "ok", "access_token": format!("token-{n}"), "expires_in": 7200}))
}

async fn message_send(
    State(f): State<Fake>,
    Query(q): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    let mut s = f.lock().unwrap();
    let token = q.get("access_token").cloned().unwrap_or_default();
    if s.app_expire_first > 0 {
        s.app_expire_first -= 1;
        return Json(json!({"errcode": 42001, "errmsg": "access_token expired"}));
    }
    s.app.push((token, body));
    let n = s.app.len();
    Json(json!({"errcode": 0, "errmsg": "ok", "invaliduser": "", "msgid": format!("msg-{n}")}))
}

/// `webhook/upload_media` (robot, `key=`) and `media/upload` (app, `access_token=`): the file in
/// the multipart part `media`, answered with a media id as WeCom does.
async fn upload(
    State(f): State<Fake>,
    uri: axum::http::Uri,
    Query(q): Query<HashMap<String, String>>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Json<Value> {
    let ct = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let parts = common::parse_multipart(ct, &body);
    let credential = q.get("key").or(q.get("access_token")).cloned().unwrap_or_default();
    let kind = q.get("type").cloned().unwrap_or_default();
    let mut s = f.lock().unwrap();
    s.uploads.push((uri.path().to_string(), credential, kind.clone(), parts.clone()));
    if !matches!(kind.as_str(), "file" | "image") || parts.iter().all(|p| p.name != "media") {
        return Json(json!({"errcode": 40004, "errmsg": "invalid media type"}));
    }
    let n = s.uploads.len();
    Json(
        json!({"errcode": 0, "errmsg": "", "type": kind, "media_id": format!("media-{n}"), "created_at": "1380000000"}),
    )
}

async fn fake_wecom(fake: Fake) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/cgi-bin/webhook/send", post(robot_send))
        .route("/cgi-bin/gettoken", get(gettoken))
        .route("/cgi-bin/message/send", post(message_send))
        .route("/cgi-bin/webhook/upload_media", post(upload))
        .route("/cgi-bin/media/upload", post(upload))
        .with_state(fake);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

fn robot_toml(base: &str) -> String {
    format!(
        "[[channels.wecom_robot]]\nname = \"wecom-z01\"\ngroup = \"z01-inspectors\"\nkey = \"{ROBOT_KEY}\"\n\
         api_base_url = \"{base}\"\nrate_limited_retry_secs = 1\n\
         [[groups]]\nchannel = \"wecom-z01\"\nid = \"z01-inspectors\"\npurpose = \"zone_inspectors\"\nzone = \"Z01\"\n"
    )
}

fn app_toml(base: &str) -> String {
    format!(
        "[channels.wecom_app]\nenabled = true\ncorp_id = \"{CORP_ID}\"\nagent_id = 1000002\nsecret = \"{APP_SECRET}\"\n\
         token = \"{TOKEN}\"\nencoding_aes_key = \"{AES_KEY}\"\napi_base_url = \"{base}\"\n"
    )
}

async fn inbound_count(running: &Running, msg_id: &str) -> i64 {
    platform::inbound_count(running, "wecom", msg_id).await
}

#[tokio::test]
async fn robot_mentions_by_user_id_or_mobile_and_retries_after_45009() {
    let fake: Fake = Arc::new(Mutex::new(Seen { robot_throttle_first: 1, ..Default::default() }));
    let base = fake_wecom(fake.clone()).await;
    let (running, _dir) = start(&robot_toml(&base)).await;
    // D001 has the WeCom account "shili-d001" in the sample roster; D007 has only a phone.
    let d001 = person_id(&running, "D001").await;
    let d007 = person_id(&running, "D007").await;
    let t0 = Instant::now();
    enqueue(&running, "w1", Recipient::Person(d001), "请提交本周督导周报").await;
    wait_for("the first robot message", || fake.lock().unwrap().robot.len() >= 2).await;
    enqueue(&running, "w2", Recipient::Person(d007), "请确认下周的随访安排").await;
    wait_for("the second robot message", || fake.lock().unwrap().robot.len() >= 3).await;
    {
        let s = fake.lock().unwrap();
        // The first try met 45009; the same body came again after the configured second.
        assert_eq!(s.robot[0].1, s.robot[1].1);
        assert!(s.robot[1].2 - t0 >= Duration::from_millis(900), "retried too early: {:?}", s.robot[1].2 - t0);
        let first = &s.robot[1].1;
        assert_eq!(first["msgtype"], "text");
        assert_eq!(first["text"]["mentioned_list"], json!(["shili-d001"]));
        assert!(first["text"].get("mentioned_mobile_list").is_none());
        assert_eq!(first["text"]["content"], "@史芳 请提交本周督导周报");
        let second = &s.robot[2].1;
        assert_eq!(second["text"]["mentioned_mobile_list"], json!(["19900001334"]));
        assert!(second["text"].get("mentioned_list").is_none());
        assert!(second["text"]["content"].as_str().unwrap().starts_with("@万娜 "));
    }
    // Rate limiting is not a failed attempt.
    assert_eq!(outbox_status(&running, "w1").await, ("sent".to_string(), 1));
    assert_eq!(outbox_status(&running, "w2").await, ("sent".to_string(), 1));
    running.stop().await;
}

#[tokio::test]
async fn an_invalid_robot_key_is_a_permanent_failure() {
    let fake: Fake = Arc::new(Mutex::new(Seen::default()));
    let base = fake_wecom(fake.clone()).await;
    let (running, _dir) = start(&robot_toml(&base).replace(ROBOT_KEY, "revoked-key")).await;
    let d007 = person_id(&running, "D007").await;
    enqueue(&running, "bad", Recipient::Person(d007), "测试").await;
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, attempts) = outbox_status(&running, "bad").await;
        if status == "dead" {
            assert_eq!(attempts, 1, "a permanent error is not retried");
            break;
        }
        assert!(Instant::now() < deadline, "never dead-lettered: {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let err: String = dudao::sql::query_scalar("SELECT last_error FROM outbox WHERE idempotency_key = 'bad'")
        .fetch_one(&running.app.db)
        .await
        .unwrap();
    assert!(err.contains("93000"), "{err}");
    assert!(!err.contains("revoked-key"), "the key leaked into the error: {err}");
    running.stop().await;
}

/// A signed callback query for `encrypt`, `age` seconds old.
fn signed_query(crypt: &MsgCrypt, encrypt: &str, nonce: &str, age: i64) -> String {
    let ts = (chrono::Utc::now().timestamp() - age).to_string();
    let sig = crypt.signature(&ts, nonce, encrypt);
    format!("msg_signature={sig}&timestamp={ts}&nonce={nonce}")
}

fn enc(s: &str) -> String {
    // Enough percent-encoding for base64 in a query string.
    s.replace('+', "%2B").replace('/', "%2F").replace('=', "%3D")
}

fn callback_body(encrypt: &str) -> String {
    format!(
        "<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><AgentID><![CDATA[1000002]]></AgentID>\
         <Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    )
}

fn text_message(from: &str, content: &str, msg_id: &str) -> String {
    format!(
        "<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><FromUserName><![CDATA[{from}]]></FromUserName>\
         <CreateTime>{}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content>\
         <MsgId>{msg_id}</MsgId><AgentID>1000002</AgentID></xml>",
        chrono::Utc::now().timestamp()
    )
}

#[tokio::test]
async fn encrypted_callback_is_verified_stored_once_and_answered_privately() {
    let fake: Fake = Arc::new(Mutex::new(Seen { app_expire_first: 1, ..Default::default() }));
    let base = fake_wecom(fake.clone()).await;
    let (running, _dir) = start(&format!("{}{}", app_toml(&base), robot_toml(&base))).await;
    let url = format!("http://{}/wecom/callback", running.http_addr);
    let http = reqwest::Client::new();
    let crypt = MsgCrypt::new(TOKEN, AES_KEY, CORP_ID).unwrap();

    // URL verification: the decrypted echostr comes back exactly.
    let echo = crypt.encrypt("8730598413246518925");
    let r = http
        .get(format!("{url}?{}&echostr={}", signed_query(&crypt, &echo, "n1", 0), enc(&echo)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "8730598413246518925");
    // A '+' that arrives unencoded (a space after form decoding) still verifies.
    let echo_plus = (0..64).map(|i| crypt.encrypt(&format!("echo-{i}"))).find(|e| e.contains('+')).unwrap();
    let raw = echo_plus.replace('/', "%2F").replace('=', "%3D");
    let r =
        http.get(format!("{url}?{}&echostr={raw}", signed_query(&crypt, &echo_plus, "n2", 0))).send().await.unwrap();
    assert_eq!(r.status(), 200);

    // "帮助" from an unbound member, delivered three times (WeCom's retries).
    let encrypted = crypt.encrypt(&text_message("zhangsan", "帮助", "7001"));
    let q = signed_query(&crypt, &encrypted, "n3", 0);
    let (a, b) = tokio::join!(
        http.post(format!("{url}?{q}")).body(callback_body(&encrypted)).send(),
        http.post(format!("{url}?{q}")).body(callback_body(&encrypted)).send()
    );
    assert_eq!(a.unwrap().status(), 200);
    assert_eq!(b.unwrap().status(), 200);
    let r = http.post(format!("{url}?{q}")).body(callback_body(&encrypted)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "");
    assert_eq!(inbound_count(&running, "7001").await, 1);
    wait_for("the reply through message/send", || !fake.lock().unwrap().app.is_empty()).await;
    running.drain(WAIT).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    {
        let s = fake.lock().unwrap();
        assert_eq!(s.app.len(), 1, "answered once: {:?}", s.app);
        let (token, body) = &s.app[0];
        assert_eq!(body["touser"], "zhangsan");
        assert_eq!(body["agentid"], 1000002);
        assert_eq!(body["msgtype"], "text");
        assert!(body["text"]["content"].as_str().unwrap().contains("尚未绑定身份"), "{body}");
        // The first token was called expired; a fresh one was fetched and used.
        assert_eq!(token, "token-2");
        assert_eq!(s.gettoken.len(), 2);
        assert!(s.gettoken.iter().all(|(c, k)| c == CORP_ID && k == APP_SECRET));
    }
    let processed: i64 = dudao::sql::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE source = (SELECT 'inbound:' || id FROM inbound_messages WHERE platform_msg_id = '7001')",
    )
    .fetch_one(&running.app.db)
    .await
    .unwrap();
    assert_eq!(processed, 1);

    // A forged signature, a stale timestamp, another corp's message: refused, nothing stored.
    let forged_msg = crypt.encrypt(&text_message("mallory", "帮助", "7002"));
    let good = signed_query(&crypt, &forged_msg, "n4", 0);
    let forged = good.replace(&good[14..54], &"0".repeat(40));
    let r = http.post(format!("{url}?{forged}")).body(callback_body(&forged_msg)).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let wrong_token = MsgCrypt::new("not-the-token", AES_KEY, CORP_ID).unwrap();
    let r = http
        .post(format!("{url}?{}", signed_query(&wrong_token, &forged_msg, "n5", 0)))
        .body(callback_body(&forged_msg))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = http
        .post(format!("{url}?{}", signed_query(&crypt, &forged_msg, "n6", 3600)))
        .body(callback_body(&forged_msg))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a request an hour old is a replay");
    let other_corp = MsgCrypt::new(TOKEN, AES_KEY, "ww-another-corp").unwrap();
    let foreign = other_corp.encrypt(&text_message("mallory", "帮助", "7003"));
    let r = http
        .post(format!("{url}?{}", signed_query(&crypt, &foreign, "n7", 0)))
        .body(callback_body(&foreign))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r =
        http.get(format!("{url}?msg_signature=00&timestamp=1&nonce=x&echostr={}", enc(&echo))).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let r = http.post(format!("{url}?{q}")).body("<xml><Encrypt>").send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(inbound_count(&running, "7002").await, 0);
    assert_eq!(inbound_count(&running, "7003").await, 0);
    running.stop().await;
}

#[tokio::test]
async fn routing_goes_privately_through_the_app_and_falls_back_to_the_robot_group() {
    let fake: Fake = Arc::new(Mutex::new(Seen::default()));
    let base = fake_wecom(fake.clone()).await;
    let (running, _dir) = start(&format!("{}{}", app_toml(&base), robot_toml(&base))).await;
    let d001 = person_id(&running, "D001").await;
    let d007 = person_id(&running, "D007").await;
    enqueue(&running, "p1", Recipient::Person(d001), "您有一条新的督导任务").await;
    enqueue(&running, "p2", Recipient::Person(d007), "您有一条新的督导任务").await;
    wait_for("both messages", || {
        let s = fake.lock().unwrap();
        !s.app.is_empty() && !s.robot.is_empty()
    })
    .await;
    {
        let s = fake.lock().unwrap();
        // D001 is bound on WeCom: a private app message, no mention needed.
        assert_eq!(s.app[0].1["touser"], "shili-d001");
        assert_eq!(s.app[0].1["text"]["content"], "您有一条新的督导任务");
        // D007 is not: mentioned by phone in the zone's robot group.
        assert_eq!(s.robot[0].1["text"]["mentioned_mobile_list"], json!(["19900001334"]));
    }
    let (via, chat): (String, String) =
        dudao::sql::query_as("SELECT channel, chat_id FROM outbox WHERE idempotency_key = 'p2'")
            .fetch_one(&running.app.db)
            .await
            .unwrap();
    assert_eq!((via.as_str(), chat.as_str()), ("wecom-z01", "z01-inspectors"));
    running.stop().await;
}

#[test]
fn enabled_channels_with_missing_secrets_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let err = |extra: &str| {
        let db = dir.path().join("x.sqlite");
        let toml = format!("[database]\npath = \"{}\"\n{extra}", db.display().to_string().replace('\\', "/"));
        dudao::config::Settings::from_toml_over_default(&toml).unwrap_err()
    };
    let e = err("[channels.wecom_app]\nenabled = true\ncorp_id = \"ww1\"\nagent_id = 1000002\n");
    assert_eq!(e.key, "channels.wecom_app.secret");
    let e = err(&format!(
        "[channels.wecom_app]\nenabled = true\ncorp_id = \"ww1\"\nagent_id = 2\nsecret = \"s\"\ntoken = \"{TOKEN}\"\n"
    ));
    assert_eq!(e.key, "channels.wecom_app.encoding_aes_key");
    let e = err("[[channels.wecom_robot]]\nname = \"r1\"\n");
    assert_eq!(e.key, "channels.wecom_robot[0].key");
    let e = err("[[channels.wecom_robot]]\nname = \"r1\"\nkey = \"k\"\n[[groups]]\nchannel = \"r1\"\nid = \"elsewhere\"\npurpose = \"supervisors\"\n");
    assert_eq!(e.key, "groups[0].id");
    let e = err("[[channels.wecom_robot]]\nname = \"console\"\nkey = \"k\"\n");
    assert_eq!(e.key, "channels.wecom_robot[0].name");
    // And the secret never appears in the message.
    let e = err("[channels.wecom_app]\nenabled = true\ncorp_id = \"ww1\"\nagent_id = 2\nsecret = \"topsecret\"\ntoken = \"t\"\nencoding_aes_key = \"short\"\n");
    assert_eq!(e.key, "channels.wecom_app.encoding_aes_key");
    assert!(!e.to_string().contains("topsecret"));
}

async fn enqueue_file(running: &Running, key: &str, to: Recipient, name: &str, bytes: &[u8], caption: Option<&str>) {
    let app = &running.app;
    let mut tx = dudao::db::begin_write(&app.db).await.unwrap();
    let file = dudao::chat::Attachment::new(name, bytes.to_vec());
    let env = Envelope::file(key, to, file, caption.map(str::to_string), "test");
    dudao::outbox::enqueue(&mut tx, &app.directory, app.clock.now(), env).await.unwrap();
    tx.commit().await.unwrap();
    app.outbox_notify.notify_waiters();
}

#[tokio::test]
async fn robot_and_app_upload_a_file_then_send_a_file_message() {
    let fake: Fake = Arc::new(Mutex::new(Seen::default()));
    let base = fake_wecom(fake.clone()).await;
    let (running, _dir) = start(&format!("{}{}", robot_toml(&base), app_toml(&base))).await;
    // Bytes that are not text, so any re-encoding on the way would show.
    let xlsx: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
    let group = dudao::chat::ChatRef::group("wecom-z01", "z01-inspectors");
    enqueue_file(&running, "f1", Recipient::Chat(group), "第一责任区周报统计.xlsx", &xlsx, Some("本周周报统计表如下"))
        .await;
    wait_for("the robot's caption and file message", || fake.lock().unwrap().robot.len() >= 2).await;
    {
        let s = fake.lock().unwrap();
        let (path, key, kind, parts) = &s.uploads[0];
        assert_eq!((path.as_str(), key.as_str(), kind.as_str()), ("/cgi-bin/webhook/upload_media", ROBOT_KEY, "file"));
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].name, "media");
        assert_eq!(parts[0].file_name.as_deref(), Some("第一责任区周报统计.xlsx"));
        assert_eq!(parts[0].bytes, xlsx);
        // The caption first, then the file message naming the uploaded media.
        assert_eq!(s.robot[0].1["text"]["content"], "本周周报统计表如下");
        assert_eq!(s.robot[1].1, json!({"msgtype": "file", "file": {"media_id": "media-1"}}));
    }
    assert_eq!(outbox_status(&running, "f1").await.0, "sent");
    assert_eq!(outbox_status(&running, "f1#file").await.0, "sent");

    // Privately through the app: media/upload with the access token, then message/send.
    let docx = b"PK\x03\x04 bulletin".to_vec();
    let member = dudao::chat::ChatRef::private("wecom", "wang.fang");
    enqueue_file(&running, "f2", Recipient::Chat(member), "督导通报（2026年11月）.docx", &docx, None).await;
    wait_for("the app's file message", || !fake.lock().unwrap().app.is_empty()).await;
    {
        let s = fake.lock().unwrap();
        let (path, token, kind, parts) = &s.uploads[1];
        assert_eq!((path.as_str(), token.as_str(), kind.as_str()), ("/cgi-bin/media/upload", "token-1", "file"));
        assert_eq!(parts[0].file_name.as_deref(), Some("督导通报（2026年11月）.docx"));
        assert_eq!(parts[0].bytes, docx);
        let (token, body) = &s.app[0];
        assert_eq!(token, "token-1");
        assert_eq!(body["msgtype"], "file");
        assert_eq!(body["touser"], "wang.fang");
        assert_eq!(body["agentid"], 1000002);
        assert_eq!(body["file"]["media_id"], "media-2");
    }
    // No caption: the file row carries the envelope's own key.
    assert_eq!(outbox_status(&running, "f2").await.0, "sent");
    running.stop().await;
}

async fn enqueue_image(running: &Running, key: &str, to: Recipient, name: &str, bytes: &[u8]) {
    let app = &running.app;
    let mut tx = dudao::db::begin_write(&app.db).await.unwrap();
    let env = Envelope {
        attachment: Some(dudao::chat::Attachment::image(name, bytes.to_vec())),
        ..Envelope::new(key, to, Vec::new(), "test")
    };
    dudao::outbox::enqueue(&mut tx, &app.directory, app.clock.now(), env).await.unwrap();
    tx.commit().await.unwrap();
    app.outbox_notify.notify_waiters();
}

#[tokio::test]
async fn a_chart_goes_as_an_image_message_through_robot_and_app() {
    use base64::Engine;
    use md5::{Digest, Md5};
    let fake: Fake = Arc::new(Mutex::new(Seen::default()));
    let base = fake_wecom(fake.clone()).await;
    let (running, _dir) = start(&format!("{}{}", robot_toml(&base), app_toml(&base))).await;
    // Stands in for a PNG: the bytes must arrive exactly, whatever they are.
    let png: Vec<u8> = b"\x89PNG\r\n\x1a\n".iter().copied().chain((0..=255u8).cycle().take(5000)).collect();

    // The robot: one `image` message with the picture inline and its MD5; no upload.
    let group = dudao::chat::ChatRef::group("wecom-z01", "z01-inspectors");
    enqueue_image(&running, "i1", Recipient::Chat(group), "整改统计_全县_2026-11.png", &png).await;
    wait_for("the robot's image message", || !fake.lock().unwrap().robot.is_empty()).await;
    {
        let s = fake.lock().unwrap();
        let body = &s.robot[0].1;
        assert_eq!(body["msgtype"], "image");
        let sent = base64::engine::general_purpose::STANDARD.decode(body["image"]["base64"].as_str().unwrap()).unwrap();
        assert_eq!(sent, png);
        let md5: String = Md5::digest(&png).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(body["image"]["md5"], md5.as_str());
        assert!(s.uploads.is_empty(), "an inline image is not uploaded as a file");
    }

    // The app: uploaded as image media, then an `image` message naming it.
    let member = dudao::chat::ChatRef::private("wecom", "wang.fang");
    enqueue_image(&running, "i2", Recipient::Chat(member), "督办统计_全县_2026-11.png", &png).await;
    wait_for("the app's image message", || !fake.lock().unwrap().app.is_empty()).await;
    {
        let s = fake.lock().unwrap();
        let (path, _, kind, parts) = &s.uploads[0];
        assert_eq!((path.as_str(), kind.as_str()), ("/cgi-bin/media/upload", "image"));
        assert_eq!(parts[0].bytes, png);
        let body = &s.app[0].1;
        assert_eq!(body["msgtype"], "image");
        assert_eq!(body["image"]["media_id"], "media-1");
        assert!(body.get("file").is_none(), "{body}");
    }
    assert_eq!(outbox_status(&running, "i1").await.0, "sent");
    assert_eq!(outbox_status(&running, "i2").await.0, "sent");
    running.stop().await;
}
