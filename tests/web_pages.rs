//! The platform's 主题与纪实, 统计 and 通报 pages over a real listener and a real SQLite file,
//! after a November driven through the chat (`common::scenario::november`): the figures on a
//! page are the chat command's for the same data, scope is the chat's (an inspector sees no
//! other zone's visits and cannot download what `导出` refuses them), hostile text is escaped,
//! the XLSX and .docx downloads open, and every response carries the security headers.

mod common;

use common::scenario::{november, CONFIG};
use common::site::{html_escape, inner, login, web_config, Site};
use common::{shanghai, Harness};
use dudao::clock::ManualClock;
use reqwest::StatusCode;

async fn start() -> (Harness, ManualClock, Site) {
    let clock = ManualClock::new(shanghai(11, 2, 8, 0));
    // Bulletins go to the office's group (the scenario registers no county inspectors' group).
    let config = format!("{CONFIG}{}\n[bulletin]\ngroups = [\"supervisors\"]\n", web_config());
    let mut h = Harness::start_with(&config, Some(clock.clone())).await;
    november(&mut h, &clock).await;
    let site = Site::of(&h);
    (h, clock, site)
}

async fn count(h: &Harness, sql: &str) -> i64 {
    dudao::sql::query_scalar(sql).fetch_one(h.db()).await.unwrap()
}

async fn text(h: &Harness, sql: &str) -> String {
    dudao::sql::query_scalar(sql).fetch_one(h.db()).await.unwrap()
}

/// The security headers every platform response carries.
fn assert_headers(got: &common::site::Got) {
    let csp = got.header("content-security-policy");
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(got.header("x-content-type-options"), "nosniff");
    assert_eq!(got.header("x-frame-options"), "DENY");
}

/// The bot's answer text without the console's framing lines.
fn answer(out: &str) -> String {
    out.lines().map(str::trim).filter(|l| !l.starts_with("[console")).collect::<Vec<_>>().join("\n")
}

#[tokio::test]
async fn stats_show_the_chats_figures_and_download_its_workbooks() {
    let (mut h, _clock, site) = start().await;
    let sup = login(&mut h, &site, "sup").await;
    let hao = login(&mut h, &site, "hao").await;

    // Each topic's figures are the text `统计` answers in chat, for the same period and scope.
    for (topic, period) in [("整改", "2026-11"), ("周报", "2026-11"), ("纪实", "2026-11"), ("督办", "上月")] {
        let path = format!("/stats?topic={}&period={}", common::site::encode(topic), common::site::encode(period));
        let got = site.fetch(&path, Some(&sup)).await;
        assert_eq!(got.status, StatusCode::OK, "{}", got.text());
        assert_headers(&got);
        let page = got.text();
        let figures = inner(&page, "<pre class=\"verbatim figures-text\">").expect("the figures");
        let chat = answer(&h.say(&format!("sup: 统计 {topic} {period}")).await);
        assert!(figures.lines().count() > 1, "{figures}");
        for line in figures.lines() {
            assert!(chat.contains(line), "page line {line:?} not in the chat's answer:\n{chat}");
        }
        assert!(page.contains("<svg") && page.contains("role=\"img\""), "{page}");
        assert!(!page.contains("<script"), "{page}");
    }
    // Words the chat cannot read get the chat's sentence, not an error page.
    let (status, page) = site.get("/stats?topic=整改&scope=没有这个区", &sup).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("class=\"notice\""), "{page}");
    let (status, page) = site.get("/stats?topic=体温", &sup).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("没有“体温”这项统计") && page.contains("class=\"notice\""), "{page}");

    // The export buttons: the workbook `导出` builds, with the right headers.
    let (_, page) = site.get("/stats?topic=整改&period=2026-11", &sup).await;
    assert!(page.contains("/stats/export?kind="), "{page}");
    let got = site.fetch("/stats/export?kind=%E6%95%B4%E6%94%B9%E5%8F%B0%E8%B4%A6&period=2026-11", Some(&sup)).await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.text());
    assert_headers(&got);
    assert_eq!(got.header("content-type"), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
    let disposition = got.header("content-disposition");
    assert!(
        disposition.starts_with("attachment; filename=\"") && disposition.contains("filename*=UTF-8''"),
        "{disposition}"
    );
    let name = common::site::filename_star(&disposition).expect("filename*");
    assert!(name.starts_with("整改台账_全县_") && name.ends_with(".xlsx"), "{name}");
    let mut book: calamine::Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(got.bytes.clone())).unwrap();
    use calamine::Reader;
    let names = book.sheet_names();
    assert!(names.iter().any(|n| n == "说明") && names.iter().any(|n| n == "台账"), "{names:?}");
    let ledger = book.worksheet_range("台账").unwrap();
    let codes: Vec<String> = ledger.rows().skip(1).filter_map(|r| r.first().map(|c| c.to_string())).collect();
    // The same rows as the workbook the library builds for the same request.
    let built = {
        let app = h.app().clone();
        let mut conn = app.db.acquire().await.unwrap();
        let period = dudao::domain::stats::Period::month(2026, 11).unwrap();
        dudao::export::build(
            &mut conn,
            app.tz,
            &app.settings,
            dudao::export::Kind::Ledger,
            period,
            dudao::domain::stats::Scope::County,
            app.clock.now(),
        )
        .await
        .unwrap()
    };
    let mut again: calamine::Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(built.bytes)).unwrap();
    let expected: Vec<String> = again
        .worksheet_range("台账")
        .unwrap()
        .rows()
        .skip(1)
        .filter_map(|r| r.first().map(|c| c.to_string()))
        .collect();
    assert_eq!(codes, expected);
    assert_eq!(codes.len(), 3, "W1, W2 and W3: {codes:?}");
    // A kind or period the chat cannot read: its sentence, 400.
    let got = site.fetch("/stats/export?kind=nothing", Some(&sup)).await;
    assert_eq!(got.status, StatusCode::BAD_REQUEST);
    assert!(got.text().contains("没有“nothing”这种导出"), "{}", got.text());

    // An inspector: the chat refuses 统计 and 导出, and so does the platform (no county
    // workbook by URL), and the menu does not offer them.
    let out = h.say("hao: 导出 整改台账").await;
    assert!(!out.contains(".xlsx"), "{out}");
    let got = site.fetch("/stats/export?kind=%E6%95%B4%E6%94%B9%E5%8F%B0%E8%B4%A6", Some(&hao)).await;
    assert_eq!(got.status, StatusCode::FORBIDDEN);
    assert!(!got.header("content-type").contains("spreadsheet"));
    assert_eq!(site.get("/stats?topic=整改", &hao).await.0, StatusCode::FORBIDDEN);
    let (_, home) = site.get("/", &hao).await;
    assert!(!home.contains("/stats\"") && !home.contains("/bulletins\"") && home.contains("/themes\""), "{home}");
    // Signed out: nothing.
    assert_eq!(site.fetch("/stats/export?kind=%E5%91%A8%E6%8A%A5", None).await.status, StatusCode::UNAUTHORIZED);
    h.stop().await;
}

#[tokio::test]
async fn themes_are_scoped_with_the_chats_figures_and_escaped() {
    let (mut h, clock, site) = start().await;
    // A December theme with markup in it, published in chat.
    clock.set(shanghai(12, 1, 11, 0));
    let out = h
        .say("sup: 发布主题 12月 冬季<b>安全</b>&校风\n说明：<script>alert('主题')</script>\n指标：1.取暖设施<img src=x>安全 2.疏散演练有记录")
        .await;
    assert!(out.contains("冬季"), "{out}");
    let sup = login(&mut h, &site, "sup").await;
    let hao = login(&mut h, &site, "hao").await;
    // An inspector of zone Z05 (张兰英), not 郝涛's zone.
    let zhang = login(&mut h, &site, "zhang").await;
    let peng = login(&mut h, &site, "peng").await;
    let hao_zone = text(&h, "SELECT z.name FROM people p JOIN zones z ON z.id = p.zone_id WHERE p.code = 'D008'").await;
    let zhang_zone =
        text(&h, "SELECT z.name FROM people p JOIN zones z ON z.id = p.zone_id WHERE p.code = 'D005'").await;
    assert_ne!(hao_zone, zhang_zone);

    // This month: the theme and its checklist, escaped.
    let got = site.fetch("/themes", Some(&sup)).await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.text());
    assert_headers(&got);
    let page = got.text();
    assert!(page.contains("冬季&lt;b&gt;安全&lt;&#x2f;b&gt;&amp;校风"), "{page}");
    assert!(page.contains("&lt;script&gt;") && !page.contains("<script") && !page.contains("<img src=x"), "{page}");
    assert!(page.contains("疏散演练有记录"), "{page}");
    // A visit record whose text carries markup is listed escaped.
    let out = h.say("hao: 督导纪实 城关三小 校园巡视，发现问题：围墙<script>alert('纪实')</script>破损").await;
    assert!(out.contains("已收到督导纪实"), "{out}");
    let (_, page) = site.get("/themes", &hao).await;
    assert!(page.contains("城关三小") && page.contains("&lt;script&gt;alert("), "{page}");
    assert!(!page.contains("<script"), "{page}");

    // November: 郝涛's two visits, for the office and for him; not for another zone's inspector.
    let (_, page) = site.get("/themes?month=2026-11", &sup).await;
    assert!(page.contains("城关三小") && page.contains("城关四小") && page.contains("推门听课3节"), "{page}");
    assert!(page.contains("督导纪实（2 条"), "{page}");
    let (_, page) = site.get("/themes?month=2026-11", &hao).await;
    assert!(page.contains("城关三小") && page.contains("城关四小"), "{page}");
    let (status, page) = site.get("/themes?month=2026-11", &zhang).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains("城关三小") && !page.contains("城关四小") && page.contains("督导纪实（0 条"), "{page}");
    // Even when asking for 郝涛's zone or郝涛 by id.
    let hao_zone_id = text(&h, "SELECT CAST(zone_id AS TEXT) FROM people WHERE code = 'D008'").await;
    let hao_id = text(&h, "SELECT CAST(id AS TEXT) FROM people WHERE code = 'D008'").await;
    let (_, page) = site.get(&format!("/themes?month=2026-11&zone={hao_zone_id}&inspector={hao_id}"), &zhang).await;
    assert!(!page.contains("城关三小") && !page.contains("城关四小"), "{page}");
    // Filters: themed only (none in November), by school.
    let (_, page) = site.get("/themes?month=2026-11&themed=yes", &sup).await;
    assert!(page.contains("督导纪实（0 条"), "{page}");
    let (_, page) = site.get("/themes?month=2026-11&school=%E5%9F%8E%E5%85%B3%E5%9B%9B%E5%B0%8F", &sup).await;
    assert!(page.contains("督导纪实（1 条") && page.contains("城关四小"), "{page}");
    // School contacts: the chat's 本月主题 is not theirs, nor is the page.
    assert_eq!(site.get("/themes", &peng).await.0, StatusCode::FORBIDDEN);

    // The office's coverage is `月汇报`'s: the county's visits against the quota.
    let report = answer(&h.say("sup: 月汇报 2026-11").await);
    let county =
        report.lines().find(|l| l.starts_with("全县：督导 ")).unwrap_or_else(|| panic!("county line: {report}"));
    let figures = county.trim_start_matches("全县：督导 ").split(' ').next().unwrap().to_string();
    let (_, page) = site.get("/themes?month=2026-11", &sup).await;
    assert!(page.contains(&format!(">{figures}</td>")), "{figures} not on the page: {page}");
    // The inspector's is `我的进度`'s: this month's count and the schools not yet visited.
    let progress = answer(&h.say("hao: 我的进度").await);
    let (_, page) = site.get("/themes", &hao).await;
    let count = progress.split("本月督导 ").nth(1).unwrap().split(' ').next().unwrap().to_string();
    assert!(page.contains(&format!("本月督导 <strong>{count}</strong> 次")), "{count}: {page}");
    if let Some(list) = progress.lines().find_map(|l| l.strip_prefix("本学年尚未督导：")) {
        for school in list.split('、') {
            assert!(page.contains(&format!("{}</th>", html_escape(school))), "{school}: {page}");
        }
        let n = list.split('、').count();
        assert!(page.contains(&format!("本学年尚未督导 {n}/")), "{n}: {page}");
    }
    assert!(!page.contains("城关三小（尚未督导）"));
    h.stop().await;
}

#[tokio::test]
async fn bulletins_preview_the_chats_draft_with_its_docx() {
    let (mut h, _clock, site) = start().await;
    let sup = login(&mut h, &site, "sup").await;
    let hao = login(&mut h, &site, "hao").await;
    // A correction with markup, made in chat.
    let out = h.say("sup: 通报 修改 2026-11 亮点 <b>各校</b>按时报送").await;
    assert!(out.contains("已修改"), "{out}");

    let got = site.fetch("/bulletins", Some(&sup)).await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.text());
    assert_headers(&got);
    assert!(got.text().contains("还没有发布过督导通报"), "{}", got.text());

    let got = site.fetch("/bulletins/view?month=2026-11", Some(&sup)).await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.text());
    let page = got.text();
    let chat = answer(&h.say("sup: 通报 预览 2026-11").await);
    let title = chat.lines().find(|l| l.contains("通报（")).expect("a title");
    assert!(page.contains(&html_escape(title)), "{title}: {page}");
    for heading in ["一、基本情况", "二、工作亮点", "三、存在问题", "四、整改要求", "五、通报名单"]
    {
        assert!(page.contains(heading), "{heading}: {page}");
    }
    assert!(page.contains("&lt;b&gt;各校&lt;&#x2f;b&gt;按时报送") && !page.contains("<b>各校"), "{page}");
    assert!(page.contains("已修改"), "{page}");

    // The .docx, as the chat sends it.
    let got = site.fetch("/bulletins/docx?month=2026-11", Some(&sup)).await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.text());
    assert_headers(&got);
    assert_eq!(got.header("content-type"), "application/vnd.openxmlformats-officedocument.wordprocessingml.document");
    assert!(got.header("content-disposition").contains(".docx"), "{}", got.header("content-disposition"));
    assert!(got.bytes.starts_with(b"PK"), "a zip (Office Open XML)");

    // Published from the page: without the session's CSRF token, refused and nothing sent.
    assert!(page.contains("action=\"/bulletins/publish\"") && page.contains("发布到各群"), "{page}");
    let form = [("month", "2026-11"), ("scope", "")];
    let (status, _) = site.post_form("/bulletins/publish", &sup, &form).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = site.post_form("/bulletins/publish", &sup, &[("month", "2026-11"), ("csrf", "0000")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(count(&h, "SELECT COUNT(*) FROM bulletin_publications").await, 0);
    // With it: the chat's publication — the office's group gets the text and the .docx, the
    // answer is the chat's, the audit says it came from the web.
    let csrf = common::site::csrf_of(&page);
    let (status, done) =
        site.post_form("/bulletins/publish", &sup, &[("month", "2026-11"), ("scope", ""), ("csrf", &csrf)]).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert!(done.contains("已发布2026年11月全县督导通报（第1期）到1个群"), "{done}");
    assert_eq!(count(&h, "SELECT COUNT(*) FROM bulletin_publications").await, 1);
    assert_eq!(
        count(&h, "SELECT COUNT(*) FROM audit_log WHERE entity = 'bulletin' AND action = 'published' AND via = 'web'")
            .await,
        1
    );
    let queued = "SELECT COUNT(*) FROM outbox WHERE idempotency_key LIKE 'bulletin:monthly:2026-11:county:r1:%'";
    assert!(count(&h, queued).await >= 1);
    let sent = h.settle().await;
    assert!(sent.contains(title), "{sent}");
    // Once per period, as in chat: the second press answers that it was published.
    let (_, again) =
        site.post_form("/bulletins/publish", &sup, &[("month", "2026-11"), ("scope", ""), ("csrf", &csrf)]).await;
    assert!(again.contains("不再重复发送"), "{again}");
    let out = h.say("sup: 通报 发布 2026-11").await;
    assert!(out.contains("不再重复发送"), "{out}");
    let (_, page) = site.get("/bulletins", &sup).await;
    assert!(page.contains(&html_escape(title)) && page.contains("第"), "{page}");
    let (_, page) = site.get("/bulletins/view?month=2026-11", &sup).await;
    assert!(page.contains("此期已于"), "{page}");
    // A month not yet come, and words it cannot read: the chat's sentences.
    let (status, page) = site.get("/bulletins/view?month=2027-05", &sup).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("还没有到"), "{page}");
    let (status, _) = site.get("/bulletins/view?month=2026-11&scope=%E6%B2%A1%E6%9C%89", &sup).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Inspectors: the chat's 通报 is the office's, and so are these pages, the file and the form.
    for path in ["/bulletins", "/bulletins/view?month=2026-11", "/bulletins/docx?month=2026-11"] {
        let got = site.fetch(path, Some(&hao)).await;
        assert_eq!(got.status, StatusCode::FORBIDDEN, "{path}");
        assert!(!got.bytes.starts_with(b"PK"));
    }
    let (_, home) = site.get("/", &hao).await;
    let hao_csrf = common::site::csrf_of(&home);
    let form = [("month", "2026-10"), ("scope", ""), ("csrf", hao_csrf.as_str())];
    let (status, _) = site.post_form("/bulletins/publish", &hao, &form).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(count(&h, "SELECT COUNT(*) FROM bulletin_publications").await, 1);
    h.stop().await;
}

/// A month whose 通报名单 is longer than the page shows: the preview lists the first entries in
/// the document's order and says how many more there are; the Word document keeps every one.
#[tokio::test]
async fn a_long_bulletin_list_is_cut_on_the_page_and_whole_in_the_docx() {
    use dudao::domain::rectify::{Severity, Source, Status};
    use dudao::store::once::{record_once, Subject};
    use dudao::store::rectify as rs;
    let (mut h, _clock, site) = start().await;
    let sup = login(&mut h, &site, "sup").await;
    // 150 more items of November past their deadline, each escalated to the 督导通报 level.
    let created = shanghai(11, 3, 10, 0);
    let escalated = shanghai(11, 28, 9, 0);
    let mut conn = h.db().acquire().await.unwrap();
    let schools: Vec<i64> =
        dudao::sql::query_scalar("SELECT id FROM schools ORDER BY id").fetch_all(&mut *conn).await.unwrap();
    let mut last = 0;
    for k in 0..150 {
        let new = rs::NewItem {
            school_id: schools[k % schools.len()],
            category: 3,
            severity: Severity::General,
            source: Source::Direct,
            source_ref: None,
            description: "宿舍楼应急照明损坏",
            owner: "school",
            deadline: chrono::NaiveDate::from_ymd_opt(2026, 11, 10).unwrap(),
            created_by: None,
        };
        let id = rs::insert(&mut conn, &new, created).await.unwrap();
        let mut it = rs::get(&mut conn, id).await.unwrap().unwrap();
        let local = chrono::NaiveDate::from_ymd_opt(2026, 11, 3).unwrap();
        let event = rs::EventRow {
            item_id: id,
            action: "created",
            from: None,
            to: Status::InProgress,
            actor_id: None,
            note: None,
            deadline: it.deadline,
        };
        rs::add_event(&mut conn, &event, created, local).await.unwrap();
        it.status = Status::InProgress;
        rs::save(&mut conn, &it, created).await.unwrap();
        assert!(record_once(&mut conn, Subject::RectifyItem(id), "L2", escalated).await.unwrap());
        last = id;
    }
    drop(conn);

    let got = site.fetch("/bulletins/view?month=2026-11", Some(&sup)).await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.text());
    let page = got.text();
    let list = &page[page.find("五、通报名单").expect("the list section")..];
    let intro = inner(list, "<p class=\"para\">").expect("the list's first line");
    let listed: usize = intro
        .strip_prefix("以下")
        .and_then(|r| r.split('个').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{intro}"));
    assert!(listed >= 150, "{intro}");
    // The introduction and 99 entries, in order; the rest counted, the download named.
    let shown = list.matches("<p class=\"para\">").count();
    assert_eq!(shown, 100, "{list}");
    assert!(list.contains("<p class=\"para\">1. W") && list.contains("<p class=\"para\">99. W"), "{list}");
    assert!(!list.contains("<p class=\"para\">100. W"), "{list}");
    let more = format!("另有{}条未在本页列出，完整内容见 Word 文档", listed + 1 - 100);
    assert!(list.contains(&more), "{more}: {list}");
    assert!(!page.contains(&format!("W{last} ")), "the last entry is not on the page");
    assert!(page.len() < 300 * 1024);

    // The Word document lists every entry, the last one included.
    let got = site.fetch("/bulletins/docx?month=2026-11", Some(&sup)).await;
    assert_eq!(got.status, StatusCode::OK);
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(got.bytes.to_vec())).expect("a .docx is a zip");
    let mut xml = String::new();
    std::io::Read::read_to_string(&mut zip.by_name("word/document.xml").unwrap(), &mut xml).unwrap();
    assert!(xml.contains(&format!("{listed}. W")) && xml.contains(&format!("W{last} ")), "every entry in the docx");
    h.stop().await;
}
