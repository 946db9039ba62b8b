//! One November of supervision on the sample roster, driven through the console channel with a
//! manual clock: visits, problem items, a task and a weekly round. `tests/stats.rs` checks the
//! figures it gives and `tests/export.rs` the workbooks made of them.

use chrono::{DateTime, Utc};
use dudao::clock::ManualClock;
use dudao::scheduler::Scheduler;

use super::{shanghai, Harness};

/// Weekly collection on (as in tests/weekly.rs); the sweeps and the theme calendar are left out
/// so that only what the test says happens.
pub const CONFIG: &str = r#"
[weekly]
exempt_invited = false

[themes]
auto_publish = false

[tasks]
sweep_cron = ""

[rectify]
sweep_cron = ""

[[groups]]
channel = "console"
id = "zone5"
purpose = "zone_inspectors"
zone = "Z05"

[[groups]]
channel = "console"
id = "office"
purpose = "supervisors"
"#;

async fn tick_at(h: &Harness, clock: &ManualClock, t: DateTime<Utc>) {
    clock.set(t);
    Scheduler::new(h.app().clone(), dudao::service::all_jobs()).tick().await.unwrap();
}

/// Drives the month (the clock ends on 1 December 2026, 10:00 in Shanghai):
/// - 郝涛 (D008) visits 城关三小 on the 5th and 城关四小 on the 10th (3 lessons observed);
/// - on the 23rd he records three problems at 实验小学: W1 (安全, closed through the school),
///   W2 (1, 轻微, closed on site), W3 (6, due the 25th, left undone; escalated to L1 on the 30th);
/// - the office sets task T1 for him, acknowledged, due the 26th, never done;
/// - week 48: 黄雪 (D029) on leave, 张兰英 (D005) and 武芳 (D022) on time, 曹秀英 (D024) late,
///   江颖 (D023) never;
/// - on 1 December 回头看 reopens W1.
pub async fn november(h: &mut Harness, clock: &ManualClock) {
    for (acct, code) in [
        ("sup", "S001"),
        ("hao", "D008"),
        ("peng", "C0001"),
        ("zhang", "D005"),
        ("wu", "D022"),
        ("cao", "D024"),
        ("huang", "D029"),
    ] {
        h.bind(acct, code).await;
    }

    // Two visits by 郝涛 (D008) to his own schools.
    clock.set(shanghai(11, 5, 15, 0));
    let out = h.say("hao: 督导纪实 11月5日 城关三小 查阅资料，座谈走访，未发现问题").await;
    assert!(out.contains("已收到督导纪实") && out.contains("城关三小"), "{out}");
    clock.set(shanghai(11, 10, 15, 0));
    let out = h.say("hao: 督导纪实 城关四小 推门听课3节，未发现问题").await;
    assert!(out.contains("已收到督导纪实") && out.contains("城关四小"), "{out}");

    // Monday 23rd: three problems at 实验小学 — one closed through the school, one fixed on
    // site, one due on the 25th and left undone.
    clock.set(shanghai(11, 23, 9, 0));
    let out = h.say("hao: 记问题 实验小学 安全 消防通道堵塞").await;
    assert!(out.contains("已登记问题 W1"), "{out}");
    h.say("peng: 收到 W1").await;
    let out = h.say("peng: 完成 W1 已清理通道").await;
    assert!(out.contains("已提交 W1"), "{out}");
    let out = h.say("hao: 销号 W1").await;
    assert!(out.contains("已销号 W1") && out.contains("按期完成"), "{out}");
    let out = h.say("hao: 记问题 实验小学 1 轻微 值班记录缺页").await;
    assert!(out.contains("已登记并销号 W2"), "{out}");
    let out = h.say("hao: 记问题 实验小学 6 围墙破损 期限:11月25日").await;
    assert!(out.contains("已登记问题 W3"), "{out}");

    // A task for 郝涛, acknowledged, due on the 26th and never done.
    let out = h.say("sup: 布置任务 安全检查 对象:郝涛 截止:11月26日17:00").await;
    assert!(out.contains("已布置任务 T1"), "{out}");
    let out = h.say("hao: 收到 T1").await;
    assert!(out.contains("已确认收到任务 T1"), "{out}");

    // Week 48: 黄雪 on leave, 张兰英 and 武芳 on time, 曹秀英 late, 江颖 (D023) never.
    clock.set(shanghai(11, 27, 9, 0));
    let out = h.say("huang: 请假 11月27日 至 11月30日").await;
    assert!(out.contains("已登记请假"), "{out}");
    tick_at(h, clock, shanghai(11, 27, 16, 0)).await;
    h.settle().await;
    clock.set(shanghai(11, 27, 17, 0));
    h.say("zhang: 本周督导学校：红旗中学\n督导方式：推门听课2节\n发现问题：无").await;
    h.say("wu: 本周督导学校：阳光小学、刘楼小学\n督导方式：座谈走访，校园巡视\n发现问题：无").await;
    tick_at(h, clock, shanghai(11, 30, 12, 10)).await;
    h.settle().await;
    clock.set(shanghai(11, 30, 13, 0));
    let out = h.say("cao: 本周督导学校：南沟小学、新庄教学点\n发现问题：教学点饮水设备老化").await;
    assert!(out.contains("逾期"), "{out}");

    // The sweep on the 30th: W3 is 5 days overdue and goes to its inspector (L1).
    {
        let app = h.app().clone();
        let mut tx = dudao::db::begin_write(&app.db).await.unwrap();
        dudao::app::rectify::sweep(&app.job_ctx, &mut tx, app.clock.now()).await.unwrap();
        tx.commit().await.unwrap();
        app.outbox_notify.notify_waiters();
        h.settle().await;
    }

    // 1 December: 回头看 reopens W1.
    clock.set(shanghai(12, 1, 10, 0));
    let out = h.say("hao: 回头看 W1 通道又被杂物堵塞").await;
    assert!(out.contains("已重开 W1"), "{out}");
}
