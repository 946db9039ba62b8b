//! The WeCom self-built app's group chats (appchat) against a fake WeCom on loopback: a group chat
//! created with `appchat/create` (by the CLI, which also posts the first message so WeCom shows
//! the group), an unprompted reminder reaching it through `appchat/send` with the app's cached
//! token (fetched again once when WeCom calls it expired), a refused chat id dead-lettered with
//! WeCom's code, and a group of the app that cannot be an appchat refused in the configuration.

mod common;

use axum::extract::{Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use common::platform::{settled_outcome as settled, start};
use dudao::outbox::{Envelope, Recipient};
use dudao::service::Running;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const CORP_ID: &str = "ww7d3a90c1e5f2b801";
const APP_SECRET: &str = "appchat-secret-value";
const CHAT: &str = "dudaoSupervisors01";

#[derive(Default)]
struct Seen {
    tokens: usize,
    /// appchat/create bodies.
    created: Vec<Value>,
    /// appchat/send: (token, body).
    sent: Vec<(String, Value)>,
    /// Answer this many sends "access_token expired" first.
    expire_first: usize,
}

type Fake = Arc<Mutex<Seen>>;

async fn gettoken(State(f): State<Fake>, Query(q): Query<HashMap<String, String>>) -> Json<Value> {
    if q.get("corpid").map(String::as_str) != Some(CORP_ID)
        || q.get("corpsecret").map(String::as_str) != Some(APP_SECRET)
    {
        return Json(json!({"errcode": 40001, "errmsg": "invalid credential"}));
    }
    let mut s = f.lock().unwrap();
    s.tokens += 1;
    Json(json!({"errcode": 0, "errmsg": "ok", "access_token": format!("tok-{}", s.tokens), "expires_in": 7200}))
}

fn token_ok(q: &HashMap<String, String>) -> bool {
    q.get("access_token").is_some_and(|t| t.starts_with("tok-"))
}

async fn create(
    State(f): State<Fake>,
    Query(q): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    if !token_ok(&q) {
        return Json(json!({"errcode": 40014, "errmsg": "invalid access_token"}));
    }
    let users = body["userlist"].as_array().map_or(0, Vec::len);
    f.lock().unwrap().created.push(body.clone());
    if !(2..=2000).contains(&users) {
        return Json(json!({"errcode": 86006, "errmsg": "invalid chat member list size"}));
    }
    let id = body["chatid"].as_str().filter(|s| !s.is_empty()).unwrap_or("wrGenerated0001").to_string();
    Json(json!({"errcode": 0, "errmsg": "ok", "chatid": id}))
}

async fn send(State(f): State<Fake>, Query(q): Query<HashMap<String, String>>, Json(body): Json<Value>) -> Json<Value> {
    let mut s = f.lock().unwrap();
    if !token_ok(&q) {
        return Json(json!({"errcode": 40014, "errmsg": "invalid access_token"}));
    }
    if s.expire_first > 0 {
        s.expire_first -= 1;
        return Json(json!({"errcode": 42001, "errmsg": "access_token expired"}));
    }
    let known = s.created.iter().any(|c| c["chatid"] == body["chatid"]) || body["chatid"] == CHAT;
    s.sent.push((q["access_token"].clone(), body));
    if !known {
        return Json(json!({"errcode": 86001, "errmsg": "chatid invalid"}));
    }
    Json(json!({"errcode": 0, "errmsg": "ok"}))
}

async fn fake_wecom(fake: Fake) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/cgi-bin/gettoken", get(gettoken))
        .route("/cgi-bin/appchat/create", post(create))
        .route("/cgi-bin/appchat/send", post(send))
        .with_state(fake);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

fn app_toml(base: &str) -> String {
    format!(
        "[channels.wecom_app]\nenabled = true\ncorp_id = \"{CORP_ID}\"\nagent_id = 1000005\nsecret = \"{APP_SECRET}\"\n\
         api_base_url = \"{base}\"\n\
         [[groups]]\nchannel = \"wecom\"\nid = \"{CHAT}\"\npurpose = \"supervisors\"\n\
         [[groups]]\nchannel = \"wecom\"\nid = \"dissolvedGroup9\"\npurpose = \"county_inspectors\"\n"
    )
}

async fn enqueue(running: &Running, key: &str, chat: &str, text: &str) {
    let app = &running.app;
    let mut tx = dudao::db::begin_write(&app.db).await.unwrap();
    let to = Recipient::Chat(dudao::chat::ChatRef::group("wecom", chat));
    let env = Envelope::new(key, to, vec![dudao::chat::Segment::text(text)], "test");
    dudao::outbox::enqueue(&mut tx, &app.directory, app.clock.now(), env).await.unwrap();
    tx.commit().await.unwrap();
    app.outbox_notify.notify_waiters();
}

#[tokio::test]
async fn an_unprompted_reminder_reaches_the_app_group_chat() {
    let fake: Fake = Arc::new(Mutex::new(Seen { expire_first: 1, ..Default::default() }));
    let base = fake_wecom(fake.clone()).await;
    let (running, _dir) = start(&app_toml(&base)).await;

    // A reminder nobody asked for: the app can push, and its group is an appchat.
    enqueue(&running, "remind-sup", CHAT, "本周督导简报请于周五前审定").await;
    let (status, attempts, _) = settled(&running, "remind-sup").await;
    assert_eq!((status.as_str(), attempts), ("sent", 1), "an expired token is fetched again within the send");
    {
        let s = fake.lock().unwrap();
        assert_eq!(s.tokens, 2);
        let (token, body) = &s.sent[0];
        assert_eq!(token, "tok-2");
        assert_eq!(body["chatid"], CHAT);
        assert_eq!(body["msgtype"], "text");
        assert_eq!(body["text"]["content"], "本周督导简报请于周五前审定");
        assert_eq!(body["safe"], 0);
    }

    // A group chat WeCom no longer knows: dead at once, with WeCom's code, no token in the text.
    enqueue(&running, "remind-gone", "dissolvedGroup9", "请核对本月随访名单").await;
    let (status, attempts, error) = settled(&running, "remind-gone").await;
    assert_eq!((status.as_str(), attempts), ("dead", 1));
    let error = error.unwrap_or_default();
    assert!(error.contains("86001"), "{error}");
    assert!(!error.contains("tok-") && !error.contains(APP_SECRET), "{error}");
    running.stop().await;
}

#[tokio::test]
async fn the_cli_creates_an_app_group_chat_and_greets_it() {
    let fake: Fake = Arc::new(Mutex::new(Seen::default()));
    let base = fake_wecom(fake.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("dudao.toml");
    let db = dir.path().join("dudao.sqlite");
    std::fs::write(
        &config,
        format!(
            "[database]\npath = \"{}\"\n[channels.console]\nenabled = false\n\
             [channels.wecom_app]\nenabled = true\ncorp_id = \"{CORP_ID}\"\nagent_id = 1000005\n\
             secret = \"{APP_SECRET}\"\napi_base_url = \"{base}\"\n",
            db.display().to_string().replace('\\', "/")
        ),
    )
    .unwrap();
    let run = |args: Vec<&'static str>| {
        let config = config.clone();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_dudao"))
                .arg("--config")
                .arg(&config)
                .args(args)
                .output()
                .unwrap()
        })
    };
    let out = run(vec![
        "wecom",
        "create-appchat",
        "--name",
        "城关镇督导联络群",
        "--users",
        "wang.fang,li.ming,zhao.lei",
        "--owner",
        "wang.fang",
        "--chatid",
        "chengguanDudao1",
    ])
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("id = \"chengguanDudao1\""), "{stdout}");
    {
        let s = fake.lock().unwrap();
        assert_eq!(s.created.len(), 1);
        let c = &s.created[0];
        assert_eq!(c["name"], "城关镇督导联络群");
        assert_eq!(c["owner"], "wang.fang");
        assert_eq!(c["userlist"], json!(["wang.fang", "li.ming", "zhao.lei"]));
        // The first message, without which WeCom does not show the group.
        assert_eq!(s.sent.len(), 1);
        assert_eq!(s.sent[0].1["chatid"], "chengguanDudao1");
        assert!(s.sent[0].1["text"]["content"].as_str().unwrap().contains("城关镇督导联络群"));
    }
    // One member is not a group: refused before WeCom is asked.
    let out = run(vec!["wecom", "create-appchat", "--name", "单人群", "--users", "wang.fang"]).await.unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("2 到 2000"));
    assert_eq!(fake.lock().unwrap().created.len(), 1);
}

#[test]
fn an_app_group_must_be_an_appchat_id() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.sqlite");
    let toml = format!(
        "[database]\npath = \"{}\"\n[channels.wecom_app]\nenabled = true\ncorp_id = \"{CORP_ID}\"\nagent_id = 1000005\n\
         secret = \"{APP_SECRET}\"\n[[groups]]\nchannel = \"wecom\"\nid = \"督导群-1\"\npurpose = \"supervisors\"\n",
        db.display().to_string().replace('\\', "/")
    );
    let e = dudao::config::Settings::from_toml_over_default(&toml).unwrap_err();
    assert_eq!(e.key, "groups[0].id");
}
