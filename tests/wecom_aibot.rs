//! WeCom 智能机器人 (AI bot) against a fake WeCom on loopback: the JSON encrypted callback (URL
//! verification, binding privately, a command @-ing the bot in a group answered through the
//! message's `response_url`, a second answer with no response URL left going to the group's
//! robot, or recorded failed where there is none), forged, stale and nonce-reusing requests
//! refused, a replayed request acted on once, and an encrypted image becoming evidence.
//!
//! The fake encrypts the image with its own AES code (the documented scheme: AES-256-CBC, the
//! EncodingAESKey as key, its first 16 bytes as IV, PKCS#7 padding to 32 bytes).

mod common;

use axum::extract::{Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use common::platform::{self, binding_code, start, wait_for, WAIT};
use dudao::chat::wecom::crypto::MsgCrypt;
use dudao::outbox::{Envelope, Recipient};
use dudao::service::Running;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const TOKEN: &str = "aibotTok3n";
/// 32 bytes whose base64 has no trailing bits, so the fake can decode the key plainly.
const KEY_BYTES: &[u8; 32] = b"dudao-aibot-test-key-32-bytes!!!";
const ROBOT_KEY: &str = "6a1f-aibot-fallback-robot";
const GROUP: &str = "wrkSFfCgAAz01";

fn aes_key() -> String {
    base64::engine::general_purpose::STANDARD.encode(KEY_BYTES).trim_end_matches('=').to_string()
}

/// The picture as the school took it, and as WeCom serves it (encrypted).
const PICTURE: &[u8] = b"\xff\xd8\xffJPEG-canteen-exhaust-fan-fixed";

fn encrypt_picture(plain: &[u8]) -> Vec<u8> {
    use aes::cipher::{BlockEncryptMut, KeyIvInit};
    let mut buf = plain.to_vec();
    let pad = 32 - buf.len() % 32;
    buf.extend(std::iter::repeat_n(pad as u8, pad));
    let len = buf.len();
    let enc = cbc::Encryptor::<aes::Aes256>::new(KEY_BYTES.into(), KEY_BYTES[..16].into());
    enc.encrypt_padded_mut::<aes::cipher::block_padding::NoPadding>(&mut buf, len).unwrap().to_vec()
}

#[derive(Default)]
struct Seen {
    /// Response URL calls: (response_code, body).
    responses: Vec<(String, Value)>,
    /// Group robot calls: (key, body).
    robot: Vec<(String, Value)>,
    downloads: Vec<String>,
}

type Fake = Arc<Mutex<Seen>>;

async fn aibot_response(
    State(f): State<Fake>,
    Query(q): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    let code = q.get("response_code").cloned().unwrap_or_default();
    let mut s = f.lock().unwrap();
    // One call per response_url.
    if s.responses.iter().any(|(c, _)| *c == code) {
        return Json(json!({"errcode": 40058, "errmsg": "invalid response_code"}));
    }
    s.responses.push((code, body));
    Json(json!({"errcode": 0, "errmsg": "ok"}))
}

async fn robot_send(
    State(f): State<Fake>,
    Query(q): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    let key = q.get("key").cloned().unwrap_or_default();
    f.lock().unwrap().robot.push((key.clone(), body));
    if key != ROBOT_KEY {
        return Json(json!({"errcode": 93000, "errmsg": "invalid webhook url"}));
    }
    Json(json!({"errcode": 0, "errmsg": "ok"}))
}

async fn image(State(f): State<Fake>, axum::extract::Path(name): axum::extract::Path<String>) -> Vec<u8> {
    f.lock().unwrap().downloads.push(name);
    encrypt_picture(PICTURE)
}

async fn fake_wecom(fake: Fake) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/cgi-bin/aibot/response", post(aibot_response))
        .route("/cgi-bin/webhook/send", post(robot_send))
        .route("/img/{name}", get(image))
        .with_state(fake);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

fn aibot_toml(base: &str) -> String {
    format!(
        "[channels.wecom_aibot]\nenabled = true\nname = \"督导助手\"\ntoken = \"{TOKEN}\"\nencoding_aes_key = \"{}\"\n\
         api_base_url = \"{base}\"\n\
         [[channels.wecom_aibot.robots]]\nchat_id = \"{GROUP}\"\nkey = \"{ROBOT_KEY}\"\n\
         [[groups]]\nchannel = \"督导助手\"\nid = \"{GROUP}\"\npurpose = \"zone_inspectors\"\nzone = \"Z01\"\n",
        aes_key()
    )
}

/// A decrypted callback as WeCom sends it: text, privately or in the group.
fn text_msg(base: &str, id: &str, group: bool, user: &str, text: &str) -> Value {
    let mut m = json!({
        "msgid": id,
        "aibotid": "aibot-z01",
        "chattype": if group { "group" } else { "single" },
        "from": {"userid": user},
        "response_url": format!("{base}/cgi-bin/aibot/response?response_code=rc-{id}"),
        "msgtype": "text",
        "text": {"content": if group { format!("@督导助手 {text}") } else { text.to_string() }},
    });
    if group {
        m["chatid"] = json!(GROUP);
    }
    m
}

/// The request WeCom makes: `{"encrypt"}` with the signature over it, `age` seconds old.
struct Signed {
    query: Vec<(String, String)>,
    body: Value,
}

fn sign(inner: &Value, age: i64, nonce: &str, token: &str) -> Signed {
    let crypt = MsgCrypt::new(TOKEN, &aes_key(), "").unwrap();
    let encrypt = crypt.encrypt(&inner.to_string());
    let ts = (chrono::Utc::now().timestamp() - age).to_string();
    let sig = dudao::chat::wecom::crypto::signature(token, &ts, nonce, &encrypt);
    Signed {
        query: vec![("msg_signature".into(), sig), ("timestamp".into(), ts), ("nonce".into(), nonce.into())],
        body: json!({ "encrypt": encrypt }),
    }
}

async fn post_signed(url: &str, s: &Signed) -> u16 {
    reqwest::Client::new().post(url).query(&s.query).json(&s.body).send().await.unwrap().status().as_u16()
}

fn nonce() -> String {
    format!("{}", rand::random::<u32>())
}

async fn settled(running: &Running, key: &str) -> (String, Option<String>) {
    let (status, _, error) = platform::settled_outcome(running, key).await;
    (status, error)
}

async fn inbound_count(running: &Running, msg_id: &str) -> i64 {
    platform::inbound_count(running, "督导助手", msg_id).await
}

#[tokio::test]
async fn the_bot_verifies_binds_and_answers_through_response_urls() {
    let fake: Fake = Arc::new(Mutex::new(Seen::default()));
    let base = fake_wecom(fake.clone()).await;
    let (running, _dir) = start(&aibot_toml(&base)).await;
    let url = format!("http://{}/wecom/aibot", running.http_addr);

    // URL verification: the decrypted echostr, exactly.
    let crypt = MsgCrypt::new(TOKEN, &aes_key(), "").unwrap();
    let echo = crypt.encrypt("7480321156409981");
    let ts = chrono::Utc::now().timestamp().to_string();
    let sig = dudao::chat::wecom::crypto::signature(TOKEN, &ts, "5501", &echo);
    let r = reqwest::Client::new()
        .get(&url)
        .query(&[("msg_signature", sig.as_str()), ("timestamp", &ts), ("nonce", "5501"), ("echostr", &echo)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "7480321156409981");

    // Binding, privately: answered through that message's response_url.
    let code = binding_code(&running, "D002").await;
    let m = text_msg(&base, "bind01", false, "han.lei", &format!("绑定 {code}"));
    assert_eq!(post_signed(&url, &sign(&m, 0, &nonce(), TOKEN)).await, 200);
    wait_for("the binding answer", || !fake.lock().unwrap().responses.is_empty()).await;
    {
        let s = fake.lock().unwrap();
        let (code, body) = &s.responses[0];
        assert_eq!(code, "rc-bind01");
        assert_eq!(body["msgtype"], "markdown");
        assert!(body["markdown"]["content"].as_str().unwrap().contains("绑定成功"), "{body}");
    }
    let bound: String = dudao::sql::query_scalar(
        "SELECT p.code FROM chat_accounts a JOIN people p ON p.id = a.person_id WHERE a.platform = 'wecom' AND a.account_id = 'han.lei'",
    )
    .fetch_one(&running.app.db)
    .await
    .unwrap();
    assert_eq!(bound, "D002");

    // A command @-ing the bot in the group: the mention is not part of the command.
    let m = text_msg(&base, "help02", true, "han.lei", "帮助");
    assert_eq!(post_signed(&url, &sign(&m, 0, &nonce(), TOKEN)).await, 200);
    wait_for("the group answer", || fake.lock().unwrap().responses.len() >= 2).await;
    {
        let s = fake.lock().unwrap();
        let (code, body) = &s.responses[1];
        assert_eq!(code, "rc-help02");
        assert!(body["markdown"]["content"].as_str().unwrap().contains("可用指令"), "{body}");
        assert!(s.robot.is_empty());
    }

    // A supervisor registers another group from inside it, @-ing the bot.
    let sup = common::first_person(&running.app.db, "supervisor").await;
    let code = binding_code(&running, &sup).await;
    let m = text_msg(&base, "bind03", false, "zhou.qing", &format!("绑定 {code}"));
    assert_eq!(post_signed(&url, &sign(&m, 0, &nonce(), TOKEN)).await, 200);
    let mut m = text_msg(&base, "reg04", true, "zhou.qing", "登记群 督导室群");
    m["chatid"] = json!("wrkOfficeGrp02");
    assert_eq!(post_signed(&url, &sign(&m, 0, &nonce(), TOKEN)).await, 200);
    wait_for("the registration answer", || fake.lock().unwrap().responses.iter().any(|(c, _)| c == "rc-reg04")).await;
    let purpose: String = dudao::sql::query_scalar(
        "SELECT purpose FROM chat_groups WHERE channel = '督导助手' AND external_id = 'wrkOfficeGrp02'",
    )
    .fetch_one(&running.app.db)
    .await
    .unwrap();
    assert_eq!(purpose, "supervisors");

    // A second answer into the group: its response URL is spent, so the group's robot takes it.
    let app = &running.app;
    let send = |key: &str, chat: dudao::chat::ChatRef, text: &str| Envelope {
        prompted: true,
        ..Envelope::new(key, Recipient::Chat(chat), vec![dudao::chat::Segment::text(text)], "test")
    };
    let mut tx = dudao::db::begin_write(&app.db).await.unwrap();
    let group = dudao::chat::ChatRef::group("督导助手", GROUP);
    dudao::outbox::enqueue(&mut tx, &app.directory, app.clock.now(), send("more-g", group, "补充：周四上午到校复查"))
        .await
        .unwrap();
    // And one privately, where there is no robot: recorded failed, saying why.
    let private = dudao::chat::ChatRef::private("督导助手", "han.lei");
    dudao::outbox::enqueue(&mut tx, &app.directory, app.clock.now(), send("more-p", private, "补充：请带上记录表"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    app.outbox_notify.notify_waiters();
    assert_eq!(settled(&running, "more-g").await, ("sent".to_string(), None));
    let (status, error) = settled(&running, "more-p").await;
    assert_eq!(status, "dead");
    assert!(error.as_deref().unwrap_or_default().contains("response_url"), "{error:?}");
    {
        let s = fake.lock().unwrap();
        assert_eq!(s.robot.len(), 1);
        assert_eq!(s.robot[0].0, ROBOT_KEY);
        assert_eq!(s.robot[0].1["markdown"]["content"], "补充：周四上午到校复查");
        assert_eq!(s.responses.len(), 4, "no response URL used twice");
    }

    // An unprompted reminder is never routed to the bot: it cannot start a conversation.
    let mut tx = dudao::db::begin_write(&app.db).await.unwrap();
    let env = Envelope::new(
        "remind-g",
        Recipient::Chat(dudao::chat::ChatRef::group("督导助手", GROUP)),
        vec![dudao::chat::Segment::text("请提交本周周报")],
        "test",
    );
    dudao::outbox::enqueue(&mut tx, &app.directory, app.clock.now(), env).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(settled(&running, "remind-g").await.0, "unroutable");
    running.stop().await;
}

#[tokio::test]
async fn forged_stale_and_reused_requests_are_refused_and_a_replay_is_acted_on_once() {
    let fake: Fake = Arc::new(Mutex::new(Seen::default()));
    let base = fake_wecom(fake.clone()).await;
    let (running, _dir) = start(&aibot_toml(&base)).await;
    let url = format!("http://{}/wecom/aibot", running.http_addr);

    let m = text_msg(&base, "forged1", false, "mallory", "帮助");
    assert_eq!(post_signed(&url, &sign(&m, 0, &nonce(), "not-the-token")).await, 403);
    let mut unsigned = sign(&m, 0, &nonce(), TOKEN);
    unsigned.query[0].1 = "0".repeat(40);
    assert_eq!(post_signed(&url, &unsigned).await, 403);
    assert_eq!(post_signed(&url, &sign(&m, 400, &nonce(), TOKEN)).await, 403, "stale");
    assert_eq!(post_signed(&url, &sign(&m, -400, &nonce(), TOKEN)).await, 403, "from the future");
    assert_eq!(inbound_count(&running, "forged1").await, 0);
    // Not the JSON envelope.
    let r = reqwest::Client::new().post(&url).body("<xml><Encrypt>x</Encrypt></xml>").send().await.unwrap();
    assert_eq!(r.status(), 400);

    // The same request three times (WeCom retrying, or a replay): one row, one answer.
    let m = text_msg(&base, "replay1", false, "zhang.san", "帮助");
    let req = sign(&m, 0, "80808080", TOKEN);
    let (a, b) = tokio::join!(post_signed(&url, &req), post_signed(&url, &req));
    assert_eq!((a, b), (200, 200));
    assert_eq!(post_signed(&url, &req).await, 200);
    assert_eq!(inbound_count(&running, "replay1").await, 1);
    // The same nonce with another message: refused.
    let other = text_msg(&base, "replay2", false, "zhang.san", "帮助");
    assert_eq!(post_signed(&url, &sign(&other, 0, "80808080", TOKEN)).await, 403);
    assert_eq!(inbound_count(&running, "replay2").await, 0);
    wait_for("the answer", || !fake.lock().unwrap().responses.is_empty()).await;
    running.drain(WAIT).await;
    {
        let s = fake.lock().unwrap();
        assert_eq!(s.responses.len(), 1, "answered once: {:?}", s.responses);
        assert_eq!(s.responses[0].0, "rc-replay1");
        assert!(s.responses[0].1["markdown"]["content"].as_str().unwrap().contains("尚未绑定"));
    }
    running.stop().await;
}

/// A school reports a repair, then sends the photo to the bot privately: WeCom's encrypted image
/// is downloaded through the evidence fetcher, decrypted, and lands in the ledger.
#[tokio::test]
async fn an_image_sent_to_the_bot_becomes_evidence() {
    let fake: Fake = Arc::new(Mutex::new(Seen::default()));
    let base = fake_wecom(fake.clone()).await;
    let rectify = "[rectify]\nsweep_cron = \"\"\nevidence_poll_secs = 3600\nevidence_max_attempts = 1\n\
                   evidence_allow_hosts = [\"127.0.0.1\"]\n";
    let (running, _dir) = start(&format!("{}{rectify}", aibot_toml(&base))).await;
    let url = format!("http://{}/wecom/aibot", running.http_addr);
    for (user, person, id) in [("hao.ming", "D008", "b1"), ("peng.li", "C0001", "b2")] {
        let code = binding_code(&running, person).await;
        let m = text_msg(&base, id, false, user, &format!("绑定 {code}"));
        assert_eq!(post_signed(&url, &sign(&m, 0, &nonce(), TOKEN)).await, 200);
    }
    let m = text_msg(&base, "p1", false, "hao.ming", "记问题 实验小学 6 食堂排风扇损坏");
    assert_eq!(post_signed(&url, &sign(&m, 0, &nonce(), TOKEN)).await, 200);
    wait_for("the problem recorded", || fake.lock().unwrap().responses.iter().any(|(c, _)| c == "rc-p1")).await;
    let m = text_msg(&base, "p2", false, "peng.li", "完成 W1 排风扇已更换");
    assert_eq!(post_signed(&url, &sign(&m, 0, &nonce(), TOKEN)).await, 200);
    wait_for("the completion", || fake.lock().unwrap().responses.iter().any(|(c, _)| c == "rc-p2")).await;
    let picture = json!({
        "msgid": "p3",
        "aibotid": "aibot-z01",
        "chattype": "single",
        "from": {"userid": "peng.li"},
        "response_url": format!("{base}/cgi-bin/aibot/response?response_code=rc-p3"),
        "msgtype": "image",
        "image": {"url": format!("{base}/img/canteen-fan")},
    });
    assert_eq!(post_signed(&url, &sign(&picture, 0, &nonce(), TOKEN)).await, 200);
    wait_for("the photo taken as evidence", || {
        fake.lock().unwrap().responses.iter().any(|(c, b)| c == "rc-p3" && b.to_string().contains("W1"))
    })
    .await;

    let (status, channel, stored, report) = platform::first_evidence(&running).await;
    assert_eq!((status.as_str(), channel.as_str()), ("stored", "督导助手"), "{report}");
    assert_eq!(stored.unwrap(), PICTURE, "stored decrypted");
    assert_eq!(fake.lock().unwrap().downloads, vec!["canteen-fan".to_string()]);
    // The encrypted link is the channel's file id, not a plain photo link anything would fetch.
    let (link, file_id): (String, Option<String>) =
        dudao::sql::query_as("SELECT url, file_id FROM rectify_evidence").fetch_one(&running.app.db).await.unwrap();
    assert_eq!((link.as_str(), file_id), ("", Some(format!("{base}/img/canteen-fan"))));
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
    let e = err(
        "[channels.wecom_aibot]\nenabled = true\nencoding_aes_key = \"jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C\"\n",
    );
    assert_eq!(e.key, "channels.wecom_aibot.token");
    let e = err("[channels.wecom_aibot]\nenabled = true\ntoken = \"t\"\nencoding_aes_key = \"short-key-x\"\n");
    assert_eq!(e.key, "channels.wecom_aibot.encoding_aes_key");
    assert!(!e.to_string().contains("short-key-x"));
    let e = err(
        "[channels.wecom_aibot]\nenabled = true\ntoken = \"t\"\nencoding_aes_key = \"jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C\"\n\
         callback_path = \"/healthz\"\n",
    );
    assert_eq!(e.key, "channels.wecom_aibot.callback_path");
}
