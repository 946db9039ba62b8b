//! Operations: when the service is ready (`/readyz`), and what admin alerts say.

/// What `/readyz` weighs, gathered by `app::health`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadyInput {
    pub db_writable: bool,
    /// Channels whose adapter reports them down (not merely unknown).
    pub channels_down: Vec<String>,
    /// Age of the oldest message still waiting to go out.
    pub oldest_pending_secs: Option<i64>,
    pub max_backlog_age_secs: i64,
    /// Seconds since the scheduler's last tick; `None`: it has not ticked yet.
    pub last_tick_age_secs: Option<i64>,
    pub max_tick_age_secs: i64,
}

/// Why the service is not ready, in English for operators; empty when it is. Only what a user
/// would notice counts: messages not being taken or sent, reminders not firing. Dead letters
/// and a missing holiday calendar are reported but do not fail it (they need an admin, not a
/// restart or a load balancer taking the instance out).
pub fn not_ready(i: &ReadyInput) -> Vec<String> {
    let mut why = Vec::new();
    if !i.db_writable {
        why.push("the database does not take writes".to_string());
    }
    for c in &i.channels_down {
        why.push(format!("channel {c} is down"));
    }
    if let Some(age) = i.oldest_pending_secs.filter(|&a| a > i.max_backlog_age_secs) {
        why.push(format!("the oldest message waiting to go out is {age} s old (limit {})", i.max_backlog_age_secs));
    }
    match i.last_tick_age_secs {
        None => why.push("the scheduler has not ticked yet".to_string()),
        Some(age) if age > i.max_tick_age_secs => {
            why.push(format!("the scheduler last ticked {age} s ago (limit {})", i.max_tick_age_secs))
        }
        Some(_) => {}
    }
    why
}

/// A platform's name as people know it.
pub fn platform_label(platform: &str) -> &str {
    match platform {
        "qq" => "QQ",
        "wecom" => "企业微信",
        "telegram" => "Telegram",
        "dingtalk" => "钉钉",
        "webhook" => "Webhook",
        "console" => "控制台",
        other => other,
    }
}

/// The alert for a channel down. `since` is the local time it was first seen down ("12月2日 16:05").
pub fn channel_down_text(channel: &str, platform: &str, since: &str) -> String {
    format!(
        "【督导助手告警】{}通道“{channel}”自{since}起无法连接，经该通道的消息暂存在发送队列中，恢复后自动补发。\
         请检查{}（如QQ是否掉线、NapCat是否在运行）。恢复时将另行通知。",
        platform_label(platform),
        login_hint(platform),
    )
}

fn login_hint(platform: &str) -> &'static str {
    match platform {
        "qq" => "机器人QQ账号的登录状态",
        "wecom" => "企业微信应用的凭据和网络",
        "telegram" => "Telegram 机器人令牌和网络",
        _ => "该通道的配置和网络",
    }
}

/// The recovery of a channel that was announced down.
pub fn channel_recovered_text(channel: &str, platform: &str, down_minutes: i64) -> String {
    let span = if down_minutes < 1 { "不到1分钟".to_string() } else { format!("约{down_minutes}分钟") };
    format!("【督导助手恢复】{}通道“{channel}”已恢复（中断{span}），积压的消息正在补发。", platform_label(platform))
}

/// Dead letters waiting for an admin.
pub fn dead_letters_text(count: i64) -> String {
    format!(
        "【督导助手告警】有{count}条消息多次发送失败，已停止重试。请管理员发送“发送队列”查看并处理。\
         全部处理后将另行通知。"
    )
}

/// Every dead letter retried or cancelled.
pub fn dead_letters_cleared_text() -> String {
    "【督导助手恢复】发送失败的消息已全部处理完毕。".to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready() -> ReadyInput {
        ReadyInput {
            db_writable: true,
            channels_down: Vec::new(),
            oldest_pending_secs: Some(30),
            max_backlog_age_secs: 900,
            last_tick_age_secs: Some(5),
            max_tick_age_secs: 300,
        }
    }

    #[test]
    fn ready_unless_something_a_user_notices() {
        assert!(not_ready(&ready()).is_empty());
        assert!(not_ready(&ReadyInput { oldest_pending_secs: None, ..ready() }).is_empty());
        assert!(not_ready(&ReadyInput { oldest_pending_secs: Some(900), ..ready() }).is_empty());
        let why = not_ready(&ReadyInput {
            db_writable: false,
            channels_down: vec!["qq".into()],
            oldest_pending_secs: Some(901),
            last_tick_age_secs: Some(301),
            ..ready()
        });
        assert_eq!(
            why,
            vec![
                "the database does not take writes",
                "channel qq is down",
                "the oldest message waiting to go out is 901 s old (limit 900)",
                "the scheduler last ticked 301 s ago (limit 300)",
            ]
        );
        assert_eq!(
            not_ready(&ReadyInput { last_tick_age_secs: None, ..ready() }),
            vec!["the scheduler has not ticked yet"]
        );
    }

    #[test]
    fn alert_texts_name_the_channel_and_platform() {
        let t = channel_down_text("县督导QQ", "qq", "12月2日 16:05");
        assert!(t.starts_with("【督导助手告警】QQ通道“县督导QQ”自12月2日 16:05起无法连接"), "{t}");
        assert!(t.contains("机器人QQ账号的登录状态"), "{t}");
        assert_eq!(
            channel_recovered_text("县督导QQ", "qq", 0),
            "【督导助手恢复】QQ通道“县督导QQ”已恢复（中断不到1分钟），积压的消息正在补发。"
        );
        assert!(channel_recovered_text("督导室微信", "wecom", 12)
            .contains("企业微信通道“督导室微信”已恢复（中断约12分钟）"));
        assert!(dead_letters_text(3).contains("有3条消息多次发送失败"));
        assert_eq!(platform_label("matrix"), "matrix");
    }
}
