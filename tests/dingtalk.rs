//! DingTalk against a fake DingTalk on loopback: the app robot's signed HTTP callback
//! (`receive = "callback"`; Stream mode is in tests/dingtalk_stream.rs) (binding,
//! a command and its reply through the session webhook, replies and reminders through the robot
//! API once the session is gone; forged and stale callbacks refused; a replayed message acted on
//! once), and custom group robots (each send signed with the documented algorithm, mentions by
//! mobile, "send too fast" waited out), and configuration errors naming their key.
//!
//! The fake checks signatures with its own HMAC-SHA256 code, not the adapter's.

mod common;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use common::platform::{self, binding_code, enqueue, outbox_status, person_id, settled_status, start, wait_for, WAIT};
use dudao::outbox::{Envelope, Recipient};
use dudao::service::Running;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const APP_KEY: &str = "dingq7xkz01app";
const APP_SECRET: &str = "Gm3-app-secret_for-tests";
const ROBOT_TOKEN: &str = "b7f1c9e0robot-token-z01";
const ROBOT_SECRET: &str = "SECc0ffee0123456789abcdef";

/// `base64(HMAC-SHA256(secret, "<ts>\n<secret>"))`, as DingTalk documents it.
fn ding_sign(secret: &str, ts: &str) -> String {
    use base64::Engine;
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{ts}\n{secret}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[derive(Default)]
struct Seen {
    /// Custom robot calls accepted: (body, when).
    robot: Vec<(Value, Instant)>,
    /// Custom robot calls refused, with the errcode given.
    robot_refused: Vec<i64>,
    /// Answer this many robot calls "send too fast" first.
    robot_throttle_first: usize,
    /// Session webhook posts: (session, body).
    session: Vec<(String, Value)>,
    tokens: usize,
    /// Robot API calls: (path, token header, body).
    api: Vec<(String, String, Value)>,
    /// The fake's own address, for the download links `messageFiles/download` answers.
    base: String,
    /// Picture downloads served: the name asked for.
    downloads: Vec<String>,
}

type Fake = Arc<Mutex<Seen>>;

async fn robot_send(
    State(f): State<Fake>,
    Query(q): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    fn refuse(s: &mut Seen, code: i64, msg: &str) -> Json<Value> {
        s.robot_refused.push(code);
        Json(json!({"errcode": code, "errmsg": msg}))
    }
    let mut guard = f.lock().unwrap();
    let s = &mut *guard;
    if q.get("access_token").map(String::as_str) != Some(ROBOT_TOKEN) {
        return refuse(s, 300001, "token is not exist");
    }
    let ts = q.get("timestamp").cloned().unwrap_or_default();
    let fresh = ts.parse::<i64>().is_ok_and(|t| (chrono::Utc::now().timestamp_millis() - t).abs() < 3_600_000);
    if !fresh || q.get("sign") != Some(&ding_sign(ROBOT_SECRET, &ts)) {
        return refuse(s, 310000, "sign not match");
    }
    if s.robot_throttle_first > 0 {
        s.robot_throttle_first -= 1;
        return refuse(s, 130101, "send too fast, exceed 20 times per minute");
    }
    // DingTalk's rule: more than 20 within a minute is refused (and the robot muted).
    let now = Instant::now();
    if s.robot.iter().filter(|(_, t)| now.duration_since(*t) < Duration::from_secs(60)).count() >= 20 {
        return refuse(s, 130101, "send too fast, exceed 20 times per minute");
    }
    s.robot.push((body, now));
    Json(json!({"errcode": 0, "errmsg": "ok"}))
}

async fn session_send(
    State(f): State<Fake>,
    Query(q): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    let session = q.get("session").cloned().unwrap_or_default();
    f.lock().unwrap().session.push((session, body));
    Json(json!({"errcode": 0, "errmsg": "ok"}))
}

async fn access_token(State(f): State<Fake>, Json(body): Json<Value>) -> (axum::http::StatusCode, Json<Value>) {
    if body["appKey"] != APP_KEY || body["appSecret"] != APP_SECRET {
        let e = json!({"code": "invalidClientIdOrSecret", "message": "无效的clientId或者clientSecret"});
        return (axum::http::StatusCode::BAD_REQUEST, Json(e));
    }
    let mut s = f.lock().unwrap();
    s.tokens += 1;
    (axum::http::StatusCode::OK, Json(json!({"accessToken": format!("at-{}", s.tokens), "expireIn": 7200})))
}

async fn robot_api(
    State(f): State<Fake>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Json<Value> {
    let token = headers.get("x-acs-dingtalk-access-token").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let mut s = f.lock().unwrap();
    s.api.push((uri.path().to_string(), token.to_string(), body));
    Json(
        json!({"processQueryKey": format!("pqk-{}", s.api.len()), "invalidStaffIdList": [], "flowControlledStaffIdList": []}),
    )
}

/// The bytes of the picture the fake holds for download code `dc-corridor`.
const PICTURE: &[u8] = b"\xff\xd8\xffJPEG-corridor-extinguisher-replaced";

/// `messageFiles/download`: a short-lived link on "DingTalk's storage" (the fake itself) for a
/// known download code of this robot, with a valid token.
async fn files_download(
    State(f): State<Fake>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (axum::http::StatusCode, Json<Value>) {
    let token = headers.get("x-acs-dingtalk-access-token").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let s = f.lock().unwrap();
    if !token.starts_with("at-") || body["robotCode"] != APP_KEY {
        return (
            axum::http::StatusCode::UNAUTHORIZED,
            Json(json!({"code": "InvalidAuthentication", "message": "bad"})),
        );
    }
    match body["downloadCode"].as_str() {
        Some("dc-corridor") => (
            axum::http::StatusCode::OK,
            Json(json!({"downloadUrl": format!("{}/oss/corridor.jpg?Expires=60", s.base)})),
        ),
        _ => {
            (axum::http::StatusCode::BAD_REQUEST, Json(json!({"code": "invalidDownloadCode", "message": "下载码无效"})))
        }
    }
}

async fn oss_file(State(f): State<Fake>, axum::extract::Path(name): axum::extract::Path<String>) -> Vec<u8> {
    f.lock().unwrap().downloads.push(name);
    PICTURE.to_vec()
}

async fn fake_dingtalk(fake: Fake) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    fake.lock().unwrap().base = base.clone();
    let app = Router::new()
        .route("/robot/send", post(robot_send))
        .route("/robot/sendBySession", post(session_send))
        .route("/v1.0/oauth2/accessToken", post(access_token))
        .route("/v1.0/robot/oToMessages/batchSend", post(robot_api))
        .route("/v1.0/robot/groupMessages/send", post(robot_api))
        .route("/v1.0/robot/messageFiles/download", post(files_download))
        .route("/oss/{name}", axum::routing::get(oss_file))
        .with_state(fake);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

fn app_toml(base: &str) -> String {
    format!(
        "[channels.dingtalk.app]\nname = \"钉钉督导\"\nreceive = \"callback\"\napp_key = \"{APP_KEY}\"\napp_secret = \"{APP_SECRET}\"\n\
         api_base_url = \"{base}\"\noapi_base_url = \"{base}\"\n"
    )
}

fn robot_toml(base: &str) -> String {
    format!(
        "[[channels.dingtalk.robots]]\nname = \"dt-z01\"\ngroup = \"z01-dingtalk\"\n\
         access_token = \"{base}/robot/send?access_token={ROBOT_TOKEN}\"\nsecret = \"{ROBOT_SECRET}\"\n\
         oapi_base_url = \"{base}\"\nrate_limited_retry_secs = 1\n\
         [[groups]]\nchannel = \"dt-z01\"\nid = \"z01-dingtalk\"\npurpose = \"zone_inspectors\"\nzone = \"Z01\"\n"
    )
}

/// A callback event as DingTalk sends it; `session_left` is how long its session webhook lives.
fn event(base: &str, msg_id: &str, private: bool, staff: &str, text: &str, session_left: chrono::Duration) -> Value {
    let now = chrono::Utc::now();
    json!({
        "msgId": msg_id,
        "msgtype": "text",
        "conversationType": if private { "1" } else { "2" },
        "conversationId": if private { "cidPrivate01" } else { "cidGroupZ02+/x==" },
        "conversationTitle": "第二责任区督学群",
        "senderStaffId": staff,
        "senderId": format!("$:LWCP_v1:${staff}"),
        "senderNick": "测试督学",
        "chatbotUserId": "$:LWCP_v1:$robot",
        "robotCode": APP_KEY,
        "isInAtList": true,
        "createAt": now.timestamp_millis(),
        "sessionWebhook": format!("{base}/robot/sendBySession?session=s-{msg_id}"),
        "sessionWebhookExpiredTime": (now + session_left).timestamp_millis(),
        "text": {"content": format!(" {text}")},
    })
}

/// Posts `body` to the callback signed with `secret`, `age_ms` old.
async fn post_signed(url: &str, body: &Value, secret: &str, age_ms: i64) -> reqwest::Response {
    let ts = (chrono::Utc::now().timestamp_millis() - age_ms).to_string();
    reqwest::Client::new()
        .post(url)
        .header("timestamp", &ts)
        .header("sign", ding_sign(secret, &ts))
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn inbound_count(running: &Running, msg_id: &str) -> i64 {
    platform::inbound_count(running, "钉钉督导", msg_id).await
}

#[tokio::test]
async fn the_app_robot_binds_answers_and_reminds() {
    let fake: Fake = Arc::new(Mutex::new(Seen::default()));
    let base = fake_dingtalk(fake.clone()).await;
    let (running, _dir) = start(&format!("{}{}", app_toml(&base), robot_toml(&base))).await;
    let url = format!("http://{}/dingtalk/callback", running.http_addr);
    let long = chrono::Duration::minutes(90);

    // Binding, privately: the answer goes back through the message's session webhook.
    let code = binding_code(&running, "D002").await;
    let r = post_signed(
        &url,
        &event(&base, "msgBind01", true, "dt-han-0002", &format!("绑定 {code}"), long),
        APP_SECRET,
        0,
    )
    .await;
    assert_eq!(r.status(), 200);
    wait_for("the binding answer", || !fake.lock().unwrap().session.is_empty()).await;
    {
        let s = fake.lock().unwrap();
        let (session, body) = &s.session[0];
        assert_eq!(session, "s-msgBind01");
        assert_eq!(body["msgtype"], "text");
        assert!(body["text"]["content"].as_str().unwrap().contains("绑定成功"), "{body}");
        assert_eq!(s.tokens, 0, "a session reply needs no access token");
    }
    let bound: String = dudao::sql::query_scalar(
        "SELECT p.code FROM chat_accounts a JOIN people p ON p.id = a.person_id WHERE a.platform = 'dingtalk' AND a.account_id = 'dt-han-0002'",
    )
    .fetch_one(&running.app.db)
    .await
    .unwrap();
    assert_eq!(bound, "D002");

    // A command in a group, @-ing the robot, whose session webhook is about to expire: the
    // answer goes through the robot API into the group instead.
    let r = post_signed(
        &url,
        &event(&base, "msgHelp02", false, "dt-han-0002", "帮助", chrono::Duration::seconds(20)),
        APP_SECRET,
        0,
    )
    .await;
    assert_eq!(r.status(), 200);
    wait_for("the answer through groupMessages/send", || !fake.lock().unwrap().api.is_empty()).await;
    {
        let s = fake.lock().unwrap();
        let (path, token, body) = &s.api[0];
        assert_eq!(path, "/v1.0/robot/groupMessages/send");
        assert_eq!(token, "at-1");
        assert_eq!(body["robotCode"], APP_KEY);
        assert_eq!(body["openConversationId"], "cidGroupZ02+/x==");
        assert_eq!(body["msgKey"], "sampleText");
        let param: Value = serde_json::from_str(body["msgParam"].as_str().unwrap()).unwrap();
        assert!(param["content"].as_str().unwrap().contains("可用指令"), "{param}");
        assert_eq!(s.session.len(), 1);
    }

    // An unprompted reminder to the bound person: privately, by user id; the private chat's
    // session webhook is still valid, so it goes there (the next test covers the robot API).
    let d002 = person_id(&running, "D002").await;
    enqueue(&running, "remind-d002", Recipient::Person(d002), "请于周五下班前提交本周督导周报").await;
    // And one to a person with no DingTalk account: by mobile in the zone's robot group.
    let d007 = person_id(&running, "D007").await;
    enqueue(&running, "remind-d007", Recipient::Person(d007), "请确认城关二小的随访安排").await;
    wait_for("both reminders", || {
        let s = fake.lock().unwrap();
        s.session.len() + s.api.len() >= 3 && !s.robot.is_empty()
    })
    .await;
    {
        let s = fake.lock().unwrap();
        // The private chat's session webhook was still valid: used, no token needed.
        let (session, body) = s.session.last().unwrap();
        assert_eq!(session, "s-msgBind01");
        assert_eq!(body["text"]["content"], "请于周五下班前提交本周督导周报");
        let (robot, _) = &s.robot[0];
        assert_eq!(robot["text"]["content"], "@19900001334 请确认城关二小的随访安排");
        assert_eq!(robot["at"]["atMobiles"], json!(["19900001334"]));
        assert!(s.robot_refused.is_empty(), "{:?}", s.robot_refused);
    }
    assert_eq!(settled_status(&running, "remind-d002").await, ("sent".to_string(), 1));
    assert_eq!(settled_status(&running, "remind-d007").await, ("sent".to_string(), 1));
    let (via, chat): (String, String) =
        dudao::sql::query_as("SELECT channel, chat_id FROM outbox WHERE idempotency_key = 'remind-d002'")
            .fetch_one(&running.app.db)
            .await
            .unwrap();
    assert_eq!((via.as_str(), chat.as_str()), ("钉钉督导", "dt-han-0002"));
    running.stop().await;
}

#[tokio::test]
async fn reminders_go_through_the_robot_api_when_no_session_is_left() {
    let fake: Fake = Arc::new(Mutex::new(Seen::default()));
    let base = fake_dingtalk(fake.clone()).await;
    let (running, _dir) = start(&app_toml(&base)).await;
    // Bound as `绑定` binds (the account row), with no conversation since.
    let d003 = person_id(&running, "D003").await;
    let url = format!("http://{}/dingtalk/callback", running.http_addr);
    let code = binding_code(&running, "D003").await;
    let ev = event(&base, "msgBind03", true, "dt-zhu-0003", &format!("绑定 {code}"), chrono::Duration::seconds(5));
    assert_eq!(post_signed(&url, &ev, APP_SECRET, 0).await.status(), 200);
    wait_for("the binding answer", || !fake.lock().unwrap().api.is_empty()).await;
    enqueue(&running, "remind-d003", Recipient::Person(d003), "本月专项督导记录尚未提交").await;
    wait_for("the reminder", || fake.lock().unwrap().api.len() >= 2).await;
    {
        let s = fake.lock().unwrap();
        assert!(s.session.is_empty());
        let (path, token, body) = &s.api[1];
        assert_eq!(path, "/v1.0/robot/oToMessages/batchSend");
        assert_eq!(token, "at-1", "the token is cached");
        assert_eq!(body["userIds"], json!(["dt-zhu-0003"]));
        let param: Value = serde_json::from_str(body["msgParam"].as_str().unwrap()).unwrap();
        assert_eq!(param["content"], "本月专项督导记录尚未提交");
        assert_eq!(s.tokens, 1);
    }
    assert_eq!(settled_status(&running, "remind-d003").await, ("sent".to_string(), 1));
    running.stop().await;
}

#[tokio::test]
async fn forged_and_stale_callbacks_are_refused_and_a_replay_is_acted_on_once() {
    let fake: Fake = Arc::new(Mutex::new(Seen::default()));
    let base = fake_dingtalk(fake.clone()).await;
    let (running, _dir) = start(&app_toml(&base)).await;
    let url = format!("http://{}/dingtalk/callback", running.http_addr);
    let long = chrono::Duration::minutes(90);
    let http = reqwest::Client::new();

    // Signed with another secret, unsigned, a sign that is not base64, an hour and more old.
    let ev = event(&base, "msgForged1", true, "mallory", "帮助", long);
    assert_eq!(post_signed(&url, &ev, "not-the-app-secret", 0).await.status(), 403);
    assert_eq!(http.post(&url).json(&ev).send().await.unwrap().status(), 403);
    let ts = chrono::Utc::now().timestamp_millis().to_string();
    let r = http.post(&url).header("timestamp", &ts).header("sign", "伪造").json(&ev).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(post_signed(&url, &ev, APP_SECRET, 3_600_000 + 5_000).await.status(), 403, "stale");
    assert_eq!(post_signed(&url, &ev, APP_SECRET, -3_600_000 - 5_000).await.status(), 403, "from the future");
    assert_eq!(inbound_count(&running, "msgForged1").await, 0);
    // A signed but malformed body.
    let r = post_signed(&url, &json!({"msgtype": "text", "conversationType": "1"}), APP_SECRET, 0).await;
    assert_eq!(r.status(), 400);

    // The same message three times, two at once (a replay, or DingTalk retrying): one row, one answer.
    let ev = event(&base, "msgReplay1", true, "zhangsan-x", "帮助", long);
    let (a, b) = tokio::join!(post_signed(&url, &ev, APP_SECRET, 0), post_signed(&url, &ev, APP_SECRET, 0));
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    assert_eq!(post_signed(&url, &ev, APP_SECRET, 1_000).await.status(), 200);
    assert_eq!(inbound_count(&running, "msgReplay1").await, 1);
    wait_for("the answer", || !fake.lock().unwrap().session.is_empty()).await;
    running.drain(WAIT).await;
    let answers: i64 = dudao::sql::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE source = (SELECT 'inbound:' || id FROM inbound_messages WHERE platform_msg_id = 'msgReplay1')",
    )
    .fetch_one(&running.app.db)
    .await
    .unwrap();
    assert_eq!(answers, 1);
    {
        let s = fake.lock().unwrap();
        assert_eq!(s.session.len(), 1, "answered once: {:?}", s.session);
        assert!(s.session[0].1["text"]["content"].as_str().unwrap().contains("尚未绑定"), "{:?}", s.session[0].1);
    }
    running.stop().await;
}

#[tokio::test]
async fn the_custom_robot_signs_every_send_and_waits_out_send_too_fast() {
    let fake: Fake = Arc::new(Mutex::new(Seen { robot_throttle_first: 1, ..Default::default() }));
    let base = fake_dingtalk(fake.clone()).await;
    let (running, _dir) = start(&robot_toml(&base)).await;
    let group = dudao::chat::ChatRef::group("dt-z01", "z01-dingtalk");
    let t0 = Instant::now();
    enqueue(&running, "g1", Recipient::Chat(group.clone()), "本周五下午召开责任区督学例会").await;
    wait_for("the robot message", || !fake.lock().unwrap().robot.is_empty()).await;
    {
        let s = fake.lock().unwrap();
        assert_eq!(s.robot_refused, vec![130101]);
        assert!(s.robot[0].1 - t0 >= Duration::from_millis(900), "retried too early: {:?}", s.robot[0].1 - t0);
        assert_eq!(s.robot[0].0["text"]["content"], "本周五下午召开责任区督学例会");
        assert_eq!(s.robot[0].0["at"]["isAtAll"], false);
    }
    // "Send too fast" is not a failed attempt.
    assert_eq!(settled_status(&running, "g1").await, ("sent".to_string(), 1));
    running.stop().await;

    // A wrong secret: DingTalk refuses the signature, a permanent failure naming neither secret.
    let (running, _dir) = start(&robot_toml(&base).replace(ROBOT_SECRET, "SECwrong-secret")).await;
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
    assert!(err.contains("310000"), "{err}");
    assert!(!err.contains("SECwrong") && !err.contains(ROBOT_TOKEN), "a secret leaked into the error: {err}");
    running.stop().await;
}

/// The outbox paces the robot to its declared budget: of 21 reminders queued at once, exactly
/// 20 reach DingTalk (whose stand-in refuses a 21st within the minute) and the 21st waits for the
/// minute to pass instead of triggering the 10-minute mute. (That it then goes out, 60 seconds
/// later, is shown without waiting by the pacing unit test in `chat::dingtalk::robot`.)
#[tokio::test]
async fn twenty_one_reminders_at_once_stay_within_the_robot_minute() {
    let fake: Fake = Arc::new(Mutex::new(Seen::default()));
    let base = fake_dingtalk(fake.clone()).await;
    let (running, _dir) =
        start(&robot_toml(&base).replace("rate_limited_retry_secs = 1\n", "max_per_minute = 20\n")).await;
    let group = dudao::chat::ChatRef::group("dt-z01", "z01-dingtalk");
    let app = &running.app;
    let mut tx = dudao::db::begin_write(&app.db).await.unwrap();
    for i in 1..=21 {
        let text = format!("第{i}所学校的整改期限临近，请督促落实");
        let env = Envelope::new(
            format!("r{i:02}"),
            Recipient::Chat(group.clone()),
            vec![dudao::chat::Segment::text(text)],
            "test",
        );
        dudao::outbox::enqueue(&mut tx, &app.directory, app.clock.now(), env).await.unwrap();
    }
    tx.commit().await.unwrap();
    app.outbox_notify.notify_waiters();
    wait_for("twenty sends", || fake.lock().unwrap().robot.len() >= 20).await;
    // The 21st is held back by the limiter, not refused by DingTalk.
    let deadline = Instant::now() + WAIT;
    loop {
        let sent: i64 =
            dudao::sql::query_scalar("SELECT COUNT(*) FROM outbox WHERE channel = 'dt-z01' AND status = 'sent'")
                .fetch_one(&running.app.db)
                .await
                .unwrap();
        if sent == 20 {
            break;
        }
        assert!(Instant::now() < deadline, "only {sent} recorded sent");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_ne!(outbox_status(&running, "r21").await.0, "sent");
    {
        let s = fake.lock().unwrap();
        assert_eq!(s.robot.len(), 20);
        assert!(s.robot_refused.is_empty(), "DingTalk refused: {:?}", s.robot_refused);
        // In queue order.
        assert!(s.robot[19].0["text"]["content"].as_str().unwrap().starts_with("第20所"));
    }
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
    let e = err("[channels.dingtalk.app]\napp_key = \"k\"\n");
    assert_eq!(e.key, "channels.dingtalk.app.app_secret");
    let e = err("[channels.dingtalk.app]\napp_secret = \"s3cr3t-value\"\n");
    assert_eq!(e.key, "channels.dingtalk.app.app_key");
    assert!(!e.to_string().contains("s3cr3t-value"));
    let e = err("[channels.dingtalk.app]\napp_key = \"k\"\napp_secret = \"s\"\nmax_clock_skew_secs = 7200\n");
    assert_eq!(e.key, "channels.dingtalk.app.max_clock_skew_secs");
    let e = err("[channels.dingtalk.app]\napp_key = \"k\"\napp_secret = \"s\"\ncallback_path = \"no-slash\"\n");
    assert_eq!(e.key, "channels.dingtalk.app.callback_path");
    let e = err("[channels.dingtalk.app]\napp_key = \"k\"\napp_secret = \"s\"\nreceive = \"callback\"\ncallback_path = \"/healthz\"\n");
    assert_eq!(e.key, "channels.dingtalk.app.callback_path");
    let e = err("[channels.dingtalk.app]\napp_key = \"k\"\napp_secret = \"s\"\nagent = 1\n");
    assert_eq!(e.key, "channels.dingtalk.app.agent");
    let e = err("[[channels.dingtalk.robots]]\nname = \"r1\"\n");
    assert_eq!(e.key, "channels.dingtalk.robots[0].access_token");
    let e = err("[[channels.dingtalk.robots]]\nname = \"r1\"\naccess_token = \"t\"\nsecret = \"plain-secret-x\"\n");
    assert_eq!(e.key, "channels.dingtalk.robots[0].secret");
    assert!(!e.to_string().contains("plain-secret-x"));
    let e = err("[[channels.dingtalk.robots]]\nname = \"r1\"\naccess_token = \"t\"\nmax_per_minute = 30\n");
    assert_eq!(e.key, "channels.dingtalk.robots[0].max_per_minute");
    let e = err("[[channels.dingtalk.robots]]\nname = \"r1\"\naccess_token = \"t\"\n\
         [[groups]]\nchannel = \"r1\"\nid = \"elsewhere\"\npurpose = \"supervisors\"\n");
    assert_eq!(e.key, "groups[0].id");
    let e = err("[[channels.dingtalk.robots]]\nname = \"console\"\naccess_token = \"t\"\n");
    assert_eq!(e.key, "channels.dingtalk.robots[0].name");
    // Disabled entries are not checked.
    let db = dir.path().join("y.sqlite");
    let ok = format!(
        "[database]\npath = \"{}\"\n[channels.dingtalk.app]\nenabled = false\n[[channels.dingtalk.robots]]\nname = \"r\"\nenabled = false\n",
        db.display().to_string().replace('\\', "/")
    );
    assert!(dudao::config::Settings::from_toml_over_default(&ok).is_ok());
}

/// A school sends its rectification report, then the photo, to the app robot: the picture's
/// download code is resolved through `messageFiles/download` and the photo lands in the ledger.
#[tokio::test]
async fn a_picture_sent_to_the_robot_becomes_evidence() {
    let fake: Fake = Arc::new(Mutex::new(Seen::default()));
    let base = fake_dingtalk(fake.clone()).await;
    // The fetcher is driven by hand; the fake's "storage" is on loopback, so it is allowed.
    let rectify = "[rectify]\nsweep_cron = \"\"\nevidence_poll_secs = 3600\nevidence_max_attempts = 1\n\
                   evidence_allow_hosts = [\"127.0.0.1\"]\n";
    let (running, _dir) = start(&format!("{}{rectify}", app_toml(&base))).await;
    let url = format!("http://{}/dingtalk/callback", running.http_addr);
    let long = chrono::Duration::minutes(90);
    let say = |id: &str, staff: &str, text: &str| event(&base, id, true, staff, text, long);
    for (staff, person, id) in [("dt-hao-0008", "D008", "b1"), ("dt-peng-0001", "C0001", "b2")] {
        let code = binding_code(&running, person).await;
        let r = post_signed(&url, &say(id, staff, &format!("绑定 {code}")), APP_SECRET, 0).await;
        assert_eq!(r.status(), 200);
    }
    let r = post_signed(&url, &say("p1", "dt-hao-0008", "记问题 实验小学 6 楼道灭火器过期"), APP_SECRET, 0).await;
    assert_eq!(r.status(), 200);
    let r = post_signed(&url, &say("p2", "dt-peng-0001", "完成 W1 已更换全部灭火器"), APP_SECRET, 0).await;
    assert_eq!(r.status(), 200);
    let mut picture = say("p3", "dt-peng-0001", "");
    picture["msgtype"] = json!("picture");
    picture["content"] = json!({"downloadCode": "dc-corridor"});
    picture.as_object_mut().unwrap().remove("text");
    let r = post_signed(&url, &picture, APP_SECRET, 0).await;
    assert_eq!(r.status(), 200);
    wait_for("the photo to be taken as evidence", || {
        fake.lock().unwrap().session.iter().any(|(s, b)| s == "s-p3" && b.to_string().contains("W1"))
    })
    .await;

    let (status, channel, stored, report) = platform::first_evidence(&running).await;
    assert_eq!((status.as_str(), channel.as_str()), ("stored", "钉钉督导"), "{report}");
    assert_eq!(stored.unwrap(), PICTURE);
    assert_eq!(fake.lock().unwrap().downloads, vec!["corridor.jpg".to_string()]);
}
