//! DingTalk Stream mode against a fake gateway on loopback speaking the Stream protocol: the
//! registration (`/v1.0/gateway/connections/open`), the WebSocket at `endpoint?ticket=…`, SYSTEM
//! `ping` answered, robot messages as CALLBACK frames (binding, a command answered through the
//! session webhook), each ACK sent only once the message is stored (and none when storing takes
//! too long, so DingTalk delivers it again), a redelivered frame acted on once, SYSTEM `disconnect` followed by a fresh registration and connection, a cut connection
//! reconnected; and wrong credentials reported in the channel's health and logs without the
//! secret.

mod common;
use common::logs::Logs;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use axum::{Json, Router};
use common::platform::{self, binding_code, start, wait_for, WAIT};
use dudao::chat::HealthState;
use dudao::service::Running;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

const APP_KEY: &str = "dingst7zq02app";
const APP_SECRET: &str = "Kx9-stream_secret-for-tests";
const BOT_TOPIC: &str = "/v1.0/im/bot/messages/get";
/// Pushed to a connection, makes the fake close it.
const CLOSE: &str = "<close>";

#[derive(Default)]
struct Gateway {
    base: String,
    /// Registration bodies received (the accepted and the refused).
    registrations: Vec<Value>,
    /// The tickets handed out; a ticket opens one connection.
    tickets: Vec<String>,
    /// Tickets the WebSocket connections came with, in order.
    connected_with: Vec<String>,
    /// Frames to push into each connection.
    conns: Vec<mpsc::UnboundedSender<String>>,
    /// Session webhook posts: (session, body).
    session: Vec<(String, Value)>,
    /// Client frames go here: (connection index, frame).
    from_client: Option<mpsc::UnboundedSender<(usize, Value)>>,
}

type Fake = Arc<Mutex<Gateway>>;

async fn open_connection(State(f): State<Fake>, Json(body): Json<Value>) -> (StatusCode, Json<Value>) {
    let mut g = f.lock().unwrap();
    g.registrations.push(body.clone());
    if body["clientId"] != APP_KEY || body["clientSecret"] != APP_SECRET {
        let e = json!({"code": "invalidClientIdOrSecret", "message": "无效的clientId或者clientSecret"});
        return (StatusCode::UNAUTHORIZED, Json(e));
    }
    let ticket = format!("tk-{}-{}", g.tickets.len() + 1, "a+b/c");
    g.tickets.push(ticket.clone());
    let endpoint = format!("{}/gateway/connect", g.base.replace("http://", "ws://"));
    (StatusCode::OK, Json(json!({"endpoint": endpoint, "ticket": ticket})))
}

async fn gateway_ws(State(f): State<Fake>, Query(q): Query<HashMap<String, String>>, ws: WebSocketUpgrade) -> Response {
    let ticket = q.get("ticket").cloned().unwrap_or_default();
    {
        let g = f.lock().unwrap();
        // Only the latest ticket, once.
        if g.tickets.last() != Some(&ticket) || g.connected_with.contains(&ticket) {
            return (StatusCode::FORBIDDEN, "bad ticket").into_response();
        }
    }
    ws.on_upgrade(move |socket| serve(f, ticket, socket))
}

async fn serve(f: Fake, ticket: String, socket: WebSocket) {
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let (idx, to_test) = {
        let mut g = f.lock().unwrap();
        g.connected_with.push(ticket);
        g.conns.push(tx);
        (g.conns.len() - 1, g.from_client.clone().unwrap())
    };
    let (mut sink, mut stream) = socket.split();
    tokio::spawn(async move {
        while let Some(t) = rx.recv().await {
            if t == CLOSE {
                // The gateway drops the connection without a word (a network cut, a restart).
                let _ = sink.close().await;
                break;
            }
            if sink.send(Message::Text(t.into())).await.is_err() {
                break;
            }
        }
    });
    while let Some(Ok(m)) = stream.next().await {
        if let Message::Text(t) = m {
            let v: Value = serde_json::from_str(t.as_str()).expect("client frames are JSON");
            let _ = to_test.send((idx, v));
        }
    }
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

async fn fake_gateway() -> (Fake, mpsc::UnboundedReceiver<(usize, Value)>, String) {
    let (tx, rx) = mpsc::unbounded_channel();
    let fake: Fake = Arc::new(Mutex::new(Gateway { from_client: Some(tx), ..Default::default() }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    fake.lock().unwrap().base = base.clone();
    let app = Router::new()
        .route("/v1.0/gateway/connections/open", post(open_connection))
        .route("/gateway/connect", any(gateway_ws))
        .route("/robot/sendBySession", post(session_send))
        .with_state(fake.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (fake, rx, base)
}

fn app_toml(base: &str, secret: &str) -> String {
    format!(
        "[channels.dingtalk.app]\nname = \"钉钉流式\"\napp_key = \"{APP_KEY}\"\napp_secret = \"{secret}\"\n\
         api_base_url = \"{base}\"\noapi_base_url = \"{base}\"\nreconnect_initial_ms = 50\nreconnect_max_ms = 200\n"
    )
}

/// A robot message as DingTalk puts it in a CALLBACK frame's `data`.
fn robot_message(base: &str, msg_id: &str, private: bool, staff: &str, text: &str) -> String {
    let now = chrono::Utc::now();
    json!({
        "msgId": msg_id,
        "msgtype": "text",
        "conversationType": if private { "1" } else { "2" },
        "conversationId": if private { "cidPrivS01" } else { "cidGroupS03==" },
        "conversationTitle": "第三责任区流式测试群",
        "senderStaffId": staff,
        "senderId": format!("$:LWCP_v1:${staff}"),
        "senderNick": "流式督学",
        "robotCode": APP_KEY,
        "isInAtList": true,
        "createAt": now.timestamp_millis(),
        "sessionWebhook": format!("{base}/robot/sendBySession?session=s-{msg_id}"),
        "sessionWebhookExpiredTime": (now + chrono::Duration::minutes(90)).timestamp_millis(),
        "text": {"content": format!(" {text}")},
    })
    .to_string()
}

fn frame(kind: &str, topic: &str, message_id: &str, data: &str) -> String {
    json!({
        "specVersion": "1.0",
        "type": kind,
        "headers": {
            "appId": "app-s03",
            "connectionId": "conn-s03",
            "contentType": "application/json",
            "messageId": message_id,
            "time": chrono::Utc::now().timestamp_millis().to_string(),
            "topic": topic,
        },
        "data": data,
    })
    .to_string()
}

fn push(fake: &Fake, conn: usize, text: String) {
    fake.lock().unwrap().conns[conn].send(text).unwrap();
}

async fn next_frame(rx: &mut mpsc::UnboundedReceiver<(usize, Value)>) -> (usize, Value) {
    tokio::time::timeout(WAIT, rx.recv()).await.expect("a frame from Dudao in time").expect("the fake is running")
}

fn health(running: &Running) -> dudao::chat::ChannelHealth {
    dudao::app::health::channels(&running.app)
        .into_iter()
        .find(|(name, _, _)| name == "钉钉流式")
        .map(|(_, _, h)| h)
        .expect("the channel runs")
}

async fn wait_health(running: &Running, state: HealthState) -> dudao::chat::ChannelHealth {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let h = health(running);
        if h.state == state {
            return h;
        }
        assert!(std::time::Instant::now() < deadline, "health never {state:?}: {h:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn inbound_count(running: &Running, msg_id: &str) -> i64 {
    platform::inbound_count(running, "钉钉流式", msg_id).await
}

/// Checks an ACK for `message_id` arrived on connection `conn`.
fn assert_ack(got: &(usize, Value), conn: usize, message_id: &str, data: &str) {
    let (c, a) = got;
    assert_eq!(*c, conn, "{a}");
    assert_eq!(a["code"], 200, "{a}");
    assert_eq!(a["headers"]["messageId"], message_id, "{a}");
    assert_eq!(a["headers"]["contentType"], "application/json", "{a}");
    assert_eq!(a["message"], "OK", "{a}");
    assert_eq!(a["data"], data, "{a}");
}

#[tokio::test]
async fn stream_mode_binds_answers_acks_after_storing_and_reconnects() {
    let (fake, mut from_client, base) = fake_gateway().await;
    // `receive` is left out: Stream mode is the default.
    let (running, _dir) = start(&app_toml(&base, APP_SECRET)).await;
    wait_for("the first connection", || fake.lock().unwrap().conns.len() == 1).await;
    {
        let g = fake.lock().unwrap();
        let r = &g.registrations[0];
        assert_eq!(r["clientId"], APP_KEY);
        assert_eq!(r["subscriptions"], json!([{"type": "CALLBACK", "topic": BOT_TOPIC}]));
        assert!(r["ua"].as_str().unwrap().starts_with("dudao/"), "{r}");
        assert_eq!(g.connected_with, vec![g.tickets[0].clone()], "the ticket, URL-encoded, opened the connection");
    }
    wait_health(&running, HealthState::Up).await;
    // No callback route in Stream mode.
    let r = reqwest::Client::new()
        .post(format!("http://{}/dingtalk/callback", running.http_addr))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // SYSTEM ping: answered with the same messageId and data.
    push(&fake, 0, frame("SYSTEM", "ping", "ping-s01", r#"{"opaque":"d6a1-流式"}"#));
    assert_ack(&next_frame(&mut from_client).await, 0, "ping-s01", r#"{"opaque":"d6a1-流式"}"#);

    // Binding, privately, as a CALLBACK frame: the ACK comes once the row is stored.
    let code = binding_code(&running, "D004").await;
    push(
        &fake,
        0,
        frame(
            "CALLBACK",
            BOT_TOPIC,
            "cb-s01",
            &robot_message(&base, "msgS01", true, "dt-liu-0004", &format!("绑定 {code}")),
        ),
    );
    let got = next_frame(&mut from_client).await;
    assert_eq!(inbound_count(&running, "msgS01").await, 1, "stored before the ACK arrived");
    assert_ack(&got, 0, "cb-s01", r#"{"response":null}"#);
    wait_for("the binding answer", || !fake.lock().unwrap().session.is_empty()).await;
    {
        let g = fake.lock().unwrap();
        let (session, body) = &g.session[0];
        assert_eq!(session, "s-msgS01");
        assert!(body["text"]["content"].as_str().unwrap().contains("绑定成功"), "{body}");
    }
    let bound: String = dudao::sql::query_scalar(
        "SELECT p.code FROM chat_accounts a JOIN people p ON p.id = a.person_id WHERE a.platform = 'dingtalk' AND a.account_id = 'dt-liu-0004'",
    )
    .fetch_one(&running.app.db)
    .await
    .unwrap();
    assert_eq!(bound, "D004");

    // A command in a group, answered through that message's session webhook.
    let help = robot_message(&base, "msgS02", false, "dt-liu-0004", "帮助");
    push(&fake, 0, frame("CALLBACK", BOT_TOPIC, "cb-s02", &help));
    let got = next_frame(&mut from_client).await;
    assert_eq!(inbound_count(&running, "msgS02").await, 1, "stored before the ACK arrived");
    assert_ack(&got, 0, "cb-s02", r#"{"response":null}"#);
    wait_for("the command's answer", || fake.lock().unwrap().session.len() >= 2).await;
    {
        let g = fake.lock().unwrap();
        let (session, body) = &g.session[1];
        assert_eq!(session, "s-msgS02");
        assert!(body["text"]["content"].as_str().unwrap().contains("可用指令"), "{body}");
    }

    // DingTalk delivers the same message again (its ACK was lost): acknowledged, not acted on.
    push(&fake, 0, frame("CALLBACK", BOT_TOPIC, "cb-s02-again", &help));
    assert_ack(&next_frame(&mut from_client).await, 0, "cb-s02-again", r#"{"response":null}"#);
    assert_eq!(inbound_count(&running, "msgS02").await, 1);
    // A later command is answered; the redelivered one never was.
    push(
        &fake,
        0,
        frame("CALLBACK", BOT_TOPIC, "cb-s03", &robot_message(&base, "msgS03", true, "dt-liu-0004", "帮助")),
    );
    assert_ack(&next_frame(&mut from_client).await, 0, "cb-s03", r#"{"response":null}"#);
    wait_for("the later answer", || fake.lock().unwrap().session.len() >= 3).await;
    running.drain(WAIT).await;
    {
        let g = fake.lock().unwrap();
        let sessions: Vec<&str> = g.session.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(sessions, vec!["s-msgS01", "s-msgS02", "s-msgS03"]);
    }

    // SYSTEM disconnect: a fresh registration, a new ticket, a new connection.
    push(&fake, 0, frame("SYSTEM", "disconnect", "dc-s01", r#"{"reason":"rebalance"}"#));
    assert_ack(&next_frame(&mut from_client).await, 0, "dc-s01", r#"{"reason":"rebalance"}"#);
    wait_for("a fresh registration and connection", || fake.lock().unwrap().conns.len() == 2).await;
    {
        let g = fake.lock().unwrap();
        assert_eq!(g.registrations.len(), 2);
        assert_eq!(g.connected_with, g.tickets);
        assert_ne!(g.tickets[0], g.tickets[1]);
    }
    push(&fake, 1, frame("SYSTEM", "ping", "ping-s02", "{}"));
    assert_ack(&next_frame(&mut from_client).await, 1, "ping-s02", "{}");
    wait_health(&running, HealthState::Up).await;

    // The connection is cut: registered and connected again after the backoff delay, and a
    // message on the new connection is stored and acknowledged as before.
    push(&fake, 1, CLOSE.to_string());
    wait_for("a reconnection after the cut", || fake.lock().unwrap().conns.len() == 3).await;
    assert_eq!(fake.lock().unwrap().registrations.len(), 3);
    push(
        &fake,
        2,
        frame("CALLBACK", BOT_TOPIC, "cb-s04", &robot_message(&base, "msgS04", true, "dt-liu-0004", "帮助")),
    );
    let got = next_frame(&mut from_client).await;
    assert_eq!(inbound_count(&running, "msgS04").await, 1, "stored before the ACK arrived");
    assert_ack(&got, 2, "cb-s04", r#"{"response":null}"#);
    wait_health(&running, HealthState::Up).await;
    running.stop().await;
}

#[tokio::test]
async fn wrong_credentials_at_registration_are_reported_without_the_secret() {
    let (fake, _from_client, base) = fake_gateway().await;
    let wrong = "Wr0ng-stream-secret-77";
    // The test's runtime is single-threaded: the service's tasks log through this subscriber.
    let (logs, _guard) = Logs::capture(tracing::Level::TRACE);
    let (running, _dir) = start(&app_toml(&base, wrong)).await;
    let h = wait_health(&running, HealthState::Down).await;
    assert!(h.detail.contains("401") && h.detail.contains("app_secret"), "{h:?}");
    assert!(h.detail.contains("invalidClientIdOrSecret"), "{h:?}");
    assert!(!h.detail.contains(wrong), "{h:?}");
    // Tried again with backoff, never connected.
    wait_for("a retry", || fake.lock().unwrap().registrations.len() >= 2).await;
    assert!(fake.lock().unwrap().conns.is_empty());
    running.stop().await;
    let logged = logs.text();
    assert!(logged.contains("cannot connect to DingTalk's Stream gateway"), "{logged}");
    assert!(logged.contains("invalidClientIdOrSecret"), "{logged}");
    assert!(!logged.contains(wrong), "the secret was logged: {logged}");
}

#[tokio::test]
async fn a_message_not_stored_in_time_is_left_unacknowledged_and_redelivery_acts_on_it() {
    let (fake, mut from_client, base) = fake_gateway().await;
    let (logs, _guard) = Logs::capture(tracing::Level::WARN);
    let (running, _dir) = start(&format!("{}ack_timeout_ms = 200\n", app_toml(&base, APP_SECRET))).await;
    wait_for("the connection", || fake.lock().unwrap().conns.len() == 1).await;

    // The database is busy (another writer holds it) longer than `ack_timeout_ms`.
    let busy = dudao::db::begin_write(&running.app.db).await.unwrap();
    let msg = robot_message(&base, "msgSlow1", true, "dt-slow-0009", "帮助");
    push(&fake, 0, frame("CALLBACK", BOT_TOPIC, "cb-slow-1", &msg));
    wait_for("the message left unacknowledged", || logs.text().contains("left unacknowledged for redelivery")).await;
    drop(busy);
    // The store itself goes on and lands; the answer waits for DingTalk to deliver it again.
    let deadline = std::time::Instant::now() + WAIT;
    while inbound_count(&running, "msgSlow1").await == 0 {
        assert!(std::time::Instant::now() < deadline, "the slow store never landed");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    push(&fake, 0, frame("CALLBACK", BOT_TOPIC, "cb-slow-2", &msg));
    // The first frame Dudao sends is the redelivery's ACK: the slow one was never acknowledged.
    assert_ack(&next_frame(&mut from_client).await, 0, "cb-slow-2", r#"{"response":null}"#);
    assert_eq!(inbound_count(&running, "msgSlow1").await, 1);
    wait_for("the answer", || !fake.lock().unwrap().session.is_empty()).await;
    running.drain(WAIT).await;
    assert_eq!(fake.lock().unwrap().session.len(), 1, "acted on once");
    assert!(from_client.try_recv().is_err(), "no late ACK for the first delivery");
    running.stop().await;
}

#[test]
fn an_unknown_receive_mode_names_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.sqlite");
    let toml = format!(
        "[database]\npath = \"{}\"\n[channels.dingtalk.app]\napp_key = \"k\"\napp_secret = \"s\"\nreceive = \"websocket\"\n",
        db.display().to_string().replace('\\', "/")
    );
    let e = dudao::config::Settings::from_toml_over_default(&toml).unwrap_err();
    assert!(e.key.starts_with("channels.dingtalk.app"), "{e:?}");
    assert!(e.to_string().contains("receive"), "{e}");
}
