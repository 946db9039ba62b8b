//! `统计 <主题>`: the figures as text and a chart as an image. Over the OneBot stand-in (a real
//! WebSocket) the supervisor gets the text and then an `image` segment whose base64 is a PNG
//! of sane dimensions; the console writes the PNG and prints its path; a channel that cannot
//! show images gets the text alone (the image row left out, no link). Only supervisors may ask.

mod common;
#[path = "common/onebot_fake.rs"]
mod onebot_fake;
#[path = "common/webhook_fake.rs"]
mod webhook_fake;

use std::sync::Arc;
use std::time::Duration;

use common::scenario::{november, CONFIG};
use common::{first_person, roster_qq, settings_for, shanghai, Harness};
use dudao::chat::{Attachment, ChatRef};
use dudao::clock::ManualClock;
use dudao::outbox::{Envelope, Recipient};
use onebot_fake::{connect_reverse, Auth, Recorder};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(20);

/// Whether the chart font is there. In CI (`CI=true`, where .ci/run installs fonts-noto-cjk)
/// its absence fails the test; elsewhere the test is skipped with a notice.
fn chart_font() -> bool {
    match dudao::charts::font::locate("") {
        Ok(_) => true,
        Err(why) if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false") => {
            panic!("no chart font in CI ({why}): .ci/run should have installed fonts-noto-cjk")
        }
        Err(why) => {
            eprintln!("NOTICE: chart test skipped, no CJK font ({why}); apt-get install fonts-noto-cjk to run it");
            false
        }
    }
}

/// Width and height from a PNG's header, after checking it decodes whole.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "a PNG signature");
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes)).read_info().expect("a PNG header");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("the PNG's image data decodes");
    // Not a blank canvas: some pixels are dark (text, axes).
    let dark = buf[..info.buffer_size()].chunks(3).filter(|p| p.iter().all(|c| *c < 80)).count();
    assert!(dark > 1000, "text and axes drawn: {dark} dark pixels");
    (info.width, info.height)
}

fn assert_sane_chart(bytes: &[u8], charts: u32) {
    assert!((10 * 1024..2 * 1024 * 1024).contains(&bytes.len()), "PNG of {} bytes", bytes.len());
    let (w, h) = png_size(bytes);
    assert_eq!((w, h), (dudao::charts::WIDTH, dudao::charts::CHART_HEIGHT * charts));
}

/// The November scenario, then the same database served over OneBot only.
async fn november_over_qq() -> (tempfile::TempDir, dudao::service::Running, ManualClock) {
    let clock = ManualClock::new(shanghai(11, 2, 8, 0));
    let mut h = Harness::start_with(CONFIG, Some(clock.clone())).await;
    november(&mut h, &clock).await;
    let dir = h.stop().await;
    const TOKEN: &str = "charts-t0ken";
    let extra = format!(
        "{CONFIG}\n[channels.onebot]\nenabled = true\naccess_token = \"{TOKEN}\"\nmin_interval_ms = 0\nmax_per_minute = 0\n\
         chat_min_interval_ms = 0\nchat_max_per_minute = 0\nsend_jitter_ms = 0\napi_timeout_ms = 5000\n"
    );
    let settings = settings_for(&dir, &extra);
    let enabled = dudao::chat::registry::from_config(&settings).unwrap();
    let clock = ManualClock::new(shanghai(12, 1, 10, 0));
    let running = dudao::service::start(settings, Arc::new(clock.clone()), enabled.channels).await.unwrap();
    (dir, running, clock)
}

#[tokio::test]
async fn over_qq_a_supervisor_gets_the_figures_then_the_chart_image() {
    if !chart_font() {
        return;
    }
    let (_dir, running, _clock) = november_over_qq().await;
    let sup = roster_qq(&running.app.db, "supervisor").await;
    let rec = Recorder::new();
    let bot =
        connect_reverse(running.http_addr, "3000000021", Auth::Bearer("charts-t0ken"), rec.clone()).await.unwrap();

    bot.private_msg(sup, json!(1), json!([{"type": "text", "data": {"text": "统计 整改"}}]));
    let to_sup = |a: &onebot_fake::Action| a.action == "send_private_msg" && a.params["user_id"] == sup && a.ok;
    let sent = rec.wait_for(2, WAIT, to_sup).await;
    // First the figures as text: the three problems the scenario recorded in November.
    let text = sent[0].text();
    assert!(text.starts_with("整改统计（2026-07-01 至 2026-12-31，全县）"), "{text}");
    assert!(text.contains("登记问题 3 个") && text.contains("整改率"), "{text}");
    assert!(sent[0].segments().iter().all(|s| s["type"] == "text"), "the text carries no image");
    // Then the chart: one image segment, the PNG inline as base64.
    let segs = sent[1].segments();
    assert_eq!(segs.len(), 1, "{segs:?}");
    assert_eq!(segs[0]["type"], "image");
    let file = segs[0]["data"]["file"].as_str().unwrap();
    let b64 = file.strip_prefix("base64://").expect("the picture inline");
    let png = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64).unwrap();
    // 整改: the rate by month and the problems by category, one under the other.
    assert_sane_chart(&png, 2);
    // Nothing was uploaded as a file: the chart is a picture in the conversation.
    running.drain(WAIT).await;
    assert!(!rec.actions().iter().any(|a| a.is_upload()), "no file upload");
    let statuses: Vec<String> = dudao::sql::query_scalar("SELECT status FROM outbox WHERE file_id IS NOT NULL")
        .fetch_all(&running.app.db)
        .await
        .unwrap();
    assert_eq!(statuses, vec!["sent".to_string()]);
    bot.close();
    running.stop().await;
}

#[tokio::test]
async fn in_a_group_over_qq_the_chart_goes_to_the_group() {
    if !chart_font() {
        return;
    }
    let (_dir, running, _clock) = november_over_qq().await;
    let sup = roster_qq(&running.app.db, "supervisor").await;
    let rec = Recorder::new();
    let bot =
        connect_reverse(running.http_addr, "3000000022", Auth::Bearer("charts-t0ken"), rec.clone()).await.unwrap();
    bot.group_msg(700300, sup, json!(7), json!([{"type": "text", "data": {"text": "统计 督办 2026-11"}}]));
    let to_group = |a: &onebot_fake::Action| a.action == "send_group_msg" && a.params["group_id"] == 700300 && a.ok;
    let sent = rec.wait_for(2, WAIT, to_group).await;
    let text = sent[0].text();
    assert!(text.contains("督办统计（2026年11月，全县）") && text.contains("分派"), "{text}");
    let segs = sent[1].segments();
    assert_eq!(segs[0]["type"], "image", "{segs:?}");
    let b64 = segs[0]["data"]["file"].as_str().unwrap().strip_prefix("base64://").unwrap();
    assert_sane_chart(&base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64).unwrap(), 1);
    bot.close();
    running.stop().await;
}

/// The path the console printed for an image.
fn console_image(out: &str) -> Option<std::path::PathBuf> {
    let line = out.lines().find(|l| l.contains("[图片] "))?;
    Some(std::path::PathBuf::from(line.split(" → ").nth(1)?.trim()))
}

#[tokio::test]
async fn the_console_writes_the_chart_and_each_topic_answers() {
    if !chart_font() {
        return;
    }
    let clock = ManualClock::new(shanghai(11, 2, 8, 0));
    let mut h = Harness::start_with(CONFIG, Some(clock.clone())).await;
    november(&mut h, &clock).await;
    clock.set(shanghai(12, 1, 10, 0));

    let out = h.say("sup: 统计 周报 上月").await;
    assert!(out.contains("周报统计（2026年11月，全县）") && out.contains("按期报送率"), "{out}");
    let path = console_image(&out).unwrap_or_else(|| panic!("no image in {out}"));
    assert!(path.to_string_lossy().ends_with("周报统计_全县_2026-11.png"), "{}", path.display());
    assert!(path.starts_with(h.dir.path().join("files")), "{}", path.display());
    let bytes = std::fs::read(&path).unwrap();
    // The zones' reporting rate and the trend over November's four weeks.
    assert_sane_chart(&bytes, 2);
    // The text comes before the picture.
    assert!(out.find("周报统计（").unwrap() < out.find("[图片]").unwrap(), "{out}");

    let out = h.say("sup: 统计 纪实 2026-11 第一督学责任区").await;
    assert!(out.contains("纪实统计（2026年11月，第一督学责任区）") && out.contains("定额"), "{out}");
    assert!(console_image(&out).is_some(), "{out}");

    // Polite answers with no picture: an unknown topic lists the topics; a bad scope says so.
    let out = h.say("sup: 统计 天气").await;
    assert!(out.contains("没有“天气”这个统计主题") && out.contains("周报、纪实、整改、督办"), "{out}");
    assert!(console_image(&out).is_none(), "{out}");
    let out = h.say("sup: 统计 整改 火星责任区").await;
    assert!(out.contains("火星责任区") && console_image(&out).is_none(), "{out}");
    let out = h.say("sup: 统计").await;
    assert!(out.contains("用法：统计"), "{out}");
    h.stop().await;
}

#[tokio::test]
async fn only_supervisors_see_statistics() {
    let mut h = Harness::start().await;
    let inspector = first_person(h.db(), "inspector").await;
    h.bind("insp", &inspector).await;
    let out = h.say("insp: 统计 整改").await;
    assert!(out.contains("不能使用“统计”"), "{out}");
    assert!(!out.contains("整改统计") && console_image(&out).is_none(), "{out}");
    // Someone unbound learns how to bind, and nothing else.
    let out = h.say("stranger: 统计 整改").await;
    assert!(!out.contains("整改统计") && !out.contains("登记问题") && console_image(&out).is_none(), "{out}");
    h.stop().await;
}

#[tokio::test]
async fn a_channel_that_cannot_show_images_gets_the_text_alone() {
    let (hook, url) = webhook_fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings_for(
        &dir,
        &format!("[channels.console]\nenabled = false\n[[channels.webhook]]\nname = \"hook\"\nurl = \"{url}\"\n"),
    );
    // With a public address a file would come as a link: an image must not.
    settings.http.public_url = "https://dudao.example.org/".into();
    let enabled = dudao::chat::registry::from_config(&settings).unwrap();
    let running = dudao::service::start(settings, Arc::new(dudao::clock::SystemClock), enabled.channels).await.unwrap();
    let chat = ChatRef::group("hook", "board");
    // As `统计` queues it: the figures as the caption, the chart after them.
    let mut tx = dudao::db::begin_write(&running.app.db).await.unwrap();
    let chart = Attachment::image("整改统计.png", vec![0x89, b'P', b'N', b'G', 1, 2, 3]);
    let env = Envelope::file("i1", Recipient::Chat(chat), chart, Some("整改统计：登记问题 3 个".into()), "test");
    dudao::outbox::enqueue(&mut tx, &running.app.directory, running.app.clock.now(), env).await.unwrap();
    tx.commit().await.unwrap();
    running.app.outbox_notify.notify_waiters();

    let got = hook.wait_for(1, WAIT).await;
    assert_eq!(got[0].text, "整改统计：登记问题 3 个");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let status: String = dudao::sql::query_scalar("SELECT status FROM outbox WHERE idempotency_key = 'i1#file'")
            .fetch_one(&running.app.db)
            .await
            .unwrap();
        if status == "cancelled" {
            break;
        }
        assert!(status == "pending" || status == "sending", "left out, never sent: {status}");
        assert!(tokio::time::Instant::now() < deadline, "the image row was never settled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    running.drain(WAIT).await;
    assert_eq!(hook.arrivals().len(), 1, "no link, no second message");
    let links: i64 =
        dudao::sql::query_scalar("SELECT COUNT(*) FROM file_links").fetch_one(&running.app.db).await.unwrap();
    assert_eq!(links, 0);
    running.stop().await;
}
