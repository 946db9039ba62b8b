//! Task assignment (督办) end to end: the real service on a temporary SQLite file, the console
//! channel, and a manual clock driving the reminder sweep through the scheduler.

mod common;
use common::shanghai as local;

use chrono::Utc;
use common::Harness;
use dudao::chat::console::parse_line;
use dudao::chat::{ChatRef, InboundMessage, MediaRef, Segment, UserRef};
use dudao::clock::ManualClock;
use dudao::scheduler::Scheduler;

/// The office's own group, where escalations go.
const OFFICE: &str = r#"
[[groups]]
channel = "console"
id = "office"
purpose = "supervisors"
"#;

/// Monday 2026-11-23 09:00, a working day.
fn monday_morning() -> ManualClock {
    ManualClock::new(local(11, 23, 9, 0))
}

/// Supervisors 卢浩 (S001, "sup") and 方春华 (S002, "sup2"); inspectors 史芳 (D001, "shi"),
/// 韩伟 (D002, "han"), 朱向阳 (D003, "zhu"); school contact 彭超 (C0001, "peng").
async fn start(clock: &ManualClock) -> Harness {
    let mut h = Harness::start_with(OFFICE, Some(clock.clone())).await;
    for (acct, code) in
        [("sup", "S001"), ("sup2", "S002"), ("shi", "D001"), ("han", "D002"), ("zhu", "D003"), ("peng", "C0001")]
    {
        h.bind(acct, code).await;
    }
    h
}

async fn tick(h: &Harness) {
    Scheduler::new(h.app().clone(), dudao::service::all_jobs()).tick().await.unwrap();
}

/// The console message id of the first message to `target` ("私聊 han", "群 office") whose text
/// contains `needle`.
fn message_id(out: &str, target: &str, needle: &str) -> String {
    let head = format!("[console → {target}] (");
    let mut current: Option<String> = None;
    for line in out.lines() {
        if let Some(rest) = line.strip_prefix(&head) {
            current = rest.strip_suffix(')').map(str::to_string);
        } else if line.starts_with("[console") {
            current = None;
        } else if line.contains(needle) {
            if let Some(id) = &current {
                return id.clone();
            }
        }
    }
    panic!("no message to {target} containing {needle} in:\n{out}")
}

/// How many messages went to `target` containing `needle`.
fn count_to(out: &str, target: &str, needle: &str) -> usize {
    let head = format!("[console → {target}] (");
    let mut n = 0;
    let mut in_target = false;
    let mut counted = false;
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

fn message(id: &str, account: &str, group: Option<&str>, segments: Vec<Segment>) -> InboundMessage {
    InboundMessage {
        chat: match group {
            Some(g) => ChatRef::group("console", g),
            None => ChatRef::private("console", account),
        },
        sender: UserRef { id: account.into(), display: Some(account.into()) },
        platform_msg_id: id.into(),
        segments,
        to_me: group.is_none(),
        sent_at: Utc::now(),
    }
}

async fn send(h: &mut Harness, msg: InboundMessage) -> String {
    h.app().ingest(msg).await.unwrap();
    h.settle().await
}

async fn state_of(h: &Harness, task: i64, person: &str) -> String {
    dudao::sql::query_scalar(
        "SELECT a.state FROM task_assignments a JOIN people p ON p.id = a.person_id
         WHERE a.task_id = ? AND p.code = ? ORDER BY a.id DESC LIMIT 1",
    )
    .bind(task)
    .bind(person)
    .fetch_one(h.db())
    .await
    .unwrap()
}

async fn scalar(h: &Harness, sql: &str) -> i64 {
    dudao::sql::query_scalar(sql).fetch_one(h.db()).await.unwrap()
}

#[tokio::test]
async fn full_lifecycle_with_several_assignees() {
    let clock = monday_morning();
    let mut h = start(&clock).await;

    let out = h.say("sup: 布置任务 秋季开学安全检查 对象:史芳、韩伟、D003 截止:11月30日17:00 需提交材料").await;
    assert!(out.contains("已布置任务 T1：秋季开学安全检查"), "{out}");
    assert!(out.contains("承办人（3）：史芳、韩伟、朱向阳"), "{out}");
    assert!(out.contains("11月30日（周一）17:00") && out.contains("需提交材料"), "{out}");
    for acct in ["shi", "han", "zhu"] {
        assert_eq!(count_to(&out, &format!("私聊 {acct}"), "【督办任务 T1】秋季开学安全检查"), 1, "{out}");
    }
    assert!(out.contains("要求：需提交书面结果或材料"), "{out}");

    // Acknowledged by command, and by quoting the notice.
    let out = h.say("shi: 收到 T1").await;
    assert!(out.contains("已确认收到任务 T1"), "{out}");
    let out = h.say("shi: 收到 T1").await;
    assert!(out.contains("您已确认过任务 T1"), "{out}");
    let all: String = dudao::sql::query_scalar(
        "SELECT GROUP_CONCAT(idempotency_key) FROM outbox WHERE idempotency_key LIKE 'task:T1:assign:%'",
    )
    .fetch_one(h.db())
    .await
    .unwrap();
    assert_eq!(all.split(',').count(), 3, "{all}");
    // The quoted id is the platform id the console gave the notice when it was sent.
    let han_notice: String = dudao::sql::query_scalar(
        "SELECT o.platform_msg_id FROM outbox o JOIN people p ON p.id = o.person_id
         WHERE o.idempotency_key LIKE 'task:T1:assign:%' AND p.code = 'D002'",
    )
    .fetch_one(h.db())
    .await
    .unwrap();
    let out = h.say(&format!("han: >>{han_notice} 收到")).await;
    assert!(out.contains("已确认收到任务 T1"), "{out}");
    let vias: Vec<(String, String)> = dudao::sql::query_as(
        "SELECT p.code, a.ack_via FROM task_assignments a JOIN people p ON p.id = a.person_id
         WHERE a.ack_via IS NOT NULL ORDER BY p.code",
    )
    .fetch_all(h.db())
    .await
    .unwrap();
    assert_eq!(vias, vec![("D001".into(), "command".into()), ("D002".into(), "quote".into())]);

    let out = h.say("zhu: 进展 T1 已检查2所学校").await;
    assert!(out.contains("已记录任务 T1 的进展"), "{out}");
    assert_eq!(state_of(&h, 1, "D003").await, "in_progress");

    // A written result is required; then a result with a photo.
    let out = h.say("shi: 完成 T1").await;
    assert!(out.contains("需提交书面结果或材料"), "{out}");
    let photo =
        MediaRef { name: Some("现场.jpg".into()), url: Some("https://example.invalid/p1.jpg".into()), file_id: None };
    let msg = message(
        "shi-done-1",
        "shi",
        None,
        vec![Segment::text("完成 T1 检查完毕，发现问题2个"), Segment::Image { media: photo.clone() }],
    );
    let out = send(&mut h, msg).await;
    assert!(out.contains("已提交任务 T1 的结果（含附件1个）"), "{out}");
    assert_eq!(count_to(&out, "私聊 sup", "【任务提交】T1“秋季开学安全检查”：史芳提交了结果"), 1, "{out}");
    let media: String = dudao::sql::query_scalar(
        "SELECT a.result_media FROM task_assignments a JOIN people p ON p.id = a.person_id WHERE p.code = 'D001'",
    )
    .fetch_one(h.db())
    .await
    .unwrap();
    let stored: Vec<MediaRef> = serde_json::from_str(&media).unwrap();
    assert_eq!(stored, vec![photo]);

    // Returned with a reason, resubmitted, approved.
    let out = h.say("sup: 退回 T1 史芳 缺少整改前后对比照片").await;
    assert!(out.contains("已退回史芳在任务 T1 中提交的结果"), "{out}");
    assert_eq!(count_to(&out, "私聊 shi", "原因：缺少整改前后对比照片"), 1, "{out}");
    assert_eq!(state_of(&h, 1, "D001").await, "returned");
    let out = h.say("shi: 完成 T1 已补充对比照片").await;
    assert!(out.contains("已提交任务 T1 的结果"), "{out}");
    assert!(out.contains("（第2次）"), "{out}");
    let out = h.say("sup: 通过 T1 史芳").await;
    assert!(out.contains("已通过任务 T1：史芳") && out.contains("进度：已通过 1/3"), "{out}");
    assert_eq!(count_to(&out, "私聊 shi", "【审核通过】"), 1, "{out}");

    // The supervisor approves by quoting the submission notice.
    let out = h.say("han: 完成 T1 已完成，无问题").await;
    let notice = message_id(&out, "私聊 sup", "韩伟提交了结果");
    let out = h.say(&format!("sup: >>{notice} 通过")).await;
    assert!(out.contains("已通过任务 T1：韩伟"), "{out}");

    // The last one: "通过 T1" approves everything waiting, and the task closes.
    h.say("zhu: 完成 T1 全部检查完毕").await;
    let out = h.say("sup: 任务 T1").await;
    assert!(out.contains("已通过 2/3，待审核 1"), "{out}");
    assert!(out.contains("· 朱向阳：已提交，待审核 — 全部检查完毕"), "{out}");
    let out = h.say("sup: 通过 T1").await;
    assert!(out.contains("已通过任务 T1：朱向阳") && out.contains("任务 T1 已办结"), "{out}");
    let status: String =
        dudao::sql::query_scalar("SELECT status FROM tasks WHERE id = 1").fetch_one(h.db()).await.unwrap();
    assert_eq!(status, "closed");
    let out = h.say("sup: 任务 T1").await;
    assert!(out.contains("（已办结）") && out.matches("已通过").count() >= 3, "{out}");
    let out = h.say("shi: 我的任务").await;
    assert!(out.contains("没有未办结的任务"), "{out}");
    let out = h.say("sup: 任务列表 全部").await;
    assert!(out.contains("T1 秋季开学安全检查") && out.contains("已办结"), "{out}");

    // Every change is in the audit log.
    let actions: Vec<(String, i64)> = dudao::sql::query_as(
        "SELECT action, COUNT(*) FROM audit_log WHERE entity = 'task' AND entity_id = 'T1' GROUP BY action ORDER BY action",
    )
    .fetch_all(h.db())
    .await
    .unwrap();
    let expected = [
        ("acknowledged", 2),
        ("approved", 3),
        ("closed", 1),
        ("created", 1),
        ("progress", 1),
        ("returned", 1),
        ("submitted", 4),
    ];
    let expected: Vec<(String, i64)> = expected.iter().map(|(a, n)| (a.to_string(), *n)).collect();
    assert_eq!(actions, expected);
    assert_eq!(scalar(&h, "SELECT COUNT(*) FROM task_events WHERE task_id = 1 AND kind = 'submitted'").await, 4);
    h.stop().await;
}

#[tokio::test]
async fn unauthorized_attempts_are_refused() {
    let clock = monday_morning();
    let mut h = start(&clock).await;

    // An inspector cannot create a task.
    let out = h.say("shi: 布置任务 检查食堂 对象:韩伟 截止:明天").await;
    assert!(out.contains("不能使用“布置任务”"), "{out}");
    assert_eq!(scalar(&h, "SELECT COUNT(*) FROM tasks").await, 0);

    let out = h.say("sup: 布置任务 检查食堂 对象:史芳、韩伟 截止:明天").await;
    assert!(out.contains("已布置任务 T1"), "{out}");

    // Someone who is not an assignee cannot act on the task, by command or by quote.
    let out = h.say("zhu: 收到 T1").await;
    assert!(out.contains("您不是任务T1的承办人"), "{out}");
    let out = h.say("zhu: 完成 T1 已完成").await;
    assert!(out.contains("您不是任务T1的承办人"), "{out}");
    let shi_notice: String = dudao::sql::query_scalar(
        "SELECT o.platform_msg_id FROM outbox o JOIN people p ON p.id = o.person_id
         WHERE o.idempotency_key LIKE 'task:T1:assign:%' AND p.code = 'D001'",
    )
    .fetch_one(h.db())
    .await
    .unwrap();
    let out = h.say(&format!("zhu: >>{shi_notice} 收到")).await;
    assert!(out.contains("您不是任务T1的承办人"), "{out}");
    // A supervisor cannot act for an assignee either.
    let out = h.say("sup2: 完成 T1 代为提交").await;
    assert!(out.contains("您不是任务T1的承办人"), "{out}");
    // An assignee cannot review or manage, not even their colleague's assignment.
    h.say("shi: 完成 T1 已完成").await;
    let out = h.say("han: 通过 T1 史芳").await;
    assert!(out.contains("不能使用“通过”"), "{out}");
    let out = h.say("han: 退回 T1 史芳 不合格").await;
    assert!(out.contains("不能使用“退回”"), "{out}");
    let out = h.say("han: 改派 T1 史芳 朱向阳").await;
    assert!(out.contains("不能使用“改派”"), "{out}");
    let out = h.say("han: 撤销 T1").await;
    assert!(out.contains("不能使用“撤销”"), "{out}");
    // A school contact cannot approve.
    let out = h.say("peng: 通过 T1 史芳").await;
    assert!(out.contains("不能使用“通过”"), "{out}");
    assert_eq!(state_of(&h, 1, "D001").await, "submitted");
    // Others' task details and the office's list stay private.
    let out = h.say("zhu: 任务 T1").await;
    assert!(out.contains("您不是任务T1的承办人"), "{out}");
    let out = h.say("han: 任务列表").await;
    assert!(out.contains("不能使用“任务列表”"), "{out}");
    // An assignee sees their own part only.
    let out = h.say("han: 任务 T1").await;
    assert!(out.contains("您的状态：未确认") && !out.contains("史芳"), "{out}");

    // Everyday words in a group are chatter: no answer, nothing changes.
    for line in
        ["shi@zone1: 收到", "han@zone1: 收到！", "stranger@zone1: 收到", "han@zone1: 完成 了吗", "peng@zone1: 通过"]
    {
        let out = h.say(line).await;
        assert!(out.is_empty(), "{line} got an answer: {out}");
    }
    let out = h.say("han@zone1: >>o999-999 收到").await;
    assert!(out.is_empty(), "quoting a message that is not a task notice: {out}");
    assert_eq!(state_of(&h, 1, "D002").await, "assigned");
    // In a private chat, a bare "收到" acknowledges the only task waiting.
    let out = h.say("han: 收到").await;
    assert!(out.contains("已确认收到任务 T1"), "{out}");
    assert_eq!(
        scalar(&h, "SELECT COUNT(*) FROM audit_log WHERE entity = 'task' AND action IN ('approved', 'returned')").await,
        0
    );
    h.stop().await;
}

#[tokio::test]
async fn targets_zones_schools_mentions_and_helpful_errors() {
    let clock = monday_morning();
    let mut h = start(&clock).await;

    let out = h.say("sup: 布置任务 检查食堂 对象:王五、史芳 截止:周五").await;
    assert!(out.contains("没有找到人员、责任区或学校：“王五”"), "{out}");
    let out = h.say("sup: 布置任务 检查食堂 对象:史芳").await;
    assert!(out.contains("请写明截止时间"), "{out}");
    let out = h.say("sup: 布置任务 检查食堂 对象:史芳 截止:尽快").await;
    assert!(out.contains("没有看懂截止时间“尽快”"), "{out}");
    let out = h.say("sup: 布置任务 检查食堂 对象:史芳 截止:11月20日").await;
    assert!(out.contains("已经过去"), "{out}");
    let out = h.say("sup: 布置任务 检查食堂 截止:周五").await;
    assert!(out.contains("请写明任务对象"), "{out}");
    let out = h.say("sup: 布置任务 检查食堂 对象:小学 截止:周五").await;
    assert!(out.contains("对应多所学校"), "{out}");
    assert_eq!(scalar(&h, "SELECT COUNT(*) FROM tasks").await, 0);

    // A zone is its inspectors; a school is its 联络员 (not the principal); "下周五前" is a deadline.
    let out = h.say("sup: 布置任务 食堂专项检查 对象:第一督学责任区、示例县实验小学 下周五前").await;
    assert!(out.contains("已布置任务 T1"), "{out}");
    let assignees: Vec<String> = dudao::sql::query_scalar(
        "SELECT p.code FROM task_assignments a JOIN people p ON p.id = a.person_id WHERE a.task_id = 1 ORDER BY p.code",
    )
    .fetch_all(h.db())
    .await
    .unwrap();
    assert_eq!(assignees, vec!["C0001", "D001", "D007", "D008", "D009", "D010"]);
    let deadline: String =
        dudao::sql::query_scalar("SELECT deadline_at FROM tasks WHERE id = 1").fetch_one(h.db()).await.unwrap();
    assert_eq!(deadline, dudao::db::ts(local(12, 4, 18, 0)));
    // Unbound assignees are reported and their notices wait for them.
    assert!(out.contains("暂时无法送达"), "{out}");
    let waiting = scalar(
        &h,
        "SELECT COUNT(*) FROM outbox WHERE idempotency_key LIKE 'task:T1:assign:%' AND status = 'unroutable'",
    )
    .await;
    assert_eq!(waiting, 4);

    // A platform mention in a group, several lines, the written-result flag.
    let text = "布置任务 报送安全台账\n请各位按模板填写。\n截止：11月27日12:00\n需书面结果";
    let msg = message(
        "m-mention",
        "sup",
        Some("office"),
        vec![
            Segment::Mention { user_id: "bot".into(), name: "督导助手".into() },
            Segment::text(text),
            Segment::Mention { user_id: "han".into(), name: "韩伟".into() },
        ],
    );
    let out = send(&mut h, msg).await;
    assert!(out.contains("已布置任务 T2：报送安全台账") && out.contains("承办人（1）：韩伟"), "{out}");
    let (desc, req): (String, bool) =
        dudao::sql::query_as("SELECT description, requires_result FROM tasks WHERE id = 2")
            .fetch_one(h.db())
            .await
            .unwrap();
    assert_eq!(desc, "请各位按模板填写。");
    assert!(req);
    let msg = message(
        "m-mention-2",
        "sup",
        Some("office"),
        vec![
            Segment::text("布置任务 测试 截止:周五 "),
            Segment::Mention { user_id: "nobody".into(), name: "某人".into() },
        ],
    );
    let out = send(&mut h, msg).await;
    assert!(out.contains("@某人 尚未绑定身份"), "{out}");

    // The sweep parks no stale reminders for people nobody can reach yet: of T1's six assignees
    // only 史芳 and 彭超 (bound) are reminded; the four unbound inspectors are skipped.
    clock.set(local(12, 3, 18, 0));
    tick(&h).await;
    h.settle().await;
    assert_eq!(scalar(&h, "SELECT COUNT(*) FROM outbox WHERE idempotency_key LIKE 'task:T1:remind:%'").await, 2);
    assert_eq!(
        scalar(
            &h,
            "SELECT COUNT(*) FROM outbox WHERE status = 'unroutable' AND idempotency_key LIKE 'task:%:remind:%'"
        )
        .await,
        0
    );
    h.stop().await;
}

#[tokio::test]
async fn cancel_reassign_and_extend_notify_the_assignees() {
    let clock = monday_morning();
    let mut h = start(&clock).await;
    h.say("sup: 布置任务 防溺水排查 对象:史芳、韩伟 截止:11月27日17:00").await;

    let out = h.say("sup: 改派 T1 韩伟 朱向阳").await;
    assert!(out.contains("已将任务 T1 由韩伟改派给朱向阳"), "{out}");
    assert_eq!(count_to(&out, "私聊 han", "【任务改派】"), 1, "{out}");
    assert_eq!(count_to(&out, "私聊 zhu", "【督办任务 T1】"), 1, "{out}");
    let out = h.say("han: 收到 T1").await;
    assert!(out.contains("不是任务T1的承办人"), "{out}");
    let out = h.say("zhu: 收到 T1").await;
    assert!(out.contains("已确认收到"), "{out}");

    let out = h.say("sup: 延期 T1 12月2日下午5点").await;
    assert!(out.contains("截止时间已改为12月2日（周三）17:00") && out.contains("已通知2位"), "{out}");
    assert_eq!(count_to(&out, "私聊 shi", "【任务延期】"), 1, "{out}");
    let out = h.say("sup: 延期 T1 昨天").await;
    assert!(out.contains("已经过去"), "{out}");

    let out = h.say("sup: 撤销 T1 上级通知暂缓").await;
    assert!(out.contains("已撤销任务 T1，已通知2位承办人"), "{out}");
    assert_eq!(count_to(&out, "私聊 shi", "原因：上级通知暂缓"), 1, "{out}");
    assert_eq!(count_to(&out, "私聊 zhu", "【任务撤销】"), 1, "{out}");
    let out = h.say("zhu: 完成 T1 已完成").await;
    assert!(out.contains("已撤销，不能再办理"), "{out}");
    let out = h.say("sup: 通过 T1").await;
    assert!(out.contains("已撤销"), "{out}");
    let actions: Vec<String> =
        dudao::sql::query_scalar("SELECT action FROM audit_log WHERE entity_id = 'T1' ORDER BY id")
            .fetch_all(h.db())
            .await
            .unwrap();
    assert_eq!(actions, vec!["created", "reassigned", "acknowledged", "extended", "cancelled"]);
    h.stop().await;
}

#[tokio::test]
async fn reminders_respect_leave_and_overdue_tasks_escalate_to_the_office_once() {
    let clock = monday_morning();
    let mut h = start(&clock).await;
    let out = h.say("sup: 布置任务 消防安全检查 对象:史芳、韩伟、朱向阳 截止:11月25日17:00").await;
    assert!(out.contains("已布置任务 T1"), "{out}");
    h.say("shi: 收到 T1").await;
    let out = h.say("zhu: 请假 11月24日 至 11月26日").await;
    assert!(out.contains("已登记请假"), "{out}");

    // Tuesday 17:00, 24 hours before: 史芳 (acknowledged) and 韩伟 (not) are reminded; 朱向阳 is on leave.
    clock.set(local(11, 24, 17, 0));
    tick(&h).await;
    let out = h.settle().await;
    assert_eq!(
        count_to(&out, "私聊 shi", "【督办提醒】任务 T1“消防安全检查”将于11月25日（周三）17:00截止"),
        1,
        "{out}"
    );
    assert_eq!(count_to(&out, "私聊 han", "您尚未确认"), 1, "{out}");
    assert_eq!(count_to(&out, "私聊 zhu", "提醒"), 0, "{out}");
    // Quoting a reminder acknowledges too.
    let reminder = message_id(&out, "私聊 han", "您尚未确认");
    let out = h.say(&format!("han: >>{reminder} 收到")).await;
    assert!(out.contains("已确认收到任务 T1"), "{out}");

    // 史芳 submits; the 2-hour reminder goes to 韩伟 only.
    clock.set(local(11, 25, 10, 0));
    h.say("shi: 完成 T1 已完成").await;
    clock.set(local(11, 25, 15, 0));
    tick(&h).await;
    let out = h.settle().await;
    assert_eq!(count_to(&out, "私聊 han", "还剩2小时"), 1, "{out}");
    assert_eq!(count_to(&out, "私聊 shi", "提醒"), 0, "{out}");
    // Another sweep in the same window sends nothing.
    clock.set(local(11, 25, 15, 15));
    tick(&h).await;
    assert!(!h.settle().await.contains("提醒"));

    // At the deadline: one overdue notice; no escalation yet.
    clock.set(local(11, 25, 17, 0));
    tick(&h).await;
    let out = h.settle().await;
    assert_eq!(count_to(&out, "私聊 han", "【逾期提醒】"), 1, "{out}");
    assert!(!out.contains("【督办逾期】"), "{out}");

    // 24 hours after the deadline the office's group hears who has not finished.
    clock.set(local(11, 26, 17, 0));
    tick(&h).await;
    let out = h.settle().await;
    assert_eq!(
        count_to(&out, "群 office", "【督办逾期】任务 T1“消防安全检查”已于11月25日（周三）17:00截止"),
        1,
        "{out}"
    );
    assert!(out.contains("· 韩伟（第二督学责任区）：已确认"), "{out}");
    assert!(out.contains("· 朱向阳（第三督学责任区）：未确认，请假中"), "{out}");
    assert!(!out.contains("史芳"), "a submitted result is not overdue: {out}");
    clock.set(local(11, 26, 17, 15));
    tick(&h).await;
    assert!(!h.settle().await.contains("【督办逾期】"));
    assert_eq!(scalar(&h, "SELECT COUNT(*) FROM audit_log WHERE entity_id = 'T1' AND action = 'escalated'").await, 1);
    assert_eq!(scalar(&h, "SELECT COUNT(*) FROM audit_log WHERE entity_id = 'T1' AND action = 'reminded'").await, 4);
    assert_eq!(
        scalar(
            &h,
            "SELECT COUNT(*) FROM outbox WHERE idempotency_key LIKE 'task:T1:remind:%' AND delivery = 'at_most_once'"
        )
        .await,
        4
    );

    // Moving the deadline re-arms the reminders for the new one.
    let out = h.say("sup: 延期 T1 11月30日17:00").await;
    assert!(out.contains("已通知2位"), "{out}");
    clock.set(local(11, 30, 15, 0));
    tick(&h).await;
    assert_eq!(count_to(&h.settle().await, "私聊 han", "【督办提醒】"), 1);
    h.stop().await;
}

#[tokio::test]
async fn no_duplicate_notifications_across_restarts() {
    let clock = monday_morning();
    let mut h = start(&clock).await;
    let create = "[create-1] sup: 布置任务 校车安全排查 对象:史芳、韩伟 截止:11月25日17:00";
    let out = h.say(create).await;
    assert!(out.contains("已布置任务 T1"), "{out}");
    assert_eq!(count_to(&out, "私聊 shi", "【督办任务 T1】"), 1, "{out}");
    assert_eq!(count_to(&out, "私聊 han", "【督办任务 T1】"), 1, "{out}");

    // The platform redelivers the same message after a restart: nothing happens twice.
    let dir = h.stop().await;
    let mut h = Harness::start_in(dir, OFFICE, Some(clock.clone())).await;
    let msg = h.console.to_message(parse_line(create).unwrap(), 0, 1);
    let out = send(&mut h, msg).await;
    assert!(out.is_empty(), "{out}");
    assert_eq!(scalar(&h, "SELECT COUNT(*) FROM tasks").await, 1);
    assert_eq!(scalar(&h, "SELECT COUNT(*) FROM outbox WHERE idempotency_key LIKE 'task:T1:assign:%'").await, 2);

    // Reminders: a sweep, a restart, the same sweep again and a later one send nothing new.
    clock.set(local(11, 24, 17, 0));
    tick(&h).await;
    let out = h.settle().await;
    assert_eq!(out.matches("【督办提醒】").count(), 2, "{out}");
    let dir = h.stop().await;
    let mut h = Harness::start_in(dir, OFFICE, Some(clock.clone())).await;
    tick(&h).await;
    clock.set(local(11, 24, 17, 30));
    tick(&h).await;
    let out = h.settle().await;
    assert!(!out.contains("提醒") && !out.contains("【督办任务"), "{out}");

    // Escalation enqueued, then the service stops before it is delivered: it goes out once.
    clock.set(local(11, 26, 17, 0));
    tick(&h).await;
    let dir = h.stop().await;
    let mut h = Harness::start_in(dir, OFFICE, Some(clock.clone())).await;
    tick(&h).await;
    let out = h.settle().await;
    assert!(out.matches("【督办逾期】").count() <= 1, "{out}");
    let dir = h.stop().await;
    let mut h = Harness::start_in(dir, OFFICE, Some(clock.clone())).await;
    clock.set(local(11, 26, 17, 15));
    tick(&h).await;
    let out = h.settle().await;
    assert!(!out.contains("【督办逾期】"), "{out}");
    let keys = scalar(&h, "SELECT COUNT(*) FROM outbox WHERE idempotency_key LIKE 'task:T1:escalate:%'").await;
    assert_eq!(keys, 1);
    let sent =
        scalar(&h, "SELECT COUNT(*) FROM outbox WHERE idempotency_key LIKE 'task:T1:%' AND status = 'sent'").await;
    let total = scalar(&h, "SELECT COUNT(*) FROM outbox WHERE idempotency_key LIKE 'task:T1:%'").await;
    assert_eq!(sent, total, "every task message was delivered exactly once");
    assert_eq!(total, 2 + 2 + 2 + 1, "2 notices, 2 reminders (24h), 2 overdue notices, 1 escalation");
    h.stop().await;
}
