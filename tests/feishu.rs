//! Feishu against a fake Feishu on loopback: the app bot's HTTP event callback (the URL
//! verification, binding, a command answered in a group through the message API with a cached
//! tenant access token, an unprompted reminder privately by open id; a forged token refused with
//! nothing stored, an encrypted event refused without a key, a replayed event acted on once;
//! with an Encrypt Key: events decrypted, `X-Lark-Signature` and the inner token checked), custom group
//! robots (each send signed with the documented algorithm, paced below 5 a second, "too many
//! requests" waited out, a wrong secret dead-lettered) and configuration errors naming their key.
//!
//! The fake checks signatures with its own HMAC-SHA256 code, not the adapter's.

mod common;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use common::platform::{self, binding_code, enqueue, outbox_status, person_id, settled_status, start, wait_for, WAIT};
use dudao::outbox::{Envelope, Recipient};
use dudao::service::Running;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const APP_ID: &str = "cli_a5f0test0001";
const APP_SECRET: &str = "fs-app-secret-for-tests-9x";
const VERIFY_TOKEN: &str = "vt-7Qm2kLx9testtoken";
const ROBOT_TOKEN: &str = "5e1b0c9a-robot-z01";
const ROBOT_SECRET: &str = "fsRobotSecret0123abc";

/// `base64(HMAC-SHA256(key = "<ts>\n<secret>", message = ""))`, as Feishu documents it.
fn feishu_sign(secret: &str, ts: &str) -> String {
    use base64::Engine;
    use hmac::{Hmac, Mac};
    let mac = Hmac::<sha2::Sha256>::new_from_slice(format!("{ts}\n{secret}").as_bytes()).unwrap();
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[derive(Default)]
struct Seen {
    /// Custom robot calls accepted: (body, when).
    robot: Vec<(Value, Instant)>,
    /// Custom robot calls refused, with the code given.
    robot_refused: Vec<i64>,
    /// Answer this many robot calls "too many requests" (9499) first.
    robot_throttle_first: usize,
    tokens: usize,
    /// Message API calls: (receive_id_type, bearer token, body).
    messages: Vec<(String, String, Value)>,
    /// Message resource downloads: (message id, file key, type).
    resources: Vec<(String, String, String)>,
}

/// The bytes of the picture the fake holds for message `om_pic3`, key `img_v2_lab`.
const PICTURE: &[u8] = b"\x89PNG-lab-fume-hood-repaired";

/// `GET /open-apis/im/v1/messages/{message_id}/resources/{file_key}?type=image`: the picture for
/// a valid token and a key that belongs to the message, else Feishu's JSON error.
async fn im_resource(
    State(f): State<Fake>,
    Path((message_id, key)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let kind = q.get("type").cloned().unwrap_or_default();
    f.lock().unwrap().resources.push((message_id.clone(), key.clone(), kind.clone()));
    if !auth.strip_prefix("Bearer ").is_some_and(|t| t.starts_with("t-")) {
        return (StatusCode::BAD_REQUEST, Json(json!({"code": 99991663, "msg": "Invalid access token"})))
            .into_response();
    }
    if message_id == "om_pic3" && key == "img_v2_lab" && kind == "image" {
        return ([(axum::http::header::CONTENT_TYPE, "image/png")], PICTURE.to_vec()).into_response();
    }
    (StatusCode::BAD_REQUEST, Json(json!({"code": 234003, "msg": "File not in msg."}))).into_response()
}

type Fake = Arc<Mutex<Seen>>;

async fn robot_hook(State(f): State<Fake>, Path(token): Path<String>, Json(body): Json<Value>) -> Json<Value> {
    fn refuse(s: &mut Seen, code: i64, msg: &str) -> Json<Value> {
        s.robot_refused.push(code);
        Json(json!({"code": code, "msg": msg, "data": {}}))
    }
    let mut guard = f.lock().unwrap();
    let s = &mut *guard;
    if token != ROBOT_TOKEN {
        return refuse(s, 19001, "param invalid: incoming webhook access token invalid");
    }
    let ts = body["timestamp"].as_str().unwrap_or_default().to_string();
    let fresh = ts.parse::<i64>().is_ok_and(|t| (chrono::Utc::now().timestamp() - t).abs() < 3600);
    if !fresh || body["sign"].as_str() != Some(&feishu_sign(ROBOT_SECRET, &ts)) {
        return refuse(s, 19021, "sign match fail or timestamp is not within one hour from current time");
    }
    if s.robot_throttle_first > 0 {
        s.robot_throttle_first -= 1;
        return refuse(s, 9499, "too many request");
    }
    // Feishu's rule: at most 5 a second and 100 a minute per robot.
    let now = Instant::now();
    let within = |d: u64| s.robot.iter().filter(|(_, t)| now.duration_since(*t) < Duration::from_secs(d)).count();
    if within(1) >= 5 || within(60) >= 100 {
        return refuse(s, 11232, "frequency limited");
    }
    s.robot.push((body, now));
    Json(json!({"code": 0, "msg": "success", "data": {}}))
}

async fn tenant_token(State(f): State<Fake>, Json(body): Json<Value>) -> Json<Value> {
    if body["app_id"] != APP_ID || body["app_secret"] != APP_SECRET {
        return Json(json!({"code": 10014, "msg": "app secret invalid"}));
    }
    let mut s = f.lock().unwrap();
    s.tokens += 1;
    Json(json!({"code": 0, "msg": "ok", "tenant_access_token": format!("t-{}", s.tokens), "expire": 7200}))
}

async fn im_messages(
    State(f): State<Fake>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let Some(token) = auth.strip_prefix("Bearer ").filter(|t| t.starts_with("t-")) else {
        return (StatusCode::BAD_REQUEST, Json(json!({"code": 99991663, "msg": "Invalid access token"})));
    };
    let mut s = f.lock().unwrap();
    let id_type = q.get("receive_id_type").cloned().unwrap_or_default();
    s.messages.push((id_type, token.to_string(), body));
    let id = format!("om_sent{}", s.messages.len());
    (StatusCode::OK, Json(json!({"code": 0, "msg": "success", "data": {"message_id": id}})))
}

async fn fake_feishu(fake: Fake) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/open-apis/bot/v2/hook/{token}", post(robot_hook))
        .route("/open-apis/auth/v3/tenant_access_token/internal", post(tenant_token))
        .route("/open-apis/im/v1/messages", post(im_messages))
        .route("/open-apis/im/v1/messages/{message_id}/resources/{key}", axum::routing::get(im_resource))
        .with_state(fake);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

fn app_toml(base: &str) -> String {
    format!(
        "[channels.feishu.app]\nname = \"飞书督导\"\napp_id = \"{APP_ID}\"\napp_secret = \"{APP_SECRET}\"\n\
         verification_token = \"{VERIFY_TOKEN}\"\nbase_url = \"{base}\"\n"
    )
}

fn robot_toml(base: &str) -> String {
    format!(
        "[[channels.feishu.robots]]\nname = \"fs-z01\"\ngroup = \"z01-feishu\"\n\
         webhook = \"{base}/open-apis/bot/v2/hook/{ROBOT_TOKEN}\"\nsecret = \"{ROBOT_SECRET}\"\n\
         base_url = \"{base}\"\nrate_limited_retry_secs = 1\n\
         [[groups]]\nchannel = \"fs-z01\"\nid = \"z01-feishu\"\npurpose = \"zone_inspectors\"\nzone = \"Z01\"\n"
    )
}

/// An `im.message.receive_v1` event in schema 2.0 as Feishu sends it. In a group the text holds
/// the bot's mention placeholder.
fn event(token: &str, msg_id: &str, private: bool, open_id: &str, text: &str) -> Value {
    let (chat_type, text, mentions) = if private {
        ("p2p", text.to_string(), json!([]))
    } else {
        (
            "group",
            format!("@_user_1 {text}"),
            json!([{"key": "@_user_1", "id": {"open_id": "ou_bot0"}, "name": "督导助手", "tenant_key": "tk"}]),
        )
    };
    json!({
        "schema": "2.0",
        "header": {
            "event_id": format!("ev-{msg_id}"),
            "token": token,
            "create_time": chrono::Utc::now().timestamp_millis().to_string(),
            "event_type": "im.message.receive_v1",
            "tenant_key": "tk",
            "app_id": APP_ID,
        },
        "event": {
            "sender": {"sender_id": {"open_id": open_id, "union_id": "on_x", "user_id": null}, "sender_type": "user", "tenant_key": "tk"},
            "message": {
                "message_id": msg_id,
                "create_time": chrono::Utc::now().timestamp_millis().to_string(),
                "chat_id": if private { "oc_p2p0001" } else { "oc_groupZ02" },
                "chat_type": chat_type,
                "message_type": "text",
                "content": json!({"text": text}).to_string(),
                "mentions": mentions,
            }
        }
    })
}

fn text_of(body: &Value) -> String {
    let content: Value = serde_json::from_str(body["content"].as_str().unwrap()).unwrap();
    content["text"].as_str().unwrap().to_string()
}

async fn inbound_count(running: &Running, msg_id: &str) -> i64 {
    platform::inbound_count(running, "飞书督导", msg_id).await
}

#[tokio::test]
async fn the_app_bot_verifies_its_url_binds_answers_and_reminds() {
    let fake: Fake = Arc::new(Mutex::new(Seen::default()));
    let base = fake_feishu(fake.clone()).await;
    let (running, _dir) = start(&app_toml(&base)).await;
    let url = format!("http://{}/feishu/callback", running.http_addr);
    let http = reqwest::Client::new();

    // The URL verification: the challenge echoed only for the right token.
    let v = json!({"challenge": "ch-31a7", "token": VERIFY_TOKEN, "type": "url_verification"});
    let r = http.post(&url).json(&v).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"challenge": "ch-31a7"}));
    let v = json!({"challenge": "ch-31a7", "token": "not-the-token", "type": "url_verification"});
    assert_eq!(http.post(&url).json(&v).send().await.unwrap().status(), 403);

    // Binding, privately: answered through the message API by open id.
    let code = binding_code(&running, "D002").await;
    let ev = event(VERIFY_TOKEN, "om_bind01", true, "ou_han0002", &format!("绑定 {code}"));
    assert_eq!(http.post(&url).json(&ev).send().await.unwrap().status(), 200);
    wait_for("the binding answer", || !fake.lock().unwrap().messages.is_empty()).await;
    {
        let s = fake.lock().unwrap();
        let (id_type, token, body) = &s.messages[0];
        assert_eq!((id_type.as_str(), token.as_str()), ("open_id", "t-1"));
        assert_eq!(body["receive_id"], "ou_han0002");
        assert_eq!(body["msg_type"], "text");
        assert!(text_of(body).contains("绑定成功"), "{body}");
    }
    let bound: String = dudao::sql::query_scalar(
        "SELECT p.code FROM chat_accounts a JOIN people p ON p.id = a.person_id WHERE a.platform = 'feishu' AND a.account_id = 'ou_han0002'",
    )
    .fetch_one(&running.app.db)
    .await
    .unwrap();
    assert_eq!(bound, "D002");

    // A command in a group, @-ing the bot: answered into the group by chat id, token cached.
    let ev = event(VERIFY_TOKEN, "om_help02", false, "ou_han0002", "帮助");
    assert_eq!(http.post(&url).json(&ev).send().await.unwrap().status(), 200);
    wait_for("the group answer", || fake.lock().unwrap().messages.len() >= 2).await;
    {
        let s = fake.lock().unwrap();
        let (id_type, token, body) = &s.messages[1];
        assert_eq!((id_type.as_str(), token.as_str()), ("chat_id", "t-1"));
        assert_eq!(body["receive_id"], "oc_groupZ02");
        assert!(text_of(body).contains("可用指令"), "{body}");
    }

    // An unprompted reminder to the bound person: privately, by open id.
    let d002 = person_id(&running, "D002").await;
    enqueue(&running, "remind-d002", Recipient::Person(d002), "请在周四中午前上传城关三小的整改照片").await;
    wait_for("the reminder", || fake.lock().unwrap().messages.len() >= 3).await;
    {
        let s = fake.lock().unwrap();
        let (id_type, _, body) = &s.messages[2];
        assert_eq!(id_type, "open_id");
        assert_eq!(body["receive_id"], "ou_han0002");
        assert_eq!(text_of(body), "请在周四中午前上传城关三小的整改照片");
        assert_eq!(s.tokens, 1, "the tenant access token is cached");
    }
    assert_eq!(settled_status(&running, "remind-d002").await, ("sent".to_string(), 1));
    running.stop().await;
}

#[tokio::test]
async fn forged_and_encrypted_events_are_refused_and_a_replay_is_acted_on_once() {
    let fake: Fake = Arc::new(Mutex::new(Seen::default()));
    let base = fake_feishu(fake.clone()).await;
    let (running, _dir) = start(&app_toml(&base)).await;
    let url = format!("http://{}/feishu/callback", running.http_addr);
    let http = reqwest::Client::new();

    // A wrong token, no token, an encrypted body, not JSON: nothing stored.
    let forged = event("vt-guessed", "om_forged1", true, "ou_mallory", "帮助");
    assert_eq!(http.post(&url).json(&forged).send().await.unwrap().status(), 403);
    let mut no_token = event("", "om_forged1", true, "ou_mallory", "帮助");
    no_token["header"].as_object_mut().unwrap().remove("token");
    assert_eq!(http.post(&url).json(&no_token).send().await.unwrap().status(), 403);
    let enc = json!({"encrypt": "FIAfJPGRmFZWkaxPQ1XrJZVbv2JwdjfLk4jx0k/U1deAqYK3AXOZ5zcHt/cC4ZNTqYwWUW/EoL+b2hW/C4zoAQQ5CeMtbxX2zHjm+E4nX/Aww+FHUL6iuIMaeL2KLxqdtbHRC50vgC2YI7xLxFd"});
    assert_eq!(http.post(&url).json(&enc).send().await.unwrap().status(), 400);
    assert_eq!(http.post(&url).body("不是JSON").send().await.unwrap().status(), 400);
    assert_eq!(inbound_count(&running, "om_forged1").await, 0);

    // The same event three times, two at once (Feishu retrying, or a replay): one row, one answer.
    let ev = event(VERIFY_TOKEN, "om_replay1", true, "ou_zhang0009", "帮助");
    let (a, b) = tokio::join!(http.post(&url).json(&ev).send(), http.post(&url).json(&ev).send());
    assert_eq!((a.unwrap().status().as_u16(), b.unwrap().status().as_u16()), (200, 200));
    assert_eq!(http.post(&url).json(&ev).send().await.unwrap().status(), 200);
    assert_eq!(inbound_count(&running, "om_replay1").await, 1);
    wait_for("the answer", || !fake.lock().unwrap().messages.is_empty()).await;
    running.drain(WAIT).await;
    let answers: i64 = dudao::sql::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE source = (SELECT 'inbound:' || id FROM inbound_messages WHERE platform_msg_id = 'om_replay1')",
    )
    .fetch_one(&running.app.db)
    .await
    .unwrap();
    assert_eq!(answers, 1);
    {
        let s = fake.lock().unwrap();
        assert_eq!(s.messages.len(), 1, "answered once: {:?}", s.messages);
        assert!(text_of(&s.messages[0].2).contains("尚未绑定"), "{:?}", s.messages[0].2);
    }
    running.stop().await;
}

const ENCRYPT_KEY: &str = "ek-Zq81testEncryptKey";

/// `{"encrypt": base64(iv + AES-256-CBC(sha256(key), PKCS#7, json))}`, as Feishu sends it.
fn encrypted(plain: &Value) -> String {
    use aes::cipher::block_padding::Pkcs7;
    use aes::cipher::{BlockEncryptMut, KeyIvInit};
    use base64::Engine;
    use sha2::Digest;
    let key = sha2::Sha256::digest(ENCRYPT_KEY.as_bytes());
    let iv = *b"0123456789abcdef";
    let text = plain.to_string();
    let mut buf = vec![0u8; text.len() + 16];
    buf[..text.len()].copy_from_slice(text.as_bytes());
    let ct = cbc::Encryptor::<aes::Aes256>::new_from_slices(&key, &iv)
        .unwrap()
        .encrypt_padded_mut::<Pkcs7>(&mut buf, text.len())
        .unwrap()
        .to_vec();
    let mut all = iv.to_vec();
    all.extend(ct);
    json!({"encrypt": base64::engine::general_purpose::STANDARD.encode(all)}).to_string()
}

/// Posts an encrypted body with `X-Lark-Signature` computed with `key`.
async fn post_encrypted(url: &str, plain: &Value, key: &str) -> reqwest::Response {
    use sha2::Digest;
    let body = encrypted(plain);
    let (ts, nonce) = (chrono::Utc::now().timestamp().to_string(), "n-4821");
    let sig: String =
        sha2::Sha256::digest(format!("{ts}{nonce}{key}{body}").as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("X-Lark-Request-Timestamp", ts)
        .header("X-Lark-Request-Nonce", nonce)
        .header("X-Lark-Signature", sig)
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn with_an_encrypt_key_events_are_decrypted_and_checked() {
    let fake: Fake = Arc::new(Mutex::new(Seen::default()));
    let base = fake_feishu(fake.clone()).await;
    let (running, _dir) = start(&format!("{}encrypt_key = \"{ENCRYPT_KEY}\"\n", app_toml(&base))).await;
    let url = format!("http://{}/feishu/callback", running.http_addr);
    let http = reqwest::Client::new();

    // The URL verification arrives encrypted and is answered in plain JSON.
    let v = json!({"challenge": "ch-enc-77", "token": VERIFY_TOKEN, "type": "url_verification"});
    let r = http.post(&url).header("content-type", "application/json").body(encrypted(&v)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"challenge": "ch-enc-77"}));

    // A signature made with another key, and a plain event: refused, nothing stored.
    let ev = event(VERIFY_TOKEN, "om_enc01", true, "ou_li0005", "帮助");
    assert_eq!(post_encrypted(&url, &ev, "guessed-key").await.status(), 403);
    assert_eq!(http.post(&url).json(&ev).send().await.unwrap().status(), 400);
    assert_eq!(inbound_count(&running, "om_enc01").await, 0);
    // Encrypted with the right key, but carrying a forged token inside.
    let forged = event("vt-guessed", "om_enc01", true, "ou_li0005", "帮助");
    assert_eq!(post_encrypted(&url, &forged, ENCRYPT_KEY).await.status(), 403);
    assert_eq!(inbound_count(&running, "om_enc01").await, 0);

    // The real one: stored and answered.
    assert_eq!(post_encrypted(&url, &ev, ENCRYPT_KEY).await.status(), 200);
    assert_eq!(inbound_count(&running, "om_enc01").await, 1);
    wait_for("the answer", || !fake.lock().unwrap().messages.is_empty()).await;
    assert!(text_of(&fake.lock().unwrap().messages[0].2).contains("尚未绑定"));
    running.stop().await;
}

#[tokio::test]
async fn the_custom_robot_signs_paces_and_waits_out_too_many_requests() {
    let fake: Fake = Arc::new(Mutex::new(Seen { robot_throttle_first: 1, ..Default::default() }));
    let base = fake_feishu(fake.clone()).await;
    let (running, _dir) = start(&robot_toml(&base)).await;
    let group = dudao::chat::ChatRef::group("fs-z01", "z01-feishu");
    let t0 = Instant::now();
    enqueue(&running, "g1", Recipient::Chat(group.clone()), "下周一上午开展课后服务专项督导").await;
    wait_for("the robot message", || !fake.lock().unwrap().robot.is_empty()).await;
    {
        let s = fake.lock().unwrap();
        assert_eq!(s.robot_refused, vec![9499]);
        assert!(s.robot[0].1 - t0 >= Duration::from_millis(900), "retried too early: {:?}", s.robot[0].1 - t0);
        assert_eq!(s.robot[0].0["msg_type"], "text");
        assert_eq!(s.robot[0].0["content"]["text"], "下周一上午开展课后服务专项督导");
    }
    assert_eq!(settled_status(&running, "g1").await, ("sent".to_string(), 1));

    // Twelve at once: paced to 4 a second (Feishu refuses a 6th within a second).
    let app = &running.app;
    let mut tx = dudao::db::begin_write(&app.db).await.unwrap();
    for i in 1..=12 {
        let text = format!("第{i}项督导任务即将到期");
        let env = Envelope::new(
            format!("b{i:02}"),
            Recipient::Chat(group.clone()),
            vec![dudao::chat::Segment::text(text)],
            "test",
        );
        dudao::outbox::enqueue(&mut tx, &app.directory, app.clock.now(), env).await.unwrap();
    }
    tx.commit().await.unwrap();
    app.outbox_notify.notify_waiters();
    wait_for("thirteen sends", || fake.lock().unwrap().robot.len() >= 13).await;
    {
        let s = fake.lock().unwrap();
        assert_eq!(s.robot_refused, vec![9499], "Feishu refused: {:?}", s.robot_refused);
        let times: Vec<Instant> = s.robot.iter().map(|(_, t)| *t).collect();
        for (i, t) in times.iter().enumerate() {
            let in_second = times[i..].iter().take_while(|u| **u < *t + Duration::from_secs(1)).count();
            assert!(in_second <= 4, "{in_second} sends within a second");
        }
        assert!(s.robot[12].0["content"]["text"].as_str().unwrap().starts_with("第12项"));
    }
    running.stop().await;

    // A wrong secret: Feishu refuses the signature, a permanent failure naming no secret.
    let (running, _dir) = start(&robot_toml(&base).replace(ROBOT_SECRET, "wrongSecretXyz")).await;
    enqueue(&running, "bad", Recipient::Chat(group), "测试").await;
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
    assert!(err.contains("19021"), "{err}");
    assert!(!err.contains("wrongSecret") && !err.contains(ROBOT_TOKEN), "a secret leaked into the error: {err}");
    running.stop().await;
}

#[test]
fn configuration_errors_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let err = |extra: &str| {
        let db = dir.path().join("x.sqlite");
        let toml = format!("[database]\npath = \"{}\"\n{extra}", db.display().to_string().replace('\\', "/"));
        dudao::config::Settings::from_toml_over_default(&toml).unwrap_err()
    };
    let app = "[channels.feishu.app]\napp_id = \"cli_x\"\napp_secret = \"s3cr3t-value\"\nverification_token = \"vt\"\n";
    assert_eq!(err("[channels.feishu.app]\napp_secret = \"s\"\n").key, "channels.feishu.app.app_id");
    assert_eq!(err("[channels.feishu.app]\napp_id = \"cli_x\"\n").key, "channels.feishu.app.app_secret");
    let e = err("[channels.feishu.app]\napp_id = \"cli_x\"\napp_secret = \"s3cr3t-value\"\n");
    assert_eq!(e.key, "channels.feishu.app.verification_token");
    assert!(!e.to_string().contains("s3cr3t-value"));
    let e = err(&format!("{app}encrypt_key = \"ek secret val\"\n"));
    assert_eq!(e.key, "channels.feishu.app.encrypt_key");
    assert!(!e.to_string().contains("ek secret val"));
    assert_eq!(err(&format!("{app}callback_path = \"no-slash\"\n")).key, "channels.feishu.app.callback_path");
    assert_eq!(err(&format!("{app}chat_max_per_second = 9\n")).key, "channels.feishu.app.chat_max_per_second");
    assert_eq!(err(&format!("{app}agent = 1\n")).key, "channels.feishu.app.agent");
    assert_eq!(err("[[channels.feishu.robots]]\nname = \"r1\"\n").key, "channels.feishu.robots[0].webhook");
    let e = err("[[channels.feishu.robots]]\nname = \"r1\"\nwebhook = \"t\"\nmax_per_minute = 120\n");
    assert_eq!(e.key, "channels.feishu.robots[0].max_per_minute");
    let e = err("[[channels.feishu.robots]]\nname = \"r1\"\nwebhook = \"t\"\nmax_per_second = 6\n");
    assert_eq!(e.key, "channels.feishu.robots[0].max_per_second");
    let e = err("[[channels.feishu.robots]]\nname = \"r1\"\nwebhook = \"t\"\n\
         [[groups]]\nchannel = \"r1\"\nid = \"elsewhere\"\npurpose = \"supervisors\"\n");
    assert_eq!(e.key, "groups[0].id");
    // Disabled entries are not checked.
    let db = dir.path().join("y.sqlite");
    let ok = format!(
        "[database]\npath = \"{}\"\n[channels.feishu.app]\nenabled = false\n[[channels.feishu.robots]]\nname = \"r\"\nenabled = false\n",
        db.display().to_string().replace('\\', "/")
    );
    assert!(dudao::config::Settings::from_toml_over_default(&ok).is_ok());
}

/// A school reports its repair, then sends photos to the app bot privately: each picture's
/// `image_key` is downloaded through the message resource API and lands in the ledger; a key
/// Feishu refuses is recorded failed with Feishu's code.
#[tokio::test]
async fn a_picture_sent_to_the_app_bot_becomes_evidence() {
    let fake: Fake = Arc::new(Mutex::new(Seen::default()));
    let base = fake_feishu(fake.clone()).await;
    let rectify = "[rectify]\nsweep_cron = \"\"\nevidence_poll_secs = 3600\nevidence_max_attempts = 1\n";
    let (running, _dir) = start(&format!("{}{rectify}", app_toml(&base))).await;
    let url = format!("http://{}/feishu/callback", running.http_addr);
    let http = reqwest::Client::new();
    for (open_id, person, id) in [("ou_hao0008", "D008", "om_b1"), ("ou_peng0001", "C0001", "om_b2")] {
        let code = binding_code(&running, person).await;
        let ev = event(VERIFY_TOKEN, id, true, open_id, &format!("绑定 {code}"));
        assert_eq!(http.post(&url).json(&ev).send().await.unwrap().status(), 200);
    }
    let ev = event(VERIFY_TOKEN, "om_p1", true, "ou_hao0008", "记问题 实验小学 6 化学实验室通风橱损坏");
    assert_eq!(http.post(&url).json(&ev).send().await.unwrap().status(), 200);
    wait_for("the problem answer", || fake.lock().unwrap().messages.len() >= 3).await;
    let ev = event(VERIFY_TOKEN, "om_p2", true, "ou_peng0001", "完成 W1 通风橱已修复并检测");
    assert_eq!(http.post(&url).json(&ev).send().await.unwrap().status(), 200);
    wait_for("the completion answer", || fake.lock().unwrap().messages.len() >= 4).await;
    for (id, key) in [("om_pic3", "img_v2_lab"), ("om_pic4", "img_v2_elsewhere")] {
        let mut ev = event(VERIFY_TOKEN, id, true, "ou_peng0001", "");
        ev["event"]["message"]["message_type"] = json!("image");
        ev["event"]["message"]["content"] = json!(json!({"image_key": key}).to_string());
        assert_eq!(http.post(&url).json(&ev).send().await.unwrap().status(), 200);
    }
    wait_for("both photos taken as evidence", || {
        let s = fake.lock().unwrap();
        s.messages.iter().filter(|(_, _, b)| b["receive_id"] == "ou_peng0001" && text_of(b).contains("W1")).count() >= 3
    })
    .await;

    let report = dudao::app::rectify::fetch_evidence(&running.app).await.unwrap();
    let rows: Vec<(String, String, Option<String>, Option<String>)> =
        dudao::sql::query_as("SELECT status, channel, path, error FROM rectify_evidence ORDER BY id")
            .fetch_all(&running.app.db)
            .await
            .unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!((rows[0].0.as_str(), rows[0].1.as_str()), ("stored", "飞书督导"), "{report:?} {rows:?}");
    let path = rows[0].2.clone().unwrap();
    let stored = std::fs::read(dudao::app::evidence::evidence_dir(&running.app.settings).join(path)).unwrap();
    assert_eq!(stored, PICTURE);
    assert_eq!(rows[1].0, "failed");
    let error = rows[1].3.clone().unwrap_or_default();
    assert!(error.contains("234003"), "{error}");
    assert!(!error.contains("t-1"), "{error}");
    let s = fake.lock().unwrap();
    assert_eq!(s.resources[0], ("om_pic3".to_string(), "img_v2_lab".to_string(), "image".to_string()));
    assert_eq!(s.tokens, 1, "the message API's cached token");
}
