//! Problem list and rectification ledger end to end: the real service on a temporary SQLite
//! file, the console channel, a manual clock, a tiny HTTP server serving evidence photos.

mod common;

use axum::routing::get;
use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;
use common::Harness;
use dudao::chat::console::parse_line;
use dudao::chat::{ChatRef, InboundMessage, MediaRef, Segment, UserRef};
use dudao::clock::ManualClock;
use dudao::domain::rectify::{self as dr, Action, Party, Severity, Source, Status};
use sha2::{Digest, Sha256};

/// The office's own group (L2/L3 lists go there); the sweep and the fetcher are driven by hand.
const CONFIG: &str = r#"
[[groups]]
channel = "console"
id = "office"
purpose = "supervisors"

[rectify]
sweep_cron = ""
evidence_poll_secs = 3600
evidence_max_bytes = 4096
evidence_max_attempts = 1
# The photo server of these tests is on loopback.
evidence_allow_hosts = ["127.0.0.1"]
"#;

fn local(m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Shanghai.with_ymd_and_hms(2026, m, d, h, 0, 0).unwrap().with_timezone(&Utc)
}

/// Supervisor 卢浩 (S001, "sup"); 郝涛 (D008, "hao") is 实验小学's inspector, 曹静 (D009, "cao")
/// is recused there, 史芳 (D001, "shi") inspects other schools; 彭超 (C0001, "peng") is its
/// contact and 郑佳 (C0002, "zheng") its principal.
async fn start(clock: &ManualClock) -> Harness {
    let mut h = Harness::start_with(CONFIG, Some(clock.clone())).await;
    for (acct, code) in
        [("sup", "S001"), ("hao", "D008"), ("cao", "D009"), ("shi", "D001"), ("peng", "C0001"), ("zheng", "C0002")]
    {
        h.bind(acct, code).await;
    }
    h
}

fn count_to(out: &str, target: &str, needle: &str) -> usize {
    let head = format!("[console → {target}] (");
    let (mut n, mut in_target, mut counted) = (0, false, false);
    for line in out.lines() {
        if line.starts_with("[console") {
            in_target = line.starts_with(&head);
            counted = false;
        } else if in_target && !counted && line.contains(needle) {
            n += 1;
            counted = true;
        }
    }
    n
}

/// A console line with images attached (the console itself cannot express images).
async fn say_with_images(h: &mut Harness, id: &str, line: &str, urls: &[String]) -> String {
    let parsed = parse_line(line).unwrap();
    let mut segments = vec![Segment::text(parsed.text.clone())];
    for u in urls {
        segments.push(Segment::Image { media: MediaRef { name: None, url: Some(u.clone()), file_id: None } });
    }
    let msg = InboundMessage {
        chat: ChatRef::private("console", &parsed.account),
        sender: UserRef { id: parsed.account.clone(), display: Some(parsed.account.clone()) },
        platform_msg_id: id.into(),
        segments,
        to_me: true,
        sent_at: Utc::now(),
    };
    h.app().ingest(msg).await.unwrap();
    h.settle().await
}

async fn status(h: &Harness, id: i64) -> String {
    dudao::sql::query_scalar("SELECT status FROM rectify_items WHERE id = ?").bind(id).fetch_one(h.db()).await.unwrap()
}

async fn scalar(h: &Harness, sql: &str) -> i64 {
    dudao::sql::query_scalar(sql).fetch_one(h.db()).await.unwrap()
}

async fn sweep(h: &mut Harness) -> dudao::app::rectify::SweepReport {
    let app = h.app().clone();
    let mut tx = dudao::db::begin_write(&app.db).await.unwrap();
    let r = dudao::app::rectify::sweep(&app.job_ctx, &mut tx, app.clock.now()).await.unwrap();
    tx.commit().await.unwrap();
    app.outbox_notify.notify_waiters();
    r
}

#[tokio::test]
async fn state_machine_permissions_extension_reopen() {
    let clock = ManualClock::new(local(11, 23, 9));
    let mut h = start(&clock).await;

    // Only staff record problems, and only for their own schools.
    let out = h.say("peng: 记问题 实验小学 6 一般 消防通道堵塞").await;
    assert!(out.contains("不能使用"), "{out}");
    let out = h.say("shi: 记问题 实验小学 6 一般 消防通道堵塞").await;
    assert!(out.contains("不是您负责的学校"), "{out}");
    let out = h.say("cao: 记问题 实验小学 6 一般 消防通道堵塞").await;
    assert!(out.contains("需回避"), "{out}");
    let out = h.say("hao: 记问题 实验小学 安全 消防通道堵塞").await;
    // 7 working days from Monday 11-23.
    assert!(out.contains("已登记问题 W1") && out.contains("一般") && out.contains("12月2日"), "{out}");
    // The notice goes privately to the contact and the principal, without any phone number.
    assert_eq!(count_to(&out, "私聊 peng", "【整改通知】W1"), 1, "{out}");
    assert_eq!(count_to(&out, "私聊 zheng", "【整改通知】W1"), 1, "{out}");
    assert!(!out.contains("1990"), "{out}");
    assert_eq!(status(&h, 1).await, "notified");

    // A school can never close its own item (the command is not theirs), nor can outsiders.
    let out = h.say("peng: 销号 W1").await;
    assert!(out.contains("不能使用"), "{out}");
    let out = h.say("shi: 销号 W1").await;
    assert!(out.contains("不属于您负责的学校"), "{out}");
    let out = h.say("cao: 销号 W1").await;
    assert!(out.contains("需回避"), "{out}");
    // Not yet submitted: the inspector cannot close it either.
    let out = h.say("hao: 销号 W1").await;
    assert!(out.contains("提交整改完成后才能销号"), "{out}");
    // Inspectors do not acknowledge for the school.
    let out = h.say("hao: 收到 W1").await;
    assert!(out.contains("不能使用“收到整改”"), "{out}");

    let out = h.say("peng: 收到 W1").await;
    assert!(out.contains("已确认收到 W1"), "{out}");
    assert_eq!(status(&h, 1).await, "acknowledged");
    let out = h.say("zheng: 收到 W1").await;
    assert!(out.contains("不能办理这一步"), "{out}");
    let out = h.say("peng: 进展 W1 已清理一半").await;
    assert!(out.contains("已记录 W1"), "{out}");
    assert_eq!(status(&h, 1).await, "in_progress");
    let out = h.say("peng: 完成 W1 已清理通道").await;
    assert!(out.contains("已提交 W1"), "{out}");
    assert_eq!(count_to(&out, "私聊 hao", "【整改提交】W1"), 1, "{out}");
    assert_eq!(status(&h, 1).await, "submitted");

    let out = h.say("hao: 退回 W1").await;
    assert!(out.contains("请写明原因"), "{out}");
    let out = h.say("hao: 退回 W1 照片看不清").await;
    assert!(out.contains("已退回 W1"), "{out}");
    assert_eq!(count_to(&out, "私聊 peng", "原因：照片看不清"), 1, "{out}");
    assert_eq!(status(&h, 1).await, "in_progress");
    h.say("peng: 完成 W1 已清理并补拍照片").await;
    let out = h.say("hao: 销号 W1").await;
    assert!(out.contains("已销号 W1") && out.contains("按期完成"), "{out}");
    assert_eq!(count_to(&out, "私聊 peng", "【整改销号】W1"), 1, "{out}");
    assert_eq!(status(&h, 1).await, "closed");
    // Closed: no more school moves.
    let out = h.say("peng: 完成 W1 再交一次").await;
    assert!(out.contains("不能办理这一步"), "{out}");

    // 回头看 reopens and counts a relapse; extensions need a later date and a reason.
    let out = h.say("hao: 回头看 W1 通道又被杂物堵塞").await;
    assert!(out.contains("已重开 W1") && out.contains("第1次"), "{out}");
    assert_eq!(count_to(&out, "私聊 peng", "【回头看】W1"), 1, "{out}");
    assert_eq!(status(&h, 1).await, "in_progress");
    let out = h.say("hao: 延期 W1 12月20日").await;
    assert!(out.contains("须写明原因"), "{out}");
    let out = h.say("hao: 延期 W1 11月25日 施工").await;
    assert!(out.contains("须晚于原期限"), "{out}");
    let out = h.say("hao: 延期 W1 12月20日 需要等待施工队").await;
    assert!(out.contains("延至12月20日"), "{out}");
    assert_eq!(count_to(&out, "私聊 zheng", "【整改延期】W1"), 1, "{out}");
    let row: (String, i64, i64, i64) =
        dudao::sql::query_as("SELECT deadline, returns, relapses, extensions FROM rectify_items WHERE id = 1")
            .fetch_one(h.db())
            .await
            .unwrap();
    assert_eq!(row, ("2026-12-20".to_string(), 1, 1, 1));

    // Only supervisors cancel.
    let out = h.say("hao: 撤销问题 W1 重复登记").await;
    assert!(out.contains("不能使用"), "{out}");
    let out = h.say("sup: 撤销问题 W1 与W2重复").await;
    assert!(out.contains("已撤销 W1"), "{out}");
    assert_eq!(status(&h, 1).await, "cancelled");
    let out = h.say("sup: 回头看 W1").await;
    assert!(out.contains("只有已销号的问题"), "{out}");

    // Minor problems are fixed on site and closed when recorded; serious ones reach the office.
    let out = h.say("hao: 记问题 实验小学 1 轻微 值班记录缺页").await;
    assert!(out.contains("已登记并销号 W2"), "{out}");
    assert_eq!(status(&h, 2).await, "closed");
    let out = h.say("sup: 记问题 城关一小 7 严重 食品留样缺失 期限:11月26日").await;
    assert!(out.contains("已登记问题 W3") && out.contains("11月26日"), "{out}");
    assert_eq!(count_to(&out, "群 office", "【严重问题报告】W3"), 1, "{out}");

    // A complex item is owned by the bureau department named.
    let out = h.say("sup: 记问题 城关一小 6 复杂 教学楼D级危房 部门:基建科").await;
    assert!(out.contains("已登记问题 W4") && out.contains("复杂"), "{out}");
    let owner: String =
        dudao::sql::query_scalar("SELECT owner FROM rectify_items WHERE id = 4").fetch_one(h.db()).await.unwrap();
    assert_eq!(owner, "基建科");
    let deadline: String =
        dudao::sql::query_scalar("SELECT deadline FROM rectify_items WHERE id = 4").fetch_one(h.db()).await.unwrap();
    assert_eq!(deadline, "2027-01-04", "complex_days = 30 working days by default");

    // Every transition is in the history.
    let events = scalar(&h, "SELECT COUNT(*) FROM rectify_events WHERE item_id = 1").await;
    // created, notified, acknowledged, progress, submitted, verifying, returned, submitted,
    // verifying, closed, reopened, extended, cancelled
    assert_eq!(events, 13);

    // Details and ledgers within scope.
    let out = h.say("peng: 查问题 W1").await;
    assert!(out.contains("已撤销") && out.contains("回头看重开"), "{out}");
    let out = h.say("peng: 查问题 W3").await;
    assert!(out.contains("不属于您负责的学校"), "{out}");
    let out = h.say("peng: 整改台账").await;
    assert!(out.contains("示例县实验小学") && out.contains("问题2条"), "{out}");
    let out = h.say("hao: 整改台账").await;
    assert!(out.contains("我负责的学校"), "{out}");
    let out = h.say("hao: 整改台账 第二督学责任区").await;
    assert!(out.contains("只能查看本责任区"), "{out}");
    let out = h.say("sup: 整改台账").await;
    assert!(out.contains("全县") && out.contains("问题4条") && out.contains("本月对账"), "{out}");
    assert!(out.contains("整改率33.3%"), "{out}");
    assert!(out.contains("期初0 + 新增4 + 重开1 − 销号2 − 撤销1 = 期末2"), "{out}");
    // Nonsense input never panics.
    for junk in ["hao: 记问题", "hao: 销号 W999999999999", "hao: 延期 W3 abc", "sup: 整改对账 2099-01", "peng: 完成 W"]
    {
        let out = h.say(junk).await;
        assert!(!out.is_empty(), "{junk}");
    }
    h.stop().await;
}

async fn photo_server() -> String {
    let a: &'static [u8] = b"\xff\xd8\xffJPEG-photo-A";
    let b: &'static [u8] = b"\xff\xd8\xffJPEG-photo-B";
    let app = axum::Router::new()
        .route("/a.jpg", get(move || async move { a }))
        .route("/a-again.jpg", get(move || async move { a }))
        .route("/b.jpg", get(move || async move { b }))
        .route("/big.jpg", get(|| async { vec![7u8; 10_000] }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.ok();
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn evidence_photos_are_stored_once_by_hash() {
    let clock = ManualClock::new(local(11, 23, 9));
    let mut h = start(&clock).await;
    let base = photo_server().await;
    h.say("hao: 记问题 实验小学 6 楼道灭火器过期").await;
    h.say("hao: 记问题 实验小学 7 食堂纱窗破损").await;
    let urls: Vec<String> = ["a.jpg", "a-again.jpg", "b.jpg"].iter().map(|p| format!("{base}/{p}")).collect();
    let out = say_with_images(&mut h, "m1", "peng: 完成 W1 已更换灭火器", &urls).await;
    assert!(out.contains("和3张照片"), "{out}");
    // Written in the message's transaction as references only; nothing downloaded yet.
    assert_eq!(scalar(&h, "SELECT COUNT(*) FROM rectify_evidence WHERE status = 'pending'").await, 3);
    let r = dudao::app::rectify::fetch_evidence(h.app()).await.unwrap();
    assert_eq!((r.stored, r.duplicates, r.failed), (2, 1, 0));
    // The same photo on another item is evidence there too, but the file is kept once.
    let more = vec![format!("{base}/a.jpg"), format!("{base}/big.jpg"), "ftp://example/x.jpg".to_string()];
    say_with_images(&mut h, "m2", "peng: 完成 W2 纱窗已更换", &more).await;
    let r = dudao::app::rectify::fetch_evidence(h.app()).await.unwrap();
    assert_eq!((r.stored, r.duplicates, r.failed), (1, 0, 2));
    // Fetching again does nothing.
    assert_eq!(dudao::app::rectify::fetch_evidence(h.app()).await.unwrap(), Default::default());

    let hash_a = format!("{:x}", Sha256::digest(b"\xff\xd8\xffJPEG-photo-A"));
    let rows: Vec<(i64, String, Option<String>, Option<String>)> =
        dudao::sql::query_as("SELECT item_id, status, sha256, path FROM rectify_evidence ORDER BY id")
            .fetch_all(h.db())
            .await
            .unwrap();
    assert_eq!(rows[0], (1, "stored".into(), Some(hash_a.clone()), Some(format!("{}/{hash_a}", &hash_a[..2]))));
    assert_eq!(rows[1].1, "duplicate");
    assert_eq!(rows[2].1, "stored");
    assert_eq!(rows[3], (2, "stored".into(), Some(hash_a.clone()), Some(format!("{}/{hash_a}", &hash_a[..2]))));
    assert_eq!(rows[4].1, "failed");
    assert_eq!(rows[5].1, "failed");
    let dir = dudao::app::rectify::evidence_dir(&h.app().settings);
    let stored = std::fs::read(dir.join(format!("{}/{hash_a}", &hash_a[..2]))).unwrap();
    assert_eq!(stored, b"\xff\xd8\xffJPEG-photo-A");
    let files: usize =
        std::fs::read_dir(&dir).unwrap().map(|d| std::fs::read_dir(d.unwrap().path()).unwrap().count()).sum();
    assert_eq!(files, 2, "one file per distinct photo");
    let out = h.say("hao: 查问题 W1").await;
    assert!(out.contains("照片2张（重复1，待下载0，失败0）"), "{out}");
    h.stop().await;
}

#[tokio::test]
async fn escalation_levels_fire_once_across_restarts() {
    let clock = ManualClock::new(local(11, 23, 9));
    let mut h = start(&clock).await;
    h.say("hao: 记问题 实验小学 6 围墙破损 期限:11月25日").await;
    h.say("hao: 记问题 实验小学 3 体育课被挤占 期限:11月30日").await; // W2
                                                                      // W2 is returned twice: listed for the bulletin before its deadline.
    for _ in 0..2 {
        h.say("peng: 完成 W2 已恢复体育课").await;
        h.say("hao: 退回 W2 课表未调整").await;
    }

    // Nothing is due yet on 11-23 (two days ahead), except W2's bulletin listing.
    let r = sweep(&mut h).await;
    assert_eq!((r.reminders, r.inspector, r.bulletin, r.interview), (0, 0, 1, 0));
    let out = h.settle().await;
    assert_eq!(count_to(&out, "群 office", "W2 示例县实验小学"), 1, "{out}");
    assert!(out.contains("退回2次"), "{out}");

    clock.set(local(11, 24, 9));
    let r = sweep(&mut h).await;
    assert_eq!(r.reminders, 1);
    let out = h.settle().await;
    assert_eq!(count_to(&out, "私聊 peng", "【整改提醒】W1"), 1, "{out}");
    assert_eq!(count_to(&out, "私聊 zheng", "还有1天到期"), 1, "{out}");
    assert_eq!(sweep(&mut h).await, Default::default());

    // Restart: what was sent is remembered.
    let dir = h.stop().await;
    let mut h = Harness::start_in(dir, CONFIG, Some(clock.clone())).await;
    assert_eq!(sweep(&mut h).await, Default::default());
    clock.set(local(11, 25, 9));
    assert_eq!(sweep(&mut h).await.reminders, 1);
    let out = h.settle().await;
    assert_eq!(count_to(&out, "私聊 peng", "今天到期"), 1, "{out}");

    clock.set(local(11, 26, 9));
    let r = sweep(&mut h).await;
    assert_eq!((r.reminders, r.inspector, r.bulletin), (0, 1, 0));
    let out = h.settle().await;
    assert_eq!(count_to(&out, "私聊 hao", "【整改逾期】W1"), 1, "{out}");
    assert_eq!(sweep(&mut h).await, Default::default());

    clock.set(local(12, 2, 9));
    let r = sweep(&mut h).await;
    // W1 reaches the bulletin; W2 (returned, now past its 11-30 deadline) gets its follow-up.
    assert_eq!((r.inspector, r.bulletin, r.interview), (1, 1, 0));
    let out = h.settle().await;
    assert_eq!(count_to(&out, "群 office", "【督导通报名单】"), 1, "{out}");
    assert!(out.contains("W1 示例县实验小学") && out.contains("逾期7天"), "{out}");

    let dir = h.stop().await;
    let mut h = Harness::start_in(dir, CONFIG, Some(clock.clone())).await;
    clock.set(local(12, 25, 9));
    let r = sweep(&mut h).await;
    assert_eq!((r.reminders, r.inspector, r.bulletin, r.interview), (0, 0, 0, 1));
    let out = h.settle().await;
    assert_eq!(count_to(&out, "群 office", "【约谈名单】"), 1, "{out}");
    assert!(out.contains("逾期30天"), "{out}");
    // Restarting and sweeping again sends nothing more.
    let dir = h.stop().await;
    let mut h = Harness::start_in(dir, CONFIG, Some(clock.clone())).await;
    assert_eq!(sweep(&mut h).await, Default::default());
    let levels: Vec<String> =
        dudao::sql::query_scalar("SELECT level FROM rectify_escalations WHERE item_id = 1 ORDER BY rowid")
            .fetch_all(h.db())
            .await
            .unwrap();
    assert_eq!(levels, ["L0:2026-11-25:1", "L0:2026-11-25:0", "L1", "L2", "L3"]);
    let w2: Vec<String> =
        dudao::sql::query_scalar("SELECT level FROM rectify_escalations WHERE item_id = 2 ORDER BY rowid")
            .fetch_all(h.db())
            .await
            .unwrap();
    assert_eq!(w2, ["L2", "L1"]);
    assert_eq!(
        scalar(&h, "SELECT COUNT(*) FROM outbox WHERE idempotency_key LIKE 'rectify:W1:L1:%'").await,
        1,
        "one follow-up to the one non-recused inspector"
    );
    // The sweep is registered as a job, and scheduled by default.
    assert!(dudao::service::all_jobs().get(dudao::app::rectify::JOB).is_some());
    let defaults = dudao::config::Settings::from_toml_over_default("").unwrap();
    assert!(dudao::service::all_schedules(&defaults).iter().any(|s| s.job == "rectify_sweep"));
    h.stop().await;
}

/// A tiny deterministic generator (no external crates needed).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

#[tokio::test]
async fn month_end_reconciliation_balances_on_generated_data() {
    let clock = ManualClock::new(local(11, 30, 20));
    let mut h = start(&clock).await;
    let app = h.app().clone();
    let schools: Vec<(i64, i64)> =
        dudao::sql::query_as("SELECT id, zone_id FROM schools ORDER BY id").fetch_all(h.db()).await.unwrap();
    let mut rng = Lcg(20261122);
    let mut items: Vec<(i64, i64, Status)> = Vec::new(); // (id, zone, status)
    let mut snapshots: Vec<(String, String, i64)> = Vec::new();
    let mut tx = dudao::db::begin_write(&app.db).await.unwrap();
    let start = NaiveDate::from_ymd_opt(2026, 6, 1).unwrap();
    let mut day = start;
    while day <= NaiveDate::from_ymd_opt(2026, 11, 30).unwrap() {
        let at = Shanghai.from_local_datetime(&day.and_hms_opt(10, 0, 0).unwrap()).unwrap().with_timezone(&Utc);
        // New problems.
        for _ in 0..rng.next(4) {
            let (school, zone) = schools[rng.next(schools.len() as u64) as usize];
            let n = dudao::store::rectify::NewItem {
                school_id: school,
                category: (rng.next(9) + 1) as u8,
                severity: Severity::General,
                source: Source::Visit,
                source_ref: None,
                description: "生成的问题",
                owner: "school",
                deadline: day + chrono::Duration::days(7),
                created_by: None,
            };
            let id = dudao::store::rectify::insert(&mut tx, &n, at).await.unwrap();
            let ev = dudao::store::rectify::EventRow {
                item_id: id,
                action: "created",
                from: None,
                to: Status::Identified,
                actor_id: None,
                note: None,
                deadline: n.deadline,
            };
            dudao::store::rectify::add_event(&mut tx, &ev, at, day).await.unwrap();
            items.push((id, zone, Status::Identified));
        }
        // Random moves, each checked by the domain's state machine.
        for _ in 0..rng.next(16) {
            if items.is_empty() {
                break;
            }
            let k = rng.next(items.len() as u64) as usize;
            // Mostly the natural next step; sometimes a return, a relapse or a cancellation.
            let (action, party) = match (rng.next(10), items[k].2) {
                (0, _) => (Action::Cancel, Party::Supervisor),
                (1 | 2, Status::Closed) => (Action::Reopen, Party::Inspector),
                (3 | 4, Status::Verifying) => (Action::Return, Party::Inspector),
                (_, Status::Identified) => (Action::Notify, Party::System),
                (_, Status::Notified) => (Action::Acknowledge, Party::School),
                (_, Status::Acknowledged) => (Action::Progress, Party::School),
                (_, Status::InProgress) => (Action::Submit, Party::School),
                (_, Status::Submitted) => (Action::StartVerify, Party::Inspector),
                (_, Status::Verifying) => (Action::Close, Party::Inspector),
                _ => continue,
            };
            let Ok(next) = dr::transition(items[k].2, action, party) else { continue };
            let ev = dudao::store::rectify::EventRow {
                item_id: items[k].0,
                action: action.as_str(),
                from: Some(items[k].2),
                to: next,
                actor_id: None,
                note: None,
                deadline: day,
            };
            dudao::store::rectify::add_event(&mut tx, &ev, at, day).await.unwrap();
            dudao::sql::query("UPDATE rectify_items SET status = ? WHERE id = ?")
                .bind(next.as_str())
                .bind(items[k].0)
                .execute(&mut *tx)
                .await
                .unwrap();
            items[k].2 = next;
        }
        // Month end: remember how many items are open per zone, independently of the ledger.
        if (day + chrono::Duration::days(1)).month() != day.month() {
            let month = dr::month_of(day);
            for (zone,) in dudao::sql::query_as::<(i64,)>("SELECT id FROM zones").fetch_all(&mut *tx).await.unwrap() {
                let open = items.iter().filter(|(_, z, s)| *z == zone && s.is_open()).count() as i64;
                let name: String = dudao::sql::query_scalar("SELECT name FROM zones WHERE id = ?")
                    .bind(zone)
                    .fetch_one(&mut *tx)
                    .await
                    .unwrap();
                snapshots.push((name, month.clone(), open));
            }
        }
        day += chrono::Duration::days(1);
    }
    tx.commit().await.unwrap();
    assert!(items.len() > 200, "a sizeable dataset: {}", items.len());

    let mut conn = app.db.acquire().await.unwrap();
    let through = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
    let by_zone =
        dudao::app::rectify::reconciliation(&mut conn, through, dudao::app::rectify::Grouping::Zone).await.unwrap();
    let county =
        dudao::app::rectify::reconciliation(&mut conn, through, dudao::app::rectify::Grouping::County).await.unwrap();
    drop(conn);
    assert!(by_zone.values().all(dr::MonthRow::balances));
    assert!(county.values().all(dr::MonthRow::balances));
    let mut moved = (0, 0, 0);
    for (zone, month, open) in &snapshots {
        let Some(row) = by_zone.get(&(zone.clone(), month.clone())) else {
            assert_eq!(*open, 0, "{zone} {month}");
            continue;
        };
        assert_eq!(row.closing, *open, "{zone} {month}: ledger closing vs items open");
        moved.0 += row.closed;
        moved.1 += row.cancelled;
        moved.2 += row.reopened;
    }
    assert!(moved.0 > 0 && moved.1 > 0 && moved.2 > 0, "closes, cancels and reopens all occur: {moved:?}");
    // Each month's opening is the previous month's closing, and zones add up to the county.
    for ((scope, month), row) in &county {
        let zones: i64 = by_zone.iter().filter(|((_, m), _)| m == month).map(|(_, r)| r.closing).sum();
        assert_eq!(row.closing, zones, "{scope} {month}");
    }
    let months: Vec<&String> = county.keys().map(|(_, m)| m).collect();
    for w in months.windows(2) {
        assert_eq!(county[&(String::new(), w[0].clone())].closing, county[&(String::new(), w[1].clone())].opening);
    }

    let out = h.say("sup: 整改对账 2026-10").await;
    assert!(out.contains("【整改对账】2026-10") && out.contains("全县") && !out.contains("不平"), "{out}");
    let oct = &county[&(String::new(), "2026-10".to_string())];
    assert!(
        out.contains(&format!(
            "全县：{} + {} + {} − {} − {} = {}",
            oct.opening, oct.new, oct.reopened, oct.closed, oct.cancelled, oct.closing
        )),
        "{out}"
    );
    let out = h.say("hao: 整改对账").await;
    assert!(out.contains("不能使用"), "{out}");
    h.stop().await;
}

#[tokio::test]
async fn problems_found_on_visits_enter_the_ledger() {
    let clock = ManualClock::new(local(11, 23, 9));
    let mut h = start(&clock).await;
    let (person, school): (i64, i64) = dudao::sql::query_as(
        "SELECT p.id, s.id FROM people p, schools s WHERE p.code = 'D008' AND s.name = '示例县实验小学'",
    )
    .fetch_one(h.db())
    .await
    .unwrap();
    let now = dudao::db::ts(local(11, 23, 9));
    dudao::sql::query(
        "INSERT INTO visits (id, person_id, school_id, visit_date, kind, status, parsed, created_at, updated_at)
         VALUES (1, ?, ?, '2026-11-23', 'routine', 'submitted', '{}', ?, ?)",
    )
    .bind(person)
    .bind(school)
    .bind(&now)
    .bind(&now)
    .execute(h.db())
    .await
    .unwrap();
    for (desc, cat, follow) in
        [("楼梯间无人值守", 6, Some("serious")), ("宣传栏未更新", 1, Some("minor")), ("作业量偏多", 4, None)]
    {
        dudao::sql::query(
            "INSERT INTO visit_problems (visit_id, school_id, person_id, description, category, follow_up, created_at)
             VALUES (1, ?, ?, ?, ?, ?, ?)",
        )
        .bind(school)
        .bind(person)
        .bind(desc)
        .bind(cat)
        .bind(follow)
        .bind(&now)
        .execute(h.db())
        .await
        .unwrap();
    }
    let r = sweep(&mut h).await;
    assert_eq!(r.taken_from_visits, 3);
    let out = h.settle().await;
    assert_eq!(count_to(&out, "私聊 peng", "【整改通知】W1"), 1, "{out}");
    assert_eq!(count_to(&out, "群 office", "【严重问题报告】W1"), 1, "{out}");
    let rows: Vec<(String, String, String, String)> =
        dudao::sql::query_as("SELECT source, severity, status, deadline FROM rectify_items ORDER BY id")
            .fetch_all(h.db())
            .await
            .unwrap();
    assert_eq!(
        rows,
        [
            ("visit".into(), "serious".into(), "notified".into(), "2026-11-26".into()),
            ("visit".into(), "minor".into(), "closed".into(), "2026-11-23".into()),
            ("visit".into(), "general".into(), "notified".into(), "2026-12-02".into()),
        ]
    );
    assert_eq!(scalar(&h, "SELECT COUNT(*) FROM visit_problems WHERE status = 'taken'").await, 3);
    assert_eq!(sweep(&mut h).await.taken_from_visits, 0);
    h.stop().await;
}

#[tokio::test]
async fn self_check_list_is_reviewed_confirmed_and_becomes_items() {
    let clock = ManualClock::new(local(11, 23, 9));
    let mut h = start(&clock).await;
    let out = h.say("peng: 自查清单 1. 6 一般 消防通道堵塞").await;
    assert!(out.contains("已提交自查清单 Z1（1条）"), "{out}");
    assert_eq!(count_to(&out, "私聊 hao", "【自查清单】Z1"), 1, "{out}");
    // A return goes back to the school; the school then sends a corrected list.
    let out = h.say("hao: 审核自查 Z1 退回 请补充食堂问题").await;
    assert!(out.contains("已退回自查清单 Z1"), "{out}");
    assert_eq!(count_to(&out, "私聊 peng", "请补充食堂问题"), 1, "{out}");
    let out =
        h.say("peng: 自查清单\n1. 6 一般 消防通道堵塞\n2. 7 严重 食堂留样记录缺失\n3. 9 操场有积水\n4. 看不懂").await;
    assert!(out.contains("第4行没有看懂"), "{out}");
    let out = h.say("peng: 自查清单\n1. 6 一般 消防通道堵塞\n2. 7 严重 食堂留样记录缺失\n3. 9 操场有积水").await;
    assert!(out.contains("Z2（3条）"), "{out}");

    // Only the school's own inspector reviews; the office confirms only reviewed lists.
    let out = h.say("shi: 审核自查 Z2 通过").await;
    assert!(out.contains("不属于您负责的学校"), "{out}");
    let out = h.say("peng: 审核自查 Z2 通过").await;
    assert!(out.contains("不能使用"), "{out}");
    let out = h.say("sup: 确认自查 Z2").await;
    assert!(out.contains("待督学审核"), "{out}");
    let out = h.say("hao: 审核自查 Z2 通过 删除3").await;
    assert!(out.contains("保留2条"), "{out}");
    assert_eq!(count_to(&out, "群 office", "【自查清单待确认】Z2"), 1, "{out}");
    let out = h.say("hao: 确认自查 Z2").await;
    assert!(out.contains("不能使用"), "{out}");
    let out = h.say("sup: 确认自查 Z2").await;
    assert!(out.contains("列入整改台账：W1、W2"), "{out}");
    assert_eq!(count_to(&out, "私聊 peng", "【整改通知】W1"), 1, "{out}");
    assert_eq!(count_to(&out, "私聊 zheng", "【整改通知】W2"), 1, "{out}");
    let out = h.say("sup: 确认自查 Z2").await;
    assert!(out.contains("已确认"), "{out}");
    let rows: Vec<(String, String, String)> =
        dudao::sql::query_as("SELECT source, severity, description FROM rectify_items ORDER BY id")
            .fetch_all(h.db())
            .await
            .unwrap();
    assert_eq!(
        rows,
        [
            ("self_check".into(), "general".into(), "消防通道堵塞".into()),
            ("self_check".into(), "serious".into(), "食堂留样记录缺失".into()),
        ]
    );
    h.stop().await;
}

/// Issue 14 item 11: a school nobody at which can receive a notice is not told it was notified;
/// the item stays 未通知, is not escalated, and the notice goes out once someone is listed.
#[tokio::test]
async fn a_school_with_nobody_to_notify_is_not_treated_as_notified() {
    let clock = ManualClock::new(local(11, 23, 9));
    let mut h = start(&clock).await;
    // 城关三小 (hao's school) loses its 联络员 雷华 (C0007) and principal 丁红梅 (C0008).
    dudao::sql::query(
        "DELETE FROM school_contacts WHERE school_id = (SELECT id FROM schools WHERE code = '3999901004')",
    )
    .execute(h.db())
    .await
    .unwrap();
    let out = h.say("hao: 记问题 城关三小 安全 二楼走廊护栏螺丝松动").await;
    assert!(out.contains("已登记问题 W1"), "{out}");
    assert!(!out.contains("整改通知已发给"), "{out}");
    assert!(out.contains("没有登记学校联络员或校长") && out.contains("未通知"), "{out}");
    assert_eq!(count_to(&out, "群 office", "W1"), 1, "the supervisors hear of it: {out}");
    assert_eq!(status(&h, 1).await, "identified");
    assert_eq!(scalar(&h, "SELECT COUNT(*) FROM outbox WHERE idempotency_key LIKE 'rectify:W1:notice:%'").await, 0);
    let out = h.say("hao: 整改台账 城关三小").await;
    assert!(out.contains("W1") && out.contains("未通知"), "{out}");
    // A problem written on a visit there: the sweep takes it in and tells the inspector too.
    let out = h.say("hao: 督导纪实 今天到城关三小校园巡视，查阅资料\n发现问题：1.科学实验室危化品台账未更新").await;
    assert!(out.contains("已收到督导纪实"), "{out}");
    let r = sweep(&mut h).await;
    assert_eq!(r.taken_from_visits, 1, "{r:?}");
    let out = h.settle().await;
    assert_eq!(count_to(&out, "私聊 hao", "【整改通知未发出】W2"), 1, "{out}");
    assert_eq!(count_to(&out, "群 office", "【整改通知未发出】W2"), 1, "{out}");
    assert_eq!(status(&h, 2).await, "identified");

    // Long past its deadline: no reminder, no follow-up, no 通报, no 约谈 for a notice never sent.
    clock.set(local(12, 28, 9));
    let r = sweep(&mut h).await;
    assert_eq!((r.reminders, r.inspector, r.bulletin, r.interview), (0, 0, 0, 0), "{r:?}");
    let out = h.settle().await;
    assert!(!out.contains("督导通报名单") && !out.contains("约谈名单"), "{out}");
    let out = h.say("sup: 整改台账").await;
    assert!(out.contains("逾期0") && out.contains("未通知2"), "{out}");

    // Only the principal is listed again: the reply names exactly who got the notice.
    dudao::sql::query(
        "INSERT INTO school_contacts (person_id, school_id)
         SELECT id, school_id FROM people WHERE code = 'C0008'",
    )
    .execute(h.db())
    .await
    .unwrap();
    let out = h.say("hao: 记问题 城关三小 食堂 留样冰箱温度记录缺失").await;
    assert!(out.contains("已登记问题 W3") && out.contains("整改通知已发给校长丁红梅"), "{out}");
    // She has no chat account bound here: the reply says the notice waits for her.
    assert!(out.contains("丁红梅尚未绑定聊天账号"), "{out}");
    assert!(!out.contains("联络员"), "{out}");
    assert_eq!(status(&h, 3).await, "notified");

    // The next sweep sends W1's and W2's pending notices, with its full time to rectify from today.
    let r = sweep(&mut h).await;
    assert_eq!((r.inspector, r.bulletin, r.interview), (0, 0, 0), "{r:?}");
    assert_eq!(r.late_notices, 2, "{r:?}");
    assert_eq!(status(&h, 1).await, "notified");
    assert_eq!(status(&h, 2).await, "notified");
    assert_eq!(scalar(&h, "SELECT COUNT(*) FROM outbox WHERE idempotency_key LIKE 'rectify:W1:notice:%'").await, 1);
    let deadline: String =
        dudao::sql::query_scalar("SELECT deadline FROM rectify_items WHERE id = 1").fetch_one(h.db()).await.unwrap();
    // Recorded Monday 11-23 with 7 working days (due 12-02); told Monday 12-28, so the same 7
    // working days run 12-29, 12-30, 12-31, 1-1 (no 2027 holiday data yet), 1-4, 1-5, 1-6.
    assert_eq!(deadline, "2027-01-06", "7 working days from the day the notice went out");
    assert_eq!(sweep(&mut h).await, Default::default());
    h.stop().await;
}
