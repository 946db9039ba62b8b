//! The evidence fetcher against hostile photo URLs: loopback and private addresses in every
//! spelling, redirects into the office network, redirect chains, and tokens in URLs. The real
//! service on a temporary SQLite file, the console channel, and a real HTTP server on loopback.

mod common;
use common::logs::Logs;

use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use chrono::{TimeZone, Utc};
use chrono_tz::Asia::Shanghai;
use common::Harness;
use dudao::chat::console::parse_line;
use dudao::chat::{ChatRef, InboundMessage, MediaRef, Segment, UserRef};
use dudao::clock::ManualClock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

const PHOTO: &[u8] = b"\xff\xd8\xffJPEG-rectified-corridor";

/// The fetcher is driven by hand; failures are final at once.
fn config(allow: &str) -> String {
    format!(
        "[rectify]\nsweep_cron = \"\"\nevidence_poll_secs = 3600\nevidence_timeout_secs = 2\nevidence_max_bytes = 4096\n\
         evidence_max_attempts = 1\nevidence_allow_hosts = [{allow}]\n"
    )
}

/// 郝涛 (D008, "hao") records a problem at 实验小学; its contact 彭超 (C0001, "peng") completes it
/// with the photos at `urls`.
async fn submit_photos(allow: &str, urls: &[String]) -> Harness {
    let clock = ManualClock::new(Shanghai.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap().with_timezone(&Utc));
    let mut h = Harness::start_with(&config(allow), Some(clock)).await;
    h.bind("hao", "D008").await;
    h.bind("peng", "C0001").await;
    h.say("hao: 记问题 实验小学 6 楼道灭火器过期").await;
    let parsed = parse_line("peng: 完成 W1 已更换灭火器，见照片").unwrap();
    let mut segments = vec![Segment::text(parsed.text.clone())];
    for u in urls {
        segments.push(Segment::Image { media: MediaRef { name: None, url: Some(u.clone()), file_id: None } });
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
    assert!(out.contains(&format!("和{}张照片", urls.len())), "{out}");
    h
}

/// A photo server on loopback with an "internal" endpoint that must never be reached, and
/// redirects of every kind. Returns its port and the internal endpoint's hit counter.
async fn photo_server() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let internal = Arc::new(AtomicUsize::new(0));
    let hits = internal.clone();
    let redirect = |to: String| move || async move { (StatusCode::FOUND, [(header::LOCATION, to)]).into_response() };
    let app = axum::Router::new()
        .route("/a.jpg", get(|| async { PHOTO }))
        .route(
            "/internal",
            get(move || async move {
                hits.fetch_add(1, Ordering::SeqCst);
                PHOTO
            }),
        )
        .route("/once", get(redirect("/a.jpg".into())))
        .route("/to-internal", get(redirect(format!("http://127.0.0.1:{port}/internal"))))
        .route("/to-decimal", get(redirect(format!("http://2130706433:{port}/internal"))))
        .route("/hop1", get(redirect("/hop2".into())))
        .route("/hop2", get(redirect("/hop3".into())))
        .route("/hop3", get(redirect("/hop4".into())))
        .route("/hop4", get(redirect("/a.jpg".into())));
    tokio::spawn(async move {
        axum::serve(listener, app).await.ok();
    });
    (port, internal)
}

/// (url, status, error) of every evidence row, in order.
async fn evidence(h: &Harness) -> Vec<(String, String, Option<String>)> {
    dudao::sql::query_as("SELECT url, status, error FROM rectify_evidence ORDER BY id").fetch_all(h.db()).await.unwrap()
}

#[tokio::test]
async fn photo_urls_pointing_inside_the_office_network_are_refused() {
    let (port, internal) = photo_server().await;
    let urls: Vec<String> = [
        format!("http://127.0.0.1:{port}/internal"),
        format!("http://2130706433:{port}/internal"),
        format!("http://0x7f.1:{port}/internal"),
        format!("http://0177.0.0.1:{port}/internal"),
        format!("http://[::ffff:127.0.0.1]:{port}/internal"),
        format!("http://[::1]:{port}/internal"),
        format!("http://localhost:{port}/internal"),
        format!("http://0.0.0.0:{port}/internal"),
        "http://10.255.255.1/internal".to_string(),
    ]
    .to_vec();
    let h = submit_photos("", &urls).await;
    let r = dudao::app::rectify::fetch_evidence(h.app()).await.unwrap();
    assert_eq!((r.stored, r.duplicates, r.failed), (0, 0, urls.len()));
    assert_eq!(internal.load(Ordering::SeqCst), 0, "no request reached the internal endpoint");
    for (url, status, error) in evidence(&h).await {
        assert_eq!(status, "failed", "{url}");
        let error = error.unwrap_or_default();
        assert!(error.contains("non-public address") && error.contains("evidence_allow_hosts"), "{url}: {error}");
    }
    h.stop().await;
}

#[tokio::test]
async fn redirects_are_vetted_hop_by_hop_and_capped() {
    let (port, internal) = photo_server().await;
    // The office allows its intranet image server by name; the addresses behind other names
    // (and bare IPs) are still vetted.
    let base = format!("http://localhost:{port}");
    let urls: Vec<String> =
        ["/once", "/to-internal", "/to-decimal", "/hop1"].iter().map(|p| format!("{base}{p}")).collect();
    let h = submit_photos("\"LocalHost\"", &urls).await;
    let r = dudao::app::rectify::fetch_evidence(h.app()).await.unwrap();
    assert_eq!((r.stored, r.duplicates, r.failed), (1, 0, 3));
    assert_eq!(internal.load(Ordering::SeqCst), 0, "no redirect reached the internal endpoint");
    let rows = evidence(&h).await;
    assert_eq!(rows[0].1, "stored", "{rows:?}");
    for row in &rows[1..3] {
        let e = row.2.as_deref().unwrap_or_default();
        assert!(e.contains("non-public address") && e.contains("127.0.0.1"), "{row:?}");
    }
    assert!(rows[3].2.as_deref().unwrap_or_default().contains("too many redirects"), "{:?}", rows[3]);
    h.stop().await;
}

#[tokio::test]
async fn tokens_in_photo_urls_stay_out_of_errors_and_logs() {
    let (port, _) = photo_server().await;
    let urls = vec![
        // Not found on an allowed server; the QQ-style download token must not be echoed.
        format!("http://localhost:{port}/missing.jpg?appid=1407&rkey=CAQSKTOPSECRETRKEY1"),
        // Refused before any request.
        format!("http://127.0.0.1:{port}/a.jpg?rkey=CAQSKTOPSECRETRKEY2"),
    ];
    let h = submit_photos("\"localhost\"", &urls).await;
    let (logs, guard) = Logs::capture(tracing::Level::TRACE);
    let r = dudao::app::rectify::fetch_evidence(h.app()).await.unwrap();
    drop(guard);
    let rows = evidence(&h).await;
    let logged = logs.text();
    assert!(logged.contains("evidence download failed"), "{logged}");
    assert!(!logged.contains("TOPSECRET"), "a token was logged: {logged}");
    assert_eq!(r.failed, 2);
    for (url, _, error) in &rows {
        let e = error.as_deref().unwrap_or_default();
        assert!(!e.contains("TOPSECRET"), "a token in last error: {e}");
        assert!(e.contains("?…"), "the query is shown as elided: {e}");
        assert!(url.contains("TOPSECRET"), "the stored URL itself is kept for a retry by hand");
    }
    assert!(rows[0].2.as_deref().unwrap().contains(&format!("http://localhost:{port}/missing.jpg?…")), "{rows:?}");
    h.stop().await;
}

#[test]
fn the_allow_list_is_checked_at_startup() {
    use dudao::config::Settings;
    for bad in ["\"10.0.0.0/33\"", "\"\"", "\"http://intranet/\"", "\"1.2.3.4/x\"", "\"bad host\""] {
        let e = Settings::from_toml_over_default(&format!("[rectify]\nevidence_allow_hosts = [{bad}]\n")).unwrap_err();
        assert_eq!(e.key, "rectify.evidence_allow_hosts[0]", "{bad}: {e}");
    }
    let s = Settings::from_toml_over_default(
        "[rectify]\nevidence_allow_hosts = [\"10.20.0.0/16\", \"fd00::/8\", \"192.168.1.5\", \"img.intranet.local\"]\n",
    )
    .unwrap();
    assert_eq!(s.rectify.evidence_allow_hosts.len(), 4);
    assert!(Settings::from_toml_over_default("").unwrap().rectify.evidence_allow_hosts.is_empty());
}
