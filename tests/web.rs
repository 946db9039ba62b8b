//! The supervision platform (督导信息平台) over a real listener on loopback and a real SQLite
//! file: login links from the chat (single use, expiry, never in groups), the session cookie,
//! scope (an inspector guessing another zone's item id gets 404), escaping of hostile chat
//! text, CSRF refusal, the login rate limit and the security headers.

mod common;
use common::site::{tiny_png, OFFICE_GROUPS};
use common::{shanghai as local, tick_at, Harness};

use dudao::clock::ManualClock;
use reqwest::header::{HeaderMap, COOKIE, LOCATION, SET_COOKIE};
use reqwest::StatusCode;

const WEEKLY: &str = "[weekly]\nexempt_invited = false\n";

/// The groups above, and the platform at an https address behind a proxy, with `limit` login
/// links per client address and minute.
fn config(limit: u32) -> String {
    config_at("https://dudao.example.test/", limit)
}

fn config_at(base_url: &str, limit: u32) -> String {
    format!("{WEEKLY}{OFFICE_GROUPS}\n[web]\nbase_url = \"{base_url}\"\nlogin_attempts_per_minute = {limit}\n")
}

/// The listener as a browser reaches it: no automatic redirects, cookies handled by hand so
/// their attributes can be checked.
struct Site {
    root: String,
    client: reqwest::Client,
}

impl Site {
    fn of(h: &Harness) -> Site {
        let addr = h.running.as_ref().expect("running").http_addr;
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Site { root: format!("http://{addr}"), client }
    }

    async fn get(&self, path: &str, cookie: Option<&str>) -> (StatusCode, HeaderMap, String) {
        let mut req = self.client.get(format!("{}{path}", self.root));
        if let Some(c) = cookie {
            req = req.header(COOKIE, c);
        }
        let res = req.send().await.unwrap();
        let (status, headers) = (res.status(), res.headers().clone());
        (status, headers, res.text().await.unwrap())
    }

    async fn post_form(&self, path: &str, cookie: &str, form: &[(&str, &str)]) -> (StatusCode, HeaderMap, String) {
        let res =
            self.client.post(format!("{}{path}", self.root)).header(COOKIE, cookie).form(form).send().await.unwrap();
        let (status, headers) = (res.status(), res.headers().clone());
        (status, headers, res.text().await.unwrap())
    }

    async fn post_multipart(
        &self,
        path: &str,
        cookie: &str,
        form: reqwest::multipart::Form,
    ) -> (StatusCode, HeaderMap, String) {
        let res = self
            .client
            .post(format!("{}{path}", self.root))
            .header(COOKIE, cookie)
            .multipart(form)
            .send()
            .await
            .unwrap();
        let (status, headers) = (res.status(), res.headers().clone());
        (status, headers, res.text().await.unwrap())
    }

    /// Opens a login link (its path on this listener) and returns the `name=value` of the
    /// session cookie it set, with the full `Set-Cookie` header.
    async fn open(&self, link_path: &str) -> (String, String) {
        let (status, headers, body) = self.get(link_path, None).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
        assert_eq!(headers.get(LOCATION).unwrap(), "/");
        let set = headers.get(SET_COOKIE).expect("a session cookie").to_str().unwrap().to_string();
        (set.split(';').next().unwrap().to_string(), set)
    }
}

/// The path of the login link in the bot's answer (`/login/<token>`), if there is one.
fn link_path(out: &str) -> Option<String> {
    link_path_at(out, "https://dudao.example.test")
}

fn link_path_at(out: &str, base: &str) -> Option<String> {
    let start = out.find(&format!("{base}/login/"))? + base.len();
    let tail = &out[start..];
    let end = tail["/login/".len()..]
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .map_or(tail.len(), |i| i + "/login/".len());
    Some(tail[..end].to_string())
}

async fn login(h: &mut Harness, site: &Site, account: &str) -> String {
    let out = h.say(&format!("{account}: 登录")).await;
    let path = link_path(&out).unwrap_or_else(|| panic!("no login link for {account}: {out}"));
    site.open(&path).await.0
}

/// The CSRF token in a page's logout form.
fn csrf_of(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a logout form") + "name=\"csrf\" value=\"".len();
    page[at..].split('"').next().unwrap().to_string()
}

async fn scalar_i64(h: &Harness, sql: &str) -> i64 {
    dudao::sql::query_scalar(sql).fetch_one(h.db()).await.unwrap()
}

#[tokio::test]
async fn login_links_work_once_expire_and_never_go_to_groups() {
    let clock = ManualClock::new(local(12, 1, 9, 0));
    let mut h = Harness::start_with(&config(30), Some(clock.clone())).await;
    let site = Site::of(&h);
    h.bind("lu", "S001").await;

    // In a group: a polite refusal pointing to a private chat, and no link.
    let out = h.say("lu@office: 登录").await;
    assert!(out.contains("请私聊"), "{out}");
    assert!(link_path(&out).is_none() && !out.contains("/login/"), "{out}");
    // An unknown account learns how to bind, nothing else.
    let out = h.say("stranger: web").await;
    assert!(!out.contains("/login/") && out.contains("绑定"), "{out}");

    // Privately: a link; opening it sets the session cookie and goes home.
    let out = h.say("lu: 登录").await;
    assert!(out.contains("10分钟内有效"), "{out}");
    let path = link_path(&out).expect("a link");
    let token = path.trim_start_matches("/login/").to_string();
    assert_eq!(scalar_i64(&h, &format!("SELECT COUNT(*) FROM web_login_links WHERE token_hash = '{token}'")).await, 0);
    let stored = scalar_i64(&h, &format!("SELECT COUNT(*) FROM outbox WHERE segments LIKE '%{token}%'")).await;
    assert_eq!(stored, 1, "the message with the link, as sent");
    let (cookie, set) = site.open(&path).await;
    for attr in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/", "Max-Age=43200"] {
        assert!(set.split(';').any(|a| a.trim() == attr), "{attr} missing in {set}");
    }
    let session = cookie.split_once('=').unwrap().1.to_string();
    assert_eq!(
        scalar_i64(&h, &format!("SELECT COUNT(*) FROM web_sessions WHERE token_hash = '{session}'")).await,
        0,
        "only the session token's hash is stored"
    );
    let (status, _, body) = site.get("/", Some(&cookie)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("我的待办") && body.contains("卢浩"), "{body}");
    // Once spent, the stored copy of the chat message no longer carries the link.
    let stored = scalar_i64(&h, &format!("SELECT COUNT(*) FROM outbox WHERE segments LIKE '%{token}%'")).await;
    assert_eq!(stored, 0, "the spent link is blanked in the outbox");

    // The same link again: spent.
    let (status, _, body) = site.get(&path, None).await;
    assert_eq!(status, StatusCode::GONE, "{body}");
    assert!(body.contains("重新发送"), "{body}");

    // A link unused for more than ten minutes: expired.
    let out = h.say("lu: 登录").await;
    let late = link_path(&out).unwrap();
    clock.set(local(12, 1, 9, 11));
    let (status, _, _) = site.get(&late, None).await;
    assert_eq!(status, StatusCode::GONE);

    // Two hours without a request: the session ends (idle expiry).
    let (status, _, _) = site.get("/", Some(&cookie)).await;
    assert_eq!(status, StatusCode::OK);
    clock.set(local(12, 1, 11, 12));
    let (status, _, body) = site.get("/", Some(&cookie)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body.contains("登录"), "{body}");

    // 退出登录 in chat ends every session of the person.
    let a = login(&mut h, &site, "lu").await;
    let b = login(&mut h, &site, "lu").await;
    let out = h.say("lu: 退出登录").await;
    assert!(out.contains("结束2个"), "{out}");
    for c in [&a, &b] {
        assert_eq!(site.get("/", Some(c)).await.0, StatusCode::UNAUTHORIZED);
    }

    // A deactivated person loses their sessions and unspent links.
    let c = login(&mut h, &site, "lu").await;
    let out = h.say("lu: 登录").await;
    let unspent = link_path(&out).unwrap();
    dudao::sql::query("UPDATE people SET active = 0 WHERE code = 'S001'").execute(h.db()).await.unwrap();
    assert_eq!(site.get("/", Some(&c)).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(site.get(&unspent, None).await.0, StatusCode::GONE);
    h.stop().await;
}

#[tokio::test]
async fn pages_are_scoped_and_hostile_text_is_escaped() {
    let clock = ManualClock::new(local(11, 27, 9, 0));
    let mut h = Harness::start_with(&config(30), Some(clock.clone())).await;
    let site = Site::of(&h);
    for (acct, code) in [("lu", "S001"), ("hao", "D008"), ("zhang", "D005"), ("wu", "D022")] {
        h.bind(acct, code).await;
    }

    // A weekly round for zone Z05; one inspector's report carries markup.
    tick_at(&h, &clock, local(11, 27, 16, 0)).await;
    h.settle().await;
    clock.set(local(11, 27, 17, 0));
    let out = h
        .say("zhang: 周报 本周督导学校：红旗中学<script>alert('周报')</script> 督导方式：推门听课1节 发现问题：无")
        .await;
    assert!(out.contains("周报"), "{out}");

    // A problem at 实验小学 recorded by its inspector, with markup in the description.
    let out = h.say("hao: 记问题 实验小学 安全 楼道<img src=x onerror=alert(1)>灭火器过期").await;
    assert!(out.contains("已登记问题 W1"), "{out}");
    // An inspector of another zone than 实验小学's.
    let zone: i64 =
        scalar_i64(&h, "SELECT s.zone_id FROM rectify_items i JOIN schools s ON s.id = i.school_id WHERE i.id = 1")
            .await;
    let other: String = dudao::sql::query_scalar(
        "SELECT code FROM people WHERE role = 'inspector' AND active = 1 AND zone_id <> ?
            AND zone_id <> (SELECT id FROM zones WHERE code = 'Z05') ORDER BY code LIMIT 1",
    )
    .bind(zone)
    .fetch_one(h.db())
    .await
    .unwrap();
    h.bind("far", &other).await;
    let zone_name: String =
        dudao::sql::query_scalar("SELECT name FROM zones WHERE id = ?").bind(zone).fetch_one(h.db()).await.unwrap();

    let lu = login(&mut h, &site, "lu").await;
    let hao = login(&mut h, &site, "hao").await;
    let far = login(&mut h, &site, "far").await;
    let wu = login(&mut h, &site, "wu").await;

    // 周报: the supervisor sees the round with the report verbatim, escaped.
    let (status, _, body) = site.get("/weekly", Some(&lu)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("张兰英") && body.contains("按时提交"), "{body}");
    assert!(body.contains("&lt;script&gt;alert(") && !body.contains("<script>alert"), "{body}");
    assert!(body.contains("未提交"), "武芳 has not reported: {body}");
    // A zone Z05 colleague sees it too; an inspector of another zone does not.
    let (_, _, body) = site.get("/weekly", Some(&wu)).await;
    assert!(body.contains("张兰英"), "{body}");
    let (_, _, body) = site.get("/weekly", Some(&far)).await;
    assert!(!body.contains("张兰英") && !body.contains("alert("), "{body}");
    // The office's page lists the zones with their figures; one zone's reports on their own.
    let z05: i64 = scalar_i64(&h, "SELECT id FROM zones WHERE code = 'Z05'").await;
    let (_, _, body) = site.get("/weekly", Some(&lu)).await;
    assert!(body.contains(&format!("/weekly?zone={z05}\"")), "{body}");
    let (status, _, body) = site.get(&format!("/weekly?zone={z05}"), Some(&lu)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("张兰英") && body.contains("按时提交") && body.contains("当前"), "{body}");
    assert!(!body.contains("范围：全县"), "the figures are the zone's: {body}");
    // Another zone's inspector cannot open Z05's reports by its number; nonsense is not a zone.
    for path in [format!("/weekly?zone={z05}"), "/weekly?zone=abc".to_string()] {
        let (status, _, body) = site.get(&path, Some(&far)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(!body.contains("张兰英"), "{body}");
    }

    // The item: its inspector and the office see it, escaped; the other zone's inspector gets
    // 404 by id, exactly as for an id that does not exist, and no trace in the ledger.
    for c in [&lu, &hao] {
        let (status, _, body) = site.get("/ledger/1", Some(c)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.contains("&lt;img src=x onerror=alert(1)&gt;") && !body.contains("<img"), "{body}");
    }
    let (status, _, body) = site.get("/ledger/1", Some(&far)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!body.contains("灭火器"), "{body}");
    let (missing, _, _) = site.get("/ledger/999", Some(&far)).await;
    assert_eq!(missing, StatusCode::NOT_FOUND);
    let (_, _, body) = site.get("/ledger?status=all", Some(&far)).await;
    assert!(!body.contains("灭火器") && !body.contains("/ledger/1\""), "{body}");
    let (_, _, body) = site.get(&format!("/ledger?q={zone_name}"), Some(&far)).await;
    assert!(body.contains("您只能查看本责任区的台账") && !body.contains("灭火器"), "{body}");
    // The ledger lists it for its inspector and the office, with the chat's filters.
    let (_, _, body) = site.get("/ledger", Some(&hao)).await;
    assert!(body.contains("/ledger/1\"") && body.contains("我负责的学校"), "{body}");
    let (_, _, body) = site.get("/ledger?status=closed", Some(&lu)).await;
    assert!(!body.contains("/ledger/1\"") && body.contains("全县"), "{body}");
    let (_, _, body) = site.get("/ledger?status=open", Some(&lu)).await;
    assert!(body.contains("/ledger/1\""), "{body}");

    // 我的待办: each person's own weekly report state; the school's item waits for the school,
    // then, once submitted, for its inspector's verification (not for another zone's).
    let (_, _, body) = site.get("/", Some(&login(&mut h, &site, "zhang").await)).await;
    assert!(body.contains("2026年第48周：已提交"), "{body}");
    let (_, _, body) = site.get("/", Some(&wu)).await;
    assert!(body.contains("2026年第48周：尚未提交"), "{body}");
    h.bind("peng", "C0001").await;
    let peng = login(&mut h, &site, "peng").await;
    let (_, _, body) = site.get("/", Some(&peng)).await;
    assert!(body.contains("待本校整改") && body.contains("/ledger/1\""), "{body}");
    assert_eq!(site.get("/weekly", Some(&peng)).await.0, StatusCode::FORBIDDEN);
    let (_, _, body) = site.get("/", Some(&hao)).await;
    assert!(!body.contains("/ledger/1\""), "{body}");
    let out = h.say("peng: 完成 W1 已更换<b>灭火器</b>").await;
    assert!(out.contains("已提交 W1"), "{out}");
    let (_, _, body) = site.get("/", Some(&hao)).await;
    assert!(body.contains("待我核查") && body.contains("/ledger/1\""), "{body}");
    let (_, _, body) = site.get("/", Some(&far)).await;
    assert!(!body.contains("/ledger/1\""), "{body}");
    let (_, _, body) = site.get("/ledger/1", Some(&hao)).await;
    assert!(body.contains("提交整改") && body.contains("&lt;b&gt;灭火器&lt;") && !body.contains("<b>"), "{body}");
    h.stop().await;
}

#[tokio::test]
async fn headers_csrf_and_rate_limit() {
    let clock = ManualClock::new(local(12, 1, 9, 0));
    let mut h = Harness::start_with(&config(4), Some(clock.clone())).await;
    let site = Site::of(&h);
    h.bind("lu", "S001").await;
    let cookie = login(&mut h, &site, "lu").await;

    let (status, headers, page) = site.get("/", Some(&cookie)).await;
    assert_eq!(status, StatusCode::OK);
    let csp = headers.get("content-security-policy").unwrap().to_str().unwrap();
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(headers.get("x-content-type-options").unwrap(), "nosniff");
    assert_eq!(headers.get("referrer-policy").unwrap(), "no-referrer");
    assert!(page.contains("name=\"viewport\"") && !page.contains("<script"), "{page}");
    // Signed out and error pages carry them too; the stylesheet is served by the binary.
    let (status, headers, _) = site.get("/ledger", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(headers.get("content-security-policy").is_some());
    let (status, headers, css) = site.get("/static/style.css", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers.get("content-type").unwrap().to_str().unwrap().starts_with("text/css") && css.contains("body"));

    // Logout without the right CSRF token is refused and the session lives on.
    for form in [&[][..], &[("csrf", "0000")][..]] {
        let (status, _, _) = site.post_form("/logout", &cookie, form).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(site.get("/", Some(&cookie)).await.0, StatusCode::OK);
    }
    // With it: the session ends and the cookie is cleared.
    let csrf = csrf_of(&page);
    let (status, headers, _) = site.post_form("/logout", &cookie, &[("csrf", &csrf)]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let cleared = headers.get(SET_COOKIE).unwrap().to_str().unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert_eq!(site.get("/", Some(&cookie)).await.0, StatusCode::UNAUTHORIZED);

    // Opening login links is limited per client address (4 a minute here).
    clock.set(local(12, 1, 9, 1));
    for _ in 0..4 {
        assert_eq!(site.get("/login/notavalidtokenatallxxxx", None).await.0, StatusCode::GONE);
    }
    let (status, headers, _) = site.get("/login/notavalidtokenatallxxxx", None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(headers.get("content-security-policy").is_some());
    clock.set(local(12, 1, 9, 2));
    assert_eq!(site.get("/login/notavalidtokenatallxxxx", None).await.0, StatusCode::GONE);
    h.stop().await;
}

/// 督办 and 花名册: the chat's scope (supervisors every task, others only tasks they hold;
/// an inspector sees their zone's schools and people, not another zone's), task text escaped,
/// bindings for the office only, phone numbers and account ids for admins only.
#[tokio::test]
async fn task_board_and_roster_are_scoped_and_escaped() {
    let clock = ManualClock::new(local(12, 1, 9, 0));
    let mut h = Harness::start_with(&config(30), Some(clock.clone())).await;
    let site = Site::of(&h);
    for (acct, code) in [("lu", "S001"), ("zhang", "D005"), ("wu", "D022"), ("ye", "A001")] {
        h.bind(acct, code).await;
    }
    let other: String = dudao::sql::query_scalar(
        "SELECT code FROM people WHERE role = 'inspector' AND active = 1
            AND zone_id <> (SELECT id FROM zones WHERE code = 'Z05') ORDER BY code LIMIT 1",
    )
    .fetch_one(h.db())
    .await
    .unwrap();
    h.bind("far", &other).await;

    let out = h.say("lu: 布置任务 核对<script>alert('督办')</script>校车台账 对象:张兰英 截止:12月5日17:00").await;
    assert!(out.contains("已布置任务 T1"), "{out}");
    let out = h.say("zhang: 进展 T1 已核对<b>两所</b>学校").await;
    assert!(out.contains("已记录任务 T1 的进展"), "{out}");

    let lu = login(&mut h, &site, "lu").await;
    let zhang = login(&mut h, &site, "zhang").await;
    let wu = login(&mut h, &site, "wu").await;
    let far = login(&mut h, &site, "far").await;
    let ye = login(&mut h, &site, "ye").await;

    // The office's board lists the task with its assignee, the title escaped; headers present.
    let (status, headers, body) = site.get("/tasks", Some(&lu)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(headers.get("content-security-policy").is_some() && headers.get("x-frame-options").is_some());
    assert!(body.contains("/tasks/1\"") && body.contains("张兰英：办理中"), "{body}");
    assert!(body.contains("&lt;script&gt;alert(") && !body.contains("<script"), "{body}");
    // The assignee sees it with its history, the progress note escaped.
    let (_, _, body) = site.get("/tasks", Some(&zhang)).await;
    assert!(body.contains("/tasks/1\""), "{body}");
    for c in [&lu, &zhang] {
        let (status, _, body) = site.get("/tasks/T1", Some(c)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.contains("报告进展") && body.contains("&lt;b&gt;两所&lt;") && !body.contains("<b>"), "{body}");
    }
    // Anyone else, a colleague of the same zone included (the chat's `任务 T1` rule), gets 404
    // exactly as for a task that does not exist, and no trace on the board.
    for c in [&far, &wu] {
        let (status, _, body) = site.get("/tasks/1", Some(c)).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(!body.contains("校车"), "{body}");
        let (_, _, body) = site.get("/tasks?status=all", Some(c)).await;
        assert!(!body.contains("/tasks/1\"") && !body.contains("校车"), "{body}");
    }
    assert_eq!(site.get("/tasks/999", Some(&far)).await.0, StatusCode::NOT_FOUND);
    assert_eq!(site.get("/tasks/x1", Some(&lu)).await.0, StatusCode::NOT_FOUND);
    assert_eq!(site.get("/tasks", None).await.0, StatusCode::UNAUTHORIZED);

    // 花名册: the office sees the county and who is bound where, without phones or account ids.
    let (status, headers, body) = site.get("/roster", Some(&lu)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(headers.get("content-security-policy").is_some());
    assert!(body.contains("张兰英") && body.contains("已绑定：") && body.contains("console"), "{body}");
    assert!(!body.contains("19900009012") && !body.contains("demo-d005"), "{body}");
    // An admin sees phone numbers and accounts.
    let (_, _, body) = site.get("/roster", Some(&ye)).await;
    assert!(body.contains("19900009012") && body.contains("demo-d005"), "{body}");
    // An inspector of zone Z05 sees the zone's colleagues; another zone's sees none of them,
    // and no inspector sees bindings or phones.
    let (_, _, body) = site.get("/roster", Some(&wu)).await;
    assert!(body.contains("张兰英") && body.contains("本责任区"), "{body}");
    assert!(!body.contains("已绑定") && !body.contains("199000"), "{body}");
    let (_, _, body) = site.get("/roster", Some(&far)).await;
    assert!(!body.contains("张兰英") && !body.contains("武芳"), "{body}");
    assert!(!body.contains("已绑定") && !body.contains("199000"), "{body}");
    // One zone at a time: its schools and people; a zone outside an inspector's view is 404.
    let (z05, z05_school, other_school): (i64, String, String) = dudao::sql::query_as(
        "SELECT z.id, (SELECT name FROM schools WHERE zone_id = z.id AND active = 1 ORDER BY code LIMIT 1),
                (SELECT name FROM schools WHERE zone_id <> z.id AND active = 1 ORDER BY code LIMIT 1)
           FROM zones z WHERE z.code = 'Z05'",
    )
    .fetch_one(h.db())
    .await
    .unwrap();
    let (status, _, body) = site.get(&format!("/roster?zone={z05}"), Some(&lu)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains(&z05_school) && body.contains("张兰英") && body.contains("当前"), "{body}");
    assert!(!body.contains(&other_school), "{body}");
    assert_eq!(site.get(&format!("/roster?zone={z05}"), Some(&far)).await.0, StatusCode::NOT_FOUND);
    assert_eq!(site.get("/roster?zone=99999", Some(&lu)).await.0, StatusCode::NOT_FOUND);
    let (status, _, body) = site.get("/roster?zone=第五区", Some(&lu)).await;
    assert!(status == StatusCode::NOT_FOUND && body.contains("没有这个责任区"), "{body}");
    // A school contact sees their school and not a school of another zone.
    let (own, elsewhere): (String, String) = dudao::sql::query_as(
        "SELECT s.name, (SELECT o.name FROM schools o WHERE o.zone_id <> s.zone_id AND o.active = 1 ORDER BY o.code LIMIT 1)
           FROM people p JOIN schools s ON s.id = p.school_id WHERE p.code = 'C0001'",
    )
    .fetch_one(h.db())
    .await
    .unwrap();
    h.bind("peng", "C0001").await;
    let peng = login(&mut h, &site, "peng").await;
    let (_, _, body) = site.get("/roster", Some(&peng)).await;
    assert!(body.contains("本校") && body.contains(&own) && !body.contains(&elsewhere), "{body}");
    assert!(!body.contains("已绑定") && !body.contains("199000"), "{body}");
    h.stop().await;
}

/// Acting from the item's page goes through the chat's own rules: the responsible inspector
/// returns (with a reason) and closes the item; the school is notified exactly as by the chat
/// commands; the audit log says `web`. Without the CSRF token, as the school, or from another
/// zone, nothing moves (403, 403, 404).
#[tokio::test]
async fn the_responsible_inspector_returns_and_closes_an_item_from_the_web() {
    let clock = ManualClock::new(local(12, 1, 9, 0));
    let mut h = Harness::start_with(&config(30), Some(clock.clone())).await;
    let site = Site::of(&h);
    for (acct, code) in [("lu", "S001"), ("hao", "D008"), ("peng", "C0001")] {
        h.bind(acct, code).await;
    }
    let other = common::inspector_outside_zone_of(h.db(), "C0001").await;
    h.bind("far", &other).await;
    let out = h.say("hao: 记问题 实验小学 食堂 后厨留样柜温度记录缺失").await;
    assert!(out.contains("已登记问题 W1"), "{out}");
    let out = h.say("peng: 完成 W1 已补齐十一月留样记录").await;
    assert!(out.contains("已提交 W1"), "{out}");

    let hao = login(&mut h, &site, "hao").await;
    let peng = login(&mut h, &site, "peng").await;
    let far = login(&mut h, &site, "far").await;
    let db = h.db().clone();
    let status = || async {
        dudao::sql::query_scalar::<String>("SELECT status FROM rectify_items WHERE id = 1")
            .fetch_one(&db)
            .await
            .unwrap()
    };

    // The inspector's page offers the forms; the school's does not.
    let (code, _, page) = site.get("/ledger/W1", Some(&hao)).await;
    assert_eq!(code, StatusCode::OK, "{page}");
    assert!(page.contains("/ledger/W1/close\"") && page.contains("/ledger/W1/return\""), "{page}");
    let hao_csrf = csrf_of(&page);
    let (_, _, page) = site.get("/ledger/W1", Some(&peng)).await;
    assert!(!page.contains("/ledger/W1/close"), "{page}");
    let peng_csrf = csrf_of(&page);

    // No or a wrong CSRF token: refused, nothing moves.
    for form in
        [&[("note", "看过了")][..], &[("csrf", "0000"), ("note", "看过了")][..], &[("csrf", peng_csrf.as_str())][..]]
    {
        let (code, _, body) = site.post_form("/ledger/W1/close", &hao, form).await;
        assert_eq!(code, StatusCode::FORBIDDEN, "{body}");
        assert!(body.contains("页面已过期"), "{body}");
    }
    assert_eq!(status().await, "submitted");
    // The school cannot close its own item (the chat's rule, 403); another zone's inspector
    // does not learn it exists (404, as for an id that does not exist).
    let (code, _, body) = site.post_form("/ledger/W1/close", &peng, &[("csrf", &peng_csrf)]).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("学校不能给本校问题销号"), "{body}");
    let far_csrf = csrf_of(&site.get("/", Some(&far)).await.2);
    for path in ["/ledger/W1/close", "/ledger/W1/return", "/ledger/W999/close"] {
        let (code, _, body) = site.post_form(path, &far, &[("csrf", &far_csrf), ("note", "越权退回")]).await;
        assert_eq!(code, StatusCode::NOT_FOUND, "{path}: {body}");
        assert!(!body.contains("留样"), "{body}");
    }
    assert_eq!(status().await, "submitted");

    // 退回 needs a reason, as in chat.
    let (code, _, body) = site.post_form("/ledger/W1/return", &hao, &[("csrf", &hao_csrf), ("note", "  ")]).await;
    assert_eq!(code, StatusCode::CONFLICT, "{body}");
    assert!(body.contains("请写明原因"), "{body}");
    assert_eq!(status().await, "submitted");
    // With one (hostile markup included): back to the page (303), which shows the new state
    // and the reason escaped; the school hears it in chat; the audit log says `web`.
    let (code, headers, body) =
        site.post_form("/ledger/W1/return", &hao, &[("csrf", &hao_csrf), ("note", "缺少<i>十月</i>记录")]).await;
    assert_eq!(code, StatusCode::SEE_OTHER, "{body}");
    let back = headers.get(LOCATION).unwrap().to_str().unwrap().to_string();
    assert_eq!(back, "/ledger/W1?done=returned");
    let (_, _, page) = site.get(&back, Some(&hao)).await;
    assert!(
        page.contains("已退回") && page.contains("退回：") && page.contains("缺少&lt;i&gt;十月&lt;&#x2f;i&gt;记录"),
        "{page}"
    );
    assert!(!page.contains("<i>") && !page.contains("/ledger/W1/close"), "{page}");
    let out = h.settle().await;
    assert!(out.contains("【整改退回】W1") && out.contains("缺少<i>十月</i>记录"), "the school is told: {out}");
    let web_audit = "SELECT COUNT(*) FROM audit_log WHERE via = 'web' AND entity = 'rectify' AND entity_id = 'W1'";
    assert_eq!(scalar_i64(&h, &format!("{web_audit} AND action = 'returned'")).await, 1);
    assert_eq!(
        scalar_i64(
            &h,
            "SELECT COUNT(*) FROM audit_log WHERE via = 'console' AND entity_id = 'W1' AND action = 'submitted'"
        )
        .await,
        1,
        "the chat's own acts record their channel"
    );

    // Submitted again in chat, then closed from the web.
    let out = h.say("peng: 完成 W1 十月记录已补齐").await;
    assert!(out.contains("已提交 W1"), "{out}");
    let (code, headers, _) = site.post_form("/ledger/W1/close", &hao, &[("csrf", &hao_csrf)]).await;
    assert_eq!(code, StatusCode::SEE_OTHER);
    assert_eq!(headers.get(LOCATION).unwrap(), "/ledger/W1?done=closed");
    assert_eq!(status().await, "closed");
    let (_, _, page) = site.get("/ledger/W1?done=closed", Some(&hao)).await;
    assert!(page.contains("已销号") && !page.contains("/ledger/W1/close"), "{page}");
    let out = h.settle().await;
    assert!(out.contains("【整改销号】W1"), "{out}");
    assert_eq!(scalar_i64(&h, &format!("{web_audit} AND action = 'closed'")).await, 1);
    // Closing twice is refused with the chat's reason, not a second close.
    let (code, _, body) = site.post_form("/ledger/W1/close", &hao, &[("csrf", &hao_csrf)]).await;
    assert_eq!(code, StatusCode::CONFLICT, "{body}");
    assert!(body.contains("当前状态"), "{body}");
    assert_eq!(scalar_i64(&h, "SELECT COUNT(*) FROM rectify_events WHERE item_id = 1 AND action = 'closed'").await, 1);
    h.stop().await;
}

/// The assignee acknowledges and finishes a task from its page: the chat's own commands run
/// on the form (the same replies and notices, the audit saying `web`); a refusal is shown on
/// the page and leaves nothing behind; others get 403 or 404.
#[tokio::test]
async fn an_assignee_acknowledges_and_finishes_a_task_from_the_web() {
    let clock = ManualClock::new(local(12, 1, 9, 0));
    let mut h = Harness::start_with(&config(30), Some(clock.clone())).await;
    let site = Site::of(&h);
    for (acct, code) in [("lu", "S001"), ("zhang", "D005"), ("wu", "D022")] {
        h.bind(acct, code).await;
    }
    let out = h.say("lu: 布置任务 汇总<i>课后服务</i>收费情况 对象:张兰英 截止:12月5日17:00").await;
    assert!(out.contains("已布置任务 T1"), "{out}");
    let lu = login(&mut h, &site, "lu").await;
    let zhang = login(&mut h, &site, "zhang").await;
    let wu = login(&mut h, &site, "wu").await;

    let (code, _, page) = site.get("/tasks/T1", Some(&zhang)).await;
    assert_eq!(code, StatusCode::OK, "{page}");
    assert!(page.contains("/tasks/T1/ack\"") && page.contains("/tasks/T1/done\""), "{page}");
    let zhang_csrf = csrf_of(&page);
    let (_, _, page) = site.get("/tasks/T1", Some(&lu)).await;
    assert!(!page.contains("/tasks/T1/ack"), "{page}");
    let lu_csrf = csrf_of(&page);
    let wu_csrf = csrf_of(&site.get("/", Some(&wu)).await.2);

    // Not the assignee: the office is refused (403), a colleague does not see the task (404);
    // without the CSRF token nothing happens either.
    let (code, _, body) = site.post_form("/tasks/T1/ack", &lu, &[("csrf", &lu_csrf)]).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("只有任务的承办人"), "{body}");
    let (code, _, body) = site.post_form("/tasks/T1/ack", &wu, &[("csrf", &wu_csrf)]).await;
    assert_eq!(code, StatusCode::NOT_FOUND, "{body}");
    assert!(!body.contains("课后服务"), "{body}");
    let (code, _, _) = site.post_form("/tasks/T1/ack", &zhang, &[("csrf", "0")]).await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    let state = "SELECT state FROM task_assignments WHERE task_id = 1";
    let pending: String = dudao::sql::query_scalar(state).fetch_one(h.db()).await.unwrap();

    // 收到: back to the page, acknowledged; the audit says web.
    let (code, headers, body) = site.post_form("/tasks/T1/ack", &zhang, &[("csrf", &zhang_csrf)]).await;
    assert_eq!(code, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(headers.get(LOCATION).unwrap(), "/tasks/T1?done=acknowledged");
    let acked: String = dudao::sql::query_scalar(state).fetch_one(h.db()).await.unwrap();
    assert_ne!(acked, pending);
    let (_, _, page) = site.get("/tasks/T1?done=acknowledged", Some(&zhang)).await;
    assert!(page.contains("已确认收到。") && !page.contains("/tasks/T1/ack"), "{page}");
    let out = h.settle().await;
    assert!(out.contains("已确认收到任务 T1"), "the chat's reply, in the person's chat: {out}");
    assert_eq!(scalar_i64(&h, "SELECT COUNT(*) FROM audit_log WHERE via = 'web' AND action = 'acknowledged'").await, 1);
    // Again: the chat's reason on the page, nothing stored or sent.
    let (code, _, body) = site.post_form("/tasks/T1/ack", &zhang, &[("csrf", &zhang_csrf)]).await;
    assert_eq!(code, StatusCode::CONFLICT, "{body}");
    assert!(body.contains("您已确认过任务 T1"), "{body}");

    // 完成 with a result carrying markup: the office is told in chat, the page shows it as text.
    let (code, headers, _) =
        site.post_form("/tasks/T1/done", &zhang, &[("csrf", &zhang_csrf), ("note", "已汇总<b>12所</b>学校")]).await;
    assert_eq!(code, StatusCode::SEE_OTHER);
    assert_eq!(headers.get(LOCATION).unwrap(), "/tasks/T1?done=submitted");
    let (_, _, page) = site.get("/tasks/T1?done=submitted", Some(&zhang)).await;
    assert!(page.contains("等待督导室审核") && page.contains("&lt;b&gt;12所&lt;") && !page.contains("<b>"), "{page}");
    let out = h.settle().await;
    assert!(out.contains("【任务提交】T1") && out.contains("已提交任务 T1 的结果"), "{out}");
    assert_eq!(
        scalar_i64(
            &h,
            "SELECT COUNT(*) FROM inbound_messages WHERE channel = 'web' AND intent IN ('task_ack', 'task_done')"
        )
        .await,
        2,
        "the refused attempt left nothing behind"
    );
    h.stop().await;
}

/// The fields of the visit form as a browser sends them, with the given photos.
fn visit_form(
    csrf: &str,
    school: &str,
    fields: &[(&str, &str)],
    photos: &[(&str, Vec<u8>)],
) -> reqwest::multipart::Form {
    let mut form = reqwest::multipart::Form::new().text("csrf", csrf.to_string()).text("school", school.to_string());
    for (k, v) in fields {
        form = form.text(k.to_string(), v.to_string());
    }
    for (name, bytes) in photos {
        let part =
            reqwest::multipart::Part::bytes(bytes.clone()).file_name(name.to_string()).mime_str("image/png").unwrap();
        form = form.part("photos", part);
    }
    form
}

/// The first school offered on the visit form: (value, name).
fn first_school(page: &str) -> (String, String) {
    let at = page.find("<option value=\"").unwrap_or_else(|| panic!("no school offered: {page}"));
    let rest = &page[at..];
    let rest = &rest[rest[1..].find("<option value=\"").expect("a school option") + 1 + "<option value=\"".len()..];
    let value = rest.split('"').next().unwrap().to_string();
    let name = rest[rest.find('>').unwrap() + 1..].split('<').next().unwrap().to_string();
    (value, name)
}

/// 督导纪实 H5: the inspector's form (their schools, the parser's methods, the month's
/// checklist) lands as the chat record would — the visit, its problems, the confirmation in
/// chat, the audit entry — with the photo stored content-addressed. CSRF, roles, wrong or
/// oversized photos, a school not theirs, a future date and an empty record are refused
/// politely with the input kept; hostile text stays text.
#[tokio::test]
async fn the_visit_form_lands_as_a_chat_visit_record_would() {
    let clock = ManualClock::new(local(12, 3, 15, 0));
    let toml = format!("{}\n[rectify]\nevidence_max_bytes = 1048576\n", config(30));
    let mut h = Harness::start_with(&toml, Some(clock.clone())).await;
    let site = Site::of(&h);
    for (acct, code) in [("lu", "S001"), ("zhang", "D005"), ("peng", "C0001")] {
        h.bind(acct, code).await;
    }
    let other: String = common::inspector_outside_zone_of_inspector(h.db(), "D005").await;
    h.bind("far", &other).await;
    let out = h.say("lu: 发布主题 12月").await;
    assert!(out.contains("已发布"), "{out}");
    h.settle().await;
    let zhang = login(&mut h, &site, "zhang").await;
    let lu = login(&mut h, &site, "lu").await;
    let peng = login(&mut h, &site, "peng").await;
    let far = login(&mut h, &site, "far").await;

    // The chat's visit prompt points to the form.
    let out = h.say("zhang: 督导纪实").await;
    assert!(out.contains("https://dudao.example.test/visits/new"), "{out}");
    // 我的待办 links the form for inspectors only; others are refused politely.
    let (_, _, home) = site.get("/", Some(&zhang)).await;
    assert!(home.contains("/visits/new\""), "{home}");
    let (_, _, home) = site.get("/", Some(&lu)).await;
    assert!(!home.contains("/visits/new"), "{home}");
    for c in [&lu, &peng] {
        let (code, _, body) = site.get("/visits/new", Some(c)).await;
        assert_eq!(code, StatusCode::FORBIDDEN, "{body}");
        assert!(body.contains("由责任督学填写"), "{body}");
    }
    // The form: the inspector's schools, the methods, the month's checklist, multipart.
    let (code, headers, form) = site.get("/visits/new", Some(&zhang)).await;
    assert_eq!(code, StatusCode::OK, "{form}");
    assert!(headers.get("content-security-policy").is_some() && !form.contains("<script"));
    assert!(form.contains("multipart/form-data") && form.contains("校园巡视") && form.contains("推门听课"), "{form}");
    assert!(form.contains("师德师风与冬季安全") && form.contains("name=\"ind1\""), "{form}");
    let csrf = csrf_of(&form);
    let (school, school_name) = first_school(&form);
    let far_school: String = dudao::sql::query_scalar(
        "SELECT CAST(id AS TEXT) FROM schools WHERE zone_id <> (SELECT zone_id FROM people WHERE code = 'D005') LIMIT 1",
    )
    .fetch_one(h.db())
    .await
    .unwrap();
    let visits = "SELECT COUNT(*) FROM visits WHERE status = 'submitted'";
    let problems = [("problems", "1.操场围栏<script>alert('纪实')</script>松动\n2.食堂留样记录不全")];
    let good: &[(&str, &str)] =
        &[("method", "campus_walk"), ("method", "lesson_observation"), ("lessons", "2"), ("ind1", "met")];
    let with = |extra: &[(&'static str, &'static str)]| -> Vec<(&'static str, &'static str)> {
        good.iter().chain(problems.iter()).chain(extra.iter()).copied().collect()
    };

    // No CSRF token: refused, nothing saved.
    let (code, _, _) = site.post_multipart("/visits/new", &zhang, visit_form("x", &school, &with(&[]), &[])).await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    // A school not theirs, a future date, nothing done: the form again, politely, input kept.
    let (code, _, body) =
        site.post_multipart("/visits/new", &zhang, visit_form(&csrf, &far_school, &with(&[]), &[])).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("请选择督导的学校") && body.contains("食堂留样记录不全"), "{body}");
    assert!(body.contains("&lt;script&gt;alert(") && !body.contains("<script>alert"), "{body}");
    let (code, _, body) = site
        .post_multipart("/visits/new", &zhang, visit_form(&csrf, &school, &with(&[("date", "2026-12-04")]), &[]))
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("督导日期不能晚于今天"), "{body}");
    let (code, _, body) = site.post_multipart("/visits/new", &zhang, visit_form(&csrf, &school, &[], &[])).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("请至少勾选一种督导方式"), "{body}");
    // A file that is not a photo (whatever its name says), and one over the cap (1 MB here).
    let gif = b"GIF89a\x01\x00\x01\x00".to_vec();
    let (code, _, body) =
        site.post_multipart("/visits/new", &zhang, visit_form(&csrf, &school, &with(&[]), &[("现场.png", gif)])).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("只能上传 JPG、PNG 或 WebP") && body.contains("操场围栏"), "{body}");
    let mut big = tiny_png(1);
    big.resize(1_200_000, 0);
    let (code, _, body) =
        site.post_multipart("/visits/new", &zhang, visit_form(&csrf, &school, &with(&[]), &[("大图.png", big)])).await;
    assert_eq!(code, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(body.contains("每张照片不能超过1MB"), "{body}");
    assert_eq!(scalar_i64(&h, visits).await, 0);
    h.settle().await;

    // The record with a photo: saved as the chat's would be, then its page (303).
    let photo = tiny_png(200);
    let (code, headers, body) = site
        .post_multipart(
            "/visits/new",
            &zhang,
            visit_form(&csrf, &school, &with(&[("date", "2026-12-03")]), &[("现场.png", photo.clone())]),
        )
        .await;
    assert_eq!(code, StatusCode::SEE_OTHER, "{body}");
    let page_path = headers.get(LOCATION).unwrap().to_str().unwrap().to_string();
    assert!(page_path.starts_with("/visits/V"), "{page_path}");
    let (code, _, page) = site.get(&page_path, Some(&zhang)).await;
    assert_eq!(code, StatusCode::OK, "{page}");
    assert!(page.contains(&school_name) && page.contains("1张") && page.contains("2个"), "{page}");
    assert!(page.contains("&lt;script&gt;alert(") && !page.contains("<script"), "{page}");
    assert_eq!(scalar_i64(&h, visits).await, 1);
    assert_eq!(scalar_i64(&h, "SELECT COUNT(*) FROM visits WHERE status = 'submitted' AND themed = 1").await, 1);
    assert_eq!(scalar_i64(&h, "SELECT COUNT(*) FROM visit_problems").await, 2);
    assert_eq!(scalar_i64(&h, "SELECT COUNT(*) FROM visit_indicator_scores WHERE indicator_no = 1").await, 1);
    let (path, mime, sha): (String, String, String) =
        dudao::sql::query_as("SELECT path, mime, sha256 FROM visit_photos").fetch_one(h.db()).await.unwrap();
    assert_eq!(mime, "image/png");
    assert_eq!(path, format!("{}/{sha}", &sha[..2]), "content-addressed like chat evidence");
    let stored = dudao::app::evidence::evidence_dir(&h.app().settings).join(&path);
    assert_eq!(std::fs::read(&stored).unwrap(), photo, "stored under its hash");
    // The confirmation in the inspector's chat, as for `督导纪实`; the audit says `web`.
    let out = h.settle().await;
    assert!(out.contains("已收到督导纪实") && out.contains("主题督导：师德师风与冬季安全"), "{out}");
    assert_eq!(
        scalar_i64(
            &h,
            "SELECT COUNT(*) FROM audit_log WHERE via = 'web' AND entity = 'visit' AND action = 'submitted'"
        )
        .await,
        1
    );
    assert_eq!(
        scalar_i64(
            &h,
            "SELECT COUNT(*) FROM inbound_messages WHERE channel = 'web' AND status = 'processed' AND intent = 'visit'"
        )
        .await,
        1
    );
    // The office sees the record; an inspector of another zone does not learn it exists.
    assert_eq!(site.get(&page_path, Some(&lu)).await.0, StatusCode::OK);
    let (code, _, body) = site.get(&page_path, Some(&far)).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert!(!body.contains("操场"), "{body}");
    h.stop().await;
}

/// Debian's Chromium, as `.ci/run` installs it.
const CHROMIUM: &str = "/usr/bin/chromium";

/// Runs headless Chromium with `args` (a fresh profile each time) and returns its standard
/// output; waits for it to exit, up to a minute.
fn chromium(profile: &std::path::Path, args: &[String]) -> String {
    use std::process::{Command, Stdio};
    assert!(
        std::path::Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: the real-browser test needs Debian's chromium \
         (apt-get install -y chromium; .ci/run installs it)"
    );
    let mut child = Command::new(CHROMIUM)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if child.try_wait().expect("chromium status").is_some() {
            break;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish within a minute");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    out
}

/// A real browser opens login links from the chat: it follows the redirect with the session
/// cookie and renders the pages (their DOM checked: hostile report text stays text, no script
/// runs), and phone-sized screenshots of the main pages are kept as test artefacts in
/// `target/web-screenshots/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_browser_logs_in_from_the_chat_link() {
    let clock = ManualClock::new(local(11, 27, 9, 0));
    let base = "http://platform.example.test";
    let mut h = Harness::start_with(&config_at(base, 30), Some(clock.clone())).await;
    let addr = h.running.as_ref().expect("running").http_addr;
    for (acct, code) in [("lu", "S001"), ("zhang", "D005"), ("hao", "D008")] {
        h.bind(acct, code).await;
    }
    tick_at(&h, &clock, local(11, 27, 16, 0)).await;
    h.settle().await;
    clock.set(local(11, 27, 17, 0));
    let out = h.say("zhang: 周报 本周督导学校：红旗中学<script>document.title='x'</script> 发现问题：无").await;
    assert!(out.contains("周报"), "{out}");
    let out = h.say("hao: 记问题 实验小学 安全 楼道灭火器过期").await;
    assert!(out.contains("已登记问题 W1"), "{out}");

    let shots = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/web-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    // (page, what its DOM must show) — each through a fresh link, since each opens a session.
    let pages = [("/", "我的待办"), ("/weekly", "张兰英"), ("/ledger", "灭火器过期"), ("/ledger/1", "楼道灭火器过期")];
    for (page, expect) in pages {
        let out = h.say("lu: 登录").await;
        let link = format!("http://{addr}{}?next={page}", link_path_at(&out, base).expect("a login link"));
        let profile = tempfile::tempdir().unwrap();
        let dir = profile.path().to_path_buf();
        let dom = tokio::task::spawn_blocking(move || chromium(&dir, &["--dump-dom".to_string(), link])).await.unwrap();
        assert!(dom.contains(expect) && dom.contains("卢浩（督导室）") && dom.contains("退出登录"), "{page}: {dom}");
        assert!(!dom.contains("<script"), "{page}: {dom}");
        if page == "/weekly" {
            assert!(dom.contains("&lt;script&gt;document.title"), "the report's markup is shown as text: {dom}");
        }

        let out = h.say("lu: 登录").await;
        let link = format!("http://{addr}{}?next={page}", link_path_at(&out, base).expect("a login link"));
        let name = match page {
            "/" => "home".to_string(),
            p => p.trim_start_matches('/').replace('/', "-"),
        };
        let png = shots.join(format!("{name}.png"));
        let _ = std::fs::remove_file(&png);
        let profile = tempfile::tempdir().unwrap();
        let (dir, target) = (profile.path().to_path_buf(), png.clone());
        tokio::task::spawn_blocking(move || {
            chromium(&dir, &[format!("--screenshot={}", target.display()), "--window-size=390,844".to_string(), link])
        })
        .await
        .unwrap();
        let bytes = std::fs::read(&png).unwrap_or_else(|e| panic!("chromium wrote no screenshot of {page}: {e}"));
        assert!(bytes.starts_with(b"\x89PNG"), "{page}: not a PNG");
    }
    let sessions = scalar_i64(&h, "SELECT COUNT(*) FROM web_sessions WHERE revoked_at IS NULL").await;
    assert_eq!(sessions, 8, "each link opened one session");
    h.stop().await;
}
