//! QQ through OneBot v11: the real service and adapter against a fake implementation that
//! speaks the protocol over real WebSockets on loopback, in reverse and forward mode.

mod common;
use common::logs::Logs;
#[path = "common/onebot_fake.rs"]
mod onebot_fake;

use common::{first_person, settings_for};
use dudao::app::{FAULT_HOLD, FAULT_HOLD_MARKER};
use dudao::chat::onebot::{OneBotChannel, OneBotSettings};
use dudao::service::{self, Running};
use dudao::Channel;
use onebot_fake::{connect_reverse, connect_reverse_with, Action, Auth, Behaviour, FakeServer, Recorder};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

const TOKEN: &str = "s3cr3t+t0ken/=x";
const BOT: &str = "3000000001";
const BOT2: &str = "3000000002";
const GROUP: i64 = 700_100;
const WAIT: Duration = Duration::from_secs(10);

struct Svc {
    running: Option<Running>,
    ch: Arc<OneBotChannel>,
    _dir: tempfile::TempDir,
}

impl Svc {
    /// The service with only the OneBot channel; `onebot` lines override the fast test defaults.
    async fn start(onebot: &[(&str, &str)]) -> Svc {
        Self::start_edited(onebot, |_| {}).await
    }

    /// Like [`Svc::start`], with the channel built from settings edited after validation.
    async fn start_edited(onebot: &[(&str, &str)], edit: impl FnOnce(&mut OneBotSettings)) -> Svc {
        let mut keys: Vec<(String, String)> = [
            ("enabled", "true".to_string()),
            ("access_token", format!("\"{TOKEN}\"")),
            ("min_interval_ms", "0".into()),
            ("max_per_minute", "0".into()),
            ("chat_min_interval_ms", "0".into()),
            ("chat_max_per_minute", "0".into()),
            ("send_jitter_ms", "0".into()),
            ("api_timeout_ms", "2000".into()),
            ("reconnect_initial_ms", "50".into()),
            ("reconnect_max_ms", "200".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        for (k, v) in onebot {
            keys.retain(|(x, _)| x != k);
            keys.push((k.to_string(), v.to_string()));
        }
        let block: String = keys.iter().map(|(k, v)| format!("{k} = {v}\n")).collect();
        let extra = format!(
            "[channels.console]\nenabled = false\n[outbox]\nbackoff_base_ms = 50\nbackoff_max_ms = 300\n[channels.onebot]\n{block}"
        );
        let dir = tempfile::tempdir().unwrap();
        let settings = settings_for(&dir, &extra);
        // The registry builds exactly this channel from the configuration.
        let enabled = dudao::chat::registry::from_config(&settings).unwrap();
        assert_eq!(enabled.channels.iter().map(|c| c.name().to_string()).collect::<Vec<_>>(), vec!["qq"]);
        let mut ob: OneBotSettings = OneBotSettings::from_settings(&settings).unwrap().unwrap();
        edit(&mut ob);
        let ch = Arc::new(OneBotChannel::new(ob));
        let channels: Vec<Arc<dyn Channel>> = vec![ch.clone()];
        let running = service::start(settings, Arc::new(dudao::clock::SystemClock), channels).await.unwrap();
        Svc { running: Some(running), ch, _dir: dir }
    }

    fn running(&self) -> &Running {
        self.running.as_ref().unwrap()
    }

    fn db(&self) -> &dudao::db::Db {
        &self.running().app.db
    }

    fn addr(&self) -> std::net::SocketAddr {
        self.running().http_addr
    }

    async fn code_for(&self, person_code: &str) -> String {
        let mut tx = dudao::db::begin_write(self.db()).await.unwrap();
        let pid: i64 = dudao::sql::query_scalar("SELECT id FROM people WHERE code = ?")
            .bind(person_code)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        let (code, _) =
            dudao::store::binding::issue(&mut tx, pid, chrono::Utc::now(), chrono::Duration::hours(72)).await.unwrap();
        tx.commit().await.unwrap();
        code
    }

    /// A roster person of `role` whose QQ number the roster binds automatically. The sample
    /// county's QQ ids are `demo-…` (never a real account), so the test gives the person a
    /// numeric QQ of its own, bound as the roster binds it.
    async fn roster_qq(&self, role: &str) -> (String, i64) {
        common::roster_qq_named(self.db(), role).await
    }

    async fn inbound_count(&self, platform_msg_id: &str) -> i64 {
        dudao::sql::query_scalar("SELECT COUNT(*) FROM inbound_messages WHERE platform_msg_id = ?")
            .bind(platform_msg_id)
            .fetch_one(self.db())
            .await
            .unwrap()
    }

    /// Polls until the message is stored and processed.
    async fn wait_processed(&self, platform_msg_id: &str) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let s: Option<String> =
                dudao::sql::query_scalar("SELECT status FROM inbound_messages WHERE platform_msg_id = ?")
                    .bind(platform_msg_id)
                    .fetch_optional(self.db())
                    .await
                    .unwrap();
            if s.as_deref() == Some("processed") {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "{platform_msg_id} not processed: {s:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Polls until the newest outbox row satisfies `pred` (status, attempts, last_error).
    async fn wait_outbox(
        &self,
        what: &str,
        pred: impl Fn(&str, i64, Option<&str>) -> bool,
    ) -> (String, i64, Option<String>) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let row: Option<(String, i64, Option<String>)> =
                dudao::sql::query_as("SELECT status, attempts, last_error FROM outbox ORDER BY id DESC LIMIT 1")
                    .fetch_optional(self.db())
                    .await
                    .unwrap();
            if let Some((s, a, e)) = &row {
                if pred(s, *a, e.as_deref()) {
                    return (s.clone(), *a, e.clone());
                }
            }
            assert!(tokio::time::Instant::now() < deadline, "outbox never reached '{what}': {row:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await;
        }
    }
}

fn at(qq: &str) -> Value {
    json!({"type": "at", "data": {"qq": qq}})
}

fn text(t: &str) -> Value {
    json!({"type": "text", "data": {"text": t}})
}

fn to_group(a: &Action) -> bool {
    a.action == "send_group_msg" && a.params["group_id"] == GROUP && a.ok
}

fn to_user(user: i64) -> impl Fn(&Action) -> bool {
    move |a| a.action == "send_private_msg" && a.params["user_id"] == user && a.ok
}

#[tokio::test]
async fn reverse_mode_full_conversation() {
    let svc = Svc::start(&[]).await;
    let rec = Recorder::new();
    let bot = connect_reverse(svc.addr(), BOT, Auth::Bearer(TOKEN), rec.clone()).await.unwrap();
    bot.heartbeat(30_000);
    // Junk on the wire is ignored; the connection stays up.
    bot.send_raw(tokio_tungstenite::tungstenite::Message::text("not json"));
    bot.send(json!({"post_type": "message", "self_id": BOT.parse::<i64>().unwrap()}));
    bot.send(json!({"post_type": "notice", "notice_type": "group_increase", "self_id": 1, "group_id": GROUP}));
    bot.send(json!({"status": "ok", "retcode": 0, "data": null, "echo": "nobody-waits"}));

    // An unbound person binds privately with a code (string format, as NapCat's "string" post format).
    let supervisor = first_person(svc.db(), "supervisor").await;
    let code = svc.code_for(&supervisor).await;
    let newcomer = 20_001_i64;
    bot.private_msg(newcomer, json!(101), json!(format!("绑定 {code}")));
    let a = rec.wait_for(1, WAIT, to_user(newcomer)).await;
    assert!(a[0].text().contains("绑定成功"), "{:?}", a[0]);
    assert!(a[0].segments().iter().all(|s| s["type"] == "text"), "no mention in a private answer: {:?}", a[0]);

    // 帮助 privately, array format.
    bot.private_msg(newcomer, json!("102"), json!([text("帮助")]));
    let a = rec.wait_for(2, WAIT, to_user(newcomer)).await;
    assert!(a[1].text().contains("可用指令") && a[1].text().contains("登记群"), "{}", a[1].text());

    // In a group, addressed with @bot: the answer mentions the sender, `qq` as a string.
    bot.group_msg(GROUP, newcomer, json!(-103), json!([at(BOT), text(" 帮助")]));
    let a = rec.wait_for(1, WAIT, to_group).await;
    let segs = a[0].segments();
    assert_eq!(segs[0], json!({"type": "at", "data": {"qq": newcomer.to_string()}}), "{segs:?}");
    assert!(a[0].text().contains("可用指令"), "{}", a[0].text());
    assert_eq!(a[0].self_id, BOT);

    // A roster QQ number is bound without a code; CQ string with escaping and a mention.
    let (name, inspector_qq) = svc.roster_qq("inspector").await;
    bot.group_msg(GROUP, inspector_qq, json!(104), json!(format!("[CQ:at,qq={BOT}] 我是谁")));
    let a = rec.wait_for(2, WAIT, to_group).await;
    assert_eq!(a[1].segments()[0]["data"]["qq"], json!(inspector_qq.to_string()));
    assert!(a[1].text().contains(&name), "{}", a[1].text());

    // Chatter not addressed to the bot is stored, not answered; images keep their URL.
    bot.group_msg(
        GROUP,
        inspector_qq,
        json!(105),
        json!([text("今天检查了 &#91;不是转义&#93;"), {"type": "image", "data": {"file": "a.jpg", "url": "https://example.invalid/a.jpg"}}]),
    );
    svc.wait_processed(&format!("{BOT}:105")).await;
    let (txt, segs, to_me): (String, String, i64) =
        dudao::sql::query_as("SELECT text, segments, to_me FROM inbound_messages WHERE platform_msg_id = ?")
            .bind(format!("{BOT}:105"))
            .fetch_one(svc.db())
            .await
            .unwrap();
    assert_eq!(txt, "今天检查了 &#91;不是转义&#93;[图片]", "array text is not CQ-unescaped");
    assert!(segs.contains("https://example.invalid/a.jpg"), "{segs}");
    assert_eq!(to_me, 0);

    // Stored per account and message id, on the qq platform, with the group card as name.
    let (platform, chat, sender, display, intent): (String, String, String, Option<String>, Option<String>) =
        dudao::sql::query_as(
            "SELECT platform, chat_id, sender_id, sender_name, intent FROM inbound_messages WHERE platform_msg_id = ?",
        )
        .bind(format!("{BOT}:-103"))
        .fetch_one(svc.db())
        .await
        .unwrap();
    assert_eq!(
        (platform.as_str(), chat.as_str(), sender.as_str(), display.as_deref(), intent.as_deref()),
        ("qq", "700100", "20001", Some("群名片20001"), Some("help"))
    );
    svc.running().drain(WAIT).await;
    assert_eq!(rec.sends().len(), 4, "only the four answers: {:#?}", rec.sends());
    // Outbox rows carry the platform id of what was sent.
    let ids: Vec<Option<String>> = dudao::sql::query_scalar("SELECT platform_msg_id FROM outbox WHERE status = 'sent'")
        .fetch_all(svc.db())
        .await
        .unwrap();
    assert!(ids.iter().all(|i| i.as_deref().is_some_and(|i| i.starts_with(&format!("{BOT}:-")))), "{ids:?}");
    assert_eq!(svc.ch.connected_accounts(), vec![BOT.to_string()]);
    bot.close();
    svc.stop().await;
}

#[tokio::test]
async fn forward_mode_conversation_and_reconnect_after_a_drop() {
    let rec = Recorder::new();
    let server = FakeServer::start(BOT, Some(TOKEN), rec.clone()).await;
    let url = format!("[\"{}\"]", server.url());
    let svc = Svc::start(&[("reverse", "false"), ("forward_urls", &url)]).await;
    let conn = server.next_conn(WAIT).await;
    // Dudao asked who it is talking to.
    rec.wait_for(1, WAIT, |a| a.action == "get_login_info").await;

    let (_, inspector_qq) = svc.roster_qq("inspector").await;
    conn.private_msg(inspector_qq, json!(1), json!([text("帮助")]));
    let a = rec.wait_for(1, WAIT, to_user(inspector_qq)).await;
    assert!(a[0].text().contains("请假"), "{}", a[0].text());
    conn.group_msg(GROUP, inspector_qq, json!(2), json!(format!("帮助 [CQ:at,qq={BOT}]")));
    let a = rec.wait_for(1, WAIT, to_group).await;
    assert_eq!(a[0].segments()[0]["data"]["qq"], json!(inspector_qq.to_string()));

    // The implementation goes away right after a message: the answer cannot be sent.
    server.set_accepting(false);
    conn.group_msg(GROUP, inspector_qq, json!(3), json!([at(BOT), text("帮助")]));
    conn.close();
    svc.wait_processed(&format!("{BOT}:3")).await;
    let (status, _, _) = svc.wait_outbox("failed once", |_, a, e| a >= 1 && e.is_some()).await;
    assert_ne!(status, "dead");
    assert!(svc.ch.connected_accounts().is_empty());
    // Dudao keeps trying (with backoff) and gets through once the implementation is back.
    let deadline = tokio::time::Instant::now() + WAIT;
    while server.refused.load(std::sync::atomic::Ordering::SeqCst) < 2 {
        assert!(tokio::time::Instant::now() < deadline, "no reconnect attempts");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.set_accepting(true);
    let conn2 = server.next_conn(WAIT).await;
    let a = rec.wait_for(2, WAIT, to_group).await;
    assert_eq!(a[1].conn, conn2.id, "the queued answer went out on the new connection");
    assert!(a[1].text().contains("可用指令"));
    let (status, attempts, _) = svc.wait_outbox("sent", |s, _, _| s == "sent").await;
    assert_eq!(status, "sent");
    assert!(attempts >= 2, "{attempts}");
    svc.stop().await;
    // Shutting down closes the connection.
    conn2.wait_closed(WAIT).await;
}

#[tokio::test]
async fn reverse_mode_reconnect_delivers_what_was_queued_while_down() {
    let svc = Svc::start(&[]).await;
    let rec = Recorder::new();
    let (_, qq) = svc.roster_qq("inspector").await;
    let bot = connect_reverse(svc.addr(), BOT, Auth::Bearer(TOKEN), rec.clone()).await.unwrap();
    bot.group_msg(GROUP, qq, json!(10), json!([at(BOT), text("帮助")]));
    rec.wait_for(1, WAIT, to_group).await;

    // Message, then the connection drops before the answer can go out.
    bot.group_msg(GROUP, qq, json!(11), json!([at(BOT), text("我是谁")]));
    bot.close();
    bot.wait_closed(WAIT).await;
    svc.wait_processed(&format!("{BOT}:11")).await;
    svc.wait_outbox("failed while down", |s, a, e| s == "pending" && a >= 1 && e.is_some()).await;
    assert_eq!(rec.sends().len(), 1);

    // NapCat reconnects (reconnectInterval); the outbox's retry delivers the answer.
    let bot2 = connect_reverse(svc.addr(), BOT, Auth::Bearer(TOKEN), rec.clone()).await.unwrap();
    let a = rec.wait_for(2, WAIT, to_group).await;
    assert_eq!(a[1].conn, bot2.id);
    assert!(a[1].text().contains("挂牌督导") || a[1].text().contains("责任区"), "{}", a[1].text());
    svc.stop().await;
}

#[tokio::test]
async fn duplicates_are_processed_once_even_across_connections_and_accounts() {
    let svc = Svc::start(&[]).await;
    let rec = Recorder::new();
    let (_, qq) = svc.roster_qq("inspector").await;
    // Two connections of the same account (two websocketClients entries), and a second account.
    let a1 = connect_reverse(svc.addr(), BOT, Auth::Bearer(TOKEN), rec.clone()).await.unwrap();
    let a2 = connect_reverse(svc.addr(), BOT, Auth::Bearer(TOKEN), rec.clone()).await.unwrap();
    let b = connect_reverse(svc.addr(), BOT2, Auth::Bearer(TOKEN), rec.clone()).await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while svc.ch.connected_accounts().len() < 2 {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // The account that sees a group first answers in it.
    a1.group_msg(GROUP, qq, json!(76), json!([text("早")]));
    svc.wait_processed(&format!("{BOT}:76")).await;

    let msg = json!([at(BOT), text("帮助")]);
    a1.group_msg(GROUP, qq, json!(77), msg.clone());
    a1.group_msg(GROUP, qq, json!(77), msg.clone());
    a2.group_msg(GROUP, qq, json!("77"), json!(format!("[CQ:at,qq={BOT}] 帮助")));
    // The second account sees the same group message under its own id.
    b.group_msg(GROUP, qq, json!(9001), json!([text("帮助")]));
    // Markers behind the duplicates: once they are processed, so is everything before them.
    a1.group_msg(GROUP, qq, json!(78), json!([text("收到")]));
    a2.group_msg(GROUP, qq, json!(79), json!([text("收到")]));
    b.private_msg(qq, json!(9002), json!([text("在吗")]));
    for id in [format!("{BOT}:78"), format!("{BOT}:79"), format!("{BOT2}:9002")] {
        svc.wait_processed(&id).await;
    }
    svc.running().drain(WAIT).await;

    assert_eq!(svc.inbound_count(&format!("{BOT}:77")).await, 1);
    assert_eq!(svc.inbound_count(&format!("{BOT2}:9001")).await, 0, "the other account's copy is not processed");
    let group_answers = rec.wait_for(1, WAIT, to_group).await;
    assert_eq!(group_answers.len(), 1, "{group_answers:#?}");
    assert_eq!(group_answers[0].self_id, BOT, "answered by the account that saw the group first");
    // The private chat is answered by the account it was written to.
    let private = rec.wait_for(1, WAIT, to_user(qq)).await;
    assert_eq!(private[0].self_id, BOT2);
    let replies: i64 = dudao::sql::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE source = (SELECT 'inbound:' || id FROM inbound_messages WHERE platform_msg_id = ?)",
    )
    .bind(format!("{BOT}:77"))
    .fetch_one(svc.db())
    .await
    .unwrap();
    assert_eq!(replies, 1);
    svc.stop().await;
}

#[tokio::test]
async fn wrong_or_missing_tokens_are_refused() {
    use tokio_tungstenite::tungstenite::Error;
    let svc = Svc::start(&[]).await;
    let rec = Recorder::new();
    let status = |r: Result<onebot_fake::FakeConn, Error>| match r {
        Err(Error::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => 101,
    };
    assert_eq!(status(connect_reverse(svc.addr(), BOT, Auth::None, rec.clone()).await), 401);
    assert_eq!(status(connect_reverse(svc.addr(), BOT, Auth::Bearer("wrong"), rec.clone()).await), 403);
    assert_eq!(status(connect_reverse(svc.addr(), BOT, Auth::Token("wrong"), rec.clone()).await), 403);
    assert_eq!(status(connect_reverse(svc.addr(), BOT, Auth::Query("wrong"), rec.clone()).await), 403);
    assert!(svc.ch.connected_accounts().is_empty());
    // Both schemes and the query parameter work with the right token.
    assert_eq!(status(connect_reverse(svc.addr(), BOT, Auth::Token(TOKEN), rec.clone()).await), 101);
    assert_eq!(status(connect_reverse(svc.addr(), BOT2, Auth::Query(&urlencode(TOKEN)), rec.clone()).await), 101);
    let deadline = tokio::time::Instant::now() + WAIT;
    while svc.ch.connected_accounts().len() < 2 {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    svc.stop().await;

    // Forward mode: a server expecting another token refuses Dudao, which keeps retrying.
    let rec = Recorder::new();
    let server = FakeServer::start(BOT, Some("another-token"), rec.clone()).await;
    let url = format!("[\"{}\"]", server.url());
    let svc = Svc::start(&[("reverse", "false"), ("forward_urls", &url)]).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while server.refused.load(std::sync::atomic::Ordering::SeqCst) < 3 {
        assert!(tokio::time::Instant::now() < deadline, "Dudao stopped retrying");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(svc.ch.connected_accounts().is_empty());
    svc.stop().await;
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn failed_actions_are_permanent_or_retried() {
    let svc = Svc::start(&[("api_timeout_ms", "300")]).await;
    let rec = Recorder::new();
    let (_, qq) = svc.roster_qq("inspector").await;
    let bot = connect_reverse(svc.addr(), BOT, Auth::Bearer(TOKEN), rec.clone()).await.unwrap();

    // 1404 (no such group / unsupported): dead at once, no retries.
    rec.set_behaviour(Behaviour::Fail(1404));
    bot.group_msg(GROUP, qq, json!(1), json!([at(BOT), text("帮助")]));
    let (_, attempts, err) = svc.wait_outbox("dead", |s, _, _| s == "dead").await;
    assert_eq!(attempts, 1);
    assert!(err.unwrap().contains("1404"));

    // 1200 (NapCat send timeout, possibly risk control): retried, then delivered.
    rec.set_behaviour(Behaviour::Fail(1200));
    bot.group_msg(GROUP, qq, json!(2), json!([at(BOT), text("帮助")]));
    let (_, _, err) = svc.wait_outbox("retrying", |s, a, _| s == "pending" && a >= 2).await;
    assert!(err.unwrap().contains("1200"));
    rec.set_behaviour(Behaviour::Ok);
    svc.wait_outbox("sent", |s, _, _| s == "sent").await;

    // No answer at all: the call times out and is retried.
    rec.set_behaviour(Behaviour::Silent);
    bot.group_msg(GROUP, qq, json!(3), json!([at(BOT), text("帮助")]));
    let (_, _, err) = svc.wait_outbox("timed out", |_, a, e| a >= 1 && e.is_some()).await;
    assert!(err.unwrap().contains("no result within"));
    rec.set_behaviour(Behaviour::Ok);
    svc.wait_outbox("sent", |s, _, _| s == "sent").await;
    svc.stop().await;
}

#[tokio::test]
async fn group_member_list_for_binding_help() {
    let svc = Svc::start(&[]).await;
    let rec = Recorder::new();
    *rec.members.lock().unwrap() = json!([
        {"group_id": GROUP, "user_id": 100014431, "nickname": "shi", "card": "第一责任区-史芳", "role": "admin"},
        {"group_id": GROUP, "user_id": "20002", "nickname": "路人", "card": "", "role": "member"},
        {"group_id": GROUP, "nickname": "no id"}
    ]);
    assert_eq!(
        svc.ch.group_members(&GROUP.to_string()).await.unwrap_err(),
        dudao::chat::onebot::api::CallError::NotConnected
    );
    let bot = connect_reverse(svc.addr(), BOT, Auth::Bearer(TOKEN), rec.clone()).await.unwrap();
    bot.group_msg(GROUP, 20002, json!(1), json!("大家好"));
    svc.wait_processed(&format!("{BOT}:1")).await;
    let members = svc.ch.group_members(&GROUP.to_string()).await.unwrap();
    assert_eq!(members.len(), 2);
    assert_eq!(members[0].user_id, "100014431");
    assert_eq!(members[0].display(), Some("第一责任区-史芳"));
    assert_eq!(members[1].display(), Some("路人"));
    let call = rec.wait_for(1, WAIT, |a| a.action == "get_group_member_list").await;
    assert_eq!(call[0].params["group_id"], json!(GROUP));
    svc.stop().await;
}

#[tokio::test]
async fn sends_are_paced_per_account_and_per_group() {
    let svc = Svc::start(&[("min_interval_ms", "200"), ("chat_min_interval_ms", "500")]).await;
    let rec = Recorder::new();
    let (_, qq) = svc.roster_qq("inspector").await;
    let bot = connect_reverse(svc.addr(), BOT, Auth::Bearer(TOKEN), rec.clone()).await.unwrap();
    // Three answers due in one group and one in private at about the same time.
    for i in 0..3 {
        bot.group_msg(GROUP, qq, json!(i), json!([at(BOT), text("帮助")]));
    }
    bot.private_msg(qq, json!(10), json!("帮助"));
    let sends = rec.wait_for(4, WAIT, |a| a.is_send() && a.ok).await;
    let slack = Duration::from_millis(25);
    for w in sends.windows(2) {
        let gap = w[1].at.duration_since(w[0].at);
        assert!(gap + slack >= Duration::from_millis(200), "two sends {gap:?} apart");
    }
    let group: Vec<&Action> = sends.iter().filter(|a| to_group(a)).collect();
    assert_eq!(group.len(), 3);
    for w in group.windows(2) {
        let gap = w[1].at.duration_since(w[0].at);
        assert!(gap + slack >= Duration::from_millis(500), "two sends to one group {gap:?} apart");
    }
    svc.stop().await;
}

#[tokio::test]
async fn a_connection_that_stops_heartbeating_is_dropped() {
    let svc = Svc::start(&[]).await;
    let rec = Recorder::new();
    let bot = connect_reverse(svc.addr(), BOT, Auth::Bearer(TOKEN), rec.clone()).await.unwrap();
    // Announces 200 ms heartbeats, then goes silent (a hung implementation keeps the TCP open).
    bot.heartbeat(200);
    let t = std::time::Instant::now();
    bot.wait_closed(WAIT).await;
    assert!(t.elapsed() >= Duration::from_millis(900), "dropped too early: {:?}", t.elapsed());
    assert!(svc.ch.connected_accounts().is_empty());
    svc.stop().await;
}

#[tokio::test]
async fn a_weekly_report_replying_to_the_prompt_in_a_qq_group() {
    let svc = Svc::start(&[]).await;
    let rec = Recorder::new();
    let bot = connect_reverse(svc.addr(), BOT, Auth::Bearer(TOKEN), rec.clone()).await.unwrap();
    // A supervisor (bound by the roster's QQ column) registers the group for the inspector's zone.
    let (_, inspector_qq) = svc.roster_qq("inspector").await;
    let zone: String = dudao::sql::query_scalar(
        "SELECT z.code FROM chat_accounts a JOIN people p ON p.id = a.person_id JOIN zones z ON z.id = p.zone_id
         WHERE a.platform = 'qq' AND a.account_id = ?",
    )
    .bind(inspector_qq.to_string())
    .fetch_one(svc.db())
    .await
    .unwrap();
    let (_, supervisor_qq) = svc.roster_qq("supervisor").await;
    bot.group_msg(GROUP, supervisor_qq, json!(201), json!(format!("登记群 责任区督学群 {zone}")));
    let a = rec.wait_for(1, WAIT, to_group).await;
    assert!(a[0].text().contains("已将本群登记为：责任区督学群"), "{}", a[0].text());

    // The weekly prompt goes out (the job the Friday schedule runs).
    let app = svc.running().app.clone();
    let now = chrono::Utc::now();
    let firing =
        dudao::scheduler::Firing { schedule: "weekly-prompt".into(), nominal_at: now, fire_at: now, params: json!({}) };
    let mut tx = dudao::db::begin_write(&app.db).await.unwrap();
    dudao::scheduler::Job::run(&dudao::app::weekly::Prompt, &app.job_ctx, &mut tx, &firing).await.unwrap();
    tx.commit().await.unwrap();
    app.outbox_notify.notify_waiters();
    let a = rec.wait_for(2, WAIT, to_group).await;
    assert!(a[1].text().contains("周报开始收集"), "{}", a[1].text());
    assert!(a[1].segments().iter().any(|s| s["type"] == "at" && s["data"]["qq"] == json!(inspector_qq.to_string())));
    // The outbox records the platform's id of the prompt once the send is confirmed.
    svc.running().drain(WAIT).await;
    let prompt_id: String = dudao::sql::query_scalar(
        "SELECT platform_msg_id FROM outbox WHERE source LIKE 'weekly:prompt:%' AND chat_id = ? AND status = 'sent'",
    )
    .bind(GROUP.to_string())
    .fetch_one(svc.db())
    .await
    .unwrap();
    let quoted = prompt_id.split(':').nth(1).unwrap().to_string();

    // The inspector quotes the prompt with their report.
    bot.group_msg(
        GROUP,
        inspector_qq,
        json!(202),
        json!([{"type": "reply", "data": {"id": quoted}}, text("本周督导学校：无\n发现问题：无")]),
    );
    let a = rec.wait_for(3, WAIT, to_group).await;
    assert!(a[2].text().contains("已收到本周周报"), "{}", a[2].text());
    let reports: i64 =
        dudao::sql::query_scalar("SELECT COUNT(*) FROM weekly_reports").fetch_one(svc.db()).await.unwrap();
    assert_eq!(reports, 1);
    bot.close();
    svc.stop().await;
}

/// Counts inbound rows, optionally with a status.
async fn inbound_rows(svc: &Svc, status: Option<&str>) -> i64 {
    dudao::sql::query_scalar("SELECT COUNT(*) FROM inbound_messages WHERE ?1 IS NULL OR status = ?1")
        .bind(status)
        .fetch_one(svc.db())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_burst_is_stored_before_anything_after_it_is_read_and_results_still_flow() {
    const N: i64 = 2_000;
    // More than the processing queue (1,024) holds.
    const M: i64 = 1_500;
    // The service's log, to see that the catch-up pass ran (all tasks run on this test's thread).
    let (logs, _guard) = Logs::capture(tracing::Level::INFO);
    let svc = Svc::start(&[("api_timeout_ms", "5000")]).await;
    let rec = Recorder::new();
    let (_, qq) = svc.roster_qq("inspector").await;
    let bot = connect_reverse(svc.addr(), BOT, Auth::Bearer(TOKEN), rec.clone()).await.unwrap();
    // A busy morning: N group messages arrive while the bot's answer to 帮助 is in flight, so
    // the result of that send comes after all of them on the wire.
    let burst = (0..N)
        .map(|i| {
            bot.group_msg_frame(GROUP, qq, json!(10_000 + i), json!([text(&format!("第{i}条：今日到校巡查记录"))]))
        })
        .collect();
    rec.flood_before_next_answer(burst);
    bot.group_msg(GROUP, qq, json!(1), json!([at(BOT), text("帮助")]));
    let (status, attempts, err) = svc.wait_outbox("settled", |s, _, e| s == "sent" || e.is_some()).await;
    // The send completed at its first attempt: its result was read although processing lags.
    assert_eq!((status.as_str(), attempts, err), ("sent", 1, None));
    // Everything that came before the result on the wire was durable before the result was acted on.
    assert_eq!(inbound_rows(&svc, None).await, N + 1);
    // Then processing falls behind (a held message) while more keeps arriving: more than the
    // processing queue holds is stored and left to the catch-up pass.
    bot.group_msg(GROUP, qq, json!(2), json!([text(&format!("稍后处理{FAULT_HOLD_MARKER}"))]));
    for i in 0..M {
        bot.group_msg(GROUP, qq, json!(20_000 + i), json!([text(&format!("第{i}条：补充到校巡查记录"))]));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while inbound_rows(&svc, None).await < N + 2 + M {
        assert!(tokio::time::Instant::now() < deadline, "the second burst was never stored");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    FAULT_HOLD.notify_one();
    // And everything is processed eventually, also what did not fit the processing queue.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while inbound_rows(&svc, Some("received")).await > 0 {
        assert!(tokio::time::Instant::now() < deadline, "the backlog was never processed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(inbound_rows(&svc, Some("processed")).await, N + 2 + M);
    let logged = logs.text();
    assert!(
        logged.contains("processing is behind") && logged.contains("caught up with stored QQ messages"),
        "{logged}"
    );
    assert!(!logged.contains(TOKEN), "the access token was logged");
    svc.stop().await;
}

#[tokio::test]
async fn frames_with_non_numeric_ids_are_rejected_before_anything_is_stored() {
    let svc = Svc::start(&[]).await;
    let rec = Recorder::new();
    let bot = connect_reverse(svc.addr(), BOT, Auth::Bearer(TOKEN), rec.clone()).await.unwrap();
    let me: i64 = BOT.parse().unwrap();
    let group = |id: i64, user: Value, group: Value| {
        json!({
            "time": 1_767_225_600, "self_id": me, "post_type": "message", "message_type": "group",
            "sub_type": "normal", "message_id": id, "group_id": group, "user_id": user,
            "message": [at(BOT), text(" 帮助 这条不该入库")], "raw_message": "", "font": 0,
            "sender": {"user_id": user, "nickname": "来历不明", "card": "", "role": "member"}
        })
    };
    let bad = [
        group(1, json!("abc"), json!(GROUP)),
        group(2, json!("1e5"), json!(GROUP)),
        group(3, json!(20_001), json!("[CQ:at,qq=1]")),
        group(4, json!(20_001), json!("1e5")),
        group(5, json!(1.5), json!(GROUP)),
        group(6, json!("12 34"), json!(GROUP)),
        group(7, json!("-20001"), json!(GROUP)),
        group(8, json!("２００１"), json!(GROUP)),
        group(9, json!(20_001), json!(true)),
        json!({"time": 1, "self_id": me, "post_type": "message", "message_type": "private", "sub_type": "friend",
               "message_id": 10, "user_id": "张三", "message": "绑定 123456", "sender": {"user_id": "张三"}}),
    ];
    for f in bad {
        bot.send(f);
    }
    // A good message behind them: once it is processed, everything before it was handled.
    bot.group_msg(GROUP, 20_001, json!(99), json!([text("大家好，今天下午开会")]));
    svc.wait_processed(&format!("{BOT}:99")).await;
    let stored: Vec<(String, String)> =
        dudao::sql::query_as("SELECT chat_id, sender_id FROM inbound_messages").fetch_all(svc.db()).await.unwrap();
    assert_eq!(stored, vec![(GROUP.to_string(), "20001".to_string())]);
    let groups: Vec<String> =
        dudao::sql::query_scalar("SELECT external_id FROM chat_groups").fetch_all(svc.db()).await.unwrap();
    assert_eq!(groups, vec![GROUP.to_string()]);
    svc.running().drain(WAIT).await;
    assert!(rec.sends().is_empty(), "nothing answered: {:#?}", rec.sends());
    svc.stop().await;
}

#[tokio::test]
async fn the_reverse_endpoint_needs_a_token_even_on_loopback() {
    // Validation: an enabled reverse endpoint without a token does not start, even on loopback
    // (a reverse proxy on the same host makes every caller look local).
    for bind in ["127.0.0.1:8080", "0.0.0.0:8080"] {
        let e = dudao::config::Settings::from_toml_over_default(&format!(
            "[http]\nbind = \"{bind}\"\n[channels.onebot]\nenabled = true\n"
        ))
        .unwrap_err();
        assert_eq!(e.key, "channels.onebot.access_token", "{bind}");
        assert!(e.message.contains("DUDAO_CHANNELS__ONEBOT__ACCESS_TOKEN"), "{}", e.message);
    }
    // Forward only: our endpoint is off, NapCat's own server decides about tokens.
    dudao::config::Settings::from_toml_over_default(
        "[channels.onebot]\nenabled = true\nreverse = false\nforward_urls = [\"ws://127.0.0.1:3001\"]\n",
    )
    .unwrap();

    // A channel built without a token (bypassing validation) accepts nobody, proxied or not.
    use tokio_tungstenite::tungstenite::Error;
    let svc = Svc::start_edited(&[], |ob| ob.access_token = dudao::secret::Secret::default()).await;
    let rec = Recorder::new();
    let status = |r: Result<onebot_fake::FakeConn, Error>| match r {
        Err(Error::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => 101,
    };
    let proxied = [("x-forwarded-for", "203.0.113.7")];
    assert_eq!(status(connect_reverse_with(svc.addr(), BOT, Auth::None, &proxied, rec.clone()).await), 401);
    let forwarded = [("forwarded", "for=203.0.113.7;proto=https")];
    assert_eq!(status(connect_reverse_with(svc.addr(), BOT, Auth::None, &forwarded, rec.clone()).await), 401);
    assert_eq!(status(connect_reverse(svc.addr(), BOT, Auth::None, rec.clone()).await), 401);
    assert!(svc.ch.connected_accounts().is_empty());
    svc.stop().await;
}

/// Answers go to the worker straight from the transaction that queued them (no claim of their
/// own), in the order the messages came and each once; an answer whose group still has an older
/// message waiting to be retried goes after it, never ahead.
#[tokio::test]
async fn answers_are_handed_to_the_worker_in_order_and_never_overtake_a_retry() {
    let svc = Svc::start(&[]).await;
    let rec = Recorder::new();
    let bot = connect_reverse(svc.addr(), BOT, Auth::Bearer(TOKEN), rec.clone()).await.unwrap();
    let (name, qq) = svc.roster_qq("inspector").await;
    let metrics = svc.running().app.metrics.channel("qq").clone();

    // A burst of questions in one group, two kinds alternating.
    for i in 0..12 {
        let question = if i % 2 == 0 { " 我是谁" } else { " 帮助" };
        bot.group_msg(GROUP, qq, json!(300 + i), json!([at(BOT), text(question)]));
    }
    let a = rec.wait_for(12, WAIT, to_group).await;
    for (i, s) in a.iter().enumerate() {
        let is_help = s.text().contains("可用指令");
        assert_eq!(is_help, i % 2 == 1, "answer {i} out of order: {}", s.text());
        if i % 2 == 0 {
            assert!(s.text().contains(&name), "{}", s.text());
        }
    }
    svc.running().drain(WAIT).await;
    assert_eq!(metrics.handed.get(), 12, "every answer handed over by its own transaction");
    let rows: Vec<(String, i64)> =
        dudao::sql::query_as("SELECT status, attempts FROM outbox ORDER BY id").fetch_all(svc.db()).await.unwrap();
    assert_eq!(rows, vec![("sent".to_string(), 1); 12]);

    // The group's next answer fails for a while (1200: retried later); a question asked
    // meanwhile is answered only after it.
    rec.set_behaviour(Behaviour::Fail(1200));
    bot.group_msg(GROUP, qq, json!(320), json!([at(BOT), text(" 帮助")]));
    svc.wait_outbox("retrying", |s, a, _| s == "pending" && a >= 1).await;
    bot.group_msg(GROUP, qq, json!(321), json!([at(BOT), text(" 我是谁")]));
    svc.wait_processed(&format!("{BOT}:321")).await;
    rec.set_behaviour(Behaviour::Ok);
    let delivered = |a: &Action| to_group(a) && a.ok;
    let a = rec.wait_for(14, WAIT, delivered).await;
    assert!(a[12].text().contains("可用指令"), "the retried answer first: {}", a[12].text());
    assert!(a[13].text().contains(&name) && !a[13].text().contains("可用指令"), "{}", a[13].text());
    svc.running().drain(WAIT).await;
    assert_eq!(rec.sends().iter().filter(|a| delivered(a)).count(), 14, "each answer delivered once");
    bot.close();
    svc.stop().await;
}
