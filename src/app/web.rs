//! The chat side of the supervision platform (督导信息平台): `登录` sends a one-time login link
//! in a private chat (the catalog refuses it in groups, and unbound accounts only get the
//! binding hint); `退出登录` ends the person's sessions. The pages themselves are `crate::web`.

use crate::app::Ctx;
use crate::chat::Segment;
use crate::domain::web::{self as dw, BaseUrl};
use crate::outbox::{Envelope, Recipient};
use crate::store;
use serde_json::json;

/// Ended links and sessions are forgotten this long after they ended.
const FORGET_AFTER_DAYS: i64 = 30;

/// A new secret token: 256 random bits, URL-safe base64 (43 characters).
pub fn new_token() -> String {
    use base64::Engine;
    use rand::Rng;
    let bytes: [u8; 32] = rand::rng().random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// `登录`: a link bound to the sender's person, valid once for `web.link_minutes`.
async fn login(ctx: &mut Ctx<'_>) -> anyhow::Result<()> {
    let Some(actor) = ctx.actor.clone() else { return Ok(()) };
    let Some(base) = BaseUrl::parse(&ctx.app.settings.web.base_url) else {
        ctx.reply(dw::NOT_CONFIGURED);
        return Ok(());
    };
    let minutes = ctx.app.settings.web.link_minutes;
    let token = new_token();
    let hash = dw::token_hash(&token);
    let expires = ctx.now + chrono::Duration::minutes(i64::from(minutes));
    store::web::forget_ended(ctx.tx, actor.person_id, ctx.now - chrono::Duration::days(FORGET_AFTER_DAYS)).await?;
    store::web::add_link(ctx.tx, &hash, actor.person_id, ctx.now, expires).await?;
    // The audit names the event, never the token.
    ctx.audit("web_login", None, "link_issued", json!({ "minutes": minutes })).await?;
    // The answer goes back to this private chat under a key derived from the token's hash, so
    // the login can blank the link in the stored message once it is spent
    // (`store::web::take_link`).
    ctx.outgoing.push(Envelope {
        prompted: true,
        ..Envelope::new(
            dw::message_key(&hash),
            Recipient::Chat(ctx.msg.chat.clone()),
            vec![Segment::text(dw::link_text(&base.login_link(&token), minutes))],
            format!("inbound:{}", ctx.inbound_id),
        )
    });
    Ok(())
}

/// `退出登录`: every session of the sender's person ends, and unspent links are dropped.
async fn logout(ctx: &mut Ctx<'_>) -> anyhow::Result<()> {
    let Some(actor) = ctx.actor.clone() else { return Ok(()) };
    let idle = chrono::Duration::minutes(i64::from(ctx.app.settings.web.session_idle_minutes));
    let ended = store::web::revoke_person(ctx.tx, actor.person_id, ctx.now, ctx.now - idle).await?;
    ctx.audit("web_session", None, "revoked", json!({ "sessions": ended })).await?;
    ctx.reply(dw::logout_text(ended));
    Ok(())
}

/// The platform's chat commands.
pub struct Web;

crate::app::registry::workflow!(Web, "web", |ctx, _args| {
    WebLogin => login(ctx),
    WebLogout => logout(ctx),
});

/// The channel name of what people submit on the platform's forms: their inbound rows, audit
/// entries (`via = web`) and visit parts say so.
pub const WEB_CHANNEL: &str = "web";

/// A form submitted on the platform, as the message it stands for. The form's text is stored
/// verbatim as an inbound row of the `web` channel (a private chat with the person, processed in
/// the same transaction), so the workflow function the chat command calls runs on it unchanged
/// (`Ctx` with the person's `Actor`); its replies go to the person's own chat through the outbox.
pub(crate) struct WebTurn {
    pub id: i64,
    pub msg: crate::chat::InboundMessage,
}

impl WebTurn {
    /// Stores the form's `text` as the person's message, inside `tx`.
    pub(crate) async fn open(
        app: &crate::app::App,
        tx: &mut crate::db::Tx<'static>,
        person_id: i64,
        text: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> anyhow::Result<WebTurn> {
        use crate::chat::{ChatRef, InboundMessage, UserRef};
        let who = format!("person:{person_id}");
        let msg = InboundMessage {
            chat: ChatRef::private(WEB_CHANNEL, who.clone()),
            sender: UserRef { id: who, display: None },
            platform_msg_id: format!("form:{}", new_token()),
            segments: vec![Segment::text(text)],
            to_me: true,
            sent_at: now,
        };
        let id = match store::inbound::store(tx, WEB_CHANNEL, &msg, now).await? {
            store::inbound::Stored::New(id) => id,
            other => anyhow::bail!("a fresh form message was already stored: {other:?}"),
        };
        anyhow::ensure!(store::inbound::claim(tx, id).await?, "form message {id} already processed");
        app.snapshot.sync(tx).await?;
        Ok(WebTurn { id, msg })
    }

    /// The context a workflow function runs in, as for a chat message from `actor`.
    pub(crate) fn ctx<'a>(
        &'a self,
        app: &'a crate::app::App,
        tx: &'a mut crate::db::Tx<'static>,
        actor: crate::domain::actor::Actor,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Ctx<'a> {
        Ctx {
            app,
            tx,
            msg: &self.msg,
            inbound_id: self.id,
            platform: WEB_CHANNEL,
            now,
            actor: Some(actor),
            outgoing: Vec::new(),
            replies: Vec::new(),
            snapshot: &app.snapshot,
        }
    }

    /// Records the message's intent and queues what the workflow said: each reply to the
    /// person (whichever chat reaches them), the other sends as they are. The rows queued.
    pub(crate) async fn finish(&self, ctx: Ctx<'_>, intent: &str) -> anyhow::Result<usize> {
        let Ctx { app, tx, now, actor, outgoing, replies, .. } = ctx;
        let person = actor.map(|a| a.person_id);
        store::inbound::annotate(tx, self.id, person, intent).await?;
        let mut queued = 0;
        if let Some(pid) = person {
            for (i, segments) in replies.into_iter().enumerate() {
                let env = Envelope::new(
                    format!("in:{}:{i}", self.id),
                    Recipient::Person(pid),
                    segments,
                    format!("inbound:{}", self.id),
                );
                queued += crate::outbox::enqueue(tx, &app.directory, now, env).await?;
            }
        }
        for env in outgoing {
            queued += crate::outbox::enqueue(tx, &app.directory, now, env).await?;
        }
        Ok(queued)
    }
}

/// What a workflow answered on a web turn so far, as plain text (for the page when the turn is
/// refused and rolled back instead of sent).
pub(crate) fn reply_text(ctx: &Ctx<'_>) -> String {
    ctx.replies.iter().map(|r| crate::chat::plain_text(r)).collect::<Vec<_>>().join("\n")
}
