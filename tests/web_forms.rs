//! The platform's H5 forms over a real listener and a real SQLite file: the weekly-report form
//! (周交流, `/reports/new`) lands exactly as the same report typed in chat (same parse, same
//! versions, the confirmation queued to the person's chat), and a visit record's photos are
//! served on its page under the record's scope with the right headers.

mod common;

use common::site::{csrf_of, login, tiny_png, web_config, Site, BASE, OFFICE_GROUPS};
use common::{shanghai as local, tick_at, Harness};
use dudao::clock::ManualClock;
use reqwest::StatusCode;

const WEEKLY: &str = "[weekly]\nexempt_invited = false\nprompt_mode = \"both\"\n";

async fn scalar_i64(h: &Harness, sql: &str) -> i64 {
    dudao::sql::query_scalar(sql).fetch_one(h.db()).await.unwrap()
}

/// The console's output as (recipient header, text) blocks.
fn blocks(out: &str) -> Vec<(String, String)> {
    out.split("[console → ")
        .skip(1)
        .map(|b| {
            let (head, body) = b.split_once(']').unwrap_or((b, ""));
            (head.to_string(), body.to_string())
        })
        .collect()
}

/// The schools offered as checkboxes on the weekly form: (value, name).
fn school_boxes(page: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = page;
    let marker = "name=\"school\" value=\"";
    while let Some(at) = rest.find(marker) {
        rest = &rest[at + marker.len()..];
        let value = rest.split('"').next().unwrap().to_string();
        let name = rest[rest.find('>').unwrap() + 1..].split('<').next().unwrap().trim().to_string();
        out.push((value, name));
    }
    out
}

/// A person's current version of the week's report: (parsed, late, version).
async fn report(
    h: &Harness,
    week: &str,
    person: &str,
) -> Option<(dudao::domain::report_parse::ParsedReport, bool, i64)> {
    let mut conn = h.db().acquire().await.unwrap();
    dudao::app::weekly::report_of(&mut conn, week, person).await.unwrap()
}

#[tokio::test]
async fn the_weekly_form_lands_as_the_same_report_in_chat() {
    let clock = ManualClock::new(local(11, 27, 9, 0));
    let mut h = Harness::start_with(&format!("{WEEKLY}{OFFICE_GROUPS}{}", web_config()), Some(clock.clone())).await;
    let site = Site::of(&h);
    for (acct, code) in [("lu", "S001"), ("zhang", "D005"), ("wu", "D022"), ("peng", "C0001")] {
        h.bind(acct, code).await;
    }
    let zhang = login(&mut h, &site, "zhang").await;

    // Before the round opens: a polite page, no form.
    let (status, page) = site.get("/reports/new", &zhang).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("目前没有需要您提交的周报") && !page.contains("name=\"school\""), "{page}");

    // The round opens: the private prompt carries the form's address, the group's does not.
    tick_at(&h, &clock, local(11, 27, 16, 0)).await;
    let out = h.settle().await;
    let form_url = format!("{BASE}/reports/new");
    let prompts = blocks(&out);
    assert!(
        prompts.iter().any(|(to, text)| to == "私聊 zhang" && text.contains("【周交流】") && text.contains(&form_url)),
        "{out}"
    );
    let group = prompts.iter().find(|(to, _)| to == "群 zone5").unwrap_or_else(|| panic!("no group prompt: {out}"));
    assert!(group.1.contains("【周交流】") && !group.1.contains("/reports/") && !group.1.contains("/login/"), "{out}");
    clock.set(local(11, 27, 17, 0));
    // Sessions idle that long have ended: sign in again.
    let zhang = login(&mut h, &site, "zhang").await;
    let peng = login(&mut h, &site, "peng").await;

    // 我的待办 links the form while the report is due.
    let (_, home) = site.get("/", &zhang).await;
    assert!(home.contains("/reports/new\"") && home.contains("填写周报"), "{home}");
    // A school contact is refused, on the page and on a post.
    let (status, page) = site.get("/reports/new", &peng).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    assert!(page.contains("由责任督学填写"), "{page}");
    let (_, peng_home) = site.get("/", &peng).await;
    assert!(!peng_home.contains("/reports/new"), "{peng_home}");
    let peng_csrf = csrf_of(&peng_home);
    let (status, _) = site.post_form("/reports/new", &peng, &[("csrf", &peng_csrf), ("no_visits", "1")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The form: the inspector's own schools, the parser's methods.
    let (status, form) = site.get("/reports/new", &zhang).await;
    assert_eq!(status, StatusCode::OK, "{form}");
    assert!(form.contains("2026年第48周") && form.contains("推门听课") && form.contains("校园巡视"), "{form}");
    assert!(!form.contains("<script"), "{form}");
    let schools = school_boxes(&form);
    assert!(schools.len() >= 2, "{form}");
    let (a, a_name) = schools[0].clone();
    let (b, b_name) = schools[1].clone();
    let csrf = csrf_of(&form);
    let reports = "SELECT COUNT(*) FROM weekly_reports";

    let hostile = "操场护栏<script>alert('周报')</script>松动";
    let filled: Vec<(&str, &str)> = vec![
        ("school", &a),
        ("school", &b),
        ("visit_count", "3"),
        ("method", "lesson_observation"),
        ("count_lesson_observation", "2"),
        ("method", "campus_walk"),
        ("count_campus_walk", ""),
        ("problems", hostile),
        ("followup", "上周反映的饮水机滤芯已更换"),
        ("next_plan", "回访午托点安全管理"),
    ];
    let with_csrf = |token: &'static str| -> Vec<(&str, &str)> {
        let mut f = vec![("csrf", token)];
        f.extend(filled.iter().copied());
        f
    };
    // Without the session's CSRF token: refused, nothing stored.
    let (status, _) = site.post_form("/reports/new", &zhang, &with_csrf("forged")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(scalar_i64(&h, reports).await, 0);
    // Nothing said about problems: the form again (what the chat would ask), the input kept
    // and escaped.
    let (status, page) = site
        .post_form("/reports/new", &zhang, &[("csrf", &csrf), ("school", &a), ("next_plan", "<b>下周</b>走访家长")])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("请填写本周发现的问题") && page.contains("&lt;b&gt;下周&lt;"), "{page}");
    assert!(!page.contains("<b>下周"), "{page}");
    // A school not theirs.
    let (status, page) =
        site.post_form("/reports/new", &zhang, &[("csrf", &csrf), ("school", "99999"), ("no_problems", "1")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("请只勾选您负责的学校"), "{page}");
    assert_eq!(scalar_i64(&h, reports).await, 0);
    h.settle().await;

    // The report: stored as version 1, its confirmation shown and queued to the chat.
    let mut good = vec![("csrf", csrf.as_str())];
    good.extend(filled.iter().copied());
    let (status, page) = site.post_form("/reports/new", &zhang, &good).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("周报已提交（第1版）") && page.contains("已收到本周周报"), "{page}");
    assert!(!page.contains("<script>alert"), "{page}");
    let out = h.settle().await;
    assert!(
        blocks(&out).iter().any(|(to, text)| to == "私聊 zhang"
            && text.contains("已收到本周周报")
            && text.contains("推门听课×2、校园巡视×1")),
        "the confirmation goes to the inspector's chat: {out}"
    );
    let (form_parsed, late, version) = report(&h, "2026-W48", "D005").await.expect("a report");
    assert_eq!((late, version), (false, 1));
    assert_eq!(form_parsed.schools.len(), 2, "{form_parsed:?}");
    assert_eq!(form_parsed.visit_count, Some(3));
    assert_eq!(form_parsed.problem_items.len(), 1, "{form_parsed:?}");
    assert_eq!(
        scalar_i64(
            &h,
            "SELECT COUNT(*) FROM inbound_messages WHERE channel = 'web' AND status = 'processed' AND intent = 'weekly_report'"
        )
        .await,
        1
    );
    assert_eq!(
        scalar_i64(
            &h,
            "SELECT COUNT(*) FROM audit_log WHERE via = 'web' AND entity = 'weekly_report' AND action = 'received'"
        )
        .await,
        1
    );

    // The same content typed in chat by a colleague who shares those two schools parses alike.
    dudao::sql::query(
        "INSERT INTO school_assignments (school_id, person_id, role)
         SELECT CAST(? AS INTEGER), id, 'secondary' FROM people WHERE code = 'D022'
         UNION ALL SELECT CAST(? AS INTEGER), id, 'secondary' FROM people WHERE code = 'D022'",
    )
    .bind(&a)
    .bind(&b)
    .execute(h.db())
    .await
    .unwrap();
    let chat = format!(
        "wu: 周报 本周督导学校：{a_name}、{b_name}（共下校3次）\n督导方式：推门听课2节、校园巡视\n发现问题：\n1.{hostile}\n\
         整改跟进：上周反映的饮水机滤芯已更换\n下周计划：回访午托点安全管理"
    );
    let out = h.say(&chat).await;
    assert!(out.contains("已收到本周周报"), "{out}");
    let (chat_parsed, _, chat_version) = report(&h, "2026-W48", "D022").await.expect("wu's report");
    assert_eq!(chat_version, 1);
    assert_eq!(form_parsed, chat_parsed, "the form lands with the chat text's parsed fields");

    // The form again: filled in from version 1 (escaped), a second submission makes version 2.
    let (_, form) = site.get("/reports/new", &zhang).await;
    assert!(form.contains("您已提交第1版") && form.contains("再次提交将更新为第2版"), "{form}");
    assert!(form.contains("&lt;script&gt;alert(") && !form.contains("<script>alert"), "{form}");
    assert!(form.contains("回访午托点安全管理") && form.contains("value=\"3\""), "{form}");
    let (status, page) = site
        .post_form(
            "/reports/new",
            &zhang,
            &[("csrf", &csrf), ("school", &a), ("method", "document_review"), ("no_problems", "1")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("周报已提交（第2版）") && page.contains("已更新（第2版）"), "{page}");
    let (second, _, version) = report(&h, "2026-W48", "D005").await.unwrap();
    assert_eq!(version, 2);
    assert!(second.no_problems && second.problem_items.is_empty() && second.schools.len() == 1, "{second:?}");
    let out = h.settle().await;
    assert!(out.contains("已更新（第2版）"), "{out}");
    let (_, home) = site.get("/", &zhang).await;
    assert!(home.contains("已提交（第2版）") && home.contains("修改周报"), "{home}");

    // After the deadline, as a reply in chat would be: an addendum beside the on-time version.
    clock.set(local(11, 30, 14, 0));
    let zhang = login(&mut h, &site, "zhang").await;
    let (_, form) = site.get("/reports/new", &zhang).await;
    assert!(form.contains("再次提交将作为补充记录"), "{form}");
    let csrf = csrf_of(&form);
    let (status, page) = site
        .post_form(
            "/reports/new",
            &zhang,
            &[("csrf", &csrf), ("school", &b), ("problems", "补记：图书室消防通道堆放杂物")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("补充已收到") && page.contains("已在截止后收到您的补充"), "{page}");
    let (kept, late, version) = report(&h, "2026-W48", "D005").await.unwrap();
    assert_eq!((late, version), (false, 2));
    assert_eq!(kept, second, "the on-time version stays current");
    assert_eq!(scalar_i64(&h, "SELECT COUNT(*) FROM weekly_report_addenda").await, 1);
    h.stop().await;
}

/// The first school offered on the visit form's select.
fn first_option(page: &str) -> String {
    let marker = "<option value=\"";
    page.match_indices(marker)
        .map(|(at, _)| page[at + marker.len()..].split('"').next().unwrap().to_string())
        .find(|v| !v.is_empty())
        .unwrap_or_else(|| panic!("no school offered: {page}"))
}

#[tokio::test]
async fn visit_photos_are_served_under_the_records_scope() {
    let clock = ManualClock::new(local(12, 3, 15, 0));
    let mut h = Harness::start_with(&format!("{WEEKLY}{OFFICE_GROUPS}{}", web_config()), Some(clock.clone())).await;
    let site = Site::of(&h);
    for (acct, code) in [("lu", "S001"), ("zhang", "D005")] {
        h.bind(acct, code).await;
    }
    let far_code: String = common::inspector_outside_zone_of_inspector(h.db(), "D005").await;
    h.bind("far", &far_code).await;
    let zhang = login(&mut h, &site, "zhang").await;
    let lu = login(&mut h, &site, "lu").await;
    let far = login(&mut h, &site, "far").await;

    let (_, form) = site.get("/visits/new", &zhang).await;
    let csrf = csrf_of(&form);
    let school = first_option(&form);
    let (one, two) = (tiny_png(40), tiny_png(220));
    let mut upload = reqwest::multipart::Form::new()
        .text("csrf", csrf)
        .text("school", school)
        .text("method", "campus_walk")
        .text("problems", "无");
    for (name, bytes) in [("一.png", one.clone()), ("二.png", two.clone())] {
        upload = upload
            .part("photos", reqwest::multipart::Part::bytes(bytes).file_name(name).mime_str("image/png").unwrap());
    }
    let res = site
        .client
        .post(format!("{}/visits/new", site.root))
        .header(reqwest::header::COOKIE, &zhang)
        .multipart(upload)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{}", res.text().await.unwrap());
    let record = res.headers().get(reqwest::header::LOCATION).unwrap().to_str().unwrap().to_string();
    h.settle().await;

    // The record's page shows both thumbnails, linked under the record's own path.
    let (status, page) = site.get(&record, &zhang).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    for n in [1, 2] {
        assert!(page.contains(&format!("<img src=\"{record}/photos/{n}\"")), "{page}");
    }
    // The inspector and the office get the photos, as stored, with the right headers.
    for cookie in [&zhang, &lu] {
        for (n, bytes) in [(1, &one), (2, &two)] {
            let got = site.fetch(&format!("{record}/photos/{n}"), Some(cookie)).await;
            assert_eq!(got.status, StatusCode::OK);
            assert_eq!(&got.bytes, bytes);
            assert_eq!(got.header("content-type"), "image/png");
            assert_eq!(got.header("x-content-type-options"), "nosniff");
            let cache = got.header("cache-control");
            assert!(cache.contains("private") && cache.contains("max-age="), "{cache}");
        }
    }
    // The office's 主题与纪实 lists the record with a link to its page.
    let (_, themes) = site.get("/themes", &lu).await;
    assert!(themes.contains(&format!("href=\"{record}\"")), "{themes}");
    // Another zone's inspector: 404 for the record and its photos, as for what does not exist.
    let (status, body) = site.get(&record, &far).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    for path in [format!("{record}/photos/1"), format!("{record}/photos/2")] {
        let got = site.fetch(&path, Some(&far)).await;
        assert_eq!(got.status, StatusCode::NOT_FOUND);
        assert!(got.header("content-type").starts_with("text/html"), "no image bytes");
        assert_ne!(&got.bytes, &one);
    }
    for path in [format!("{record}/photos/3"), format!("{record}/photos/0"), "/visits/V999/photos/1".to_string()] {
        assert_eq!(site.fetch(&path, Some(&zhang)).await.status, StatusCode::NOT_FOUND, "{path}");
    }
    // Signed out: the login page, never the photo.
    let got = site.fetch(&format!("{record}/photos/1"), None).await;
    assert_eq!(got.status, StatusCode::UNAUTHORIZED);
    h.stop().await;
}
