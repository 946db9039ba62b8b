//! Everyday office moves (issue 14 items 18–20): short help by topic, supervisor notices with
//! receipts, and starting a round now. All through the real pipeline on the console channel.

mod common;

use common::{first_person, Harness};
use dudao::app::UNBOUND_HINT;

// ---- item 20: short help ----

#[tokio::test]
async fn short_help_lists_topics_and_details_on_request() {
    let mut h = Harness::start().await;
    let inspector = first_person(h.db(), "inspector").await;
    let supervisor = first_person(h.db(), "supervisor").await;
    h.bind("lihua", &inspector).await;
    h.bind("zhouchen", &supervisor).await;

    // The short list: one line per topic, names only, one WeCom message.
    let out = h.say("zhouchen: 帮助").await;
    let body = out.split_once('\n').map_or(out.as_str(), |(_, b)| b);
    assert!(body.chars().count() <= 600, "{} chars: {out}", body.chars().count());
    assert!(out.contains("督办：") && out.contains("布置任务"), "{out}");
    assert!(out.contains("整改：") && out.contains("周报："), "{out}");
    assert!(!out.contains("<标题>"), "usage only on request: {out}");
    assert!(!out.contains("发送队列"), "admin-only command hidden: {out}");

    // A topic: usage and summary of the commands the role may use.
    let out = h.say("lihua: 帮助 任务").await;
    assert!(out.contains("收到 T编号") && out.contains("我的任务"), "{out}");
    assert!(!out.contains("布置任务 <标题>"), "supervisor command hidden from an inspector: {out}");
    let out = h.say("zhouchen: help task").await;
    assert!(out.contains("布置任务 <标题>") && out.contains("办结 T编号"), "{out}");

    // One command.
    let out = h.say("zhouchen: 帮助 布置任务").await;
    assert!(out.contains("布置任务 <标题>") && out.contains("布置督办任务"), "{out}");
    let out = h.say("lihua: 帮助 布置任务").await;
    assert!(out.contains("不能使用“布置任务”"), "{out}");

    // Something unknown: a polite answer naming the topics.
    let out = h.say("lihua: 帮助 天气预报").await;
    assert!(out.contains("没有找到") && out.contains("周报") && out.contains("督办"), "{out}");

    // Unbound accounts still hear only how to bind.
    let out = h.say("xinlaide: 帮助 任务").await;
    assert!(out.contains(UNBOUND_HINT) && !out.contains("收到 T编号"), "{out}");
    h.stop().await;
}
