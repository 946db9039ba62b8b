//! The platform in a real browser, driven through WebDriver: Debian's headless Chromium under
//! its `chromedriver` (started here on a free loopback port), with fantoccini. From the user's
//! side: an inspector logs in through the link the bot sends, sees 我的待办, files a visit
//! record with a photo through the H5 form; a school contact and another zone's inspector are
//! refused when they try to close an item; its responsible inspector closes it from the item's
//! page. Screenshots of each page go to `target/web-screenshots/`.
//!
//! Fails (never skips) without `/usr/bin/chromedriver`: install Debian's `chromium-driver`
//! (`.ci/run` does).

mod common;
use common::{shanghai as local, Harness};

use dudao::clock::ManualClock;
use fantoccini::{Client, ClientBuilder, Locator};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// The platform's configured address; links are opened on the test's listener instead.
const BASE: &str = "http://platform.example.test";
/// How long any one condition may take to hold.
const PATIENCE: Duration = Duration::from_secs(30);

/// chromedriver on a free loopback port, killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    async fn start() -> Driver {
        assert!(
            Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists(),
            "{CHROMEDRIVER} or {CHROMIUM} is missing: the real-browser test needs Debian's chromium and \
             chromium-driver (apt-get install -y chromium chromium-driver; .ci/run installs them)"
        );
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        // Ready when it answers its status endpoint.
        let http = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Ok(r) = http.get(format!("{url}/status")).send().await {
                if r.status().is_success() {
                    break;
                }
            }
            assert!(tokio::time::Instant::now() < deadline, "chromedriver did not answer on {url}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Driver { child, url }
    }

    /// A headless Chromium session with a phone-sized window.
    async fn browser(&self) -> Client {
        let caps = serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--no-first-run", "--window-size=390,844"],
            },
        });
        let serde_json::Value::Object(caps) = caps else { unreachable!() };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector).capabilities(caps).connect(&self.url).await.expect("a WebDriver session")
    }
}

/// Asks the bot for a login link in a private chat and turns it into one on this listener,
/// landing on `next`.
async fn link(h: &mut Harness, account: &str, next: &str) -> String {
    let out = h.say(&format!("{account}: 登录")).await;
    let at = out.find(&format!("{BASE}/login/")).unwrap_or_else(|| panic!("no login link for {account}: {out}"));
    let tail = &out[at + BASE.len()..];
    let end = tail["/login/".len()..]
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .map_or(tail.len(), |i| i + "/login/".len());
    let addr = h.running.as_ref().expect("running").http_addr;
    format!("http://{addr}{}?next={next}", &tail[..end])
}

/// Waits for an element whose text contains `text` (an XPath over the whole page).
async fn wait_text(c: &Client, tag: &str, text: &str) -> fantoccini::elements::Element {
    let xpath = format!("//{tag}[contains(., '{text}')]");
    match c.wait().at_most(PATIENCE).for_element(Locator::XPath(&xpath)).await {
        Ok(e) => e,
        Err(e) => {
            let page = c.source().await.unwrap_or_default();
            panic!("no <{tag}> with “{text}” ({e}): {page}")
        }
    }
}

async fn shot(c: &Client, dir: &Path, name: &str) {
    let png = c.screenshot().await.expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
    std::fs::write(dir.join(format!("browser-{name}.png")), png).unwrap();
}

/// A small real PNG, as a phone camera would hand over (smaller).
fn photo(path: &Path) {
    let file = std::fs::File::create(path).unwrap();
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), 8, 6);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header().unwrap();
    let data: Vec<u8> = (0..8 * 6 * 3).map(|i| (i * 5 % 256) as u8).collect();
    w.write_image_data(&data).unwrap();
    w.finish().unwrap();
}

/// Posts the item's close form from the current page as whoever is signed in, with their own
/// valid CSRF token (the logout form's): what a person without the button could still try.
async fn try_close(c: &Client, item: &str) {
    let script = format!(
        "const f = document.createElement('form'); f.method = 'post'; f.action = '/ledger/{item}/close';
         f.appendChild(document.querySelector('input[name=csrf]').cloneNode());
         document.body.appendChild(f); f.submit();"
    );
    c.execute(&script, Vec::new()).await.expect("the crafted form is sent");
}

async fn scalar(h: &Harness, sql: &str) -> i64 {
    dudao::sql::query_scalar(sql).fetch_one(h.db()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_files_a_visit_and_closes_an_item_and_others_are_refused() {
    let clock = ManualClock::new(local(12, 3, 15, 0));
    let toml = format!("[weekly]\nexempt_invited = false\n\n[web]\nbase_url = \"{BASE}\"\n");
    let mut h = Harness::start_with(&toml, Some(clock.clone())).await;
    for (acct, code) in [("zhang", "D005"), ("hao", "D008"), ("peng", "C0001")] {
        h.bind(acct, code).await;
    }
    let other = common::inspector_outside_zone_of(h.db(), "C0001").await;
    h.bind("far", &other).await;
    let out = h.say("hao: 记问题 实验小学 安全 实验室危化品柜未上锁").await;
    assert!(out.contains("已登记问题 W1"), "{out}");
    let out = h.say("peng: 完成 W1 危化品柜已加装双锁").await;
    assert!(out.contains("已提交 W1"), "{out}");

    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/web-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let files = tempfile::tempdir().unwrap();
    let picture = files.path().join("现场照片.png");
    photo(&picture);

    let driver = Driver::start().await;
    let c = driver.browser().await;

    // The inspector opens the link from the chat and lands on 我的待办.
    c.goto(&link(&mut h, "zhang", "/").await).await.unwrap();
    wait_text(&c, "h1", "我的待办").await;
    wait_text(&c, "span", "张兰英（责任督学）").await;
    shot(&c, &shots, "home").await;

    // 填写督导纪实: the first of their schools, two methods, a problem with markup, a photo.
    wait_text(&c, "a", "填写督导纪实").await.click().await.unwrap();
    let school = c.wait().at_most(PATIENCE).for_element(Locator::Css("select[name=school]")).await.unwrap();
    school.select_by_index(1).await.unwrap();
    for m in ["campus_walk", "document_review"] {
        c.find(Locator::Css(&format!("input[name=method][value={m}]"))).await.unwrap().click().await.unwrap();
    }
    c.find(Locator::Css("textarea[name=problems]")).await.unwrap().send_keys("功能室<b>插座</b>老化").await.unwrap();
    c.find(Locator::Css("input[name=photos]")).await.unwrap().send_keys(picture.to_str().unwrap()).await.unwrap();
    shot(&c, &shots, "visit-form").await;
    c.find(Locator::Css("form.form button[type=submit]")).await.unwrap().click().await.unwrap();
    wait_text(&c, "h1", "督导纪实 V").await;
    let record = c.find(Locator::Css("dd.verbatim")).await.unwrap().text().await.unwrap();
    assert!(record.contains("功能室<b>插座</b>老化") && record.contains("查阅资料、校园巡视"), "{record}");
    wait_text(&c, "dd", "1张").await;
    shot(&c, &shots, "visit").await;
    assert_eq!(scalar(&h, "SELECT COUNT(*) FROM visits WHERE status = 'submitted'").await, 1);
    assert_eq!(scalar(&h, "SELECT COUNT(*) FROM visit_photos WHERE mime = 'image/png'").await, 1);
    let out = h.settle().await;
    assert!(out.contains("已收到督导纪实"), "the confirmation in chat: {out}");

    // The school contact sees the item but no close button; a crafted close is refused (403).
    c.goto(&link(&mut h, "peng", "/ledger/1").await).await.unwrap();
    wait_text(&c, "h1", "W1").await;
    assert!(c.find(Locator::Css("form[action$='/close']")).await.is_err(), "no close form for the school");
    try_close(&c, "W1").await;
    wait_text(&c, "h1", "无权办理").await;
    wait_text(&c, "p", "学校不能给本校问题销号").await;
    shot(&c, &shots, "refused-school").await;
    // Another zone's inspector: the item does not exist for them (404), even by a crafted post.
    c.goto(&link(&mut h, "far", "/ledger/1").await).await.unwrap();
    wait_text(&c, "h1", "没有找到").await;
    try_close(&c, "W1").await;
    wait_text(&c, "h1", "没有找到").await;
    assert_eq!(
        dudao::sql::query_scalar::<String>("SELECT status FROM rectify_items WHERE id = 1")
            .fetch_one(h.db())
            .await
            .unwrap(),
        "submitted"
    );

    // The responsible inspector closes it from the item's page.
    c.goto(&link(&mut h, "hao", "/ledger/1").await).await.unwrap();
    wait_text(&c, "h1", "W1").await;
    shot(&c, &shots, "item-verify").await;
    c.find(Locator::Css("form[action$='/close'] textarea")).await.unwrap().send_keys("现场复查属实").await.unwrap();
    c.find(Locator::Css("form[action$='/close'] button")).await.unwrap().click().await.unwrap();
    wait_text(&c, "p", "已销号，已通知学校").await;
    wait_text(&c, "dd", "已销号").await;
    wait_text(&c, "li", "现场复查属实").await;
    shot(&c, &shots, "item-closed").await;
    assert_eq!(
        dudao::sql::query_scalar::<String>("SELECT status FROM rectify_items WHERE id = 1")
            .fetch_one(h.db())
            .await
            .unwrap(),
        "closed"
    );
    assert_eq!(
        scalar(&h, "SELECT COUNT(*) FROM audit_log WHERE via = 'web' AND entity_id = 'W1' AND action = 'closed'").await,
        1
    );
    let out = h.settle().await;
    assert!(out.contains("【整改销号】W1"), "the school is told in chat: {out}");

    c.close().await.unwrap();
    drop(driver);
    h.stop().await;
}
