//! Evidence photos that arrive as file ids: Telegram (`getFile`, then the file from the Bot API
//! server) and the WeCom self-built app (`media/get` with the app's access token), each against
//! a fake platform on loopback speaking its wire format. A school contact completes a problem
//! with a photo, the real fetcher downloads it through the channel that received it, and `证据`
//! sends it back; an oversize photo is refused, the item still recorded and the reason shown;
//! the bot token and access tokens are in no stored byte and no log line. And QQ through
//! OneBot, whose image segments may come without a URL: `get_image` resolves them.

mod common;
use common::logs::Logs;
#[path = "common/onebot_fake.rs"]
mod onebot_fake;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use common::settings_for;
use dudao::chat::wecom::crypto::MsgCrypt;
use dudao::service::{self, Running};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(15);
/// The photo that passes: a JPEG header and a few bytes.
const PHOTO: &[u8] = b"\xff\xd8\xff\xe0JPEG-broken-railing-repaired";
/// Photos are capped at 4 KB here; this one is twice that.
const CAP: usize = 4096;

fn oversize() -> Vec<u8> {
    let mut b = b"\xff\xd8\xff\xe0".to_vec();
    b.resize(2 * CAP, 0x5a);
    b
}

/// Photo links are allowed from `localhost` (the OneBot test's photo server), as an office
/// allows its intranet image server; file ids never go through that check.
fn rectify_toml() -> String {
    format!(
        "[rectify]\nsweep_cron = \"\"\nevidence_poll_secs = 3600\nevidence_timeout_secs = 5\n\
         evidence_max_bytes = {CAP}\nevidence_max_attempts = 3\nevidence_allow_hosts = [\"localhost\"]\n"
    )
}

async fn start(extra: &str) -> (Running, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let settings = settings_for(
        &dir,
        &format!(
            "[channels.console]\nenabled = false\n[outbox]\nbackoff_base_ms = 50\nbackoff_max_ms = 300\n{}{extra}",
            rectify_toml()
        ),
    );
    let enabled = dudao::chat::registry::from_config(&settings).unwrap();
    let running = service::start(settings, Arc::new(dudao::clock::SystemClock), enabled.channels).await.unwrap();
    (running, dir)
}

/// Binds a platform account to a roster person, as a binding code would.
async fn bind(running: &Running, platform: &str, account: &str, code: &str) {
    dudao::sql::query(
        "INSERT INTO chat_accounts (platform, account_id, person_id, source, bound_at)
         SELECT ?, ?, id, 'code', '2026-11-30T00:00:00.000Z' FROM people WHERE code = ?",
    )
    .bind(platform)
    .bind(account)
    .bind(code)
    .execute(&running.app.db)
    .await
    .unwrap();
}

async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// (channel, url, file_id, status, error) of every evidence row, in order.
type Row = (Option<String>, String, Option<String>, String, Option<String>);

async fn evidence_rows(running: &Running) -> Vec<Row> {
    dudao::sql::query_as("SELECT channel, url, file_id, status, error FROM rectify_evidence ORDER BY id")
        .fetch_all(&running.app.db)
        .await
        .unwrap()
}

/// Whether `needle` occurs in any file under `dir` (the database, its WAL, the evidence files).
fn stored_anywhere(dir: &std::path::Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if std::fs::read(&p).unwrap_or_default().windows(needle.len()).any(|w| w == needle) {
                found.push(p);
            }
        }
    }
    found
}

/// Runs the fetcher once on this thread with every log line captured.
async fn fetch_logged(running: &Running) -> (dudao::app::rectify::FetchReport, String) {
    let (logs, guard) = Logs::capture(tracing::Level::TRACE);
    let r = dudao::app::rectify::fetch_evidence(&running.app).await.unwrap();
    drop(guard);
    let logged = logs.text();
    (r, logged)
}

// ---- Telegram ----

const TG_TOKEN: &str = "987654321:AAH-evidence_T0KEN_zq";
const BOT_ID: i64 = 4343;
/// The inspector 郝涛 (D008) and the school contact 彭超 (C0001) of 实验小学.
const TG_INSPECTOR: i64 = 556;
const TG_SCHOOL: i64 = 555;

#[derive(Default)]
struct TgSeen {
    updates: Vec<Value>,
    /// sendMessage texts, in order.
    texts: Vec<String>,
    /// sendDocument files: (file name, bytes).
    documents: Vec<(Option<String>, Vec<u8>)>,
    /// getFile file ids asked for.
    get_file: Vec<String>,
    /// File downloads: the path after `/file/bot<token>/`.
    downloads: Vec<String>,
    unauthorized: usize,
}

type TgFake = Arc<Mutex<TgSeen>>;

fn tg_ok(result: Value) -> Json<Value> {
    Json(json!({"ok": true, "result": result}))
}

/// The files the fake Bot API server holds: file id → (declared size, path, content).
fn tg_files() -> HashMap<&'static str, (Option<usize>, &'static str, Vec<u8>)> {
    HashMap::from([
        ("tg-photo-big", (Some(PHOTO.len()), "photos/file_7.jpg", PHOTO.to_vec())),
        // Declared too large: never downloaded.
        ("tg-photo-huge", (Some(3 * CAP), "photos/file_8.jpg", oversize())),
        // No size declared: refused while reading.
        ("tg-photo-unsized", (None, "photos/file_9.jpg", oversize())),
    ])
}

async fn tg_api(
    State(f): State<TgFake>,
    Path((bot, method)): Path<(String, String)>,
    headers: axum::http::HeaderMap,
    raw: Bytes,
) -> Json<Value> {
    let body: Value = serde_json::from_slice(&raw).unwrap_or(json!({}));
    if bot != format!("bot{TG_TOKEN}") {
        f.lock().unwrap().unauthorized += 1;
        return Json(json!({"ok": false, "error_code": 401, "description": "Unauthorized"}));
    }
    let bot_user = json!({"id": BOT_ID, "is_bot": true, "first_name": "督导助手", "username": "dudao_bot"});
    match method.to_ascii_lowercase().as_str() {
        "getme" => tg_ok(json!({
            "id": BOT_ID, "is_bot": true, "first_name": "督导助手", "username": "dudao_bot",
            "can_join_groups": true, "can_read_all_group_messages": false,
            "supports_inline_queries": false, "has_main_web_app": false
        })),
        "getupdates" => {
            let batch = {
                let mut s = f.lock().unwrap();
                if let Some(o) = body["offset"].as_i64() {
                    s.updates.retain(|u| u["update_id"].as_i64().unwrap_or(0) >= o);
                }
                s.updates.clone()
            };
            if batch.is_empty() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            tg_ok(Value::Array(batch))
        }
        "sendmessage" => {
            let mut s = f.lock().unwrap();
            s.texts.push(body["text"].as_str().unwrap_or_default().to_string());
            let chat_id = body["chat_id"].as_i64().unwrap_or(0);
            tg_ok(json!({
                "message_id": 9000 + s.texts.len(), "date": chrono::Utc::now().timestamp(),
                "chat": {"id": chat_id, "type": "private", "first_name": "督学"},
                "from": bot_user, "text": body["text"]
            }))
        }
        "senddocument" => {
            let ct = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
            let parts = common::parse_multipart(ct, &raw);
            let field =
                |n: &str| parts.iter().find(|p| p.name == n).map(|p| String::from_utf8_lossy(&p.bytes).into_owned());
            let chat_id: i64 = field("chat_id").and_then(|c| c.parse().ok()).unwrap_or(0);
            let doc = match field("document").as_deref().and_then(|d| d.strip_prefix("attach://")) {
                Some(part) => parts.iter().find(|p| p.name == part).cloned(),
                None => parts.iter().find(|p| p.name == "document").cloned(),
            };
            let Some(doc) = doc else {
                return Json(json!({"ok": false, "error_code": 400, "description": "Bad Request: no document"}));
            };
            let mut s = f.lock().unwrap();
            s.documents.push((doc.file_name.clone(), doc.bytes.clone()));
            let n = s.documents.len();
            tg_ok(json!({
                "message_id": 9500 + n, "date": chrono::Utc::now().timestamp(),
                "chat": {"id": chat_id, "type": "private", "first_name": "督学"},
                "from": bot_user,
                "document": {"file_id": format!("doc-{n}"), "file_unique_id": format!("u{n}"),
                             "file_name": doc.file_name, "file_size": doc.bytes.len()}
            }))
        }
        "getfile" => {
            let id = body["file_id"].as_str().unwrap_or_default().to_string();
            f.lock().unwrap().get_file.push(id.clone());
            match tg_files().get(id.as_str()) {
                Some((size, path, _)) => {
                    let mut file = json!({"file_id": id, "file_unique_id": format!("u-{id}"), "file_path": path});
                    if let Some(n) = size {
                        file["file_size"] = json!(n);
                    }
                    tg_ok(file)
                }
                None => Json(json!({"ok": false, "error_code": 400, "description": "Bad Request: invalid file_id"})),
            }
        }
        other => Json(json!({"ok": false, "error_code": 404, "description": format!("Not Found: method {other}")})),
    }
}

/// `GET /file/bot<token>/<file_path>`: the file itself, as the Bot API server serves it.
async fn tg_file(State(f): State<TgFake>, Path((bot, path)): Path<(String, String)>) -> Response {
    if bot != format!("bot{TG_TOKEN}") {
        f.lock().unwrap().unauthorized += 1;
        return axum::http::StatusCode::UNAUTHORIZED.into_response();
    }
    f.lock().unwrap().downloads.push(path.clone());
    match tg_files().into_values().find(|(_, p, _)| *p == path) {
        Some((_, _, bytes)) => ([(header::CONTENT_TYPE, "image/jpeg")], bytes).into_response(),
        None => axum::http::StatusCode::NOT_FOUND.into_response(),
    }
}

async fn fake_telegram(fake: TgFake) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/{bot}/{method}", post(tg_api))
        .route("/file/{bot}/{*path}", get(tg_file))
        .with_state(fake);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

/// A private message from `from`: text, or a photo (its sizes, largest last) with a caption.
fn tg_update(update_id: i64, from: i64, text: Option<&str>, photo: Option<&str>) -> Value {
    let mut m = json!({
        "message_id": update_id, "date": chrono::Utc::now().timestamp(),
        "chat": {"id": from, "type": "private", "first_name": "芳"},
        "from": {"id": from, "is_bot": false, "first_name": "芳"},
    });
    match photo {
        Some(id) => {
            m["photo"] = json!([
                {"file_id": format!("{id}-thumb"), "file_unique_id": "t", "width": 90, "height": 60, "file_size": 900},
                {"file_id": id, "file_unique_id": format!("u-{id}"), "width": 1280, "height": 960}
            ]);
            if let Some(t) = text {
                m["caption"] = json!(t);
            }
        }
        None => m["text"] = json!(text.unwrap_or_default()),
    }
    json!({"update_id": update_id, "message": m})
}

async fn tg_say(fake: &TgFake, update: Value, expect: &str) -> String {
    let before = fake.lock().unwrap().texts.len();
    fake.lock().unwrap().updates.push(update);
    wait_for(expect, || fake.lock().unwrap().texts[before..].iter().any(|t| t.contains(expect))).await;
    fake.lock().unwrap().texts[before..].join("\n")
}

#[tokio::test]
async fn a_telegram_photo_is_downloaded_through_get_file_and_shown_as_evidence() {
    let fake: TgFake = Arc::new(Mutex::new(TgSeen::default()));
    let base = fake_telegram(fake.clone()).await;
    let (running, dir) = start(&format!(
        "[channels.telegram]\nenabled = true\ntoken = \"{TG_TOKEN}\"\napi_url = \"{base}\"\npoll_timeout_secs = 1\n\
         retry_initial_ms = 50\nretry_max_ms = 200\n"
    ))
    .await;
    bind(&running, "telegram", &TG_INSPECTOR.to_string(), "D008").await;
    bind(&running, "telegram", &TG_SCHOOL.to_string(), "C0001").await;

    tg_say(&fake, tg_update(1, TG_INSPECTOR, Some("记问题 实验小学 6 护栏松动"), None), "W1").await;
    // The photo with its caption: the largest size is the evidence.
    let out =
        tg_say(&fake, tg_update(2, TG_SCHOOL, Some("完成 W1 护栏已加固"), Some("tg-photo-big")), "和1张照片").await;
    assert!(!out.contains("未提供"), "{out}");
    // Two more photos on their own right after: the same report's evidence, both too large.
    let out = tg_say(&fake, tg_update(3, TG_SCHOOL, None, Some("tg-photo-huge")), "已收到 W1 的整改照片1张").await;
    assert!(out.contains("整改台账"), "{out}");
    tg_say(&fake, tg_update(4, TG_SCHOOL, None, Some("tg-photo-unsized")), "已收到 W1 的整改照片1张").await;

    let rows = evidence_rows(&running).await;
    assert_eq!(rows.len(), 3, "{rows:?}");
    for (row, id) in rows.iter().zip(["tg-photo-big", "tg-photo-huge", "tg-photo-unsized"]) {
        assert_eq!(row.0.as_deref(), Some("telegram"), "{row:?}");
        assert_eq!((row.1.as_str(), row.2.as_deref(), row.3.as_str()), ("", Some(id), "pending"), "{row:?}");
    }

    let (r, logged) = fetch_logged(&running).await;
    assert_eq!((r.stored, r.duplicates, r.failed), (1, 0, 2), "{logged}");
    let rows = evidence_rows(&running).await;
    assert_eq!(rows[0].3, "stored", "{rows:?}");
    for row in &rows[1..] {
        // Final at once: a photo over the cap stays over it.
        assert_eq!(row.3, "failed", "{row:?}");
        assert!(row.4.as_deref().unwrap_or_default().starts_with("larger than 4096 bytes"), "{row:?}");
    }
    let attempts: Vec<i64> = dudao::sql::query_scalar("SELECT attempts FROM rectify_evidence ORDER BY id")
        .fetch_all(&running.app.db)
        .await
        .unwrap();
    assert_eq!(attempts, vec![1, 1, 1]);
    {
        let s = fake.lock().unwrap();
        assert_eq!(s.get_file, vec!["tg-photo-big", "tg-photo-huge", "tg-photo-unsized"]);
        // The declared-too-large file was never downloaded.
        assert_eq!(s.downloads, vec!["photos/file_7.jpg", "photos/file_9.jpg"]);
        assert_eq!(s.unauthorized, 0);
    }

    // The inspector asks for the evidence: the stored photo comes back as a file, and the
    // refusal is explained.
    let before = fake.lock().unwrap().texts.len();
    fake.lock().unwrap().updates.push(tg_update(5, TG_INSPECTOR, Some("证据 W1"), None));
    wait_for("the photo", || !fake.lock().unwrap().documents.is_empty()).await;
    running.drain(WAIT).await;
    {
        let s = fake.lock().unwrap();
        assert_eq!(s.documents.len(), 1);
        assert_eq!(s.documents[0].0.as_deref(), Some("W1-1.jpg"));
        assert_eq!(s.documents[0].1, PHOTO);
        let said = s.texts[before..].join("\n");
        assert!(said.contains("整改照片1张"), "{said}");
        assert!(said.contains("2张超过4 KB的大小上限"), "{said}");
    }

    // The token is in no log line and nowhere on disk (database, WAL, evidence files).
    assert!(!logged.contains(TG_TOKEN), "the bot token was logged: {logged}");
    assert!(logged.contains("evidence download failed"), "{logged}");
    running.stop().await;
    assert_eq!(stored_anywhere(dir.path(), TG_TOKEN.as_bytes()), Vec::<std::path::PathBuf>::new());
    // Nor its secret half on its own.
    let secret_part = TG_TOKEN.split_once(':').unwrap().1;
    assert_eq!(stored_anywhere(dir.path(), secret_part.as_bytes()), Vec::<std::path::PathBuf>::new());
}

// ---- WeCom self-built app ----

// The official sample's CorpID, Token and EncodingAESKey.
const CORP_ID: &str = "wx5823bf96d3bd56c7";
const CB_TOKEN: &str = "QDG6eK";
const AES_KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
const APP_SECRET: &str = "app-secret-evidence-zq";
const ACCESS_PREFIX: &str = "ACCESS-zq-";

#[derive(Default)]
struct WxSeen {
    /// message/send bodies.
    sent: Vec<Value>,
    gettoken: usize,
    /// media/get calls: (access token, media id).
    media_get: Vec<(String, String)>,
    /// media/get calls to answer 42001 (token expired) first.
    media_expire_first: usize,
    /// media/upload parts (the photo sent back by `证据`).
    uploads: Vec<Vec<common::FormPart>>,
}

type WxFake = Arc<Mutex<WxSeen>>;

async fn wx_gettoken(State(f): State<WxFake>, Query(q): Query<HashMap<String, String>>) -> Json<Value> {
    let mut s = f.lock().unwrap();
    if q.get("corpid").map(String::as_str) != Some(CORP_ID)
        || q.get("corpsecret").map(String::as_str) != Some(APP_SECRET)
    {
        return Json(json!({"errcode": 40001, "errmsg": "invalid credential"}));
    }
    s.gettoken += 1;
    Json(
        json!({"errcode": 0, "errmsg": "ok", "access_token": format!("{ACCESS_PREFIX}{}", s.gettoken), "expires_in": 7200}),
    )
}

async fn wx_send(State(f): State<WxFake>, Json(body): Json<Value>) -> Json<Value> {
    let mut s = f.lock().unwrap();
    s.sent.push(body);
    let n = s.sent.len();
    Json(json!({"errcode": 0, "errmsg": "ok", "invaliduser": "", "msgid": format!("msg-{n}")}))
}

async fn wx_upload(State(f): State<WxFake>, headers: axum::http::HeaderMap, body: Bytes) -> Json<Value> {
    let ct = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let mut s = f.lock().unwrap();
    s.uploads.push(common::parse_multipart(ct, &body));
    let n = s.uploads.len();
    Json(json!({"errcode": 0, "errmsg": "", "type": "file", "media_id": format!("up-{n}"), "created_at": "1380000000"}))
}

/// `media/get`: the file with its image type, or WeCom's JSON error.
async fn wx_media_get(State(f): State<WxFake>, Query(q): Query<HashMap<String, String>>) -> Response {
    let token = q.get("access_token").cloned().unwrap_or_default();
    let id = q.get("media_id").cloned().unwrap_or_default();
    let mut s = f.lock().unwrap();
    s.media_get.push((token.clone(), id.clone()));
    if s.media_expire_first > 0 {
        s.media_expire_first -= 1;
        return Json(json!({"errcode": 42001, "errmsg": "access_token expired"})).into_response();
    }
    if !token.starts_with(ACCESS_PREFIX) {
        return Json(json!({"errcode": 40014, "errmsg": "invalid access_token"})).into_response();
    }
    let file = |bytes: Vec<u8>| {
        (
            [
                (header::CONTENT_TYPE, "image/jpeg".to_string()),
                (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{id}.jpg\"")),
            ],
            bytes,
        )
            .into_response()
    };
    match id.as_str() {
        "wx-media-photo" => file(PHOTO.to_vec()),
        "wx-media-huge" => file(oversize()),
        _ => Json(json!({"errcode": 40007, "errmsg": "invalid media_id"})).into_response(),
    }
}

async fn fake_wecom(fake: WxFake) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/cgi-bin/gettoken", get(wx_gettoken))
        .route("/cgi-bin/message/send", post(wx_send))
        .route("/cgi-bin/media/upload", post(wx_upload))
        .route("/cgi-bin/media/get", get(wx_media_get))
        .with_state(fake);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

fn signed_query(crypt: &MsgCrypt, encrypt: &str, nonce: &str) -> String {
    let ts = chrono::Utc::now().timestamp().to_string();
    let sig = crypt.signature(&ts, nonce, encrypt);
    format!("msg_signature={sig}&timestamp={ts}&nonce={nonce}")
}

fn wx_message(from: &str, msg_id: &str, inner: &str) -> String {
    format!(
        "<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><FromUserName><![CDATA[{from}]]></FromUserName>\
         <CreateTime>{}</CreateTime>{inner}<MsgId>{msg_id}</MsgId><AgentID>1000002</AgentID></xml>",
        chrono::Utc::now().timestamp()
    )
}

fn wx_text(from: &str, msg_id: &str, content: &str) -> String {
    wx_message(from, msg_id, &format!("<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content>"))
}

/// An image message: WeCom gives both a PicUrl and the MediaId; the MediaId is used. The PicUrl
/// here points at a port where nothing listens (and is loopback, which the SSRF guard refuses).
fn wx_image(from: &str, msg_id: &str, media_id: &str) -> String {
    wx_message(
        from,
        msg_id,
        &format!(
            "<MsgType><![CDATA[image]]></MsgType><PicUrl><![CDATA[http://127.0.0.1:9/{media_id}.jpg]]></PicUrl>\
             <MediaId><![CDATA[{media_id}]]></MediaId>"
        ),
    )
}

struct WxClient {
    url: String,
    http: reqwest::Client,
    crypt: MsgCrypt,
    fake: WxFake,
    nonce: usize,
}

impl WxClient {
    /// Posts one encrypted callback and waits for a reply containing `expect`; returns the
    /// texts sent since.
    async fn say(&mut self, plain: &str, expect: &str) -> String {
        let before = self.fake.lock().unwrap().sent.len();
        let encrypted = self.crypt.encrypt(plain);
        self.nonce += 1;
        let q = signed_query(&self.crypt, &encrypted, &format!("n{}", self.nonce));
        let body = format!(
            "<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><AgentID><![CDATA[1000002]]></AgentID>\
             <Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
        );
        let r = self.http.post(format!("{}?{q}", self.url)).body(body).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let fake = self.fake.clone();
        let texts = move || -> Vec<String> {
            fake.lock().unwrap().sent[before..]
                .iter()
                .map(|b| b["text"]["content"].as_str().unwrap_or_default().to_string())
                .collect()
        };
        wait_for(expect, || texts().iter().any(|t| t.contains(expect))).await;
        texts().join("\n")
    }
}

#[tokio::test]
async fn a_wecom_app_photo_is_downloaded_through_media_get_and_shown_as_evidence() {
    let fake: WxFake = Arc::new(Mutex::new(WxSeen { media_expire_first: 1, ..Default::default() }));
    let base = fake_wecom(fake.clone()).await;
    let (running, dir) = start(&format!(
        "[channels.wecom_app]\nenabled = true\ncorp_id = \"{CORP_ID}\"\nagent_id = 1000002\nsecret = \"{APP_SECRET}\"\n\
         token = \"{CB_TOKEN}\"\nencoding_aes_key = \"{AES_KEY}\"\napi_base_url = \"{base}\"\n"
    ))
    .await;
    bind(&running, "wecom", "haotao", "D008").await;
    bind(&running, "wecom", "pengchao", "C0001").await;
    let mut wx = WxClient {
        url: format!("http://{}/wecom/callback", running.http_addr),
        http: reqwest::Client::new(),
        crypt: MsgCrypt::new(CB_TOKEN, AES_KEY, CORP_ID).unwrap(),
        fake: fake.clone(),
        nonce: 0,
    };

    wx.say(&wx_text("haotao", "8001", "记问题 实验小学 6 围墙护栏松动"), "W1").await;
    // A photo before any report of theirs is not evidence yet: the school hears how to send it.
    let out = wx.say(&wx_image("pengchao", "8000", "wx-media-photo"), "收到照片").await;
    assert!(out.contains("请先发送“完成 W编号 整改情况”"), "{out}");
    // A WeCom message is text or a picture, never both: the report first, then the photos.
    let out = wx.say(&wx_text("pengchao", "8002", "完成 W1 护栏已加固"), "已提交 W1").await;
    assert!(out.contains("未附照片") && out.contains("10分钟内"), "{out}");
    let out = wx.say(&wx_image("pengchao", "8003", "wx-media-photo"), "已收到 W1 的整改照片1张").await;
    assert!(out.contains("整改台账"), "{out}");
    wx.say(&wx_image("pengchao", "8004", "wx-media-huge"), "已收到 W1 的整改照片1张").await;
    // A photo from the inspector with no report of theirs is not taken as evidence.
    let out = wx.say(&wx_image("haotao", "8005", "wx-media-photo"), "没有看懂").await;
    assert!(!out.contains("已收到"), "{out}");

    let rows = evidence_rows(&running).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0].0.as_deref(), Some("wecom"));
    assert_eq!(rows[0].2.as_deref(), Some("wx-media-photo"));

    let (r, logged) = fetch_logged(&running).await;
    assert_eq!((r.stored, r.duplicates, r.failed), (1, 0, 1), "{logged}");
    let rows = evidence_rows(&running).await;
    assert_eq!(rows[0].3, "stored", "{rows:?}");
    assert_eq!(rows[1].3, "failed", "{rows:?}");
    assert!(rows[1].4.as_deref().unwrap_or_default().starts_with("larger than 4096 bytes"), "{rows:?}");
    {
        let s = fake.lock().unwrap();
        // The first media/get met an expired token: fetched again once, then both photos.
        let ids: Vec<&str> = s.media_get.iter().map(|(_, id)| id.as_str()).collect();
        assert_eq!(ids, vec!["wx-media-photo", "wx-media-photo", "wx-media-huge"]);
        assert!(s.media_get.iter().all(|(t, _)| t.starts_with(ACCESS_PREFIX)));
    }

    // The inspector asks for the evidence: the photo comes back through media/upload.
    let out = wx.say(&wx_text("haotao", "8006", "证据 W1"), "整改照片1张").await;
    assert!(out.contains("1张超过4 KB的大小上限"), "{out}");
    running.drain(WAIT).await;
    {
        let s = fake.lock().unwrap();
        let media: Vec<&common::FormPart> = s.uploads.iter().flatten().filter(|p| p.name == "media").collect();
        assert_eq!(media.len(), 1);
        assert_eq!(media[0].bytes, PHOTO);
        assert_eq!(media[0].file_name.as_deref(), Some("W1-1.jpg"));
    }

    // No access token or app secret in the logs or on disk.
    assert!(!logged.contains(ACCESS_PREFIX) && !logged.contains(APP_SECRET), "{logged}");
    running.stop().await;
    assert!(stored_anywhere(dir.path(), ACCESS_PREFIX.as_bytes()).is_empty());
    assert!(stored_anywhere(dir.path(), APP_SECRET.as_bytes()).is_empty());
}

// ---- QQ through OneBot: image segments without a URL ----

#[tokio::test]
async fn a_qq_image_without_url_is_resolved_through_get_image() {
    use base64::Engine as _;
    use onebot_fake::{connect_reverse, Auth, Recorder};
    const OB_TOKEN: &str = "ob-evidence-t0ken";
    // A photo server on loopback for the URL get_image answers with.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let photos = Router::new().route("/qq.jpg", get(|| async { PHOTO }));
    tokio::spawn(async move { axum::serve(listener, photos).await.ok() });
    let (running, _dir) = start(&format!(
        "[channels.onebot]\nenabled = true\naccess_token = \"{OB_TOKEN}\"\nmin_interval_ms = 0\nmax_per_minute = 0\n\
         chat_min_interval_ms = 0\nchat_max_per_minute = 0\nsend_jitter_ms = 0\napi_timeout_ms = 5000\n"
    ))
    .await;
    let (inspector, school) = (880_000_008_i64, 880_000_101_i64);
    bind(&running, "qq", &inspector.to_string(), "D008").await;
    bind(&running, "qq", &school.to_string(), "C0001").await;
    let second: &[u8] = b"\x89PNG\r\n\x1a\nPNG-railing-side-view";
    let rec = Recorder::new();
    rec.images.lock().unwrap().extend([
        (
            "ABC.image".to_string(),
            json!({"file": "/napcat/temp/ABC.jpg", "url": format!("http://localhost:{port}/qq.jpg")}),
        ),
        (
            "B64.image".to_string(),
            json!({"file": "/napcat/temp/B64.png", "base64": base64::engine::general_purpose::STANDARD.encode(second)}),
        ),
        ("LOCAL.image".to_string(), json!({"file": "/napcat/temp/LOCAL.jpg"})),
    ]);
    let bot = connect_reverse(running.http_addr, "3000000017", Auth::Bearer(OB_TOKEN), rec.clone()).await.unwrap();
    let said_to = |user: i64, what: &'static str| {
        let rec = rec.clone();
        async move {
            rec.wait_for(1, WAIT, |a| {
                a.action == "send_private_msg" && a.params["user_id"] == user && a.ok && a.text().contains(what)
            })
            .await;
        }
    };
    bot.private_msg(inspector, json!(1), json!([{"type": "text", "data": {"text": "记问题 实验小学 6 护栏松动"}}]));
    said_to(inspector, "W1").await;
    let image = |file: &str| json!({"type": "image", "data": {"file": file}});
    bot.private_msg(
        school,
        json!(2),
        json!([{"type": "text", "data": {"text": "完成 W1 护栏已加固"}}, image("ABC.image"), image("B64.image"), image("LOCAL.image")]),
    );
    said_to(school, "和3张照片").await;

    let (r, _) = fetch_logged(&running).await;
    assert_eq!((r.stored, r.failed), (2, 0));
    let rows = evidence_rows(&running).await;
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(rows.iter().all(|r| r.0.as_deref() == Some("qq") && r.1.is_empty()), "{rows:?}");
    assert_eq!((rows[0].3.as_str(), rows[1].3.as_str()), ("stored", "stored"), "{rows:?}");
    // A path on NapCat's machine is no use here: tried again later, the reason recorded.
    assert_eq!(rows[2].3, "pending", "{rows:?}");
    assert!(rows[2].4.as_deref().unwrap_or_default().contains("only a file path"), "{rows:?}");
    let asked: Vec<String> = rec
        .actions()
        .iter()
        .filter(|a| a.action == "get_image")
        .map(|a| a.params["file"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(asked, vec!["ABC.image", "B64.image", "LOCAL.image"]);
    bot.close();
    running.stop().await;
}

// ---- Photos sent after the report: the window ----

/// A photo alone, from a console account, as a platform without captions delivers it.
async fn photo_alone(h: &mut common::Harness, account: &str, id: &str, url: &str) -> String {
    let msg = dudao::chat::InboundMessage {
        chat: dudao::chat::ChatRef::private("console", account),
        sender: dudao::chat::UserRef { id: account.to_string(), display: None },
        platform_msg_id: id.to_string(),
        segments: vec![dudao::chat::Segment::Image {
            media: dudao::chat::MediaRef { name: None, url: Some(url.to_string()), file_id: None },
        }],
        to_me: true,
        sent_at: chrono::Utc::now(),
    };
    h.app().ingest(msg).await.unwrap();
    h.settle().await
}

#[tokio::test]
async fn photos_alone_count_only_within_ten_minutes_of_the_senders_own_report() {
    let clock = dudao::clock::ManualClock::new(common::shanghai(11, 23, 9, 0));
    let mut h = common::Harness::start_with(&rectify_toml(), Some(clock.clone())).await;
    for (acc, code) in [("hao", "D008"), ("peng", "C0001"), ("cao", "D009")] {
        h.bind(acc, code).await;
    }
    assert!(h.say("hao: 记问题 实验小学 6 楼道应急灯损坏").await.contains("W1"));
    let out = h.say("peng: 进展 W1 已联系维修").await;
    assert!(out.contains("已记录 W1"), "{out}");
    // Nine minutes later: still that report's evidence.
    clock.advance(chrono::Duration::minutes(9));
    let out = photo_alone(&mut h, "peng", "p1", "http://localhost:1/a.jpg").await;
    assert!(out.contains("已收到 W1 的整改照片1张"), "{out}");
    // Another inspector's photo is not the school's evidence.
    let out = photo_alone(&mut h, "cao", "p2", "http://localhost:1/b.jpg").await;
    assert!(!out.contains("已收到"), "{out}");
    // Eleven minutes after the report: too late, the school is told how to send photos.
    clock.advance(chrono::Duration::minutes(2));
    let out = photo_alone(&mut h, "peng", "p3", "http://localhost:1/c.jpg").await;
    assert!(out.contains("请先发送“完成 W编号 整改情况”") && !out.contains("已收到"), "{out}");
    let (n, channel): (i64, Option<String>) =
        dudao::sql::query_as("SELECT COUNT(*), MAX(channel) FROM rectify_evidence").fetch_one(h.db()).await.unwrap();
    assert_eq!((n, channel.as_deref()), (1, Some("console")));
    h.stop().await;
}
