//! `证据 W1`: a problem's evidence photos sent back as files, privately, to the office and the
//! school's own inspector only. The real service on a temporary SQLite file; photos are
//! submitted through chat, downloaded from a real HTTP server on loopback by the real fetcher,
//! and come back through the console (which writes files) or the OneBot stand-in (an upload).

mod common;
#[path = "common/onebot_fake.rs"]
mod onebot_fake;

use axum::http::StatusCode;
use axum::routing::get;
use chrono::{TimeZone, Utc};
use chrono_tz::Asia::Shanghai;
use common::Harness;
use dudao::chat::console::parse_line;
use dudao::chat::{ChatRef, InboundMessage, MediaRef, Segment, UserRef};
use dudao::clock::ManualClock;

const JPEG: &[u8] = b"\xff\xd8\xff\xe0JPEG-fire-extinguisher-replaced";
const PNG: &[u8] = b"\x89PNG\r\n\x1a\nPNG-corridor-cleared";

/// The n-th photo of the paging test: distinct JPEG contents.
fn numbered(n: usize) -> Vec<u8> {
    let mut b = b"\xff\xd8\xff\xe0numbered-".to_vec();
    b.extend_from_slice(n.to_string().as_bytes());
    b
}

/// A photo server on loopback: `/a.jpg`, `/b.png`, `/gone` (404), `/p1.jpg` … `/p11.jpg`.
async fn photo_server() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut app = axum::Router::new()
        .route("/a.jpg", get(|| async { JPEG }))
        .route("/b.png", get(|| async { PNG }))
        .route("/gone", get(|| async { StatusCode::NOT_FOUND }));
    for n in 1..=11 {
        app = app.route(&format!("/p{n}.jpg"), get(move || async move { numbered(n) }));
    }
    tokio::spawn(async move {
        axum::serve(listener, app).await.ok();
    });
    port
}

const CONFIG: &str = "[rectify]\nsweep_cron = \"\"\nevidence_poll_secs = 3600\nevidence_timeout_secs = 5\n\
    evidence_max_attempts = 1\nevidence_allow_hosts = [\"localhost\"]\n";

/// Supervisor 卢浩 (S001, "sup"); 郝涛 (D008, "hao") is 实验小学's inspector and records W1,
/// 曹静 (D009, "cao") is recused there, 史芳 (D001, "shi") inspects other schools; its contact
/// 彭超 (C0001, "peng") completes W1 with photos at `paths` of the photo server.
async fn submitted(paths: &[String]) -> Harness {
    submitted_with(paths, "").await
}

/// [`submitted`] with more configuration after the test's own.
async fn submitted_with(paths: &[String], more: &str) -> Harness {
    let port = photo_server().await;
    let clock = ManualClock::new(Shanghai.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap().with_timezone(&Utc));
    let mut h = Harness::start_with(&format!("{CONFIG}{more}"), Some(clock)).await;
    for (acc, code) in [("sup", "S001"), ("hao", "D008"), ("cao", "D009"), ("shi", "D001"), ("peng", "C0001")] {
        h.bind(acc, code).await;
    }
    let out = h.say("hao: 记问题 实验小学 6 楼道灭火器过期").await;
    assert!(out.contains("W1"), "{out}");
    let parsed = parse_line("peng: 完成 W1 已更换灭火器，见照片").unwrap();
    let mut segments = vec![Segment::text(parsed.text.clone())];
    for p in paths {
        let url = format!("http://localhost:{port}{p}?rkey=secret-t0ken");
        segments.push(Segment::Image { media: MediaRef { name: None, url: Some(url), file_id: None } });
    }
    let msg = InboundMessage {
        chat: ChatRef::private("console", &parsed.account),
        sender: UserRef { id: parsed.account.clone(), display: Some("彭超".into()) },
        platform_msg_id: "photos-1".into(),
        segments,
        to_me: true,
        sent_at: Utc::now(),
    };
    h.app().ingest(msg).await.unwrap();
    let out = h.settle().await;
    assert!(out.contains(&format!("和{}张照片", paths.len())), "{out}");
    h
}

fn paths(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Files the console wrote whose name ends with `-<name>`, with their bytes.
fn written(h: &Harness, name: &str) -> Vec<Vec<u8>> {
    let dir = h.dir.path().join("files");
    let Ok(entries) = std::fs::read_dir(&dir) else { return Vec::new() };
    let suffix = format!("-{name}");
    entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(&suffix))
        .map(|e| std::fs::read(e.path()).unwrap())
        .collect()
}

fn file_count(h: &Harness) -> usize {
    std::fs::read_dir(h.dir.path().join("files")).map(|d| d.count()).unwrap_or(0)
}

#[tokio::test]
async fn the_office_and_the_responsible_inspector_get_the_photos() {
    let mut h = submitted(&paths(&["/a.jpg", "/b.png", "/gone"])).await;
    let r = dudao::app::rectify::fetch_evidence(h.app()).await.unwrap();
    assert_eq!((r.stored, r.failed), (2, 1));

    let out = h.say("sup: 证据 W1").await;
    assert!(out.contains("W1 示例县实验小学") && out.contains("整改照片2张"), "{out}");
    assert!(out.contains("W1-1.jpg，11月23日 09:00收到") && out.contains("W1-2.png"), "{out}");
    assert!(out.contains("1张下载失败"), "{out}");
    assert!(!out.contains("rkey") && !out.contains("localhost"), "the platform URL is never shown: {out}");
    assert_eq!(written(&h, "W1-1.jpg"), vec![JPEG.to_vec()]);
    assert_eq!(written(&h, "W1-2.png"), vec![PNG.to_vec()]);

    // 查问题 points the office and the inspector to the photos; the school is not told of 证据.
    let out = h.say("sup: 查问题 W1").await;
    assert!(out.contains("私聊发送“证据 W1”可查看照片"), "{out}");
    let out = h.say("peng: 查问题 W1").await;
    assert!(out.contains("照片2张") && !out.contains("证据 W1"), "{out}");
    let out = h.say("hao: 查看证据 W1").await;
    assert!(out.contains("整改照片2张"), "{out}");
    assert_eq!(written(&h, "W1-1.jpg").len(), 2, "the inspector got their own copy");
    assert_eq!(written(&h, "W1-2.png"), vec![PNG.to_vec(), PNG.to_vec()]);
    h.stop().await;
}

/// On the platform the item's page shows the stored photos as thumbnails, each served under the
/// chat's rules for `证据 W1`: the office and the school's inspector see them; a zone colleague,
/// the recused inspector and the school itself see the item but get "not found" for its photos.
#[tokio::test]
async fn the_items_page_shows_its_photos_to_those_who_may_see_the_item() {
    use common::site::{login, web_config, Site};
    let mut h = submitted_with(&paths(&["/a.jpg", "/b.png", "/gone"]), &web_config()).await;
    let r = dudao::app::rectify::fetch_evidence(h.app()).await.unwrap();
    assert_eq!((r.stored, r.failed), (2, 1));
    let site = Site::of(&h);
    let sup = login(&mut h, &site, "sup").await;
    let hao = login(&mut h, &site, "hao").await;
    let shi = login(&mut h, &site, "shi").await;
    let cao = login(&mut h, &site, "cao").await;
    let peng = login(&mut h, &site, "peng").await;

    // Two photos arrived; the third could not be downloaded and has no thumbnail.
    let (status, page) = site.get("/ledger/W1", &hao).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("照片2张"), "{page}");
    for n in [1, 2] {
        assert!(page.contains(&format!("<img src=\"/ledger/W1/photos/{n}\"")), "{page}");
    }
    assert!(!page.contains("/ledger/W1/photos/3"), "{page}");
    for cookie in [&sup, &hao] {
        for (n, bytes, mime) in [(1, JPEG, "image/jpeg"), (2, PNG, "image/png")] {
            let got = site.fetch(&format!("/ledger/W1/photos/{n}"), Some(cookie)).await;
            assert_eq!(got.status, StatusCode::OK);
            assert_eq!(got.bytes, bytes);
            assert_eq!(got.header("content-type"), mime);
            assert_eq!(got.header("x-content-type-options"), "nosniff");
        }
    }
    // A zone colleague who inspects other schools, and the recused inspector, see the item (as
    // `问题 W1` in chat) but not its photos (as `证据 W1`): no thumbnails, "not found" for the bytes.
    for cookie in [&shi, &cao] {
        let (status, page) = site.get("/ledger/W1", cookie).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page.contains("照片2张") && !page.contains("/ledger/W1/photos/"), "{page}");
        for path in ["/ledger/W1/photos/1", "/ledger/W1/photos/2"] {
            let got = site.fetch(path, Some(cookie)).await;
            assert_eq!(got.status, StatusCode::NOT_FOUND, "{path}");
            assert!(got.header("content-type").starts_with("text/html"));
        }
    }
    // The school's contact: the item is theirs, the photos are what they sent: not shown again.
    let (_, page) = site.get("/ledger/W1", &peng).await;
    assert!(!page.contains("/ledger/W1/photos/"), "{page}");
    assert_eq!(site.fetch("/ledger/W1/photos/1", Some(&peng)).await.status, StatusCode::NOT_FOUND);
    for path in ["/ledger/W1/photos/3", "/ledger/W1/photos/0", "/ledger/W9/photos/1", "/ledger/W1/photos/x"] {
        assert_eq!(site.fetch(path, Some(&sup)).await.status, StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(site.fetch("/ledger/W1/photos/1", None).await.status, StatusCode::UNAUTHORIZED);
    h.stop().await;
}

#[tokio::test]
async fn others_are_refused_without_learning_anything_about_the_item() {
    let mut h = submitted(&paths(&["/a.jpg"])).await;
    dudao::app::rectify::fetch_evidence(h.app()).await.unwrap();
    let before = file_count(&h);
    // Another inspector (same zone or not), a recused one: the same words as for no item at all.
    let other = h.say("shi: 证据 W1").await;
    let recused = h.say("cao: 证据 W1").await;
    let missing = h.say("shi: 证据 W99").await;
    for out in [&other, &recused] {
        assert!(out.contains("没有找到可供您查看的 W1 整改照片"), "{out}");
        assert!(!out.contains("实验小学") && !out.contains("照片1张"), "{out}");
    }
    assert!(missing.contains("没有找到可供您查看的 W99 整改照片"), "{missing}");
    // The school's own contact: the command is not for that role.
    let contact = h.say("peng: 证据 W1").await;
    assert!(contact.contains("不能使用“查看证据”") || contact.contains("不能使用“证据”"), "{contact}");
    assert!(!contact.contains("实验小学"), "{contact}");
    // In a group, even the supervisor is sent to a private chat.
    let group = h.say("sup@g1: 证据 W1").await;
    assert!(group.contains("请私聊我发送"), "{group}");
    assert_eq!(file_count(&h), before, "no file went out");
    // A supervisor asking for an item that does not exist is told so plainly.
    let out = h.say("sup: 证据 W99").await;
    assert!(out.contains("没有找到问题 W99"), "{out}");
    let out = h.say("sup: 证据").await;
    assert!(out.contains("请写明问题编号"), "{out}");
    let out = h.say("sup: 证据 W1 第3页").await;
    assert!(out.contains("没有第3页"), "{out}");
    assert_eq!(file_count(&h), before);
    h.stop().await;
}

#[tokio::test]
async fn photos_not_yet_downloaded_are_reported_not_linked() {
    let mut h = submitted(&paths(&["/a.jpg", "/b.png"])).await;
    // The fetcher has not run yet.
    let out = h.say("sup: 证据 W1").await;
    assert!(out.contains("暂无已保存的整改照片") && out.contains("另有2张尚在下载"), "{out}");
    assert!(!out.contains("http"), "{out}");
    assert_eq!(file_count(&h), 0);
    h.stop().await;
}

#[tokio::test]
async fn many_photos_come_nine_at_a_time() {
    let list: Vec<String> = (1..=11).map(|n| format!("/p{n}.jpg")).collect();
    let mut h = submitted(&list).await;
    let r = dudao::app::rectify::fetch_evidence(h.app()).await.unwrap();
    assert_eq!(r.stored, 11);
    let out = h.say("hao: 证据 W1").await;
    assert!(out.contains("整改照片11张（第1/2页），本次发送9张"), "{out}");
    assert!(out.contains("还有2张，发送“证据 W1 第2页”查看"), "{out}");
    assert_eq!(file_count(&h), 9);
    assert_eq!(written(&h, "W1-9.jpg"), vec![numbered(9)]);
    let out = h.say("hao: 证据 W1 第2页").await;
    assert!(out.contains("（第2/2页），本次发送2张") && !out.contains("还有"), "{out}");
    assert_eq!(written(&h, "W1-10.jpg"), vec![numbered(10)]);
    assert_eq!(written(&h, "W1-11.jpg"), vec![numbered(11)]);
    assert_eq!(file_count(&h), 11);
    h.stop().await;
}

#[tokio::test]
async fn a_stored_path_leaving_the_evidence_directory_is_not_read() {
    let mut h = submitted(&paths(&["/a.jpg"])).await;
    dudao::app::rectify::fetch_evidence(h.app()).await.unwrap();
    // A file outside the evidence directory, and a row pointing at it.
    std::fs::write(h.dir.path().join("outside.jpg"), JPEG).unwrap();
    dudao::sql::query("UPDATE rectify_evidence SET path = '../outside.jpg'").execute(h.db()).await.unwrap();
    let out = h.say("sup: 证据 W1").await;
    assert!(out.contains("文件无法读取"), "{out}");
    assert_eq!(file_count(&h), 0);
    h.stop().await;
}

#[tokio::test]
async fn over_qq_the_photo_arrives_as_an_uploaded_file() {
    use common::{roster_qq, settings_for, shanghai};
    use dudao::chat::onebot::{OneBotChannel, OneBotSettings};
    use dudao::domain::rectify::{Severity, Source, Status};
    use dudao::store::rectify as rs;
    use onebot_fake::{connect_reverse, Auth, Recorder};
    use serde_json::json;
    use std::sync::Arc;
    const TOKEN: &str = "evidence-t0ken";
    const WAIT: std::time::Duration = std::time::Duration::from_secs(20);
    let extra = format!(
        "[channels.console]\nenabled = false\n\
         [channels.onebot]\nenabled = true\naccess_token = \"{TOKEN}\"\nmin_interval_ms = 0\nmax_per_minute = 0\n\
         chat_min_interval_ms = 0\nchat_max_per_minute = 0\nsend_jitter_ms = 0\napi_timeout_ms = 5000\n\
         [rectify]\nsweep_cron = \"\"\nevidence_poll_secs = 3600\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let settings = settings_for(&dir, &extra);
    let ch = Arc::new(OneBotChannel::new(OneBotSettings::from_settings(&settings).unwrap().unwrap()));
    let channels: Vec<Arc<dyn dudao::Channel>> = vec![ch];
    let now = shanghai(12, 1, 9, 0);
    let running = dudao::service::start(settings, Arc::new(ManualClock::new(now)), channels).await.unwrap();
    let sup = roster_qq(&running.app.db, "supervisor").await;

    // An item with one stored photo, as the fetcher leaves it: the row, and the file under its hash.
    let db = &running.app.db;
    let school: i64 =
        dudao::sql::query_scalar("SELECT id FROM schools WHERE name = '示例县实验小学'").fetch_one(db).await.unwrap();
    let mut tx = dudao::db::begin_write(db).await.unwrap();
    let deadline = chrono::NaiveDate::from_ymd_opt(2026, 12, 10).unwrap();
    let item = rs::NewItem {
        school_id: school,
        category: 6,
        severity: Severity::General,
        source: Source::Direct,
        source_ref: None,
        description: "楼道灭火器过期",
        owner: "school",
        deadline,
        created_by: None,
    };
    let item_id = rs::insert(&mut tx, &item, now).await.unwrap();
    let ev = rs::EventRow {
        item_id,
        action: "submitted",
        from: None,
        to: Status::Submitted,
        actor_id: None,
        note: None,
        deadline,
    };
    let event = rs::add_event(&mut tx, &ev, now, deadline).await.unwrap();
    rs::add_evidence(&mut tx, item_id, event, "https://multimedia.nt.qq.com.cn/download?rkey=t0k", now).await.unwrap();
    let pending = rs::pending_evidence(&mut tx, 10).await.unwrap();
    let hash = {
        use sha2::Digest;
        format!("{:x}", sha2::Sha256::digest(JPEG))
    };
    let rel = format!("{}/{hash}", &hash[..2]);
    rs::evidence_fetched(&mut tx, &pending[0], &hash, JPEG.len() as i64, &rel, now).await.unwrap();
    tx.commit().await.unwrap();
    let path = dudao::app::rectify::evidence_dir(&running.app.settings).join(&rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, JPEG).unwrap();

    let rec = Recorder::new();
    let bot = connect_reverse(running.http_addr, "3000000017", Auth::Bearer(TOKEN), rec.clone()).await.unwrap();
    bot.private_msg(sup, json!(1), json!([{"type": "text", "data": {"text": format!("证据 W{item_id}")}}]));
    let up = rec.wait_for(1, WAIT, |a| a.action == "upload_private_file" && a.ok).await;
    assert_eq!(up[0].params["user_id"], sup);
    assert_eq!(up[0].params["name"], format!("W{item_id}-1.jpg"));
    let b64 = up[0].params["file"].as_str().unwrap().strip_prefix("base64://").expect("sent inline");
    let bytes = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64).unwrap();
    assert_eq!(bytes, JPEG);
    let said = rec.wait_for(1, WAIT, |a| a.action == "send_private_msg" && a.params["user_id"] == sup && a.ok).await;
    assert!(said[0].text().contains("整改照片1张"), "{}", said[0].text());
    assert!(!said[0].text().contains("rkey"), "{}", said[0].text());
    running.drain(WAIT).await;
    assert_eq!(rec.actions().iter().filter(|a| a.action == "upload_private_file").count(), 1, "sent once");
    bot.close();
    running.stop().await;
}
