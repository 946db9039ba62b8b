//! The office's acts on the platform (督导信息平台) over a real listener and a real SQLite file:
//! 布置任务 on 督办, 发布主题 on 主题与纪实 and the review of a school's 自查清单. Each lands in
//! the database and queues the same notices as the chat command, records its audit entry with
//! `via = web`, refuses a missing or wrong CSRF token (403), a role the chat refuses (403) and
//! what lies outside the person's scope (404), shows the chat's reason with the typed input
//! kept, and escapes hostile text.

mod common;
use common::site::{csrf_of, html_escape, login, web_config, Site, OFFICE_GROUPS};
use common::{shanghai as local, Harness};

use dudao::clock::ManualClock;
use reqwest::StatusCode;

const WEEKLY: &str = "[weekly]\nexempt_invited = false\n";

async fn start() -> (Harness, Site) {
    let clock = ManualClock::new(local(12, 1, 9, 0));
    let h = Harness::start_with(&format!("{WEEKLY}{OFFICE_GROUPS}{}", web_config()), Some(clock)).await;
    let site = Site::of(&h);
    (h, site)
}

async fn count(h: &Harness, sql: &str) -> i64 {
    dudao::sql::query_scalar(sql).fetch_one(h.db()).await.unwrap()
}

async fn text(h: &Harness, sql: &str) -> String {
    dudao::sql::query_scalar(sql).fetch_one(h.db()).await.unwrap()
}

/// A 303 and where it goes.
fn location(h: &reqwest::header::HeaderMap) -> String {
    h.get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
}

async fn post(site: &Site, path: &str, cookie: &str, form: &[(&str, &str)]) -> (StatusCode, String, String) {
    let res = site
        .client
        .post(format!("{}{path}", site.root))
        .header(reqwest::header::COOKIE, cookie)
        .form(form)
        .send()
        .await
        .unwrap();
    let (status, loc) = (res.status(), location(res.headers()));
    (status, loc, res.text().await.unwrap())
}

/// The 布置任务 form as a browser sends it, filled in.
fn task_form(csrf: &str) -> Vec<(&str, &str)> {
    vec![
        ("csrf", csrf),
        ("title", "核对<script>alert(1)</script>食堂台账"),
        ("target", "D005"),
        ("date", "2026-12-05"),
        ("time", "17:00"),
        ("needs", "1"),
        ("description", "请逐校核对\r\n附上照片"),
    ]
}

/// The 发布主题 form as a browser sends it, filled in.
fn theme_form(csrf: &str) -> Vec<(&str, &str)> {
    vec![
        ("csrf", csrf),
        ("month", "2026-12"),
        ("title", "冬季<script>x</script>安全"),
        ("description", "重点查看取暖设施"),
        ("indicators", "1. 取暖设备有专人管理\r\n\r\n2. 疏散通道畅通\r\n"),
        ("categories", "6、8"),
    ]
}

#[tokio::test]
async fn the_office_assigns_a_task_from_the_web_as_the_chat_would() {
    let (mut h, site) = start().await;
    for (acct, code) in [("lu", "S001"), ("zhang", "D005")] {
        h.bind(acct, code).await;
    }
    let lu = login(&mut h, &site, "lu").await;
    let zhang = login(&mut h, &site, "zhang").await;

    // 我的待办 leads the office to the form, open; an inspector has no such link.
    let (_, home) = site.get("/", &lu).await;
    assert!(home.contains("/tasks?assign=1#assign") && home.contains("/themes?publish=1#publish"), "{home}");
    let (_, home) = site.get("/", &zhang).await;
    assert!(!home.contains("assign=1") && !home.contains("publish=1"), "{home}");
    let (_, page) = site.get("/tasks?assign=1", &lu).await;
    assert!(page.contains("id=\"assign\" open"), "{page}");
    // The office sees the form, with the county's people, zones and schools to choose from.
    let (status, page) = site.get("/tasks", &lu).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("action=\"/tasks/new\"") && page.contains("value=\"D005\""), "{page}");
    assert!(page.contains("value=\"全体督学\"") && page.contains("value=\"全部学校\""), "{page}");
    assert!(!page.contains("<script"), "no inline scripts: {page}");
    let csrf = csrf_of(&page);
    // An inspector has no form and is refused when posting one anyway.
    let (_, page) = site.get("/tasks", &zhang).await;
    assert!(!page.contains("/tasks/new"), "{page}");
    let zhang_csrf = csrf_of(&page);
    let good = task_form;
    let zc = zhang_csrf.as_str();
    let (status, _, body) = post(&site, "/tasks/new", &zhang, &good(zc)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // Without the CSRF token, or with a wrong one: refused, nothing stored.
    let (status, _, _) = post(&site, "/tasks/new", &lu, &good("")[1..]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = post(&site, "/tasks/new", &lu, &good("0123")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(count(&h, "SELECT COUNT(*) FROM tasks").await, 0);

    // Invalid input: the form again with the chat's reason and what was typed.
    let c = csrf.as_str();
    let mut past = good(c);
    past[3] = ("date", "2026-11-30");
    let (status, _, page) = post(&site, "/tasks/new", &lu, &past).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("已经过去"), "{page}");
    assert!(page.contains(&html_escape("核对<script>alert(1)</script>食堂台账")), "typed title kept: {page}");
    assert!(page.contains("value=\"D005\" selected"), "chosen target kept: {page}");
    let mut unknown = good(c);
    unknown[2] = ("other", "查无此人乙丙");
    let (status, _, page) = post(&site, "/tasks/new", &lu, &unknown).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("没有找到人员、责任区或学校") && page.contains("查无此人乙丙"), "{page}");
    let mut untitled = good(c);
    untitled[1] = ("title", "   ");
    let (status, _, page) = post(&site, "/tasks/new", &lu, &untitled).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("请写明任务标题"), "{page}");
    assert_eq!(count(&h, "SELECT COUNT(*) FROM tasks").await, 0, "refusals leave nothing behind");
    assert_eq!(count(&h, "SELECT COUNT(*) FROM inbound_messages WHERE channel = 'web'").await, 0);

    // The task: stored, the assignee notified as by the chat, the office answered in its chat,
    // the audit saying web; then its page, the hostile title as text.
    let (status, loc, body) = post(&site, "/tasks/new", &lu, &good(c)).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(loc, "/tasks/T1?done=created");
    let (status, page) = site.get(&loc, &lu).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("任务已布置") && page.contains("张兰英") && page.contains("需提交材料"), "{page}");
    assert!(page.contains("&lt;script&gt;alert(1)&lt;") && !page.contains("<script>"), "{page}");
    assert!(page.contains("请逐校核对\n附上照片"), "{page}");
    assert_eq!(
        count(&h, "SELECT COUNT(*) FROM audit_log WHERE via = 'web' AND entity = 'task' AND action = 'created'").await,
        1
    );
    let out = h.settle().await;
    assert!(out.contains("已布置任务 T1"), "the chat's answer, in the office's chat: {out}");
    assert!(out.contains("T1") && out.contains("食堂台账"), "the assignee's notice: {out}");

    // The chat command for the same task: the same notices (one to 张兰英, same wording).
    let out = h.say("lu: 布置任务 核对<script>alert(1)</script>食堂台账 对象:D005 截止:12月5日17:00 需提交材料\n说明：请逐校核对\n附上照片").await;
    assert!(out.contains("已布置任务 T2"), "{out}");
    let notice = |code: &str| {
        format!(
            "SELECT segments FROM outbox WHERE idempotency_key LIKE 'task:{code}:assign:%'
             AND person_id = (SELECT id FROM people WHERE code = 'D005')"
        )
    };
    let (web, chat) = (text(&h, &notice("T1")).await, text(&h, &notice("T2")).await);
    assert_eq!(web.replace("T1", "T2"), chat, "the web's notice is the chat's");
    for code in ["T1", "T2"] {
        let n = count(&h, &format!("SELECT COUNT(*) FROM outbox WHERE idempotency_key LIKE 'task:{code}:%'")).await;
        assert_eq!(n, 1, "{code}");
    }
    let (web_desc, chat_desc): (String, String) = (
        text(&h, "SELECT description FROM tasks WHERE id = 1").await,
        text(&h, "SELECT description FROM tasks WHERE id = 2").await,
    );
    assert_eq!(web_desc, chat_desc);
    h.stop().await;
}

#[tokio::test]
async fn the_office_publishes_the_months_theme_from_the_web_as_the_chat_would() {
    let (mut h, site) = start().await;
    for (acct, code) in [("lu", "S001"), ("zhang", "D005")] {
        h.bind(acct, code).await;
    }
    let lu = login(&mut h, &site, "lu").await;
    let zhang = login(&mut h, &site, "zhang").await;

    let (status, page) = site.get("/themes", &lu).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("action=\"/themes/publish\"") && page.contains("value=\"2026-12\""), "{page}");
    let csrf = csrf_of(&page);
    let c = csrf.as_str();
    // An inspector reads themes but cannot publish one.
    let (_, page) = site.get("/themes", &zhang).await;
    assert!(!page.contains("/themes/publish"), "{page}");
    let zhang_csrf = csrf_of(&page);
    let zc = zhang_csrf.as_str();
    let good = theme_form;
    let (status, _, _) = post(&site, "/themes/publish", &zhang, &good(zc)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = post(&site, "/themes/publish", &lu, &good("")[1..]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = post(&site, "/themes/publish", &lu, &good("bad")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The chat's reasons: a past month, no title, no checklist — the typed text kept.
    let mut past = good(c);
    past[1] = ("month", "2026-11");
    let (status, _, page) = post(&site, "/themes/publish", &lu, &past).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("2026年11月已经过去"), "{page}");
    assert!(page.contains("疏散通道畅通") && page.contains(&html_escape("冬季<script>x</script>安全")), "{page}");
    let mut untitled = good(c);
    untitled[2] = ("title", "");
    let (status, _, page) = post(&site, "/themes/publish", &lu, &untitled).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("主题名称"), "{page}");
    let mut empty = good(c);
    empty[4] = ("indicators", " \r\n ");
    let (status, _, page) = post(&site, "/themes/publish", &lu, &empty).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("检查指标"), "{page}");
    assert_eq!(count(&h, "SELECT COUNT(*) FROM monthly_themes").await, 0);

    // Published: stored, broadcast to the inspectors' group, audited as web, shown escaped.
    let (status, loc, body) = post(&site, "/themes/publish", &lu, &good(c)).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(loc, "/themes?month=2026-12&done=published");
    let (_, page) = site.get(&loc, &lu).await;
    assert!(page.contains("主题已发布") && page.contains("取暖设备有专人管理"), "{page}");
    assert!(page.contains("&lt;script&gt;x&lt;") && !page.contains("<script>"), "{page}");
    let indicators = text(&h, "SELECT indicators FROM monthly_themes WHERE month = '2026-12'").await;
    assert_eq!(indicators, r#"["取暖设备有专人管理","疏散通道畅通"]"#);
    assert_eq!(
        count(
            &h,
            "SELECT COUNT(*) FROM audit_log WHERE via = 'web' AND entity = 'monthly_theme' AND action = 'published'"
        )
        .await,
        1
    );
    let out = h.settle().await;
    assert!(out.contains("【2026年12月督导主题】") && out.contains("已发布2026年12月督导主题"), "{out}");

    // The chat command for next month: the same broadcast, to the same chats.
    let out = h.say("lu: 发布主题 2027-01 冬季<script>x</script>安全\n说明：重点查看取暖设施\n指标：1. 取暖设备有专人管理\n2. 疏散通道畅通\n问题类别：6、8").await;
    assert!(out.contains("已发布2027年1月督导主题"), "{out}");
    let sent = |month: &str| {
        format!(
            "SELECT group_concat(chat_id || ':' || replace(segments, '{month}', ''), '|') FROM
             (SELECT chat_id, segments FROM outbox WHERE idempotency_key LIKE 'theme:{month}:%' ORDER BY chat_id)"
        )
    };
    let web = text(&h, &sent("2026-12")).await.replace("2026年12月", "M");
    let chat = text(&h, &sent("2027-01")).await.replace("2027年1月", "M");
    assert!(!web.is_empty());
    assert_eq!(web, chat, "the web's broadcast is the chat's");
    h.stop().await;
}

/// The segments of the outbox rows whose key starts with `prefix`, in key order, with `code`
/// written as `Z`: what a decision on list `code` queued.
async fn queued(h: &Harness, prefix: &str, code: &str) -> Vec<String> {
    let rows: Vec<(String, String)> = dudao::sql::query_as(
        "SELECT idempotency_key, segments FROM outbox WHERE idempotency_key LIKE ? || '%' ORDER BY idempotency_key",
    )
    .bind(prefix)
    .fetch_all(h.db())
    .await
    .unwrap();
    rows.into_iter().map(|(k, s)| format!("{}={}", k.replace(code, "Z"), s.replace(code, "Z"))).collect()
}

#[tokio::test]
async fn a_self_check_list_is_reviewed_and_confirmed_from_the_web_as_in_the_chat() {
    let (mut h, site) = start().await;
    let far = common::inspector_outside_zone_of(h.db(), "C0001").await;
    for (acct, code) in [("sup", "S001"), ("hao", "D008"), ("shi", "D001"), ("peng", "C0001"), ("far", far.as_str())] {
        h.bind(acct, code).await;
    }
    let list = "自查清单\n1. 6 一般 消防通道<script>堵塞</script>\n2. 7 严重 食堂留样记录缺失\n3. 9 操场有积水";
    let out = h.say(&format!("peng: {list}")).await;
    assert!(out.contains("已提交自查清单 Z1（3条）"), "{out}");
    let [sup, hao, shi, peng, far] = {
        let mut c = Vec::new();
        for a in ["sup", "hao", "shi", "peng", "far"] {
            c.push(login(&mut h, &site, a).await);
        }
        <[String; 5]>::try_from(c).unwrap()
    };

    // The school's inspector finds it on 我的待办 and on its page, the entries as text.
    let (_, home) = site.get("/", &hao).await;
    assert!(home.contains("待我审核的自查清单") && home.contains("/selfchecks/Z1"), "{home}");
    let (_, lists) = site.get("/selfchecks", &hao).await;
    assert!(lists.contains("/selfchecks/Z1") && lists.contains("待督学审核"), "{lists}");
    let (status, page) = site.get("/selfchecks/Z1", &hao).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("消防通道&lt;script&gt;堵塞&lt;") && !page.contains("<script>"), "{page}");
    assert!(page.contains("/selfchecks/Z1/review\"") && !page.contains("/selfchecks/Z1/confirm\""), "{page}");
    let hao_csrf = csrf_of(&page);

    // Another zone's inspector: not found, by page or by form; a colleague of the zone who is
    // not the school's inspector, and the school itself: refused.
    let (status, page) = site.get("/selfchecks/Z1", &far).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{page}");
    assert!(!page.contains("食堂留样"), "{page}");
    let far_csrf = csrf_of(&page);
    let (status, _, body) =
        post(&site, "/selfchecks/Z1/review", &far, &[("csrf", &far_csrf), ("decision", "pass")]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (_, page) = site.get("/selfchecks/Z1", &shi).await;
    assert!(!page.contains("/selfchecks/Z1/review"), "{page}");
    let shi_csrf = csrf_of(&page);
    let (status, _, body) =
        post(&site, "/selfchecks/Z1/review", &shi, &[("csrf", &shi_csrf), ("decision", "pass")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("不属于您负责的学校"), "{body}");
    let (_, page) = site.get("/", &peng).await;
    let peng_csrf = csrf_of(&page);
    let (status, _, _) =
        post(&site, "/selfchecks/Z1/review", &peng, &[("csrf", &peng_csrf), ("decision", "pass")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // No CSRF token, a wrong one: refused.
    let (status, _, _) = post(&site, "/selfchecks/Z1/review", &hao, &[("decision", "pass")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = post(&site, "/selfchecks/Z1/review", &hao, &[("csrf", "x"), ("decision", "pass")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The chat's reasons, the form kept: every entry dropped; a return without a reason; the
    // office confirming before the review.
    let all_dropped = [("csrf", hao_csrf.as_str()), ("decision", "pass"), ("drop", "1"), ("drop", "2"), ("drop", "3")];
    let (status, _, page) = post(&site, "/selfchecks/Z1/review", &hao, &all_dropped).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("删去后清单为空") && page.contains("value=\"2\" checked"), "{page}");
    let (status, _, page) =
        post(&site, "/selfchecks/Z1/review", &hao, &[("csrf", &hao_csrf), ("decision", "return"), ("reason", " ")])
            .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("请写明退回原因"), "{page}");
    // A decision that is neither button (a crafted request) decides nothing.
    for decision in ["", "approve", "通过"] {
        let (status, _, page) =
            post(&site, "/selfchecks/Z1/review", &hao, &[("csrf", &hao_csrf), ("decision", decision)]).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{decision}: {page}");
        assert!(page.contains("请选择“通过”或“退回”"), "{page}");
    }
    let (_, page) = site.get("/selfchecks/Z1", &sup).await;
    let sup_csrf = csrf_of(&page);
    let (status, _, page) =
        post(&site, "/selfchecks/Z1/confirm", &sup, &[("csrf", &sup_csrf), ("decision", "pass")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("待督学审核"), "{page}");
    assert_eq!(count(&h, "SELECT COUNT(*) FROM rectify_self_check_lines WHERE dropped = 1").await, 0);
    assert_eq!(count(&h, "SELECT COUNT(*) FROM inbound_messages WHERE channel = 'web'").await, 0);

    // 通过, dropping entry 3: reviewed, the office told as by the chat, the audit says web.
    let review = [("csrf", hao_csrf.as_str()), ("decision", "pass"), ("drop", "3")];
    let (status, loc, body) = post(&site, "/selfchecks/Z1/review", &hao, &review).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(loc, "/selfchecks/Z1?done=reviewed");
    assert_eq!(text(&h, "SELECT status FROM rectify_self_checks WHERE id = 1").await, "reviewed");
    assert_eq!(
        count(&h, "SELECT COUNT(*) FROM audit_log WHERE via = 'web' AND entity_id = 'Z1' AND action = 'reviewed'")
            .await,
        1
    );
    let out = h.settle().await;
    assert!(out.contains("已审核自查清单 Z1，保留2条") && out.contains("【自查清单待确认】Z1"), "{out}");
    let (_, page) = site.get(&loc, &hao).await;
    assert!(
        page.contains("已审核") && !page.contains("/selfchecks/Z1/review\"") && !page.contains("/confirm\""),
        "{page}"
    );
    // The same list reviewed in chat queues the same notices.
    let out = h.say(&format!("peng: {list}")).await;
    assert!(out.contains("Z2（3条）"), "{out}");
    let out = h.say("hao: 审核自查 Z2 通过 删除3").await;
    assert!(out.contains("保留2条"), "{out}");
    assert_eq!(queued(&h, "rectify:Z1:reviewed", "Z1").await, queued(&h, "rectify:Z2:reviewed", "Z2").await);
    assert!(!queued(&h, "rectify:Z1:reviewed", "Z1").await.is_empty());

    // The office: an inspector cannot confirm; 确认 lists the entries on the ledger and tells
    // the school; 退回 sends the other list back with the reason, shown as text.
    let (status, _, _) =
        post(&site, "/selfchecks/Z1/confirm", &hao, &[("csrf", &hao_csrf), ("decision", "pass")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, home) = site.get("/", &sup).await;
    assert!(home.contains("/selfchecks/Z1") && home.contains("待督导室确认"), "{home}");
    let (status, loc, body) =
        post(&site, "/selfchecks/Z1/confirm", &sup, &[("csrf", &sup_csrf), ("decision", "pass")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(loc, "/selfchecks/Z1?done=confirmed");
    assert_eq!(count(&h, "SELECT COUNT(*) FROM rectify_items WHERE source = 'self_check'").await, 2);
    assert_eq!(
        count(&h, "SELECT COUNT(*) FROM audit_log WHERE via = 'web' AND entity_id = 'Z1' AND action = 'confirmed'")
            .await,
        1
    );
    let out = h.settle().await;
    assert!(out.contains("列入整改台账：W1、W2") && out.contains("【整改通知】W1"), "{out}");
    let (_, page) = site.get(&loc, &sup).await;
    assert!(page.contains("/ledger/W1\"") && page.contains("（已删去）"), "{page}");
    let back = [("csrf", sup_csrf.as_str()), ("decision", "return"), ("reason", "请补充<b>照片</b>")];
    let (status, loc, body) = post(&site, "/selfchecks/Z2/confirm", &sup, &back).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(loc, "/selfchecks/Z2?done=returned");
    assert_eq!(text(&h, "SELECT status FROM rectify_self_checks WHERE id = 2").await, "returned");
    let out = h.settle().await;
    assert!(out.contains("【自查清单退回】Z2：请补充<b>照片</b>"), "the school's notice: {out}");
    let (_, page) = site.get(&loc, &peng).await;
    assert!(page.contains("请补充&lt;b&gt;照片&lt;") && !page.contains("<b>"), "{page}");
    h.stop().await;
}
